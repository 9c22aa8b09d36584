"""Configuration: ``[tool.dropout-guard]`` in ``pyproject.toml`` or a ``dropout-guard.toml``.

Discovery follows ruff: the *nearest* configuration file wins and there is no merging,
except through ``extend = "../pyproject.toml"``: the named file (relative to the file that
names it; ``~`` and environment variables expanded) is read first and this file's keys
override it, as in ruff: plain keys replace the base's, ``extend-exclude`` and
``extend-per-file-ignores`` add to it, and rule selection is layered (the base's ``select``
/ ``ignore`` first, then this file's). A chain may go on; a cycle is a ConfigError. As in
ruff, the globs and ``cache-dir`` of each file are relative to that file's folder: the
globs of a base file are rewritten relative to the project's root, the folder of the file
that was found (``rebase_glob``).
The search starts at the common folder of the paths being checked (a file's own folder
for a single file) and walks up to the filesystem root; in each folder
``.dropout-guard.toml``, then ``dropout-guard.toml``, then ``pyproject.toml`` are tried,
and a ``pyproject.toml`` without a ``[tool.dropout-guard]`` table is skipped. ``--config
FILE`` names the file instead; ``isolated=True`` ignores every file.

Rule selection follows ruff too. Each layer (the file, then the command line) may set
``select`` (which replaces what the layers below selected), ``extend-select`` and
``ignore``. Selectors are exact codes (``DG101``), prefixes (``DG1``, ``DG``) or ``ALL``;
inside one layer a more specific selector beats a less specific one and, at equal
specificity, ``ignore`` beats ``select``. Rules that are off by default
(``default_enabled = False``) are enabled only by their exact code.

Fixing is configured the same way (ruff's ``fixable`` / ``unfixable`` / ``extend-fixable``:
the same layers and specificity, starting from every rule, opt-in ones included), plus
``extend-safe-fixes`` / ``extend-unsafe-fixes`` (promote / demote a fix's applicability per
code; the more specific selector wins and, at equal specificity, unsafe wins, as in ruff's
``FixSafetyTable``; display-only fixes never change) and ``unsafe-fixes`` (true / false /
unset, as ``--unsafe-fixes`` / ``--no-unsafe-fixes`` / neither). ``Settings.fix_policy()``
resolves them; ``api._finish`` applies it to every finding once.

The registry is read at call time (``dropout_guard.lint.rules``), never copied.
"""
from __future__ import annotations

import difflib
import fnmatch
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, Union

from .knowledge import DEFAULT_KNOWLEDGE, Knowledge

try:  # Python 3.11+
    import tomllib
except ImportError:  # pragma: no cover - exercised on Python < 3.11 only
    import tomli as tomllib  # type: ignore[no-redef]

CONFIG_FILENAMES = (".dropout-guard.toml", "dropout-guard.toml", "pyproject.toml")
TOOL_SECTION = "dropout-guard"

DEFAULT_EXCLUDES: Tuple[str, ...] = (
    ".git", "__pycache__", ".tox", ".nox", ".venv", "venv", ".eggs", "*.egg", "build", "dist",
    "node_modules", ".mypy_cache", ".pytest_cache", ".dropout_guard_cache", ".svn", ".hg", ".bzr",
    ".ipynb_checkpoints",  # Jupyter's autosaved copies (ruff excludes them too): duplicated findings
)

_QUALNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_SELECTOR = re.compile(r"^(ALL|[A-Z]+[0-9]*)$")

Selector = Union[str, Iterable[str], None]


class ConfigError(Exception):
    """A configuration problem: a one-line message naming the file (or option) and key."""


# -- the data ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PerFileIgnore:
    pattern: str  # gitignore-style glob, relative to Settings.root; without the leading "!"
    negated: bool  # "!pattern": applies to files that do NOT match
    codes: Tuple[str, ...]  # selectors (exact codes, prefixes or ALL), already validated


@dataclass(frozen=True)
class Layer:
    """One source of rule selection (a config file or the command line)."""

    source: str
    select: Optional[Tuple[str, ...]] = None
    extend_select: Tuple[str, ...] = ()
    ignore: Tuple[str, ...] = ()
    fixable: Optional[Tuple[str, ...]] = None  # like select, for what --fix may fix
    extend_fixable: Tuple[str, ...] = ()
    unfixable: Tuple[str, ...] = ()


@dataclass(frozen=True)
class FixPolicy:
    """What the fix settings do to a finding's fix (``Settings.fix_policy()``)."""

    fixable: FrozenSet[str]  # codes whose fixes are kept (the others lose their fix)
    applicability: Mapping[str, str]  # code -> "safe" | "unsafe": forced by extend-(un)safe-fixes

    def resolve(self, code: str, fix: Optional[Any]) -> Optional[Any]:
        """``fix`` as the settings want it: None for an unfixable code, the applicability
        forced for extend-safe-fixes / extend-unsafe-fixes (display-only never changes)."""
        if fix is None:
            return None
        if code not in self.fixable:
            return None
        forced = self.applicability.get(code)
        if forced is None or fix.applicability == "display-only" or fix.applicability == forced:
            return fix
        from dataclasses import replace

        return replace(fix, applicability=forced)


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know, resolved from the config file and the overrides."""

    root: str  # absolute folder that exclude / per-file-ignores globs are relative to
    config_path: Optional[str] = None  # the file read, or None
    layers: Tuple[Layer, ...] = ()
    per_file_ignores: Tuple[PerFileIgnore, ...] = ()
    exclude: Tuple[str, ...] = DEFAULT_EXCLUDES
    extend_exclude: Tuple[str, ...] = ()
    force_exclude: bool = False
    respect_gitignore: bool = True
    knowledge: Knowledge = field(default=DEFAULT_KNOWLEDGE)
    extend_safe_fixes: Tuple[str, ...] = ()
    extend_unsafe_fixes: Tuple[str, ...] = ()
    unsafe_fixes: Optional[bool] = None  # None: neither --unsafe-fixes nor --no-unsafe-fixes
    context: bool = True  # analyse named files with the rest of their project (see engine.discover_in_context)
    project_root: Optional[str] = None  # absolute; None: found upwards from each named path
    cache_dir: Optional[str] = None  # absolute; None: .dropout_guard_cache in ``root``
    extended: Tuple[str, ...] = ()  # the files ``extend`` read, base first (absolute paths)

    @property
    def excludes(self) -> Tuple[str, ...]:
        return tuple(self.exclude) + tuple(self.extend_exclude)

    def enabled_codes(self) -> Set[str]:
        """The codes that run, from the registry as it is now."""
        return resolve_codes(self.layers)

    def fixable_codes(self) -> Set[str]:
        """The codes whose fixes may be applied (``fixable`` / ``extend-fixable`` / ``unfixable``)."""
        return resolve_fixable(self.layers)

    def fix_policy(self) -> FixPolicy:
        return FixPolicy(frozenset(self.fixable_codes()),
                         resolve_fix_safety(self.extend_safe_fixes, self.extend_unsafe_fixes))


# -- selection ---------------------------------------------------------------------------------
def _registry():
    from . import rules

    return rules.ALL_RULES


def _codes_matching(selector: str, *, include_opt_in: bool) -> Set[str]:
    out = set()
    for rule in _registry():
        if selector == "ALL" or rule.code.startswith(selector):
            exact = rule.code == selector
            if rule.default_enabled or exact or include_opt_in:
                out.add(rule.code)
    return out


def _specificity(selector: str) -> int:
    return 0 if selector == "ALL" else len(selector)


def validate_selector(raw: Any, where: str) -> str:
    """Normalise one selector (upper-case) and check it names at least one registered rule."""
    if not isinstance(raw, str):
        raise ConfigError(f"{where}: expected a rule code, got {_typename(raw)}")
    sel = raw.strip().upper()
    if not sel:
        raise ConfigError(f"{where}: empty rule code")
    if _SELECTOR.match(sel):
        if sel == "ALL":
            return sel
        alpha = re.match(r"[A-Z]+", sel).group(0)  # type: ignore[union-attr]
        for rule in _registry():
            if rule.code.startswith(sel) and re.match(r"[A-Z]+", rule.code).group(0) == alpha:  # type: ignore[union-attr]
                return sel
    raise ConfigError(f"{where}: unknown rule code or prefix {raw.strip()!r} "
                      f"(see `dropout-guard rules`)")


def parse_selectors(value: Selector, where: str) -> Tuple[str, ...]:
    """Selectors from a list, or from a comma-separated string (command line)."""
    if value is None:
        return ()
    if isinstance(value, str):  # the command line: "DG1,DG2" (empty parts are skipped)
        items: List[Any] = [v for v in value.split(",") if v.strip()]
    else:
        items = list(value)
    return tuple(validate_selector(v, where) for v in items)


def _apply_layers(codes: Set[str], layers: Sequence[Layer], fields: Tuple[str, str, str],
                  opt_in_always: bool) -> Set[str]:
    """ruff's layered selection: for each layer, its base selection (``fields[0]``) replaces
    the set, then its extensions (``fields[1]``) add and its removals (``fields[2]``) remove;
    least specific selector first, so the more specific win, and at equal specificity the
    removal wins. Opt-in rules are reached by removals, and by additions with
    ``opt_in_always``."""
    for layer in layers:
        base, extend, remove = (getattr(layer, f) for f in fields)
        pairs: List[Tuple[str, bool]] = []
        if base is not None:
            codes = set()
            pairs.extend((sel, True) for sel in base)
        pairs.extend((sel, True) for sel in extend)
        pairs.extend((sel, False) for sel in remove)
        for sel, on in sorted(pairs, key=lambda p: (_specificity(p[0]), p[1] is False)):
            matched = _codes_matching(sel, include_opt_in=opt_in_always or not on)
            if on:
                codes |= matched
            else:
                codes -= matched
    return codes


def resolve_codes(layers: Sequence[Layer]) -> Set[str]:
    """Apply the layers in order (ruff's algorithm) to the default set of rules."""
    return _apply_layers({r.code for r in _registry() if r.default_enabled}, layers,
                         ("select", "extend_select", "ignore"), opt_in_always=False)


def resolve_fixable(layers: Sequence[Layer]) -> Set[str]:
    """ruff's fixable set: every rule, then each layer's ``fixable`` (replaces),
    ``extend-fixable`` (adds) and ``unfixable`` (removes), more specific selectors winning and,
    at equal specificity, ``unfixable`` beating ``fixable``. Opt-in rules are matched by
    prefixes too (they are fixable once selected)."""
    return _apply_layers({r.code for r in _registry()}, layers, ("fixable", "extend_fixable", "unfixable"),
                         opt_in_always=True)


def resolve_fix_safety(safe: Sequence[str], unsafe: Sequence[str]) -> Dict[str, str]:
    """code -> forced applicability, from ``extend-safe-fixes`` / ``extend-unsafe-fixes``:
    the more specific selector wins; at equal specificity ``unsafe`` wins (ruff's
    ``FixSafetyTable::from_rule_selectors``)."""
    best: Dict[str, Tuple[int, str]] = {}
    for selectors, level in ((safe, "safe"), (unsafe, "unsafe")):
        for sel in selectors:
            spec = _specificity(sel)
            for code in _codes_matching(sel, include_opt_in=True):
                old = best.get(code)
                if old is None or spec > old[0] or (spec == old[0] and level == "unsafe"):
                    best[code] = (spec, level)
    return {code: level for code, (_, level) in best.items()}


def code_matches(code: str, selectors: Iterable[str]) -> bool:
    """Whether ``code`` is named by any selector (exact, prefix or ALL)."""
    return any(s == "ALL" or code.startswith(s) for s in selectors)


# -- reading files ----------------------------------------------------------------------------
def _typename(v: Any) -> str:
    return {str: "a string", bool: "a boolean", int: "an integer", float: "a number", list: "a list",
            dict: "a table"}.get(type(v), type(v).__name__)


def _str_list(value: Any, where: str) -> List[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of strings, got {_typename(value)}")
    return list(value)


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {_typename(value)}")
    return value


def _qualnames(value: Any, where: str) -> Tuple[str, ...]:
    names = _str_list(value, where)
    for n in names:
        if not _QUALNAME.match(n):
            raise ConfigError(f"{where}: {n!r} is not a qualified name such as 'mypkg.models.load'")
    return tuple(names)


def _per_file_ignores(value: Any, where: str) -> Tuple[PerFileIgnore, ...]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table of glob = [codes], got {_typename(value)}")
    out = []
    for pattern, codes in value.items():
        key = f"{where}.{pattern!r}" if not re.match(r"^[\w.-]+$", pattern) else f"{where}.{pattern}"
        selectors = parse_selectors(_str_list(codes, key), key)
        negated = pattern.startswith("!")
        pat = pattern[1:] if negated else pattern
        if not pat.strip():
            raise ConfigError(f"{key}: empty glob pattern")
        out.append(PerFileIgnore(pat, negated, selectors))
    return tuple(out)


_KEYS = {
    "select", "extend-select", "ignore", "extend-ignore", "per-file-ignores", "extend-per-file-ignores",
    "exclude", "extend-exclude", "force-exclude", "respect-gitignore",
    "eval-model-factories", "no-grad-decorators", "inference-functions",
    "fixable", "unfixable", "extend-fixable", "extend-safe-fixes", "extend-unsafe-fixes", "unsafe-fixes",
    "cache-dir", "extend",
}
# keys whose values add up along an ``extend`` chain (the others: the extending file's wins)
_ADDITIVE = {"extend-exclude": list, "extend-per-file-ignores": dict}
# keys that make a file's selection layer (each file of a chain keeps its own layer)
_LAYER_KEYS = {"select", "extend-select", "ignore", "extend-ignore", "fixable", "extend-fixable", "unfixable"}


def _display(path: Path, cwd: Union[str, Path, None] = None) -> str:
    base = Path(os.path.abspath(cwd or os.getcwd()))
    try:
        return Path(os.path.relpath(path, base)).as_posix() if path.is_relative_to(base) else path.as_posix()
    except (ValueError, OSError):
        return str(path)


def read_config_file(path: Union[str, Path], cwd: Union[str, Path, None] = None) -> Dict[str, Any]:
    """The raw option table of a config file ({} for a pyproject without our section)."""
    path = Path(path)
    shown = _display(path, cwd)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{shown}: configuration file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{shown}: cannot read configuration file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{shown}: invalid TOML: {exc}") from None
    if path.name == "pyproject.toml":
        tool = data.get("tool", {})
        if not isinstance(tool, dict):
            raise ConfigError(f"{shown}: tool: expected a table")
        table = tool.get(TOOL_SECTION, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{shown}: tool.{TOOL_SECTION}: expected a table")
        return table
    return data


def has_section(path: Path) -> bool:
    """Whether a pyproject.toml has [tool.dropout-guard] (invalid TOML counts as yes: report it)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return False
    except tomllib.TOMLDecodeError:
        return True
    tool = data.get("tool")
    return isinstance(tool, dict) and TOOL_SECTION in tool


def find_config(start: Union[str, Path]) -> Optional[Path]:
    """The nearest configuration file at or above ``start`` (a folder), or None."""
    folder = Path(start).resolve()
    if not folder.is_dir():
        folder = folder.parent
    for d in (folder, *folder.parents):
        for name in CONFIG_FILENAMES:
            candidate = d / name
            if candidate.is_file():
                if name == "pyproject.toml" and not has_section(candidate):
                    continue
                return candidate
    return None


def common_folder(paths: Sequence[Union[str, Path]], cwd: Union[str, Path]) -> Path:
    """The folder where config discovery starts: the common ancestor of the paths."""
    folders = []
    for p in paths:
        ap = Path(os.path.abspath(os.path.join(cwd, p)))
        folders.append(ap if ap.is_dir() else ap.parent)
    if not folders:
        return Path(cwd)
    try:
        return Path(os.path.commonpath([str(f) for f in folders]))
    except ValueError:  # different drives
        return Path(cwd)


# -- putting it together ------------------------------------------------------------------------
def settings_from_table(table: Mapping[str, Any], *, root: Path, source: str,
                        config_path: Optional[Path] = None) -> Settings:
    """Validate a raw option table (from a file) into Settings."""
    prefix = f"{source}: " if source else ""
    section = "tool.dropout-guard." if config_path is not None and config_path.name == "pyproject.toml" else ""
    where = lambda key: f"{prefix}{section}{key}"  # noqa: E731
    for key in table:
        if key not in _KEYS:
            raise ConfigError(f"{where(key)}: unknown key{did_you_mean(key, _KEYS)}")
    if "extend" in table and not isinstance(table["extend"], str):
        raise ConfigError(f"{where('extend')}: expected a path, got {_typename(table['extend'])}")
    cache_dir = None
    if "cache-dir" in table:
        value = table["cache-dir"]
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where('cache-dir')}: expected a path, got {_typename(value)}")
        cache_dir = os.path.abspath(os.path.join(root, os.path.expandvars(os.path.expanduser(value))))

    def selectors(key: str) -> Tuple[str, ...]:
        return parse_selectors(_str_list(table.get(key, []), where(key)), where(key))

    select = table.get("select")
    fixable = table.get("fixable")
    layer = Layer(
        source=source or "configuration",
        select=parse_selectors(_str_list(select, where("select")), where("select")) if select is not None else None,
        extend_select=parse_selectors(_str_list(table.get("extend-select", []), where("extend-select")),
                                      where("extend-select")),
        ignore=parse_selectors(_str_list(table.get("ignore", []), where("ignore")), where("ignore"))
        + parse_selectors(_str_list(table.get("extend-ignore", []), where("extend-ignore")), where("extend-ignore")),
        fixable=selectors("fixable") if fixable is not None else None,
        extend_fixable=selectors("extend-fixable"),
        unfixable=selectors("unfixable"),
    )
    pfi = _per_file_ignores(table.get("per-file-ignores", {}), where("per-file-ignores")) + \
        _per_file_ignores(table.get("extend-per-file-ignores", {}), where("extend-per-file-ignores"))
    exclude = tuple(_str_list(table["exclude"], where("exclude"))) if "exclude" in table else DEFAULT_EXCLUDES
    extend_exclude = tuple(_str_list(table.get("extend-exclude", []), where("extend-exclude")))
    knowledge = DEFAULT_KNOWLEDGE.extended(
        eval_factories=_qualnames(table.get("eval-model-factories", []), where("eval-model-factories")),
        no_grad_decorators=_qualnames(table.get("no-grad-decorators", []), where("no-grad-decorators")),
        inference_functions=_qualnames(table.get("inference-functions", []), where("inference-functions")),
    )
    return Settings(
        root=str(root), config_path=str(config_path) if config_path else None, layers=(layer,),
        per_file_ignores=pfi, exclude=exclude, extend_exclude=extend_exclude,
        force_exclude=_bool(table.get("force-exclude", False), where("force-exclude")),
        respect_gitignore=_bool(table.get("respect-gitignore", True), where("respect-gitignore")),
        knowledge=knowledge,
        extend_safe_fixes=selectors("extend-safe-fixes"),
        extend_unsafe_fixes=selectors("extend-unsafe-fixes"),
        unsafe_fixes=_bool(table["unsafe-fixes"], where("unsafe-fixes")) if "unsafe-fixes" in table else None,
        cache_dir=cache_dir,
    )


def did_you_mean(key: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices`` (difflib), or ""."""
    candidate = key.replace("_", "-").lower()
    choices = sorted(choices)
    if candidate in choices:
        return f" (did you mean {candidate!r}?)"
    close = difflib.get_close_matches(candidate, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _chain(path: Path, cwd: Path) -> List[Tuple[Path, Dict[str, Any]]]:
    """The file and the files it extends, base first, with their raw tables."""
    chain: List[Tuple[Path, Dict[str, Any]]] = []
    seen: List[Path] = []
    current: Optional[Path] = path
    while current is not None:
        real = Path(os.path.realpath(current))
        if real in seen:
            cycle = " -> ".join(_display(p, cwd) for p in [*seen, real])
            raise ConfigError(f"{_display(path, cwd)}: circular `extend` of configuration files: {cycle}")
        seen.append(real)
        table = read_config_file(current, cwd)
        chain.append((current, table))
        target = table.get("extend")
        if target is None:
            break
        if not isinstance(target, str) or not target.strip():
            section = "tool.dropout-guard." if current.name == "pyproject.toml" else ""
            raise ConfigError(f"{_display(current, cwd)}: {section}extend: expected a path, got {_typename(target)}")
        base = Path(os.path.abspath(os.path.join(current.parent, os.path.expandvars(os.path.expanduser(target)))))
        if not base.is_file():
            section = "tool.dropout-guard." if current.name == "pyproject.toml" else ""
            raise ConfigError(f"{_display(current, cwd)}: {section}extend: configuration file not found: "
                              f"{_display(base, cwd)}")
        current = base
    chain.reverse()
    return chain


_GLOB_KEYS = {"exclude", "extend-exclude", "per-file-ignores", "extend-per-file-ignores"}


def _rebased(key: str, value: Any, base: Path, root: Path) -> Any:
    """A base file's glob key (validated already) with its globs made relative to ``root``;
    globs that cannot match anything under ``root`` are dropped."""
    if isinstance(value, dict):
        out = {}
        for glob, codes in value.items():
            new = rebase_glob(glob, str(base), str(root))
            if new is not None:
                out[new] = codes
        return out
    return [g for g in (rebase_glob(glob, str(base), str(root)) for glob in value) if g is not None]


def rebase_glob(glob: str, base: str, root: str) -> Optional[str]:
    """A gitignore-style ``glob`` relative to folder ``base``, rewritten relative to folder
    ``root`` (for the files under ``root``); None when it cannot match anything there.

    A glob without a ``/`` (other than a trailing one) matches names at any depth and stays
    as it is. An anchored glob gets the path from ``root`` to ``base`` put in front of it
    when ``base`` is below ``root``; when ``root`` is below ``base``, the glob's leading
    segments are matched against the path from ``base`` to ``root`` and dropped (a ``**``
    segment matches any part of it)."""
    negated = glob.startswith("!")
    body = glob[1:] if negated else glob
    dir_only = body.endswith("/")
    body = body.rstrip("/")
    if body.startswith("./"):
        body = body[2:]
    if "/" not in body or os.path.abspath(base) == os.path.abspath(root):
        return glob
    body = body.lstrip("/")
    rel = os.path.relpath(base, root).replace(os.sep, "/")
    if rel != os.pardir and not rel.startswith(os.pardir + "/"):  # base is below root
        new = f"{rel}/{body}"
    else:
        down = os.path.relpath(root, base).replace(os.sep, "/")
        if down.startswith(os.pardir):
            return None if not body.startswith("**/") else glob  # neither folder holds the other
        segments = body.split("/")
        i = 0
        for part in down.split("/"):
            if i >= len(segments):
                return None
            if segments[i] == "**":
                break
            if not fnmatch.fnmatchcase(part, segments[i]):
                return None
            i += 1
        rest = segments[i:]
        if not rest:
            rest = ["**"]  # the glob names root itself: everything under it
        new = "/".join(rest)
        if "/" not in new:
            new = "/" + new  # still anchored at the new root
    return ("!" if negated else "") + new + ("/" if dir_only else "")


def settings_from_file(path: Path, cwd: Union[str, Path, None] = None) -> Settings:
    """Settings of a configuration file, following its ``extend`` chain (see the module doc)."""
    cwd = Path(os.path.abspath(cwd or os.getcwd()))
    chain = _chain(path, cwd)
    if len(chain) == 1:
        return settings_from_table(chain[0][1], root=path.parent, source=_display(path, cwd), config_path=path)
    merged: Dict[str, Any] = {}
    layers: List[Layer] = []
    for file, table in chain:  # each file validated on its own, so errors name it
        own = settings_from_table(table, root=file.parent, source=_display(file, cwd), config_path=file)
        layers.extend(own.layers)
        for key, value in table.items():
            if key in _LAYER_KEYS or key == "extend":
                continue
            if key == "cache-dir":
                value = own.cache_dir
            if file.parent != path.parent and key in _GLOB_KEYS:
                value = _rebased(key, value, file.parent, path.parent)
            if key in _ADDITIVE:
                base = merged.get(key, _ADDITIVE[key]())
                value = base + list(value) if isinstance(base, list) else {**base, **value}
            merged[key] = value
    final = settings_from_table(merged, root=path.parent, source=_display(path, cwd), config_path=path)
    from dataclasses import replace

    return replace(final, layers=tuple(layers), extended=tuple(str(f) for f, _ in chain[:-1]))


def load_settings(paths: Sequence[Union[str, Path]] = (".",), *, config: Union[str, Path, None] = None,
                  isolated: bool = False, select: Selector = None, extend_select: Selector = None,
                  ignore: Selector = None, extend_exclude: Optional[Iterable[str]] = None,
                  exclude: Optional[Iterable[str]] = None, force_exclude: Optional[bool] = None,
                  respect_gitignore: Optional[bool] = None, knowledge: Optional[Knowledge] = None,
                  fixable: Selector = None, extend_fixable: Selector = None, unfixable: Selector = None,
                  unsafe_fixes: Optional[bool] = None, cache_dir: Union[str, Path, None] = None,
                  cwd: Union[str, Path, None] = None, context: Optional[bool] = None,
                  project_root: Union[str, Path, None] = None) -> Settings:
    """Find and read the configuration, then apply the overrides (the command line's layer).

    ``fixable`` / ``extend_fixable`` / ``unfixable`` join ``select`` & co. in that layer;
    ``unsafe_fixes`` (True / False) replaces the file's ``unsafe-fixes``; ``cache_dir``
    (relative to ``cwd``) the file's ``cache-dir``; the ``extend_exclude`` globs are
    relative to ``cwd`` too; ``context=False`` analyses the named files alone;
    ``project_root`` names the project's folder instead of finding it (both:
    ``--no-context`` / ``--project-root``).

    Raises ConfigError (one line) for any problem in the file or the overrides.
    """
    cwd = Path(os.path.abspath(cwd or os.getcwd()))
    path: Optional[Path] = None
    if config is not None:
        path = Path(os.path.abspath(os.path.join(cwd, config)))
        if path.is_dir():
            raise ConfigError(f"{_display(path, cwd)}: configuration file is a directory")
    elif not isolated:
        path = find_config(common_folder(paths, cwd))
    if path is not None:
        settings = settings_from_file(path, cwd)
    else:
        settings = Settings(root=str(cwd))

    overrides: Dict[str, Any] = {}
    if any(v is not None for v in (select, extend_select, ignore, fixable, extend_fixable, unfixable)):
        cli = Layer(
            source="command line",
            select=parse_selectors(select, "--select") if select is not None else None,
            extend_select=parse_selectors(extend_select, "--extend-select"),
            ignore=parse_selectors(ignore, "--ignore"),
            fixable=parse_selectors(fixable, "--fixable") if fixable is not None else None,
            extend_fixable=parse_selectors(extend_fixable, "--extend-fixable"),
            unfixable=parse_selectors(unfixable, "--unfixable"),
        )
        overrides["layers"] = settings.layers + (cli,)
    if exclude is not None:
        overrides["exclude"] = tuple(exclude)
    if extend_exclude is not None:  # relative to the working directory, as ruff's --extend-exclude
        rebased = (rebase_glob(g, str(cwd), settings.root) for g in extend_exclude)
        overrides["extend_exclude"] = settings.extend_exclude + tuple(g for g in rebased if g is not None)
    if force_exclude is not None:
        overrides["force_exclude"] = force_exclude
    if respect_gitignore is not None:
        overrides["respect_gitignore"] = respect_gitignore
    if knowledge is not None:
        overrides["knowledge"] = knowledge
    if unsafe_fixes is not None:
        overrides["unsafe_fixes"] = bool(unsafe_fixes)
    if context is not None:
        overrides["context"] = bool(context)
    if project_root is not None:
        root = Path(os.path.abspath(os.path.join(cwd, project_root)))
        if not root.is_dir():
            raise ConfigError(f"--project-root: not a folder: {project_root}")
        overrides["project_root"] = str(root)
    if cache_dir is not None:
        overrides["cache_dir"] = os.path.abspath(os.path.join(cwd, os.path.expanduser(os.fspath(cache_dir))))
    if overrides:
        from dataclasses import replace

        settings = replace(settings, **overrides)
    return settings


def describe(settings: Settings, cache_dir: Optional[str] = None) -> List[Tuple[str, Any]]:
    """The resolved settings as (key, value) pairs, keys as in the configuration file, for
    ``--show-settings``: selections are resolved to the codes they enable."""
    policy = settings.fix_policy()
    k = settings.knowledge
    pfi = {("!" if e.negated else "") + e.pattern: list(e.codes) for e in settings.per_file_ignores}
    return [
        ("config", settings.config_path),
        ("extend", list(settings.extended)),
        ("root", settings.root),
        ("cache-dir", cache_dir or settings.cache_dir),
        ("select", sorted(settings.enabled_codes())),
        ("fixable", sorted(policy.fixable)),
        ("extend-safe-fixes", sorted(c for c, a in policy.applicability.items() if a == "safe")),
        ("extend-unsafe-fixes", sorted(c for c, a in policy.applicability.items() if a == "unsafe")),
        ("unsafe-fixes", settings.unsafe_fixes),
        ("exclude", list(settings.exclude)),
        ("extend-exclude", list(settings.extend_exclude)),
        ("force-exclude", settings.force_exclude),
        ("respect-gitignore", settings.respect_gitignore),
        ("per-file-ignores", pfi),
        ("eval-model-factories", sorted(k.eval_factories)),
        ("no-grad-decorators", sorted(k.no_grad_decorators)),
        ("inference-functions", sorted(k.inference_functions)),
    ]
