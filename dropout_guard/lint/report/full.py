"""Full text output, as ruff prints it by default (``--output-format full``): each finding's
``path:line:col: CODE message`` line, then the source lines around it with the range
underlined and the fix's help, then a blank line::

    train.py:3:1: DG202 [*] `torch.no_grad()` used as a statement has no effect
      |
    1 | import torch
    2 |
    3 | torch.no_grad()
      | ^^^^^^^^^^^^^^^ DG202
      |
      = help: Use `with torch.no_grad():`

A range over several lines is drawn as ruff (annotate-snippets) draws it: ``_^`` from the
start column, ``|`` down the margin, ``|_^`` at the end. Up to ``CONTEXT`` lines are shown
before and after. A notebook finding quotes its cell (``sources`` holds each analysed cell
under ``notebook.cell_key``), numbered as the cell's lines. The summary and the fix hint are
those of the concise format (``text.py``), and colour works as there (rich, only when asked).
"""
from __future__ import annotations

import re
from typing import List, Mapping, Optional, Sequence, Tuple

from ..findings import Finding
from . import text as concise

CONTEXT = 2
MAX_RANGE_LINES = 12  # a longer range shows its first and last lines only, around a "..."
_NEWLINE = re.compile(r"\r\n|\r|\n")
Row = Tuple[str, str]  # (text, style): style "" plain, "gutter", "caret", "help", "header"


def _lines_of(f: Finding, sources: Mapping[str, str]) -> Optional[List[str]]:
    key = f"{f.abspath or f.path}#cell{f.cell}" if f.cell is not None else (f.abspath or f.path)
    try:
        src = sources.get(key) if key else None
        if src is None and f.cell is None:
            src = sources.get(f.path)
    except (OSError, ValueError):
        return None
    return _NEWLINE.split(src) if src is not None else None


def _display(line: str) -> str:
    return concise.terminal_safe(line.expandtabs(4))


def _col(line: str, column: int) -> int:
    """The display offset of 1-based character column ``column`` of ``line``."""
    return len(line[:max(0, column - 1)].expandtabs(4))


def snippet(f: Finding, lines: List[str]) -> List[Row]:
    """The quoted lines of one finding, with the range marked (no header, no help)."""
    start = max(1, min(f.line, len(lines)))
    end = max(start, min(f.end_line, len(lines)))
    first = max(1, start - CONTEXT)
    last = min(len(lines), end + CONTEXT)
    while last > end and not lines[last - 1].strip():  # no trailing blank context
        last -= 1
    shown = list(range(first, last + 1))
    if end - start + 1 > MAX_RANGE_LINES:
        keep = set(range(first, start + 3)) | set(range(end - 2, last + 1))
        shown = [n for n in shown if n in keep]
    width = len(str(shown[-1] if shown else start))
    pad = " " * width
    multi = end > start
    rows: List[Row] = [(f"{pad} |", "gutter")]
    previous = None
    for n in shown:
        if previous is not None and n != previous + 1:
            rows.append(("...", "gutter"))
        previous = n
        line = lines[n - 1]
        margin = ("| " if start < n <= end else "  ") if multi else ""
        rows.append((f"{n:>{width}} | {margin}{_display(line)}".rstrip(), ""))
        if n == start:
            col = _col(line, f.column)
            if multi:
                rows.append((f"{pad} |  {'_' * (col + 1)}^", "caret"))
            else:
                stop = _col(line, f.end_column) if f.end_line == f.line else len(line.expandtabs(4))
                rows.append((f"{pad} | {' ' * col}{'^' * max(1, stop - col)} {f.code}", "caret"))
        if multi and n == end:
            stop = _col(line, f.end_column)
            rows.append((f"{pad} | |{'_' * max(0, stop)}^ {f.code}", "caret"))
    rows.append((f"{pad} |", "gutter"))
    if f.fix is not None and f.fix.message:
        rows.append((f"{pad} = help: {concise.terminal_safe(f.fix.message)}", "help"))
    return rows


def render(findings: Sequence[Finding], *, sources: Optional[Mapping[str, str]] = None, color: bool = False,
           summary: bool = True, unsafe: bool = False, fixed: Optional[int] = None, show_hidden: bool = True,
           applied=None, **_: object) -> str:
    """Each finding with its source, a blank line after each, then (unless
    ``summary=False``) the concise format's summary line and fix hint."""
    sources = sources or {}
    rows: List[Row] = []
    for f in findings:
        rows.append((concise.line_of(f, unsafe), "header"))
        lines = _lines_of(f, sources)
        if lines:
            rows.extend(snippet(f, lines))
        rows.append(("", ""))
    text = _plain(rows) if not color else _colored(rows, findings, unsafe)
    return text + concise.render(findings, color=color, summary=summary, unsafe=unsafe, fixed=fixed,
                                 show_hidden=show_hidden, applied=applied, lines=False)


def _plain(rows: List[Row]) -> str:
    return "".join(t + "\n" for t, _ in rows)


_STYLES = {"gutter": "bold blue", "caret": "bold red", "help": "bold"}


def _colored(rows: List[Row], findings: Sequence[Finding], unsafe: bool) -> str:
    from rich.text import Text

    console = concise._console()
    it = iter(findings)
    for t, style in rows:
        if style == "header":
            one = concise.render([next(it)], color=True, summary=False, unsafe=unsafe)
            console.file.write(one)  # type: ignore[attr-defined]
            continue
        console.print(Text(t, style=_STYLES.get(style, "")))
    return console.file.getvalue()  # type: ignore[attr-defined]
