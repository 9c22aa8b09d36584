"""The progress bar of ``dropout-guard check`` (dropout_guard.cli): when it is shown, that
it is erased before the report, and that it is stopped on errors."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

import dropout_guard.lint.api as api
from dropout_guard import cli
from dropout_guard.cli import main

REPO = Path(__file__).resolve().parents[1]
HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"
BAD = "import torch\n\ndef f(model, x):\n    model.train()\n    return model(x)\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """Three small files, two with a finding, a threshold of 2 files and a clean environment."""
    monkeypatch.chdir(tmp_path)
    for var in ("CI", "NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setattr(cli, "PROGRESS_THRESHOLD", 2)
    (tmp_path / "a.py").write_text(BAD, encoding="utf-8")
    (tmp_path / "b.py").write_text(BAD.replace("f(", "g("), encoding="utf-8")
    (tmp_path / "c.py").write_text("x = 1\n", encoding="utf-8")
    return tmp_path


@pytest.fixture
def bars(monkeypatch):
    """Every _ProgressBar the command makes."""
    made = []

    class Spy(cli._ProgressBar):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(cli, "_ProgressBar", Spy)
    return made


def terminals(monkeypatch, *, stdout: bool = True, stderr: bool = True) -> None:
    """Make the command see a terminal on standard output and/or error (CliRunner's are not)."""
    real = cli._on_terminal

    def fake(stream):
        if stream is sys.stdout:
            return stdout and os.environ.get("TERM") != "dumb"
        if stream is sys.stderr:
            return stderr and os.environ.get("TERM") != "dumb"
        return real(stream)

    monkeypatch.setattr(cli, "_on_terminal", fake)


def invoke(*args):
    return CliRunner().invoke(main, ["check", "--no-cache", *args], catch_exceptions=False)


def shown(bars) -> bool:
    return any(b.progress is not None for b in bars)


# -- shown ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_bar_on_a_terminal_over_the_threshold(project, bars, monkeypatch, jobs):
    terminals(monkeypatch)
    r = invoke("-j", jobs, ".")
    assert r.exit_code == 1
    assert shown(bars)
    assert "Checking" in r.stderr and "3/3" in r.stderr and "files" in r.stderr
    assert r.stderr.startswith(HIDE_CURSOR)
    assert r.stderr.endswith(SHOW_CURSOR + "\r\x1b[1A\x1b[2K")  # cursor back, bar line erased (transient)
    assert not bars[0].progress.live.is_started  # stopped (and erased: transient)
    assert bars[0].progress.tasks[0].completed == 3 and bars[0].progress.tasks[0].total == 3
    assert "Found 2 problems." in r.stdout and "\x1b" not in r.stdout


def test_report_is_the_same_with_and_without_the_bar(project, bars, monkeypatch):
    terminals(monkeypatch)
    with_bar = invoke(".")
    assert shown(bars)
    without = invoke("--no-progress", ".")
    assert len(bars) == 1  # --no-progress makes no callback at all
    plain = CliRunner().invoke(main, ["check", "--no-cache", "."], catch_exceptions=False)
    assert with_bar.stdout == without.stdout == plain.stdout
    assert with_bar.exit_code == without.exit_code == 1
    assert without.stderr == ""


def test_statistics_keeps_the_bar(project, bars, monkeypatch):
    terminals(monkeypatch)
    r = invoke("--statistics", ".")
    assert shown(bars) and "3/3" in r.stderr
    assert r.stdout == invoke("--statistics", "--no-progress", ".").stdout


def test_report_is_printed_after_the_bar_is_gone(project, bars, monkeypatch):
    terminals(monkeypatch)
    seen = []
    real_emit = cli._emit

    def emit(text, **kwargs):
        seen.append([b.progress.live.is_started for b in bars if b.progress is not None])
        return real_emit(text, **kwargs)

    monkeypatch.setattr(cli, "_emit", emit)
    r = invoke(".")
    assert r.exit_code == 1 and "Found 2 problems." in r.stdout
    assert seen == [[False]]


def test_progress_forces_the_bar_under_the_threshold(project, bars, monkeypatch):
    monkeypatch.setattr(cli, "PROGRESS_THRESHOLD", 300)
    terminals(monkeypatch)
    assert not shown(bars) and invoke(".").stderr == ""
    r = invoke("--progress", ".")
    assert shown(bars) and "3/3" in r.stderr


@pytest.mark.parametrize("args", [["-q"], ["-o", "report.txt"]])
def test_progress_forces_the_bar_with_quiet_or_output_file(project, bars, monkeypatch, args):
    terminals(monkeypatch, stdout=False)
    r = invoke("--progress", *args, ".")
    assert shown(bars) and "3/3" in r.stderr


def test_progress_forces_the_bar_in_ci(project, bars, monkeypatch):
    terminals(monkeypatch)
    monkeypatch.setenv("CI", "true")
    assert invoke(".").stderr == "" and not shown(bars)
    assert "3/3" in invoke("--progress", ".").stderr and shown(bars)


# -- not shown -----------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["json", "sarif", "github"])
def test_never_for_machine_formats(project, bars, monkeypatch, fmt):
    terminals(monkeypatch)
    calls = []
    real_check = api.check

    def check(*args, **kwargs):
        calls.append(kwargs.get("progress"))
        return real_check(*args, **kwargs)

    monkeypatch.setattr(api, "check", check)
    for extra in ([], ["--progress"]):
        r = invoke("--format", fmt, *extra, ".")
        assert r.exit_code == 1 and r.stderr == ""
    assert calls == [None, None] and bars == []


def test_never_when_not_a_terminal(project, bars):
    for extra in ([], ["--progress"]):
        r = invoke(*extra, ".")
        assert r.exit_code == 1 and r.stderr == ""
    assert bars == []


def test_never_when_stderr_is_not_a_terminal(project, bars, monkeypatch):
    terminals(monkeypatch, stderr=False)
    assert invoke(".").stderr == "" and invoke("--progress", ".").stderr == ""
    assert bars == []


def test_not_by_default_when_stdout_is_piped(project, bars, monkeypatch):
    terminals(monkeypatch, stdout=False)
    assert invoke(".").stderr == "" and bars == []
    assert "3/3" in invoke("--progress", ".").stderr  # the report goes to a file or a pipe: fine


def test_never_on_a_dumb_terminal(project, bars, monkeypatch):
    terminals(monkeypatch)
    monkeypatch.setenv("TERM", "dumb")
    assert invoke(".").stderr == "" and invoke("--progress", ".").stderr == ""
    assert bars == []


def test_never_with_no_progress(project, bars, monkeypatch):
    terminals(monkeypatch)
    r = invoke("--no-progress", ".")
    assert r.exit_code == 1 and r.stderr == "" and bars == []


@pytest.mark.parametrize("args", [["-q"], ["-o", "report.txt"]])
def test_not_by_default_with_quiet_or_output_file(project, bars, monkeypatch, args):
    terminals(monkeypatch)
    r = invoke(*args, ".")
    assert r.exit_code == 1 and r.stderr == "" and bars == []


@pytest.mark.parametrize("threshold", [3, 10])
def test_not_at_or_under_the_threshold(project, bars, monkeypatch, threshold):
    monkeypatch.setattr(cli, "PROGRESS_THRESHOLD", threshold)
    terminals(monkeypatch)
    r = invoke(".")
    assert r.exit_code == 1 and r.stderr == ""
    assert len(bars) == 1 and bars[0].progress is None  # asked, and it said no: 3 files is not more


@pytest.mark.parametrize("flag", ["--fix", "--diff"])
def test_not_with_fix_or_diff(project, bars, monkeypatch, flag):
    terminals(monkeypatch)
    r = invoke(flag, "--progress", ".")
    assert "Checking" not in r.stderr and bars == []


# -- stopped -------------------------------------------------------------------------------------
@pytest.mark.parametrize("error, code, message", [
    (RuntimeError("boom"), 2, "internal error: RuntimeError: boom"),
    (KeyboardInterrupt(), 130, "Interrupted."),
])
def test_bar_is_stopped_when_check_raises(project, bars, monkeypatch, error, code, message):
    terminals(monkeypatch)

    def check(*args, progress=None, **kwargs):
        progress(0, 2000)
        progress(700, 2000)
        raise error

    monkeypatch.setattr(api, "check", check)
    r = invoke(".")
    assert r.exit_code == code
    assert shown(bars) and not bars[0].progress.live.is_started
    assert "350/1000" in r.stderr
    stop = r.stderr.rindex(SHOW_CURSOR)
    assert r.stderr.index(message) > stop  # the message comes after the bar is gone
    refreshers = [t for t in threading.enumerate() if type(t).__name__ == "_RefreshThread"]
    assert all(t.done.is_set() for t in refreshers)  # rich's redraw thread was told to stop


def test_callback_from_a_helper_thread_and_after_close():
    bar = cli._ProgressBar(0, color=False)
    errors = []

    def worker():
        try:
            bar(0, 10)
            for done in range(1, 11):
                bar(done, 10)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert not errors and bar.progress is not None and bar.progress.live.is_started
    assert bar.progress.tasks[0].completed == 5
    bar.close()
    assert not bar.progress.live.is_started
    bar(0, 10)  # a late call neither restarts nor updates it
    assert not bar.progress.live.is_started and bar.progress.tasks[0].completed == 5
    bar.close()  # idempotent


def test_close_without_a_bar_is_harmless():
    bar = cli._ProgressBar(5)
    bar(0, 8)  # 4 files: not more than 5
    bar(8, 8)
    bar.close()
    assert bar.progress is None


def test_on_terminal():
    class Tty:
        def isatty(self):
            return True

    class Closed:
        def isatty(self):
            raise ValueError("I/O operation on closed file")

    env = dict(os.environ)
    try:
        os.environ["TERM"] = "xterm"
        assert cli._on_terminal(Tty()) is True
        assert cli._on_terminal(Closed()) is False
        assert cli._on_terminal(object()) is False
        os.environ["TERM"] = "dumb"
        assert cli._on_terminal(Tty()) is False
    finally:
        os.environ.clear()
        os.environ.update(env)


def test_help_documents_the_option():
    r = CliRunner().invoke(main, ["check", "--help"])
    assert "--progress / --no-progress" in r.stdout
    assert f"over {cli.PROGRESS_THRESHOLD} files" in " ".join(r.stdout.split())


# -- on a real terminal ---------------------------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "openpty") or sys.platform == "win32", reason="needs a pty")
@pytest.mark.parametrize("threshold, bar", [(2, True), (3, False)])
def test_real_terminal(project, threshold, bar):
    probe = ("import sys\nfrom dropout_guard import cli\n"
             f"cli.PROGRESS_THRESHOLD = {threshold}\n"
             "try:\n    cli.main(['check', '--no-cache', '--color', 'never', '.'], prog_name='dropout-guard')\n"
             "except SystemExit as e:\n    code = e.code\n"
             "print('RESULT', code, 'rich' in sys.modules, file=sys.stderr)\n")
    master, slave = os.openpty()
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), TERM="xterm")
    env.pop("CI", None)
    try:
        proc = subprocess.Popen([sys.executable, "-c", probe], cwd=project, env=env, stdin=subprocess.DEVNULL,
                                stdout=slave, stderr=slave)
    finally:
        os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(timeout=300) == 0
    text = out.decode("utf-8", "replace")
    assert f"RESULT 1 {bar}" in text  # without colour, rich is imported only for a bar
    assert ("3/3" in text) is bar and (HIDE_CURSOR in text) is bar
    assert "Found 2 problems." in text
    if bar:
        assert text.index("Found 2 problems.") > text.rindex(SHOW_CURSOR)
