"""Plain data passed between the layers: a finding and its optional fix."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple


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

    def sort_key(self):
        return (self.path, self.line, self.column, self.code)
