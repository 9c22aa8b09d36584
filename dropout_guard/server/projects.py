"""The language server's view of the projects it serves, without any protocol.

A file belongs to the project whose configuration file (``dropout-guard.toml``,
``pyproject.toml`` with a ``[tool.dropout-guard]`` table, found as ``check`` finds it) is
nearest above it; without one, to the innermost workspace folder holding it; else to its
own folder (moved above the packages it is part of). A project is linted whole, with the
editor's open buffers read instead of those files on disk (``api.check_paths(sources=)``),
so a finding whose cause is in another file appears, and the results cache of ``check``
spares the parts of the project no buffer touches.

``ClientSettings`` are what an editor user switches (select / extend-select / ignore,
unsafe fixes, the debounce delay); they override the configuration file as the command
line does.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

from dropout_guard.lint.api import CheckResult, check_paths, fix_paths
from dropout_guard.lint.cache import CACHE_DIR
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
        """The project's findings, with ``buffers`` (absolute path -> text) read instead of disk."""
        settings = self.settings(root)
        return check_paths(_paths(root, buffers), settings, cwd=root, jobs=1,
                           cache_dir=os.path.join(settings.root or root, CACHE_DIR), sources=buffers)

    def fix_all(self, root: str, path: str, buffers: Mapping[str, str]) -> Optional[str]:
        """The text of ``path`` with its fixes applied (safe ones; unsafe ones too when unsafe
        fixes are on), or None when nothing changes."""
        settings = self.settings(root)
        outcome = fix_paths(_paths(root, buffers), settings, unsafe=bool(settings.unsafe_fixes), write=False,
                            cwd=root, sources=buffers)
        changed = outcome.changed.get(path)
        return changed[1] if changed is not None else None


def _paths(root: str, buffers: Mapping[str, str]) -> Sequence[str]:
    """The project's folder and its buffers that are not on disk yet (an unsaved new file)."""
    return [root, *sorted(p for p in buffers if not os.path.exists(p))]
