"""benchmarks/first_look.py: scoring a judged first-look batch against a new run (no network)."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("first_look", REPO / "benchmarks" / "first_look.py")
first_look = importlib.util.module_from_spec(_spec)
sys.modules["first_look"] = first_look
_spec.loader.exec_module(first_look)


def finding(path, line, code, cell=None):
    item = {"path": path, "line": line, "code": code, "message": "m"}
    if cell is not None:
        item["cell"] = cell
    return item


def sample(name, path, line, code, verdict, cell=None):
    return {"repo": f"o/{name}", "name": name, "path": path, "cell": cell, "line": line, "code": code,
            "verdict": verdict, "reason": "r", "shape": None}


def bug(name, path, line, code, reported, cell=None, alt=()):
    return {"repo": f"o/{name}", "name": name, "path": path, "cell": cell, "line": line,
            "alt_lines": list(alt), "code": code, "reported": reported, "shape": None, "note": ""}


FIRST_A = [finding("t.py", 10, "DG101"), finding("t.py", 10, "DG201"), finding("u.py", 3, "DG201"),
           finding("n.ipynb", 4, "DG201", cell=2)]
FIRST_B = [finding("m.py", 7, "DG101"), finding("m.py", 9, "DG201")]

RECORD = {
    "batch": "mini",
    "repos": [
        {"repo": "o/a", "name": "a", "commit": "0" * 40, "files": 3, "lines": 40_000, "findings": 4,
         "finding_keys": [list(first_look.finding_key(f)) for f in FIRST_A]},
        {"repo": "o/b", "name": "b", "commit": "1" * 40, "files": 1, "lines": 60_000, "findings": 2,
         "finding_keys": [list(first_look.finding_key(f)) for f in FIRST_B]},
    ],
    "sample": [
        sample("a", "t.py", 10, "DG101", "false"),
        sample("a", "t.py", 10, "DG201", "true"),
        sample("a", "n.ipynb", 4, "DG201", "true", cell=2),
        sample("b", "m.py", 7, "DG101", "false"),
        sample("b", "m.py", 9, "DG201", "debatable"),
    ],
    "bugs": [
        bug("a", "u.py", 3, "DG201", True),
        bug("a", "v.py", 20, "DG201", False, alt=(22,)),
        bug("a", "n.ipynb", 4, "DG201", True, cell=2),
        bug("b", "m.py", 30, "DG101", False),
    ],
}


def test_first_run_reproduces_the_record():
    result = first_look.score(RECORD, {"a": FIRST_A, "b": FIRST_B})
    assert result["sample_kept"] == {"true": 2, "debatable": 1, "false": 2}
    assert result["precision"] == pytest.approx(2 / 5)
    assert result["precision_lenient"] == pytest.approx(3 / 5)
    assert result["sample_kept_by_code"]["DG101"] == {"true": 0, "debatable": 0, "false": 2}
    assert result["sample_kept_by_code"]["DG201"] == {"true": 2, "debatable": 1, "false": 0}
    # a: false share 1/3 of 4 findings; b: 1/2 of 2 findings -> (4/3 + 1) false in 100k lines
    assert result["false_per_100k_lines"] == pytest.approx(4 / 3 + 1)
    assert result["precision_weighted"] == pytest.approx((4 * 2 / 3) / 6)
    assert (result["bugs"], result["bugs_found"]) == (4, 2)
    assert not (result["false_gone"] or result["true_lost"] or result["bugs_newly_found"]
                or result["bugs_lost"] or result["unreviewed"])


def test_changes_are_classified():
    now_a = [finding("t.py", 10, "DG201"),             # the false DG101 is gone, the true DG201 stays
             finding("u.py", 3, "DG201"),
             finding("n.ipynb", 4, "DG201", cell=3),   # same line, another cell: the bug is lost
             finding("v.py", 22, "DG201")]             # a recorded miss, found at its alternative line
    now_b = [finding("m.py", 7, "DG101"), finding("m.py", 30, "DG102")]  # wrong code: still a miss
    result = first_look.score(RECORD, {"a": now_a, "b": now_b})
    assert [s["path"] for s in result["false_gone"]] == ["t.py"]
    assert [(s["path"], s["cell"]) for s in result["true_lost"]] == [("n.ipynb", 2)]
    assert [s["path"] for s in result["debatable_gone"]] == ["m.py"]
    assert result["sample_kept"] == {"true": 1, "debatable": 0, "false": 1}
    assert [b["path"] for b in result["bugs_newly_found"]] == ["v.py"]
    assert [b["path"] for b in result["bugs_lost"]] == ["n.ipynb"]
    assert result["bugs_found"] == 2 and result["recall"] == pytest.approx(0.5)
    assert result["unreviewed"] == {"a": [("n.ipynb", 3, 4, "DG201"), ("v.py", None, 22, "DG201")],
                                    "b": [("m.py", None, 30, "DG102")]}
    # a keeps one true (1/1 of 4 findings), b one false (1/1 of 2 findings)
    assert result["false_per_100k_lines"] == pytest.approx(2.0)


def test_missing_repository_is_left_out():
    result = first_look.score(RECORD, {"a": FIRST_A})
    assert result["repos"] == 1 and result["lines"] == 40_000 and result["sample"] == 3
    assert result["bugs"] == 3


def test_main_scores_saved_reports(tmp_path, capsys):
    record = tmp_path / "record.json"
    record.write_text(json.dumps(RECORD), encoding="utf-8")
    saved = tmp_path / "saved"
    saved.mkdir()
    (saved / "a.json").write_text(json.dumps(FIRST_A), encoding="utf-8")
    (saved / "b.json").write_text(json.dumps(FIRST_B), encoding="utf-8")
    assert first_look.main([str(tmp_path), "--record", str(record), "--from-json", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "true 2, debatable 1, false 2 -> 40%" in out
    assert "recall: 2/4 recorded bugs reported -> 50%" in out
    (saved / "b.json").unlink()
    assert first_look.main([str(tmp_path), "--record", str(record), "--from-json", str(saved)]) == 2


def test_count_lines_reads_code_cells(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\ny = 2\n", encoding="utf-8")
    nb = {"cells": [{"cell_type": "code", "source": ["a = 1\n", "b = 2"]},
                    {"cell_type": "markdown", "source": "# title\ntext"}]}
    (tmp_path / "n.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "hook.py").write_text("z = 3\n", encoding="utf-8")
    assert first_look.count_lines(tmp_path) == (2, 4)


@pytest.mark.parametrize("batch", ["batch1.json", "batch2.json", "batch3a.json", "batch3b.json", "batch4a.json", "batch4b.json",
                                   "batch5a.json", "batch5b.json", "batch6a.json", "batch6b.json",
                                   "batch7a.json", "batch7b.json", "batch8a.json", "batch8b.json"])
def test_committed_batch_is_consistent(batch):
    """A recorded batch: judged, and its recorded 'reported' flags agree with its first run."""
    record = json.loads((REPO / "benchmarks" / "first_look" / batch).read_text(encoding="utf-8"))
    first = {r["name"]: [{"path": p, "cell": c, "line": l, "code": k} for p, c, l, k in r["finding_keys"]]
             for r in record["repos"]}
    for s in record["sample"]:
        assert s["verdict"] in first_look.VERDICTS and s["reason"]
        assert s["verdict"] != "false" or s["shape"]
    result = first_look.score(record, first)
    assert result["sample"] == len(record["sample"]) == sum(result["sample_kept"].values())
    assert result["bugs_found"] == sum(b["reported"] for b in record["bugs"])
    assert not result["unreviewed"]
    for r in record["repos"]:
        assert r["findings"] == len(r["finding_keys"])
        assert not set(record.get("ignore_codes", ())) & {k[3] for k in r["finding_keys"]}
    for c in record.get("dg101_census", []):
        assert c["verdict"] in first_look.VERDICTS and (c["verdict"] != "false" or c["shape"])
        assert [c["path"], c["cell"], c["line"], "DG101"] in next(
            r["finding_keys"] for r in record["repos"] if r["name"] == c["name"])


def test_ignored_codes_are_left_out_of_the_run():
    """DG000 (a file that does not parse) is no mode finding: not counted, not unreviewed."""
    record = dict(RECORD, ignore_codes=["DG000"])
    parse = finding("old.py", 1, "DG000")
    result = first_look.score(record, {"a": FIRST_A + [parse], "b": FIRST_B})
    assert result["findings_now"] == 6 and not result["unreviewed"]
    result = first_look.score(RECORD, {"a": FIRST_A + [parse], "b": FIRST_B})
    assert result["findings_now"] == 7 and result["unreviewed"] == {"a": [("old.py", None, 1, "DG000")]}


def test_main_scores_several_batches(tmp_path, capsys):
    other = dict(RECORD, batch="other", repos=[RECORD["repos"][1]],
                 sample=[s for s in RECORD["sample"] if s["name"] == "b"],
                 bugs=[b for b in RECORD["bugs"] if b["name"] == "b"])
    paths = []
    for name, rec in (("one.json", RECORD), ("two.json", other)):
        paths += ["--batch", str(tmp_path / name)]
        (tmp_path / name).write_text(json.dumps(rec), encoding="utf-8")
    saved = tmp_path / "saved"
    saved.mkdir()
    for name, items in (("a", FIRST_A), ("b", FIRST_B)):
        (saved / f"{name}.json").write_text(json.dumps(items), encoding="utf-8")
    assert first_look.main([str(tmp_path), *paths, "--from-json", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "batch mini: 2 repositories" in out and "batch other: 1 repositories" in out
    assert first_look.main([str(tmp_path), *paths, "--from-json", str(saved), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["repos"] for r in results] == [2, 1]


def test_census_counts_what_is_still_reported():
    record = dict(RECORD, dg101_census=[
        {"name": "a", "path": "t.py", "cell": None, "line": 10, "verdict": "false", "shape": "s"},
        {"name": "b", "path": "m.py", "cell": None, "line": 7, "verdict": "debatable", "shape": None}])
    result = first_look.score(record, {"a": [], "b": FIRST_B})
    assert result["census"] == 2
    assert result["census_kept"] == {"true": 0, "debatable": 1, "false": 0}
