"""Mode and grad state through statements and across calls.

This is the heart of the analyser. For every function (and every module's top-level code)
an abstract interpreter walks the statements in order, joins branches, iterates loops to
a fixed point, and tracks

* for every model expression (``model``, ``self.encoder``, a list of models) the set of
  modes it may be in: training / eval / unknown / "as the caller passed it" (entry), each
  with its origin, so a finding can say *why*;
* the grad state: on / off / unknown / "as the caller has it" (entry).

Each function gets a summary (what it does with each parameter: predicts with it, trains
it, leaves it in which mode; which of its parameters reach a backward pass; what it
returns), computed to a fixed point over the project, so that findings land where the
contract says: at the caller's call site when the model came in as an argument.

When the analysis cannot decide it says "unknown", and unknown never produces a finding.
"""
from __future__ import annotations

import ast
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Sequence, Set, Tuple

from . import knowledge as K
from .findings import line_ref
from .semantic import (_FIELDS, _SINGLETONS, ClassInfo, FunctionInfo, ModuleInfo, _child_fields, get_arg, has_star_args,
                       parent_map)

TRAIN, EVAL, UNKNOWN, ENTRY = "train", "eval", "unknown", "entry"
DEFAULT_BUDGET_S = 10.0  # CPU seconds per function body; a pathological one becomes DG000 for its file


class AnalysisTimeout(Exception):
    """A function body took longer than the time budget to analyse."""
ON, OFF = "on", "off"

# A mode element: (kind, why, line, deliberate). ``deliberate`` marks training mode the
# function switched on itself (Monte-Carlo dropout, BN recalibration) before any training.
Mode = Tuple[str, str, int, bool]
Modes = FrozenSet[Mode]


def modes_of(kind: str, why: str, line: int, deliberate: bool = False) -> Modes:
    return frozenset({(kind, why, line, deliberate)})


def kinds(modes: Modes) -> Set[str]:
    return {m[0] for m in modes}


def bad_training(modes: Modes) -> List[Mode]:
    """Training-mode origins that arrived unasked (not switched on deliberately here)."""
    return sorted((m for m in modes if m[0] == TRAIN and not m[3]), key=lambda m: (m[2], m[1]))


def eval_origins(modes: Modes) -> List[Mode]:
    return sorted((m for m in modes if m[0] == EVAL), key=lambda m: (m[2], m[1]))


# ----------------------------------------------------------------------------------------
# Values
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelVal:
    modes: Modes
    dependent: Optional[bool] = None  # False: no layer behaves differently in training
    label: str = "model"
    hf: bool = False  # Hugging Face model (generate() manages mode and grad)
    cls: Optional[str] = None  # qualified name of its project class
    param: Optional[str] = None  # the parameter it came in as

    def join(self, other: "ModelVal") -> "ModelVal":
        if other is self:
            return self
        dep = None if (self.dependent is None or other.dependent is None) else (self.dependent or other.dependent)
        return ModelVal(self.modes | other.modes, dep, self.label, self.hf and other.hf,
                        self.cls if self.cls == other.cls else None,
                        self.param if self.param == other.param else None)

    def with_modes(self, modes: Modes) -> "ModelVal":
        return ModelVal(modes, self.dependent, self.label, self.hf, self.cls, self.param)


@dataclass(frozen=True)
class ListVal:
    """A list, tuple or dict of models built in the function and iterated over."""

    elem: ModelVal

    def join(self, other: "ListVal") -> "ListVal":
        return ListVal(self.elem.join(other.elem))


@dataclass(frozen=True)
class TupleVal:
    """A tuple whose items are known by position (``accelerator.prepare(model, opt)``)."""

    items: Tuple[object, ...]

    def join(self, other):
        if isinstance(other, TupleVal) and len(other.items) == len(self.items):
            return TupleVal(tuple(join_vals(a, b) for a, b in zip(self.items, other.items)))
        return None


@dataclass(frozen=True)
class InstanceVal:
    """An instance of a project class that is not a module (for method resolution)."""

    cls: str

    def join(self, other):
        return self if other == self else None


@dataclass(frozen=True)
class InstanceUnion:
    """An instance of one of several project classes, picked on different paths
    (``if ...: policy = TD3(...) elif ...: policy = DDPG(...)``). A method call on it runs
    that method of each class (Interpreter.union_call); everything else reads it as unknown."""

    classes: FrozenSet[str]

    def join(self, other):
        return _join_instances(self, other)


def _instance_classes(v) -> FrozenSet[str]:
    if type(v) is InstanceVal:
        return frozenset((v.cls,))
    if type(v) is InstanceUnion:
        return v.classes
    return frozenset()


def _join_instances(a, b):
    """Instances of project classes on two paths: the one class, or the union of them."""
    ca, cb = _instance_classes(a), _instance_classes(b)
    if not ca or not cb:
        return None
    both = ca | cb
    if len(both) == 1:
        return a
    return InstanceUnion(both)


@dataclass(frozen=True)
class EmptyListVal:
    """A list that starts empty (``nets = []``): appending models to it makes it a ListVal;
    appending anything else, a list the analysis does not follow."""

    def join(self, other):
        return self


def join_vals(a, b):
    if a is None or b is None:
        return a if b is None else b
    if type(a) is EmptyListVal and type(b) is ListVal:
        return b  # no item yet on one path: iterating it runs what the other path appended
    if type(b) is EmptyListVal and type(a) is ListVal:
        return a
    if type(a) in (InstanceVal, InstanceUnion) and type(b) in (InstanceVal, InstanceUnion):
        return _join_instances(a, b)
    if type(a) is not type(b):
        return None
    return a.join(b)


# ----------------------------------------------------------------------------------------
# Summaries and events
# ----------------------------------------------------------------------------------------
@dataclass
class Summary:
    predicts: Dict[str, int] = field(default_factory=dict)  # param -> line of a prediction in entry mode
    trains: Dict[str, int] = field(default_factory=dict)  # param -> line of a training call in entry mode
    exits: Dict[str, Modes] = field(default_factory=dict)  # param -> modes at exit (ENTRY = unchanged)
    evals_param: Set[str] = field(default_factory=set)  # params the function itself calls .eval() on
    backward_params: Set[int] = field(default_factory=set)  # positional indexes that reach backward
    steps: bool = False  # runs an optimizer step
    returns_calls: Set[str] = field(default_factory=set)  # params whose call result is returned
    returns_grad: Dict[str, FrozenSet[str]] = field(default_factory=dict)  # the grad of those calls (ENTRY: caller's)
    returns_direct: Set[str] = field(default_factory=set)  # ... some of them a call of the model itself (`m(x)`)
    mode_free: Set[str] = field(default_factory=set)  # params used only through layers known to keep no mode
    returns: Optional[object] = None  # the value returned (a ModelVal), if any
    globals_exit: Dict[str, Modes] = field(default_factory=dict)
    feeds: Dict[str, bool] = field(default_factory=dict)  # param -> each prediction feeds a backward pass

    def key(self):
        return (tuple(sorted(self.predicts)), tuple(sorted(self.trains)),
                tuple(sorted((k, v) for k, v in self.exits.items())), tuple(sorted(self.evals_param)),
                tuple(sorted(self.backward_params)), self.steps, tuple(sorted(self.returns_calls)),
                tuple(sorted((k, tuple(sorted(v))) for k, v in self.returns_grad.items())),
                tuple(sorted(self.returns_direct)), tuple(sorted(self.mode_free)), self.returns,
                tuple(sorted(self.globals_exit.items())), tuple(sorted(self.feeds.items())))


@dataclass
class Event:
    kind: str  # "call" | "helper" | "training_assign" | "mode_attr" | "backward"
    node: ast.AST
    key: str = ""
    modes: Modes = frozenset()
    grad: FrozenSet[str] = frozenset()
    role: str = ""  # for calls: "train" | "predict" | "predict_grad" | "deferred" | "unknown"
    dependent: Optional[bool] = None
    hf: bool = False
    param: Optional[str] = None
    callee: str = ""
    callee_line: int = 0
    use: str = ""  # for helper events: "predict" | "train"
    is_model: bool = False
    callee_path: str = ""  # the file of callee_line
    callee_id: str = ""  # for helper events whose callee returns its call of the model: that unit
    through: bool = False  # a call of a layer of the receiver in the module's own method (`self.fc(x)` in `pi()`)
    cls: Optional[str] = None  # the model's project class (qualified), for naming its layers
    feeds_backward: bool = False  # a prediction whose result reaches a backward pass (Unit.feeds_backward)

    def merge(self, other: "Event") -> None:
        self.through = self.through and other.through
        self.modes = self.modes | other.modes
        self.grad = self.grad | other.grad
        self.is_model = self.is_model or other.is_model
        self.dependent = _or_dep(self.dependent, other.dependent)
        if self.cls != other.cls:
            self.cls = None


# ----------------------------------------------------------------------------------------
# Abstract state
# ----------------------------------------------------------------------------------------
class State:
    __slots__ = ("env", "grad")

    def __init__(self, env: Dict[str, object], grad: FrozenSet[str]):
        self.env = env
        self.grad = grad

    def copy(self) -> "State":
        return State(dict(self.env), self.grad)

    def join(self, other: Optional["State"]) -> "State":
        if other is None:
            return self
        env = dict(self.env)
        for k, v in other.env.items():
            if k in env:
                j = join_vals(env[k], v)
                if j is None:
                    del env[k]
                else:
                    env[k] = j
            else:
                env[k] = v
        return State(env, self.grad | other.grad)

    def same(self, other: Optional["State"]) -> bool:
        return other is not None and self.grad == other.grad and self.env == other.env

    def kill(self, key: str) -> None:
        self.env.pop(key, None)
        prefix = key + "."
        for k in [k for k in self.env if k.startswith(prefix)]:
            del self.env[k]


def join_states(a: Optional[State], b: Optional[State]) -> Optional[State]:
    if a is None:
        return b
    return a.join(b)


def path_of(expr: ast.AST) -> Optional[str]:
    """``model`` / ``self.model`` / ``a.b.c`` for Name/Attribute chains, else None."""
    t = type(expr)
    if t is ast.Name:
        return expr.id
    if t is not ast.Attribute:
        return None
    parts = []
    while t is ast.Attribute:
        parts.append(expr.attr)
        expr = expr.value
        t = type(expr)
    if t is ast.Name:
        parts.append(expr.id)
        return ".".join(reversed(parts))
    return None


def is_test_function(unit: "_Unit") -> bool:
    """A test that pytest or unittest collects: ``test*`` in a ``test_*.py`` / ``*_test.py`` file.

    Its model calls check shapes, hooks or numerics, not predictions anyone serves: a
    dropout firing there makes the test flaky, so the test shows it; the runtime guard's
    pytest plugin (``--dropout-guard``, ``@pytest.mark.dropout_guard``) checks tests at run time.
    The rules report no model call of a test, and the helpers a test calls take no grad
    state or models from it."""
    if unit.fn is None or not unit.fn.name.startswith("test"):
        return False
    name = os.path.basename(unit.path)
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def _model_path(expr: ast.AST, through: FrozenSet[str] = K.SAME_MODEL_METHODS) -> Optional[str]:
    """The variable an expression reads a model from, through ``.to()``-style chains (and
    through the methods ``through``)."""
    while type(expr) is _Call and type(expr.func) is _Attribute and expr.func.attr in through:
        expr = expr.func.value
    return path_of(expr)


def root_of(key: str) -> str:
    return key.split(".", 1)[0]


_SCOPES = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda})
_EXPR, _Keyword = ast.expr, ast.keyword
_COMPREHENSIONS = frozenset({ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp})


def _is_backward(c: ast.Call, module: ModuleInfo, q: Optional[str] = None) -> bool:
    """``x.backward(...)`` or ``torch.autograd.grad(...)``: a backward pass (``q``: the
    callee's resolved name, when the caller has it already)."""
    f = c.func
    if type(f) is ast.Attribute and f.attr == "backward":
        return True
    return (q if q is not None else module.resolve(f)) in K.AUTOGRAD_GRAD


def _is_switch(s: ast.AST, key: str, attr: str, line: int) -> bool:
    """``s`` is the statement ``key.<attr>()`` at ``line``."""
    return type(s) is ast.Expr and s.lineno == line and type(s.value) is _Call and \
        type(s.value.func) is _Attribute and s.value.func.attr == attr and path_of(s.value.func.value) == key


def _chosen_mode(s: ast.AST, key: str, attr: str, line: int, bound) -> bool:
    """``s`` is an ``if``/``elif``/``else`` chain holding the statement ``key.<attr>()`` at
    ``line`` in which every branch switches ``key`` (to either mode) or ends (``raise``,
    ``assert False``), on tests of names no loop of the body rebinds (``bound()``: the names
    that one does): the mode chosen by configuration (``if args.finetune: model.train() elif
    args.freeze: model.eval() else: assert False``), which every path after it runs in on
    purpose. A test of a loop's phase variable (``for phase in ("train", "val")``) alternates
    the mode instead."""
    if type(s) is not ast.If:
        return False
    branches = []
    while True:
        if any(type(n) is _Name and n.id in bound() for n in ast.walk(s.test)):
            return False
        branches.append(s.body)
        if len(s.orelse) == 1 and type(s.orelse[0]) is ast.If:
            s = s.orelse[0]
            continue
        if not s.orelse:
            return False  # a path that sets no mode
        branches.append(s.orelse)
        break
    found = False
    for body in branches:
        decided = False
        for st in body:
            if type(st) is ast.Expr and type(st.value) is _Call and type(st.value.func) is _Attribute and \
                    st.value.func.attr in ("train", "eval") and path_of(st.value.func.value) == key:
                decided = True
                found = found or _is_switch(st, key, attr, line)
            elif type(st) is ast.Raise or (type(st) is ast.Assert and type(st.test) is _Constant and not st.test.value):
                decided = True
        if not decided:
            return False
    return found


def _has_call(node: ast.AST) -> bool:
    """Whether a call is anywhere in ``node`` (nested scopes included, as ``ast.walk``)."""
    AST, fields_of = ast.AST, _FIELDS
    stack = [node]
    while stack:
        cur = stack.pop()
        t = type(cur)
        if t is _Call:
            return True
        if t is _Name or t is _Constant:
            continue
        for name in fields_of.get(t) or _child_fields(t):
            v = getattr(cur, name, None)
            if v.__class__ is list:
                stack.extend(item for item in v if isinstance(item, AST))
            elif isinstance(v, AST):
                stack.append(v)
    return False


def _walk_scope(node: ast.AST):
    """Walk without descending into nested function/class/lambda scopes. The order of
    ``ast.iter_child_nodes``, without the operator and context singletons (``Load``,
    ``Add``…) that nothing here consults."""
    AST, fields_of = ast.AST, _FIELDS
    stack: List[ast.AST] = [node]
    top = type(node) in (ast.FunctionDef, ast.AsyncFunctionDef, ast.Module)
    push = stack.append
    while stack:
        cur = stack.pop()
        t = type(cur)
        if top:
            top = False
        else:
            yield cur
            if t in _SCOPES:
                continue
        for name in fields_of.get(t) or _child_fields(t):
            v = getattr(cur, name, None)
            if v.__class__ is list:
                for item in v:
                    if isinstance(item, AST) and not isinstance(item, _SINGLETONS):
                        push(item)
            elif isinstance(v, AST) and not isinstance(v, _SINGLETONS):
                push(v)


_NEUTRAL_CONTEXTS = ("torch.autocast", "torch.cuda.amp.autocast", "torch.amp.autocast", "torch.cpu.amp.autocast",
                     "contextlib.", "torch.profiler", "torch.autograd.profiler", "torch.cuda.device",
                     "torch.device")
_PY_CONVERSIONS = frozenset({"float", "int", "bool", "str", "round", "len", "print", "repr", "format"})
_Name, _Constant, _Attribute, _Call, _Load = ast.Name, ast.Constant, ast.Attribute, ast.Call, ast.Load
_VARIABLE = frozenset({"torch.autograd.Variable", "torch.autograd.variable.Variable"})
_PURE_BUILTINS = frozenset({"min", "max", "len", "int", "float", "str", "bool", "abs", "round", "range",
                            "isinstance", "getattr", "hasattr", "print", "tuple", "list"})
_BINDERS = frozenset({ast.Assign, ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor, ast.comprehension,
                      ast.withitem, ast.NamedExpr})  # the nodes that bind a name to a value
_TAINT_CUT = frozenset({"detach", "item", "tolist", "numpy", "argmax", "argmin", "size", "dim", "numel"})


class _Unit:
    """One analysable body: a function, a method, or a module's top-level code."""

    def __init__(self, project: "Project", module: ModuleInfo, fn: Optional[FunctionInfo]):
        self.project = project
        self.module = module
        self.fn = fn
        self.node = fn.node if fn is not None else module.tree
        self.cls: Optional[ClassInfo] = fn.cls if fn is not None else None
        self.id = fn.qualname if fn is not None else f"{module.modname}.<module>"
        self.path = module.path
        self.is_module_method = bool(self.cls is not None and project.is_torch_module(self.cls))
        self.is_lightning = bool(self.cls is not None and project.is_lightning(self.cls))
        self.params: List[str] = fn.param_names() if fn is not None else []
        self.positional: List[str] = fn.positional_params() if fn is not None else []
        self.is_method = bool(self.cls is not None and self.positional and not self._is_static())
        self.summary = Summary()
        self.events: Dict[Tuple[int, str, str], Event] = {}
        self.edges: List[Tuple[str, FrozenSet[str]]] = []  # (callee unit id, grad at call site)
        self.param_gets_model: Dict[Tuple[str, str], object] = {}
        self._facts_done = False
        self._walk_pending = False  # the taint walk is left until something reads it (see facts)
        self.opaque_steps: Set[int] = set()  # calls of unknown callables handed an optimizer
        self.ret_calls: List[Tuple[int, str]] = []  # (call id, callee id) whose roles wait for the walk
        self._event_index = None
        self._facts_sig = None
        self._callees: Optional[Dict[int, Optional["_Unit"]]] = None
        self._nodes: Optional[List[ast.AST]] = None
        self._calls: Optional[List[ast.Call]] = None
        self._inert: Optional[bool] = None
        self._sources: Optional[Dict[str, Set[str]]] = None  # variable -> the paths assigned to it
        self._picked: Optional[Dict[str, List[ClassInfo]]] = None  # local name -> the classes bound to it
        self.static_callees: Dict[int, Optional["_Unit"]] = {}  # call id -> the unit its names resolve to
        self.local_defs: Optional[Dict[str, ast.AST]] = None  # name -> def directly in the body
        self.final_env: Dict[str, object] = {}
        self._parents: Optional[Dict[int, ast.AST]] = None
        self._backward_calls: Optional[List[ast.Call]] = None
        self._assigns: Optional[List[Tuple[List[ast.AST], ast.AST]]] = None
        self._bound_names: Optional[Set[str]] = None
        self._zeroed: Optional[Set[Optional[str]]] = None  # paths whose zero_grad() the body calls
        self._loads: Optional[Dict[str, List[ast.Name]]] = None  # name -> its reads in the body

    @property
    def nodes(self) -> List[ast.AST]:
        """Every node of this body, nested scopes excluded (computed once)."""
        if self._nodes is None:
            self._nodes = self.fn.nodes if self.fn is not None else list(_walk_scope(self.node))
        return self._nodes

    @property
    def calls(self) -> List[ast.Call]:
        """The calls among ``nodes`` (computed once)."""
        if self._calls is None:
            self._calls = self.fn.calls if self.fn is not None else [n for n in self.nodes if type(n) is _Call]
        return self._calls

    @property
    def backward_calls(self) -> List[ast.Call]:
        """The backward passes among ``calls`` (computed once)."""
        if self._backward_calls is None:
            self._backward_calls = [c for c in self.calls if _is_backward(c, self.module)]
        return self._backward_calls

    def _is_static(self) -> bool:
        for d in self.fn.node.decorator_list:
            if isinstance(d, ast.Name) and d.id == "staticmethod":
                return True
        return False

    def events_on(self, node: ast.AST) -> List[Event]:
        """The events recorded at ``node`` (an index built once per analysis of the body)."""
        if self._event_index is None or self._event_index[0] is not self.events:
            index: Dict[int, List[Event]] = {}
            for (nid, _kind, _key), ev in self.events.items():
                index.setdefault(nid, []).append(ev)
            self._event_index = (self.events, index)
        return [ev for ev in self._event_index[1].get(id(node), ()) if ev.node is node]

    def inert(self) -> bool:
        """A module's own method with nothing the analysis reports or summarises: skipped.

        Calls of submodules inside a module's methods inherit its mode and are never
        findings, so only these matter there: ``self(...)`` outside ``forward`` (a prediction
        on the receiver), a parameter called or switched, backward passes, mode attributes.
        """
        if self._inert is None:
            self._inert = self._compute_inert()
        return self._inert

    def _compute_inert(self) -> bool:
        if not self.is_module_method or self.is_lightning or self.is_classmethod or self._is_static():
            return False  # class and static methods are factories: their return values matter
        selfname = self.positional[0] if self.positional else "self"
        others = set(self.params) - {selfname}
        for n in self.nodes:
            t = type(n)
            if t is _Call:
                f = n.func
                tf = type(f)
                if tf is _Name:
                    if f.id in others or (f.id == selfname and self.fn.name not in ("forward", "__call__")):
                        return False
                    if self.module.resolve(f) in K.AUTOGRAD_GRAD:
                        return False
                elif tf is _Attribute:
                    if f.attr in ("backward", "grad", "step", "eval", "train"):
                        return False
                    if type(f.value) is _Name and f.value.id in others and (
                            f.attr in K.MODULE_METHODS or f.attr == "forward"):
                        return False
                    if type(f.value) is _Name and f.value.id == selfname and f.attr == "forward" and \
                            self.fn.name not in ("forward", "__call__"):
                        return False  # `self.forward(x)` in `act()`: a prediction on the receiver, as `self(x)`
                    if self.runs_receiver(path_of(f)):
                        return False  # `self.fc_pi(x)` in `pi()`: as `self(x)`
            elif t is _Attribute and n.attr in ("eval", "train", "training"):
                return False
        return True

    def picked_classes(self, name: str) -> List[ClassInfo]:
        """The module classes of the project a local name is bound to, where every binding of
        it in this body is one (``net = BetaVAE_H`` in one branch, ``net = BetaVAE_B`` in the
        other, then ``net(z_dim)``); empty for anything else."""
        memo = self._picked
        if memo is None:
            memo = self._picked = {}
        got = memo.get(name)
        if got is not None:
            return got
        out: List[ClassInfo] = []
        if name not in self.params:
            for targets, value in self.assigns():
                if not any(name in _target_names(t) for t in targets):
                    continue
                if not (len(targets) == 1 and type(targets[0]) is _Name and type(value) in (_Name, _Attribute)):
                    out = []
                    break
                q = self.project.resolve_q(self.module, value)
                ci = self.project.lookup_class(q, self.module) if q else None
                if ci is None or not self.project.is_torch_module(ci) or \
                        ci.name.endswith(("Loss", "Criterion", "Metric")):
                    out = []
                    break
                if ci not in out:
                    out.append(ci)
        memo[name] = out
        return out

    def runs_receiver(self, key: Optional[str]) -> bool:
        """``key`` (``self.fc``) is a layer with weights of the receiver, called in one of the
        module's own methods besides ``forward``: the receiver's weights run there, so the call
        is a use of the receiver (``model.pi(s)`` predicts with ``model``)."""
        if not self.is_module_method or self.fn is None or self.fn.name in ("forward", "__call__") \
                or self.is_classmethod or self._is_static() or not key:
            return False
        selfname = self.positional[0] if self.positional else "self"
        head, _, rest = key.partition(".")
        return head == selfname and bool(rest) and "." not in rest and \
            self.project.weighted_submodule(self.cls.qualname, rest)

    def aliases(self, key: str) -> List[Tuple[str, bool]]:
        """The variables assigned from ``key`` in this body, or that ``key`` is assigned from
        (``a = key``, ``a = key.to(device)``), each with whether that is its only source."""
        if self._sources is None:
            self._sources = {}
            for n in self.nodes:
                if type(n) is ast.Assign and len(n.targets) == 1:
                    t, v = path_of(n.targets[0]), _model_path(n.value)
                    if t and v and t != v:
                        self._sources.setdefault(t, set()).add(v)
        out = [(a, srcs == {key}) for a, srcs in self._sources.items() if key in srcs]
        srcs = self._sources.get(key, set())
        out += [(b, len(srcs) == 1) for b in srcs]
        if self.is_method and self.cls is not None and not self.is_module_method and self.fn is not None \
                and self.positional and key.startswith(self.positional[0] + ".") and key.count(".") == 1:
            # attributes `__init__` makes hold the same model (`self.runner = DataParallel(self.net)`)
            selfname, attr = key.split(".", 1)
            for a, b in self.project.attr_aliases(self.cls).items():
                if b == attr:
                    out.append((f"{selfname}.{a}", True))
                elif a == attr:
                    out.append((f"{selfname}.{b}", True))
        return out

    @property
    def is_classmethod(self) -> bool:
        return self.fn is not None and any(isinstance(d, ast.Name) and d.id == "classmethod"
                                           for d in self.fn.node.decorator_list)

    # -- pass 1: flow-insensitive facts (taint to backward, optimizer steps) ---------------
    def _callee_signature(self):
        return tuple((c.id, tuple(sorted(c.summary.backward_params)), c.summary.steps)
                     for c in (self._callees or {}).values() if c is not None)

    def facts(self) -> None:
        if self._facts_done and self._facts_sig == self._callee_signature():
            return
        self._facts_done = True
        assigns = self.assigns()
        calls: List[ast.Call] = self.calls
        self.backward_taint: Set[int] = set()
        self.grad_taint: Set[int] = set()
        self.higher_taint: Set[int] = set()  # differentiated with `create_graph=True` (a gradient penalty)
        self.returned_taint: Set[int] = set()
        self.escaped_taint: Set[int] = set()
        self.returns_loss = False
        self.steps: List[Optional[Set[str]]] = []  # None: an optimizer of unknown origin
        self.backward_params: Set[int] = set()
        optimizers = {**self.receiver_optimizers(), **self._optimizers(assigns)}
        zero_grad_receivers = {path_of(c.func.value) for c in calls
                               if isinstance(c.func, ast.Attribute) and c.func.attr == "zero_grad"}
        self.frozen = self._frozen_models(calls, assigns)
        self.input_grads = any(
            (type(c.func) is _Attribute and c.func.attr in ("requires_grad_", "retain_grad")) or
            any(k.arg == "requires_grad" and not (type(k.value) is _Constant and not k.value.value)
                for k in c.keywords) for c in calls) or any(
            type(t) is _Attribute and t.attr == "requires_grad" and not (type(v) is _Constant and not v.value)
            for targets, v in assigns for t in targets)
        self._callees: Dict[int, Optional["_Unit"]] = {}
        for c in calls:
            if isinstance(c.func, ast.Attribute) and c.func.attr == "step":
                recv = path_of(c.func.value)
                if c.args and recv is not None and recv not in optimizers:  # scaler.step(opt)
                    opt = path_of(c.args[0])
                    if opt in optimizers:
                        self.steps.append(optimizers[opt])
                    elif opt is not None:
                        self.steps.append(None)
                elif recv in optimizers:
                    self.steps.append(optimizers[recv])
                elif recv is not None and (recv in zero_grad_receivers or self._annotated_optimizer(recv)):
                    self.steps.append(None)
                elif recv is None and isinstance(c.func.value, ast.Call):
                    self.steps.append(None)  # opt_rref.rpc_sync().step(): an optimizer we cannot see
            callee = self.project.resolve_callee(self, c, None, None)
            self._callees[id(c)] = callee
            if callee is not None and callee.summary.steps:
                self.steps.append(None)
        # flow-sensitive taint: which model calls' results reach a backward pass. Without a
        # backward pass here (none written, none in a callee) nothing reaches one, and the
        # rest of the walk (results returned or stored away) is only read for the roles of
        # model calls and of results returned to callers: it waits until one is asked for.
        known_optimizers = set(optimizers) | {r for r in zero_grad_receivers if r} | \
            {p for p in self.params if self._annotated_optimizer(p)}
        # an opaque callable handed the optimizer (`loss_scaler(loss, optimizer)`, timm's and
        # MAE's AMP scalers): whatever else it gets may be backpropagated and stepped there
        self.opaque_steps = {id(c) for c in calls if self._callees[id(c)] is None and any(
            path_of(a) in known_optimizers for a in [*c.args, *(k.value for k in c.keywords)])}
        self._walk_pending = not self.opaque_steps and not self.backward_calls and not any(
            self._callees[id(c)] is not None and self._callees[id(c)].summary.backward_params for c in calls) \
            and not any(type(c.func) is _Attribute and (self.receiver_method(c) or _NO_UNIT).backprops_state()
                        for c in calls) and not any(type(n) is _Attribute and n.attr == "grad_fn" for n in self.nodes)
        if not self._walk_pending:
            _TaintWalker(self).block(self.node.body, {})
        self._facts_sig = self._callee_signature()
        self.summary.steps = bool(self.steps)
        self.summary.backward_params = set(self.backward_params)

    def loop_bound_names(self) -> Set[str]:
        """The plain names the body binds in a loop (its targets, assignments in its body):
        names whose value may change from one iteration to the next."""
        if self._bound_names is None:
            out: Set[str] = set()
            for n in self.nodes:
                if type(n) in (ast.For, ast.AsyncFor, ast.While):
                    if type(n) is not ast.While:
                        out.update(_target_names(n.target))
                    for m in _walk_scope(n):
                        if type(m) is ast.Assign:
                            for t in m.targets:
                                out.update(_target_names(t))
                        elif type(m) in (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor, ast.comprehension):
                            out.update(_target_names(m.target))
                        elif type(m) is ast.NamedExpr:
                            out.add(m.target.id)
            self._bound_names = out
        return self._bound_names

    def assigns(self) -> List[Tuple[List[ast.AST], ast.AST]]:
        """(targets, value) of every binding in the body (computed once)."""
        if self._assigns is None:
            assigns: List[Tuple[List[ast.AST], ast.AST]] = []
            for n in self.nodes:
                t = type(n)
                if t not in _BINDERS:
                    continue
                if t is ast.Assign:
                    assigns.append((n.targets, n.value))
                elif t is ast.AugAssign or t is ast.AnnAssign:
                    if n.value is not None:
                        assigns.append(([n.target], n.value))
                elif t is ast.For or t is ast.AsyncFor or t is ast.comprehension:
                    assigns.append(([n.target], n.iter))
                elif t is ast.withitem:
                    if n.optional_vars is not None:
                        assigns.append(([n.optional_vars], n.context_expr))
                else:  # NamedExpr
                    assigns.append(([n.target], n.value))
            self._assigns = assigns
        return self._assigns

    def receiver_optimizers(self) -> Dict[str, Optional[Set[str]]]:
        """The optimizers the class's ``__init__`` keeps on the receiver (``self.opt =
        SGD(self.net.parameters())``), under this method's name for the receiver, with the
        models whose parameters they hold: ``self.opt.step()`` in ``fit`` is a step over
        ``self.net`` as it would be in ``__init__``."""
        if not self.is_method or self.cls is None or self.is_classmethod or self.fn is None \
                or self.fn.name == "__init__":
            return {}
        init = self.project.method_unit(self.cls, "__init__")
        if init is None or init is self or not init.positional:
            return {}
        mine, theirs = self.positional[0], init.positional[0]

        def rename(q: str) -> str:
            return mine + q[len(theirs):] if q == theirs or q.startswith(theirs + ".") else q

        return {rename(path): (None if over is None else {rename(q) for q in over})
                for path, over in init._optimizers(init.assigns()).items() if path.startswith(theirs + ".")}

    def _frozen_models(self, calls: List[ast.Call], assigns) -> Set[str]:
        """Models this body freezes: ``m.requires_grad_(False)``, ``m.requires_grad = False``, or
        the same on ``p`` in a loop over ``m.parameters()`` (the intent is plain, even where the
        assignment on a module freezes nothing)."""
        frozen: Set[Optional[str]] = set()
        for c in calls:
            f = c.func
            if type(f) is _Attribute and f.attr == "requires_grad_":
                a = get_arg(c, 0, "requires_grad")
                if type(a) is _Constant and a.value is False:
                    frozen.add(path_of(f.value))
        for targets, value in assigns:
            if type(value) is _Constant and value.value is False:
                frozen.update(path_of(t.value) for t in targets
                              if type(t) is _Attribute and t.attr == "requires_grad")
        for targets, value in assigns:  # built by a class that freezes itself: `Vgg16(requires_grad=False)`
            base = value
            while type(base) is _Call and type(base.func) is _Attribute and base.func.attr in K.SAME_MODEL_METHODS:
                base = base.func.value
            if type(base) is _Call and self.project.builds_frozen(base, self.module):
                frozen.update(path_of(t) for t in targets)
            elif type(base) is _Call:  # or freezes a part of itself: RND's `self.target`
                ci = self.project.lookup_class(self.module.resolve(base.func), self.module)
                parts = self.project.frozen_attrs(ci) if ci is not None else ()
                for t in targets:
                    p = path_of(t)
                    if p:
                        frozen.update(f"{p}.{a}" for a in parts)
        if self.is_method and self.cls is not None and self.fn is not None and self.fn.name != "__init__" \
                and self.positional:
            frozen.update(f"{self.positional[0]}.{a}" for a in self.project.frozen_attrs(self.cls))
        frozen.discard(None)
        if frozen:  # a loop variable over a model's parameters freezes that model
            for n in self.nodes:
                if type(n) is ast.For and type(n.target) is _Name and n.target.id in frozen and \
                        type(n.iter) is _Call and type(n.iter.func) is _Attribute and \
                        n.iter.func.attr in ("parameters", "named_parameters"):
                    frozen.add(path_of(n.iter.func.value))
        frozen.discard(None)
        return frozen  # type: ignore[return-value]

    def _annotated_optimizer(self, name: str) -> bool:
        if self.fn is None or name not in self.params:
            return False
        qn = self.module.resolve(self.fn.annotation_of(name))
        return bool(qn and qn.startswith("torch.optim."))

    def _mark_backward_params(self, call: ast.Call) -> None:
        self._mark_backward_params_expr(call.func.value)
        for a in call.args:
            self._mark_backward_params_expr(a)

    def _mark_backward_params_expr(self, expr: ast.AST) -> None:
        for n in ast.walk(expr):
            if isinstance(n, ast.Name):
                for p in self._param_sources(n.id):
                    self.backward_params.add(self.positional.index(p))

    def _param_sources(self, name: str) -> Set[str]:
        """The positional parameters whose values may reach the local ``name`` through the
        body's assignments and loop targets (``nodes = [loss] + actions``, ``for a, v in
        zip(actions, values)``, ``loss += mse(v, r)``): syntactic and generous, once per body."""
        flows = self.__dict__.get("_param_flows")
        if flows is None:
            deps: Dict[str, Set[str]] = {}
            for targets, value in self.assigns():
                read = {n.id for n in ast.walk(value) if type(n) is _Name}
                for t in targets:
                    for x in _target_names(t):
                        if "." not in x:
                            deps.setdefault(x, set()).update(read)
            flows = {}
            receiver = self.positional[0] if self.is_method and self.positional else None  # its paths say more
            for start in deps:
                seen, stack = {start}, [start]
                while stack:
                    for nxt in deps.get(stack.pop(), ()):
                        if nxt not in seen:
                            seen.add(nxt)
                            stack.append(nxt)
                flows[start] = {x for x in seen if x in self.positional and x != receiver}
            self.__dict__["_param_flows"] = flows
        own = {name} if name in self.positional else set()
        return own | flows.get(name, set())

    def _optimizers(self, assigns) -> Dict[str, Optional[Set[str]]]:
        """Optimizer variables and the models whose parameters they may hold (None: any)."""
        opts: Dict[str, Optional[Set[str]]] = {}
        for targets, value in assigns:
            if not isinstance(value, ast.Call):
                continue
            qn = self.module.resolve(value.func) or ""
            if not qn.startswith("torch.optim.") or ".lr_scheduler." in qn or ".swa_utils." in qn:
                continue
            over = _parameter_roots(value)
            if over is None:
                first = value.args[0] if value.args else get_arg(value, None, "params")
                if isinstance(first, (ast.List, ast.Tuple)) and all(
                        isinstance(e, (ast.Name, ast.Subscript, ast.Attribute)) for e in first.elts):
                    over = set()  # an optimizer over plain tensors (an input image, a perturbation)
            for t in targets:
                p = path_of(t)
                if p:
                    opts[p] = over
        return opts

    def receiver_method(self, c: ast.Call) -> Optional["_Unit"]:
        """The project method ``obj.m(...)`` runs: as the names resolve, or through the class
        of ``obj`` when the body binds it once from a project class's constructor."""
        callee = (self._callees or {}).get(id(c))
        if callee is not None or type(c.func) is not _Attribute or type(c.func.value) is not _Name:
            return callee
        bound = self.project.bound_once(self, c.func.value.id)
        if type(bound) is not _Call:
            return None
        ci = self.project.lookup_class(self.module.resolve(bound.func), self.module)
        return self.project.method_unit(ci, c.func.attr) if ci is not None else None

    def _self_attr_nodes(self):
        """(attribute, node) for each ``self.<attribute>`` of this method's body."""
        if not self.is_method:
            return []
        me = self.positional[0]
        return [(n.attr, n) for n in self.nodes
                if type(n) is _Attribute and type(n.value) is _Name and n.value.id == me]

    def kept_attrs(self) -> Set[str]:
        """The attributes of ``self`` this method stores a parameter's value in (``self.data.append(item)``,
        ``self.acc_loss += self.criterion(outputs, target)``): the object keeps what it is handed."""
        got = self.__dict__.get("_kept")
        if got is None:
            got = set()
            others = set(self.params) - set(self.positional[:1])
            mentions = lambda e: any(type(n) is _Name and n.id in others for n in ast.walk(e))  # noqa: E731
            for attr, n in self._self_attr_nodes():
                up = self.parents().get(id(n))
                while type(up) is ast.Subscript and up.value is not None:
                    up = self.parents().get(id(up))
                if type(up) in (ast.Assign, ast.AugAssign, ast.AnnAssign) and up.value is not None and \
                        mentions(up.value) and n in ast.walk(up.targets[0] if type(up) is ast.Assign else up.target):
                    got.add(attr)
                elif type(up) is _Attribute and up.attr in _TaintWalker._MUTATORS:
                    call = self.parents().get(id(up))
                    if type(call) is _Call and call.func is up and any(mentions(a) for a in call.args):
                        got.add(attr)
            self.__dict__["_kept"] = got
        return got

    def backprops_state(self) -> bool:
        """This method runs a backward pass and reads the object's own state (REINFORCE's
        ``train_net()`` backpropagating the log-probabilities ``put_data()`` kept)."""
        return bool(self.backward_calls) and bool(self._self_attr_nodes())

    def ensure_walk(self) -> None:
        """Run the taint walk that ``facts`` left pending (it found no backward pass, so the
        walk meets no sink: it is run without looking for any, as facts would have run it)."""
        if self._walk_pending:
            self._walk_pending = False
            _TaintWalker(self, sinks=False).block(self.node.body, {})

    def _stepped(self, key: str) -> bool:
        """An optimizer step of this body may update the model at ``key``."""
        same = [key] + [a for a, sole in self.aliases(key) if sole]  # `runner = model`: one model
        return any(over is None or any(o == k or root_of(o) == root_of(k) or k.startswith(o + ".")
                                       for o in over for k in same) for over in self.steps)

    def feeds_backward(self, call: ast.Call) -> bool:
        """The call's result reaches a backward pass though it is no training call: detached,
        under ``no_grad``, or for an optimizer that steps another model (a GAN's fakes for the
        critic's step, a DQN's targets, a teacher's soft labels). Where the same model is also
        trained in that body (or by a helper it calls), training mode is intended."""
        cid = id(call)
        return cid in self.backward_taint or -cid in self.backward_taint

    def role(self, call: ast.Call, key: str) -> str:
        self.ensure_walk()
        cid = id(call)
        if cid in self.backward_taint:
            root = root_of(key)
            if key in self.frozen or root in self.frozen:
                return "predict_grad"  # frozen here (a text encoder, a teacher): it conditions what trains
            if self._stepped(key):
                return "train"
            if self.steps:  # the optimizer trains another model (a teacher's targets in distillation)
                return "predict_grad"
            # a backward pass and no step at all: gradients of the inputs (saliency, adversarial
            # examples: a prediction that needs grad) when the code asks for them; else maybe a
            # training step whose optimizer runs elsewhere (a demo, gradient accumulation)
            return "predict_grad" if self.input_grads else "unknown"
        if cid in self.grad_taint or self._zeroes_grad(key):
            if cid in self.higher_taint and cid in self.returned_taint and self.fn is not None:
                return "deferred"  # a gradient penalty returned: the callers' backward pass trains it
            return "predict_grad"
        if cid in self.returned_taint and self.fn is not None:
            return "deferred"
        if cid in self.escaped_taint:
            return "unknown"  # stored for later (a REINFORCE episode buffer): maybe differentiated
        if self._shape_only(call):
            return "unknown"  # a smoke test of the output's shape: its values are never read
        return "predict"

    _SHAPE_ATTRS = frozenset({"shape", "ndim", "dtype", "device"})
    def _hooks_forward(self) -> bool:
        """This body registers a hook (Grad-CAM, feature extraction) or prepares a model for
        quantization (observers calibrate on what runs): a forward pass whose result is thrown
        away is still read."""
        got = self.__dict__.get("_hooked")
        if got is None:
            got = False
            for c in self.calls:
                f = c.func
                if type(f) is _Attribute and f.attr in K.FORWARD_HOOKS:
                    got = True
                    break
                q = self.module.resolve(f) or ""
                if q.startswith(K.QUANTIZATION_MODULES) and q.rsplit(".", 1)[-1] in K.QUANTIZATION_STEPS:
                    got = True
                    break
            self.__dict__["_hooked"] = got
        return got

    def _zeroes_grad(self, key: str) -> bool:
        """``key.zero_grad()`` in a body with no backward pass: whoever gets the prediction takes
        its gradients (captum's attribution forward functions, handed to the library)."""
        if self.backward_calls:
            return False
        if self._zeroed is None:  # once per body: a long one asks for each of its calls
            self._zeroed = {path_of(c.func.value) for c in self.calls
                            if type(c.func) is _Attribute and c.func.attr == "zero_grad"}
        return key in self._zeroed

    def parents(self) -> Dict[int, ast.AST]:
        """Child id -> parent node for the nodes of this body (nested scopes included), and
        ``self.node``'s own parent left out: walks up stop at ``self.node``. The file's map
        when a rule built it already; else a map of this definition only (most files never
        need the whole file's)."""
        got = self.module.memo.get("parents")
        if got is not None or self.fn is None:
            return got if got is not None else self.module.parents()
        if self._parents is None:
            self._parents = parent_map(self.node)
        return self._parents

    def switched_before(self, node: ast.AST, key: str, attr: str, line: int) -> bool:
        """A ``key.<attr>()`` statement at ``line`` runs before ``node`` on every path to it: an
        earlier statement of a block that encloses ``node`` (not one reached round a loop)."""
        parents = self.parents()
        cur = node
        while True:
            up = parents.get(id(cur))
            if up is None:
                return False
            for name in ("body", "orelse", "finalbody", "handlers"):
                block = getattr(up, name, None)
                if isinstance(block, list) and cur in block:
                    if any(_is_switch(s, key, attr, line) or _chosen_mode(s, key, attr, line, self.loop_bound_names)
                           for s in block[:block.index(cur)]):
                        return True
            if up is self.node:
                return False
            cur = up

    def correlated_switch(self, key: str, attr: str, line: int) -> bool:
        """The ``key.<attr>()`` statement at ``line`` runs in one branch of ``if T:`` and every
        backward pass of this body in the other branch of an ``if`` on the same test, whose
        names nothing here assigns but a loop (the PyTorch tutorial's ``for phase in
        ['train', 'val']: if phase == 'train': model.train() else: model.eval()`` ... ``if
        phase == 'train': loss.backward()``): the mode it sets never meets the training step."""
        switch = next((n for n in self.nodes if _is_switch(n, key, attr, line)), None)
        backs = self.backward_calls
        if switch is None or not backs:
            return False
        parents = self.parents()

        def branch(node: ast.AST, test: Optional[str] = None) -> Optional[Tuple[ast.If, bool]]:
            """The nearest ``if`` around ``node`` (or the nearest whose test dumps as ``test``),
            and whether ``node`` is in its body (else: its else branch)."""
            cur, up = node, parents.get(id(node))
            while up is not None and cur is not self.node:
                if type(up) is ast.If and cur is not up.test and (test is None or ast.dump(up.test) == test):
                    return up, cur in up.body
                cur, up = up, parents.get(id(up))
            return None

        where = branch(switch)
        if where is None:
            return False
        test = ast.dump(where[0].test)
        names = {n.id for n in ast.walk(where[0].test) if type(n) is _Name}
        for n in self.nodes:  # the test must mean the same at both ifs: its names change only as loop targets
            if type(n) in (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.NamedExpr):
                targets = n.targets if type(n) is ast.Assign else [n.target]
                if any(type(t) is _Name and t.id in names for tg in targets for t in ast.walk(tg)):
                    return False
        for c in backs:
            got = branch(c, test)
            if got is None or got[1] == where[1]:
                return False
        return True

    def _shape_only(self, call: ast.Call) -> bool:
        """The call's result is read only for its shape (``out.shape``, ``out.size()``,
        ``len(out)``), directly or through the one name it is assigned to, or thrown away
        (``_ = model(batch)``: a dry run that initialises lazy modules)."""
        parents = self.parents()

        def shape_read(node: ast.AST) -> bool:
            up = parents.get(id(node))
            if type(up) is _Attribute and up.value is node:
                if up.attr in self._SHAPE_ATTRS:
                    return True
                call_up = parents.get(id(up))
                return up.attr in ("size", "dim") and type(call_up) is _Call and call_up.func is up
            return type(up) is _Call and type(up.func) is _Name and up.func.id == "len" and node in up.args

        if shape_read(call):
            return True
        up = parents.get(id(call))
        if type(up) is ast.Expr:  # `model(x)` as a statement: nothing reads the result (a warm-up),
            if id(up) in self.module.displayed:
                return False  # the last statement of a notebook cell: Jupyter shows its value
            return not self._hooks_forward()  # unless a forward hook of this body keeps what it computes
        if not (type(up) is ast.Assign and up.value is call and len(up.targets) == 1
                and type(up.targets[0]) is _Name):
            return False
        name = up.targets[0].id
        if name == "_":
            return True
        if self._loads is None:  # name -> its reads, once per body
            self._loads = {}
            for n in self.nodes:
                if type(n) is _Name and type(n.ctx) is ast.Load:
                    self._loads.setdefault(n.id, []).append(n)
        loads = self._loads.get(name, ())
        return bool(loads) and all(shape_read(n) for n in loads)



class _NoUnit:
    """Stands for an unresolved method: keeps nothing, backpropagates nothing."""

    @staticmethod
    def backprops_state() -> bool:
        return False


_NO_UNIT = _NoUnit()


class _TaintWalker:
    """Reaching taint: which model-call results each variable may hold, statement by statement.

    An object handed a model's output by a method call may keep it (``%obj`` holds what it was
    given): a project method that stores a parameter on ``self``, or a method the analysis
    cannot resolve. What it keeps reaches a backward pass at ``obj.backward()`` (a project
    loss object with its own backward) or at a call of a project method of the object that
    backpropagates its state (REINFORCE's ``put_data()`` then ``train_net()``)."""

    _MUTATORS = frozenset({"append", "extend", "insert", "add", "update", "appendleft"})

    def __init__(self, unit: _Unit, sinks: bool = True):
        self.u = unit
        self.sinks = sinks
        self.loops: List[List[Optional[Dict[str, FrozenSet[int]]]]] = []
        # names that are plain locals of a function (not parameters, not globals)
        self.local_only = (unit.project.local_names(unit) - set(unit.params)) if unit.fn is not None else set()
        self.same = _object_aliases(unit)  # `raw_model = model.module if ddp else model`: one object

    @staticmethod
    def join(a, b):
        if a is None:
            return b
        if b is None:
            return a
        out = dict(a)
        for k, v in b.items():
            out[k] = out.get(k, frozenset()) | v
        return out

    def block(self, stmts, st):
        for s in stmts:
            if st is None:
                return None
            st = self.stmt(s, st)
        return st

    def stmt(self, s, st):
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return st
        if isinstance(s, ast.Assign):
            t = self.expr(s.value, st)
            for tg in s.targets:
                self.bind(tg, t, st)
            return st
        if isinstance(s, (ast.AnnAssign, ast.AugAssign)):
            if s.value is None:
                return st
            t = self.expr(s.value, st)
            if isinstance(s, ast.AugAssign):
                for n in _target_names(s.target):
                    st[n] = st.get(n, frozenset()) | t
            else:
                self.bind(s.target, t, st)
            return st
        if isinstance(s, ast.Expr):
            self.expr(s.value, st)
            return st
        if isinstance(s, ast.Return):
            if s.value is not None:
                t = self.expr(s.value, st)
                self.u.returned_taint |= t
                if _attached(t) and _mentions_loss(s.value, self.u.module):
                    self.u.returns_loss = True
            return None
        if isinstance(s, ast.If):
            self.expr(s.test, st)
            return self.join(self.block(s.body, dict(st)), self.block(s.orelse, dict(st)))
        if isinstance(s, (ast.For, ast.AsyncFor, ast.While)):
            head = st
            brk = None
            for _ in range(_MAX_LOOP):
                cur = dict(head)
                if isinstance(s, ast.While):
                    self.expr(s.test, cur)
                else:
                    self.bind(s.target, self.expr(s.iter, cur), cur)
                self.loops.append([None, None])
                out = self.block(s.body, cur)
                b, c = self.loops.pop()
                brk = self.join(brk, b)
                new = self.join(head, self.join(out, c))
                if new == head:
                    break
                head = new
            if isinstance(s, ast.While) and isinstance(s.test, ast.Constant) and s.test.value:
                return brk
            return self.join(self.block(s.orelse, dict(head)), brk)
        if isinstance(s, (ast.With, ast.AsyncWith)):
            for item in s.items:
                t = self.expr(item.context_expr, st)
                if item.optional_vars is not None:
                    self.bind(item.optional_vars, t, st)
            return self.block(s.body, st)
        if isinstance(s, ast.Try) or type(s).__name__ == "TryStar":
            body = self.block(s.body, dict(st))
            mid = self.join(st, body)
            out = self.block(s.orelse, dict(body)) if body is not None else None
            for h in s.handlers:
                out = self.join(out, self.block(h.body, dict(mid)))
            if s.finalbody:
                fin = self.block(s.finalbody, dict(self.join(out, mid)))
                return fin if out is not None else None
            return out
        if isinstance(s, ast.Match):
            self.expr(s.subject, st)
            out = st
            for case in s.cases:
                out = self.join(out, self.block(case.body, dict(st)))
            return out
        if isinstance(s, (ast.Break, ast.Continue)):
            if self.loops:
                i = 0 if isinstance(s, ast.Break) else 1
                self.loops[-1][i] = self.join(self.loops[-1][i], st)
            return None
        if isinstance(s, ast.Raise):
            if s.exc is not None:
                self.expr(s.exc, st)
            return None
        for child in ast.iter_child_nodes(s):
            if isinstance(child, ast.expr):
                self.expr(child, st)
        return st

    def bind(self, target, t, st) -> None:
        if isinstance(target, ast.Name):
            st[target.id] = frozenset(t)
        elif isinstance(target, (ast.Tuple, ast.List)):
            # `output, h = net(x, h)`: each name now holds a part of this value only (what it
            # held before, a training output of the last iteration, is gone)
            for elt in target.elts:
                self.bind(elt.value if isinstance(elt, ast.Starred) else elt, t, st)
        else:
            for n in _target_names(target):
                st[n] = st.get(n, frozenset()) | t
            if isinstance(target, (ast.Attribute, ast.Subscript)):
                # what was read back from the object and is stored on it again does not escape
                # (`m.mask = m.mask.to(device)` after `m(x)`)
                self.escape(target.value, t - self.stored_on(target, st) if type(target) is _Attribute else t)

    def escape(self, container: ast.AST, t) -> None:
        """A result stored where the function cannot see its fate (an attribute, a global, a
        parameter's container): whether it is ever differentiated is unknown."""
        if not t:
            return
        root = container
        first = None  # the attribute right below the root: `samples` of `self.samples[i]`
        while isinstance(root, (ast.Attribute, ast.Subscript)):
            if isinstance(root, ast.Attribute):
                first = root.attr
            root = root.value
        if isinstance(root, ast.Name) and root.id in self.local_only:
            return
        if first is not None:
            near, read = self.u.project.attrs_near_backward()
            if first in read and first not in near:
                return  # `self.samples.append(G(z))`, saved or shown: nothing that differentiates or returns reads it
        self.u.escaped_taint |= t

    def expr(self, e, st) -> FrozenSet[int]:
        """Taint of an expression; records backward sinks met on the way (innermost first)."""
        if e is None:
            return frozenset()
        t = type(e)
        if t is _Name:
            return st.get(e.id, frozenset())
        if t is _Constant or t is ast.Lambda:
            return frozenset()
        if t is _Attribute:
            if e.attr == "data":  # `out.data` (old code's detach): a tensor autograd does not follow
                return _detached(self.expr(e.value, st))
            if e.attr == "grad_fn" and self.sinks:  # the recorded graph is read (torchviz's make_dot)
                t = self.expr(e.value, st)
                self.u.grad_taint |= t
                self.u._mark_backward_params_expr(e.value)  # a caller's value: its role is left to it
                return t
            return self.expr(e.value, st) | self.stored_on(e, st)
        if isinstance(e, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            inner = dict(st)
            t = frozenset()
            for gen in e.generators:
                it = self.expr(gen.iter, inner)
                self.bind(gen.target, it, inner)
                for cond in gen.ifs:
                    self.expr(cond, inner)
            if isinstance(e, ast.DictComp):
                return t | self.expr(e.key, inner) | self.expr(e.value, inner)
            return t | self.expr(e.elt, inner)
        parts = frozenset()
        child_taints = []
        func = e.func if t is _Call else None
        for child in ast.iter_child_nodes(e):
            if isinstance(child, ast.keyword):
                child = child.value
            if isinstance(child, ast.expr):
                # a method's own path reads nothing stored on the object (`model.generate(...)`)
                ct = self.expr(child.value, st) if child is func and type(child) is _Attribute else self.expr(child, st)
                child_taints.append((child, ct))
                parts |= ct
        if func is not None:
            key = self.object_key(func)
            if key:  # what the call computes may be kept on the object (llama2.c: `self.last_loss = ...`)
                st["@" + key] = st.get("@" + key, frozenset()) | {id(e)}
            if type(func) is _Attribute:
                self.keep(e, st, [ct for ch, ct in child_taints if ch is not func])
        if isinstance(e, ast.Call):
            if self.sinks:
                self.sink(e, st, child_taints)
            f = e.func
            if isinstance(f, ast.Attribute) and f.attr in _TAINT_CUT:
                return _detached(parts) if f.attr == "detach" else frozenset()
            if isinstance(f, ast.Name) and f.id in _PY_CONVERSIONS:
                return frozenset()
            if isinstance(f, ast.Attribute) and f.attr in self._MUTATORS and e.args:
                for n in _target_names(f.value):
                    st[n] = st.get(n, frozenset()) | parts
                self.escape(f.value, parts)
            return parts | {id(e)}
        return parts

    def keep(self, c: ast.Call, st, arg_taints) -> None:
        """``obj.m(args)``: the object may keep the arguments (see the class docstring)."""
        t = frozenset().union(*arg_taints) if arg_taints else frozenset()
        if not _attached(t) or c.func.attr in self._MUTATORS or c.func.attr == "backward":
            return
        recv = self.object_key(c.func.value)
        if not recv or self.u.module.resolve(c.func) is not None and self.u._callees.get(id(c)) is None:
            return  # a library function (`torch.log`, `np.mean`): it keeps nothing
        callee = self.u.receiver_method(c)
        if callee is None or callee.kept_attrs() or any(o.kept_attrs() for o in self.u.project.overrides(callee)):
            st["%" + recv] = st.get("%" + recv, frozenset()) | t

    def kept_by(self, e: ast.AST, st) -> FrozenSet[int]:
        recv = self.object_key(e)
        return st.get("%" + recv, frozenset()) if recv else frozenset()

    def object_key(self, e: ast.AST) -> Optional[str]:
        """The object an expression names, its first name taken through aliases."""
        p = path_of(e)
        if not p:
            return None
        head, dot, rest = p.partition(".")
        return self.same.get(head, head) + dot + rest

    def stored_on(self, e: ast.Attribute, st) -> FrozenSet[int]:
        """The calls of an object whose results ``e`` may read back from it (``loss =
        raw_model.last_loss`` after ``model(X, Y)``)."""
        key = self.object_key(e)
        if not key:
            return frozenset()
        out: FrozenSet[int] = frozenset()
        parts = key.split(".")
        for i in range(1, len(parts)):
            got = st.get("@" + ".".join(parts[:i]))
            if got:
                out |= got
        return out

    def sink(self, c: ast.Call, st, child_taints) -> None:
        u = self.u
        q = u.module.resolve(c.func)
        taint = {id(ch): t for ch, t in child_taints}
        if q in K.AUTOGRAD_GRAD:
            outs = get_arg(c, 0, "outputs")
            inputs = get_arg(c, 1, "inputs")
            t = taint.get(id(outs), frozenset()) if outs is not None else frozenset()
            if inputs is not None and _mentions_parameters(inputs):
                u.backward_taint |= t
            else:
                u.grad_taint |= t
                if _creates_graph(c):  # the gradients are differentiable: a penalty built on them trains
                    u.higher_taint |= t
            return
        f = c.func
        if isinstance(f, ast.Attribute) and f.attr == "backward":
            t = self.expr_taint(f.value, st) | self.kept_by(f.value, st)
            for a in c.args:
                t = t | taint.get(id(a), frozenset())
            u.backward_taint |= t
            u._mark_backward_params(c)
            return
        if id(c) in u.opaque_steps:
            t = frozenset().union(*taint.values()) if taint else frozenset()
            if _attached(t):
                u.backward_taint |= t
                if None not in u.steps:
                    u.steps.append(None)  # an optimizer stepped where we cannot see
            return
        if type(f) is _Attribute:
            kept = self.kept_by(f.value, st)
            if kept and (u.receiver_method(c) or _NO_UNIT).backprops_state():
                u.backward_taint |= kept  # the object's own method backpropagates what it kept
        callee = u._callees.get(id(c))
        if callee is None or not callee.summary.backward_params:
            return
        wanted = {callee.positional[i] for i in callee.summary.backward_params if i < len(callee.positional)}
        for param, a in u.project.bind_args(callee, c):
            if param in wanted and id(a) in taint:  # the receiver is not an argument here
                u.backward_taint |= taint[id(a)]
                u._mark_backward_params_expr(a)

    def expr_taint(self, e, st) -> FrozenSet[int]:
        """Taint of an already-visited receiver, without re-recording its sinks."""
        out = set()
        stack = [e]
        while stack:
            n = stack.pop()
            if isinstance(n, ast.Name):
                out |= st.get(n.id, frozenset())
                continue
            if isinstance(n, ast.Lambda):
                continue
            if isinstance(n, ast.Call):
                if isinstance(n.func, ast.Attribute) and n.func.attr in _TAINT_CUT:
                    continue
                out.add(id(n))
            stack.extend(ast.iter_child_nodes(n))
        return frozenset(out)


def _runs_param(fn: ast.AST, name: str) -> bool:
    """``fn`` may run what its parameter ``name`` holds: calls it or a method of it, iterates
    it, or hands it to another call that is no tensor constructor of torch."""
    for n in ast.walk(fn):
        if type(n) is _Call:
            f = n.func
            root = f
            while type(root) is _Attribute:
                root = root.value
            if type(root) is _Name and root.id == name:
                return True
            if any(type(a) is _Name and a.id == name for a in n.args) and not (
                    type(f) is _Attribute and type(f.value) is _Name and f.value.id == "torch"):
                return True
        elif type(n) in (ast.For, ast.comprehension) and type(n.iter) is _Name and n.iter.id == name:
            return True
    return False


def _detached(t: FrozenSet[int]) -> FrozenSet[int]:
    """The taint of a detached value (``out.detach()``, ``out.data``): each model call's id
    negated. Autograd does not follow it, but where it reaches a backward pass the call fed a
    training step with a value (a GAN's fakes for its critic, a DQN's targets)."""
    return frozenset(-x if x > 0 else x for x in t)


def _attached(t: FrozenSet[int]) -> bool:
    """Some model call's result reaches this value undetached."""
    return any(x > 0 for x in t)


def _target_names(target: ast.AST) -> Iterable[str]:
    if isinstance(target, (ast.Tuple, ast.List)):
        for e in target.elts:
            yield from _target_names(e)
    elif isinstance(target, ast.Starred):
        yield from _target_names(target.value)
    elif isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Attribute, ast.Subscript)):
        p = path_of(target.value if isinstance(target, ast.Subscript) else target)
        if p:
            yield p.split(".")[0] if isinstance(target, ast.Subscript) else p


def _mentions_loss(expr: ast.AST, module: ModuleInfo) -> bool:
    """The returned value is (or carries) a loss: a training step returns it to its caller."""
    for n in ast.walk(expr):
        name = n.id if isinstance(n, ast.Name) else n.attr if isinstance(n, ast.Attribute) else None
        if name and "loss" in name.lower():
            return True
    return False


def _creates_graph(c: ast.Call) -> bool:
    """``torch.autograd.grad(..., create_graph=True)``: the gradients it returns are part of a
    graph that a later backward pass differentiates (a gradient penalty, a meta-learning step)."""
    flag = get_arg(c, 4, "create_graph")
    return flag is not None and not (type(flag) is _Constant and not flag.value)


def _mentions_parameters(expr: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
               and n.func.attr in ("parameters", "named_parameters") for n in ast.walk(expr))


def _parameter_roots(call: ast.Call) -> Optional[Set[str]]:
    roots = set()
    for n in ast.walk(call):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in (
                "parameters", "named_parameters"):
            p = path_of(n.func.value)
            if p is None:
                return None
            roots.add(p)
    return roots or None


# ----------------------------------------------------------------------------------------
# Pass 2: the abstract interpreter
# ----------------------------------------------------------------------------------------
_NOT_MODELS = frozenset({"Identity", "Flatten", "Unflatten", "Softmax", "LogSoftmax", "ReLU", "GELU", "SiLU",
                         "Tanh", "Sigmoid", "Parameter", "ParameterList", "ParameterDict", "Upsample",
                         "PixelShuffle", "CosineSimilarity", "PairwiseDistance"})
_CONTAINERS = frozenset({"Sequential", "ModuleList", "ModuleDict"})
_MAX_LOOP = 6
_MODE_METHODS = frozenset({"eval", "train"})
_CONTAINER_ADDS = frozenset({"append", "extend", "insert", "add_module", "register_module"})
_SAME_OR_MODE = K.SAME_MODEL_METHODS | _MODE_METHODS


class Interpreter:
    def __init__(self, unit: _Unit):
        self.u = unit
        self.p = unit.project
        self.returns: Optional[State] = None
        self.loops: List[List[Optional[State]]] = []
        self.loop_alias: Dict[str, str] = {}
        self.exit_stacks: Set[str] = set()  # names of the `with ExitStack() as stack:` blocks we are in
        # dropout-guard's `eval_mode(m)` entered on a stack: the models to restore when it closes
        self.stack_evals: Dict[str, List[Tuple[str, ModelVal]]] = {}
        # `inference_guard` regions we are in, innermost last: (the guarded model's path, "" for
        # every model; the ExitStack that entered it, if any; the line)
        self.guards: List[Tuple[str, Optional[str], int]] = []
        self.consts: Dict[str, object] = {}  # loop targets known in the pass of a loop over constants
        self.ret_val = None
        self.has_return_val = False
        self.def_grad: Dict[str, FrozenSet[str]] = {p: frozenset({ENTRY}) for p in unit.params}
        # CPU time of this thread, not the wall clock: a loaded machine must not turn a file into DG000
        self.deadline = time.thread_time() + unit.project.budget
        self._until_check = 0  # statements until the clock is read again
        self.start_grad: FrozenSet[str] = frozenset()  # the grad state the body starts in
        self.children: Dict[str, Set[str]] = {}  # wrapper model -> the models it holds
        self._memo: Dict[int, object] = {}  # expression id -> value, valid until the state changes
        # access paths the body starts with as its caller leaves them, besides its parameters
        # (see Project.attr_paths, closure_paths, global_paths): summarised like parameters
        self.entry_paths: List[str] = []
        self.entry_globals: List[str] = []

    # -- entry -------------------------------------------------------------------------
    def run(self) -> None:
        u = self.u
        u.facts()
        u.events = {}
        u.edges = []
        u.param_gets_model = {}
        u.ret_calls = []
        summary = Summary(backward_params=set(u.backward_params), steps=bool(u.steps))
        self.summary = summary
        self.mode_cand: Set[str] = set()
        self.mode_used: Set[str] = set()
        state = self.initial_state()
        self.start_grad = state.grad
        self.guards = list(self.p.decorator_guards(u))
        end = self.block(self.u.node.body, state)
        exit_state = join_states(end, self.returns)
        self.final_env = exit_state.env if exit_state is not None else {}
        u.final_env = self.final_env
        if exit_state is not None:
            for p in u.params + self.entry_paths:
                v = exit_state.env.get(p)
                if isinstance(v, ModelVal) and v.param == p:
                    summary.exits[p] = v.modes
                else:
                    summary.exits[p] = modes_of(UNKNOWN, "rebound", 0)
            switched = self.p.decorator_eval(u)
            if switched is not None and switched[1] and u.params:  # the decorator restores the mode it found
                summary.exits[u.params[0]] = modes_of(ENTRY, f"passed in as `{u.params[0]}`", u.fn.node.lineno)
            for g in self.p.switched_globals(u):
                v = exit_state.env.get(g)
                summary.globals_exit[g] = v.modes if isinstance(v, ModelVal) else modes_of(UNKNOWN, "", 0)
            for g in self.entry_globals:
                v = exit_state.env.get(g)
                summary.globals_exit[g] = v.modes if isinstance(v, ModelVal) and v.param == g else \
                    modes_of(UNKNOWN, "", 0)
        if self.has_return_val and isinstance(self.ret_val, ModelVal):
            summary.returns = self.ret_val
        elif self.has_return_val and isinstance(self.ret_val, TupleVal):  # `return model, vocab`
            items = tuple(v if isinstance(v, ModelVal) else None for v in self.ret_val.items)
            if any(items):
                summary.returns = TupleVal(items)
        summary.mode_free = self.mode_cand - self.mode_used
        u.summary = summary

    def initial_state(self) -> State:
        u = self.u
        grad = self.p.decorator_grad(u)
        if grad is None:
            grad = frozenset({ENTRY}) if u.fn is not None else frozenset({ON})
        env: Dict[str, object] = {}
        if u.fn is not None:
            # module-level models and instances, in the state the top-level code leaves them
            local = self.p.local_names(u)
            switched_here = self.p.switched_globals_of_module(u.module)
            for name, val in self.p.global_env(u.module).items():
                if name not in local and name not in switched_here:
                    env[name] = val
            line = u.fn.node.lineno
            globs = self.p.global_paths(u, line)
            closed = self.p.closure_paths(u, line)
            env.update(globs)
            env.update(closed)
            self.entry_globals = list(globs)
            self.entry_paths = list(closed)
            line = u.fn.node.lineno
            switched = self.p.decorator_eval(u)  # @eval_decorator: the first argument runs in eval mode
            for i, p in enumerate(u.params):
                if switched is not None and i == 0 and not u.is_classmethod and (u.is_module_method or not u.is_method):
                    val = ModelVal(modes_of(EVAL, f"switched to eval by `@{switched[0]}`", line),
                                   self.p.self_dependent(u.cls) if u.is_module_method else None, p,
                                   cls=u.cls.qualname if u.is_module_method else None, param=p)
                    if not u.is_module_method:
                        given = self.p.param_value(u, p, line)
                        if given is None:
                            continue
                        val = given.with_modes(val.modes)
                    env[p] = val
                    continue
                if u.is_method and i == 0:
                    if u.is_classmethod:
                        continue  # the class, not an instance
                    if u.is_module_method:  # what it holds: its class's layers or a subclass's
                        env[p] = ModelVal(modes_of(ENTRY, f"the receiver `{p}`", line), self.p.self_dependent(u.cls),
                                          p, cls=u.cls.qualname, param=p)
                    elif u.cls is not None:
                        env[p] = InstanceVal(u.cls.qualname)
                        env.update({f"{p}.{k}": v for k, v in self.p.attr_state(u.cls, u.fn).items()})
                        attrs = self.p.attr_paths(u, p, line)
                        env.update(attrs)
                        self.entry_paths += [k for k, v in attrs.items() if v.param == k]
                    continue
                val = self.p.param_class_value(u, p, line) or self.p.param_value(u, p, line)
                if val is not None:
                    env[p] = val
            for d in u.fn.node.decorator_list:  # `@eval_mode(model)`: that model in eval mode inside
                if type(d) is _Call and self.p.resolve_q(u.module, d.func) in K.EVAL_MODE_CONTEXTS:
                    key = path_of(get_arg(d, 0, "model"))
                    if key and isinstance(env.get(key), ModelVal):
                        env[key] = env[key].with_modes(self.eval_mode_modes(d))
        return State(env, grad)

    # -- statements ------------------------------------------------------------------------
    def block(self, stmts: Sequence[ast.stmt], state: Optional[State]) -> Optional[State]:
        for stmt in stmts:
            if state is None:
                return None
            self._until_check -= 1
            if self._until_check <= 0:  # reading the clock is a system call: at the first statement, then every 32nd
                self._until_check = 32
                if time.thread_time() > self.deadline:
                    raise AnalysisTimeout(f"analysis exceeded {self.p.budget:g} s of CPU time")
            state = self.stmt(stmt, state)
        return state

    def stmt(self, s: ast.stmt, st: State) -> Optional[State]:
        self._memo.clear()
        if isinstance(s, ast.Expr):
            self.visit(s.value, st)
            v = s.value
            if isinstance(v, ast.Attribute) and v.attr in _MODE_METHODS:
                self.record_attr_event("mode_attr", v, st)
            elif isinstance(v, ast.Call) and self.p.resolve_q(self.u.module, v.func) in K.SET_GRAD_ENABLED:
                st.grad = self.grad_from_flag(get_arg(v, 0, "mode"))
            elif type(v) is _Call and type(v.func) is _Attribute and v.func.attr == "enter_context" and v.args \
                    and type(v.func.value) is _Name and v.func.value.id in self.exit_stacks:
                # `stack.enter_context(torch.no_grad())` in `with ExitStack() as stack:` (detectron2's
                # inference_on_dataset): the rest of that block runs in the context
                g = self.grad_of_context(v.args[0])
                if g is not None:
                    st.grad = g
                stack = v.func.value.id
                for key, before in self.enter_eval_mode(v.args[0], st):  # restored when the stack closes
                    self.stack_evals.setdefault(stack, []).append((key, before))
                guard = _guarded_path(v.args[0], self.u.module)
                if guard is not None:
                    self.guards.append((guard, stack, v.lineno))
            elif type(v) is _Call and type(v.func) is _Attribute and v.func.attr == "__enter__" and not v.args:
                # `torch.no_grad().__enter__()` (a script's way to switch grad off for good): the
                # rest of the body runs in that context
                g = self.grad_of_context(v.func.value)
                if g is not None:
                    st.grad = g
            return st
        if isinstance(s, ast.Assign):
            self.visit(s.value, st)
            val = self.value(s.value, st)
            for t in s.targets:
                self.assign(t, val, st, s.value)
                self.note_definition(t, s.value, st)
                if isinstance(val, ModelVal) and isinstance(s.value, ast.Call):
                    self.note_children(t, s.value, st)
            return st
        if isinstance(s, ast.AnnAssign):
            if s.value is not None:
                self.visit(s.value, st)
                self.assign(s.target, self.value(s.value, st), st, s.value)
                self.note_definition(s.target, s.value, st)
            return st
        if isinstance(s, ast.AugAssign):
            self.visit(s.value, st)
            self.note_definition(s.target, s.value, st)
            p = path_of(s.target)
            if p:
                st.kill(p)
            return st
        if isinstance(s, ast.Return):
            if s.value is not None:
                self.visit(s.value, st)
                val = self.value(s.value, st)
                self.ret_val = val if not self.has_return_val else join_vals(self.ret_val, val)
                if self.has_return_val and self.ret_val is None:
                    self.ret_val = False  # mixed: not a model
                self.has_return_val = True
            self.returns = join_states(self.returns, st)
            return None
        if isinstance(s, ast.If):
            self.visit(s.test, st)
            known = self.none_test(s.test, st)
            if known is None and self.consts:
                known = self.const_test(s.test)  # `if phase == "train":` in a loop over constants
            if known is not None:  # `if teacher is not None:` on a model: the branch a model takes
                return self.block(s.body if known else s.orelse, st)
            a = self.block(s.body, st.copy())
            b = self.block(s.orelse, st.copy())
            return join_states(a, b)
        if isinstance(s, (ast.For, ast.AsyncFor, ast.While)):
            return self.loop(s, st)
        if isinstance(s, (ast.With, ast.AsyncWith)):
            return self.with_(s, st)
        if isinstance(s, ast.Try) or type(s).__name__ == "TryStar":
            body = self.block(s.body, st.copy())
            mid = join_states(st.copy(), body)
            out = self.block(s.orelse, body.copy()) if body is not None else None
            for h in s.handlers:
                out = join_states(out, self.block(h.body, mid.copy()))
            if s.finalbody:
                fin = self.block(s.finalbody, join_states(out, mid).copy() if out is not None else mid.copy())
                return fin if out is not None else None
            return out
        if isinstance(s, ast.Raise):
            if s.exc is not None:
                self.visit(s.exc, st)
            return None
        if isinstance(s, ast.Break):
            if self.loops:
                self.loops[-1][0] = join_states(self.loops[-1][0], st)
            return None
        if isinstance(s, ast.Continue):
            if self.loops:
                self.loops[-1][1] = join_states(self.loops[-1][1], st)
            return None
        if isinstance(s, ast.Delete):
            for t in s.targets:
                p = path_of(t)
                if p:
                    st.kill(p)
            return st
        if isinstance(s, (ast.Assert,)):
            self.visit(s.test, st)
            if isinstance(s.test, ast.Constant) and not s.test.value:
                return None  # `assert False`: the branch ends here, as with `raise`
            return st
        if isinstance(s, ast.Match):
            self.visit(s.subject, st)
            out = None
            for case in s.cases:
                out = join_states(out, self.block(case.body, st.copy()))
            return join_states(out, st)
        if isinstance(s, (ast.Import, ast.ImportFrom)):
            for alias in s.names:
                st.kill((alias.asname or alias.name).split(".")[0])
            return st
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            st.kill(s.name)
            return st
        return st

    def outside_backward(self, c: ast.Call) -> bool:
        """Whether the ``with`` block that disables grad around ``c`` holds no backward pass."""
        parents = self.u.parents()
        cur = parents.get(id(c))
        while cur is not None and cur is not self.u.node:
            if type(cur) in (ast.With, ast.AsyncWith) and any(
                    type(i.context_expr) is _Call and self.grad_of_context(i.context_expr) == frozenset({OFF})
                    for i in cur.items):
                return not any(type(n) is _Call and _is_backward(n, self.u.module) for n in ast.walk(cur))
            cur = parents.get(id(cur))
        return False

    def none_test(self, test: ast.AST, st: State) -> Optional[bool]:
        """Whether ``x is not None`` (True) or ``x is None`` (False) holds when ``x`` holds a
        model here, or ``isinstance(x, nn.Module)`` (True); None for any other test."""
        if type(test) is ast.Compare and len(test.ops) == 1 and type(test.ops[0]) in (ast.Is, ast.IsNot) \
                and type(test.comparators[0]) is _Constant and test.comparators[0].value is None:
            key = path_of(test.left)
            if key and isinstance(st.env.get(key), ModelVal):
                return type(test.ops[0]) is ast.IsNot
        if type(test) is _Call and type(test.func) is _Name and test.func.id == "isinstance" and len(test.args) == 2:
            key = path_of(test.args[0])
            if key and isinstance(st.env.get(key), ModelVal) and \
                    self.p.resolve_q(self.u.module, test.args[1]) in K.TORCH_MODULE_BASES:
                return True
        return None

    def loop(self, s, st: State) -> Optional[State]:
        is_while = isinstance(s, ast.While)
        infinite = is_while and isinstance(s.test, ast.Constant) and bool(s.test.value)
        if not is_while:
            self.visit(s.iter, st)
            it = self.value(s.iter, st)
            values = self._literal_values(s)
            if values is not None:
                return self.unrolled(s, st, it, values)
        head = st
        breaks: Optional[State] = None
        back: Optional[State] = None
        for _ in range(_MAX_LOOP):
            cur = head.copy()
            if is_while:
                self.visit(s.test, cur)
            else:
                self.bind_loop_target(s.target, it, cur, s.iter)
            self.loops.append([None, None])
            out = self.block(s.body, cur)
            brk, cont = self.loops.pop()
            breaks = join_states(breaks, brk)
            back = join_states(out, cont)
            new = head.join(back) if back is not None else head
            if new.same(head):
                break
            head = new
        if infinite:
            return breaks
        # A `for` loop is taken to run at least once (a training loop over zero epochs is not
        # the path anyone means); a `while` loop may not run at all.
        after = head if is_while or back is None else back.copy()
        normal = self.block(s.orelse, after.copy())
        return join_states(normal, breaks)

    @staticmethod
    def _literal_values(s) -> Optional[List[object]]:
        """The constants a ``for`` loop runs over, in order (``for phase in ["train", "val"]``),
        when its target is a name the body never rebinds; else None."""
        if type(s.target) is not _Name or type(s.iter) not in (ast.List, ast.Tuple) or \
                not 0 < len(s.iter.elts) <= 8 or any(type(e) is not _Constant for e in s.iter.elts):
            return None
        name = s.target.id
        for stmt in s.body:
            for n in ast.walk(stmt):
                if type(n) is _Name and n.id == name and type(n.ctx) is not _Load:
                    return None
        return [e.value for e in s.iter.elts]

    def unrolled(self, s, st: State, it, values: List[object]) -> Optional[State]:
        """A loop over constants, one pass per constant in order, with the target known in each
        (``if phase == "train":`` decided): the state after it is the last pass's."""
        name = s.target.id
        before = self.consts.get(name, _UNBOUND)
        cur: Optional[State] = st
        breaks: Optional[State] = None
        try:
            for v in values:
                if cur is None:
                    break
                cur = cur.copy()
                self.bind_loop_target(s.target, it, cur, s.iter)
                self.consts[name] = v
                self.loops.append([None, None])
                out = self.block(s.body, cur)
                brk, cont = self.loops.pop()
                breaks = join_states(breaks, brk)
                cur = join_states(out, cont)
        finally:
            if before is _UNBOUND:
                self.consts.pop(name, None)
            else:
                self.consts[name] = before
        normal = self.block(s.orelse, cur.copy()) if cur is not None else None
        return join_states(normal, breaks)

    def const_test(self, test: ast.AST) -> Optional[bool]:
        """``name == c`` / ``name != c`` / ``name in (c, d)`` for a loop target known here."""
        if type(test) is not ast.Compare or len(test.ops) != 1:
            return None
        left, right, op = test.left, test.comparators[0], type(test.ops[0])
        if type(left) is _Constant and type(right) is _Name and op in (ast.Eq, ast.NotEq):
            left, right = right, left
        if type(left) is not _Name or left.id not in self.consts:
            return None
        v = self.consts[left.id]
        if type(right) is _Constant and op in (ast.Eq, ast.NotEq):
            return (v == right.value) == (op is ast.Eq)
        if type(right) in (ast.Tuple, ast.List, ast.Set) and op in (ast.In, ast.NotIn) and \
                all(type(e) is _Constant for e in right.elts):
            return (v in [e.value for e in right.elts]) == (op is ast.In)
        return None

    def bind_loop_target(self, target, it, st: State, iter_expr) -> None:
        names = list(_target_names(target))
        for n in names:
            st.kill(n)
            self.loop_alias.pop(n, None)
        if isinstance(target, ast.Name):
            if isinstance(it, ListVal):
                st.env[target.id] = it.elem
                src = path_of(iter_expr)
                if src:
                    self.loop_alias[target.id] = src
        elif isinstance(target, ast.Tuple) and type(iter_expr) is _Call and type(iter_expr.func) is _Name \
                and iter_expr.func.id in ("zip", "enumerate") and not iter_expr.keywords \
                and self.p.resolve_q(self.u.module, iter_expr.func) in (None, "zip", "enumerate", "builtins.zip",
                                                                        "builtins.enumerate"):
            # `for net, opt in zip(nets, opts)`, `for i, net in enumerate(nets)`: each name takes
            # the items of the list at its position
            if iter_expr.func.id == "zip":
                pairs = list(zip(target.elts, iter_expr.args)) if len(target.elts) == len(iter_expr.args) else []
            else:
                pairs = [(target.elts[1], iter_expr.args[0])] if len(target.elts) == 2 and iter_expr.args else []
            for elt, arg in pairs:
                if type(elt) is not _Name or type(arg) is ast.Starred:
                    continue
                v = self.value(arg, st)
                if isinstance(v, ListVal):
                    st.env[elt.id] = v.elem
                    src = path_of(arg)
                    if src:
                        self.loop_alias[elt.id] = src
        elif isinstance(target, ast.Tuple) and isinstance(it, ListVal):
            # for name, model in models.items()
            last = target.elts[-1]
            if isinstance(last, ast.Name):
                st.env[last.id] = it.elem
                src = path_of(iter_expr.func.value) if isinstance(iter_expr, ast.Call) and isinstance(
                    iter_expr.func, ast.Attribute) else None
                if src:
                    self.loop_alias[last.id] = src

    def with_(self, s, st: State) -> Optional[State]:
        grad = st.grad
        stacks = set()
        restore: List[Tuple[str, ModelVal]] = []  # `eval_mode(m)`: the modes it found, back on exit
        guards: List[Tuple[str, Optional[str], int]] = []
        for item in s.items:
            self.visit(item.context_expr, st)
            g = self.grad_of_context(item.context_expr)
            if g is not None:
                grad = g
            entered = self.enter_eval_mode(item.context_expr, st)
            restore += entered
            guard = _guarded_path(item.context_expr, self.u.module)
            if guard is not None:
                guards.append((guard, None, s.lineno))
                self.guards.append(guards[-1])
            if item.optional_vars is not None:
                inside = st.env.get(entered[0][0]) if entered else None
                for n in _target_names(item.optional_vars):
                    st.kill(n)
                if type(item.optional_vars) is _Name and type(item.context_expr) is _Call and \
                        self.p.resolve_q(self.u.module, item.context_expr.func) in _EXIT_STACKS:
                    stacks.add(item.optional_vars.id)
                if inside is not None and type(item.optional_vars) is _Name:  # `with eval_mode(m) as net:` is `m`
                    st.env[item.optional_vars.id] = inside
                    restore.append((item.optional_vars.id, entered[0][1]))
        inner = st.copy()
        inner.grad = grad
        self.exit_stacks |= stacks
        # a `return`, `break` or `continue` in the block leaves it too: what `eval_mode` restores
        # applies there (collected apart, then joined in)
        apart = bool(restore or stacks)
        outer_returns = self.returns
        outer_jumps = self.loops[-1][:] if apart and self.loops else None
        if apart:
            self.returns = None
            if outer_jumps is not None:
                self.loops[-1][:] = [None, None]
        try:
            out = self.block(s.body, inner)
        finally:
            self.exit_stacks -= stacks
            for gd in guards:
                self.guards.remove(gd)
            for stack in stacks:  # what was entered on a stack of this block ends with it
                restore += self.stack_evals.pop(stack, [])
                self.guards = [gd for gd in self.guards if gd[1] != stack]
        if apart:
            self.returns = join_states(outer_returns, self.restored(self.returns, restore))
        if outer_jumps is not None:
            self.loops[-1][:] = [join_states(outer, self.restored(jumped, restore))
                                 for outer, jumped in zip(outer_jumps, self.loops[-1])]
        if out is not None:
            out.grad = st.grad  # what the block entered, its stack included, ends with it
        return self.restored(out, restore)

    def restored(self, st: Optional[State], restore: List[Tuple[str, ModelVal]]) -> Optional[State]:
        """``st`` with the models ``eval_mode`` entered back in the modes it found them in."""
        if st is None or not restore:
            return st
        for key, before in reversed(restore):
            cur = st.env.get(key)
            if isinstance(cur, ModelVal):
                self.set_model(key, cur.with_modes(before.modes), st)
        return st

    def eval_mode_modes(self, c: ast.Call) -> Modes:
        return modes_of(EVAL, f"switched to eval by `eval_mode(...)` at {line_ref(self.u.path, c.lineno)}", c.lineno)

    def enter_eval_mode(self, expr: ast.AST, st: State) -> List[Tuple[str, ModelVal]]:
        """dropout-guard's ``eval_mode(model)`` entered here: the model (and the models it
        holds) switched to eval in ``st``; returns what to restore on exit (``eval_mode``
        sets every flag back as it found it, whatever the block did)."""
        if type(expr) is not _Call or self.p.resolve_q(self.u.module, expr.func) not in K.EVAL_MODE_CONTEXTS:
            return []
        arg = get_arg(expr, 0, "model")
        key = self.base_key(arg) if arg is not None else None
        val = st.env.get(key) if key else None
        if not isinstance(val, ModelVal):
            return []
        new = self.eval_mode_modes(expr)
        found = [(key, val)]
        for child in self.children.get(key, ()):
            cv = st.env.get(child)
            if isinstance(cv, ModelVal):
                found.append((child, cv))
        for k, v in found:
            self.set_model(k, v.with_modes(new), st)
        return found

    def guarded(self, key: str) -> Optional[int]:
        """The line of the ``inference_guard`` region that covers the model at ``key`` here."""
        for path, _stack, line in reversed(self.guards):
            if path == "" or key == path or key.startswith(path + "."):
                return line
        return None

    def guard_view(self, key: Optional[str], val: ModelVal) -> ModelVal:
        """A model inside an ``inference_guard`` region that covers it: its mode is checked at
        run time (the guard raises or warns), so the analysis reads it as unknown there. The
        state keeps its real mode: the guard switches nothing."""
        line = self.guarded(key) if key else None
        if line is None:
            return val
        return val.with_modes(modes_of(UNKNOWN, f"checked at run time by `inference_guard` at "
                                                f"{line_ref(self.u.path, line)}", line))

    def grad_of_context(self, expr: ast.AST) -> Optional[FrozenSet[str]]:
        q = self.p.resolve_q(self.u.module, expr.func if isinstance(expr, ast.Call) else expr)
        grad = grad_of_name(q, self.p.knowledge.no_grad_decorators)
        if grad is not None:
            return grad
        if q in K.SET_GRAD_ENABLED and isinstance(expr, ast.Call):
            return self.grad_from_flag(get_arg(expr, 0, "mode"))
        held = expr.func if isinstance(expr, ast.Call) and q is None else expr
        if type(expr) is _Name and q is None:  # `ctx = torch.no_grad()` once in this scope, then `with ctx:`
            bound = self.p.bound_once(self.u, expr.id)
            if type(bound) is _Call:
                g = self.grad_of_context(bound)
                if g is not None:
                    return g
        if isinstance(held, (ast.Name, ast.Attribute)) and self.p.holds_grad_context(self.u, held):
            return frozenset({UNKNOWN})
        return None

    @staticmethod
    def grad_from_flag(arg) -> FrozenSet[str]:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, bool):
            return frozenset({ON if arg.value else OFF})
        return frozenset({UNKNOWN})

    # -- assignment --------------------------------------------------------------------------
    def assign(self, target, val, st: State, value_expr) -> None:
        if isinstance(target, ast.Attribute) and target.attr == "training" and \
                isinstance(value_expr, ast.Constant) and isinstance(value_expr.value, bool):
            self.record_attr_event("training_assign", target, st)  # copying another flag is bookkeeping
        if isinstance(target, (ast.Tuple, ast.List)):
            elts = target.elts
            if isinstance(val, TupleVal) and len(val.items) == len(elts):
                for t, v in zip(elts, val.items):
                    self.assign(t, v, st, None)
            elif isinstance(val, ListVal):
                for t in elts:
                    self.assign(t, val.elem, st, None)
            else:
                for t in elts:
                    self.assign(t, None, st, None)
            return
        if isinstance(target, ast.Starred):
            self.assign(target.value, None, st, None)
            return
        p = path_of(target)
        if p is None:
            return
        self._memo.clear()
        st.kill(p)
        self.loop_alias.pop(p, None)
        if val is not None and val is not False:
            st.env[p] = val

    # -- expressions -------------------------------------------------------------------------
    def visit(self, expr: Optional[ast.AST], st: State) -> None:
        """Evaluate an expression for its effects: every call, innermost first."""
        t = type(expr)
        if t is _Name or t is _Constant or expr is None or t is ast.Lambda:  # most: nothing to evaluate
            return
        if t is _Attribute:
            self.visit(expr.value, st)
            return
        if t is _Call:  # the children in ast.iter_child_nodes' order, then the call itself
            self.visit(expr.func, st)
            for a in expr.args:
                self.visit(a, st)
            for k in expr.keywords:
                self.visit(k.value, st)
            self.call(expr, st)
            return
        if t in _COMPREHENSIONS:
            inner = st.copy()
            outer_alias = {n: self.loop_alias.get(n) for gen in expr.generators for n in _target_names(gen.target)}
            for gen in expr.generators:
                self.visit(gen.iter, inner)
                self.bind_loop_target(gen.target, self.value(gen.iter, inner), inner, gen.iter)
                for cond in gen.ifs:
                    self.visit(cond, inner)
            if isinstance(expr, ast.DictComp):
                self.visit(expr.key, inner)
                self.visit(expr.value, inner)
            else:
                self.visit(expr.elt, inner)
            # `[net.eval() for net in nets]` switched every model of the list: what the items'
            # list holds now holds outside the comprehension too
            for name, before in outer_alias.items():
                src = self.loop_alias.pop(name, None)
                if src is not None and isinstance(inner.env.get(src), ListVal) and inner.env[src] != st.env.get(src):
                    self._memo.clear()
                    st.env[src] = inner.env[src]
                if before is not None:
                    self.loop_alias[name] = before
            return
        for name in _FIELDS.get(t) or _child_fields(t):  # ast.iter_child_nodes' order
            v = getattr(expr, name, None)
            if v.__class__ is list:
                for child in v:
                    if isinstance(child, _EXPR):
                        self.visit(child, st)
                    elif type(child) is _Keyword:
                        self.visit(child.value, st)
            elif isinstance(v, _EXPR):
                self.visit(v, st)
            elif type(v) is _Keyword:
                self.visit(v.value, st)

    @staticmethod
    def base_key(expr: ast.AST) -> Optional[str]:
        """The variable a model expression lives in, through ``.to()``-style chains and
        ``.train()``/``.eval()`` (which return the model)."""
        return _model_path(expr, _SAME_OR_MODE)

    def call(self, c: ast.Call, st: State) -> None:
        u = self.u
        func = c.func
        q = self.p.resolve_q(u.module, func)
        line = c.lineno
        if _is_backward(c, u.module, q):
            src = self.differentiated_grad(c, q, st)
            if src is not None:
                self.add_event(Event("backward", c, grad=src))
        # mode switches on a model
        if isinstance(func, ast.Attribute) and func.attr in _MODE_METHODS:
            recv = self.value(func.value, st)
            key = self.base_key(func.value)
            if isinstance(recv, ModelVal) and key:
                new = self.switched_modes(func.attr, c)
                root = root_of(key)
                whole = st.env.get(root)
                if func.attr == "train" and root != key and isinstance(whole, ModelVal):
                    # a part put back in training (PPLM's `self.classifier_head.train()` in its
                    # `train_custom()`): the model as a whole is no longer in one known mode
                    why = f"a part of it switched to training by `{key}.train()` at {line_ref(u.path, line)}"
                    self.set_model(root, whole.with_modes(modes_of(UNKNOWN, why, line)), st)
                if func.attr == "eval" or (func.attr == "train" and EVAL in kinds(new)):
                    if recv.param and ENTRY in kinds(recv.modes):
                        self.summary.evals_param.add(recv.param)
                self.set_model(key, recv.with_modes(new), st)
                for child in self.children.get(key, ()):  # .eval() reaches the wrapped models too
                    cv = st.env.get(child)
                    if isinstance(cv, ModelVal):
                        self.set_model(child, cv.with_modes(new), st)
                self.switch_aliases(key, recv, new, line, st)
                return
        if type(func) is _Attribute and func.attr in ("append", "extend", "insert") and type(func.value) is _Name \
                and isinstance(st.env.get(func.value.id), (EmptyListVal, ListVal)):
            self.append_to_list(func.value.id, c, st)
            return
        if type(func) is _Attribute and func.attr in _CONTAINER_ADDS:
            recv = self.value(func.value, st)
            key = self.base_key(func.value)
            if isinstance(recv, ModelVal) and key and self.p.is_container_val(recv):
                self.add_to_container(key, recv, c, st)
                return
        if type(func) is _Attribute and func.attr == "forward":  # `net.forward(x)` runs the model as `net(x)` does
            val = self.value(func.value, st)
            key = path_of(func.value)
            if isinstance(val, ModelVal) and key:
                self.model_call(c, key, val, st)
                return
        alts = self.union_callees(c, st)
        if alts:  # a method of one of several classes: each one's effects, joined
            outs = []
            for cal in alts:
                branch = st.copy()
                self.apply_summary(cal, c, branch)
                outs.append(branch)
            merged = outs[0]
            for o in outs[1:]:
                merged = merged.join(o)
            st.env.clear()
            st.env.update(merged.env)
            st.grad = merged.grad
            return
        callee = self.p.resolve_callee(u, c, st, self)
        if callee is not None:
            self.apply_summary(callee, c, st)
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and u.is_method and \
                    func.value.id == u.positional[0]:
                for ov in self.p.overrides(callee):  # self.m() may run a subclass's override
                    u.edges.append((ov.id, st.grad))
            return
        if type(func) is _Attribute and not c.args and func.attr not in K.MODULE_METHODS \
                and _MODE_WORDS & set(func.attr.lower().split("_")):
            recv = self.value(func.value, st)
            key = self.base_key(func.value)
            if isinstance(recv, ModelVal) and key:
                # a method we cannot see, named for the mode and given no data (PPLM's
                # `discriminator.train_custom()`): it may switch the model, or a part of it
                why = f"`{key}.{func.attr}()` at {line_ref(u.path, line)} may switch it"
                self.set_model(key, recv.with_modes(modes_of(UNKNOWN, why, line)), st)
                return
        val = self.value(func, st)
        key = path_of(func)
        if isinstance(val, ModelVal) and key:
            self.model_call(c, key, val, st)
            return
        ci = self.p.lookup_class(q, u.module) if q else None
        if ci is None and q and not q.startswith(_NOT_CALLERS) and (c.args or c.keywords):
            self.handed_to_library(c, st)
        if ci is not None and not self.p.is_torch_module(ci) and self.p.switched_attrs(ci):
            # the models handed over may be switched by the object's methods from now on
            for a in [*c.args, *(k.value for k in c.keywords)]:
                ak = self.base_key(a)
                av = st.env.get(ak) if ak else None
                if isinstance(av, ModelVal):
                    self.set_model(ak, av.with_modes(modes_of(UNKNOWN, f"handed to `{ci.name}`", line)), st)

    def union_callees(self, c: ast.Call, st: State) -> List["_Unit"]:
        """``policy.select_action(s)`` on an instance of one of several project classes: that
        method of each class; none when a class lacks it or cannot be found (which class
        runs is not for the analysis to decide then)."""
        func = c.func
        if type(func) is not _Attribute:
            return []
        recv = self.value(func.value, st)
        if type(recv) is not InstanceUnion:
            return []
        out = []
        for q in sorted(recv.classes):
            ci = self.p.class_by_qualname(q)
            cal = self.p.method_unit(ci, func.attr) if ci is not None else None
            if cal is None or cal.fn is None:
                return []
            if cal not in out:
                out.append(cal)
        return out

    def handed_to_library(self, c: ast.Call, st: State) -> None:
        """An instance of a project class handed to a library function (lm-eval's
        ``evaluate(GPTFastEvalWrapper(model, ...))``): the library calls its methods, under
        the grad state of this call. Each of the class's own methods gets this call as a
        caller, so a hook called by nothing in the project (``_model_call``) takes that state
        instead of starting with grad enabled."""
        for a in [*c.args, *(k.value for k in c.keywords)]:
            v = self.value(a, st)
            if not isinstance(v, InstanceVal):
                continue
            ci = self.p.class_by_qualname(v.cls)
            if ci is None:
                continue
            for fn in ci.methods.values():
                target = self.p.unit_by_node.get(id(fn.node))
                if target is not None:
                    self.u.edges.append((target.id, st.grad))

    def wrapped_modes(self, ci: ClassInfo, c: ast.Call, st: State) -> Optional[Modes]:
        """A new module that runs nothing but the models handed to its constructor
        (``self.model = model``: dinov2's ``ModelWithNormalize(model)``) runs in their modes,
        whatever its own flag: their modes here; None for any other module."""
        p = self.p
        init = p.method_unit(ci, "__init__")
        if init is None or init.cls is not ci or init.fn is None or has_star_args(c):
            return None
        if any(p.lookup_class(b, ci.module) is not None for b in ci.bases):
            return None  # a base class of the project's own may add layers of its own
        params = init.positional[1:]
        given = {name: a for name, a in zip(params, c.args) if type(a) is not ast.Starred}
        given.update({k.arg: k.value for k in c.keywords if k.arg})
        selfname = init.positional[0] if init.positional else "self"
        run = p._run_attrs(ci)
        if any(a in run for a in p.assigned_attrs(ci) - _self_params_assigned(init.fn, selfname)):
            return None  # it runs something besides what it is given
        out: Set[Mode] = set()
        for n in init.fn.nodes:
            if type(n) is not ast.Assign or len(n.targets) != 1:
                continue
            t = n.targets[0]
            if not (type(t) is _Attribute and type(t.value) is _Name and t.value.id == selfname and t.attr in run):
                continue
            if type(n.value) is not _Name or n.value.id not in given:
                return None  # a layer of its own, or something we cannot follow
            v = self.value(given[n.value.id], st)
            if not isinstance(v, ModelVal) or not v.modes:
                return None
            out |= v.modes
        return frozenset(out) if out else None

    def append_to_list(self, name: str, c: ast.Call, st: State) -> None:
        """``nets.append(m)`` on a list that started empty in this body: a list of models while
        only models are added (``for net in nets: net(x)`` then runs each); anything else
        added makes it a list the analysis does not follow."""
        attr = c.func.attr  # type: ignore[attr-defined]
        arg = c.args[1] if attr == "insert" and len(c.args) == 2 else c.args[0] if len(c.args) == 1 and \
            attr != "insert" else None
        v = self.value(arg, st) if arg is not None and not c.keywords else None
        if attr == "extend":
            v = v.elem if isinstance(v, ListVal) else None
        cur = st.env.get(name)
        self._memo.clear()
        if isinstance(v, ModelVal):
            st.env[name] = ListVal(v if not isinstance(cur, ListVal) else cur.elem.join(v))
        else:
            st.kill(name)

    def add_to_container(self, key: str, recv: ModelVal, c: ast.Call, st: State) -> None:
        """``models.append(m)`` (``extend``, ``insert``, ``add_module``): a container runs its
        children in their own modes, so it takes on the modes of what is added (a child we
        cannot see makes them unknown)."""
        attr = c.func.attr  # type: ignore[attr-defined]
        arg = get_arg(c, 1, "module") if attr in ("insert", "add_module", "register_module") else \
            get_arg(c, 0, "modules" if attr == "extend" else "module")
        items = list(arg.elts) if attr == "extend" and isinstance(arg, (ast.List, ast.Tuple)) else [arg]
        added: Set[Mode] = set()
        for item in items:
            added |= self.added_modes(item, st, attr == "extend", c.lineno)
        self.set_model(key, recv.with_modes(recv.modes | frozenset(added)), st)

    def added_modes(self, item: Optional[ast.AST], st: State, listed: bool, line: int) -> Modes:
        """The modes of a module added to a container. Only modules can be added, so
        ``ckpt.eval()`` is one in eval mode even where ``ckpt`` is not known to be a model."""
        if type(item) is ast.IfExp:
            return self.added_modes(item.body, st, listed, line) | self.added_modes(item.orelse, st, listed, line)
        v = self.value(item, st) if item is not None and not isinstance(item, ast.Starred) else None
        if listed and isinstance(v, ListVal):
            v = v.elem
        if isinstance(v, ModelVal):
            return v.modes
        if not listed and type(item) is _Call and type(item.func) is _Attribute and item.func.attr == "eval" \
                and not item.args and not item.keywords:
            return self.switched_modes("eval", item)
        return modes_of(UNKNOWN, "", line)

    def switch_aliases(self, key: str, before: ModelVal, new: Modes, line: int, st: State) -> None:
        """``a = model`` (or ``model = a``) and then ``model.train()``: ``a`` is switched too
        when it holds the same model and has no other source in this body; when it may hold
        it (assigned from it on some paths: ``a = model if flag else other``), its mode is
        no longer known."""
        for other, sole in self.u.aliases(key):
            v = st.env.get(other)
            if not isinstance(v, ModelVal):
                continue
            if sole and v == before:
                self.set_model(other, v.with_modes(new), st)
            elif v.modes & before.modes:
                self.set_model(other, v.with_modes(modes_of(UNKNOWN, "", line)), st)

    def note_children(self, target: ast.AST, call: ast.Call, st: State) -> None:
        """``wrapper = Wrapper(net)``: the models a new module holds follow its ``.eval()``."""
        key = path_of(target)
        if key is None:
            return
        kids = set()
        for a in [*call.args, *(k.value for k in call.keywords)]:
            for n in ([a] if not isinstance(a, (ast.List, ast.Tuple)) else a.elts):
                ak = path_of(n)
                if ak and isinstance(st.env.get(ak), ModelVal):
                    kids.add(ak)
        if kids:
            self.children[key] = kids

    def differentiated_grad(self, c: ast.Call, q: Optional[str], st: State) -> Optional[FrozenSet[str]]:
        """Grad state under which the differentiated value was computed (None: cannot tell).

        A value computed with tracking off has no graph; one computed earlier with tracking on
        (a loss passed in, ``p.grad`` of a ``create_graph`` pass) can still be differentiated.
        """
        if q in K.AUTOGRAD_GRAD:
            exprs = [get_arg(c, 0, "outputs")]
        elif c.args:
            exprs = [c.func.value, c.args[0]]
        else:
            exprs = [c.func.value]
        out: Set[str] = set()
        for e in exprs:
            if e is None:
                return None
            if any(isinstance(n, ast.Call) for n in ast.walk(e)):
                out |= st.grad
                continue
            names = [n.id for n in ast.walk(e) if isinstance(n, ast.Name)]
            recs = [self.def_grad[n] for n in names if n in self.def_grad]
            if not recs:
                return None
            for r in recs:
                out |= r
        return frozenset(out)

    def note_definition(self, target: ast.AST, value: ast.AST, st: State) -> None:
        if not _has_call(value):
            return
        for n in _target_names(target):
            self.def_grad[n] = self.def_grad.get(n, frozenset()) | st.grad

    def switched_modes(self, attr: str, c: ast.Call) -> Modes:
        line = c.lineno
        at = line_ref(self.u.path, line)
        if attr == "eval":
            return modes_of(EVAL, f"switched to eval with `.eval()` at {at}", line)
        arg = get_arg(c, 0, "mode")
        if arg is None:
            return modes_of(TRAIN, f"switched to training with `.train()` at {at}", line, True)
        if isinstance(arg, ast.Constant) and isinstance(arg.value, bool):
            if arg.value:
                return modes_of(TRAIN, f"switched to training with `.train(True)` at {at}", line, True)
            return modes_of(EVAL, f"switched to eval with `.train(False)` at {at}", line)
        return modes_of(UNKNOWN, "", line)

    def set_model(self, key: str, val: ModelVal, st: State) -> None:
        self._memo.clear()
        st.kill(key)
        st.env[key] = val
        src = self.loop_alias.get(key)
        if src is not None and isinstance(st.env.get(src), ListVal):
            st.env[src] = ListVal(val)

    def model_call(self, c: ast.Call, key: str, val: ModelVal, st: State) -> None:
        u = self.u
        through = mode_free = False
        if u.is_module_method:
            selfname = u.positional[0] if u.positional else "self"
            if key != selfname and u.runs_receiver(key):
                # `self.encoder(x)` in `encode()`, `self.fc_pi(x)` in `pi()`: the receiver's
                # weights run, a call of the receiver as `self(x)` is; its mode matters only
                # where that layer visibly behaves differently in training
                whole = st.env.get(selfname)
                if isinstance(whole, ModelVal):
                    mode_free = self.p.attr_dependent(u.cls, key.split(".", 1)[1]) is not True
                    key, val, through = selfname, whole, True
            if key != selfname:
                if root_of(key) == selfname or not (val.param and ENTRY in kinds(val.modes)):
                    return  # submodules and layers built here inherit the caller's mode
            elif u.fn is not None and u.fn.name in ("forward", "__call__"):
                return
        val = self.guard_view(key, val)
        role = u.role(c, key)
        grad = self.p.forward_grad(val)  # `@torch.no_grad()` on the class's own forward
        if role == "train" and (grad == frozenset({OFF}) or (
                grad is None and st.grad == frozenset({OFF}) and self.start_grad != st.grad
                and self.outside_backward(c))):
            # its forward records nothing (a frozen extractor; a teacher called inside a `with
            # torch.no_grad():` that holds no backward pass): it conditions what trains, it is
            # not trained. A backward pass under the same no_grad is a broken training step (DG203).
            role = "predict_grad"
        has_entry = ENTRY in kinds(val.modes)
        feeds = role in ("predict", "predict_grad") and u.feeds_backward(c)
        if has_entry and val.param:
            (self.mode_cand if mode_free else self.mode_used).add(val.param)
            if role in ("predict", "predict_grad"):
                self.summary.predicts.setdefault(val.param, c.lineno)
                self.note_feeds(val.param, feeds)
            elif role == "train":
                self.summary.trains.setdefault(val.param, c.lineno)
            elif role == "deferred":
                self.summary.returns_calls.add(val.param)
        if grad is None and (key in u.frozen or root_of(key) in u.frozen):
            grad = frozenset({OFF})  # every parameter frozen: autograd records nothing of this pass
        if grad is None and any(self.p.volatile_input(u, a, c.lineno) for a in c.args):
            grad = frozenset({OFF})  # old PyTorch's `Variable(x, volatile=True)`: nothing is recorded
        grad = grad if grad is not None else st.grad
        self.add_event(Event("call", c, key, val.modes, grad, role, False if mode_free else val.dependent,
                             val.hf, val.param if has_entry else None, cls=val.cls, feeds_backward=feeds,
                             through=through))
        if has_entry and val.param and role == "deferred":
            rg = self.summary.returns_grad
            rg[val.param] = rg.get(val.param, frozenset()) | grad
            if not through:
                self.summary.returns_direct.add(val.param)
        if role == "train" and any(m[0] == TRAIN and m[3] for m in val.modes):
            why = f"left in training mode by the training step at {line_ref(self.u.path, c.lineno)}"
            new = frozenset((TRAIN, why, c.lineno, False) if (m[0] == TRAIN and m[3]) else m for m in val.modes)
            self.set_model(key, val.with_modes(new), st)

    def note_feeds(self, param: str, feeds: bool) -> None:
        """A prediction with a parameter's model: whether all of them feed a backward pass."""
        f = self.summary.feeds
        f[param] = f.get(param, True) and feeds

    def apply_summary(self, callee: "_Unit", c: ast.Call, st: State) -> None:
        u = self.u
        s = callee.summary
        u.edges.append((callee.id, st.grad))
        cid = id(c)
        if u._walk_pending:
            u.ret_calls.append((cid, callee.id))  # no backward pass here: Project.settle_ret_calls decides
        elif cid in u.backward_taint:
            self.p.note_ret_role(callee.id, "train" if u.steps else "predict_grad")
        elif cid in u.grad_taint:
            self.p.note_ret_role(callee.id, "predict_grad")
        elif cid in u.returned_taint and u.fn is not None:
            self.p.ret_links.setdefault(u.id, set()).add(callee.id)  # our callers decide for both
        else:
            self.p.note_ret_role(callee.id, "predict")
        name = callee.fn.name if callee.fn else callee.id
        bound = self.p.bind_args(callee, c)
        given = {p for p, _a in bound}
        for p in callee.params:  # a parameter this call leaves to its default (or to `*args`)
            if p not in given:
                self.p.note_param_class((callee.id, p), None)
        for p, a in bound:
            aval = self.value(a, st)
            pk = (callee.id, p)
            self.p.note_param_class(pk, aval)
            dep = aval.dependent if isinstance(aval, ModelVal) else self.p.passed_dependent(u, a)
            self.p.param_dep[pk] = _or_dep(self.p.param_dep.get(pk, dep), dep)
            if not isinstance(aval, ModelVal):
                continue
            if aval.param and ENTRY in kinds(aval.modes) and aval.cls is None and aval.dependent is None:
                # a parameter passed on: evidence only if the caller's own parameter gets a model
                u.param_gets_model[(callee.id, p)] = (u.id, aval.param)
            else:
                u.param_gets_model[(callee.id, p)] = True
            bk = self.base_key(a)
            key = bk or p
            passed = aval  # the state's value: what the callee's exit modes apply to
            aval = self.guard_view(bk, aval)  # in an `inference_guard` region: its mode is checked at run time
            self.record_uses(callee, c, st, key, aval, p, name)
            exit_modes = s.exits.get(p)
            if exit_modes is not None and bk:
                new = substitute(exit_modes, passed.modes, name, self.u.path, c.lineno)
                if new != passed.modes:
                    self.set_model(bk, passed.with_modes(new), st)
        self.apply_path_summary(callee, c, st, name)
        if callee.module is u.module and s.globals_exit:
            for g, gm in s.globals_exit.items():
                cur = st.env.get(g)
                if isinstance(cur, ModelVal):
                    self.set_model(g, cur.with_modes(substitute(gm, cur.modes, name, self.u.path, c.lineno)), st)

    def record_uses(self, callee: "_Unit", c: ast.Call, st: State, key: str, aval: ModelVal, p: str,
                    name: str) -> None:
        """What ``callee`` does with the model the caller holds at ``key`` (its parameter, or an
        access path below one, ``p`` in the callee): a helper event per use (predicts, trains,
        returns the output, which the caller's own use of the result decides), and, where the
        model came in entry-relative, the same uses in the caller's summary."""
        s = callee.summary
        u = self.u
        has_entry = ENTRY in kinds(aval.modes)
        free = p in s.mode_free  # it runs only layers that keep no mode: no mode requirement here
        if has_entry and aval.param and (p in s.predicts or p in s.trains or p in s.returns_calls):
            (self.mode_cand if free else self.mode_used).add(aval.param)
        uses = []
        if p in s.predicts:
            uses.append(("predict", s.predicts[p]))
        if p in s.trains:
            uses.append(("train", s.trains[p]))
        returned_grad = None
        if p in s.returns_calls:
            returned_grad = frozenset(g2 for g in s.returns_grad.get(p, frozenset({ENTRY}))
                                      for g2 in (st.grad if g == ENTRY else (g,)))
            role = u.role(c, key)
            if role == "train" and st.grad == frozenset({OFF}) and self.start_grad != st.grad \
                    and self.outside_backward(c):
                role = "predict_grad"  # as for a model called there (model_call): a reference, not trained
            cline = callee.fn.node.lineno if callee.fn else 0
            if role in ("predict", "predict_grad") and not (aval.hf and name == "generate"):
                # the callee's own call is reported where all its callers predict; where some
                # train with it (`model.pi(s)` in a rollout and in the loss), at this call
                self.add_event(Event("returned", c, key, aval.modes, returned_grad, role, aval.dependent, aval.hf,
                                     aval.param if has_entry else None, name, cline, callee_path=callee.path,
                                     cls=aval.cls, callee_id=callee.id, through=p not in s.returns_direct))
            if role == "train":
                uses.append(("train", cline))
            elif role in ("predict", "predict_grad"):
                uses.append(("predict", cline))
            elif role == "deferred":
                if has_entry and aval.param:
                    self.summary.returns_calls.add(aval.param)
                    rg = self.summary.returns_grad
                    rg[aval.param] = rg.get(aval.param, frozenset()) | returned_grad
                    if p in s.returns_direct:
                        self.summary.returns_direct.add(aval.param)
                else:
                    uses.append(("deferred", cline))  # what our own callers do with it decides
        for use, cline in uses:
            feeds = use == "predict" and p in s.predicts and s.feeds.get(p, False)
            if feeds and p in s.trains:
                continue  # the helper trains the model; what it predicts with it feeds that training
            if has_entry and aval.param and use != "deferred":
                target = self.summary.predicts if use == "predict" else self.summary.trains
                target.setdefault(aval.param, c.lineno)
                if use == "predict":
                    self.note_feeds(aval.param, feeds)
            if (aval.hf and use == "predict" and name == "generate") or free:
                continue
            self.add_event(Event("helper", c, key, aval.modes, st.grad, use, aval.dependent, aval.hf,
                                 aval.param if has_entry else None, name, cline, use,
                                 callee_path=callee.path, cls=aval.cls, feeds_backward=feeds))

    def apply_path_summary(self, callee: "_Unit", c: ast.Call, st: State, name: str) -> None:
        """The callee's summary for access paths below its parameters (``self.net`` of a
        method: see ``Project.attr_paths``), at this call: the caller's value at the same path
        below the argument (``self.validate()`` -> the caller's ``self.net``) is predicted
        with, trained, or switched as the summary says, exactly as for a parameter."""
        s = callee.summary
        u = self.u
        pairs: List[Tuple[str, str, bool]] = []  # (path in the callee, key here, apply its exit modes here)
        paths = self.p.attr_path_names(callee)
        if paths:
            bound = {p: self.base_key(a) for p, a in self.p.bind_args(callee, c)}
            for path in paths:
                head, rest = path.split(".", 1)
                if bound.get(head):
                    pairs.append((path, f"{bound[head]}.{rest}", True))
        if self.p.enclosing_unit(callee) is u:  # a closure: our models it reads (see closure_paths)
            pairs.extend((v, v, True) for v in self.p.closure_paths(callee, 0))
        if callee.module is u.module and callee.fn is not None:  # module-level models it reads (see global_paths)
            own = set(callee.params)
            pairs.extend((g, g, False) for g in sorted(set(s.predicts) | set(s.trains) | s.returns_calls)
                         if g not in own and "." not in g and g in s.globals_exit)  # exits: the globals_exit code
        for path, key, exits in pairs:
            aval = st.env.get(key)
            if not isinstance(aval, ModelVal):
                continue
            self.record_uses(callee, c, st, key, aval, path, name)
            exit_modes = s.exits.get(path) if exits else None
            if exit_modes is not None:
                new = substitute(exit_modes, aval.modes, name, u.path, c.lineno)
                if new != aval.modes:
                    self.set_model(key, aval.with_modes(new), st)

    def record_attr_event(self, kind: str, node: ast.Attribute, st: State) -> None:
        base = node.value
        val = self.value(base, st)
        key = path_of(base) or ""
        u = self.u
        if kind == "training_assign" and u.cls is not None and self.p.is_torch_module(u.cls):
            return  # the module's own methods may set their own flag
        if kind == "training_assign" and u.cls is not None and key.split(".")[0] == (
                u.positional[0] if u.positional else "self") and key.count(".") == 0:
            return
        is_model = isinstance(val, ModelVal)
        param = val.param if is_model and ENTRY in kinds(val.modes) else None
        self.add_event(Event(kind, node, key, val.modes if is_model else frozenset(), st.grad,
                             is_model=is_model and param is None, param=param))

    def add_event(self, ev: Event) -> None:
        """Record an event; visits of the same node for the same model (loop iterations) merge."""
        k = (id(ev.node), ev.kind, ev.key)
        cur = self.u.events.get(k)
        if cur is None:
            self.u.events[k] = ev
        else:
            cur.merge(ev)

    # -- values ------------------------------------------------------------------------------
    def value(self, e: Optional[ast.AST], st: State):
        """The abstract value of an expression (memoised until the state next changes)."""
        if e is None:
            return None
        k = id(e)
        if k in self._memo:
            return self._memo[k]
        v = self._memo[k] = self._value(e, st)
        return v

    def _value(self, e: ast.AST, st: State):
        if isinstance(e, (ast.Name, ast.Attribute)):
            p = path_of(e)
            if p is not None and p in st.env:
                return st.env[p]
            if isinstance(e, ast.Attribute):
                base = self.value(e.value, st)
                if isinstance(base, ModelVal):
                    if e.attr == "module":
                        return base
                    if base.cls and self.p.is_submodule_attr(base.cls, e.attr):
                        owner = self.p.class_by_qualname(base.cls)
                        dep = False if base.dependent is False else \
                            self.p.attr_dependent(owner, e.attr) if owner is not None else None
                        return ModelVal(base.modes, dep, f"{base.label}.{e.attr}", base.hf, None, base.param)
            return None
        if isinstance(e, ast.Call):
            return self.call_value(e, st)
        if isinstance(e, ast.Subscript):
            base = self.value(e.value, st)
            if isinstance(base, ListVal):
                return base.elem
            if isinstance(base, ModelVal) and base.label == "loaded model" and base.param is None and \
                    isinstance(e.slice, ast.Constant) and isinstance(e.slice.value, str):
                # `checkpoint['encoder']` of a `torch.load` result: a whole model kept in the
                # checkpoint dict (an entry that is no model is never called or switched)
                return ModelVal(frozenset(m if m[0] != TRAIN else (TRAIN, f"{m[1]}, taken as `['{e.slice.value}']`",
                                                                    m[2], m[3]) for m in base.modes),
                                None, "loaded model")
            if isinstance(base, TupleVal) and isinstance(e.slice, ast.Constant) and isinstance(e.slice.value, int):
                i = e.slice.value
                return base.items[i] if -len(base.items) <= i < len(base.items) else None
            return None
        if isinstance(e, ast.Tuple):
            items = tuple(self.value(x, st) for x in e.elts)
            return TupleVal(items) if any(i is not None for i in items) else None
        if isinstance(e, ast.List) and not e.elts:
            return EmptyListVal()
        if isinstance(e, (ast.List, ast.Set)):
            return self.list_of(self.value(x, st) for x in e.elts)
        if isinstance(e, ast.Dict):
            return self.list_of(self.value(x, st) for x in e.values)
        if isinstance(e, (ast.ListComp, ast.GeneratorExp, ast.SetComp)):
            inner = st.copy()
            for gen in e.generators:
                self.bind_loop_target(gen.target, self.value(gen.iter, inner), inner, gen.iter)
            return self.list_of([self.value(e.elt, inner)])
        if isinstance(e, ast.IfExp):
            return join_vals(self.value(e.body, st), self.value(e.orelse, st))
        if isinstance(e, ast.NamedExpr):
            return self.value(e.value, st)
        if isinstance(e, ast.BoolOp):
            return None
        return None

    @staticmethod
    def list_of(vals) -> Optional[ListVal]:
        elem = None
        for v in vals:
            if isinstance(v, ListVal):
                v = v.elem
            if isinstance(v, ModelVal):
                elem = v if elem is None else elem.join(v)
        return ListVal(elem) if elem is not None else None

    def call_value(self, c: ast.Call, st: State):
        u = self.u
        p = self.p
        func = c.func
        line = c.lineno
        q = p.resolve_q(u.module, func)
        # methods on a model value
        if isinstance(func, ast.Attribute):
            recv = self.value(func.value, st)
            if isinstance(recv, ModelVal):
                if func.attr in _MODE_METHODS:
                    key = self.base_key(func.value)
                    if key and key in st.env and isinstance(st.env[key], ModelVal):
                        return st.env[key]
                    return recv.with_modes(self.switched_modes(func.attr, c))
                if func.attr in K.SAME_MODEL_METHODS:
                    return recv
                callee = p.resolve_callee(u, c, st, self)
                if callee is not None:
                    return self.returned_value(callee, c, st)
                return None
            if isinstance(recv, ListVal) and func.attr in ("values", "items", "copy") and not c.args:
                return recv  # iterating a dict of models: `for name, m in models.items()`
            if func.attr == "prepare" and c.args and not isinstance(recv, (ListVal, TupleVal)):
                vals = tuple(self.value(a, st) for a in c.args)
                if len(vals) == 1:
                    return vals[0]
                return TupleVal(vals)
        ci = p.lookup_class(q, u.module) if q else None
        if ci is not None and u.fn is None:  # top-level code: the definition in force here
            ci = u.module.class_at(ci, line)
        if ci is None and type(func) is _Name and u.fn is not None:
            picked = u.picked_classes(func.id)
            if len(picked) == 1:
                ci = picked[0]
            elif picked:  # `net = BetaVAE_H if ... else BetaVAE_B`, then `net(...)`: one of them, new
                dep: Optional[bool] = False
                for k in picked:
                    dep = _or_dep(dep, p.class_dependent(k))
                return ModelVal(modes_of(TRAIN, f"built by `{func.id}(...)` at {line_ref(u.path, line)} (a new module "
                                               "starts in training mode)", line), dep, func.id)
        if ci is None and isinstance(func, ast.Attribute):
            owner_q = p.resolve_q(u.module, func.value)
            owner = p.lookup_class(owner_q, u.module) if owner_q else None
            if owner is not None and p.is_torch_module(owner) and p.method_unit(owner, func.attr) is None:
                # a class method inherited from a library base
                if func.attr == "from_pretrained":  # Hugging Face: returns the model in eval mode
                    return ModelVal(modes_of(EVAL, f"loaded with `from_pretrained` at {line_ref(u.path, line)}", line),
                                    True, owner.name, True, owner.qualname)
                return ModelVal(modes_of(UNKNOWN, "", line), None, owner.name, cls=owner.qualname)
        if ci is not None:
            if p.is_torch_module(ci) and ci.name.endswith(("Loss", "Criterion", "Metric")):
                return None  # a loss or metric module, not a model
            if p.is_torch_module(ci) and p.built_without_parameters(ci, c, u.module):
                return None  # `SiSDR(lambda a, b: ...)`: a module that keeps a function, not a model
            if p.is_torch_module(ci):
                if not c.args and not c.keywords and p.empty_container(ci):
                    # `Ensemble()`, a ModuleList of its own: no mode until modules are added
                    return ModelVal(frozenset(), p.class_dependent(ci), ci.name, cls=ci.qualname)
                built = p.built_modes(ci, u)
                if built is not None:  # its __init__ puts what it runs in eval mode
                    return ModelVal(built, p.class_dependent(ci), ci.name, cls=ci.qualname)
                wrapped = self.wrapped_modes(ci, c, st)
                if wrapped is not None:  # it runs only the models it is given: in their modes
                    return ModelVal(wrapped, None, ci.name, cls=ci.qualname)
                return ModelVal(modes_of(TRAIN, f"built by `{ci.name}(...)` at {line_ref(u.path, line)} (a new module starts "
                                               "in training mode)", line),
                                p.class_dependent(ci), ci.name, cls=ci.qualname)
            return InstanceVal(ci.qualname)
        if q:
            lib = self.library_model(q, c, st)
            if lib is not None:
                return lib
        elif type(func) is _Call and type(func.func) is _Name and func.func.id == "getattr" and \
                len(func.args) >= 2 and u.module.resolve(func.func) is None:
            return self.getattr_model(func, line)
        elif type(func) is _Name and u.fn is not None and func.id in u.params and p.module_class_param(u, func.id):
            return ModelVal(modes_of(TRAIN, f"built by `{func.id}(...)` at {line_ref(u.path, line)} (a new module "
                                            "starts in training mode)", line), None, func.id)
        alts = self.union_callees(c, st)
        if alts:  # what one of several classes' methods returns: the join of them
            vals = [self.returned_value(cal, c, st) for cal in alts]
            out = vals[0]
            for v in vals[1:]:
                out = join_vals(out, v) if out is not None and v is not None else None
            return out
        callee = p.resolve_callee(u, c, st, self)
        if callee is not None:
            return self.returned_value(callee, c, st)
        return None

    def container_modes(self, c: ast.Call, st: State, last: str) -> Modes:
        """The modes an ``nn.Sequential`` / ``ModuleList`` / ``ModuleDict`` runs its children in:
        the container's own flag is not theirs. Children built in the call start in training
        mode; existing modules (``nn.Sequential(hf.embedder, hf.encoder)``) keep their own
        modes; a child we cannot see makes the mode unknown."""
        line = c.lineno
        elems: List[ast.AST] = []
        for a in [*c.args, *(k.value for k in c.keywords)]:
            if isinstance(a, (ast.List, ast.Tuple)):
                elems.extend(a.elts)
            elif isinstance(a, ast.Dict):
                elems.extend(v for v in a.values if v is not None)
            else:
                elems.append(a)
        out: Set[Mode] = set()
        fresh = False  # an empty container runs nothing: no mode until modules are added
        for e in elems:
            v = None if isinstance(e, ast.Starred) else self.value(e, st)
            if isinstance(v, ModelVal):
                out |= v.modes
            elif isinstance(e, ast.Call):
                fresh = True  # a layer built here (nn.ReLU(), nn.Linear(...))
            else:
                return modes_of(UNKNOWN, "", line)
        if fresh:
            out |= modes_of(TRAIN, f"built by `nn.{last}(...)` at {line_ref(self.u.path, line)} (a new module starts in training "
                                   "mode)", line)
        return frozenset(out)

    def getattr_model(self, g: ast.Call, line: int) -> Optional[ModelVal]:
        """``getattr(torchvision.models, name)(...)`` / ``getattr(models, args.arch)()``: a
        constructor chosen by name from a library's model family or from a module of the
        project. From a project module, the model is one of its module classes: mode-dependent
        if each of them is, independent if none is, else unknown."""
        q0 = self.u.module.resolve(g.args[0])
        if not q0:
            return None
        why = f"built by `getattr({q0}, ...)(...)` at {line_ref(self.u.path, line)} (a new module starts in training mode)"
        if (q0 + ".").startswith(K.TRAINING_FACTORIES_PREFIXES):
            return ModelVal(modes_of(TRAIN, why, line), True, q0.rsplit(".", 1)[-1])
        mod = self.p.module_named(q0, self.u.module)
        if mod is None:
            return None
        classes = [ci for ci in mod.classes.values() if self.p.is_torch_module(ci)]
        if not classes:
            return None
        deps = {self.p.class_dependent(ci) for ci in classes}
        return ModelVal(modes_of(TRAIN, why, line), deps.pop() if len(deps) == 1 else None, q0.rsplit(".", 1)[-1])

    def library_model(self, q: str, c: ast.Call, st: State):
        line = c.lineno
        last = q.rsplit(".", 1)[-1]
        if q in K.SAME_MODEL_WRAPPERS and c.args:  # `nn.DataParallel(net)`: the same model, in its mode
            return self.value(c.args[0], st)
        if q.startswith("torch.nn.") and q.count(".") == 2:
            if last in _CONTAINERS:
                return ModelVal(self.container_modes(c, st, last), self.p.expr_dependent(c, self.u.module),
                                f"nn.{last}")
            if last not in K.MODE_DEPENDENT_LAYERS or last in K.DROPOUT_LAYERS:
                return None  # a single layer (or a loss) used on its own is not a model
            return ModelVal(modes_of(TRAIN, f"built by `nn.{last}(...)` at {line_ref(self.u.path, line)}", line),
                            layer_dependent(last, c), f"nn.{last}")
        if q in K.TRAINING_FACTORIES or (q.startswith(K.TRAINING_FACTORIES_PREFIXES) and last[:1].islower()
                                         and (last == "get_model" or not last.startswith(("get_", "list_", "_")))):
            return ModelVal(modes_of(TRAIN, f"created by `{q}(...)` at {line_ref(self.u.path, line)} (a new model starts in "
                                            "training mode)", line), True, last)
        if q in K.MAYBE_TRAINING_LOADERS:
            return ModelVal(modes_of(TRAIN, f"loaded whole with `{q}` at {line_ref(self.u.path, line)} (its saved mode flags are "
                                            "unknown; PyTorch asks for `.eval()` after loading)", line),
                            None, "loaded model")
        if q.endswith(".from_pretrained") and q.startswith(("transformers.", "peft.")):
            owner = q.rsplit(".", 2)[-2]
            if ("Model" in owner or "For" in owner) and not any(
                    w in owner for w in ("Tokenizer", "Processor", "Config", "FeatureExtractor")):
                return ModelVal(modes_of(EVAL, f"loaded with `from_pretrained` at {line_ref(self.u.path, line)} (Hugging Face "
                                               "returns models in eval mode)", line), True, owner, True)
            return None
        if q in K.NEW_TRAINING_WRAPPERS and c.args:
            inner = self.value(c.args[0], st)
            dep = inner.dependent if isinstance(inner, ModelVal) else None
            return ModelVal(modes_of(TRAIN, f"created by `AveragedModel(...)` at {line_ref(self.u.path, line)}, a new model in "
                                            "training mode", line), dep, "AveragedModel")
        for f in self.p.knowledge.eval_factories:
            if q == f:
                return ModelVal(modes_of(EVAL, f"returned in eval mode by `{q}` at {line_ref(self.u.path, line)}", line), True, last)
        return None

    def returned_value(self, callee: "_Unit", c: ast.Call, st: State):
        """What a call of ``callee`` returns: a model in the mode the callee leaves it in, or
        a tuple of them by position (``model, vocab = load(path)``)."""
        r = callee.summary.returns
        if isinstance(r, TupleVal):
            items = tuple(self._returned_model(callee, v, c, st) if isinstance(v, ModelVal) else None
                          for v in r.items)
            return TupleVal(items) if any(i is not None for i in items) else None
        if not isinstance(r, ModelVal):
            return None
        return self._returned_model(callee, r, c, st)

    def _returned_model(self, callee: "_Unit", r: ModelVal, c: ast.Call, st: State):
        name = callee.fn.name if callee.fn else callee.id
        if r.param and ENTRY in kinds(r.modes):
            for p, a in self.p.bind_args(callee, c):
                if p == r.param:
                    aval = self.value(a, st)
                    if isinstance(aval, ModelVal):
                        return aval.with_modes(substitute(r.modes, aval.modes, name, self.u.path, c.lineno))
            return None
        out = set()
        for m in r.modes:
            if m[0] == TRAIN:
                out.add((TRAIN, f"returned in training mode by `{name}()` at {line_ref(self.u.path, c.lineno)} ({m[1]})",
                         c.lineno, False))
            elif m[0] == EVAL:
                out.add((EVAL, f"returned in eval mode by `{name}()` at {line_ref(self.u.path, c.lineno)}", c.lineno,
                         False))
            elif m[0] == UNKNOWN:
                out.add(m)
        return ModelVal(frozenset(out), r.dependent, r.label, r.hf, r.cls, None)


def entry_path(v: ModelVal, path: str, line: int) -> ModelVal:
    """The model ``v`` (as it is where it was made) read at ``path`` by a body that starts with
    it as its caller leaves it: entry-relative, like a parameter, so the body's summary says
    what it does to ``path``."""
    return ModelVal(modes_of(ENTRY, f"`{path}` as the caller left it", line), v.dependent, v.label, v.hf, v.cls,
                    param=path)


def substitute(exit_modes: Modes, arg_modes: Modes, callee: str, path: str, line: int) -> Modes:
    """The modes a model leaves ``callee`` in, called at ``line`` of ``path``, given the modes it entered with."""
    at = line_ref(path, line)
    out = set()
    for m in exit_modes:
        if m[0] == ENTRY:
            out |= arg_modes
        elif m[0] == TRAIN:
            out.add((TRAIN, f"switched to training mode inside `{callee}()` (called at {at})", line, False))
        elif m[0] == EVAL:
            out.add((EVAL, f"switched to eval by `{callee}(...)` at {at}", line, False))
        else:
            out.add((UNKNOWN, "", line, False))
    return frozenset(out)


# ----------------------------------------------------------------------------------------
# The project: indexes, resolution, class facts, fixed point, results
# ----------------------------------------------------------------------------------------
_ROUNDS = 4


class Project:
    """All files of one run, analysed together."""

    def __init__(self, files, modules: Dict[str, ModuleInfo], knowledge, budget: float = DEFAULT_BUDGET_S):
        self.budget = budget
        self.files = files
        self.modules = modules
        self.knowledge = knowledge
        self.memo: Dict[str, Any] = {}  # what rules derive from the whole project once per run
        self.by_modname: Dict[str, ModuleInfo] = {}
        for m in modules.values():
            self.by_modname.setdefault(m.modname, m)
        self._modname_prefixes: Set[str] = set()  # "a", "a.b", "a.b.c" of each module name "a.b.c"
        for name in self.by_modname:
            parts = name.split(".")
            self._modname_prefixes.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        self._resolve_star_imports()
        self.units: Dict[str, _Unit] = {}
        self.body_unit: Dict[str, _Unit] = {}
        self._lookup_cache: Dict[Tuple[str, str], object] = {}
        self._submodule_attrs: Dict[str, Set[str]] = {}
        self._weighted_attrs: Dict[Tuple[str, str], bool] = {}
        self._attr_scans: Dict[str, Tuple[Set[str], Set[str]]] = {}
        self._switched_cache: Dict[str, Set[str]] = {}
        self.attr_deps: Dict[str, Set[str]] = {}
        self.units_by_path: Dict[str, List[_Unit]] = {}
        self.unit_by_node: Dict[int, _Unit] = {}
        for m in modules.values():
            body = _Unit(self, m, None)
            self._add_unit(body)
            for fn in m.all_functions:
                self._add_unit(_Unit(self, m, fn))
        self._global_env: Dict[str, Dict[str, object]] = {}
        self._class_dep: Dict[str, Optional[bool]] = {}
        self._run_attr_cache: Dict[str, Set[str]] = {}
        self._noise_cache: Dict[str, bool] = {}  # class -> a NoisyNet-style layer (learned_noise)
        self._attr_state: Dict[str, Dict[str, object]] = {}
        self._attr_models: Dict[str, Dict[str, ModelVal]] = {}  # class -> attr -> the model __init__ leaves there
        self._attr_aliases: Dict[str, Dict[str, str]] = {}  # class -> attr -> the attr it holds the same model as
        self._attrs_near_backward: Optional[Tuple[Set[str], Set[str]]] = None
        self._switched_globals: Dict[str, Set[str]] = {}
        self._local_names: Dict[str, Set[str]] = {}
        self._reads_globals: Dict[str, Set[str]] = {}
        self.entry_grad: Dict[str, FrozenSet[str]] = {}
        self.param_gets_model: Set[Tuple[str, str]] = set()
        self.value_refs: Set[str] = set()
        self.unresolved_calls: Set[str] = set()  # method names called on receivers we cannot resolve
        self.unresolved_arity: Dict[str, Set[int]] = {}  # ... with how many positional arguments (-1: any)
        self._subclasses: Optional[Dict[str, List[ClassInfo]]] = None
        self._overrides: Dict[Tuple[str, str], List[_Unit]] = {}
        self._method_units: Dict[Tuple[int, str], Optional[_Unit]] = {}
        self._scope_nodes: Dict[int, Tuple[ast.AST, List[ast.AST]]] = {}
        self._param_free: Dict[str, bool] = {}
        self.ret_role: Dict[str, str] = {}
        self.errors: Dict[str, Tuple[BaseException, int]] = {}  # path -> the exception that stopped it
        self.ret_links: Dict[str, Set[str]] = {}
        # (unit id, param) -> what its call sites pass: True/False/None as ModelVal.dependent
        self.param_dep: Dict[Tuple[str, str], Optional[bool]] = {}
        # (unit id, param) -> the project classes its call sites pass: ("instance" | "model",
        # class names), None once a call site passes anything else (see note_param_class)
        self.param_classes: Dict[Tuple[str, str], Optional[Tuple[str, FrozenSet[str]]]] = {}
        self._volatile_cache: Dict[str, Dict[str, List[Tuple[int, bool]]]] = {}
        self._bound_cache: Dict[str, Dict[str, Tuple[int, Optional[ast.AST]]]] = {}

    def displays(self) -> Dict[str, str]:
        """Absolute path -> the name users see, for line references into other files."""
        got = self.memo.get("displays")
        if got is None:
            got = self.memo["displays"] = {f.path: f.display for f in self.files}
        return got

    def _add_unit(self, unit: _Unit) -> None:
        if unit.fn is None:
            self.body_unit[unit.path] = unit
        if unit.id in self.units:  # a redefinition: keep the first, analyse the second under a new id
            unit.id = f"{unit.id}@{getattr(unit.node, 'lineno', 0)}"
        self.units[unit.id] = unit
        self.units_by_path.setdefault(unit.path, []).append(unit)
        if unit.fn is not None:
            self.unit_by_node[id(unit.fn.node)] = unit

    def release(self) -> None:
        """Break the analysis' reference cycles (units and project, files and their classes)
        once the rules have read it: reference counting then frees it at once. The project
        and its modules are unusable afterwards."""
        for u in self.units.values():
            u.__dict__.clear()
        for m in self.modules.values():
            m.release()
        self.__dict__.clear()

    # -- running -----------------------------------------------------------------------------
    def run(self) -> None:
        order = self._order()
        bodies = [u for u in self.units.values() if u.fn is None]
        sequence = [u for u in order if not u.inert()] + bodies
        dirty = set(self.units)
        callers: Dict[str, Set[str]] = {}
        for uid, outs in self._graph.items():
            for o in outs:
                callers.setdefault(o, set()).add(uid)
        classes_before: Dict[Tuple[str, str], Optional[Tuple[str, FrozenSet[str]]]] = {}
        for _ in range(_ROUNDS):
            changed: Dict[str, int] = {}
            ran_at: Dict[str, int] = {}
            global_dirty: Set[str] = set()
            for clock, u in enumerate(sequence):
                if u.id not in dirty:
                    continue
                ran_at[u.id] = clock
                before = u.summary.key()
                env_before = u.final_env
                if u.path in self.errors:
                    continue
                try:
                    Interpreter(u).run()
                except Exception as exc:  # noqa: BLE001 - one bad file must not stop the run
                    self.errors[u.path] = (exc, getattr(u.node, "lineno", 1))
                    for x in self.units_by_path.get(u.path, ()):
                        x.events = {}
                    continue
                if u.summary.key() != before:
                    changed[u.id] = clock
                if u.fn is None:
                    genv = {k: v for k, v in u.final_env.items() if isinstance(v, (ModelVal, InstanceVal, ListVal))}
                    old_genv = self._global_env.get(u.path, {})
                    if genv != old_genv:
                        self._global_env[u.path] = genv
                        moved = {k for k in set(genv) | set(old_genv) if genv.get(k) != old_genv.get(k)}
                        global_dirty |= {x.id for x in self.units_by_path.get(u.path, ())
                                         if x.fn is not None and self.reads_globals(x) & moved}
                elif (u.fn.name == "__init__" or u.id in self.attr_deps) and u.final_env != env_before:
                    self._attr_state.pop(u.cls.qualname if u.cls else "", None)
                    self._attr_models.pop(u.cls.qualname if u.cls else "", None)
                    self._attr_aliases.pop(u.cls.qualname if u.cls else "", None)
                    changed[u.id] = clock
            for uid, u in self.units.items():
                for callee, _g in u.edges:
                    callers.setdefault(callee, set()).add(uid)
            dirty = set(global_dirty)
            if self.param_classes != classes_before:  # call sites told a parameter its class
                dirty |= {k[0] for k, v in self.param_classes.items() if classes_before.get(k, v) != v
                          or k not in classes_before}
            classes_before = dict(self.param_classes)
            for uid, when in changed.items():
                # only those that ran before the change saw the stale summary
                for dep in callers.get(uid, set()) | self.attr_deps.get(uid, set()):
                    if ran_at.get(dep, -1) <= when:
                        dirty.add(dep)
            if not dirty:
                break
        self.settle_ret_calls()
        self._solve_ret_roles()
        self._solve_entry_grad()

    def _order(self) -> List[_Unit]:
        """Functions, callees before callers (static call graph, strongly connected parts together)."""
        funcs = [u for u in self.units.values() if u.fn is not None]
        graph: Dict[str, List[str]] = {}
        method_names = {u.fn.name for u in funcs if u.cls is not None}
        for u in funcs:
            outs = []
            if u.inert():
                # never interpreted: its calls matter only as calls of methods through receivers
                # we cannot resolve (the entry state of methods by that name becomes unknown)
                for n in u.calls:
                    f = n.func
                    if type(f) is _Attribute and f.attr in method_names and f.attr not in self.unresolved_calls \
                            and self.resolve_callee(u, n, None, None) is None and not self.switches_own_layer(u, n):
                        self.note_unresolved(n)
                graph[u.id] = outs
                continue
            for n in u.calls:
                cal = self.resolve_callee(u, n, None, None)
                if cal is not None:
                    outs.append(cal.id)
                elif type(n.func) is _Attribute and not self.switches_own_layer(u, n):
                    self.note_unresolved(n)
            graph[u.id] = outs
        self._graph = graph
        for u in self.units.values():
            if u.fn is None:
                for n in u.calls:
                    cal = self.resolve_callee(u, n, None, None)
                    if cal is None and type(n.func) is _Attribute and not self.switches_own_layer(u, n):
                        self.note_unresolved(n)
        self._collect_value_refs()
        seen: Set[str] = set()
        out: List[_Unit] = []
        for u in funcs:
            stack = [(u.id, iter(graph.get(u.id, ())))]
            if u.id in seen:
                continue
            seen.add(u.id)
            while stack:
                uid, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    stack.pop()
                    out.append(self.units[uid])
                elif nxt not in seen and nxt in graph:
                    seen.add(nxt)
                    stack.append((nxt, iter(graph.get(nxt, ()))))
        return out

    def _collect_value_refs(self) -> None:
        """Functions used as values (callbacks): they may be called from anywhere. A name of a
        function read more often than it is called (or used as a decorator) is used as a value."""
        for m in self.modules.values():
            functions, imports = m.functions, m.imports
            loaded = Counter(m.loaded)
            called = Counter(m.called)
            rebound: Optional[Counter] = None
            for name, n in loaded.items():
                if n <= called.get(name, 0) or not (name in functions or name in imports):
                    continue
                if name in m.stored:  # rebound somewhere in the file: maybe `f = torch.compile(f)`
                    if rebound is None:
                        rebound = _compiled_in_place(m)
                    if n - rebound[name] <= called.get(name, 0):
                        continue  # the compiled `f` is called where `f` is
                if name in functions:
                    self.value_refs.add(functions[name].qualname)
                else:
                    u = self.lookup_unit(imports[name], m)
                    if u is not None:
                        self.value_refs.add(u.id)

    def settle_ret_calls(self) -> None:
        """The roles that calls in bodies without a backward pass give their callees' results
        (``apply_summary`` left them pending). Each is "predict", or the role the caller's own
        callers give it when the caller returns the result; only the helpers whose results
        anyone reads (events deferred to the callers) need them, and so the walks run only
        for the callers of those."""
        waiting: Dict[str, List[Tuple[_Unit, int]]] = {}
        for u in self.units.values():
            for cid, callee in u.ret_calls:
                waiting.setdefault(callee, []).append((u, cid))
        wanted = [u.id for u in self.units.values()
                  if any(ev.role == "deferred" or ev.use == "deferred" for ev in u.events.values())]
        wanted += list(self.ret_links)
        done: Set[str] = set()
        while wanted:
            callee = wanted.pop()
            if callee in done:
                continue
            done.add(callee)
            for u, cid in waiting.get(callee, ()):
                u.ensure_walk()
                if cid in u.returned_taint and u.fn is not None:
                    self.ret_links.setdefault(u.id, set()).add(callee)  # u's callers decide for both
                    wanted.append(u.id)
                else:
                    self.note_ret_role(callee, "predict")

    def _solve_ret_roles(self) -> None:
        """A helper whose result its caller returns takes the role that caller's callers give it."""
        for _ in range(20):
            changed = False
            for caller, callees in self.ret_links.items():
                role = self.ret_role.get(caller)
                if role is None and self.units[caller].returns_loss:
                    role = "unknown"
                if role is None:
                    continue
                for cal in callees:
                    cur = self.ret_role.get(cal)
                    if cur is None or self._ROLE_RANK.get(role, 3) > self._ROLE_RANK.get(cur, 3):
                        self.ret_role[cal] = role
                        changed = True
            if not changed:
                break

    def _solve_entry_grad(self) -> None:
        callers: Dict[str, List[Tuple[str, FrozenSet[str]]]] = {}
        tests = {uid for uid, u in self.units.items() if is_test_function(u)}
        for u in self.units.values():
            if u.id in tests:
                continue  # a test's calls are no evidence of how the code is used
            for callee, g in u.edges:
                callers.setdefault(callee, []).append((u.id, g))
        entry: Dict[str, FrozenSet[str]] = {}
        for uid, u in self.units.items():
            if u.fn is not None and u.cls is not None and u.fn.name in self.unresolved_calls and self.arity_fits(u):
                entry[uid] = frozenset({UNKNOWN})  # called somewhere through a receiver we cannot see
            elif uid not in callers or uid in self.value_refs:
                entry[uid] = frozenset({ON})
            else:
                entry[uid] = frozenset()
        # the least solution of: entry(f) ⊇ the grad at each call of f, where a call at the
        # caller's own entry state (ENTRY) brings the caller's entry. The states a call sets
        # itself first, then a worklist carries each caller's entry along those calls.
        inherits: Dict[str, Set[str]] = {}  # caller -> the callees called at its entry state
        for uid, cs in callers.items():
            if uid not in self.units:
                continue
            acc = set(entry[uid])
            for caller, g in cs:
                for x in g:
                    if x == ENTRY:
                        inherits.setdefault(caller, set()).add(uid)
                    else:
                        acc.add(x)
            entry[uid] = frozenset(acc)
        work = list(inherits)
        while work:
            caller = work.pop()
            got = entry.get(caller, frozenset({ON}))
            for uid in inherits[caller]:
                if not got <= entry[uid]:
                    entry[uid] = entry[uid] | got
                    if uid in inherits:
                        work.append(uid)
        self.entry_grad = {uid: (g or frozenset({UNKNOWN})) for uid, g in entry.items()}
        forwarded: Dict[Tuple[str, str], List[Tuple[str, str]]] = {}
        for u in self.units.values():
            if u.id in tests:
                continue
            for k, v in u.param_gets_model.items():
                if v is True:
                    self.param_gets_model.add(k)
                else:
                    forwarded.setdefault(v, []).append(k)
        stack = list(self.param_gets_model)
        while stack:
            k = stack.pop()
            for nxt in forwarded.get(k, ()):
                if nxt not in self.param_gets_model:
                    self.param_gets_model.add(nxt)
                    stack.append(nxt)
        for (uid, p), nxts in forwarded.items():  # annotated parameters are evidence too
            u = self.units.get(uid)
            if u is not None and u.fn is not None and p in u.params and self.annotated_module(u, p):
                self.param_gets_model.update(nxts)

    _ROLE_RANK = {"predict": 0, "predict_grad": 1, "train": 2, "unknown": 3}

    def note_ret_role(self, callee_id: str, role: str) -> None:
        cur = self.ret_role.get(callee_id)
        if cur is None or self._ROLE_RANK[role] > self._ROLE_RANK[cur]:
            self.ret_role[callee_id] = role

    def unit_ret_role(self, unit: _Unit) -> str:
        role = self.ret_role.get(unit.id)
        if role is not None:
            return role
        if unit.returns_loss:
            return "unknown"  # returns a loss to callers we cannot see: a training step, most likely
        return "predict"

    def effective_role(self, unit: _Unit, ev: Event) -> str:
        """A call whose result is returned takes the role its callers give the result."""
        if ev.role != "deferred":
            return ev.role
        return self.unit_ret_role(unit)

    def effective_use(self, unit: _Unit, ev: Event) -> str:
        if ev.use != "deferred":
            return ev.use
        role = self.unit_ret_role(unit)
        return "train" if role == "train" else "predict" if role in ("predict", "predict_grad") else "unknown"

    def resolved_grad(self, unit: _Unit, grad: FrozenSet[str]) -> FrozenSet[str]:
        out = set()
        for g in grad:
            if g == ENTRY:
                out |= self.entry_grad.get(unit.id, frozenset({ON}))
            else:
                out.add(g)
        return frozenset(out)

    # -- resolution --------------------------------------------------------------------------
    def resolve_q(self, module: ModuleInfo, expr: ast.AST) -> Optional[str]:
        return module.resolve(expr)

    def _resolve_star_imports(self) -> None:
        """``from models import *`` of a project module: the public names that module defines
        or imports become names of the importer (``ModuleInfo.star_names``), so ``Net()``
        resolves to ``models.Net`` as with ``from models import Net``. The module is found
        as an import of the importer's folder would find it (nearest first); star imports
        of star imports follow, to a fixed point. A library's star import stays unresolved."""
        importers = [m for m in self.modules.values() if m.star_bases]
        for _ in range(3):
            moved = False
            for m in importers:
                for base in m.star_bases:
                    src = self.module_named(base, m)
                    if src is None or src is m:
                        continue
                    names = {n: f"{src.modname}.{n}" for n in (*src.classes, *src.functions)}
                    names.update(src.imports)
                    names.update(src.star_names)
                    for n, q in names.items():
                        if not n.startswith("_") and m.star_names.get(n) != q and n not in m.imports:
                            m.star_names[n] = q
                            moved = True
            if not moved:
                break

    def module_named(self, qn: str, frm: ModuleInfo) -> Optional[ModuleInfo]:
        """The project module an import of ``qn`` in ``frm`` finds: relative to ``frm``'s folder
        or any folder above it (the nearest first, as a script's imports), then absolute."""
        folder = [f for f in (frm.modname if frm.is_package else frm.modname.rpartition(".")[0]).split(".") if f]
        for k in range(len(folder), -1, -1):
            found = self.by_modname.get(".".join(folder[:k] + qn.split(".")))
            if found is not None:
                return found
        return None

    def lookup(self, qn: str, frm: ModuleInfo, depth: int = 0):
        """A project function or class named ``qn`` as seen from module ``frm``."""
        if not qn or depth > 5:
            return None
        # the search depends on the importing file only through its folder (below)
        folder = frm.modname if frm.is_package else frm.modname.rpartition(".")[0]
        ck = (qn, folder)
        if ck in self._lookup_cache:
            return self._lookup_cache[ck]
        found = self._lookup(qn, folder.split(".") if folder else [], depth)
        self._lookup_cache[ck] = found
        return found

    def _lookup(self, qn: str, folder: List[str], depth: int):
        parts = qn.split(".")
        by_modname, prefixes = self.by_modname, self._modname_prefixes
        # script-style imports: relative to the importing file's folder or to any folder above
        # it (``from rl.utils import f`` in ``rl/agent.py`` when the script runs next to ``rl/``),
        # the nearest first; then absolute. Within each, the longest module name first.
        for k in range(len(folder), -1, -1):
            full = folder[:k] + parts
            found_at = []  # the lengths i at which full[:i] names a module
            name = full[0]
            for i in range(1, len(full)):
                if name not in prefixes:
                    break  # no module name starts so: none longer does either
                if name in by_modname:
                    found_at.append(i)
                name = f"{name}.{full[i]}"
            for i in reversed(found_at):
                found = self._find_in_module(by_modname[".".join(full[:i])], full[i:], depth)
                if found is not None:
                    return found
        return None

    def _find_in_module(self, mod: ModuleInfo, rest: List[str], depth: int):
        head = rest[0]
        if head in mod.functions and len(rest) == 1:
            return mod.functions[head]
        if head in mod.classes:
            ci = mod.classes[head]
            if len(rest) == 1:
                return ci
            if len(rest) == 2:
                return ci.methods.get(rest[1])
            return None
        if head in mod.imports:
            return self.lookup(".".join([mod.imports[head]] + rest[1:]), mod, depth + 1)
        return None

    def lookup_class(self, qn: Optional[str], frm: ModuleInfo) -> Optional[ClassInfo]:
        if not qn:
            return None
        found = self.lookup(qn, frm)
        return found if isinstance(found, ClassInfo) else None

    def lookup_unit(self, qn: str, frm: ModuleInfo) -> Optional[_Unit]:
        found = self.lookup(qn, frm)
        if isinstance(found, FunctionInfo):
            return self.unit_by_node.get(id(found.node))
        return None

    def method_unit(self, ci: ClassInfo, name: str, depth: int = 0) -> Optional[_Unit]:
        """The unit of method ``name`` of class ``ci``, its own or the first base's that has it."""
        if depth > 8:
            return None
        fn = ci.methods.get(name)
        if fn is not None:
            return self.unit_by_node.get(id(fn.node))
        if depth == 0:  # memoised for the class as a whole (`self.dropout(x)`: every call searches the bases)
            key = (id(ci), name)
            if key not in self._method_units:
                self._method_units[key] = self._base_method_unit(ci, name, 0)
            return self._method_units[key]
        return self._base_method_unit(ci, name, depth)

    def _base_method_unit(self, ci: ClassInfo, name: str, depth: int) -> Optional[_Unit]:
        for b in ci.bases:
            bc = self.lookup_class(b, ci.module)
            if bc is not None:
                u = self.method_unit(bc, name, depth + 1)
                if u is not None:
                    return u
        return None

    def overrides(self, callee: _Unit) -> List[_Unit]:
        """Methods of subclasses that override ``callee`` (``self.m()`` may dispatch to them)."""
        if callee.cls is None or callee.fn is None:
            return []
        memo_key = (callee.cls.qualname, callee.fn.name)
        hit = self._overrides.get(memo_key)
        if hit is not None:  # a base class's method is called from many places: walk its subclasses once
            return hit
        out = []
        for ci in self.subclasses(callee.cls):
            fn = ci.methods.get(callee.fn.name)
            if fn is not None and id(fn.node) in self.unit_by_node:
                out.append(self.unit_by_node[id(fn.node)])
        self._overrides[memo_key] = out
        return out

    def class_by_qualname(self, qual: str) -> Optional[ClassInfo]:
        mod, _, name = qual.rpartition(".")
        m = self.by_modname.get(mod)
        if m is not None and name in m.classes:
            return m.classes[name]
        if m is not None and "@" in name:  # a definition its module redefines further down
            for ci in m.class_defs.get(name.partition("@")[0], ()):
                if ci.qualname == qual:
                    return ci
        for m in self.modules.values():
            for ci in m.classes.values():
                if ci.qualname == qual:
                    return ci
        return None

    def resolve_callee(self, unit: _Unit, c: ast.Call, st: Optional[State], interp) -> Optional[_Unit]:
        """The unit a call runs: from the receiver's value in ``st`` when there is one (a
        method of an instance's class), else from the names alone (memoised per call)."""
        func = c.func
        if st is not None and interp is not None and type(func) is _Attribute:
            base = func.value
            if not (type(base) is _Name and unit.is_method and unit.positional and base.id == unit.positional[0]):
                val = interp.value(base, st)
                cls_q = val.cls if isinstance(val, (InstanceVal, ModelVal)) else None
                if cls_q:
                    ci = self.class_by_qualname(cls_q)
                    if ci is not None:
                        return self.method_unit(ci, func.attr)
                if isinstance(val, (ModelVal, ListVal, TupleVal)):
                    return None
        memo = unit.static_callees
        cid = id(c)
        if cid in memo:
            return memo[cid]
        out = memo[cid] = self._static_callee(unit, c)
        return out

    def _static_callee(self, unit: _Unit, c: ast.Call) -> Optional[_Unit]:
        func = c.func
        mod = unit.module
        if type(func) is _Name:
            if unit.fn is not None:
                local = self.unit_by_name_in(unit, func.id)
                if local is not None:
                    return local
            q = mod.resolve(func)
            return self.lookup_unit(q, mod) if q else None
        if type(func) is _Attribute:
            base = func.value
            if type(base) is _Name and unit.is_method and unit.positional and base.id == unit.positional[0]:
                return self.method_unit(unit.cls, func.attr)
            q = mod.resolve(func)
            if q:
                return self.lookup_unit(q, mod)
        return None

    def unit_by_name_in(self, unit: _Unit, name: str) -> Optional[_Unit]:
        """The function defined by that name directly in ``unit``'s body (the first one)."""
        defs = unit.local_defs
        if defs is None:
            defs = unit.local_defs = {}
            for n in unit.fn.node.body:
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name not in defs:
                    defs[n.name] = n
        n = defs.get(name)
        return self.unit_by_node.get(id(n)) if n is not None else None

    def note_param_class(self, key: Tuple[str, str], val) -> None:
        """A call site passes ``val`` as that parameter: the parameter holds an instance of the
        project classes every call site passes (``evaluate(PPO(...), env)``, ``test(step,
        model)`` with a module of the project), so its methods resolve on them; one call site
        passing anything else (or nothing) and the parameter is what it was without this."""
        if key in self.param_classes and self.param_classes[key] is None:
            return
        got: Optional[Tuple[str, FrozenSet[str]]] = None
        if type(val) in (InstanceVal, InstanceUnion):
            got = ("instance", _instance_classes(val))
        elif isinstance(val, ModelVal) and val.cls:
            got = ("model", frozenset((val.cls,)))
        old = self.param_classes.get(key, got)
        if got is None or old is None or old[0] != got[0]:
            self.param_classes[key] = None
        else:
            self.param_classes[key] = (got[0], old[1] | got[1])

    def param_class_value(self, unit: _Unit, p: str, line: int):
        """The value of parameter ``p`` from the classes its call sites pass (note_param_class):
        an instance (or one of several), or a model of that one class; None when unknown."""
        got = self.param_classes.get((unit.id, p))
        if got is None:
            return None
        kind, classes = got
        if kind == "instance":
            return InstanceVal(next(iter(classes))) if len(classes) == 1 else InstanceUnion(classes)
        val = self.param_value(unit, p, line)
        if len(classes) != 1 or not isinstance(val, ModelVal) or val.cls is not None:
            return None
        return ModelVal(val.modes, val.dependent, val.label, val.hf, next(iter(classes)), val.param)

    def bind_args(self, callee: _Unit, c: ast.Call) -> List[Tuple[str, ast.AST]]:
        pos = list(callee.positional)
        pairs = []
        if callee.is_method and isinstance(c.func, ast.Attribute):
            if pos:
                pairs.append((pos[0], c.func.value))
            pos = pos[1:]
        for i, a in enumerate(c.args):
            if isinstance(a, ast.Starred):
                break
            if i < len(pos):
                pairs.append((pos[i], a))
        names = set(callee.params)
        for kw in c.keywords:
            if kw.arg and kw.arg in names:
                pairs.append((kw.arg, kw.value))
        return pairs

    # -- per-unit facts ----------------------------------------------------------------------
    def decorator_grad(self, unit: _Unit) -> Optional[FrozenSet[str]]:
        if unit.fn is None:
            return None
        for d in unit.fn.node.decorator_list:
            target = d.func if isinstance(d, ast.Call) else d
            q = unit.module.resolve(target)
            grad = grad_of_name(q, self.knowledge.no_grad_decorators)
            if grad is not None:
                return grad
            if q in K.SET_GRAD_ENABLED and isinstance(d, ast.Call):
                return Interpreter.grad_from_flag(get_arg(d, 0, "mode"))
            grad = self.project_decorator_grad(d, unit.module)
            if grad is not None:
                return grad
        return None

    def decorator_guards(self, unit: _Unit) -> List[Tuple[str, Optional[str], int]]:
        """``@inference_guard`` / ``@inference_guard(...)`` on the function: its body is a
        region declared inference (as for ``Interpreter.guards``)."""
        if unit.fn is None:
            return []
        out = []
        for d in unit.fn.node.decorator_list:
            path = _guarded_path(d, unit.module)
            if path is not None:
                out.append((path, None, d.lineno))
        return out

    def decorator_eval(self, unit: _Unit) -> Optional[Tuple[str, bool]]:
        """A decorator of the project's own that runs the function with its first argument in
        eval mode (lucidrains' ``@eval_decorator``: ``was_training = model.training;
        model.eval(); out = fn(model, ...); model.train(was_training)``): (its name, whether
        it switches the mode back afterwards); None when there is none."""
        if unit.fn is None:
            return None
        key = ("decorator_eval", unit.id)
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = None
        for d in unit.fn.node.decorator_list:
            if isinstance(d, ast.Call):
                continue
            found = self.lookup(unit.module.resolve(d) or "", unit.module)
            if not isinstance(found, FunctionInfo):
                continue
            per_def = ("eval_wrapper", id(found.node))
            if per_def not in self.memo:
                self.memo[per_def] = _wrapping_eval(found.node)
            restores = self.memo[per_def]
            if restores is not None:
                self.memo[key] = (found.name, restores)
                break
        return self.memo[key]

    def project_decorator_grad(self, d: ast.AST, module: ModuleInfo) -> Optional[FrozenSet[str]]:
        """A decorator of the project's own that runs the function under a grad context:
        ``@smart_inference_mode()`` (YOLOv5: a factory whose decorator returns
        ``(torch.inference_mode if new else torch.no_grad)()(fn)``), or a decorator whose
        wrapper calls the function only inside ``with torch.no_grad():``."""
        key = ("decorator_grad", id(d))
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = None
        found = self.lookup(module.resolve(d.func if isinstance(d, ast.Call) else d) or "", module)
        if not isinstance(found, FunctionInfo) or id(found.node) not in self.unit_by_node:
            return None
        factory = isinstance(d, ast.Call)
        per_def = ("decorator_def_grad", id(found.node), factory)  # one walk per decorator, not per use
        if per_def in self.memo:
            got = self.memo[key] = self.memo[per_def]
            return got
        self.memo[per_def] = None
        home = self.unit_by_node[id(found.node)].module
        decorator: Optional[ast.AST] = found.node
        if factory:  # a factory: the decorator is the function it returns
            rets = [n.value for n in _walk_scope(found.node) if type(n) is ast.Return]
            local = {n.name: n for n in found.node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
            decorator = local.get(rets[0].id) if len(rets) == 1 and type(rets[0]) is _Name else None
        if decorator is None or not decorator.args.args:
            return None
        got = self.memo[key] = self.memo[per_def] = _wrapping_grad(decorator, decorator.args.args[0].arg, home)
        return got

    def holds_grad_context(self, unit: _Unit, expr: ast.AST) -> bool:
        """A context manager held in a variable may switch grad: unless every assignment of the
        variable is a known context that does not (autocast, nullcontext), grad becomes unknown."""
        if not isinstance(expr, ast.Name) or unit.module.resolve(expr) is not None:
            return False  # attributes (`self.lock`) and imports are not variables holding a context
        key = expr.id
        scopes = [unit] + ([self.body_unit[unit.path]] if unit.fn is not None else [])
        seen = False
        for scope in scopes:
            for n in scope.nodes:
                if isinstance(n, ast.Assign) and any(path_of(t) == key for t in n.targets):
                    seen = True
                    q = unit.module.resolve(n.value.func) if isinstance(n.value, ast.Call) else None
                    if not (q and q.startswith(_NEUTRAL_CONTEXTS)):
                        return True
        return not seen and unit.fn is not None and key in unit.params  # passed in: could be anything

    def volatile_input(self, unit: _Unit, arg: ast.AST, line: int) -> bool:
        """``arg`` is a legacy ``Variable(x, volatile=True)`` (PyTorch < 0.4: computations on it
        record no graph), written in place or the last value assigned to its name before ``line``."""
        if type(arg) is _Call:
            return _is_volatile(arg, unit.module)
        if type(arg) is not _Name:
            return False
        assigns = self._volatile_cache.get(unit.id)
        if assigns is None:  # name -> [(line, volatile?)] for the names some assignment makes volatile
            assigns, every = {}, {}
            for n in unit.nodes:
                if type(n) is ast.Assign:
                    for t in n.targets:
                        if type(t) is _Name:
                            every.setdefault(t.id, []).append((n.lineno, _is_volatile(n.value, unit.module)))
            assigns = {k: sorted(v) for k, v in every.items() if any(vol for _, vol in v)}
            self._volatile_cache[unit.id] = assigns
        before = [vol for ln, vol in assigns.get(arg.id, ()) if ln < line]
        return bool(before) and before[-1]

    def passed_dependent(self, unit: _Unit, arg: ast.AST) -> Optional[bool]:
        """The mode dependence of a layer handed to a function that is no model value of the
        flow (`net = nn.Linear(4, 1)`, a single layer): read from its one binding, in the
        function or the module's top-level code."""
        e: Optional[ast.AST] = arg
        if type(arg) is _Name:
            e = self.bound_once(unit, arg.id)
            body = self.body_unit.get(unit.path)
            if e is None and unit.fn is not None and body is not None and arg.id not in self.local_names(unit):
                e = self.bound_once(body, arg.id)
        if type(e) is not _Call:
            return None
        q = unit.module.resolve(e.func) or ""
        if not (q.startswith("torch.nn.") and q.count(".") == 2):
            return None  # only torch's own layers and containers are read here
        return self.value_dependent(e, unit.module, unit.fn)

    def bound_once(self, unit: _Unit, name: str) -> Optional[ast.AST]:
        """The value of local variable ``name`` when the unit's own code binds it exactly once,
        by a plain ``name = value`` (None otherwise: a parameter, a loop target, rebound)."""
        index = self._bound_cache.get(unit.id)
        if index is None:  # name -> (stores, value of its plain assignment)
            index = {}
            for n in unit.nodes:
                t = type(n)
                if t is _Name and type(n.ctx) is not _Load:
                    stores, value = index.get(n.id, (0, None))
                    index[n.id] = (stores + 1, value)
                elif t is ast.Assign and len(n.targets) == 1 and type(n.targets[0]) is _Name:
                    stores, _ = index.get(n.targets[0].id, (0, None))
                    index[n.targets[0].id] = (stores, n.value)
                elif t in (ast.Global, ast.Nonlocal):
                    for g in n.names:
                        index[g] = (2, None)
            for p in unit.params:
                index[p] = (2, None)
            self._bound_cache[unit.id] = index
        stores, value = index.get(name, (0, None))
        return value if stores == 1 else None

    def local_names(self, unit: _Unit) -> Set[str]:
        got = self._local_names.get(unit.id)
        if got is None:
            got = set(unit.params)
            Global = ast.Global
            for n in unit.nodes:
                t = type(n)
                if t is _Name:
                    if type(n.ctx) is not _Load:  # Store or Del
                        got.add(n.id)
                elif t is Global:
                    got |= set(n.names)
            self._local_names[unit.id] = got
        return got

    def switched_globals_of_module(self, module: ModuleInfo) -> Set[str]:
        got = self._switched_globals.get(module.path)
        if got is None:
            got = set()
            for u in self.units_by_path.get(module.path, ()):
                if u.fn is None:
                    continue
                for n in u.nodes:
                    if type(n) is ast.Global:
                        got |= set(n.names)
                got |= self.switched_globals(u)
            self._switched_globals[module.path] = got
        return got

    def reads_globals(self, unit: _Unit) -> Set[str]:
        """The names ``unit`` reads and never binds (memoised: closures and module-level models
        ask at every run and call)."""
        got = self._reads_globals.get(unit.id)
        if got is None:
            local = self.local_names(unit)
            got = self._reads_globals[unit.id] = {n.id for n in unit.nodes if type(n) is _Name and n.id not in local}
        return got

    def switched_globals(self, unit: _Unit) -> Set[str]:
        if unit.fn is None:
            return set()
        got = self._switched_cache.get(unit.id)
        if got is None:
            local = self.local_names(unit)
            got = set()
            for n in unit.calls:
                f = n.func
                if type(f) is _Attribute and f.attr in _MODE_METHODS and type(f.value) is _Name \
                        and f.value.id not in local:
                    got.add(f.value.id)
            self._switched_cache[unit.id] = got
        return got

    def global_env(self, module: ModuleInfo) -> Dict[str, object]:
        return self._global_env.get(module.path, {})

    def param_value(self, unit: _Unit, p: str, line: int) -> Optional[ModelVal]:
        default = _default_of(unit.fn.node, p)
        if isinstance(default, ast.Constant) and default.value is not None:
            return None
        if isinstance(default, (ast.Name, ast.Attribute, ast.Lambda)) and not isinstance(
                self.lookup(unit.module.resolve(default) or "", unit.module), type(None)):
            return None  # a function or class as default: a callback, not a model
        if isinstance(default, ast.Lambda):
            return None
        if unit.fn.node.args.vararg is not None and unit.fn.node.args.vararg.arg == p:
            return None
        ann = unit.fn.annotation_of(p)
        dep, cls_q, label = None, None, p
        if ann is not None:
            q = unit.module.resolve(ann)
            if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
                try:
                    q = unit.module.resolve(ast.parse(ann.value, mode="eval").body)
                except SyntaxError:
                    q = None
            ci = self.lookup_class(q, unit.module) if q else None
            if ci is not None:
                if not self.is_torch_module(ci):
                    return None
                dep, cls_q = self.class_dependent(ci), ci.qualname
            elif q in ("torch.nn.Module", "torch.nn.modules.module.Module"):
                pass
            elif q is not None or isinstance(ann, (ast.Subscript, ast.Constant, ast.BinOp)):
                return None
            elif isinstance(ann, ast.Name) and ann.id in ("int", "float", "str", "bool", "bytes", "dict", "list"):
                return None
        return ModelVal(modes_of(ENTRY, f"passed in as `{p}`", line), dep, label, cls=cls_q, param=p)

    def subclasses(self, ci: ClassInfo) -> List[ClassInfo]:
        """The project's classes derived from ``ci``, at any depth."""
        if self._subclasses is None:
            self._subclasses = {}
            for m in self.modules.values():
                for c in m.classes.values():
                    for b in c.bases:
                        bc = self.lookup_class(b, m)
                        if bc is not None and bc is not c:
                            self._subclasses.setdefault(bc.qualname, []).append(c)
        out, stack, seen = [], list(self._subclasses.get(ci.qualname, ())), set()
        while stack:
            c = stack.pop()
            if c.qualname in seen:
                continue
            seen.add(c.qualname)
            out.append(c)
            stack.extend(self._subclasses.get(c.qualname, ()))
        return out

    def self_dependent(self, ci: ClassInfo) -> Optional[bool]:
        """Whether ``self`` may hold a layer that behaves differently in training: what its
        class holds, or what a subclass in the project adds."""
        dep = self.class_dependent(ci)
        for sub in self.subclasses(ci):
            if dep is not False:
                break
            dep = _or_dep(dep, self.class_dependent(sub))
        return dep

    def annotated_module(self, unit: _Unit, p: str) -> bool:
        if unit.fn is None:
            return False
        ann = unit.fn.annotation_of(p)
        if ann is None:
            return False
        q = unit.module.resolve(ann)
        if q in ("torch.nn.Module", "torch.nn.modules.module.Module"):
            return True
        ci = self.lookup_class(q, unit.module) if q else None
        return bool(ci is not None and self.is_torch_module(ci))

    def param_is_model(self, unit: _Unit, p: str) -> bool:
        """Evidence that a parameter holds a model: its annotation, its callers, its own uses."""
        if self.annotated_module(unit, p) or (unit.id, p) in self.param_gets_model:
            return True
        for n in unit.nodes:
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and \
                    isinstance(n.func.value, ast.Name) and n.func.value.id == p and \
                    n.func.attr in K.MODULE_METHODS:
                return True
        return False

    # -- classes -----------------------------------------------------------------------------
    def third_party_layer(self, q: str) -> bool:
        """``q`` names a class (capitalised) of a library that is neither torch, nor a library
        whose models hold dropout (LIBRARY_MODEL_PREFIXES), nor anything the project's
        module names could stand for (a file the analysis was not given)."""
        last = q.rsplit(".", 1)[-1]
        if not last[:1].isupper() or "." not in q or q.startswith(("torch.", "lightning.", "pytorch_lightning.")) \
                or q.startswith(K.LIBRARY_MODEL_PREFIXES):
            return False
        names = self.__dict__.get("_project_names")
        if names is None:
            names = self.__dict__["_project_names"] = {part for m in self.modules.values()
                                                       for part in m.modname.split(".")}
        return q.split(".", 1)[0] not in names

    def is_torch_module(self, ci: ClassInfo, depth: int = 0) -> bool:
        if depth > 10:
            return False
        for b in ci.bases:
            last = b.rsplit(".", 1)[-1]
            if b in K.TORCH_MODULE_BASES or (b.startswith("torch.nn.") and last[:1].isupper()) or \
                    last.endswith("PreTrainedModel"):
                return True
            if b.startswith(("lightning.", "pytorch_lightning.")) and last.endswith("Module"):
                return True
            bc = self.lookup_class(b, ci.module)
            if bc is not None and bc is not ci and self.is_torch_module(bc, depth + 1):
                return True
        # a mixin that defines forward() is module code, whatever its bases say; not a class
        # that is called through its own __call__ (PyG's transforms: BaseTransform.__call__
        # runs self.forward(data))
        return depth == 0 and "forward" in ci.methods and not self._defines_call(ci)

    def _defines_call(self, ci: ClassInfo, depth: int = 0) -> bool:
        """``__call__`` defined by the class or one of its bases in the project."""
        if "__call__" in ci.methods:
            return True
        if depth > 10:
            return False
        for b in ci.bases:
            bc = self.lookup_class(b, ci.module)
            if bc is not None and bc is not ci and self._defines_call(bc, depth + 1):
                return True
        return False

    def is_container(self, ci: ClassInfo, depth: int = 0) -> bool:
        """A subclass of ``nn.Sequential`` / ``ModuleList`` / ``ModuleDict``."""
        if depth > 10:
            return False
        for b in ci.bases:
            if b.startswith("torch.nn.") and b.rsplit(".", 1)[-1] in _CONTAINERS:
                return True
            bc = self.lookup_class(b, ci.module)
            if bc is not None and bc is not ci and self.is_container(bc, depth + 1):
                return True
        return False

    def empty_container(self, ci: ClassInfo) -> bool:
        """A container class whose ``__init__`` (if any) only calls ``super().__init__()``:
        built without arguments, it holds no module."""
        if not self.is_container(ci):
            return False
        init = ci.methods.get("__init__")
        if init is None:
            return all(self.empty_container(bc) or not bc.methods.get("__init__")
                       for bc in (self.lookup_class(b, ci.module) for b in ci.bases) if bc is not None)
        for stmt in init.node.body:
            if type(stmt) is ast.Pass or (type(stmt) is ast.Expr and type(stmt.value) is _Constant):
                continue
            v = stmt.value if type(stmt) is ast.Expr else None
            if type(v) is _Call and type(v.func) is _Attribute and v.func.attr == "__init__" and \
                    type(v.func.value) is _Call and type(v.func.value.func) is _Name and \
                    v.func.value.func.id == "super" and not v.args and not v.keywords:
                continue
            return False
        return True

    def built_modes(self, ci: ClassInfo, user: _Unit) -> Optional[Modes]:
        """The modes a new instance of module class ``ci`` runs in when its own ``__init__``
        leaves everything it runs in eval mode (``self.model = model.eval()``, YOLOv5's
        AutoShape; or ``self.eval()``); None: a new module's usual training mode."""
        init = self.method_unit(ci, "__init__")
        if init is None or init.cls is not ci or init.fn is None:
            return None
        for b in ci.bases:
            bc = self.lookup_class(b, ci.module)
            if bc is not None and self.class_dependent(bc) is not False:
                return None  # a base class of the project's own may add layers that train differently
        if init.inert():
            env = self._inert_init_env(init)
            if env is None:
                return None
        else:
            self.attr_deps.setdefault(init.id, set()).add(user.id)  # re-run the user when __init__ changes
            env = init.final_env
        memo = self.memo.setdefault("built_modes", {})
        hit = memo.get(ci.qualname)
        if hit is not None and hit[0] is env:
            return hit[1]
        got = memo[ci.qualname] = (env, self._built_modes(ci, init, env))
        return got[1]

    def _built_modes(self, ci: ClassInfo, init: _Unit, env: Dict[str, object]) -> Optional[Modes]:
        selfname = init.positional[0] if init.positional else "self"

        def evaluated(v: object) -> bool:
            return isinstance(v, ModelVal) and bool(v.modes) and all(m[0] == EVAL for m in v.modes)

        if evaluated(env.get(selfname)):
            return env[selfname].modes  # type: ignore[union-attr]
        run = self._run_attrs(ci)
        out: Set[Mode] = set()
        for n in self.scope_nodes(init.fn.node):
            if type(n) is ast.Assign:
                targets, value = n.targets, n.value
            elif type(n) is ast.AnnAssign and n.value is not None:
                targets, value = [n.target], n.value
            else:
                continue
            for t in targets:
                if not (type(t) is _Attribute and type(t.value) is _Name and t.value.id == selfname):
                    continue
                if t.attr in run or self.value_dependent(value, ci.module, init.fn) is True:  # type: ignore[arg-type]
                    v = env.get(f"{selfname}.{t.attr}")
                    if not evaluated(v):
                        return None
                    out |= v.modes  # type: ignore[union-attr]
        return frozenset(out) if out else None

    def _inert_init_env(self, init: _Unit) -> Optional[Dict[str, object]]:
        """The state an ``__init__`` the fixed point skips (nothing in it is reported or
        summarised) leaves ``self`` in, interpreted on demand; the unit itself is left as it
        was. Recomputed when a function it calls has a new summary."""
        memo = self.memo.setdefault("inert_init_env", {})

        def signature() -> List[Summary]:  # a callee re-run gets a new Summary object
            return [c.summary for c in (init._callees or {}).values() if c is not None]

        got = memo.get(init.id)
        if got is not None:
            if got[0] is None:
                return None  # asked for while it runs (a module built inside its own __init__)
            sig = signature()
            if len(sig) == len(got[0]) and all(a is b for a, b in zip(sig, got[0])):
                return got[1]
        memo[init.id] = (None, None)  # a recursion guard while it runs
        kept = {k: getattr(init, k) for k in ("summary", "events", "edges", "param_gets_model", "ret_calls",
                                               "final_env")}
        try:
            Interpreter(init).run()
            env = init.final_env
        except Exception:  # noqa: BLE001 - only a fact for a caller: without it, the usual mode
            env = None
        finally:
            for k, v in kept.items():
                setattr(init, k, v)
        memo[init.id] = (signature(), env)
        return env

    def module_class_param(self, unit: _Unit, name: str) -> bool:
        """The parameter ``name`` holds a module class, so calling it builds a model: annotated
        as one (``Type[nn.Module]``, ``type[QNetwork]``, ``Callable[..., nn.Module]``; a plain
        ``nn.Module`` annotation says an instance, whose call is a prediction) or defaulting to
        a module class of the project or of ``torch.nn``."""
        ann = unit.fn.annotation_of(name)
        head = ann.value if isinstance(ann, ast.Subscript) else None
        last = head.attr if isinstance(head, ast.Attribute) else head.id if isinstance(head, ast.Name) else ""
        if last in ("Type", "type", "Callable"):  # Type[X], type[X], Callable[..., X]: X is what it builds
            sl = ann.slice
            ann = sl.elts[-1] if isinstance(sl, ast.Tuple) and sl.elts else sl
        else:
            ann = None  # an instance (`nn.Module`, `Optional[nn.Module]`): calling it predicts
        for expr in (ann, _default_of(unit.fn.node, name)):
            if not isinstance(expr, (ast.Name, ast.Attribute)):
                continue
            q = unit.module.resolve(expr)
            if q in K.TORCH_MODULE_BASES:
                return True
            ci = self.lookup_class(q, unit.module) if q else None
            if ci is not None and self.is_torch_module(ci):
                return True
        return False

    def frozen_attrs(self, ci: ClassInfo) -> Set[str]:
        """Attributes ``self.X`` whose every parameter the class's ``__init__`` freezes (a
        random target network: ``for p in self.target.parameters(): p.requires_grad = False``)."""
        key = ("frozen_attrs", ci.qualname)
        got = self.memo.get(key)
        if got is None:
            got = self.memo[key] = set()  # recursion guard
            init = self.method_unit(ci, "__init__")
            if init is not None and init.cls is ci and init.fn is not None and init.positional:
                me = init.positional[0]
                for p in init._frozen_models(init.calls, init.assigns()):
                    head, _, rest = p.partition(".")
                    if head == me and rest and "." not in rest:
                        got.add(rest)
        return got

    def builds_frozen(self, call: ast.Call, module: ModuleInfo) -> bool:
        """Whether ``call`` builds a module of the project whose ``__init__`` freezes every one
        of its parameters, always or under the argument it is given here (ignite's and the
        PyTorch examples' ``Vgg16(requires_grad=False)``: ``if not requires_grad: for p in
        self.parameters(): p.requires_grad = False``). An argument that is not a constant
        decides nothing: not frozen."""
        ci = self.lookup_class(module.resolve(call.func), module)
        if ci is None or not self.is_torch_module(ci):
            return False
        init = self.method_unit(ci, "__init__")
        if init is None or init.fn is None:
            return False
        key = ("freezes", id(init.fn.node))
        if key not in self.memo:
            self.memo[key] = _self_freezing(init.fn.node)
        cond = self.memo[key]
        if cond is None:
            return False
        if cond is True:
            return True
        name, when = cond
        positional = init.positional[1:]
        arg = get_arg(call, positional.index(name) if name in positional else None, name)
        if arg is None and not has_star_args(call):
            arg = _default_of(init.fn.node, name)
        return type(arg) is _Constant and bool(arg.value) is when

    def forward_grad(self, v: ModelVal) -> Optional[FrozenSet[str]]:
        """The grad state a model's own ``forward`` sets with a decorator (YOLOv5's AutoShape
        decorates it with ``@smart_inference_mode()``) or around its whole body (dinov2's
        feature extractors: ``with torch.inference_mode(): ...``), or None."""
        ci = self.class_by_qualname(v.cls) if v.cls else None
        if ci is not None and self.parameter_free(ci):
            return frozenset({OFF})  # nothing in it requires grad: autograd records nothing of its pass
        fwd = self.method_unit(ci, "forward") if ci is not None else None
        if fwd is None:
            return None
        grad = self.decorator_grad(fwd)
        if grad is None and fwd.fn is not None:
            body = fwd.fn.node.body
            if body and type(body[0]) is ast.Expr and type(body[0].value) is _Constant:
                body = body[1:]  # the docstring
            if len(body) == 1 and type(body[0]) is ast.With:
                for item in body[0].items:
                    c = item.context_expr
                    g = grad_of_name(fwd.module.resolve(c.func), self.knowledge.no_grad_decorators) \
                        if type(c) is _Call else None
                    if g is not None:
                        return g
        return grad

    _ATTACHING = frozenset({"register_parameter", "add_module", "register_module", "__dict__", "_modules",
                            "_parameters", "__setattr__"})

    def built_without_parameters(self, ci: ClassInfo, call: ast.Call, module: ModuleInfo) -> bool:
        """``call`` builds a module of the project that holds no parameter: its bases hold
        none, only its ``__init__`` sets attributes of ``self``, each to a constant or to one
        of its parameters, and this call passes those a function (a lambda, a function of the
        project, ``F.mse_loss``) or a constant (a loss wrapper: ``self.loss_fn = fn``)."""
        init = ci.methods.get("__init__")
        if init is None or has_star_args(call):
            return False
        for b in ci.bases:
            if b in K.TORCH_MODULE_BASES and b.rsplit(".", 1)[-1] == "Module":
                continue
            bc = self.lookup_class(b, ci.module)
            if bc is None or bc is ci or not self.parameter_free(bc):
                return False
        params = init.positional_params()
        if not params:
            return False
        selfname = params[0]
        stored = False
        for fn in ci.methods.values():
            me = (fn.positional_params() or [""])[0]
            for n in self.scope_nodes(fn.node):
                t = type(n)
                if t is ast.Attribute and type(n.value) is _Name and n.value.id == me and \
                        (type(n.ctx) is not _Load or n.attr in self._ATTACHING):
                    if fn is not init or n.attr in self._ATTACHING:
                        return False
                elif t is _Call and type(n.func) is _Name and n.func.id == "setattr":
                    return False
                elif t is ast.Assign and fn is init and any(
                        type(x) is ast.Attribute and type(x.value) is _Name and x.value.id == selfname for x in n.targets):
                    if not self._function_or_constant(n.value, init, call, module):
                        return False
                    stored = True
        return stored

    def _function_or_constant(self, value: ast.AST, init: FunctionInfo, call: ast.Call, module: ModuleInfo) -> bool:
        if type(value) is _Constant:
            return True
        if type(value) is not _Name or value.id not in init.param_names():
            return False
        positional = init.positional_params()[1:]
        arg = get_arg(call, positional.index(value.id) if value.id in positional else None, value.id)
        if arg is None:
            arg = _default_of(init.node, value.id)
        if arg is None or type(arg) is ast.Lambda or type(arg) is _Constant:
            return arg is not None
        if type(arg) in (_Name, _Attribute):
            q = module.resolve(arg)
            if q and q.startswith("torch.nn.functional."):
                return True
            return isinstance(self.lookup(q, module) if q else None, FunctionInfo)
        return False

    def parameter_free(self, ci: ClassInfo, depth: int = 0) -> bool:
        """A module of the project that can hold no parameter: its bases are ``nn.Module`` or
        such modules, and no method assigns an attribute of ``self`` (only buffers, through
        ``register_buffer``) or attaches anything another way (taming-transformers' index
        permuters)."""
        got = self._param_free.get(ci.qualname)
        if got is not None:
            return got
        self._param_free[ci.qualname] = False  # recursion guard
        free = depth <= 10
        for b in ci.bases if free else ():
            if b in K.TORCH_MODULE_BASES and b.rsplit(".", 1)[-1] == "Module":
                continue
            bc = self.lookup_class(b, ci.module)
            if bc is None or bc is ci or not self.parameter_free(bc, depth + 1):
                free = False
                break
        for fn in ci.methods.values() if free else ():
            selfname = (fn.positional_params() or [""])[0]
            for n in self.scope_nodes(fn.node):
                t = type(n)
                if t is ast.Attribute and type(n.value) is _Name and n.value.id == selfname and \
                        (type(n.ctx) is not _Load or n.attr in self._ATTACHING):
                    free = False  # self.x = ..., self.add_module(...), self._modules[...]
                elif t is _Call and type(n.func) is _Name and n.func.id == "setattr":
                    free = False
                if not free:
                    break
            if not free:
                break
        self._param_free[ci.qualname] = free
        return free

    def is_container_val(self, v: ModelVal) -> bool:
        if v.label.startswith("nn.") and v.label[3:] in _CONTAINERS:
            return True
        ci = self.class_by_qualname(v.cls) if v.cls else None
        return ci is not None and self.is_container(ci)

    def is_lightning(self, ci: ClassInfo, depth: int = 0) -> bool:
        if depth > 10:
            return False
        for b in ci.bases:
            if b in K.LIGHTNING_BASES or b.startswith(("lightning.", "pytorch_lightning.")):
                return True
            bc = self.lookup_class(b, ci.module)
            if bc is not None and bc is not ci and self.is_lightning(bc, depth + 1):
                return True
        return False

    def scope_nodes(self, node: ast.AST) -> List[ast.AST]:
        """``_walk_scope(node)``, listed once: the class facts below read each method's nodes
        several times."""
        got = self._scope_nodes.get(id(node))
        if got is None or got[0] is not node:
            got = self._scope_nodes[id(node)] = (node, list(_walk_scope(node)))
        return got[1]

    def class_dependent(self, ci: ClassInfo) -> Optional[bool]:
        """True: some layer behaves differently in training; False: none does (all visible)."""
        if ci.qualname in self._class_dep:
            return self._class_dep[ci.qualname]
        self._class_dep[ci.qualname] = None  # recursion guard
        result: Optional[bool] = False
        for b in ci.bases:
            if b in K.TORCH_MODULE_BASES and b.rsplit(".", 1)[-1] == "Module":
                continue
            bc = self.lookup_class(b, ci.module)
            if bc is not None:
                result = _or_dep(result, self.class_dependent(bc))
            elif b.startswith("torch.nn.") and b.count(".") == 2 and b[9:] not in _CONTAINERS and b[9:10].isupper():
                # a torch layer subclassed (whisper's `class LayerNorm(nn.LayerNorm)`): that layer's behaviour
                result = _or_dep(result, b[9:] in K.MODE_DEPENDENT_LAYERS)
            elif not self.third_party_layer(b):  # a library layer's subclass (an augmentation): no evidence
                result = None if result is False else result
        for fn in ci.methods.values():
            for n in self.scope_nodes(fn.node):
                if isinstance(n, ast.Attribute) and n.attr == "training" and isinstance(n.value, ast.Name) \
                        and isinstance(n.ctx, ast.Load):
                    if not self.learned_noise(ci):
                        result = True  # it reads the flag (setting it, `self.training = False`, branches on nothing)
                elif isinstance(n, (ast.Assign, ast.AnnAssign)) and n.value is not None:
                    targets = n.targets if isinstance(n, ast.Assign) else [n.target]
                    selfname = (fn.positional_params() or ["self"])[0]
                    mine = [t.attr for t in targets if isinstance(t, ast.Attribute) and
                            isinstance(t.value, ast.Name) and t.value.id == selfname]
                    if mine:
                        dep = self.value_dependent(n.value, ci.module, fn)
                        if dep is None and not (set(mine) & self._run_attrs(ci)):
                            dep = False  # an unknown value the module never runs (a size, an option)
                        result = _or_dep(result, dep)
                elif isinstance(n, ast.Call):
                    q = ci.module.resolve(n.func)
                    if q and (q in K.FUNCTIONAL_DROPOUT or q.startswith("torch.nn.functional.") and
                              ("dropout" in q or "batch_norm" in q)):
                        result = True
            if result is True:
                break
        self._class_dep[ci.qualname] = result
        return result

    def learned_noise(self, ci: ClassInfo) -> bool:
        """A NoisyNet-style layer: its forward adds, in training mode only, noise that another
        of its methods resamples into its state (``reset_noise()`` writing ``self.weight_epsilon``)
        scaled by its own learned parameters (``self.weight_sigma``). The program drives that
        noise itself and keeps it on purpose (exploration, a noisy target network): no evidence
        that the mode matters."""
        got = self._noise_cache.get(ci.qualname)
        if got is not None:
            return got
        self._noise_cache[ci.qualname] = False
        fwd = ci.methods.get("forward")
        if fwd is None:
            return False
        params: Set[str] = set()
        written: Set[str] = set()
        for name, fn in ci.methods.items():
            me = (fn.positional_params() or ["self"])[0]
            for n in self.scope_nodes(fn.node):
                if name == "__init__" and type(n) is ast.Assign and type(n.value) is _Call and \
                        (ci.module.resolve(n.value.func) or "").rsplit(".", 1)[-1] == "Parameter":
                    params |= {t.attr for t in n.targets if type(t) is _Attribute and path_of(t.value) == me}
                elif name not in ("__init__", "forward") and type(n) is _Call and type(n.func) is _Attribute \
                        and n.func.attr.endswith("_") and type(n.func.value) is _Attribute \
                        and path_of(n.func.value.value) == me:
                    written.add(n.func.value.attr)  # `self.weight_epsilon.copy_(...)`, `.normal_()`
                elif name not in ("__init__", "forward") and type(n) is ast.Assign:
                    written |= {t.attr for t in n.targets if type(t) is _Attribute and path_of(t.value) == me}
        me = (fwd.positional_params() or ["self"])[0]
        reads = {n.attr for n in self.scope_nodes(fwd.node) if type(n) is _Attribute and path_of(n.value) == me}
        in_training = set()
        for n in self.scope_nodes(fwd.node):
            if type(n) is ast.If and type(n.test) is _Attribute and n.test.attr == "training" \
                    and path_of(n.test.value) == me:
                in_training |= {x.attr for b in n.body for x in ast.walk(b)
                                if type(x) is _Attribute and path_of(x.value) == me}
        got = bool(written & reads) and bool(params & in_training) and not (written & params)
        self._noise_cache[ci.qualname] = got
        return got

    def _run_attrs(self, ci: ClassInfo) -> Set[str]:
        """Attributes ``self.X`` that the class's methods may run as a submodule: called
        (``self.X(...)``, ``self.X.f(...)``), iterated, or handed to another call positionally."""
        got = self._run_attr_cache.get(ci.qualname)
        if got is None:
            got = self._run_attr_cache[ci.qualname] = set()
            for fn in ci.methods.values():
                selfname = (fn.positional_params() or ["self"])[0]

                def own_attr(e: ast.AST) -> Optional[str]:
                    while isinstance(e, (ast.Attribute, ast.Subscript)):
                        if isinstance(e, ast.Attribute) and isinstance(e.value, ast.Name) and e.value.id == selfname:
                            return e.attr
                        e = e.value
                    return None

                for n in self.scope_nodes(fn.node):
                    if isinstance(n, ast.Call):
                        f = n.func
                        if isinstance(f, ast.Name) and f.id in _PURE_BUILTINS:
                            continue  # min(self.size, ...), len(self.blocks) run nothing
                        q = ci.module.resolve(f) or ""
                        if q.startswith("torch.nn.functional."):
                            continue  # F.pad(x, self.padding): an option, not a module
                        if type(f) is _Attribute and f.attr in _TENSOR_SIZE_METHODS:
                            continue  # x.view(B, T, self.n_head), self.cache.index_select(0, pos): tensors
                        sizes = q.startswith("torch.") and not q.startswith(_TAKE_MODULES) or \
                            q.startswith(("math.", "numpy.", "random.", "operator.")) or (
                            # a torch layer's constructor takes sizes (nn.Linear(512, self.n_actions));
                            # a container or a wrapper takes modules
                            q.startswith("torch.nn.") and q.count(".") == 2 and q[9:10].isupper()
                            and q[9:] not in _CONTAINERS and q not in K.SAME_MODEL_WRAPPERS)
                        built = None
                        own = ci.methods.get(f.attr) if type(f) is _Attribute and path_of(f.value) == selfname \
                            else None
                        if own is None and q and not q.startswith("torch."):
                            built = self.lookup_class(q, ci.module)  # `NoisyLinear(512, self.num_atoms)`
                            own = built.methods.get("__init__") if built is not None else None
                        if own is not None and not own.node.decorator_list and not any(
                                type(a) is ast.Starred for a in n.args):
                            # `self._scale_noise(self.in_features)`: a value that the class's own method,
                            # or a project class's __init__, only reads (runs no call or loop on the
                            # parameter it lands in) is no submodule
                            ps = own.positional_params()[1:]
                            sizes = all(i < len(ps) and not _runs_param(own.node, ps[i]) for i in range(len(n.args)))
                        for i, e in enumerate((f,) if sizes else (f, *n.args)):  # by keyword (groups=self.channels): an option
                            a = own_attr(e)
                            if a is not None and not (i and built is not None and self._kept_unrun(built, i - 1)):
                                got.add(a)
                    elif isinstance(n, (ast.For, ast.comprehension)):
                        a = own_attr(n.iter)
                        if a is not None:
                            got.add(a)
        return got

    def _kept_unrun(self, ci: ClassInfo, index: int) -> bool:
        """A module class of the project whose ``__init__`` only keeps its positional argument
        ``index`` on ``self`` as a value its methods never run (``ResidualBlock(self.channels)``:
        a size), so handing an attribute there runs nothing."""
        if not self.is_torch_module(ci):
            return False
        init = ci.methods.get("__init__")
        if init is None:
            return False
        params = init.positional_params()
        if index + 1 >= len(params) or (ci.qualname, index) in self.memo.setdefault("kept_unrun", {}):
            return self.memo["kept_unrun"].get((ci.qualname, index), False)
        self.memo["kept_unrun"][(ci.qualname, index)] = False  # recursion guard
        selfname, name = params[0], params[index + 1]
        kept: Set[str] = set()  # the attributes it is kept on
        for n in self.scope_nodes(init.node):
            if isinstance(n, ast.Assign) and isinstance(n.value, ast.Name) and n.value.id == name:
                for t in n.targets:
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == selfname:
                        kept.add(t.attr)
        uses = [n for n in self.scope_nodes(init.node) if isinstance(n, ast.Name) and n.id == name
                and isinstance(n.ctx, ast.Load)]
        run = self._run_attrs(ci)
        ok = all(self._size_use(init, u, selfname) for u in uses) and not kept & run
        self.memo["kept_unrun"][(ci.qualname, index)] = ok
        return ok

    def _size_use(self, init: FunctionInfo, use: ast.Name, selfname: str) -> bool:
        """``use`` (a read of an ``__init__`` parameter) is kept on ``self`` or handed by keyword
        or to a ``torch.nn`` layer or a size computation: not run."""
        key = ("parents", id(init.node))
        parents = self.memo.get(key)
        if parents is None:
            parents = self.memo[key] = parent_map(init.node)
        up = parents.get(id(use))
        if isinstance(up, ast.Assign) and all(isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name)
                                               and t.value.id == selfname for t in up.targets):
            return True
        if isinstance(up, ast.keyword):
            return True
        if isinstance(up, (ast.BinOp, ast.Subscript, ast.Compare)):
            return True
        if isinstance(up, ast.Call) and use in up.args:
            q = init.cls.module.resolve(up.func) if init.cls is not None else None
            return bool(q) and q.startswith("torch.nn.") and q.count(".") == 2 and q.rsplit(".", 1)[-1][:1].isupper()
        return False

    def value_dependent(self, e: ast.AST, module: ModuleInfo, fn: Optional[FunctionInfo],
                        depth: int = 0) -> Optional[bool]:
        if depth > 12:  # the nesting of one expression (nn.ModuleDict(dict(h=nn.ModuleList(...))))
            return None
        if isinstance(e, ast.Constant):
            return False
        if isinstance(e, (ast.List, ast.Tuple)):
            r: Optional[bool] = False
            for x in e.elts:
                r = _or_dep(r, self.value_dependent(x, module, fn, depth + 1))
            return r
        if isinstance(e, ast.Dict):
            r = False
            for x in e.values:
                r = _or_dep(r, self.value_dependent(x, module, fn, depth + 1))
            return r
        if isinstance(e, ast.Call) and type(e.func) is _Name and e.func.id in _DATA_BUILTINS \
                and module.resolve(e.func) is None and not (fn is not None and e.func.id in fn.param_names()):
            # nn.ModuleDict(dict(wte=..., h=...)), tuple(map(lambda t: t[:c], normalization)): made of their arguments
            return self.expr_dependent(e, module, fn, depth + 1)
        if isinstance(e, ast.Lambda):  # what it returns (map(lambda c: nn.Dropout(c), ...) builds dropout)
            return self.value_dependent(e.body, module, fn, depth + 1)
        if isinstance(e, (ast.ListComp, ast.GeneratorExp)):
            return self.value_dependent(e.elt, module, fn, depth + 1)
        if isinstance(e, ast.IfExp):  # F.smooth_l1_loss if smooth else F.mse_loss
            return _or_dep(self.value_dependent(e.body, module, fn, depth + 1),
                           self.value_dependent(e.orelse, module, fn, depth + 1))
        if isinstance(e, ast.Starred):
            return self.value_dependent(e.value, module, fn, depth + 1)
        if isinstance(e, (ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.JoinedStr)):
            return False
        if isinstance(e, ast.Name):
            if fn is not None and e.id in fn.param_names():
                ann = fn.annotation_of(e.id)
                if ann is not None:
                    q = module.resolve(ann)
                    if isinstance(ann, ast.Name) and ann.id in ("int", "float", "str", "bool"):
                        return False
                    if q in ("torch.nn.Module", "torch.nn.modules.module.Module"):
                        return None
                    ci = self.lookup_class(q, module) if q else None
                    if ci is not None and not self.is_torch_module(ci):
                        return False  # `dims: ModelDimensions`, a class of the project's that is no module
                default = _default_of(fn.node, e.id)
                if isinstance(default, ast.Constant):
                    return False
                if isinstance(default, (ast.Tuple, ast.List)):  # normalization=((0.5, 0.5, 0.5), ...)
                    return self.value_dependent(default, module, None, depth + 1)
                return None
            if fn is not None:  # a local list built up in the function: `layers.append(...)`, then Sequential(*layers)
                parts = _local_parts(fn, e.id)
                if parts:
                    r = False
                    for x in parts:
                        r = _or_dep(r, self.value_dependent(x, module, fn, depth + 1))
                        if r is None:
                            break
                    return r
            return None
        if isinstance(e, (ast.Name, ast.Attribute)):
            q = module.resolve(e)
            if q and q.startswith("torch.nn.functional."):  # a function kept on the module (self.conv = F.conv2d)
                return "dropout" in q or "batch_norm" in q
        if isinstance(e, ast.Call):
            if fn is not None and type(e.func) is _Name:
                local = module.local_class(fn, e.func.id)  # a class defined in this very function
                if local is not None:
                    return self.class_dependent(local) if self.is_torch_module(local) else False
            q = module.resolve(e.func)
            if q is None:
                return None
            if q.startswith("torch.nn.") and q.count(".") == 2:
                last = q.rsplit(".", 1)[-1]
                if last in _CONTAINERS:
                    return self.expr_dependent(e, module, fn, depth + 1)
                if last in K.MODE_DEPENDENT_LAYERS:
                    return layer_dependent(last, e)
                return False if last[:1].isupper() else None
            if q.startswith("torch.nn.") and q.count(".") == 3 and q.split(".")[2][:1].isupper():
                # `nn.Embedding.from_pretrained(...)`: a classmethod that builds that layer
                return q.split(".")[2] in K.MODE_DEPENDENT_LAYERS
            if q.startswith("torch.") and not q.startswith("torch.nn."):
                return False  # tensors, parameters
            found = self.lookup(q, module)
            if found is None and self.third_party_layer(q):
                return False  # `Rearrange(...)`, an augmentation: a library layer, no evidence of dropout
            if isinstance(found, ClassInfo):
                return self.class_dependent(found) if self.is_torch_module(found) else False
            if isinstance(found, FunctionInfo):
                r: Optional[bool] = False
                body = list(_walk_scope(found.node))
                rets = [n.value for n in body if isinstance(n, ast.Return) and n.value is not None]
                if not rets:
                    return None
                rebound = {n.id for n in body if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
                for rv in rets:
                    arg = _passed_through(found, rv, e, rebound)
                    if arg is not None:  # layer_init(nn.Linear(4, 4)) returns the layer it is given
                        r = _or_dep(r, self.value_dependent(arg, module, fn, depth + 1))
                    else:
                        r = _or_dep(r, self.value_dependent(rv, found.cls.module if found.cls else module, found,
                                                            depth + 1))
                return r
            return None
        return None

    def expr_dependent(self, call: ast.Call, module: ModuleInfo, fn: Optional[FunctionInfo] = None,
                       depth: int = 0) -> Optional[bool]:
        r: Optional[bool] = False
        for a in list(call.args) + [k.value for k in call.keywords]:
            r = _or_dep(r, self.value_dependent(a, module, fn, depth + 1))
            if r is True:
                return True
        return r

    def is_submodule_attr(self, cls_q: str, attr: str) -> bool:
        got = self._submodule_attrs.get(cls_q)
        if got is None:
            got = set()
            ci = self.class_by_qualname(cls_q)
            init = ci.methods.get("__init__") if ci is not None else None
            if init is not None:
                for n in self.scope_nodes(init.node):
                    if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call):
                        for t in n.targets:
                            if isinstance(t, ast.Attribute):
                                got.add(t.attr)
                got -= set(ci.methods)
            self._submodule_attrs[cls_q] = got
        return attr in got

    def attr_dependent(self, ci: ClassInfo, attr: str) -> Optional[bool]:
        """Whether the submodule ``__init__`` keeps at ``self.<attr>`` may hold a layer that
        behaves differently in training (``rnd.target``, an ``nn.Sequential`` of linear layers,
        is not, though its class holds a dropout elsewhere): what each value assigned there is,
        as for the class itself (``value_dependent``); None when unknown or never assigned."""
        key = (ci.qualname, attr)
        memo = self.memo.setdefault("attr_dependent", {})
        if key in memo:
            return memo[key]
        memo[key] = None  # recursion guard
        init = ci.methods.get("__init__")
        result: Optional[bool] = None
        if init is not None:
            selfname = (init.positional_params() or ["self"])[0]
            values = [n.value for n in self.scope_nodes(init.node) if isinstance(n, ast.Assign) and any(
                type(t) is _Attribute and t.attr == attr and type(t.value) is _Name and t.value.id == selfname
                for t in n.targets)]
            if values:
                result = False
                for v in values:
                    result = _or_dep(result, self.value_dependent(v, ci.module, init))
                    if result is True:
                        break
        memo[key] = result
        return result

    def weighted_submodule(self, cls_q: str, attr: str) -> bool:
        """``self.<attr>`` of that class is a layer with parameters in every binding ``__init__``
        gives it (``nn.Linear(...)``, ``nn.Sequential(...)``, a project module that can hold
        parameters, a library model): running it in one of the class's own methods runs the
        receiver's weights. A loss, an activation, a tokenizer or anything unseen is not."""
        key = (cls_q, attr)
        got = self._weighted_attrs.get(key)
        if got is not None:
            return got
        self._weighted_attrs[key] = False  # recursion guard
        ci = self.class_by_qualname(cls_q)
        init = ci.methods.get("__init__") if ci is not None else None
        found = False
        ok = init is not None
        selfname = ((init.positional_params() or ["self"])[0]) if ok else "self"
        for n in self.scope_nodes(init.node) if ok else ():
            if not (isinstance(n, ast.Assign) and any(type(t) is _Attribute and t.attr == attr and type(t.value) is _Name
                                                      and t.value.id == selfname for t in n.targets)):
                continue
            v = n.value
            q = ci.module.resolve(v.func) if type(v) is _Call else None
            if not q:
                ok = False
                break
            last = q.rsplit(".", 1)[-1]
            if q.startswith("torch.nn.") and q.count(".") == 2:
                good = last.startswith(K.PARAMETER_LAYER_PREFIXES) and bool(v.args or v.keywords)
            elif q.startswith(K.LIBRARY_MODEL_PREFIXES):
                good = True
            else:
                sub = self.lookup_class(q, ci.module)
                good = sub is not None and self.is_torch_module(sub) and not self.parameter_free(sub)
            if not good:
                ok = False
                break
            found = True
        got = self._weighted_attrs[key] = ok and found
        return got

    def switched_attrs(self, ci: ClassInfo) -> Set[str]:
        """Attributes ``self.X`` whose mode some method other than ``__init__`` switches."""
        return self._attr_scan(ci)[0]

    def assigned_attrs(self, ci: ClassInfo) -> Set[str]:
        return self._attr_scan(ci)[1]

    def _attr_scan(self, ci: ClassInfo) -> Tuple[Set[str], Set[str]]:
        got = self._attr_scans.get(ci.qualname)
        if got is None:
            switched: Set[str] = set()
            assigned: Set[str] = set()
            for fn in ci.methods.values():
                if fn.name == "__init__":
                    continue
                for n in fn.nodes:
                    if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and \
                            n.func.attr in _MODE_METHODS:
                        p = path_of(n.func.value)
                        if p and "." in p:
                            switched.add(p.split(".", 1)[1])
                    elif isinstance(n, ast.Assign):
                        for t in n.targets:
                            p = path_of(t)
                            if p and "." in p:
                                assigned.add(p.split(".", 1)[1])
            got = self._attr_scans[ci.qualname] = (switched, assigned)
        return got

    def path_gets_model(self, unit: _Unit, path: str, depth: int = 0) -> bool:
        """A model reaches ``path`` of ``unit`` from outside it: a parameter its call sites
        pass a model (``param_gets_model``); for a nested function, a name of the enclosing
        function that holds a model made there or reaching it the same way (``cv2_demo(net)``
        defining ``predict(frame)`` that runs ``net``); a module-level model."""
        if depth > 8:
            return False
        if path in unit.params:
            return (unit.id, path) in self.param_gets_model
        root = path.split(".", 1)[0]
        outer = self.enclosing_unit(unit)
        if outer is not None and root in self.local_names(outer):
            if outer.is_method and outer.positional and root == outer.positional[0]:
                return False  # the receiver of the enclosing method: the module's own code runs it
            v = outer.final_env.get(root)
            if not isinstance(v, ModelVal):
                return False
            return v.param is None or self.path_gets_model(outer, v.param, depth + 1)
        if unit.fn is not None and root not in self.local_names(unit):
            return isinstance(self.global_env(unit.module).get(root), ModelVal)
        return False

    def enclosing_unit(self, unit: _Unit) -> Optional[_Unit]:
        """The function a nested function (not a method) is defined in."""
        if unit.fn is None or unit.cls is not None or ".<locals>." not in unit.id:
            return None
        return self.units.get(unit.id.rsplit(".<locals>.", 1)[0])

    def closure_paths(self, unit: _Unit, line: int) -> Dict[str, ModelVal]:
        """For a nested function: the models of the enclosing function that it reads (free
        names bound there). Each enters as its caller leaves it (``ENTRY``, ``param=<name>``):
        its summary says what it predicts, trains and leaves the model in, and each call in
        the enclosing function applies that to the model there, as for a parameter (``main()``
        builds the model and defines ``evaluate()``, which switches it to eval)."""
        outer = self.enclosing_unit(unit)
        if outer is None:
            return {}
        self.attr_deps.setdefault(outer.id, set()).add(unit.id)  # re-run when what the enclosing function holds changes
        bound = self.local_names(outer) | set(outer.params)
        out: Dict[str, ModelVal] = {}
        for name in sorted(self.reads_globals(unit) & bound):
            v = outer.final_env.get(name)
            if isinstance(v, ModelVal):
                out[name] = entry_path(v, name, line)
        return out

    def global_paths(self, unit: _Unit, line: int) -> Dict[str, ModelVal]:
        """For a function: the module-level models that some function of its module switches
        (``net.eval()`` in ``test()``) and that it reads. Each enters as its caller leaves it
        (``ENTRY``, ``param=<name>``), so the function's summary says what it does to the
        model (``globals_exit``, ``predicts``, ``trains``), applied where it is called, as
        for a parameter. (Was: such a model was unknown in every function.)"""
        if unit.fn is None:
            return {}
        switched = self.switched_globals_of_module(unit.module)
        if not switched:
            return {}
        out: Dict[str, ModelVal] = {}
        genv = self.global_env(unit.module)
        for g in sorted(switched & self.reads_globals(unit)):  # read, never bound here
            v = genv.get(g)
            if isinstance(v, ModelVal):
                out[g] = entry_path(v, g, line)
        return out

    def attr_paths(self, unit: _Unit, selfname: str, line: int) -> Dict[str, ModelVal]:
        """For a method of a class that is no module: the models ``__init__`` keeps on
        ``self`` that some other method switches (``self.net.eval()`` in ``validate``), as
        access paths from the receiver. Each enters the method as its caller leaves it
        (``ENTRY``, ``param="self.net"``), so the method's summary says what it does to
        ``self.net`` as it does for a parameter, and a call ``self.validate()`` applies it to
        the caller's ``self.net``. A method nothing calls starts from that entry too: what it
        predicts in entry mode is its callers' business, as for a parameter."""
        if unit.fn is None or unit.fn.name == "__init__":
            return {}  # `__init__` makes them (as ``attr_path_names`` says)
        ci = unit.cls
        out: Dict[str, ModelVal] = {}
        init = self.method_unit(ci, "__init__")
        if init is not None:
            self.attr_deps.setdefault(init.id, set()).add(unit.id)  # re-run when __init__'s facts change
        for attr, v in self.attr_models(ci).items():
            path = f"{selfname}.{attr}"
            out[path] = entry_path(v, path, line)
        for attr, same in self.attr_aliases(ci).items():  # `self.runner = nn.DataParallel(self.net)`
            out[f"{selfname}.{attr}"] = out[f"{selfname}.{same}"]
        return out

    def attr_path_names(self, unit: _Unit) -> List[str]:
        """The access paths ``attr_paths`` gives ``unit`` (none for functions and module methods)."""
        if not unit.is_method or unit.is_module_method or unit.cls is None or unit.is_classmethod \
                or unit.fn is None or unit.fn.name == "__init__":
            return []
        selfname = unit.positional[0]
        return [f"{selfname}.{attr}" for attr in self.attr_models(unit.cls)]

    def attr_models(self, ci: ClassInfo) -> Dict[str, ModelVal]:
        """attr -> the model ``__init__`` leaves in ``self.attr``, for the attributes some other
        method switches and none rebinds."""
        got = self._attr_models.get(ci.qualname)
        if got is None:
            got = {}
            init = self.method_unit(ci, "__init__")
            if init is not None and not self.is_torch_module(ci):
                selfname = init.positional[0] if init.positional else "self"
                switched = self.switched_attrs(ci) - self.assigned_attrs(ci)
                for k, v in init.final_env.items():
                    if k.startswith(selfname + ".") and k.count(".") == 1 and k.split(".", 1)[1] in switched \
                            and isinstance(v, ModelVal) and ENTRY not in kinds(v.modes):
                        got[k.split(".", 1)[1]] = v
            self._attr_models[ci.qualname] = got
        return got

    def note_unresolved(self, c: ast.Call) -> None:
        name = c.func.attr  # type: ignore[attr-defined]
        self.unresolved_calls.add(name)
        n = -1 if c.keywords or any(type(a) is ast.Starred for a in c.args) else len(c.args)
        self.unresolved_arity.setdefault(name, set()).add(n)

    def arity_fits(self, u: _Unit) -> bool:
        """Some call of a method by ``u``'s name through a receiver we cannot resolve passes as
        many positional arguments as ``u`` takes (``self.G.train()`` cannot call a trainer's
        ``train(self, loader, epochs)``)."""
        counts = self.unresolved_arity.get(u.fn.name, {-1})
        a = u.fn.node.args
        n_pos = len(a.posonlyargs) + len(a.args) - (0 if u._is_static() else 1)
        required = n_pos - len(a.defaults)
        if any(d is None for d in a.kw_defaults):
            required = 10 ** 6  # a required keyword-only parameter: only a call with keywords fits
        most = 10 ** 6 if a.vararg is not None else n_pos
        return any(c == -1 or required <= c <= most for c in counts)

    def switches_own_layer(self, u: _Unit, c: ast.Call) -> bool:
        """``self.G.train()`` / ``self.net.eval()`` in a method, where the class's ``__init__``
        builds ``self.G`` as a module (a project module class, a torch layer or container, a
        library model): ``nn.Module.train``, not a method of the project's that is named so (a
        trainer's ``train()``, whose callers' grad state it would otherwise make unknown)."""
        f = c.func
        if f.attr not in ("train", "eval") or len(c.args) > 1 or c.keywords or not u.is_method or u.cls is None \
                or not u.positional:
            return False
        base = f.value
        if not (type(base) is _Attribute and type(base.value) is _Name and base.value.id == u.positional[0]):
            return False
        init = u.cls.methods.get("__init__")
        if init is None:
            return False
        selfname = (init.positional_params() or ["self"])[0]
        found = False
        for n in self.scope_nodes(init.node):
            if not (type(n) is ast.Assign and any(type(t) is _Attribute and t.attr == base.attr and type(t.value) is _Name
                                                  and t.value.id == selfname for t in n.targets)):
                continue
            v = n.value
            q = self.resolve_q(u.cls.module, v.func) if type(v) is _Call else None
            if not q:
                return False
            ci = self.lookup_class(q, u.cls.module)
            if ci is not None:
                if not self.is_torch_module(ci):
                    return False
            elif not (q.startswith("torch.nn.") or q.startswith(K.LIBRARY_MODEL_PREFIXES)):
                return False
            found = True
        return found

    def attrs_near_backward(self) -> Tuple[Set[str], Set[str]]:
        """Attribute names read (other than as the list a value is appended to) by a body of
        the project that runs a backward pass or returns a value, and by any body. A result
        stored under an attribute that some body reads and none of the first kind does
        (``self.samples.append(G(z))``, then ``torch.save(self.samples, path)``) is never
        differentiated here; one nothing reads (a buffer for code we cannot see) may be."""
        got = self._attrs_near_backward
        if got is None:
            near: Set[str] = set()
            read: Set[str] = set()
            got = self._attrs_near_backward = (near, read)
            for u in self.units.values():
                nodes = u.nodes
                close = bool(u.backward_calls or any(type(n) is ast.Return and n.value is not None for n in nodes)
                             or any(type(n) in (ast.Yield, ast.YieldFrom, ast.Lambda) for n in nodes))
                stores = set()
                for n in nodes:
                    if type(n) is _Call and type(n.func) is _Attribute and n.func.attr in _TaintWalker._MUTATORS:
                        stores.add(id(n.func.value))
                for n in nodes:
                    if type(n) is _Attribute and type(n.ctx) is _Load and id(n) not in stores:
                        read.add(n.attr)
                        if close:
                            near.add(n.attr)
        return got

    def attr_aliases(self, ci: ClassInfo) -> Dict[str, str]:
        """attr -> another attr of ``attr_models`` that ``__init__`` makes it hold the same model
        as (``self.runner = nn.DataParallel(self.net)``, ``self.model = self.net.to(dev)``),
        where no method rebinds either: one object under two names, so ``.eval()`` on one
        switches the other, and a prediction through either is one on ``self.net``."""
        got = self._attr_aliases.get(ci.qualname)
        if got is None:
            got = {}
            init = self.method_unit(ci, "__init__")
            models = self.attr_models(ci)
            if init is not None and init.fn is not None and models:
                selfname = init.positional[0] if init.positional else "self"
                rebound = self.assigned_attrs(ci)
                seen: Counter = Counter()
                for n in init.fn.nodes:
                    if type(n) is not ast.Assign or len(n.targets) != 1:
                        continue
                    t = path_of(n.targets[0])
                    if not t or not t.startswith(selfname + ".") or t.count(".") != 1:
                        continue
                    a = t.split(".", 1)[1]
                    seen[a] += 1
                    v = n.value
                    while type(v) is _Call and v.args and self.resolve_q(ci.module, v.func) in K.SAME_MODEL_WRAPPERS:
                        v = v.args[0]
                    src = _model_path(v)
                    if src and src.startswith(selfname + ".") and src.count(".") == 1:
                        b = src.split(".", 1)[1]
                        if b in models and b != a:
                            got[a] = b
                got = {a: b for a, b in got.items() if seen[a] == 1 and seen[b] == 1 and a not in rebound
                       and b not in rebound}
            self._attr_aliases[ci.qualname] = got
        return got

    def attr_state(self, ci: ClassInfo, current: FunctionInfo) -> Dict[str, object]:
        """``self.X`` values as ``__init__`` leaves them, minus those other methods switch."""
        if current.name == "__init__" or self.is_torch_module(ci):
            return {}  # a module's own attributes are submodules: their calls inherit its mode
        init = self.method_unit(ci, "__init__")
        if init is None:
            return {}
        cur = self.unit_by_node.get(id(current.node))
        if cur is not None:
            self.attr_deps.setdefault(init.id, set()).add(cur.id)
        got = self._attr_state.get(ci.qualname)
        if got is None:
            got = {}
            self._attr_state[ci.qualname] = got
            selfname = init.positional[0] if init.positional else "self"
            switched = self.switched_attrs(ci) | self.assigned_attrs(ci)
            for k, v in init.final_env.items():
                if k.startswith(selfname + ".") and k.count(".") == 1:
                    attr = k.split(".", 1)[1]
                    if attr not in switched and isinstance(v, (ModelVal, InstanceVal, ListVal)):
                        if isinstance(v, ModelVal) and ENTRY in kinds(v.modes):
                            continue
                        got[attr] = v
        return got

    # -- results for the rules ---------------------------------------------------------------
    def module_of(self, fn: object) -> Optional[ModuleInfo]:
        """The module that defines ``fn``, a function or method of the project (None for
        anything else)."""
        unit = self.unit_by_node.get(id(fn.node)) if isinstance(fn, FunctionInfo) else None
        return unit.module if unit is not None else None

    def units_of(self, path: str) -> List[_Unit]:
        return self.units_by_path.get(path, [])


def grad_of_name(q: Optional[str], no_grad: Iterable[str] = ()) -> Optional[FrozenSet[str]]:
    """The grad state the context or decorator named ``q`` sets (``no_grad``: more names
    that disable grad, from the configuration); None: not one of them."""
    if q in K.NO_GRAD_CONTEXTS or q in K.EVAL_MODE_CONTEXTS or q in no_grad:
        return frozenset({OFF})  # dropout-guard's `eval_mode` enters inference mode (or no_grad)
    if q in K.ENABLE_GRAD_CONTEXTS:
        return frozenset({ON})
    return None


def _guarded_path(expr: ast.AST, module: ModuleInfo) -> Optional[str]:
    """dropout-guard's ``inference_guard`` (``inference_guard``, ``inference_guard(model,
    ...)``, ``inference_guard(action="warn")``): the path of the model it guards, ``""`` for
    every model (no model given, or one that is not a plain path); None: not one."""
    call = type(expr) is _Call
    if module.resolve(expr.func if call else expr) not in K.INFERENCE_GUARDS:
        return None
    arg = get_arg(expr, 0, "model") if call else None
    if arg is None or (type(arg) is _Constant and arg.value is None):
        return ""
    return _model_path(arg) or ""


def _context_grad(expr: ast.AST, module: ModuleInfo) -> Optional[FrozenSet[str]]:
    """The grad state a context or decorator class sets: ``torch.no_grad`` -> OFF, and so
    for each branch of ``torch.inference_mode if new else torch.no_grad`` (None: not one)."""
    if type(expr) is ast.IfExp:
        a, b = _context_grad(expr.body, module), _context_grad(expr.orelse, module)
        return a | b if a is not None and b is not None else None
    return grad_of_name(module.resolve(expr))


def _wrapping_grad(dec: ast.AST, fn_param: str, module: ModuleInfo) -> Optional[FrozenSet[str]]:
    """The grad state under which decorator ``dec`` runs the function it gets as ``fn_param``:
    it returns ``ctx()(fn)``, or a wrapper that calls ``fn`` only inside ``with ctx():``."""
    rets = [n.value for n in _walk_scope(dec) if type(n) is ast.Return]
    if len(rets) != 1 or rets[0] is None:
        return None
    r = rets[0]
    if type(r) is _Call and len(r.args) == 1 and type(r.args[0]) is _Name and r.args[0].id == fn_param \
            and type(r.func) is _Call and not r.func.args:
        return _context_grad(r.func.func, module)
    wrapper = _returned_wrapper(dec)
    if wrapper is None:
        return None
    grads: Set[str] = set()
    calls = 0

    def visit(node: ast.AST, under: Optional[FrozenSet[str]]) -> bool:
        nonlocal calls
        if isinstance(node, (ast.With, ast.AsyncWith)):
            inner = None
            for item in node.items:
                c = item.context_expr
                inner = _context_grad(c.func, module) if type(c) is _Call and not c.args else None
                if inner is not None:
                    break
            for child in node.body:
                if not visit(child, inner if inner is not None else under):
                    return False
            return all(visit(i.context_expr, under) for i in node.items)
        if type(node) is _Call and type(node.func) is _Name and node.func.id == fn_param:
            if under is None:
                return False  # called outside any grad context
            calls += 1
            grads.update(under)
        return all(visit(child, under) for child in ast.iter_child_nodes(node))

    if not all(visit(stmt, None) for stmt in wrapper.body) or not calls:
        return None
    return frozenset(grads)


def _self_params_assigned(fn: FunctionInfo, selfname: str) -> Set[str]:
    """The attributes an ``__init__`` sets to one of its parameters (``self.model = model``)."""
    params = set(fn.param_names())
    return {n.targets[0].attr for n in fn.nodes
            if type(n) is ast.Assign and len(n.targets) == 1 and type(n.targets[0]) is _Attribute
            and type(n.targets[0].value) is _Name and n.targets[0].value.id == selfname
            and type(n.value) is _Name and n.value.id in params}


def _returned_wrapper(dec: ast.AST) -> Optional[ast.AST]:
    """The function a decorator defines in its body and returns (its only return), or None."""
    rets = [n.value for n in _walk_scope(dec) if type(n) is ast.Return]
    if len(rets) != 1 or type(rets[0]) is not _Name:
        return None
    wrappers = {n.name: n for n in dec.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return wrappers.get(rets[0].id)


def _wrapping_eval(dec: ast.AST) -> Optional[bool]:
    """Whether decorator ``dec`` returns a wrapper that puts its first argument in eval mode
    before it calls the function with it: None if not; else whether the wrapper switches it
    back afterwards (``model.train(was_training)``)."""
    if not dec.args.args:
        return None
    fn_param = dec.args.args[0].arg
    wrapper = _returned_wrapper(dec)
    if wrapper is None or not (wrapper.args.posonlyargs or wrapper.args.args):
        return None
    model = (wrapper.args.posonlyargs + wrapper.args.args)[0].arg

    def switches(stmt: ast.stmt, attr: str) -> bool:
        return type(stmt) is ast.Expr and type(stmt.value) is _Call and type(stmt.value.func) is _Attribute \
            and stmt.value.func.attr == attr and type(stmt.value.func.value) is _Name \
            and stmt.value.func.value.id == model

    evaled = False
    for i, stmt in enumerate(wrapper.body):
        if switches(stmt, "eval"):
            evaled = True
        elif any(type(n) is _Call and type(n.func) is _Name and n.func.id == fn_param and n.args
                 and type(n.args[0]) is _Name and n.args[0].id == model for n in ast.walk(stmt)):
            if not evaled:
                return None
            return any(switches(later, "train") for later in wrapper.body[i + 1:])
    return None


def _passed_through(fn: FunctionInfo, returned: ast.AST, call: ast.Call, rebound: Set[str]) -> Optional[ast.AST]:
    """The argument of ``call`` that ``fn`` returns unchanged: ``returned`` is one of its
    parameters, never rebound in its body (``rebound``), and ``call`` passes it."""
    if type(returned) is not _Name or returned.id in rebound or returned.id not in fn.param_names():
        return None
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return None  # *args / **kwargs: which argument lands where is unknown
    positional = fn.positional_params()
    index = positional.index(returned.id) if returned.id in positional else None
    return get_arg(call, index, returned.id)


def _is_volatile(e: ast.AST, module: ModuleInfo) -> bool:
    """``Variable(x, volatile=True)``."""
    if type(e) is not _Call or not e.keywords or module.resolve(e.func) not in _VARIABLE:
        return False
    return any(k.arg == "volatile" and type(k.value) is _Constant and k.value.value is True for k in e.keywords)


def layer_dependent(last: str, call: ast.Call) -> bool:
    """A ``torch.nn`` layer named in MODE_DEPENDENT_LAYERS behaves differently in training:
    an RNN, LSTM, GRU or MultiheadAttention only with a dropout argument that is not 0 (an
    RNN's, moreover, only with more than one layer: its dropout runs between layers); a
    dropout layer only with a rate that is not the constant 0."""
    at = K.DROPOUT_ARGUMENT_LAYERS.get(last)
    if at is None:
        if last in K.DROPOUT_LAYERS:  # nn.Dropout(0) / nn.Dropout(p=0.0) is the identity in either mode
            rate = get_arg(call, 0, "p")
            return not (type(rate) is _Constant and type(rate.value) in (int, float) and rate.value == 0)
        return True
    arg = get_arg(call, at, "dropout")
    if arg is None:
        return False  # the default: no dropout
    if type(arg) is _Constant and not arg.value:
        return False
    if last in ("LSTM", "GRU", "RNN"):  # the dropout sits between stacked layers: none with one layer
        layers = get_arg(call, 2, "num_layers")
        if layers is None or (type(layers) is _Constant and layers.value == 1):
            return False
    return True


def _or_dep(a: Optional[bool], b: Optional[bool]) -> Optional[bool]:
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


_COMPILERS = frozenset({"torch.compile", "torch.jit.script"})
_EXIT_STACKS = frozenset({"contextlib.ExitStack", "contextlib.AsyncExitStack"})
_UNBOUND = object()
_MODE_WORDS = frozenset({"train", "training", "eval"})  # words of a method's name that say it sets the mode
# tensor methods whose arguments are sizes, dims or values, never a module to run
_TENSOR_SIZE_METHODS = frozenset({"view", "reshape", "split", "chunk", "repeat", "expand", "narrow", "permute",
                                  "transpose", "flatten", "unflatten", "unsqueeze", "squeeze", "new_zeros",
                                  "new_ones", "new_empty", "new_full", "masked_fill", "index_select", "roll",
                                  "tile", "repeat_interleave", "view_as", "reshape_as", "expand_as", "movedim"})
# torch functions that may be handed a module to run (anything else under torch. takes tensors and sizes)
_TAKE_MODULES = ("torch.nn.", "torch.utils.checkpoint", "torch.jit", "torch.compile", "torch.func",
                 "torch.vmap", "torch.fx", "torch.export", "torch.onnx", "torch.distributed", "torch.cuda.amp",
                 "torch.ao", "torch.quantization", "torch.autograd")
# callees that are handed objects without calling their methods back for them (for grad
# states; torch's functions take tensors and modules, whose calls are analysed as such)
_NOT_CALLERS = ("torch.", "numpy.", "math.", "logging.", "copy.", "pickle.", "json.", "warnings.", "pprint.")


def _compiled_in_place(module: ModuleInfo) -> Counter:
    """Name -> how often the module rebinds it to its compiled self (``decode_one_token =
    torch.compile(decode_one_token, mode="reduce-overhead")``, gpt-fast's and litgpt's
    generation scripts): those reads hand the function to a compiler, not to a caller we
    cannot see. Only statements are walked, and only for modules that read a function's
    name more often than they call it."""
    out: Counter = Counter()
    stack: List[ast.AST] = list(module.tree.body)
    while stack:
        s = stack.pop()
        if type(s) is ast.Assign and len(s.targets) == 1 and type(s.targets[0]) is _Name:
            v = s.value
            if type(v) is _Call and v.args and type(v.args[0]) is _Name and v.args[0].id == s.targets[0].id \
                    and module.resolve(v.func) in _COMPILERS:
                out[s.targets[0].id] += 1
            continue
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            block = getattr(s, name, None)
            if block:
                stack.extend(block)
    return out


_DATA_BUILTINS = frozenset({"dict", "tuple", "list", "map", "sorted", "reversed", "zip", "set", "frozenset",
                            "filter", "enumerate"})
_READS_A_LIST = frozenset({"Sequential", "ModuleList", "len", "enumerate", "zip", "reversed", "list", "tuple",
                           "sorted", "print", "isinstance"})


def _local_parts(fn: FunctionInfo, name: str) -> List[ast.AST]:
    """What a local variable of ``fn`` is made of: every value assigned to it, and every
    item appended, inserted or extended into it (``layers = []``, ``layers.append(nn.Conv2d(...))``,
    ``layers += [...]``). Empty when the name is also bound any other way (a loop target, a
    ``with`` target...): then the caller knows nothing."""
    parts: List[ast.AST] = []
    for n in fn.nodes:
        t = type(n)
        if t is ast.Assign:
            if any(type(x) is _Name and x.id == name for x in n.targets):
                if len(n.targets) != 1:
                    return []
                parts.append(n.value)
        elif t is ast.AugAssign or t is ast.AnnAssign:
            if type(n.target) is _Name and n.target.id == name:
                if n.value is None:
                    continue
                parts.append(n.value)
        elif t is _Call:
            f = n.func
            if type(f) is _Attribute and type(f.value) is _Name and f.value.id == name:
                if f.attr in ("append", "extend") and len(n.args) == 1:
                    parts.append(n.args[0])
                elif f.attr == "insert" and len(n.args) == 2:
                    parts.append(n.args[1])
            elif (f.attr if type(f) is _Attribute else f.id if type(f) is _Name else "") not in _READS_A_LIST \
                    and not (type(f) is _Attribute and f.attr in _CONTAINER_ADDS) \
                    and any(type(a) is _Name and a.id == name for a in [*n.args, *(k.value for k in n.keywords)]):
                return []  # handed to a function that may add to it
        elif t is _Name and type(n.ctx) is not _Load and n.id == name:
            continue  # the targets of the assignments above
        elif t in (ast.For, ast.comprehension, ast.withitem, ast.NamedExpr):
            target = getattr(n, "target", None) or getattr(n, "optional_vars", None)
            if target is not None and any(type(x) is _Name and x.id == name for x in ast.walk(target)):
                return []
    return parts


def _object_aliases(unit: "_Unit") -> Dict[str, str]:
    """Names of a body that hold the same object as another name: assigned a plain path of
    it (``m = model``, ``raw_model = model.module if ddp else model``); name -> the name
    that stands for the group."""
    parent: Dict[str, str] = {}

    def find(x: str) -> str:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    def roots(v: ast.AST) -> Set[str]:
        if type(v) is ast.IfExp:
            a, b = roots(v.body), roots(v.orelse)
            return a | b if a and b else set()
        while type(v) is _Attribute:
            v = v.value
        return {v.id} if type(v) is _Name else set()

    for n in unit.nodes:
        if type(n) is ast.Assign and len(n.targets) == 1 and type(n.targets[0]) is _Name:
            for r in roots(n.value):
                a, b = find(n.targets[0].id), find(r)
                if a != b:
                    parent[a] = b
    return {k: find(k) for k in parent}


def _self_freezing(init: ast.AST):
    """How an ``__init__`` freezes all of its module's parameters: True (always), (name,
    truth) when it does so only while its parameter ``name`` has that truth value (``if not
    requires_grad:``, ``if freeze:``), or None (it does not)."""
    a = init.args
    selfname = (a.posonlyargs + a.args)[0].arg if (a.posonlyargs or a.args) else "self"
    params = {p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)} - {selfname}

    def freezes(stmt: ast.stmt) -> bool:
        if type(stmt) is ast.Expr and type(stmt.value) is _Call:  # self.requires_grad_(False)
            c = stmt.value
            return (type(c.func) is _Attribute and c.func.attr == "requires_grad_" and type(c.func.value) is _Name
                    and c.func.value.id == selfname and type(get_arg(c, 0, "requires_grad")) is _Constant
                    and get_arg(c, 0, "requires_grad").value is False)
        if type(stmt) is not ast.For or type(stmt.iter) is not _Call:
            return False
        it = stmt.iter.func
        if not (type(it) is _Attribute and it.attr in ("parameters", "named_parameters") and type(it.value) is _Name
                and it.value.id == selfname and not stmt.iter.args):
            return False
        target = stmt.target.elts[-1] if type(stmt.target) is ast.Tuple and stmt.target.elts else stmt.target
        if type(target) is not _Name:
            return False
        for s in stmt.body:  # p.requires_grad = False / p.requires_grad_(False)
            if type(s) is ast.Assign and type(s.value) is _Constant and s.value.value is False and any(
                    type(t) is _Attribute and t.attr == "requires_grad" and type(t.value) is _Name
                    and t.value.id == target.id for t in s.targets):
                return True
            if type(s) is ast.Expr and type(s.value) is _Call and type(s.value.func) is _Attribute \
                    and s.value.func.attr == "requires_grad_" and type(s.value.func.value) is _Name \
                    and s.value.func.value.id == target.id:
                arg = get_arg(s.value, 0, "requires_grad")
                if type(arg) is _Constant and arg.value is False:
                    return True
        return False

    def flag(test: ast.AST):
        """(parameter, truth value for which the test holds), or None."""
        if type(test) is _Name and test.id in params:
            return test.id, True
        if type(test) is ast.UnaryOp and type(test.op) is ast.Not and type(test.operand) is _Name \
                and test.operand.id in params:
            return test.operand.id, False
        if type(test) is ast.Compare and len(test.ops) == 1 and type(test.left) is _Name and test.left.id in params \
                and type(test.ops[0]) in (ast.Is, ast.Eq) and type(test.comparators[0]) is _Constant \
                and type(test.comparators[0].value) is bool:
            return test.left.id, test.comparators[0].value
        return None

    for stmt in init.body:
        if freezes(stmt):
            return True
        if type(stmt) is ast.If:
            f = flag(stmt.test)
            if f is None:
                continue
            if any(freezes(s) for s in stmt.body):
                return f
            if any(freezes(s) for s in stmt.orelse):
                return f[0], not f[1]
    return None


def _default_of(fn: ast.AST, name: str) -> Optional[ast.AST]:
    a = fn.args
    pos = [*a.posonlyargs, *a.args]
    defaults = a.defaults
    for p, d in zip(pos[len(pos) - len(defaults):], defaults):
        if p.arg == name:
            return d
    for p, d in zip(a.kwonlyargs, a.kw_defaults):
        if p.arg == name:
            return d
    return None
