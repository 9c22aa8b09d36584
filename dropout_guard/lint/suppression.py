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

This module also owns the two tools that edit the comments (both pure text functions, the
api applies them): ``unused_noqa`` reports DG001 (ruff's RUF100) for the ``DG`` codes of a
line's ``# noqa: ...`` that suppressed nothing in the run (codes of other tools are left
alone, and so is a bare ``# noqa``), with a safe fix that removes them (the whole directive
when nothing else is left in it); ``noqa_edits`` builds the ``--add-noqa`` edits: one
``# noqa: CODES`` per line with findings, merged into a ``# noqa: X`` already there.
"""
from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass
from typing import Callable, Dict, FrozenSet, Iterable, List, Mapping, Optional, Set, Tuple

from .findings import Edit, Finding, Fix

_CODE = r"[A-Za-z]+[0-9]+"
_CODES = rf"{_CODE}(?:(?:\s*,\s*|\s+){_CODE})*"
LINE_NOQA = re.compile(rf"#\s*noqa(?![A-Za-z0-9_-])(?P<colon>\s*:\s*(?P<codes>{_CODES})?)?", re.IGNORECASE)
FILE_NOQA = re.compile(r"^#\s*dropout-guard\s*:\s*noqa(?![A-Za-z0-9_-])(?P<rest>.*)$", re.IGNORECASE)
_FILE_CODES = re.compile(rf"^\s*:\s*(?P<codes>{_CODES})\s*,?\s*(?:#.*)?$", re.IGNORECASE)

UNSUPPRESSIBLE = frozenset({"DG000"})
_LINES = re.compile(r"\r\n|\r|\n")


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


@dataclass(frozen=True)
class Directive:
    """One ``# noqa: CODES`` (not a bare one) in a comment: where it is and what it lists."""

    line: int
    start: int  # 0-based character columns of the ``# noqa: ...`` match in the line
    end: int
    codes: Tuple[str, ...]  # as written (upper-cased), in order, repeats included
    comment_end: int  # 0-based column where the comment token ends


class Suppressions:
    """The noqa directives of one file's source. ``used`` collects the (line, listed code)
    pairs that suppressed a finding (for DG001)."""

    def __init__(self, source: str):
        self.line_noqa: Dict[int, Optional[FrozenSet[str]]] = {}  # line -> codes (None: blanket)
        self.file_all = False
        self.file_codes: FrozenSet[str] = frozenset()
        self.last_line: Dict[int, int] = {}  # physical line -> last line of its logical line
        self.directives: List[Directive] = []
        self.used: Set[Tuple[int, str]] = set()
        comments, self.last_line = _scan(source)
        for line, col, text in comments:
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
            for m in LINE_NOQA.finditer(text):
                if m.group("codes") is not None:
                    listed = tuple(c.upper() for c in re.findall(_CODE, m.group("codes")))
                    self.directives.append(Directive(line, col + m.start(), col + m.end(), listed,
                                                     col + len(text)))
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
                if codes is None:
                    return True
                hits = [c for c in codes if code.startswith(c)]
                if hits:
                    self.used.update((line, c) for c in hits)
                    return True
        return False


def _scan(source: str) -> Tuple[List[Tuple[int, int, str]], Dict[int, int]]:
    """Comment tokens (line, column, text) and the line -> last-line map of multi-line statements."""
    comments: List[Tuple[int, int, str]] = []
    last_line: Dict[int, int] = {}
    start: Optional[int] = None
    skip = {tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                comments.append((tok.start[0], tok.start[1], tok.string))
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


def apply(findings: Iterable[Finding], sources: Mapping[str, str],
          parsed: Optional[Dict[str, Optional[Suppressions]]] = None) -> Tuple[List[Finding], int]:
    """(findings that stay, how many were suppressed). ``sources`` maps a path to its text;
    findings are looked up by ``abspath``, then by ``path``. ``parsed``, when given, receives
    each file's ``Suppressions`` (with what they suppressed, for ``unused_noqa``)."""
    cache: Dict[str, Optional[Suppressions]] = parsed if parsed is not None else {}
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


# -- DG001: unused noqa codes --------------------------------------------------------------------
UNUSED_NOQA = ("DG001", "unused-noqa")
OWN_PREFIX = "DG"


def _own(code: str) -> bool:
    return code.startswith(OWN_PREFIX) and code[len(OWN_PREFIX):][:1].isdigit()


def unused_noqa(path: str, display: str, source: str, sup: Suppressions, enabled: Iterable[str],
                known: Iterable[str]) -> List[Finding]:
    """DG001 for each ``# noqa: CODES`` of ``source`` that lists ``DG`` codes which suppressed
    nothing (``sup.used``, after the run's findings went through ``sup.suppresses``).

    A code is *unknown* when no registered rule starts with it, *non-enabled* when no
    enabled rule does, else *unused*; a code listed twice is *duplicated*. Codes of other tools (E501, F401…) are never reported
    and always kept; a directive that lists DG001 itself, a bare ``# noqa`` and the
    file-level directives are left alone. The fix (safe) rewrites the directive without the
    reported codes, or removes it (and the blanks before it) when nothing is left."""
    enabled = set(enabled)
    known = set(known)
    if sup.file_all or _matches(UNUSED_NOQA[0], sup.file_codes):
        return []
    lines = _LINES.split(source)
    out: List[Finding] = []
    for d in sup.directives:
        if sup.line_noqa.get(d.line, frozenset()) is None or UNUSED_NOQA[0] in d.codes:
            continue  # a bare noqa on the line covers DG001; a listed DG001 is deliberate
        kinds: Dict[str, List[str]] = {"unused": [], "duplicated": [], "unknown": [], "non-enabled": []}
        seen: Set[str] = set()
        drop: List[int] = []  # positions in d.codes that the fix removes
        for i, code in enumerate(d.codes):
            if code in seen:
                if _own(code):
                    kinds["duplicated"].append(code)
                    drop.append(i)
                continue
            seen.add(code)
            if not _own(code) or (d.line, code) in sup.used:
                continue
            drop.append(i)
            if not any(k.startswith(code) for k in known):
                kinds["unknown"].append(code)
            elif not any(k.startswith(code) for k in enabled):
                kinds["non-enabled"].append(code)
            else:
                kinds["unused"].append(code)
        reported = [c for kind in kinds.values() for c in kind]
        if not reported:
            continue
        detail = "; ".join(f"{kind}: " + ", ".join(f"`{c}`" for c in codes) for kind, codes in kinds.items() if codes)
        text = lines[d.line - 1] if d.line - 1 < len(lines) else ""
        keep = list(dict.fromkeys(c for i, c in enumerate(d.codes) if i not in drop))
        if keep:
            edit = Edit("# noqa: " + ", ".join(keep), d.line, d.start + 1, d.line, d.end + 1)
            fix_message = "Remove unused codes from the `noqa` directive"
        else:
            after = text[d.end:d.comment_end]
            if after.lstrip().startswith("#"):  # another comment follows: keep it
                start, end, content = d.start, d.end + len(after) - len(after.lstrip()), ""
            elif after.strip():  # free text after the codes: keep it as a plain comment
                start, end, content = d.start, d.end, "#"
            else:  # the directive ends the line: remove it with the blanks before it
                start, end, content = len(text[:d.start].rstrip()), len(text), ""
            edit = Edit(content, d.line, start + 1, d.line, end + 1)
            fix_message = "Remove the unused `noqa` directive"
        out.append(Finding(UNUSED_NOQA[0], UNUSED_NOQA[1], f"Unused `noqa` directive ({detail})", display,
                           d.line, d.start + 1, d.line, d.end + 1, Fix("safe", fix_message, (edit,)),
                           abspath=path))
    return out


# -- --add-noqa -------------------------------------------------------------------------------------
def noqa_edits(source: str, codes_by_line: Mapping[int, Iterable[str]]) -> List[Edit]:
    """The edits that add ``# noqa: CODES`` for ``codes_by_line`` (line -> codes of findings
    that are not suppressed). A line that cannot carry a comment (inside a multi-line string,
    before a backslash) gets it on its statement's last line, where ``Suppressions`` looks
    too. A line that has a ``# noqa: X`` gets the codes merged into it (sorted, no
    repeats); otherwise ``  # noqa: CODES`` is appended to the line."""
    comments, last_line = _scan(source)
    open_lines = _comment_lines(source)
    wanted: Dict[int, Set[str]] = {}
    for line, codes in codes_by_line.items():
        target = line if line in open_lines else last_line.get(line, line)
        wanted.setdefault(target, set()).update(c.upper() for c in codes)
    directives: Dict[int, Tuple[int, int, Tuple[str, ...]]] = {}
    for line, col, text in comments:
        if line in wanted and line not in directives:
            for m in LINE_NOQA.finditer(text):
                if m.group("codes") is not None:
                    listed = tuple(c.upper() for c in re.findall(_CODE, m.group("codes")))
                    directives[line] = (col + m.start(), col + m.end(), listed)
                    break
    lines = _LINES.split(source)
    edits: List[Edit] = []
    for line in sorted(wanted):
        if line - 1 >= len(lines):
            continue
        text = lines[line - 1]
        if line in directives:
            start, end, listed = directives[line]
            merged = sorted(set(listed) | wanted[line])
            edits.append(Edit("# noqa: " + ", ".join(merged), line, start + 1, line, end + 1))
            continue
        body = text.rstrip()
        edits.append(Edit(f"  # noqa: {', '.join(sorted(wanted[line]))}", line, len(body) + 1, line,
                          len(text) + 1))
    return edits


def _comment_lines(source: str) -> Set[int]:
    """Lines that end in a NEWLINE or NL token: a comment may be added at their end."""
    out: Set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type in (tokenize.NEWLINE, tokenize.NL):
                out.add(tok.start[0])
    except (tokenize.TokenError, SyntaxError, ValueError):
        pass
    return out
