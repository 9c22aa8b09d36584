"""GitHub Actions workflow commands: one ``::error`` annotation per finding.

A finding in a notebook is annotated on the file's first line (GitHub renders the JSON,
where cell rows mean nothing); its message starts with ``path:cell N:row:col``.

Escaping follows actions/toolkit (``packages/core/src/command.ts``): in the message,
``%``, ``\\r`` and ``\\n``; in properties, also ``:`` and ``,``.
"""
from __future__ import annotations

from typing import Sequence

from ..findings import Finding
from . import TOOL_NAME
from .text import line_of


def escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s: str) -> str:
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")


def annotation(f: Finding) -> str:
    if f.cell is not None:
        # GitHub shows a notebook's JSON, not its cells: annotate the file, say where in the text
        props = [("file", f.path), ("line", "1"), ("title", f"{TOOL_NAME} ({f.code})")]
        joined = ",".join(f"{k}={escape_property(v)}" for k, v in props)
        return f"::error {joined}::{escape_data(line_of(f, escape=False))}"
    props = [
        ("file", f.path),
        ("line", str(f.line)),
        ("col", str(f.column)),
        ("endLine", str(f.end_line)),
        ("endColumn", str(f.end_column)),
        ("title", f"{TOOL_NAME} ({f.code})"),
    ]
    joined = ",".join(f"{k}={escape_property(v)}" for k, v in props)
    return f"::error {joined}::{escape_data(line_of(f, escape=False))}"


def render(findings: Sequence[Finding], **_: object) -> str:
    return "".join(annotation(f) + "\n" for f in findings)
