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


def test_a_cell_that_is_not_python_is_dg000_and_the_rest_is_analysed(tmp_path):
    path = write_nb(tmp_path / "nb.ipynb", notebook(code(IMPORTS), code("def broken(:\n    pass"), code(BUG)))
    result = check([str(path)], isolated=True, cwd=str(tmp_path)).findings
    assert [(f.code, f.cell, f.line) for f in result] == [("DG000", 2, 1), ("DG101", 3, 4)]
    assert "this cell was not analysed" in result[0].message


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
    assert res["properties"] == {"cell": 3} and res["locations"][0]["physicalLocation"]["region"]["startLine"] == 5
