"""pytest plugin of dropout-guard (entry point ``pytest11: dropout_guard``).

It loads in every pytest session of an environment where dropout-guard is installed, so it
is inert until asked: it registers only names in its own namespace (the option
``--dropout-guard``, the ini option ``dropout_guard``, the marker ``dropout_guard``, the
fixture ``dropout_guard``), and a session that uses none of them runs exactly as without
it and never imports torch. Disable it with ``-p no:dropout_guard``.

* ``--dropout-guard=off|warn|raise`` (or the ini option ``dropout_guard``; default off):
  for the whole session, report every dropout / batch-norm module that runs in training
  mode while gradients are disabled, in any thread (``warn``: a
  ``TrainingModeDropoutWarning`` in pytest's warnings summary; ``raise``: the test fails
  with ``TrainingModeDropoutError``), and print a summary at the end.
* ``@pytest.mark.dropout_guard`` (optionally ``@pytest.mark.dropout_guard(action="warn",
  functional=..., batchnorm=...)``, keyword arguments of ``inference_guard``): the test's
  call phase runs inside ``dropout_guard.inference_guard()`` (process-wide for the test's
  thread; raises by default).
* fixture ``dropout_guard``: a factory of record-mode guards,
  ``guard = dropout_guard(model)``; ``with guard: ...``; ``guard.violations``.

Where torch is not installed, asking for the guard (``--dropout-guard=warn|raise``, or a
selected test marked ``dropout_guard``) is a usage error of one line that names the install
command, and the fixture fails its test with that line.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

_MODES = ("off", "warn", "raise")
MARKER = "dropout_guard"
_MARKER_KWARGS = ("action", "functional", "batchnorm")
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


def _session_mode(config: Any) -> Tuple[str, str]:
    """The session's mode and how it was asked for (for messages)."""
    mode = config.getoption("dropout_guard")
    if mode is not None:
        return mode, f"--dropout-guard={mode}"
    mode = (config.getini("dropout_guard") or "off").strip()
    if mode not in _MODES:
        raise pytest.UsageError(f"dropout_guard must be one of {_MODES}, not {mode!r}")
    return mode, f"dropout_guard = {mode} (ini option)"


class _SessionWatch:
    """Holds the process-wide watch for ``--dropout-guard=warn|raise``."""

    def __init__(self, action: str, feature: str) -> None:
        from dropout_guard.runtime._requires_torch import import_runtime
        from dropout_guard.runtime.errors import TorchNotInstalledError

        try:
            watch_module = import_runtime("dropout_guard.runtime.watch", feature)
        except TorchNotInstalledError as exc:
            raise pytest.UsageError(str(exc)) from None
        self.watch = watch_module.ProcessWatch(action=action)
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
        f"{MARKER}(action='raise', functional=True, batchnorm=True): run the test inside "
        "dropout_guard.inference_guard(); dropout or batch norm in training mode fails it "
        "(dropout-guard; needs torch).",
    )
    mode, asked = _session_mode(config)
    if mode != "off" and getattr(config, _SESSION_KEY, None) is None:
        session = _SessionWatch(mode, asked)
        setattr(config, _SESSION_KEY, session)
        config.pluginmanager.register(session, "dropout_guard_session_watch")


def pytest_unconfigure(config: Any) -> None:
    session: Optional[_SessionWatch] = getattr(config, _SESSION_KEY, None)
    if session is not None:
        session.stop()
        setattr(config, _SESSION_KEY, None)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: Any, items: List[Any]) -> None:
    """Without torch, selected tests marked ``dropout_guard`` are a one-line usage error.

    Runs after deselection (``-k``, ``-m``); tests that carry a ``skip`` or ``skipif`` mark
    are left to it (a suite that skips its torch tests where torch is missing stays
    runnable). Only asks whether torch can be found; does not import it.
    """
    if config.option.collectonly:
        return
    marked = [item for item in items if item.get_closest_marker(MARKER) is not None
              and item.get_closest_marker("skip") is None
              and item.get_closest_marker("skipif") is None]
    if not marked:
        return
    from dropout_guard.runtime._requires_torch import missing_torch_message, torch_installed

    if not torch_installed():
        more = f" and {len(marked) - 1} more" if len(marked) > 1 else ""
        raise pytest.UsageError(missing_torch_message(
            f"@pytest.mark.{MARKER} (on {marked[0].nodeid}{more})"))


def _marker_kwargs(marker: Any) -> Dict[str, Any]:
    if marker.args:
        pytest.fail(f"@pytest.mark.{MARKER} takes keyword arguments only "
                    f"({', '.join(k + '=' for k in _MARKER_KWARGS)})", pytrace=False)
    unknown = sorted(set(marker.kwargs) - set(_MARKER_KWARGS))
    if unknown:
        pytest.fail(f"@pytest.mark.{MARKER} got unknown keyword arguments {unknown}; "
                    f"it takes {', '.join(k + '=' for k in _MARKER_KWARGS)}", pytrace=False)
    return dict(marker.kwargs)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: Any) -> Any:
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return (yield)
    kwargs = _marker_kwargs(marker)
    guard_module = _import_guard(f"@pytest.mark.{MARKER}")
    try:
        guard = guard_module.inference_guard(**kwargs)
    except ValueError as exc:
        error = f"@pytest.mark.{MARKER}: {exc}"
    else:
        error = None
    if error is not None:  # outside the except block: one line, no chained exception
        pytest.fail(error, pytrace=False)
    with guard:
        return (yield)


def _import_guard(feature: str) -> Any:
    """``dropout_guard.runtime.guard``; a one-line failure of the test if torch is missing."""
    from dropout_guard.runtime._requires_torch import import_runtime
    from dropout_guard.runtime.errors import TorchNotInstalledError

    try:
        return import_runtime("dropout_guard.runtime.guard", feature)
    except TorchNotInstalledError as exc:
        error = str(exc)
    pytest.fail(error, pytrace=False)  # outside the except block: no chained exception


@pytest.fixture
def dropout_guard() -> Callable[..., Any]:
    """Factory of record-mode guards: ``guard = dropout_guard(model)``; ``with guard: ...``.

    Keyword arguments are those of :func:`dropout_guard.inference_guard`
    (``action`` defaults to ``"record"`` here).
    """
    guard_module = _import_guard("the dropout_guard fixture")

    def make(model: Any = None, **kwargs: Any) -> Any:
        kwargs.setdefault("action", "record")
        return guard_module.InferenceGuard(model, **kwargs)

    return make
