"""The command line (dropout_guard.cli): formats, options and exit codes."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from dropout_guard import __version__
from dropout_guard.cli import main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("NO_COLOR", "FORCE_COLOR", "DROPOUT_GUARD_CACHE_DIR", "DROPOUT_GUARD_OUTPUT_FORMAT"):
        monkeypatch.delenv(name, raising=False)

    def invoke(*args, env=None):
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    return invoke


def write(path, text=""):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def python_m(*args, cwd, env_extra=None):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("NO_COLOR", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


# -- exit codes --------------------------------------------------------------------------------
def test_clean_run_exits_0(run, tmp_path):
    write(tmp_path / "ok.py", "x = 1\n")
    r = run("check")
    assert r.exit_code == 0
    assert r.stdout == "All checks passed!\n"


def test_findings_exit_1_and_exit_zero(run, tmp_path):
    write(tmp_path / "bad.py", "def f(:\n")
    r = run("check", ".")
    assert r.exit_code == 1
    assert r.stdout == "bad.py:1:7: DG000 SyntaxError: invalid syntax\nFound 1 problem.\n"
    r = run("check", "--exit-zero")
    assert r.exit_code == 0 and "DG000" in r.stdout


def test_fake_rule_findings_and_selection(run, tmp_path, fake_rules):
    write(tmp_path / "m.py", "boom()\nbang()\n")
    assert run("check").stdout.splitlines()[0] == "m.py:1:1: DG990 boom() is called"
    r = run("check", "--select", "DG991")
    assert r.exit_code == 1 and r.stdout.startswith("m.py:2:1: DG991 bang() is called\n")
    r = run("check", "--extend-select", "DG991", "--ignore", "DG990")
    assert [line.split()[1] for line in r.stdout.splitlines()[:-1]] == ["DG991"]
    r = run("check", "--ignore", "dg990,DG000")
    assert r.exit_code == 0
    r = run("check", "--select", "DG000", "--select", "DG990")  # repeated options add up
    assert r.exit_code == 1 and "DG990" in r.stdout


def test_unknown_code_exits_2(run, tmp_path):
    write(tmp_path / "ok.py")
    r = run("check", "--select", "DG000,BOGUS1")
    assert r.exit_code == 2
    assert r.stderr == "Error: --select: unknown rule code or prefix 'BOGUS1' (see `dropout-guard rules`)\n"
    assert run("check", "--ignore", "X").exit_code == 2
    assert run("check", "--extend-select", "DG0000").exit_code == 2


def test_bad_config_exits_2_with_one_line(run, tmp_path):
    write(tmp_path / "ok.py")
    write(tmp_path / "pyproject.toml", '[tool.dropout-guard]\nselect = "DG000"\n')
    r = run("check")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1
    assert r.stderr.startswith("Error: pyproject.toml: tool.dropout-guard.select: expected a list of strings")
    r = run("check", "--isolated")
    assert r.exit_code == 0


def test_missing_config_file_exits_2(run, tmp_path):
    r = run("check", "--config", "missing.toml")
    assert r.exit_code == 2 and "missing.toml: configuration file not found" in r.stderr


def test_missing_path_exits_2_naming_it(run, tmp_path):
    write(tmp_path / "ok.py")
    r = run("check", "ok.py", "no/such/file.py")
    assert r.exit_code == 2
    assert r.stderr == "Error: path does not exist: no/such/file.py\n"


def test_bad_option_value_exits_2(run):
    assert run("check", "--format", "xml").exit_code == 2
    assert run("check", "--color", "sometimes").exit_code == 2
    assert run("check", "--no-such-option").exit_code == 2


def test_internal_error_exits_2_not_1(run, tmp_path, monkeypatch):
    from dropout_guard.lint import api

    def explode(*a, **k):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(api, "check", explode)
    write(tmp_path / "ok.py")
    r = run("check")
    assert r.exit_code == 2
    assert r.stderr.startswith("Error: internal error: RuntimeError: kaboom")
    assert r.stderr.count("\n") == 1


def test_internal_error_in_the_analysis_becomes_dg000(run, tmp_path, fake_rules, monkeypatch):
    fake_boom, _ = fake_rules

    def broken(self, ctx):
        raise ValueError("rule bug")

    monkeypatch.setattr(fake_boom, "check", broken)
    write(tmp_path / "m.py", "x = 1\n")
    r = run("check")
    assert r.exit_code == 1
    assert "m.py:1:1: DG000 internal error while analysing this file: ValueError: rule bug" in r.stdout


def test_no_files_warns_and_exits_0(run, tmp_path):
    (tmp_path / "empty").mkdir()
    r = run("check", "empty")
    assert r.exit_code == 0 and "no Python files found" in r.stderr


# -- formats -----------------------------------------------------------------------------------
def test_json_format(run, tmp_path):
    write(tmp_path / "bad.py", "x = 1\ndef f(:\n")
    r = run("check", "--format", "json")
    assert r.exit_code == 1
    [item] = json.loads(r.stdout)
    assert {k: item[k] for k in ("code", "path", "line", "column")} == {"code": "DG000", "path": "bad.py",
                                                                      "line": 2, "column": 7}
    assert item["fix"] is None and item["filename"] == str(tmp_path / "bad.py")
    r = run("check", "--format", "json", "--exit-zero", "--isolated", "--ignore", "DG000")
    assert json.loads(r.stdout) == [] and r.exit_code == 0


def test_sarif_format(run, tmp_path):
    write(tmp_path / "sub" / "bad.py", "def f(:\n")
    r = run("check", "--format", "sarif")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    [res] = doc["runs"][0]["results"]
    assert res["ruleId"] == "DG000"
    assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "sub/bad.py"
    assert doc["runs"][0]["tool"]["driver"]["version"] == __version__


def test_github_format(run, tmp_path):
    write(tmp_path / "bad.py", "def f(:\n")
    r = run("check", "--format", "github")
    assert r.exit_code == 1
    assert r.stdout == ("::error file=bad.py,line=1,col=7,endLine=1,endColumn=8,title=dropout-guard (DG000)"
                        "::bad.py:1:7: DG000 SyntaxError: invalid syntax\n")


def test_statistics(run, tmp_path, fake_rules):
    write(tmp_path / "a.py", "boom()\nboom()\n")
    write(tmp_path / "b.py", "def f(:\n")
    r = run("check", "--statistics")
    assert r.exit_code == 1
    assert r.stdout == "2\tDG990\tfake-boom\n1\tDG000\tfile-not-analysed\n"
    data = json.loads(run("check", "--statistics", "--format", "json").stdout)
    assert [(d["code"], d["count"]) for d in data] == [("DG990", 2), ("DG000", 1)]


def test_quiet_and_output_file(run, tmp_path):
    write(tmp_path / "bad.py", "def f(:\n")
    r = run("check", "-q")
    assert r.stdout == "bad.py:1:7: DG000 SyntaxError: invalid syntax\n"
    (tmp_path / "out").mkdir()
    r = run("check", "--format", "sarif", "-o", "out/report.sarif")
    assert r.exit_code == 1 and r.stdout == ""
    assert json.loads((tmp_path / "out" / "report.sarif").read_text())["version"] == "2.1.0"


def test_color_option(run, tmp_path):
    write(tmp_path / "bad.py", "def f(:\n")
    assert "\x1b[" in run("check", "--color", "always", env={"NO_COLOR": "1"}).stdout
    assert "\x1b[" not in run("check", "--color", "never").stdout
    assert "\x1b[" not in run("check").stdout  # not a terminal
    assert "\x1b[" not in run("check", "--format", "json", "--color", "always").stdout


def test_force_exclude_and_accepted_no_op_options(run, tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.dropout-guard]\nextend-exclude = ["gen"]\n')
    write(tmp_path / "gen" / "bad.py", "def f(:\n")
    assert run("check", "gen/bad.py").exit_code == 1
    r = run("check", "--force-exclude", "gen/bad.py")
    assert r.exit_code == 0
    assert run("check", "--no-cache", "--jobs", "4", "gen/bad.py").exit_code == 1


# -- rules / explain / version -------------------------------------------------------------------
def test_rules_lists_every_registered_rule(run, fake_rules):
    from dropout_guard.lint import rules

    r = run("rules")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["code", "name", "summary"]
    assert [line.split()[0] for line in lines[1:]] == [rule.code for rule in rules.ALL_RULES]
    assert any(line.split()[:2] == ["DG991", "fake-bang"] and line.endswith("(off by default)") for line in lines)
    data = json.loads(run("rules", "--format", "json").stdout)
    assert [d["code"] for d in data] == [rule.code for rule in rules.ALL_RULES]
    assert {"code", "name", "summary", "default_enabled", "fix_safety"} <= set(data[0])


@pytest.mark.parametrize("key", ["DG990", "dg990", "fake-boom", "fake_boom"])
def test_explain_by_code_or_name(run, fake_rules, key):
    r = run("explain", key)
    assert r.exit_code == 0
    assert r.stdout.startswith("# fake-boom (DG990)\n\nboom() is called\n")
    assert "## What it does" in r.stdout and "## Fix safety" in r.stdout


def test_explain_opt_in_rule_and_json(run, fake_rules):
    assert "off by default" in run("explain", "DG991").stdout
    data = json.loads(run("explain", "DG990", "--format", "json").stdout)
    assert data["code"] == "DG990" and data["documentation"].startswith("## What it does")


def test_explain_every_registered_rule(run):
    from dropout_guard.lint import rules

    for rule in rules.ALL_RULES:
        r = run("explain", rule.code)
        assert r.exit_code == 0 and f"({rule.code})" in r.stdout.splitlines()[0]


def test_explain_unknown_exits_2(run):
    r = run("explain", "DG9999")
    assert r.exit_code == 2
    assert r.stderr == "Error: unknown rule 'DG9999'; run `dropout-guard rules` to list the codes\n"


def test_version(run):
    r = run("--version")
    assert r.exit_code == 0 and r.stdout == f"dropout-guard {__version__}\n"


def test_run_command_registered_only_when_its_module_exists():
    has_module = importlib.util.find_spec("dropout_guard.cli_runtime") is not None
    assert ("run" in main.commands) is has_module


# -- as a process --------------------------------------------------------------------------------
def test_python_m_and_no_torch_or_rich_at_start_up(tmp_path):
    write(tmp_path / "bad.py", "def f(:\n")
    r = python_m("-m", "dropout_guard", "check", "--format", "json", ".", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert json.loads(r.stdout)[0]["code"] == "DG000"
    probe = ("import sys\nfrom dropout_guard.cli import main\n"
             "try:\n    main(['check', '.'], prog_name='dropout-guard')\nexcept SystemExit as e:\n    code = e.code\n"
             "print(code, 'torch' in sys.modules, 'rich' in sys.modules, 'libcst' in sys.modules, file=sys.stderr)\n")
    r = python_m("-c", probe, cwd=tmp_path)
    assert r.stderr.strip().splitlines()[-1] == "1 False False False"


def test_process_exit_code_for_usage_errors(tmp_path):
    r = python_m("-m", "dropout_guard", "check", "nope.py", cwd=tmp_path)
    assert r.returncode == 2 and "nope.py" in r.stderr


# -- the console command's exit ----------------------------------------------------------------
def test_console_check_exits_without_freeing_and_loses_no_output(tmp_path):
    """``python -m dropout_guard check`` keeps its analysis and ends with ``os._exit`` once
    stdout and stderr are flushed: every finding and the summary arrive, with the exit code,
    and no ``atexit`` handler runs (the proof that the process did not exit normally)."""
    body = "import torch\n\nmodel = torch.load('model.pt')\n" + "".join(
        f"y{i} = model(torch.ones(1))\n" for i in range(300))
    write(tmp_path / "many.py", body)
    probe = ("import atexit, sys\nfrom dropout_guard.cli import main\n"
             "atexit.register(lambda: print('atexit ran', file=sys.stderr))\n"
             "sys.argv = ['dropout-guard', 'check', '--no-cache', 'many.py']\nmain(prog_name='dropout-guard')\n")
    r = python_m("-c", probe, cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    lines = r.stdout.splitlines()
    assert sum(" DG101 " in line for line in lines) == 300 and sum(" DG201 " in line for line in lines) == 300
    assert "Found 600 problems." in lines
    assert "atexit ran" not in r.stderr
    # anything but a check exits the usual way
    probe_rules = probe.replace("'check', '--no-cache', 'many.py'", "'rules'")
    r = python_m("-c", probe_rules, cwd=tmp_path)
    assert r.returncode == 0 and "atexit ran" in r.stderr


def test_in_process_callers_never_keep_the_analysis(run, tmp_path):
    """Only the console command keeps its analysis for the exit: a CliRunner (or any caller
    passing arguments) and the API free it as usual."""
    from dropout_guard.lint import api

    write(tmp_path / "m.py", "import torch\n\nmodel = torch.load('m.pt')\ny = model(1)\n")
    assert run("check", "--no-cache", ".").exit_code == 1
    assert api._RETAINED is None
    api.retain_until_exit()
    try:
        api.check([str(tmp_path)], cache=False, jobs=1)
        kinds = sorted(type(x).__name__ for x in api._RETAINED)
        assert kinds == ["Collection", "Project"]
        api.check([str(tmp_path / "m.py")], cache=False, jobs=1)
        assert len(api._RETAINED) == 2  # the previous run's analysis went when this one started
    finally:
        api._RETAINED = None
        import gc
        gc.unfreeze()
