"""Runtime half of dropout-guard: ``inference_guard``, ``eval_mode`` and the process watch.

Importing this package does not import torch (``dropout_guard.runtime.errors`` must stay
importable without it); the submodules ``guard``, ``watch`` and ``runner`` import torch
when they are imported. Where torch is not installed, the names below raise
``TorchNotInstalledError`` (a ``ModuleNotFoundError``) whose one-line message names the
install command. See ``docs/runtime.md``.
"""
from __future__ import annotations

_EXPORTS = {
    "inference_guard": "dropout_guard.runtime.guard",
    "InferenceGuard": "dropout_guard.runtime.guard",
    "eval_mode": "dropout_guard.runtime.guard",
    "Violation": "dropout_guard.runtime.guard",
    "ProcessWatch": "dropout_guard.runtime.watch",
    "run_script": "dropout_guard.runtime.runner",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'dropout_guard.runtime' has no attribute {name!r}")
    from dropout_guard.runtime._requires_torch import import_runtime

    value = getattr(import_runtime(module_name, f"dropout_guard.runtime.{name}"), name)
    globals()[name] = value
    return value
