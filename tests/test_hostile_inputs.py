"""Hostile inputs, through the real command line in a subprocess with a timeout: a hang
fails the test instead of blocking CI, and a crash shows up as exit status 2.

tests/test_engine.py covers several of these through the API (NUL bytes, undecodable
bytes, a BOM, CRLF, a FIFO, a symlink loop, an unreadable file, 200,000 unary minus signs);
here each is checked end to end: the exit status (0 clean, 1 findings, 2 usage error), the
message a user sees, and that the rest of the run is unaffected.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import pytest

REPO = Path(__file__).resolve().parents[1]
# Hang guards, in seconds of wall time: each is at least ten times what its run takes on a
# busy 2-core machine, so only a real hang reaches it (a slow machine never does). How cost
# grows is measured without a clock in tests/test_growth.py, and timed in benchmarks/.
TIMEOUT = 300

MODEL = '''\
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.1), nn.Linear(8, 2))
        self.load_state_dict(torch.load("net.pt"))  # trained weights: its predictions matter
    def forward(self, x):
        return self.body(x)


def predict(x):
    model = Net()
    return model(x)
'''
MODEL_FINDINGS = [("DG101", 16, 12), ("DG201", 16, 12)]  # at `model(x)` of predict()


class Run:
    def __init__(self, proc: subprocess.CompletedProcess, fmt: str):
        self.rc = proc.returncode
        self.stdout = proc.stdout.decode("utf-8")
        self.stderr = proc.stderr.decode("utf-8")
        self.findings: List[dict] = json.loads(self.stdout) if fmt == "json" and self.stdout.strip() else []

    def at(self, path: str) -> List[Tuple[str, int, int]]:
        return sorted((f["code"], f["line"], f["column"]) for f in self.findings if f["path"] == path)

    def messages(self, path: str, code: str = "DG000") -> List[str]:
        return [f["message"] for f in self.findings if f["path"] == path and f["code"] == code]


def dg(args: Sequence[str], cwd: Path, fmt: str = "json", timeout: int = TIMEOUT, jobs: Optional[int] = None) -> Run:
    """``dropout-guard check`` in a fresh interpreter: no configuration file, no cache."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), NO_COLOR="1")
    env.pop("DROPOUT_GUARD_DEBUG", None)
    cmd = [sys.executable, "-m", "dropout_guard", "check", "--isolated", "--no-cache", "--format", fmt]
    if jobs is not None:
        cmd += ["--jobs", str(jobs)]
    try:
        proc = subprocess.run([*cmd, *args], cwd=cwd, env=env, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`dropout-guard check {' '.join(args)}` did not finish in {timeout} s: a hang")
    run = Run(proc, fmt)
    assert "Traceback" not in run.stderr, run.stderr
    assert "internal error" not in run.stderr, run.stderr
    assert run.rc in (0, 1, 2), (run.rc, run.stderr)
    if run.rc != 2 and fmt == "json":
        assert (run.rc == 1) == bool(run.findings), (run.rc, run.findings)
        for f in run.findings:
            assert "internal error" not in f["message"], f
    return run


def write(path: Path, content) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# -- recursion limits --------------------------------------------------------------------------
N = 10_000
DEEP = {
    # shape -> source; each either parses (and is analysed) or is one DG000 with a clear reason
    "parens.py": "x = " + "(" * N + "1" + ")" * N + "\n",
    "brackets.py": "x = " + "[" * N + "]" * N + "\n",
    "braces.py": "x = " + "{" * N + "}" * N + "\n",
    "calls.py": "x = f" + "(x)" * N + "\n",
    "attributes.py": "x = a" + ".b" * N + "\n",
    "subscripts.py": "x = a" + "[0]" * N + "\n",
    "binop.py": "x = " + " + ".join(["1"] * N) + "\n",
    "boolop.py": "x = " + " and ".join(["y"] * N) + "\n",
    "compare.py": "x = " + " < ".join(["y"] * N) + "\n",
    "unary.py": "x = " + "not " * N + "y\n",
    "lambdas.py": "f = " + "lambda: " * N + "1\n",
    "ifexp.py": "x = " + "1 if y else " * N + "0\n",
    "strings.py": "x = " + " ".join(["'a'"] * N) + "\n",
    "elifs.py": "if a:\n    pass\n" + "elif a:\n    pass\n" * N,
    "indent.py": "".join(" " * i + "if a:\n" for i in range(N // 100)) + " " * (N // 100) + "pass\n",
    "tuple.py": "x = " + ", ".join(["model(a)"] * N) + "\n",
    # deep enough to parse, too deep for a recursive walk over the tree: inside a function,
    # next to models, so the flow analysis and every rule get the tree
    "model_binop.py": MODEL + "\n\ndef deep(x):\n    m = Net()\n    return " + " + ".join(["m(x)"] * 2000) + "\n",
    "model_attrs.py": MODEL + "\n\ndef deep(x):\n    m = Net()\n    return m(x)" + ".b" * 2000 + "\n",
    "model_calls.py": MODEL + "\n\ndef deep(x):\n    m = Net()\n    return m" + "(x)" * 2000 + "\n",
    "model_ifexp.py": MODEL + "\n\ndef deep(x):\n    m = Net()\n    return " + "m(x) if x else " * 1500 + "0\n",
    "model_elifs.py": MODEL + "\n\ndef deep(x):\n    m = Net()\n    if x:\n        m.eval()\n"
                      + "    elif x:\n        m.train()\n        m(x)\n" * 2000,
}
DEEP_REASONS = ("too deeply nested", "nested too deeply", "too many nested parentheses",
                "too many levels of indentation", "too many statically nested blocks")


def test_deeply_nested_code(tmp_path):
    for name, text in DEEP.items():
        write(tmp_path / name, text)
    write(tmp_path / "good.py", MODEL)
    run = dg(["."], tmp_path)
    assert run.rc == 1
    assert run.at("good.py") == MODEL_FINDINGS  # the rest of the run is unaffected
    for name in DEEP:
        for message in run.messages(name):
            assert any(r in message for r in DEEP_REASONS), (name, message)
        assert len(run.messages(name)) <= 1, name
    # shapes that only the analyser (not the parser) finds too deep still report the file
    for name in ("model_binop.py", "model_attrs.py", "model_calls.py"):
        assert run.messages(name), name


def test_long_method_chains(tmp_path):
    """``x.view(1).view(1)...``, 300 links on a tensor, 200 on a model: the flow analysis evaluated a
    call's receiver twice (time doubled with each link: 18 links took 2 s) until values were
    memoised. The per-function time budget is checked between statements, so one statement
    must never be exponential."""
    write(tmp_path / "chain.py", "import torch\n\n\ndef f(x):\n    return x" + ".view(1)" * 300 + "\n")
    write(tmp_path / "model_chain.py", MODEL + "\n\ndef g(x):\n    m = Net()\n    return m" + ".to(x)" * 100
          + "(x)" + ".foo()" * 100 + "\n")
    run = dg(["."], tmp_path, timeout=TIMEOUT)
    assert run.rc == 1
    assert run.at("chain.py") == []
    assert run.messages("model_chain.py") == []


def test_many_predictions_in_one_function(tmp_path):
    # a long script or test that predicts with one model 600 times (about 1 s)
    body = "    m = Net()\n" + "".join(f"    y{i} = m(x + {i})\n" for i in range(600))
    write(tmp_path / "wide.py", MODEL + "\n\ndef wide(x):\n" + body)
    run = dg(["wide.py"], tmp_path)
    assert run.rc == 1


def test_deep_call_chains_and_class_hierarchies(tmp_path):
    """Summaries across 2,000 functions in a chain, a 2,000-class inheritance chain and a
    2,000-function cycle: recursion in the project-wide passes, not in one expression."""
    chain = "".join(f"def f{i}(m, x):\n    return f{i + 1}(m, x)\n\n\n" for i in range(2000))
    write(tmp_path / "calls.py", MODEL + "\n\n" + chain + "def f2000(m, x):\n    return m(x)\n\n\n"
          "def main(x):\n    return f0(Net(), x)\n")
    classes = "".join(f"class C{i + 1}(C{i}):\n    pass\n\n\n" for i in range(2000))
    write(tmp_path / "classes.py", MODEL + "\n\nclass C0(Net):\n    pass\n\n\n" + classes
          + "def main(x):\n    return C2000()(x)\n")
    cycle = "".join(f"def g{i}(m, x):\n    if x:\n        return g{(i + 1) % 2000}(m, x)\n    return m(x)\n\n\n"
                    for i in range(2000))
    write(tmp_path / "cycle.py", MODEL + "\n\n" + cycle + "def main(x):\n    return g0(Net(), x)\n")
    run = dg(["."], tmp_path)
    assert run.rc == 1
    for name in ("calls.py", "classes.py", "cycle.py"):
        assert ("DG101", 16, 12) in run.at(name), name  # predict() of MODEL
        assert run.messages(name) == [], name  # no DG000
    for name in ("calls.py", "cycle.py"):  # the model passed in at the top of the chain
        last = (tmp_path / name).read_text().count("\n")
        assert ("DG101", last, 12) in run.at(name), name


# -- size ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_20_mb_file(tmp_path):
    """A generated 20 MB module (a data table between two functions): about 20 s, 1.4 GB."""
    rows = []
    size = 0
    i = 0
    while size < 20_000_000:
        row = f"    ({i}, 'token_{i:08d}', {i * 0.5!r}, \"a fairly long description of entry {i}\"),\n"
        rows.append(row)
        size += len(row)
        i += 1
    text = MODEL + "\n\nTABLE = [\n" + "".join(rows) + "]\n\n\ndef predict_last(x):\n    model = Net()\n    return model(x)\n"
    write(tmp_path / "big.py", text)
    assert (tmp_path / "big.py").stat().st_size >= 20_000_000
    last = text.count("\n")
    run = dg(["big.py"], tmp_path, timeout=900)
    assert run.rc == 1
    assert run.at("big.py") == sorted(MODEL_FINDINGS + [("DG101", last, 12), ("DG201", last, 12)])


@pytest.mark.slow
def test_200_000_line_file(tmp_path):
    """200,000 lines of small inference functions (about 15 s, 750 MB)."""
    parts = [MODEL]
    lines = MODEL.count("\n")
    i = 0
    while lines < 200_000 - 8:
        block = f"\n\ndef step_{i}(model, batch):\n    model.eval()\n    with torch.no_grad():\n        out = model(batch)\n    return out\n"
        parts.append(block)
        lines += block.count("\n")
        i += 1
    parts.append("\n\ndef predict_last(x):\n    model = Net()\n    return model(x)\n")
    text = "".join(parts)
    write(tmp_path / "long.py", text)
    last = text.count("\n")
    assert last >= 199_990
    run = dg(["long.py"], tmp_path, timeout=900)
    assert run.rc == 1
    assert run.at("long.py") == sorted(MODEL_FINDINGS + [("DG101", last, 12), ("DG201", last, 12)])


def test_one_very_long_line_and_many_small_files(tmp_path):
    write(tmp_path / "line.py", MODEL + "S = '" + "x" * 5_000_000 + "'  # noqa: DG101\n")
    for i in range(1500):
        write(tmp_path / "many" / f"m{i:04d}.py", f"import torch\nX{i} = torch.zeros({i})\n")
    run = dg(["."], tmp_path)
    assert run.rc == 1
    assert run.at("line.py") == MODEL_FINDINGS
    assert [f for f in run.findings if f["path"].startswith("many/")] == []


# -- bytes and encodings -----------------------------------------------------------------------
BAD_BYTES = {
    # name -> (content, expected DG000 message fragment, line)
    "nul.py": (b"import torch\nx = 1\x00\n", "NUL byte", 2),
    "utf16.py": ("import torch\n".encode("utf-16"), "NUL byte", 1),
    "latin1.py": (b"import torch\ns = 'caf\xe9'\n", "cannot decode file as utf-8: invalid byte 0xe9", 2),
    "truncated_utf8.py": (b"import torch\ns = '\xe2\x82'\n", "cannot decode file as utf-8", 2),
    "lone_continuation.py": (b"\x80import torch\n", "cannot decode file", 1),
    "bad_cookie.py": (b"# -*- coding: no-such-codec -*-\nimport torch\n", "no-such-codec", 1),
    "bom_and_cookie.py": (b"\xef\xbb\xbf# coding: latin-1\nimport torch\n", "cannot decode file", 1),
    "binary.py": (bytes(range(256)) * 64, "NUL byte", 1),
}


def test_undecodable_files(tmp_path):
    for name, (data, _, _) in BAD_BYTES.items():
        write(tmp_path / name, data)
    write(tmp_path / "good.py", MODEL)
    run = dg(["."], tmp_path)
    assert run.rc == 1
    assert run.at("good.py") == MODEL_FINDINGS
    for name, (_, fragment, line) in BAD_BYTES.items():
        [f] = [f for f in run.findings if f["path"] == name]
        assert f["code"] == "DG000" and fragment in f["message"], (name, f["message"])
        assert f["line"] == line, (name, f)
    # the text format says the same, one line per file
    text = dg(["."], tmp_path, fmt="text")
    assert text.rc == 1
    assert "nul.py:2:6: DG000 cannot analyse file: it contains a NUL byte" in text.stdout


@pytest.mark.parametrize("variant", ["bom", "crlf", "cr", "mixed", "formfeed", "bom_crlf", "tabs"])
def test_newlines_bom_and_form_feeds_keep_positions(tmp_path, variant):
    lines = MODEL.splitlines()
    if variant == "bom":
        data = b"\xef\xbb\xbf" + MODEL.encode()
    elif variant == "crlf":
        data = MODEL.replace("\n", "\r\n").encode()
    elif variant == "cr":
        data = MODEL.replace("\n", "\r").encode()
    elif variant == "bom_crlf":
        data = b"\xef\xbb\xbf" + MODEL.replace("\n", "\r\n").encode()
    elif variant == "mixed":
        # a blank line after "\r" would merge into one "\r\n": blank lines keep "\n"
        seps = ["\n", "\r\n", "\r"]
        data = "".join(line + (seps[i % 3] if line else "\n") for i, line in enumerate(lines)).encode()
    elif variant == "tabs":
        data = MODEL.replace("        ", "\t\t").replace("    ", "\t").encode()
    else:  # form feeds: as the first character of lines (page breaks in old code) and on blank lines
        data = MODEL.replace("\n\n\nclass", "\n\x0c\n\x0c\nclass").replace("\n\n\ndef", "\n\x0c\n\ndef").encode()
        data += b"\x0c\n"
    write(tmp_path / "m.py", data)
    run = dg(["m.py"], tmp_path)
    assert run.rc == 1
    expected = MODEL_FINDINGS
    if variant == "tabs":
        expected = [(c, line, 9) for c, line, _ in MODEL_FINDINGS]
    assert run.at("m.py") == expected


# Python 2 statements that have a Python 3 form are read as that form (``lint/legacy.py``),
# keeping lines and columns; what has none is still one DG000 with the parser's position
PY2_READ = {
    "print_statement.py": "import torch\nprint 'hello'\nprint >>f, 'x',\nprint\n",
    "exec_statement.py": "import torch\nexec 'x = 1'\n",
    "except_comma.py": "try:\n    pass\nexcept ValueError, e:\n    pass\n",
    "not_equal.py": "if 1 <> 2:\n    pass\n",
    "raise_comma.py": "raise ValueError, 'bad'\n",
    "cuda_async.py": "import torch\nx = torch.zeros(1).cuda(async=True)\n",
}
PY2_NOT_READ = {
    "backticks.py": ("print 'a'\ny = `x`\n", 1, "Missing parentheses"),  # the parser's own error, as it was
    "octal.py": ("mode = 0777\n", 1, "SyntaxError"),
    "ur_string.py": ("s = ur'abc'\n", 1, "SyntaxError"),
    "long_int.py": ("n = 10L\n", 1, "SyntaxError"),
    "tabs_and_spaces.py": ("if True:\n        x = 1\n\ty = 2\n", 3, "TabError"),
}


def test_python_2_files(tmp_path):
    for name, text in PY2_READ.items():
        write(tmp_path / "legacy" / name, text)
    for name, (text, _, _) in PY2_NOT_READ.items():
        write(tmp_path / "legacy" / name, text)
    # the model file in Python 2: a print statement before the prediction, its findings in place
    write(tmp_path / "legacy" / "model2.py", MODEL.replace("    return model(x)", "    print 'predicting'; return model(x)"))
    write(tmp_path / "good.py", MODEL)
    run = dg(["."], tmp_path)
    assert run.rc == 1
    assert run.at("good.py") == MODEL_FINDINGS
    assert run.at("legacy/model2.py") == [(c, line, col + len("print 'predicting'; ")) for c, line, col in MODEL_FINDINGS]
    for name in PY2_READ:
        assert run.at(f"legacy/{name}") == [], name
    for name, (_, line, fragment) in PY2_NOT_READ.items():
        [f] = [f for f in run.findings if f["path"] == f"legacy/{name}"]
        assert f["code"] == "DG000" and f["line"] == line and fragment in f["message"], (name, f)


# -- the file system ---------------------------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_walked_and_named(tmp_path):
    os.mkfifo(tmp_path / "pipe.py")
    write(tmp_path / "good.py", MODEL)
    run = dg(["."], tmp_path, timeout=TIMEOUT)  # nothing ever writes to the FIFO: a blocking read hangs
    assert run.rc == 1
    assert run.messages("pipe.py") == ["cannot read file: not a regular file (a FIFO)"]
    assert run.at("good.py") == MODEL_FINDINGS
    run = dg(["pipe.py"], tmp_path, timeout=TIMEOUT)
    assert run.rc == 1 and run.messages("pipe.py")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks on this platform")
def test_symlink_loops_and_dangling_links(tmp_path):
    write(tmp_path / "pkg" / "good.py", MODEL)
    os.symlink(tmp_path, tmp_path / "pkg" / "loop")  # back to the top
    os.symlink(tmp_path / "pkg", tmp_path / "pkg" / "self")
    os.symlink("a", tmp_path / "b")  # a <-> b
    os.symlink("b", tmp_path / "a")
    os.symlink(tmp_path / "missing.py", tmp_path / "dangling.py")
    os.symlink(tmp_path / "pkg" / "good.py", tmp_path / "alias.py")  # the same file twice
    run = dg(["."], tmp_path, timeout=TIMEOUT)
    assert run.rc == 1
    assert sorted({f["path"] for f in run.findings}) in (["pkg/good.py"], ["alias.py"])
    assert len(run.findings) == 2
    # named explicitly: a dangling link is a path that does not exist
    run = dg(["dangling.py"], tmp_path, timeout=TIMEOUT)
    assert run.rc == 2 and "dangling.py" in run.stderr


def test_folder_nested_200_deep(tmp_path):
    deep = tmp_path.joinpath(*["d"] * 200)
    write(deep / "m.py", MODEL)
    run = dg(["."], tmp_path)
    assert run.rc == 1
    assert run.at("/".join(["d"] * 200) + "/m.py") == MODEL_FINDINGS


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root reads any file whatever its mode; test_unreadable_file_io_error covers a failing "
                           "read as root")
def test_unreadable_file_permission_denied(tmp_path):
    p = write(tmp_path / "secret.py", MODEL)
    write(tmp_path / "good.py", MODEL)
    p.chmod(0)
    try:
        run = dg(["."], tmp_path)
    finally:
        p.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert run.rc == 1
    assert run.messages("secret.py") == ["cannot read file: permission denied"]
    assert run.at("good.py") == MODEL_FINDINGS


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs Linux /proc")
def test_unreadable_file_io_error(tmp_path):
    """A file that opens but cannot be read, for any user, root included: /proc/self/mem is
    a regular file whose read at offset 0 fails with EIO (address 0 is never mapped)."""
    os.symlink("/proc/self/mem", tmp_path / "mem.py")
    write(tmp_path / "good.py", MODEL)
    run = dg(["."], tmp_path)
    assert run.rc == 1
    [message] = run.messages("mem.py")
    assert message.startswith("cannot read file: ") and "rror" in message
    assert run.at("good.py") == MODEL_FINDINGS


def test_path_that_does_not_exist(tmp_path):
    write(tmp_path / "good.py", MODEL)
    for args in (["nope.py"], ["good.py", "no/such/dir"], ["."] + ["missing"]):
        run = dg(args, tmp_path, fmt="text")
        assert run.rc == 2, args
        assert f"path does not exist: {args[-1]}" in run.stderr
        assert run.stdout == ""


def test_empty_folder_and_folders_without_python(tmp_path):
    (tmp_path / "empty").mkdir()
    write(tmp_path / "docs" / "notes.txt", "x")
    write(tmp_path / "docs" / "build" / "m.py", MODEL)  # excluded by default
    for args, fmt in ((["empty"], "json"), (["empty", "docs"], "text")):
        run = dg(args, tmp_path, fmt=fmt)
        assert run.rc == 0, args
        assert "no Python files found" in run.stderr
    assert dg(["empty"], tmp_path).findings == []


def test_file_names_that_are_not_utf8_or_not_printable(tmp_path):
    """A file name with bytes that are not UTF-8 (os.fsdecode keeps them as lone surrogates,
    which crashed every output format) and names with a newline or an escape character."""
    if sys.platform == "darwin" or sys.getfilesystemencoding().lower() not in ("utf-8", "utf8"):
        pytest.skip("needs a file system that accepts arbitrary bytes in names")
    names = [b"caf\xe9.py", b"new\nline.py", b"esc\x1b[31m.py"]
    for raw in names:
        try:
            with open(os.path.join(os.fsencode(tmp_path), raw), "wb") as fh:
                fh.write(MODEL.encode())
        except OSError:
            pytest.skip("the file system refuses such names")
    for fmt in ("json", "text", "sarif", "github"):
        run = dg(["."], tmp_path, fmt=fmt)
        assert run.rc == 1, (fmt, run.stderr)
    run = dg(["."], tmp_path)
    assert sorted({f["path"] for f in run.findings}) == sorted(["caf\ufffd.py", "new\nline.py", "esc\x1b[31m.py"])
    assert all(f["code"] in ("DG101", "DG201") for f in run.findings)
    text = dg(["."], tmp_path, fmt="text").stdout  # a terminal sees escapes, never the raw characters
    assert "\x1b" not in text and "esc\\x1b[31m.py:" in text and "new\\nline.py:" in text
    assert all(line.startswith(("caf", "esc", "new", "Found", "No fixes")) for line in text.splitlines() if line), text


def test_parallel_workers_survive_bad_files(tmp_path):
    """Several independent parts go to worker processes: bad files in each."""
    for i in range(6):
        write(tmp_path / f"part{i}" / "good.py", MODEL.replace("Net", f"Net{i}"))
        write(tmp_path / f"part{i}" / "bad.py", b"x = 1\x00" if i % 2 else "def f(:\n")
        write(tmp_path / f"part{i}" / "deep.py", "x = " + "-" * 100_000 + "1\n")
    run = dg(["."], tmp_path, jobs=2)
    assert run.rc == 1
    for i in range(6):
        assert run.at(f"part{i}/good.py") == MODEL_FINDINGS
        assert [f["code"] for f in run.findings if f["path"] in (f"part{i}/bad.py", f"part{i}/deep.py")] == \
            ["DG000", "DG000"]
