"""--jobs, the results cache and the trigger prefilter never change the findings."""
from __future__ import annotations

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
    target.write_text(text.replace("    model.eval  # expect: DG103\n", "    model.eval()\n"))
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
    (tmp_path / "infer.py").write_text("import torch\nnet = torch.nn.Sequential(torch.nn.Dropout())\nnet(1)\n")
    seen = []
    real = analysis._analyze_part
    monkeypatch.setattr(analysis, "_analyze_part", lambda files, *a: seen.append([f.display for f in files]) or real(
        files, *a))
    result = check([str(tmp_path)], isolated=True, cwd=str(tmp_path))
    assert seen == [["infer.py"]]
    assert [f.code for f in result.findings] == ["DG101", "DG201"]
