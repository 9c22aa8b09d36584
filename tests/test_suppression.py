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
