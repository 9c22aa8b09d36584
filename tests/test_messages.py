"""Messages and output details: DG102's advice names the place the fix uses; file names
with control characters are escaped in text output."""
from __future__ import annotations

import re
from pathlib import Path

from dropout_guard.lint.api import check, fix

HEAD = '''import torch
import torch.nn.functional as F
from torch import nn


def evaluate(model, data):
    model.eval()
    with torch.no_grad():
        return sum(float(model(x).sum()) for x, _ in data)


def fit(data, epochs=3):
    net = nn.Sequential(nn.Linear(4, 2), nn.Dropout(0.1))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
'''
# line 15 onwards
EPOCH = '''    for epoch in range(epochs):
        for x, y in data:
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
        print(evaluate(net, data))
'''
SAME_PASS = '''    for epoch in range(epochs):
        net.train()
        print(evaluate(net, data))
        for x, y in data:
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
'''
INNER = '''    for epoch in range(epochs):
        net.train()
        for i, (x, y) in enumerate(data):
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            if i % 10 == 0:
                print(evaluate(net, data))
'''


def _dg102(tmp_path: Path, body: str):
    path = tmp_path / "train.py"
    path.write_text(HEAD + body, encoding="utf-8")
    (finding,) = [f for f in check([str(path)], isolated=True, cwd=str(tmp_path)).findings if f.code == "DG102"]
    fix([str(path)], unsafe=True, isolated=True, select=["DG102"], cwd=str(tmp_path))
    fixed = path.read_text(encoding="utf-8").splitlines()
    inserted = next(i for i, (a, b) in enumerate(zip(fixed, (HEAD + body).splitlines())) if a != b) + 1
    return finding, inserted, fixed


def test_dg102_evaluation_at_the_end_of_the_epoch_says_each_epoch(tmp_path):
    finding, inserted, fixed = _dg102(tmp_path, EPOCH)
    assert finding.message.endswith("Call `net.train()` at the start of each epoch (first in the loop at line 15)")
    assert inserted == 16 and fixed[15].strip() == "net.train()"


def test_dg102_loop_that_already_switches_before_the_evaluation(tmp_path):
    # the loop does call net.train() at its start, but evaluate() switches it off again before
    # the training step in the same pass: "at the start of each epoch" would be wrong advice
    finding, inserted, fixed = _dg102(tmp_path, SAME_PASS)
    assert "at the start of each epoch" not in finding.message
    assert finding.message.endswith(
        "Call `net.train()` after `evaluate(...)` at line 17, before the training step at line 19 "
        "(`net.train()` at line 16 runs before `evaluate(...)` at line 17)")
    # the fix puts the switch where the message says: after line 17, right before the step
    assert 17 < inserted <= 19 and fixed[inserted - 1].strip() == "net.train()"
    assert fixed[inserted].strip().startswith("loss = F.cross_entropy(net(x), y)")


def test_dg102_evaluation_inside_the_batch_loop_names_the_inner_loop(tmp_path):
    finding, inserted, fixed = _dg102(tmp_path, INNER)
    assert finding.message.endswith(
        "Call `net.train()` first in the loop at line 17, so that it runs after `evaluate(...)` at line 22 "
        "and before the training step at line 18 (`net.train()` at line 16 runs before that loop, not in it)")
    assert inserted == 18 and fixed[17].strip() == "net.train()"
    assert re.match(r"\s+for i, \(x, y\)", fixed[16])


# -- control characters in file names ------------------------------------------------------------
def test_control_characters_in_file_names_are_escaped_in_text_output(tmp_path, monkeypatch):
    import sys

    import pytest
    from click.testing import CliRunner

    from dropout_guard.cli import main

    if sys.platform == "win32":
        pytest.skip("control characters are not allowed in Windows file names")
    folder = tmp_path / "d\x1b[31mx"
    folder.mkdir()
    (folder / "helpers.py").write_text("import torch\n\n\ndef predict(model, x):\n    with torch.no_grad():\n"
                                       "        return model(x)\n", encoding="utf-8")
    (folder / "main.py").write_text("from torch import nn\nfrom helpers import predict\n\n"
                                    "net = nn.Sequential(nn.Linear(2, 2), nn.Dropout())\n"
                                    "net.load_state_dict(state)\ny = predict(net, 1)\n",
                                    encoding="utf-8")
    (tmp_path / "bell\x07\tname.py").write_text("def f(:\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for color in ("never", "always"):
        # color=True: click must not strip escape sequences, so a raw one would show here
        r = CliRunner().invoke(main, ["check", "--isolated", "--no-cache", "--color", color, "."], color=True)
        out = r.stdout
        assert r.exit_code == 1
        if color == "never":
            assert "\x1b" not in out
        else:  # rich's own styling only: no escape from a file name
            assert "\x1b[31mx" not in out
        assert "\x07" not in out and "\t" not in out
        assert "line 4 of `d\\x1b[31mx/helpers.py`" in out  # a message that names another file
        if color == "never":  # the locations
            assert "d\\x1b[31mx/main.py:6:5: DG101" in out and "bell\\x07\\tname.py:1:7: DG000" in out
        else:
            assert "d\\x1b[31mx/main.py" in out and "bell\\x07\\tname.py" in out
    # JSON keeps the names exact (it is not for a terminal)
    r = CliRunner().invoke(main, ["check", "--isolated", "--no-cache", "--format", "json", "."])
    import json

    names = {d["filename"] for d in json.loads(r.stdout)}
    assert str(folder / "main.py") in names


def test_control_characters_in_file_names_are_escaped_in_diff_headers(tmp_path, monkeypatch):
    import sys

    import pytest
    from click.testing import CliRunner

    from dropout_guard.cli import main

    if sys.platform == "win32":
        pytest.skip("control characters are not allowed in Windows file names")
    (tmp_path / "m\x1b[2Jx.py").write_text("from torch import nn\n\nnet = nn.Sequential(nn.Dropout())\nnet.eval\n",
                                           encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["check", "--isolated", "--no-cache", "--diff", "--unsafe-fixes", "."], color=True)
    assert "--- m\\x1b[2Jx.py" in r.stdout and "\x1b" not in r.stdout


def test_helper_messages_say_passed_to_only_when_the_model_is_an_argument():
    """A helper that reaches the model itself (a module-level model, a closure's, an attribute
    of its receiver) does not get it "passed to" it."""
    from dropout_guard.lint.api import check

    root = Path(__file__).resolve().parents[1] / "fixtures" / "pytorch"
    by_line = {f.line: f.message for f in check([str(root / "module_level_models.py")], isolated=True,
                                                 cwd=str(root), select=["DG101"]).findings}
    assert by_line[60].startswith("`careful` may be in training mode when `predict()` predicts with it (see line 39)")
    closure = {f.line: f.message for f in check([str(root / "closures.py")], isolated=True, cwd=str(root),
                                                select=["DG101"]).findings}
    assert "when `predict()` predicts with it" in closure[66]
    from dropout_guard.lint.api import check_source

    helper = ("import torch\nfrom torch import nn\n\n\n@torch.no_grad()\ndef predict(model, x):\n    return model(x)\n\n\n"
              "net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.1))\nnet.load_state_dict(torch.load('net.pt'))\n"
              "y = predict(net.to('cpu'), torch.ones(2, 4))\n")
    [f] = check_source(helper, "m.py", select=["DG101"]).findings
    assert f.message.startswith("`net` may be in training mode when passed to `predict()`, which predicts with it")


def test_dg201_on_a_volatile_input_that_the_files_pytorch_ignores_says_so(tmp_path):
    """`volatile=True` in a file that also calls `.item()` (PyTorch 0.4 or later, where the
    flag does nothing): the DG201 says why the volatile input does not turn gradients off."""
    path = tmp_path / "evaluate.py"
    path.write_text(
        "import torch\nfrom torch import nn\nfrom torch.autograd import Variable\n\n"
        "net = nn.Sequential(nn.Linear(4, 2), nn.Dropout(0.1))\nnet.load_state_dict(torch.load('net.pt'))\n"
        "net.eval()\nfor batch in torch.load('data.pt'):\n    x = Variable(batch, volatile=True)\n"
        "    print(net(x).sum().item())\n", encoding="utf-8")
    (finding,) = check([str(path)], isolated=True, cwd=str(tmp_path)).findings
    assert finding.code == "DG201" and finding.line == 10
    assert "`Variable(..., volatile=True)`, which PyTorch 0.4 and later ignore" in finding.message
    path.write_text(path.read_text(encoding="utf-8").replace(".sum().item()", ".data"), encoding="utf-8")
    assert check([str(path)], isolated=True, cwd=str(tmp_path)).findings == []  # old PyTorch: grad off
