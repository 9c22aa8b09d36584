"""Small syntax helpers and name vocabulary of the flow analysis.

Dotted paths of expressions (``path_of``, ``root_of``, ``_model_path``), test-function
detection, scope walking that stays out of nested scopes, the recognisers of a backward
pass and a mode switch, assignment targets, and the frozensets of names (containers,
layers that are not models, mode methods, pure builtins, taint cuts) the interpreter and
the project share. Depends only on the semantic model.
"""
from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, FrozenSet, Iterable, List, Optional, Set

from .. import knowledge as K
from ..semantic import _FIELDS, _SINGLETONS, ModuleInfo, _child_fields, get_arg

if TYPE_CHECKING:  # annotations only
    from .unit import _Unit


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
    """A test that pytest or unittest collects: ``test*`` in a ``test_*.py`` / ``*_test.py`` file,
    or a ``test*`` method of a ``unittest.TestCase`` subclass in any file (unittest's
    discovery reads ``test*.py``: normalizing_flows' ``test.py``).

    Its model calls check shapes, hooks or numerics, not predictions anyone serves: a
    dropout firing there makes the test flaky, so the test shows it; the runtime guard's
    pytest plugin (``--dropout-guard``, ``@pytest.mark.dropout_guard``) checks tests at run time.
    The rules report no model call of a test, and the helpers a test calls take no grad
    state or models from it. A function nested in a test (ResNeSt's ``compare_two_imp`` inside
    ``test_radix_major``) is part of the test, and so is a helper of a test file that only its
    tests call (mmseg's ``_test_encoder_decoder_forward(cfg)``, called by each ``test_*``)."""
    if unit.fn is None:
        return False
    if ".<locals>." in unit.id:
        outer = unit.project.enclosing_unit(unit)
        if outer is not None and is_test_function(outer):
            return True
    if not unit.fn.name.startswith("test"):
        return _test_file(unit.path) and unit.project.only_tests_call(unit)
    if unit.cls is not None and any(b in _TEST_CASES for b in unit.cls.bases):
        return True
    return _test_file(unit.path)


def _test_file(path: str) -> bool:
    """A file pytest collects tests from: ``test_*.py`` or ``*_test.py``."""
    name = os.path.basename(path)
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


_TEST_CASES = frozenset({"unittest.TestCase", "unittest.case.TestCase", "unittest.IsolatedAsyncioTestCase"})


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
    """``s`` is the statement ``key.<attr>()`` at ``line`` (for ``eval``, also
    ``key.train(False)``, which switches to eval mode the same way)."""
    if not (type(s) is ast.Expr and s.lineno == line and type(s.value) is _Call and
            type(s.value.func) is _Attribute and path_of(s.value.func.value) == key):
        return False
    c = s.value
    if c.func.attr == attr:
        return not (attr == "train" and _train_false(c))
    return attr == "eval" and c.func.attr == "train" and _train_false(c)


def _train_false(c: ast.Call) -> bool:
    """``m.train(False)`` / ``m.train(mode=False)``."""
    arg = c.args[0] if c.args else next((k.value for k in c.keywords if k.arg == "mode"), None)
    return type(arg) is ast.Constant and arg.value is False


def _chosen_mode(s: ast.AST, key: str, attr: str, line: int, bound) -> bool:
    """``s`` is an ``if``/``elif``/``else`` chain holding the statement ``key.<attr>()`` at
    ``line`` in which every branch switches ``key`` (to either mode) or ends (``raise``,
    ``assert False``), on tests of names no loop of the body rebinds (``bound()``: the names
    that one does): the mode chosen by configuration (``if args.finetune: model.train() elif
    args.freeze: model.eval() else: assert False``), which every path after it runs in on
    purpose. A test of a loop's phase variable (``for phase in ("train", "val")``) alternates
    the mode instead. The chain may be one conditional expression, ``model.train() if
    is_train else model.eval()``, also assigned (``model = model.train() if ... else ...``)."""
    if type(s) in (ast.Expr, ast.Assign) and type(s.value) is ast.IfExp:  # also `model = model.train() if ...`
        return s.lineno == line and _chosen_by_expression(s.value, key, attr, bound)
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


def _chosen_by_expression(e: ast.IfExp, key: str, attr: str, bound) -> bool:
    """``key.train() if T else key.eval()`` (chained in its ``else``): every branch switches
    ``key``, one of them with ``attr``, on tests of names no loop rebinds."""
    found = False
    while True:
        if any(type(n) is _Name and n.id in bound() for n in ast.walk(e.test)):
            return False
        for branch in (e.body, e.orelse) if type(e.orelse) is not ast.IfExp else (e.body,):
            if not (type(branch) is _Call and type(branch.func) is _Attribute and branch.func.attr in ("train", "eval")
                    and path_of(branch.func.value) == key):
                return False
            mode_eval = branch.func.attr == "eval" or _train_false(branch)
            found = found or mode_eval == (attr == "eval")
        if type(e.orelse) is not ast.IfExp:
            return found
        e = e.orelse


def call_name(c: ast.Call) -> str:
    """The last name of what ``c`` calls (``backward`` of ``loss.backward()``, ``mm`` of
    ``torch.mm(...)``); empty for anything else (``fns[i](x)``)."""
    f = c.func
    return f.attr if type(f) is _Attribute else f.id if type(f) is _Name else ""


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
_TAINT_CUT = frozenset({"detach", "item", "tolist", "numpy", "argmax", "argmin", "size", "dim", "numel",
                        "sample", "multinomial", "argsort"})  # results that carry no gradient
# a module's methods that list its submodules (`model.named_modules()`)
_SUBMODULE_LISTS = frozenset({"modules", "named_modules", "children", "named_children"})
# constructors that copy their data into a new tensor that requires no grad (unlike
# `torch.as_tensor`, `torch.stack`, which keep the graph)
_COPYING_CONSTRUCTORS = K.TYPED_TENSOR_CONSTRUCTORS | {"torch.tensor"}


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


_NOT_MODELS = frozenset({"Identity", "Flatten", "Unflatten", "Softmax", "LogSoftmax", "ReLU", "GELU", "SiLU",
                         "Tanh", "Sigmoid", "Parameter", "ParameterList", "ParameterDict", "Upsample",
                         "PixelShuffle", "CosineSimilarity", "PairwiseDistance"})
_CONTAINERS = frozenset({"Sequential", "ModuleList", "ModuleDict"})
_MAX_LOOP = 6
_MODE_METHODS = frozenset({"eval", "train"})
_RUN_METHODS = ("forward", "__call__")  # `net.forward(x)`, `net.__call__(x)`: run the module as `net(x)` does
_CONTAINER_ADDS = frozenset({"append", "extend", "insert", "add_module", "register_module"})
_SAME_OR_MODE = K.SAME_MODEL_METHODS | _MODE_METHODS


@dataclass(frozen=True)
class EnumMember:
    """A member of a project enum class put in for a flag (``Phase.TEST``): equal only to itself."""
    cls: str
    name: str

    def __repr__(self) -> str:
        return f"{self.cls.rpartition('.')[2]}.{self.name}"


def literal_truth(test: ast.AST) -> Optional[bool]:
    """The truth of a test made of constants (`if False and ...:`, or a flag variant's test after
    its flags were put in); None if unknown."""
    t = type(test)
    if t is ast.Constant:
        return None if type(test.value) is EnumMember else bool(test.value)  # an IntEnum member may be 0
    if t is ast.UnaryOp and type(test.op) is ast.Not:
        inner = literal_truth(test.operand)
        return None if inner is None else not inner
    if t is ast.BoolOp:
        vals = [literal_truth(v) for v in test.values]
        if type(test.op) is ast.And:
            return False if False in vals else True if all(v is True for v in vals) else None
        return True if True in vals else False if all(v is False for v in vals) else None
    if t is ast.Compare and len(test.ops) == 1 and type(test.left) is ast.Constant:
        left, right, op = test.left.value, test.comparators[0], type(test.ops[0])
        if type(right) is ast.Constant:
            r = right.value
            if (type(left) is EnumMember) != (type(r) is EnumMember):
                return None  # an IntEnum or StrEnum member may equal a plain value
            if type(left) is EnumMember and op in (ast.Is, ast.IsNot):
                op = ast.Eq if op is ast.Is else ast.NotEq
            ops = {ast.Eq: lambda: left == r, ast.NotEq: lambda: left != r, ast.Is: lambda: left is r,
                   ast.IsNot: lambda: left is not r}
            return ops[op]() if op in ops else None
        if type(right) in (ast.Tuple, ast.List, ast.Set) and all(type(e) is ast.Constant for e in right.elts) \
                and op in (ast.In, ast.NotIn):
            return (left in [e.value for e in right.elts]) == (op is ast.In)
    return None
