"""--jobs, the results cache and the trigger prefilter never change the findings."""
from __future__ import annotations

import re

import shutil
from pathlib import Path

import pytest

from dropout_guard.lint import analysis
from dropout_guard.lint.api import check

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _key(result):
    return [(f.path, f.cell, f.line, f.column, f.code, f.message) for f in result.findings]


@pytest.fixture
def tree(tmp_path):
    """All fixtures in one folder: many independent parts, some of them multi-file."""
    dst = tmp_path / "fx"
    shutil.copytree(FIXTURES, dst)
    (dst / "plain_tool.py").write_text("def add(a, b):\n    return a + b\n")
    (dst / "broken.py").write_text("def f(:\n")
    return dst


def test_jobs_give_the_same_findings(tree):
    one = check([str(tree)], isolated=True, cwd=str(tree), jobs=1)
    two = check([str(tree)], isolated=True, cwd=str(tree), jobs=2)
    assert one.findings and _key(one) == _key(two)
    assert one.files_checked == two.files_checked


def test_cache_hit_gives_the_same_findings_and_a_change_invalidates_its_part(tree):
    cold = check([str(tree)], isolated=True, cwd=str(tree), cache=True)
    cache = tree / ".dropout_guard_cache"
    assert any(cache.rglob("*.json"))
    warm = check([str(tree)], isolated=True, cwd=str(tree), cache=True)
    assert _key(cold) == _key(warm)
    target = tree / "pytorch" / "flags.py"
    text = target.read_text()
    target.write_text(text.replace("    model.eval  # expect: DG103\n", "    pass\n"))
    after = check([str(tree)], isolated=True, cwd=str(tree), cache=True)
    fresh = check([str(tree)], isolated=True, cwd=str(tree), cache=False)
    assert _key(after) == _key(fresh)
    assert len(after.findings) == len(cold.findings) - 1


def test_cache_depends_on_the_selected_rules(tree):
    every = check([str(tree)], isolated=True, cwd=str(tree), cache=True)
    only = check([str(tree)], isolated=True, cwd=str(tree), cache=True, select="DG103")
    assert {f.code for f in only.findings} == {"DG103"}
    assert len(every.findings) > len(only.findings)


def test_prefilter_never_changes_the_findings(tree, monkeypatch):
    filtered = check([str(tree)], isolated=True, cwd=str(tree))
    monkeypatch.setattr(analysis, "rule_triggers", lambda rules, knowledge: None)
    everything = check([str(tree)], isolated=True, cwd=str(tree))
    assert _key(filtered) == _key(everything)


def test_prefilter_skips_parts_without_triggers(tmp_path, monkeypatch):
    (tmp_path / "mathutil.py").write_text("def add(a, b):\n    return a + b\n")
    (tmp_path / "infer.py").write_text("import torch\nnet = torch.load('net.pt')\ny = net(1)\n")
    seen = []
    real = analysis._analyze_part
    monkeypatch.setattr(analysis, "_analyze_part", lambda files, *a: seen.append([f.display for f in files]) or real(
        files, *a))
    result = check([str(tmp_path)], isolated=True, cwd=str(tmp_path))
    assert seen == [["infer.py"]]
    assert [f.code for f in result.findings] == ["DG101", "DG201"]


def _age(root: Path, seconds: int = 60) -> None:
    """Date every file back, as files are between commits (recent ones are never indexed)."""
    import os
    import time

    past = time.time() - seconds
    for p in root.rglob("*"):
        if p.is_file():
            os.utime(p, (past, past))


def _count_reads(monkeypatch):
    from dropout_guard.lint import api

    reads = []
    real = api.read_bytes
    monkeypatch.setattr(api, "read_bytes", lambda path: (reads.append(path), real(path))[1])
    return reads


def test_warm_run_reads_only_the_files_it_reports(tree, monkeypatch):
    _age(tree)
    cold = check([str(tree)], isolated=True, cwd=str(tree), cache=True)
    reads = _count_reads(monkeypatch)
    warm = check([str(tree)], isolated=True, cwd=str(tree), cache=True)
    assert _key(cold) == _key(warm)
    reported = {f.abspath for f in cold.findings}
    assert reported and set(reads) == reported  # their text is what reports quote
    assert {re.sub(r"#(cell[0-9]+|raw)$", "", p) for p in warm.sources} == reported  # (notebook.cell_key, raw_key)


def test_an_edit_that_keeps_size_and_mtime_is_still_seen(tree):
    """ctime and the inode are part of a file's stamp, as in git's index."""
    import os

    _age(tree)
    target = tree / "pytorch" / "flags.py"
    before = check([str(target)], isolated=True, cwd=str(tree), cache=True)
    st = target.stat()
    text = target.read_text()
    edited = text.replace("    model.eval  # expect: DG103\n", '    pass            # same size\n')
    assert len(edited) == len(text)
    target.write_text(edited)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = check([str(target)], isolated=True, cwd=str(tree), cache=True)
    fresh = check([str(target)], isolated=True, cwd=str(tree), cache=False)
    assert _key(after) == _key(fresh)
    assert len(after.findings) == len(before.findings) - 1


def test_recently_modified_files_are_not_indexed(tree, monkeypatch):
    (tree / "fresh.py").write_text("import torch\nmodel = torch.load('m.pt')\ny = model(1)\n")
    check([str(tree)], isolated=True, cwd=str(tree), cache=True)
    reads = _count_reads(monkeypatch)
    check([str(tree)], isolated=True, cwd=str(tree), cache=True)
    assert str(tree / "fresh.py") in reads  # modified just now: read again until it is older


def test_partition_is_reused_until_the_files_change(tree, monkeypatch):
    from dropout_guard.lint import partition

    _age(tree)
    first = check([str(tree)], isolated=True, cwd=str(tree), cache=True)
    calls = []
    real = partition.partition
    monkeypatch.setattr(partition, "partition", lambda entries: (calls.append(1), real(entries))[1])
    assert _key(check([str(tree)], isolated=True, cwd=str(tree), cache=True)) == _key(first)
    assert calls == []
    (tree / "uses_flags.py").write_text("from flags import *\n")
    with_new = check([str(tree)], isolated=True, cwd=str(tree), cache=True)
    assert calls == [1]
    assert _key(with_new) == _key(check([str(tree)], isolated=True, cwd=str(tree), cache=False))


def test_damaged_index_files_are_ignored(tree):
    _age(tree)
    cold = check([str(tree)], isolated=True, cwd=str(tree), cache=True)
    for name in ("files.json", "partition.json"):
        (p,) = (tree / ".dropout_guard_cache").rglob(name)
        p.write_text('{"a": [1, 2')
    assert _key(check([str(tree)], isolated=True, cwd=str(tree), cache=True)) == _key(cold)
    (p,) = (tree / ".dropout_guard_cache").rglob("files.json")
    p.write_text('{"%s": [1, 2, 3, 4, "x"], "b": "junk"}' % (tree / "pytorch" / "flags.py"))
    assert _key(check([str(tree)], isolated=True, cwd=str(tree), cache=True)) == _key(cold)


def test_progress_counts_every_file_and_starts_after_the_workers_fork(tree):
    """A progress display may run a thread: the workers must already exist by then (fork)."""
    import multiprocessing

    calls = []

    def progress(done, total):
        calls.append((done, total, len(multiprocessing.active_children())))

    result = check([str(tree)], isolated=True, cwd=str(tree), jobs=2, progress=progress)
    files = len(result.files)
    assert calls[0][:2] == (0, 2 * files) and calls[-1][:2] == (2 * files, 2 * files)
    assert all(a[0] <= b[0] for a, b in zip(calls, calls[1:]))
    assert calls[0][2] == 2  # both workers were forked before the first call


def test_workers_start_fresh_when_the_caller_runs_other_threads(tree):
    """An application (a language server, a test runner) may call check() with threads of its
    own running: fork could then deadlock a worker, so the workers are started fresh, and the
    findings are the same."""
    import threading
    import warnings

    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            two = check([str(tree)], isolated=True, cwd=str(tree), jobs=2,
                        progress=lambda done, total: None)
    finally:
        stop.set()
        other.join()
    assert not [w for w in caught if "multi-threaded" in str(w.message)]  # Python 3.12+ warns on fork
    assert _key(two) == _key(check([str(tree)], isolated=True, cwd=str(tree), jobs=1))
