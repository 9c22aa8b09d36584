"""DG101–DG104: the train/eval mode of models."""
from __future__ import annotations

import ast
import re

from .. import fixes
from ..findings import line_ref
from ..flow import bad_training, eval_origins, path_of, root_of
from ..evidence import describe_layers
from ..untrained import untrained
from ._events import describe, events, model_uses, module_classes
from .. import knowledge as K
from .base import Rule


class EvalModeMissing(Rule):
    """## What it does
    Reports a prediction made with a model that may still be in training mode: it was never
    switched to eval after construction or loading, a training phase left it in training
    mode, or a function it was passed to switched it back. Where the model is passed to a
    helper that predicts with it, the finding is at the call that passes it in.

    Only a model with weights worth predicting with counts: one trained in the analysed
    code (a backward pass or optimizer in the same body, or handed to a helper), loaded
    (`load_state_dict`, `torch.load`, `from_pretrained`, a class whose `__init__` loads a
    checkpoint or builds a library backbone), or handed in (a parameter, an attribute set
    elsewhere, a model built in another body). A model that the same body only constructs
    and calls — a shape check, a `__main__` demo, a teaching cell — has random weights in
    either mode: no DG101 (nor DG201); so does one returned by a project function that only
    builds it (`net = densenet_cifar()`). The message names the layer that trains
    differently ("`model.encoder.drop` (Dropout) stays active"; a batch norm too when the
    model has both) where the model's class is the project's.

    ## Why is this bad?
    In training mode dropout keeps zeroing activations and batch norm normalises with the
    current batch's statistics (and overwrites its running averages). Predictions become
    noisy, batch-dependent and wrong, silently. PyTorch never switches the mode for you.

    ## Example
    ```python
    model = Net()
    model.load_state_dict(torch.load("weights.pt"))
    with torch.no_grad():
        y = model(x)
    ```

    ## Use instead
    ```python
    model = Net()
    model.load_state_dict(torch.load("weights.pt"))
    model.eval()
    with torch.no_grad():
        y = model(x)
    ```

    ## Fix safety
    Unsafe (applied with `--fix --unsafe-fixes`): the fix inserts `model.eval()` on the line
    before the statement that predicts (or that passes the model to the predicting
    helper), at that statement's indentation. It changes runtime behaviour — that is the
    point — and it leaves the model in eval mode for the code after it, which may train it
    again without switching back (DG102 then tells you). Not offered where the model is
    not a plain name or attribute path bound at that point (a lambda, a generator).

    ## Known problems
    A model whose layers are all visible and none behaves differently in training gets no
    finding: `torch.nn` layers without a training behaviour (linear, convolution, embedding,
    layer norm, activations, pooling; an RNN, LSTM, GRU or `MultiheadAttention` without a
    nonzero `dropout=`, an RNN with one layer, a dropout layer with the constant rate 0) are
    known to be mode-independent. A layer built only under a condition on a constructor
    argument, or a rate passed in as one (`nn.Dropout(p)` built as `Net(p=0)`), still counts:
    constant arguments are not yet bound to parameters. In a module of the project, a
    layer class of a third-party library the analysis cannot see (einops' `Rearrange`, an
    augmentation) is no evidence either way and is left out. DG101 needs evidence: a visible
    layer that behaves differently in training; a model of a library family that holds one
    (torchvision, timm, torchaudio, Hugging Face, `torch.hub`), also as a submodule of a
    project class; a model loaded whole (`torch.load`, unless the project's own
    `torch.save` of that file saves one without such a layer); a module built around, or a
    container filled with, models that have one (`Head(backbone)`, `ensemble.append(net)`);
    a model built from a class handed in as a parameter whose default or annotated class
    has one; or a model handed in from outside (a parameter, an attribute of `self`, the
    enclosing function's or the module's model), unless every call site hands in one
    without such a layer. A model built from parts the analysis cannot see (a third-party
    layer, a class it cannot resolve) is not reported. A NoisyNet-style
    layer (training-only noise that its own `reset_noise()`-like method resamples, scaled by
    learned parameters) is no evidence: that noise is meant to stay on. DG102 follows
    the same rule. Training mode switched on deliberately in the same function (`model.train()`
    before predicting: Monte-Carlo dropout, batch-norm recalibration) is respected, and so is
    Monte-Carlo sampling without it: the prediction repeated on the same input in a loop or
    comprehension over `range(n)` by a body that measures the passes' spread (`.var()`,
    `.std()`), there or in the helper it is handed to. A
    forward pass whose result nobody reads — a bare `model(x)` statement or `_ = model(x)`
    — is a warm-up or a lazy initialisation, not a prediction (no DG101, no DG201), unless
    the same body registers a forward hook or prepares the model for quantization: then
    what it computes is read there (feature extraction, calibration). A prediction whose
    result feeds a backward pass (detached, under `no_grad`, or into another model's loss)
    where the same body, or a helper it calls, also trains that model (a module-level model or
    `self.<attr>`: another function of the file, a method of the class) is part of training
    (a GAN's fakes for its critic's step, a DQN's targets): not reported; a model nothing
    there trains (a distillation teacher) is. Models reach a
    prediction through parameters, attributes of objects across their methods (`self.net`
    in a trainer class), module-level models switched inside functions, the enclosing
    function's models in a closure, `net.forward(x)` and a module's own methods that run
    `self.forward(x)` or `self(x)`, and classes imported with `from models import *`.
    dropout-guard's runtime API is read for what it does: `with eval_mode(model):` is eval
    mode (and no grad) inside, the previous modes after; inside an `inference_guard` region
    the guarded models' mode is left to the runtime guard (docs/lint-and-runtime.md).
    """

    code = "DG101"
    triggers = K.TORCH_TRIGGERS
    name = "eval-mode-missing"
    summary = "A model may be in training mode where it predicts"
    fix_safety = "unsafe"
    VALID = [
        "import torch\nfrom torch import nn\n\nnet = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.1))\n"
        "net.eval()\nwith torch.no_grad():\n    y = net(torch.ones(1, 4))\n",
        "import torch\nfrom torch import nn\n\nnet = nn.Sequential(nn.Linear(4, 4), nn.ReLU())\n"
        "with torch.no_grad():\n    y = net(torch.ones(1, 4))\n",
    ]
    INVALID = [
        "import torch\nfrom torch import nn\n\nnet = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.1))\n"
        "net.load_state_dict(torch.load('net.pt'))\n"
        "with torch.no_grad():\n    y = net(torch.ones(1, 4))  # expect: DG101\n",
        "import torch\nfrom torch import nn\n\n\n@torch.no_grad()\ndef predict(model, x):\n    return model(x)\n\n\n"
        "net = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))\nnet.load_state_dict(torch.load('net.pt'))\n"
        "y = predict(net, torch.ones(2, 4))  # expect: DG101\n",
    ]

    def check(self, ctx):
        for unit, ev in model_uses(ctx, "predict"):
            if ev.feeds_backward and _trained_in(ctx.project, unit, ev.key):
                continue  # a GAN's fakes, a DQN's targets: the model is mid-training, on purpose
            bad = [m for m in bad_training(ev.modes) if not unit.switched_on_same_test(ev.node, ev.key, "eval", m[2])]
            if not bad or untrained(ctx.project, unit, ev):
                continue  # a model only built and called here has no weights to mis-predict with
            if _sampled_for_spread(ctx.project, unit, ev):
                continue  # Monte-Carlo dropout: repeated passes on one input, their spread measured
            if ev.kind == "call" and unit.unread_outputs(ev.node):
                continue  # outputs nothing reads: run for its effect on batch norm, nothing predicted
            why = bad[0][1]
            who = describe(ev)
            effect = describe_layers(ctx.project, ev) or \
                "its layers that train differently (dropout, batch norm) run in their training behaviour"
            if ev.kind == "helper":
                how = f"passed to `{ev.callee}()`, which predicts with it" if _handed(ev) \
                    else f"`{ev.callee}()` predicts with it"
                msg = (f"{who} may be in training mode when {how} "
                       f"(see {line_ref(ev.callee_path, ev.callee_line)}): it was {why}; {effect}. "
                       f"Call `{ev.key}.eval()` before this call")
            else:
                msg = (f"{who} may be in training mode where it predicts: it was {why}, and nothing switches it "
                       f"to eval before this call; {effect}. "
                       f"Call `{ev.key}.eval()` first")
            ctx.report(self, ev.node, msg, fix=fixes.insert_eval(ctx, unit, ev))


class TrainModeMissing(Rule):
    """## What it does
    Reports a training step (a forward pass whose loss reaches `.backward()` followed by an
    optimizer step over the model's parameters) on a model that may be in eval mode —
    typically because an evaluation routine inside the epoch loop switched it to eval and
    nothing switches it back, or because it was loaded with Hugging Face `from_pretrained`
    (which returns models in eval mode). An `.eval()` in one branch of `if T:` is no such
    origin when every backward pass of the function runs in the other branch of an `if` on
    the same test (the PyTorch tutorial's `for phase in ["train", "val"]` loop). As for
    DG101, only a model with a layer that trains differently counts: in a helper, a
    parameter that every call site fills with such a layer-free model (`nn.Linear(4, 1)`)
    is not reported.

    The evaluation routine may switch the model through any path the analysis follows: a
    parameter (`evaluate(model)`), an attribute of an object (`self.validate()` switching
    `self.net` in a trainer class: a method's summary says what it does to `self.net` as it
    does for a parameter), a module-level model a function switches (`test()` calling
    `net.eval()` on the script's global `net`), or a model of the enclosing function that a
    closure switches (`evaluate()` defined inside `main()`). Each enters the routine as its
    caller leaves it, and the call applies what the routine does to it. (The contract used
    to leave an attribute that another method switches "unknown"; it is followed now.)

    The message says where the switch must go, the place the fix uses: first in the epoch
    loop; or after the evaluation and before the training step, when the evaluation runs
    in the same pass before the step (after the loop's own `model.train()`, if it has one);
    or first in an inner loop that runs the evaluation.

    ## Why is this bad?
    In eval mode dropout is off and batch norm uses frozen running statistics: the model
    trains without regularisation and with mismatched normalisation, and accuracy silently
    suffers from the second epoch on.

    ## Example
    ```python
    for epoch in range(epochs):
        for x, y in loader:
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
        evaluate(model)  # calls model.eval()
    ```

    ## Use instead
    ```python
    for epoch in range(epochs):
        model.train()
        for x, y in loader:
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
        evaluate(model)
    ```

    ## Fix safety
    Unsafe (applied with `--fix --unsafe-fixes`): the fix inserts `model.train()` as the
    first statement of the epoch loop — the innermost loop around the training step that
    also contains what switched the model to eval (the evaluation routine), else the
    outermost loop around the step — or before the training step when no loop surrounds
    it. It changes runtime behaviour (dropout and batch norm train again).
    """

    code = "DG102"
    triggers = K.TORCH_TRIGGERS
    name = "train-mode-missing"
    summary = "A model may be in eval mode where it is trained"
    fix_safety = "unsafe"
    VALID = [
        "import torch\nfrom torch import nn\n\nnet = nn.Sequential(nn.Linear(4, 1), nn.Dropout(0.1))\n"
        "opt = torch.optim.SGD(net.parameters(), lr=0.1)\nfor epoch in range(3):\n    net.train()\n"
        "    loss = net(torch.ones(2, 4)).sum()\n    loss.backward()\n    opt.step()\n    net.eval()\n",
    ]
    INVALID = [
        "import torch\nfrom torch import nn\n\nnet = nn.Sequential(nn.Linear(4, 1), nn.Dropout(0.1))\n"
        "opt = torch.optim.SGD(net.parameters(), lr=0.1)\nnet.train()\nfor epoch in range(3):\n"
        "    loss = net(torch.ones(2, 4)).sum()  # expect: DG102\n    loss.backward()\n    opt.step()\n"
        "    net.eval()\n",
    ]

    def check(self, ctx):
        for unit, ev in model_uses(ctx, "train"):
            # an `.eval()` the code runs right before, on the same path (a GAN's frozen critic,
            # a teacher), is deliberate; the bug is eval mode that arrives unasked (round the
            # epoch loop from an evaluation routine, or from `from_pretrained`)
            evals = [m for m in eval_origins(ev.modes)
                     if not unit.switched_before(ev.node, ev.key, "eval", m[2])
                     and not unit.correlated_switch(ev.key, "eval", m[2])]
            if not evals:
                continue
            why = evals[0][1]
            who = describe(ev)
            if ev.kind == "helper":
                how = f"passed to `{ev.callee}()`, which trains it" if _handed(ev) else f"`{ev.callee}()` trains it"
                where = f"{how} (see {line_ref(ev.callee_path, ev.callee_line)})"
            else:
                where = "trained here"
            effect = describe_layers(ctx.project, ev, training=False) or \
                "its layers that train differently (dropout, batch norm) keep their eval behaviour"
            ctx.report(self, ev.node,
                       f"{who} may be in eval mode when {where}: it was {why} and nothing switches it back; "
                       f"{effect} while training. " + _train_advice(ctx, unit, ev, evals[0]),
                       fix=fixes.insert_train(ctx, unit, ev, evals[0][2]))


_SPREAD = frozenset({"var", "std", "variance", "nanvar", "nanstd", "std_mean", "var_mean"})


def _sampled_for_spread(project, unit, ev) -> bool:
    """The prediction is Monte-Carlo sampling: the body that predicts (``unit``, or the
    helper that ``ev`` calls) repeats it in a loop or comprehension whose variable the
    model's input does not read (the same input every pass) and computes a spread
    (``.var()``, ``.std()``, ``np.var(...)``): training-mode noise is what it measures."""
    body, call = unit, ev.node
    if ev.kind == "helper":
        body = project.resolve_callee(unit, ev.node, None, None) if type(ev.node) is ast.Call else None
        if body is None or body.fn is None:
            return False
        params = {p for p, a in project.bind_args(body, ev.node) if path_of(a) == ev.key}
        call = None
    spread = body.__dict__.get("_measures_spread")
    if spread is None:  # once per body: a body predicts many times
        spread = body.__dict__["_measures_spread"] = any(
            type(c.func) in (ast.Attribute, ast.Name) and
            (c.func.attr if type(c.func) is ast.Attribute else c.func.id) in _SPREAD for c in body.calls)
    if not spread:
        return False
    calls = [call] if call is not None else [c for c in body.calls if (path_of(c.func) or "").split(".")[0] in params]
    parents = body.parents()
    for c in calls:
        read = {n.id for a in [*c.args, *(k.value for k in c.keywords)] for n in ast.walk(a) if type(n) is ast.Name}
        up = parents.get(id(c))
        while up is not None and up is not body.node:
            if type(up) in (ast.For, ast.AsyncFor):
                loops = [(up.target, up.iter)]
            elif type(up) in (ast.ListComp, ast.GeneratorExp, ast.SetComp, ast.DictComp):
                loops = [(g.target, g.iter) for g in up.generators]
            else:
                loops = []
            for target, it in loops:
                names = {n.id for n in ast.walk(target) if type(n) is ast.Name}
                if type(it) is ast.Call and type(it.func) is ast.Name and it.func.id == "range" and not names & read:
                    return True
            up = parents.get(id(up))
    return False


def _trained_in(project, unit, key: str) -> bool:
    """The body trains the model at ``key`` itself or through a helper; for a model the body
    does not own (a module-level model, ``self.<attr>`` of a method), another function of the
    same file (a method of the same class) may train it: a GAN's ``d_step()`` and ``g_step()``."""
    if _trains(project, unit, key):
        return True
    if unit.fn is None:
        return False
    root, _, rest = key.partition(".")
    me = unit.positional[0] if unit.is_method else None
    if root == me:
        return any(s is not unit and s.cls is unit.cls and s.is_method and
                   _trains(project, s, s.positional[0] + ("." + rest if rest else "")) for s in project.units_of(unit.path))
    if root in unit.params or root in project.local_names(unit):
        return False
    return any(s is not unit and (s.fn is None or root not in s.params and root not in project.local_names(s))
               and _trains(project, s, key) for s in project.units_of(unit.path))


def _trains(project, unit, key: str) -> bool:
    for ev in unit.events.values():
        if ev.key != key:
            continue
        if ev.kind == "call" and project.effective_role(unit, ev) == "train":
            return True
        if ev.kind == "helper" and project.effective_use(unit, ev) == "train":
            return True
    return False


def _handed(ev) -> bool:
    """The model is an argument of the helper's call (or its receiver, through ``.to()``-style
    calls); otherwise the helper reaches it itself: an attribute of the object it is called
    on (``self.validate()`` and ``self.net``), a module-level model, or a closure's."""
    call = ev.node
    exprs = [*call.args, *(k.value for k in call.keywords)]
    if isinstance(call.func, ast.Attribute):
        exprs.append(call.func.value)
    for e in exprs:
        while isinstance(e, ast.Call) and isinstance(e.func, ast.Attribute):
            e = e.func.value
        if isinstance(e, ast.Starred):
            e = e.value
        if path_of(e) == ev.key:
            return True
    return False


_ORIGIN = re.compile(r"(?:by|with) (`[^`]+`)")


def _train_advice(ctx, unit, ev, origin) -> str:
    """Where ``<model>.train()`` must go, as the fix places it (``fixes.train_placement``):
    first in the epoch loop, first in an inner loop, or between the switch to eval and the
    training step; an existing switch in the wrong place is named."""
    call = f"`{ev.key}.train()`" if ev.key else "`.train()` on it"
    place = fixes.train_placement(ctx, unit, ev, origin[2])
    if place is None:
        return f"Call {call} after it is switched to eval, before it is trained"
    path = unit.path
    m = _ORIGIN.search(origin[1])
    switch = f"{m.group(1) if m else 'the switch to eval'} at {line_ref(path, origin[2])}"
    step = f"the training step at {line_ref(path, place.step)}"
    if place.loop is None:
        earlier = f" ({call} at {line_ref(path, place.earlier)} runs before {switch})" if place.earlier else ""
        return f"Call {call} after {switch}, before {step}{earlier}"
    if place.outermost and place.earlier is None:
        return f"Call {call} at the start of each epoch (first in the loop at {line_ref(path, place.loop)})"
    earlier = f" ({call} at {line_ref(path, place.earlier)} runs before that loop, not in it)" \
        if place.earlier else ""
    return (f"Call {call} first in the loop at {line_ref(path, place.loop)}, so that it runs after {switch} "
            f"and before {step}{earlier}")


class ModeMethodNotCalled(Rule):
    """## What it does
    Reports `model.eval` or `model.train` written as a statement without the call
    parentheses; and, in a module's own methods, `self.train` / `self.eval` read as a truth
    value (`if self.train:`, `F.dropout(x, training=self.train)`) where `self.training` was
    meant.

    ## Why is this bad?
    The statement only looks up the bound method and throws it away: the model's mode does
    not change, and the code reads as if it did. A bound method is always true, so a test
    of `self.train` takes its training branch after `.eval()` too: noise, dropout or batch
    statistics stay on at inference.

    ## Example
    ```python
    model.eval

    class Noisy(nn.Module):
        def forward(self, x):
            if self.train:
                x = x + torch.randn_like(x) * 0.1
            return x
    ```

    ## Use instead
    ```python
    model.eval()

    class Noisy(nn.Module):
        def forward(self, x):
            if self.training:
                x = x + torch.randn_like(x) * 0.1
            return x
    ```

    ## Fix safety
    Unsafe (applied with `--fix --unsafe-fixes`): the fix adds the parentheses, or reads
    `self.training` (`self.eval`: `not self.training`). The intent is plain, but the model's
    mode then really changes, and so does everything it computes afterwards.
    """

    code = "DG103"
    triggers = frozenset({"eval", "train"})
    name = "mode-method-not-called"
    summary = "`model.eval` / `model.train` used as a statement without calling it, or read as a flag"
    fix_safety = "unsafe"
    VALID = ["from torch import nn\n\nnet = nn.Sequential(nn.Linear(2, 2), nn.Dropout())\nnet.eval()\n",
             "import torch\nfrom torch import nn\n\n\nclass Noisy(nn.Module):\n    def forward(self, x):\n"
             "        if self.training:\n            x = x + torch.randn_like(x)\n        return x\n"]
    INVALID = ["from torch import nn\n\nnet = nn.Sequential(nn.Linear(2, 2), nn.Dropout())\n"
               "net.eval  # expect: DG103\n",
               "import torch\nfrom torch import nn\n\n\nclass Noisy(nn.Module):\n    def forward(self, x):\n"
               "        if self.train:  # expect: DG103\n            x = x + torch.randn_like(x)\n        return x\n"]

    def check(self, ctx):
        for unit, ev in events(ctx, "mode_attr"):
            if not (ev.is_model or (ev.param and ctx.project.param_is_model(unit, ev.param))):
                continue
            attr = ev.node.attr
            ctx.report(self, ev.node,
                       f"`{ev.key}.{attr}` is not called, so the mode does not change; write `{ev.key}.{attr}()`",
                       fix=fixes.call_mode_method(ctx, ev.node))
        for ci in module_classes(ctx):
            for fn in ci.methods.values():
                for node in _mode_methods_as_flags(fn):
                    if _rebinds(ci, node.attr):
                        continue  # `self.train = train` in `__init__`: an attribute of its own, not the method
                    recv = node.value.id
                    wrong = "its training branch after `.eval()`" if node.attr == "train" else \
                        "its eval branch in training"
                    want = f"{recv}.training" if node.attr == "train" else f"not {recv}.training"
                    ctx.report(self, node,
                               f"`{recv}.{node.attr}` is the bound method, which is always true: this test never "
                               f"sees the module's mode and takes {wrong} too; read `{want}`",
                               fix=fixes.read_training_flag(ctx, node))


def _rebinds(ci, attr: str) -> bool:
    """The class makes ``attr`` something else than the module's method: assigns
    ``self.<attr>`` in a method, binds it in its body, or defines it as a property."""
    for stmt in ci.node.body:
        if type(stmt) in (ast.Assign, ast.AnnAssign) and any(
                type(t) is ast.Name and t.id == attr for t in getattr(stmt, "targets", [stmt.target])):
            return True
        if type(stmt) in (ast.FunctionDef, ast.AsyncFunctionDef) and stmt.name == attr and stmt.decorator_list:
            return True
    for fn in ci.methods.values():
        params = fn.positional_params()
        me = params[0] if params else None
        for node in ast.walk(fn.node):
            if type(node) is ast.Attribute and node.attr == attr and type(node.ctx) is ast.Store and \
                    type(node.value) is ast.Name and node.value.id == me:
                return True
    return False


def _mode_methods_as_flags(fn):
    """``self.train`` / ``self.eval`` of a module method read as a truth value (the test of
    an ``if``, ``while``, conditional expression or ``assert``, an operand of ``and`` / ``or`` /
    ``not``, a ``training=`` argument) instead of the ``self.training`` flag."""
    params = fn.positional_params()
    if not params:
        return
    me = params[0]
    for node in ast.walk(fn.node):
        t = type(node)
        if t in (ast.If, ast.While, ast.IfExp, ast.Assert):
            tests = [node.test]
        elif t is ast.BoolOp:
            tests = node.values
        elif t is ast.UnaryOp and type(node.op) is ast.Not:
            tests = [node.operand]
        elif t is ast.keyword and node.arg == "training":
            tests = [node.value]
        else:
            continue
        for x in tests:
            if type(x) is ast.Attribute and x.attr in ("train", "eval") and type(x.value) is ast.Name \
                    and x.value.id == me:
                yield x


class TrainingFlagAssigned(Rule):
    """## What it does
    Reports `model.training = False` (or `True`) outside the module's own methods. Not
    right after `model.eval()` / `model.train()` switched the whole model to that mode
    (`net.eval()` then `net.training = False`), nor after it switched a model this one is a
    part of (`bert.eval()` then `bert.text_model.training = False`), nor right before such a
    switch in the same block, with nothing but the model's parameters, device or weights
    touched in between (`net.training = True`, the optimizer built, then `net.train()`): the
    assignment then changes nothing.

    ## Why is this bad?
    The assignment changes the flag of the top module only. Its children — the dropout and
    batch-norm layers that actually read the flag — stay in the mode they were in, so the
    model still behaves as before while looking switched.

    ## Example
    ```python
    model.training = False
    ```

    ## Use instead
    ```python
    model.eval()          # or model.train(False)
    ```

    ## Fix safety
    Unsafe (applied with `--fix --unsafe-fixes`): the fix replaces `model.training = False`
    by `model.eval()` (`True`: `model.train()`; another value: `model.train(bool(value))`).
    The children's modes then change too — the intended effect, but a change of runtime
    behaviour.
    """

    code = "DG104"
    triggers = frozenset({"training"})
    name = "training-flag-assigned"
    summary = "`model.training = ...` changes only the top module, not its children"
    fix_safety = "unsafe"
    VALID = ["from torch import nn\n\nnet = nn.Sequential(nn.Linear(2, 2), nn.Dropout())\nnet.train(False)\n",
             "import torch\nfrom torch import nn\n\nnet = nn.Sequential(nn.Linear(2, 2), nn.Dropout())\n"
             "net.training = True\nopt = torch.optim.SGD(net.parameters(), lr=0.1)\nnet.train()\n",
             "class Config:\n    training = True\n\n\ncfg = Config()\ncfg.training = False\n"]
    INVALID = ["from torch import nn\n\nnet = nn.Sequential(nn.Linear(2, 2), nn.Dropout())\n"
               "net.training = False  # expect: DG104\n",
               "import torch\nfrom torch import nn\n\nnet = nn.Sequential(nn.Linear(2, 2), nn.Dropout())\n"
               "net.training = False  # expect: DG104\nprint(net(torch.zeros(1, 2)))\nnet.eval()\n"]

    def check(self, ctx):
        for unit, ev in events(ctx, "training_assign"):
            if not (ev.is_model or (ev.param and ctx.project.param_is_model(unit, ev.param))):
                continue
            stmt = _assignment_of(ctx, ev.node)
            if _just_switched(ctx, stmt, ev.key):
                continue  # `net.eval()` just put the whole model in that mode: the assignment changes nothing
            ctx.report(self, stmt,
                       f"assigning `{ev.key}.training` changes only the top module; its dropout and batch-norm "
                       f"children keep their mode. Use `{ev.key}.eval()` or `{ev.key}.train(mode)`",
                       fix=fixes.assign_to_train(ctx, stmt))


def _just_switched(ctx, stmt, key: str) -> bool:
    """``stmt`` (``key.training = <bool>``) changes nothing: the statement before it (past
    other assignments of the same flag value) is ``key.eval()`` / ``key.train()`` /
    ``key.train(<bool>)`` setting the same mode on ``key`` or on a model it is a part of, or
    such a switch follows in the same block before anything else touches the model (only its
    parameters, device or state dict are read in between: building the optimizer)."""
    value = getattr(stmt, "value", None)
    if not (type(value) is ast.Constant and isinstance(value.value, bool)):
        return False
    for node in [ctx.module.tree, *ctx.module.nodes]:
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if not isinstance(block, list) or stmt not in block:
                continue
            at = block.index(stmt)
            i = at - 1
            while i >= 0 and _sets_flag(block[i], value.value):
                i -= 1  # `net.eval(); net.training = False; net.head.training = False`
            if i >= 0 and _switch_mode(block[i], key) is value.value:
                return True
            root = root_of(key)
            for later in block[at + 1:]:
                mode = _switch_mode(later, key)
                if mode is not None:
                    return mode is value.value
                if _sets_flag(later, value.value):
                    continue
                if _touches(later, root):
                    return False
            return False
    return False


# what a statement may do to a model between its flag assignment and a switch of the whole
# model without running it: read its parameters, move it, save or load its weights
_INERT_MODEL_METHODS = frozenset({"parameters", "named_parameters", "to", "cuda", "cpu", "float", "half",
                                  "double", "state_dict", "load_state_dict"})


def _switch_mode(stmt, key: str):
    """The mode ``stmt`` puts ``key`` in when it is ``X.eval()`` / ``X.train()`` /
    ``X.train(<bool>)`` on ``key`` or on a model it is a part of; None otherwise (or unknown)."""
    c = stmt.value if type(stmt) is ast.Expr else None
    switched = path_of(c.func.value) if type(c) is ast.Call and type(c.func) is ast.Attribute else None
    if not switched or not (key == switched or key.startswith(switched + ".")):
        return None  # (`bert.eval()` then `bert.text_model.training = False`: the part too)
    if c.func.attr == "eval" and not c.args:
        return False
    if c.func.attr == "train":
        arg = c.args[0] if c.args else None
        mode = True if arg is None else arg.value if type(arg) is ast.Constant else None
        return mode if isinstance(mode, bool) else None
    return None


def _touches(stmt, root: str) -> bool:
    """``stmt`` uses the name ``root`` other than to read its parameters, move it or save
    and load its weights (``optim.Adam(net.parameters())``), or binds it."""
    inert = set()
    for n in ast.walk(stmt):
        if type(n) is ast.Call and type(n.func) is ast.Attribute and n.func.attr in _INERT_MODEL_METHODS \
                and type(n.func.value) is ast.Name:
            inert.add(id(n.func.value))
    return any(type(n) is ast.Name and n.id == root and id(n) not in inert for n in ast.walk(stmt))


def _sets_flag(stmt, value: bool) -> bool:
    """``x.training = value``."""
    import ast

    return type(stmt) is ast.Assign and len(stmt.targets) == 1 and type(stmt.targets[0]) is ast.Attribute \
        and stmt.targets[0].attr == "training" and type(stmt.value) is ast.Constant and stmt.value.value is value


def _assignment_of(ctx, target):
    """The assignment statement that has ``target`` among its targets (reported there)."""
    import ast

    for node in ctx.module.nodes:
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(t is target for t in targets):
                return node
    return target


RULES = [EvalModeMissing, TrainModeMissing, ModeMethodNotCalled, TrainingFlagAssigned]
