"""The rule contract: one class per rule, carrying its code, name, docs and examples.

A rule only reports. ``check`` reads the file's facts (``ctx.module``), the project-wide
analysis (``ctx.project``) and the knowledge base, and calls ``ctx.report``. The docstring
follows ruff's sections (What it does / Why is this bad? / Example / Use instead / Fix
safety); ``VALID`` and ``INVALID`` are small programs that the tests lint: every INVALID
example marks its expected findings with ``# expect: CODE`` and every VALID one has none.
"""
from __future__ import annotations

import inspect
from typing import ClassVar, FrozenSet, List, Optional

from ..context import FileContext


class Rule:
    code: ClassVar[str] = ""
    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""  # one line, for `dropout-guard rules` and SARIF shortDescription
    fix_safety: ClassVar[str] = "none"  # "safe" | "unsafe" | "display-only" | "none"
    default_enabled: ClassVar[bool] = True
    # Identifiers without which the rule cannot fire anywhere in a group of files that import
    # each other (see partition.py); None: the rule may fire on any code.
    triggers: ClassVar[Optional[FrozenSet[str]]] = None
    VALID: ClassVar[List[str]] = []
    INVALID: ClassVar[List[str]] = []

    def check(self, ctx: FileContext) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    @classmethod
    def documentation(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")
