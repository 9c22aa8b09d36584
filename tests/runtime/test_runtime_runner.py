"""dropout-guard run: run_script, python -m dropout_guard.runtime.runner, the click command."""
# dropout-guard: noqa: DG101, DG201, DG301, DG302  # deliberate mode bugs: they test the guard
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import click
import pytest
from click.testing import CliRunner

from dropout_guard.cli_runtime import run_command
from dropout_guard.runtime.runner import run_script

SCRIPT = textwrap.dedent('''
    import json, os, sys
    import torch
    from torch import nn
    import helper  # importable because sys.path[0] is the script's folder

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.BatchNorm1d(4))
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            return self.head(self.body(x))

    model = Classifier()
    x = torch.randn(3, 4)
    model(x).sum().backward()           # training: grad on, never reported
    with torch.no_grad():
        for _ in range(3):
            model(x)                    # forgot model.eval(): reported
    model.eval()
    with torch.no_grad():
        model(x)                        # fine
    print(json.dumps({"argv": sys.argv[1:], "path0": sys.path[0], "helper": helper.VALUE}))
    sys.exit(int(os.environ.get("EXIT_CODE", "0")))
''')


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "predict.py"
    path.write_text(SCRIPT)
    (tmp_path / "helper.py").write_text("VALUE = 42\n")
    return path


def test_run_script_warns_summarises_and_returns_exit_code(script, capsys, monkeypatch):
    monkeypatch.setenv("EXIT_CODE", "3")
    argv_before, path_before = list(sys.argv), list(sys.path)
    with pytest.warns(Warning) as record:
        code = run_script(str(script), ["--flag", "value"])
    assert code == 3
    out, err = capsys.readouterr()
    assert '"argv": ["--flag", "value"]' in out
    assert f'"path0": "{script.parent}"' in out
    assert '"helper": 42' in out
    assert "body.1" in err and "Dropout" in err and "body.2" in err and "BatchNorm1d" in err
    assert "predict.py" in err and "Classifier" in err
    ours = [w for w in record if "dropout_guard" in type(w.message).__module__]
    assert {w.filename for w in ours} == {str(script)}
    assert sys.argv == argv_before and sys.path == path_before


def test_run_script_raise_stops_the_script(script, capsys):
    code = run_script(str(script), [], action="raise")
    assert code == 1
    _, err = capsys.readouterr()
    assert "TrainingModeDropoutError" in err
    assert "'body.1' (Dropout in Classifier)" in err
    assert "runpy" not in err  # traceback starts at the script


def test_run_script_clean_script_and_missing_file(tmp_path, capsys):
    clean = tmp_path / "clean.py"
    clean.write_text("import sys\nprint('ok')\n")
    assert run_script(str(clean), []) == 0
    out, err = capsys.readouterr()
    assert out == "ok\n"
    assert "no dropout or batch norm ran in training mode" in err
    assert run_script(str(tmp_path / "missing.py"), []) == 2
    failing = tmp_path / "failing.py"
    failing.write_text("raise KeyError('nope')\n")
    assert run_script(str(failing), []) == 1
    assert "KeyError: 'nope'" in capsys.readouterr().err
    message = tmp_path / "message.py"
    message.write_text("import sys\nsys.exit('bad input')\n")
    assert run_script(str(message), []) == 1
    assert "bad input" in capsys.readouterr().err


def test_python_m_runner_subprocess(script, repo_env):
    proc = subprocess.run(
        [sys.executable, "-m", "dropout_guard.runtime.runner", str(script), "a", "--b"],
        env={**repo_env, "EXIT_CODE": "5"}, capture_output=True, text=True, timeout=600,
        cwd=str(script.parent.parent))
    assert proc.returncode == 5, proc.stderr
    assert '"argv": ["a", "--b"]' in proc.stdout
    assert "TrainingModeDropoutWarning" in proc.stderr
    assert "predict.py:" in proc.stderr  # warning attributed to the script's line
    assert "body.1" in proc.stderr and "first call site" in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "dropout_guard.runtime.runner", "--action", "raise", str(script)],
        env=repo_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1
    assert "TrainingModeDropoutError" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "dropout_guard.runtime.runner"],
                          env=repo_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and "usage" in proc.stderr


@pytest.mark.filterwarnings("ignore::dropout_guard.DropoutGuardWarning")
def test_click_command_in_a_group(script):
    @click.group()
    def main():
        pass

    main.add_command(run_command)
    assert run_command.name == "run"
    runner = CliRunner()
    result = runner.invoke(main, ["run", str(script), "--action", "raise", "x"],
                           env={"EXIT_CODE": "4"})
    # options after SCRIPT belong to the script
    assert result.exit_code == 4, result.output
    assert '"argv": ["--action", "raise", "x"]' in result.stdout
    assert "body.1" in result.stderr
    result = runner.invoke(main, ["run", "--action", "raise", str(script)])
    assert result.exit_code == 1
    assert "TrainingModeDropoutError" in result.stderr
    result = runner.invoke(main, ["run", "--action", "explode", str(script)])
    assert result.exit_code == 2
    result = runner.invoke(main, ["run", "missing.py"])
    assert result.exit_code == 2
    assert "no such file" in result.output
    result = runner.invoke(main, ["run", "--help"])
    assert result.exit_code == 0 and "SCRIPT [ARGS]" in result.output


@pytest.mark.filterwarnings("ignore::dropout_guard.DropoutGuardWarning")
def test_run_command_directly(script):
    result = CliRunner().invoke(run_command, [str(script)])
    assert result.exit_code == 0
    assert "Dropout" in result.stderr
