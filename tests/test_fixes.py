"""Autofix (dropout_guard.lint.fixes, api.fix, check --fix / --diff / --unsafe-fixes).

Every fix on small inputs (before/after pairs in fixtures/fixes and inline), the applying
machinery (overlaps, identical edits, mapping), a round trip over every fixture (fix,
re-lint, fix again: stable, parses, nothing fixable left), atomic writes and the refusal
paths, CRLF / BOM / tab-indented files.
"""
from __future__ import annotations

import ast
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from dropout_guard.cli import main
from dropout_guard.lint import engine, fixes
from dropout_guard.lint.api import check, fix
from dropout_guard.lint.findings import Edit, Fix
from dropout_guard.lint.rules import ALL_RULES
from dropout_guard.lint.rules.base import Rule

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
PAIRS = sorted(p for p in (FIXTURES / "fixes").glob("dg*.py") if not p.name.endswith(".fixed.py"))


def fixed_text(tmp_path, source: str, *, select=None, unsafe=True, name="m.py", newline="") -> str:
    path = tmp_path / name
    path.write_text(source, encoding="utf-8", newline=newline)
    fix([str(path)], unsafe=unsafe, isolated=True, select=select, cwd=str(tmp_path))
    return path.read_bytes().decode("utf-8")


def codes(path: Path, cwd: Path):
    return [f.code for f in check([str(path)], isolated=True, cwd=str(cwd)).findings]


# -- before / after pairs ----------------------------------------------------------------------
@pytest.mark.parametrize("before", PAIRS, ids=lambda p: p.stem)
def test_fixture_pair(before, tmp_path):
    code = before.stem.upper()
    after = before.with_name(before.stem + ".fixed.py").read_text(encoding="utf-8")
    assert codes(before, before.parent).count(code) >= 1, "the 'before' file must have the finding"
    got = fixed_text(tmp_path, before.read_text(encoding="utf-8"), select=code, name=before.name)
    assert got == after
    ast.parse(got)


@pytest.mark.parametrize("before", PAIRS, ids=lambda p: p.stem)
def test_fixture_pair_leaves_no_fixable_finding_of_its_code(before, tmp_path):
    code = before.stem.upper()
    path = tmp_path / before.name
    shutil.copy(before, path)
    fix([str(path)], unsafe=True, isolated=True, select=code, cwd=str(tmp_path))
    left = check([str(path)], isolated=True, select=code, cwd=str(tmp_path)).findings
    assert not [f for f in left if fixes.allowed(f.fix, True)]


# -- each fix on small inputs --------------------------------------------------------------------
MODEL = ("import torch\nfrom torch import nn\n\nnet = nn.Sequential(nn.Linear(2, 2), nn.Dropout())\n"
         "net.load_state_dict(torch.load('net.pt'))\n")


def test_dg103_adds_the_call_and_is_unsafe(tmp_path):
    src = MODEL + "net.train  # keep\n"
    assert fixed_text(tmp_path, src, unsafe=False) == src  # unsafe: not applied by --fix alone
    assert fixed_text(tmp_path, src) == MODEL + "net.train()  # keep\n"


NOISY = ("import torch\nfrom torch import nn\n\n\nclass Noisy(nn.Module):\n    def forward(self, x):\n"
         "        if {} and x.dim() > 1:\n            x = x + torch.randn_like(x)\n        return x\n")


@pytest.mark.parametrize("flag,expected", [("self.train", "self.training"),
                                           ("not self.eval", "not (not self.training)")])
def test_dg103_reads_the_training_flag(tmp_path, flag, expected):
    src = NOISY.format(flag)
    assert fixed_text(tmp_path, src, unsafe=False, select="DG103") == src
    assert fixed_text(tmp_path, src, select="DG103") == NOISY.format(expected)


@pytest.mark.parametrize("value,expected", [("False", "net.eval()"), ("True", "net.train()")])
def test_dg104_replaces_the_assignment(tmp_path, value, expected):
    src = MODEL + f"net.training = {value}\n"
    assert fixed_text(tmp_path, src, select="DG104") == MODEL + expected + "\n"


def test_dg101_in_a_one_line_block_goes_inline(tmp_path):
    src = MODEL + "if True: y = net(torch.ones(1, 2))\n"
    out = fixed_text(tmp_path, src, select="DG101")
    assert out == MODEL + "if True: net.eval(); y = net(torch.ones(1, 2))\n"


def test_dg101_before_an_elif_goes_before_the_if(tmp_path):
    src = MODEL + "if False:\n    pass\nelif net(torch.ones(1, 2)).sum() > 0:\n    pass\n"
    out = fixed_text(tmp_path, src, select="DG101")
    assert out == MODEL + "net.eval()\nif False:\n    pass\nelif net(torch.ones(1, 2)).sum() > 0:\n    pass\n"


def test_dg101_no_fix_for_a_model_bound_by_a_comprehension(tmp_path):
    src = MODEL + "ys = [m(torch.ones(1, 2)) for m in [net]]\n"
    found = check_source_fixes(src, "DG101")
    assert all(f.fix is None for f in found)


def check_source_fixes(src, code):
    from dropout_guard.lint.api import check_source

    return [f for f in check_source(src, "m.py").findings if f.code == code]


def test_dg201_wraps_with_tabs_and_keeps_string_lines(tmp_path):
    head = MODEL + "net.eval()\nif True:\n"
    src = head + "\tout = (net(torch.ones(2)), '''text\nthat stays''',\n\t\t1)\n\tprint(out)\n"
    out = fixed_text(tmp_path, src, select="DG201")
    assert out == head + ("\twith torch.no_grad():\n\t\tout = (net(torch.ones(2)), '''text\nthat stays''',\n\t\t\t1)\n"
                          "\tprint(out)\n")


def test_dg201_adds_the_torch_import_after_docstring_and_future(tmp_path):
    src = ('"""doc"""\nfrom __future__ import annotations\nfrom torch import nn\n\n'
           'net = nn.Sequential(nn.Linear(2, 2))\nnet.load_state_dict(state)\nnet.eval()\ny = net(1)\n')
    out = fixed_text(tmp_path, src, select="DG201")
    assert out == ('"""doc"""\nfrom __future__ import annotations\nimport torch\nfrom torch import nn\n\n'
                   'net = nn.Sequential(nn.Linear(2, 2))\nnet.load_state_dict(state)\nnet.eval()\n'
                   'with torch.no_grad():\n    y = net(1)\n')


def test_dg201_uses_the_torch_alias(tmp_path):
    src = MODEL.replace("import torch\n", "import torch as T\n") + "net.eval()\ny = net(T.ones(2))\n"
    out = fixed_text(tmp_path, src, select="DG201")
    assert "with T.no_grad():\n    y = net(T.ones(2))\n" in out and "import torch\n" not in out


def test_dg201_decorates_below_a_route_decorator(tmp_path):
    src = MODEL + "net.eval()\n\n\n@app.route('/predict')\ndef predict(x):\n    return net(x)\n"
    out = fixed_text(tmp_path, src, select="DG201")
    assert "@app.route('/predict')\n@torch.no_grad()\ndef predict(x):\n" in out


def test_dg201_no_fix_in_a_loop_header_or_near_yield(tmp_path):
    src = (MODEL + "net.eval()\n\n\ndef stream(xs):\n    for x in xs:\n        yield net(x)\n\n\n"
           "for row in net(torch.ones(2, 2)):\n    print(row)\n")
    found = check_source_fixes(src, "DG201")
    assert found and all(f.fix is None for f in found)


def test_dg201_a_consumed_generator_is_wrapped_a_kept_one_is_not(tmp_path):
    src = (MODEL + "net.eval()\ntotal = sum(float(net(x).sum()) for x in [torch.ones(2)])\n"
           "lazy = (net(x) for x in [torch.ones(2)])\n")
    out = fixed_text(tmp_path, src, select="DG201")
    assert out == (MODEL + "net.eval()\nwith torch.no_grad():\n    total = sum(float(net(x).sum()) for x in "
                   "[torch.ones(2)])\nlazy = (net(x) for x in [torch.ones(2)])\n")


def test_dg202_at_module_level_wraps_the_rest_and_scopes_it(tmp_path):
    src = "import torch\n\ntorch.no_grad()\nx = 1\n\n\ndef f():\n    return x\n"
    out = fixed_text(tmp_path, src, select="DG202")
    assert out == "import torch\n\nwith torch.no_grad():\n    x = 1\n\n\n    def f():\n        return x\n"


def test_dg202_removal_is_safe(tmp_path):
    src = "import torch\n\n\ndef f():\n    x = 1\n    torch.no_grad()  # too late\n    return x\n"
    assert "with torch.no_grad():" in fixed_text(tmp_path, src, unsafe=True, select="DG202")
    src = "import torch\n\n\ndef f():\n    x = 1\n    torch.no_grad()  # too late\n"
    assert fixed_text(tmp_path, src, unsafe=False) == "import torch\n\n\ndef f():\n    x = 1\n"


def test_dg301_no_fix_in_a_staticmethod():
    src = ("import torch.nn.functional as F\nfrom torch import nn\n\n\nclass M(nn.Module):\n"
           "    @staticmethod\n    def helper(x):\n        return F.dropout(x, 0.1)\n")
    found = check_source_fixes(src, "DG301")
    assert found and all(f.fix is None for f in found)


def test_dg303_no_fix_in_a_classmethod():
    src = ("import torch.nn.functional as F\nfrom torch import nn\n\n\nclass M(nn.Module):\n"
           "    @classmethod\n    def attend(cls, q, k, v):\n"
           "        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.1)\n")
    found = check_source_fixes(src, "DG303")
    assert found and all(f.fix is None for f in found)


def test_dg303_gates_the_rate_where_it_is_and_uses_the_methods_own_self_name(tmp_path):
    src = ("import torch.nn.functional as F\nfrom torch import nn\n\n\nclass M(nn.Module):\n"
           "    def forward(me, q, k, v):\n"
           "        return F.scaled_dot_product_attention(q, k, v, dropout_p=(yield), is_causal=True)\n")
    out = fixed_text(tmp_path, src, unsafe=False, select="DG303")
    assert out == src.replace("dropout_p=(yield)", "dropout_p=((yield) if me.training else 0.0)")
    ast.parse(out)


def test_dg302_without_init_is_display_only_and_never_applied(tmp_path):
    src = "from torch import nn\n\n\nclass M(nn.Module):\n    def forward(self, x):\n        return nn.Dropout(0.1)(x)\n"
    found = check_source_fixes(src, "DG302")
    assert found and found[0].fix.applicability == "display-only"
    assert fixed_text(tmp_path, src, unsafe=True) == src


# -- the applying machinery ---------------------------------------------------------------------
def test_apply_fixes_skips_overlaps_and_dedupes_identical_edits():
    imp = Edit("import torch\n", 1, 1, 1, 1)
    a = Fix("safe", "a", (imp, Edit("A", 2, 1, 2, 2)))
    b = Fix("safe", "b", (imp, Edit("B", 3, 1, 3, 2)))
    c = Fix("safe", "c", (Edit("C", 2, 1, 2, 2),))  # overlaps a: left for the next round
    done = fixes.apply_fixes("x\ny\nz\n", [a, b, c])
    assert done.text == "import torch\nx\nA\nB\n"
    assert done.applied == [0, 1]


def test_two_insertions_at_one_point_conflict():
    a = Fix("safe", "a", (Edit("1", 1, 1, 1, 1),))
    b = Fix("safe", "b", (Edit("2", 1, 1, 1, 1),))
    assert fixes.apply_fixes("x\n", [a, b]).text == "1x\n"


def test_map_offset_before_and_after_insertions():
    done = fixes.apply_fixes("ab\ncd\n", [Fix("safe", "", (Edit("XY", 2, 1, 2, 1),))])
    assert done.text == "ab\nXYcd\n"
    assert done.map_offset(3) == 3 and done.map_offset(3, after_insertions=True) == 5
    assert done.map_offset(5) == 7


def test_edit_columns_count_characters_not_bytes(tmp_path):
    src = "import torch.nn.functional as F\nfrom torch import nn\n\n\nclass M(nn.Module):\n" \
          "    def forward(self, x):\n        é = F.dropout(x, 0.1)\n        return é\n"
    out = fixed_text(tmp_path, src, unsafe=False)
    assert "é = F.dropout(x, 0.1, training=self.training)\n" in out


# -- round trip over every fixture -------------------------------------------------------------
@pytest.mark.parametrize("unsafe", [False, True], ids=["safe", "unsafe"])
def test_round_trip_over_all_fixtures(tmp_path, unsafe):
    work = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, work)
    first = fix([str(work)], unsafe=unsafe, isolated=True, cwd=str(work))
    assert first.converged and first.fixed_total > 0 and not first.not_written
    for path in work.rglob("*"):
        if path.suffix == ".py":
            ast.parse(path.read_text(encoding="utf-8"))
        elif path.suffix == ".ipynb" and "invalid" not in path.name:
            json.loads(path.read_text(encoding="utf-8"))
    snapshot = {p: p.read_bytes() for p in work.rglob("*") if p.is_file()}
    second = fix([str(work)], unsafe=unsafe, isolated=True, cwd=str(work))
    assert second.fixed_total == 0 and not second.changed
    assert {p: p.read_bytes() for p in work.rglob("*") if p.is_file()} == snapshot
    left = check([str(work)], isolated=True, cwd=str(work)).findings
    assert not [f for f in left if fixes.allowed(f.fix, unsafe)]
    fixed_codes = set(first.fixed)
    assert {"DG301"} <= fixed_codes
    if unsafe:
        assert {"DG101", "DG102", "DG103", "DG104", "DG201", "DG202", "DG302"} <= fixed_codes
    assert {"DG303"} <= fixed_codes


def test_files_without_fixes_are_not_touched(tmp_path):
    path = tmp_path / "clean.py"
    path.write_bytes(b"x = 1\r\n# no findings\r\n")
    before = os.stat(path)
    fix([str(tmp_path)], unsafe=True, isolated=True, cwd=str(tmp_path))
    after = os.stat(path)
    assert path.read_bytes() == b"x = 1\r\n# no findings\r\n"
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


# -- newlines, BOM, encodings, mode bits, symlinks -------------------------------------------------
DG301_SRC = ("import torch.nn.functional as F\nfrom torch import nn\n\n\nclass M(nn.Module):\n"
             "    def forward(self, x):\n        return F.dropout(x, 0.1)\n")
DG301_FIXED = DG301_SRC.replace("F.dropout(x, 0.1)", "F.dropout(x, 0.1, training=self.training)")


def test_crlf_and_bom_are_kept(tmp_path):
    path = tmp_path / "m.py"
    path.write_bytes(b"\xef\xbb\xbf" + DG301_SRC.replace("\n", "\r\n").encode())
    fix([str(path)], isolated=True, cwd=str(tmp_path))
    assert path.read_bytes() == b"\xef\xbb\xbf" + DG301_FIXED.replace("\n", "\r\n").encode()


def test_inserted_lines_use_the_files_newline(tmp_path):
    src = MODEL.replace("\n", "\r\n") + "y = net(torch.ones(1, 2))\r\n"
    path = tmp_path / "m.py"
    path.write_bytes(src.encode())
    fix([str(path)], unsafe=True, isolated=True, select="DG101,DG201", cwd=str(tmp_path))
    data = path.read_bytes()
    assert b"\nnet.eval()\r\nwith torch.no_grad():\r\n    y = net" in data
    assert data.count(b"\n") == data.count(b"\r\n")


def test_a_coding_cookie_encoding_is_kept(tmp_path):
    src = "# -*- coding: latin-1 -*-\n# caf\xe9\n" + DG301_SRC
    path = tmp_path / "m.py"
    path.write_bytes(src.encode("latin-1"))
    fix([str(path)], isolated=True, cwd=str(tmp_path))
    assert path.read_bytes() == ("# -*- coding: latin-1 -*-\n# caf\xe9\n" + DG301_FIXED).encode("latin-1")


def test_mode_bits_are_kept_and_no_temporary_file_is_left(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(DG301_SRC, encoding="utf-8")
    os.chmod(path, 0o751)
    fix([str(path)], isolated=True, cwd=str(tmp_path))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o751
    assert path.read_text(encoding="utf-8") == DG301_FIXED
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.py"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_a_symlink_stays_a_link_and_its_target_is_fixed(tmp_path):
    target = tmp_path / "real.py"
    target.write_text(DG301_SRC, encoding="utf-8")
    link = tmp_path / "sub" / "link.py"
    link.parent.mkdir()
    link.symlink_to(target)
    fix([str(link)], isolated=True, cwd=str(tmp_path))
    assert link.is_symlink() and target.read_text(encoding="utf-8") == DG301_FIXED


# -- refusal paths --------------------------------------------------------------------------------
def test_write_failure_leaves_the_file_and_says_why(tmp_path, monkeypatch):
    path = tmp_path / "m.py"
    path.write_text(DG301_SRC, encoding="utf-8")

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(engine.os, "replace", boom)
    outcome = fix([str(path)], isolated=True, cwd=str(tmp_path))
    assert path.read_text(encoding="utf-8") == DG301_SRC
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.py"]  # the temporary file is gone
    assert outcome.fixed_total == 0 and str(path) in outcome.not_written
    [finding] = outcome.result.findings
    assert finding.code == "DG301" and "fix not written: cannot write the file: No space left" in finding.message


def test_a_file_changed_on_disk_is_not_overwritten(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("x = 2\n", encoding="utf-8")
    with pytest.raises(engine.WriteError, match="changed on disk"):
        engine.write_atomic(str(path), "x = 1\n", "x = 3\n")
    assert path.read_text(encoding="utf-8") == "x = 2\n"


class BreakingFix(Rule):
    """## What it does
    Reports ``boom()`` with a fix that does not parse (a test-only rule).

    ## Fix safety
    Safe, and broken on purpose.
    """

    code = "DG992"
    name = "breaking-fix"
    summary = "boom() with a broken fix"

    def check(self, ctx):
        for node in ast.walk(ctx.tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "boom":
                edit = Edit("boom(", node.lineno, node.col_offset + 1, node.end_lineno, node.end_col_offset + 1)
                ctx.report(self, node, "boom() is called", fix=Fix("safe", "Break it", (edit,)))


@pytest.fixture
def breaking_rule(monkeypatch):
    from dropout_guard.lint import rules

    new = sorted([*rules.ALL_RULES, BreakingFix], key=lambda r: r.code)
    monkeypatch.setattr(rules, "ALL_RULES", new)
    monkeypatch.setattr(rules, "RULES_BY_CODE", {r.code: r for r in new})
    monkeypatch.setattr(rules, "RULES_BY_NAME", {r.name: r for r in new})


def test_a_fix_that_does_not_parse_is_not_written(tmp_path, breaking_rule):
    path = tmp_path / "m.py"
    path.write_text("boom()\n" + DG301_SRC, encoding="utf-8")
    outcome = fix([str(path)], isolated=True, cwd=str(tmp_path))
    # the good fix in the same file still applies; the broken one is refused and says why
    assert path.read_text(encoding="utf-8") == "boom()\n" + DG301_FIXED
    [finding] = [f for f in outcome.result.findings if f.code == "DG992"]
    assert "fix not applied: the fixed code would not parse (SyntaxError" in finding.message


class IdleFix(Rule):
    """## What it does
    Reports ``idle()`` with a fix that does not resolve it (a test-only rule).

    ## Fix safety
    Safe, and useless on purpose.
    """

    code = "DG993"
    name = "idle-fix"
    summary = "idle() with a fix that changes nothing that matters"

    def check(self, ctx):
        for node in ast.walk(ctx.tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "idle":
                end = (node.end_lineno, node.end_col_offset + 1)
                ctx.report(self, node, "idle() is called", fix=Fix("safe", "Add a space", (Edit(" ", *end, *end),)))


def test_a_fix_that_does_not_resolve_its_finding_is_undone(tmp_path, monkeypatch):
    from dropout_guard.lint import rules

    new = sorted([*rules.ALL_RULES, IdleFix], key=lambda r: r.code)
    monkeypatch.setattr(rules, "ALL_RULES", new)
    monkeypatch.setattr(rules, "RULES_BY_CODE", {r.code: r for r in new})
    path = tmp_path / "m.py"
    path.write_text("idle()\n" + DG301_SRC, encoding="utf-8")
    outcome = fix([str(path)], isolated=True, cwd=str(tmp_path))
    assert outcome.converged and outcome.fixed == {"DG301": 1}
    assert path.read_text(encoding="utf-8") == "idle()\n" + DG301_FIXED  # the idle fix was rolled back
    [finding] = outcome.result.findings
    assert "fix not applied: it did not resolve the finding" in finding.message
    assert finding.fix.applicability == "display-only"  # no longer counted as fixable


# -- command line --------------------------------------------------------------------------------
@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)

    def invoke(*args):
        return CliRunner().invoke(main, ["check", "--isolated", *args], catch_exceptions=False)

    return invoke


def test_text_marks_fixable_findings_and_hints(run, tmp_path):
    (tmp_path / "m.py").write_text(DG301_SRC + "\n\nnet = M()\nnet.eval\n", encoding="utf-8")
    r = run("m.py")
    assert r.exit_code == 1
    assert "m.py:7:16: DG301 [*] `dropout`" in r.stdout and "DG103 `net.eval`" in r.stdout
    assert r.stdout.endswith("Found 2 problems.\n[*] 1 fixable with the `--fix` option (1 hidden fix can be "
                             "enabled with the `--unsafe-fixes` option).\n")
    r = run("--unsafe-fixes", "m.py")
    assert "DG103 [*] `net.eval`" in r.stdout
    assert r.stdout.endswith("[*] 2 fixable with the `--fix --unsafe-fixes` option.\n")
    r = run("--no-unsafe-fixes", "m.py")
    assert r.stdout.endswith("Found 2 problems.\n[*] 1 fixable with the `--fix` option.\n")


def test_fix_then_exit_status(run, tmp_path):
    (tmp_path / "m.py").write_text(DG301_SRC + "\n\nnet = M()\nnet.eval\n", encoding="utf-8")
    r = run("--fix", "m.py")
    assert r.exit_code == 1
    assert r.stdout.endswith("Found 2 problems (1 fixed, 1 remaining).\nNo fixes available (1 hidden fix can be "
                             "enabled with the `--unsafe-fixes` option).\n")
    r = run("--fix", "--unsafe-fixes", "m.py")
    assert r.exit_code == 0 and r.stdout == "Found 1 problem (1 fixed, 0 remaining).\n"
    assert (tmp_path / "m.py").read_text(encoding="utf-8").endswith("net.eval()\n")


def test_diff_writes_nothing_and_exits_1(run, tmp_path):
    (tmp_path / "m.py").write_text(DG301_SRC, encoding="utf-8")
    r = run("--diff", "m.py")
    assert r.exit_code == 1
    assert r.stdout.startswith("--- m.py\n+++ m.py\n@@ ")
    assert "-        return F.dropout(x, 0.1)\n+        return F.dropout(x, 0.1, training=self.training)\n" in r.stdout
    assert "Would fix 1 problem." in r.stderr
    assert (tmp_path / "m.py").read_text(encoding="utf-8") == DG301_SRC
    (tmp_path / "m.py").write_text(DG301_FIXED, encoding="utf-8")
    r = run("--diff", "m.py")
    assert r.exit_code == 0 and r.stdout == ""


def test_json_shows_every_fix_with_its_applicability(run, tmp_path):
    (tmp_path / "m.py").write_text(DG301_SRC + "\n\nnet = M()\nnet.eval\n", encoding="utf-8")
    data = json.loads(run("--format", "json", "m.py").stdout)
    by_code = {d["code"]: d["fix"] for d in data}
    assert by_code["DG301"] == {"applicability": "safe", "message": "Pass `training=self.training`", "edits": [
        {"content": ", training=self.training", "location": {"row": 7, "column": 32},
         "end_location": {"row": 7, "column": 32}}]}
    assert by_code["DG103"]["applicability"] == "unsafe"


# -- documentation and import cost ---------------------------------------------------------------
FIXED_RULES = {"DG101": "unsafe", "DG102": "unsafe", "DG103": "unsafe", "DG104": "unsafe", "DG201": "unsafe",
               "DG202": "unsafe", "DG301": "safe", "DG302": "unsafe", "DG303": "safe"}


@pytest.mark.parametrize("code,level", sorted(FIXED_RULES.items()))
def test_fix_safety_is_documented(code, level):
    rule = next(r for r in ALL_RULES if r.code == code)
    assert rule.fix_safety == level
    section = rule.documentation().split("## Fix safety", 1)[1].split("\n## ", 1)[0]
    assert level.capitalize() in section


def test_fixing_never_imports_libcst_or_torch(tmp_path):
    (tmp_path / "m.py").write_text(DG301_SRC, encoding="utf-8")
    code = ("import sys\nfrom dropout_guard.lint.api import fix\nfix(['m.py'], unsafe=True, isolated=True)\n"
            "assert 'libcst' not in sys.modules and 'torch' not in sys.modules, 'imported'\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "m.py").read_text(encoding="utf-8") == DG301_FIXED
