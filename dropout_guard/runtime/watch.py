"""``ProcessWatch``: the zero-change, process-wide check behind ``dropout-guard run`` and
``pytest --dropout-guard``.

It reports every dropout / batch-norm module that runs in training mode while gradients are
disabled (``module.training and not torch.is_grad_enabled()``: the tell-tale of inference),
in every thread. Importing this module imports torch.
"""
from __future__ import annotations

import os
import shutil
import sys
import threading
from typing import Any, List, Optional, TextIO

import torch

from dropout_guard.runtime import _inspect as _in
from dropout_guard.runtime.guard import _GLOBAL, Violation, _Recorder, _RootNames

__all__ = ["ProcessWatch", "format_summary", "print_summary"]


class ProcessWatch(_Recorder):
    """Process-wide check: training-mode dropout / batch norm while gradients are disabled.

    Usable as a context manager or with :meth:`start` / :meth:`stop`. ``action`` is
    ``"warn"`` (default), ``"raise"`` or ``"record"``; :attr:`violations` collects what fired.

    Side effects: while started, it registers one process-wide module forward pre-hook
    (``torch.nn.modules.module.register_module_forward_pre_hook``), shared with any
    process-wide :func:`dropout_guard.inference_guard`, that runs for every module call in
    every thread (a small per-call overhead: a debugging tool, not for production). It never
    changes a module's mode; :meth:`stop` removes the hook.
    """

    _context = "while gradients were disabled (this looks like inference)"

    def __init__(self, action: str = "warn", *, batchnorm: bool = True) -> None:
        super().__init__(action)
        self.batchnorm = bool(batchnorm)
        self._names = _RootNames()
        self._names_lock = threading.Lock()
        self._started = False

    def start(self) -> "ProcessWatch":
        """Install the process-wide hook (idempotent)."""
        if not self._started:
            _GLOBAL.add_watcher(self)
            self._started = True
        return self

    def stop(self) -> None:
        """Remove the process-wide hook (idempotent); the violations stay."""
        if self._started:
            _GLOBAL.remove_watcher(self)
            self._started = False

    def __enter__(self) -> "ProcessWatch":
        return self.start()

    def __exit__(self, *exc: Any) -> bool:
        self.stop()
        return False

    def on_global(self, module: Any) -> None:
        # called by the global pre-hook for every module call with module.training True
        if torch.is_grad_enabled():
            return
        kind = _in.target_kind(module, self.batchnorm)
        if kind is None:
            return
        try:
            frame = sys._getframe(1)
            with self._names_lock:
                name, model_name = self._names.resolve(module, frame)
        except Exception:
            self._internal_error()
            return
        self.report_module(module, kind, name, model_name, frame)


def format_summary(violations: List[Violation], *, width: Optional[int] = None) -> Any:
    """A rich ``Table`` of the violations (imports rich)."""
    from rich.table import Table

    table = Table(title="dropout-guard: training-mode layers that ran while gradients were "
                  "disabled", title_justify="left")
    table.add_column("module", overflow="fold")
    table.add_column("class")
    table.add_column("model")
    table.add_column("kind")
    table.add_column("count", justify="right")
    table.add_column("first call site", overflow="fold")
    for v in violations:
        table.add_row(_in.display_name(v.name), v.class_name or "-", v.model or "-", v.kind,
                      str(v.count), v.first_call_site)
    return table


def print_summary(violations: List[Violation], file: Optional[TextIO] = None) -> None:
    """Print the summary table (or a one-line all-clear) to ``file`` (default: stderr)."""
    from rich.console import Console

    stream = file if file is not None else sys.stderr
    isatty = getattr(stream, "isatty", lambda: False)()
    width = None if isatty else max(shutil.get_terminal_size((160, 24)).columns, 160)
    console = Console(file=stream, width=width, highlight=False,
                      force_terminal=None if isatty else False,
                      no_color=bool(os.environ.get("NO_COLOR")))
    if not violations:
        console.print("dropout-guard: no dropout or batch norm ran in training mode while "
                      "gradients were disabled.")
        return
    console.print(format_summary(violations))
    total = sum(v.count for v in violations)
    console.print(f"dropout-guard: {len(violations)} layer(s), {total} call(s). Fix: call "
                  "model.eval() before inference, or use dropout_guard.eval_mode(model).")
