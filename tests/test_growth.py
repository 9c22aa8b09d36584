"""Cost that grows linearly with the size of a function and of a file, checked without a
clock: the work is counted in Python function calls (``sys.setprofile``), and the report in
bytes, for ``n`` and ``2n``. A quadratic step shows as a ratio near 4, a linear one near 2,
on any machine, however loaded. The wall-clock figures are in benchmarks/growth.py.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from dropout_guard.lint import api
from dropout_guard.lint.findings import Edit, Fix
from dropout_guard.lint.fixes import apply_fixes
from dropout_guard.lint.report import json_

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from growth import long_function, many_functions  # noqa: E402

LIMIT = 2.2  # per doubling: linear, with room for a logarithmic factor


def calls_to_check(path: Path, **kw) -> tuple:
    """(Python calls made by a whole check of ``path``, its JSON report)."""
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        if event == "call":
            count += 1

    sys.setprofile(profile)
    try:
        result = api.check([str(path)], cwd=str(path.parent), **kw)
    finally:
        sys.setprofile(None)
    return count, json_.render(result.findings), result


@pytest.mark.parametrize("make, n", [(long_function, 150), (many_functions, 120)], ids=["long-function", "many-functions"])
def test_work_and_report_grow_linearly(tmp_path, make, n):
    small, large = tmp_path / "small.py", tmp_path / "large.py"
    small.write_text(make(n))
    large.write_text(make(2 * n))
    calls_small, report_small, res_small = calls_to_check(small)
    calls_large, report_large, res_large = calls_to_check(large)
    assert len(res_large.findings) >= 2 * n  # a DG101 and a DG201 at each prediction, at least
    assert calls_large / calls_small <= LIMIT, (calls_small, calls_large)
    assert len(report_large) / len(report_small) <= LIMIT, (len(report_small), len(report_large))


def test_selected_rule_alone_grows_linearly(tmp_path):
    small, large = tmp_path / "small.py", tmp_path / "large.py"
    small.write_text(long_function(150))
    large.write_text(long_function(300))
    a, _, _ = calls_to_check(small, select=["DG101"])
    b, _, _ = calls_to_check(large, select=["DG101"])
    assert b / a <= LIMIT, (a, b)


def test_a_run_of_predictions_shares_one_fix(tmp_path):
    path = tmp_path / "script.py"
    path.write_text(long_function(40))
    result = api.check([str(path)], cwd=str(tmp_path))
    by_code = {}
    for f in result.findings:
        if f.line > 16:  # the predictions of main()
            by_code.setdefault(f.code, []).append(f)
    assert {c: len(fs) for c, fs in by_code.items()} == {"DG101": 40, "DG201": 40}
    for code, fs in by_code.items():
        assert len({id(f.fix) for f in fs}) == 1, code  # one object, not one copy per finding
    wrap = by_code["DG201"][0].fix
    assert wrap.message.startswith("Wrap") and len(wrap.edits) == 40  # the header and 39 more re-indented lines

    data = json.loads(json_.render(result.findings))
    rows = [d for d in data if d["line"] > 16 and d["code"] == "DG201"]
    assert len(rows[0]["fix"]["edits"]) == 40 and "shared_with" not in rows[0]["fix"]
    for d in rows[1:]:
        assert d["fix"]["edits"] == [] and d["fix"]["applicability"] == "unsafe"
        assert d["fix"]["shared_with"] == {"row": rows[0]["line"], "column": rows[0]["column"], "cell": None}


def test_applying_every_fix_of_a_json_report_is_applying_each_shared_fix_once(tmp_path):
    """A consumer that applies every fix of the report (all edits, each finding's) gets the
    text that ``--fix --unsafe-fixes`` writes."""
    path = tmp_path / "script.py"
    source = long_function(12)
    path.write_text(source)
    data = json.loads(json_.render(api.check([str(path)], cwd=str(tmp_path)).findings))
    fixes = [Fix("unsafe", d["fix"]["message"], tuple(
        Edit(e["content"], e["location"]["row"], e["location"]["column"], e["end_location"]["row"],
             e["end_location"]["column"]) for e in d["fix"]["edits"])) for d in data if d["fix"]]
    once = apply_fixes(source, fixes).text
    outcome = api.fix([str(path)], unsafe=True, write=False, cwd=str(tmp_path), max_rounds=1)
    assert outcome.changed[str(path)][1] == once


def test_apply_fixes_applies_a_shared_fix_once_and_counts_every_holder():
    shared = Fix("unsafe", "wrap", (Edit("    ", 2, 1, 2, 1), Edit("    ", 3, 1, 3, 1)))
    other = Fix("safe", "other", (Edit("X", 1, 1, 1, 2),))
    clash = Fix("safe", "clash", (Edit("Y", 2, 1, 2, 1),))  # another insertion where the shared fix inserts
    done = apply_fixes("a\nb\nc\n", [shared, other, shared, clash, shared])
    assert done.text == "X\n    b\n    c\n"
    assert done.applied == [0, 1, 2, 4]  # the clash waits for the next round


def test_apply_fixes_finds_conflicts_among_many_edits():
    """The neighbours-only conflict check agrees with the pairwise definition."""
    import random

    from dropout_guard.lint.fixes import _conflict

    rng = random.Random(7)
    text = "".join(f"line {i}\n" for i in range(60))
    for _ in range(200):
        fixes = []
        for _ in range(rng.randint(1, 8)):
            edits = []
            for _ in range(rng.randint(1, 3)):
                line = rng.randint(1, 60)
                col = rng.randint(1, 7)
                end = col + rng.choice((0, 0, 1, 2))
                edits.append(Edit(rng.choice("ab"), line, col, line, end))
            fixes.append(Fix("safe", "f", tuple(edits)))
        done = apply_fixes(text, fixes)
        spans = done.spans
        assert all(not _conflict(a, b) for i, a in enumerate(spans) for b in spans[i + 1:])
        # greedy maximality: every fix left out conflicts with what was applied, or within itself
        from dropout_guard.lint.fixes import SourceText, fix_spans

        st = SourceText(text)
        for i, fx in enumerate(fixes):
            if i in done.applied:
                continue
            mine = fix_spans(st, fx)
            if mine is None:
                continue  # an edit outside the text: never applied
            own = [s for s in dict.fromkeys(mine) if s not in set(spans)]
            assert any(_conflict(s, a) for s in own for a in spans) or \
                any(_conflict(a, b) for j, a in enumerate(own) for b in own[j + 1:])
