"""Fix settings (ruff's): ``fixable`` / ``extend-fixable`` / ``unfixable``, ``extend-safe-fixes``
/ ``extend-unsafe-fixes`` and ``unsafe-fixes`` in the configuration, ``--fixable`` /
``--extend-fixable`` / ``--unfixable`` / ``--[no-]unsafe-fixes`` on the command line (which win),
``--fix-only`` and ``--show-fixes``; JSON, the ``[*]`` marks, the hint and ``--fix`` agree.

The project used throughout has one DG301 (safe fix: ``training=self.training``) and one
DG103 (unsafe fix: ``net.eval`` -> ``net.eval()``).
"""
from __future__ import annotations

import dataclasses
import json

import pytest
from click.testing import CliRunner

from dropout_guard.cli import main
from dropout_guard.lint.api import check, check_source, fix
from dropout_guard.lint.config import ConfigError, FixPolicy, load_settings, resolve_fix_safety
from dropout_guard.lint.findings import Edit, Fix

SRC = ("import torch.nn.functional as F\nfrom torch import nn\n\n\nclass M(nn.Module):\n"
       "    def forward(self, x):\n        return F.dropout(x, 0.1)\n\n\nnet = M()\nnet.eval\n")
DG301_FIXED = SRC.replace("F.dropout(x, 0.1)", "F.dropout(x, 0.1, training=self.training)")
DG103_FIXED = SRC.replace("net.eval\n", "net.eval()\n")
BOTH_FIXED = DG301_FIXED.replace("net.eval\n", "net.eval()\n")
DG301_LINE = "m.py:7:16: DG301"
DG103_LINE = "m.py:11:1: DG103"
HIDDEN_1 = "1 hidden fix can be enabled with the `--unsafe-fixes` option"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A folder with m.py and a dropout-guard.toml holding ``table``; returns (path, run)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)

    def make(table: str = ""):
        (tmp_path / "dropout-guard.toml").write_text(table, encoding="utf-8")
        (tmp_path / "m.py").write_text(SRC, encoding="utf-8")
        return tmp_path / "m.py"

    def run(*args):
        return CliRunner().invoke(main, ["check", *args], catch_exceptions=False)

    return make, run


def fixes_in_json(run, *args):
    r = run("--format", "json", *args, "m.py")
    assert r.exit_code == 1, r.output
    return {d["code"]: (d["fix"]["applicability"] if d["fix"] else None) for d in json.loads(r.stdout)}


def marked(stdout: str, line: str) -> bool:
    """Whether the finding starting with ``line`` carries the [*] mark."""
    [found] = [x for x in stdout.splitlines() if x.startswith(line)]
    return found.startswith(line + " [*] ")


# -- the default, for reference ------------------------------------------------------------------
def test_defaults(project):
    make, run = project
    make()
    assert fixes_in_json(run) == {"DG301": "safe", "DG103": "unsafe"}
    r = run("m.py")
    assert marked(r.stdout, DG301_LINE) and not marked(r.stdout, DG103_LINE)
    assert r.stdout.endswith(f"[*] 1 fixable with the `--fix` option ({HIDDEN_1}).\n")


# -- unsafe-fixes ------------------------------------------------------------------------------
def test_unsafe_fixes_true_acts_as_the_option(project):
    make, run = project
    path = make("unsafe-fixes = true\n")
    r = run("m.py")
    assert marked(r.stdout, DG103_LINE) and marked(r.stdout, DG301_LINE)
    assert r.stdout.endswith("[*] 2 fixable with the `--fix --unsafe-fixes` option.\n")
    r = run("--fix", "m.py")
    assert r.exit_code == 0 and path.read_text(encoding="utf-8") == BOTH_FIXED


def test_unsafe_fixes_false_hides_the_hint(project):
    make, run = project
    path = make("unsafe-fixes = false\n")
    r = run("m.py")
    assert r.stdout.endswith("Found 2 problems.\n[*] 1 fixable with the `--fix` option.\n")
    r = run("--fix", "m.py")
    assert r.exit_code == 1 and path.read_text(encoding="utf-8") == DG301_FIXED
    assert r.stdout.endswith("Found 2 problems (1 fixed, 1 remaining).\n")  # no "hidden fix" hint


@pytest.mark.parametrize("table,option,expected", [
    ("unsafe-fixes = true\n", "--no-unsafe-fixes", DG301_FIXED),
    ("unsafe-fixes = false\n", "--unsafe-fixes", BOTH_FIXED),
])
def test_the_unsafe_fixes_options_override_the_setting(project, table, option, expected):
    make, run = project
    path = make(table)
    run("--fix", option, "m.py")
    assert path.read_text(encoding="utf-8") == expected


def test_the_api_reads_unsafe_fixes_unless_told(project, tmp_path):
    make, _ = project
    path = make("unsafe-fixes = true\n")
    assert fix(["m.py"], cwd=tmp_path).fixed == {"DG301": 1, "DG103": 1}
    path.write_text(SRC, encoding="utf-8")
    assert fix(["m.py"], cwd=tmp_path, unsafe=False).fixed == {"DG301": 1}
    assert path.read_text(encoding="utf-8") == DG301_FIXED


# -- fixable / extend-fixable / unfixable --------------------------------------------------------
def test_unfixable_drops_the_fix_everywhere(project):
    make, run = project
    path = make('unfixable = ["DG301"]\n')
    assert fixes_in_json(run) == {"DG301": None, "DG103": "unsafe"}  # as ruff: no fix at all
    r = run("m.py")
    assert not marked(r.stdout, DG301_LINE)
    assert r.stdout.endswith(f"Found 2 problems.\nNo fixes available ({HIDDEN_1}).\n")
    r = run("--statistics", "m.py")
    assert "[*]" not in r.stdout
    r = run("--fix", "--unsafe-fixes", "m.py")
    assert r.exit_code == 1 and path.read_text(encoding="utf-8") == DG103_FIXED
    assert r.stdout.startswith(DG301_LINE + " `dropout`")


def test_fixable_replaces_the_set_and_extend_fixable_adds(project):
    make, run = project
    path = make('fixable = ["DG1"]\n')
    assert fixes_in_json(run) == {"DG301": None, "DG103": "unsafe"}
    run("--fix", "m.py")
    assert path.read_text(encoding="utf-8") == SRC
    path = make('fixable = ["DG1"]\nextend-fixable = ["DG301"]\n')
    assert fixes_in_json(run) == {"DG301": "safe", "DG103": "unsafe"}
    run("--fix", "m.py")
    assert path.read_text(encoding="utf-8") == DG301_FIXED


def test_more_specific_selector_wins_and_unfixable_wins_ties(tmp_path):
    (tmp_path / "dropout-guard.toml").write_text('unfixable = ["DG3"]\nextend-fixable = ["DG301"]\n')
    assert "DG301" in load_settings(cwd=tmp_path).fixable_codes()
    (tmp_path / "dropout-guard.toml").write_text('unfixable = ["DG301"]\nextend-fixable = ["DG301"]\n')
    assert "DG301" not in load_settings(cwd=tmp_path).fixable_codes()
    assert load_settings(isolated=True, fixable="DG1").fixable_codes() == {
        c for c in load_settings(isolated=True).fixable_codes() if c.startswith("DG1")}


@pytest.mark.parametrize("args,expected", [
    (("--unfixable", "DG301"), {"DG301": None, "DG103": "unsafe"}),
    (("--fixable", "DG3"), {"DG301": "safe", "DG103": None}),
    (("--fixable", "DG2", "--extend-fixable", "DG103,DG301"), {"DG301": "safe", "DG103": "unsafe"}),
    (("--fixable", "DG2", "--fixable", "DG103"), {"DG301": None, "DG103": "unsafe"}),  # repeatable
])
def test_the_options(project, args, expected):
    make, run = project
    make()
    assert fixes_in_json(run, *args) == expected


def test_the_options_override_the_file(project):
    make, run = project
    path = make('unfixable = ["DG301"]\n')
    assert fixes_in_json(run, "--extend-fixable", "DG301") == {"DG301": "safe", "DG103": "unsafe"}
    run("--fix", "--extend-fixable", "DG301", "m.py")
    assert path.read_text(encoding="utf-8") == DG301_FIXED
    path = make('fixable = ["DG3"]\n')
    assert fixes_in_json(run, "--fixable", "DG1") == {"DG301": None, "DG103": "unsafe"}


def test_unfixable_in_the_api(tmp_path):
    (tmp_path / "m.py").write_text(SRC, encoding="utf-8")
    outcome = fix(["m.py"], isolated=True, cwd=tmp_path, unfixable="DG301", unsafe=True)
    assert outcome.fixed == {"DG103": 1}
    found = check(["m.py"], isolated=True, cwd=tmp_path, unfixable=["DG3"]).findings
    assert [f.fix for f in found] == [None]


# -- extend-safe-fixes / extend-unsafe-fixes ------------------------------------------------------
def test_extend_safe_fixes_makes_fix_apply_an_unsafe_fix(project):
    make, run = project
    path = make('extend-safe-fixes = ["DG103"]\n')
    assert fixes_in_json(run) == {"DG301": "safe", "DG103": "safe"}
    r = run("m.py")
    assert marked(r.stdout, DG103_LINE)
    assert r.stdout.endswith("Found 2 problems.\n[*] 2 fixable with the `--fix` option.\n")
    r = run("--fix", "m.py")  # no --unsafe-fixes
    assert r.exit_code == 0 and path.read_text(encoding="utf-8") == BOTH_FIXED


def test_extend_unsafe_fixes_demotes_a_safe_fix(project):
    make, run = project
    path = make('extend-unsafe-fixes = ["DG3"]\n')
    assert fixes_in_json(run) == {"DG301": "unsafe", "DG103": "unsafe"}
    r = run("m.py")
    assert not marked(r.stdout, DG301_LINE)
    assert r.stdout.endswith("No fixes available (2 hidden fixes can be enabled with the `--unsafe-fixes` option).\n")
    r = run("--fix", "m.py")
    assert r.exit_code == 1 and path.read_text(encoding="utf-8") == SRC
    run("--fix", "--unsafe-fixes", "m.py")
    assert path.read_text(encoding="utf-8") == BOTH_FIXED


@pytest.mark.parametrize("safe,unsafe,expected", [
    (["DG3"], ["DG301"], "unsafe"),  # the more specific selector wins
    (["DG301"], ["DG3"], "safe"),
    (["DG301"], ["DG301"], "unsafe"),  # a tie: unsafe wins (ruff's FixSafetyTable)
    (["ALL"], ["DG"], "unsafe"),
    (["DG30"], ["ALL"], "safe"),
])
def test_conflicting_safety_overrides(project, safe, unsafe, expected):
    make, run = project
    make(f"extend-safe-fixes = {json.dumps(safe)}\nextend-unsafe-fixes = {json.dumps(unsafe)}\n")
    assert fixes_in_json(run)["DG301"] == expected
    assert resolve_fix_safety(tuple(safe), tuple(unsafe))["DG301"] == expected


def test_display_only_stays_display_only():
    policy = FixPolicy(frozenset({"DG302"}), {"DG302": "safe"})
    shown = Fix("display-only", "m", (Edit("x", 1, 1, 1, 1),))
    assert policy.resolve("DG302", shown) is shown
    assert policy.resolve("DG302", Fix("unsafe", "m", shown.edits)).applicability == "safe"
    src = ("from torch import nn\n\n\nclass M(nn.Module):\n    def forward(self, x):\n"
           "        return nn.Dropout(0.1)(x)\n")
    promoted = dataclasses.replace(load_settings(isolated=True), extend_safe_fixes=("DG302",))
    [f] = [f for f in check_source(src, "m.py", settings=promoted).findings if f.code == "DG302"]
    assert f.fix is not None and f.fix.applicability == "display-only"


def test_json_follows_a_changed_configuration_through_the_cache(project):
    make, run = project
    make()
    assert fixes_in_json(run)["DG103"] == "unsafe"  # fills the cache
    make('extend-safe-fixes = ["DG103"]\n')
    assert fixes_in_json(run)["DG103"] == "safe"
    make('unfixable = ["DG103"]\n')
    assert fixes_in_json(run)["DG103"] is None


# -- --fix-only / --show-fixes -------------------------------------------------------------------
def test_fix_only_reports_only_the_count_and_exits_0(project):
    make, run = project
    path = make()
    r = run("--fix-only", "m.py")
    assert r.exit_code == 0
    assert r.stdout == "Fixed 1 problem (1 additional fix available with `--unsafe-fixes`).\n"
    assert path.read_text(encoding="utf-8") == DG301_FIXED
    r = run("--fix-only", "m.py")  # nothing left to fix; a finding remains
    assert r.exit_code == 0 and r.stdout == "No problems fixed (1 fix available with `--unsafe-fixes`).\n"
    r = run("--fix-only", "--no-unsafe-fixes", "m.py")
    assert r.exit_code == 0 and r.stdout == ""
    r = run("--fix-only", "--unsafe-fixes", "m.py")
    assert r.exit_code == 0 and r.stdout == "Fixed 1 problem.\n"
    assert path.read_text(encoding="utf-8") == BOTH_FIXED


def test_fix_only_quiet_and_machine_formats_print_nothing(project):
    make, run = project
    path = make()
    r = run("--fix-only", "-q", "m.py")
    assert r.exit_code == 0 and r.stdout == "" and path.read_text(encoding="utf-8") == DG301_FIXED
    path = make()
    r = run("--fix-only", "--format", "json", "m.py")
    assert r.exit_code == 0 and r.stdout == "" and path.read_text(encoding="utf-8") == DG301_FIXED


def test_fix_only_errors_still_exit_2(project):
    make, run = project
    make("unsafe-fixes = 1\n")
    r = run("--fix-only", "m.py")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == "Error: dropout-guard.toml: unsafe-fixes: expected true or false, got an integer\n"


def test_show_fixes_after_fix(project, tmp_path):
    make, run = project
    make()
    (tmp_path / "a.py").write_text(SRC, encoding="utf-8")
    r = run("--fix", "--unsafe-fixes", "--show-fixes", "m.py", "a.py")
    assert r.exit_code == 0
    assert r.stdout == ("\nFixed 4 problems:\n"
                        "- a.py:\n    1 × DG103 (mode-method-not-called)\n"
                        "    1 × DG301 (functional-dropout-always-on)\n"
                        "- m.py:\n    1 × DG103 (mode-method-not-called)\n"
                        "    1 × DG301 (functional-dropout-always-on)\n"
                        "\nFound 4 problems (4 fixed, 0 remaining).\n")


def test_show_fixes_lists_remaining_findings_first(project):
    make, run = project
    make()
    r = run("--fix", "--show-fixes", "m.py")
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert lines[0].startswith(DG103_LINE)
    assert lines[1:6] == ["", "Fixed 1 problem:", "- m.py:", "    1 × DG301 (functional-dropout-always-on)", ""]
    assert lines[6] == "Found 2 problems (1 fixed, 1 remaining)."


def test_show_fixes_with_fix_only(project):
    make, run = project
    make('extend-safe-fixes = ["DG103"]\n')
    r = run("--fix-only", "--show-fixes", "m.py")
    assert r.exit_code == 0
    assert r.stdout == ("\nFixed 2 problems:\n- m.py:\n    1 × DG103 (mode-method-not-called)\n"
                        "    1 × DG301 (functional-dropout-always-on)\n\nFixed 2 problems.\n")


def test_show_fixes_without_fixing_adds_nothing(project):
    make, run = project
    make()
    assert run("--show-fixes", "m.py").stdout == run("m.py").stdout


# -- validation ------------------------------------------------------------------------------------
@pytest.mark.parametrize("table,message", [
    ('unsafe-fixes = "yes"\n', "dropout-guard.toml: unsafe-fixes: expected true or false, got a string"),
    ('fixable = "DG1"\n', "dropout-guard.toml: fixable: expected a list of strings, got a string"),
    ("unfixable = [1]\n", "dropout-guard.toml: unfixable: expected a list of strings, got a list"),
    ('extend-fixable = ["DG9"]\n', "dropout-guard.toml: extend-fixable: unknown rule code or prefix 'DG9' "
                                   "(see `dropout-guard rules`)"),
    ("extend-safe-fixes = true\n", "dropout-guard.toml: extend-safe-fixes: expected a list of strings, got a "
                                   "boolean"),
    ('extend-unsafe-fixes = ["XY1"]\n', "dropout-guard.toml: extend-unsafe-fixes: unknown rule code or prefix "
                                        "'XY1' (see `dropout-guard rules`)"),
    ("unsafe_fixes = true\n", "dropout-guard.toml: unsafe_fixes: unknown key (did you mean 'unsafe-fixes'?)"),
    ('extend_safe_fixes = ["DG1"]\n', "dropout-guard.toml: extend_safe_fixes: unknown key (did you mean "
                                      "'extend-safe-fixes'?)"),
])
def test_bad_values_exit_2_with_one_line(project, table, message):
    make, run = project
    make(table)
    r = run("m.py")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == f"Error: {message}\n"


def test_pyproject_keys_are_named_with_their_section(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.dropout-guard]\nunfixable = "DG3"\n')
    with pytest.raises(ConfigError, match=r"^pyproject.toml: tool.dropout-guard.unfixable: expected a list"):
        load_settings(cwd=tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.dropout-guard]\nunfixable = ["DG3"]\nunsafe-fixes = true\n')
    s = load_settings(cwd=tmp_path)
    assert "DG301" not in s.fixable_codes() and s.unsafe_fixes is True


@pytest.mark.parametrize("option", ["--fixable", "--unfixable", "--extend-fixable"])
def test_bad_codes_on_the_command_line(project, option):
    make, run = project
    make()
    r = run(option, "DG1,NOPE", "m.py")
    assert r.exit_code == 2
    assert r.stderr == f"Error: {option}: unknown rule code or prefix 'NOPE' (see `dropout-guard rules`)\n"
