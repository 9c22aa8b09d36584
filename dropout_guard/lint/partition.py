"""Split a run into independent parts before anything is parsed, and skip the parts that
cannot produce a finding.

Cross-file facts travel only along imports, and a file can only import a project module
whose name it spells. So, from the raw bytes of every file:

* each file's identifiers (one C-speed regex, no parsing);
* the names each file can be imported by (its stem; a package's folder name);
* "may import" edges: file A spells a name that file B can be imported by, and B is in A's
  own top-level package (a relative or same-package import) or A spells B's top-level
  package too (an absolute import: ``import pkg.sub.mod``, ``from pkg.sub import mod``).
  ``utils`` in torchvision does not link it to transformers' ``utils`` package: the
  analysis resolves imports the same way (relative to the importer's package, or absolute).

The connected parts of that graph are analysed separately (in parallel with ``--jobs``,
and cached part by part); the result is the same as analysing everything together,
because no fact can cross from one part to another. A part is skipped — never parsed —
when none of its files spells a single *trigger* of the selected rules: the identifiers
without which a rule cannot fire (``torch``, ``eval``, ``backward``, ``keras``, ``rand``…).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterable, List, Optional, Sequence, Set

_IDENT = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class Entry:
    """One file of the run, as the partitioner sees it."""

    key: str  # anything unique (the absolute path)
    data: bytes
    import_names: FrozenSet[str]  # names it can be imported by
    idents: Set[str] = field(default_factory=set)
    top: str = ""  # its top-level package ("": unknown, any file spelling its name may import it)


def identifiers(data: bytes) -> Set[str]:
    return {m.decode("ascii") for m in set(_IDENT.findall(data))}


def import_names(modname: str) -> FrozenSet[str]:
    """``pkg.sub.mod`` (or the package ``pkg/sub/mod/__init__.py``) is only imported by a file
    that spells ``mod``: ``import pkg.sub.mod``, ``from .sub import mod``, ``from .mod import f``."""
    parts = [p for p in modname.split(".") if p]
    if not parts:
        return frozenset()
    return frozenset({parts[-1]})


def top_name(modname: str) -> str:
    """The top-level package of ``pkg.sub.mod`` (``pkg``); a root module is its own."""
    return modname.split(".", 1)[0]


def partition(entries: Sequence[Entry]) -> List[List[Entry]]:
    """Connected parts of the may-import graph, each in input order; parts in input order."""
    for e in entries:
        if not e.idents:
            e.idents = identifiers(e.data)
    providers: Dict[str, List[int]] = {}
    for i, e in enumerate(entries):
        for name in e.import_names:
            providers.setdefault(name, []).append(i)
    parent = list(range(len(entries)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    names = set(providers)
    for i, e in enumerate(entries):
        for name in e.idents & names:
            for j in providers[name]:
                top = entries[j].top
                if top and top != e.top and top not in e.idents:
                    continue  # B is in another package, and A never names that package
                a, b = find(i), find(j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    groups: Dict[int, List[Entry]] = {}
    for i, e in enumerate(entries):
        groups.setdefault(find(i), []).append(e)
    return [groups[k] for k in sorted(groups)]


def relevant(part: Iterable[Entry], triggers: Optional[FrozenSet[str]]) -> bool:
    """Whether any file of the part spells a trigger (None: every part is relevant)."""
    if triggers is None:
        return True
    for e in part:
        if not e.idents:
            e.idents = identifiers(e.data)
        if e.idents & triggers:
            return True
    return False
