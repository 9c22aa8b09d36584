"""The plain-Python API of the checker, used by the CLI, pre-commit and tests.

    from dropout_guard.lint.api import check
    result = check(["src"], select="DG1", ignore=["DG102"])
    for f in result.findings:
        print(f.path, f.line, f.code, f.message)

``check`` discovers and reads the files (engine), analyses all of them together in one
``analyze`` call (cross-file facts need the whole project), then keeps the selected codes
and applies ``per-file-ignores`` and ``# noqa`` comments. It raises ``ConfigError`` for a
bad configuration and ``PathError`` for a missing path; a bad *file* is a DG000 finding.
Findings in notebooks are reported relative to their cell (``Finding.cell``; with
``check_paths(cells=False)``, in the rows of the code cells' concatenation).

Every finding's fix is resolved once, in ``_finish``, by the fix settings
(``Settings.fix_policy()``): a code that is not fixable (``fixable`` / ``extend-fixable`` /
``unfixable``) loses its fix (``fix`` is None, as ruff drops it), and ``extend-safe-fixes`` /
``extend-unsafe-fixes`` change its applicability, so the reports, the hint and ``fix`` agree.

``fix`` does the same, then applies the fixes (safe ones; unsafe ones too with
``unsafe=True``, or with ``unsafe-fixes = true`` in the configuration when ``unsafe`` is
None) in rounds, as ruff does: each round applies, per file, every fix that
does not overlap another, keeps the result only if it parses, and lints again, until no
fix applies (at most ``MAX_ROUNDS`` rounds). Then it writes the changed files (or, with
``write=False``, only reports them, for ``--diff``) and returns the findings that remain.
A fix that would not parse, or a file that cannot be written, leaves the file as it was
and the finding says why.

    from dropout_guard.lint.api import fix
    outcome = fix(["src"], unsafe=True)
    print(outcome.fixed, "fixed;", len(outcome.result.findings), "remaining")

DG001 (unused ``# noqa`` codes) is reported in ``_finish`` once the comments have been
applied (``suppression.unused_noqa``), when it is selected. With resolved settings
(``load_settings``), ``add_noqa`` writes ``# noqa`` comments for the findings of a run,
``files`` lists what a run would check and ``cache_folder`` says where its cache lives.
"""
from __future__ import annotations

import collections.abc
import gc
import os
import re
import stat as stat_module
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple, Union

from . import suppression
from .analysis import analyze
from .cache import CACHE_DIR
from .config import ConfigError, Selector, Settings, code_matches, load_settings
from .context import SourceFile
from .engine import (Candidate, Collection, PathError, PatternSet, ReadError, WriteError, collect, collector_paused,
                     discover, discover_in_context, file_error, is_notebook, module_name, parse_source, partition_entries,
                     read_bytes, read_candidates, write_atomic)
from .findings import Finding, Fix
from .knowledge import Knowledge
from .notebook import raw_key

__all__ = ["check", "check_paths", "check_source", "fix", "fix_paths", "add_noqa", "files", "cache_folder",
           "CheckResult", "FixResult", "AddNoqaResult", "ConfigError", "PathError", "Settings", "load_settings"]

MAX_ROUNDS = 10

Progress = Callable[[int, int], None]  # progress(done, total)
PathLike = Union[str, "os.PathLike[str]"]


@dataclass
class CheckResult:
    findings: List[Finding]  # sorted by (path, line, column, code), after selection and suppression
    files_checked: int  # files considered, including those that became DG000
    files: List[str] = field(default_factory=list)  # their display paths
    suppressed: int = 0  # findings hidden by per-file-ignores or noqa comments
    settings: Optional[Settings] = None
    # absolute path -> text, for the reports to quote: every analysed file (on a cache hit, those with findings)
    sources: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return not self.findings


@dataclass
class FixResult:
    """What ``fix`` did: the findings left (``result``), how many fixes it applied, and the
    files it changed (written, or only reported when ``write=False``)."""

    result: CheckResult  # the findings that remain after fixing
    fixed: Counter = field(default_factory=Counter)  # code -> fixes applied (and written)
    changed: Dict[str, Tuple[str, str]] = field(default_factory=dict)  # abspath -> (old text, new text)
    display: Dict[str, str] = field(default_factory=dict)  # abspath -> display path
    not_written: Dict[str, str] = field(default_factory=dict)  # abspath -> why it was not written
    converged: bool = True  # False: fixes kept applying for MAX_ROUNDS rounds
    fixed_by_file: Dict[str, Counter] = field(default_factory=dict)  # abspath -> code -> fixes applied
    unsafe: bool = False  # whether unsafe fixes were applied (the argument or the configuration)

    @property
    def fixed_total(self) -> int:
        return sum(self.fixed.values())


def _paths_and_cwd(paths, cwd) -> Tuple[List[PathLike], str]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return list(paths) or ["."], os.path.abspath(os.fspath(cwd)) if cwd is not None else os.getcwd()


def check(paths: Union[PathLike, Sequence[PathLike]] = (".",), *, config: Optional[PathLike] = None,
          isolated: bool = False, select: Selector = None, extend_select: Selector = None,
          ignore: Selector = None, exclude: Optional[Iterable[str]] = None,
          extend_exclude: Optional[Iterable[str]] = None, force_exclude: Optional[bool] = None,
          respect_gitignore: Optional[bool] = None, knowledge: Optional[Knowledge] = None,
          cwd: Optional[PathLike] = None, jobs: Optional[int] = 1, cache: bool = False,
          progress: Optional[Progress] = None, fixable: Selector = None, extend_fixable: Selector = None,
          unfixable: Selector = None, unsafe_fixes: Optional[bool] = None, context: Optional[bool] = None,
          project_root: Optional[PathLike] = None, cache_dir: Optional[PathLike] = None,
          sources: Optional[Mapping[PathLike, str]] = None) -> CheckResult:
    """Lint files and folders. Keyword arguments override the configuration file (the
    command line's layer); ``select``/``ignore`` take a list or a comma-separated string.
    ``jobs``: worker processes (None or 0: one per core); ``cache``: keep results in
    ``.dropout_guard_cache/`` beside the configuration (or in the working directory);
    ``progress``: called as ``progress(done, total)`` while the run goes on (see
    ``check_paths``). ``fixable`` / ``extend_fixable`` / ``unfixable`` / ``unsafe_fixes``
    override the configuration's fix settings (``unsafe_fixes`` only reaches
    ``result.settings``, for the reports); ``cache_dir`` the ``cache-dir`` setting. The named
    files are analysed with the rest of their project (``context``; see
    ``engine.discover_in_context``) and only their findings are reported: ``context=False``
    analyses them alone, ``project_root`` names the project. ``sources``: texts that
    replace files' contents (see ``check_paths``)."""
    paths, cwd_s = _paths_and_cwd(paths, cwd)
    settings = load_settings(paths, config=config, isolated=isolated, select=select, extend_select=extend_select,
                             ignore=ignore, exclude=exclude, extend_exclude=extend_exclude,
                             force_exclude=force_exclude, respect_gitignore=respect_gitignore,
                             knowledge=knowledge, fixable=fixable, extend_fixable=extend_fixable,
                             unfixable=unfixable, unsafe_fixes=unsafe_fixes, cache_dir=cache_dir, cwd=cwd_s,
                             context=context, project_root=project_root)
    folder = cache_folder(settings, cwd_s) if cache else None
    return check_paths(paths, settings, cwd=cwd_s, jobs=jobs, cache_dir=folder, progress=progress,
                       sources=sources)


def cache_folder(settings: Settings, cwd: Optional[PathLike] = None) -> str:
    """Where a run with ``settings`` keeps its cache: the ``cache-dir`` setting (or
    ``--cache-dir``), else ``.dropout_guard_cache`` beside the configuration (or in ``cwd``)."""
    if settings.cache_dir:
        return settings.cache_dir
    base = settings.root or (os.fspath(cwd) if cwd is not None else os.getcwd())
    return os.path.join(os.path.abspath(base), CACHE_DIR)


def files(paths: Sequence[PathLike], settings: Settings, *, cwd: Optional[PathLike] = None) -> List[str]:
    """The absolute paths of the files a run with ``settings`` would check, sorted
    (``--show-files``); raises PathError for a missing path."""
    cwd_s = os.path.abspath(os.fspath(cwd)) if cwd is not None else os.getcwd()
    candidates, _ = discover(list(paths) or ["."], settings, cwd_s)
    return sorted(c.path for c in candidates)


@dataclass
class AddNoqaResult:
    """What ``add_noqa`` did: directives added or extended, per file."""

    added: Dict[str, int] = field(default_factory=dict)  # abspath -> lines given a directive
    display: Dict[str, str] = field(default_factory=dict)  # abspath -> display path
    not_written: Dict[str, str] = field(default_factory=dict)  # abspath -> why it was not written

    @property
    def total(self) -> int:
        return sum(self.added.values())


def add_noqa(paths: Sequence[PathLike], settings: Settings, *, cwd: Optional[PathLike] = None,
             write: bool = True) -> AddNoqaResult:
    """ruff's ``--add-noqa``: give every line with a finding that is not suppressed yet a
    ``# noqa: CODES`` comment (merged into a ``# noqa: X`` already on the line; see
    ``suppression.noqa_edits``), notebooks included (the comment goes into the cell). DG000
    cannot be suppressed by a comment and DG001 is about the comments themselves: both
    are left out."""
    from .fixes import apply_fixes

    cwd_s = os.path.abspath(os.fspath(cwd)) if cwd is not None else os.getcwd()
    with collector_paused():
        collection = collect(list(paths) or ["."], settings, cwd_s)
        result = _finish(collection, settings, cwd_s, cells=False)
    wanted: Dict[str, Dict[int, Set[str]]] = {}
    out = AddNoqaResult()
    for f in result.findings:
        if f.code in suppression.UNSUPPRESSIBLE or f.code == suppression.UNUSED_NOQA[0]:
            continue
        if f.abspath not in collection.sources:
            continue
        wanted.setdefault(f.abspath, {}).setdefault(f.line, set()).add(f.code)
        out.display[f.abspath] = f.path
    for path, by_line in sorted(wanted.items()):
        source = collection.sources[path]
        edits = suppression.noqa_edits(source, by_line)
        done = apply_fixes(source, [Fix("safe", "add noqa", (e,)) for e in edits])
        text = done.text
        nb = collection.notebooks.get(path)
        if nb is not None:
            text = nb.rebuild(done)
            if text is None:
                out.not_written[path] = "the comments cannot be mapped back into the notebook's cells"
                continue
        if text == collection.texts[path]:
            continue
        if write:
            try:
                write_atomic(path, collection.texts[path], text)
            except WriteError as err:
                out.not_written[path] = str(err)
                continue
        out.added[path] = len(done.applied)
    return out


def check_paths(paths: Sequence[PathLike], settings: Settings, *, cwd: Optional[PathLike] = None,
                jobs: Optional[int] = 1, cache_dir: Optional[PathLike] = None,
                progress: Optional[Progress] = None,
                sources: Optional[Mapping[PathLike, str]] = None, cells: bool = True) -> CheckResult:
    """Lint with already-resolved settings (see ``config.load_settings``).

    ``sources`` maps paths (relative to ``cwd`` or absolute) to texts read instead of those
    files' contents on disk (an editor's buffers, standard input; a notebook's JSON): such a
    path is linted as if the file held that text, also when it is not on disk yet (then
    only when named in ``paths``), and the parts of the run that hold one are never looked
    up in, nor written to, the cache.

    ``cells=False``: the findings of a notebook keep the rows of its code cells' concatenation
    (``Finding.cell`` None, as ``fix`` sees them), for a caller that maps them back itself
    (the language server, onto the cells of a notebook document); the parts that hold a
    notebook are then neither looked up in nor written to the cache.

    The run is split, from the files' bytes, into parts that cannot share a fact (see
    partition.py). Each part is looked up in the cache (``cache_dir``; None: no cache) and
    otherwise read, parsed and analysed — in ``jobs`` worker processes when there are
    several parts to do (None or 0: one per core). The result never depends on either.

    ``progress(done, total)`` is called from the calling process (from a helper thread
    while worker processes run): ``total`` is twice the number of files read, one step when
    a file is parsed and one when the rules have checked it (all of a part's steps at once
    when it comes from the cache or cannot have findings). It ends with ``done == total``.
    """
    from . import partition
    from .cache import FindingsCache, digest, part_key

    cwd_s = os.path.abspath(os.fspath(cwd)) if cwd is not None else os.getcwd()
    overlay = {os.path.abspath(os.path.join(cwd_s, os.fspath(p))): text for p, text in (sources or {}).items()}
    found = discover_in_context(paths, settings, cwd_s, unsaved=overlay)
    candidates, named = found.candidates, found.named
    folder_errors = found.errors  # unreadable folders among the named paths
    errors: List[Finding] = []  # unreadable files (of the context too: filtered below)
    cache = FindingsCache(cache_dir)
    caching = cache.directory is not None
    known = cache.file_index()
    data: Dict[str, bytes] = {}
    digests: Dict[str, str] = {}
    stamps: Dict[str, Tuple[int, int, int, int]] = {}

    def load(members: List[Candidate]) -> List[Candidate]:
        """Read the members not read yet (their stat matched the index); drop unreadable ones."""
        kept = []
        for c in members:
            if c.path not in data:
                try:
                    data[c.path] = read_bytes(c.path)
                except ReadError as err:
                    errors.append(file_error(c.path, c.display, err.message, err.line, err.column,
                                             err.end_line, err.end_column))
                    continue
            kept.append(c)
        return kept

    unseen: List[Candidate] = []
    for c in candidates:
        if c.path in overlay:  # the bytes the partition reads; the analysis reads the text
            data[c.path] = overlay[c.path].encode("utf-8", "surrogatepass")
            if caching:
                digests[c.path] = digest(data[c.path])
            continue
        stamp = _stamp(c.path) if caching else None
        if stamp is not None:
            stamps[c.path] = stamp
            rec = known.get(c.path)
            if rec is not None and tuple(rec[:4]) == stamp:  # unchanged since a run read it
                digests[c.path] = rec[4]
                continue
        unseen.append(c)
    for c in load(unseen):
        if caching:
            digests[c.path] = digest(data[c.path])
    readable = [c for c in candidates if c.path in digests or c.path in data]
    by_path = {c.path: c for c in readable}
    modnames = {c.path: module_name(c.path, c.root)[0] for c in readable}

    split_key = part_key([(c.path, modnames[c.path], digests[c.path]) for c in readable], "partition") \
        if caching else ""
    split = cache.get_partition(split_key) if caching else None
    if split is None or sorted(p for part in split for p in part) != sorted(by_path):
        readable = load(readable)
        split = [[e.key for e in part] for part in partition.partition(partition_entries(readable, data))]
        if caching and not any(c.path in overlay for c in readable):  # buffers change with every edit
            cache.put_partition(split_key, split)
    if len(named) < len(candidates):  # only the parts that hold a named file are analysed
        split = [part for part in split if any(p in named for p in part)]
        readable = [by_path[p] for part in split for p in part if p in by_path]
    fingerprint = settings_fingerprint(settings, cwd_s)
    results: List[CheckResult] = []
    quoted: List[Tuple[List[Candidate], Dict[str, bytes]]] = []  # cache hits: the files their findings quote
    todo: List[Tuple[str, List[Candidate]]] = []
    meter = _Meter(progress, 2 * len(readable))
    for paths_of_part in split:
        members = [by_path[p] for p in paths_of_part if p in by_path]
        key = part_key([(c.display, modnames[c.path], digests[c.path]) for c in members], fingerprint) \
            if caching and not any(c.path in overlay or (not cells and is_notebook(c.path)) for c in members) else ""
        hit = cache.get(key) if key else None
        if hit is not None:
            reported = {f.abspath for f in hit}
            with_findings = load([c for c in members if c.path in reported])
            results.append(CheckResult(hit, len(members), [c.display for c in members], 0, settings))
            quoted.append((with_findings, {c.path: data[c.path] for c in with_findings}))
            meter.finish_part(-1, 2 * len(members))
        else:
            members = load(members)
            todo.append((key, members))
    for key, part_result in _run_parts(todo, data, settings, cwd_s, jobs, meter, overlay, cells):
        if key:
            cache.put(key, part_result.findings)
        results.append(part_result)
    if caching:
        recent = time.time_ns() - 2_000_000_000  # a file changed within the clock's granularity may change again
        index = {p: [*stamps[p], digests[p]] for p in digests if p in stamps and stamps[p][1] < recent}
        merged = dict(known) if len(known) < 4 * max(len(index), 1000) else {}
        merged.update(index)
        if merged != known:
            cache.save_file_index(merged)
    meter.close()
    findings = list(errors)
    sources: Dict[str, str] = {}
    suppressed = 0
    for r in results:
        findings.extend(r.findings)
        sources.update(r.sources)
        suppressed += r.suppressed
    enabled = settings.enabled_codes()
    findings = [f for f in folder_errors if f.code in enabled] + \
        [f for f in findings if f.code in enabled and f.abspath in named]
    findings.sort(key=_sort_key)
    shown = list(named.values())
    return CheckResult(findings, len(shown), [c.display for c in shown], suppressed, settings,
                       _Sources(sources, quoted) if quoted else sources)


class _Sources(collections.abc.Mapping):
    """The texts reports quote, where those of cache hits are decoded (notebooks parsed) only
    when a report first reads one: the text and JSON reports never do."""

    def __init__(self, texts: Dict[str, str], pending: List[Tuple[List[Candidate], Dict[str, bytes]]]):
        self._texts = texts
        self._pending = pending

    def _all(self) -> Dict[str, str]:
        while self._pending:
            members, data = self._pending.pop()
            self._texts.update(_light_sources(members, data))
        return self._texts

    def __getitem__(self, key: str) -> str:
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def _stamp(path: str) -> Optional[Tuple[int, int, int, int]]:
    """(size, mtime_ns, ctime_ns, inode) of a regular file; None for anything else."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat_module.S_ISREG(st.st_mode):
        return None
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def settings_fingerprint(settings: Settings, cwd: str) -> str:
    """Everything besides the files that the findings of a run depend on."""
    ignores = [(e.pattern, e.negated, list(e.codes)) for e in settings.per_file_ignores]
    k = settings.knowledge
    policy = settings.fix_policy()  # the cached findings carry resolved fixes
    return repr((sorted(settings.enabled_codes()), sorted(k.eval_factories), sorted(k.no_grad_decorators),
                 sorted(k.inference_functions), ignores, settings.root, cwd, sorted(policy.fixable),
                 sorted(policy.applicability.items())))


class _Meter:
    """Counts a run's steps for a ``progress(done, total)`` callback: ``tick(part, n)`` as
    files are parsed and checked, ``finish_part(part, n)`` for a part's remaining steps.
    Nothing is reported before ``start()``: worker processes are forked first, while the
    process has no other thread (a progress display may run one)."""

    def __init__(self, progress: Optional[Progress], total: int) -> None:
        import threading

        self.progress, self.total, self.done = progress, total, 0
        self._ticked: Counter = Counter()
        self._lock = threading.Lock()
        self._started = False

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
            if self.progress is not None:
                self.progress(self.done, self.total)

    def tick(self, part: int, n: int = 1) -> None:
        with self._lock:
            self._ticked[part] += n
            self._report(n)

    def finish_part(self, part: int, steps: int) -> None:
        with self._lock:
            self._report(max(0, steps - self._ticked.pop(part, 0)))

    def _report(self, n: int) -> None:
        if n:
            self.done = min(self.total, self.done + n)
            if self.progress is not None and self._started:
                self.progress(self.done, self.total)

    def close(self) -> None:
        self.start()
        with self._lock:
            self._report(self.total - self.done)


_RETAINED: Optional[List[object]] = None  # see retain_until_exit


def retain_until_exit() -> None:
    """For a process that ends with ``os._exit`` once its report is written (the console
    command): keep the last part's trees and analysis instead of freeing them object by
    object, and leave them out of the cyclic collector's sight. On the 3,401-file benchmark
    corpus, freeing them took about 1.5 s of a 19 s run. Earlier parts are still freed as the
    next one starts, so peak memory stays that of the largest part."""
    global _RETAINED
    _RETAINED = []


def _analyse_candidates(members: List[Candidate], data: Dict[str, bytes], settings: Settings,
                        cwd: str, tick: Optional[Callable[[int], None]] = None,
                        overlay: Optional[Dict[str, str]] = None, cells: bool = True) -> CheckResult:
    retain = _RETAINED
    if retain is not None:
        retain.clear()  # the previous part's analysis goes now
    with collector_paused():
        collection = read_candidates(members, data=data, tick=tick, overlay=overlay)
        result = _finish(collection, settings, cwd, cells=cells, tick=tick, split=False, retain=retain)
        if retain is not None:
            retain.append(collection)
            gc.freeze()  # what is retained is never garbage: no collection needs to traverse it
        return result


_WORKER_QUEUE = None  # in a worker process: where its progress ticks go


def _init_worker(queue) -> None:
    global _WORKER_QUEUE
    _WORKER_QUEUE = queue


def _worker(args) -> CheckResult:
    index, members, data, settings, cwd, overlay, cells = args
    queue = _WORKER_QUEUE
    tick = (lambda n=1: queue.put((index, n))) if queue is not None else None
    return _analyse_candidates(members, data, settings, cwd, tick, overlay, cells)


def _run_parts(todo, data: Dict[str, bytes], settings: Settings, cwd: str, jobs: Optional[int],
               meter: Optional[_Meter] = None, overlay: Optional[Dict[str, str]] = None, cells: bool = True):
    """Analyse the parts, in worker processes when there are several and ``jobs`` allows."""
    workers = jobs if jobs else (os.cpu_count() or 1)
    track = meter is not None and meter.progress is not None
    if workers <= 1 or len(todo) < 2:
        if meter is not None:
            meter.start()
        for index, (key, members) in enumerate(todo):
            tick = (lambda n=1, i=index: meter.tick(i, n)) if track else None
            result = _analyse_candidates(members, data, settings, cwd, tick, overlay, cells)
            if meter is not None:
                meter.finish_part(index, 2 * len(members))
            yield key, result
        return
    import multiprocessing
    import threading
    from concurrent.futures import ProcessPoolExecutor

    # fork is the cheapest start, but forking a process that runs other threads can deadlock
    # the child (Python 3.12+ warns): then start the workers fresh
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        ctx = multiprocessing.get_context("fork")
    else:
        ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    todo = sorted(todo, key=lambda kv: -sum(len(data[c.path]) for c in kv[1]))  # largest first
    queue = ctx.SimpleQueue() if track else None
    drain = None
    try:
        with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx,
                                 initializer=_init_worker, initargs=(queue,)) as pool:
            pool.submit(int).result()  # forks the workers now, before any progress thread runs
            if meter is not None:
                meter.start()
            if queue is not None:
                def _drain() -> None:
                    while True:
                        item = queue.get()
                        if item is None:
                            return
                        meter.tick(*item)

                drain = threading.Thread(target=_drain, name="dropout-guard-progress", daemon=True)
                drain.start()
            args = [(i, members, {c.path: data[c.path] for c in members}, settings, cwd,
                     {c.path: overlay[c.path] for c in members if c.path in overlay} if overlay else None, cells)
                    for i, (_, members) in enumerate(todo)]
            for i, ((key, members), result) in enumerate(zip(todo, pool.map(_worker, args))):
                if meter is not None:
                    meter.finish_part(i, 2 * len(members))
                yield key, result
    finally:
        if drain is not None:
            queue.put(None)
            drain.join()


def _light_sources(members: List[Candidate], data: Dict[str, bytes]) -> Dict[str, str]:
    """What reports read of the files (SARIF fingerprints) without parsing them: a cache hit."""
    from .engine import decode_notebook, decode_source

    out: Dict[str, str] = {}
    for c in members:
        try:
            if is_notebook(c.path):
                from .notebook import Notebook, NotebookError

                try:
                    nb = Notebook(decode_notebook(data[c.path])[0])
                except NotebookError:
                    continue
                out[c.path] = nb.source
                out.update(nb.analysed_cells(c.path))
                out[raw_key(c.path)] = nb.text
            else:
                out[c.path] = decode_source(data[c.path])
        except ReadError:
            continue
    return out


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


def _finish(collection: Collection, settings: Settings, cwd: str, cells: bool = True,
            tick: Optional[Callable[[int], None]] = None, split: bool = True,
            retain: Optional[List[object]] = None) -> CheckResult:
    enabled = settings.enabled_codes()
    findings: List[Finding] = list(collection.errors)
    if collection.files:
        findings.extend(analyze(collection.files, settings.knowledge, codes=sorted(enabled), tick=tick,
                                split=split, retain=retain))
    named = collection.named
    findings = [f for f in findings if f.code in enabled and (named is None or f.abspath in named)]
    before = len(findings)
    findings = _without_per_file_ignored(findings, settings, cwd)
    parsed: Dict[str, Optional[suppression.Suppressions]] = {}
    findings, _ = suppression.apply(findings, collection.sources, parsed)
    suppressed = before - len(findings)
    if suppression.UNUSED_NOQA[0] in enabled:
        findings.extend(_unused_noqa(collection, settings, parsed, enabled, cwd))
    unique: Dict[tuple, Finding] = {}
    for f in findings:
        unique.setdefault((f.path, f.line, f.column, f.end_line, f.end_column, f.code, f.message), f)
    findings = _resolve_fixes(list(unique.values()), settings)
    if cells and collection.notebooks:
        findings = [collection.notebooks[f.abspath].to_cells(f)
                    if f.cell is None and f.abspath in collection.notebooks else f for f in findings]
    findings.sort(key=_sort_key)
    sources = collection.sources
    if cells and collection.notebooks:
        sources = dict(sources)
        for path, nb in collection.notebooks.items():
            sources.update(nb.analysed_cells(path))
            sources[raw_key(path)] = nb.text
    return CheckResult(findings, len(collection.checked), list(collection.checked), suppressed,
                       settings, sources)


def _unused_noqa(collection: Collection, settings: Settings, parsed: Dict[str, Optional[suppression.Suppressions]],
                 enabled: Set[str], cwd: str) -> List[Finding]:
    """DG001 for every analysed file whose findings are reported, once its findings went
    through its noqa comments (``parsed`` holds what they suppressed), less what
    per-file-ignores silence."""
    from .rules import ALL_RULES

    known = [r.code for r in ALL_RULES]
    out: List[Finding] = []
    for file in collection.files:
        if collection.named is not None and file.path not in collection.named:
            continue  # context read for its facts only
        sup = parsed.get(file.path)
        if sup is None:
            sup = parsed[file.path] = suppression.Suppressions(file.source)
        if sup.directives:
            out.extend(suppression.unused_noqa(file.path, file.display, file.source, sup, enabled, known))
    return _without_per_file_ignored(out, settings, cwd)


def _without_per_file_ignored(findings: List[Finding], settings: Settings, cwd: str) -> List[Finding]:
    if not findings or not settings.per_file_ignores:
        return findings
    sets = [PatternSet.from_globs(settings.root, [e.pattern]) for e in settings.per_file_ignores]
    return [f for f in findings if not _per_file_ignored(f, settings, sets, cwd)]


def _resolve_fixes(findings: List[Finding], settings: Settings) -> List[Finding]:
    """The fix settings applied to the findings' fixes (see ``config.FixPolicy``)."""
    policy = settings.fix_policy()
    out = []
    resolved_once: Dict[Tuple[str, int], object] = {}  # findings that share a fix keep sharing it
    for f in findings:
        k = (f.code, id(f.fix))
        if k not in resolved_once:
            resolved_once[k] = policy.resolve(f.code, f.fix)
        resolved = resolved_once[k]
        out.append(f if resolved is f.fix else replace(f, fix=resolved))
    return out


def _sort_key(f: Finding):
    return (f.path, f.cell or 0, f.line, f.column, f.code)


# -- fixing ------------------------------------------------------------------------------------
def fix(paths: Union[PathLike, Sequence[PathLike]] = (".",), *, unsafe: Optional[bool] = None, write: bool = True,
        config: Optional[PathLike] = None, isolated: bool = False, select: Selector = None,
        extend_select: Selector = None, ignore: Selector = None, exclude: Optional[Iterable[str]] = None,
        extend_exclude: Optional[Iterable[str]] = None, force_exclude: Optional[bool] = None,
        respect_gitignore: Optional[bool] = None, knowledge: Optional[Knowledge] = None,
        cwd: Optional[PathLike] = None, max_rounds: int = MAX_ROUNDS, fixable: Selector = None,
        extend_fixable: Selector = None, unfixable: Selector = None, context: Optional[bool] = None,
        project_root: Optional[PathLike] = None) -> FixResult:
    """Lint and fix. ``unsafe``: apply unsafe fixes too (True / False, as ``--unsafe-fixes``
    / ``--no-unsafe-fixes``; None: the configuration's ``unsafe-fixes``, default False);
    ``write=False``: change nothing on disk (``FixResult.changed`` holds the would-be texts,
    for ``--diff``); ``fixable`` / ``extend_fixable`` / ``unfixable`` / ``context`` /
    ``project_root``: as the options (only the named files are changed)."""
    paths, cwd_s = _paths_and_cwd(paths, cwd)
    settings = load_settings(paths, config=config, isolated=isolated, select=select, extend_select=extend_select,
                             ignore=ignore, exclude=exclude, extend_exclude=extend_exclude,
                             force_exclude=force_exclude, respect_gitignore=respect_gitignore,
                             knowledge=knowledge, fixable=fixable, extend_fixable=extend_fixable,
                             unfixable=unfixable, unsafe_fixes=unsafe, cwd=cwd_s, context=context,
                             project_root=project_root)
    return fix_paths(paths, settings, unsafe=unsafe, write=write, cwd=cwd_s, max_rounds=max_rounds)


class _FixKeys:
    """A finding's fix, recognisable across rounds: positions move as earlier fixes apply, and
    so do the line numbers that messages quote. The fix's part is computed once per fix
    object (findings that share one fix would otherwise each cost its size); the objects
    are kept so that their ids stay theirs for the run."""

    def __init__(self) -> None:
        self._of: Dict[int, Tuple[Optional[Fix], tuple]] = {}

    def __call__(self, f: Finding) -> tuple:
        known = self._of.get(id(f.fix))
        if known is None:
            fix = f.fix
            part = ("", ()) if fix is None else (re.sub(r"\d+", "#", fix.message),
                                                  tuple(e.content for e in fix.edits))
            known = self._of[id(fix)] = (fix, part)
        return (f.abspath, f.code, re.sub(r"\d+", "#", f.message), known[1])


def _apply_verified(source: str, findings: List[Finding], refused: Dict[tuple, str], fix_key: "_FixKeys"):
    """Apply the findings' fixes to one text; keep only what parses. (Applied, applied findings)."""
    from .fixes import apply_fixes, syntax_error

    done = apply_fixes(source, [f.fix for f in findings])
    if syntax_error(done.text) is None:
        return done, [findings[i] for i in done.applied]
    kept: List[Finding] = []
    for f in findings:  # isolate the fixes that break the file
        trial = apply_fixes(source, [g.fix for g in kept] + [f.fix])
        if len(trial.applied) <= len(kept):
            continue  # overlaps an accepted fix: next round
        error = syntax_error(trial.text)
        if error is None:
            kept.append(f)
        else:
            refused[fix_key(f)] = f"fix not applied: the fixed code would not parse ({error})"
    done = apply_fixes(source, [f.fix for f in kept])
    return done, [kept[i] for i in done.applied]


def fix_paths(paths: Sequence[PathLike], settings: Settings, *, unsafe: Optional[bool] = None, write: bool = True,
              cwd: Optional[PathLike] = None, max_rounds: int = MAX_ROUNDS,
              sources: Optional[Mapping[PathLike, str]] = None) -> FixResult:
    """``fix`` with already-resolved settings (``unsafe=None``: ``settings.unsafe_fixes``).
    ``sources``: texts read instead of those files on disk, as in ``check_paths`` (an
    editor's buffers; use ``write=False``: the fixed texts are in ``FixResult.changed``)."""
    from .fixes import allowed

    if unsafe is None:
        unsafe = bool(settings.unsafe_fixes)
    cwd_s = os.path.abspath(os.fspath(cwd)) if cwd is not None else os.getcwd()
    overlay: Dict[str, str] = {os.path.abspath(os.path.join(cwd_s, os.fspath(p))): text
                               for p, text in (sources or {}).items()}
    originals: Dict[str, str] = {}
    display: Dict[str, str] = {}
    refused: Dict[tuple, str] = {}
    fixed: Dict[str, Counter] = {}
    # per file, the previous round: (text before its fixes, keys of the fixes applied, their codes)
    last: Dict[str, Tuple[str, Set[tuple], Counter]] = {}
    _fix_key = _FixKeys()
    converged = False
    for _ in range(max_rounds):
        with collector_paused():
            collection = collect(paths, settings, cwd_s, overlay=overlay)
            raw = _finish(collection, settings, cwd_s, cells=False)
        for path, text in collection.texts.items():
            originals.setdefault(path, text)
        todo: Dict[str, List[Finding]] = {}
        for f in raw.findings:
            if allowed(f.fix, unsafe) and f.abspath in collection.sources and _fix_key(f) not in refused:
                todo.setdefault(f.abspath, []).append(f)
                display[f.abspath] = f.path
        current: Dict[str, Tuple[str, Set[tuple], Counter]] = {}
        for path, found in todo.items():
            before = last.get(path)
            repeats = {_fix_key(f) for f in found if before is not None and _fix_key(f) in before[1]}
            if repeats:
                # the same fix again: applying it did not resolve its finding. Undo the file's
                # previous round (its other fixes come back next round) and refuse this one.
                for key in repeats:
                    refused[key] = "fix not applied: it did not resolve the finding (a bug in dropout-guard)"
                overlay[path] = before[0]
                fixed[path].subtract(before[2])
                current[path] = (before[0], set(), Counter())
                continue
            done, used = _apply_verified(collection.sources[path], found, refused, _fix_key)
            if not used:
                continue
            text = done.text
            nb = collection.notebooks.get(path)
            if nb is not None:
                text = nb.rebuild(done)
                if text is None:
                    for f in used:
                        refused[_fix_key(f)] = ("fix not applied: the edit cannot be mapped back into the "
                                                "notebook's cells")
                    continue
            if text == collection.texts[path]:
                continue
            overlay[path] = text
            used_ids = {id(f) for f in used}
            deferred = {_fix_key(f) for f in found if id(f) not in used_ids}
            codes = Counter(f.code for f in used)
            current[path] = (collection.texts[path], {_fix_key(f) for f in used} - deferred, codes)
            fixed.setdefault(path, Counter()).update(codes)
        last = current
        if not current:
            converged = True
            break
    not_written: Dict[str, str] = {}
    # (a buffer handed in as a source that the run did not read, outside the named files'
    # parts, is not a change)
    changed = {p: (originals[p], t) for p, t in overlay.items() if p in originals and originals[p] != t}
    if write:
        for path, (old, new) in list(changed.items()):
            try:
                write_atomic(path, old, new)
            except WriteError as err:
                not_written[path] = str(err)
                del overlay[path]
                del changed[path]
                fixed.pop(path, None)
    with collector_paused():
        collection = collect(paths, settings, cwd_s, overlay=overlay)
        result = _finish(collection, settings, cwd_s)
    findings = []
    for f in result.findings:
        note = refused.get(_fix_key(f))
        if note is None and f.abspath in not_written and allowed(f.fix, unsafe):
            note = f"fix not written: {not_written[f.abspath]}"
        if note:  # shown, no longer offered: it would not apply
            demoted = replace(f.fix, applicability="display-only") if f.fix is not None else None
            f = replace(f, message=f"{f.message} ({note})", fix=demoted)
        findings.append(f)
    result.findings = findings
    total: Counter = Counter()
    by_file: Dict[str, Counter] = {}
    for p, c in fixed.items():
        if +c:
            by_file[p] = +c
            total.update(+c)
    shown = {p: display.get(p, p) for p in [*changed, *not_written, *by_file]}
    return FixResult(result, total, changed, shown, not_written, converged, by_file, unsafe)
