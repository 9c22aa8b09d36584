"""Packaging: what a user installs, and the set-up that the README and CI share.

* The published metadata: no libcst (nothing imports it), torch only in the ``torch`` extra and
  never pinned to one build there; LICENSE and ``py.typed`` in the wheel; the project URLs.
* The wheel is built from this checkout with hatchling, in-process and offline (hatchling is
  in the dev extra). The slow test installs it into a fresh virtualenv without torch or
  libcst (the dependencies come from the package index) and runs the README's main job there.
* The README's set-up command is exactly what ``.ci/run`` installs with.
"""
from __future__ import annotations

import ast
import email
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def requirement_name(req: str) -> str:
    return re.match(r"[A-Za-z0-9._-]+", req).group(0).lower().replace("_", "-")


# -- metadata and imports, from the sources --------------------------------------------------------
def imported_roots(path: Path) -> set:
    roots = set()
    for node in ast.walk(ast.parse(path.read_bytes())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
    return roots


def test_nothing_imports_libcst_and_it_is_no_dependency():
    files = sorted((REPO / "dropout_guard").rglob("*.py")) + sorted((REPO / "tests").rglob("*.py"))
    assert len(files) > 20
    importers = [str(p.relative_to(REPO)) for p in files if "libcst" in imported_roots(p)]
    assert importers == []
    project = PYPROJECT["project"]
    every = project["dependencies"] + [r for reqs in project["optional-dependencies"].values() for r in reqs]
    assert "libcst" not in {requirement_name(r) for r in every}


def test_torch_is_only_in_its_extra_and_never_pinned_there():
    project = PYPROJECT["project"]
    assert "torch" not in {requirement_name(r) for r in project["dependencies"]}
    for extra, reqs in project["optional-dependencies"].items():
        for req in reqs:
            if requirement_name(req) == "torch":
                assert extra == "torch" and "==" not in req, (extra, req)


def test_project_urls_share_one_repository():
    urls = PYPROJECT["project"]["urls"]
    assert set(urls) == {"Homepage", "Documentation", "Repository", "Issues", "Changelog"}
    assert all(u.startswith(urls["Repository"]) for u in urls.values()), urls


# -- the built wheel ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("hatchling", reason="hatchling is in the dev extra")
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run([sys.executable, "-m", "hatchling", "build", "--target", "wheel", "--directory", str(out)],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    (built,) = out.glob("dropout_guard-*.whl")
    return built


def test_wheel_holds_the_package_py_typed_and_the_license(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {p.relative_to(REPO).as_posix() for p in (REPO / "dropout_guard").rglob("*.py")
               if "__pycache__" not in p.parts}
    assert sources <= names
    assert "dropout_guard/py.typed" in names
    (lic,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
    text = zipfile.ZipFile(wheel).read(lic).decode()
    assert text.startswith("MIT License") and "dropout-guard contributors" in text
    assert not {n.split("/")[0] for n in names} & {"tests", "fixtures", "benchmarks", "docs"}


def test_wheel_metadata(wheel):
    with zipfile.ZipFile(wheel) as zf:
        (meta_name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        meta = email.message_from_bytes(zf.read(meta_name))
        (ep_name,) = [n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt")]
        entry_points = zf.read(ep_name).decode()
    requires = meta.get_all("Requires-Dist")
    unconditional = {requirement_name(r) for r in requires if "extra ==" not in r}
    assert unconditional == {"click", "rich", "tomli"}
    torch = [r for r in requires if requirement_name(r) == "torch"]
    assert torch == ["torch>=2.1; extra == 'torch'"]
    assert meta["License-Expression"] == "MIT"
    assert {u.split(",")[0] for u in meta.get_all("Project-URL")} == set(PYPROJECT["project"]["urls"])
    assert "dropout-guard = dropout_guard.cli:main" in entry_points
    assert "dropout_guard = dropout_guard.pytest_plugin" in entry_points


@pytest.mark.slow
def test_wheel_installs_and_lints_without_torch_or_libcst(wheel, tmp_path):
    """A user's install: a fresh virtualenv, the wheel and its dependencies from the index."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    r = subprocess.run([str(bindir / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    probe = ("import importlib.util as u, sys\n"
             "assert u.find_spec('torch') is None and u.find_spec('libcst') is None, 'installed'\n"
             "import dropout_guard\n"
             "assert dropout_guard.__file__.startswith(sys.prefix), dropout_guard.__file__\n"
             "print(dropout_guard.__version__)\n")
    r = subprocess.run([str(bindir / "python"), "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == PYPROJECT["project"]["version"], r.stdout + r.stderr
    # The README's main job, run by the installed command.
    r = subprocess.run([str(bindir / "dropout-guard"), "check", "--no-cache", "fixtures/"], cwd=REPO,
                       capture_output=True, text=True, env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"^fixtures/\S+:\d+:\d+: DG101 ", r.stdout, re.M), r.stdout[-2000:]
    assert "Traceback" not in r.stdout + r.stderr


# -- the README's set-up is what CI runs -------------------------------------------------------------
def shell_blocks(markdown: str):
    return re.findall(r"^```sh\n(.*?)^```", markdown, re.M | re.S)


def test_readme_set_up_is_near_the_top_and_is_what_ci_runs():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    top = "\n".join(readme.splitlines()[:40])
    blocks = shell_blocks(top)
    first = next(i for i, block in enumerate(blocks) if "-m venv .venv" in block)
    setup, tests = blocks[first:first + 2]
    commands = [c.strip() for c in setup.strip().split("&&")] + [tests.strip()]
    assert commands[0].startswith("python3.11 -m venv .venv"), commands
    assert commands[1] == ".venv/bin/pip install -r requirements-dev.txt", commands
    assert commands[2:] == [".venv/bin/dropout-guard check fixtures/", ".venv/bin/python -m pytest"], commands
    ci = [line.replace(" --quiet", "").strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    for command in commands:
        assert any(line == command or line.startswith(command + " ") for line in ci), command
    requirements = (REPO / "requirements-dev.txt").read_text().splitlines()
    assert "-e .[dev,torch]" in requirements and "torch==2.13.0" in requirements
