"""DG401: Keras models called in a hand-written training step without ``training=True``.

Keras passes a ``training`` flag down every call. ``fit`` / ``evaluate`` / ``predict`` set it;
a custom training step (``tf.GradientTape``, an overridden ``train_step``, the torch-backend
idiom with ``loss.backward()``) must pass ``training=True`` itself, or dropout, noise, batch
norm and augmentation layers run in their inference behaviour while the model trains.

The analysis is static over Python's ``ast``: Keras and TensorFlow are never imported.
This module also holds the small AST helpers shared with ``handwritten.py``.
"""
from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, TypeVar, Union

T = TypeVar("T")

from ..context import FileContext, node_source
from ..semantic import ClassInfo, FunctionInfo, ModuleInfo, get_arg, has_star_args
from .base import Rule

FunctionNode = Union[ast.FunctionDef, ast.AsyncFunctionDef]
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)

# ------------------------------------------------------------------------------------------
# shared helpers (also used by handwritten.py)
# ------------------------------------------------------------------------------------------

_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def ident_tokens(name: str) -> FrozenSet[str]:
    """Lower-case word tokens of an identifier: ``isTraining_mode`` -> {is, training, mode}."""
    out: Set[str] = set()
    for part in name.split("_"):
        for tok in _CAMEL.findall(part):
            out.add(tok.lower())
    return frozenset(out)


def walk_scope(root: ast.AST, into_lambdas: bool = True) -> Iterator[ast.AST]:
    """Every node of a function's (or module's) own code, not descending into nested
    ``def`` / ``class`` (which are yielded but not entered)."""
    if isinstance(root, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Module, ast.ClassDef)):
        stack: List[ast.AST] = list(reversed(root.body))
    else:
        stack = [root]
    while stack:
        cur = stack.pop()
        yield cur
        if isinstance(cur, _DEFS):
            # decorators and defaults run in the enclosing scope
            extra: List[ast.AST] = list(getattr(cur, "decorator_list", []))
            if not isinstance(cur, ast.ClassDef):
                extra += [d for d in cur.args.defaults + cur.args.kw_defaults if d is not None]
            stack.extend(reversed(extra))
            continue
        if isinstance(cur, ast.Lambda) and not into_lambdas:
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(cur))))


def dotted(expr: Optional[ast.AST]) -> Optional[str]:
    """``self.model`` / ``clf`` as a string; None for anything else."""
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        base = dotted(expr.value)
        return f"{base}.{expr.attr}" if base else None
    return None


def last_name(expr: Optional[ast.AST]) -> Optional[str]:
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return expr.attr
    return None


def ancestors(node: ast.AST, pmap: Dict[int, ast.AST], stop: Optional[ast.AST] = None) -> Iterator[ast.AST]:
    cur = pmap.get(id(node))
    while cur is not None:
        yield cur
        if cur is stop:
            return
        cur = pmap.get(id(cur))


def short(ctx: FileContext, node: ast.AST, limit: int = 40) -> str:
    text = " ".join(node_source(ctx, node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ModuleIndex:
    """Per-module facts shared by the rules: scopes, local bindings, call sites."""

    def __init__(self, mod: ModuleInfo):
        self.mod = mod
        self.fn_of: Dict[int, FunctionInfo] = {id(fi.node): fi for fi in mod.all_functions}
        self.enclosing: Dict[int, FunctionInfo] = {}  # nested def node id -> enclosing function
        for fi in mod.all_functions:
            for node in mod.nested_defs(fi):
                if id(node) in self.fn_of:
                    self.enclosing[id(node)] = fi
        self._bindings: Dict[int, Dict[str, List[Optional[ast.expr]]]] = {}
        self._globals_declared: Optional[Set[str]] = None
        self._calls: Optional[Dict[tuple, List[Tuple[ast.Call, ast.AST]]]] = None
        self._refs: Optional[Set[tuple]] = None

    # -- scopes --------------------------------------------------------------------------
    def scopes(self) -> List[ast.AST]:
        return [self.mod.tree] + [fi.node for fi in self.mod.all_functions]

    def function(self, scope: ast.AST) -> Optional[FunctionInfo]:
        return self.fn_of.get(id(scope))

    def cls_of(self, scope: ast.AST) -> Optional[ClassInfo]:
        fi = self.fn_of.get(id(scope))
        return fi.cls if fi else None

    def bindings(self, scope: ast.AST) -> Dict[str, List[Optional[ast.expr]]]:
        """name -> values assigned to it in the scope (None: bound some other way)."""
        hit = self._bindings.get(id(scope))
        if hit is not None:
            return hit
        out: Dict[str, List[Optional[ast.expr]]] = {}

        def bind(target: ast.AST, value: Optional[ast.expr]) -> None:
            if isinstance(target, ast.Name):
                out.setdefault(target.id, []).append(value)
            elif isinstance(target, (ast.Tuple, ast.List)):
                vals = value.elts if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts) \
                    and not any(isinstance(e, ast.Starred) for e in target.elts) else None
                for i, elt in enumerate(target.elts):
                    bind(elt.value if isinstance(elt, ast.Starred) else elt, vals[i] if vals else None)

        for node in walk_scope(scope):
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    bind(t, node.value)
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                bind(node.target, node.value)
            elif isinstance(node, ast.AugAssign):
                bind(node.target, None)
            elif isinstance(node, ast.NamedExpr):
                bind(node.target, node.value)
            elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
                bind(node.target, None)
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if item.optional_vars is not None:
                        bind(item.optional_vars, None)
            elif isinstance(node, _DEFS) and node is not scope:
                out.setdefault(node.name, []).append(None)
            elif isinstance(node, (ast.Import, ast.ImportFrom)) and not isinstance(scope, ast.Module):
                for alias in node.names:
                    out.setdefault((alias.asname or alias.name).split(".")[0], []).append(None)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                out.setdefault(node.name, []).append(None)
        self._bindings[id(scope)] = out
        return out

    def globals_declared(self) -> Set[str]:
        if self._globals_declared is None:
            self._globals_declared = {n for node in ast.walk(self.mod.tree)
                                      if isinstance(node, (ast.Global, ast.Nonlocal)) for n in node.names}
        return self._globals_declared

    # -- call sites ----------------------------------------------------------------------
    def _build_calls(self) -> None:
        calls: Dict[tuple, List[Tuple[ast.Call, ast.AST]]] = {}
        refs: Set[tuple] = set()
        for scope in self.scopes():
            cls = self.cls_of(scope)
            called: Set[int] = set()
            nodes = list(walk_scope(scope))
            for node in nodes:
                if isinstance(node, ast.Call):
                    called.add(id(node.func))
                    for key in self._keys(node.func, scope, cls):
                        calls.setdefault(key, []).append((node, scope))
            for node in nodes:
                if isinstance(node, (ast.Name, ast.Attribute)) and isinstance(node.ctx, ast.Load) \
                        and id(node) not in called:
                    for key in self._keys(node, scope, cls):
                        refs.add(key)
        self._calls, self._refs = calls, refs

    def _keys(self, func: ast.AST, scope: ast.AST, cls: Optional[ClassInfo]) -> List[tuple]:
        keys: List[tuple] = []
        qn = self.mod.resolve(func)
        if qn:
            keys.append(("qn", qn))
        if isinstance(func, ast.Name):
            keys.append(("name", func.id))
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in ("self", "cls") \
                and cls is not None:
            keys.append(("self", cls.qualname, func.attr))
        return keys

    def calls_to(self, key: tuple) -> List[Tuple[ast.Call, ast.AST]]:
        if self._calls is None:
            self._build_calls()
        return self._calls.get(key, [])  # type: ignore[union-attr]

    def referenced(self, key: tuple) -> bool:
        if self._refs is None:
            self._build_calls()
        return key in self._refs  # type: ignore[operator]

    def function_keys(self, fi: FunctionInfo) -> List[tuple]:
        """How call sites of ``fi`` look inside this module."""
        if fi.cls is not None:
            return [("self", fi.cls.qualname, fi.name)]
        if "<locals>" in fi.qualname:
            return [("name", fi.name)]
        return [("qn", fi.qualname)]

    def call_sites(self, fi: FunctionInfo) -> List[Tuple[ast.Call, ast.AST]]:
        out: List[Tuple[ast.Call, ast.AST]] = []
        for key in self.function_keys(fi):
            for call, scope in self.calls_to(key):
                if key[0] == "name":
                    # a nested function is called by name from its enclosing function (or deeper)
                    enc = self.enclosing.get(id(fi.node))
                    if enc is None or not _is_within(scope, enc.node, self):
                        continue
                out.append((call, scope))
        return out


def _is_within(scope: ast.AST, outer: ast.AST, index: ModuleIndex) -> bool:
    cur: Optional[ast.AST] = scope
    while cur is not None:
        if cur is outer:
            return True
        enc = index.enclosing.get(id(cur))
        cur = enc.node if enc else None
    return False


def module_index(mod: ModuleInfo) -> ModuleIndex:
    idx = mod.memo.get("keras.index")
    if idx is None:
        idx = mod.memo["keras.index"] = ModuleIndex(mod)
    return idx


def _project_memo(ctx: FileContext) -> Dict[str, Any]:
    memo = getattr(ctx.project, "memo", None)
    return memo if memo is not None else ctx.module.memo


def project_modules(ctx: FileContext) -> Dict[str, ModuleInfo]:
    """modname -> ModuleInfo for every analysed file (just this one without a project)."""
    mods = getattr(ctx.project, "modules", None)
    if not mods:
        return {ctx.module.modname: ctx.module}
    memo = _project_memo(ctx)
    out = memo.get("keras.modules")
    if out is None:
        out = memo["keras.modules"] = {m.modname: m for m in mods.values()}
    return out


def project_definitions(ctx: FileContext) -> Tuple[Dict[str, Tuple[ModuleInfo, FunctionInfo]],
                                                   Dict[str, Tuple[ModuleInfo, ClassInfo]]]:
    """Module-level functions and classes of every analysed file, by qualified name."""
    memo = _project_memo(ctx)
    hit = memo.get("keras.definitions")
    if hit is not None:
        return hit
    functions: Dict[str, Tuple[ModuleInfo, FunctionInfo]] = {}
    classes: Dict[str, Tuple[ModuleInfo, ClassInfo]] = {}
    for m in project_modules(ctx).values():
        for fi in m.functions.values():
            functions.setdefault(fi.qualname, (m, fi))
        for ci in m.classes.values():
            classes.setdefault(ci.qualname, (m, ci))
    memo["keras.definitions"] = (functions, classes)
    return functions, classes


# ------------------------------------------------------------------------------------------
# Keras knowledge (qualified names are normalised to ``keras.…``)
# ------------------------------------------------------------------------------------------

_KERAS_PREFIXES = (
    ("tensorflow.python.keras.", "keras."), ("tensorflow.compat.v2.keras.", "keras."),
    ("tensorflow.compat.v1.keras.", "keras."), ("tensorflow.keras.", "keras."), ("tf_keras.src.", "keras."),
    ("tf_keras.", "keras."), ("keras._tf_keras.keras.", "keras."), ("keras.src.", "keras."),
    ("keras.api._v2.keras.", "keras."), ("keras.api.", "keras."),
)

KERAS_MODE_LAYERS = frozenset({
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout", "GaussianNoise",
    "AlphaDropout", "BatchNormalization", "SyncBatchNormalization", "RandAugment", "AugMix", "CutMix", "MixUp",
})
KERAS_NOT_AUGMENTATION = frozenset({"RandomFourierFeatures"})
# Layers whose dropout is an argument (active only when it is non-zero).
KERAS_DROPOUT_ARG_LAYERS = frozenset({
    "LSTM", "GRU", "SimpleRNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "LSTMCell", "GRUCell", "SimpleRNNCell",
    "MultiHeadAttention", "GroupedQueryAttention", "GroupQueryAttention", "Attention", "AdditiveAttention",
})
KERAS_DROPOUT_ARGS = ("dropout", "recurrent_dropout", "attention_dropout")
KERAS_WRAPPER_LAYERS = frozenset({"Bidirectional", "TimeDistributed", "RNN", "Wrapper"})
# keras.applications without batch norm or dropout.
KERAS_CLEAN_APPLICATIONS = frozenset({"VGG16", "VGG19"})
KERAS_LOADERS = frozenset({"keras.models.load_model", "keras.saving.load_model", "keras.models.model_from_json",
                           "keras.models.model_from_config", "keras.saving.saving_api.load_model"})
GRADIENT_TAPES = frozenset({"tensorflow.GradientTape", "tensorflow.autodiff.GradientTape",
                            "tensorflow.python.eager.backprop.GradientTape"})
# Attributes that only a trained model's step reads (gradients taken or applied for them).
JAX_GRADS = frozenset({"jax.grad", "jax.value_and_grad"})
TRAINED_ATTRS = frozenset({"trainable_variables", "trainable_weights", "trainable_params"})
# Methods in which the framework (not the user) sets the training flag, or inference code.
NOT_TRAINING_SCOPES = frozenset({"test_step", "predict_step", "evaluate", "predict", "predict_on_batch",
                                 "test_on_batch", "evaluate_step", "eval_step", "validation_step", "val_step"})
# Packages whose calls in a functional graph are tensor ops, not layers.
NEUTRAL_PACKAGES = frozenset({"keras", "tensorflow", "numpy", "math", "jax", "functools", "typing",
                              "builtins", "tf_keras"})
_BUILTINS = frozenset(dir(builtins))


def normalize_keras(qn: Optional[str]) -> Optional[str]:
    if not qn:
        return qn
    if qn.startswith("tf.keras."):  # ``import tf`` users never resolve this far, but keep it harmless
        qn = "tensorflow." + qn[3:]
    for pre, rep in _KERAS_PREFIXES:
        if qn.startswith(pre):
            return rep + qn[len(pre):]
    return qn


def keras_layer_name(qn: Optional[str]) -> Optional[str]:
    n = normalize_keras(qn)
    if n and n.startswith("keras.layers.") and n.rsplit(".", 1)[-1][:1].isupper():
        return n.rsplit(".", 1)[-1]
    return None


def _keras_model_ctor(qn: Optional[str]) -> Optional[str]:
    n = normalize_keras(qn)
    if not n or not n.startswith("keras.") or ".layers." in n:
        return None
    last = n.rsplit(".", 1)[-1]
    if last == "Sequential":
        return "Sequential"
    if last in ("Model", "Functional") and (n in ("keras.Model", "keras.models.Model")
                                            or n.startswith(("keras.models.", "keras.engine."))):
        return "Model"
    return None


def is_keras_base(qn: str) -> bool:
    n = normalize_keras(qn) or ""
    if not n.startswith("keras."):
        return False
    return n.rsplit(".", 1)[-1] in ("Model", "Layer", "Functional", "Sequential")


def keras_layer_mode(name: str) -> Optional[str]:
    """The mode-dependent behaviour of a Keras layer class name, or None."""
    if name in KERAS_MODE_LAYERS:
        if "Norm" in name:
            return "batch norm"
        if "Noise" in name:
            return "noise"
        if name in ("RandAugment", "AugMix", "CutMix", "MixUp"):
            return "augmentation"
        return "dropout"
    if name.startswith("Random") and name not in KERAS_NOT_AUGMENTATION:
        return "augmentation"
    return None


# ------------------------------------------------------------------------------------------
# Verdicts: is a Keras model mode-dependent?
# ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    kind: str  # "dep" (has a mode-dependent layer) | "clean" | "unknown" | "neutral" (not a layer)
    layers: Tuple[str, ...] = ()


NEUTRAL = Verdict("neutral")
UNKNOWN = Verdict("unknown")
CLEAN = Verdict("clean")


def dep(*layers: str) -> Verdict:
    return Verdict("dep", tuple(layers))


def _uniq(items: Iterable[str]) -> Tuple[str, ...]:
    seen: Dict[str, None] = {}
    for i in items:
        seen.setdefault(i, None)
    return tuple(seen)


def combine_all(parts: Sequence[Verdict]) -> Verdict:
    """A model made of all ``parts``: one mode-dependent part is enough."""
    deps = [p for p in parts if p.kind == "dep"]
    if deps:
        return Verdict("dep", _uniq(l for p in deps for l in p.layers))
    if any(p.kind == "unknown" for p in parts):
        return UNKNOWN
    if any(p.kind == "clean" for p in parts):
        return CLEAN
    return NEUTRAL


def alternatives(parts: Sequence[Verdict]) -> Verdict:
    """A value that is one of ``parts`` (branches, several assignments): unknown wins."""
    if not parts or any(p.kind == "unknown" for p in parts):
        return UNKNOWN
    return combine_all(parts)


def _lookup(table: Dict[str, "T"], qn: Optional[str], mod: ModuleInfo) -> Optional["T"]:
    """``table[qn]``, trying the importing file's own package first (``from network import VGG16``
    in ``pkg/main.py`` may mean ``pkg.network.VGG16``)."""
    if not qn:
        return None
    package = mod.modname if mod.is_package else mod.modname.rpartition(".")[0]
    if package and not qn.startswith(package + "."):
        hit = table.get(f"{package}.{qn}")
        if hit is not None:
            return hit
    return table.get(qn)


class KerasOracle:
    """Answers "is this expression a Keras model/layer with a mode-dependent layer?"."""

    MAX_DEPTH = 8

    def __init__(self, ctx: FileContext):
        self.ctx = ctx
        self.modules = project_modules(ctx)
        self.functions, self.classes = project_definitions(ctx)
        self._active: Set[tuple] = set()
        self._cache: Dict[tuple, Verdict] = {}
        self._training_flags: Optional[FrozenSet[str]] = None  # training_flags(), computed once

    def function_def(self, qn: Optional[str], mod: ModuleInfo) -> Optional[Tuple[ModuleInfo, FunctionInfo]]:
        return _lookup(self.functions, qn, mod)

    def training_flags(self) -> FrozenSet[str]:
        """Parameters of the project's Keras models' ``call`` methods under another name that
        they hand on as ``training=`` (``def call(self, x, is_training=False)`` running
        ``self.bn1(x, training=is_training)``): a model called with that keyword is told its mode."""
        got = self._training_flags
        if got is None:
            names = set()
            for _mod, ci in self.classes.values():
                call = ci.methods.get("call")
                if call is None or not self.is_keras_class(ci):
                    continue
                params = set(call.param_names()) - {"training"}
                for node in ast.walk(call.node):
                    if type(node) is ast.keyword and node.arg == "training" and type(node.value) is ast.Name \
                            and node.value.id in params:
                        names.add(node.value.id)
            got = self._training_flags = frozenset(names)
        return got

    def class_def(self, qn: Optional[str], mod: ModuleInfo) -> Optional[Tuple[ModuleInfo, ClassInfo]]:
        return _lookup(self.classes, qn, mod)

    def module_named(self, modname: str, mod: ModuleInfo) -> Optional[ModuleInfo]:
        return _lookup(self.modules, modname, mod)

    # -- entry points ----------------------------------------------------------------------
    def classify(self, expr: ast.AST, mod: ModuleInfo, scope: ast.AST, depth: int = 0) -> Verdict:
        key = (id(expr), id(scope))
        if key in self._cache:
            return self._cache[key]
        if key in self._active or depth > self.MAX_DEPTH:
            return UNKNOWN
        self._active.add(key)
        try:
            out = self._classify(expr, mod, scope, depth + 1)
        finally:
            self._active.discard(key)
        self._cache[key] = out
        return out

    def is_keras_class(self, ci: ClassInfo, seen: Optional[Set[str]] = None) -> bool:
        seen = seen or set()
        if ci.qualname in seen:
            return False
        seen.add(ci.qualname)
        for b in ci.bases:
            if is_keras_base(b):
                return True
            hit = self.class_def(b, ci.module)
            if hit and self.is_keras_class(hit[1], seen):
                return True
        return False

    # -- expressions -----------------------------------------------------------------------
    def _classify(self, expr: ast.AST, mod: ModuleInfo, scope: ast.AST, depth: int) -> Verdict:
        idx = module_index(mod)
        if isinstance(expr, ast.IfExp):
            return alternatives([self.classify(expr.body, mod, scope, depth),
                                 self.classify(expr.orelse, mod, scope, depth)])
        if isinstance(expr, ast.Call):
            return self._classify_call(expr, mod, scope, depth)
        if isinstance(expr, ast.Name):
            return self._classify_name(expr.id, expr, mod, scope, depth)
        if isinstance(expr, ast.Attribute):
            if isinstance(expr.value, ast.Name) and expr.value.id == "self":
                cls = idx.cls_of(scope) or self._enclosing_cls(idx, scope)
                if cls is not None:
                    return self._classify_self_attr(cls, expr.attr, mod, depth)
                return UNKNOWN
            qn = mod.resolve(expr)
            if qn and "." in qn:  # a module-level model of another analysed file: ``models.clf``
                modname, name = qn.rsplit(".", 1)
                other = self.module_named(modname, mod)
                if other is not None:
                    return self._module_binding(name, other, depth)
            return UNKNOWN
        return UNKNOWN

    def _enclosing_cls(self, idx: ModuleIndex, scope: ast.AST) -> Optional[ClassInfo]:
        enc = idx.enclosing.get(id(scope))
        while enc is not None:
            if enc.cls is not None:
                return enc.cls
            enc = idx.enclosing.get(id(enc.node))
        return None

    def _classify_name(self, name: str, node: ast.AST, mod: ModuleInfo, scope: ast.AST, depth: int) -> Verdict:
        idx = module_index(mod)
        fi = idx.function(scope)
        if name == "self" and fi is not None:
            cls = fi.cls or self._enclosing_cls(idx, scope)
            if cls is not None and self.is_keras_class(cls):
                return self.classify_class(cls, depth)
            return UNKNOWN
        cur_scope: Optional[ast.AST] = scope
        while cur_scope is not None and not isinstance(cur_scope, ast.Module):
            cur_fi = idx.function(cur_scope)
            local = idx.bindings(cur_scope)
            if name in local:
                return self._values(local[name], name, mod, cur_scope, depth)
            if cur_fi is not None and name in cur_fi.param_names():
                return self._param(cur_fi, name, mod, depth)
            enc = idx.enclosing.get(id(cur_scope))
            cur_scope = enc.node if enc else None
        qn = mod.resolve(node)
        if qn and name in mod.imports:
            modname, _, attr = qn.rpartition(".")
            other = self.module_named(modname, mod)
            if other is not None and other is not mod:
                return self._module_binding(attr, other, depth)
            return UNKNOWN
        return self._module_binding(name, mod, depth)

    def _module_binding(self, name: str, mod: ModuleInfo, depth: int) -> Verdict:
        idx = module_index(mod)
        if name in idx.globals_declared():
            return UNKNOWN
        values = idx.bindings(mod.tree).get(name)
        if not values:
            return UNKNOWN
        return self._values(values, name, mod, mod.tree, depth)

    def _values(self, values: List[Optional[ast.expr]], name: str, mod: ModuleInfo, scope: ast.AST,
                depth: int) -> Verdict:
        parts: List[Verdict] = []
        for v in values:
            if v is None:
                return UNKNOWN
            if isinstance(v, ast.Call) and _keras_model_ctor(mod.resolve(v.func)) == "Sequential":
                parts.append(self._sequential(v, self._adds(name, scope), mod, scope, depth))
            else:
                parts.append(self.classify(v, mod, scope, depth))
        return alternatives(parts)

    def _sequential(self, call: ast.Call, adds: Sequence[ast.Call], mod: ModuleInfo, scope: ast.AST,
                    depth: int) -> Verdict:
        elts = get_arg(call, 0, "layers")
        items: List[ast.AST] = []
        if isinstance(elts, (ast.List, ast.Tuple)):
            items += list(elts.elts)
        elif elts is not None:
            return UNKNOWN
        items += [get_arg(c, 0, "layer") or c for c in adds]
        if not items or any(isinstance(e, ast.Starred) for e in items):
            return UNKNOWN
        return combine_all([self.classify(e, mod, scope, depth) for e in items])

    def _adds(self, name: str, scope: ast.AST) -> List[ast.Call]:
        out = []
        for node in walk_scope(scope):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add" \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == name:
                out.append(node)
        return out

    def _param(self, fi: FunctionInfo, name: str, mod: ModuleInfo, depth: int) -> Verdict:
        """A parameter: clear evidence only where a visible caller passes a known model."""
        idx = module_index(mod)
        positional = fi.positional_params()
        pos = positional.index(name) if name in positional else None
        if pos is not None and fi.cls is not None and positional and positional[0] in ("self", "cls"):
            pos -= 1
        parts: List[Verdict] = []
        sites = list(idx.call_sites(fi))
        if fi.name == "__init__" and fi.cls is not None and "<locals>" not in fi.cls.qualname:
            sites += idx.calls_to(("qn", fi.cls.qualname))  # ``WGAN(generator=g_model)``
        for call, caller_scope in sites:
            if has_star_args(call):
                continue
            arg = get_arg(call, pos, name)
            if arg is None:
                continue
            parts.append(self.classify(arg, mod, caller_scope, depth))
        deps = [p for p in parts if p.kind == "dep"]
        return combine_all(deps) if deps else UNKNOWN

    def _classify_call(self, call: ast.Call, mod: ModuleInfo, scope: ast.AST, depth: int) -> Verdict:
        qn = mod.resolve(call.func)
        n = normalize_keras(qn)
        layer = keras_layer_name(qn)
        if layer is not None:
            return self._layer(layer, call, mod, scope, depth)
        kind = _keras_model_ctor(qn)
        if kind == "Sequential":
            return self._sequential(call, (), mod, scope, depth)
        if kind == "Model":
            outputs = get_arg(call, 1, "outputs")
            if outputs is None:
                return UNKNOWN
            return self.functional([outputs], mod, scope, depth)
        if n and n.startswith("keras.applications."):
            last = n.rsplit(".", 1)[-1]
            if not last[:1].isupper():
                return UNKNOWN
            return CLEAN if last in KERAS_CLEAN_APPLICATIONS else dep(f"{last} (batch norm)")
        if n in ("keras.models.clone_model",):
            arg = get_arg(call, 0, "model")
            return self.classify(arg, mod, scope, depth) if arg is not None else UNKNOWN
        if n in KERAS_LOADERS:
            return UNKNOWN
        fdef = self.function_def(qn, mod)
        if fdef is not None:
            fmod, fi = fdef
            returns = [r.value for r in walk_scope(fi.node) if isinstance(r, ast.Return) and r.value is not None]
            return alternatives([self.classify(r, fmod, fi.node, depth) for r in returns])
        cdef = self.class_def(qn, mod)
        if cdef is not None:
            cmod, ci = cdef
            return self.classify_class(ci, depth) if self.is_keras_class(ci) else UNKNOWN
        if isinstance(call.func, ast.Attribute) and call.func.attr in ("to", "cuda", "cpu") and qn is None:
            return self.classify(call.func.value, mod, scope, depth)
        return UNKNOWN

    def _layer(self, layer: str, call: ast.Call, mod: ModuleInfo, scope: ast.AST, depth: int) -> Verdict:
        mode = keras_layer_mode(layer)
        if mode is not None:
            return dep(layer)
        if layer in KERAS_DROPOUT_ARG_LAYERS:
            found: List[str] = []
            for kw in call.keywords:
                if kw.arg in KERAS_DROPOUT_ARGS:
                    if isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, (int, float)):
                        if kw.value.value:
                            found.append(f"{layer}({kw.arg}={kw.value.value})")
                    else:
                        return UNKNOWN
                elif kw.arg is None:
                    return UNKNOWN
            return dep(*found) if found else CLEAN
        if layer in KERAS_WRAPPER_LAYERS:
            inner = get_arg(call, 0, "layer") if layer != "RNN" else get_arg(call, 0, "cell")
            if inner is None:
                return UNKNOWN
            return self.classify(inner, mod, scope, depth)
        if layer in ("Input", "InputLayer"):
            return NEUTRAL
        return CLEAN

    # -- functional graphs -----------------------------------------------------------------
    def functional(self, outputs: Sequence[ast.AST], mod: ModuleInfo, scope: ast.AST, depth: int) -> Verdict:
        """Every layer the outputs depend on, following the scope's assignments backwards."""
        idx = module_index(mod)
        bindings = idx.bindings(scope)
        calls: Dict[int, ast.Call] = {}
        seen: Set[str] = set()
        work: List[ast.AST] = list(outputs)
        while work:
            expr = work.pop()
            for node in ast.walk(expr):
                if isinstance(node, ast.Call):
                    calls[id(node)] = node
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in seen:
                    seen.add(node.id)
                    for v in bindings.get(node.id, []):
                        if v is not None:
                            work.append(v)
        ordered = sorted(calls.values(), key=lambda c: (c.lineno, c.col_offset))
        return combine_all([self._graph_call(c, mod, scope, depth) for c in ordered])

    def _graph_call(self, call: ast.Call, mod: ModuleInfo, scope: ast.AST, depth: int) -> Verdict:
        func = call.func
        if isinstance(func, ast.Call):
            return NEUTRAL  # ``Layer(...)(x)``: the constructor call is visited on its own
        qn = mod.resolve(func)
        if qn:
            n = normalize_keras(qn) or qn
            if keras_layer_name(qn) or _keras_model_ctor(qn) or n.startswith("keras.applications.") \
                    or n in KERAS_LOADERS or n == "keras.models.clone_model":
                return self.classify(call, mod, scope, depth)
            fdef = self.function_def(qn, mod)
            if fdef is not None:
                fmod, fi = fdef
                returns = [r.value for r in walk_scope(fi.node) if isinstance(r, ast.Return) and r.value is not None]
                if not returns:
                    return NEUTRAL
                return combine_all([self.functional([r], fmod, fi.node, depth + 1) for r in returns])
            cdef = self.class_def(qn, mod)
            if cdef is not None:
                cmod, ci = cdef
                return self.classify_class(ci, depth) if self.is_keras_class(ci) else UNKNOWN
            if isinstance(func, ast.Name) and func.id not in mod.imports:
                return self.classify(func, mod, scope, depth)
            top = n.split(".")[0]
            return NEUTRAL if top in NEUTRAL_PACKAGES else UNKNOWN
        if isinstance(func, ast.Name):
            if func.id in _BUILTINS and func.id not in module_index(mod).bindings(scope):
                return NEUTRAL
            verdict = self.classify(func, mod, scope, depth)
            return verdict
        if isinstance(func, ast.Attribute):
            if isinstance(func.value, ast.Name) and func.value.id == "self":
                return self.classify(func, mod, scope, depth)
            return NEUTRAL  # a tensor method: ``x.reshape(...)``
        return UNKNOWN

    # -- classes ---------------------------------------------------------------------------
    def classify_class(self, ci: ClassInfo, depth: int = 0) -> Verdict:
        key = ("class", ci.qualname)
        if key in self._cache:
            return self._cache[key]
        if key in self._active or depth > self.MAX_DEPTH:
            return UNKNOWN
        self._active.add(key)
        try:
            out = self._classify_class(ci, depth + 1)
        finally:
            self._active.discard(key)
        self._cache[key] = out
        return out

    def _classify_class(self, ci: ClassInfo, depth: int) -> Verdict:
        mod = ci.module
        parts: List[Verdict] = []
        for b in ci.bases:
            hit = self.class_def(b, mod)
            if hit is not None:
                parts.append(self.classify_class(hit[1], depth) if self.is_keras_class(hit[1]) else UNKNOWN)
            elif not is_keras_base(b) and b not in ("object",):
                parts.append(UNKNOWN)  # a base class the analysis cannot see
        called_attrs = set()
        for m in ci.methods.values():
            for node in walk_scope(m.node):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                        and isinstance(node.func.value, ast.Name) and node.func.value.id == "self":
                    called_attrs.add(node.func.attr)
        for m in ci.methods.values():
            for node in walk_scope(m.node):
                if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    for t in targets:
                        if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                            parts.append(self._component(node.value, t.attr in called_attrs, mod, m.node, depth))
                elif isinstance(node, ast.Call):
                    qn = mod.resolve(node.func)
                    if keras_layer_name(qn):
                        parts.append(self.classify(node, mod, m.node, depth))
                    elif isinstance(node.func, ast.Attribute) and node.func.attr == "__init__" \
                            and isinstance(node.func.value, ast.Call) and last_name(node.func.value.func) == "super":
                        outputs = get_arg(node, 1, "outputs")
                        if outputs is not None:
                            parts.append(self.functional([outputs], mod, m.node, depth))
                    elif isinstance(node.func, ast.Attribute) and node.func.attr == "add" \
                            and isinstance(node.func.value, ast.Name) and node.func.value.id == "self" and node.args:
                        parts.append(self._component(node.args[0], True, mod, m.node, depth))
        if "__init__" not in ci.methods:
            # ``class CustomModel(keras.Model)`` built functionally: ``CustomModel(inputs, outputs)``
            idx = module_index(mod)
            for site, site_scope in idx.calls_to(("qn", ci.qualname)):
                outputs = get_arg(site, 1, "outputs")
                if outputs is not None and not has_star_args(site):
                    parts.append(self.functional([outputs], mod, site_scope, depth))
        call = ci.methods.get("call")
        if call is not None and "training" in call.param_names() and _tests_name(call.node, "training"):
            parts.append(dep(f"{ci.name}.call's own `training` branch"))
        return combine_all(parts)

    def _component(self, value: ast.AST, called: bool, mod: ModuleInfo, scope: ast.AST, depth: int) -> Verdict:
        if isinstance(value, (ast.List, ast.Tuple)):
            return combine_all([self._component(e, True, mod, scope, depth) for e in value.elts])
        if isinstance(value, ast.Dict):
            return combine_all([self._component(e, True, mod, scope, depth) for e in value.values if e is not None])
        if isinstance(value, (ast.ListComp, ast.GeneratorExp)):
            return self._component(value.elt, True, mod, scope, depth)
        if isinstance(value, ast.Call):
            qn = mod.resolve(value.func)
            cdef = self.class_def(qn, mod)
            if qn and self.function_def(qn, mod) is None and cdef is None and not keras_layer_name(qn) \
                    and not _keras_model_ctor(qn):
                n = normalize_keras(qn) or qn
                if n.startswith("keras.applications."):
                    return self.classify(value, mod, scope, depth)
                return NEUTRAL if n.split(".")[0] in NEUTRAL_PACKAGES else (UNKNOWN if called else NEUTRAL)
            if qn is None:
                if isinstance(value.func, ast.Attribute) and isinstance(value.func.value, ast.Name) \
                        and value.func.value.id == "self":
                    return NEUTRAL  # ``self.add_weight(...)``
                return UNKNOWN if called else NEUTRAL
            if cdef is not None and not self.is_keras_class(cdef[1]):
                return UNKNOWN if called else NEUTRAL
            return self.classify(value, mod, scope, depth)
        if isinstance(value, (ast.Name, ast.Attribute)) and called:
            verdict = self.classify(value, mod, scope, depth)
            return verdict
        return NEUTRAL

    def _classify_self_attr(self, ci: ClassInfo, attr: str, mod: ModuleInfo, depth: int) -> Verdict:
        values: List[Tuple[ast.AST, ast.AST]] = []
        for m in ci.methods.values():
            for node in walk_scope(m.node):
                if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    for t in targets:
                        if isinstance(t, ast.Attribute) and t.attr == attr and isinstance(t.value, ast.Name) \
                                and t.value.id == "self":
                            values.append((node.value, m.node))
                elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Attribute) \
                        and node.target.attr == attr:
                    return UNKNOWN
        if not values:
            for b in ci.bases:
                hit = self.class_def(b, ci.module)
                if hit is not None:
                    return self._classify_self_attr(hit[1], attr, hit[0], depth)
            return UNKNOWN
        return alternatives([self.classify(v, ci.module, scope, depth) for v, scope in values])


def _tests_name(fn: FunctionNode, name: str) -> bool:
    """Whether ``name`` is read in an ``if`` / conditional-expression / boolean test of ``fn``."""
    for node in walk_scope(fn):
        test = getattr(node, "test", None) if isinstance(node, (ast.If, ast.IfExp, ast.While)) else None
        if test is None and isinstance(node, ast.BoolOp):
            test = node
        if test is not None and any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(test)):
            return True
    return False


# ------------------------------------------------------------------------------------------
# the rule
# ------------------------------------------------------------------------------------------

def _mode_words(layers: Sequence[str]) -> str:
    kinds: List[str] = []
    for l in layers:
        base = l.split("(")[0].split(" ")[0].split(".")[0]
        k = keras_layer_mode(base)
        if k is None:
            k = "batch norm" if "batch norm" in l else "dropout"
        if k not in kinds:
            kinds.append(k)
    if not kinds:
        kinds = ["dropout"]
    return " and ".join([", ".join(kinds[:-1]), kinds[-1]] if len(kinds) > 1 else kinds)


@dataclass
class _Step:
    scope: ast.AST
    where: str  # "under `tf.GradientTape`" ...
    trained: Set[str]  # dotted model expressions whose variables the step trains


class KerasTrainingFlagMissing(Rule):
    """## What it does
    Reports a call of a Keras model (or layer) inside a hand-written training step (a
    `tf.GradientTape` block whose gradients update the model, an overridden `train_step`, a
    Keras 3 torch-backend step that calls `loss.backward()`, or a JAX-backend loss function
    differentiated by `jax.grad` that calls `model.stateless_call`), made without a
    `training` argument, when the model contains a
    layer that behaves differently in training: `Dropout`, `SpatialDropout*`,
    `GaussianDropout`, `GaussianNoise`, `AlphaDropout`, `BatchNormalization`, a random
    augmentation layer, or a recurrent/attention layer with `dropout=`.

    ## Why is this bad?
    Keras switches these layers on through the `training` flag of each call. `fit` sets it
    for you; your own training step must pass `training=True` itself. Without it the model
    trains with dropout switched off and batch norm using (and never updating) its moving
    statistics, so it overfits and evaluates differently from what it learned.

    ## Example
    ```python
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x))
    grads = tape.gradient(loss, model.trainable_variables)
    ```

    ## Use instead
    ```python
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    ```

    ## Fix safety
    No automatic fix: pass `training=True` (or the step's own `training` argument) yourself.

    ## Known problems
    Only models whose construction the analysis can see are reported: a model loaded with
    `keras.models.load_model`, or passed in as a parameter from code outside the analysed
    files, is assumed to be fine. Calls with any explicit `training=` (a variable passed
    through, even `False`) are the author's choice and are not reported, and neither are
    models a tape does not train (a distillation teacher, a generator producing fakes for the
    discriminator's step, a model differentiated with respect to its input). A helper is part
    of the step only where every call of it is inside a training step.
    """

    code = "DG401"
    triggers = frozenset({"keras", "tensorflow"})
    name = "keras-training-flag-missing"
    summary = "A Keras model with dropout or batch norm is called in a custom training step without training=True"
    fix_safety = "none"
    VALID = [
        # training=True passed: correct
        "import keras\nimport tensorflow as tf\n"
        "model = keras.Sequential([keras.layers.Dense(8), keras.layers.Dropout(0.5), keras.layers.Dense(1)])\n"
        "def step(x, y, opt):\n"
        "    with tf.GradientTape() as tape:\n"
        "        loss = keras.ops.mean((model(x, training=True) - y) ** 2)\n"
        "    opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))\n",
        # no mode-dependent layer: the flag changes nothing
        "import keras\nimport tensorflow as tf\n"
        "model = keras.Sequential([keras.layers.Dense(8, activation='relu'), keras.layers.Dense(1)])\n"
        "def step(x, y, opt):\n"
        "    with tf.GradientTape() as tape:\n"
        "        loss = keras.ops.mean((model(x) - y) ** 2)\n"
        "    opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))\n",
        # a loaded model: its layers cannot be seen
        "import keras\nimport tensorflow as tf\n"
        "model = keras.models.load_model('m.keras')\n"
        "def step(x, y, opt):\n"
        "    with tf.GradientTape() as tape:\n"
        "        loss = keras.ops.mean((model(x) - y) ** 2)\n"
        "    opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))\n",
    ]
    INVALID = [
        "import keras\nimport tensorflow as tf\n"
        "model = keras.Sequential([keras.layers.Dense(8), keras.layers.Dropout(0.5), keras.layers.Dense(1)])\n"
        "def step(x, y, opt):\n"
        "    with tf.GradientTape() as tape:\n"
        "        loss = keras.ops.mean((model(x) - y) ** 2)  # expect: DG401\n"
        "    opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))\n",
        "import keras\n"
        "class Net(keras.Model):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.bn = keras.layers.BatchNormalization()\n"
        "        self.out = keras.layers.Dense(1)\n"
        "    def call(self, x, training=None):\n"
        "        return self.out(self.bn(x, training=training))\n"
        "    def train_step(self, data):\n"
        "        x, y = data\n"
        "        y_pred = self(x)  # expect: DG401\n"
        "        loss = self.compute_loss(y=y, y_pred=y_pred)\n"
        "        self.zero_grad()\n"
        "        loss.backward()\n"
        "        self.optimizer.apply([v.value.grad for v in self.trainable_weights], self.trainable_weights)\n"
        "        return {'loss': loss}\n",
    ]

    def check(self, ctx: FileContext) -> None:
        if not any((v.split(".")[0] in ("keras", "tensorflow", "tf_keras")) for v in ctx.module.imports.values()):
            return
        marks = _step_lines(ctx)
        if not marks:
            return
        idx = module_index(ctx.module)
        oracle = KerasOracle(ctx)
        steps: List[Tuple[_Step, List[ast.Call]]] = []
        for scope in idx.scopes():
            if not isinstance(scope, ast.Module) and not any(
                    scope.lineno <= ln <= (scope.end_lineno or scope.lineno) for ln in marks):
                continue
            fi = idx.function(scope)
            if fi is not None and fi.name in NOT_TRAINING_SCOPES:
                continue
            found = self._steps(ctx, idx, scope, fi)
            steps.extend(found)
        reported: Set[int] = set()
        helper_sites: Dict[str, List[Tuple[ast.Call, _Step]]] = {}
        for step, calls in steps:
            for call in calls:
                if id(call) in reported:
                    continue
                if self._check_call(ctx, oracle, call, step):
                    reported.add(id(call))
                    continue
                qn = ctx.resolve(call.func)
                local = ctx.module.functions.get((qn or "").rsplit(".", 1)[-1])
                if qn and local is not None and local.qualname == qn:
                    helper_sites.setdefault(qn, []).append((call, step))
        # helpers called only from training steps are part of the step
        for qn, sites in helper_sites.items():
            fi = ctx.module.functions[qn.rsplit(".", 1)[-1]]
            if fi.name in NOT_TRAINING_SCOPES:
                continue
            all_sites = idx.call_sites(fi)
            site_ids = {id(c) for c, _ in sites}
            if not all_sites or any(id(c) not in site_ids for c, _ in all_sites) or idx.referenced(("qn", fi.qualname)):
                continue
            trained = set().union(*(s.trained for _, s in sites))
            helper = _Step(fi.node, f"in `{fi.name}`, called from a training step", trained)
            for node in walk_scope(fi.node):
                if isinstance(node, ast.Call) and id(node) not in reported:
                    if self._check_call(ctx, oracle, node, helper, globals_only=True):
                        reported.add(id(node))

    # -- steps -------------------------------------------------------------------------------
    def _steps(self, ctx: FileContext, idx: ModuleIndex, scope: ast.AST,
               fi: Optional[FunctionInfo]) -> List[Tuple[_Step, List[ast.Call]]]:
        out: List[Tuple[_Step, List[ast.Call]]] = []
        nodes = list(walk_scope(scope))
        bindings = idx.bindings(scope)
        trained = _trained_models(nodes)
        is_train_step = fi is not None and fi.name == "train_step" and fi.cls is not None
        for node in nodes:
            if isinstance(node, (ast.With, ast.AsyncWith)):
                tapes = [item for item in node.items if _is_tape(ctx, item.context_expr)]
                if not tapes:
                    continue
                # the models this tape differentiates: ``tape.gradient(loss, m.trainable_variables)``
                sources: List[ast.AST] = []
                for item in tapes:
                    name = dotted(item.optional_vars) if item.optional_vars is not None else None
                    for n in nodes:
                        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "gradient" \
                                and name is not None and dotted(n.func.value) == name:
                            src = get_arg(n, 1, "sources")
                            if src is not None:
                                sources.append(src)
                                sources += [v for m in ast.walk(src) if isinstance(m, ast.Name)
                                            for v in bindings.get(m.id, []) if v is not None]
                tape_trained = set(trained)
                if sources:
                    tape_trained = _trained_models(n for src in sources for n in ast.walk(src))
                calls = [n for stmt in node.body for n in walk_scope(stmt) if isinstance(n, ast.Call)]
                out.append((_Step(scope, "under `tf.GradientTape`", tape_trained), calls))
        if is_train_step:
            calls = [n for n in nodes if isinstance(n, ast.Call) and dotted(n.func) in ("self", "self.stateless_call")]
            out.append((_Step(scope, f"in `{fi.name}`", {"self"}), calls))
        grad = self._differentiated(ctx, idx, fi) if fi is not None else None
        if grad is not None:
            calls = [n for n in nodes if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                     and n.func.attr == "stateless_call"]
            out.append((_Step(scope, f"in `{fi.name}`, differentiated by `{grad}`", {"*"}), calls))
        backward = [n for n in nodes if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                    and n.func.attr == "backward" and not n.args]
        if backward and not is_train_step:
            deps = _dependencies([b.func.value for b in backward], idx.bindings(scope))
            calls = []
            for b in backward:
                calls += [n for n in ast.walk(b.func.value) if isinstance(n, ast.Call)]
            for name in deps:
                for v in idx.bindings(scope).get(name, []):
                    if v is not None:
                        calls += [n for n in ast.walk(v) if isinstance(n, ast.Call)]
            recv = short(ctx, backward[0].func.value, 20)
            out.append((_Step(scope, f"whose result reaches `{recv}.backward()`", trained), calls))
        return out

    @staticmethod
    def _differentiated(ctx: FileContext, idx: ModuleIndex, fi: FunctionInfo) -> Optional[str]:
        """``jax.value_and_grad(fi)`` / ``jax.grad(fi)`` somewhere in the file: that call's name."""
        for key in idx.function_keys(fi):
            if key[0] == "self":
                continue
            for scope in idx.scopes():
                for node in walk_scope(scope):
                    if isinstance(node, ast.Call) and ctx.resolve(node.func) in JAX_GRADS and node.args:
                        arg = node.args[0]
                        if (key[0] == "qn" and ctx.resolve(arg) == key[1]) or (
                                key[0] == "name" and isinstance(arg, ast.Name) and arg.id == key[1]):
                            return ctx.resolve(node.func)
        return None

    def _check_call(self, ctx: FileContext, oracle: KerasOracle, call: ast.Call, step: _Step,
                    globals_only: bool = False) -> bool:
        func = call.func
        stateless = isinstance(func, ast.Attribute) and func.attr == "stateless_call"
        if stateless:  # Keras 3 on JAX: ``model.stateless_call(tv, ntv, x)`` defaults to training=False
            func = func.value  # type: ignore[union-attr]
        target = dotted(func)
        if target is None or (target not in step.trained and "*" not in step.trained):
            return False
        flags = oracle.training_flags()
        if any(kw.arg == "training" or kw.arg in flags for kw in call.keywords) or has_star_args(call) \
                or len(call.args) > (3 if stateless else 1):
            return False
        if globals_only and isinstance(func, ast.Name):
            # in a helper, only models the helper does not bind itself are the caller's models
            fi = module_index(ctx.module).function(step.scope)
            if func.id in module_index(ctx.module).bindings(step.scope) or (fi and func.id in fi.param_names()):
                return False
        verdict = oracle.classify(func, ctx.module, step.scope)
        if verdict.kind != "dep":
            return False
        layers = ", ".join(verdict.layers[:4]) + (", ..." if len(verdict.layers) > 4 else "")
        words = _mode_words(verdict.layers)
        args = ", ".join(short(ctx, a, 20) for a in call.args)
        if len(args) > 40:
            args = "..."
        callee = f"{target}.stateless_call" if stateless else target
        fix = f"{callee}({args + ', ' if args else ''}training=True)"
        ctx.report(self, call,
                   f"`{target}` (has {layers}) is called in a custom training step ({step.where}) without "
                   f"`training=True`: its {words} layers run in inference mode while it trains; call `{fix}`")
        return True


def _step_lines(ctx: FileContext) -> List[int]:
    """A cheap prefilter: lines of gradient tapes, ``train_step`` defs and ``.backward()`` calls."""
    return file_marks(ctx)[0]


DRAW_NAMES = frozenset({"rand", "random", "random_sample", "ranf", "sample", "uniform", "rand_like", "binomial", "choice",
                        "bernoulli", "bernoulli_", "uniform_", "stateless_uniform"})


def file_marks(ctx: FileContext) -> Tuple[List[int], List[int]]:
    """One walk of the file for both rule families' prefilters: (lines of training-step syntax,
    lines of calls that may draw a dropout mask)."""
    hit = ctx.module.memo.get("marks")
    if hit is not None:
        return hit
    steps: List[int] = []
    draws: List[int] = []
    Call, Attr, With, AWith, FD, AFD = ast.Call, ast.Attribute, ast.With, ast.AsyncWith, ast.FunctionDef, \
        ast.AsyncFunctionDef
    for node in ctx.module.nodes:  # the hottest loop of these rules: dispatch on the exact type
        t = type(node)
        if t is Call:
            if last_name(node.func) in DRAW_NAMES:
                draws.append(node.lineno)
        elif t is Attr:
            if node.attr == "backward" or node.attr == "stateless_call":
                steps.append(node.lineno)
        elif t is With or t is AWith:
            if any(_is_tape(ctx, item.context_expr) for item in node.items):
                steps.append(node.lineno)
        elif (t is FD or t is AFD) and node.name == "train_step":
            steps.append(node.lineno)
    ctx.module.memo["marks"] = (steps, draws)
    return steps, draws


def _is_tape(ctx: FileContext, expr: ast.AST) -> bool:
    if isinstance(expr, ast.Call):
        return ctx.resolve(expr.func) in GRADIENT_TAPES
    return False


def _trained_models(nodes: Iterable[ast.AST]) -> Set[str]:
    """Models whose trainable variables this code reads (to differentiate or update them)."""
    out: Set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Attribute) and node.attr in TRAINED_ATTRS:
            name = dotted(node.value)
            if name:
                out.add(name)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("parameters", "zero_grad") and not node.args:
            name = dotted(node.func.value)  # Keras 3 on torch: models are torch modules
            if name:
                out.add(name)
    return out


def _dependencies(exprs: Sequence[ast.AST], bindings: Dict[str, List[Optional[ast.expr]]]) -> Set[str]:
    """Names the expressions depend on through the scope's assignments (flow-insensitive)."""
    seen: Set[str] = set()
    work = list(exprs)
    while work:
        e = work.pop()
        for node in ast.walk(e):
            if isinstance(node, ast.Name) and node.id not in seen:
                seen.add(node.id)
                for v in bindings.get(node.id, []):
                    if v is not None:
                        work.append(v)
    return seen


RULES = [KerasTrainingFlagMissing]
