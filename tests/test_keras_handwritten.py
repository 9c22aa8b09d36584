"""DG401 (Keras training flag), DG501 / DG502 (hand-written dropout): rule examples and fixtures.

Expected findings are trailing ``# expect: DG401`` markers on the reported line; lines without
a marker must produce no finding of these codes. Fixtures mark each no-finding case with a
``# trap:`` comment saying what it tests, and hold at least as many traps as findings.
"""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

from dropout_guard.lint.analysis import analyze, analyze_source
from dropout_guard.lint.context import SourceFile
from dropout_guard.lint.rules import RULES_BY_CODE
from dropout_guard.lint.rules.handwritten import HandwrittenDropoutAlwaysOn, HandwrittenDropoutUnscaled
from dropout_guard.lint.rules.keras import KerasTrainingFlagMissing, ident_tokens, normalize_keras

from markers import TRAP, expected_in

CODES = ("DG401", "DG501", "DG502")
RULES = (KerasTrainingFlagMissing, HandwrittenDropoutAlwaysOn, HandwrittenDropoutUnscaled)
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FIXTURE_FILES = sorted((FIXTURES / "keras").glob("*.py")) + sorted((FIXTURES / "handwritten").glob("*.py"))


def expected(source: str) -> set:
    return {(line, code) for _, line, code in expected_in(source)}


def found(source: str, path: str = "example.py", codes=CODES) -> set:
    return {(f.line, f.code) for f in analyze_source(source, path, codes=codes)}


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture(path):
    source = path.read_text(encoding="utf-8")
    assert found(source, path.name, codes=None) == expected(source)  # every rule: unmarked lines stay clean


@pytest.mark.parametrize("family", ["keras", "handwritten"])
def test_fixtures_hold_at_least_as_many_traps_as_findings(family):
    files = sorted((FIXTURES / family).glob("*.py"))
    assert files
    sources = [f.read_text(encoding="utf-8") for f in files]
    findings = sum(len(expected(s)) for s in sources)
    traps = sum(len(TRAP.findall(s)) for s in sources)
    codes = {code for s in sources for _, code in expected(s)}
    assert findings and traps >= findings
    assert codes == ({"DG401"} if family == "keras" else {"DG501", "DG502"})


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_metadata_and_docs(rule):
    assert RULES_BY_CODE[rule.code] is rule
    assert re.fullmatch(r"[a-z]+(-[a-z]+)+", rule.name)
    assert rule.summary and "\n" not in rule.summary
    assert rule.fix_safety == "none"  # docs and examples: tests/test_analysis.py, for every rule


def test_keras_and_tensorflow_are_never_imported():
    for path in FIXTURE_FILES:
        analyze_source(path.read_text(encoding="utf-8"), path.name, codes=CODES)
    assert "keras" not in sys.modules
    assert "tensorflow" not in sys.modules
    assert "jax" not in sys.modules


# -- DG401 behaviour -------------------------------------------------------------------------

STEP = """\
import tensorflow as tf
{defs}
def step(x, y, opt):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((model(x{extra}) - y) ** 2)
    opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
"""


def dg401(defs: str, extra: str = "") -> list:
    return [f for f in analyze_source(STEP.format(defs=defs, extra=extra), "m.py", codes=["DG401"])]


@pytest.mark.parametrize("defs", [
    "from tensorflow import keras\nmodel = keras.Sequential([keras.layers.Dense(4), keras.layers.Dropout(0.2)])",
    "import tensorflow.keras as K\nmodel = K.models.Sequential([K.layers.BatchNormalization()])",
    "from keras.layers import Dense, GaussianDropout\nfrom keras.models import Sequential\n"
    "model = Sequential([Dense(4), GaussianDropout(0.1)])",
    "import keras\nmodel = keras.Sequential([keras.layers.Bidirectional(keras.layers.GRU(4, recurrent_dropout=0.3))])",
    "import keras\nmodel = keras.Sequential([keras.layers.RandomFlip('horizontal'), keras.layers.Dense(2)])",
    "import keras\nmodel = keras.applications.ResNet50(weights=None)",
    "import keras\nbase = keras.Sequential([keras.layers.Dropout(0.5)])\nmodel = keras.models.clone_model(base)",
])
def test_dg401_recognises_keras_spellings(defs):
    assert [f.line for f in dg401(defs)] == [defs.count("\n") + 5]


@pytest.mark.parametrize("defs,extra", [
    ("import keras\nmodel = keras.Sequential([keras.layers.Dropout(0.2)])", ", training=False"),
    ("import keras\nmodel = keras.Sequential([keras.layers.Dropout(0.2)])", ", True"),
    ("import keras\nmodel = keras.Sequential([keras.layers.Dense(4), keras.layers.LayerNormalization()])", ""),
    ("import keras\nmodel = keras.applications.VGG16(weights=None)", ""),
    ("import keras\nmodel = keras.models.load_model('m.keras')", ""),
    ("import keras\nimport tensorflow_hub as hub\nmodel = keras.Sequential([hub.KerasLayer('url')])", ""),
    ("import keras\nmodel = keras.Sequential([keras.layers.LSTM(4, dropout=rate)])", ""),
    ("import torch\nmodel = torch.nn.Sequential(torch.nn.Dropout(0.1))", ""),
])
def test_dg401_stays_silent_without_clear_evidence(defs, extra):
    assert dg401(defs, extra) == []


def test_dg401_message_names_model_layers_and_fix():
    msg = dg401("import keras\nmodel = keras.Sequential([keras.layers.Dense(4), keras.layers.Dropout(0.2)])")[0].message
    assert "`model`" in msg and "Dropout" in msg and "`model(x, training=True)`" in msg


def test_dg401_follows_a_model_imported_from_another_analysed_file():
    models = "import keras\nclf = keras.Sequential([keras.layers.Dense(3), keras.layers.BatchNormalization()])\n"
    train = ("import tensorflow as tf\nfrom models import clf\n"
             "def fit(x, y, opt):\n"
             "    with tf.GradientTape() as tape:\n"
             "        loss = tf.reduce_mean(clf(x))\n"
             "    opt.apply_gradients(zip(tape.gradient(loss, clf.trainable_variables), clf.trainable_variables))\n")
    files = [SourceFile(f"/p/{n}.py", f"{n}.py", s, ast.parse(s), n) for n, s in (("models", models), ("train", train))]
    got = [(f.path, f.line, f.code) for f in analyze(files, codes=["DG401"])]
    assert got == [("train.py", 5, "DG401")]


# -- DG501 / DG502 behaviour -----------------------------------------------------------------

@pytest.mark.parametrize("draw,keep", [
    ("np.random.rand(*h.shape) > p", "1 - p"),
    ("np.random.random(h.shape) >= rate", "1 - rate"),
    ("np.random.uniform(0, 1, size=h.shape) < keep", "keep"),
    ("np.random.binomial(1, keep, size=h.shape)", "keep"),
    ("np.random.default_rng(0).binomial(1, keep, h.shape)", None),  # a generator not bound to a name
    ("torch.rand_like(h) > p", "1 - p"),
    ("torch.rand(h.shape) < keep", "keep"),
    ("torch.bernoulli(torch.full_like(h, keep))", "keep"),
    ("h.new_empty(h.shape).bernoulli_(keep)", "keep"),
])
def test_dg502_recognises_mask_draws(draw, keep):
    src = (f"import numpy as np\nimport torch\n"
           f"def hidden(h, p, keep, rate, training):\n"
           f"    if training:\n"
           f"        mask = {draw}\n"
           f"        h = h * mask\n"
           f"    return h\n")
    got = analyze_source(src, "m.py", codes=["DG502"])
    if keep is None:
        assert got == []
    else:
        assert [f.line for f in got] == [6]
        assert f"`{keep}`" in got[0].message


@pytest.mark.parametrize("scaled", [
    "h = h * mask / (1 - p)",
    "h = h * mask * (1.0 / (1 - p))",
    "h = h * mask * scale",
    "h = (h * mask) / (1 - p)",
    "h = h * mask\n        h /= 1 - p",
    "mask = mask / (1 - p)\n        h = h * mask",
    "h = np.where(mask, h / (1 - p), 0.0)",
    "h = h / (1 - p)\n        h = h * mask",
])
def test_dg502_recognises_rescaling(scaled):
    src = ("import numpy as np\n"
           "def hidden(h, p, training):\n"
           "    scale = 1 / (1 - p)\n"
           "    if training:\n"
           "        mask = np.random.rand(*h.shape) > p\n"
           f"        {scaled}\n"
           "    return h\n")
    assert analyze_source(src, "m.py", codes=["DG502"]) == []


@pytest.mark.parametrize("guard", [
    "if training:\n        h = h * (np.random.rand(*h.shape) > p) / (1 - p)\n    return h",
    "if not training:\n        return h\n    return h * (np.random.rand(*h.shape) > p) / (1 - p)",
    "out = h * (np.random.rand(*h.shape) > p) / (1 - p)\n    return out if training else h",
    "mask = (np.random.rand(*h.shape) > p) if training else 1.0\n    return h * mask / (1 - p)",
    "if mode == 'train':\n        h = h * (np.random.rand(*h.shape) > p) / (1 - p)\n    return h",
])
def test_dg501_recognises_training_flags(guard):
    src = f"import numpy as np\ndef hidden(h, p, training, mode):\n    {guard}\n\nhidden(1, 2, 3, 4)\n"
    assert analyze_source(src, "m.py", codes=["DG501"]) == []


def test_dg501_message_names_function_and_caller_chain():
    src = ("import numpy as np\n"
           "def drop(h, p):\n"
           "    return h * (np.random.rand(*h.shape) > p) / (1 - p)\n"
           "def mlp(x, p):\n"
           "    return drop(x, p)\n"
           "def serve(x):\n"
           "    return mlp(x, 0.5)\n")
    (finding,) = analyze_source(src, "m.py", codes=["DG501"])
    assert finding.line == 3
    assert "`drop` is called from `mlp`, which is called from `serve`" in finding.message


def test_dg501_follows_callers_in_other_analysed_files():
    lib = ("import numpy as np\n"
           "def layer(h, keep):\n"
           "    return h * np.random.binomial(1, keep, size=h.shape) / keep\n")
    train_only = ("from lib import layer\nimport torch\n"
                  "def train(h, opt):\n    layer(h, 0.9).sum().backward()\n    opt.step()\n")
    serving = "from lib import layer\ndef predict(h):\n    return layer(h, 0.9)\n"

    def run(*mods):
        files = [SourceFile(f"/p/{n}.py", f"{n}.py", s, ast.parse(s), n) for n, s in mods]
        return [(f.path, f.line, f.code) for f in analyze(files, codes=["DG501"])]

    assert run(("lib", lib), ("train", train_only)) == []
    assert run(("lib", lib), ("train", train_only), ("serve", serving)) == [("lib.py", 3, "DG501")]


def test_ident_tokens_and_keras_names():
    assert ident_tokens("isTraining_mode") == {"is", "training", "mode"}
    assert normalize_keras("tensorflow.keras.layers.Dropout") == "keras.layers.Dropout"
    assert normalize_keras("keras.src.layers.regularization.dropout.Dropout").endswith(".Dropout")
