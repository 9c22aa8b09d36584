"""JSON output: one array, one object per finding.

Our fields (``code``, ``name``, ``message``, ``path`` (relative to the working directory),
``line``, ``column``, ``end_line``, ``end_column``, all 1-based, end exclusive, and ``fix``)
plus ruff's JSON fields (``filename`` (absolute), ``location``/``end_location``
``{row, column}``, ``cell``, ``noqa_row``, ``url``), so tools written for ruff read it too.

Findings that one fix resolves together (a run of predictions wrapped in one ``with
torch.no_grad():`` block, one ``.eval()`` before consecutive predictions) share that fix:
the first of them in the report carries its edits, and each of the others carries the
fix's ``applicability`` and ``message``, no edits, and ``shared_with``: the ``row``,
``column`` and ``cell`` of the finding that holds them. Applying every fix of a report therefore applies
each edit once, and the report grows with the number of findings, not with findings times
the size of a block.
"""
from __future__ import annotations

import json
from typing import Dict, List, Optional, Sequence, Tuple

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


def shared_fix_to_dict(fix: Fix, holder: Finding) -> dict:
    """The fix of a finding that shares it with ``holder``, which carries the edits."""
    return {"applicability": fix.applicability, "message": fix.message, "edits": [],
            "shared_with": {"row": holder.line, "column": holder.column, "cell": holder.cell}}


def finding_to_dict(f: Finding, fix: Optional[dict] = None) -> dict:
    """``fix``: the finding's fix as already rendered (a shared one), else rendered here."""
    return {
        "code": f.code,
        "name": f.name,
        "message": f.message,
        "path": f.path,
        "line": f.line,
        "column": f.column,
        "end_line": f.end_line,
        "end_column": f.end_column,
        "fix": fix if fix is not None else fix_to_dict(f.fix),
        "filename": f.abspath or f.path,
        "location": {"row": f.line, "column": f.column},
        "end_location": {"row": f.end_line, "column": f.end_column},
        "cell": f.cell,
        "noqa_row": f.line,
        "url": rule_url(f.code, f.name),
    }


def to_list(findings: Sequence[Finding]) -> List[dict]:
    holders: Dict[Tuple[str, int], Finding] = {}  # (file, fix object) -> the finding that carries its edits
    out = []
    for f in findings:
        shared = None
        if f.fix is not None and f.fix.edits:
            k = (f.abspath or f.path, id(f.fix))
            holder = holders.setdefault(k, f)
            if holder is not f:
                shared = shared_fix_to_dict(f.fix, holder)
        out.append(finding_to_dict(f, shared))
    return out


def render(findings: Sequence[Finding], **_: object) -> str:
    return json.dumps(to_list(findings), indent=2) + "\n"


def render_statistics(findings: Sequence[Finding], unsafe: bool = False, **_: object) -> str:
    from .text import statistics

    return json.dumps(statistics(findings, unsafe), indent=2) + "\n"
