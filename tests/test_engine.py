"""Discovery, reading and parsing (dropout_guard.lint.engine) and the api around them."""
from __future__ import annotations

import ast
import os
import re
import threading
import warnings

import pytest

from dropout_guard.lint import api, engine
from dropout_guard.lint.api import check
from dropout_guard.lint.config import load_settings
from dropout_guard.lint.engine import PathError, PatternSet, collect, compile_pattern, glob_to_regex


def write(path, text="", mode="w"):
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "wb":
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def discovered(tmp_path, *paths, **kw):
    settings = load_settings(paths or ["."], cwd=tmp_path, **kw)
    return collect(paths or ["."], settings, cwd=str(tmp_path)).checked


def dg000(result):
    return [f for f in result.findings if f.code == "DG000"]


# -- discovery ---------------------------------------------------------------------------------
def test_folder_walk_finds_py_pyi_and_notebooks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "a.py")
    write(tmp_path / "pkg" / "b.pyi")
    write(tmp_path / "pkg" / "deep" / "c.py")
    write(tmp_path / "notes.txt", "x")
    write(tmp_path / "nb.ipynb", "{}")
    write(tmp_path / "script", "x = 1\n")
    assert discovered(tmp_path) == ["a.py", "nb.ipynb", "pkg/b.pyi", "pkg/deep/c.py"]


@pytest.mark.parametrize("folder", [".git", "__pycache__", ".tox", ".nox", ".venv", "venv", ".eggs", "x.egg",
                                    "build", "dist", "node_modules", ".mypy_cache", ".pytest_cache",
                                    ".dropout_guard_cache", ".ipynb_checkpoints"])
def test_default_excludes(tmp_path, monkeypatch, folder):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / folder / "m.py")
    write(tmp_path / "sub" / folder / "m.py")
    write(tmp_path / "keep.py")
    assert discovered(tmp_path) == ["keep.py"]


def test_exclude_replaces_defaults_and_extend_exclude_adds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "build" / "m.py")
    write(tmp_path / "gen" / "m.py")
    write(tmp_path / "src" / "gen" / "m.py")
    write(tmp_path / "src" / "ok.py")
    write(tmp_path / "pyproject.toml", '[tool.dropout-guard]\nexclude = ["/gen"]\n')
    # anchored "/gen": only the top-level folder; "build" is no longer a default exclude
    assert discovered(tmp_path) == ["build/m.py", "src/gen/m.py", "src/ok.py"]
    write(tmp_path / "pyproject.toml", '[tool.dropout-guard]\nextend-exclude = ["gen", "src/ok.py"]\n')
    assert discovered(tmp_path) == []


def test_exclude_globs_are_relative_to_the_config_folder(tmp_path, monkeypatch):
    write(tmp_path / "proj" / "pyproject.toml", '[tool.dropout-guard]\nextend-exclude = ["tests/data"]\n')
    write(tmp_path / "proj" / "tests" / "data" / "bad.py", "def f(:\n")
    write(tmp_path / "proj" / "tests" / "test_x.py")
    monkeypatch.chdir(tmp_path)
    assert discovered(tmp_path, "proj") == ["proj/tests/test_x.py"]


def test_gitignore_nested_and_negation(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / ".gitignore", "# comment\n*_gen.py\nout/\n!keep_gen.py\n")
    write(tmp_path / "a_gen.py")
    write(tmp_path / "keep_gen.py")
    write(tmp_path / "out" / "x.py")
    write(tmp_path / "ok.py")
    write(tmp_path / "sub" / ".gitignore", "local.py\n/anchored.py\n")
    write(tmp_path / "sub" / "local.py")
    write(tmp_path / "sub" / "anchored.py")
    write(tmp_path / "sub" / "inner" / "anchored.py")
    write(tmp_path / "sub" / "inner" / "local.py")
    write(tmp_path / "other" / "local.py")
    assert discovered(tmp_path) == ["keep_gen.py", "ok.py", "other/local.py", "sub/inner/anchored.py"]


def test_gitignore_of_parent_folders_applies_inside_a_repository(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    write(tmp_path / ".git" / "info" / "exclude", "secret.py\n")
    write(tmp_path / ".gitignore", "generated/\n")
    write(tmp_path / "src" / "generated" / "m.py")
    write(tmp_path / "src" / "secret.py")
    write(tmp_path / "src" / "m.py")
    monkeypatch.chdir(tmp_path / "src")
    assert discovered(tmp_path / "src", ".") == ["m.py"]


def test_respect_gitignore_false(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / ".gitignore", "ignored.py\n")
    write(tmp_path / "ignored.py")
    assert discovered(tmp_path) == []
    assert discovered(tmp_path, respect_gitignore=False) == ["ignored.py"]


def test_explicit_file_is_linted_even_if_excluded_unless_force_exclude(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "pyproject.toml", '[tool.dropout-guard]\nextend-exclude = ["skip.py", "gen"]\n')
    write(tmp_path / "skip.py")
    write(tmp_path / "gen" / "m.py")
    write(tmp_path / "build" / "m.py")
    assert discovered(tmp_path) == []
    assert discovered(tmp_path, "skip.py", "gen/m.py", "build/m.py") == ["skip.py", "gen/m.py", "build/m.py"]
    assert discovered(tmp_path, "skip.py", "gen/m.py", "build/m.py", force_exclude=True) == []
    # force-exclude in the configuration file works too
    write(tmp_path / "pyproject.toml", '[tool.dropout-guard]\nextend-exclude = ["skip.py"]\nforce-exclude = true\n')
    assert discovered(tmp_path, "skip.py") == []


def test_explicit_excluded_folder_is_walked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "build" / "m.py")
    assert discovered(tmp_path, "build") == ["build/m.py"]
    assert discovered(tmp_path, "build", force_exclude=True) == []


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_symlink_loop_does_not_hang(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "a" / "m.py")
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    os.symlink(tmp_path / "a", tmp_path / "a" / "self")
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("r", discovered(tmp_path)), daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "discovery hangs on a symlink loop"
    assert box["r"] == ["a/m.py"]


def test_same_file_twice_is_analysed_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "m.py")
    assert discovered(tmp_path, "m.py", ".", "m.py") == ["m.py"]


def test_missing_path_raises_naming_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "m.py")
    with pytest.raises(PathError, match="does-not-exist.py"):
        check(["m.py", "does-not-exist.py"])


def test_no_files_is_fine(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = check(["."])
    assert result.files_checked == 0 and result.findings == []


# -- module names and roots --------------------------------------------------------------------
def test_module_names_relative_to_the_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "proj" / "train.py")
    write(tmp_path / "proj" / "pkg" / "__init__.py")
    write(tmp_path / "proj" / "pkg" / "sub" / "__init__.py")
    write(tmp_path / "proj" / "pkg" / "sub" / "mod.py")
    write(tmp_path / "proj" / "scripts" / "run.py")
    col = collect(["proj"], load_settings(["proj"]), cwd=str(tmp_path))
    names = {f.display: (f.modname, f.is_package) for f in col.files}
    assert names == {
        "proj/train.py": ("train", False),
        "proj/pkg/__init__.py": ("pkg", True),
        "proj/pkg/sub/__init__.py": ("pkg.sub", True),
        "proj/pkg/sub/mod.py": ("pkg.sub.mod", False),
        "proj/scripts/run.py": ("scripts.run", False),
    }
    assert all(os.path.isabs(f.path) for f in col.files)


def test_file_argument_root_is_its_folder_or_above_its_package(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "lone" / "script.py")
    write(tmp_path / "src" / "pkg" / "__init__.py")
    write(tmp_path / "src" / "pkg" / "mod.py")
    col = collect(["lone/script.py", "src/pkg/mod.py"], load_settings(["."]), cwd=str(tmp_path))
    assert {f.display: f.modname for f in col.files} == {"lone/script.py": "script", "src/pkg/mod.py": "pkg.mod"}
    # a folder argument inside a package gets the importable names too
    col = collect(["src/pkg"], load_settings(["."]), cwd=str(tmp_path))
    assert sorted(f.modname for f in col.files) == ["pkg", "pkg.mod"]


def test_display_paths_relative_to_cwd_else_absolute(tmp_path, monkeypatch):
    write(tmp_path / "inside" / "m.py")
    write(tmp_path / "outside" / "o.py")
    monkeypatch.chdir(tmp_path / "inside")
    result = check([".", str(tmp_path / "outside")], isolated=True)
    assert result.files == ["m.py", (tmp_path / "outside" / "o.py").as_posix()]


def test_files_that_may_import_each_other_go_to_one_analyze_call(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "a" / "m1.py", "from m2 import y\nx = 1\n")
    write(tmp_path / "b" / "m2.py", "y = 2\n")
    write(tmp_path / "c.py", "z = 3\n")
    calls = []
    real = api.analyze

    def spy(files, knowledge, codes=None, tick=None, split=True, retain=None):
        calls.append(sorted(f.display for f in files))
        return real(files, knowledge, codes, tick, split, retain)

    monkeypatch.setattr(api, "analyze", spy)
    check(["a", "b", "c.py"])
    assert sorted(calls) == [["a/m1.py", "b/m2.py"], ["c.py"]]


# -- hostile inputs ----------------------------------------------------------------------------
def test_syntax_error_is_dg000_at_its_position(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "bad.py", "x = 1\ndef f(:\n    pass\n")
    write(tmp_path / "good.py", "y = 2\n")
    result = check(["."])
    assert result.files_checked == 2
    [f] = result.findings
    assert (f.code, f.name, f.path, f.line, f.column) == ("DG000", "file-not-analysed", "bad.py", 2, 7)
    assert f.message == "SyntaxError: invalid syntax"
    assert f.abspath == str(tmp_path / "bad.py")


def test_indentation_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "bad.py", "if x:\npass\n")
    [f] = dg000(check(["bad.py"]))
    assert f.message.startswith("IndentationError:") and f.line == 2


def test_undecodable_bytes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "latin.py", b"x = 1\ns = '\xe9t\xe9'\n", mode="wb")
    [f] = dg000(check(["."]))
    assert f.line == 2 and f.column == 6
    assert "cannot decode file as utf-8" in f.message and "0xe9" in f.message


def test_nul_byte(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "nul.py", b"x = 1\ny = 2\x00\n", mode="wb")
    [f] = dg000(check(["."]))
    assert f.line == 2 and "NUL byte" in f.message


def test_binary_file_named_py(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "image.py", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00", mode="wb")
    write(tmp_path / "blob.py", bytes(range(128, 256)), mode="wb")
    result = check(["."])
    assert sorted(f.path for f in dg000(result)) == ["blob.py", "image.py"]
    assert result.files_checked == 2


def test_empty_file_is_fine(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "empty.py", "")
    result = check(["."])
    assert result.files_checked == 1 and result.findings == []


def test_encodings_bom_and_cookie(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "bom.py", b"\xef\xbb\xbfx = 'caf\xc3\xa9'\n", mode="wb")
    write(tmp_path / "latin.py", b"# -*- coding: latin-1 -*-\nx = '\xe9'\n", mode="wb")
    write(tmp_path / "unknown.py", b"# -*- coding: no-such-codec -*-\nx = 1\n", mode="wb")
    result = check(["."])
    assert [(f.path, f.code) for f in result.findings] == [("unknown.py", "DG000")]
    assert "no-such-codec" in result.findings[0].message
    assert result.sources[str(tmp_path / "latin.py")].endswith("x = '\xe9'\n")
    assert not result.sources[str(tmp_path / "bom.py")].startswith("\ufeff")


def test_deeply_nested_source_is_dg000_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "deep.py", "x = " + "-" * 200_000 + "1\n")
    write(tmp_path / "parens.py", "x = " + "(" * 500 + ")" * 500 + "\n")
    result = check(["."])
    assert sorted(f.path for f in dg000(result)) == ["deep.py", "parens.py"]


def test_parser_warnings_are_not_emitted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "w.py", "import re\npat = re.compile('\\d+')\nassert (1, 'msg')\nx = 1 is 1\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert check(["."]).findings == []
    assert [str(w.message) for w in caught] == []


def test_directory_named_like_a_python_file_is_walked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "x.py" / "inner.py", "def f(:\n")
    result = check(["."])
    assert result.files == ["x.py/inner.py"]
    assert [f.path for f in result.findings] == ["x.py/inner.py"]
    assert check(["x.py"]).files == ["x.py/inner.py"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = write(tmp_path / "secret.py", "x = 1\n")
    write(tmp_path / "ok.py", "y = 1\n")
    p.chmod(0)
    try:
        result = check(["."])
    finally:
        p.chmod(0o644)
    [f] = result.findings
    assert f.path == "secret.py" and "permission denied" in f.message


def test_unreadable_file_message(tmp_path, monkeypatch):
    """Runs as root too: the PermissionError path, simulated."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "secret.py", "x = 1\n")
    real_open = os.open

    def deny(path, *a, **k):
        if str(path).endswith("secret.py"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *a, **k)

    monkeypatch.setattr(engine.os, "open", deny)
    [f] = check(["."]).findings
    assert (f.code, f.path, f.line) == ("DG000", "secret.py", 1)
    assert f.message == "cannot read file: permission denied"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
def test_fifo_named_py_does_not_block(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.mkfifo(tmp_path / "pipe.py")
    write(tmp_path / "ok.py", "x = 1\n")
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("r", check(["."])), daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "reading a FIFO blocks"
    [f] = box["r"].findings
    assert f.path == "pipe.py" and "not a regular file (a FIFO)" in f.message
    assert check(["pipe.py"]).findings[0].path == "pipe.py"  # explicit too


def test_unreadable_folder_is_reported_and_the_run_goes_on(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "locked" / "m.py")
    write(tmp_path / "ok.py", "def f(:\n")
    real = os.scandir

    def scandir(path):
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", path)
        return real(path)

    monkeypatch.setattr(engine.os, "scandir", scandir)
    result = check(["."])
    assert sorted((f.path, f.code) for f in result.findings) == [("locked", "DG000"), ("ok.py", "DG000")]
    assert "cannot read folder" in result.findings[0].message


def test_crlf_and_cr_sources_parse(tmp_path, monkeypatch, fake_rules):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "crlf.py", b"x = 1\r\nboom()\r\n", mode="wb")
    result = check(["."])
    assert [(f.path, f.line, f.code) for f in result.findings] == [("crlf.py", 2, "DG990")]


# -- globs -------------------------------------------------------------------------------------
@pytest.mark.parametrize("pattern, path, is_dir, expected", [
    ("*.py", "a/b/c.py", False, True),
    ("*.py", "c.pyi", False, False),
    ("/top.py", "top.py", False, True),
    ("/top.py", "sub/top.py", False, False),
    ("a/*.py", "a/x.py", False, True),
    ("a/*.py", "a/b/x.py", False, False),
    ("**/gen", "x/y/gen", True, True),
    ("**/gen", "gen", True, True),
    ("a/**/b.py", "a/b.py", False, True),
    ("a/**/b.py", "a/x/y/b.py", False, True),
    ("a/**", "a/x/y.py", False, True),
    ("out/", "out", False, False),
    ("out/", "out", True, True),
    ("file[0-9].py", "file3.py", False, True),
    ("file[!0-9].py", "file3.py", False, False),
    ("file[!0-9].py", "filex.py", False, True),
    ("?.py", "a.py", False, True),
    ("?.py", "ab.py", False, False),
    ("\\#hash.py", "#hash.py", False, True),
])
def test_gitignore_patterns(tmp_path, pattern, path, is_dir, expected):
    ps = PatternSet.from_globs(str(tmp_path), [pattern], gitignore=True)
    assert ps.matches(str(tmp_path / path), is_dir) is expected


def test_glob_to_regex_treats_other_double_stars_as_stars():
    assert re.fullmatch(glob_to_regex("a**b"), "axxb")
    assert not re.fullmatch(glob_to_regex("a**b"), "ax/xb")
    assert compile_pattern("# comment") is None and compile_pattern("   ") is None
    assert compile_pattern("!keep.py").negated


def test_a_run_frees_its_analysis_without_the_cyclic_collector(tmp_path):
    """The collector is paused while a run analyses; the analysis must not leave reference
    cycles behind (trees, modules, the project), and the collector must be on again."""
    import gc

    from dropout_guard.lint.flow import Project
    from dropout_guard.lint.semantic import ClassInfo, ModuleInfo

    (tmp_path / "engine.py").write_text("def fit(model):\n    model.train()\n")
    (tmp_path / "train.py").write_text("import torch\nfrom engine import fit\n\nclass Net(torch.nn.Module):\n"
                                       "    def __init__(self):\n        super().__init__()\n\n"
                                       "        class Local(torch.nn.Module):\n            def forward(self, x):\n                return x\n\n"
                                       "        self.local = Local()\n\n"
                                       "    def forward(self, x):\n        return x\n\nm = Net()\nfit(m)\ny = m(1)\n")
    gc.collect()
    gc.disable()
    try:
        result = check([str(tmp_path)], isolated=True, cwd=str(tmp_path), jobs=1)
        alive = [t.__name__ for t in map(type, gc.get_objects())
                 if t in (ModuleInfo, ClassInfo, Project, ast.Module)]
    finally:
        gc.enable()
    assert result.findings  # the analysis ran
    assert alive == []
    check([str(tmp_path)], isolated=True, cwd=str(tmp_path), jobs=1)
    assert gc.isenabled()


def _decide_one_by_one(ps: PatternSet, rel: str, is_dir: bool):
    result = None
    for p in ps.patterns:
        if p.matches(rel, is_dir):
            result = not p.negated
    return result


GLOBS = ["*.py", "/top.py", "a/*.py", "**/gen", "a/**/b.py", "a/**", "out/", "file[0-9].py", "?.py", "build",
         "*.egg", ".venv", "docs/_build/", "x*y"]
PATHS = ["a/b/c.py", "top.py", "sub/top.py", "a/x.py", "a/b/x.py", "x/y/gen", "gen", "a/b.py", "out", "q/out",
         "file3.py", "b.py", "build", "src/build", "pkg.egg", ".venv", "docs/_build", "xzy", "x/zy"]


@pytest.mark.parametrize("negate", [False, True])
def test_joined_patterns_decide_as_the_patterns_one_by_one(tmp_path, negate):
    """Without a ``!`` pattern the globs are joined into one regex per kind; the decision is
    the same as trying each, in order, for every path, file or folder (and with a ``!``
    pattern the order matters, so they are tried one by one)."""
    for i in range(len(GLOBS)):
        globs = GLOBS[i:] + GLOBS[:i] + (["!keep*"] if negate else [])
        ps = PatternSet.from_globs(str(tmp_path), globs, gitignore=True)
        for rel in PATHS + ["keep.py", "a/keep"]:
            for is_dir in (False, True):
                assert ps.decide(str(tmp_path / rel), is_dir) == _decide_one_by_one(ps, rel, is_dir), (globs, rel)
        outside = str(tmp_path.parent / "elsewhere" / "m.py")  # outside the base: name patterns only
        assert ps.decide(outside, False) == _decide_one_by_one(
            PatternSet(ps.base, [p for p in ps.patterns if not p.anchored]), "m.py", False)


@pytest.mark.parametrize("path, base", [
    ("/a/b/c.py", "/a/b"), ("/a/b", "/a/b"), ("/a/bc/d.py", "/a/b"), ("/a/b/../c.py", "/a/b"),
    ("/a/b/./c.py", "/a/b"), ("/a/b//c.py", "/a/b"), ("/x/y.py", "/a/b"), ("/a/b/.hidden/c.py", "/a/b"),
    ("/a/b/c/..", "/a/b"), ("/a.py", "/"),
])
def test_relative_paths_agree_with_relpath(path, base):
    expected = os.path.relpath(path, base)
    expected = "" if expected == "." else None if expected == ".." or expected.startswith("../") else expected
    assert engine._rel(path, base) == expected


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_links_to_files_and_folders_are_followed_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "real" / "m.py")
    write(tmp_path / "real" / "n.py")
    os.symlink(tmp_path / "real", tmp_path / "alias")  # the same folder again
    os.symlink(tmp_path / "real" / "n.py", tmp_path / "z.py")  # the same file again
    os.symlink(tmp_path / "gone.py", tmp_path / "dangling.py")
    assert discovered(tmp_path) == ["alias/m.py", "alias/n.py"]


def test_a_warm_run_decodes_the_files_it_quotes_only_when_a_report_reads_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "m.py", "import torch\n\nmodel = torch.load('m.pt')\ny = model(1)\n")
    cold = check(["."], cache=True)
    os.utime(tmp_path / "m.py", (1, 1))  # old enough for the stat index
    check(["."], cache=True)
    calls = []
    real = api._light_sources
    monkeypatch.setattr(api, "_light_sources", lambda *a: calls.append(a) or real(*a))
    warm = check(["."], cache=True)
    assert warm.findings == cold.findings and warm.findings and not calls
    assert warm.sources[str(tmp_path / "m.py")] == cold.sources[str(tmp_path / "m.py")] and len(calls) == 1
