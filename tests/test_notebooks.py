"""Jupyter notebooks (dropout_guard.lint.notebook): read as the script of their code cells,
findings reported per cell, fixes written back in Jupyter's own layout."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from dropout_guard.cli import main
from dropout_guard.lint.api import check, fix
from dropout_guard.lint.notebook import Notebook, NotebookError, dumps, mask_magics

ROOT = Path(__file__).resolve().parent.parent
SCORING = ROOT / "fixtures" / "notebooks" / "scoring.ipynb"


def code(src: str, n: int = 1) -> dict:
    return {"cell_type": "code", "execution_count": n, "id": f"c{n}", "metadata": {}, "outputs": [],
            "source": src.splitlines(keepends=True)}


def markdown(src: str) -> dict:
    return {"cell_type": "markdown", "id": "md", "metadata": {}, "source": src}


def notebook(*cells, language="python") -> dict:
    return {"cells": list(cells), "metadata": {"language_info": {"name": language}}, "nbformat": 4,
            "nbformat_minor": 5}


def write_nb(path: Path, nb: dict) -> Path:
    path.write_text(dumps(nb, "x\n"), encoding="utf-8")
    return path


def found(path: Path, **kw):
    return [(f.code, f.cell, f.line, f.column) for f in check([str(path)], isolated=True, cwd=str(path.parent),
                                                               **kw).findings]


IMPORTS = "import torch\nfrom torch import nn\nimport torch.nn.functional as F"
BUG = ("model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.2))\nmodel.load_state_dict(torch.load('m.pt')); x = torch.ones(1, 4)\n"
       "with torch.no_grad():\n    y = model(x)")


# -- reading ---------------------------------------------------------------------------------
def test_the_fixture_reports_cell_3_line_5():
    result = check([str(SCORING)], isolated=True, cwd=str(SCORING.parent))
    first = result.findings[0]
    assert (first.code, first.cell, first.line, first.column, first.end_line, first.end_column) == \
        ("DG101", 3, 5, 9, 5, 17)
    assert {(f.code, f.cell) for f in result.findings} == {("DG101", 3), ("DG101", 6), ("DG201", 6),
                                                         ("DG301", 7)}


def test_messages_quote_lines_as_cell_and_row(tmp_path):
    """A line a message refers to is given as the cell and row users see, not as a row of
    the concatenated script the analysis reads."""
    path = write_nb(tmp_path / "nb.ipynb", notebook(
        code(IMPORTS, 1), markdown("# Model"),
        code("x = torch.ones(1, 4)\nmodel = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.2))\n"
             "model.load_state_dict(torch.load('m.pt'))", 2),
        code("with torch.no_grad():\n    y = model(x)", 3)))
    (finding,) = check([str(path)], isolated=True, cwd=str(tmp_path), select=["DG101"]).findings
    assert (finding.cell, finding.line) == (4, 2)
    assert "built by `nn.Sequential(...)` at cell 3, line 2" in finding.message
    assert "line 5" not in finding.message  # the row of the concatenated script


def test_magics_shell_lines_and_markdown_keep_positions(tmp_path):
    path = write_nb(tmp_path / "nb.ipynb", notebook(
        markdown("# title"),
        code("%matplotlib inline\n!pip install torch\n" + IMPORTS),
        code("files = !ls\nfor f in files:\n    !echo {f}\nnn?\n" + BUG),
    ))
    assert found(path) == [("DG101", 3, 8, 9)]


def test_a_shell_line_continued_with_backslashes_is_masked_whole(tmp_path):
    """``!python prep.py \\`` with its arguments on the next lines is one shell command
    (peft's token-classification notebook): every line of it is masked, and a fix in the
    cell writes each of them back as it was."""
    shell = "!python prep.py --data_dir data \\\n                 --split train \\\n        --out data\n"
    path = write_nb(tmp_path / "nb.ipynb", notebook(code(IMPORTS, 1), code(shell + BUG, 2)))
    assert found(path) == [("DG101", 2, 7, 9)]
    outcome = fix([str(path)], unsafe=True, isolated=True, cwd=str(tmp_path))
    assert outcome.fixed_total == 1 and not outcome.result.findings
    source = json.loads(path.read_text(encoding="utf-8"))["cells"][1]["source"]
    assert "".join(source).startswith(shell)
    assert "model.eval()\n" in "".join(source)


def test_cell_magic_cells_are_skipped_and_counted(tmp_path):
    path = write_nb(tmp_path / "nb.ipynb", notebook(
        code(IMPORTS),
        code("%%bash\nthis is not python (\n"),
        markdown("text"),
        code(BUG),
    ))
    assert found(path) == [("DG101", 4, 4, 9)]


def test_cell_magics_that_run_python_are_analysed(tmp_path):
    # `%%time` (`%%timeit`, `%%capture`...) runs its cell as Python: a training cell timed
    # with it trains the model the next cell predicts with; only the magic line is masked
    train = ("%%time\nmodel = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.2))\n"
             "opt = torch.optim.SGD(model.parameters(), lr=0.1)\nfor _ in range(3):\n"
             "    loss = model(torch.ones(1, 4)).sum()\n    loss.backward()\n    opt.step()")
    path = write_nb(tmp_path / "nb.ipynb", notebook(code(IMPORTS), code(train), code("model.eval()\ny = model(torch.ones(1, 4))")))
    assert found(path) == [("DG201", 3, 2, 5)]
    assert Notebook(path.read_text()).cells[1].masked.startswith("pass\nmodel = nn.Sequential")


def test_a_cell_that_is_not_python_is_dg000_and_the_rest_is_analysed(tmp_path):
    path = write_nb(tmp_path / "nb.ipynb", notebook(code(IMPORTS), code("def broken(:\n    pass"), code(BUG)))
    result = check([str(path)], isolated=True, cwd=str(tmp_path)).findings
    assert [(f.code, f.cell, f.line) for f in result] == [("DG000", 2, 1), ("DG101", 3, 4)]
    assert "this cell was not analysed" in result[0].message


def test_python2_cells_are_read_as_python3_and_kept_as_written(tmp_path):
    # a Python 2 problem-set notebook: `print x` cells are analysed, as a .py file's are
    nb = notebook(code(IMPORTS), code("print 'loading'\nx = 1"), code(BUG), code("print x"))
    path = write_nb(tmp_path / "nb.ipynb", nb)
    result = check([str(path)], isolated=True, cwd=str(tmp_path)).findings
    assert [(f.code, f.cell, f.line) for f in result] == [("DG101", 3, 4)]
    assert Notebook(path.read_text()).cells[1].masked.startswith("print 'loading'")


def test_an_exercise_notebook_with_blanks_gets_one_dg000(tmp_path):
    # `x = ___` and `model = ...  # YOUR CODE HERE` are Python; `<fill in>` blanks are not
    path = write_nb(tmp_path / "nb.ipynb", notebook(
        code(IMPORTS), markdown("## Exercise 1"), code("x = ___\nmodel = ...  # YOUR CODE HERE"),
        code("y = <fill in>"), code("loss = <YOUR CODE>"), markdown("## Exercise 3"), code("opt = <fill in>(model)"),
        code(BUG)))
    result = check([str(path)], isolated=True, cwd=str(tmp_path)).findings
    assert [(f.code, f.cell, f.line) for f in result] == [("DG000", 4, 1), ("DG101", 8, 4)]
    assert result[0].message.endswith(
        "(this cell and 2 other cells that are not Python (cells 5, 7) were not analysed: 3 cells skipped)")


@pytest.mark.parametrize("text,message", [
    ('{"cells": [', "invalid notebook JSON"),
    ("[]", "no `cells` list"),
    ('{"worksheets": [], "nbformat": 3}', "nbformat 3"),
])
def test_invalid_notebooks_are_dg000(tmp_path, text, message):
    path = tmp_path / "bad.ipynb"
    path.write_text(text, encoding="utf-8")
    [f] = check([str(path)], isolated=True, cwd=str(tmp_path)).findings
    assert f.code == "DG000" and message in f.message and f.cell is None


def test_invalid_json_points_at_the_error(tmp_path):
    path = tmp_path / "bad.ipynb"
    path.write_text('{\n "cells": [\n  {"cell_type": "code",,}\n ]\n}\n', encoding="utf-8")
    [f] = check([str(path)], isolated=True, cwd=str(tmp_path)).findings
    assert (f.line, f.column) == (3, 24)


def test_jupyter_checkpoints_are_excluded_by_default(tmp_path):
    nb = notebook(code(IMPORTS), code(BUG))
    write_nb(tmp_path / "nb.ipynb", nb)
    (tmp_path / ".ipynb_checkpoints").mkdir()
    write_nb(tmp_path / ".ipynb_checkpoints" / "nb-checkpoint.ipynb", nb)
    result = check([str(tmp_path)], isolated=True, cwd=str(tmp_path))
    assert [(f.path, f.code, f.cell) for f in result.findings] == [("nb.ipynb", "DG101", 2)]


def test_a_class_redefined_in_a_later_cell_is_not_applied_to_earlier_cells(tmp_path):
    with_dropout = ("class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                    "        self.drop = nn.Dropout(0.5)\n\n    def forward(self, x):\n        return self.drop(x)")
    without = "class Net(nn.Module):\n    def forward(self, x):\n        return x * 2"
    use = "model = Net()\nmodel.load_state_dict(torch.load('w.pt'))\nwith torch.no_grad():\n    y = model(torch.ones(1, 4))"
    path = write_nb(tmp_path / "nb.ipynb", notebook(
        code(IMPORTS), code(with_dropout), code(use), markdown("m"), code("print(1)"), code("x = 2"),
        code(without), code(use)))
    # cells 3-6 see the cell-2 Net (dropout: DG101); cell 8 sees the cell-7 one (none)
    assert found(path, select=["DG101"]) == [("DG101", 3, 4, 9)]
    path = write_nb(tmp_path / "nb.ipynb", notebook(
        code(IMPORTS), code(without), code(use), code(with_dropout), code(use)))
    assert found(path, select=["DG101"]) == [("DG101", 5, 4, 9)]


def test_other_kernels_are_not_analysed(tmp_path):
    path = write_nb(tmp_path / "nb.ipynb", notebook(code("library(torch)\nx <- 1"), language="R"))
    assert found(path) == []


def test_noqa_in_a_cell(tmp_path):
    path = write_nb(tmp_path / "nb.ipynb", notebook(code(IMPORTS), code(BUG + "  # noqa: DG101")))
    assert found(path) == []


def test_mask_magics_only_where_a_statement_begins():
    src = ("%time x = 1\n!ls -la 'it''s\n  %pwd\nfiles = !ls\nobj?\n??obj\n"
           "s = '''\n!not shell\n'''\ncall(\n    %not_a_magic\n)\nx = 1  # really?\n")
    masked, magics = mask_magics(src)
    assert masked.splitlines() == ["pass", "pass", "  pass", "pass", "pass", "pass", "s = '''", "!not shell",
                                   "'''", "call(", "    %not_a_magic", ")", "x = 1  # really?"]
    assert sorted(magics) == [1, 2, 3, 4, 5, 6]


def test_index_maps_rows_to_cells():
    nb = Notebook(json.dumps(notebook(markdown("m"), code("a = 1\nb = 2\n"), code("c = 3"))))
    assert nb.source == "a = 1\nb = 2\nc = 3\n"
    assert [nb.locate(r) for r in (1, 2, 3)] == [(2, 1), (2, 2), (3, 1)]


# -- output --------------------------------------------------------------------------------------
@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)

    def invoke(*args):
        return CliRunner().invoke(main, ["check", "--isolated", *args], catch_exceptions=False)

    return invoke


def test_text_json_and_github_outputs(run, tmp_path):
    shutil.copy(SCORING, tmp_path / "nb.ipynb")
    r = run("nb.ipynb")
    assert r.exit_code == 1
    assert r.stdout.startswith("nb.ipynb:cell 3:5:9: DG101 `model` may be in training mode")
    data = json.loads(run("--format", "json", "nb.ipynb").stdout)
    assert (data[0]["cell"], data[0]["line"], data[0]["location"]) == (3, 5, {"row": 5, "column": 9})
    assert data[0]["fix"]["edits"][0]["location"] == {"row": 5, "column": 1}  # relative to the cell, too
    gh = run("--format", "github", "nb.ipynb").stdout.splitlines()[0]
    assert gh.startswith("::error file=nb.ipynb,line=1,title=dropout-guard (DG101)::nb.ipynb:cell 3:5:9: DG101")


def test_cell_numbers_count_every_cell_in_every_output(run, tmp_path):
    """Cell N is the N-th cell of the notebook, markdown and raw cells included (ruff's
    numbering): the same number in text, JSON, SARIF properties, --diff, DG000 and the
    lines a message quotes."""
    nb = notebook(markdown("# T"), code(IMPORTS), markdown("m"), code("def broken(:\n    pass"),
                  {"cell_type": "raw", "metadata": {}, "source": "raw"}, code(BUG))
    write_nb(tmp_path / "nb.ipynb", nb)
    r = run("--select", "DG000,DG101", "nb.ipynb")
    lines = r.stdout.splitlines()
    assert lines[0].startswith("nb.ipynb:cell 4:1:")  and "DG000" in lines[0]
    assert lines[1].startswith("nb.ipynb:cell 6:4:9: DG101") and "at cell 6, line 1" in lines[1]
    data = json.loads(run("--select", "DG000,DG101", "--format", "json", "nb.ipynb").stdout)
    assert [(d["code"], d["cell"]) for d in data] == [("DG000", 4), ("DG101", 6)]
    doc = json.loads(run("--select", "DG101", "--format", "sarif", "nb.ipynb").stdout)
    assert doc["runs"][0]["results"][0]["properties"]["cell"] == 6
    diff = run("--select", "DG101", "--diff", "--unsafe-fixes", "nb.ipynb").stdout
    assert diff.startswith("--- nb.ipynb:cell 6\n")


# -- fixing --------------------------------------------------------------------------------------
def test_fix_writes_jupyter_layout_and_changes_only_fixed_cells(tmp_path):
    path = tmp_path / "nb.ipynb"
    shutil.copy(SCORING, path)
    original = json.loads(SCORING.read_text(encoding="utf-8"))
    outcome = fix([str(path)], unsafe=True, isolated=True, cwd=str(tmp_path))
    assert outcome.fixed_total == 4 and not outcome.result.findings
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    assert text == json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    new = data["cells"]
    assert new[2]["source"][-2:] == ["    model.eval()\n", "    y = model(x)  # a bug: model is still in training mode"]
    # the magics are back, at their place
    assert new[5]["source"] == ["files = !ls\n", "for name in files:\n", "    !echo {name}\n", "model?\n",
                                "%time model.eval()\n", "model.eval()\n", "with torch.no_grad():\n",
                                "    print(model(x))"]
    for i in (0, 1, 3, 4):  # untouched cells, byte for byte
        assert new[i] == original["cells"][i]
    again = fix([str(path)], unsafe=True, isolated=True, cwd=str(tmp_path))
    assert again.fixed_total == 0 and path.read_text(encoding="utf-8") == text


def test_fix_keeps_non_ascii_string_sources_and_missing_trailing_newline(tmp_path):
    nb = notebook(markdown("Température ✓"), code(IMPORTS),
                  {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                   "source": "class M(nn.Module):\n    def forward(self, x):\n        return F.dropout(x, 0.5)"})
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False), encoding="utf-8")
    fix([str(path)], isolated=True, cwd=str(tmp_path))
    text = path.read_text(encoding="utf-8")
    assert not text.endswith("\n") and "Température ✓" in text
    assert json.loads(text)["cells"][2]["source"].endswith("F.dropout(x, 0.5, training=self.training)")


def test_dg202_at_a_notebooks_top_level_uses_set_grad_enabled(tmp_path):
    path = write_nb(tmp_path / "nb.ipynb", notebook(code(IMPORTS), code("torch.no_grad()\nx = 1"), code("y = 2")))
    fix([str(path)], unsafe=True, isolated=True, select="DG202", cwd=str(tmp_path))
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    assert cells[1]["source"] == ["torch.set_grad_enabled(False)\n", "x = 1"]


def test_diff_is_per_cell(run, tmp_path):
    shutil.copy(SCORING, tmp_path / "nb.ipynb")
    r = run("--diff", "nb.ipynb")
    assert r.exit_code == 1
    assert r.stdout.startswith("--- nb.ipynb:cell 7\n+++ nb.ipynb:cell 7\n")
    assert (tmp_path / "nb.ipynb").read_bytes() == SCORING.read_bytes()


def test_dumps_matches_nbformat_layout():
    nb = {"b": 1, "a": ["é", {"z": 1, "y": [1, 2]}]}
    assert dumps(nb, "x\n") == '{\n "a": [\n  "é",\n  {\n   "y": [\n    1,\n    2\n   ],\n   "z": 1\n  }\n ],\n "b": 1\n}\n'
    assert dumps(nb, "x\r\n").endswith("}\r\n")


def test_notebook_error_carries_position():
    with pytest.raises(NotebookError) as exc:
        Notebook('{"cells": [1,]}')
    assert exc.value.line == 1 and "invalid notebook JSON" in exc.value.message


def test_sarif_fingerprints_read_the_cells_own_line():
    from dropout_guard.lint.report import sarif

    result = check([str(SCORING)], isolated=True, cwd=str(SCORING.parent))
    first = result.findings[0]
    assert sarif.line_text(first, result.sources) == "    y = model(x)  # a bug: model is still in training mode"
    [res] = sarif.to_sarif([first], result.sources)["runs"][0]["results"]
    assert res["properties"] == {"cell": 3, "cellLine": 5, "cellColumn": 9}


def _sarif_regions(path: Path, **kw):
    from dropout_guard.lint.report import sarif

    result = check([str(path)], isolated=True, cwd=str(path.parent), **kw)
    doc = sarif.to_sarif(result.findings, result.sources)
    return [(r["ruleId"], r["locations"][0]["physicalLocation"]["region"]) for r in doc["runs"][0]["results"]]


def _at(text: str, region: dict) -> str:
    """The raw file's text from a SARIF region's start to its end (one line)."""
    line = text.splitlines()[region["startLine"] - 1]
    assert region["endLine"] == region["startLine"]
    return line[region["startColumn"] - 1:region["endColumn"] - 1]


def test_sarif_regions_point_into_the_raw_notebook_file():
    """SARIF names the .ipynb file, and GitHub code scanning shows that file as stored: the
    region is where the cell's code is written in the raw JSON, not a row of the cell."""
    text = SCORING.read_text(encoding="utf-8")
    regions = _sarif_regions(SCORING)
    assert regions
    for code_, region in regions:
        assert region["startLine"] > 5  # (cell-relative rows would be 5 and less here)
    code_, region = regions[0]
    assert _at(text, region) == "model(x)"
    assert text.splitlines()[region["startLine"] - 1].strip().startswith('"    y = model(x)  # a bug')


@pytest.mark.parametrize("layout", ["jupyter", "string-sources", "minified"])
def test_sarif_regions_in_any_json_layout(tmp_path, layout):
    cells = [markdown("# Title\n\ntext"), code(IMPORTS), code('s = "tab\\t é"\n' + BUG)]
    if layout != "jupyter":
        for c in cells:
            c["source"] = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
    nb = notebook(*cells)
    text = json.dumps(nb) if layout == "minified" else dumps(nb, "x\n")
    path = tmp_path / "nb.ipynb"
    path.write_text(text, encoding="utf-8")
    [(code_, region)] = _sarif_regions(path, select=["DG101"])
    assert code_ == "DG101" and _at(text, region) == "model(x)"
    if layout == "minified":
        assert region["startLine"] == 1


def test_sarif_region_of_a_notebook_from_the_cache(tmp_path):
    path = write_nb(tmp_path / "nb.ipynb", notebook(code(IMPORTS), code(BUG)))
    (tmp_path / "pyproject.toml").write_text("[tool.dropout-guard]\n", encoding="utf-8")

    def regions():
        from dropout_guard.lint.report import sarif

        result = check([str(path)], cwd=str(tmp_path), cache=True)
        doc = sarif.to_sarif(result.findings, result.sources)
        return [r["locations"][0]["physicalLocation"]["region"] for r in doc["runs"][0]["results"]]

    cold = regions()
    assert (tmp_path / ".dropout_guard_cache").exists()
    assert regions() == cold and _at(path.read_text(encoding="utf-8"), cold[0]) == "model(x)"


def test_a_model_call_ending_a_cell_is_displayed_so_it_is_a_prediction(tmp_path):
    """Jupyter shows the value of a cell's last expression: ``model(x)`` there is read (a
    prediction), while the same bare call followed by more statements is a dry run."""
    setup = ("import torch\nfrom torch import nn\nmodel = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.2))\n"
             "model.load_state_dict(torch.load('w.pt'))\nx = torch.ones(1, 4)\n")
    path = write_nb(tmp_path / "shown.ipynb", notebook(
        code(setup, 1),
        code("model(x)\n", 2),  # shown: a prediction in training mode, with grad on
        code("model(x)\nprint('warmed up')\n", 3),  # not last in its cell: a dry run
    ))
    assert sorted(found(path)) == [("DG101", 2, 1, 1), ("DG201", 2, 1, 1)]
