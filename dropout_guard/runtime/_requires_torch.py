"""The runtime half where torch is not installed: one line that says how to install it.

Owns the install command (``INSTALL_COMMAND``), the check whether torch can be imported
(:func:`torch_installed`, which does not import it) and :func:`import_runtime`, which
imports a runtime module and turns "No module named 'torch'" into
:class:`~dropout_guard.runtime.errors.TorchNotInstalledError` with that one line. Used by
``dropout_guard.__getattr__``, ``dropout_guard.runtime.__getattr__``, ``dropout-guard run``
and the pytest plugin. Imports no torch (only the standard library).
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

from dropout_guard.runtime.errors import TorchNotInstalledError

__all__ = ["INSTALL_COMMAND", "missing_torch_message", "torch_installed", "import_runtime"]

INSTALL_COMMAND = 'pip install "dropout-guard[torch]"'


def missing_torch_message(feature: str) -> str:
    """One line: ``<feature> needs torch, which is not installed: pip install ...``."""
    return f"{feature} needs torch, which is not installed: {INSTALL_COMMAND}"


def torch_installed() -> bool:
    """Whether ``import torch`` can find torch; never imports it."""
    if sys.modules.get("torch") is not None:
        return True
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # a finder that refuses torch; a broken sys.modules entry
        return False


def import_runtime(module_name: str, feature: str) -> ModuleType:
    """Import ``module_name``; raise :class:`TorchNotInstalledError` if torch is missing.

    Only a missing ``torch`` itself is translated (``feature`` names what needed it in the
    message); any other import error, also one raised inside an installed torch, propagates
    unchanged.
    """
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        raise TorchNotInstalledError(missing_torch_message(feature)) from None
