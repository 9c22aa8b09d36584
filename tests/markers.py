"""Read the inline expectations of fixture files: a trailing ``# expect: DG101 DG201``."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Set, Tuple

MARK = re.compile(r"#\s*expect:\s*((?:DG\d{3}[\s,]*)+)\s*$")
TRAP = re.compile(r"#\s*trap:")


def expected_in(source: str, name: str = "") -> Set[Tuple[str, int, str]]:
    out = set()
    for no, line in enumerate(source.splitlines(), 1):
        m = MARK.search(line)
        if m:
            out |= {(name, no, code) for code in re.findall(r"DG\d{3}", m.group(1))}
    return out


def expected_in_files(files: Iterable[Path], base: Path) -> Set[Tuple[str, int, str]]:
    out = set()
    for f in files:
        out |= expected_in(f.read_text(encoding="utf-8"), f.relative_to(base).as_posix())
    return out


def traps_in(source: str) -> int:
    return sum(1 for line in source.splitlines() if TRAP.search(line))
