"""Grad state across calls: ``GradMixin``.

Decorators that set the grad state or declare an inference region, project decorators that
wrap a function in a grad context, whether a unit holds a grad context, volatile inputs,
parameters bound once, and a unit's local names.
"""
from __future__ import annotations

import ast
from typing import Dict, FrozenSet, List, Optional, Set, Tuple

from .. import knowledge as K
from ..semantic import FunctionInfo, ModuleInfo, default_of, get_arg
from .syntax import _NEUTRAL_CONTEXTS, _Attribute, _Call, _Load, _Name, _walk_scope, call_name, path_of
from .idioms import (_VARIABLE, _assigned_values, _guarded_path, _is_volatile, _wrapping_eval, _wrapping_grad, grad_of_name,
                     volatile_dict, volatile_value)
from .unit import _Unit, _chain_base
from .values import ModelVal, weights_model
from .interpreter import Interpreter

# APIs of PyTorch 0.4 and later, the release that made `volatile=True` a no-op (not the grad
# contexts: a fix that wraps a prediction in `torch.no_grad()` must not change what the
# file's other volatile inputs mean)
_MODERN_TORCH = frozenset({"torch.device", "torch.tensor", "torch.enable_grad", "torch.autograd.enable_grad"})


class GradMixin:
    """Grad state across calls, for ``Project`` (see the module docstring)."""

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

    def frozen_by_call(self, unit: _Unit, c: ast.Call) -> List[Optional[str]]:
        """The paths whose models call ``c`` of a project helper freezes
        (``set_requires_grad(self.teacher, False)``, ``freeze(backbone)``): what the helper's
        ``freezing_params`` says, where a flag it depends on is ``False`` at the call (or by
        default)."""
        callee = self.resolve_callee(unit, c, None, None)
        if callee is None or callee is unit or callee.fn is None:
            return []
        spec = callee.freezing_params()
        if not spec:
            return []
        bound = dict(self.bind_args(callee, c))
        out: List[Optional[str]] = []
        for p, flag in spec.items():
            arg = bound.get(p)
            if arg is None:
                continue
            if flag is not None:
                v = bound.get(flag, default_of(callee.fn.node, flag))
                if not (type(v) is ast.Constant and v.value is False):
                    continue
            out.append(path_of(arg))
        return out

    def frozen_at_every_call(self, unit: _Unit, param: str) -> bool:
        """Every call of ``unit`` seen hands parameter ``param`` a model the caller froze
        (``for p in fe.parameters(): p.requires_grad = False`` before ``extract(fe, data)``):
        what the helper runs it on records no graph."""
        sites = self.call_sites.get(unit.id)
        if not sites:
            return False
        for caller, c in sites.values():
            arg = dict(self.bind_args(unit, c)).get(param)
            key = path_of(_chain_base(arg)) if arg is not None else None
            if key is None or not caller.froze(key):
                return False
        return True

    def context_manager(self, unit: _Unit) -> bool:
        """``unit`` is a generator made a context manager by ``@contextlib.contextmanager``
        (or its async form): a call enters it up to its ``yield``; the rest runs when the
        ``with`` block (or the ExitStack it was entered on) closes."""
        return unit.fn is not None and any(
            unit.module.resolve(d) in ("contextlib.contextmanager", "contextlib.asynccontextmanager")
            for d in unit.fn.node.decorator_list)

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

    def returned_grad_context(self, fn: _Unit) -> Optional[FrozenSet[str]]:
        """A project function that returns a grad context (ENAS's ``_get_no_grad_ctx_mgr()``:
        ``torch.no_grad()`` on PyTorch 0.4 and later, a no-op context before): the grad
        state its contexts set; the no-op of the version branch sets none. None when it
        returns no grad context."""
        got: Set[str] = set()
        for n in self.scope_nodes(fn.fn.node):
            if type(n) is ast.Return and type(n.value) is _Call:
                g = grad_of_name(fn.module.resolve(n.value.func), self.knowledge.no_grad_decorators)
                if g is not None:
                    got |= g
        return frozenset(got) if got else None

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

    def volatile_ignored(self, unit: _Unit, call: ast.AST) -> bool:
        """``call`` runs on a ``Variable(x, volatile=True)`` that this file's PyTorch ignores:
        the file uses an API of 0.4 or later (``loss.item()``), where ``volatile`` has no effect."""
        return type(call) is _Call and self._targets_modern_torch(unit.module) and \
            any(self.volatile_input(unit, a, call.lineno, as_meant=True) for a in call.args)

    def volatile_input(self, unit: _Unit, arg: ast.AST, line: int, as_meant: bool = False) -> bool:
        """``arg`` is a legacy ``Variable(x, volatile=True)`` (PyTorch < 0.4: computations on it
        record no graph), written in place or the last value assigned to its name before
        ``line``: such a Variable, what a project helper returns as one (``data, targets =
        get_batch(source, i, evaluation=True)`` returning ``Variable(..., volatile=evaluation)``),
        or anything computed from a volatile value (volatility spreads through every
        operation: ``output, hidden = model(data, hidden)``, ``torch.cat([data, more])``).
        ``as_meant``: also where the file's PyTorch ignores the flag (``volatile_ignored``)."""
        anywhere = self.memo.get("volatile_anywhere")
        if anywhere is None:  # modern code never says `volatile=`: then nothing is volatile, at no cost per call
            anywhere = self.memo["volatile_anywhere"] = any(
                k.arg == "volatile" for u in self.units.values() for c in u.calls for k in c.keywords) or any(
                type(n) is ast.Dict and volatile_value(n) is not None for m in self.modules.values()
                if not self._targets_modern_torch(m) for n in m.nodes)  # `Variable(x, **{"volatile": True})`
        if not as_meant and (not anywhere or self._targets_modern_torch(unit.module)):
            return False
        assigns = self._volatile_cache.get(unit.id)
        if assigns is None:  # name -> [(line, volatile?)] for the names some assignment makes volatile
            every: dict = {}
            cur: dict = {}
            for n in sorted((n for n in unit.nodes if type(n) is ast.Assign), key=lambda n: (n.lineno, n.col_offset)):
                parts = self._volatile_parts(unit, n.value, cur.get)
                for t in n.targets:
                    names = [t] if type(t) is _Name else list(t.elts) if type(t) in (ast.Tuple, ast.List) else []
                    for k, x in enumerate(names):
                        if type(x) is _Name:
                            vol = parts is not None and (parts == "all" or (type(t) is not _Name and k in parts))
                            every.setdefault(x.id, []).append((n.lineno, vol))
                            cur[x.id] = vol
            assigns = {k: sorted(v) for k, v in every.items() if any(vol for _, vol in v)}
            self._volatile_cache[unit.id] = assigns

        def before(name: str) -> bool:
            body = self.global_body(unit, name) if name not in assigns else None
            if body is not None:  # a global (`fixed_z_ = Variable(..., volatile=True)`)
                return self.volatile_input(body, ast.Name(id=name, ctx=ast.Load()), 1 << 30, as_meant)
            got = [vol for ln, vol in assigns.get(name, ()) if ln < line]
            return bool(got) and got[-1]
        return self._volatile_parts(unit, arg, before) == "all"

    def _targets_modern_torch(self, module: ModuleInfo) -> bool:
        """The file uses an API that PyTorch 0.4 brought with the end of ``volatile``
        (``loss.item()``, ``torch.device``, ``torch.tensor``): it runs on a PyTorch that
        ignores ``volatile=True`` (a warning, and a graph recorded all the same)."""
        got = self._modern_files.get(module.path)
        if got is None:
            got = False
            for n in module.nodes:
                if type(n) is not _Call:
                    continue
                f = n.func
                if (type(f) is _Attribute and f.attr == "item" and not n.args and not n.keywords) \
                        or (module.resolve(f) or "") in _MODERN_TORCH:
                    got = True
                    break
            self._modern_files[module.path] = got
        return got

    def _volatile_parts(self, unit: _Unit, value: ast.AST, name_vol):
        """Which parts of ``value`` are volatile (``name_vol`` says it of a name): "all", a set
        of tuple positions (of what a project helper returns), or None."""
        if type(value) is ast.Tuple:  # `data, target = Variable(data, volatile=True), Variable(target)`
            return {k for k, e in enumerate(value.elts) if _volatile_expr(unit.module, e, name_vol)} or None
        if _volatile_expr(unit.module, value, name_vol):
            return "all"
        if type(value) is not _Call:
            return None
        if type(value.func) is _Attribute and type(value.func.value) is _Call and \
                self._volatile_parts(unit, value.func.value, name_vol) == "all":
            return "all"  # `np_to_variable(x, volatile=True).permute(0, 3, 1, 2)`: an operation on a volatile value
        callee = self._static_callee(unit, value)  # `get_batch(...)`, `net_utils.np_to_variable(...)`
        if callee is None or callee.fn is None:
            return None
        bound = dict(self.bind_args(callee, value))
        rets = [n.value for n in callee.nodes if type(n) is ast.Return and n.value is not None]
        found: Optional[Set[int]] = None
        for r in rets:
            elts = list(r.elts) if type(r) is ast.Tuple else [r]
            here = {k for k, e in enumerate(elts) if self._volatile_made(callee, e, bound)}
            found = here if found is None else found & here
        if not found:
            return None
        return found if any(type(r) is ast.Tuple for r in rets) else "all"

    def _volatile_made(self, callee: _Unit, e: ast.AST, bound: dict) -> bool:
        """``e``, returned by ``callee``, is ``Variable(..., volatile=flag)`` (directly or
        through a local made once so and otherwise only moved or indexed, ``v = v.cuda()``,
        ``v = v[perm]``; a method of it called on the spot, ``Variable(...).long()``, keeps
        it) with a flag that is true for this call: the constant ``True``, or a parameter
        given (or defaulting to) ``True``."""
        if type(e) is _Name:  # a local: `v = Variable(..., volatile=volatile)`, maybe `v = v.cuda()` after
            made = [v for v in _assigned_values(callee.fn, e.id) if not _moved(v, e.id)]
            if len(made) != 1:
                return False
            e = made[0]
        while type(e) is _Call and type(e.func) is _Attribute and type(e.func.value) is _Call:
            e = e.func.value  # `Variable(zeros(n), volatile=flag).long()`
        if type(e) is not _Call or callee.module.resolve(e.func) not in _VARIABLE:
            return False
        flag = next((k.value for k in e.keywords if k.arg == "volatile"), None)
        if type(flag) is _Name and flag.id in callee.params:
            flag = bound.get(flag.id, default_of(callee.fn.node, flag.id))
        return type(flag) is ast.Constant and flag.value is True

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
        values = self.bound_values(unit, name)
        return values[0] if values is not None and len(values) == 1 else None

    def bound_values(self, unit: _Unit, name: str) -> Optional[List[ast.AST]]:
        """The values of the plain assignments ``name = value`` when they are all the unit's
        own code binds ``name`` by (a notebook building ``encoder = Encoder(...)`` in two
        cells); None when something else binds it too (a parameter, a loop target, a
        tuple, an augmented assignment, ``global``) or nothing does."""
        index = self._bound_cache.get(unit.id)
        if index is None:  # name -> (stores, the values of its plain assignments)
            index = {}
            for n in unit.nodes:
                t = type(n)
                if t is _Name and type(n.ctx) is not _Load:
                    stores, values = index.get(n.id, (0, ()))
                    index[n.id] = (stores + 1, values)
                elif t is ast.Assign and len(n.targets) == 1:
                    for target, value in _plain_pairs(n.targets[0], n.value):
                        stores, values = index.get(target, (0, ()))
                        index[target] = (stores, values + (value,))
                elif t in (ast.Global, ast.Nonlocal):
                    for g in n.names:
                        index[g] = (-1, ())
            for p in unit.params:
                index[p] = (-1, ())
            self._bound_cache[unit.id] = index
        stores, values = index.get(name, (0, ()))
        return list(values) if stores > 0 and len(values) == stores else None

    def bound_once_here_or_global(self, unit: _Unit, name: str) -> Optional[ast.AST]:
        """``bound_once`` in ``unit``; for a global a function reads, in its module's top level."""
        bound = self.bound_once(unit, name)
        if bound is None:
            body = self.global_body(unit, name)
            bound = self.bound_once(body, name) if body is not None else None
        return bound

    def global_body(self, unit: _Unit, name: str) -> Optional[_Unit]:
        """The module's top-level code, where ``name`` is a global that the function ``unit``
        reads (not one of its own locals); None otherwise."""
        if unit.fn is None or name in self.local_names(unit):
            return None
        return self.body_unit.get(unit.path)

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


    # -- functional models -------------------------------------------------------------------
    def functional_model(self, unit: _Unit) -> bool:
        """``unit`` is a model written as a plain function over weight tensors (``def G(z): h =
        relu(z @ Wzh + bzh); return sigmoid(h @ Whx + bhx)`` with ``Wzh = Variable(...,
        requires_grad=True)`` at the top level, or a closure over such weights of the function
        that defines it): a function that is no method, takes an input, reads such a weight
        and returns a value, and holds no backward pass, gradient read or grad context of its
        own (an update step is no model). Calling it runs those weights as calling a module
        does (``CallsMixin.call``)."""
        memo = self.memo.setdefault("functional_model", {})
        got = memo.get(unit.id)
        if got is None:
            got = memo[unit.id] = bool(
                self.forward_function(unit)
                and self.reads_globals(unit) & self.visible_weights(self.enclosing_unit(unit), unit.module))
        return got

    def forward_function(self, unit: _Unit) -> bool:
        """``unit`` has the shape of a forward pass written as a function: no method, takes
        arguments, returns a computed value, and holds no backward pass, gradient read or grad
        context of its own (an update step is no model)."""
        memo = self.memo.setdefault("forward_function", {})
        got = memo.get(unit.id)
        if got is None:
            got = memo[unit.id] = bool(
                unit.fn is not None and unit.cls is None and unit.params
                and any(type(n) is ast.Return and n.value is not None and type(n.value) is not ast.Constant
                        for n in unit.nodes)
                and not any((type(n) is _Attribute and n.attr in ("grad", "backward", "step")) or type(n) is ast.With
                            for n in unit.nodes))
        return got

    def forward_over_weights(self, unit: _Unit) -> bool:
        """``unit`` is a forward pass over the weights it is handed: shaped as one
        (``forward_function``) and computing a matrix product of its own. (Memoised: asked
        for every name of a function a body reads.)"""
        memo = self.memo.setdefault("forward_over_weights", {})
        got = memo.get(unit.id)
        if got is None:
            got = memo[unit.id] = self.forward_function(unit) and _computes_products(unit)
        return got

    def weights_call(self, unit: _Unit, c: ast.Call, callee: _Unit) -> bool:
        """``net(X, params)``, ``linreg(X, w, b)``, ``rnn(inputs, state, params)``: a call of a
        function shaped as a forward pass (``forward_function``) that computes a matrix product
        itself, where the call passes it weight tensors (names bound to them, or a list of them,
        where ``unit`` can see them) and some input besides: the weights run as a model's do,
        whatever the function calls them. (A helper handing the weights on to such a function,
        ``predict_rnn(prefix, rnn, params)``, is not one itself.)"""
        if not self.forward_over_weights(callee):
            return False
        weights = self._weights_seen(unit)
        if not weights:
            return False
        passed = data = False
        for a in [*c.args, *(k.value for k in c.keywords)]:
            if _holds_weights(a, weights):
                passed = True
            elif type(a) is not ast.Constant:
                data = True
        return passed and data

    def _weights_seen(self, unit: _Unit) -> Set[str]:
        """The weight tensors ``unit`` may read: its own, and its module's and its definer's
        that no name of its own (a parameter ``params``) hides."""
        if unit.fn is None:
            return self.module_weights(unit.module)
        outer = self.visible_weights(self.enclosing_unit(unit), unit.module)
        return self._own_weights(unit) | (outer - self.local_names(unit))

    def handed_with_weights(self, unit: _Unit) -> Set[int]:
        """The names ``unit`` passes to a call beside weight tensors it sees
        (``predict_rnn(prefix, rnn, params)``, ``evaluate(net, [W, b], data)``): the ids of
        those ``ast.Name`` nodes. A forward-pass function handed on with its weights is a
        model handed on, whatever the callee calls the two (``functional_value``)."""
        memo = self.memo.setdefault("handed_with_weights", {})
        got = memo.get(unit.id)
        if got is None:
            got = memo[unit.id] = set()
            weights = self._weights_seen(unit)
            if weights:
                for c in unit.calls:
                    args = [*c.args, *(k.value for k in c.keywords)]
                    if any(_holds_weights(a, weights) for a in args):
                        got.update(id(a) for a in args if type(a) is _Name and a.id not in weights)
        return got

    def functional_value(self, unit: _Unit, name: ast.Name) -> Optional[ModelVal]:
        """What a name read in ``unit`` holds when it names a function that is a model over
        weights (``evaluate_accuracy(net, test_iter)`` with ``def net(X): ...`` over
        ``W1, b1``): a model with no layer that trains differently, so a helper that predicts
        with the parameter it is handed predicts with those weights. None for anything else
        (a name bound in ``unit`` holds what the interpreter says it does)."""
        if name.id in self.local_names(unit):
            return None
        memo = self.memo.setdefault("functional_value", {})
        k = (unit.id if unit.fn is not None else unit.path, name.id)
        if k not in memo:
            fn = self.unit_named(unit, name)
            memo[k] = weights_model(name.id, name.lineno) if fn is not None and self.functional_model(fn) else \
                (False if fn is not None and self.forward_over_weights(fn) else None)
        got = memo[k]
        if got is False:  # a forward pass over the weights it is handed: a model where handed on with them
            # (`predict_rnn(prefix, rnn, params)`)
            return weights_model(name.id, name.lineno) if id(name) in self.handed_with_weights(unit) else None
        return got

    def lambda_model(self, unit: _Unit, lam: ast.Lambda) -> Optional[ModelVal]:
        """``lambda X: linreg(X, w, b)`` where ``w`` and ``b`` are weight tensors bound in
        ``unit`` (or at its module's top level, or in the function that defines ``unit``): a
        model over those weights, as a function of them is (``functional_model``)."""
        names = {n.id for n in ast.walk(lam.body) if type(n) is _Name and type(n.ctx) is _Load}
        a = lam.args
        names -= {x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg] if x is not None}
        if names.isdisjoint(self.visible_weights(unit, unit.module)) and \
                names.isdisjoint(self.visible_weights(self.enclosing_unit(unit), unit.module)):
            return None
        return weights_model("lambda", lam.lineno)

    def visible_weights(self, unit: Optional[_Unit], module: ModuleInfo) -> Set[str]:
        """The weight tensors (``_weight_expr``) a body nested in ``unit`` may read: the ones
        ``unit``'s own body binds, and the module's (``unit`` None: the module's only)."""
        got = self.module_weights(module)
        if unit is None or unit.fn is None:
            return got
        own = self._own_weights(unit)
        return got | own if own else got

    def grad_tensors(self, unit: _Unit) -> Set[str]:
        """Names ``unit``'s own body binds to a tensor that requires grad (``x.requires_grad_(True)``,
        ``torch.randn(..., requires_grad=True)``): weights, or an input whose gradient it wants."""
        return self._own_weights(unit) if unit.fn is not None else self.module_weights(unit.module)

    def _own_weights(self, unit: _Unit) -> Set[str]:
        """The weight tensors a function's own body binds."""
        memo = self.memo.setdefault("unit_weights", {})
        own = memo.get(unit.id)
        if own is None:
            own = memo[unit.id] = self._bound_weights(unit.fn.node.body, unit.module)
        return own

    def module_weights(self, module: ModuleInfo) -> Set[str]:
        """Names the module's top-level code binds to a leaf tensor that requires grad
        (``torch.randn(..., requires_grad=True)``, ``Variable(..., requires_grad=True)``,
        ``nn.Parameter(...)``, ``.requires_grad_()``, or what a project helper returning one
        of those makes: ``xavier_init(size=[Z_dim, h_dim])``)."""
        memo = self.memo.setdefault("module_weights", {})
        got = memo.get(module.path)
        if got is None:
            got = memo[module.path] = self._bound_weights(module.tree.body, module)
        return got

    def _bound_weights(self, body: List[ast.stmt], module: ModuleInfo, depth: int = 0) -> Set[str]:
        """Names ``body`` binds to weight tensors (``_weight_expr``), to a list of them, or to
        a list whose items a loop makes require grad (``params = [W1, b1]``, then ``for p in
        params: p.requires_grad_()``): the list and its items."""
        got: Set[str] = set()
        lists: Dict[str, List[str]] = {}  # name -> the names of the list literal it is bound to
        made: Set[str] = set()  # lists a loop makes require grad
        stack = list(body)
        while stack:
            st = stack.pop()
            if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            name = _required_name(st)  # `W.requires_grad_(True)`, `img.requires_grad = True`
            if name is not None:
                got.add(name)
            if type(st) is ast.Assign and len(st.targets) == 1:
                target, value = st.targets[0], st.value  # `w1, b1 = randn(...), zeros(...)` element by element
                got.update(name for name, v in _plain_pairs(target, value) if self._weight_expr(v, module, depth))
                if type(target) is _Name and type(value) in (ast.List, ast.Tuple) and value.elts \
                        and all(type(x) is _Name for x in value.elts):
                    lists[target.id] = [x.id for x in value.elts]
            elif type(st) is ast.For and type(st.target) is _Name and type(st.iter) is _Name \
                    and any(_required_name(b) == st.target.id for b in st.body):
                made.add(st.iter.id)
            for field in ("body", "orelse", "finalbody"):
                stack.extend(getattr(st, field, ()) or ())
        for name in made:
            got.update(lists.get(name, ()))
        got.update(name for name, items in lists.items() if all(x in got for x in items))
        return got

    def _weight_expr(self, e: ast.AST, module: ModuleInfo, depth: int) -> bool:
        if type(e) is not _Call:
            return False
        if any(k.arg == "requires_grad" and type(k.value) is ast.Constant and k.value.value is True for k in e.keywords):
            return True
        f = e.func
        if type(f) is _Attribute and f.attr == "requires_grad_" and not (
                e.args and type(e.args[0]) is ast.Constant and not e.args[0].value):
            return True
        q = module.resolve(f)
        if q in ("torch.nn.Parameter", "torch.nn.parameter.Parameter"):
            return True
        found = self.lookup(q, module) if q and depth < 2 else None
        if isinstance(found, FunctionInfo) and found.cls is None:
            home = self.module_of(found) or module
            rets = [n.value for n in _walk_scope(found.node) if type(n) is ast.Return and n.value is not None]
            if any(type(r) is _Name for r in rets):  # `return params`, a list of weights it made
                own = self._bound_weights(found.node.body, home, depth + 1)
                return all(r.id in own if type(r) is _Name else self._weight_expr(r, home, depth + 1) for r in rets)
            return bool(rets) and all(self._weight_expr(r, home, depth + 1) for r in rets)
        return False


_PRODUCTS = frozenset({"mm", "matmul", "bmm", "mv", "addmm", "einsum", "linear", "conv1d", "conv2d", "conv3d"})


def _computes_products(unit: _Unit) -> bool:
    """``unit`` computes a matrix product of its own: ``X @ W``, ``torch.mm(X, w)``, ``F.linear``."""
    return any(type(n) is ast.BinOp and type(n.op) is ast.MatMult or type(n) is _Call and call_name(n) in _PRODUCTS
               for n in unit.nodes)


def _holds_weights(a: ast.AST, weights: Set[str]) -> bool:
    """``a`` names weight tensors: one of ``weights``, or a list or tuple of them."""
    return type(a) is _Name and a.id in weights or \
        type(a) in (ast.List, ast.Tuple) and bool(a.elts) and all(type(x) is _Name and x.id in weights for x in a.elts)


def _required_name(st: ast.stmt) -> Optional[str]:
    """The name a statement makes require grad: ``name.requires_grad_()`` (or ``(True)``),
    ``name.requires_grad = True``; None for any other statement."""
    if type(st) is ast.Expr and type(st.value) is _Call:
        f, args = st.value.func, st.value.args
        if type(f) is _Attribute and f.attr == "requires_grad_" and type(f.value) is _Name \
                and not (args and type(args[0]) is ast.Constant and not args[0].value):
            return f.value.id
    elif type(st) is ast.Assign and len(st.targets) == 1 and type(st.targets[0]) is _Attribute \
            and st.targets[0].attr == "requires_grad" and type(st.targets[0].value) is _Name \
            and type(st.value) is ast.Constant and st.value.value is True:
        return st.targets[0].value.id
    return None


def _moved(v: ast.AST, name: str) -> bool:
    """``v``, assigned to ``name``, is ``name`` itself moved, converted or indexed
    (``name.cuda()``, ``name[perm]``, ``name[perm].view(n, -1)``)."""
    while type(v) in (_Call, ast.Subscript, _Attribute):
        v = v.func if type(v) is _Call else v.value
    return type(v) is _Name and v.id == name


def _volatile_expr(module: ModuleInfo, e: ast.AST, name_vol) -> bool:
    """``e`` is volatile: a ``Variable(x, volatile=True)``, a name ``name_vol`` says is, or
    computed from one (a call with a volatile receiver or argument, an item, an attribute)."""
    t = type(e)
    if t is _Name:
        return bool(name_vol(e.id))
    if t is _Call:
        if _is_volatile(e, module):
            return True
        if type(e.func) is ast.Attribute and _volatile_expr(module, e.func.value, name_vol):
            return True
        return any(_volatile_expr(module, a, name_vol) for a in [*e.args, *(k.value for k in e.keywords)])
    if t in (ast.List, ast.Tuple):
        return any(_volatile_expr(module, x, name_vol) for x in e.elts)
    if t is ast.Dict:  # `var_params = {"volatile": not train}`, splatted into `Variable(x, **var_params)`
        return volatile_dict(e)
    if t in (ast.Subscript, ast.Attribute, ast.Starred):
        return _volatile_expr(module, e.value, name_vol)
    return False


def _plain_pairs(target: ast.AST, value: ast.AST) -> List[Tuple[str, ast.AST]]:
    """(name, value) of each name ``target = value`` binds to a value of its own: ``a = v``;
    ``a, b = x, y`` element by element (a literal tuple or list of the same length, no
    starred part); none for anything else (``a, b = f()``)."""
    if type(target) is _Name:
        return [(target.id, value)]
    if type(target) in (ast.Tuple, ast.List) and type(value) in (ast.Tuple, ast.List) \
            and len(target.elts) == len(value.elts) \
            and not any(type(x) is ast.Starred for x in target.elts + value.elts):
        out: List[Tuple[str, ast.AST]] = []
        for t, v in zip(target.elts, value.elts):
            out += _plain_pairs(t, v)
        return out
    return []
