"""What a rule sees of one file, and of the project around it."""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
import os
import re
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from .findings import Finding, Fix, line_refs, render_line_refs
from .semantic import ModuleInfo

if TYPE_CHECKING:  # pragma: no cover
    from .knowledge import Knowledge


_SOURCE_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")  # lines as the parser splits them


@dataclass
class SourceFile:
    """A file that parsed. ``path`` is absolute; ``display`` is what users see."""

    path: str
    display: str
    source: str
    tree: ast.Module
    modname: str = ""
    is_package: bool = False
    rows: Optional[List[Tuple[int, int]]] = None  # a notebook's row -> (cell number, row in cell)

    def where(self, line: int) -> str:
        """How users find ``line`` of this file: ``line 12``, or ``cell 3, line 2`` in a notebook."""
        if self.rows is None:
            return f"line {line}"
        from .notebook import locate_row

        cell, row = locate_row(self.rows, line)
        return f"cell {cell}, line {row}"

    def render(self, message: str, displays: Optional[Dict[str, str]] = None) -> str:
        """``message`` with its line references (findings.line_ref) written out for this file."""
        return render_line_refs(message, self.path, self.where,
                                lambda p: (displays or {}).get(p) or os.path.basename(p))


@dataclass
class FileContext:
    file: SourceFile
    module: ModuleInfo
    knowledge: "Knowledge"
    project: Any = None  # the project-wide analysis (flow results); see flow.Project
    findings: List[Finding] = field(default_factory=list)
    _lines: Optional[List[str]] = field(default=None, repr=False)
    fix_kit: Any = field(default=None, repr=False)  # fixes.Kit, built when a rule first builds a fix
    _at: Dict[Tuple[str, int, int, str], Finding] = field(default_factory=dict, repr=False)  # one finding per place and message

    @property
    def tree(self) -> ast.Module:
        return self.file.tree

    def resolve(self, expr: Optional[ast.AST]) -> Optional[str]:
        return self.module.resolve(expr)

    def source_lines(self) -> List[str]:
        """The file's lines as the parser numbers them (split on CR, LF, CRLF only), with
        their line ends; split once per file."""
        if self._lines is None:
            self._lines = _SOURCE_LINE.findall(self.file.source)
        return self._lines

    def _char_col(self, line: int, byte_col: int) -> int:
        """``ast`` columns count UTF-8 bytes; users, JSON and SARIF count characters."""
        lines = self.source_lines()
        if 1 <= line <= len(lines):
            text = lines[line - 1]
            if not text.isascii():
                return len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))
        return byte_col

    def report(self, rule, node: ast.AST, message: str, fix: Optional[Fix] = None) -> Finding:
        """Record a finding of ``rule`` at ``node`` (columns converted to 1-based characters)."""
        line = getattr(node, "lineno", 1) or 1
        col = self._char_col(line, getattr(node, "col_offset", 0) or 0) + 1
        end_line = getattr(node, "end_lineno", None) or line
        end_byte = getattr(node, "end_col_offset", None)
        end_col = (self._char_col(end_line, end_byte) if end_byte is not None else col - 1) + 1
        displays = self.project.displays() if self.project is not None else None
        related = line_refs(message, lambda text: self.file.render(text, displays))
        message = self.file.render(message, displays)
        same = self._at.get((rule.code, line, col, message))
        if same is not None:  # a helper and its copy specialised to a call's flags share their lines
            return same
        finding = Finding(rule.code, rule.name, message, self.file.display, line, col, end_line, end_col, fix,
                          abspath=self.file.path, related=related)
        self.findings.append(finding)
        self._at[(rule.code, line, col, message)] = finding
        return finding


def node_source(ctx: FileContext, node: ast.AST) -> str:
    """The source text of ``node`` (as ``ast.get_source_segment``, which splits the whole file
    on every call: this splits it once per file)."""
    end_line, end_col = getattr(node, "end_lineno", None), getattr(node, "end_col_offset", None)
    if end_line is None or end_col is None:
        return ast.unparse(node)
    lines = ctx.source_lines()
    first, col = node.lineno - 1, node.col_offset
    if not 0 <= first <= end_line - 1 < len(lines):
        return ast.unparse(node)
    if first == end_line - 1:
        return lines[first].encode()[col:end_col].decode()
    head = lines[first].encode()[col:].decode()
    tail = lines[end_line - 1].encode()[:end_col].decode()
    return "".join([head, *lines[first + 1:end_line - 1], tail])

