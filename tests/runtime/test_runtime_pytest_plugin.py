"""The pytest plugin: --dropout-guard, @pytest.mark.dropout_guard, the dropout_guard fixture.

The plugin auto-loads in every session of an environment where dropout-guard is installed,
so the tests also check that it stays out of a suite's way: a project's own
``@pytest.mark.inference`` (Monte-Carlo dropout) is left alone, and an unmarked suite never
imports torch. The same without torch: test_runtime_without_torch.py.
"""
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


def test_marker_runs_the_test_inside_the_guard(pytester):
    pytester.makepyfile(textwrap.dedent('''
        import pytest
        import torch.nn.functional as F
        import torch
        from torch import nn

        @pytest.mark.dropout_guard
        def test_training_mode_model_fails():
            nn.Sequential(nn.Dropout(0.5))(torch.randn(2, 2))

        @pytest.mark.dropout_guard
        def test_functional_dropout_fails():
            F.dropout(torch.randn(2, 2), 0.1)

        @pytest.mark.dropout_guard
        def test_eval_model_passes():
            nn.Sequential(nn.Dropout(0.5)).eval()(torch.randn(2, 2))

        @pytest.mark.dropout_guard(action="record")
        def test_record_does_not_fail():
            nn.Sequential(nn.Dropout(0.5))(torch.randn(2, 2))

        @pytest.mark.dropout_guard(functional=False)
        def test_functional_off():
            F.dropout(torch.randn(2, 2), 0.1)

        def test_unmarked_is_not_guarded():
            nn.Sequential(nn.Dropout(0.5))(torch.randn(2, 2))
    '''))
    result = pytester.runpytest(*PLUGIN, "--strict-markers", "-rf")
    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines(["*TrainingModeDropoutError*"])
    result.stdout.fnmatch_lines([
        "FAILED *::test_training_mode_model_fails*",
        "FAILED *::test_functional_dropout_fails*",
    ])
    result = pytester.runpytest(*PLUGIN, "--markers")
    result.stdout.fnmatch_lines(
        ["@pytest.mark.dropout_guard(action='raise', functional=True, batchnorm=True):*"])
    result.stdout.no_fnmatch_line("@pytest.mark.inference*")


def test_marker_warn_on_a_module_and_a_class(pytester):
    pytester.makepyfile(textwrap.dedent('''
        import pytest
        import torch
        from torch import nn

        pytestmark = pytest.mark.dropout_guard(action="warn")

        def test_warns():
            nn.Sequential(nn.Dropout(0.5))(torch.randn(2, 2))

        @pytest.mark.dropout_guard
        class TestClosestMarkWins:
            def test_raises(self):
                nn.Sequential(nn.Dropout(0.5))(torch.randn(2, 2))
    '''))
    result = pytester.runpytest(*PLUGIN, "--strict-markers")
    result.assert_outcomes(passed=1, failed=1, warnings=1)
    result.stdout.fnmatch_lines([
        "*TrainingModeDropoutWarning: dropout module '0' (Dropout in Sequential)*"])


def test_marker_with_wrong_arguments_fails_its_test_in_one_line(pytester):
    pytester.makepyfile(textwrap.dedent('''
        import pytest

        @pytest.mark.dropout_guard("warn")
        def test_positional():
            pass

        @pytest.mark.dropout_guard(mode="warn")
        def test_unknown_keyword():
            pass

        @pytest.mark.dropout_guard(action="loud")
        def test_bad_action():
            pass
    '''))
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines([
        "*_ test_positional _*",
        "@pytest.mark.dropout_guard takes keyword arguments only (action=, functional=, *",
        "*_ test_unknown_keyword _*",
        "@pytest.mark.dropout_guard got unknown keyword arguments ?'mode'?; it takes action=*",
        "*_ test_bad_action _*",
        "@pytest.mark.dropout_guard: *'loud'*",
    ])
    assert "Traceback" not in result.stdout.str()


# A project's own Monte-Carlo-dropout test, marked with its own `inference` marker: dropout
# deliberately in training mode under no_grad. dropout-guard must leave it alone.
MC_DROPOUT_SUITE = textwrap.dedent('''
    import pytest
    import torch
    from torch import nn

    @pytest.mark.inference
    def test_mc_dropout_spread():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5)).train()
        with torch.no_grad():
            samples = torch.stack([model(torch.ones(1, 4)) for _ in range(20)])
        assert samples.std(0).sum() > 0

    @pytest.mark.inference
    def test_mc_dropout_functional():
        out = torch.nn.functional.dropout(torch.ones(100), 0.5)
        assert (out == 0).any()
''')


@pytest.mark.parametrize("registered, strict", [(True, True), (False, False), (False, True)])
def test_projects_own_inference_marker_runs_as_without_the_plugin(pytester, autoload_plugin,
                                                                    registered, strict):
    # In subprocesses: pytest's marker registry (MARK_GEN) outlives in-process runs.
    pytester.makepyfile(MC_DROPOUT_SUITE)
    if registered:
        pytester.makeini("[pytest]\nmarkers =\n    inference: Monte-Carlo dropout tests\n")
    args = ["-p", "no:cacheprovider"] + (["--strict-markers"] if strict else [])
    without = pytester.runpytest_subprocess("-p", "no:dropout_guard", *args)
    with_plugin = pytester.runpytest_subprocess(*args)
    with_plugin.stdout.fnmatch_lines(["plugins: *dropout-guard*"])  # auto-loaded
    assert with_plugin.ret == without.ret
    assert with_plugin.parseoutcomes() == without.parseoutcomes()
    if registered or not strict:
        with_plugin.assert_outcomes(passed=2)
    else:  # pytest's own verdict on an unregistered marker, as without the plugin
        with_plugin.stdout.fnmatch_lines(["*'inference' not found in `markers`*"])


def test_unmarked_suite_never_imports_torch(pytester, autoload_plugin):
    pytester.makeconftest(textwrap.dedent('''
        import sys

        def pytest_unconfigure(config):
            with open("torch_seen.txt", "w") as f:
                f.write(str("torch" in sys.modules))
    '''))
    pytester.makepyfile(textwrap.dedent('''
        import sys

        def test_plugin_is_loaded(request):
            assert request.config.pluginmanager.has_plugin("dropout_guard")

        def test_no_torch_here():
            assert "torch" not in sys.modules
    '''))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=2)
    assert (pytester.path / "torch_seen.txt").read_text() == "False"


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
                          text=True)
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
        env=repo_env, capture_output=True, text=True, cwd=str(pytester.path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("how", ["-p", "conftest", "entry-point-only"])
def test_loading_twice_entry_point_and_module_name(pytester, repo_env, entry_point_site, how):
    site = entry_point_site
    pytester.makepyfile(textwrap.dedent('''
        import pytest, torch
        from torch import nn

        @pytest.mark.dropout_guard
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
                          text=True, cwd=str(pytester.path))
    output = proc.stdout + proc.stderr
    assert "already registered" not in output
    assert "1 failed" in output, output  # the marker works: the test fails as it should
    assert "TrainingModeDropoutError" in output
