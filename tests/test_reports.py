"""Output formats (dropout_guard.lint.report): text, json, sarif, github, statistics."""
from __future__ import annotations

import json
import re

import pytest

from dropout_guard.lint.findings import Edit, Finding, Fix
from dropout_guard.lint.report import FORMATS, formatter, github, json_, sarif, text


def finding(code="DG990", line=2, col=5, path="pkg/m.py", message="boom() is called", fix=None, cell=None,
            name="fake-boom"):
    return Finding(code, name, message, path, line, col, line, col + 6, fix, cell, abspath=f"/abs/{path}")


FIX = Fix("safe", "Remove the call", (Edit("", 2, 5, 2, 11),))


# -- text --------------------------------------------------------------------------------------
def test_text_lines_and_summary():
    out = text.render([finding(), finding(code="DG000", line=1, col=1, message="SyntaxError: invalid syntax")])
    assert out == ("pkg/m.py:2:5: DG990 boom() is called\n"
                   "pkg/m.py:1:1: DG000 SyntaxError: invalid syntax\n"
                   "Found 2 problems.\n")
    assert text.render([finding()]).endswith("Found 1 problem.\n")
    assert text.render([]) == "All checks passed!\n"
    assert text.render([finding()], summary=False) == "pkg/m.py:2:5: DG990 boom() is called\n"


def test_text_marks_safe_fixes_and_cells():
    assert text.line_of(finding(fix=FIX)) == "pkg/m.py:2:5: DG990 [*] boom() is called"
    assert text.line_of(finding(fix=Fix("unsafe", "x"))) == "pkg/m.py:2:5: DG990 boom() is called"
    assert text.line_of(finding(path="nb.ipynb", cell=3)) == "nb.ipynb:cell 3:2:5: DG990 boom() is called"


def test_text_colour_only_when_asked():
    plain = text.render([finding()])
    coloured = text.render([finding()], color=True)
    assert "\x1b[" not in plain
    assert "\x1b[" in coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain


@pytest.mark.parametrize("choice, env, tty, expected", [
    ("always", {"NO_COLOR": "1"}, False, True),
    ("never", {"FORCE_COLOR": "1"}, True, False),
    ("auto", {}, True, True),
    ("auto", {}, False, False),
    ("auto", {"NO_COLOR": "1"}, True, False),
    ("auto", {"NO_COLOR": ""}, True, True),
    ("auto", {"TERM": "dumb"}, True, False),
    ("auto", {"FORCE_COLOR": "1"}, False, True),
])
def test_use_color(choice, env, tty, expected):
    class Stream:
        def isatty(self):
            return tty

    assert text.use_color(choice, Stream(), env) is expected


def test_statistics():
    fs = [finding(), finding(line=3), finding(code="DG000", name="file-not-analysed", fix=None),
          finding(code="DG101", name="eval-mode-missing", fix=FIX), finding(code="DG101", name="eval-mode-missing")]
    assert text.statistics(fs) == [
        {"code": "DG101", "name": "eval-mode-missing", "count": 2, "fixable": True},
        {"code": "DG990", "name": "fake-boom", "count": 2, "fixable": False},
        {"code": "DG000", "name": "file-not-analysed", "count": 1, "fixable": False},
    ]
    assert text.render_statistics(fs) == ("2\tDG101\t[*] eval-mode-missing\n"
                                          "2\tDG990\tfake-boom\n"
                                          "1\tDG000\tfile-not-analysed\n")
    assert json.loads(json_.render_statistics(fs))[0]["code"] == "DG101"


# -- json --------------------------------------------------------------------------------------
def test_json_fields():
    data = json.loads(json_.render([finding(fix=FIX), finding(code="DG000", name="file-not-analysed")]))
    assert isinstance(data, list) and len(data) == 2
    first = data[0]
    assert {k: first[k] for k in ("code", "name", "message", "path", "line", "column", "end_line", "end_column")} == {
        "code": "DG990", "name": "fake-boom", "message": "boom() is called", "path": "pkg/m.py", "line": 2,
        "column": 5, "end_line": 2, "end_column": 11}
    assert first["filename"] == "/abs/pkg/m.py"
    assert first["location"] == {"row": 2, "column": 5} and first["end_location"] == {"row": 2, "column": 11}
    assert first["cell"] is None and first["noqa_row"] == 2 and "url" in first
    assert first["fix"] == {"applicability": "safe", "message": "Remove the call", "edits": [
        {"content": "", "location": {"row": 2, "column": 5}, "end_location": {"row": 2, "column": 11}}]}
    assert data[1]["fix"] is None
    assert json.loads(json_.render([])) == []


def test_json_is_ascii_safe():
    out = json_.render([finding(message="caf\u00e9 \u2013 \U0001f600")])
    out.encode("ascii")
    assert json.loads(out)[0]["message"] == "caf\u00e9 \u2013 \U0001f600"


# -- sarif -------------------------------------------------------------------------------------
def _sarif(findings, sources=None):
    return json.loads(sarif.render(findings, sources=sources or {}, cwd="/abs"))


def test_sarif_structure_for_github(fake_rules):
    from dropout_guard.lint import rules as registry

    doc = _sarif([finding(), finding(code="DG000", name="file-not-analysed", line=1, col=1)])
    assert doc["$schema"].endswith("sarif-2.1.0.json") and doc["version"] == "2.1.0"
    [run] = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "dropout-guard"
    for key in ("version", "semanticVersion", "informationUri"):
        assert isinstance(driver[key], str) and driver[key]
    assert [r["id"] for r in driver["rules"]] == [r.code for r in registry.ALL_RULES]
    for r, cls in zip(driver["rules"], registry.ALL_RULES):
        assert r["name"] == cls.name
        assert r["shortDescription"]["text"] == cls.summary
        assert r["fullDescription"]["text"]
        assert r["help"]["text"] == cls.documentation() and r["help"]["markdown"] == cls.documentation()
        assert r["defaultConfiguration"]["level"] in ("error", "warning", "note")
        assert isinstance(r["properties"]["tags"], list) and r["properties"]["precision"]
    boom = next(r for r in driver["rules"] if r["id"] == "DG990")
    assert boom["fullDescription"]["text"] == "Reports every call of ``boom()`` (a rule that exists only in the tests)."
    assert next(r for r in driver["rules"] if r["id"] == "DG991")["defaultConfiguration"]["enabled"] is False
    assert run["invocations"][0]["executionSuccessful"] is True
    res = run["results"][0]
    assert res["ruleId"] == "DG990" and driver["rules"][res["ruleIndex"]]["id"] == "DG990"
    assert res["level"] in ("error", "warning", "note") and res["message"]["text"] == "boom() is called"
    loc = res["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "pkg/m.py"
    assert loc["region"] == {"startLine": 2, "startColumn": 5, "endLine": 2, "endColumn": 11}
    assert re.fullmatch(r"[0-9a-f]+:1", res["partialFingerprints"]["primaryLocationLineHash"])
    assert run["results"][1]["ruleId"] == "DG000"


def test_sarif_uri_is_relative_and_escaped():
    doc = _sarif([finding(path="my dir/m.py"), finding(path="/elsewhere/m.py")])
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in doc["runs"][0]["results"]]
    assert uris[0] == {"uri": "my%20dir/m.py", "uriBaseId": "%SRCROOT%"}
    assert uris[1] == {"uri": "file:///elsewhere/m.py"}


def test_sarif_fingerprints_are_stable_and_distinct():
    src_a = "x = 1\nboom()\n"
    src_b = "# a new first line\nx = 1\n\nboom()\n"
    a = _sarif([finding(line=2)], {"/abs/pkg/m.py": src_a})
    b = _sarif([finding(line=4)], {"/abs/pkg/m.py": src_b})
    fp = lambda d, i=0: d["runs"][0]["results"][i]["partialFingerprints"]["primaryLocationLineHash"]  # noqa: E731
    assert fp(a) == fp(b)  # the line moved, the finding kept its identity
    twice = _sarif([finding(line=1), finding(line=2)], {"/abs/pkg/m.py": "boom()\nboom()\n"})
    assert fp(twice, 0) != fp(twice, 1)  # identical lines are told apart by the occurrence count
    other = _sarif([finding(line=2)], {"/abs/pkg/m.py": "x = 1\nboom(2)\n"})
    assert fp(other) != fp(a)


# -- github ------------------------------------------------------------------------------------
def test_github_annotation():
    out = github.render([finding()])
    assert out == ("::error file=pkg/m.py,line=2,col=5,endLine=2,endColumn=11,title=dropout-guard (DG990)"
                   "::pkg/m.py:2:5: DG990 boom() is called\n")


def test_github_escaping():
    assert github.escape_data("100% a\r\nb:c,d") == "100%25 a%0D%0Ab:c,d"
    assert github.escape_property("a%b\r\n:,") == "a%25b%0D%0A%3A%2C"
    out = github.render([finding(path="we,ird:dir/m.py", message="50% of\nit")])
    head, _, data = out.rstrip("\n").partition("::")[2].partition("::")
    assert "file=we%2Cird%3Adir/m.py," in head
    assert data == "we,ird:dir/m.py:2:5: DG990 50%25 of%0Ait"
    assert out.count("\n") == 1


def test_every_format_renders_an_empty_run():
    for fmt in FORMATS:
        out = formatter(fmt).render([], sources={})
        if fmt == "json":
            assert json.loads(out) == []
        elif fmt == "sarif":
            assert json.loads(out)["runs"][0]["results"] == []
        elif fmt == "github":
            assert out == ""
        else:
            assert out == "All checks passed!\n"
    with pytest.raises(ValueError, match="unknown output format"):
        formatter("xml")
