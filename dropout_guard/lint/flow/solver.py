"""The summary solver of the project: ``SolverMixin``.

The order units are analysed in, the value references a run collects, the calls whose
returned value settles late, the roles of returned models (``train`` / ``predict``), the
grad state each entry point starts with, and the effective role and use of an event.
"""
from __future__ import annotations

import ast
from collections import Counter
from typing import Dict, FrozenSet, List, Optional, Set, Tuple

from ..semantic import default_of
from .values import ENTRY, ON, UNKNOWN
from .summaries import Event
from .syntax import _Attribute, _Call, _Name, is_test_function
from .idioms import _compiled_in_place
from .unit import _Unit


class SolverMixin:
    """The summary solver of ``Project`` (see the module docstring)."""

    def _order(self) -> List[_Unit]:
        """Functions, callees before callers (static call graph, strongly connected parts together)."""
        funcs = [u for u in self.units.values() if u.fn is not None]
        graph: Dict[str, List[str]] = {}
        method_names = {u.fn.name for u in funcs if u.cls is not None}
        for u in funcs:
            outs = []
            if u.inert():
                # never interpreted: its calls matter as calls of methods through receivers we
                # cannot resolve (the entry state of methods by that name becomes unknown), and
                # as the grad state its callees start in (`forward` under `@torch.inference_mode()`
                # calling `self._run_single_frame_inference(...)`), read from the syntax
                u.edges = []
                for n in u.calls:
                    f = n.func
                    cal = self.resolve_callee(u, n, None, None)
                    if cal is not None:
                        u.edges.append((cal.id, self.static_grad(u, n)))
                    elif type(f) is _Attribute and f.attr in method_names and f.attr not in self.unresolved_calls \
                            and not self.switches_own_layer(u, n):
                        self.note_unresolved(n, u)
                graph[u.id] = outs
                continue
            for n in u.calls:
                cal = self.resolve_callee(u, n, None, None)
                if cal is not None:
                    outs.append(cal.id)
                elif type(n.func) is _Attribute and not self.switches_own_layer(u, n):
                    self.note_unresolved(n, u)
            graph[u.id] = outs
        self._graph = graph
        for u in self.units.values():
            if u.fn is None:
                for n in u.calls:
                    cal = self.resolve_callee(u, n, None, None)
                    if cal is None and type(n.func) is _Attribute and not self.switches_own_layer(u, n):
                        self.note_unresolved(n, u)
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

    def _never_runs(self, u: _Unit) -> bool:
        """A nested function that no call reaches (the caller has checked) and that its
        enclosing function neither decorates nor reads as a value (``register(on_epoch_end)``,
        ``return decode``): it never runs."""
        outer = self.enclosing_unit(u)
        if outer is None or u.fn.node.decorator_list:
            return False
        name = u.fn.name
        called = {id(n.func) for n in ast.walk(outer.fn.node) if type(n) is _Call and type(n.func) is _Name}
        return not any(type(n) is _Name and n.id == name and type(n.ctx) is ast.Load and id(n) not in called
                       for n in ast.walk(outer.fn.node))

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
        for cid, (name, _n, caller, grad, resolved) in self.unresolved_sites.items():
            u = self.units.get(caller)
            if grad is None or resolved or u is None:
                continue
            for m in self.unresolved_candidates_of(cid):  # whichever runs, its result goes where this one goes
                waiting.setdefault(m.id, []).append((u, cid))
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
                if self.note_ret_call(u, cid, callee):
                    wanted.append(u.id)

    def note_ret_call(self, u: _Unit, cid: int, callee: str) -> bool:
        """The role call ``cid`` in ``u`` gives its callee's result, from where ``u``'s walk
        saw it go; True when ``u`` returns it (``u``'s own callers decide for both)."""
        if cid in u.backward_taint:
            self.note_ret_role(callee, "train" if u.steps else "predict_grad")
        elif cid in u.grad_taint:
            self.note_ret_role(callee, "predict_grad")
        elif cid in u.escaped_taint:  # kept for later (an episode's log-probs): maybe differentiated,
            self.note_ret_role(callee, "unknown")  # whatever the callers do with what is also returned
        elif cid in u.returned_taint and u.fn is not None:
            self.ret_links.setdefault(u.id, set()).add(callee)
            return True
        else:
            self.note_ret_role(callee, "predict")
        return False

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

    def dispatched_names(self) -> Set[str]:
        """Method names the project runs by name: string literals a call hands to a function
        of the project that calls ``getattr(obj, name)`` with that parameter (a callback
        dispatcher: ``self('before_forward')`` with ``__call__(self, name)`` looping over
        ``getattr(cb, name)``). Empty where no function dispatches so."""
        got = self.memo.get("dispatched_names")
        if got is None:
            got = self.memo["dispatched_names"] = set()
            dispatchers: Dict[str, Set[str]] = {}  # unit id -> its parameters naming an attribute to get
            for u in self.units.values():
                if u.fn is None:
                    continue
                for c in u.calls:
                    f, args = c.func, c.args
                    if type(f) is _Name and f.id == "getattr" and len(args) >= 2 and type(args[1]) is _Name \
                            and args[1].id in u.params:
                        dispatchers.setdefault(u.id, set()).add(args[1].id)
            if not dispatchers:
                return got
            methods = {u.fn.name for u in self.units.values() if u.fn is not None and u.cls is not None}
            for u in self.units.values():
                for c in u.calls:
                    for a in c.args:
                        if type(a) is ast.Constant and type(a.value) is str and a.value in methods:
                            break
                    else:
                        continue
                    f = c.func
                    if u.is_method and u.cls is not None and u.positional and type(f) is _Name \
                            and f.id == u.positional[0]:
                        callee = self.method_unit(u.cls, "__call__")  # `self('before_forward')`
                    else:
                        callee = self.resolve_callee(u, c, None, None)
                    names = dispatchers.get(callee.id) if callee is not None else None
                    if names:
                        got.update(a.value for p, a in self.bind_args(callee, c) if p in names
                                   and type(a) is ast.Constant and type(a.value) is str)
        return got

    def _solve_entry_grad(self) -> None:
        callers: Dict[str, List[Tuple[str, FrozenSet[str]]]] = {}
        tests = {uid for uid, u in self.units.items() if is_test_function(u)}
        for u in self.units.values():
            if u.id in tests:
                continue  # a test's calls are no evidence of how the code is used
            for callee, g in u.edges:
                callers.setdefault(callee, []).append((u.id, g))
                origin = self.units[callee].variant_of if callee in self.units else None
                if origin is not None:  # a call of a flag copy calls the helper too: no entry point
                    callers.setdefault(origin, []).append((u.id, g))
        entry: Dict[str, FrozenSet[str]] = {}
        for uid, u in self.units.items():
            if u.fn is not None and u.cls is not None and u.fn.name in self.unresolved_calls and self.arity_fits(u):
                # called somewhere through a receiver we cannot see: at the grad state of each
                # such call, unknown where one of them was never interpreted
                via = self.unresolved_callers(u)
                if via is None:
                    entry[uid] = frozenset({UNKNOWN})
                    continue
                for caller, g in via:
                    if caller not in tests:
                        callers.setdefault(uid, []).append((caller, g))
            if uid not in callers or uid in self.value_refs:
                # an entry point starts with gradients on; a hook a dispatcher runs by name, in
                # a state no call shows (`self('before_forward')` looping `getattr(cb, name)()`),
                # and a nested function that nothing calls, decorates or hands out (it never
                # runs), in none
                unseen = uid not in callers and uid not in self.value_refs
                entry[uid] = frozenset({UNKNOWN}) if unseen and u.fn is not None and (
                    (u.cls is not None and u.fn.name in self.dispatched_names()) or self._never_runs(u)) \
                    else frozenset({ON})
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

    def differentiates(self, unit: "_Unit") -> bool:
        """The unit, or a project function it calls (transitively), runs a backward pass or
        ``torch.autograd.grad``: calling it under ``no_grad`` breaks it (an evaluation that
        adapts a clone of the model first, as a MAML inner loop does). Memoised per unit."""
        memo = self.memo.setdefault("differentiates", {})
        got = memo.get(unit.id)
        if got is None:
            got = memo[unit.id] = self._calls_differentiate(unit, unit.calls, {unit.id})
        return got

    def _calls_differentiate(self, unit: "_Unit", calls, seen: Set[str]) -> bool:
        """Some of ``calls`` (made in ``unit``) is a backward pass, or runs a project function
        or a submodule's ``forward`` that differentiates (``differentiates``): a walk of the
        call graph with a stack (call chains can be thousands deep)."""
        memo = self.memo.setdefault("differentiates", {})
        stack = [(unit, calls)]
        while stack:
            u, cs = stack.pop()
            own = set(map(id, cs))
            if any(id(c) in own for c in u.backward_calls):
                return True
            nxt = [self.units[c] for c, _g in u.edges if c in self.units] if cs is u.calls else \
                [x for c in cs for x in [self.resolve_callee(u, c, None, None)] if x is not None]
            if u.cls is not None and u.positional:  # `self.attacker(x)`: its submodule's forward
                for c in cs:
                    f = c.func
                    if type(f) is _Attribute and type(f.value) is _Name and f.value.id == u.positional[0]:
                        sub = self.attr_class(u.cls, f.attr)
                        sub_ci = self.class_by_qualname(sub) if sub else None
                        fwd = self.method_unit(sub_ci, "forward") if sub_ci is not None else None
                        if fwd is not None:
                            nxt.append(fwd)
            for v in nxt:
                if memo.get(v.id):
                    return True
                if v.id not in seen:
                    seen.add(v.id)
                    stack.append((v, v.calls))
        return False

    def forward_differentiates(self, cls: str, call: Optional[ast.Call] = None) -> bool:
        """Calling the project class ``cls`` takes gradients: its ``forward`` differentiates
        (``differentiates``), unless that happens only under a flag of its own that ``call``
        leaves off (``if make_adv:`` with ``make_adv=False`` by default: `model(x)` predicts)."""
        ci = self.class_by_qualname(cls)
        fwd = self.method_unit(ci, "forward") if ci is not None else None
        if fwd is None or fwd.fn is None or not self.differentiates(fwd):
            return False
        if call is None:
            return True
        node = fwd.fn.node
        params = fwd.positional[1:]
        guards = [st for st in node.body if type(st) is ast.If and type(st.test) is _Name
                  and type(default_of(node, st.test.id)) is ast.Constant and not default_of(node, st.test.id).value]
        if not guards:
            return True
        inside = {id(n) for g in guards for b in g.body for n in ast.walk(b)}
        if self._calls_differentiate(fwd, [c for c in fwd.calls if id(c) not in inside], {fwd.id}):
            return True
        for g in guards:  # only under its flags: on where the call passes one that is not a false constant
            name = g.test.id
            given = next((k.value for k in call.keywords if k.arg == name), None)
            if given is None and name in params and params.index(name) < len(call.args):
                given = call.args[params.index(name)]
            if given is not None and not (type(given) is ast.Constant and not given.value):
                return True
        return False

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
