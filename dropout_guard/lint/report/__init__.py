"""Output formats. One module per format, each with ``render(findings, ...) -> str``.

``concise`` (alias ``text``) is text.py; ``full`` (full.py) quotes the source too. Only
those two may import rich, and only when colour is on; the others use the standard
library. ``render(fmt, result, ...)`` dispatches by name.
"""
from __future__ import annotations

import importlib
from typing import Any, Optional

FORMATS = ("concise", "full", "json", "sarif", "github")
ALIASES = {"text": "concise"}  # the name before ruff's: ``text`` is ``concise``
TOOL_NAME = "dropout-guard"
INFORMATION_URI = "https://pypi.org/project/dropout-guard/"
RULE_DOCS_URL: Optional[str] = None  # e.g. "https://…/rules/{name}" once the rule docs are published

_MODULES = {"concise": "text", "text": "text", "full": "full", "json": "json_", "sarif": "sarif", "github": "github"}


def rule_url(code: str, name: str) -> Optional[str]:
    """Where a rule's documentation lives on the web (None until it is published)."""
    return RULE_DOCS_URL.format(code=code, name=name) if RULE_DOCS_URL else None


def formatter(fmt: str):
    """The module rendering format ``fmt``."""
    if fmt not in _MODULES:
        raise ValueError(f"unknown output format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return importlib.import_module(f"{__name__}.{_MODULES[fmt]}")


def render(fmt: str, findings, **options: Any) -> str:
    return formatter(fmt).render(findings, **options)
