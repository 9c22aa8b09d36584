"""Source idioms the analysis recognises from syntax alone.

Grad contexts (``torch.no_grad()``, ``set_grad_enabled(flag)``, decorators and the wrappers
that return one), eval wrappers, ``Variable(..., volatile=True)``, which ``torch.nn`` layers
depend on the mode (``layer_dependent``), models compiled in place, the local parts of a
value, object aliases, classes that freeze their own parameters, and parameter defaults.
Pure functions of the tree and the module's name resolution; no project state.
"""
from __future__ import annotations

import ast
from collections import Counter
from typing import TYPE_CHECKING, Dict, FrozenSet, Iterable, List, Optional, Set

from .. import knowledge as K
from ..semantic import FunctionInfo, ModuleInfo, get_arg
from .values import OFF, ON
from .syntax import (_CONTAINER_ADDS, _VARIABLE, _Attribute, _Call, _Constant, _Load, _Name, _model_path, _walk_scope,
                     literal_truth)

if TYPE_CHECKING:  # annotations only
    from .unit import _Unit


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
    """``Variable(x, volatile=True)`` (``volatile=not False`` in a copy specialised to a
    flag), or with ``**{"volatile": True}``."""
    if type(e) is not _Call or not e.keywords or module.resolve(e.func) not in _VARIABLE:
        return False
    return any(k.arg == "volatile" and literal_truth(k.value) is True or k.arg is None and volatile_dict(k.value)
               for k in e.keywords)


def volatile_dict(e: ast.AST) -> bool:
    """A dict literal of keyword arguments that asks for a volatile ``Variable``
    (``var_params = {"volatile": not train, ...}`` once the flag is known)."""
    return type(e) is ast.Dict and literal_truth(volatile_value(e)) is True


def volatile_value(d: ast.Dict) -> Optional[ast.AST]:
    """What a dict literal gives its ``"volatile"`` key; None when it has none."""
    return next((v for k, v in zip(d.keys, d.values) if type(k) is _Constant and k.value == "volatile"), None)


def layer_dependent(last: str, call: ast.Call) -> bool:
    """A ``torch.nn`` layer named in MODE_DEPENDENT_LAYERS behaves differently in training:
    an RNN, LSTM, GRU or MultiheadAttention only with a dropout argument that is not 0 (an
    RNN's, moreover, only with more than one layer: its dropout runs between layers); a
    dropout layer only with a rate that is not the constant 0; a batch or instance norm only
    when it keeps running statistics (``track_running_stats``, off by default for instance
    norm: it normalises each sample by its own statistics in either mode)."""
    at = K.DROPOUT_ARGUMENT_LAYERS.get(last)
    if "Norm" in last:  # batch or instance norm keeps running statistics only when asked to
        track = get_arg(call, 4, "track_running_stats")
        if track is None:
            return not last.startswith("InstanceNorm")  # the defaults: True for batch norm, False for instance norm
        return not (type(track) is _Constant and track.value is False)
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


_COMPILERS = frozenset({"torch.compile", "torch.jit.script"})
_EXIT_STACKS = frozenset({"contextlib.ExitStack", "contextlib.AsyncExitStack"})
_UNBOUND = object()
_MODE_WORDS = frozenset({"train", "training", "eval"})  # words of a method's name that say it sets the mode
# tensor methods whose arguments are sizes, dims or values, never a module to run
_TENSOR_SIZE_METHODS = frozenset({"view", "reshape", "split", "chunk", "repeat", "expand", "narrow", "permute",
                                  "transpose", "flatten", "unflatten", "unsqueeze", "squeeze", "new_zeros",
                                  "new_ones", "new_empty", "new_full", "masked_fill", "index_select", "roll",
                                  "tile", "repeat_interleave", "view_as", "reshape_as", "expand_as", "movedim",
                                  "clamp", "clip", "clamp_", "clip_", "clamp_min", "clamp_max", "mul", "add",
                                  "div", "sub", "pow", "fill_", "mul_", "add_", "div_", "sub_", "t", "t_",
                                  "mm", "matmul", "bmm", "dot", "exp", "log", "sum", "mean", "normal_",
                                  "uniform_", "zero_"})
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
                           "sorted", "print", "isinstance", "deepcopy", "copy"})


def _assigned_values(fn: FunctionInfo, name: str) -> List[ast.AST]:
    """The values a local of ``fn`` is assigned, whole right-hand sides of tuple unpackings
    included (``P_Y, P_X = np.meshgrid(...)``); empty when it is bound any other way (a
    loop target, a ``with`` target, a nested tuple)."""
    values: List[ast.AST] = []
    assigned = 0
    for n in fn.nodes:
        if type(n) is ast.Assign:
            for t in n.targets:
                hits = [x for x in ([t] if type(t) is _Name else t.elts if type(t) is ast.Tuple else [])
                        if type(x) is _Name and x.id == name]
                if hits:
                    values.append(n.value)
                    assigned += len(hits)
    stores = sum(1 for n in fn.nodes if type(n) is _Name and n.id == name and type(n.ctx) is not _Load)
    return values if stores == assigned else []


def _local_parts(fn: FunctionInfo, name: str, handed: bool = False) -> List[ast.AST]:
    """What a local variable of ``fn`` is made of: every value assigned to it, and every
    item appended, inserted or extended into it (``layers = []``, ``layers.append(nn.Conv2d(...))``,
    ``layers += [...]``) or added to it as a named submodule (``block.add_module("bn", ...)``). Empty when the name is also bound any other way (a loop target, a
    ``with`` target...): then the caller knows nothing. Also empty when the name is handed to
    a call that may add to it, unless ``handed``: then the parts are some of what it holds
    (``Container(layers)`` after ``layers.append(Block(...))``: a dropout among them is there)."""
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
                elif f.attr in ("add_module", "register_module"):  # `block.add_module("bn", nn.BatchNorm2d(c))`
                    added = n.args[1] if len(n.args) == 2 else next(
                        (k.value for k in n.keywords if k.arg == "module"), None)
                    if added is not None:
                        parts.append(added)
            elif any(type(a) is _Name and a.id == name for a in [*n.args, *(k.value for k in n.keywords)]) \
                    and not (type(f) is _Attribute and f.attr in _CONTAINER_ADDS) \
                    and _callee_word(fn, f) not in _READS_A_LIST and not handed:
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


def _callee_word(fn: FunctionInfo, f: ast.AST) -> str:
    """The last name of what a call's function expression means: ``deepcopy`` for
    ``copy.deepcopy``, and for ``c`` too where ``fn`` binds ``c = copy.deepcopy`` alone."""
    if type(f) is _Attribute:
        return f.attr
    if type(f) is not _Name:
        return ""
    bound = [n.value for n in fn.nodes if type(n) is ast.Assign and len(n.targets) == 1
             and type(n.targets[0]) is _Name and n.targets[0].id == f.id]
    if len(bound) == 1 and type(bound[0]) in (_Attribute, _Name):
        return bound[0].attr if type(bound[0]) is _Attribute else bound[0].id
    return f.id
