"""The analysis end to end: every fixture, every rule's documentation and examples.

Fixtures carry their expectations inline (``# expect: DG101`` at the end of the reported
line; a line without a marker must produce no finding) and mark each no-finding trap with
``# trap:``. The single-file fixtures of ``fixtures/pytorch`` are analysed in one run of their
folder (a file named alone is analysed in that same context, and gets the same findings: a
few are checked alone too); each folder under ``fixtures/projects`` is analysed as one
project, so imports between its files are followed.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dropout_guard.lint.analysis import analyze_source
from dropout_guard.lint.api import check
from dropout_guard.lint.rules import ALL_RULES

from markers import expected_in, expected_in_files, traps_in

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SINGLE = sorted((FIXTURES / "pytorch").glob("*.py"))
PROJECTS = sorted(p for p in (FIXTURES / "projects").iterdir() if p.is_dir())
SECTIONS = ("## What it does", "## Why is this bad?", "## Example", "## Use instead", "## Fix safety")


def _found(target: Path, base: Path):
    result = check([str(target)], isolated=True, cwd=str(base))
    return {(Path(f.abspath).relative_to(base).as_posix(), f.line, f.code) for f in result.findings}


@pytest.fixture(scope="module")
def single_found():
    """The findings of one run over ``fixtures/pytorch``, by file."""
    base = FIXTURES / "pytorch"
    out: dict = {}
    for item in _found(base, base):
        out.setdefault(item[0], set()).add(item)
    return out


@pytest.mark.parametrize("path", SINGLE, ids=lambda p: p.name)
def test_single_file_fixture(path, single_found):
    assert single_found.get(path.name, set()) == expected_in_files([path], path.parent)


@pytest.mark.parametrize("path", SINGLE[::max(1, len(SINGLE) // 4)], ids=lambda p: p.name)
def test_a_single_file_fixture_named_alone_gets_the_findings_of_its_folder(path, single_found):
    """``check FILE`` analyses the file in its folder's context: the same findings in it as
    the run over the whole folder (the contract every single-file test above relies on)."""
    assert _found(path, path.parent) == single_found.get(path.name, set())


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_project_fixture(project):
    files = sorted(project.rglob("*.py"))
    want = expected_in_files(files, project)
    assert want, "a project fixture should expect at least one finding"
    assert _found(project, project) == want


def test_fixtures_hold_more_traps_than_findings():
    sources = [p.read_text(encoding="utf-8") for p in [*SINGLE, *(f for d in PROJECTS for f in d.rglob("*.py"))]]
    findings = sum(len(expected_in(s)) for s in sources)
    traps = sum(traps_in(s) for s in sources)
    assert findings > 0 and traps >= findings, (traps, findings)


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_rule_documentation(rule):
    doc = rule.documentation()
    for section in SECTIONS:
        assert section in doc, f"{rule.code} lacks {section!r}"
    assert rule.code and rule.name and rule.summary
    assert rule.name == rule.name.lower() and " " not in rule.name


def _examples():
    for rule in ALL_RULES:
        for i, src in enumerate(rule.VALID):
            yield pytest.param(rule, src, False, id=f"{rule.code}-valid-{i}")
        for i, src in enumerate(rule.INVALID):
            yield pytest.param(rule, src, True, id=f"{rule.code}-invalid-{i}")


@pytest.mark.parametrize("rule,source,invalid", list(_examples()))
def test_rule_examples(rule, source, invalid):
    want = {(line, code) for _, line, code in expected_in(source)}
    if rule.code == "DG001":  # reported after the noqa comments are applied, not by analyze()
        from dropout_guard.lint.api import check_source, load_settings

        settings = load_settings([], isolated=True, extend_select="DG001")
        got = {(f.line, f.code) for f in check_source(source, "example.py", settings=settings).findings}
    else:
        got = {(f.line, f.code) for f in analyze_source(source, "example.py")}
    assert bool(want) == invalid
    if invalid:
        assert rule.code in {code for _, code in want}
    assert got == want


def test_every_rule_but_dg000_has_examples():
    for rule in ALL_RULES:
        if rule.code != "DG000":
            assert rule.VALID and rule.INVALID, rule.code


def test_linting_never_imports_torch():
    code = (
        "import sys, dropout_guard\n"
        "assert not {'torch', 'libcst', 'rich'} & set(sys.modules), 'import dropout_guard is not cheap'\n"
        "from dropout_guard.lint.api import check\n"
        f"check([{str(FIXTURES / 'pytorch')!r}], isolated=True)\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_reports_say_why():
    src = (
        "import torch\nfrom torch import nn\n\n\n@torch.no_grad()\ndef evaluate(m, x):\n    m.eval()\n"
        "    return m(x)\n\n\nnet = nn.Sequential(nn.Linear(2, 2), nn.Dropout())\n"
        "opt = torch.optim.SGD(net.parameters(), lr=0.1)\nnet.train()\nfor epoch in range(2):\n"
        "    loss = net(torch.ones(1, 2)).sum()\n    loss.backward()\n    opt.step()\n"
        "    evaluate(net, torch.ones(1, 2))\n"
    )
    (finding,) = analyze_source(src, "loop.py")
    assert finding.code == "DG102" and finding.line == 15
    assert "evaluate(...)` at line 18" in finding.message and "net.train()" in finding.message


def test_line_references_name_the_file_they_are_in(tmp_path):
    """A line quoted from another module says which one: "line 5" alone would point into the
    file of the finding."""
    (tmp_path / "helpers.py").write_text(
        "from torch import nn\n\n\ndef build():\n    return nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))\n\n\n"
        "def predict(model, x):\n    return model(x).argmax()\n")
    (tmp_path / "main.py").write_text(
        "import torch\nfrom helpers import build, predict\n\nmodel = build()\nmodel.load_state_dict(torch.load('m.pt'))\n"
        "with torch.no_grad():\n    y = predict(model, torch.ones(1, 4))\n")
    (finding,) = check([str(tmp_path)], isolated=True, cwd=str(tmp_path), select=["DG101"]).findings
    assert finding.path == "main.py" and finding.line == 7
    assert "(see line 9 of `helpers.py`)" in finding.message
    assert "returned in training mode by `build()` at line 4 (built by `nn.Sequential(...)` at line 5 of " \
           "`helpers.py`" in finding.message
    assert "\x00" not in finding.message


def test_internal_error_becomes_dg000(monkeypatch):
    from dropout_guard.lint import flow

    def boom(self):
        raise ValueError("kaboom")

    monkeypatch.setattr(flow.Interpreter, "run", boom)
    findings = analyze_source("import torch\nx = 1\n", "bad.py")
    assert [f.code for f in findings] == ["DG000"] and "kaboom" in findings[0].message


def test_time_budget_turns_a_file_into_dg000(monkeypatch):
    from dropout_guard.lint import flow

    monkeypatch.setattr(flow, "DEFAULT_BUDGET_S", -1.0)
    findings = analyze_source("import torch\n\n\ndef f(m):\n    return m(1)\n", "slow.py")
    assert {f.code for f in findings} == {"DG000"}
    assert "analysis exceeded" in findings[0].message


class _Clock:
    """``time`` for the flow interpreter with one clock running fast: ``cpu`` or ``wall``."""

    def __init__(self, fast: str) -> None:
        import time

        self.fast, self._time, self.t = fast, time, 0.0

    def _tick(self, which: str) -> float:
        if which == self.fast:
            self.t += 100.0  # every reading: 100 more seconds
        return self.t

    def thread_time(self) -> float:
        return self._tick("cpu")

    def monotonic(self) -> float:
        return self._tick("wall")

    def __getattr__(self, name):
        return getattr(self._time, name)


def test_the_time_budget_counts_cpu_time_not_the_wall_clock(monkeypatch):
    """A loaded machine (the wall clock running ahead of this thread's CPU time) must not
    turn a file into DG000; a function that really spends the CPU time does."""
    from dropout_guard.lint import flow

    src = "import torch\n\n\ndef f(m):\n    m.eval()\n    return m(1)\n"
    monkeypatch.setattr(flow.interpreter, "time", _Clock("wall"))
    assert [f.code for f in analyze_source(src, "busy_machine.py")] == ["DG201"]  # analysed as usual
    monkeypatch.setattr(flow.interpreter, "time", _Clock("cpu"))
    findings = analyze_source(src, "slow.py")
    assert {f.code for f in findings} == {"DG000"} and "CPU time" in findings[0].message


def test_knowledge_extensions():
    from dropout_guard.lint.knowledge import DEFAULT_KNOWLEDGE

    src = (
        "import torch\nimport myproj.registry as reg\n\n\ndef predict(model, x):\n    return model(x).argmax(-1)\n\n\n"
        "def serve(x):\n    m = reg.load_for_inference('w.pt')\n    with torch.no_grad():\n        return m(x)\n"
    )
    assert analyze_source(src, "svc.py") == []  # an unknown factory and an uncalled helper: silent
    known = DEFAULT_KNOWLEDGE.extended(inference_functions=["svc.predict"])
    assert [(f.code, f.line) for f in analyze_source(src, "svc.py", known)] == [("DG201", 6)]
    loop = (
        "import torch\nimport myproj.registry as reg\n\nm = reg.load_for_inference('w.pt')\n"
        "opt = torch.optim.SGD(m.parameters(), lr=0.1)\nfor x in range(3):\n    m(x).sum().backward()\n    opt.step()\n"
    )
    assert analyze_source(loop, "t.py") == []
    known = DEFAULT_KNOWLEDGE.extended(eval_factories=["myproj.registry.load_for_inference"])
    assert [(f.code, f.line) for f in analyze_source(loop, "t.py", known)] == [("DG102", 7)]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_node_source_matches_ast_get_source_segment(newline):
    import ast

    from dropout_guard.lint.context import FileContext, SourceFile, node_source

    src = newline.join(["x = f(1,", "      'é' + \"ü\")  # ünïcode", "def g(a,", "      b):", "    return (a", "            + b)",
                        "y = [i for i in", "     range(3)]", ""])
    tree = ast.parse(src)
    ctx = FileContext(SourceFile("m.py", "m.py", src, tree), None, None)
    nodes = [n for n in ast.walk(tree) if isinstance(n, (ast.expr, ast.stmt))]
    assert len(nodes) > 20
    for node in nodes:
        assert node_source(ctx, node) == ast.get_source_segment(src, node)


def test_a_module_built_inside_its_own_init_terminates():
    """A new module's __init__ is interpreted on demand for the mode it leaves its parts in;
    one that builds its own class again (through a helper) must not recurse forever."""
    src = ("import torch\nfrom torch import nn\n\n\ndef helper():\n    return Tree(0)\n\n\n"
           "class Tree(nn.Module):\n    def __init__(self, depth):\n        super().__init__()\n"
           "        self.drop = nn.Dropout(0.1)\n        if depth < 3:\n            self.child = helper()\n\n    def forward(self, x):\n"
           "        return self.drop(self.child(x))\n\n\ndef run(x, path):\n    t = Tree(0)\n    t.load_state_dict(torch.load(path))\n"
           "    with torch.no_grad():\n        return t(x)\n")
    findings = analyze_source(src, "tree.py")
    assert [(f.code, f.line) for f in findings] == [("DG101", 24)]


def test_messages_name_the_layer_that_trains_differently():
    """DG101/DG102 name the layer that is evidence of mode dependence (both kinds when a model
    has dropout and batch norm); a model whose layers cannot be named gets the general words."""
    src = ("import torch\nfrom torch import nn\n\n\nclass Encoder(nn.Module):\n    def __init__(self):\n"
           "        super().__init__()\n        self.drop = nn.Dropout(0.1)\n\n    def forward(self, x):\n"
           "        return self.drop(x)\n\n\nclass Net(nn.Module):\n    def __init__(self):\n"
           "        super().__init__()\n        self.encoder = Encoder()\n\n    def forward(self, x):\n"
           "        return self.encoder(x)\n\n\nclass Both(Net):\n    def __init__(self):\n        super().__init__()\n"
           "        self.norm = nn.BatchNorm1d(4)\n\n    def forward(self, x):\n        return self.norm(super().forward(x))\n\n\n"
           "@torch.no_grad()\ndef run(x, path):\n    model = Net()\n"
           "    model.load_state_dict(torch.load(path))\n    both = Both()\n    both.load_state_dict(torch.load(path))\n"
           "    whole = torch.load(path)\n    return model(x), both(x), whole(x)\n")
    msgs = [f.message for f in analyze_source(src, "m.py") if f.code == "DG101"]
    assert len(msgs) == 3
    assert "`model.encoder.drop` (Dropout) stays active" in msgs[0] and "batch" not in msgs[0]
    assert "`both.encoder.drop` (Dropout) stays active and `both.norm` (BatchNorm1d) normalises" in msgs[1]
    assert "(dropout, batch norm)" in msgs[2]


def test_messages_name_a_layer_that_forward_runs():
    """A layer no code runs (a dropout head kept to load a checkpoint) is not the evidence a
    message names; a model whose only mode-dependent layers are such is no DG101 at all."""
    findings = analyze_source((FIXTURES / "pytorch" / "unrun_layers.py").read_text(encoding="utf-8"), "u.py")
    (mixed,) = [f.message for f in findings if f.code == "DG101" and "MixedHead" in f.message]
    assert "`model.features[1]` (BatchNorm2d) normalises" in mixed and "unused_head" not in mixed
    assert not any("FeatureMaps" in f.message for f in findings)


def test_messages_name_library_models_and_helper_built_layers():
    """The evidence named in a DG101 message may be a library model kept as a submodule or a
    layer that a ``block()`` helper defined in ``__init__`` returns into ``nn.Sequential``."""
    src = ("import timm\nimport torch\nfrom torch import nn\n\n\nclass Backbone(nn.Module):\n"
           "    def __init__(self):\n        super().__init__()\n        self.net = timm.create_model('vit_tiny')\n\n"
           "    def forward(self, x):\n        return self.net(x)\n\n\nclass Blocks(nn.Module):\n"
           "    def __init__(self):\n        super().__init__()\n\n        def block(n_in, n_out):\n"
           "            layers = [nn.Linear(n_in, n_out)]\n            layers.append(nn.BatchNorm1d(n_out))\n"
           "            return layers\n\n        self.body = nn.Sequential(*block(4, 8), *block(8, 8))\n\n"
           "    def forward(self, x):\n        return self.body(x)\n\n\n@torch.no_grad()\ndef run(x, path):\n"
           "    a = Backbone()\n    a.load_state_dict(torch.load(path))\n    b = Blocks()\n"
           "    b.load_state_dict(torch.load(path))\n    return a(x), b(x)\n")
    msgs = [f.message for f in analyze_source(src, "m.py") if f.code == "DG101"]
    assert len(msgs) == 2
    assert "`a.net` (timm.create_model) runs in its training behaviour" in msgs[0]
    assert "`b.body` (BatchNorm1d) normalises with each batch's statistics" in msgs[1]
