"""JSON output: one array, one object per finding.

Our fields (``code``, ``name``, ``message``, ``path`` (relative to the working directory),
``line``, ``column``, ``end_line``, ``end_column``, all 1-based, end exclusive, and ``fix``)
plus ruff's JSON fields (``filename`` (absolute), ``location``/``end_location``
``{row, column}``, ``cell``, ``noqa_row``, ``url``), so tools written for ruff read it too.
"""
from __future__ import annotations

import json
from typing import List, Optional, Sequence

from ..findings import Finding, Fix
from . import rule_url


def fix_to_dict(fix: Optional[Fix]) -> Optional[dict]:
    if fix is None:
        return None
    return {
        "applicability": fix.applicability,
        "message": fix.message,
        "edits": [{
            "content": e.content,
            "location": {"row": e.line, "column": e.column},
            "end_location": {"row": e.end_line, "column": e.end_column},
        } for e in fix.edits],
    }


def finding_to_dict(f: Finding) -> dict:
    return {
        "code": f.code,
        "name": f.name,
        "message": f.message,
        "path": f.path,
        "line": f.line,
        "column": f.column,
        "end_line": f.end_line,
        "end_column": f.end_column,
        "fix": fix_to_dict(f.fix),
        "filename": f.abspath or f.path,
        "location": {"row": f.line, "column": f.column},
        "end_location": {"row": f.end_line, "column": f.end_column},
        "cell": f.cell,
        "noqa_row": f.line,
        "url": rule_url(f.code, f.name),
    }


def to_list(findings: Sequence[Finding]) -> List[dict]:
    return [finding_to_dict(f) for f in findings]


def render(findings: Sequence[Finding], **_: object) -> str:
    return json.dumps(to_list(findings), indent=2) + "\n"


def render_statistics(findings: Sequence[Finding], unsafe: bool = False, **_: object) -> str:
    from .text import statistics

    return json.dumps(statistics(findings, unsafe), indent=2) + "\n"
