"""Findings as the Language Server Protocol's types: diagnostics and text edits.

Findings count lines from 1 and columns in characters from 1, ends exclusive; LSP counts
both from 0 and columns in the client's units (UTF-16 by default): ``codec`` (pygls's
``PositionCodec``) converts, with the lines of the text the finding was computed on.
"""
from __future__ import annotations

import re
from typing import Callable, List, Mapping, Optional, Sequence

from lsprotocol import types

from dropout_guard.lint.findings import Edit, Finding
from dropout_guard.lint.report import INFORMATION_URI, rule_url
from dropout_guard.lint.suppression import LINE_NOQA, apply as apply_suppressions

SOURCE = "dropout-guard"
_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def split_lines(text: str) -> List[str]:
    """The lines as the parser numbers them (split on CR, LF, CRLF only; ends kept)."""
    return _LINES.findall(text)


def lsp_range(codec, lines: Sequence[str], line: int, column: int, end_line: int, end_column: int) -> types.Range:
    start = types.Position(line=max(0, line - 1), character=max(0, column - 1))
    end = types.Position(line=max(0, end_line - 1), character=max(0, end_column - 1))
    return codec.range_to_client_units(lines, types.Range(start=start, end=end))


def line_range(codec, lines: Sequence[str], line: int) -> types.Range:
    """A line from its first non-blank character to its end (the line start when past the end)."""
    if not 1 <= line <= len(lines):
        return lsp_range(codec, lines, line, 1, line, 1)
    text = lines[line - 1].rstrip("\r\n")
    first = len(text) - len(text.lstrip())
    return lsp_range(codec, lines, line, first + 1, line, len(text) + 1)


def diagnostic(f: Finding, codec, lines: Sequence[str], sources: Mapping[str, str],
               uri_of: Callable[[str], str], place: Optional[Callable] = None) -> types.Diagnostic:
    """``f`` as a diagnostic of the text ``lines``; ``sources`` (absolute path -> analysed
    text) gives the lines its related information points at, in this file or another. A
    notebook's rows (its code cells' concatenation) are not the lines an editor shows:
    ``place(path, row)`` gives (a cell's uri, its lines, the row in it) for the notebooks
    open as notebook documents, and a related line of any other notebook is left out."""
    related: List[types.DiagnosticRelatedInformation] = []
    for r in f.related:
        if r.path.endswith(".ipynb"):
            where = place(r.path, r.line) if place is not None else None
            if where is None:
                continue
            cell_uri, cell_lines, row = where
            related.append(types.DiagnosticRelatedInformation(
                location=types.Location(uri=cell_uri, range=line_range(codec, cell_lines, row)), message=r.message))
            continue
        other = lines if r.path == f.abspath else split_lines(sources.get(r.path, ""))
        related.append(types.DiagnosticRelatedInformation(
            location=types.Location(uri=uri_of(r.path), range=line_range(codec, other, r.line)), message=r.message))
    url = rule_url(f.code, f.name) or INFORMATION_URI
    return types.Diagnostic(
        range=lsp_range(codec, lines, f.line, f.column, f.end_line, f.end_column),
        message=f.message,
        severity=types.DiagnosticSeverity.Error if f.code == "DG000" else types.DiagnosticSeverity.Warning,
        code=f.code,
        code_description=types.CodeDescription(href=url),
        source=SOURCE,
        related_information=related or None,
        data={"name": f.name, "fix": f.fix.applicability if f.fix is not None else None},
    )


def text_edits(edits: Sequence[Edit], codec, lines: Sequence[str]) -> List[types.TextEdit]:
    return [types.TextEdit(range=lsp_range(codec, lines, e.line, e.column, e.end_line, e.end_column),
                           new_text=e.content) for e in edits]


def noqa_edit(f: Finding, text: str, codec, lines: Sequence[str]) -> Optional[types.TextEdit]:
    """The edit that adds ``f.code`` to a ``# noqa`` comment on the finding's line (a new
    comment at the line's end, or the code added to the comment's list); None when the
    edited text would not suppress the finding (the line ends inside a string)."""
    if not 1 <= f.line <= len(lines):
        return None
    raw = lines[f.line - 1]
    body = raw.rstrip("\r\n")
    match = LINE_NOQA.search(body)
    if match is not None and match.group("codes"):
        at, insert = match.end("codes"), f", {f.code}"
    else:
        at, insert = len(body), f"{'  ' if body.strip() else ''}# noqa: {f.code}"
    new_line = body[:at] + insert + body[at:] + raw[len(body):]
    edited = "".join([*lines[:f.line - 1], new_line, *lines[f.line:]])
    probe = Finding(f.code, f.name, f.message, f.path, f.line, f.column, f.end_line, f.end_column, abspath="probe")
    if apply_suppressions([probe], {"probe": edited})[1] != 1:
        return None
    return types.TextEdit(range=lsp_range(codec, lines, f.line, at + 1, f.line, at + 1), new_text=insert)


def whole_text_edit(old: str, new: str) -> types.TextEdit:
    """One edit that replaces the text ``old`` by ``new`` (the end: past the last line)."""
    lines = split_lines(old)
    end = types.Position(line=len(lines), character=0)
    return types.TextEdit(range=types.Range(start=types.Position(line=0, character=0), end=end), new_text=new)
