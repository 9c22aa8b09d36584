"""Property tests (hypothesis): nothing a user can feed the analyser breaks it.

* ``hypothesmith`` programs (generic, valid Python) and mutated fixtures (lines deleted,
  duplicated, swapped): the analyser returns findings or DG000, never raises, never stalls,
  never reports an internal error, and the JSON report always validates.
* PyTorch-shaped programs (``torch_programs`` below: random compositions of model
  construction, ``.eval()``/``.train()``, ``no_grad`` blocks, loops, branches, helpers that
  take models, backward/step) exercise the flow analysis itself. Invariants: never raises,
  deterministic, positions inside the file, and metamorphic properties: doing what a DG101
  message says (``model.eval()`` right before the reported line) removes that DG101,
  wrapping a DG201 line in ``with torch.no_grad():`` removes that DG201, and a comment line
  added on top moves every finding down one line and changes nothing else.

Every property runs with ``derandomize=True``, so CI tries the same programs on every run;
``DROPOUT_GUARD_HYPOTHESIS_SCALE=10`` multiplies the number of examples for a long local
search (it then uses a random seed: a failure prints the ``@seed`` to reproduce it).
"""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pytest

hypothesis = pytest.importorskip("hypothesis")
pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")  # generated programs, compiled by hypothesmith
from hypothesis import HealthCheck, assume, given, note, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from dropout_guard.lint.analysis import analyze  # noqa: E402
from dropout_guard.lint.context import SourceFile  # noqa: E402
from dropout_guard.lint.engine import ReadError, parse_source  # noqa: E402
from dropout_guard.lint.findings import Finding  # noqa: E402
from dropout_guard.lint.report import json_ as json_report  # noqa: E402
from dropout_guard.lint.rules import ALL_RULES  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
ALL_CODES = sorted(r.code for r in ALL_RULES)  # opt-in rules too
SCALE = int(os.environ.get("DROPOUT_GUARD_HYPOTHESIS_SCALE", "1") or 1)
# One analysis of one small generated program must never take anywhere near this much CPU
# time (a few milliseconds in fact, so a machine ten times slower is far from it; CPU time,
# so a loaded machine does not count); the analyser's own per-function budget
# (flow.DEFAULT_BUDGET_S) is 10 s of CPU time.
SLOW_PROGRAM_S = 20.0


def examples(n: int) -> settings:
    return settings(max_examples=n * SCALE, derandomize=SCALE == 1, deadline=None, database=None,
                    print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much, HealthCheck.large_base_example])


# ----------------------------------------------------------------------------------------
# Running the analyser and checking what it returns
# ----------------------------------------------------------------------------------------
def run_analysis(sources: Dict[str, str]) -> List[Finding]:
    """Analyse in-memory files as one project (the engine's path after reading), with every
    rule selected. A file that does not parse is a DG000, as the engine reports it."""
    files, out = [], []
    for name, text in sources.items():
        try:
            tree = parse_source(text, name)
        except ReadError as err:
            out.append(Finding("DG000", "file-not-analysed", err.message, name, err.line, err.column,
                               err.end_line, err.end_column, abspath=name))
            continue
        modname = name[:-3].replace("/", ".")
        is_package = modname.endswith(".__init__")
        if is_package:
            modname = modname[: -len(".__init__")]
        files.append(SourceFile(name, name, text, tree, modname, is_package))
    start = time.process_time()
    out.extend(analyze(files, codes=ALL_CODES))
    took = time.process_time() - start
    assert took < SLOW_PROGRAM_S, f"analysis took {took:.1f} s of CPU time: a hang in the making"
    return out


def line_lengths(text: str) -> List[int]:
    """Characters per line, lines ended by \\r\\n, \\r or \\n (as Python's tokenizer counts them)."""
    return [len(x) for x in re.split(r"\r\n|\r|\n", text)]


def check_findings(findings: Sequence[Finding], sources: Dict[str, str], *, allow_dg000: bool) -> None:
    """Lines and columns inside the file, no internal error, the JSON report validates."""
    for f in findings:
        assert f.path in sources, f
        assert isinstance(f.message, str) and f.message.strip(), f
        if f.code == "DG000":
            # the safety net in analysis.py turns a crash into DG000: still a bug to find here
            assert "internal error" not in f.message, f.message
            assert allow_dg000, f"DG000 on a program that parses: {f.message}"
        lengths = line_lengths(sources[f.path])
        assert 1 <= f.line <= f.end_line <= len(lengths), (f, len(lengths))
        assert 1 <= f.column <= lengths[f.line - 1] + 1 or (f.code == "DG000" and f.column == 1), f
        assert 1 <= f.end_column <= lengths[f.end_line - 1] + 1 or f.code == "DG000", f
        assert (f.line, f.column) <= (f.end_line, f.end_column), f
        if f.fix is not None:
            for e in f.fix.edits:
                assert 1 <= e.line <= e.end_line <= len(lengths), (f, e)
                assert 1 <= e.column <= lengths[e.line - 1] + 1, (f, e)
                assert 1 <= e.end_column <= lengths[e.end_line - 1] + 1, (f, e)
    validate_json_report(json.loads(json_report.render(findings)))


_POSITION = {"row": int, "column": int}


def validate_json_report(data) -> None:
    """The ``--format json`` contract (DESIGN.md, docs/usage.md): one array of findings with these
    fields and types; 1-based positions; ``fix`` null or an object with edits."""
    assert isinstance(data, list)
    required = {"code": str, "name": str, "message": str, "path": str, "line": int, "column": int,
                "end_line": int, "end_column": int, "filename": str, "location": dict, "end_location": dict,
                "noqa_row": int, "url": (str, type(None))}
    for item in data:
        assert isinstance(item, dict)
        for key, kind in required.items():
            assert key in item, f"missing {key!r} in {item}"
            assert isinstance(item[key], kind) and not isinstance(item[key], bool), (key, item[key])
        assert "fix" in item and "cell" in item
        assert re.fullmatch(r"DG\d{3}", item["code"]), item["code"]
        assert item["line"] >= 1 and item["column"] >= 1
        assert (item["line"], item["column"]) <= (item["end_line"], item["end_column"])
        for key in ("location", "end_location"):
            assert set(item[key]) == set(_POSITION), item[key]
            assert all(isinstance(item[key][k], int) for k in _POSITION)
        assert item["location"] == {"row": item["line"], "column": item["column"]}
        assert item["cell"] is None or isinstance(item["cell"], int)
        fix = item["fix"]
        if fix is not None:
            assert fix["applicability"] in ("safe", "unsafe", "display-only"), fix
            assert isinstance(fix["message"], str)
            for edit in fix["edits"]:
                assert isinstance(edit["content"], str)
                for key in ("location", "end_location"):
                    assert set(edit[key]) == set(_POSITION) and all(isinstance(v, int) for v in edit[key].values())


def keyed(findings: Sequence[Finding]) -> List[tuple]:
    return sorted((f.path, f.line, f.column, f.end_line, f.end_column, f.code, f.message) for f in findings)


# ----------------------------------------------------------------------------------------
# Generic programs (hypothesmith) and mutated fixtures
# ----------------------------------------------------------------------------------------
try:  # a dev dependency (pyproject's dev extra); without it only these two properties skip
    import hypothesmith
except ImportError:  # pragma: no cover
    hypothesmith = None
needs_hypothesmith = pytest.mark.skipif(hypothesmith is None, reason="hypothesmith is not installed")
grammar_programs = hypothesmith.from_grammar() if hypothesmith else st.nothing()
node_programs = hypothesmith.from_node() if hypothesmith else st.nothing()

TORCH_HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"


@needs_hypothesmith
@examples(60)
@given(source=grammar_programs, torchy=st.booleans())
def test_hypothesmith_grammar_programs(source, torchy):
    # the grammar's programs parse but may not compile (``return`` outside a function): DG000
    text = (TORCH_HEADER + source) if torchy else source
    findings = run_analysis({"gen.py": text})
    check_findings(findings, {"gen.py": text}, allow_dg000=True)


@needs_hypothesmith
@examples(60)
@given(source=node_programs, torchy=st.booleans())
def test_hypothesmith_node_programs(source, torchy):
    text = (TORCH_HEADER + source) if torchy else source
    findings = run_analysis({"gen.py": text})
    check_findings(findings, {"gen.py": text}, allow_dg000=True)
    try:
        compile(text, "gen.py", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return
    assert not [f for f in findings if f.code == "DG000"], findings


def parsed_names(tree: ast.AST) -> Tuple[set, set]:
    """(every name and attribute the tree spells, the first names its imports can reach a
    module by), as the analysis reads them: what the partition must never miss."""
    names, roots = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.alias) and node.name != "*":
            names.update(node.name.split(".") + ([node.asname] if node.asname else []))
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.module:
                roots.add(node.module.split(".")[0])
            if node.level:  # ``from . import x``: x may be a module
                roots.update(a.name for a in node.names if a.name != "*")
    return names, roots


def assert_partition_sees(source: str) -> None:
    from dropout_guard.lint.partition import identifiers, import_roots

    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return
    names, roots = parsed_names(tree)
    data = source.encode("utf-8", "surrogatepass")
    assert names <= identifiers(data), names - identifiers(data)
    assert roots <= import_roots(data), roots - import_roots(data)


@needs_hypothesmith
@examples(100)
@given(source=grammar_programs | node_programs)
def test_partition_sees_every_name_and_import_of_generated_programs(source):
    assert_partition_sees(source)


def test_partition_sees_every_name_and_import_of_the_fixtures_and_the_package():
    for path in sorted(FIXTURES.rglob("*.py")) + sorted((REPO / "dropout_guard").rglob("*.py")):
        assert_partition_sees(path.read_text(encoding="utf-8"))


FIXTURE_FILES = sorted(p for p in FIXTURES.rglob("*.py"))


def mutate(lines: List[str], ops: Sequence[Tuple[str, int, int]]) -> List[str]:
    lines = list(lines)
    for op, i, j in ops:
        if not lines:
            break
        i %= len(lines)
        j %= len(lines)
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "move":
            lines.insert(j, lines.pop(i))
        elif op == "dedent":
            lines[i] = lines[i][4:] if lines[i].startswith("    ") else lines[i]
        elif op == "indent":
            lines[i] = "    " + lines[i]
    return lines


mutations = st.lists(st.tuples(st.sampled_from(["delete", "duplicate", "swap", "move", "dedent", "indent"]),
                               st.integers(0, 10_000), st.integers(0, 10_000)), min_size=1, max_size=8)


@examples(120)
@given(index=st.integers(0, len(FIXTURE_FILES) - 1), ops=mutations)
def test_mutated_fixtures(index, ops):
    path = FIXTURE_FILES[index]
    text = "".join(mutate(path.read_text(encoding="utf-8").splitlines(keepends=True), ops))
    name = path.relative_to(FIXTURES).as_posix()
    note(f"{name} after {ops}")
    findings = run_analysis({name: text})
    check_findings(findings, {name: text}, allow_dg000=True)
    assert keyed(run_analysis({name: text})) == keyed(findings), "not deterministic"


PROJECT = FIXTURES / "projects" / "registry_serving"


@examples(40)
@given(ops=st.dictionaries(st.sampled_from(sorted(p.name for p in PROJECT.glob("*.py"))), mutations, min_size=1))
def test_mutated_multi_file_project(ops):
    """The cross-file analysis (imports, summaries across files) on a broken project."""
    sources = {}
    for p in sorted(PROJECT.glob("*.py")):
        lines = p.read_text(encoding="utf-8").splitlines(keepends=True)
        sources[p.name] = "".join(mutate(lines, ops.get(p.name, ())))
    findings = run_analysis(sources)
    check_findings(findings, sources, allow_dg000=True)


# ----------------------------------------------------------------------------------------
# PyTorch-shaped programs
# ----------------------------------------------------------------------------------------
HEADER = '''\
import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from transformers import AutoModel
import lightning.pytorch as pl
from accelerate import Accelerator
from dropout_guard import eval_mode

accelerator = Accelerator()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.drop = nn.Dropout(0.5)
        self.bn = nn.BatchNorm1d(4)

    def forward(self, x):
        return {forward}


class Plain(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x)


def make_model():
    m = Net()
    {factory_mode}
    return m
'''

FORWARDS = [
    "self.drop(self.bn(self.fc(x)))",
    "F.dropout(self.fc(x), 0.5)",
    "F.dropout(self.fc(x), 0.5, self.training)",
    "nn.Dropout(0.1)(self.fc(x))",
]
FACTORY_MODES = ["pass", "m.eval()", "m.train()"]
CONSTRUCTORS = [
    "Net()", "Plain()", "make_model()", "nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.2))",
    "nn.Sequential(nn.Linear(4, 4), nn.ReLU())", "torchvision.models.resnet18()", "torch.load(path)",
    "AutoModel.from_pretrained(path)",
]
MODEL_NAMES = ["model", "net", "teacher"]


class Gen:
    """Draws statements; ``models`` are the model names bound so far in the function."""

    def __init__(self, draw, helpers: List[Tuple[str, bool]], script: bool = False):
        self.draw = draw
        self.helpers = helpers  # (name, returns a value)
        self.script = script  # module-level code: no ``return``

    def pick(self, seq):
        return self.draw(st.sampled_from(seq))

    def block(self, ind: str, models: List[str], depth: int, in_loop: bool) -> List[str]:
        n = self.draw(st.integers(1, 5 if depth < 2 else 3))
        out: List[str] = []
        for k in range(n):
            out += self.stmt(ind, models, depth, in_loop)
            if out and out[-1].strip().startswith(("return", "break", "continue")):
                break
        return out or [ind + "pass"]

    def stmt(self, ind: str, models: List[str], depth: int, in_loop: bool) -> List[str]:
        kinds = ["build", "mode", "mode", "predict", "predict", "predict", "train", "train", "grad", "misc", "python"]
        if models and self.helpers:
            kinds += ["helper", "helper"]
        if depth < 3:
            kinds += ["with", "with", "for", "if", "try", "while", "match", "def"]
        if in_loop:
            kinds += ["jump"]
        kind = self.pick(kinds)
        if kind == "build" or (not models and kind in ("mode", "predict", "train", "helper", "python")):
            name = self.pick(MODEL_NAMES)
            ctor = self.pick(CONSTRUCTORS + ([f"copy.deepcopy({models[0]})", f"{models[0]}.to('cpu')",
                                                f"torch.compile({models[0]})"] if models else []))
            if name not in models:
                models.append(name)
            return [f"{ind}{name} = {ctor}"]
        m = self.pick(models) if models else "model"
        if kind == "mode":
            return [ind + self.pick([f"{m}.eval()", f"{m}.train()", f"{m}.train(False)", f"{m}.train(mode=flag)",
                                     f"{m}.eval", f"{m}.training = False", f"{m}.requires_grad_(False)",
                                     f"{m}.train(True)", f"{m} = {m}.eval()"])]
        if kind == "predict":
            return [ind + self.pick([f"y = {m}(x)", f"preds.append({m}(x))", f"out = {m}(x).argmax(1)",
                                     f"print({m}(x))", f"if {m}(x).sum() > 0:\n{ind}    y = x",
                                     f"z = [{m}(b) for b in data]"] + ([] if self.script else [f"return {m}(x)"]))]
        if kind == "train":
            return [ind + self.pick([f"opt = torch.optim.SGD({m}.parameters(), lr=0.1)",
                                     f"loss = F.cross_entropy({m}(x), y)", f"loss = {m}(x).sum()",
                                     "loss.backward()", "opt.step()", "opt.zero_grad()",
                                     f"g = torch.autograd.grad({m}(x).sum(), x)",
                                     "scaler.scale(loss).backward()", "scaler.step(opt)"])]
        if kind == "helper":
            name, returns = self.pick(self.helpers)
            call = f"{name}({m}, x)"
            return [ind + (f"y = {call}" if returns and self.draw(st.booleans()) else call)]
        if kind == "grad":
            return [ind + self.pick(["torch.no_grad()", "torch.set_grad_enabled(False)",
                                     "torch.set_grad_enabled(True)", "x = x.detach()"])]
        if kind == "misc":
            return [ind + self.pick(["x = x + 1", "flag = not flag", "y = None", "pass"])]
        if kind == "python":  # less common syntax around models
            other = self.pick(models)
            return [ind + self.pick([
                f"f = lambda b: {m}(b)", f"if (y := {m}(x)) is not None:\n{ind}    pass",
                f"{m}, {other} = {other}, {m}", f"pair = ({m}, {other})", f"bank = {{'a': {m}}}",
                f"for k, v in bank.items():\n{ind}    v.eval()" if not self.script else f"bank = [{m}]",
                f"{m}.train(not flag)", f"{m}.train(mode=False)", f"{m} = None", f"{m} = 3",
                f"{m}.apply(lambda mod: mod.eval())", f"{m} = accelerator.prepare({m})",
                f"{m}, opt = accelerator.prepare({m}, opt)", f"{m} = nn.DataParallel({m})",
                f"y = {m}(x, *rest, **kw)", f"y = {m}.forward(x)", f"y = {m}.module(x)",
                f"assert {m}(x) is not None", f"del {m}" if not self.script else "pass",
                f"accelerator.backward({m}(x).sum())", f"{m}.zero_grad()",
                f"torch.save({m}.state_dict(), path)", f"{m}.load_state_dict(torch.load(path))",
            ])]
        if kind == "match":
            out = [f"{ind}match flag:", f"{ind}    case 0:"] + self.block(ind + "        ", models, depth + 1, in_loop)
            return out + [f"{ind}    case _:"] + self.block(ind + "        ", models, depth + 1, in_loop)
        if kind == "def" and not self.script:
            inner_models = list(models)
            out = [f"{ind}def inner(x):"] + Gen(self.draw, self.helpers).block(ind + "    ", inner_models, depth + 1, False)
            return out + [ind + self.pick(["inner(x)", "y = inner(x)", "pass", "return inner"])]
        if kind == "def":
            return [ind + "pass"]
        if kind == "jump":
            return [ind + self.pick(["break", "continue"])]
        inner = ind + "    "
        if kind == "with":
            head = self.pick(["torch.no_grad()", "torch.inference_mode()", "torch.enable_grad()",
                              "torch.set_grad_enabled(flag)", "torch.set_grad_enabled(False)", "ctx",
                              "torch.no_grad(), torch.enable_grad()", "torch.no_grad() as ng",
                              "torch.autocast('cpu')", "torch.inference_mode(mode=False)", "eval_mode(model)"])
            return [f"{ind}with {head}:"] + self.block(inner, models, depth + 1, in_loop)
        if kind == "for":
            head = self.pick(["for x, y in data:", "for epoch in range(3):", "for m2 in [model, net]:"
                              if {"model", "net"} <= set(models) else "for b in data:"])
            body_models = list(models)
            if "m2" in head:
                body_models.append("m2")
            return [ind + head] + self.block(inner, body_models, depth + 1, True)
        if kind == "while":
            return [f"{ind}while flag:"] + self.block(inner, models, depth + 1, True)
        if kind == "if":
            out = [f"{ind}if flag:"] + self.block(inner, list(models) if self.draw(st.booleans()) else models,
                                                 depth + 1, in_loop)
            if self.draw(st.booleans()):
                out += [f"{ind}else:"] + self.block(inner, models, depth + 1, in_loop)
            return out
        assert kind == "try"
        out = [f"{ind}try:"] + self.block(inner, models, depth + 1, in_loop)
        out += [f"{ind}except Exception:"] + self.block(inner, models, depth + 1, in_loop)
        if self.draw(st.booleans()):
            out += [f"{ind}finally:"] + self.block(inner, models, depth + 1, in_loop)
        return out


@st.composite
def torch_programs(draw) -> str:
    """A module: the header (two model classes, a factory), helpers taking a model, entry
    functions building and using models, and sometimes script-level code."""
    text = HEADER.format(forward=draw(st.sampled_from(FORWARDS)), factory_mode=draw(st.sampled_from(FACTORY_MODES)))
    n_helpers = draw(st.integers(0, 3))
    helpers = [(f"helper{i}", draw(st.booleans())) for i in range(n_helpers)]
    parts = [text]
    for i, (name, returns) in enumerate(helpers):
        g = Gen(draw, helpers[:i])  # a helper calls only earlier helpers: no recursion needed
        deco = draw(st.sampled_from(["", "", "@torch.no_grad()\n", "@torch.no_grad\n", "@torch.inference_mode()\n"]))
        body = g.block("    ", ["model"], 0, False)
        if returns:
            body.append("    return model(x)" if draw(st.booleans()) else "    return model")
        parts.append(f"\n\n{deco}def {name}(model, x):\n" + "\n".join(body) + "\n")
    for i in range(draw(st.integers(1, 3))):
        g = Gen(draw, helpers)
        deco = draw(st.sampled_from(["", "", "", "@torch.no_grad()\n"]))
        body = g.block("    ", [], 0, False)
        parts.append(f"\n\n{deco}def main{i}(data, path, x, y, flag, ctx, scaler, preds):\n" + "\n".join(body) + "\n")
    if draw(st.booleans()):
        g = Gen(draw, helpers)
        fit = g.block("        ", ["self.model"], 0, False)
        evaluate = g.block("        ", ["self.model"], 0, False)
        parts.append("\n\nclass Trainer:\n    def __init__(self, model, opt):\n        self.model = model\n"
                     "        self.opt = opt\n\n    def fit(self, data, x, y, flag, ctx, scaler, preds):\n"
                     + "\n".join(fit) + "\n\n    def evaluate(self, data, x, y, flag, ctx, scaler, preds):\n"
                     + "\n".join(evaluate) + "\n")
        if draw(st.booleans()):
            parts.append("\n\ndef run_trainer(data, x, y, flag, ctx, scaler, preds):\n    t = Trainer(Net(), None)\n"
                         "    t.fit(data, x, y, flag, ctx, scaler, preds)\n"
                         "    t.evaluate(data, x, y, flag, ctx, scaler, preds)\n")
    if draw(st.booleans()):
        g = Gen(draw, helpers + [("again", True)])
        body = g.block("    ", ["model"], 1, False)
        parts.append("\n\ndef again(model, x, depth=3):\n    if depth:\n        return again(model, x, depth - 1)\n"
                     + "\n".join(body) + "\n")
    if draw(st.booleans()):
        g = Gen(draw, helpers)
        body = g.block("        ", ["self"], 0, False)
        parts.append("\n\nclass Lit(pl.LightningModule):\n    def __init__(self):\n        super().__init__()\n"
                     "        self.net = Net()\n\n    def forward(self, x):\n        return self.net(x)\n\n"
                     f"    def {draw(st.sampled_from(['training_step', 'validation_step', 'predict', 'generate']))}"
                     "(self, batch, x=None, y=None, flag=None, ctx=None, scaler=None, preds=None, data=None):\n"
                     + "\n".join(body) + "\n")
    if draw(st.booleans()):
        g = Gen(draw, helpers)
        body = g.block("    ", [], 0, False)
        parts.append("\n\nasync def serve(data, path, x, y, flag, ctx, scaler, preds):\n" + "\n".join(body) + "\n")
    if draw(st.booleans()):
        g = Gen(draw, helpers, script=True)
        body = g.block("    ", [], 1, False)
        parts.append('\n\nif __name__ == "__main__":\n' + "\n".join(body) + "\n")
    return "".join(parts)


def innermost_statement(tree: ast.AST, line: int, col: int) -> Optional[ast.stmt]:
    """The smallest statement whose span holds (line, col) (1-based line, 1-based column)."""
    best = None
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt):
            continue
        start = (node.lineno, node.col_offset + 1)
        end = (node.end_lineno, node.end_col_offset + 1)
        if start <= (line, col) <= end:
            if best is None or (node.lineno, node.col_offset) >= (best.lineno, best.col_offset):
                best = node
    return best


def with_line_inserted(text: str, before: int, line: str) -> str:
    lines = text.splitlines(keepends=True)
    return "".join(lines[: before - 1] + [line + "\n"] + lines[before - 1:])


def wrapped_in_no_grad(text: str, stmt: ast.stmt) -> str:
    lines = text.splitlines(keepends=True)
    first, last = stmt.lineno, stmt.end_lineno
    indent = re.match(r"[ \t]*", lines[first - 1]).group()
    body = ["    " + x if x.strip() else x for x in lines[first - 1:last]]
    return "".join(lines[: first - 1] + [f"{indent}with torch.no_grad():\n"] + body + lines[last:])


def program_findings(text: str) -> List[Finding]:
    findings = run_analysis({"prog.py": text})
    check_findings(findings, {"prog.py": text}, allow_dg000=False)
    return findings


@examples(200)
@given(text=torch_programs())
def test_torch_programs_invariants(text):
    findings = program_findings(text)
    assert keyed(program_findings(text)) == keyed(findings), "same program, different findings"
    # a comment line on top moves every finding one line down and changes nothing else
    shifted = program_findings("# a comment\n" + text)
    assert sorted((f.code, f.line - 1, f.column, f.end_line - 1, f.end_column) for f in shifted) == \
        sorted((f.code, f.line, f.column, f.end_line, f.end_column) for f in findings)


EVAL_HINT = re.compile(r"Call `([^`]+)\.eval\(\)`")


@examples(200)
@given(text=torch_programs(), choice=st.integers(0, 1000))
def test_eval_before_a_dg101_line_removes_it(text, choice):
    findings = [f for f in program_findings(text) if f.code == "DG101"]
    assume(findings)
    f = findings[choice % len(findings)]
    m = EVAL_HINT.search(f.message)
    assert m, f"a DG101 message names what to switch to eval: {f.message}"
    stmt = innermost_statement(ast.parse(text), f.line, f.column)
    assert stmt is not None
    indent = re.match(r"[ \t]*", text.splitlines()[stmt.lineno - 1]).group()
    fixed = with_line_inserted(text, stmt.lineno, f"{indent}{m.group(1)}.eval()")
    note(f"DG101 at {f.line}:{f.column}: {f.message}\n--- fixed ---\n{fixed}")
    moved = f.line + 1
    after = [g for g in program_findings(fixed) if g.code == "DG101" and (g.line, g.column) == (moved, f.column)]
    assert not after, after[0].message


@examples(200)
@given(text=torch_programs(), choice=st.integers(0, 1000))
def test_no_grad_around_a_dg201_line_removes_it(text, choice):
    findings = [f for f in program_findings(text) if f.code == "DG201"]
    assume(findings)
    f = findings[choice % len(findings)]
    stmt = innermost_statement(ast.parse(text), f.line, f.column)
    assert stmt is not None
    fixed = wrapped_in_no_grad(text, stmt)
    note(f"DG201 at {f.line}:{f.column}: {f.message}\n--- fixed ---\n{fixed}")
    moved = (f.line + 1, f.column + 4)
    after = [g for g in program_findings(fixed) if g.code == "DG201" and (g.line, g.column) == moved]
    assert not after, after[0].message


def fixed_position(text: str, done, line: int, column: int) -> Tuple[int, int]:
    from dropout_guard.lint.fixes import SourceText

    offset = SourceText(text).offset(line, column)
    return SourceText(done.text).position(done.map_offset(offset, after_insertions=True))


@examples(100)
@given(text=torch_programs())
def test_each_fix_parses_and_resolves_its_finding(text):
    """What ``--fix --unsafe-fixes`` would do, one fix at a time: the code still parses and
    the finding is gone (the fix engine refuses a fix that fails either, but that is a bug)."""
    from dropout_guard.lint.fixes import apply_fixes, syntax_error

    for f in program_findings(text):
        if f.fix is None or not f.fix.edits:
            continue
        done = apply_fixes(text, [f.fix])
        assert done.applied == [0], f.fix
        assert syntax_error(done.text) is None, (f, done.text)
        if f.code == "DG101" and "switched to training mode inside" in f.message:
            continue  # known: see test_eval_fix_after_a_helper_that_leaves_training_mode
        line, col = fixed_position(text, done, f.line, f.column)
        after = [g for g in program_findings(done.text) if g.code == f.code and (g.line, g.column) == (line, col)]
        assert not after, (f.message, f.fix, after[0].message)


HELPER_LEAVES_TRAINING = HEADER.format(forward=FORWARDS[0], factory_mode="pass") + \
    """

def helper(model, x):
    y = model(x)
    model.train()
    return y


@torch.no_grad()
def main(x):
    model = Net()
    model.eval()
    y = helper(model, x)
    z = model(x)
    print(y, z)
"""


def test_eval_fix_after_a_helper_that_leaves_training_mode():
    """insert_eval walks back over statements that only predict; a helper that ends by
    switching the model to training is not one of them: eval() must land after it."""
    from dropout_guard.lint.fixes import apply_fixes

    text = HELPER_LEAVES_TRAINING
    [f] = [f for f in program_findings(text) if f.code == "DG101"]
    assert text.splitlines()[f.line - 1].strip() == "z = model(x)"
    done = apply_fixes(text, [f.fix])
    assert [g for g in program_findings(done.text) if g.code == "DG101"] == []


# ----------------------------------------------------------------------------------------
# The JSON report through the command line
# ----------------------------------------------------------------------------------------
def _cli(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), NO_COLOR="1")
    env.pop("DROPOUT_GUARD_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "dropout_guard", "check", "--isolated", "--no-cache", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@examples(4)
@given(programs=st.lists(torch_programs(), min_size=8, max_size=12),
       junk=st.lists(st.binary(max_size=200), max_size=3))
def test_cli_json_and_sarif_validate(programs, junk):
    """One run of the real command over a folder of generated programs and junk files."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i, text in enumerate(programs):
            (root / f"prog{i}.py").write_text(text, encoding="utf-8")
        for i, data in enumerate(junk):
            (root / f"junk{i}.py").write_bytes(data)
        proc = _cli(["--format", "json", "."], root)
        assert proc.returncode in (0, 1), proc.stderr
        assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
        data = json.loads(proc.stdout)
        validate_json_report(data)
        assert (proc.returncode == 1) == bool(data)
        assert {d["path"] for d in data} <= {p.name for p in root.iterdir()}
        proc = _cli(["--format", "sarif", "."], root)
        assert proc.returncode in (0, 1), proc.stderr
        sarif = json.loads(proc.stdout)
        assert sarif["version"] == "2.1.0"
        results = sarif["runs"][0]["results"]
        assert len(results) == len(data)
        for r in results:
            region = r["locations"][0]["physicalLocation"]["region"]
            assert region["startLine"] >= 1 and region["startColumn"] >= 1


# ----------------------------------------------------------------------------------------
# Real code: benchmarks/real_corpora.py against its reviewed baseline
# ----------------------------------------------------------------------------------------
def _corpora_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("real_corpora", REPO / "benchmarks" / "real_corpora.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("real_corpora", module)
    spec.loader.exec_module(module)
    return module


def test_real_corpora_comparison_rules(tmp_path):
    rc = _corpora_module()
    pkg = rc.PACKAGES[0]
    src = tmp_path / pkg.name
    (src / "a").mkdir(parents=True)
    (src / "a" / "m.py").write_text("x = 1\ny = model(x)\n")
    finding = {"code": "DG101", "path": "a/m.py", "line": 2, "column": 5, "message": "m"}
    reviewed = {"package": pkg.name, "code": "DG101", "path": "a/m.py", "line": 2, "source": "y = model(x)",
                "verdict": "bug", "note": ""}
    key = (pkg.name, "DG101", "a/m.py", 2)
    ok = rc.Outcome(pkg, 1, 2, 0.1, 1.0, [finding])
    assert rc.compare([ok], {pkg.name: src}, {key: reviewed}, [pkg.name])[0] == []
    problems, current = rc.compare([ok], {pkg.name: src}, {}, [pkg.name])
    assert [p.split()[0] for p in problems] == ["NEW"] and current[0]["verdict"] == "unreviewed"
    assert current[0]["source"] == "y = model(x)"
    assert rc.compare([ok], {pkg.name: src}, {key: dict(reviewed, verdict="unreviewed")}, [pkg.name])[0][0] \
        .startswith("UNREVIEWED")
    gone = rc.Outcome(pkg, 1, 2, 0.1, 1.0, [])
    assert rc.compare([gone], {pkg.name: src}, {key: reviewed}, [pkg.name])[0][0].startswith("GONE")
    assert rc.compare([gone], {pkg.name: src}, {key: reviewed}, ["other"])[0] == []  # not linted this time
    dg000 = dict(finding, code="DG000")
    assert rc.compare([rc.Outcome(pkg, 1, 2, 0.1, 1.0, [dg000])], {pkg.name: src}, {}, [pkg.name])[0][0] \
        .startswith("CRASH")
    crashed = rc.Outcome(pkg, error="the linter crashed")
    assert rc.compare([crashed], {pkg.name: src}, {key: reviewed}, [pkg.name])[0][0].startswith("CRASH")
    # the committed baseline pins the packages the script lints, and every verdict is reviewed
    data = json.loads((REPO / "benchmarks" / "real_corpora_baseline.json").read_text(encoding="utf-8"))
    assert data["packages"] == {p.name: p.version for p in rc.PACKAGES}
    assert all(e["verdict"] in rc.VERDICTS and e["source"] and e["note"] for e in data["findings"])


def test_real_corpora_skips_when_the_registry_is_unreachable(tmp_path):
    env = dict(os.environ, DG_CORPORA=str(tmp_path / "cache"), PIP_CONFIG_FILE=os.devnull, PIP_FIND_LINKS="",
               PIP_EXTRA_INDEX_URL="", PIP_INDEX_URL="http://127.0.0.1:9/simple")
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "real_corpora.py"), "--only", "accelerate"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "registry unreachable" in proc.stderr


@pytest.mark.slow
def test_real_corpora_against_the_baseline():
    """Lint every file of the pinned transformers, timm, torchvision, lightning and accelerate
    (about 3,750 files, 1.5 million lines: ~60 s on 2 cores, 2.3 GB for transformers);
    downloads once into ~/.cache/dropout-guard-corpora; skips without a registry."""
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "real_corpora.py")], capture_output=True,
                          text=True, timeout=900)
    print(proc.stdout)
    if proc.returncode == 3:
        pytest.skip(proc.stderr.strip().splitlines()[-1])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_time_budget_turns_a_pathological_function_into_dg000(monkeypatch):
    """30 nested loops that each switch the mode: the loop fixed point doubles per level.
    With the budget lowered to 0.5 s the file becomes one DG000 and its neighbour is analysed."""
    from dropout_guard.lint import flow

    monkeypatch.setattr(flow, "DEFAULT_BUDGET_S", 0.5)
    loops = "".join("    " * (i + 1) + f"for i{i} in x:\n" + "    " * (i + 2) + ("m.eval()\n" if i % 2 else "m.train()\n")
                    for i in range(30))
    slow = HEADER.format(forward=FORWARDS[0], factory_mode="pass") + "\n\ndef f(x):\n    m = Net()\n" + loops \
        + "    " * 31 + "m(x)\n"
    good = HEADER.format(forward=FORWARDS[0], factory_mode="pass") + "\n\ndef g(x):\n    m = Net()\n    m.load_state_dict(torch.load('w.pt'))\n    return m(x)\n"
    start = time.process_time()
    findings = analyze([SourceFile("slow.py", "slow.py", slow, ast.parse(slow), "slow"),
                        SourceFile("good.py", "good.py", good, ast.parse(good), "good")], codes=ALL_CODES)
    assert time.process_time() - start < 15  # CPU seconds: the budget stopped the doubling loops
    [dg000] = [f for f in findings if f.path == "slow.py"]
    assert dg000.code == "DG000" and "analysis exceeded 0.5 s" in dg000.message
    assert {f.code for f in findings if f.path == "good.py"} == {"DG101", "DG201"}
