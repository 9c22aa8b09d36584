"""Texts read instead of the disk (``sources=`` of the API, ``check --stdin-filename``), and
the lines a finding's message names (``Finding.related``)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dropout_guard.cli import main
from dropout_guard.lint.api import check, fix_paths, load_settings

from programs import BLOCK, LOOP, TRAIN  # noqa: E402

BLOCK_FIXED = BLOCK.replace("p=0.1)", "p=0.1, training=self.training)")


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)

    def invoke(*args, stdin=""):
        return CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)

    return invoke


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github"])
def test_stdin_is_reported_as_the_given_path_in_every_format(run, tmp_path, fmt):
    (tmp_path / "pkg").mkdir()
    result = run("check", "--format", fmt, "--stdin-filename", "pkg/block.py", "-", stdin=BLOCK)
    assert result.exit_code == 1, result.output
    if fmt == "text":
        assert "pkg/block.py:7:16: DG301" in result.output
    elif fmt == "json":
        [f] = json.loads(result.output)
        assert (f["code"], f["path"], f["line"]) == ("DG301", "pkg/block.py", 7)
        assert f["filename"] == str(tmp_path / "pkg" / "block.py")
    elif fmt == "sarif":
        [res] = json.loads(result.output)["runs"][0]["results"]
        assert res["ruleId"] == "DG301"
        assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("pkg/block.py")
    else:
        assert "file=pkg/block.py,line=7" in result.output


def test_stdin_replaces_the_file_on_disk(run, tmp_path):
    (tmp_path / "block.py").write_text(BLOCK_FIXED)
    assert run("check", "--stdin-filename", "block.py", stdin=BLOCK).exit_code == 1
    (tmp_path / "block.py").write_text(BLOCK)
    result = run("check", "--stdin-filename", "block.py", "-", stdin=BLOCK_FIXED)
    assert result.exit_code == 0, result.output


def test_stdin_takes_the_configuration_of_its_path(run, tmp_path):
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "pyproject.toml").write_text('[tool.dropout-guard]\nignore = ["DG301"]\n')
    assert run("check", "--stdin-filename", "proj/block.py", "-", stdin=BLOCK).exit_code == 0
    assert run("check", "--stdin-filename", "block.py", "-", stdin=BLOCK).exit_code == 1


@pytest.mark.parametrize("args, why", [
    (["check", "-"], "needs --stdin-filename"),
    (["check", "--stdin-filename", "a.py", "-", "other.py"], "no other paths"),
    (["check", "--fix", "--stdin-filename", "a.py", "-"], "do not read standard input"),
])
def test_stdin_usage_errors(run, args, why):
    result = run(*args, stdin=BLOCK)
    assert result.exit_code == 2
    assert why in result.output


def test_a_buffer_never_comes_from_nor_goes_to_the_cache(tmp_path):
    (tmp_path / "block.py").write_text(BLOCK)
    assert [f.code for f in check([tmp_path], cache=True, cwd=tmp_path).findings] == ["DG301"]
    buffer = {tmp_path / "block.py": BLOCK_FIXED}
    assert check([tmp_path], cache=True, cwd=tmp_path, sources=buffer).findings == []
    assert [f.code for f in check([tmp_path], cache=True, cwd=tmp_path).findings] == ["DG301"]
    (tmp_path / "block.py").write_text(BLOCK_FIXED)
    assert [f.code for f in check([tmp_path], cache=True, cwd=tmp_path,
                                  sources={tmp_path / "block.py": BLOCK}).findings] == ["DG301"]


def test_a_buffer_not_on_disk_is_linted_when_named(tmp_path):
    new = tmp_path / "new.py"
    result = check([tmp_path, new], cwd=tmp_path, sources={new: BLOCK})
    assert [(f.code, f.path) for f in result.findings] == [("DG301", "new.py")]


def test_fix_paths_fixes_a_buffer_without_writing(tmp_path):
    (tmp_path / "block.py").write_text(BLOCK_FIXED)
    path = str(tmp_path / "block.py")
    outcome = fix_paths([tmp_path], load_settings([tmp_path], cwd=tmp_path), write=False, cwd=tmp_path,
                        sources={path: BLOCK})
    old, new = outcome.changed[path]
    assert old == BLOCK and "training=self.training" in new
    assert (tmp_path / "block.py").read_text() == BLOCK_FIXED


def test_related_lines_are_those_the_message_names_also_from_the_cache(tmp_path):
    (tmp_path / "loop.py").write_text(LOOP)
    (tmp_path / "train.py").write_text(TRAIN)
    for _ in range(2):  # analysed, then read back from the cache
        [f] = check([tmp_path], cache=True, cwd=tmp_path).findings
        assert f.code == "DG102"
        # the helper that trains, the evaluation that switched to eval, the loop the switch goes in
        assert [(Path(r.path).name, r.line) for r in f.related] == [("loop.py", 7), ("train.py", 12), ("train.py", 10)]
        assert f.related[0].message == "Which trains it (see line 7 of `loop.py`)"
        assert f.related[1].message == "It was switched to eval by `evaluate(...)` at line 12"
        assert "\x00" not in f.message and "line 7 of `loop.py`" in f.message


def test_check_paths_can_keep_a_notebooks_concatenated_rows_and_the_cache_stays_in_cells(tmp_path):
    from dropout_guard.lint.api import check_paths

    cells = [{"cell_type": "markdown", "metadata": {}, "source": "# Block\n"},
             {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": "import torch\n"},
             {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": BLOCK}]
    (tmp_path / "nb.ipynb").write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                                   "nbformat_minor": 5}))
    settings = load_settings([tmp_path], cwd=tmp_path)
    cache = tmp_path / "cache"
    for cells_, expected in [(True, (3, 7)), (False, (None, 8)), (True, (3, 7)), (False, (None, 8))]:
        [f] = check_paths([tmp_path], settings, cwd=tmp_path, cache_dir=cache, cells=cells_).findings
        assert (f.code, f.cell, f.line) == ("DG301", *expected)
        edit_rows = {e.line for e in f.fix.edits}
        assert edit_rows == {expected[1]}
