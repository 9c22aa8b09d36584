"""A persistent cache of analysis results, one entry per independent part of a run.

The key of a part is a digest of everything its findings depend on: the tool's version,
the selected rules and the project's knowledge, and every file of the part (its display
path, module name and content digest). A part whose files and settings are unchanged is
not parsed again; a change to any file re-analyses its whole part — the files whose
summaries it may use and that may use its summaries (see partition.py).

Beside the parts, two small files spare a warm run from reading every file: ``files.json``
(each file's size, modification and change times, inode and content digest: a file whose
``stat`` is unchanged is not read again, as ruff and git do; a file modified less than two
seconds before the run is never recorded, so an edit within the clock's granularity
cannot hide) and ``partition.json`` (the parts of the last run, keyed by a digest of every
file's path, module name and content: an unchanged project is not split again).

Entries are JSON files written to a temporary name and renamed into place, so concurrent
runs never read half an entry (the last writer wins; both wrote the same content). The
folder carries a ``.gitignore`` and a ``CACHEDIR.TAG`` like other tools' caches.

``cache_folders`` finds what ``dropout-guard clean`` removes (ruff's ``ruff clean``): every
``.dropout_guard_cache`` folder under a folder, and a configured ``cache-dir`` when it
carries dropout-guard's ``CACHEDIR.TAG`` (so a ``cache-dir`` set by mistake to a folder of
the project is never deleted).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

from .. import __version__
from .findings import Edit, Finding, Fix, Related

CACHE_DIR = ".dropout_guard_cache"
_TAG = "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by dropout-guard.\n"
_SCHEMA = 3  # 2: messages name the file (or notebook cell) of each line they quote; 3: related lines


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def part_key(files: Iterable[Tuple[str, str, str]], fingerprint: str) -> str:
    """``files``: (display path, module name, content digest) of each file of the part."""
    h = hashlib.sha256(f"{_SCHEMA}\0{__version__}\0{fingerprint}".encode())
    for display, modname, content in sorted(files):
        h.update(f"\0{display}\0{modname}\0{content}".encode())
    return h.hexdigest()


class FindingsCache:
    """``directory`` None disables the cache (``--no-cache``)."""

    def __init__(self, directory: Optional[Path]):
        self.directory = Path(directory) / f"v{_SCHEMA}" if directory is not None else None
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Optional[List[Finding]]:
        if self.directory is None:
            return None
        try:
            raw = json.loads((self.directory / f"{key}.json").read_text(encoding="utf-8"))
            found = [_finding(d) for d in raw]
        except (OSError, ValueError, TypeError, KeyError):
            self.misses += 1
            return None
        self.hits += 1
        return found

    def put(self, key: str, findings: List[Finding]) -> None:
        if self.directory is None:
            return
        self._write(f"{key}.json", [asdict(f) for f in findings])

    # -- what the last runs learned of the files, without reading them again --------------
    def file_index(self) -> Dict[str, list]:
        """Absolute path -> [size, mtime_ns, ctime_ns, inode, content digest] of the files the
        last runs read (empty without a cache or when it cannot be read)."""
        if self.directory is None:
            return {}
        try:
            raw = json.loads((self.directory / "files.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(raw, dict):
            return {}
        return {k: v for k, v in raw.items() if isinstance(v, list) and len(v) == 5}

    def save_file_index(self, index: Dict[str, list]) -> None:
        self._write("files.json", index)

    def get_partition(self, key: str) -> Optional[List[List[str]]]:
        """The parts (lists of absolute paths) of the run whose files hash to ``key``."""
        if self.directory is None:
            return None
        try:
            raw = json.loads((self.directory / "partition.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(raw, dict) or raw.get("key") != key or not isinstance(raw.get("parts"), list):
            return None
        return raw["parts"]

    def put_partition(self, key: str, parts: List[List[str]]) -> None:
        self._write("partition.json", {"key": key, "parts": parts})

    def _write(self, name: str, obj) -> None:
        if self.directory is None:
            return
        try:
            self._prepare()
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.directory)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(obj, fh)
            os.replace(tmp, self.directory / name)
        except OSError:
            pass  # a read-only or full disk only costs speed

    def _prepare(self) -> None:
        root = self.directory.parent
        if not (root / ".gitignore").exists():
            root.mkdir(parents=True, exist_ok=True)
            (root / ".gitignore").write_text("# Created by dropout-guard automatically.\n*\n", encoding="utf-8")
            (root / "CACHEDIR.TAG").write_text(_TAG, encoding="utf-8")
        self.directory.mkdir(parents=True, exist_ok=True)


def is_cache(folder: str) -> bool:
    """Whether ``folder`` is a cache dropout-guard made (it carries our ``CACHEDIR.TAG``)."""
    try:
        with open(os.path.join(folder, "CACHEDIR.TAG"), encoding="utf-8") as fh:
            return fh.read(len(_TAG) + 1) == _TAG
    except (OSError, UnicodeDecodeError):
        return False


def cache_folders(top: str, extra: Iterable[str] = ()) -> List[str]:
    """The cache folders ``clean`` removes: each ``.dropout_guard_cache`` under ``top`` (not
    below symbolic links) and each of ``extra`` that ``is_cache``; sorted absolute paths."""
    found = set()
    for folder, dirs, _ in os.walk(top):
        if CACHE_DIR in dirs:
            dirs.remove(CACHE_DIR)
            path = os.path.join(folder, CACHE_DIR)
            if not os.path.islink(path):
                found.add(os.path.abspath(path))
    for folder in extra:
        if os.path.isdir(folder) and not os.path.islink(folder) and is_cache(folder):
            found.add(os.path.abspath(folder))
    return sorted(found)


def remove(folder: str) -> None:
    """Delete a cache folder (OSError when it cannot be removed)."""
    shutil.rmtree(folder)


def _finding(d: dict) -> Finding:
    fix = d.get("fix")
    if fix is not None:
        fix = Fix(fix["applicability"], fix["message"], tuple(Edit(**e) for e in fix.get("edits", ())))
    d = dict(d, fix=fix, related=tuple(Related(**r) for r in d.get("related", ())))
    return Finding(**d)
