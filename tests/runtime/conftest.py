"""Fixtures of the runtime-guard tests (tests/runtime)."""
from __future__ import annotations

import os
import sys

import pytest

# ``pytester`` is enabled by the top-level tests/conftest.py (pytest only honours
# ``pytest_plugins`` there).

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO_ROOT not in sys.path:  # the package is not pip-installed in the dev venv
    sys.path.insert(0, REPO_ROOT)


def pytest_configure(config):
    # One intra-op thread: these tests run tiny tensors, and torch's CPU thread pool on a
    # 2-core machine makes some ops (training-mode batch norm) 100x slower, erratically.
    import torch

    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def no_leftover_hooks_or_modes():
    """Every runtime test must leave torch's global hook and mode state as it found it."""
    import torch

    pre = dict(torch.nn.modules.module._global_forward_pre_hooks)
    post = dict(torch.nn.modules.module._global_forward_hooks)
    stack = torch.overrides._get_current_function_mode_stack()
    yield
    assert dict(torch.nn.modules.module._global_forward_pre_hooks) == pre
    assert dict(torch.nn.modules.module._global_forward_hooks) == post
    assert torch.overrides._get_current_function_mode_stack() == stack


@pytest.fixture
def repo_env(monkeypatch):
    """Environment for subprocesses: the repository importable, quiet numpy warning."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (REPO_ROOT, env.get("PYTHONPATH", "")) if p)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env
