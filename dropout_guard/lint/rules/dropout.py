"""DG301–DG303: dropout inside module code that ignores the module's mode."""
from __future__ import annotations

import ast
from typing import Dict, Set

from .. import fixes
from .. import knowledge as K
from ..semantic import get_arg, has_star_args
from ._events import module_classes
from .base import Rule
from .keras import ident_tokens


_NOISE_DRAWS = frozenset({"torch.randn", "torch.randn_like", "torch.normal", "torch.rand", "torch.rand_like",
                          "numpy.random.randn", "numpy.random.normal"})


def _random_noise(ctx, fn, expr, depth: int) -> bool:
    """Whether ``expr`` is freshly drawn random noise rather than activations: a draw
    (``torch.randn_like(x)``), a draw scaled (``noise * temperature``), a variable of ``fn``
    assigned only such values, or a call of a project helper named for noise that draws it
    (latent diffusion's ``noise_like(shape, device)``)."""
    if expr is None or depth > 3:
        return False
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, (ast.Mult, ast.Div)):
        return _random_noise(ctx, fn, expr.left, depth + 1) or _random_noise(ctx, fn, expr.right, depth + 1)
    if isinstance(expr, ast.Call):
        q = ctx.resolve(expr.func)
        if q in _NOISE_DRAWS:
            return True
        project = ctx.project
        found = project.lookup(q, ctx.module) if q and project is not None else None
        home = project.module_of(found) if found is not None else None
        return home is not None and "noise" in ident_tokens(found.name) and any(
            isinstance(n, ast.Call) and home.resolve(n.func) in _NOISE_DRAWS for n in ast.walk(found.node))
    if isinstance(expr, ast.Name):
        values = [n.value for n in fn.nodes if isinstance(n, ast.Assign) and len(n.targets) == 1
                  and isinstance(n.targets[0], ast.Name) and n.targets[0].id == expr.id
                  and not (isinstance(n.value, ast.Call) and ctx.resolve(n.value.func) in K.FUNCTIONAL_DROPOUT)]
        return bool(values) and all(_random_noise(ctx, fn, v, depth + 1) for v in values)
    return False


def _is_training(test, selfname: str) -> bool:
    """``test`` holds only while the module trains: ``self.training`` (``is True``, ``== True``),
    or an ``and`` with such an operand (``self.p > 0 and self.training``)."""
    if isinstance(test, ast.Attribute):
        return test.attr == "training" and isinstance(test.value, ast.Name) and test.value.id == selfname
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return any(_is_training(v, selfname) for v in test.values)
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.Is, ast.Eq)) \
            and isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value is True:
        return _is_training(test.left, selfname)
    return False


def _is_not_training(test, selfname: str) -> bool:
    return isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and _is_training(test.operand, selfname)


def _mode_guarded(ctx, fn, call: ast.Call) -> bool:
    """The call runs only while the module trains: in the branch of an ``if`` (or ``a if c
    else b``) that needs ``self.training``, or after ``if not self.training: return ...``."""
    positional = fn.positional_params()
    if not positional:
        return False
    selfname = positional[0]
    parents = ctx.module.parents()
    child, up = call, parents.get(id(call))
    while up is not None and child is not fn.node:
        if isinstance(up, (ast.If, ast.IfExp)):
            in_body = child in up.body if isinstance(up, ast.If) else child is up.body
            in_else = child in up.orelse if isinstance(up, ast.If) else child is up.orelse
            if (in_body and _is_training(up.test, selfname)) or (in_else and _is_not_training(up.test, selfname)):
                return True
        for name in ("body", "orelse", "finalbody"):
            block = getattr(up, name, None)
            if isinstance(block, list) and child in block:
                for stmt in block[:block.index(child)]:
                    if isinstance(stmt, ast.If) and _is_not_training(stmt.test, selfname) and not stmt.orelse \
                            and stmt.body and isinstance(stmt.body[-1], (ast.Return, ast.Raise)):
                        return True
        child, up = up, parents.get(id(up))
    return False


class FunctionalDropoutAlwaysOn(Rule):
    """## What it does
    Reports `F.dropout`, `F.dropout1d`, `F.dropout2d` or `F.dropout3d` called in a module's
    code without a `training` argument, unless the call runs only while the module trains:
    inside `if self.training:` (or `if self.p > 0 and self.training:`, the training side of
    `... if self.training else ...`, the `else` of `if not self.training:`), or after
    `if not self.training: return ...`.

    ## Why is this bad?
    The functional forms default to `training=True`. Unlike `nn.Dropout`, they do not read
    the module's mode, so the dropout keeps firing after `model.eval()`: predictions are
    noisy and every evaluation differs. (`alpha_dropout` and `feature_alpha_dropout` default
    to `training=False` and are not reported.)

    ## Example
    ```python
    def forward(self, x):
        return F.dropout(self.fc(x), p=self.p)
    ```

    ## Use instead
    ```python
    def forward(self, x):
        return F.dropout(self.fc(x), p=self.p, training=self.training)
    ```

    ## Fix safety
    Safe (applied with `--fix`): the fix adds `training=self.training` after the last
    argument. In training mode nothing changes; in eval mode the dropout stops firing, which
    is what `nn.Dropout` does and what `model.eval()` promised. Not offered in static and
    class methods (no `self`).

    ## Known problems
    Any explicit `training` argument is taken as the author's choice (`training=True` is
    Monte-Carlo dropout). Dropout applied to freshly drawn noise rather than to activations
    (`noise = F.dropout(noise_like(shape) * temperature, p=noise_dropout)`, a diffusion
    sampler's option, meant to act at inference) is not reported.
    """

    code = "DG301"
    triggers = frozenset(q.rsplit(".", 1)[-1] for q in K.FUNCTIONAL_DROPOUT)
    name = "functional-dropout-always-on"
    summary = "Functional dropout without `training=`: it stays on after `eval()`"
    fix_safety = "safe"
    VALID = ["import torch.nn.functional as F\nfrom torch import nn\n\n\nclass M(nn.Module):\n"
             "    def forward(self, x):\n        return F.dropout(x, 0.1, self.training)\n"]
    INVALID = ["import torch.nn.functional as F\nfrom torch import nn\n\n\nclass M(nn.Module):\n"
               "    def forward(self, x):\n        return F.dropout(x, p=0.1)  # expect: DG301\n"]

    def check(self, ctx):
        for ci in module_classes(ctx):
            for fn in ci.methods.values():
                for call in fn.calls:  # its own body: nested functions and lambdas excluded
                    q = ctx.resolve(call.func)
                    if q not in K.FUNCTIONAL_DROPOUT:
                        continue
                    if get_arg(call, 2, "training") is not None or has_star_args(call):
                        continue
                    if _random_noise(ctx, fn, get_arg(call, 0, "input"), 0):
                        continue  # a sampler's `noise_dropout` (latent diffusion): noise, not activations
                    if _mode_guarded(ctx, fn, call):
                        continue  # `if self.training:` around it: it follows the mode already
                    short = q.rsplit(".", 1)[-1]
                    ctx.report(self, call,
                               f"`{short}` defaults to `training=True` and ignores the module's mode, so this "
                               f"dropout keeps firing after `.eval()`; pass `training=self.training`",
                               fix=fixes.training_keyword(ctx, fn.node, call))


class DropoutConstructedInForward(Rule):
    """## What it does
    Reports a dropout module (`nn.Dropout`, `Dropout1d/2d/3d`, `AlphaDropout`,
    `FeatureAlphaDropout`) constructed inside `forward` or in a method that `forward`
    calls.

    ## Why is this bad?
    A module built during the forward pass is new each call, so it is always in training
    mode: `model.eval()` never reaches it (it is not a registered child) and the dropout
    fires at inference too.

    ## Example
    ```python
    def forward(self, x):
        return nn.Dropout(self.p)(self.fc(x))
    ```

    ## Use instead
    ```python
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        return self.drop(self.fc(x))
    ```

    ## Fix safety
    Unsafe (applied with `--fix --unsafe-fixes`) when the dropout's arguments are
    constants, or attributes that only `__init__` sets: the fix adds
    `self.dropout = nn.Dropout(...)` after `super().__init__()` (and after those attributes)
    and uses `self.dropout` where the module was built. The state dict does not change
    (dropout has no parameters or buffers), but the module gains a child and the dropout
    now follows `eval()` — a change of runtime behaviour. Display-only (shown, never
    applied) when the arguments depend on the call, when an attribute they read is
    assigned outside `__init__` (a dropout-rate schedule would be frozen), or when there is
    no `__init__` with a `super().__init__()` call.
    """

    code = "DG302"
    triggers = K.DROPOUT_LAYERS
    name = "dropout-constructed-in-forward"
    summary = "A dropout module built inside `forward` is always in training mode"
    fix_safety = "unsafe"
    VALID = ["from torch import nn\n\n\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
             "        self.drop = nn.Dropout(0.1)\n\n    def forward(self, x):\n        return self.drop(x)\n"]
    INVALID = ["from torch import nn\n\n\nclass M(nn.Module):\n    def forward(self, x):\n"
               "        return nn.Dropout(0.1)(x)  # expect: DG302\n"]

    def check(self, ctx):
        for ci in module_classes(ctx):
            reachable = self._reachable_from_forward(ci)
            for name in reachable:
                fn = ci.methods[name]
                for call in fn.calls:
                    q = ctx.resolve(call.func) or ""
                    if q.startswith("torch.nn.") and q.count(".") == 2 and q.rsplit(".", 1)[-1] in K.DROPOUT_LAYERS:
                        where = "`forward`" if name == "forward" else f"`{name}` (called from `forward`)"
                        ctx.report(self, call,
                                   f"`{q.rsplit('.', 1)[-1]}` is constructed in {where}: a module built on each "
                                   f"call is always in training mode and `.eval()` never reaches it; build it "
                                   f"once in `__init__`",
                                   fix=fixes.move_dropout(ctx, ci, fn.node, call, q.rsplit(".", 1)[-1]))

    @staticmethod
    def _reachable_from_forward(ci) -> Set[str]:
        graph: Dict[str, Set[str]] = {}
        for name, fn in ci.methods.items():
            selfname = (fn.positional_params() or ["self"])[0]
            outs = set()
            for call in fn.calls:
                f = call.func
                if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == selfname \
                        and f.attr in ci.methods:
                    outs.add(f.attr)
            graph[name] = outs
        seen: Set[str] = set()
        stack = [n for n in ("forward",) if n in ci.methods]
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            stack.extend(graph.get(n, ()) - seen)
        return seen


def _mentions_training(expr) -> bool:
    """``expr`` reads a training flag: ``self.training``, a ``training`` / ``is_training``
    name or attribute (``self.p if self.training else 0.0``, ``p * training``)."""
    for n in ast.walk(expr):
        ident = n.id if isinstance(n, ast.Name) else n.attr if isinstance(n, ast.Attribute) else None
        if ident is not None and "training" in ident.lower():
            return True
    return False


def _is_zero(expr) -> bool:
    return isinstance(expr, ast.Constant) and not isinstance(expr.value, (bool, str, bytes)) \
        and expr.value == 0


def _rate_follows_mode(fn, rate, depth: int = 0) -> bool:
    """A ``dropout_p`` that needs no gating here: a literal 0; an expression that reads a
    training flag; a parameter of the method (its caller decides); a name the method does not
    assign (we cannot see its value); a local variable one of whose assignments is one of these
    (``p = self.p if self.training else 0.0``; ``p = 0.0`` then ``if self.training: p = self.p``)
    or is one we cannot follow (augmented, unpacked, a loop target)."""
    if _is_zero(rate) or _mentions_training(rate):
        return True
    if not isinstance(rate, ast.Name):
        return False
    a = fn.node.args
    if rate.id in fn.param_names() or any(v is not None and v.arg == rate.id for v in (a.vararg, a.kwarg)):
        return True
    values, plain = [], set()
    for n in fn.nodes:
        if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == rate.id for t in n.targets):
            values.append(n.value)
            plain.update(id(t) for t in n.targets)
        elif isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name) and n.target.id == rate.id:
            if n.value is not None:
                values.append(n.value)
            plain.add(id(n.target))
    if any(isinstance(n, ast.Name) and n.id == rate.id and isinstance(n.ctx, ast.Store) and id(n) not in plain
           for n in fn.nodes):
        return True  # bound otherwise: `p += ...`, unpacked, a loop target, `with ... as p`, `(p := ...)`
    if not values or depth > 3:
        return True
    return any(_rate_follows_mode(fn, v, depth + 1) for v in values)


class AttentionDropoutAlwaysOn(Rule):
    """## What it does
    Reports `F.scaled_dot_product_attention(q, k, v, ..., dropout_p=p)` called in a module's
    code with a `dropout_p` that ignores the module's mode: not a literal `0`, not reading
    `self.training` (`dropout_p=self.p if self.training else 0.0`), and the call does not run
    only while the module trains (inside `if self.training:` and the other guards DG301
    accepts). `dropout_p` is read by keyword or as the 5th positional argument, after
    `attn_mask`.

    ## Why is this bad?
    `scaled_dot_product_attention` has no `training` argument: any `dropout_p > 0` drops
    attention weights on every call. Unlike `nn.Dropout` and `nn.MultiheadAttention`, it
    does not read the module's mode, so attention dropout keeps firing after
    `model.eval()`: predictions are noisy and every evaluation differs. PyTorch's
    documentation of the function shows the gating this rule asks for.

    ## Example
    ```python
    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout)
    ```

    ## Use instead
    ```python
    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0)
    ```

    ## Fix safety
    Safe (applied with `--fix`): the fix rewrites the rate `X` as
    `X if self.training else 0.0` (parenthesised when it needs it), where it is, by keyword
    or by position. In training mode nothing changes; in eval mode the attention dropout
    stops, which is what `model.eval()` promised. Not offered in static and class methods
    (no `self`).

    ## Known problems
    A rate that comes in as a parameter of the method (`def attend(self, q, k, v,
    dropout_p)`) is the caller's to gate and is not reported, nor is a local variable
    assigned in a way the rule cannot follow; any mention of a training flag in the rate
    (`self.training`, a `training` parameter) is taken as gating it. Like DG301, only the
    methods of module classes are checked: a free function that a module calls with its
    rate is not. `alpha`-style variants and `nn.MultiheadAttention` (which reads the mode)
    are not concerned.
    """

    code = "DG303"
    triggers = frozenset(q.rsplit(".", 1)[-1] for q in K.ATTENTION_DROPOUT)
    name = "attention-dropout-always-on"
    summary = "Attention dropout (`scaled_dot_product_attention(dropout_p=...)`) that stays on after `eval()`"
    fix_safety = "safe"
    VALID = ["import torch.nn.functional as F\nfrom torch import nn\n\n\nclass A(nn.Module):\n"
             "    def forward(self, q, k, v):\n"
             "        return F.scaled_dot_product_attention(q, k, v, dropout_p=self.p if self.training else 0.0)\n",
             "import torch.nn.functional as F\nfrom torch import nn\n\n\nclass A(nn.Module):\n"
             "    def forward(self, q, k, v):\n        if self.training:\n"
             "            return F.scaled_dot_product_attention(q, k, v, None, self.p)\n"
             "        return F.scaled_dot_product_attention(q, k, v, None, 0.0)\n"]
    INVALID = ["import torch.nn.functional as F\nfrom torch import nn\n\n\nclass A(nn.Module):\n"
               "    def forward(self, q, k, v):\n"
               "        return F.scaled_dot_product_attention(q, k, v, dropout_p=self.p)  # expect: DG303\n",
               "from torch import nn\nfrom torch.nn.functional import scaled_dot_product_attention as sdpa\n\n\n"
               "class A(nn.Module):\n    def forward(self, q, k, v, mask):\n"
               "        return sdpa(q, k, v, mask, 0.1, is_causal=False)  # expect: DG303\n"]

    def check(self, ctx):
        for ci in module_classes(ctx):
            for fn in ci.methods.values():
                for call in fn.calls:  # its own body: nested functions and lambdas excluded
                    if ctx.resolve(call.func) not in K.ATTENTION_DROPOUT:
                        continue
                    rate = get_arg(call, 4, "dropout_p")
                    if rate is None or _rate_follows_mode(fn, rate):
                        continue  # absent (0.0 by default), hidden behind *args, zero, or gated already
                    if _mode_guarded(ctx, fn, call):
                        continue  # `if self.training:` around it: it runs only while training
                    ctx.report(self, call,
                               "`scaled_dot_product_attention` has no `training` argument and its `dropout_p` "
                               "ignores the module's mode, so attention dropout keeps firing after `.eval()`; "
                               "pass `dropout_p=... if self.training else 0.0`",
                               fix=fixes.gate_dropout_p(ctx, fn.node, rate))


RULES = [FunctionalDropoutAlwaysOn, DropoutConstructedInForward, AttentionDropoutAlwaysOn]
