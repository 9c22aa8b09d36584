"""DG501 / DG502: dropout written by hand with numpy, torch, jax or tensorflow tensors.

A hand-written dropout is recognised only by its full pattern: a random draw with a shape
(``np.random.rand(*h.shape)``, ``rng.random(size)``, ``torch.rand_like(h)``, ...) compared
with a probability, or a Bernoulli / binomial draw of keep probabilities
(``np.random.binomial(1, keep, size)``, ``torch.bernoulli(torch.full_like(h, keep))``,
``x.new_empty(shape).bernoulli_(keep)``, ``np.random.choice([0, 1], size, p=[drop, keep])``), whose result multiplies activations (``h * mask``,
``h *= mask``, ``torch.mul(h, mask)``, ``np.where(mask, h / keep, 0)``) or leaves layers out of
a Python list (``[l for l, drop in zip(layers, to_drop) if not drop]``, a mask drawn with
torch). Random numbers used
for anything else (augmentation, token masking, permutations, noise) are not dropout; nor is
a masked value multiplied by a fresh random draw (``g * (rng.random(n) < p) * rng.randn(n)``,
a hyperparameter evolution's mutation: sparse noise).

DG501 asks whether a training flag switches the mask off on the inference path; DG502 asks
whether kept activations are rescaled (inverted dropout, or scaling at inference).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field, replace
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from .. import knowledge as K
from ..context import FileContext
from ..semantic import ClassInfo, FunctionInfo, ModuleInfo, default_of, get_arg
from .base import Rule
from .keras import (DRAW_NAMES, GRADIENT_TAPES, ModuleIndex, _project_memo, ancestors, dotted, file_marks,
                    ident_tokens, last_name, module_index, project_modules, short, walk_scope)

# ------------------------------------------------------------------------------------------
# knowledge
# ------------------------------------------------------------------------------------------

# uniform draws: qualified name -> (position, keyword) of the shape argument; None: every
# positional argument is a dimension (``np.random.rand(3, 4)``, ``torch.rand(3, 4)``)
UNIFORM_DRAWS: Dict[str, Optional[Tuple[Optional[int], str]]] = {
    "numpy.random.rand": None, "numpy.random.random": (0, "size"), "numpy.random.random_sample": (0, "size"),
    "numpy.random.ranf": (0, "size"), "numpy.random.sample": (0, "size"), "numpy.random.uniform": (2, "size"),
    "torch.rand": None, "torch.rand_like": (0, "input"),
    "jax.random.uniform": (1, "shape"),
    "tensorflow.random.uniform": (0, "shape"), "tensorflow.random.stateless_uniform": (0, "shape"),
    "keras.random.uniform": (0, "shape"), "keras.src.random.uniform": (0, "shape"),
}
# methods of a numpy random generator (``rng = np.random.default_rng(0)``)
RNG_FACTORIES = frozenset({"numpy.random.default_rng", "numpy.random.RandomState", "numpy.random.Generator",
                           "numpy.random.mtrand.RandomState"})
RNG_UNIFORM_METHODS: Dict[str, Optional[Tuple[Optional[int], str]]] = {
    "random": (0, "size"), "random_sample": (0, "size"), "uniform": (2, "size"), "rand": None,
}
BINOMIAL_DRAWS = frozenset({"numpy.random.binomial"})
CHOICE_DRAWS = frozenset({"numpy.random.choice"})  # choice([0, 1], size, p=[drop, keep])
BERNOULLI_DRAWS = frozenset({"torch.bernoulli"})
JAX_BERNOULLI = frozenset({"jax.random.bernoulli"})
BERNOULLI_DISTRIBUTIONS = frozenset({"torch.distributions.Bernoulli", "torch.distributions.bernoulli.Bernoulli"})
# tensors filled with one probability: the argument of ``torch.bernoulli``
FILLED_TENSORS = {"torch.full_like": (1, "fill_value"), "torch.full": (1, "fill_value"),
                  "numpy.full_like": (1, "fill_value"), "numpy.full": (1, "fill_value")}
ONES_TENSORS = frozenset({"torch.ones_like", "torch.ones", "numpy.ones_like", "numpy.ones"})
# expressions that keep a mask a mask
MASK_CAST_METHODS = frozenset({"float", "double", "half", "bfloat16", "int", "long", "bool", "byte", "astype", "to",
                               "type", "type_as", "expand", "expand_as", "broadcast_to", "view", "view_as",
                               "reshape", "unsqueeze", "repeat", "detach", "clone", "cuda", "cpu", "numpy",
                               "contiguous", "squeeze", "tile", "permute", "transpose"})
MASK_CAST_FUNCS = frozenset({"numpy.asarray", "numpy.array", "numpy.broadcast_to", "numpy.float32", "numpy.float64",
                             "torch.as_tensor", "torch.broadcast_to", "torch.tensor", "jax.numpy.broadcast_to",
                             "jax.numpy.asarray", "tensorflow.cast", "tensorflow.broadcast_to",
                             "tensorflow.convert_to_tensor", "keras.ops.cast", "keras.ops.broadcast_to"})
MULTIPLY_FUNCS = frozenset({"torch.mul", "torch.multiply", "numpy.multiply", "jax.numpy.multiply",
                            "tensorflow.multiply", "tensorflow.math.multiply", "keras.ops.multiply"})
WHERE_FUNCS = frozenset({"numpy.where", "torch.where", "jax.numpy.where", "jax.lax.select", "tensorflow.where",
                         "keras.ops.where"})
ZERO_FUNCS = frozenset({"numpy.zeros_like", "torch.zeros_like", "jax.numpy.zeros_like", "tensorflow.zeros_like",
                        "keras.ops.zeros_like", "numpy.zeros", "torch.zeros", "jax.numpy.zeros"})
GRAD_FUNCS = frozenset({"torch.autograd.grad", "jax.grad", "jax.value_and_grad", "optax.apply_updates"})

# identifiers that name a training switch when tested
FLAG_TOKENS = frozenset({"train", "training", "deterministic", "inference", "infer", "eval", "evaluate",
                         "evaluation", "evaluating", "test", "testing", "predict", "predicting", "prediction", "phase",
                         "mode", "mc", "stochastic"})
PROB_TOKENS = frozenset({"p", "rate", "prob", "probs", "probability", "keep", "ratio", "q", "frac"})
SCALE_TOKENS = frozenset({"scale", "scaling", "scaled", "rescale", "keep", "retain", "inv", "factor", "multiplier",
                          "norm", "normalizer"})
_DIVIDE_METHODS = frozenset({"div", "div_", "true_divide"})  # a tensor divided by a method call
MC_TOKENS = frozenset({"mc", "monte", "montecarlo", "mcdropout", "mcd", "bayesian", "uncertainty"})
MC_PHRASES = ("monte carlo", "monte-carlo", "mc dropout", "mc-dropout", "mc_dropout", "uncertainty")
DATA_TOKENS = frozenset({"augment", "augmentation", "augmentations", "aug", "corrupt", "corrupted", "corruption",
                         "noise", "noisy", "perturb", "perturbation", "jitter", "cutout", "getitem", "collate",
                         "transform", "distort", "denoise", "denoising", "missing", "simulate", "synthetic",
                         "sparsify"})
TRAIN_TOKENS = frozenset({"train", "training", "fit", "backward", "backprop", "grad", "grads", "gradient",
                          "gradients", "sgd", "optimize", "update", "loss"})
INFERENCE_TOKENS = frozenset({"predict", "prediction", "eval", "evaluate", "evaluation", "test", "inference",
                              "infer", "val", "validate", "validation", "generate", "sample", "serve"})
PRIMITIVE_TOKENS = frozenset({"dropout", "drop", "dropconnect", "droppath", "zoneout", "dropblock"})
# Masked conditions, not activations: classifier-free guidance drops the class label (or the
# conditioning) of a sample to a null one, `class_labels * (torch.rand(...) >= p)`: no rescaling.
CONDITION_TOKENS = frozenset({"label", "labels", "class", "classes", "cls", "cond", "condition", "conditioning",
                              "conditions"})
OPT_TOKENS = frozenset({"opt", "optim", "optimizer", "optimiser", "solver"})
LR_TOKENS = frozenset({"lr", "learning", "eta", "alpha", "grad", "grads", "gradient", "dw", "db"})
FORWARD_METHODS = ("forward", "__call__", "call")
# probabilities computed per element: comparing a draw with them samples, it does not drop out
SAMPLING_PROBS = frozenset({"sigmoid", "softmax", "log_softmax", "exp", "softplus", "expit", "tanh"})
RANDOM_FILL_METHODS = frozenset({"normal_", "uniform_", "bernoulli_", "random_", "exponential_", "log_normal_",
                                 "cauchy_", "geometric_"})
RANDOM_PREFIXES = ("numpy.random.", "torch.rand", "torch.normal", "jax.random.", "tensorflow.random.",
                   "keras.random.", "random.")


# ------------------------------------------------------------------------------------------
# masks
# ------------------------------------------------------------------------------------------

@dataclass
class Mask:
    draw: ast.AST  # the expression that draws it
    keep: str  # keep probability, as the user would write it
    prob: List[ast.AST]  # expressions holding the probability
    scaled: bool = False
    guarded: bool = False
    defs: List[ast.AST] = field(default_factory=list)  # assignments that bind it
    dropped: bool = False  # read as a drop-mask (``where(drop, 0, x)``, ``masked_fill(drop, 0)``)
    def_scaled: List[bool] = field(default_factory=list)  # per binding in ``defs``: scaled there?
    inference_scaled: bool = False  # the same name is bound to ``1 - p`` on the other path
    keep_value: Optional[float] = None  # the keep probability when it is a literal

    def scaled_at(self, line: int) -> bool:
        """Scaled as bound by the last assignment before ``line`` (straight-line reading)."""
        if self.scaled or not self.defs:
            return self.scaled
        before = [(d.lineno, s) for d, s in zip(self.defs, self.def_scaled) if d.lineno <= line]
        return max(before)[1] if before else any(self.def_scaled)


def _const_num(node: Optional[ast.AST]) -> Optional[float]:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        v = _const_num(node.operand)
        return -v if v is not None else None
    return None


def _scalar_shape(args: Sequence[ast.AST]) -> bool:
    """``rand()``, ``rand(1)``, ``rand(())``: a single number, not a mask over activations."""
    if not args:
        return True
    if len(args) == 1:
        a = args[0]
        if isinstance(a, (ast.Tuple, ast.List)) and all(_const_num(e) == 1 for e in a.elts):
            return True
        if _const_num(a) == 1 or (isinstance(a, ast.Constant) and a.value is None):
            return True
    return False


def _module_rngs(mod: ModuleInfo) -> Set[str]:
    out = mod.memo.get("handwritten.rngs")
    if out is not None:
        return out
    out = mod.memo["handwritten.rngs"] = set()
    for node in mod.nodes:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
                and mod.resolve(node.value.func) in RNG_FACTORIES:
            out.update(d for t in node.targets for d in [dotted(t)] if d)
    return out


def _complement(keep: str) -> str:
    if keep.startswith("1 - (") and keep.endswith(")"):
        return keep[5:-1]
    if keep.startswith("1 - ") and "(" not in keep:
        return keep[4:]
    simple = keep.replace(".", "").replace("_", "").isalnum()
    return f"1 - {keep}" if simple else f"1 - ({keep})"


def _dropped(info: Mask) -> Mask:
    """The same draw read as a drop-mask: its keep probability is the complement."""
    return replace(info, keep=_complement(info.keep), dropped=True)


class Analyzer:
    """Hand-written dropout in one scope (a function, or module-level code)."""

    def __init__(self, ctx, idx: ModuleIndex, scope: ast.AST, light: bool = False):
        self.ctx, self.idx, self.scope = ctx, idx, scope  # ctx: a FileContext or a _ModuleView
        self.fi = idx.function(scope)
        self.nodes = list(walk_scope(scope))
        self.env: Dict[str, Mask] = {}
        self.rngs: Set[str] = set()
        if not light:  # light: only the flag / guard questions are asked
            self.rngs = self._rngs()
            self._build_env()

    # -- random generators ---------------------------------------------------------------
    def _rngs(self) -> Set[str]:
        """Names (``rng``, ``self.rng``) bound to a numpy random generator anywhere in the file."""
        return _module_rngs(self.idx.mod)

    # -- draws ---------------------------------------------------------------------------
    def _shape_ok(self, call: ast.Call, spec: Optional[Tuple[Optional[int], str]]) -> bool:
        if spec is None:
            pos_args = [a for a in call.args if not isinstance(a, ast.Starred)]
            if any(isinstance(a, ast.Starred) for a in call.args):
                return True
            size = get_arg(call, None, "size")
            return size is not None or not _scalar_shape(pos_args)
        shape = get_arg(call, spec[0], spec[1])
        if shape is None:
            return False
        return not _scalar_shape([shape])

    def uniform_draw(self, expr: ast.AST) -> Optional[ast.Call]:
        """A shaped uniform draw in [0, 1): ``np.random.rand(*h.shape)``, ``torch.rand_like(h)``."""
        expr = self._strip_casts(expr)
        if not isinstance(expr, ast.Call):
            return None
        qn = self.ctx.resolve(expr.func)
        if qn in UNIFORM_DRAWS:
            return expr if self._shape_ok(expr, UNIFORM_DRAWS[qn]) else None
        func = expr.func
        if isinstance(func, ast.Attribute):
            if dotted(func.value) in self.rngs and func.attr in RNG_UNIFORM_METHODS:
                return expr if self._shape_ok(expr, RNG_UNIFORM_METHODS[func.attr]) else None
            if func.attr == "uniform_" and qn is None and self._empty_tensor(func.value):
                return expr
        return None

    def _empty_tensor(self, expr: ast.AST) -> bool:
        if not isinstance(expr, ast.Call):
            return False
        qn = self.ctx.resolve(expr.func)
        if qn in ("torch.empty", "torch.empty_like", "torch.zeros_like", "torch.zeros", "torch.ones_like",
                  "torch.ones") or qn in K.TYPED_TENSOR_CONSTRUCTORS:  # the legacy ones too: `torch.FloatTensor(x.shape)`
            return True
        return isinstance(expr.func, ast.Attribute) and qn is None and expr.func.attr in (
            "new_empty", "new_zeros", "new_ones", "new_full", "new_tensor")

    def _strip_casts(self, expr: ast.AST) -> ast.AST:
        while isinstance(expr, ast.Call):
            if isinstance(expr.func, ast.Attribute) and expr.func.attr in MASK_CAST_METHODS \
                    and self.ctx.resolve(expr.func) is None:
                expr = expr.func.value
            elif self.ctx.resolve(expr.func) in MASK_CAST_FUNCS and expr.args:
                expr = expr.args[0]
            else:
                break
        return expr

    def _prob_like(self, expr: ast.AST, draw: ast.Call) -> bool:
        """The other side of the comparison: a probability, not a tensor of the draw's shape."""
        v = _const_num(expr)
        if v is not None:
            return 0.0 <= v <= 1.0
        for node in ast.walk(expr):
            if isinstance(node, ast.Call) and (self.uniform_draw(node) is not None):
                return False
        # ``rand_like(logits) <= sigmoid(logits)`` samples each unit with its own probability
        # (Bernoulli sampling of a tensor), which is not dropout: follow local assignments twice
        bindings = self.idx.bindings(self.scope)
        names: Set[str] = set()
        work, depth = [expr], 0
        while work and depth < 3:
            nxt: List[ast.AST] = []
            for e in work:
                for n in ast.walk(e):
                    if isinstance(n, (ast.Name, ast.Attribute)):
                        d = dotted(n)
                        if d and d not in names:
                            names.add(d)
                            if isinstance(n, ast.Name):
                                nxt += [v for v in bindings.get(n.id, []) if v is not None]
                    elif isinstance(n, ast.Call) and last_name(n.func) in SAMPLING_PROBS:
                        return False
            work, depth = nxt, depth + 1
        draw_names = {dotted(n) for a in draw.args for n in ast.walk(a) if isinstance(n, (ast.Name, ast.Attribute))}
        return not (names & draw_names)

    def _filled(self, expr: ast.AST, depth: int = 0) -> Optional[ast.AST]:
        """The probability a tensor is filled with: ``torch.full_like(x, keep)`` -> ``keep``."""
        if isinstance(expr, ast.Name) and depth < 2:
            values = self.idx.bindings(self.scope).get(expr.id, [])
            if len(values) == 1 and values[0] is not None:
                return self._filled(values[0], depth + 1)
            return None
        if isinstance(expr, ast.Call):
            qn = self.ctx.resolve(expr.func)
            if qn in FILLED_TENSORS:
                return get_arg(expr, *FILLED_TENSORS[qn])
            if isinstance(expr.func, ast.Attribute) and qn is None:
                if expr.func.attr == "new_full":
                    return get_arg(expr, 1, "fill_value")
                if expr.func.attr == "fill_" and self._empty_tensor(expr.func.value):
                    return get_arg(expr, 0, "value")
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Mult):
            for a, b in ((expr.left, expr.right), (expr.right, expr.left)):
                if isinstance(a, ast.Call) and self.ctx.resolve(a.func) in ONES_TENSORS:
                    return b
        return None

    def draw_mask(self, expr: ast.AST) -> Optional[Mask]:
        """A fresh random keep-mask."""
        if isinstance(expr, ast.Compare) and len(expr.ops) == 1:
            left, op, right = expr.left, expr.ops[0], expr.comparators[0]
            for draw_side, other, keep_if in ((left, right, (ast.Lt, ast.LtE)), (right, left, (ast.Gt, ast.GtE))):
                draw = self.uniform_draw(draw_side)
                if draw is not None and self._prob_like(other, draw):
                    src = short(self.ctx, other, 30)
                    c = _const_num(other)
                    if isinstance(op, keep_if):
                        keep, value = src, c
                    elif isinstance(op, (ast.Lt, ast.LtE, ast.Gt, ast.GtE)):
                        keep, value = _complement(src), (1.0 - c if c is not None else None)
                    else:
                        return None
                    return Mask(expr, keep, [other], keep_value=value)
            return None
        if not isinstance(expr, ast.Call):
            return None
        qn = self.ctx.resolve(expr.func)
        func = expr.func
        # binomial(1, keep, size)
        if qn in BINOMIAL_DRAWS or (isinstance(func, ast.Attribute) and func.attr == "binomial"
                                    and dotted(func.value) in self.rngs):
            n = get_arg(expr, 0, "n")
            p = get_arg(expr, 1, "p")
            size = get_arg(expr, 2, "size")
            if _const_num(n) == 1 and p is not None and size is not None and not _scalar_shape([size]):
                return Mask(expr, short(self.ctx, p, 30), [p], keep_value=_const_num(p))
            return None
        # choice([0, 1], size, p=[drop, keep]): a Bernoulli draw of the probability given to 1
        if qn in CHOICE_DRAWS or (isinstance(func, ast.Attribute) and func.attr == "choice"
                                  and dotted(func.value) in self.rngs):
            return self._choice_mask(expr)
        if qn in BERNOULLI_DRAWS:
            probs = get_arg(expr, 0, "input")
            keep = self._filled(probs) if probs is not None else None
            if keep is not None:
                return Mask(expr, short(self.ctx, keep, 30), [keep])
            return None
        if qn in JAX_BERNOULLI:
            p = get_arg(expr, 1, "p")
            shape = get_arg(expr, 2, "shape")
            if p is not None and shape is not None:
                return Mask(expr, short(self.ctx, p, 30), [p])
            return None
        if isinstance(func, ast.Attribute) and qn is None:
            if func.attr in ("bernoulli_", "bernoulli") and expr.args and self._empty_tensor(func.value):
                p = get_arg(expr, 0, "p")
                if p is not None:
                    return Mask(expr, short(self.ctx, p, 30), [p])
            if func.attr == "sample" and isinstance(func.value, ast.Call) \
                    and self.ctx.resolve(func.value.func) in BERNOULLI_DISTRIBUTIONS and expr.args:
                p = get_arg(func.value, 0, "probs")
                if p is not None and not _scalar_shape(expr.args):
                    return Mask(expr, short(self.ctx, p, 30), [p])
        return None

    def _choice_mask(self, expr: ast.Call) -> Optional[Mask]:
        a = get_arg(expr, 0, "a")
        size = get_arg(expr, 1, "size")
        probs = get_arg(expr, 3, "p")
        if a is None or size is None or _scalar_shape([size]) or not isinstance(probs, (ast.List, ast.Tuple)) \
                or len(probs.elts) != 2:
            return None
        if _const_num(a) == 2:
            values = [0.0, 1.0]
        elif isinstance(a, (ast.List, ast.Tuple)) and len(a.elts) == 2:
            values = [_const_num(e) for e in a.elts]
        else:
            return None
        if sorted(v for v in values if v is not None) != [0.0, 1.0]:
            return None
        keep = probs.elts[values.index(1.0)]
        return Mask(expr, short(self.ctx, keep, 30), [keep], keep_value=_const_num(keep))

    # -- environment ---------------------------------------------------------------------
    def _assignments(self) -> List[Tuple[str, ast.expr, ast.AST]]:
        out = []
        for node in self.nodes:
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    name = dotted(t)
                    if name:
                        out.append((name, node.value, node))
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                name = dotted(node.target)
                if name:
                    out.append((name, node.value, node))
            elif isinstance(node, ast.NamedExpr):
                out.append((node.target.id, node.value, node))
        return out

    def _build_env(self) -> None:
        assigns = self._assignments()
        for _ in range(4):
            changed = False
            for name, value, node in assigns:
                info = self.mask_of(value)
                if info is None:
                    continue
                cur = self.env.get(name)
                if cur is None:
                    self.env[name] = Mask(info.draw, info.keep, info.prob, False, info.guarded, [node],
                                          def_scaled=[info.scaled_at(node.lineno)])
                    changed = True
                elif node not in cur.defs:
                    cur.defs.append(node)
                    cur.def_scaled.append(info.scaled_at(node.lineno))
                    cur.guarded = cur.guarded or info.guarded
                    changed = True
            if not changed:
                break
        for name, value, node in assigns:  # ``c = 1 - p`` / ``if training: c = mask`` / ``x * c``
            info = self.env.get(name)
            if info is not None and node not in info.defs and self.scale_like(value, info):
                info.inference_scaled = True
        for node in self.nodes:  # ``mask.div_(keep_prob)`` / ``mask /= keep``: scaled in place
            name, factor, div = None, None, False
            if isinstance(node, ast.AugAssign) and isinstance(node.op, (ast.Div, ast.Mult)):
                name, factor, div = dotted(node.target), node.value, isinstance(node.op, ast.Div)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args \
                    and node.func.attr in ("div_", "mul_"):
                name, factor, div = dotted(node.func.value), node.args[0], node.func.attr == "div_"
            info = self.env.get(name) if name else None
            if info is not None and factor is not None and (div or self.scale_like(factor, info)):
                info.scaled = True

    def mask_of(self, expr: ast.AST) -> Optional[Mask]:
        """The mask an expression evaluates to (a draw, or derived from one), or None."""
        fresh = self.draw_mask(expr)
        if fresh is not None:
            return fresh
        name = dotted(expr)
        if name is not None:
            return self.env.get(name)
        if isinstance(expr, ast.Subscript):
            return self.mask_of(expr.value)
        if isinstance(expr, ast.Call):
            stripped = self._strip_casts(expr)
            if stripped is not expr:
                return self.mask_of(stripped)
            return None
        complement = self._complement_of(expr)
        if complement is not None:  # ``1 - drop`` / ``~drop``: the keep-mask of a drop-mask
            return replace(complement, keep=_complement(complement.keep), dropped=not complement.dropped)
        if isinstance(expr, ast.IfExp):
            info = self.mask_of(expr.body) or self.mask_of(expr.orelse)
            if info is not None and self.is_flag_test(expr.test):
                info = replace(info, guarded=True)
            return info
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, (ast.Mult, ast.Div)):
            left = self.mask_of(expr.left)
            right = self.mask_of(expr.right) if isinstance(expr.op, ast.Mult) else None
            if (left is None) == (right is None):
                return None
            info = left or right
            other = expr.right if left is not None else expr.left
            if _const_num(other) == 1:
                return info
            if isinstance(expr.op, ast.Div) or self.scale_like(other, info):
                return replace(info, scaled=True)
            return None
        return None

    def _complement_of(self, expr: ast.AST) -> Optional[Mask]:
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Sub) and _const_num(expr.left) == 1:
            return self.mask_of(expr.right)
        if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, (ast.Invert, ast.Not)):
            return self.mask_of(expr.operand)
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and not expr.args \
                and expr.func.attr in ("logical_not", "logical_not_") and self.ctx.resolve(expr.func) is None:
            return self.mask_of(expr.func.value)
        if isinstance(expr, ast.Call) and self.ctx.resolve(expr.func) in (
                "numpy.logical_not", "torch.logical_not", "jax.numpy.logical_not") and expr.args:
            return self.mask_of(expr.args[0])
        return None

    # -- scaling -------------------------------------------------------------------------
    def prob_names(self, info: Mask) -> Set[str]:
        names: Set[str] = set()
        for p in info.prob:
            for n in ast.walk(p):
                d = dotted(n) if isinstance(n, (ast.Name, ast.Attribute)) else None
                if d:
                    names.add(d)
        for n in list(names):
            if "." not in n:
                for v in self.idx.bindings(self.scope).get(n, []):
                    if v is not None:
                        names |= {d for m in ast.walk(v) if isinstance(m, (ast.Name, ast.Attribute))
                                  for d in [dotted(m)] if d}
        return names

    def scale_like(self, expr: ast.AST, info: Optional[Mask]) -> bool:
        """A rescaling factor: ``1 / (1 - p)``, ``scale``, ``self.keep_prob``, ``2.0`` (nothing else in it)."""
        v = _const_num(expr)
        if v is not None:
            return v not in (0.0, 1.0)
        if self.mask_of(expr) is not None:
            return False
        names = self.prob_names(info) if info is not None else set()
        found = [False]

        def ok(e: ast.AST) -> bool:
            if isinstance(e, ast.BinOp):
                return ok(e.left) and ok(e.right)
            if isinstance(e, ast.UnaryOp):
                return ok(e.operand)
            if isinstance(e, ast.Constant):
                return isinstance(e.value, (int, float))
            if isinstance(e, (ast.Name, ast.Attribute)):
                d = dotted(e)
                if (d and d in names) or ident_tokens(last_name(e) or "") & SCALE_TOKENS:
                    found[0] = True
                    return True
                return False
            if isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and e.func.id in ("float", "int") \
                    and len(e.args) == 1:
                return ok(e.args[0])
            return False

        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Div) and _const_num(expr.left) is not None \
                and ok(expr.right):
            return True
        return ok(expr) and found[0]

    # -- flags ---------------------------------------------------------------------------
    def is_flag_test(self, test: ast.AST) -> bool:
        params = set(self.fi.param_names()) if self.fi else set()
        bare: List[ast.AST] = []

        def collect(e: ast.AST) -> None:
            if isinstance(e, ast.BoolOp):
                for v in e.values:
                    collect(v)
            elif isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.Not):
                collect(e.operand)
            elif isinstance(e, ast.Compare) and len(e.ops) == 1 \
                    and isinstance(e.ops[0], (ast.Is, ast.IsNot, ast.Eq, ast.NotEq)) \
                    and isinstance(e.comparators[0], ast.Constant) and isinstance(e.comparators[0].value, bool):
                collect(e.left)
            else:
                bare.append(e)

        collect(test)
        stuck = [e for e in bare if isinstance(e, ast.Attribute) and isinstance(e.value, ast.Name)
                 and e.value.id == "self" and self._stuck_flag(e.attr)]
        skip = {id(x) for e in stuck for x in (e, e.value)}  # `self.is_training`, set once to True: not a switch
        for e in bare:
            if id(e) in skip:
                continue
            if isinstance(e, (ast.Name, ast.Attribute)):
                ident = last_name(e)
                toks = ident_tokens(ident or "")
                if toks & PROB_TOKENS:
                    continue
                if isinstance(e, ast.Name) and e.id in params:
                    return True
                if isinstance(e, ast.Attribute) and isinstance(e.value, ast.Name) and e.value.id == "self":
                    return True
                if toks & (PRIMITIVE_TOKENS | {"use", "apply", "enable", "enabled", "active"}):
                    return True
        for node in ast.walk(test):
            ident = None
            if id(node) in skip:
                continue
            if isinstance(node, (ast.Name, ast.Attribute)):
                ident = last_name(node)
            elif isinstance(node, ast.Call):
                if self.ctx.resolve(node.func) in ("torch.is_grad_enabled", "torch.is_inference_mode_enabled"):
                    return True
                ident = last_name(node.func)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                ident = node.value
            if ident and ident_tokens(ident) & FLAG_TOKENS:
                return True
        return False

    def _stuck_flag(self, attr: str) -> bool:
        """``self.<attr>`` of the enclosing class never changes from True: only its
        ``__init__`` sets it, to ``True`` or to a parameter defaulting to ``True`` that no
        construction of the class (by its name, anywhere in the project) passes, and no code
        sets that attribute on another object (``model.is_training = False``). ``eval()``
        does not touch it, so a mask it guards is applied at inference too."""
        ci = self.fi.cls if self.fi is not None else None
        init = ci.methods.get("__init__") if ci is not None and attr != "training" else None
        if init is None:
            return False
        memo = _project_memo(self.ctx).setdefault("handwritten.stuck_flags", {})
        key = (ci.qualname, attr)
        if key not in memo:
            memo[key] = self._never_cleared(ci, init, attr)
        return memo[key]

    def _never_cleared(self, ci: ClassInfo, init: FunctionInfo, attr: str) -> bool:
        """``_stuck_flag`` without its memo."""
        values = []
        for fn in ci.methods.values():
            me = (fn.positional_params() or ["self"])[0]
            for n in ast.walk(fn.node):
                targets = n.targets if isinstance(n, ast.Assign) else [n.target] \
                    if isinstance(n, (ast.AugAssign, ast.AnnAssign)) else []
                if any(isinstance(t, ast.Attribute) and t.attr == attr and isinstance(t.value, ast.Name)
                       and t.value.id == me for t in targets):
                    if fn is not init or not isinstance(n, ast.Assign) or n.value is None:
                        return False
                    values.append(n.value)
        if not values:
            return False
        init_params = init.positional_params()[1:]
        passed = set()
        for m in project_modules(self.ctx).values():
            for n in m.nodes:
                if isinstance(n, ast.Attribute) and n.attr == attr and isinstance(n.ctx, ast.Store) and not (
                        isinstance(n.value, ast.Name) and n.value.id == "self"):
                    return False  # `model.is_training = False`
                if isinstance(n, ast.Call) and last_name(n.func) in ("setattr", ci.name):
                    if last_name(n.func) == "setattr":
                        return False
                    passed |= {k.arg for k in n.keywords} | set(init_params[:len(n.args)])
                    if any(k.arg is None for k in n.keywords) or any(isinstance(a, ast.Starred) for a in n.args):
                        return False
        for v in values:
            if isinstance(v, ast.Constant) and v.value is True:
                continue
            if isinstance(v, ast.Name) and v.id in init_params and v.id not in passed:
                default = default_of(init.node, v.id)
                if isinstance(default, ast.Constant) and default.value is True:
                    continue
            return False
        return True

    def _flagged_arg(self, call: ast.Call) -> bool:
        for a in list(call.args) + [k.value for k in call.keywords]:
            if isinstance(a, (ast.Name, ast.Attribute)) and ident_tokens(last_name(a) or "") & FLAG_TOKENS:
                return True
            if isinstance(a, ast.IfExp) and self.is_flag_test(a.test):
                return True
        for k in call.keywords:
            if k.arg and ident_tokens(k.arg) & FLAG_TOKENS:
                return True
        return False

    def guarded(self, node: ast.AST, extra_names: Iterable[str] = ()) -> bool:
        """Whether a training flag decides if ``node`` runs (or if its result is used)."""
        pmap = self.ctx.module.parents()
        prev = node
        for anc in ancestors(node, pmap, stop=self.scope):
            if anc is self.scope:
                break
            if isinstance(anc, (ast.If, ast.IfExp, ast.While)) and prev is not anc.test and self.is_flag_test(anc.test):
                return True
            if isinstance(anc, ast.BoolOp) and any(self.is_flag_test(v) for v in anc.values if v is not prev):
                return True
            if isinstance(anc, ast.Call) and prev is not anc.func and self._flagged_arg(anc):
                return True
            prev = anc
        line = getattr(node, "lineno", 0)
        for n in self.nodes:
            # an early exit: ``if not training: return x`` before the mask
            if isinstance(n, ast.If) and n.lineno < line and self.is_flag_test(n.test) and any(
                    isinstance(s, (ast.Return, ast.Raise)) for b in (n.body, n.orelse) for st in b
                    for s in walk_scope(st)):
                if not any(a is n for a in ancestors(node, pmap, stop=self.scope)):
                    return True
        names = set(extra_names)
        if names:
            for n in self.nodes:
                if isinstance(n, (ast.Name, ast.Attribute)) and isinstance(n.ctx, ast.Load) and dotted(n) in names \
                        and getattr(n, "lineno", 0) > line:
                    if self._use_guarded(n, pmap):
                        return True
        return False

    def _use_guarded(self, use: ast.AST, pmap: Dict[int, ast.AST]) -> bool:
        prev = use
        for anc in ancestors(use, pmap, stop=self.scope):
            if anc is self.scope:
                break
            if isinstance(anc, (ast.If, ast.IfExp)) and prev is not anc.test and self.is_flag_test(anc.test):
                return True
            if isinstance(anc, ast.Call) and prev is not anc.func and self._flagged_arg(anc):
                return True
            prev = anc
        return False

    # -- masking expressions -------------------------------------------------------------
    def activation(self, expr: ast.AST, info: Mask) -> bool:
        if _const_num(expr) is not None or isinstance(expr, ast.Constant):
            return False
        if self.mask_of(expr) is not None or self.scale_like(expr, info):
            return False
        return not self.synthetic(expr)

    def _random_call(self, call: ast.Call) -> bool:
        qn = self.ctx.resolve(call.func)
        if qn and qn.startswith(RANDOM_PREFIXES):
            return True
        if isinstance(call.func, ast.Attribute) and qn is None and call.func.attr in RANDOM_FILL_METHODS:
            return True  # ``torch.empty_like(x).normal_()``
        return isinstance(call.func, ast.Attribute) and dotted(call.func.value) in self.rngs

    def synthetic(self, expr: ast.AST, depth: int = 0) -> bool:
        """Random test data (``(4 * rng.standard_normal(shape)).astype(dt)``), not activations."""
        kinds: Set[str] = set()

        def leaves(e: ast.AST) -> None:
            if isinstance(e, ast.BinOp):
                leaves(e.left)
                leaves(e.right)
            elif isinstance(e, ast.UnaryOp):
                leaves(e.operand)
            elif isinstance(e, ast.Constant):
                kinds.add("const")
            elif isinstance(e, ast.Call):
                if self._random_call(e):
                    kinds.add("random")
                    return
                stripped = self._strip_casts(e)
                if stripped is not e:
                    leaves(stripped)
                else:
                    kinds.add("other")
            elif isinstance(e, ast.Name) and depth < 2:
                before = [n for n in self.nodes if isinstance(n, ast.Assign) and n.lineno < expr_line
                          and any(isinstance(t, ast.Name) and t.id == e.id for t in n.targets)]
                if before:
                    last = max(before, key=lambda n: n.lineno)
                    kinds.add("random" if self.synthetic(last.value, depth + 1) else "other")
                else:
                    kinds.add("other")
            else:
                kinds.add("other")

        expr_line = getattr(expr, "lineno", 0)
        leaves(expr)
        return kinds == {"random"} or kinds == {"random", "const"}

    def maskings(self) -> List[Tuple[ast.AST, Mask, ast.AST, bool, List[str]]]:
        """(report node, mask, activation expr, scaled on the spot, names bound to the result)."""
        out = []
        pmap: Optional[Dict[int, ast.AST]] = None  # the file's parent map, built at the first hit that needs it
        seen: Set[int] = set()
        for node in self.nodes:
            hit: Optional[Tuple[ast.AST, Mask, ast.AST]] = None
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
                for m, a in ((node.left, node.right), (node.right, node.left)):
                    info = self.mask_of(m)
                    if info is not None and self.mask_of(a) is None and self.activation(a, info):
                        hit = (node, info, a)
                        break
            elif isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Mult):
                info = self.mask_of(node.value)
                if info is not None and self.mask_of(node.target) is None and self.activation(node.target, info):
                    hit = (node, info, node.target)
            elif isinstance(node, ast.Call):
                hit = self._masking_call(node)
            elif isinstance(node, (ast.ListComp, ast.GeneratorExp)):
                hit = self._dropped_items(node)
            if hit is None:
                continue
            top, info, act = hit
            if pmap is None:
                pmap = self.ctx.module.parents()
            # layers left out of a list (LayerDrop) are not rescaled: only the always-on question
            scaled = isinstance(top, (ast.ListComp, ast.GeneratorExp)) or info.scaled_at(top.lineno) \
                or self.pre_scaled(act, top.lineno, info)
            noise = False  # the masked values times a fresh random draw: sparse noise, not dropout
            if isinstance(top, ast.BinOp):
                cur = top
                while True:
                    par = pmap.get(id(cur))
                    if isinstance(par, ast.BinOp) and isinstance(par.op, (ast.Mult, ast.Div)) and (
                            par.left is cur or isinstance(par.op, ast.Mult)):
                        other = par.right if par.left is cur else par.left
                        if isinstance(par.op, ast.Div) or self.scale_like(other, info):
                            scaled = True
                        elif isinstance(other, ast.Call) and self._random_call(other) and self.mask_of(other) is None:
                            noise = True  # `g * (rng.random(n) < p) * rng.randn(n)`: a mutation's perturbation
                        cur = par
                        continue
                    if isinstance(par, ast.Call) and isinstance(par.func, ast.Attribute) and par.func.value is cur \
                            and par.func.attr in ("div", "div_", "true_divide", "__truediv__"):
                        scaled = True
                        cur = par
                        continue
                    break
                top = cur
            elif isinstance(top, ast.Call) and self.ctx.resolve(top.func) in WHERE_FUNCS:
                kept = top.args[2] if info.dropped else top.args[1]
                if any(isinstance(n, ast.BinOp) and (isinstance(n.op, ast.Div) or (
                        isinstance(n.op, ast.Mult)
                        and (self.scale_like(n.left, info) or self.scale_like(n.right, info))))
                       for n in ast.walk(kept)):
                    scaled = True
            if noise or id(top) in seen:
                continue
            seen.add(id(top))
            result: List[str] = []
            holder: Optional[ast.AST] = top
            while holder is not None and not isinstance(holder, ast.stmt):
                holder = pmap.get(id(holder))
            if isinstance(top, ast.AugAssign):
                result = [dotted(top.target) or ""]
            elif isinstance(holder, (ast.Assign, ast.AnnAssign)):
                targets = holder.targets if isinstance(holder, ast.Assign) else [holder.target]
                result = [d for t in targets for d in [dotted(t)] if d]
            out.append((top, info, act, scaled, [r for r in result if r]))
        return self._without_blends(out, pmap) if pmap is not None else out

    def _dropped_items(self, node: ast.AST) -> Optional[Tuple[ast.AST, Mask, ast.AST]]:
        """Layer dropout over a Python list (LayerDrop, vit-pytorch's ``dropout_layers``):
        ``[layer for layer, drop in zip(layers, to_drop) if not drop]`` where ``to_drop`` is a
        random mask (``torch.zeros(n).uniform_(0, 1) < p``): (the comprehension, the mask, the
        list whose items it drops)."""
        if len(node.generators) != 1:
            return None
        gen = node.generators[0]
        it, target = gen.iter, gen.target
        if not (gen.ifs and isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "zip"
                and len(it.args) == 2 and isinstance(target, ast.Tuple) and len(target.elts) == 2):
            return None
        tested = {n.id for t in gen.ifs for n in ast.walk(t) if isinstance(n, ast.Name)}
        for i, arg in enumerate(it.args):
            elt = target.elts[i]
            if isinstance(elt, ast.Name) and elt.id in tested and not isinstance(it.args[1 - i], ast.Call):
                info = self.mask_of(arg)
                if info is not None and self._torch_draw(info.draw):
                    return node, info, it.args[1 - i]
        return None

    def _torch_draw(self, draw: ast.AST) -> bool:
        """The mask is drawn with torch (``torch.rand(n)``, ``torch.zeros(n).uniform_()``): a
        model's layers, not a dataset's samples split at random with numpy."""
        for n in ast.walk(draw):
            if isinstance(n, ast.Call):
                q = self.ctx.resolve(n.func)
                if (q or "").startswith("torch.") or (q is None and isinstance(n.func, ast.Attribute)
                                                       and n.func.attr in ("uniform_", "bernoulli_")):
                    return True
        return False

    def _without_blends(self, hits: list, pmap: Dict[int, ast.AST]) -> list:
        """``x * (1 - m) + token * m`` (masked-token replacement, MAE / BERT style; random
        tokens in taming-transformers' ``mask * z + (1 - mask) * r``) is a blend of two values
        by one mask, not dropout: drop both halves (the other half need not be a masking of
        activations itself: it only has to read the same mask)."""
        blended: Set[int] = set()
        by_node = {id(h[0]): h for h in hits}
        for h in hits:
            par = pmap.get(id(h[0]))
            if isinstance(par, ast.BinOp) and isinstance(par.op, (ast.Add, ast.Sub)):
                other = par.right if par.left is h[0] else par.left
                for n in ast.walk(other):
                    twin = by_node.get(id(n))
                    if twin is not None and twin[1].draw is h[1].draw:
                        blended |= {id(h[0]), id(twin[0])}
                    elif isinstance(n, ast.BinOp) and isinstance(n.op, ast.Mult) and any(
                            (info := self.mask_of(x)) is not None and info.draw is h[1].draw
                            for x in ast.walk(n)):
                        blended.add(id(h[0]))
        return [h for h in hits if id(h[0]) not in blended]

    def pre_scaled(self, act: ast.AST, line: int, info: Mask) -> bool:
        """``x = x / (1 - rate)`` (or ``x /= keep``, ``x.div_(keep)``) just before ``x * mask``;
        or the masked value is itself the division (``x.div_(keep).mul_(mask)``)."""
        if self._divided(act, info):
            return True
        name = dotted(act)
        if name is None:
            return False
        last: Optional[ast.AST] = None
        for n in self.nodes:
            if isinstance(n, (ast.Assign, ast.AugAssign)) and n.lineno < line:
                targets = n.targets if isinstance(n, ast.Assign) else [n.target]
                if any(dotted(t) == name for t in targets) and (last is None or n.lineno > last.lineno):
                    last = n
            elif isinstance(n, ast.Expr) and n.lineno < line and isinstance(n.value, ast.Call) \
                    and isinstance(n.value.func, ast.Attribute) and dotted(n.value.func.value) == name \
                    and n.value.func.attr.endswith("_") and (last is None or n.lineno > last.lineno):
                last = n.value  # `x.div_(keep)` as a statement: in place
        if isinstance(last, ast.Call):
            return self._divided(last, info)
        if isinstance(last, ast.AugAssign):
            return isinstance(last.op, ast.Div) or (isinstance(last.op, ast.Mult) and self.scale_like(last.value, info))
        if isinstance(last, ast.Assign) and isinstance(last.value, ast.BinOp):
            v = last.value
            return isinstance(v.op, ast.Div) or (isinstance(v.op, ast.Mult) and (
                self.scale_like(v.left, info) or self.scale_like(v.right, info)))
        return False

    def _divided(self, expr: ast.AST, info: Mask) -> bool:
        """``x.div(keep)``, ``x.div_(keep)``, ``x.mul_(1 / keep)``: a value scaled by a method call."""
        if not (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.args):
            return False
        attr = expr.func.attr
        return attr in _DIVIDE_METHODS or (
            attr in ("mul", "mul_") and self.scale_like(expr.args[0], info))

    def _masking_call(self, call: ast.Call) -> Optional[Tuple[ast.AST, Mask, ast.AST]]:
        qn = self.ctx.resolve(call.func)
        if qn in MULTIPLY_FUNCS and len(call.args) >= 2:
            for m, a in ((call.args[1], call.args[0]), (call.args[0], call.args[1])):
                info = self.mask_of(m)
                if info is not None and self.activation(a, info):
                    return call, info, a
            return None
        if qn in WHERE_FUNCS and len(call.args) == 3:
            info = self.mask_of(call.args[0])
            if info is not None and self.activation(call.args[1], info) and self._zero(call.args[2]):
                return call, info, call.args[1]
            if info is not None and self._zero(call.args[1]) and self.activation(call.args[2], info):
                return call, _dropped(info), call.args[2]  # ``where(drop, 0, x)``: the mask marks dropped units
            return None
        if qn is None and isinstance(call.func, ast.Attribute) and call.args:
            attr = call.func.attr
            if attr in ("mul", "mul_", "multiply"):
                info = self.mask_of(call.args[0])
                if info is not None and self.activation(call.func.value, info):
                    return call, info, call.func.value
            if attr in ("masked_fill", "masked_fill_") and len(call.args) >= 2 and _const_num(call.args[1]) == 0:
                m = call.args[0]
                if isinstance(m, ast.UnaryOp) and isinstance(m.op, (ast.Invert, ast.Not)):
                    m = m.operand
                info = self.mask_of(m)
                if info is not None and self.activation(call.func.value, info):
                    return call, (info if m is not call.args[0] else _dropped(info)), call.func.value
        return None

    def _zero(self, expr: ast.AST) -> bool:
        if _const_num(expr) == 0:
            return True
        return isinstance(expr, ast.Call) and self.ctx.resolve(expr.func) in ZERO_FUNCS

    def later_scaled(self, names: Sequence[str], after: int, info: Mask) -> bool:
        """``out = h * mask`` followed by ``out /= keep`` / ``return out / keep``."""
        if not names:
            return False
        for n in self.nodes:
            if getattr(n, "lineno", 0) < after:
                continue
            if isinstance(n, ast.AugAssign) and dotted(n.target) in names and (
                    isinstance(n.op, ast.Div) or (isinstance(n.op, ast.Mult) and self.scale_like(n.value, info))):
                return True
            if isinstance(n, ast.BinOp) and dotted(n.left) in names and (
                    isinstance(n.op, ast.Div) or (isinstance(n.op, ast.Mult) and self.scale_like(n.right, info))):
                return True
            if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Mult) and dotted(n.right) in names \
                    and self.scale_like(n.left, info):
                return True
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and dotted(n.func.value) in names \
                    and n.func.attr in _DIVIDE_METHODS:
                return True
        return False


# ------------------------------------------------------------------------------------------
# who runs a function: training only, deliberately, or also at inference?
# ------------------------------------------------------------------------------------------

def _docstring(node: ast.AST) -> str:
    try:
        return (ast.get_docstring(node) or "").lower()  # type: ignore[arg-type]
    except TypeError:
        return ""


def _name_chain(idx: ModuleIndex, fi: FunctionInfo) -> List[ast.AST]:
    """The function, its enclosing functions and its class."""
    out: List[ast.AST] = [fi.node]
    cur = idx.enclosing.get(id(fi.node))
    cls = fi.cls
    while cur is not None:
        out.append(cur.node)
        cls = cls or cur.cls
        cur = idx.enclosing.get(id(cur.node))
    if cls is not None:
        out.append(cls.node)
    return out


def is_monte_carlo(idx: ModuleIndex, fi: FunctionInfo) -> bool:
    for node in _name_chain(idx, fi):
        if ident_tokens(node.name) & MC_TOKENS:  # type: ignore[attr-defined]
            return True
        doc = _docstring(node)
        if any(p in doc for p in MC_PHRASES):
            return True
    for p in fi.param_names():
        if ident_tokens(p) & MC_TOKENS:
            return True
    return False


def is_data_side(idx: ModuleIndex, fi: FunctionInfo) -> bool:
    """Data corruption or augmentation (deliberate), or test code (a reference computation)."""
    for node in _name_chain(idx, fi):
        name = node.name  # type: ignore[attr-defined]
        if ident_tokens(name) & DATA_TOKENS:
            return True
        if isinstance(node, ast.ClassDef) and (name.startswith("Test") or name.endswith(("Test", "TestCase"))):
            return True
        if not isinstance(node, ast.ClassDef) and name.startswith("test"):
            return True
    return False


def _training_name(name: str) -> bool:
    toks = ident_tokens(name)
    return bool(toks & TRAIN_TOKENS) and not (toks & INFERENCE_TOKENS)


def has_training_ops(ctx_resolve, nodes: Iterable[ast.AST]) -> bool:
    """Backward passes, gradient tapes, optimizer steps or hand-written SGD updates."""
    for n in nodes:
        if isinstance(n, ast.Call):
            f = n.func
            qn = ctx_resolve(f)
            if qn in GRAD_FUNCS or qn in GRADIENT_TAPES:
                return True
            if isinstance(f, ast.Attribute):
                if f.attr in ("backward", "apply_gradients", "minimize", "gradient", "apply_updates"):
                    return True
                if f.attr in ("step", "update", "apply") and ident_tokens(last_name(f.value) or "") & OPT_TOKENS:
                    return True
            elif isinstance(f, ast.Name) and ident_tokens(f.id) & {"backward", "backprop"}:
                return True
        elif isinstance(n, ast.AugAssign) and isinstance(n.op, ast.Sub):
            for m in ast.walk(n.value):  # ``W -= lr * dW`` / ``W -= 0.1 * grad``: a hand-written gradient step
                if isinstance(m, ast.BinOp) and isinstance(m.op, ast.Mult) and any(
                        isinstance(o, ast.Constant) and isinstance(o.value, float) for o in (m.left, m.right)):
                    return True
                ident = last_name(m) if isinstance(m, (ast.Name, ast.Attribute)) else None
                if ident and (ident_tokens(ident) & LR_TOKENS or (len(ident) > 1 and ident[0] == "d"
                                                                  and (ident[1].isupper() or ident[1] == "_"))):
                    return True
    return False


class Reach:
    """Decides whether code runs only in training / deliberately, or also on an inference path."""

    MAX_DEPTH = 6

    def __init__(self, ctx: FileContext):
        self.ctx = ctx
        self.modules = project_modules(ctx)
        self._memo: Dict[str, Tuple[bool, str]] = {}

    def deliberate(self, idx: ModuleIndex, fi: FunctionInfo) -> bool:
        if is_monte_carlo(idx, fi) or is_data_side(idx, fi):
            return True
        if any(_training_name(node.name) for node in _name_chain(idx, fi)[:1]):  # type: ignore[attr-defined]
            return True
        return has_training_ops(idx.mod.resolve, walk_scope(fi.node))

    def site_safe(self, idx: ModuleIndex, call: ast.Call, scope: ast.AST, depth: int,
                  seen: Set[str]) -> Tuple[bool, str]:
        """(whether this call runs only in training or deliberately, a description otherwise)."""
        an = Analyzer(_ModuleView(idx.mod), idx, scope, light=True)
        if an._flagged_arg(call) or an.guarded(call):
            return True, ""
        pmap = idx.mod.parents()
        for anc in ancestors(call, pmap, stop=scope):
            if isinstance(anc, (ast.With, ast.AsyncWith)) and any(
                    isinstance(i.context_expr, ast.Call) and idx.mod.resolve(i.context_expr.func) in GRADIENT_TAPES
                    for i in anc.items):
                return True, ""
            if isinstance(anc, (ast.For, ast.While, ast.AsyncFor)) and has_training_ops(
                    idx.mod.resolve, (n for st in anc.body for n in walk_scope(st))):
                return True, ""
            if anc is scope:
                break
        fi = idx.function(scope)
        if fi is None:
            if _demo_input(idx.mod, call, scope):
                return True, ""  # `dropout(X, 0.5)` on `X = torch.arange(16).view(2, 8)`: shows what it does
            return False, "module-level code"
        if self.deliberate(idx, fi):
            return True, ""
        safe, why = self.function_safe(idx, fi, depth + 1, seen)
        return safe, (why if not safe else "")

    def function_safe(self, idx: ModuleIndex, fi: FunctionInfo, depth: int, seen: Set[str]) -> Tuple[bool, str]:
        """Whether every caller of ``fi`` runs it only in training (or deliberately)."""
        key = f"{idx.mod.path}:{fi.qualname}"
        if key in self._memo:
            return self._memo[key]
        if key in seen or depth > self.MAX_DEPTH:
            return True, ""
        seen = seen | {key}
        sites = self.call_sites(idx, fi)
        if sites is None:  # referenced in a way the analysis cannot follow (callback, jit, grad)
            result = (True, "")
        elif not sites:
            result = (False, f"nothing calls `{fi.name}` only while training")
        else:
            result = (True, "")
            for sidx, call, scope in sites:
                ok, why = self.site_safe(sidx, call, scope, depth, seen)
                if not ok:
                    caller = sidx.function(scope)
                    where = f"`{caller.name}`" if caller else "module-level code"
                    reason = f"`{fi.name}` is called from {where}"
                    if caller is not None and why.startswith(f"`{caller.name}` is called from "):
                        reason += ", which is called from " + why[len(f"`{caller.name}` is called from "):]
                    result = (False, reason)
                    break
        self._memo[key] = result
        return result

    def call_sites(self, idx: ModuleIndex, fi: FunctionInfo) -> Optional[List[Tuple[ModuleIndex, ast.Call, ast.AST]]]:
        """Visible calls of ``fi``; None when it is also referenced without being called."""
        out: List[Tuple[ModuleIndex, ast.Call, ast.AST]] = []
        for key in idx.function_keys(fi):
            if key[0] != "name" and idx.referenced(key):
                return None
        if fi.cls is None and "<locals>" in fi.qualname:
            enc = idx.enclosing.get(id(fi.node))
            if enc is not None:
                for node in walk_scope(enc.node):
                    if isinstance(node, ast.Name) and node.id == fi.name and isinstance(node.ctx, ast.Load):
                        par = idx.mod.parents().get(id(node))
                        if not (isinstance(par, ast.Call) and par.func is node):
                            return None
        out += [(idx, c, s) for c, s in idx.call_sites(fi)]
        if fi.cls is None and "<locals>" not in fi.qualname:
            for mod in self.modules.values():
                owner = fi.qualname.rpartition(".")[0]
                if mod is idx.mod or not any(v in (fi.qualname, owner) for v in mod.imports.values()):
                    continue  # files that import the function, or its module, by name
                other = module_index(mod)
                if other.referenced(("qn", fi.qualname)):
                    return None
                out += [(other, c, s) for c, s in other.calls_to(("qn", fi.qualname))]
        if fi.cls is not None:
            out += self._instance_sites(idx, fi)
        return out

    def _instance_sites(self, idx: ModuleIndex, fi: FunctionInfo) -> List[Tuple[ModuleIndex, ast.Call, ast.AST]]:
        """``d = Dropout(0.5)`` ... ``d.forward(h)`` / ``d(h)`` in the same file."""
        cls = fi.cls
        assert cls is not None
        out: List[Tuple[ModuleIndex, ast.Call, ast.AST]] = []
        instances: Set[str] = set()
        for scope in idx.scopes():
            for node in walk_scope(scope):
                if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
                        and idx.mod.resolve(node.value.func) == cls.qualname:
                    for t in node.targets:
                        d = dotted(t)
                        if d:
                            instances.add(d)
        if not instances:
            return out
        for scope in idx.scopes():
            for node in walk_scope(scope):
                if not isinstance(node, ast.Call):
                    continue
                f = node.func
                if isinstance(f, ast.Attribute) and f.attr == fi.name and dotted(f.value) in instances:
                    out.append((idx, node, scope))
                elif fi.name in FORWARD_METHODS and dotted(f) in instances:
                    out.append((idx, node, scope))
        return out


_DEMO_TENSORS = frozenset({"torch.arange", "torch.tensor", "torch.ones", "torch.zeros", "torch.rand", "torch.randn",
                           "torch.full", "torch.empty", "torch.linspace", "torch.eye", "numpy.arange", "numpy.ones",
                           "numpy.zeros", "numpy.array", "numpy.random.rand", "numpy.random.randn"})


def _demo_input(mod: ModuleInfo, call: ast.Call, scope: ast.AST) -> bool:
    """A module-level call whose first argument is a tensor the module builds from nothing
    (``X = torch.arange(16).view(2, 8)``, bound once): a demonstration of the function on
    made-up data, not a prediction."""
    arg = call.args[0] if call.args else None
    if type(arg) is ast.Name:
        name, arg, binds = arg.id, None, 0
        for n in walk_scope(scope):  # bound once, by a plain assignment
            if type(n) is ast.Name and n.id == name and type(n.ctx) is not ast.Load:
                binds += 1
            elif type(n) is ast.Assign and any(type(t) is ast.Name and t.id == name for t in n.targets):
                arg = n.value
        arg = arg if binds == 1 else None
    while type(arg) is ast.Call and type(arg.func) is ast.Attribute and mod.resolve(arg.func) is None:
        arg = arg.func.value  # `.view(2, 8)`, `.float()`
    return type(arg) is ast.Call and mod.resolve(arg.func) in _DEMO_TENSORS


class _ModuleView:
    """What ``Analyzer`` needs of a FileContext, for call sites in any analysed file."""

    def __init__(self, mod: ModuleInfo):
        self.module = mod
        self.tree = mod.tree
        self.project = None  # questions about the project are answered from this module alone

    def resolve(self, expr):
        return self.module.resolve(expr)


def is_primitive(fi: FunctionInfo) -> bool:
    """A dropout operation like ``F.dropout``: whoever calls it decides when it runs."""
    params = [p for p in fi.param_names() if p not in ("self", "cls")]
    return bool(ident_tokens(fi.name) & PRIMITIVE_TOKENS) and bool(params)


# ------------------------------------------------------------------------------------------
# the rules
# ------------------------------------------------------------------------------------------

@dataclass
class _Finding:
    node: ast.AST
    mask: Mask
    act: str
    mask_src: str
    fi: Optional[FunctionInfo]
    on_always: Optional[str]  # DG501: why it is always on (None: switched off)
    unscaled: bool  # DG502
    deliberate: bool


def _analyse(ctx: FileContext) -> List[_Finding]:
    """Both rules read one analysis per file, computed once per run."""
    out = ctx.module.memo.get("handwritten.findings")
    if out is None:
        out = ctx.module.memo["handwritten.findings"] = _compute(ctx)
    return out


def _compute(ctx: FileContext) -> List[_Finding]:
    out: List[_Finding] = []
    lines = _candidate_lines(ctx)
    if not lines:
        return out
    idx = module_index(ctx.module)
    reach = Reach(ctx)
    for scope in idx.scopes():
        if not isinstance(scope, ast.Module) and not any(
                scope.lineno <= ln <= (scope.end_lineno or scope.lineno) for ln in lines):
            continue
        an = Analyzer(ctx, idx, scope)
        masks = an.maskings()
        if not masks:
            continue
        fi = an.fi
        for top, info, act, scaled, result in masks:
            mask_names = [n for n, m in an.env.items() if m.draw is info.draw]
            mask_src = mask_names[0] if mask_names else f"({short(ctx, info.draw, 40)})"
            line = getattr(top, "lineno", 0)
            # DG501
            deliberate = (fi is not None and (is_monte_carlo(idx, fi) or is_data_side(idx, fi))) or any(
                ident_tokens(r.rsplit(".", 1)[-1]) & DATA_TOKENS for r in result)
            switched = deliberate or info.guarded or an.guarded(top, result) or any(
                an.guarded(d) for d in info.defs)
            why: Optional[str] = None
            if not switched:
                if _in_training_loop(idx, top, scope):
                    why = None
                elif fi is None:
                    why = ""
                elif reach.deliberate(idx, fi):
                    why = None
                else:
                    sites = reach.call_sites(idx, fi)
                    if sites is None:
                        why = None
                    elif not sites:
                        why = None if is_primitive(fi) else f"nothing calls `{fi.name}` only while training"
                    else:
                        ok, desc = reach.function_safe(idx, fi, 0, set())
                        why = None if ok else desc
            # DG502
            unscaled = not deliberate and not scaled and not info.inference_scaled \
                and not an.later_scaled(result, line, info) \
                and not _inference_scaled(an, info, top) \
                and not _masks_condition(top, act)
            out.append(_Finding(top, info, short(ctx, act, 30), mask_src, fi, why, unscaled, deliberate))
    for f in out:
        if f.on_always and f.fi is not None and f.fi.cls is not None:
            f.on_always = f.on_always.replace(f"`{f.fi.name}`", f"`{f.fi.cls.name}.{f.fi.name}`", 1)
    return out


def _masks_condition(top: ast.AST, act: ast.AST) -> bool:
    """The masking names a class label or a condition (``class_labels * (torch.rand(...) >=
    p)``, ``tmp * (... >= self.label_dropout)``): classifier-free guidance, not dropout."""
    for root in (top, act):
        for n in ast.walk(root):
            name = n.id if type(n) is ast.Name else n.attr if type(n) is ast.Attribute else None
            if name and ident_tokens(name) & CONDITION_TOKENS:
                return True
    return False


def _in_training_loop(idx: ModuleIndex, node: ast.AST, scope: ast.AST) -> bool:
    """Inside a loop (or ``tf.GradientTape`` block) whose body trains: backward, steps, updates."""
    for anc in ancestors(node, idx.mod.parents(), stop=scope):
        if anc is scope:
            break
        if isinstance(anc, (ast.With, ast.AsyncWith)) and any(
                isinstance(i.context_expr, ast.Call) and idx.mod.resolve(i.context_expr.func) in GRADIENT_TAPES
                for i in anc.items):
            return True
        if isinstance(anc, (ast.For, ast.While, ast.AsyncFor)) and has_training_ops(
                idx.mod.resolve, (n for st in anc.body for n in walk_scope(st))):
            return True
    return False


def _candidate_lines(ctx: FileContext) -> List[int]:
    """Lines with a call that may draw a mask (a cheap prefilter before any analysis)."""
    tops = {v.split(".")[0] for v in ctx.module.imports.values()}
    if not tops & {"numpy", "torch", "jax", "tensorflow", "keras"}:
        return []
    return file_marks(ctx)[1]


def _inference_scaled(an: Analyzer, info: Mask, top: ast.AST) -> bool:
    """``return x * (1 - p)`` on the inference path (here, in the class, or in the module)."""
    names = an.prob_names(info)
    inside = {id(n) for n in ast.walk(top)} | {id(n) for d in info.defs for n in ast.walk(d)}
    scopes: List[ast.AST] = [an.scope]
    local = set(an.fi.param_names()) if an.fi else set()
    local |= set(an.idx.bindings(an.scope)) if an.fi else set()
    if any(n.startswith("self.") for n in names) and an.fi is not None and an.fi.cls is not None:
        scopes += [m.node for m in an.fi.cls.methods.values()]
    if any("." not in n and n not in local for n in names):  # module-level probabilities
        scopes += [an.idx.mod.tree] + [f.node for f in an.idx.mod.all_functions]
    for sc in scopes:
        for n in walk_scope(sc):
            if id(n) in inside or not (isinstance(n, ast.BinOp) and isinstance(n.op, ast.Mult)) \
                    and not (isinstance(n, ast.AugAssign) and isinstance(n.op, ast.Mult)):
                continue
            operands = (n.left, n.right) if isinstance(n, ast.BinOp) else (n.value,)
            for o in operands:
                if an.draw_mask(o) is not None or an.mask_of(o) is not None:
                    break
                used = {dotted(m) for m in ast.walk(o) if isinstance(m, (ast.Name, ast.Attribute))}
                if names and names & used and not any(isinstance(m, ast.Call) and an.uniform_draw(m) is not None
                                                      for m in ast.walk(o)):
                    return True
                if not names:
                    v = _const_num(o)
                    if v is not None and 0.0 < v < 1.0 and (info.keep_value is None
                                                           or abs(v - info.keep_value) < 1e-9):
                        return True
    return False


class HandwrittenDropoutAlwaysOn(Rule):
    """## What it does
    Reports a hand-written dropout (a random keep-mask drawn with `rand` / `random` /
    `uniform` and compared with a probability, or drawn with `bernoulli` / `binomial` /
    `choice([0, 1], size, p=[drop, keep])`, then multiplied into activations, or used to
    leave layers out of a Python list, `[l for l, drop in zip(layers, to_drop) if not drop]`
    with a mask drawn by torch (LayerDrop; a numpy split of a dataset is no dropout, nor is
    a masked value times a fresh random draw, `g * (rng.random(n) < p) * rng.randn(n)`: sparse
    noise, as a hyperparameter evolution draws it)) that no training flag switches off: no `if training:` /
    `self.training` / `deterministic` test guards the mask or the value returned (a flag of
    the module's own, `self.is_training`, counts only where something can change it: set
    once to `True` in `__init__`, never passed otherwise and never set from outside, it is
    no switch, since `eval()` does not touch it), and the
    function is not only ever called from training code (a `train_step`, a
    `tf.GradientTape` block, a function that calls `backward()` or applies gradients).

    ## Why is this bad?
    Dropout is a training-time regulariser. A mask that is also drawn at inference makes
    predictions random and systematically wrong (a fraction of every layer is zeroed).
    Framework layers switch off by themselves (`model.eval()`, `training=False`); a
    hand-written one only does what its code says.

    ## Example
    ```python
    def layer(a, w, keep_prob):
        h = np.maximum(a @ w, 0.0)
        mask = np.random.rand(*h.shape) < keep_prob
        return h * mask / keep_prob
    ```

    ## Use instead
    ```python
    def layer(a, w, keep_prob, training):
        h = np.maximum(a @ w, 0.0)
        if training:
            mask = np.random.rand(*h.shape) < keep_prob
            h = h * mask / keep_prob
        return h
    ```

    ## Fix safety
    No automatic fix: where the training flag comes from is your design.

    ## Known problems
    Monte-Carlo dropout (a function or class named or documented `mc_dropout`, Monte
    Carlo, uncertainty, or taking an `mc` flag) is deliberate and not reported. A dropout
    function (named `dropout`, `drop_path`, ...) with no visible caller is treated like
    `F.dropout`: its callers decide. A module-level call on a tensor the module makes up
    (`X = torch.arange(16).view(2, 8)`, then `dropout(X, 0.5)`: a tutorial showing what the
    function does) is no prediction.
    """

    code = "DG501"
    triggers = DRAW_NAMES
    name = "handwritten-dropout-always-on"
    summary = "A hand-written dropout mask is applied with no training flag to switch it off at inference"
    fix_safety = "none"
    VALID = [
        # guarded by a training flag
        "import numpy as np\n"
        "def layer(h, p, training):\n"
        "    if training:\n"
        "        mask = np.random.rand(*h.shape) > p\n"
        "        return h * mask / (1 - p)\n"
        "    return h\n",
        # torch: self.training switches it off after eval()
        "import torch\n"
        "class Drop(torch.nn.Module):\n"
        "    def __init__(self, p):\n"
        "        super().__init__()\n"
        "        self.p = p\n"
        "    def forward(self, x):\n"
        "        if not self.training:\n"
        "            return x\n"
        "        return x * (torch.rand_like(x) > self.p).float() / (1 - self.p)\n",
        # not dropout: a random permutation / augmentation draw
        "import numpy as np\n"
        "def flip(img):\n"
        "    return img[:, ::-1] if np.random.rand() < 0.5 else img\n",
    ]
    INVALID = [
        "import numpy as np\n"
        "def layer(a, w, keep_prob):\n"
        "    h = np.maximum(a @ w, 0.0)\n"
        "    mask = np.random.rand(*h.shape) < keep_prob\n"
        "    return h * mask / keep_prob  # expect: DG501\n"
        "def predict(x, w):\n"
        "    return layer(x, w, 0.8).argmax(axis=1)\n",
    ]

    def check(self, ctx: FileContext) -> None:
        for f in _analyse(ctx):
            if f.on_always is None:
                continue
            where = "module-level code"
            if f.fi is not None:
                where = f"`{f.fi.cls.name}.{f.fi.name}`" if f.fi.cls is not None else f"`{f.fi.name}`"
            reason = f" and {f.on_always}" if f.on_always else ""
            ctx.report(self, f.node,
                       f"hand-written dropout on `{f.act}` (mask `{f.mask_src}`) in {where} is always on: no training "
                       f"flag switches it off{reason}, so predictions are randomly masked; add a "
                       f"`training` argument and apply the mask only `if training` (return `{f.act}` unchanged "
                       f"otherwise)")


class HandwrittenDropoutUnscaled(Rule):
    """## What it does
    Reports a hand-written dropout that does not rescale: kept activations are neither
    divided by the keep probability `1 - p` in training (inverted dropout) nor multiplied
    by `1 - p` at inference.

    ## Why is this bad?
    With a keep probability of 0.8, a unit sees on average 80% of its inputs while
    training and all of them at inference: every activation downstream is 25% larger
    than what the next layer was trained on, and the error compounds through the layers.

    ## Example
    ```python
    def forward(self, x, training):
        if training:
            return x * (torch.rand_like(x) > self.p)
        return x
    ```

    ## Use instead
    ```python
    def forward(self, x, training):
        if training:
            return x * (torch.rand_like(x) > self.p) / (1 - self.p)
        return x
    ```

    ## Fix safety
    No automatic fix: choose inverted dropout (scale in training) or scale at inference.

    ## Known problems
    Scaling is recognised as a division of the mask or the masked value (also in place,
    `x.div_(keep).mul_(mask)` or `x.div_(keep)` before `x.mul_(mask)`), a multiplication
    by `1 / (...)`, by a factor named like `scale` / `keep`, or by an expression of the
    dropout probability elsewhere in the function, class or module (the inference path).
    A blend of two values by one mask (`x * (1 - m) + token * m`, `m * z + (1 - m) * r`:
    masked-token replacement, token corruption) is not dropout and is not reported; nor is
    a mask on a class label or a condition (`class_labels * (torch.rand(...) >= p)`:
    classifier-free guidance dropping it to the null condition, which must not be rescaled).
    """

    code = "DG502"
    triggers = DRAW_NAMES
    name = "handwritten-dropout-unscaled"
    summary = "A hand-written dropout neither rescales kept activations in training nor scales at inference"
    fix_safety = "none"
    VALID = [
        # inverted dropout: scaled in training
        "import numpy as np\n"
        "def dropout(h, p, training):\n"
        "    if not training:\n"
        "        return h\n"
        "    mask = (np.random.random(h.shape) >= p) / (1.0 - p)\n"
        "    return h * mask\n",
        # classic dropout: scaled at inference
        "import numpy as np\n"
        "def dropout(h, p, training):\n"
        "    if training:\n"
        "        return h * (np.random.rand(*h.shape) > p)\n"
        "    return h * (1 - p)\n",
    ]
    INVALID = [
        "import torch\n"
        "class Drop(torch.nn.Module):\n"
        "    def __init__(self, p):\n"
        "        super().__init__()\n"
        "        self.p = p\n"
        "    def forward(self, x):\n"
        "        if self.training:\n"
        "            return x * (torch.rand_like(x) > self.p).float()  # expect: DG502\n"
        "        return x\n",
    ]

    def check(self, ctx: FileContext) -> None:
        for f in _analyse(ctx):
            if not f.unscaled:
                continue
            keep = f.mask.keep
            if f.mask.dropped:
                fix = f"use inverted dropout: divide the kept values by `{keep}` (`{f.act} / ({keep})`)"
            else:
                fix = f"use inverted dropout: `{f.act} * {f.mask_src} / ({keep})`"
            ctx.report(self, f.node,
                       f"hand-written dropout on `{f.act}` (mask `{f.mask_src}`) does not rescale: kept activations "
                       f"are not divided by the keep probability `{keep}` in training, and nothing multiplies by it "
                       f"at inference, so activations at inference are about 1/({keep}) times what the next layer "
                       f"was trained on; {fix}")


RULES = [HandwrittenDropoutAlwaysOn, HandwrittenDropoutUnscaled]
