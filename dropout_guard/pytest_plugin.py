"""pytest plugin of dropout-guard (entry point ``pytest11: dropout_guard``).

* ``--dropout-guard=off|warn|raise`` (or the ini option ``dropout_guard``; default off):
  for the whole session, report every dropout / batch-norm module that runs in training
  mode while gradients are disabled, in any thread (``warn``: a
  ``TrainingModeDropoutWarning`` in pytest's warnings summary; ``raise``: the test fails
  with ``TrainingModeDropoutError``), and print a summary at the end.
* ``@pytest.mark.inference`` (optionally ``@pytest.mark.inference(action="warn",
  functional=..., batchnorm=...)``): the test's call phase runs inside
  ``dropout_guard.inference_guard()`` (process-wide for the test's thread; raises by
  default).
* fixture ``dropout_guard``: a factory of record-mode guards,
  ``guard = dropout_guard(model)``; ``with guard: ...``; ``guard.violations``.

Importing this module is light (no torch, no rich): it loads in every pytest session of an
environment where dropout-guard is installed. Disable it with ``-p no:dropout_guard``.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import pytest

_MODES = ("off", "warn", "raise")
_ALIASES = ("dropout_guard", "dropout_guard.pytest_plugin")


class _Alias:
    """Placeholder registered under our other plugin name (see ``pytest_addhooks``)."""


_ALIAS = _Alias()


def pytest_addhooks(pluginmanager: Any) -> None:
    # The plugin can be loaded both as the installed entry point ("dropout_guard") and by
    # module name ("-p dropout_guard.pytest_plugin", or pytest_plugins in a conftest).
    # pluggy refuses to register the same module under two names, so reserve the other
    # name with a placeholder: whichever comes second is then skipped.
    import sys

    me = sys.modules[__name__]
    my_name = pluginmanager.get_name(me)
    for name in _ALIASES:
        if name != my_name and not pluginmanager.has_plugin(name) \
                and not pluginmanager.is_blocked(name) \
                and not pluginmanager.is_registered(_ALIAS):
            pluginmanager.register(_ALIAS, name)


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("dropout-guard", "dropout-guard runtime checks")
    group.addoption(
        "--dropout-guard",
        action="store",
        dest="dropout_guard",
        default=None,
        choices=_MODES,
        help="report dropout / batch norm running in training mode while gradients are "
        "disabled, in the whole test session: off (default), warn, raise.",
    )
    parser.addini("dropout_guard", "default for --dropout-guard (off|warn|raise)", default="off")


def _session_mode(config: Any) -> str:
    mode = config.getoption("dropout_guard")
    if mode is None:
        mode = (config.getini("dropout_guard") or "off").strip()
    if mode not in _MODES:
        raise pytest.UsageError(f"dropout_guard must be one of {_MODES}, not {mode!r}")
    return mode


class _SessionWatch:
    """Holds the process-wide watch for ``--dropout-guard=warn|raise``."""

    def __init__(self, action: str) -> None:
        from dropout_guard.runtime.watch import ProcessWatch

        self.watch = ProcessWatch(action=action)
        self.watch.start()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        violations = self.watch.violations
        if not violations:
            return
        terminalreporter.section("dropout-guard")
        for v in violations:
            terminalreporter.write_line(
                f"{v.kind:9} {v.model}:{v.name or '<root>'} ({v.class_name}) x{v.count} "
                f"first at {v.first_call_site}")
        terminalreporter.write_line(
            "fix: call model.eval() before inference, or use dropout_guard.eval_mode(model)")

    def stop(self) -> None:
        self.watch.stop()


_SESSION_KEY = "_dropout_guard_session_watch"


def pytest_configure(config: Any) -> None:
    config.addinivalue_line(
        "markers",
        "inference(action='raise', functional=True, batchnorm=True): run the test inside "
        "dropout_guard.inference_guard(); dropout or batch norm in training mode fails it.",
    )
    mode = _session_mode(config)
    if mode != "off" and getattr(config, _SESSION_KEY, None) is None:
        session = _SessionWatch(mode)
        setattr(config, _SESSION_KEY, session)
        config.pluginmanager.register(session, "dropout_guard_session_watch")


def pytest_unconfigure(config: Any) -> None:
    session: Optional[_SessionWatch] = getattr(config, _SESSION_KEY, None)
    if session is not None:
        session.stop()
        setattr(config, _SESSION_KEY, None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: Any) -> Any:
    marker = item.get_closest_marker("inference")
    if marker is None:
        return (yield)
    from dropout_guard.runtime.guard import inference_guard

    if marker.args:
        raise pytest.UsageError("@pytest.mark.inference takes keyword arguments only "
                                "(action=, functional=, batchnorm=)")
    with inference_guard(**marker.kwargs):
        return (yield)


@pytest.fixture
def dropout_guard() -> Callable[..., Any]:
    """Factory of record-mode guards: ``guard = dropout_guard(model)``; ``with guard: ...``.

    Keyword arguments are those of :func:`dropout_guard.inference_guard`
    (``action`` defaults to ``"record"`` here).
    """
    from dropout_guard.runtime.guard import InferenceGuard

    def make(model: Any = None, **kwargs: Any) -> Any:
        kwargs.setdefault("action", "record")
        return InferenceGuard(model, **kwargs)

    return make
