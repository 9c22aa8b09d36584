"""The per-function unit of the flow analysis: ``_Unit``.

One analysable body (a function, a method, or a module's top-level code): its nodes, calls
and backward passes, the events recorded on it, its summary, aliases, the facts later
passes need (optimizers and the models they step, frozen models, hooks, zeroed grads,
correlated mode switches) and its role (train / predict / unknown).
"""
from __future__ import annotations

import ast
import builtins
from typing import TYPE_CHECKING, Dict, FrozenSet, List, Optional, Set, Tuple

from .. import knowledge as K
from ..semantic import ClassInfo, FunctionInfo, ModuleInfo, get_arg, parent_map
from .summaries import Event, Summary
from .syntax import (_BINDERS, _MODE_METHODS, _Attribute, _Call, _Constant, _Load, _Name, _chosen_mode, _is_backward,
                     _is_switch, _parameter_roots, _RUN_METHODS, _SUBMODULE_LISTS, _target_names, _walk_scope, path_of,
                     root_of)
from .taint import _TaintWalker

if TYPE_CHECKING:  # annotations only
    from .project import Project


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
        self.events: Dict[Tuple[int, str, str, str], Event] = {}  # (node id, kind, key, role)
        self.edges: List[Tuple[str, FrozenSet[str]]] = []  # (callee unit id, grad at call site)
        self.variant_of: Optional[str] = None  # for a flag copy (variants.py): the helper's unit id
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
        # a call through a local name bound to a bound method (`encode = gen.encode`, then
        # `encode(x)`): the call of each method it may hold (`gen.encode(x)`), built once, and
        # back from those to the call written, which the facts and the events speak of
        self.method_calls: Dict[int, List[ast.Call]] = {}
        self.call_alias: Dict[int, ast.Call] = {}
        self.local_defs: Optional[Dict[str, ast.AST]] = None  # name -> def directly in the body
        self.final_env: Dict[str, object] = {}
        self._parents: Optional[Dict[int, ast.AST]] = None
        self._backward_calls: Optional[List[ast.Call]] = None
        self._assigns: Optional[List[Tuple[List[ast.AST], ast.AST]]] = None
        self._module_opts: Optional[Dict[str, Optional[Set[str]]]] = None  # a module body's optimizers (module_optimizers)
        self._loop_bound: Optional[Set[str]] = None
        self._zeroed: Optional[Set[Optional[str]]] = None  # paths whose zero_grad() the body calls
        self._loads: Optional[Dict[str, List[ast.Name]]] = None  # name -> its reads in the body
        self._rebinds: Optional[Dict[str, List[int]]] = None  # name -> the lines that bind it (not `+=`)

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
            self._backward_calls = [c for c in self.calls if _is_backward(c, self.module)
                                    and not self.project.project_backward(c)]
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
            for (nid, *_rest), ev in self.events.items():
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
            self._inert = True  # (methods calling each other: the others decide)
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
                if self._runs_receiver_call(f):
                    return False
                if tf is _Name:
                    if f.id in others or self.module.resolve(f) in K.AUTOGRAD_GRAD:
                        return False
                elif tf is _Attribute:
                    if f.attr in ("backward", "grad", "step", "eval", "train"):
                        return False
                    if type(f.value) is _Name and f.value.id == selfname and self._own_switcher(f.attr):
                        return False  # `self.evaluate()` whose `self.predict(x)` calls `self.eval()`
                    if type(f.value) is _Name and f.value.id in others and (
                            f.attr in K.MODULE_METHODS or f.attr in _RUN_METHODS):
                        return False
            elif t is _Attribute and n.attr in ("eval", "train", "training"):
                return False
        return True

    def _runs_receiver_call(self, f: ast.AST) -> bool:
        """A call of ``f`` in this module method (not ``forward``) runs the receiver's layers:
        ``self(x)``, ``self.forward(x)`` (in ``act()``), a layer of the receiver (``self.fc_pi(x)``
        in ``pi()``), a method of a submodule (``self.odeblock.trajectory(x)``), or another
        method of the class that does (``self.remove_noise(x, t)`` in ``sample()``)."""
        if not self.is_module_method or self.fn is None or self.fn.name in _RUN_METHODS or not self.positional:
            return False
        me = self.positional[0]
        if type(f) is _Name:
            return f.id == me
        if type(f) is not _Attribute:
            return False
        if type(f.value) is _Name and f.value.id == me and (f.attr in _RUN_METHODS or self._own_runner(f.attr)):
            return True
        return self.runs_receiver(path_of(f)) or (type(f.value) is _Attribute and self.runs_receiver(path_of(f.value))
                                                  and (f.attr in _RUN_METHODS  # `self.encoder.forward(x)`
                                                       or self._submodule_method(f.value.attr, f.attr)))

    def _own_switcher(self, method: str, depth: int = 0) -> bool:
        """``self.<method>(...)`` switches the receiver's mode: that method calls ``.eval()``
        or ``.train()`` on its own receiver (or a name bound from it), or another method of
        the class that does (memoised per class and method)."""
        if self.cls is None or depth > 6:
            return False
        memo = self.project.memo.setdefault("own_switcher", {})
        key = (self.cls.qualname, method)
        if key not in memo:
            memo[key] = False  # (methods calling each other back: what the others say decides)
            own = self.project.method_unit(self.cls, method)
            if own is not None and own.fn is not None and own.positional:
                me = own.positional[0]
                named = [c.func for c in own.calls if type(c.func) is _Attribute and type(c.func.value) is _Name]
                switched = {f.value.id for f in named if f.attr in _MODE_METHODS}
                memo[key] = me in switched or bool(switched and {a for a, sole in own.aliases(me) if sole} & switched) \
                    or any(f.value.id == me and f.attr != method and self._own_switcher(f.attr, depth + 1)
                           for f in named)
        return memo[key]

    def _own_runner(self, method: str) -> bool:
        """``self.<method>(...)`` runs the receiver's layers (``_runs_receiver_call`` of one of
        that method's calls; memoised per class and method)."""
        memo = self.project.memo.setdefault("own_runner", {})
        key = (self.cls.qualname, method)
        if key not in memo:
            memo[key] = False  # (methods calling each other back: what the others say decides)
            own = self.project.method_unit(self.cls, method)
            memo[key] = own is not None and any(own._runs_receiver_call(c.func) for c in own.calls)
        return memo[key]

    def _submodule_method(self, attr: str, method: str) -> bool:
        """``self.<attr>`` holds a project module class that has a method ``method``."""
        sub = self.project.attr_class(self.cls, attr)
        ci = self.project.class_by_qualname(sub) if sub else None
        return ci is not None and self.project.method_unit(ci, method) is not None

    def picked_classes(self, name: str) -> List[ClassInfo]:
        """The module classes of the project a local name is bound to, where every binding of
        it in this body is one (``net = BetaVAE_H`` in one branch, ``net = BetaVAE_B`` in the
        other, then ``net(z_dim)``; ``config_class, model_class = T5Config, ReviewerModel``
        by position); empty for anything else."""
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
                t = targets[0] if len(targets) == 1 else None
                if type(t) in (ast.Tuple, ast.List) and type(value) in (ast.Tuple, ast.List) \
                        and len(t.elts) == len(value.elts):  # `config_class, model_class = T5Config, Model`
                    value = next((v for e, v in zip(t.elts, value.elts) if type(e) is _Name and e.id == name), None)
                elif type(t) is not _Name:
                    value = None
                if type(value) not in (_Name, _Attribute):
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
        if not self.is_module_method or self.fn is None or self.fn.name in _RUN_METHODS \
                or self.is_classmethod or self._is_static() or not key:
            return False
        selfname = self.positional[0] if self.positional else "self"
        head, _, rest = key.partition(".")
        return head == selfname and bool(rest) and "." not in rest and (
            self.project.weighted_submodule(self.cls.qualname, rest)
            or self.project.is_submodule_attr(self.cls.qualname, rest) and self.project.attr_dependent(
                self.cls, rest) is True)  # `self.drop(h)` in `predict()`: its mode is the receiver's

    def aliases(self, key: str) -> List[Tuple[str, bool]]:
        """The variables assigned from ``key`` in this body, or that ``key`` is assigned from
        (``a = key``, ``a = key.to(device)``), each with whether that is its only source."""
        if self._sources is None:
            self._sources = {}
            for n in self.nodes:
                if type(n) is ast.Assign and len(n.targets) == 1:
                    t, v = path_of(n.targets[0]), self.project.same_model_source(self.module, n.value)
                    if t and v and t != v:
                        self._sources.setdefault(t, set()).add(v)
        out = [(a, srcs == {key}) for a, srcs in self._sources.items() if key in srcs]
        srcs = self._sources.get(key, set())
        out += [(b, len(srcs) == 1) for b in srcs]
        local = self.project.local_names(self) if self.fn is not None and "." not in key else None
        if local is not None and key not in local:
            # module-level names the top-level code makes hold one model (`parallel_model = model.cuda()`)
            for a, b in self.project.global_aliases(self.module).items():
                other = b if key == a else a if key == b else None
                if other is not None and other not in local:
                    out.append((other, True))
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
        return tuple((c.id, tuple(sorted(c.summary.backward_params)), tuple(sorted(c.summary.grad_params)),
                      c.summary.steps)
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
        self.step_sites: List[ast.Call] = []  # the call of each (the step, or the callee that steps)
        self.backward_params: Set[int] = set()
        self.grad_params: Set[int] = set()  # positional indexes whose values reach `torch.autograd.grad` only
        optimizers = {**self.module_optimizers(), **self.receiver_optimizers(), **self._optimizers(assigns)}
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
            before = len(self.steps)
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
                elif recv in self.params and not c.args and not c.keywords and self.backward_calls:
                    # `optimizer.step()` on a parameter in a body with a backward pass, the model
                    # zero-grads itself (`model.zero_grad()`, the Hugging Face scripts' idiom)
                    self.steps.append(None)
                elif recv is None and isinstance(c.func.value, ast.Call):
                    self.steps.append(None)  # opt_rref.rpc_sync().step(): an optimizer we cannot see
            callee = self.project.resolve_callee(self, c, None, None)
            self._callees[id(c)] = callee
            if callee is not None and callee.summary.steps:
                self.steps.append(None)
            self.step_sites.extend([c] * (len(self.steps) - before))
        # flow-sensitive taint: which model calls' results reach a backward pass. Without a
        # backward pass here (none written, none in a callee) nothing reaches one, and the
        # rest of the walk (results returned or stored away) is only read for the roles of
        # model calls and of results returned to callers: it waits until one is asked for.
        # (`model.zero_grad()` names a module, not an optimizer, where the body calls it or
        # uses it as a module: `model(x)`, `model.eval()`)
        modules_here = {path_of(c.func) for c in calls} | {
            path_of(c.func.value) for c in calls if type(c.func) is _Attribute and c.func.attr in _MODULE_USES}
        known_optimizers = set(optimizers) | {r for r in zero_grad_receivers if r and r not in modules_here} | \
            {p for p in self.params if self._annotated_optimizer(p)}
        # an opaque callable handed the optimizer (`loss_scaler(loss, optimizer)`, timm's and
        # MAE's AMP scalers): whatever else it gets may be backpropagated and stepped there
        # (not a builtin, `isinstance(opt, ...)`, nor a class being built: neither steps anything)
        self.opaque_steps = {id(c) for c in calls if self._callees[id(c)] is None and not _inert_callable(c) and any(
            path_of(a) in known_optimizers for a in [*c.args, *(k.value for k in c.keywords)])}
        self._walk_pending = not self.opaque_steps and not self.backward_calls and not any(
            self._callees[id(c)] is not None and (self._callees[id(c)].summary.backward_params
                                                  or self._callees[id(c)].summary.grad_params) for c in calls) \
            and not any(type(c.func) is _Attribute and (self.receiver_method(c) or _NO_UNIT).backprops_state()
                        for c in calls) and not any(type(n) is _Attribute and n.attr == "grad_fn" for n in self.nodes)
        if not self._walk_pending:
            _TaintWalker(self).block(self.node.body, {})
        self._facts_sig = self._callee_signature()
        self.summary.steps = bool(self.steps)
        self.summary.backward_params = set(self.backward_params)
        self.summary.grad_params = set(self.grad_params)

    def loop_bound_names(self) -> Set[str]:
        """The plain names the body binds in a loop (its targets, assignments in its body):
        names whose value may change from one iteration to the next."""
        if self._loop_bound is None:
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
            self._loop_bound = out
        return self._loop_bound

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

    def module_optimizers(self) -> Dict[str, Optional[Set[str]]]:
        """For a function: the optimizers the module's top-level code binds to names this
        function reads and never binds (a script's ``d_optimizer = Adam(...)`` under
        ``if __name__ == "__main__":``, stepped in its ``train()``)."""
        if self.fn is None:
            return {}
        body = self.project.body_unit.get(self.path)
        if body is None or body is self:
            return {}
        if body._module_opts is None:
            body._module_opts = {k: v for k, v in body._optimizers(body.assigns()).items() if "." not in k}
        local = self.project.local_names(self) | set(self.params)
        return {k: v for k, v in body._module_opts.items() if k not in local}

    def _frozen_models(self, calls: List[ast.Call], assigns) -> Set[str]:
        """Models this body freezes: ``m.requires_grad_(False)``, ``m.requires_grad = False``, or
        the same on ``p`` in a loop over ``m.parameters()`` (the intent is plain, even where the
        assignment on a module freezes nothing)."""
        frozen = self._frozen_paths(calls, assigns)
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
        return frozen  # type: ignore[return-value]

    def _frozen_paths(self, calls: List[ast.Call], assigns) -> Set[Optional[str]]:
        """The paths this body sets ``requires_grad`` off on: ``m.requires_grad_(False)``,
        ``m.requires_grad = False``, and a model whose parameters a loop freezes on every
        iteration (``for p in m.parameters(): p.requires_grad = False``)."""
        got: Set[Optional[str]] = set()
        for c in calls:
            f = c.func
            if type(f) is _Attribute and f.attr == "requires_grad_":
                a = get_arg(c, 0, "requires_grad")
                if type(a) is _Constant and a.value is False:
                    got.add(path_of(_chain_base(f.value)))  # also `m.eval().requires_grad_(False).to(dev)`
        for targets, v in assigns:
            if type(v) is _Constant and v.value is False:
                got.update(path_of(t.value) for t in targets if type(t) is _Attribute and t.attr == "requires_grad")
            elif type(v) is _Call and _freezing_chain(v):  # `G = build().train().requires_grad_(False).to(dev)`
                got.update(path_of(t) for t in targets)
        for _ in range(2):  # `G_ema = copy.deepcopy(G).eval()` of a frozen `G` is frozen too
            for targets, v in assigns:
                base = _chain_base(v)
                if type(base) is _Call and self.module.resolve(base.func) in ("copy.deepcopy", "copy.copy") \
                        and base.args and path_of(base.args[0]) in got:
                    got.update(path_of(t) for t in targets)
        for c in calls:  # a project helper that freezes what it is handed: `set_requires_grad(net, False)`
            if c.args and type(c.func) in (_Name, _Attribute):
                got.update(self.project.frozen_by_call(self, c))
        got.discard(None)
        if got:  # a loop variable over a model's parameters freezes that model
            for n in self.nodes:
                if type(n) is not ast.For or type(n.iter) is not _Call or type(n.iter.func) is not _Attribute:
                    continue
                # `for p in m.parameters():`, `for name, p in m.named_parameters():`
                target = n.target.elts[-1] if type(n.target) is ast.Tuple and n.target.elts else n.target
                if type(target) is _Name and target.id in got and \
                        n.iter.func.attr in ("parameters", "named_parameters") and _freezes_each(n.body, target.id):
                    got.add(path_of(n.iter.func.value))
        got.discard(None)
        return got

    def freezing_params(self) -> Dict[str, Optional[str]]:
        """The parameters this function freezes the model of (``for p in net.parameters(): p.
        requires_grad = False``, ``net.requires_grad_(False)``): parameter -> None where it
        always does, or the flag parameter whose ``False`` does it (CycleGAN's
        ``set_requires_grad(nets, requires_grad=False)``)."""
        got = self.__dict__.get("_freezing")
        if got is not None:
            return got
        got = self.__dict__["_freezing"] = {}
        params = set(self.params)
        for n in self.nodes if self.fn is not None else ():
            target, value = None, None
            if type(n) is ast.For and type(n.iter) is _Call and type(n.iter.func) is _Attribute \
                    and n.iter.func.attr in ("parameters", "named_parameters") and type(n.iter.func.value) is _Name:
                loop = n.target.elts[-1] if type(n.target) is ast.Tuple and n.target.elts else n.target
                if type(loop) is _Name:
                    target, value = n.iter.func.value.id, next(_freeze_values(n.body, loop.id), None)
            elif type(n) is _Call and type(n.func) is _Attribute and n.func.attr == "requires_grad_" \
                    and type(n.func.value) is _Name:
                target, value = n.func.value.id, get_arg(n, 0, "requires_grad")
            if target not in params or value is None:
                continue
            if type(value) is _Constant and value.value is False:
                got[target] = None
            elif type(value) is _Name and value.id in params and value.id != target:
                got.setdefault(target, value.id)
        return got

    def _annotated_optimizer(self, name: str) -> bool:
        if self.fn is None or name not in self.params:
            return False
        qn = self.module.resolve(self.fn.annotation_of(name))
        return bool(qn and qn.startswith("torch.optim."))

    def _mark_backward_params(self, call: ast.Call) -> None:
        self._mark_backward_params_expr(call.func.value)
        for a in call.args:
            self._mark_backward_params_expr(a)

    def _mark_backward_params_expr(self, expr: ast.AST, into: Optional[Set[int]] = None) -> None:
        into = self.backward_params if into is None else into
        for n in ast.walk(expr):
            if isinstance(n, ast.Name):
                for p in self._param_sources(n.id):
                    into.add(self.positional.index(p))

    def _mark_grad_params_expr(self, expr: ast.AST) -> None:
        """The parameters ``expr`` reads reach ``torch.autograd.grad`` (LRP's ``gradprop(Z, X,
        S)``): a caller's forward handed there needs its graph, though nothing trains."""
        self._mark_backward_params_expr(expr, self.grad_params)

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
                if _plain_tensor_list(first):
                    over = set()  # an optimizer over plain tensors (an input image, a perturbation)
            for t in targets:
                p = path_of(t)
                if p:
                    opts[p] = over
        return opts

    def receiver_method(self, c: ast.Call) -> Optional["_Unit"]:
        """The project method ``obj.m(...)`` runs: as the names resolve, or through the class
        of ``obj`` when the body binds it once from a project class's constructor, or, for
        ``self.<attr>`` in a method, when the class's ``__init__`` builds one project class
        there (``self.policy = Policy(...)``: ``self.policy.sample(states)`` runs
        ``Policy.sample``)."""
        callee = (self._callees or {}).get(id(c))
        if callee is not None or type(c.func) is not _Attribute:
            return callee
        recv = c.func.value
        ci = None
        if type(recv) is _Name:
            bound = self.project.bound_once(self, recv.id)
            q = self.module.resolve(bound.func) if type(bound) is _Call else None
            ci = self.project.lookup_class(q, self.module) if q else None
        elif type(recv) is _Attribute and type(recv.value) is _Name and self.is_method and self.cls is not None \
                and self.positional and recv.value.id == self.positional[0]:
            ci = self.project.attr_built(self.cls, recv.attr)
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

    def froze(self, key: str) -> bool:
        """This body freezes the model at ``key`` (or the one it is part of)."""
        return key in self.frozen or root_of(key) in self.frozen

    def _stepped(self, key: str, call: Optional[ast.Call] = None) -> bool:
        """An optimizer step of this body may update the model at ``key`` (after ``call``)."""
        same = [key] + [a for a, sole in self.aliases(key) if sole]  # `runner = model`: one model
        same += self._built_around(key)  # `trainer = DiffusionTrainer(net_model)`: it runs the stepped model
        return any(over is None or any(o == k or root_of(o) == root_of(k) or k.startswith(o + ".")
                                       for o in over for k in same) for over in self._steps_after(call))

    def _steps_after(self, call: Optional[ast.Call]) -> List[Optional[Set[str]]]:
        """The optimizer steps of this body that may run after ``call`` (all, for None): one
        written later, or one in a loop around both. A script's `train()` called before its
        adversarial-example loop (forward, backward for the input's gradient, no step) steps
        nothing those gradients reach."""
        if call is None or not self.steps:
            return self.steps
        parents = self.parents()
        loops = set()
        up = parents.get(id(call))
        while up is not None and up is not self.node:
            if type(up) in (ast.For, ast.AsyncFor, ast.While):
                loops.add(id(up))
            up = parents.get(id(up))
        out = []
        for over, site in zip(self.steps, self.step_sites):
            after = (site.lineno, site.col_offset) > (call.lineno, call.col_offset)
            up = parents.get(id(site))
            while not after and up is not None and up is not self.node:
                after = id(up) in loops
                up = parents.get(id(up))
            if after:
                out.append(over)
        return out

    def _built_around(self, key: str) -> List[str]:
        """The models handed to the construction this body binds ``key`` to (``trainer =
        GaussianDiffusionTrainer(net_model, ...).to(device)``: ``net_model``): a module built
        around them runs them, so a step of their optimizer trains what it computes."""
        got = self.__dict__.get("_around")
        if got is None:
            got = self.__dict__["_around"] = {}
            for targets, value in self.assigns():
                base = _chain_base(value)
                if type(base) is _Call and len(targets) == 1:
                    t = path_of(targets[0])
                    args = [path_of(a) for a in [*base.args, *(k.value for k in base.keywords)]]
                    if t:
                        got.setdefault(t, []).extend(a for a in args if a)
        return got.get(key, [])

    def written(self, call: ast.Call) -> ast.Call:
        """The call as written: for one built from a bound-method alias (``method_calls``),
        the call of the alias."""
        return self.call_alias.get(id(call), call)

    def feeds_backward(self, call: ast.Call) -> bool:
        """The call's result reaches a backward pass though it is no training call: detached,
        under ``no_grad``, or for an optimizer that steps another model (a GAN's fakes for the
        critic's step, a DQN's targets, a teacher's soft labels). Where the same model is also
        trained in that body (or by a helper it calls), training mode is intended."""
        cid = id(self.written(call))
        return cid in self.backward_taint or -cid in self.backward_taint

    def role(self, call: ast.Call, key: str) -> str:
        self.ensure_walk()
        call = self.written(call)
        cid = id(call)
        if cid in self.backward_taint:
            stepped = self._stepped(key, call)
            if self.froze(key) and not stepped:
                # frozen here (a text encoder, a teacher): it conditions what trains; one the body
                # also steps is frozen for a while (a WGAN's critic during the generator's step)
                return "predict_grad"
            if stepped:
                return "train"
            if self._steps_after(call):  # the optimizer trains another model (a teacher's targets in distillation)
                return "predict_grad"
            # a backward pass and no step at all: gradients of the inputs (saliency, adversarial
            # examples: a prediction that needs grad) when the code asks for them; else maybe a
            # training step whose optimizer runs elsewhere (a demo, gradient accumulation)
            return "predict_grad" if self.input_grads else "unknown"
        if cid in self.grad_taint or (self._zeroes_grad(key) and (cid in self.returned_taint or cid in self.escaped_taint)):
            if cid in self.higher_taint and cid in self.returned_taint and self.fn is not None:
                return "deferred"  # a gradient penalty returned: the callers' backward pass trains it
            return "predict_grad"
        if cid in self.returned_taint and self.fn is not None:
            return "deferred"
        if cid in self.escaped_taint:
            return "unknown"  # stored for later (a REINFORCE episode buffer): maybe differentiated
        if self._shape_only(call):
            return "unknown"  # a smoke test of the output's shape: its values are never read
        if self._stashing_self_forward(call) and self._backprops_here():
            return "unknown"  # what it keeps on the module may be what the backward pass reads
        return "predict"

    _SHAPE_ATTRS = frozenset({"shape", "ndim", "dtype", "device"})
    def _hooks_forward(self) -> bool:
        """This body registers a hook (Grad-CAM, feature extraction), prepares a model for
        quantization (observers calibrate on what runs) or switches something on in each of a
        model's submodules (``for name, m in model.named_modules(): m.enable_calib()``: a
        calibration pass): a forward pass whose result is thrown away is still read."""
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
            got = got or any(type(n) is ast.For and _configures_submodules(n) for n in self.nodes)
            self.__dict__["_hooked"] = got
        return got

    def _stashing_self_forward(self, call: ast.Call) -> bool:
        """``self(...)`` / ``self.forward(...)`` in a method of a module whose ``forward`` assigns
        to the module's attributes: what the pass computes is kept on the module."""
        if not self.is_module_method or self.cls is None or not self.positional:
            return False
        f, me = call.func, self.positional[0]
        on_self = (type(f) is _Name and f.id == me) or \
            (type(f) is _Attribute and f.attr == "forward" and type(f.value) is _Name and f.value.id == me)
        return on_self and self.project.forward_stores(self.cls)

    def _backprops_here(self) -> bool:
        """A backward pass runs in this body or in a method of ``self`` it calls
        (``self.forward(); self.backward_G()``: the kept outputs are differentiated there)."""
        if self.backward_calls:
            return True
        me = self.positional[0] if self.positional else None
        for c in self.calls:
            f = c.func
            if type(f) is _Attribute and type(f.value) is _Name and f.value.id == me and self.cls is not None:
                m = self.project.method_unit(self.cls, f.attr)
                if m is not None and m is not self and m.backward_calls:
                    return True
        return False

    def _zeroes_grad(self, key: str) -> bool:
        """``key.zero_grad()`` in a body with no backward pass: whoever gets the prediction takes
        its gradients (captum's attribution forward functions, handed to the library). The
        role asks this only for a prediction the body returns or hands on: an evaluation loop
        that calls ``model.zero_grad()`` out of habit and reads its outputs predicts."""
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

    def earlier_statements(self, node: ast.AST):
        """For each block that encloses ``node``, innermost first: (the node owning the block,
        the statements of the block before the one holding ``node``)."""
        parents = self.parents()
        cur = node
        while True:
            up = parents.get(id(cur))
            if up is None:
                return
            for name in ("body", "orelse", "finalbody", "handlers"):
                block = getattr(up, name, None)
                if isinstance(block, list) and cur in block:
                    yield up, block[:block.index(cur)]
            if up is self.node:
                return
            cur = up

    def switched_before(self, node: ast.AST, key: str, attr: str, line: int) -> bool:
        """A ``key.<attr>()`` statement at ``line`` runs before ``node`` on every path to it: an
        earlier statement of a block that encloses ``node`` (not one reached round a loop)."""
        return any(_is_switch(s, key, attr, line) or _chosen_mode(s, key, attr, line, self.loop_bound_names)
                   for _, before in self.earlier_statements(node) for s in before)

    def switched_on_same_test(self, node: ast.AST, key: str, attr: str, line: int) -> bool:
        """``node`` runs inside ``if T:`` (or ``if T and ...:``), and an earlier statement of a
        block enclosing it is ``if T: key.<attr>()``, after ``line``, with nothing in between
        that assigns T's names or may change the model (see ``_may_change``): on every path
        to ``node`` the switch ran (cnngeometric's demo: ``if do_aff: model_aff.eval()``,
        then ``if do_aff: theta = model_aff(batch)``; ``if do_aff and do_tps: model_tps(...)``)."""
        root = key.split(".", 1)[0]
        parents = self.parents()
        tests: Set[str] = set()
        cur = node
        while cur is not self.node:
            up = parents.get(id(cur))
            if up is None:
                break
            if type(up) is ast.If and cur in up.body:
                tests.add(ast.dump(up.test))
                if type(up.test) is ast.BoolOp and type(up.test.op) is ast.And:
                    tests |= {ast.dump(v) for v in up.test.values}
            cur = up
        if not tests:
            return False
        later: List[ast.AST] = []  # statements after a candidate switch, on the way to node
        for _owner, before in self.earlier_statements(node):
            for k in range(len(before) - 1, -1, -1):
                st = before[k]
                if type(st) is ast.If and ast.dump(st.test) in tests and line < st.lineno and any(
                        _is_switch(b, key, attr, b.lineno) for b in st.body):
                    names = {n.id for n in ast.walk(st.test) if type(n) is _Name}
                    if not any(_may_change(n, root, names) for b in [*before[k + 1:], *later] for n in ast.walk(b)):
                        return True
            later.extend(before)
        return False

    def correlated_switch(self, key: str, attr: str, line: int) -> bool:
        """The ``key.<attr>()`` statement at ``line`` runs in one branch of ``if T:`` and every
        backward pass of this body in the other branch of an ``if`` on the same test, whose
        names nothing here assigns but a loop (the PyTorch tutorial's ``for phase in
        ['train', 'val']: if phase == 'train': model.train() else: model.eval()`` ... ``if
        phase == 'train': loss.backward()``): the mode it sets never meets the training step.
        The switch may also be in the class's ``__init__``, on a test of attributes only
        ``__init__`` assigns (torchkeras' ``StepRunner``: ``if self.stage == 'train':
        self.net.train() else: self.net.eval()``, then ``if self.stage == "train" and
        self.optimizer is not None: loss.backward()`` in ``__call__``): one object's flag."""
        backs = self.backward_calls
        if not backs:
            return False
        home, switch = self, next((n for n in self.nodes if _is_switch(n, key, attr, line)), None)
        if switch is None:
            home = self._init_unit()
            switch = next((n for n in home.nodes if _is_switch(n, key, attr, line)), None) if home else None
            if switch is None:
                return False
        where = _enclosing_if(home, switch)
        if where is None:
            return False
        test = ast.dump(where[0].test)
        names = {n.id for n in ast.walk(where[0].test) if type(n) is _Name}
        if home is not self:  # the test reads only the object's constants: `self.<attr>` set in __init__ alone
            me = self.positional[0] if self.positional else None
            read = [n for n in ast.walk(where[0].test) if type(n) is _Attribute]
            if names != {me} or not read or any(type(n.value) is not _Name for n in read) or \
                    not self._init_constants({n.attr for n in read}):
                return False
        else:
            for n in self.nodes:  # the test must mean the same at both ifs: its names change only as loop targets
                if type(n) in (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.NamedExpr):
                    targets = n.targets if type(n) is ast.Assign else [n.target]
                    if any(type(t) is _Name and t.id in names for tg in targets for t in ast.walk(tg)):
                        return False
        for c in backs:
            got = _enclosing_if(self, c, test, conjunct=not where[1])
            if got is None or got[1] == where[1]:
                return False
        return True

    def _init_unit(self) -> Optional["_Unit"]:
        """The ``__init__`` of this method's class (in the same file)."""
        if not self.is_method or self.cls is None or self.fn.name == "__init__":
            return None
        init = self.cls.methods.get("__init__")
        return self.project.unit_by_node.get(id(init.node)) if init is not None else None

    def _init_constants(self, attrs: Set[str]) -> bool:
        """No method of the class but ``__init__`` assigns any of these attributes of ``self``."""
        for fn in self.cls.methods.values():
            if fn.name == "__init__":
                continue
            me = (fn.positional_params() or ["self"])[0]
            for n in ast.walk(fn.node):
                if type(n) is _Attribute and n.attr in attrs and type(n.value) is _Name and n.value.id == me \
                        and type(n.ctx) is not _Load:
                    return False
        return True

    def _shape_only(self, call: ast.Call) -> bool:
        """The call's result is read only for its shape (``out.shape``, ``out.size()``,
        ``len(out)``, also of an item: ``out[0].size()``), directly or through the one name it
        is assigned to, or thrown away (``_ = model(batch)``: a dry run that initialises lazy
        modules; ``outputs = model(img)`` under ``if __name__ == "__main__":`` that nothing
        reads: a model file's smoke test)."""
        parents = self.parents()

        def shape_read(node: ast.AST) -> bool:
            up = parents.get(id(node))
            while type(up) is ast.Subscript and up.value is node:  # `out[0].size()`: an item of the outputs
                node, up = up, parents.get(id(up))
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
            # unless a forward hook of this body keeps what it computes, or the module's own
            # forward stores it on the module (`self.forward(blobs)` whose losses land in `self._losses`)
            return not self._hooks_forward() and not self._stashing_self_forward(call)
        if not (type(up) is ast.Assign and up.value is call and len(up.targets) == 1):
            return False
        target = up.targets[0]
        if type(target) is _Name:
            names = [target.id]
        elif type(target) in (ast.Tuple, ast.List) and all(type(e) is _Name for e in target.elts):
            names = [e.id for e in target.elts]  # `out, low_level = model(x)`: every part
        else:
            return False
        if self._loads is None:  # name -> its reads, once per body
            self._loads = {}
            for n in self.nodes:
                if type(n) is _Name and type(n.ctx) is ast.Load:
                    self._loads.setdefault(n.id, []).append(n)
        window = self._straight_reads(up)
        got = [self._only_shapes(n, set(), shape_read, window(n) if window else None) for n in names]
        if names == ["_"]:
            return True  # `_ = model(batch)`: thrown away
        if all(g is None for g in got) and self.fn is None and _under_main_guard(up, parents) \
                and set(names) <= self.project.unread_globals(self):
            return True  # `outputs = model(img)` in a model file's `__main__` smoke test: nothing reads it
        return True in got and False not in got

    def unread_outputs(self, call: ast.Call) -> bool:
        """The call's result is bound to names nothing in this function reads (``y_t, f_t =
        model(x_t)`` beside a training step: run for what it does to the model, batch norm's
        statistics of another domain, not for its outputs). Its graph is still kept while the
        names hold it (DG201 stands); no prediction is made (DG101)."""
        up = self.parents().get(id(self.written(call)))
        if self.fn is None or not (type(up) is ast.Assign and len(up.targets) == 1):
            return False
        target = up.targets[0]
        elts = target.elts if type(target) in (ast.Tuple, ast.List) else [target]
        if not all(type(e) is _Name for e in elts):
            return False
        return not {e.id for e in elts} & self._names_read()

    def _names_read(self) -> Set[str]:
        """Every name this function reads, its nested functions included, and those it
        declares ``global`` or ``nonlocal`` (read elsewhere): once per body."""
        got = self.__dict__.get("_read_names")
        if got is None:
            got = self.__dict__["_read_names"] = set()
            for n in ast.walk(self.node):
                if type(n) is _Name and type(n.ctx) is not ast.Store:
                    got.add(n.id)
                elif type(n) in (ast.Global, ast.Nonlocal):
                    got.update(n.names)
        return got

    def _straight_reads(self, stmt: ast.stmt):
        """For an assignment outside any loop: name -> the lines that can read what it binds
        (after it, up to the next binding of that name: a notebook's demo cell `out, h, c =
        rnn(x, h, c)` and the training cell that rebinds `h, c` further down); None in a loop."""
        parents = self.parents()
        up = parents.get(id(stmt))
        while up is not None and up is not self.node:
            if type(up) in (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.GeneratorExp):
                return None
            up = parents.get(id(up))
        end = stmt.end_lineno or stmt.lineno
        if self._rebinds is None:  # name -> the lines that bind it again, once per body
            self._rebinds = {}
            for n in self.nodes:
                if type(n) is _Name and type(n.ctx) is ast.Store and \
                        type(parents.get(id(n))) is not ast.AugAssign:  # `x += noise` reads x
                    self._rebinds.setdefault(n.id, []).append(n.lineno)

        def window(name: str) -> Tuple[int, int]:
            later = [line for line in self._rebinds.get(name, ()) if line > end]
            return end, min(later) if later else 10 ** 9
        return window

    def _only_shapes(self, name: str, seen: Set[str], shape_read,
                     lines: Optional[Tuple[int, int]] = None) -> Optional[bool]:
        """True: ``name`` is read, and only for shapes (``shape_read``), or as the iterable of a
        loop whose target is (``for fm in fms: print(fm.size())``); None: never read; False:
        else. ``lines``: only reads after the first line, up to the second, count. (A
        method, not a closure calling itself: that would be a reference cycle holding the tree.)"""
        if name == "_":
            return None
        seen.add(name)
        parents = self.parents()
        loads = self._loads.get(name, ())
        if lines is not None:
            loads = [n for n in loads if lines[0] < n.lineno <= lines[1]]  # the next binding reads it too
        for n in loads:
            if shape_read(n):
                continue
            loop = parents.get(id(n))
            if type(loop) is ast.For and loop.iter is n and type(loop.target) is _Name \
                    and loop.target.id not in seen and self._only_shapes(loop.target.id, seen, shape_read) is True:
                continue
            return False
        return True if loads else None


def _under_main_guard(stmt: ast.AST, parents: Dict[int, ast.AST]) -> bool:
    """``stmt`` lies in an ``if __name__ == "__main__":`` block."""
    up = parents.get(id(stmt))
    while up is not None:
        if type(up) is ast.If and type(up.test) is ast.Compare and len(up.test.comparators) == 1:
            sides = [up.test.left, up.test.comparators[0]]
            if any(type(x) is _Name and x.id == "__name__" for x in sides) and \
                    any(type(x) is _Constant and x.value == "__main__" for x in sides):
                return True
        up = parents.get(id(up))
    return False


class _NoUnit:
    """Stands for an unresolved method: keeps nothing, backpropagates nothing."""

    @staticmethod
    def backprops_state() -> bool:
        return False


_NO_UNIT = _NoUnit()


def _freezes_each(body: List[ast.stmt], name: str) -> bool:
    """The loop body freezes its parameter ``name`` on every iteration: ``p.requires_grad =
    False`` or ``p.requires_grad_(False)`` as one of its own statements (not under an ``if``:
    `if name not in ["fc.weight", "fc.bias"]:` leaves the head trainable)."""
    return any(type(v) is _Constant and v.value is False for v in _freeze_values(body, name))


_CHAIN_METHODS = K.SAME_MODEL_METHODS | {"eval", "train"}


def _chain_base(e: ast.AST) -> ast.AST:
    """The receiver below a chain of calls that return the same model (``m.eval().to(dev)``: ``m``)."""
    while type(e) is _Call and type(e.func) is _Attribute and e.func.attr in _CHAIN_METHODS:
        e = e.func.value
    return e


# what only a module is used for (an optimizer's `zero_grad()` is its own too)
_MODULE_USES = (K.MODULE_METHODS - {"zero_grad"}) | frozenset(_RUN_METHODS)


def _inert_callable(c: ast.Call) -> bool:
    """A call that cannot run a backward pass or an optimizer step on what it is handed: a
    builtin (``isinstance``, ``print``), or a class being built (a capitalised name)."""
    f = c.func
    name = f.id if type(f) is _Name else f.attr if type(f) is _Attribute else ""
    return (type(f) is _Name and name in _BUILTIN_NAMES) or name[:1].isupper()


_BUILTIN_NAMES = frozenset(dir(builtins))


def _freeze_values(body: List[ast.stmt], name: str):
    """What the statements of a loop body set its parameter ``name``'s ``requires_grad`` to,
    in order (``p.requires_grad = flag``, ``p.requires_grad_(flag)``)."""
    for st in body:
        if type(st) is ast.Assign and any(type(t) is _Attribute and t.attr == "requires_grad" and
                                          type(t.value) is _Name and t.value.id == name for t in st.targets):
            yield st.value
        elif type(st) is ast.Expr and type(st.value) is _Call and type(st.value.func) is _Attribute \
                and st.value.func.attr == "requires_grad_" and type(st.value.func.value) is _Name \
                and st.value.func.value.id == name:
            value = get_arg(st.value, 0, "requires_grad")
            if value is not None:
                yield value


def _freezing_chain(e: ast.AST) -> bool:
    """A chain of same-model calls with ``requires_grad_(False)`` among them."""
    while type(e) is _Call and type(e.func) is _Attribute and e.func.attr in _CHAIN_METHODS:
        if e.func.attr == "requires_grad_":
            a = get_arg(e, 0, "requires_grad")
            if type(a) is _Constant and a.value is False:
                return True
        e = e.func.value
    return False


def _plain_tensor_list(e: Optional[ast.AST]) -> bool:
    """An optimizer's parameter list of plain tensors: ``[image]``, ``[w, b]``, also joined with
    ``+`` to a dict's tensors (StyleGAN2-ADA's projector: ``[w_opt] + list(noise_bufs.values())``);
    no ``.parameters()`` of any model (those are ``_parameter_roots``)."""
    if isinstance(e, (ast.List, ast.Tuple)):
        return all(isinstance(x, (ast.Name, ast.Subscript, ast.Attribute)) for x in e.elts)
    if isinstance(e, ast.BinOp) and isinstance(e.op, ast.Add):
        parts = [e.left, e.right]
        return any(isinstance(p, (ast.List, ast.Tuple, ast.BinOp)) for p in parts) and all(
            _plain_tensor_list(p) or _dict_tensors(p) for p in parts)
    return False


def _dict_tensors(e: ast.AST) -> bool:
    """``list(d.values())``: the tensors a dict holds."""
    return isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and e.func.id == "list" and len(e.args) == 1 \
        and isinstance(e.args[0], ast.Call) and isinstance(e.args[0].func, ast.Attribute) \
        and e.args[0].func.attr == "values" and not e.args[0].args


def _enclosing_if(unit: _Unit, node: ast.AST, test: Optional[str] = None,
                  conjunct: bool = False) -> Optional[Tuple[ast.If, bool]]:
    """The nearest ``if`` around ``node`` in ``unit`` (or the nearest whose test dumps as
    ``test``; with ``conjunct``, also one whose test is ``test and ...``, whose body implies
    it), and whether ``node`` is in its body (else: its else branch)."""
    parents = unit.parents()
    cur, up = node, parents.get(id(node))
    while up is not None and cur is not unit.node:
        if type(up) is ast.If and cur is not up.test:
            if test is None or ast.dump(up.test) == test:
                return up, cur in up.body
            if conjunct and cur in up.body and type(up.test) is ast.BoolOp and type(up.test.op) is ast.And and \
                    any(ast.dump(v) == test for v in up.test.values):
                return up, True
        cur, up = up, parents.get(id(up))
    return None


def _may_change(n: ast.AST, root: str, names: Set[str]) -> bool:
    """Node ``n`` may change the mode of the model named ``root`` or the value of one of
    ``names``: it binds one of them, calls a method on the model other than running it, or
    hands the model to a call. Running it (``root(x)``, ``root.forward(x)``) changes nothing."""
    if type(n) is _Name:
        return type(n.ctx) is not _Load and (n.id == root or n.id in names)
    if type(n) is not _Call:
        return False
    f = n.func
    if type(f) is _Attribute and path_of(f.value) is not None and path_of(f.value).split(".", 1)[0] == root \
            and f.attr not in _RUN_METHODS:
        return True
    return any(type(a) is _Name and a.id == root for a in [*n.args, *(k.value for k in n.keywords)])


# what a loop over a model's submodules does to each without reading a later forward pass:
# modes, devices, dtypes, initialisation, a reset of batch norm's statistics (re-estimated
# by the training-mode passes that follow, as SWA's `update_bn` does)
_SUBMODULE_SETUP = frozenset({"eval", "train", "requires_grad_", "to", "cuda", "cpu", "float", "half", "double",
                              "bfloat16", "type", "reset_parameters", "reset_running_stats", "apply", "zero_grad",
                              "parameters", "named_parameters", "buffers", "named_buffers", "state_dict",
                              "load_state_dict", "extra_repr", "register_buffer", "register_parameter",
                              "add_module", "modules", "named_modules", "children", "named_children"})


def _configures_submodules(loop: ast.For) -> bool:
    """``loop`` runs over a model's submodules (``model.named_modules()``) and calls on each a
    method that is not set-up (``m.enable_calib()``, ``m.disable_quant()``)."""
    it = loop.iter
    if not (type(it) is _Call and type(it.func) is _Attribute and it.func.attr in _SUBMODULE_LISTS):
        return False
    names = {x.id for x in ast.walk(loop.target) if type(x) is _Name}
    return any(type(c) is _Call and type(c.func) is _Attribute and type(c.func.value) is _Name
               and c.func.value.id in names and c.func.attr not in _SUBMODULE_SETUP
               for st in loop.body for c in ast.walk(st))
