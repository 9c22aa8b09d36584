"""``# noqa`` handling (dropout_guard.lint.suppression), unit and end to end."""
from __future__ import annotations

import textwrap

import pytest

from dropout_guard.lint.api import check, check_source
from dropout_guard.lint.findings import Finding
from dropout_guard.lint.suppression import Suppressions, parse_file_noqa, parse_line_noqa


def lines_of(source, **kw):
    """The lines of DG990 findings (boom() calls) that survive suppression."""
    result = check_source(textwrap.dedent(source), "m.py", **kw)
    return [f.line for f in result.findings if f.code == "DG990"]


@pytest.mark.parametrize("comment, expected", [
    ("# noqa", (True, None)),
    ("# NOQA", (True, None)),
    ("#noqa", (True, None)),
    ("# noqa:", (True, None)),
    ("# noqa DG101", (True, None)),  # no colon: blanket, as in flake8 and ruff
    ("# noqa: DG101", (True, frozenset({"DG101"}))),
    ("# noqa:DG101,DG102", (True, frozenset({"DG101", "DG102"}))),
    ("# noqa: dg101, DG102 DG2", (True, frozenset({"DG101", "DG102", "DG2"}))),
    ("# type: ignore  # noqa: DG101  # reason", (True, frozenset({"DG101"}))),
    ("# noqa: DG101 because the model is frozen", (True, frozenset({"DG101"}))),
    ("# not a noqa-ish", (False, None)),
    ("# noqanotreally", (False, None)),
    ("# a comment", (False, None)),
])
def test_parse_line_noqa(comment, expected):
    assert parse_line_noqa(comment) == expected


@pytest.mark.parametrize("comment, expected", [
    ("# dropout-guard: noqa", (True, None)),
    ("#DROPOUT-GUARD:NOQA", (True, None)),
    ("# dropout-guard: noqa  # legacy code", (True, None)),
    ("# dropout-guard: noqa: DG101,DG2", (True, frozenset({"DG101", "DG2"}))),
    ("# dropout-guard: noqa: dg101 DG102", (True, frozenset({"DG101", "DG102"}))),
    ("# dropout-guard: noqa: because", (False, None)),  # not a code list: ignored, never the whole file
    ("# dropout-guard: noqa DG101", (False, None)),
    ("# noqa", (False, None)),
    ("# ruff: noqa", (False, None)),
])
def test_parse_file_noqa(comment, expected):
    assert parse_file_noqa(comment) == expected


def test_codes_on_the_reported_line(fake_rules):
    src = """\
    boom()  # noqa: DG990
    boom()  # noqa:DG990,DG101
    boom()  # NOQA: dg990
    boom()  # noqa: DG9
    boom()  # noqa: DG101
    boom()  # noqa
    boom()  # noqa DG101
    boom()  # type: ignore  # noqa: DG990  # reason
    boom()
    """
    assert lines_of(src) == [5, 9]


def test_noqa_inside_a_string_does_not_count(fake_rules):
    src = '''\
    boom("# noqa")
    boom("""
    # noqa
    """)
    x = "# noqa: DG990"; boom()
    '''
    assert lines_of(src) == [1, 2, 5]


def test_noqa_on_another_line_does_not_count(fake_rules):
    src = """\
    # noqa: DG990
    boom()
    boom()
    # noqa
    """
    assert lines_of(src) == [2, 3]


def test_multi_line_statement_accepts_the_last_line(fake_rules):
    src = """\
    result = boom(
        1,
        2,
    )  # noqa: DG990
    other = boom(  # noqa: DG990
        1,
    )
    third = boom(
        1,  # noqa: DG990 (a middle line does not count)
    )
    text = boom('''
    many lines
    ''')  # noqa
    value = 1 + \\
        boom()  # noqa: DG990
    """
    assert lines_of(src) == [8]


def test_compound_statement_body_is_not_the_headers_last_line(fake_rules):
    src = """\
    with boom(
        1,
    ):  # noqa: DG990
        boom()
    pass  # noqa
    """
    assert lines_of(src) == [4]


def test_file_level_noqa_all(fake_rules):
    src = """\
    boom()
    # dropout-guard: noqa
    boom()
    """
    assert lines_of(src) == []


def test_file_level_code_list_suppresses_only_those_codes(fake_rules):
    src = """\
    # dropout-guard: noqa: DG990
    boom()
    bang()
    """
    result = check_source(textwrap.dedent(src), "m.py", select="DG990,DG991")
    assert [(f.code, f.line) for f in result.findings] == [("DG991", 3)]
    src2 = "# dropout-guard: noqa: DG9\nboom()\nbang()\n"
    assert check_source(src2, "m.py", select="DG990,DG991").findings == []


def test_invalid_file_level_directive_suppresses_nothing(fake_rules):
    assert lines_of("# dropout-guard: noqa: because legacy\nboom()\n") == [2]


def test_dg000_is_not_suppressible_by_comments(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.py").write_text("# dropout-guard: noqa\nx = (  # noqa\n")
    [f] = check(["."]).findings
    assert f.code == "DG000"
    sup = Suppressions("x = 1  # noqa\n")
    assert not sup.suppresses(Finding("DG000", "file-not-analysed", "m", "p.py", 1, 1, 1, 1))
    assert sup.suppresses(Finding("DG101", "eval-mode-missing", "m", "p.py", 1, 1, 1, 1))
    # but the configuration's ignore drops it
    assert check(["."], ignore="DG000").findings == []


def test_suppressed_count_and_end_to_end_files(tmp_path, monkeypatch, fake_rules):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.py").write_text("boom()  # noqa: DG990\nboom()\n")
    (tmp_path / "b.py").write_text("# dropout-guard: noqa\nboom()\n")
    result = check(["."])
    assert [(f.path, f.line) for f in result.findings] == [("a.py", 2)]
    assert result.suppressed == 2


def test_tokenize_failure_keeps_comments_read_so_far():
    sup = Suppressions("x = 1  # noqa: DG101\ny = (\n")
    assert sup.suppresses(Finding("DG101", "n", "m", "p.py", 1, 1, 1, 1))


# -- DG001 unused-noqa ---------------------------------------------------------------------------
def unused(source, **kw):
    from dropout_guard.lint.api import load_settings

    settings = load_settings([], isolated=True, extend_select="DG001", **kw)
    return [f for f in check_source(textwrap.dedent(source), "m.py", settings=settings).findings
            if f.code == "DG001"]


def fixed(source, **kw):
    from dropout_guard.lint.fixes import apply_fixes

    source = textwrap.dedent(source)
    return apply_fixes(source, [f.fix for f in unused(source, **kw)]).text


def test_unused_noqa_is_off_by_default(fake_rules):
    result = check_source("x = 1  # noqa: DG990\n", "m.py")
    assert result.findings == []


def test_used_codes_are_not_reported(fake_rules):
    assert unused("""\
        boom()  # noqa: DG990
        boom()  # noqa: DG9
        f(
            boom(),
        )  # noqa: DG990
        """) == []


@pytest.mark.parametrize("comment, message", [
    ("# noqa: DG990", "unused: `DG990`"),
    ("# noqa: DG999", "unknown: `DG999`"),
    ("# noqa: DG991", "non-enabled: `DG991`"),
    ("# noqa: DG990, DG999, DG991", "unused: `DG990`; unknown: `DG999`; non-enabled: `DG991`"),
    ("# noqa: DG990, DG990, E501, E501", "unused: `DG990`; duplicated: `DG990`"),
])
def test_unused_unknown_and_non_enabled_codes(fake_rules, comment, message):
    found = unused(f"x = 1  {comment}\n")
    assert [(f.line, f.column, f.message) for f in found] == [(1, 8, f"Unused `noqa` directive ({message})")]
    assert found[0].fix.applicability == "safe"


def test_foreign_codes_bare_noqa_and_listed_dg001_are_left_alone(fake_rules):
    assert unused("""\
        x = 1  # noqa: E501
        y = 2  # noqa
        z = 3  # noqa: DG990, DG001
        w = 4  # noqa: DG990  # noqa
        """) == []
    assert unused("# dropout-guard: noqa: DG001\nx = 1  # noqa: DG990\n") == []


@pytest.mark.parametrize("line, after", [
    ("x = 1  # noqa: DG990", "x = 1"),
    ("x = 1  # noqa: DG990, E501", "x = 1  # noqa: E501"),
    ("x = 1  # noqa:E501,DG999,F401", "x = 1  # noqa: E501, F401"),
    ("x = 1  # noqa: DG990  # the reason", "x = 1  # the reason"),
    ("x = 1  # type: ignore  # noqa: DG990", "x = 1  # type: ignore"),
    ("x = 1  # noqa: DG990 because it is frozen", "x = 1  # because it is frozen"),
    ("boom()  # noqa: DG990, DG991", "boom()  # noqa: DG990"),
    ("boom()  # noqa: DG990, E501, dg990", "boom()  # noqa: DG990, E501"),
    ("x = 1  # noqa: DG990, E501, DG990, E501", "x = 1  # noqa: E501"),
])
def test_the_fix_removes_only_what_is_reported(fake_rules, line, after):
    assert fixed(line + "\n") == after + "\n"


def test_per_file_ignores_silence_dg001(fake_rules, tmp_path):
    (tmp_path / "m.py").write_text("x = 1  # noqa: DG990\n", encoding="utf-8")
    (tmp_path / "dropout-guard.toml").write_text('extend-select = ["DG001"]\n[per-file-ignores]\n"m.py" = ["DG0"]\n')
    assert check(["."], cwd=tmp_path).findings == []
    (tmp_path / "dropout-guard.toml").write_text('extend-select = ["DG001"]\n')
    assert [f.code for f in check(["."], cwd=tmp_path).findings] == ["DG001"]


def test_fix_removes_unused_noqa_in_a_notebook(fake_rules, tmp_path):
    import json

    from dropout_guard.lint.api import fix

    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# t"]},
                    {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                     "source": ["x = 1  # noqa: DG990, E501\n", "boom()  # noqa: DG990"]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "n.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    found = check(["."], cwd=tmp_path, extend_select="DG001").findings
    assert [(f.code, f.cell, f.line) for f in found] == [("DG001", 2, 1)]
    outcome = fix(["."], cwd=tmp_path, extend_select="DG001")
    assert outcome.fixed_total == 1
    cells = json.loads((tmp_path / "n.ipynb").read_text(encoding="utf-8"))["cells"]
    assert cells[1]["source"] == ["x = 1  # noqa: E501\n", "boom()  # noqa: DG990"]


# -- --add-noqa edits ------------------------------------------------------------------------------
def with_noqa(source, by_line):
    from dropout_guard.lint.fixes import apply_fixes
    from dropout_guard.lint.findings import Fix
    from dropout_guard.lint.suppression import noqa_edits

    source = textwrap.dedent(source)
    return apply_fixes(source, [Fix("safe", "", (e,)) for e in noqa_edits(source, by_line)]).text


def test_noqa_edits_append_and_merge():
    assert with_noqa("a = 1\nb = 2   \n", {1: {"DG101"}, 2: {"DG201", "DG101"}}) == \
        "a = 1  # noqa: DG101\nb = 2  # noqa: DG101, DG201\n"
    assert with_noqa("a = 1  # noqa: E501\n", {1: {"DG101"}}) == "a = 1  # noqa: DG101, E501\n"
    assert with_noqa("a = 1  # noqa:DG101\n", {1: {"DG101"}}) == "a = 1  # noqa: DG101\n"
    assert with_noqa("a = 1  # a reason\n", {1: {"DG101"}}) == "a = 1  # a reason  # noqa: DG101\n"


def test_noqa_edits_move_to_the_statements_last_line_where_a_comment_cannot_go():
    source = 'x = f("""\ntext\n""")\ny = a + \\\n    b\n'
    assert with_noqa(source, {1: {"DG101"}, 2: {"DG201"}, 4: {"DG103"}}) == \
        'x = f("""\ntext\n""")  # noqa: DG101, DG201\ny = a + \\\n    b  # noqa: DG103\n'
    # the comment where it went suppresses the findings of the first lines
    sup = Suppressions('x = f("""\ntext\n""")  # noqa: DG101\n')
    assert sup.suppresses(Finding("DG101", "n", "m", "p", 1, 1, 1, 2))
