"""The plain-Python API of the checker, used by the CLI, pre-commit and tests.

    from dropout_guard.lint.api import check
    result = check(["src"], select="DG1", ignore=["DG102"])
    for f in result.findings:
        print(f.path, f.line, f.code, f.message)

``check`` discovers and reads the files (engine), analyses all of them together in one
``analyze`` call (cross-file facts need the whole project), then keeps the selected codes
and applies ``per-file-ignores`` and ``# noqa`` comments. It raises ``ConfigError`` for a
bad configuration and ``PathError`` for a missing path; a bad *file* is a DG000 finding.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Union

from . import suppression
from .analysis import analyze
from .config import ConfigError, Selector, Settings, code_matches, load_settings
from .context import SourceFile
from .engine import Collection, PathError, PatternSet, ReadError, collect, file_error, parse_source
from .findings import Finding
from .knowledge import Knowledge

__all__ = ["check", "check_paths", "check_source", "CheckResult", "ConfigError", "PathError", "Settings",
           "load_settings"]

PathLike = Union[str, "os.PathLike[str]"]


@dataclass
class CheckResult:
    findings: List[Finding]  # sorted by (path, line, column, code), after selection and suppression
    files_checked: int  # files considered, including those that became DG000
    files: List[str] = field(default_factory=list)  # their display paths
    suppressed: int = 0  # findings hidden by per-file-ignores or noqa comments
    settings: Optional[Settings] = None
    sources: Dict[str, str] = field(default_factory=dict, repr=False)  # absolute path -> text

    @property
    def ok(self) -> bool:
        return not self.findings


def check(paths: Union[PathLike, Sequence[PathLike]] = (".",), *, config: Optional[PathLike] = None,
          isolated: bool = False, select: Selector = None, extend_select: Selector = None,
          ignore: Selector = None, exclude: Optional[Iterable[str]] = None,
          extend_exclude: Optional[Iterable[str]] = None, force_exclude: Optional[bool] = None,
          respect_gitignore: Optional[bool] = None, knowledge: Optional[Knowledge] = None,
          cwd: Optional[PathLike] = None) -> CheckResult:
    """Lint files and folders. Keyword arguments override the configuration file (the
    command line's layer); ``select``/``ignore`` take a list or a comma-separated string."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = list(paths) or ["."]
    cwd_s = os.path.abspath(os.fspath(cwd)) if cwd is not None else os.getcwd()
    settings = load_settings(paths, config=config, isolated=isolated, select=select, extend_select=extend_select,
                             ignore=ignore, exclude=exclude, extend_exclude=extend_exclude,
                             force_exclude=force_exclude, respect_gitignore=respect_gitignore,
                             knowledge=knowledge, cwd=cwd_s)
    return check_paths(paths, settings, cwd=cwd_s)


def check_paths(paths: Sequence[PathLike], settings: Settings, *, cwd: Optional[PathLike] = None) -> CheckResult:
    """Lint with already-resolved settings (see ``config.load_settings``)."""
    cwd_s = os.path.abspath(os.fspath(cwd)) if cwd is not None else os.getcwd()
    collection = collect(paths, settings, cwd_s)
    return _finish(collection, settings, cwd_s)


def check_source(source: str, path: str = "<string>", *, settings: Optional[Settings] = None,
                 select: Selector = None, ignore: Selector = None) -> CheckResult:
    """Lint one in-memory module (no discovery, no configuration file unless ``settings``)."""
    if settings is None:
        settings = load_settings([], isolated=True, select=select, ignore=ignore)
    abspath = os.path.abspath(path) if not path.startswith("<") else path
    name = os.path.basename(path)
    modname = name.rsplit(".", 1)[0] if name.endswith((".py", ".pyi")) else "__main__"
    files: List[SourceFile] = []
    errors: List[Finding] = []
    try:
        tree = parse_source(source, path)
        files.append(SourceFile(abspath, path, source, tree, modname, modname == "__init__"))
    except ReadError as err:
        errors.append(file_error(abspath, path, err.message, err.line, err.column, err.end_line, err.end_column))
    collection = Collection(files, errors, [path], {abspath: source})
    return _finish(collection, settings, os.getcwd())


def _per_file_ignored(finding: Finding, settings: Settings, sets: List[PatternSet], cwd: str) -> bool:
    path = finding.abspath or os.path.abspath(os.path.join(cwd, finding.path))
    for entry, ps in zip(settings.per_file_ignores, sets):
        hit = ps.matches_with_parents(path)
        if hit != entry.negated and code_matches(finding.code, entry.codes):
            return True
    return False


def _finish(collection: Collection, settings: Settings, cwd: str) -> CheckResult:
    enabled = settings.enabled_codes()
    findings: List[Finding] = list(collection.errors)
    if collection.files:
        findings.extend(analyze(collection.files, settings.knowledge, codes=sorted(enabled)))
    findings = [f for f in findings if f.code in enabled]
    before = len(findings)
    if settings.per_file_ignores:
        sets = [PatternSet.from_globs(settings.root, [e.pattern]) for e in settings.per_file_ignores]
        findings = [f for f in findings if not _per_file_ignored(f, settings, sets, cwd)]
    findings, _ = suppression.apply(findings, collection.sources)
    suppressed = before - len(findings)
    unique: Dict[tuple, Finding] = {}
    for f in findings:
        unique.setdefault((f.path, f.line, f.column, f.end_line, f.end_column, f.code, f.message), f)
    findings = sorted(unique.values(), key=Finding.sort_key)
    return CheckResult(findings, len(collection.checked), list(collection.checked), suppressed,
                       settings, collection.sources)
