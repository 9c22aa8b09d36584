"""The language server's view of the projects it serves, without any protocol.

A file belongs to the project whose configuration file (``dropout-guard.toml``,
``pyproject.toml`` with a ``[tool.dropout-guard]`` table, found as ``check`` finds it) is
nearest above it; without one, to the innermost workspace folder holding it; else to its
own folder (moved above the packages it is part of). The open files of a project are linted
in its context (``check``'s project context, with that folder as the project root), with
the editor's buffers read instead of those files on disk (``api.check_paths(sources=)``):
a finding whose cause is in another file appears, only the parts of the project that can
share a fact with an open file are analysed, and the results cache of ``check`` spares
those no buffer touches.

``ClientSettings`` are what an editor user switches (select / extend-select / ignore,
unsafe fixes, the debounce delay); they override the configuration file as the command
line does.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Mapping, Optional, Sequence

from dropout_guard.lint.api import CheckResult, cache_folder, check_paths, fix_paths
from dropout_guard.lint.config import CONFIG_FILENAMES, ConfigError, Settings, find_config, load_settings
from dropout_guard.lint.engine import LINTED_SUFFIXES, analysed_root

SECTIONS = ("dropout-guard", "dropoutGuard", "dropout_guard")
WATCHED_NAMES = frozenset(CONFIG_FILENAMES) | {".gitignore"}


def _codes(value: Any) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return None


@dataclass
class ClientSettings:
    """The editor's settings for the server (``initializationOptions`` or
    ``workspace/didChangeConfiguration``), under a ``dropout-guard`` key or at the top level:
    ``select``, ``extendSelect``, ``ignore`` (lists or comma-separated codes),
    ``unsafeFixes`` (true/false; unset: the configuration's) and ``debounceMs``."""

    select: Optional[str] = None
    extend_select: Optional[str] = None
    ignore: Optional[str] = None
    unsafe_fixes: Optional[bool] = None
    debounce: float = 0.05  # seconds between the last change and the lint

    @classmethod
    def from_lsp(cls, raw: Any) -> "ClientSettings":
        if not isinstance(raw, Mapping):
            return cls()
        for key in SECTIONS:
            if isinstance(raw.get(key), Mapping):
                raw = raw[key]
                break
        unsafe = raw.get("unsafeFixes", raw.get("unsafe-fixes"))
        debounce = raw.get("debounceMs")
        return cls(select=_codes(raw.get("select")), extend_select=_codes(raw.get("extendSelect",
                                                                                   raw.get("extend-select"))),
                   ignore=_codes(raw.get("ignore")), unsafe_fixes=unsafe if isinstance(unsafe, bool) else None,
                   debounce=max(0.0, debounce / 1000) if isinstance(debounce, (int, float)) else 0.05)


def is_linted(path: str) -> bool:
    return path.endswith(LINTED_SUFFIXES)


@dataclass
class Projects:
    folders: List[str] = field(default_factory=list)  # the workspace folders (absolute)
    client: ClientSettings = field(default_factory=ClientSettings)
    _settings: Dict[str, Settings] = field(default_factory=dict)
    errors: Dict[str, str] = field(default_factory=dict)  # root -> why its configuration was not used

    def root_of(self, path: str) -> str:
        folder = os.path.dirname(os.path.abspath(path))
        config = find_config(folder)
        if config is not None:
            return str(config.parent)
        inside = [f for f in self.folders if folder == f or folder.startswith(f.rstrip(os.sep) + os.sep)]
        if inside:
            return max(inside, key=len)
        return analysed_root(folder)

    def settings(self, root: str) -> Settings:
        """The project's settings, read once (until ``invalidate``); a configuration error is
        kept in ``errors`` and the defaults (with the client's settings) are used."""
        if root not in self._settings:
            c = self.client
            options = dict(select=c.select, extend_select=c.extend_select, ignore=c.ignore,
                           unsafe_fixes=c.unsafe_fixes, cwd=root)
            try:
                settings = load_settings([root], **options)
                self.errors.pop(root, None)
            except ConfigError as exc:
                self.errors[root] = str(exc)
                settings = load_settings([root], isolated=True, **options)
            self._settings[root] = settings
        return self._settings[root]

    def invalidate(self) -> None:
        self._settings.clear()

    def unsafe(self, root: str) -> Optional[bool]:
        """Whether unsafe fixes are on (True), off (False) or unset (None) for the project."""
        return self.settings(root).unsafe_fixes

    def lint(self, root: str, buffers: Mapping[str, str]) -> CheckResult:
        """The findings of the open ``buffers`` (absolute path -> text, read instead of disk),
        each analysed in the context of the project at ``root``: only the parts of the project
        that can share a fact with an open file are analysed (see
        ``engine.discover_in_context``), with the findings a lint of the whole project gives
        those files. A notebook's findings are in the rows of its code cells' concatenation
        (the server puts them on the cells, ``notebooks.NotebookBuffer.place``)."""
        settings = _in_context(self.settings(root), root)
        return check_paths(sorted(buffers), settings, cwd=root, jobs=1, cache_dir=cache_folder(settings, root),
                           sources=buffers, cells=False)

    def fix_all(self, root: str, path: str, buffers: Mapping[str, str]) -> Optional[str]:
        """The text of ``path`` with its fixes applied (safe ones; unsafe ones too when unsafe
        fixes are on), or None when nothing changes."""
        settings = _in_context(self.settings(root), root)
        outcome = fix_paths([path], settings, unsafe=bool(settings.unsafe_fixes), write=False, cwd=root,
                            sources=buffers)
        changed = outcome.changed.get(path)
        return changed[1] if changed is not None else None


def _in_context(settings: Settings, root: str) -> Settings:
    """``settings`` for naming open files in the project at ``root``: that folder is their
    context, and a file its excludes leave out stays out, as in a lint of the folder."""
    return replace(settings, context=True, project_root=root, force_exclude=True)
