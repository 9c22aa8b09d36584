"""``check --diff``: the fixes as unified diffs, one per changed file (per changed cell for
notebooks, headed ``--- nb.ipynb:cell 3``, as ruff prints them)."""
from __future__ import annotations

import difflib
import re
from typing import Dict, List, Mapping, Tuple

from .text import terminal_safe

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def _lines(text: str) -> List[str]:
    return [m.group() for m in _LINE.finditer(text) if m.group()]


def unified(old: str, new: str, name: str) -> str:
    out = []
    for line in difflib.unified_diff(_lines(old), _lines(new), fromfile=name, tofile=name):
        if not line.endswith(("\n", "\r")):
            line += "\n\\ No newline at end of file\n"
        out.append(line)
    return "".join(out)


def _cells(text: str) -> Dict[int, str]:
    from ..notebook import Notebook, NotebookError

    try:
        return Notebook(text).cell_sources()
    except NotebookError:
        return {}


def render_diff(changed: Mapping[str, Tuple[str, str]], display: Mapping[str, str]) -> str:
    """``changed``: absolute path -> (old text, new text); ``display``: path shown."""
    parts = []
    for path in sorted(changed, key=lambda p: display.get(p, p)):
        old, new = changed[path]
        name = terminal_safe(display.get(path, path))
        if path.endswith(".ipynb"):
            before, after = _cells(old), _cells(new)
            for number in sorted(set(before) | set(after)):
                if before.get(number, "") != after.get(number, ""):
                    parts.append(unified(before.get(number, ""), after.get(number, ""), f"{name}:cell {number}"))
            continue
        parts.append(unified(old, new, name))
    return "".join(p + ("" if p.endswith("\n\n") else "\n") for p in parts if p)
