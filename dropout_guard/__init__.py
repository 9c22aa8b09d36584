"""dropout-guard: keep PyTorch models in the right mode.

Two halves share this package:

* ``dropout-guard check`` (``dropout_guard.lint``): a static analyser that never imports torch;
* ``inference_guard`` / ``eval_mode`` (``dropout_guard.runtime``): a runtime guard.

Importing this package is cheap and has no side effects: it imports neither torch, libcst
nor rich. The runtime names below are resolved lazily on first access (PEP 562), so
``pytest -W error::dropout_guard.DropoutGuardWarning`` can resolve the category without
loading torch. Where torch is not installed, the error and warning classes still resolve,
and the names that need torch (``inference_guard``, ``eval_mode``, ``Violation``) raise
``TorchNotInstalledError`` (a ``ModuleNotFoundError``) whose one-line message names the
install command.
"""
from __future__ import annotations

__version__ = "0.1.0"

_RUNTIME_EXPORTS = {
    "inference_guard": "dropout_guard.runtime.guard",
    "eval_mode": "dropout_guard.runtime.guard",
    "Violation": "dropout_guard.runtime.guard",
    "DropoutGuardError": "dropout_guard.runtime.errors",
    "DropoutGuardWarning": "dropout_guard.runtime.errors",
    "TrainingModeDropoutError": "dropout_guard.runtime.errors",
    "TrainingModeDropoutWarning": "dropout_guard.runtime.errors",
    "TrainingModeBatchNormError": "dropout_guard.runtime.errors",
    "TrainingModeBatchNormWarning": "dropout_guard.runtime.errors",
    "GuardLimitationWarning": "dropout_guard.runtime.errors",
    "UnsupportedModelError": "dropout_guard.runtime.errors",
    "TorchNotInstalledError": "dropout_guard.runtime.errors",
}

__all__ = ["__version__", *_RUNTIME_EXPORTS]


def __getattr__(name: str):
    module_name = _RUNTIME_EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'dropout_guard' has no attribute {name!r}")
    from dropout_guard.runtime._requires_torch import import_runtime

    value = getattr(import_runtime(module_name, f"dropout_guard.{name}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
