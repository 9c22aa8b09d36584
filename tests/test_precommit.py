"""The pre-commit hook, end to end: ``pre-commit try-repo`` on a small git repository.

pre-commit installs the hook repository into a fresh virtualenv with ``pip install .``,
which needs the package index and takes a while: the test is marked slow. It copies the
project's packaging files and package into a temporary git repository first, so it does
not depend on the state of the working tree it runs from.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HOOKS = REPO / ".pre-commit-hooks.yaml"

pytestmark = pytest.mark.slow

needs_tools = pytest.mark.skipif(
    shutil.which("git") is None or importlib.util.find_spec("pre_commit") is None,
    reason="needs git and pre-commit (pip install pre-commit)",
)


def git(*args, cwd):
    subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid",
                    "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
                   cwd=cwd, check=True, capture_output=True, text=True)


def pre_commit(*args, cwd, home):
    env = dict(os.environ, PRE_COMMIT_HOME=str(home), PRE_COMMIT_COLOR="never")
    env.pop("PYTHONPATH", None)
    return subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=1500)


def copy_project(dst: Path) -> None:
    """The files that `pip install .` needs, without caches or the outer repository's state."""
    dst.mkdir()
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml", ".gitignore"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, dst / name)
    for lic in REPO.glob("LICENSE*"):
        shutil.copy2(lic, dst / lic.name)
    shutil.copytree(REPO / "dropout_guard", dst / "dropout_guard",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))


@needs_tools
def test_manifest_is_valid():
    r = subprocess.run([sys.executable, "-m", "pre_commit", "validate-manifest", str(HOOKS)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


@needs_tools
def test_hook_fails_on_a_bug_and_passes_when_clean(tmp_path):
    hook_repo = tmp_path / "hook-repo"
    copy_project(hook_repo)
    git("init", "-q", cwd=hook_repo)
    git("add", "-A", cwd=hook_repo)
    git("commit", "-q", "-m", "snapshot", cwd=hook_repo)

    project = tmp_path / "project"
    (project / "gen").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[tool.dropout-guard]\nextend-exclude = ["gen"]\n')
    (project / "gen" / "generated.py").write_text("def broken(:\n")  # excluded: --force-exclude keeps it out
    (project / "train.py").write_text("import torch\n\ndef predict(model, x)\n    return model(x)\n")
    (project / "README.txt").write_text("not python\n")
    git("init", "-q", cwd=project)
    git("add", "-A", cwd=project)

    home = tmp_path / "pre-commit-home"
    r = pre_commit("try-repo", str(hook_repo), "dropout-guard", "--all-files", cwd=project, home=home)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "train.py:3:22: DG000 SyntaxError" in out
    assert "generated.py" not in out

    (project / "train.py").write_text("import torch\n\ndef predict(model, x):\n    return model(x)\n")
    git("add", "-A", cwd=project)
    r = pre_commit("try-repo", str(hook_repo), "dropout-guard", "--all-files", cwd=project, home=home)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Passed" in r.stdout
