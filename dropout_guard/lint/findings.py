"""Plain data passed between the layers: a finding and its optional fix."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Optional, Tuple


@dataclass(frozen=True)
class Edit:
    """Replace the text between two 1-based (line, column) positions; end is exclusive."""

    content: str
    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True)
class Fix:
    applicability: str  # "safe" | "unsafe" | "display-only"
    message: str
    edits: Tuple[Edit, ...] = ()


@dataclass(frozen=True)
class Related:
    """A line of code a finding's message names (where the model was switched to eval, the
    helper that trains it): ``path`` absolute, ``line`` 1-based (a notebook's row in the
    concatenation of its code cells), ``message`` the clause of the message that names it."""

    path: str
    line: int
    message: str


@dataclass
class Finding:
    """One reported problem. Lines and columns are 1-based; ``end_column`` is exclusive."""

    code: str
    name: str
    message: str
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    fix: Optional[Fix] = None
    cell: Optional[int] = None
    abspath: str = field(default="", compare=False, repr=False)
    # the lines the message names, in order (for an editor's related information)
    related: Tuple[Related, ...] = field(default=(), compare=False, repr=False)

    def sort_key(self):
        return (self.path, self.line, self.column, self.code)


# A message of the analysis refers to lines of code ("switched to eval at line 12") in the
# file where that happened, which need not be the file of the finding (a helper in another
# module) and whose rows are not what users see in a notebook (the analysis reads the cells
# concatenated). So the analysis writes a reference, and the finding renders it for its file.
_LINE_REF = re.compile("\x00([^\x00\x01]*)\x01([0-9]+)\x00")


def line_ref(path: str, line: int) -> str:
    """A reference to ``line`` of the file at ``path``, for a message (see ``render_line_refs``)."""
    return f"\x00{path}\x01{line}\x00"


def render_line_refs(message: str, here: str, local: Callable[[int], str],
                     display: Callable[[str], str]) -> str:
    """``message`` with each reference written out: ``local(line)`` for a line of the file
    ``here`` (``line 12``, or ``cell 3, line 2`` in a notebook), ``line 12 of `pkg/mod.py` ``
    for a line of another file (``display(path)`` names it)."""
    if "\x00" not in message:
        return message

    def one(m: "re.Match[str]") -> str:
        path, line = m.group(1), int(m.group(2))
        if path == here:
            return local(line)
        return f"line {line} of `{display(path)}`"

    return _LINE_REF.sub(one, message)


_CLAUSE_START = re.compile(r"(?:^|[:;]\s+|,\s+(?=which |it |and |but |where |when ))")


def line_refs(message: str, rendered: Callable[[str], str]) -> Tuple[Related, ...]:
    """The line references of an unrendered ``message``, each with the clause that names it
    (from the clause's start to the reference, as ``rendered`` writes the message out)."""
    if "\x00" not in message:
        return ()
    out = []
    for m in _LINE_REF.finditer(message):
        head = rendered(message[:m.end()])
        starts = [s.end() for s in _CLAUSE_START.finditer(head)]
        clause = head[max(starts) if starts else 0:].strip(" ,(")
        clause += ")" * max(0, clause.count("(") - clause.count(")"))
        out.append(Related(m.group(1), int(m.group(2)), clause[:1].upper() + clause[1:] if clause else head))
    return tuple(out)
