"""Shared test helpers. Keep this file minimal."""
from __future__ import annotations

import ast

import pytest

from dropout_guard.lint.rules.base import Rule

pytest_plugins = ["pytester"]  # used by tests/runtime; pytest only allows this in the top-level conftest


class FakeBoom(Rule):
    """## What it does
    Reports every call of ``boom()`` (a rule that exists only in the tests).

    ## Why is this bad?
    It is not; it gives the engine tests a finding on a line of their choosing.

    ## Example
    ```python
    boom()
    ```

    ## Use instead
    ```python
    pass
    ```

    ## Fix safety
    No fix.
    """

    code = "DG990"
    name = "fake-boom"
    summary = "boom() is called"
    call = "boom"

    def check(self, ctx):
        for node in ast.walk(ctx.tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == self.call:
                ctx.report(self, node, f"{self.call}() is called")


class FakeBang(FakeBoom):
    """## What it does
    Reports every call of ``bang()``; off by default (a test-only opt-in rule).
    """

    code = "DG991"
    name = "fake-bang"
    summary = "bang() is called"
    call = "bang"
    default_enabled = False


@pytest.fixture
def fake_rules(monkeypatch):
    """Register the test-only rules DG990 (``boom()``, on by default) and DG991 (``bang()``,
    off by default) in the rule registry for one test."""
    from dropout_guard.lint import rules

    new = sorted([*rules.ALL_RULES, FakeBoom, FakeBang], key=lambda r: r.code)
    monkeypatch.setattr(rules, "ALL_RULES", new)
    monkeypatch.setattr(rules, "RULES_BY_CODE", {r.code: r for r in new})
    monkeypatch.setattr(rules, "RULES_BY_NAME", {r.name: r for r in new})
    return FakeBoom, FakeBang
