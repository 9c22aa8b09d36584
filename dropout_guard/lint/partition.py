"""Split a run into independent parts before anything is parsed, and skip the parts that
cannot produce a finding.

Cross-file facts travel only along imports, and a file can only import a project module
whose name it spells. So, from the raw bytes of every file:

* each file's identifiers (C-speed byte operations, no parsing; a notebook's code cells);
* the names each file can be imported by (its stem; a package's folder name);
* "may import" edges: file A spells a name that file B can be imported by, and B is in A's
  own top-level package (a relative or same-package import) or an import statement of A
  names B's top-level package (an absolute import: ``import pkg.sub.mod``,
  ``from pkg.sub import mod``). ``utils`` in torchvision does not link it to transformers'
  ``utils`` package, and a variable called ``examples`` does not link a file to a folder
  ``examples/``: the analysis resolves names only through import statements, relative to
  the importer's package or absolute.

The connected parts of that graph are analysed separately (in parallel with ``--jobs``,
and cached part by part); the result is the same as analysing everything together,
because no fact can cross from one part to another. A part is skipped — never parsed —
when none of its files spells a single *trigger* of the selected rules: the identifiers
without which a rule cannot fire (``torch``, ``eval``, ``backward``, ``keras``, ``rand``…).
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterable, List, Optional, Sequence, Set

# A name: ASCII, or with non-ASCII letters (UTF-8 bytes; ``import café``).
_IDENT = re.compile(rb"[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*")
# The names an import statement can start a module path with, found from the bytes (a
# superset): the first name after ``from``, past the dots of a relative import (in a root
# module ``from .pkg import f`` means ``pkg``), and every name after ``import`` to the end of
# the statement (``import a, b.c as d``; ``from . import (x,\n y)`` names modules x and y).
# A statement starts a line (a backslash continuation ends the line before it) or follows
# ``;`` or a compound statement's ``:`` (``if TYPE_CHECKING: import x``). Docstring lines
# that read like imports only add names.
_KEYWORDS = ((b"from", re.compile(rb"from\b")), (b"import", re.compile(rb"import\b")))  # a literal first: fast
_REST = rb"(?:[^\n\\;#]|\\[\s\S])*"  # to the end of the statement, over backslash continuations
_FROM_NAME = re.compile(rb"[\s\\.]*(" + _IDENT.pattern + rb")")
_FROM_IMPORT = re.compile(_REST + rb"?\bimport\b")
_IMPORTED = re.compile(rb"[\s\\]*(\((?:[^)#]|#[^\n]*)*\)?|" + _REST + rb")")


@dataclass
class Entry:
    """One file of the run, as the partitioner sees it."""

    key: str  # anything unique (the absolute path)
    data: bytes
    import_names: FrozenSet[str]  # names it can be imported by
    idents: Set[str] = field(default_factory=set)
    top: str = ""  # its top-level package ("": unknown, any file spelling its name may import it)
    package_top: str = ""  # under a folder that is no package (``src/pkg/...``): ``pkg`` (see ``package_top``)
    notebook: bool = False  # ``data`` is a notebook's JSON
    _roots: Optional[Set[str]] = None
    _code: Optional[bytes] = None

    def code(self) -> bytes:
        """The text to scan: a notebook's code cells (JSON escapes such as ``\\n`` would glue
        a line's first name to an ``n``, decoded once), else the file as it is."""
        if not self.notebook:
            return self.data
        if self._code is None:
            self._code = notebook_code(self.data)
        return self._code

    def identifiers(self) -> Set[str]:
        if not self.idents:
            self.idents = identifiers(self.code())
        return self.idents

    @property
    def import_roots(self) -> Set[str]:
        """The names its import statements may start with (see ``import_roots``), once."""
        if self._roots is None:
            self._roots = import_roots(self.code())
        return self._roots


# every byte that cannot be part of a name becomes a space: splitting is then C-speed
_SPACES = bytes(c if c >= 0x80 or chr(c).isalnum() or c == ord("_") else 0x20 for c in range(256))


def identifiers(data: bytes) -> Set[str]:
    """The names ``data`` spells (and some number-led words, such as ``0x1f``: a name is never
    glued to a digit before it in code)."""
    return _names(set(data.translate(_SPACES).split()))


def _names(tokens: Iterable[bytes]) -> Set[str]:
    out = set()
    for t in tokens:
        if t.isascii():
            out.add(t.decode("ascii"))
        else:  # Python reads a name in its NFKC form: ``ﬁle`` is ``file``
            name = t.decode("utf-8", "replace")
            out.add(name)
            out.add(unicodedata.normalize("NFKC", name))
    return out


def notebook_code(data: bytes) -> bytes:
    """The code cells of a notebook's JSON, one after another (what the analysis can read of
    it, and more: magics and cells of other languages included); the bytes themselves when
    they are not a notebook (the analysis reports that file as unreadable)."""
    try:
        nb = json.loads(data)
    except (ValueError, RecursionError):
        return data
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        return data
    out = []
    for cell in cells:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            src = cell.get("source")
            if isinstance(src, list):
                src = "".join(x for x in src if isinstance(x, str))
            if isinstance(src, str):
                out.append(src)
    return "\n".join(out).encode("utf-8", "surrogatepass")


def import_roots(data: bytes) -> Set[str]:
    """A superset of the first names of the module paths that ``data``'s imports spell."""
    tokens: Set[bytes] = set()
    for word, rx in _KEYWORDS:
        for m in rx.finditer(data):
            at = m.start()
            before = data[data.rfind(b"\n", 0, at) + 1:at].rstrip(b" \t\f")
            if before and before[-1:] not in b";:\r" and before != b"\xef\xbb\xbf":
                continue  # not where a statement starts
            at = m.end()
            if word == b"from":
                name = _FROM_NAME.match(data, at)
                if name is not None:
                    tokens.add(name.group(1))
                imp = _FROM_IMPORT.match(data, at)
                if imp is None:
                    continue
                at = imp.end()
            tokens.update(_IDENT.findall(_IMPORTED.match(data, at).group(1)))
    return _names(tokens)


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


def source_root(modname: str, packages: Set[str], itself: bool = False) -> str:
    """The folders above the first package among ``modname``'s parents (``itself``: or
    ``modname`` itself), when they are no package: ``src`` of ``src.pkg.mod`` (a ``src/``
    layout, where ``pkg`` is imported by its own name); "" otherwise. ``packages``: the dotted
    names of the run's packages (their ``__init__``)."""
    parts = modname.split(".")
    for i in range(1, len(parts) + (1 if itself else 0)):
        if ".".join(parts[:i]) in packages:
            return ".".join(parts[:i - 1])
    return ""


def package_top(modname: str, packages: Set[str]) -> str:
    """For a module inside a package below a source root (``src/pkg/mod.py``), that package's
    name (``pkg``); "" otherwise."""
    root = source_root(modname, packages)
    return modname[len(root) + 1:].split(".", 1)[0] if root else ""


def partition(entries: Sequence[Entry]) -> List[List[Entry]]:
    """Connected parts of the may-import graph, each in input order; parts in input order."""
    for e in entries:
        e.identifiers()
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
                if top and top != e.top and top not in e.import_roots and not (
                        entries[j].package_top and entries[j].package_top in e.import_roots):
                    continue  # B is in another package, and no import of A names that package
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
        if e.identifiers() & triggers:
            return True
    return False
