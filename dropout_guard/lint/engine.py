"""Discovery and reading: paths in, parsed ``SourceFile``s (and DG000 findings) out.

* Files are ``.py``, ``.pyi`` and Jupyter notebooks (``.ipynb``, read as the script of their
  code cells: see ``notebook.py``); folders are walked recursively (sorted, symlinked
  folders followed once: visited real paths are tracked, so loops cannot hang).
* Folders and files matching the default excludes, ``exclude`` / ``extend-exclude``
  (gitignore-style globs relative to the configuration's folder) or a ``.gitignore`` are
  skipped while walking. Explicit file arguments are linted even when excluded, unless
  ``force_exclude``.
* Reading never raises for a bad file: NUL bytes, undecodable bytes, an unreadable or
  special file, a syntax error, or a tree too deep to parse each become one DG000 finding
  for that file and the run goes on. A missing path raises ``PathError``.
* The analysed root of a folder argument is the folder, of a file argument its folder; a
  root inside a package (a folder with ``__init__.py``) is moved up to the folder holding
  the outermost package, so ``modname`` is the importable dotted name
  (``pkg/sub/mod.py`` -> ``pkg.sub.mod``, ``pkg/__init__.py`` -> ``pkg``). A notebook gets a
  name no import can reach (``nbs/explore.ipynb`` -> ``nbs.explore-ipynb``).
* ``collect`` takes an ``overlay`` (absolute path -> text) that replaces what is on disk:
  the fix loop lints its edited texts without writing them. ``write_atomic`` writes one
  file: a temporary file in the same folder, renamed over the original, with the
  original's mode bits, encoding (BOM included) and text, only if the file did not change
  on disk in the meantime.
* ``collector_paused`` switches Python's cyclic garbage collector off while a run parses
  and analyses (see its docstring: it was most of the time of a large run).
"""
from __future__ import annotations

import ast
import contextlib
import gc
import io
import os
import re
import stat
import tempfile
import tokenize
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

from .config import Settings
from .context import SourceFile
from .findings import Finding
from .legacy import python2_as_python3
from .marimo import flatten_cells

if TYPE_CHECKING:  # pragma: no cover - notebook.py is imported when a notebook is read
    from .notebook import Notebook

PYTHON_SUFFIXES = (".py", ".pyi")
NOTEBOOK_SUFFIX = ".ipynb"
LINTED_SUFFIXES = PYTHON_SUFFIXES + (NOTEBOOK_SUFFIX,)
DG000 = ("DG000", "file-not-analysed")


class PathError(Exception):
    """A path given to the run does not exist (a usage error)."""


class ReadError(Exception):
    """Why one file could not be read, decoded or parsed (becomes a DG000 finding)."""

    def __init__(self, message: str, line: int = 1, column: int = 1,
                 end_line: Optional[int] = None, end_column: Optional[int] = None):
        super().__init__(message)
        self.message = message
        self.line = max(1, line or 1)
        self.column = max(1, column or 1)
        self.end_line = max(self.line, end_line or self.line)
        end_col = end_column if end_column is not None else self.column
        if self.end_line == self.line:
            end_col = max(self.column, end_col)
        self.end_column = max(1, end_col)


# -- gitignore-style globs ---------------------------------------------------------------------
def _class_to_regex(body: str) -> str:
    neg = body[:1] in ("!", "^")
    if neg:
        body = body[1:]
    inner = "".join(ch if ch == "-" else re.escape(ch) for ch in body)
    return f"[^{inner}/]" if neg else f"[{inner}]"


def glob_to_regex(pat: str) -> str:
    """Translate one gitignore glob (already stripped of ``!`` and slashes) to a regex."""
    out: List[str] = []
    i, n = 0, len(pat)
    while i < n:
        c = pat[i]
        if c == "*":
            if pat.startswith("**", i):
                j = i
                while j < n and pat[j] == "*":
                    j += 1
                at_start, at_end = i == 0, j == n
                after_slash = i > 0 and pat[i - 1] == "/"
                before_slash = j < n and pat[j] == "/"
                if (at_start or after_slash) and before_slash:  # "**/": zero or more folders
                    out.append("(?:.*/)?")
                    i = j + 1
                    continue
                if (at_start or after_slash) and at_end:  # "/**": everything inside
                    out.append(".*")
                    i = j
                    continue
                out.append("[^/]*")  # other runs of stars are plain stars
                i = j
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = i + 1
            if j < n and pat[j] in "!^":
                j += 1
            if j < n and pat[j] == "]":
                j += 1
            while j < n and pat[j] != "]":
                j += 1
            if j >= n:
                out.append(re.escape(c))
            else:
                out.append(_class_to_regex(pat[i + 1:j]))
                i = j
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pat[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class Pattern:
    """One gitignore-style pattern, relative to ``base`` (an absolute folder)."""

    source: str
    regex: "re.Pattern[str]"
    negated: bool
    dir_only: bool
    anchored: bool  # contains a "/" before its end: matched against the path from base

    def matches(self, rel: str, is_dir: bool) -> bool:
        if self.dir_only and not is_dir:
            return False
        target = rel if self.anchored else rel.rsplit("/", 1)[-1]
        return self.regex.fullmatch(target) is not None


@lru_cache(maxsize=1024)
def compile_pattern(line: str, gitignore: bool = True) -> Optional[Pattern]:
    """Compile one line of a .gitignore (or one exclude glob); None for blanks and comments."""
    raw = line
    if gitignore:
        line = line.rstrip("\n").rstrip("\r")
        # trailing spaces are ignored unless escaped
        stripped = line.rstrip(" ")
        if stripped.endswith("\\") and len(stripped) < len(line):
            stripped += " "
        line = stripped
        if not line or line.startswith("#"):
            return None
    else:
        line = line.strip()
        if not line:
            return None
    negated = line.startswith("!")
    if negated:
        line = line[1:]
    elif line.startswith("\\!") or line.startswith("\\#"):
        line = line[1:]
    dir_only = line.endswith("/")
    line = line.rstrip("/")
    if line.startswith("./"):
        line = line[2:]
    if not line:
        return None
    anchored = "/" in line
    line = line.lstrip("/")
    return Pattern(raw, re.compile(glob_to_regex(line), re.DOTALL), negated, dir_only, anchored)


def _rel(path: str, base: str) -> Optional[str]:
    """``path`` relative to ``base`` with "/" separators, or None when outside it."""
    n = len(base)
    if path.startswith(base) and n > 1 and base[-1] != os.sep:  # the common case, without relpath's work
        if len(path) == n:
            return ""
        if path[n] == os.sep:
            parts = path[n + 1:].split(os.sep)
            if "" not in parts and "." not in parts and ".." not in parts:
                return "/".join(parts)
    try:
        rel = os.path.relpath(path, base)
    except ValueError:
        return None
    if rel == os.curdir:
        return ""
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return None
    return rel.replace(os.sep, "/")


@dataclass
class PatternSet:
    """Patterns sharing one base folder; the last matching pattern decides (``!`` re-includes)."""

    base: str
    patterns: List[Pattern] = field(default_factory=list)
    # without a ``!`` pattern any match decides: the patterns joined into one regex for each of
    # (anchored, folders only), built at the first decision
    _joined: Optional[Dict[Tuple[bool, bool], Optional["re.Pattern[str]"]]] = field(default=None, repr=False)

    def _join(self) -> Dict[Tuple[bool, bool], Optional["re.Pattern[str]"]]:
        """Empty when a ``!`` pattern makes the order matter."""
        if self._joined is None:
            joined: Dict[Tuple[bool, bool], Optional["re.Pattern[str]"]] = {}
            for anchored in (False, True) if not any(p.negated for p in self.patterns) else ():
                for dir_only in (False, True):
                    alts = [p.regex.pattern for p in self.patterns
                            if p.anchored == anchored and p.dir_only == dir_only]
                    joined[anchored, dir_only] = re.compile("|".join(f"(?:{a})" for a in alts), re.DOTALL) \
                        if alts else None
            self._joined = joined
        return self._joined

    @classmethod
    def from_globs(cls, base: str, globs: Iterable[str], gitignore: bool = False) -> "PatternSet":
        pats = [p for p in (compile_pattern(g, gitignore) for g in globs) if p is not None]
        return cls(os.path.abspath(base), pats)

    @classmethod
    def from_file(cls, path: str) -> Optional["PatternSet"]:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                lines = fh.read().splitlines()
        except OSError:
            return None
        ps = cls.from_globs(os.path.dirname(path), lines, gitignore=True)
        return ps if ps.patterns else None

    def decide(self, path: str, is_dir: bool) -> Optional[bool]:
        """True (matched), False (re-included by ``!``) or None (no pattern matched)."""
        rel = _rel(path, self.base)
        if rel is None:
            # outside the base: only name patterns (no "/") can apply
            rel = os.path.basename(path)
            pats = [p for p in self.patterns if not p.anchored]
        else:
            pats = self.patterns
        if rel == "":
            return None
        joined = self._join()
        if joined:
            name = rel.rsplit("/", 1)[-1]
            for (anchored, dir_only), rx in joined.items():
                if rx is not None and (is_dir or not dir_only) and (not anchored or pats is self.patterns) \
                        and rx.fullmatch(rel if anchored else name) is not None:
                    return True
            return None
        result = None
        for p in pats:
            if p.matches(rel, is_dir):
                result = not p.negated
        return result

    def matches(self, path: str, is_dir: bool) -> bool:
        return bool(self.decide(path, is_dir))

    def matches_with_parents(self, path: str) -> bool:
        """Whether the file ``path`` or any folder above it (up to ``base``) matches."""
        rel = _rel(path, self.base)
        if rel is None:
            return self.matches(path, is_dir=False)
        parts = rel.split("/")
        for i in range(1, len(parts) + 1):
            sub = os.path.join(self.base, *parts[:i])
            if self.matches(sub, is_dir=i < len(parts)):
                return True
        return False


def _ignored(chain: Sequence[PatternSet], path: str, is_dir: bool) -> bool:
    result = False
    for ps in chain:
        d = ps.decide(path, is_dir)
        if d is not None:
            result = d
    return result


def _find_repo_root(folder: str) -> Optional[str]:
    d = folder
    while True:
        if os.path.exists(os.path.join(d, ".git")):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def _parent_gitignores(folder: str) -> List[PatternSet]:
    """The .gitignore files (and .git/info/exclude) that apply above a folder being walked."""
    repo = _find_repo_root(folder)
    if repo is None:
        return []
    chain: List[PatternSet] = []
    info = PatternSet.from_file(os.path.join(repo, ".git", "info", "exclude"))
    if info is not None:
        info.base = repo
        chain.append(info)
    rel = _rel(folder, repo) or ""
    d = repo
    for part in [p for p in rel.split("/") if p]:  # the repository root down to folder's parent
        ps = PatternSet.from_file(os.path.join(d, ".gitignore"))
        if ps is not None:
            chain.append(ps)
        d = os.path.join(d, part)
    return chain  # folder's own .gitignore is read while walking it


# -- discovery ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    path: str  # absolute
    display: str
    root: str  # the analysed root (absolute folder)
    explicit: bool


def display_path(path: str, cwd: Optional[str] = None) -> str:
    """Relative to the working directory when inside it, else absolute; "/" separators.

    A name that is not valid in the file system's encoding (``os.fsdecode`` keeps such bytes
    as lone surrogates, which cannot be printed or encoded) shows them as U+FFFD."""
    cwd = os.path.abspath(cwd or os.getcwd())
    rel = _rel(path, cwd)
    return printable((rel or ".") if rel is not None else path.replace(os.sep, "/"))


def printable(name: str) -> str:
    """``name`` with undecodable file-name bytes (lone surrogates) shown as U+FFFD."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return name


def analysed_root(folder: str) -> str:
    """``folder``, moved above any package it is part of."""
    folder = os.path.abspath(folder)
    while os.path.isfile(os.path.join(folder, "__init__.py")):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return folder


def import_part(folder: str) -> str:
    """The name a folder is imported by. A folder whose name Python cannot import (a checkout
    called ``facenet-pytorch`` holding the package's ``__init__.py``, installed as
    ``facenet_pytorch`` through ``package_dir``) is imported by that name with each ``-``,
    ``.`` or space turned into ``_``, as packaging tools name a distribution's module; any
    other name as it is."""
    if folder.isidentifier():
        return folder
    fixed = _UNIMPORTABLE.sub("_", folder)
    return fixed if fixed.isidentifier() else folder


_UNIMPORTABLE = re.compile(r"[-. ]")


def module_name(path: str, root: str) -> Tuple[str, bool]:
    """(dotted module name relative to root, is_package) of a source file; folders by the
    name they are imported by (``import_part``)."""
    rel = printable(_rel(path, root) or os.path.basename(path))  # never importable if it had to change
    parts = rel.split("/")
    parts[:-1] = [import_part(p) for p in parts[:-1]]
    stem = parts[-1]
    if stem.endswith(NOTEBOOK_SUFFIX):
        parts[-1] = stem[: -len(NOTEBOOK_SUFFIX)].replace(".", "_") + "-ipynb"
        return ".".join(p for p in parts if p), False
    for suffix in PYTHON_SUFFIXES:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    parts[-1] = stem
    is_package = stem == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(p for p in parts if p), is_package


class _Discovery:
    def __init__(self, settings: Settings, cwd: str):
        self.settings = settings
        self.cwd = cwd
        self.exclude = PatternSet.from_globs(settings.root, settings.excludes)
        self.candidates: List[Candidate] = []
        self.errors: List[Finding] = []
        self.seen_files: Set[str] = set()
        self.seen_dirs: Set[str] = set()
        self.kept: Set[str] = set()  # paths never excluded: named files and the folders above them

    def excluded(self, path: str, is_dir: bool) -> bool:
        return path not in self.kept and self.exclude.matches(path, is_dir)

    def add(self, path: str, root: str, explicit: bool, real: Optional[str] = None) -> None:
        real = real or os.path.realpath(path)
        if real in self.seen_files:
            return
        self.seen_files.add(real)
        self.candidates.append(Candidate(path, display_path(path, self.cwd), root, explicit))

    def add_explicit_file(self, path: str) -> None:
        if self.settings.force_exclude and self.exclude.matches_with_parents(path):
            return
        self.add(path, analysed_root(os.path.dirname(path)), explicit=True)

    def walk(self, top: str) -> None:
        if self.settings.force_exclude and self.exclude.matches_with_parents(top):
            return
        root = analysed_root(top)
        gitignore = self.settings.respect_gitignore
        chain = _parent_gitignores(top) if gitignore else []
        # (path, is_dir, chain, real path): entries are visited in name order, depth first. The
        # real path of an entry that is no symbolic link is its folder's real path and its name.
        real_top = os.path.realpath(top)
        stack: List[Tuple[str, bool, List[PatternSet], str]] = [(top, True, chain, real_top)]
        self.seen_dirs.add(real_top)
        while stack:
            folder, is_folder, chain, real_folder = stack.pop()
            if not is_folder:
                self.add(folder, root, explicit=False, real=real_folder)
                continue
            try:
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                self.errors.append(file_error(folder, display_path(folder, self.cwd),
                                              f"cannot read folder: {exc.strerror or exc}"))
                continue
            if gitignore and any(e.name == ".gitignore" for e in entries):
                ps = PatternSet.from_file(os.path.join(folder, ".gitignore"))
                if ps is not None:
                    chain = chain + [ps]
            children: List[Tuple[str, bool, List[PatternSet], str]] = []
            for entry in entries:
                path = os.path.join(folder, entry.name)
                try:
                    is_dir = entry.is_dir()
                    link = entry.is_symlink()
                except OSError:
                    is_dir, link = False, True
                if is_dir:
                    if self.excluded(path, True) or (chain and path not in self.kept and _ignored(chain, path, True)):
                        continue
                    real = os.path.realpath(path) if link else os.path.join(real_folder, entry.name)
                    if real in self.seen_dirs:
                        continue  # a symlink loop, or a folder seen through another link
                    self.seen_dirs.add(real)
                    children.append((path, True, chain, real))
                    continue
                if not entry.name.endswith(LINTED_SUFFIXES):
                    continue
                if link and not os.path.exists(path):
                    continue  # a dangling symlink
                if self.excluded(path, False) or (chain and path not in self.kept and _ignored(chain, path, False)):
                    continue
                children.append((path, False, chain, os.path.realpath(path) if link else
                                 os.path.join(real_folder, entry.name)))
            stack.extend(reversed(children))


def discover(paths: Sequence[Union[str, os.PathLike]], settings: Settings,
             cwd: Optional[str] = None, unsaved: Iterable[str] = ()) -> Tuple[List[Candidate], List[Finding]]:
    """The files to analyse, in a stable order, and DG000 findings for unreadable folders.
    ``unsaved``: absolute paths of files that exist only in memory (an editor's new buffer),
    taken as files when named even though they are not on disk."""
    cwd = os.path.abspath(cwd or os.getcwd())
    absolute = [os.path.abspath(os.path.join(cwd, os.fspath(p))) for p in paths]
    unsaved = set(unsaved)
    missing = [os.fspath(p) for p, ap in zip(paths, absolute) if not os.path.exists(ap) and ap not in unsaved]
    if missing:
        names = ", ".join(missing)
        raise PathError(f"path does not exist: {names}" if len(missing) == 1
                        else f"paths do not exist: {names}")
    d = _Discovery(settings, cwd)
    for ap in absolute:
        if os.path.isdir(ap):
            d.walk(ap)
        else:
            d.add_explicit_file(ap)
    return d.candidates, d.errors


# -- project context ---------------------------------------------------------------------------
PROJECT_MARKERS = ("pyproject.toml", "setup.cfg", "setup.py", ".git", "dropout-guard.toml", ".dropout-guard.toml")


def find_project_root(path: str) -> Optional[str]:
    """The nearest folder at or above ``path`` (a file's folder) that holds a
    ``pyproject.toml``, ``setup.cfg``, ``setup.py``, ``.git`` or a ``dropout-guard.toml``;
    None when there is none."""
    d = os.path.abspath(path)
    if not os.path.isdir(d):
        d = os.path.dirname(d)
    while True:
        if any(os.path.exists(os.path.join(d, m)) for m in PROJECT_MARKERS):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def context_root(path: str) -> str:
    """The project a named ``path`` is analysed with: the nearest folder above it with a
    project marker; without one, the root it is analysed in when named (a folder itself, a
    file's folder, moved above any package it is part of: ``analysed_root``), so that
    ``check train.py`` in a folder of scripts sees what ``check .`` sees there, with the same
    module names."""
    root = find_project_root(path)
    if root is not None:
        return root
    if os.path.isdir(path):
        return analysed_root(path)
    root = analysed_root(os.path.dirname(path))
    for up in _sys_path_ups(path):  # `sys.path.insert(0, "..")`, then `import d2l` from the folder above
        above = analysed_root(os.path.normpath(os.path.join(os.path.dirname(path), up)))
        if root.startswith(above.rstrip(os.sep) + os.sep):
            root = above
    return root


# `sys.path.insert(0, "..")` / `sys.path.append('../..')` in a file's bytes (a notebook's JSON
# escapes the double quotes): a folder above the file that its imports are resolved from
_SYS_PATH_UP = re.compile(rb"""sys\.path\.(?:insert\(\s*-?\d+\s*,|append\()\s*(?:os\.path\.abspath\()?\\?["']"""
                          rb"""(\.\.(?:/\.\.)*)/?\\?["']""")


def _sys_path_ups(path: str) -> List[str]:
    """The relative folders above it (``..``, ``../..``) that the file at ``path`` puts on
    ``sys.path`` with a literal (a script or notebook run from its own folder)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return []  # a FIFO named on the command line must not block here
        with open(path, "rb") as f:
            data = f.read(1 << 20)
    except OSError:
        return []
    if b"sys.path" not in data:
        return []
    return [m.group(1).decode() for m in _SYS_PATH_UP.finditer(data)]


@dataclass
class Discovered:
    """The files of a run: those named (directly or in a named folder), whose findings are
    reported, and the rest of their projects, read so that facts can cross files."""

    candidates: List[Candidate]  # every file to consider, named ones included
    named: Dict[str, Candidate]  # absolute path -> candidate, in the order named: the files whose findings count
    errors: List[Finding]  # DG000 for unreadable folders among the named paths


def discover_in_context(paths: Sequence[Union[str, os.PathLike]], settings: Settings,
                        cwd: Optional[str] = None, unsaved: Iterable[str] = ()) -> Discovered:
    """``discover``, and around the named paths their projects (``settings.project_root``, or
    for each path its ``context_root``), walked as a folder argument would be: the same
    excludes, the same module names. So a file's findings do not depend on which other files
    were named: ``check F`` reports in F what ``check <project>`` reports there. A named file
    the walk does not reach (excluded, but named explicitly) is added as ``discover`` found
    it. Without ``settings.context`` this is ``discover``."""
    cwd = os.path.abspath(cwd or os.getcwd())
    named_found, errors = discover(paths, settings, cwd, unsaved=unsaved)
    named = {c.path: c for c in named_found}
    if not settings.context:
        return Discovered(named_found, named, errors)
    roots: List[str] = []
    for p in paths:
        root = settings.project_root or context_root(os.path.abspath(os.path.join(cwd, os.fspath(p))))
        if root not in roots:
            roots.append(root)
    around = _Discovery(settings, cwd)
    for path in named:  # what the user named is walked into even where excluded, as when named alone
        around.kept.add(path)
        d = os.path.dirname(path)
        while d not in around.kept and os.path.dirname(d) != d:
            around.kept.add(d)
            d = os.path.dirname(d)
    for root in roots:
        around.walk(root)  # its unreadable folders are reported only where a named path reaches them
    walked = {c.path: c for c in around.candidates}
    real = {os.path.realpath(c.path): c for c in around.candidates}
    candidates = list(around.candidates)
    named = {}
    for c in named_found:
        same = walked.get(c.path) or real.get(os.path.realpath(c.path))
        if same is None:
            candidates.append(c)
            same = c
        named[same.path] = same
    return Discovered(candidates, named, errors)


# -- reading -----------------------------------------------------------------------------------
def file_error(path: str, display: str, message: str, line: int = 1, column: int = 1,
               end_line: Optional[int] = None, end_column: Optional[int] = None) -> Finding:
    err = ReadError(message, line, column, end_line, end_column)
    return Finding(DG000[0], DG000[1], err.message, display, err.line, err.column, err.end_line, err.end_column,
                   abspath=path)


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def read_bytes(path: str) -> bytes:
    """The file's bytes; ReadError for an unreadable or special file (never blocks on a FIFO)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except PermissionError:
        raise ReadError("cannot read file: permission denied") from None
    except OSError as exc:
        raise ReadError(f"cannot read file: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "a special file")
            raise ReadError(f"cannot read file: not a regular file ({kind})")
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise ReadError(f"cannot read file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _position(data: bytes, index: int) -> Tuple[int, int]:
    line = data.count(b"\n", 0, index) + 1
    column = index - (data.rfind(b"\n", 0, index) + 1) + 1
    return line, column


def decode_source(data: bytes) -> str:
    """Decode as Python does (BOM, coding cookie, else UTF-8); ReadError when impossible."""
    return decode_with_encoding(data)[0]


def decode_with_encoding(data: bytes) -> Tuple[str, str]:
    """(text, the encoding it was decoded with: ``utf-8-sig`` when there is a BOM)."""
    nul = data.find(b"\x00")
    if nul != -1:
        line, col = _position(data, nul)
        raise ReadError("cannot analyse file: it contains a NUL byte (binary file, not Python source)",
                        line, col, line, col + 1)
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        raise ReadError(f"cannot decode file: {exc.msg}") from None
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError as exc:
        line, col = _position(data, exc.start)
        raise ReadError(f"cannot decode file as {encoding}: invalid byte 0x{data[exc.start]:02x} "
                        f"(is it a binary file, or is the encoding declaration missing?)",
                        line, col, line, col + 1) from None
    except LookupError as exc:  # pragma: no cover - detect_encoding validates the codec
        raise ReadError(f"cannot decode file: {exc}") from None


def parse_source(source: str, path: str = "<string>") -> ast.Module:
    """``ast.parse`` without warnings on stderr; ReadError for anything that does not parse."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarning / DeprecationWarning from the parser
            tree = ast.parse(source, filename=path)
        return flatten_cells(tree) if "marimo" in source else tree  # a marimo notebook: its cells as one program
    except SyntaxError as exc:
        tree = _parse_python2(source, path)
        if tree is not None:
            return tree
        line = exc.lineno or 1
        col = exc.offset or 1
        end_line = getattr(exc, "end_lineno", None)
        end_col = getattr(exc, "end_offset", None)
        if not end_line or end_line < line or (end_line == line and (end_col or 0) < col):
            end_line, end_col = line, col
        raise ReadError(f"{type(exc).__name__}: {exc.msg}", line, col, end_line, end_col) from None
    except (RecursionError, MemoryError) as exc:
        raise ReadError(f"cannot parse file: too deeply nested ({type(exc).__name__})") from None
    except ValueError as exc:  # e.g. NUL bytes when a caller skipped decode_source
        raise ReadError(f"cannot parse file: {exc}") from None


def _parse_python2(source: str, path: str) -> Optional[ast.Module]:
    """A Python 2 file's tree, its statements read as Python 3 (``legacy``); None when it
    still does not parse."""
    rewritten = python2_as_python3(source)
    if rewritten is None:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(rewritten, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def load_file(path: str, display: str, modname: str = "", is_package: bool = False) -> SourceFile:
    """Read, decode and parse one file (ReadError when that fails)."""
    source = decode_source(read_bytes(path))
    tree = parse_source(source, path)
    return SourceFile(path, display, source, tree, modname, is_package)


def decode_notebook(data: bytes) -> Tuple[str, str]:
    """A notebook's text (JSON is UTF-8, a BOM tolerated) and the encoding to write it back with."""
    encoding = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError as exc:
        line, col = _position(data, exc.start)
        raise ReadError(f"cannot decode notebook as UTF-8: invalid byte 0x{data[exc.start]:02x}",
                        line, col, line, col + 1) from None


def is_notebook(path: str) -> bool:
    return path.endswith(NOTEBOOK_SUFFIX)


@dataclass
class Collection:
    """What discovery and reading produced for one run."""

    files: List[SourceFile]  # parsed, in discovery order: pass them all to ONE analyze() call
    errors: List[Finding]  # DG000 findings for files that could not be read, decoded or parsed
    checked: List[str]  # display paths of every file considered (parsed or not)
    sources: Dict[str, str] = field(default_factory=dict)  # absolute path -> what the analysis read
    texts: Dict[str, str] = field(default_factory=dict)  # absolute path -> the file's text (a notebook's JSON)
    notebooks: Dict[str, "Notebook"] = field(default_factory=dict)  # absolute path -> parsed notebook
    named: Optional[Dict[str, Candidate]] = None  # absolute paths whose findings are reported (None: all)


def _read_notebook(path: str, display: str, text: str, errors: List[Finding]):
    from .notebook import Notebook, NotebookError

    try:
        nb = Notebook(text)
    except NotebookError as err:
        errors.append(file_error(path, display, err.message, err.line, err.column))
        return None
    errors.extend(nb.errors(path, display))
    return nb


@contextlib.contextmanager
def collector_paused():
    """Run the block with the cyclic garbage collector off (restored afterwards).

    Parsing and analysing allocate millions of objects (``ast`` nodes, the analysis'
    facts) that all stay alive until the analysis is done. With the collector on, every
    full collection traverses all of them again: on the transformers wheel (2,912 files),
    keeping the trees made ``ast.parse`` of every file take 34 s instead of 5 s, and a cold
    check 54 s instead of 22 s — with the same peak memory, because there is nothing for the
    collector to free. Garbage is still freed by reference counting: the analysis breaks its
    own reference cycles when it is done (``flow.Project.release``); any other cycle waits
    for the next collection after the block.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def collect(paths: Sequence[Union[str, os.PathLike]], settings: Settings,
            cwd: Optional[str] = None, overlay: Optional[Dict[str, str]] = None) -> Collection:
    """Discover, read and parse the named files, and of their projects' files those that may
    share a fact with them (see ``discover_in_context``; the import-connected parts of
    ``partition`` that hold a named file). Raises PathError for a missing path; never for a
    bad file. ``overlay`` maps absolute paths to texts that replace the files' contents (a
    file that is not on disk is read from it when named in ``paths``). ``Collection.named``
    says whose findings count."""
    found = discover_in_context(paths, settings, cwd, unsaved=overlay or ())
    candidates = found.candidates
    data: Dict[str, bytes] = {}  # what the partition read, handed on so nothing is read twice
    if len(candidates) > len(found.named):
        from . import partition

        for c in candidates:
            if overlay is None or c.path not in overlay:
                try:
                    data[c.path] = read_bytes(c.path)
                except ReadError:
                    pass  # read again below, where it becomes a DG000 if named
        keep = set()
        for part in partition.partition(partition_entries(candidates, data, overlay)):
            if any(e.key in found.named for e in part):
                keep.update(e.key for e in part)
        candidates = [c for c in candidates if c.path in keep]
    collection = read_candidates(candidates, found.errors, overlay, data=data)
    collection.named = found.named
    collection.checked = [c.display for c in found.named.values()]
    return collection


def partition_entries(candidates: Sequence[Candidate], data: Dict[str, bytes],
                      overlay: Optional[Dict[str, str]] = None) -> list:
    """The partitioner's view of the candidates (``partition.Entry``, keyed by path): their
    bytes from ``data``, or the text of ``overlay`` (a file that could not be read: none)."""
    from . import partition

    out = []
    names = [module_name(c.path, c.root) for c in candidates]
    packages = {m for m, is_package in names if is_package}
    for c, (modname, _p) in zip(candidates, names):
        raw = overlay[c.path].encode("utf-8", "surrogatepass") if overlay and c.path in overlay \
            else data.get(c.path, b"")
        out.append(partition.Entry(c.path, raw, partition.import_names(modname),
                                   top=partition.top_name(modname), notebook=is_notebook(c.path),
                                   package_top=partition.package_top(modname, packages)))
    return out


def read_candidates(candidates: Sequence[Candidate], errors: Optional[List[Finding]] = None,
                    overlay: Optional[Dict[str, str]] = None,
                    data: Optional[Dict[str, bytes]] = None,
                    tick: Optional[Callable[[int], None]] = None) -> Collection:
    """Read (or take from ``data``/``overlay``), decode and parse discovered files
    (``tick(1)`` after each: progress)."""
    errors = list(errors or ())
    files: List[SourceFile] = []
    sources: Dict[str, str] = {}
    texts: Dict[str, str] = {}
    notebooks: Dict[str, "Notebook"] = {}
    for c in candidates:
        if tick is not None:
            tick(1)
        modname, is_package = module_name(c.path, c.root)
        try:
            if overlay is not None and c.path in overlay:
                text = overlay[c.path]
            else:
                raw = data[c.path] if data is not None and c.path in data else read_bytes(c.path)
                text = decode_notebook(raw)[0] if is_notebook(c.path) else decode_source(raw)
            texts[c.path] = text
            source = text
            if is_notebook(c.path):
                nb = _read_notebook(c.path, c.display, text, errors)
                if nb is None:
                    continue
                notebooks[c.path] = nb
                source = nb.source
            sources[c.path] = source
            tree = parse_source(source, c.path)
        except ReadError as err:
            errors.append(Finding(DG000[0], DG000[1], err.message, c.display, err.line, err.column,
                                  err.end_line, err.end_column, abspath=c.path))
            continue
        nb = notebooks.get(c.path)
        files.append(SourceFile(c.path, c.display, source, tree, modname, is_package,
                                nb.row_index if nb is not None else None))
    return Collection(files, errors, [c.display for c in candidates], sources, texts, notebooks)


# -- writing -----------------------------------------------------------------------------------
class WriteError(Exception):
    """Why a fixed file was not written (the file is left as it was)."""


def write_atomic(path: str, expected: str, text: str) -> None:
    """Replace the file's text ``expected`` by ``text``: written to a temporary file in the
    same folder (same encoding, BOM included; the texts carry their own newlines), given
    the original's mode bits, then renamed over the original (a symlink's target is
    replaced, not the link). WriteError, and nothing written, when the file changed since
    it was read or cannot be written."""
    real = os.path.realpath(path)
    try:
        data = read_bytes(real)
        current, encoding = decode_notebook(data) if is_notebook(real) else decode_with_encoding(data)
    except ReadError as err:
        raise WriteError(err.message) from None
    if current != expected:
        raise WriteError("the file changed on disk while it was being fixed")
    try:
        payload = text.encode(encoding)
    except UnicodeEncodeError as exc:
        raise WriteError(f"the fixed text cannot be encoded as {encoding}: {exc.reason}") from None
    folder, name = os.path.split(real)
    tmp = None
    try:
        mode = stat.S_IMODE(os.stat(real).st_mode)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".dropout-guard.tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, real)
        tmp = None
    except OSError as exc:
        raise WriteError(f"cannot write the file: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
