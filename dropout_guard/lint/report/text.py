"""Concise text output, as flake8 and ruff print it: ``path:line:col: CODE message``.

File names are shown with their control characters escaped (``terminal_safe``), in the
location and in messages that name another file. Colour (rich) only when asked: ``color=True``; the caller decides from ``--color`` /
``NO_COLOR`` / whether stdout is a terminal (see ``use_color``). rich is imported only then.
"""
from __future__ import annotations

import io
import os
import re
from collections import Counter
from typing import Dict, IO, List, Mapping, Optional, Sequence

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


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """``text`` with control characters shown as escapes (``\\x1b``, ``\\n``…): a file
    named with an escape sequence or a newline must not drive the terminal or forge a line."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def location(f: Finding) -> str:
    cell = f"cell {f.cell}:" if f.cell is not None else ""
    return f"{terminal_safe(f.path)}:{cell}{f.line}:{f.column}"


def fixable(f: Finding, unsafe: bool = False) -> bool:
    """``--fix`` would apply this finding's fix (``unsafe``: ``--unsafe-fixes`` was given)."""
    if f.fix is None or not f.fix.edits:
        return False
    return f.fix.applicability == "safe" or (unsafe and f.fix.applicability == "unsafe")


def hidden(f: Finding) -> bool:
    """An unsafe fix that only ``--unsafe-fixes`` applies."""
    return f.fix is not None and bool(f.fix.edits) and f.fix.applicability == "unsafe"


def line_of(f: Finding, unsafe: bool = False, *, escape: bool = True) -> str:
    """``path:line:col: CODE message``; ``escape``: control characters in the message too
    (for a terminal; the GitHub format escapes it its own way)."""
    mark = " [*]" if fixable(f, unsafe) else ""
    return f"{location(f)}: {f.code}{mark} {terminal_safe(f.message) if escape else f.message}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def summary_line(count: int, fixed: Optional[int] = None) -> str:
    if fixed is not None and fixed:
        return f"Found {_plural(count + fixed, 'problem')} ({fixed} fixed, {count} remaining)."
    if not count:
        return "All checks passed!"
    return f"Found {_plural(count, 'problem')}."


def fix_hint(findings: Sequence[Finding], unsafe: bool = False, show_hidden: bool = True) -> Optional[str]:
    """ruff's hint: ``[*] N fixable with the `--fix` option (M hidden fixes can be enabled
    with the `--unsafe-fixes` option).``; None when there is nothing to say."""
    n = sum(1 for f in findings if fixable(f, unsafe))
    h = 0 if unsafe or not show_hidden else sum(1 for f in findings if hidden(f))
    opt = "`--fix --unsafe-fixes`" if unsafe else "`--fix`"
    extra = f"{h} hidden fix{'es' if h != 1 else ''} can be enabled with the `--unsafe-fixes` option" if h else ""
    if n and extra:
        return f"[*] {n} fixable with the {opt} option ({extra})."
    if n:
        return f"[*] {n} fixable with the {opt} option."
    if extra:
        return f"No fixes available ({extra})."
    return None


def _rule_names() -> Dict[str, str]:
    from .. import rules

    return {r.code: r.name for r in rules.ALL_RULES}


def fix_summary_lines(applied: Mapping[str, Mapping[str, int]]) -> List[tuple]:
    """ruff's ``--show-fixes`` table as (kind, text) rows: ``("head", "Fixed 3 problems:")``,
    ``("file", path)``, ``("rule", count, code, name)`` — files by path, rules by count
    (most first, then code), counts right-aligned to the widest."""
    tables = {path: {c: n for c, n in counts.items() if n > 0} for path, counts in applied.items()}
    tables = {p: t for p, t in tables.items() if t}
    if not tables:
        return []
    total = sum(sum(t.values()) for t in tables.values())
    width = len(str(max(n for t in tables.values() for n in t.values())))
    names = _rule_names()
    rows: List[tuple] = [("head", f"Fixed {_plural(total, 'problem')}:")]
    for path in sorted(tables):
        rows.append(("file", terminal_safe(path)))
        for code, n in sorted(tables[path].items(), key=lambda kv: (-kv[1], kv[0])):
            rows.append(("rule", f"{n:>{width}}", code, names.get(code, code)))
    return rows


def render_fix_summary(applied: Mapping[str, Mapping[str, int]], *, color: bool = False) -> str:
    """``--show-fixes``: what ``--fix`` applied, per file (display path) and rule::

        Fixed 3 problems:
        - train.py:
            2 × DG301 (functional-dropout-without-training)
            1 × DG103 (mode-method-not-called)

    Empty when nothing was fixed."""
    rows = fix_summary_lines(applied)
    if not color:
        out = []
        for row in rows:
            if row[0] == "head":
                out.append(row[1])
            elif row[0] == "file":
                out.append(f"- {row[1]}:")
            else:
                out.append(f"    {row[1]} \u00d7 {row[2]} ({row[3]})")
        return "".join(line + "\n" for line in out)
    from rich.text import Text

    console = _console()
    for row in rows:
        t = Text()
        if row[0] == "head":
            t.append(row[1], style="bold green")
        elif row[0] == "file":
            t.append("-", style="cyan")
            t.append(" ")
            t.append(row[1], style="bold")
            t.append(":", style="cyan")
        else:
            t.append(f"    {row[1]} \u00d7 ")
            t.append(row[2], style="bold red")
            t.append(f" ({row[3]})")
        console.print(t)
    return console.file.getvalue()  # type: ignore[attr-defined]


def fix_only_summary(findings: Sequence[Finding], fixed: int, unsafe: bool = False,
                     show_hidden: bool = True) -> Optional[str]:
    """``--fix-only``'s line (ruff's): ``Fixed N problems.``, with ``(M additional fixes
    available with `--unsafe-fixes`)`` for the unsafe fixes left unapplied (not with
    ``--no-unsafe-fixes``); None when nothing was fixed and no fix is waiting."""
    u = 0 if unsafe or not show_hidden else sum(1 for f in findings if hidden(f))
    es = "" if u == 1 else "es"
    if u:
        if fixed:
            return f"Fixed {_plural(fixed, 'problem')} ({u} additional fix{es} available with `--unsafe-fixes`)."
        return f"No problems fixed ({u} fix{es} available with `--unsafe-fixes`)."
    if fixed:
        return f"Fixed {_plural(fixed, 'problem')}."
    return None


def diff_summary(fixed: int, waiting: int = 0) -> str:
    """``--diff``'s line (ruff's, on standard error): ``Would fix N problems.``, or ``No
    fixes to apply.``; ``waiting`` unsafe fixes that ``--unsafe-fixes`` would add are named."""
    es = "" if waiting == 1 else "es"
    if fixed and waiting:
        return (f"Would fix {_plural(fixed, 'problem')} ({waiting} additional fix{es} available with "
                f"`--unsafe-fixes`).")
    if fixed:
        return f"Would fix {_plural(fixed, 'problem')}."
    if waiting:
        return f"No problems would be fixed ({waiting} fix{es} available with `--unsafe-fixes`)."
    return "No fixes to apply."


def render_fix_only(findings: Sequence[Finding], fixed: int, *, color: bool = False, summary: bool = True,
                    unsafe: bool = False, show_hidden: bool = True,
                    applied: Optional[Mapping[str, Mapping[str, int]]] = None) -> str:
    """``--fix-only``'s report: the ``--show-fixes`` table (``applied``), then (unless
    ``summary=False``) ``fix_only_summary``; the remaining findings are not listed."""
    out = ""
    table = render_fix_summary(applied, color=color) if applied else ""
    if table:
        out += "\n" + table + "\n"
    line = fix_only_summary(findings, fixed, unsafe, show_hidden) if summary else None
    if line:
        out += _styled(line, "bold") if color else line + "\n"
    return out


def _styled(line: str, style: str) -> str:
    from rich.text import Text

    console = _console()
    console.print(Text(line, style=style))
    return console.file.getvalue()  # type: ignore[attr-defined]


def _console():
    from rich.console import Console

    return Console(file=io.StringIO(), force_terminal=True, no_color=False, color_system="standard",
                   width=1_000_000, highlight=False, soft_wrap=True, emoji=False, markup=False)


def render(findings: Sequence[Finding], *, color: bool = False, summary: bool = True, unsafe: bool = False,
           fixed: Optional[int] = None, show_hidden: bool = True,
           applied: Optional[Mapping[str, Mapping[str, int]]] = None, lines: bool = True, **_: object) -> str:
    """One line per finding (none with ``lines=False``: the full format draws them), then (unless ``summary=False``) the summary line and the fix
    hint. ``unsafe``: unsafe fixes count as fixable (``--unsafe-fixes``); ``fixed``: how
    many fixes ``--fix`` applied; ``show_hidden=False`` (``--no-unsafe-fixes``) drops the
    hidden-fixes hint; ``applied`` (``--show-fixes``: display path -> code -> count) puts
    the table of applied fixes, between blank lines, before the summary (also with
    ``summary=False``, as ruff does with ``--quiet``)."""
    table = render_fix_summary(applied, color=color) if applied else ""
    if table:
        table = "\n" + table + "\n"
    tail = []
    if summary:
        tail.append(summary_line(len(findings), fixed))
        hint = fix_hint(findings, unsafe, show_hidden)
        if hint:
            tail.append(hint)
    if not color:
        listed = "".join(line_of(f, unsafe) + "\n" for f in findings) if lines else ""
        return listed + table + "".join(line + "\n" for line in tail)
    from rich.text import Text

    console = _console()
    for f in findings if lines else ():
        t = Text()
        t.append(terminal_safe(f.path), style="bold")
        t.append(":", style="cyan")
        if f.cell is not None:
            t.append(f"cell {f.cell}", style="bold")
            t.append(":", style="cyan")
        t.append(f"{f.line}")
        t.append(":", style="cyan")
        t.append(f"{f.column}")
        t.append(": ", style="cyan")
        t.append(f.code, style="bold red")
        if fixable(f, unsafe):
            t.append(" [*]", style="cyan")
        t.append(f" {terminal_safe(f.message)}")  # it may name another file
        console.print(t)
    if table:
        console.file.write(table)  # type: ignore[attr-defined]
    for i, line in enumerate(tail):
        console.print(Text(line, style=("bold green" if not findings else "bold") if i == 0 else "cyan"))
    return console.file.getvalue()  # type: ignore[attr-defined]


def statistics(findings: Sequence[Finding], unsafe: bool = False) -> List[dict]:
    """Counts per code, most frequent first (then by code)."""
    counts = Counter(f.code for f in findings)
    names = {f.code: f.name for f in findings}
    fix = {f.code for f in findings if fixable(f, unsafe)}
    return [{"code": c, "name": names[c], "count": n, "fixable": c in fix}
            for c, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def render_statistics(findings: Sequence[Finding], unsafe: bool = False, **_: object) -> str:
    """ruff's ``--statistics`` table: count, code, [*] when fixable, name."""
    rows = statistics(findings, unsafe)
    if not rows:
        return ""
    cw = max(len(str(r["count"])) for r in rows)
    kw = max(len(r["code"]) for r in rows)
    return "".join(f"{r['count']:>{cw}}\t{r['code']:<{kw}}\t{'[*] ' if r['fixable'] else ''}{r['name']}\n"
                   for r in rows)
