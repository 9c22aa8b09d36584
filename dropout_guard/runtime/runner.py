"""``dropout-guard run script.py [args...]``: run a script under the process-wide watch.

Also runnable as ``python -m dropout_guard.runtime.runner [--action warn|raise] script.py
[args...]``. Importing this module does not import torch; :func:`run_script` does.
"""
from __future__ import annotations

import os
import runpy
import sys
import traceback
from typing import List, Optional, Sequence

__all__ = ["run_script", "main"]

USAGE = "usage: python -m dropout_guard.runtime.runner [--action warn|raise] SCRIPT [ARGS]..."


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, bool):
        return int(code)
    if isinstance(code, int):
        return code
    # sys.exit("message") prints the message and exits with status 1, as Python does
    print(code, file=sys.stderr)
    return 1


def _print_script_traceback(exc: BaseException, script: str) -> None:
    """Print the traceback from the script's first frame on (hide runpy and the runner)."""
    tb = exc.__traceback__
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) != script:
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb if tb is not None else exc.__traceback__)


def run_script(path: str, argv: List[str], action: str = "warn") -> int:
    """Run the Python script ``path`` as ``__main__`` under a process-wide :class:`ProcessWatch`.

    ``sys.argv`` is ``[path, *argv]`` and ``sys.path[0]`` the script's folder while it runs
    (both restored afterwards). Every dropout / batch-norm module that runs in training mode
    while gradients are disabled is reported (``action="warn"``: a warning per new call
    site; ``"raise"``: ``TrainingModeDropoutError`` at the first one, which ends the
    script), and a summary table is printed to stderr at the end.

    Returns the script's exit status: 0, the ``SystemExit`` code, or 1 when it raised
    (the traceback is printed to stderr).

    Raises :class:`~dropout_guard.runtime.errors.TorchNotInstalledError` (one line that
    names the install command) where torch is not installed.

    Side effects: imports torch; runs arbitrary code; installs a process-wide module hook
    for the duration (see :class:`dropout_guard.runtime.watch.ProcessWatch`).
    """
    if action not in ("warn", "raise", "record"):
        raise ValueError(f"action must be 'warn', 'raise' or 'record', not {action!r}")
    script = os.path.abspath(path)
    if not os.path.isfile(script):
        print(f"dropout-guard run: no such file: {path}", file=sys.stderr)
        return 2

    from dropout_guard.runtime._requires_torch import import_runtime

    watch_module = import_runtime("dropout_guard.runtime.watch", "dropout-guard run")

    saved_argv = sys.argv
    saved_path0 = sys.path[0] if sys.path else None
    script_dir = os.path.dirname(script)
    sys.argv = [path, *argv]
    if sys.path:
        sys.path[0] = script_dir
    else:
        sys.path.insert(0, script_dir)
    watch = watch_module.ProcessWatch(action=action)
    code = 0
    try:
        watch.start()
        try:
            runpy.run_path(script, run_name="__main__")
        except SystemExit as exc:
            code = _exit_code(exc.code)
        except KeyboardInterrupt as exc:
            _print_script_traceback(exc, script)
            code = 130
        except BaseException as exc:  # the script's own error: report it as Python would
            _print_script_traceback(exc, script)
            code = 1
    finally:
        watch.stop()
        sys.argv = saved_argv
        if saved_path0 is not None and sys.path and sys.path[0] == script_dir:
            sys.path[0] = saved_path0
    try:
        sys.stdout.flush()
    except Exception:  # pragma: no cover - closed stdout
        pass
    watch_module.print_summary(watch.violations)
    return code


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m dropout_guard.runtime.runner``."""
    args = list(sys.argv[1:] if argv is None else argv)
    action = "warn"
    while args and args[0].startswith("-"):
        opt = args.pop(0)
        if opt in ("-h", "--help"):
            print(USAGE)
            return 0
        if opt == "--action" and args:
            action = args.pop(0)
        elif opt.startswith("--action="):
            action = opt.split("=", 1)[1]
        elif opt == "--":
            break
        else:
            print(f"{USAGE}\nerror: unknown option {opt}", file=sys.stderr)
            return 2
    if action not in ("warn", "raise"):
        print(f"{USAGE}\nerror: --action must be warn or raise", file=sys.stderr)
        return 2
    if not args:
        print(f"{USAGE}\nerror: missing SCRIPT", file=sys.stderr)
        return 2
    from dropout_guard.runtime.errors import TorchNotInstalledError

    try:
        return run_script(args[0], args[1:], action=action)
    except TorchNotInstalledError as exc:
        print(exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
