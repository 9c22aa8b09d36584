"""Helpers specialised to the constant flags their calls pass: ``VariantMixin``.

One helper often serves training and evaluation, told which by a flag:
``run_epoch(model, loader, opt, train=False)`` skips the ``if train:`` training step, so that
call predicts (with gradients on, unless the helper turns them off). A single summary of the
helper joins both branches and reads every call of it as training. For each call that
passes a constant (``True``, ``False``, ``None``, a number or a string, or leaves such a
default in place) to a parameter that the helper tests (``if train:``, ``if not train``,
``if phase == "train"``) and never rebinds, the project analyses a copy of the helper with
the constants put in and the branches they rule out removed, where that decides a training
step, a mode switch or a grad context (removes it, or makes a conditional one definite:
``if eval: model.eval()`` with ``eval=True`` left in place) or what it returns (a factory's
``if autoshape: model = AutoShape(model)`` before ``return model``), and the call runs that copy.
A method call resolves through the receiver's class when the body binds the receiver once
from a project class's constructor (``tester = BaseTester(); tester.get_all_embeddings(...)``). Copies are shared by
calls passing the same constants; a copy's findings are reported once, at the helper's own
lines, like the helper's.
"""
from __future__ import annotations

import ast
import copy
from typing import Dict, FrozenSet, List, Optional, Tuple

from .. import knowledge as K
from ..semantic import FunctionInfo, default_of
from .syntax import EnumMember, _Call, _Name, _walk_scope, call_name, literal_truth as _truth
from .unit import _Unit

_RELEVANT_CALLS = frozenset({"backward", "step", "train", "eval", "zero_grad", "no_grad", "set_grad_enabled",
                             "inference_mode", "enable_grad", "requires_grad_"})
_FLAG_TYPES = (bool, type(None), int, float, str)
_ENUM_BASES = frozenset({"enum.Enum", "enum.IntEnum", "enum.StrEnum", "enum.Flag", "enum.IntFlag"})


class VariantMixin:
    """Copies of helpers specialised to constant flags, for ``Project`` (see the module docstring)."""

    def add_variants(self) -> None:
        """Create the specialised copies the project's calls ask for (``variant_calls``)."""
        made: Dict[Tuple[str, Tuple], Optional[_Unit]] = {}
        for u in list(self.units.values()):
            for c in u.calls:
                # `tester.get_all_embeddings(ds, model)` of `tester = BaseTester(...)`: its class's method
                callee = self.resolve_callee(u, c, None, None) or u.receiver_method(c)
                if callee is None or callee.fn is None or callee is u:
                    continue
                consts = self._flag_constants(callee, c, caller=u)
                if not consts:
                    continue
                key = (callee.id, tuple(sorted((k, repr(v)) for k, v in consts.items())))
                if key not in made:
                    made[key] = self._variant(callee, consts)
                if made[key] is not None:
                    self.variant_calls[id(c)] = made[key]

    def forward_variant(self, cls_q: str, c: ast.Call) -> Optional[ast.FunctionDef]:
        """The ``forward`` of the module class ``cls_q`` specialised to the constants the model
        call ``c`` passes or leaves in place (``model(data, mode="inference")``, ``model(x)``
        leaving ``is_training=False``): a copy of its definition with the branches they rule
        out removed; None when they rule out none."""
        per_call = self.memo.setdefault("forward_variant_of_call", {})  # asked for each visit of each model call
        if (cls_q, id(c)) not in per_call:
            per_call[(cls_q, id(c))] = self._forward_variant(cls_q, c)
        return per_call[(cls_q, id(c))]

    def _forward_variant(self, cls_q: str, c: ast.Call) -> Optional[ast.FunctionDef]:
        ci = self.class_by_qualname(cls_q)
        fwd = self.method_unit(ci, "forward") if ci is not None else None
        if fwd is None or fwd.fn is None:
            return None
        consts = self._flag_constants(fwd, c, receiver_bound=True)
        if not consts:
            return None
        key = (fwd.id, tuple(sorted((k, repr(v)) for k, v in consts.items())))
        memo = self.memo.setdefault("forward_variants", {})  # one copy per forward and set of constants
        if key not in memo:
            node, spec = _specialised(fwd.fn.node, consts)
            memo[key] = node if spec.changed else None
        return memo[key]

    def call_dependent(self, cls_q: str, c: ast.Call) -> Optional[bool]:
        """Whether the model call ``c`` runs a layer that behaves differently in training,
        read from its class's ``forward`` specialised to the call's flags: False when every
        attribute of the module it touches is known to behave the same in both modes (the
        dropout sits under ``if is_training:`` and the call leaves that False); None when
        that cannot be told (no flags, ``super()`` or ``self(x)`` called, a layer that may
        train differently, a method inherited from a base of the project's)."""
        node = self.forward_variant(cls_q, c)
        ci = self.class_by_qualname(cls_q)
        if node is None or ci is None or not node.args.args or self._library_base(ci):
            return None
        memo = self.memo.setdefault("call_dependent", {})  # per class and specialised copy, shared by its calls
        key = (cls_q, id(node))
        if key not in memo:
            memo[key] = False if self._touches_only_fixed_layers(ci, node, set()) else None
        return memo[key]

    def _library_base(self, ci, depth: int = 0) -> bool:
        """A base of the class (or of its project bases) is a library class other than
        ``nn.Module`` (torchvision's ``ResNet``): it has layers the project does not show."""
        for b in ci.bases:
            bc = self.lookup_class(b, ci.module)
            if bc is None:
                if not (b in K.TORCH_MODULE_BASES and b.rsplit(".", 1)[-1] == "Module"):
                    return True
            elif bc is not ci and depth < 8 and self._library_base(bc, depth + 1):
                return True
        return False

    def _touches_only_fixed_layers(self, ci, node: ast.AST, seen: set) -> bool:
        """The definition ``node`` (a method of ``ci``) touches only layers of the module that
        behave the same in both modes, also through the module's other methods it calls."""
        if not node.args.args or len(seen) > 8:
            return False
        selfname = node.args.args[0].arg
        for n in (x for stmt in node.body for x in ast.walk(stmt)):
            t = type(n)
            if t is ast.Attribute and type(n.value) is _Name and n.value.id == selfname:
                if n.attr == "training" and id(n) not in self.shaping_reads(node):
                    return False
                if n.attr in ci.methods:  # `self.init_hidden(x)`: what that method touches
                    if n.attr not in seen:
                        seen.add(n.attr)
                        if not self._touches_only_fixed_layers(ci, ci.methods[n.attr].node, seen):
                            return False
                elif self.is_submodule_attr(ci.qualname, n.attr) and self.attr_dependent(ci, n.attr) is not False:
                    return False  # a layer that may train differently
            elif t is _Name and n.id == "super":
                return False  # the base class's forward runs what this one does not show
            elif t is _Call:
                f = n.func
                if type(f) is _Name and f.id == selfname:
                    return False  # `self(x)`
                if type(f) is ast.Attribute and type(f.value) is _Name and f.value.id == selfname \
                        and f.attr not in ci.methods and not self.is_submodule_attr(ci.qualname, f.attr) \
                        and any(self.lookup_class(b, ci.module) is not None for b in ci.bases):
                    return False  # a method a base class of the project's defines: unread here
                q = ci.module.resolve(n.func) or ""
                if "dropout" in q or "batch_norm" in q:
                    return False
        return True

    def _flag_constants(self, callee: _Unit, c: ast.Call, receiver_bound: bool = False,
                        caller: Optional[_Unit] = None) -> Dict[str, object]:
        """The constants call ``c`` (in ``caller``) gives the parameters ``callee`` tests as
        flags (``receiver_bound``: ``c`` calls a module, whose ``self`` takes no argument): a
        literal, or a member of a project enum (``phase=Phase.TEST``, see ``enum_member``)."""
        flags = _tested_params(callee)
        if not flags or any(type(a) is ast.Starred for a in c.args) or any(k.arg is None for k in c.keywords):
            return {}
        out: Dict[str, object] = {}
        given = dict(self.bind_args(callee, c, constructor=receiver_bound))
        for p in flags:
            e, mod = (given[p], caller.module if caller else None) if p in given else \
                (default_of(callee.fn.node, p), callee.module)
            if type(e) is ast.Constant and isinstance(e.value, _FLAG_TYPES):
                out[p] = e.value
            elif type(e) is ast.Attribute and mod is not None:
                member = self.enum_member(mod, e)
                if member is not None:
                    out[p] = member
            elif p in given and caller is not None and self._an_object(e, caller):
                out[p] = AN_OBJECT
        return out

    def _an_object(self, e: ast.AST, caller: _Unit) -> bool:
        """``e`` (an argument in ``caller``) is an object built by a call: a call itself, or a
        local name that every binding in ``caller`` binds to a call's result."""
        if type(e) is _Call:
            return True
        values = self.bound_values(caller, e.id) if type(e) is _Name else None
        return bool(values) and all(type(v) is _Call for v in values)

    def enum_member(self, mod, node: ast.AST) -> Optional[EnumMember]:
        """The member of a project enum class that ``node`` (``Phase.TEST``, ``enums.Phase.TEST``)
        names in ``mod``; None for anything else."""
        q = mod.resolve(node) if type(node) is ast.Attribute else None
        if not q:
            return None
        cls_q, _, name = q.rpartition(".")
        ci = self.class_by_qualname(cls_q)
        if ci is None or not self.has_library_base(ci, _ENUM_BASES.__contains__):
            return None
        members = {t.id for s in ci.node.body if type(s) in (ast.Assign, ast.AnnAssign)
                   for t in (s.targets if type(s) is ast.Assign else [s.target]) if type(t) is _Name}
        return EnumMember(cls_q, name) if name in members else None

    def _variant(self, callee: _Unit, consts: Dict[str, object]) -> Optional[_Unit]:
        """The copy of ``callee`` specialised to ``consts``; None when no branch it decides
        holds a training step, a mode switch, a grad context or a new value of a returned name."""
        returned = _returned_names(callee)
        if not returned and not _has_relevant_call(callee):
            return None  # no branch can hold one: no copy is made (most helpers of a library)
        node, spec = _specialised(callee.fn.node, consts, lambda n: self.enum_member(callee.module, n), returned,
                                  frozenset(_derived_flags(callee)))
        if not spec.relevant:
            return None
        label = ",".join(f"{k}={v!r}" for k, v in sorted(consts.items()))
        info = FunctionInfo(node, f"{callee.fn.qualname}[{label}]", callee.fn.cls)
        info.nodes = list(_walk_scope(node))
        info.calls = [n for n in info.nodes if type(n) is _Call]
        unit = _Unit(self, callee.module, info)
        unit.variant_of = callee.id  # its calls are calls of the helper too (`_solve_entry_grad`)
        self._add_unit(unit)
        return unit


def _specialised(fn_node: ast.AST, consts: Dict[str, object], member=None,
                 returned: FrozenSet[str] = frozenset(),
                 derived: FrozenSet[str] = frozenset()) -> Tuple[ast.AST, "_Specialise"]:
    """A copy of the definition ``fn_node`` with ``consts`` put in and the branches they rule
    out removed; ``member`` names the enum member an attribute is (so that ``phase ==
    Phase.TRAIN`` can be decided when ``phase`` is ``Phase.TEST``); ``returned``: the names
    the function returns, whose rebinding by a call in a decided branch makes the copy relevant."""
    node = copy.deepcopy(fn_node)
    spec = _Specialise(consts, member if any(isinstance(v, EnumMember) for v in consts.values()) else None,
                       returned, derived)
    body: List[ast.stmt] = []
    for s in node.body:
        got = spec.visit(s)
        body.extend(got if isinstance(got, list) else [got] if got is not None else [])
    node.body = body or [ast.copy_location(ast.Pass(), node)]
    return node, spec


def _has_relevant_call(callee: _Unit) -> bool:
    """Somewhere in ``callee`` (lambdas included) a call that ``_note_relevant`` would count."""
    memo = callee.project.memo.setdefault("has_relevant_call", {})
    got = memo.get(callee.id)
    if got is None:
        got = memo[callee.id] = any(call_name(n) in _RELEVANT_CALLS for n in ast.walk(callee.fn.node)
                                    if type(n) is _Call)
    return got


class _AnObject:
    """What a call passes for a flag tested only as ``x is None`` / ``x is not None``: an
    object a call built (``train_val(net, loader, optimizer)`` of ``optimizer = SGD(...)``)."""

    def __repr__(self) -> str:
        return "<object>"


AN_OBJECT = _AnObject()


def _derived_flags(callee: _Unit) -> Dict[str, FrozenSet[str]]:
    """Locals bound once, to an expression of parameters only, that the body tests
    (``is_train = optimizer is not None`` ... ``if is_train:``): local -> those parameters."""
    memo = callee.project.memo.setdefault("derived_flags", {})
    got = memo.get(callee.id)
    if got is None:
        params = set(callee.params)
        tested = {x.id for n in callee.nodes if type(n) in (ast.If, ast.IfExp, ast.While)
                  for x in ast.walk(n.test) if type(x) is _Name} - params
        got = memo[callee.id] = {}
        for name in tested:
            value = callee.project.bound_once(callee, name)
            used = {x.id for x in ast.walk(value) if type(x) is _Name} if value is not None else set()
            if used and used <= params and not any(type(x) is _Call for x in ast.walk(value)):
                got[name] = frozenset(used)
    return got


def _returned_names(callee: _Unit) -> FrozenSet[str]:
    """Names ``callee`` returns (``return model``) that a call rebinds under an ``if`` of its
    own body: a factory whose flag decides what it builds (``if autoshape: model =
    AutoShape(model)``), so a copy specialised to the flag returns one model, not either."""
    memo = callee.project.memo.setdefault("returned_names", {})
    got = memo.get(callee.id)
    if got is None:
        returned = {n.value.id for n in callee.nodes if type(n) is ast.Return and type(n.value) is _Name}
        branch_bound = set()
        for n in callee.nodes:
            if type(n) is ast.If and returned:
                branch_bound |= _bound_by_calls(n.body + n.orelse)
        got = memo[callee.id] = frozenset(returned & branch_bound)
    return got


def _bound_by_calls(stmts: List[ast.AST]) -> set:
    """Names an assignment in ``stmts`` (nested ones too) binds to a call's result."""
    return {t.id for s in stmts for n in ast.walk(s) if type(n) is ast.Assign and type(n.value) is _Call
            for t in n.targets if type(t) is _Name}


def _tested_params(callee: _Unit) -> List[str]:
    """Parameters ``callee`` tests in an ``if`` (or a conditional expression) and never
    rebinds; none for a function that defines functions or classes of its own (their
    copies would not be analysed). A ``global`` or ``nonlocal`` statement is no obstacle:
    the copy declares the same names (GAT's ``main_loop`` updating its best scores)."""
    memo = callee.project.memo.setdefault("tested_params", {})
    got = memo.get(callee.id)
    if got is None:
        params = set(callee.params)
        tested, rebound, nested = set(), set(), False
        for n in callee.nodes:
            t = type(n)
            if t in (ast.If, ast.IfExp, ast.While):
                tested |= {x.id for x in ast.walk(n.test) if type(x) is _Name} & params
            elif t is _Name and type(n.ctx) is not ast.Load:
                rebound.add(n.id)
            elif t in (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
                nested = True
        for local, used in _derived_flags(callee).items():
            tested |= used
        got = memo[callee.id] = [] if nested else sorted(tested - rebound)
    return got


class _Specialise(ast.NodeTransformer):
    """Put the constants in for their names and drop the branches they rule out; notes
    whether a decided branch held a training step, a mode switch, a grad context or a new
    value of a returned name."""

    def __init__(self, consts: Dict[str, object], member=None, returned: FrozenSet[str] = frozenset(),
                 derived: FrozenSet[str] = frozenset()):
        self.objects = {k for k, v in consts.items() if v is AN_OBJECT}  # decided only in `is (not) None`
        self.consts = {k: v for k, v in consts.items() if v is not AN_OBJECT}
        self.member = member
        self.returned = returned
        self.derived = derived  # locals that become constants where their parameters decide them
        self.relevant = False
        self.changed = False  # some branch was ruled out

    def visit_Name(self, node: ast.Name):
        if type(node.ctx) is ast.Load and node.id in self.consts:
            return ast.copy_location(ast.Constant(self.consts[node.id]), node)
        return node

    def visit_Attribute(self, node: ast.Attribute):
        if self.member is not None and type(node.ctx) is ast.Load:
            m = self.member(node)
            if m is not None:
                return ast.copy_location(ast.Constant(m), node)
        return self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare):
        self.generic_visit(node)
        if len(node.ops) == 1 and type(node.ops[0]) in (ast.Is, ast.IsNot) and type(node.left) is _Name \
                and node.left.id in self.objects and type(node.comparators[0]) is ast.Constant \
                and node.comparators[0].value is None:
            return ast.copy_location(ast.Constant(type(node.ops[0]) is ast.IsNot), node)
        return node

    def visit_Assign(self, node: ast.Assign):
        self.generic_visit(node)
        t = node.targets[0] if len(node.targets) == 1 else None
        if type(t) is _Name and t.id in self.derived:
            known = _truth(node.value)
            if known is not None:
                self.consts[t.id] = known  # `is_train = optimizer is not None` with the optimizer given
        return node

    def visit_Lambda(self, node: ast.Lambda):
        return node  # its own parameters may shadow a flag

    def _comprehension(self, node):
        bound = {x.id for g in node.generators for x in ast.walk(g.target) if type(x) is _Name}
        return node if bound & set(self.consts) else self.generic_visit(node)  # a target shadowing a flag

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension

    def visit_If(self, node: ast.If):
        self.generic_visit(node)
        known = _truth(node.test)
        if known is None:
            return node
        # relevant whichever branch holds the switch: deciding `if eval: model.eval()` makes a
        # maybe-switch a definite one, as removing it does
        self._note_relevant(node.body + node.orelse)
        self.changed = True
        keep = node.body if known else node.orelse
        return keep or ast.copy_location(ast.Pass(), node)

    def visit_IfExp(self, node: ast.IfExp):
        self.generic_visit(node)
        known = _truth(node.test)
        if known is None:
            return node
        self._note_relevant([node.body, node.orelse])
        self.changed = True
        return node.body if known else node.orelse

    def _note_relevant(self, nodes: List[ast.AST]) -> None:
        """A decided branch (kept or dropped) holds a training step, a mode switch, a grad
        context or a call whose result rebinds a name the function returns."""
        if self.returned and _bound_by_calls(nodes) & self.returned:
            self.relevant = True
            return
        for n in (x for s in nodes for x in ast.walk(s)):
            if type(n) is _Call and call_name(n) in _RELEVANT_CALLS:
                self.relevant = True
                return
