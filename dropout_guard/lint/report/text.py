"""Concise text output, as flake8 and ruff print it: ``path:line:col: CODE message``.

Colour (rich) only when asked: ``color=True``; the caller decides from ``--color`` /
``NO_COLOR`` / whether stdout is a terminal (see ``use_color``). rich is imported only then.
"""
from __future__ import annotations

import io
import os
from collections import Counter
from typing import Dict, IO, List, Optional, Sequence

from ..findings import Finding


def use_color(choice: str = "auto", stream: Optional[IO] = None, environ: Optional[Dict[str, str]] = None) -> bool:
    """``always`` / ``never``, or ``auto``: a terminal, no ``NO_COLOR``, not ``TERM=dumb``
    (``FORCE_COLOR`` turns it on). An explicit ``always`` beats ``NO_COLOR``."""
    env = os.environ if environ is None else environ
    if choice == "always":
        return True
    if choice == "never":
        return False
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    if env.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):
        return False


def location(f: Finding) -> str:
    cell = f"cell {f.cell}:" if f.cell is not None else ""
    return f"{f.path}:{cell}{f.line}:{f.column}"


def fixable(f: Finding) -> bool:
    return f.fix is not None and f.fix.applicability == "safe"


def line_of(f: Finding) -> str:
    mark = " [*]" if fixable(f) else ""
    return f"{location(f)}: {f.code}{mark} {f.message}"


def summary_line(count: int) -> str:
    if not count:
        return "All checks passed!"
    return f"Found {count} problem{'s' if count != 1 else ''}."


def _console():
    from rich.console import Console

    return Console(file=io.StringIO(), force_terminal=True, no_color=False, color_system="standard",
                   width=1_000_000, highlight=False, soft_wrap=True, emoji=False, markup=False)


def render(findings: Sequence[Finding], *, color: bool = False, summary: bool = True, **_: object) -> str:
    """One line per finding, then (unless ``summary=False``) the summary line."""
    if not color:
        lines = [line_of(f) for f in findings]
        if summary:
            lines.append(summary_line(len(findings)))
        return "".join(line + "\n" for line in lines)
    from rich.text import Text

    console = _console()
    for f in findings:
        t = Text()
        t.append(f.path, style="bold")
        t.append(":", style="cyan")
        if f.cell is not None:
            t.append(f"cell {f.cell}", style="bold")
            t.append(":", style="cyan")
        t.append(f"{f.line}")
        t.append(":", style="cyan")
        t.append(f"{f.column}")
        t.append(": ", style="cyan")
        t.append(f.code, style="bold red")
        if fixable(f):
            t.append(" [*]", style="cyan")
        t.append(f" {f.message}")
        console.print(t)
    if summary:
        console.print(Text(summary_line(len(findings)), style="bold green" if not findings else "bold"))
    return console.file.getvalue()  # type: ignore[attr-defined]


def statistics(findings: Sequence[Finding]) -> List[dict]:
    """Counts per code, most frequent first (then by code)."""
    counts = Counter(f.code for f in findings)
    names = {f.code: f.name for f in findings}
    fix = {f.code for f in findings if fixable(f)}
    return [{"code": c, "name": names[c], "count": n, "fixable": c in fix}
            for c, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def render_statistics(findings: Sequence[Finding], **_: object) -> str:
    """ruff's ``--statistics`` table: count, code, [*] when fixable, name."""
    rows = statistics(findings)
    if not rows:
        return ""
    cw = max(len(str(r["count"])) for r in rows)
    kw = max(len(r["code"]) for r in rows)
    return "".join(f"{r['count']:>{cw}}\t{r['code']:<{kw}}\t{'[*] ' if r['fixable'] else ''}{r['name']}\n"
                   for r in rows)
