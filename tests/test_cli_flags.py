"""ruff's everyday flags on ``dropout-guard check`` (and ``clean``): output formats, --add-noqa,
--show-settings, --show-files, --cache-dir, --extend-exclude, --exit-non-zero-on-fix, the
--diff hint about unsafe fixes, and configuration errors with a suggestion."""
from __future__ import annotations

import json
import os

from test_cli import run, write  # noqa: F401  (test_cli's CliRunner fixture and file helper)

SAFE = ("import torch.nn.functional as F\nfrom torch import nn\n\n\nclass M(nn.Module):\n"
        "    def forward(self, x):\n        return F.dropout(x, p=0.1)\n")  # DG301, a safe fix
GRAD = "import torch\n\ntorch.no_grad()\n"  # DG202
UNSAFE = "from torch import nn\n\nnet = nn.Sequential(nn.Linear(2, 2), nn.Dropout())\nnet.eval\n"  # DG103, unsafe fix


# -- output formats ------------------------------------------------------------------------------
def test_full_output_quotes_the_source_with_the_range_underlined(run, tmp_path):
    write(tmp_path / "a.py", GRAD)
    r = run("check", "--output-format", "full", "--no-cache")
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert lines[0].startswith("a.py:3:1: DG202 ")
    assert lines[1:7] == ["  |", "1 | import torch", "2 |", "3 | torch.no_grad()", "  | ^^^^^^^^^^^^^^^ DG202",
                          "  |"]
    assert lines[7].startswith("  = help: ")
    assert lines[8] == ""
    assert lines[9] == "Found 1 problem."


def test_full_output_draws_a_range_over_several_lines(run, tmp_path):
    write(tmp_path / "a.py", "from torch import nn\nnet = nn.Sequential(nn.Linear(2, 2), nn.Dropout())\n"
                             "net.load_state_dict(torch.load('net.pt'))\n\ny = net(\n    1,\n)\n")
    r = run("check", "--output-format", "full", "--select", "DG101", "--no-cache")
    assert r.exit_code == 1, r.output
    assert "\n".join(["5 |   y = net(", "  |  _____^", "6 | |     1,", "7 | | )", "  | |_^ DG101"]) in r.stdout


def test_concise_is_the_default_and_text_an_alias(run, tmp_path):
    write(tmp_path / "a.py", GRAD)
    default = run("check", "--no-cache").stdout
    assert default.startswith("a.py:3:1: DG202 ") and "  |" not in default
    for args in (["--output-format", "concise"], ["--output-format", "text"], ["--format", "text"],
                 ["--format", "concise"]):
        assert run("check", "--no-cache", *args).stdout == default
    assert run("check", "--no-cache", "--format", "full").stdout.count("  |") >= 2
    assert run("check", "--no-cache", env={"DROPOUT_GUARD_OUTPUT_FORMAT": "full"}).stdout.count("  |") >= 2


def test_full_output_in_a_notebook_quotes_the_cell(run, tmp_path):
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# t"]},
                    {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                     "source": ["import torch\n", "x = 1"]},
                    {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                     "source": ["y = 2\n", "torch.no_grad()\n", "%matplotlib inline"]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    write(tmp_path / "n.ipynb", json.dumps(nb))
    r = run("check", "--output-format", "full", "--no-cache")
    lines = r.stdout.splitlines()
    assert lines[0].startswith("n.ipynb:cell 3:2:1: DG202 ")
    assert lines[1:6] == ["  |", "1 | y = 2", "2 | torch.no_grad()", "  | ^^^^^^^^^^^^^^^ DG202",
                          "3 | %matplotlib inline"]  # the cell as written, magics included


# -- --add-noqa ------------------------------------------------------------------------------------
def test_add_noqa_adds_merges_and_is_idempotent(run, tmp_path):
    write(tmp_path / "a.py", GRAD.replace("torch.no_grad()", "torch.no_grad()  # noqa: E501"))
    write(tmp_path / "b.py", SAFE)
    r = run("check", "--add-noqa", "--no-cache")
    assert r.exit_code == 0
    assert r.stdout == ""
    assert r.stderr == "Added 2 noqa directives.\n"
    assert (tmp_path / "a.py").read_text().splitlines()[2] == "torch.no_grad()  # noqa: DG202, E501"
    assert (tmp_path / "b.py").read_text().splitlines()[6] == "        return F.dropout(x, p=0.1)  # noqa: DG301"
    assert run("check", "--no-cache").exit_code == 0
    again = run("check", "--add-noqa", "--no-cache")
    assert again.exit_code == 0 and again.output == ""
    assert run("check", "--extend-select", "DG001", "--no-cache").exit_code == 0  # none is unused


def test_add_noqa_in_a_notebook(run, tmp_path):
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                     "source": ["import torch\n", "torch.no_grad()\n", "%matplotlib inline"]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    write(tmp_path / "n.ipynb", json.dumps(nb))
    r = run("check", "--add-noqa", "--no-cache")
    assert r.exit_code == 0 and r.stderr == "Added 1 noqa directive.\n"
    cells = json.loads((tmp_path / "n.ipynb").read_text())["cells"]
    assert cells[0]["source"] == ["import torch\n", "torch.no_grad()  # noqa: DG202\n", "%matplotlib inline"]
    assert run("check", "--no-cache").exit_code == 0


def test_add_noqa_conflicts_with_fixing(run, tmp_path):
    write(tmp_path / "a.py", GRAD)
    r = run("check", "--add-noqa", "--fix")
    assert r.exit_code == 2
    assert "--add-noqa and --fix cannot be used together" in r.stderr
    assert (tmp_path / "a.py").read_text() == GRAD


# -- --show-settings / --show-files -------------------------------------------------------------------
def test_show_settings(run, tmp_path):
    write(tmp_path / "base.toml", 'ignore = ["DG103"]\n')
    write(tmp_path / "pyproject.toml", '[tool.dropout-guard]\nextend = "base.toml"\nextend-exclude = ["gen"]\n')
    write(tmp_path / "a.py", GRAD)
    r = run("check", "--show-settings", "--extend-select", "DG001")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0] == f'Resolved settings for: {json.dumps(str(tmp_path / "a.py"))}'
    assert lines[1] == f'Settings path: {json.dumps(str(tmp_path / "pyproject.toml"))}'
    settings = dict(line.split(" = ", 1) for line in lines[3:])
    selected = json.loads(settings["select"])
    assert "DG001" in selected and "DG103" not in selected and "DG101" in selected
    assert settings["extend"] == json.dumps([str(tmp_path / "base.toml")])
    assert settings["extend-exclude"] == '["gen"]'
    assert settings["cache-dir"] == json.dumps(str(tmp_path / ".dropout_guard_cache"))
    assert settings["unsafe-fixes"] == "(unset)"
    assert not (tmp_path / ".dropout_guard_cache").exists()  # nothing was checked


def test_show_files_and_extend_exclude(run, tmp_path):
    for name in ("a.py", "gen/b.py", "c/d.ipynb", "c/e.txt", "skip/f.py"):
        write(tmp_path / name, '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
              if name.endswith("ipynb") else "x = 1\n")
    write(tmp_path / "dropout-guard.toml", 'extend-exclude = ["skip"]\n')
    r = run("check", "--show-files")
    assert r.exit_code == 0
    assert r.stdout.splitlines() == [str(tmp_path / p) for p in ("a.py", "c/d.ipynb", "gen/b.py")]
    r = run("check", "--show-files", "--extend-exclude", "gen,*.ipynb")
    assert r.stdout.splitlines() == [str(tmp_path / "a.py")]
    write(tmp_path / "gen" / "b.py", GRAD)
    assert run("check", "--no-cache").exit_code == 1
    assert run("check", "--no-cache", "--extend-exclude", "gen").exit_code == 0


def test_extend_exclude_on_the_command_line_is_relative_to_the_working_directory(run, tmp_path):
    write(tmp_path / "pyproject.toml", "[tool.dropout-guard]\n")
    for name in ("pkg/gen/a.py", "pkg/b.py", "gen/c.py"):
        write(tmp_path / name, "x = 1\n")
    os.chdir(tmp_path / "pkg")
    r = run("check", "--show-files", "--extend-exclude", "gen/a.py", "..")
    assert r.stdout.splitlines() == [str(tmp_path / p) for p in ("gen/c.py", "pkg/b.py")]


def test_show_files_missing_path_is_a_usage_error(run, tmp_path):
    r = run("check", "--show-files", "nope")
    assert r.exit_code == 2 and "path does not exist: nope" in r.stderr


# -- --exit-non-zero-on-fix, --diff ----------------------------------------------------------------------
def test_exit_non_zero_on_fix(run, tmp_path):
    write(tmp_path / "a.py", SAFE)
    r = run("check", "--fix", "--no-cache")
    assert r.exit_code == 0 and "1 fixed, 0 remaining" in r.stdout
    write(tmp_path / "a.py", SAFE)
    assert run("check", "--fix", "--exit-non-zero-on-fix").exit_code == 1
    assert run("check", "--fix", "--exit-non-zero-on-fix").exit_code == 0  # nothing left to fix
    write(tmp_path / "a.py", SAFE)
    assert run("check", "--fix-only", "--exit-non-zero-on-fix").exit_code == 1
    assert run("check", "--fix-only", "--exit-non-zero-on-fix").exit_code == 0


def test_diff_names_the_unsafe_fixes_it_leaves_out(run, tmp_path):
    write(tmp_path / "a.py", UNSAFE)
    r = run("check", "--diff")
    assert r.exit_code == 0 and r.stdout == ""
    assert r.stderr == "No problems would be fixed (1 fix available with `--unsafe-fixes`).\n"
    assert run("check", "--diff", "--no-unsafe-fixes").stderr == "No fixes to apply.\n"
    write(tmp_path / "b.py", SAFE)
    r = run("check", "--diff")
    assert r.exit_code == 1
    assert r.stderr == "Would fix 1 problem (1 additional fix available with `--unsafe-fixes`).\n"
    r = run("check", "--diff", "--unsafe-fixes")
    assert r.stderr == "Would fix 2 problems.\n"


# -- the cache: --cache-dir, DROPOUT_GUARD_CACHE_DIR, clean -----------------------------------------------
def test_cache_dir_option_and_environment(run, tmp_path):
    write(tmp_path / "a.py", "x = 1\n")
    assert run("check", "--cache-dir", "c1").exit_code == 0
    assert (tmp_path / "c1" / "CACHEDIR.TAG").is_file()
    assert run("check", env={"DROPOUT_GUARD_CACHE_DIR": str(tmp_path / "c2")}).exit_code == 0
    assert (tmp_path / "c2" / "CACHEDIR.TAG").is_file()
    write(tmp_path / "dropout-guard.toml", 'cache-dir = "c3"\n')
    assert run("check").exit_code == 0
    assert (tmp_path / "c3" / "CACHEDIR.TAG").is_file()
    assert not (tmp_path / ".dropout_guard_cache").exists()


def test_clean_removes_the_caches_and_nothing_else(run, tmp_path):
    write(tmp_path / "a.py", "x = 1\n")
    write(tmp_path / "sub" / "b.py", "x = 1\n")
    write(tmp_path / "sub" / "dropout-guard.toml", 'cache-dir = "../custom"\n')
    assert run("check").exit_code == 0
    assert run("check", "sub").exit_code == 0
    write(tmp_path / "deep" / ".dropout_guard_cache" / "x.json", "{}")
    write(tmp_path / "notacache" / "keep.txt", "keep")
    assert (tmp_path / ".dropout_guard_cache").is_dir() and (tmp_path / "custom").is_dir()
    r = run("clean")
    assert r.exit_code == 0
    assert r.stderr.splitlines() == [f"Removing cache at: {tmp_path / p}"
                                     for p in (".dropout_guard_cache", "deep/.dropout_guard_cache")]
    assert not (tmp_path / ".dropout_guard_cache").exists() and not (tmp_path / "deep" / ".dropout_guard_cache").exists()
    assert (tmp_path / "custom").is_dir()  # the cache-dir of a configuration clean did not read
    os.chdir(tmp_path / "sub")
    r = run("clean", "-q")
    assert r.exit_code == 0 and r.output == ""
    assert not (tmp_path / "custom").exists()
    r = run("clean", "--cache-dir", str(tmp_path / "notacache"))  # no CACHEDIR.TAG of ours: kept
    assert r.exit_code == 0 and (tmp_path / "notacache" / "keep.txt").is_file()


# -- configuration errors ----------------------------------------------------------------------------------
def test_unknown_key_is_a_configuration_error_with_a_suggestion(run, tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.dropout-guard]\nextend-selct = ["DG1"]\n')
    write(tmp_path / "a.py", "x = 1\n")
    r = run("check")
    assert r.exit_code == 2
    assert r.stderr == ("Error: pyproject.toml: tool.dropout-guard.extend-selct: unknown key "
                        "(did you mean 'extend-select'?)\n")


def test_rules_and_explain_list_dg001(run):
    r = run("rules")
    assert any(line.startswith("DG001") and "unused-noqa" in line and "(off by default)" in line
               for line in r.stdout.splitlines())
    r = run("explain", "unused-noqa")
    assert r.exit_code == 0 and "# unused-noqa (DG001)" in r.stdout and "--extend-select DG001" in r.stdout
