"""Project context: a file named alone is analysed with the rest of its project, and its
findings do not depend on which other files were named (``check F`` reports in F exactly
what ``check <project>`` reports there). See engine.discover_in_context."""
from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

import pytest
from click.testing import CliRunner

from dropout_guard.cli import main
from dropout_guard.lint.api import check, fix
from dropout_guard.lint.engine import context_root, find_project_root

REPO = Path(__file__).resolve().parents[1]
PROJECTS = REPO / "fixtures" / "projects"

NET = '''\
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Linear(4, 1))

    def forward(self, x):
        return self.body(x)
'''
HELPERS = '''\
import torch


def evaluate(model, batches):
    model.eval()
    with torch.no_grad():
        return [model(x) for x in batches]
'''
TRAIN = '''\
import torch

from helpers import evaluate
from nets import Net


def main(batches, epochs):
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model.train()
    for _ in range(epochs):
        for x in batches:
            loss = model(x).sum()
            loss.backward()
            opt.step()
        evaluate(model, batches)
'''


def at(findings, name: str) -> List[Tuple[str, int, int, str]]:
    return sorted((f.code, f.line, f.column, f.message) for f in findings if Path(f.abspath).name == name)


def project(tmp_path: Path, marker: str = "pyproject.toml") -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    if marker == ".git":
        (root / ".git").mkdir()
    else:
        (root / marker).write_text("")
    (root / "nets.py").write_text(NET)
    (root / "helpers.py").write_text(HELPERS)
    (root / "train.py").write_text(TRAIN)
    return root


@pytest.mark.parametrize("marker", ["pyproject.toml", "setup.cfg", "setup.py", ".git"])
def test_a_file_named_alone_keeps_its_cross_file_findings(tmp_path, marker):
    root = project(tmp_path, marker)
    whole = check(["."], cwd=root)
    alone = check(["train.py"], cwd=root)
    assert [c for c, *_ in at(whole.findings, "train.py")] == ["DG102"]
    assert at(alone.findings, "train.py") == at(whole.findings, "train.py")
    assert alone.files == ["train.py"] and alone.files_checked == 1
    assert {Path(f.abspath).name for f in alone.findings} == {"train.py"}  # only what was named is reported


def test_no_context_analyses_the_named_files_alone(tmp_path):
    root = project(tmp_path)
    assert at(check(["train.py"], cwd=root, context=False).findings, "train.py") == []
    assert at(check(["train.py", "helpers.py", "nets.py"], cwd=root, context=False).findings, "train.py") \
        == at(check(["train.py"], cwd=root).findings, "train.py")


def test_cli_context_options(tmp_path, monkeypatch):
    root = project(tmp_path)
    monkeypatch.chdir(root)
    runner = CliRunner()
    with_context = runner.invoke(main, ["check", "--no-cache", "train.py"])
    assert with_context.exit_code == 1 and "DG102" in with_context.output
    alone = runner.invoke(main, ["check", "--no-cache", "--no-context", "train.py"])
    assert alone.exit_code == 0, alone.output
    # a project root that does not hold the helper's folder: no helper, no finding
    (root / "sub").mkdir()
    (root / "sub" / "train.py").write_text(TRAIN)
    assert runner.invoke(main, ["check", "--no-cache", "--project-root", "sub", "sub/train.py"]).exit_code == 0
    bad = runner.invoke(main, ["check", "--project-root", "missing", "train.py"])
    assert bad.exit_code == 2 and "--project-root" in bad.output


def test_project_root_is_the_nearest_marker(tmp_path):
    root = project(tmp_path)
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "sub" / "m.py").write_text("")
    assert find_project_root(str(root / "pkg" / "sub" / "m.py")) == str(root)
    (root / "pkg" / "setup.py").write_text("")
    assert find_project_root(str(root / "pkg" / "sub" / "m.py")) == str(root / "pkg")
    assert find_project_root(str(root / "pkg")) == str(root / "pkg")


def test_src_layout_and_packages(tmp_path):
    root = tmp_path / "proj"
    pkg = root / "src" / "mypkg"
    pkg.mkdir(parents=True)
    (root / "pyproject.toml").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "nets.py").write_text(NET)
    (pkg / "helpers.py").write_text(HELPERS)
    (pkg / "train.py").write_text(TRAIN.replace("from helpers import evaluate", "from .helpers import evaluate")
                                  .replace("from nets import Net", "from mypkg.nets import Net"))
    whole = check(["."], cwd=root)
    assert [c for c, *_ in at(whole.findings, "train.py")] == ["DG102"]
    for named in ("src/mypkg/train.py", "src/mypkg", "src"):
        assert at(check([named], cwd=root).findings, "train.py") == at(whole.findings, "train.py"), named


def test_a_notebook_importing_project_modules(tmp_path):
    import json

    root = project(tmp_path)
    cells = [TRAIN.replace("def main(batches, epochs):", "def run(batches, epochs):")]
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": c, "outputs": [], "execution_count": None}
                    for c in cells], "metadata": {"language_info": {"name": "python"}}, "nbformat": 4,
          "nbformat_minor": 5}
    (root / "explore.ipynb").write_text(json.dumps(nb))
    whole = check(["."], cwd=root)
    alone = check(["explore.ipynb"], cwd=root)
    assert [c for c, *_ in at(whole.findings, "explore.ipynb")] == ["DG102"]
    assert at(alone.findings, "explore.ipynb") == at(whole.findings, "explore.ipynb")


def test_a_named_file_inside_an_excluded_folder_is_analysed_with_its_neighbours(tmp_path):
    root = project(tmp_path)
    (root / "pyproject.toml").write_text('[tool.dropout-guard]\nextend-exclude = ["examples"]\n')
    ex = root / "examples"
    ex.mkdir()
    for name in ("nets.py", "helpers.py", "train.py"):
        (ex / name).write_text((root / name).read_text())
    assert not [f for f in check(["."], cwd=root).findings if "examples" in f.path]
    folder = check(["examples"], cwd=root)
    alone = check(["examples/train.py"], cwd=root)
    assert [c for c, *_ in at(folder.findings, "train.py")] == ["DG102"]
    assert at(alone.findings, "train.py") == at(folder.findings, "train.py")


def test_fix_changes_only_the_named_files(tmp_path):
    root = project(tmp_path)
    (root / "predict.py").write_text("from nets import Net\n\n\ndef main(x):\n    model = Net()\n    return model(x)\n")
    before = {p.name: p.read_text() for p in root.glob("*.py")}
    outcome = fix(["train.py"], unsafe=True, cwd=root)
    assert set(outcome.changed) == {str(root / "train.py")}
    assert (root / "predict.py").read_text() == before["predict.py"]
    assert (root / "helpers.py").read_text() == before["helpers.py"]
    assert "model.train()" in (root / "train.py").read_text().split("for _ in range(epochs):")[1]


@pytest.mark.parametrize("folder", sorted(p.name for p in PROJECTS.iterdir() if p.is_dir()))
def test_every_fixture_project_file_alone_equals_the_whole_project(folder):
    """The subset-consistency check of the issue, on every file of fixtures/projects/."""
    top = PROJECTS / folder
    whole = check(["."], cwd=top)
    files = sorted(p for p in top.rglob("*") if p.suffix in (".py", ".ipynb"))
    assert files
    for path in files:
        rel = str(path.relative_to(top))
        alone = check([rel], cwd=top)
        assert at(alone.findings, path.name) == at([f for f in whole.findings if f.abspath == str(path)], path.name), rel


def test_a_checkout_folder_that_is_the_package_under_another_name(tmp_path):
    """A repository whose root is the package (its ``__init__.py`` at the top), checked out
    as ``face-kit`` and imported as ``face_kit`` (``package_dir={'face_kit': '.'}``): its
    scripts' imports of ``face_kit`` reach the project's files."""
    root = tmp_path / "face-kit"
    (root / "examples").mkdir(parents=True)
    (root / "setup.py").write_text("")
    (root / "__init__.py").write_text("from .helpers import evaluate\nfrom .nets import Net\n")
    (root / "nets.py").write_text(NET)
    (root / "helpers.py").write_text(HELPERS)
    (root / "examples" / "train.py").write_text(TRAIN.replace("from helpers import evaluate\nfrom nets import Net",
                                                              "from face_kit import Net, evaluate"))
    whole = check(["."], cwd=root)
    assert [c for c, *_ in at(whole.findings, "train.py")] == ["DG102"]
    assert at(check(["examples/train.py"], cwd=root).findings, "train.py") == at(whole.findings, "train.py")


def test_without_a_marker_a_named_file_is_analysed_with_its_folder(tmp_path):
    """No project marker anywhere above: a named file is analysed with the folder it would be
    analysed in when named (its folder, above any package it is part of), so `check train.py`
    == `check .` in train.py, with the same module names."""
    root = project(tmp_path)
    (root / "pyproject.toml").unlink()
    if find_project_root(str(root)) is not None:
        pytest.skip("a project marker above the temporary folder")
    whole = check(["."], cwd=root)
    assert [c for c, *_ in at(whole.findings, "train.py")] == ["DG102"]
    assert at(check(["train.py"], cwd=root).findings, "train.py") == at(whole.findings, "train.py")
    assert at(check([str(root / "train.py")], cwd=tmp_path).findings, "train.py") == at(whole.findings, "train.py")
    (root / "pkg").mkdir()
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "mod.py").write_text("")
    assert context_root(str(root / "train.py")) == str(root)
    assert context_root(str(root / "pkg" / "mod.py")) == str(root)  # above the package
    assert context_root(str(root / "pkg")) == str(root)


@pytest.mark.parametrize("line", ['sys.path.insert(0, "..")', "sys.path.append('../')",
                                  'sys.path.append(os.path.abspath(".."))'])
def test_without_a_marker_a_file_putting_the_folder_above_on_sys_path_is_analysed_there(tmp_path, line):
    """A chapter script that runs `sys.path.insert(0, "..")` and imports the helpers of the
    folder above (a book's notebooks next to its package) is analysed with that folder: its
    cross-file findings do not depend on the folder it is named from."""
    root = project(tmp_path)
    (root / "pyproject.toml").unlink()
    if find_project_root(str(root)) is not None:
        pytest.skip("a project marker above the temporary folder")
    (root / "chapter").mkdir()
    (root / "train.py").rename(root / "chapter" / "train.py")
    text = (root / "chapter" / "train.py").read_text()
    (root / "chapter" / "train.py").write_text(f"import os\nimport sys\n{line}\n{text}")
    whole = check(["."], cwd=root)
    assert [c for c, *_ in at(whole.findings, "train.py")] == ["DG102"]
    assert context_root(str(root / "chapter" / "train.py")) == str(root)
    assert at(check(["train.py"], cwd=root / "chapter").findings, "train.py") == at(whole.findings, "train.py")
    (root / "chapter" / "train.py").write_text(text)  # no sys.path line: the chapter's own folder
    assert context_root(str(root / "chapter" / "train.py")) == str(root / "chapter")
