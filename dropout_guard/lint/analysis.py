"""The analysis API: parsed files in, findings out. The engine calls this once per run.

One ``ast`` tree per file (parsed by the engine), one project-wide flow analysis, then
every selected rule over every file in one pass. An exception while analysing a file
becomes a DG000 finding for that file; the run goes on.
"""
from __future__ import annotations

import ast
from typing import Callable, FrozenSet, Iterable, List, Optional, Sequence, Set

from .context import FileContext, SourceFile
from .findings import Finding
from .knowledge import DEFAULT_KNOWLEDGE, Knowledge
from .semantic import ModuleInfo


def internal_error(file: SourceFile, exc: BaseException, line: int = 1) -> Finding:
    from .flow import AnalysisTimeout

    if isinstance(exc, AnalysisTimeout):
        message = f"{exc} on the function at {file.where(line)}; the file was not analysed"
    elif isinstance(exc, RecursionError):
        message = "the code is nested too deeply to analyse (recursion limit); the file was not analysed"
    else:
        summary = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:200]
        message = f"internal error while analysing this file: {summary}"
    return Finding("DG000", "file-not-analysed", message, file.display, line, 1, line, 1, abspath=file.path)


def rule_triggers(rules, knowledge: Knowledge) -> Optional[FrozenSet[str]]:
    """The identifiers that make a part of a run worth analysing (None: every part is)."""
    out: Set[str] = set(knowledge.trigger_names())
    for r in rules:
        if r.triggers is None:
            return None
        out |= r.triggers
    return frozenset(out)


def analyze(files: Sequence[SourceFile], knowledge: Knowledge = DEFAULT_KNOWLEDGE,
            codes: Optional[Iterable[str]] = None, tick: Optional[Callable[[int], None]] = None,
            split: bool = True, retain: Optional[List[object]] = None) -> List[Finding]:
    """Run every rule (or only ``codes``) over ``files``.

    Files that may import each other are analysed together as one project; independent
    parts (see partition.py) separately, and a part in which no selected rule can fire is
    not analysed at all. The findings are the same as analysing everything at once.
    ``split=False``: the files are one part already (the caller partitioned them).
    ``tick(n)`` is called as files are done (progress). ``retain``: a list that keeps each
    part's analysis instead of taking it apart, for a process that exits without freeing
    anything (see ``api.retain_until_exit``).
    """
    from . import partition
    from .rules import ALL_RULES

    selected = set(codes) if codes is not None else None
    rules = [r() for r in ALL_RULES if r.code != "DG000" and (selected is None or r.code in selected)]
    triggers = rule_triggers(rules, knowledge)
    by_key = {f.path: f for f in files}
    packages = {f.modname for f in files if f.is_package}
    entries = [partition.Entry(f.path, f.source.encode("utf-8", "surrogatepass"),
                               partition.import_names(f.modname), top=partition.top_name(f.modname),
                               package_top=partition.package_top(f.modname, packages)) for f in files]
    findings: List[Finding] = []
    for part in partition.partition(entries) if split else [entries]:
        if partition.relevant(part, triggers):
            findings.extend(_analyze_part([by_key[e.key] for e in part], knowledge, rules, tick, retain))
        elif tick is not None:
            tick(len(part))
    findings.sort(key=Finding.sort_key)
    return findings


def _analyze_part(files: Sequence[SourceFile], knowledge: Knowledge, rules,
                  tick: Optional[Callable[[int], None]] = None,
                  retain: Optional[List[object]] = None) -> List[Finding]:
    from . import flow

    findings: List[Finding] = []
    modules = {}
    broken = set()
    for f in files:
        try:
            modules[f.path] = ModuleInfo(f.tree, f.modname, f.path, f.is_package)
            if f.rows is not None:
                from .notebook import displayed_statements

                modules[f.path].displayed = displayed_statements(f.tree, f.rows)
        except RecursionError as exc:
            findings.append(internal_error(f, exc))
            broken.add(f.path)
    good = [f for f in files if f.path not in broken]
    try:
        project = flow.Project(good, modules, knowledge, budget=flow.DEFAULT_BUDGET_S)
        project.run()
    except Exception as exc:  # noqa: BLE001 - a failure outside any one file: report it on each
        findings.extend(internal_error(f, exc) for f in good)
        return findings
    try:
        for f in good:
            if tick is not None:
                tick(1)
            if f.path in project.errors:
                exc, line = project.errors[f.path]
                findings.append(internal_error(f, exc, line))
                continue
            ctx = FileContext(f, modules[f.path], knowledge, project)
            try:
                for rule in rules:
                    rule.check(ctx)
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the run
                findings.append(internal_error(f, exc))
                continue
            finally:
                ctx.fix_kit = None  # the fix builders point back at the context: break the cycle
            findings.extend(ctx.findings)
    finally:
        if retain is not None:
            retain.append(project)  # freed by the process' exit, never one object at a time
        else:
            project.release()
    return findings


def analyze_source(source: str, path: str = "<string>", knowledge: Knowledge = DEFAULT_KNOWLEDGE,
                   codes: Optional[Iterable[str]] = None) -> List[Finding]:
    """Convenience for tests and docs: analyse one in-memory module."""
    tree = ast.parse(source)
    name = path.rsplit("/", 1)[-1].removesuffix(".py") if path.endswith(".py") else "__main__"
    return analyze([SourceFile(path, path, source, tree, name)], knowledge, codes)
