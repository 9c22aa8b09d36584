"""Exception and warning classes of the runtime guard.

This module must stay free of torch (and of every other heavy import): pytest resolves
``-W error::dropout_guard.DropoutGuardWarning`` by importing it, and that must not load
torch.

Hierarchy::

    RuntimeError
      DropoutGuardError                     every error the package raises
        TrainingModeDropoutError            dropout (module or functional) fired in inference
          TrainingModeBatchNormError        batch norm ran in training mode in inference
        UnsupportedModelError               the guard cannot watch this model at all
    ModuleNotFoundError
      TorchNotInstalledError                the runtime half is used where torch is missing
    RuntimeWarning
      DropoutGuardWarning                   every warning the package emits
        TrainingModeDropoutWarning
          TrainingModeBatchNormWarning
        GuardLimitationWarning              part of a model cannot be hooked (TorchScript)

Filter all of them with ``DropoutGuardWarning`` / ``DropoutGuardError``, or one kind with
its subclass. Errors and warnings raised for a violation carry it as ``.violation``.
"""
from __future__ import annotations

from typing import Any

__all__ = [
    "DropoutGuardError",
    "DropoutGuardWarning",
    "TrainingModeDropoutError",
    "TrainingModeDropoutWarning",
    "TrainingModeBatchNormError",
    "TrainingModeBatchNormWarning",
    "UnsupportedModelError",
    "GuardLimitationWarning",
    "TorchNotInstalledError",
]


class DropoutGuardError(RuntimeError):
    """Base class of every error raised by dropout-guard."""


class TorchNotInstalledError(ModuleNotFoundError):
    """The runtime guard was asked for where torch is not installed.

    A ``ModuleNotFoundError`` (so ``except ImportError`` catches it) with ``name == "torch"``,
    whose one-line message names the install command (see
    :mod:`dropout_guard.runtime._requires_torch`).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, name="torch")

    def __reduce__(self):  # keep picklable (ImportError's own drops the keyword ``name``)
        return (type(self), (str(self),))


class DropoutGuardWarning(RuntimeWarning):
    """Base class of every warning emitted by dropout-guard."""


class TrainingModeDropoutError(DropoutGuardError):
    """Dropout ran in training mode inside code declared as inference.

    Raised by ``inference_guard(..., action="raise")`` (the default) at the first firing.
    ``violation`` holds the :class:`dropout_guard.Violation` that was recorded.
    """

    def __init__(self, message: str, violation: Any = None) -> None:
        super().__init__(message)
        self.violation = violation

    def __reduce__(self):  # keep picklable (multiprocessing, pytest-xdist)
        return (type(self), (str(self), self.violation))


class TrainingModeBatchNormError(TrainingModeDropoutError):
    """Batch norm ran in training mode (it overwrites its running statistics) in inference.

    A subclass of :class:`TrainingModeDropoutError`, so ``except TrainingModeDropoutError``
    catches both.
    """


class UnsupportedModelError(DropoutGuardError):
    """The object given to the guard cannot be watched (for example, not an ``nn.Module``)."""


class TrainingModeDropoutWarning(DropoutGuardWarning):
    """Dropout ran in training mode inside code declared as inference (``action="warn"``)."""


class TrainingModeBatchNormWarning(TrainingModeDropoutWarning):
    """Batch norm ran in training mode inside code declared as inference (``action="warn"``)."""


class GuardLimitationWarning(DropoutGuardWarning):
    """Part of the guarded model cannot be hooked (TorchScript modules run no Python hooks).

    The guard checked the training flags of those modules once, on entry.
    """
