"""``# noqa`` comments, read from ``tokenize`` COMMENT tokens (a "# noqa" inside a string
never counts).

Line level (flake8 / ruff semantics):

* ``# noqa: DG101`` / ``# noqa:DG101,DG102`` / ``# NOQA: dg101 DG102`` suppress those codes
  on that line (case-insensitive; text before and after is allowed, e.g.
  ``# type: ignore  # noqa: DG101  # reason``). A listed code also works as a prefix, as
  in flake8: ``# noqa: DG1`` covers DG101 and DG102.
* A bare ``# noqa``, ``# noqa:`` with no code, and ``# noqa DG101`` (no colon) suppress
  everything on the line.
* The comment goes on the reported line. When the reported line is part of a statement
  that spans several lines (brackets, backslashes, multi-line strings), the comment may
  also go on the statement's last line, where formatters leave trailing comments.

File level: a comment ``# dropout-guard: noqa`` suppresses every finding in the file;
``# dropout-guard: noqa: DG101,DG2`` suppresses only those codes (prefixes allowed). A code
list never suppresses the whole file; a directive with anything else after ``noqa`` is
ignored rather than guessed at.

DG000 (the file could not be analysed) is never suppressed by a comment: use ``ignore``
or ``per-file-ignores`` in the configuration.
"""
from __future__ import annotations

import io
import re
import tokenize
from typing import Dict, FrozenSet, Iterable, List, Mapping, Optional, Tuple

from .findings import Finding

_CODE = r"[A-Za-z]+[0-9]+"
_CODES = rf"{_CODE}(?:(?:\s*,\s*|\s+){_CODE})*"
LINE_NOQA = re.compile(rf"#\s*noqa(?![A-Za-z0-9_-])(?P<colon>\s*:\s*(?P<codes>{_CODES})?)?", re.IGNORECASE)
FILE_NOQA = re.compile(r"^#\s*dropout-guard\s*:\s*noqa(?![A-Za-z0-9_-])(?P<rest>.*)$", re.IGNORECASE)
_FILE_CODES = re.compile(rf"^\s*:\s*(?P<codes>{_CODES})\s*,?\s*(?:#.*)?$", re.IGNORECASE)

UNSUPPRESSIBLE = frozenset({"DG000"})


def _split_codes(text: str) -> FrozenSet[str]:
    return frozenset(c.upper() for c in re.findall(_CODE, text))


def _matches(code: str, listed: Iterable[str]) -> bool:
    return any(code.startswith(c) for c in listed)


def parse_line_noqa(comment: str) -> Tuple[bool, Optional[FrozenSet[str]]]:
    """(has a noqa, codes or None for blanket) for one comment token's text."""
    found = False
    codes: set = set()
    for m in LINE_NOQA.finditer(comment):
        found = True
        if m.group("codes") is None:
            return True, None
        codes |= _split_codes(m.group("codes"))
    return found, (frozenset(codes) if found else None)


def parse_file_noqa(comment: str) -> Tuple[bool, Optional[FrozenSet[str]]]:
    """(is a valid file-level directive, codes or None for the whole file)."""
    m = FILE_NOQA.match(comment.strip())
    if not m:
        return False, None
    rest = m.group("rest").strip()
    if not rest or rest.startswith("#"):
        return True, None
    cm = _FILE_CODES.match(rest)
    if cm:
        return True, _split_codes(cm.group("codes"))
    return False, None


class Suppressions:
    """The noqa directives of one file's source."""

    def __init__(self, source: str):
        self.line_noqa: Dict[int, Optional[FrozenSet[str]]] = {}  # line -> codes (None: blanket)
        self.file_all = False
        self.file_codes: FrozenSet[str] = frozenset()
        self.last_line: Dict[int, int] = {}  # physical line -> last line of its logical line
        comments, self.last_line = _scan(source)
        for line, text in comments:
            is_file, codes = parse_file_noqa(text)
            if is_file:
                if codes is None:
                    self.file_all = True
                else:
                    self.file_codes |= codes
                continue
            found, codes = parse_line_noqa(text)
            if not found:
                continue
            if line in self.line_noqa:
                prev = self.line_noqa[line]
                self.line_noqa[line] = None if prev is None or codes is None else prev | codes
            else:
                self.line_noqa[line] = codes

    def suppresses(self, finding: Finding) -> bool:
        code = finding.code.upper()
        if code in UNSUPPRESSIBLE:
            return False
        if self.file_all or _matches(code, self.file_codes):
            return True
        lines = [finding.line]
        last = self.last_line.get(finding.line)
        if last is not None and last != finding.line:
            lines.append(last)
        for line in lines:
            if line in self.line_noqa:
                codes = self.line_noqa[line]
                if codes is None or _matches(code, codes):
                    return True
        return False


def _scan(source: str) -> Tuple[List[Tuple[int, str]], Dict[int, int]]:
    """Comment tokens (line, text) and the line -> last-line map of multi-line statements."""
    comments: List[Tuple[int, str]] = []
    last_line: Dict[int, int] = {}
    start: Optional[int] = None
    skip = {tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                comments.append((tok.start[0], tok.string))
            if tok.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
                if start is not None:
                    end = tok.start[0]
                    if end > start:
                        for line in range(start, end + 1):
                            last_line[line] = end
                start = None
            elif tok.type not in skip and start is None:
                start = tok.start[0]
    except (tokenize.TokenError, SyntaxError, ValueError):
        pass  # keep what was read; the file parsed with ast, so this is rare
    return comments, last_line


def apply(findings: Iterable[Finding], sources: Mapping[str, str]) -> Tuple[List[Finding], int]:
    """(findings that stay, how many were suppressed). ``sources`` maps a path to its text;
    findings are looked up by ``abspath``, then by ``path``."""
    cache: Dict[str, Optional[Suppressions]] = {}
    kept: List[Finding] = []
    suppressed = 0
    for f in findings:
        key = f.abspath if f.abspath in sources else f.path
        if key not in cache:
            src = sources.get(key)
            cache[key] = Suppressions(src) if src is not None else None
        sup = cache[key]
        if sup is not None and sup.suppresses(f):
            suppressed += 1
        else:
            kept.append(f)
    return kept, suppressed
