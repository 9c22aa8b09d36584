"""SARIF 2.1.0 for GitHub code scanning (``github/codeql-action/upload-sarif``).

Every registered rule is listed in ``runs[0].tool.driver.rules`` (read from the registry
at call time) with its summary, its "What it does" section and its full markdown docs;
every finding is a result with a relative ``/``-separated URI, a 1-based region (SARIF's
``endColumn`` is exclusive, as ours is) and a stable ``primaryLocationLineHash``
fingerprint computed from the code, the path and the stripped text of the reported line,
so a finding keeps its identity when unrelated lines move. A finding in a notebook cell
is located in the raw ``.ipynb`` file, the artifact the result names (``notebook_region``),
with the cell and the position in the cell as result properties.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence
from urllib.parse import quote

from ..findings import Finding
from ..notebook import raw_key, raw_position, raw_sources
from . import INFORMATION_URI, TOOL_NAME, rule_url

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
VERSION = "2.1.0"


def _version() -> str:
    from dropout_guard import __version__

    return __version__


def section(doc: str, title: str) -> str:
    """The text of one ``## title`` section of a rule's markdown documentation."""
    m = re.search(rf"^##\s+{re.escape(title)}\s*$(?P<body>.*?)(?=^##\s|\Z)", doc, re.MULTILINE | re.DOTALL)
    return m.group("body").strip() if m else ""


def rule_descriptor(rule) -> dict:
    doc = rule.documentation() or rule.summary or rule.name
    summary = rule.summary or rule.name
    full = section(doc, "What it does") or summary
    descriptor = {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": summary},
        "fullDescription": {"text": " ".join(full.split())},
        "help": {"text": doc, "markdown": doc},
        "defaultConfiguration": {"level": "error", "enabled": bool(rule.default_enabled)},
        "properties": {
            "tags": ["pytorch", "correctness"],
            "precision": "high",
            "problem.severity": "error",
        },
    }
    url = rule_url(rule.code, rule.name)
    if url:
        descriptor["helpUri"] = url
    return descriptor


def artifact_uri(path: str) -> str:
    """A relative URI with ``/`` separators (an absolute path becomes a ``file://`` URI)."""
    if os.path.isabs(path):
        return Path(path).as_uri()
    return quote(path.replace(os.sep, "/"), safe="/")


def _disk_text(path: str, encoding: str) -> Optional[str]:
    """A file's text read from disk, for a report whose sources do not hold it (None when
    it cannot be read)."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding=encoding, errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def line_text(f: Finding, sources: Mapping[str, str]) -> str:
    if f.cell is not None:  # a notebook: the cell's own text (see notebook.cell_key)
        cell_src = sources.get(f"{f.abspath or f.path}#cell{f.cell}")
        if cell_src is None:
            return ""
        lines = re.split(r"\r\n|\r|\n", cell_src)
        return lines[f.line - 1] if 0 < f.line <= len(lines) else ""
    src = sources.get(f.abspath) if f.abspath else None
    if src is None:
        src = sources.get(f.path)
    if src is None and f.abspath:
        src = _disk_text(f.abspath, "utf-8")
    if src is None:
        return ""
    lines = re.split(r"\r\n|\r|\n", src)
    return lines[f.line - 1] if 0 < f.line <= len(lines) else ""


def notebook_region(f: Finding, sources: Mapping[str, str], cache: Dict[str, tuple]) -> dict:
    """The region of a finding in a notebook cell, in the artifact SARIF names: the raw
    ``.ipynb`` JSON file. Lines and columns are those of the file's text where the cell's
    source characters are written (inside the JSON strings of the cell's ``source``), so
    GitHub code scanning, which shows the file as stored, highlights the right code. When
    the file cannot be read or mapped, the region is the file's first line (as the GitHub
    annotation format does for notebooks)."""
    key = f.abspath or f.path
    if key not in cache:
        text = sources.get(raw_key(key))
        if text is None and f.abspath:
            text = _disk_text(f.abspath, "utf-8-sig")
        cache[key] = (text, raw_sources(text) if text is not None else {})
    text, cells = cache[key]
    start = raw_position(text, cells, f.cell, f.line, f.column) if text is not None else None
    end = raw_position(text, cells, f.cell, f.end_line, f.end_column) if start is not None else None
    if start is None:
        return {"startLine": 1}
    if end is None or end < start:
        end = start
    return {"startLine": start[0], "startColumn": start[1], "endLine": end[0], "endColumn": end[1]}


def fingerprint(code: str, path: str, text: str) -> str:
    return hashlib.sha256(f"{code}\0{path}\0{text.strip()}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


def to_sarif(findings: Sequence[Finding], sources: Optional[Mapping[str, str]] = None,
             rules: Optional[Sequence[type]] = None, cwd: Optional[str] = None) -> dict:
    if rules is None:
        from .. import rules as registry

        rules = list(registry.ALL_RULES)
    sources = sources or {}
    index: Dict[str, int] = {r.code: i for i, r in enumerate(rules)}
    seen: Counter = Counter()
    results: List[dict] = []
    raw: Dict[str, tuple] = {}  # notebook -> (raw text, raw_sources), scanned once
    for f in findings:
        fp = fingerprint(f.code, f.path, line_text(f, sources))
        seen[fp] += 1
        region = {"startLine": f.line, "startColumn": f.column, "endLine": f.end_line, "endColumn": f.end_column}
        if f.cell is not None:
            region = notebook_region(f, sources, raw)
        location = {"physicalLocation": {"artifactLocation": {"uri": artifact_uri(f.path)}, "region": region}}
        if not os.path.isabs(f.path):
            location["physicalLocation"]["artifactLocation"]["uriBaseId"] = "%SRCROOT%"
        result = {
            "ruleId": f.code,
            "level": "error",
            "message": {"text": f.message},
            "locations": [location],
            "partialFingerprints": {"primaryLocationLineHash": f"{fp}:{seen[fp]}"},
        }
        if f.code in index:
            result["ruleIndex"] = index[f.code]
        if f.cell is not None:  # the position inside the cell, as text and JSON report it
            result["properties"] = {"cell": f.cell, "cellLine": f.line, "cellColumn": f.column}
        results.append(result)
    root = os.path.abspath(cwd or os.getcwd())
    root_uri = Path(root).as_uri().rstrip("/") + "/"
    version = _version()
    return {
        "$schema": SCHEMA_URI,
        "version": VERSION,
        "runs": [{
            "tool": {"driver": {
                "name": TOOL_NAME,
                "version": version,
                "semanticVersion": version,
                "informationUri": INFORMATION_URI,
                "rules": [rule_descriptor(r) for r in rules],
            }},
            "originalUriBaseIds": {"%SRCROOT%": {"uri": root_uri}},
            "invocations": [{"executionSuccessful": True}],
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }


def render(findings: Sequence[Finding], *, sources: Optional[Mapping[str, str]] = None,
           cwd: Optional[str] = None, **_: object) -> str:
    return json.dumps(to_sarif(findings, sources, cwd=cwd), indent=2) + "\n"
