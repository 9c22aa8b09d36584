"""The pytest plugin: --dropout-guard, @pytest.mark.inference, the dropout_guard fixture."""
# dropout-guard: noqa: DG101, DG201, DG301, DG302  # deliberate mode bugs: they test the guard
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

# Import the package in this (outer) process: pytester's in-process runs then share these
# modules instead of re-importing them per run (pytest caches parsed -W filters, so a
# re-imported warning class would no longer match the cached category).
import dropout_guard.runtime.errors  # noqa: F401
import dropout_guard.runtime.watch  # noqa: F401

PLUGIN = ("-p", "dropout_guard.pytest_plugin")

TESTS = textwrap.dedent('''
    import pytest
    import torch
    from torch import nn

    def make():
        return nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.BatchNorm1d(4))

    def test_forgot_eval():
        model = make()
        with torch.no_grad():
            model(torch.randn(3, 4))

    def test_training_step_is_fine():
        model = make()
        model(torch.randn(3, 4)).sum().backward()

    def test_eval_is_fine():
        model = make().eval()
        with torch.no_grad():
            model(torch.randn(3, 4))
''')


def test_option_off_by_default(pytester):
    pytester.makepyfile(TESTS)
    result = pytester.runpytest(*PLUGIN, "-W", "error::dropout_guard.DropoutGuardWarning")
    result.assert_outcomes(passed=3)


def test_option_warn_reports_in_the_warnings_summary(pytester):
    pytester.makepyfile(TESTS)
    result = pytester.runpytest(*PLUGIN, "--dropout-guard=warn")
    result.assert_outcomes(passed=3, warnings=2)
    result.stdout.fnmatch_lines([
        "*TrainingModeDropoutWarning: dropout module '1' (Dropout in Sequential)*",
        "*dropout-guard*",
        "dropout   Sequential:1 (Dropout) x1 first at*",
    ])


def test_option_raise_fails_the_offending_test_only(pytester):
    pytester.makepyfile(TESTS)
    result = pytester.runpytest(*PLUGIN, "--dropout-guard=raise")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*TrainingModeDropoutError*'1' (Dropout in Sequential)*"])


def test_warning_filter_turns_warn_into_failure(pytester):
    pytester.makepyfile(TESTS)
    result = pytester.runpytest(*PLUGIN, "--dropout-guard=warn",
                                "-W", "error::dropout_guard.DropoutGuardWarning")
    result.assert_outcomes(passed=2, failed=1)


def test_ini_option(pytester):
    pytester.makepyfile(TESTS)
    pytester.makeini("[pytest]\ndropout_guard = raise\n")
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(passed=2, failed=1)
    result = pytester.runpytest(*PLUGIN, "--dropout-guard=off")
    result.assert_outcomes(passed=3)


def test_inference_marker(pytester):
    pytester.makepyfile(textwrap.dedent('''
        import pytest
        import torch.nn.functional as F
        import torch
        from torch import nn

        @pytest.mark.inference
        def test_training_mode_model_fails():
            nn.Sequential(nn.Dropout(0.5))(torch.randn(2, 2))

        @pytest.mark.inference
        def test_functional_dropout_fails():
            F.dropout(torch.randn(2, 2), 0.1)

        @pytest.mark.inference
        def test_eval_model_passes():
            nn.Sequential(nn.Dropout(0.5)).eval()(torch.randn(2, 2))

        @pytest.mark.inference(action="record")
        def test_record_does_not_fail():
            nn.Sequential(nn.Dropout(0.5))(torch.randn(2, 2))

        def test_unmarked_is_not_guarded():
            nn.Sequential(nn.Dropout(0.5))(torch.randn(2, 2))
    '''))
    result = pytester.runpytest(*PLUGIN, "--strict-markers")
    result.assert_outcomes(passed=3, failed=2)
    result.stdout.fnmatch_lines(["*TrainingModeDropoutError*"])
    result = pytester.runpytest(*PLUGIN, "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.inference*"])


def test_fixture_gives_record_mode_guards(pytester):
    pytester.makepyfile(textwrap.dedent('''
        import torch
        from torch import nn

        def test_fixture(dropout_guard):
            model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
            guard = dropout_guard(model)
            with guard:
                model(torch.randn(2, 2))
                model(torch.randn(2, 2))
            assert [(v.name, v.count) for v in guard.violations] == [("1", 2)]
            assert guard.action == "record"
    '''))
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=1)


def test_plugin_import_is_light(repo_env):
    code = ("import sys, dropout_guard.pytest_plugin, dropout_guard.cli_runtime; "
            "import dropout_guard.runtime.errors; "
            "bad = [m for m in ('torch', 'rich', 'libcst') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], env=repo_env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_warning_category_resolves_without_torch(pytester, repo_env):
    pytester.makepyfile(textwrap.dedent('''
        import sys
        def test_no_torch():
            assert "torch" not in sys.modules
    '''))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
         "-W", "error::dropout_guard.DropoutGuardWarning", str(pytester.path)],
        env=repo_env, capture_output=True, text=True, timeout=120, cwd=str(pytester.path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _fake_entry_point(tmp_path):
    """A dist-info that declares our pytest11 entry point, as an installed wheel would."""
    site = tmp_path / "site"
    dist = site / "dropout_guard_fake-0.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: dropout-guard-fake\nVersion: 0.0\n")
    (dist / "entry_points.txt").write_text(
        "[pytest11]\ndropout_guard = dropout_guard.pytest_plugin\n")
    return site


@pytest.mark.parametrize("how", ["-p", "conftest", "entry-point-only"])
def test_loading_twice_entry_point_and_module_name(pytester, repo_env, tmp_path, how):
    site = _fake_entry_point(tmp_path)
    pytester.makepyfile(textwrap.dedent('''
        import pytest, torch
        from torch import nn

        @pytest.mark.inference
        def test_marked():
            nn.Sequential(nn.Dropout(0.5))(torch.randn(2, 2))
    '''))
    args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--strict-markers"]
    if how == "-p":
        args += ["-p", "dropout_guard.pytest_plugin"]
    elif how == "conftest":
        pytester.makeconftest('pytest_plugins = ["dropout_guard.pytest_plugin"]\n')
    env = {**repo_env, "PYTHONPATH": os.pathsep.join([str(site), repo_env["PYTHONPATH"]])}
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    proc = subprocess.run(args + [str(pytester.path)], env=env, capture_output=True,
                          text=True, timeout=120, cwd=str(pytester.path))
    output = proc.stdout + proc.stderr
    assert "already registered" not in output
    assert "1 failed" in output, output  # the marker works: the test fails as it should
    assert "TrainingModeDropoutError" in output
