"""dropout-guard where torch is not installed: the pytest plugin and the runtime API.

Each test runs pytest in a subprocess whose ``sitecustomize`` puts a meta path finder in
front of every other one that refuses ``torch`` (``import torch`` raises
``ModuleNotFoundError: No module named 'torch'``, as where it is not installed). The plugin
is auto-loaded through its pytest11 entry point, as an installed wheel would load it. A
suite that does not ask for the guard must run exactly as without the plugin; asking for it
is a one-line usage error that names the install command.
"""
from __future__ import annotations

import textwrap

import pytest

NO_TORCH_SITECUSTOMIZE = textwrap.dedent('''
    import sys

    class _NoTorch:
        """torch is not installed."""

        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, _NoTorch())
''')

INSTALL = 'pip install "dropout-guard[torch]"'

UNMARKED = textwrap.dedent('''
    import sys
    import pytest

    def test_torch_is_not_importable():
        with pytest.raises(ModuleNotFoundError):
            import torch  # noqa: F401

    @pytest.mark.inference  # the project's own marker, not dropout-guard's
    def test_own_marker():
        assert "torch" not in sys.modules
''')

MARKED = textwrap.dedent('''
    import pytest

    @pytest.mark.dropout_guard
    def test_guarded():
        pass

    @pytest.mark.dropout_guard(action="warn")
    def test_guarded_too():
        pass

    def test_plain():
        pass
''')


@pytest.fixture
def no_torch(pytester, autoload_plugin):
    """pytester.runpytest_subprocess runs in a Python without torch (see the module doc)."""
    pytester.makepyfile(sitecustomize=NO_TORCH_SITECUSTOMIZE)
    return pytester


def run(pytester, *args):
    # pytest-asyncio (installed with pytest-lsp for the server's tests) warns on standard error
    # about its own unset option in any project: these runs compare standard error exactly
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:asyncio", *args)


def assert_one_line_usage_error(result, asked_for):
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert errors == [f"ERROR: {asked_for} needs torch, which is not installed: {INSTALL}"]
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output and "Traceback" not in output


def test_unmarked_suite_runs_as_without_the_plugin(no_torch):
    no_torch.makepyfile(UNMARKED)
    no_torch.makeini("[pytest]\nmarkers =\n    inference: the project's own marker\n")
    without = run(no_torch, "-p", "no:dropout_guard", "--strict-markers")
    result = run(no_torch, "--strict-markers")
    result.stdout.fnmatch_lines(["plugins: *dropout-guard*"])  # auto-loaded
    result.assert_outcomes(passed=2)
    assert result.ret == without.ret == 0
    assert result.parseoutcomes() == without.parseoutcomes()
    assert result.stderr.str() == without.stderr.str() == ""
    run(no_torch, "--dropout-guard=off").assert_outcomes(passed=2)


def test_marker_is_a_one_line_usage_error(no_torch):
    no_torch.makepyfile(MARKED)
    result = run(no_torch)
    assert_one_line_usage_error(
        result, "@pytest.mark.dropout_guard (on test_marker_is_a_one_line_usage_error.py"
        "::test_guarded and 1 more)")
    # only selected tests count; collecting alone runs nothing
    run(no_torch, "-m", "not dropout_guard").assert_outcomes(passed=1, deselected=2)
    run(no_torch, "-k", "plain").assert_outcomes(passed=1, deselected=2)
    assert run(no_torch, "--collect-only").ret == 0


def test_marked_tests_that_skip_themselves_are_left_to_the_skip(no_torch):
    no_torch.makepyfile(textwrap.dedent('''
        import importlib.util
        import pytest

        try:
            import torch
        except ImportError:
            torch = None

        @pytest.mark.skipif(torch is None, reason="needs torch")
        @pytest.mark.dropout_guard
        def test_skipped_without_torch():
            pass

        @pytest.mark.skip(reason="not today")
        @pytest.mark.dropout_guard
        def test_skipped():
            pass

        @pytest.mark.skipif(False, reason="never")
        @pytest.mark.dropout_guard
        def test_runs_anyway():
            pass
    '''))
    result = run(no_torch, "-rfs")
    # the run goes on; a marked test that does run fails in one line, without a traceback
    result.assert_outcomes(skipped=2, failed=1)
    result.stdout.fnmatch_lines([
        "*_ test_runs_anyway _*",
        f"@pytest.mark.dropout_guard needs torch, which is not installed: {INSTALL}",
    ])
    assert "Traceback" not in result.stdout.str()


@pytest.mark.parametrize("how, asked_for", [
    (["--dropout-guard=warn"], "--dropout-guard=warn"),
    (["--dropout-guard", "raise"], "--dropout-guard=raise"),
    ("ini", "dropout_guard = raise (ini option)"),
])
def test_session_option_is_a_one_line_usage_error(no_torch, how, asked_for):
    no_torch.makepyfile(UNMARKED)
    if how == "ini":
        no_torch.makeini("[pytest]\ndropout_guard = raise\n")
        how = []
    assert_one_line_usage_error(run(no_torch, *how), asked_for)


def test_fixture_fails_its_test_in_one_line(no_torch):
    no_torch.makepyfile(textwrap.dedent('''
        def test_uses_the_fixture(dropout_guard):
            pass

        def test_plain():
            pass
    '''))
    result = run(no_torch)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([
        f"the dropout_guard fixture needs torch, which is not installed: {INSTALL}"])
    assert "Traceback" not in result.stdout.str()


def test_runtime_api_names_the_install_command(no_torch):
    no_torch.makepyfile(textwrap.dedent(f'''
        import pickle
        import subprocess
        import sys

        import pytest

        INSTALL = {INSTALL!r}

        def test_import_is_cheap_and_the_errors_resolve():
            import dropout_guard
            from dropout_guard import DropoutGuardWarning, TrainingModeDropoutError

            assert issubclass(DropoutGuardWarning, Warning)
            assert issubclass(TrainingModeDropoutError, RuntimeError)
            assert "torch" not in sys.modules

        @pytest.mark.parametrize("name", ["inference_guard", "eval_mode", "Violation"])
        def test_attribute_access(name):
            import dropout_guard

            with pytest.raises(ModuleNotFoundError) as info:
                getattr(dropout_guard, name)
            assert str(info.value) == (
                f"dropout_guard.{{name}} needs torch, which is not installed: {{INSTALL}}")
            assert info.value.name == "torch"
            assert isinstance(info.value, dropout_guard.TorchNotInstalledError)
            assert info.value.__suppress_context__  # one line, no chained traceback

        def test_from_import_and_the_runtime_package():
            with pytest.raises(ImportError, match="dropout_guard.eval_mode needs torch"):
                from dropout_guard import eval_mode  # noqa: F401
            import dropout_guard.runtime

            with pytest.raises(ImportError) as info:
                dropout_guard.runtime.InferenceGuard
            assert str(info.value) == ("dropout_guard.runtime.InferenceGuard needs torch, "
                                       f"which is not installed: {{INSTALL}}")

        def test_the_error_pickles():
            from dropout_guard import TorchNotInstalledError

            error = pickle.loads(pickle.dumps(TorchNotInstalledError("x needs torch")))
            assert (type(error), str(error), error.name) == (
                TorchNotInstalledError, "x needs torch", "torch")

        def test_run_command(tmp_path):
            script = tmp_path / "script.py"
            script.write_text("print('ran')\\n")
            for command in (["dropout_guard.runtime.runner"], ["dropout_guard", "run"]):
                proc = subprocess.run([sys.executable, "-m", *command, str(script)],
                                      capture_output=True, text=True)
                assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", (
                    f"dropout-guard run needs torch, which is not installed: {{INSTALL}}\\n"))
    '''))
    run(no_torch).assert_outcomes(passed=7)
