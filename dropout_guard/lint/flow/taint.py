"""Reaching taint inside one body: which model-call results each variable may hold.

``_TaintWalker`` follows the results of model calls through assignments, containers and
attribute stores to the sinks that matter (a loss, ``backward()``, an optimizer step), so a
unit can tell a training use of a model from a prediction.
"""
from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Dict, FrozenSet, List, Optional

from .. import knowledge as K
from ..semantic import get_arg
from .syntax import (_COPYING_CONSTRUCTORS, _MAX_LOOP, _PY_CONVERSIONS, _TAINT_CUT, _Attribute, _Call, _Constant,
                     _Name, _creates_graph, _mentions_loss, _mentions_parameters, _target_names, path_of)
from .idioms import _object_aliases

if TYPE_CHECKING:  # annotations; the names called are bound by the package __init__
    from .unit import _NO_UNIT, _Unit


class _TaintWalker:
    """Reaching taint: which model-call results each variable may hold, statement by statement.

    An object handed a model's output by a method call may keep it (``%obj`` holds what it was
    given): a project method that stores a parameter on ``self``, or a method the analysis
    cannot resolve. What it keeps reaches a backward pass at ``obj.backward()`` (a project
    loss object with its own backward) or at a call of a project method of the object that
    backpropagates its state (REINFORCE's ``put_data()`` then ``train_net()``), and it may hand
    it back: what a method of the object returns carries it
    (``storage.feed(prediction)``, then ``storage.extract([...])`` into the loss)."""

    _MUTATORS = frozenset({"append", "extend", "insert", "add", "update", "appendleft"})

    def __init__(self, unit: _Unit, sinks: bool = True):
        self.u = unit
        self.sinks = sinks
        self.loops: List[List[Optional[Dict[str, FrozenSet[int]]]]] = []
        # names that are plain locals of a function (not parameters, not globals); in a
        # module's top-level code (a script, a notebook), the names no function of it reads
        self.local_only = (unit.project.local_names(unit) - set(unit.params)) if unit.fn is not None \
            else unit.project.unread_globals(unit)
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
                    self.bind_zip_aliases(s.target, s.iter, cur)
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
                self.escape(target.value, t - self.stored_on(target, st) if type(target) is _Attribute else t,
                            target.attr if type(target) is _Attribute else None)

    @staticmethod
    def bind_zip_aliases(target, it, st) -> None:
        """``for arr, el in zip((policies, Qs), (policy, Q))``: ``arr`` is one of the names of
        the first tuple (kept as ``st["&arr"]``), so ``arr.append(el)`` adds to each of them."""
        if type(target) not in (ast.Tuple, ast.List) or type(it) is not _Call or type(it.func) is not _Name \
                or it.func.id != "zip" or len(it.args) != len(target.elts):
            return
        for tg, arg in zip(target.elts, it.args):
            if type(tg) is _Name and type(arg) in (ast.Tuple, ast.List) and all(type(x) is _Name for x in arg.elts):
                st["&" + tg.id] = frozenset(x.id for x in arg.elts)

    def escape(self, container: ast.AST, t, attr: Optional[str] = None) -> None:
        """A result stored where the function cannot see its fate (an attribute, a global, a
        parameter's container): whether it is ever differentiated is unknown. ``attr``: the
        attribute of ``container`` it is assigned to."""
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
        u, kept = self.u, first or attr
        if kept is not None and u.is_method and u.cls is not None and isinstance(root, ast.Name) \
                and u.positional and root.id == u.positional[0] and u.project.kept_off_backward(u.cls, kept):
            return  # `self.G_pred = self.net_G(x)` in an evaluator object: kept to show or save
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
            own = set()  # the comprehension's own names
            for gen in e.generators:
                it = self.expr(gen.iter, inner)
                self.bind(gen.target, it, inner)
                self.bind_zip_aliases(gen.target, gen.iter, inner)
                own |= set(_target_names(gen.target))
                for cond in gen.ifs:
                    self.expr(cond, inner)
            if isinstance(e, ast.DictComp):
                t = t | self.expr(e.key, inner) | self.expr(e.value, inner)
            else:
                t = t | self.expr(e.elt, inner)
            for k, v in inner.items():  # what its calls added to the enclosing names (`arr.append(el)`)
                if k not in own and not k.startswith("&") and v != st.get(k, frozenset()):
                    st[k] = st.get(k, frozenset()) | v
            return t
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
                # what the object kept may come back out of it (a rollout storage's
                # `extract()`, a replay buffer's `sample()`); not a method's own object
                # (`self.critic(x)` calls a model it holds)
                if not self.own_object(func.value):
                    parts |= self.kept_by(func.value, st)
        if isinstance(e, ast.Call):
            if self.sinks:
                self.sink(e, st, child_taints)
            f = e.func
            if self.cuts(e):
                return _detached(parts) if getattr(f, "attr", None) == "detach" else frozenset()
            if isinstance(f, ast.Name) and f.id in _PY_CONVERSIONS:
                return frozenset()
            if isinstance(f, ast.Attribute) and f.attr in self._MUTATORS and e.args and type(f.value) is not _Call:
                # (a call's fresh result is no container anyone sees again: `out.mul(0.5).add(0.5)`
                # is tensor arithmetic, its value is what the expression returns)
                for n in _target_names(f.value):
                    st[n] = st.get(n, frozenset()) | parts
                    for alias in st.get("&" + n, ()):  # `arr.append(el)` over `zip((policies, Qs), (p, q))`
                        st[alias] = st.get(alias, frozenset()) | parts
                        self.escape(ast.Name(id=alias, ctx=ast.Load()), parts)
                self.escape(f.value, parts)
            return parts | {id(e)}
        return parts

    def cuts(self, c: ast.Call) -> bool:
        """Call ``c`` returns no gradient (``.detach()``, ``.item()``, ``.sample()``, a copy
        into a new tensor, ``torch.tensor(values)``; not a
        project distribution's differentiable ``sample``, see ``differentiable_sample``, nor
        a method of that name of a project module, which runs its weights:
        ``self.policy.sample(states)`` returning the distribution a loss is built on, see
        ``_Unit.receiver_method``; a replay buffer's ``memory.sample()`` hands out data)."""
        func = c.func
        if (self.u.module.resolve(func) or "") in _COPYING_CONSTRUCTORS:
            return True  # `torch.tensor(values)`: a new leaf holding copies of the values
        if not (isinstance(func, ast.Attribute) and func.attr in _TAINT_CUT):
            return False
        if func.attr == "sample" and self.u.project.differentiable_sample(self.u.module):
            return False
        own = self.u.receiver_method(c)
        return own is None or own.cls is None or not self.u.project.is_torch_module(own.cls)

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
            if callee is not None:  # a project method that stores it on its object: its fate is out of sight
                self.escape(c.func.value, t)

    def own_object(self, e: ast.AST) -> bool:
        u = self.u
        return type(e) is _Name and u.is_method and bool(u.positional) and e.id == u.positional[0]

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
                if outs is not None:
                    u._mark_grad_params_expr(outs)  # a caller's value handed here needs its graph
                if _creates_graph(c):  # the gradients are differentiable: a penalty built on them trains
                    u.higher_taint |= t
            return
        f = c.func
        if isinstance(f, ast.Attribute) and f.attr == "backward":
            t = self.expr_taint(f.value, st) | self.kept_by(f.value, st)
            for a in [*c.args, *(k.value for k in c.keywords)]:  # `bp.backward(ids=ids)` too
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
        # through a receiver the analysis cannot resolve: any project method by that name
        # (`self.meta_agent.discriminator_learn(skill, outputs)` trains on what it is given)
        for cal in [callee] if callee is not None else u.project.unresolved_candidates_of(id(c)):
            if not cal.summary.backward_params and not cal.summary.grad_params:
                continue
            wanted = {cal.positional[i] for i in cal.summary.backward_params if i < len(cal.positional)}
            graded = {cal.positional[i] for i in cal.summary.grad_params if i < len(cal.positional)}
            for param, a in u.project.bind_args(cal, c):
                if param in wanted and id(a) in taint:  # the receiver is not an argument here
                    u.backward_taint |= taint[id(a)]
                    u._mark_backward_params_expr(a)
                elif param in graded and id(a) in taint:  # LRP's `self.gradprop(Z, X, S)`: gradients of it
                    u.grad_taint |= taint[id(a)]
                    u._mark_grad_params_expr(a)

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
                if self.cuts(n):
                    continue
                out.add(id(n))
            stack.extend(ast.iter_child_nodes(n))
        return frozenset(out)


def _detached(t: FrozenSet[int]) -> FrozenSet[int]:
    """The taint of a detached value (``out.detach()``, ``out.data``): each model call's id
    negated. Autograd does not follow it, but where it reaches a backward pass the call fed a
    training step with a value (a GAN's fakes for its critic, a DQN's targets)."""
    return frozenset(-x if x > 0 else x for x in t)


def _attached(t: FrozenSet[int]) -> bool:
    """Some model call's result reaches this value undetached."""
    return any(x > 0 for x in t)
