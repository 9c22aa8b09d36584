"""DG201–DG203: gradient tracking around predictions and backward passes."""
from __future__ import annotations

import ast

from .. import fixes
from .. import knowledge as K
from ..flow import OFF, ON
from ._events import describe, events
from ..untrained import demo_callers_only, untrained_model
from .base import Rule


class GradEnabledInference(Rule):
    """## What it does
    Reports a prediction (a model call whose result never reaches a backward pass) that
    runs with gradient tracking on. Inside a helper, the finding is at the helper's own
    call (the fix belongs there) when its callers call it with gradients enabled; a helper
    called only inside `torch.no_grad()` needs none of its own. Functions nothing in the
    analysed code calls (entry points, web handlers) start with gradients enabled. A model
    whose parameters are all frozen (`m.requires_grad_(False)` in the function, or a class
    whose `__init__` freezes them, as `Vgg16(requires_grad=False)`; a part of a model that
    its class's `__init__` freezes, as a random target network `rnd.target`, or that every
    method binding it freezes there, as a moving-average generator built by `buildAvG()`)
    records no graph: it is not reported. A nested function that nothing calls, decorates or
    hands out never runs: nothing in it is reported (one its sibling closures call runs in
    their grad state). Grad is also off after `torch.no_grad().__enter__()` (for the rest of that
    body), inside `with ctx:` where the function binds `ctx = torch.no_grad()` (or
    `set_grad_enabled(False)`) once, and for a model called on old PyTorch's
    `Variable(x, volatile=True)` (or `**{"volatile": True}`, a dict of keyword arguments),
    taken as the author meant it (grad off; PyTorch 0.4 and later ignore the flag with a
    warning, so in a file that uses their API, `.item()`, `torch.tensor` or `torch.device`,
    the finding stays and says why): in place, the last value assigned to that name
    (a module-level one read in a function too)
    (also by position, `data, target = Variable(data, volatile=True), Variable(target)`),
    what a project helper returns as one for this call (`get_batch(source, i,
    evaluation=True)` returning `Variable(..., volatile=evaluation)`), and anything computed
    from such a value (`inp.cuda()`, `torch.cat([data, more])`, the model's output).
    A forward pass whose recorded graph the code reads (`out.grad_fn`, a graph drawn by
    a helper such as torchviz's `make_dot(out)`), or one whose result reaches a
    `backward(...)` call's arguments, by keyword too (Grad-CAM's `probs, ids =
    bp.forward(x)`, then `bp.backward(ids=ids)`), needs it: not reported; nor is one on an
    input that the same body made require grad (`x.requires_grad_(True)` or
    `torch.rand(..., requires_grad=True)` before `model(x)`) and differentiates nowhere
    itself: gradients with respect to the input are wanted elsewhere (a gradient-penalty
    metric of an evaluation engine, a saliency map). Nor is the call of a project helper that
    takes gradients inside, itself or through the functions it calls (a line search's
    `surrogate_loss(clone)` whose MAML inner loop adapts the clone with `torch.autograd.grad`):
    `no_grad` around it would break it; nor the call of a model whose class's `forward` does
    (robustness's `AttackerModel` running an attack when called with `make_adv=True`; where
    it does so only under a flag of its own that defaults to false, a call that leaves the
    flag off, `model(x)`, is a prediction).
    A module's own method that runs the receiver's weighted layers (`self.fc_pi(x)` in a
    policy's `pi()`) predicts with the receiver; when it returns the output and some callers
    train with it, the finding is at the caller that predicts (`prob = model.pi(s)`).
    A forward pass whose result nobody reads (`model(x)` as a statement, `_ = model(x)`) is
    a warm-up, not a prediction, unless the body registers a forward hook or prepares the
    model for quantization (calibration), or it ends a notebook cell (Jupyter shows its
    value). A model that a body only builds and runs, with nothing in that body giving it
    weights (a `__main__` smoke test, a notebook's "try a forward pass" cell, a model file's
    `def test(): net = ResNet18(); print(net(x))`; built directly or by a project function
    that only builds, also through another such function; moved to a device after, `model =
    model.cuda()`, it is the same model), runs random weights: not reported; nor is a
    helper's or a model's own method's prediction (`net.sample(x)`) when every call of it
    the analysis sees hands it such a model.

    ## Why is this bad?
    Autograd records every operation of the forward pass and keeps the activations alive
    for a backward pass that never comes: memory grows with the batch and the model, and
    inference runs slower. Note that `no_grad` does not switch dropout off — that is
    `eval()` (DG101).

    ## Example
    ```python
    model.eval()
    y = model(x)
    ```

    ## Use instead
    ```python
    model.eval()
    with torch.inference_mode():
        y = model(x)
    ```

    ## Fix safety
    Unsafe (applied with `--fix --unsafe-fixes`): turning gradient tracking off changes
    runtime behaviour by definition (a result that is differentiated later, somewhere the
    analysis cannot see, would break). In a function that only predicts, whose name says
    so (`predict`, `evaluate`, `infer`, `score`, ... or a configured
    `inference-functions` entry) and that calls nothing that trains, the fix decorates the
    function with `@torch.no_grad()` (right above `def`, below decorators such as a web
    route); elsewhere it wraps the predicting statement in `with torch.no_grad():`
    (adding `import torch` when needed). No fix for a prediction in a loop or `if` header,
    a lambda or generator, or next to `yield` / `await`.
    """

    code = "DG201"
    triggers = K.TORCH_TRIGGERS
    name = "grad-enabled-inference"
    summary = "A prediction runs with gradient tracking on"
    fix_safety = "unsafe"
    VALID = ["import torch\nfrom torch import nn\n\nnet = nn.Sequential(nn.Linear(2, 2), nn.Dropout())\nnet.eval()\n"
             "with torch.no_grad():\n    y = net(torch.ones(1, 2))\n"]
    INVALID = ["import torch\nfrom torch import nn\n\nnet = nn.Sequential(nn.Linear(2, 2), nn.Dropout())\n"
               "net.load_state_dict(torch.load('net.pt'))\nnet.eval()\n"
               "y = net(torch.ones(1, 2))  # expect: DG201\n"]

    def check(self, ctx):
        project = ctx.project
        firsts = {}  # the first call of a receiver's layer in each method: one finding for the method
        done = set()  # one finding per call, though it may run either of two models (`encode(x)`, bound to a choice)
        for unit, ev in events(ctx, "call", "returned"):
            if project.effective_role(unit, ev) != "predict" or id(ev.node) in done:
                continue
            if ev.kind == "returned":
                callee = project.units.get(ev.callee_id)
                if callee is None or (not ev.through and project.unit_ret_role(callee) == "predict"):
                    continue  # every caller predicts with the result: reported at the callee's own call
                if project.differentiates(callee):
                    continue  # it takes gradients inside (an inner loop adapting a clone): it needs them on
            elif ev.cls and project.forward_differentiates(ev.cls, ev.node):
                continue  # its forward takes gradients (an attacker model crafting its input): it needs them on
            elif ev.through:
                if ev.role == "deferred":
                    continue  # `return self.fc(x)` in `pi()`: reported where `model.pi(s)` predicts
                first = firsts.setdefault(unit.id, min(e.node.lineno for e in unit.events.values()
                                                       if e.kind == "call" and e.through and e.role == "predict"))
                if ev.node.lineno != first:
                    continue
            grad = project.resolved_grad(unit, ev.grad)
            if ON not in grad or _inside_enable_grad(ctx, unit, ev.node) or _input_requires_grad(project, unit, ev):
                continue
            if untrained_model(project, unit, ev) or demo_callers_only(project, unit, ev):
                continue  # random weights in a shape check or a demo: nothing worth keeping a graph for
            if ev.cls and project.untaped_class(ev.cls):
                continue  # a MegEngine module: nothing is recorded outside its GradManager
            if ev.param and project.frozen_at_every_call(unit, ev.param):
                continue  # every caller froze the model it hands in: the helper's pass records nothing
            if ev.param and not (project.path_gets_model(unit, ev.param)
                                 or ev.param in unit.summary.evals_param
                                 or unit.id in ctx.knowledge.inference_functions):
                continue  # a helper whose callers are not here: its calls are predictions only if it says so
            where = f" through `{ev.callee}()`" if ev.kind == "returned" else ""
            if ev.param and unit.fn is not None:
                where = f" (callers of `{unit.fn.name}()` call it with gradients enabled)"
            done.add(id(ev.node))
            if ctx.project.volatile_ignored(unit, ev.node):
                where += (" (its input is a `Variable(..., volatile=True)`, which PyTorch 0.4 and later ignore; "
                          "this file uses their API: `.item()`, `torch.tensor` or `torch.device`)")
            ctx.report(self, ev.node,
                       f"{describe(ev)} predicts with gradient tracking on{where}: autograd records the whole "
                       f"forward pass and keeps activations alive for a backward pass that never comes. Wrap it "
                       f"in `with torch.no_grad():` or `torch.inference_mode()`", fix=fixes.no_grad(ctx, unit, ev))


def _input_requires_grad(project, unit, ev) -> bool:
    """The model's input is a tensor the body made require grad (``x.requires_grad_(True)``
    before ``y_pred = model(x)``) and the body takes no gradient itself: the graph is wanted,
    for gradients with respect to the input taken elsewhere (a gradient-penalty metric, a
    saliency map). A body that does take them (an attack's loop of ``backward()`` on
    ``x_adv``) used the flag there, and its final evaluation of ``x_adv`` still counts. A
    function over weight tensors handed its weights (``net(X, params)``) is no such call."""
    call = ev.node
    if type(call) is not ast.Call or not call.args or unit.backward_calls:
        return False
    made = project.grad_tensors(unit)
    if not made or not any(type(a) is ast.Name and a.id in made for a in call.args):
        return False
    reads = unit.__dict__.get("_reads_grad")
    if reads is None:  # once per body: a body predicts many times
        reads = unit.__dict__["_reads_grad"] = any(type(n) is ast.Attribute and n.attr == "grad" for n in unit.nodes)
    if reads:
        return False
    callee = project.resolve_callee(unit, call, None, None)
    return callee is None or not project.forward_over_weights(callee)


def _inside_enable_grad(ctx, unit, node) -> bool:
    """Inside ``with torch.enable_grad():`` / ``set_grad_enabled(True)``: grad asked for on purpose
    (optimising a latent or an input through the model)."""
    parents = unit.parents()
    cur = parents.get(id(node))
    while cur is not None and cur is not unit.node:
        if isinstance(cur, (ast.With, ast.AsyncWith)):
            for item in cur.items:
                e = item.context_expr
                if isinstance(e, ast.Name) and ctx.resolve(e) is None:  # `ctx = torch.enable_grad()`, `with ctx:`
                    e = ctx.project.bound_once(unit, e.id) or e
                if isinstance(e, ast.Call):
                    q = ctx.resolve(e.func)
                    if q in K.ENABLE_GRAD_CONTEXTS:
                        return True
                    arg = e.args[0] if e.args else None
                    if q in K.SET_GRAD_ENABLED and isinstance(arg, ast.Constant) and arg.value is True:
                        return True
        cur = parents.get(id(cur))
    return False


class GradContextNotEntered(Rule):
    """## What it does
    Reports `torch.no_grad()`, `torch.enable_grad()` or `torch.inference_mode()` used as a
    bare statement.

    ## Why is this bad?
    These are context managers (and decorators). Calling one as a statement builds the
    object and throws it away: gradient tracking does not change for the code that follows.
    (`torch.set_grad_enabled(False)` as a statement does work, and is not reported.)

    ## Example
    ```python
    torch.no_grad()
    y = model(x)
    ```

    ## Use instead
    ```python
    with torch.no_grad():
        y = model(x)
    ```

    ## Fix safety
    Unsafe (applied with `--fix --unsafe-fixes`), as it turns gradient tracking off (or on)
    where it was not: the statements after the bare call, to the end of its block, move
    into `with torch.no_grad():` (the same call), which is what the statement meant.
    Scoped on purpose, also at module level: `torch.set_grad_enabled(False)` there would
    switch gradients off for every program that imports the module. In a notebook's top
    level, where the rest of the notebook lives in other cells, the fix is
    `torch.set_grad_enabled(False)` (`True` for `enable_grad`). A bare call with nothing
    after it in its block is removed (replaced by `pass` when it is the only statement):
    that fix is safe, the statement did nothing.
    """

    code = "DG202"
    triggers = frozenset({"no_grad", "enable_grad", "inference_mode"})
    name = "grad-context-not-entered"
    summary = "`torch.no_grad()` / `enable_grad()` / `inference_mode()` used as a bare statement has no effect"
    fix_safety = "unsafe"
    VALID = ["import torch\n\nwith torch.no_grad():\n    pass\ntorch.set_grad_enabled(False)\n"]
    INVALID = ["import torch\n\ntorch.no_grad()  # expect: DG202\n"]

    _CONTEXTS = K.NO_GRAD_CONTEXTS | K.ENABLE_GRAD_CONTEXTS

    def check(self, ctx):
        for node in ctx.module.expr_stmts:
            if isinstance(node.value, ast.Call):
                q = ctx.resolve(node.value.func)
                if q in self._CONTEXTS:
                    short = q.rsplit(".", 1)[-1]
                    ctx.report(self, node.value,
                               f"`{short}()` as a statement has no effect: it is a context manager. Use "
                               f"`with torch.{short}():` around the code it should cover, or decorate the function",
                               fix=fixes.enter_grad_context(ctx, node.value, q))


class BackwardWithoutGrad(Rule):
    """## What it does
    Reports `.backward()` or `torch.autograd.grad(...)` where gradient tracking is off: inside
    `torch.no_grad()` / `torch.inference_mode()`, in a function decorated with them, or in
    a helper that every caller calls with gradients disabled.

    ## Why is this bad?
    Nothing was recorded, so there is no graph to differentiate: PyTorch raises "element 0
    of tensors does not require grad" at run time, or — when a leaf requires grad — the
    gradients silently miss the model's parameters.

    ## Example
    ```python
    with torch.no_grad():
        loss = loss_fn(model(x), y)
        loss.backward()
    ```

    ## Use instead
    ```python
    loss = loss_fn(model(x), y)
    loss.backward()
    ```

    ## Fix safety
    No automatic fix: where the no-grad region should end is the author's call.
    """

    code = "DG203"
    triggers = frozenset({"backward", "grad"})
    name = "backward-without-grad"
    summary = "`.backward()` / `torch.autograd.grad` inside `no_grad` / `inference_mode`"
    VALID = ["import torch\n\nx = torch.ones(2, requires_grad=True)\nwith torch.enable_grad():\n"
             "    (x * 2).sum().backward()\n"]
    INVALID = ["import torch\n\nx = torch.ones(2, requires_grad=True)\nwith torch.no_grad():\n"
               "    (x * 2).sum().backward()  # expect: DG203\n"]

    def check(self, ctx):
        project = ctx.project
        for unit, ev in events(ctx, "backward"):
            grad = project.resolved_grad(unit, ev.grad)
            if grad != {OFF}:
                continue
            what = "`torch.autograd.grad`" if not (isinstance(ev.node.func, ast.Attribute)
                                                  and ev.node.func.attr == "backward") else "`.backward()`"
            where = "gradient tracking is off here"
            if unit.fn is not None and project.entry_grad.get(unit.id) == {OFF} and \
                    project.decorator_grad(unit) is None:
                where = f"every caller of `{unit.fn.name}()` calls it with gradient tracking off"
            ctx.report(self, ev.node,
                       f"{what} runs where {where} (`no_grad` / `inference_mode`): nothing was recorded to "
                       f"differentiate. Move it out of the no-grad region or wrap it in `torch.enable_grad()`")


RULES = [GradEnabledInference, GradContextNotEntered, BackwardWithoutGrad]
