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


@pytest.fixture
def entry_point_site(tmp_path):
    """A folder holding a dist-info that declares the plugin's pytest11 entry point.

    On ``PYTHONPATH`` it makes pytest auto-load the plugin as an installed wheel would,
    whether or not the package is installed in the environment running the tests.
    """
    site = tmp_path / "entry_point_site"
    dist = site / "dropout_guard_fake-0.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: dropout-guard-fake\nVersion: 0.0\n")
    (dist / "entry_points.txt").write_text(
        "[pytest11]\ndropout_guard = dropout_guard.pytest_plugin\n")
    return site


@pytest.fixture
def autoload_plugin(monkeypatch, entry_point_site):
    """``pytester.runpytest_subprocess`` runs auto-load the plugin through its entry point."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(entry_point_site), REPO_ROOT, os.environ.get("PYTHONPATH", "")) if p))
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("PYTEST_PLUGINS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
