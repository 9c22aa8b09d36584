"""Calls for the abstract interpreter: ``CallsMixin``.

What a call does to the models and the state: mode switches (``model.eval()``, ``train``),
models handed to libraries, wrapped and added to containers, aliases switched together,
model calls recorded as events, and callee summaries applied at the call site (modes
substituted, uses and attribute events recorded).
"""
from __future__ import annotations

import ast
import sys
from typing import FrozenSet, List, Optional, Set, Tuple

from .. import knowledge as K
from ..findings import line_ref
from ..semantic import ClassInfo, default_of, get_arg, has_star_args
from .values import (ENTRY, EVAL, OFF, TRAIN, UNKNOWN, EmptyListVal, HolderVal, InstanceUnion, InstanceVal, ListVal,
                     Mode, ModelVal, Modes, SavedMode, State, _or_dep, kinds, modes_of, weights_model)
from .summaries import Event, substitute
from .syntax import (_CONTAINER_ADDS, _MODE_METHODS, _SAME_OR_MODE, _Attribute, _Call, _Constant, _Name, _has_call, _is_backward,
                     _model_path, _RUN_METHODS, _target_names, is_test_function, path_of, root_of)
from .idioms import _MODE_WORDS, _NOT_CALLERS, _self_params_assigned
from .unit import _Unit


# methods that only ``nn.Module`` has (``used_as_module``)
_MODULE_ONLY_METHODS = frozenset({"eval", "train", "parameters", "named_parameters", "named_modules", "children"})


class CallsMixin:
    """The calls of ``Interpreter`` (see the module docstring)."""

    @staticmethod
    def base_key(expr: ast.AST) -> Optional[str]:
        """The variable a model expression lives in, through ``.to()``-style chains and
        ``.train()``/``.eval()`` (which return the model)."""
        return _model_path(expr, _SAME_OR_MODE)

    def call(self, c: ast.Call, st: State) -> None:
        u = self.u
        func = c.func
        if type(func) is _Name and func.id not in st.env:
            alts = self.method_calls(c)
            if alts:  # `encode(x)` where `encode = gen_a.encode if a2b else gen_b.encode`
                outs = []
                for alt in alts:
                    branch = st.copy() if len(alts) > 1 else st
                    self.call(alt, branch)
                    outs.append(branch)
                self.join_into(st, outs)
                return
        q = self.p.resolve_q(u.module, func)
        line = c.lineno
        if _is_backward(c, u.module, q) and not self.p.project_backward(c, self.value(func.value, st)
                                                                        if type(func) is _Attribute else None):
            src = self.differentiated_grad(c, q, st)
            if src is not None:
                self.add_event(Event("backward", c, grad=src))
        if type(func) is _Attribute and self.holder_called(func, st):
            return
        # mode switches on a model
        if isinstance(func, ast.Attribute) and func.attr in _MODE_METHODS:
            recv = self.value(func.value, st)
            key = self.base_key(func.value)
            if isinstance(recv, ModelVal) and key:
                new = self.switched_modes(func.attr, c, st)
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
                self.follow_held(key, st)
                return
        if type(func) is _Attribute and func.attr in _MODULE_ONLY_METHODS and self.used_as_module(func, c, st) \
                and func.attr in _MODE_METHODS:
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
        if type(func) is _Attribute and func.attr in _RUN_METHODS:  # `net.forward(x)` runs the model as `net(x)` does
            val = self.value(func.value, st)
            key = path_of(func.value)
            if isinstance(val, ModelVal) and key:
                self.model_call(c, key, val, st)
                return
        alts = self.union_callees(c, st) or self.abstract_overrides(c)
        if alts:  # a method of one of several classes: each one's effects, joined
            self.p.note_unresolved_visit(c, st.grad, True)
            outs = []
            for cal in alts:
                branch = st.copy()
                self.apply_summary(cal, c, branch)
                outs.append(branch)
            self.join_into(st, outs)
            return
        callee = self.p.resolve_callee(u, c, st, self)
        if callee is not None and type(func) is _Name and func.id in self.p.local_names(u):
            # `model = nn.Linear(...)` in this body rebinding a name a function had: the model runs
            # (only a name this body binds, in order; a global may be rebound after the call)
            held = st.env.get(func.id)
            if isinstance(held, ModelVal) and ENTRY not in kinds(held.modes):
                callee = None
        if type(func) is _Attribute:
            self.p.note_unresolved_visit(c, st.grad, callee is not None)
        elif type(func) is _Name and callee is not None and (
                self.p.functional_model(callee) or self.p.weights_call(u, c, callee)
                or (func.id in u.params and self.p.forward_over_weights(callee))):
            # `G(z)`: a model written as a function over weights (no mode, no class); a parameter
            # every call site fills with one (`evaluate(net, data)` running `net(X)`) is that model;
            # or one handed its weights (`net(X, params)`); or a parameter that call sites fill with
            # a forward pass over weights (`rnn(X, state, params)` in `predict_rnn(prefix, rnn,
            # params)`): a model if they hand it on with its weights (`functional_value`)
            val = st.env.get(func.id)
            val = ModelVal(val.modes, False, val.label, param=val.param) if isinstance(val, ModelVal) else \
                weights_model(func.id, line)
            self.model_call(c, func.id, val, st)
            return
        if callee is not None:
            self.apply_summary(callee, c, st)
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and u.is_method and \
                    func.value.id == u.positional[0]:
                for ov in self.p.overrides(callee):  # self.m() may run a subclass's override
                    u.edges.append((ov.id, st.grad))
                    if u._walk_pending:  # and its result goes where this call's goes
                        u.ret_calls.append((id(c), ov.id))
                    else:
                        self.p.note_ret_call(u, id(c), ov.id)
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
        if key is None and type(func) is ast.Subscript and isinstance(self.value(func.value, st), ListVal) \
                and path_of(func.value) and type(func.slice) in (_Name, _Constant):
            key = ast.unparse(func)  # `self.actors[i](obs)`: one of the models of a list (MADDPG's actors)
        if isinstance(val, ModelVal) and key:
            self.model_call(c, key, val, st)
            return
        ci = self.p.lookup_class(q, u.module) if q else None
        if ci is None and q and not q.startswith(_NOT_CALLERS) and (c.args or c.keywords):
            self.handed_to_library(c, st)
        if ci is not None and not self.p.is_torch_module(ci):
            self.note_constructor_args(ci, c, st)
        if ci is not None and not self.p.is_torch_module(ci) and self.p.switched_attrs(ci):
            # the models handed over may be switched by the object's methods from now on
            for a in [*c.args, *(k.value for k in c.keywords)]:
                ak = self.base_key(a)
                av = st.env.get(ak) if ak else None
                if isinstance(av, ModelVal):
                    self.set_model(ak, av.with_modes(modes_of(UNKNOWN, f"handed to `{ci.name}`", line)), st)

    @staticmethod
    def join_into(st: State, outs: List[State]) -> None:
        """``st`` becomes the join of the states ``outs`` (one per callee a call may run)."""
        merged = outs[0]
        for o in outs[1:]:
            merged = merged.join(o)
        if merged is not st:
            st.env.clear()
            st.env.update(merged.env)
            st.grad = merged.grad

    def method_calls(self, c: ast.Call) -> List[ast.Call]:
        """For ``f(x)`` where the body binds ``f`` once to a bound method of a path
        (``encode = trainer.gen_a.encode``, or a choice of two, ``a.encode if k else
        b.encode``): the call ``trainer.gen_a.encode(x)`` of each, made once (the unit maps
        it back to ``f(x)``, where its facts and events are); none otherwise."""
        u = self.u
        got = u.method_calls.get(id(c))
        if got is None:
            bound = self.p.bound_once(u, c.func.id)  # type: ignore[attr-defined]
            picks = [bound.body, bound.orelse] if type(bound) is ast.IfExp else [bound]
            got = []
            if all(type(b) is _Attribute and path_of(b.value) for b in picks):
                for b in picks:
                    alt = ast.copy_location(ast.Call(func=b, args=c.args, keywords=c.keywords), c)
                    alt.end_lineno, alt.end_col_offset = c.end_lineno, c.end_col_offset
                    u.call_alias[id(alt)] = c
                    got.append(alt)
            u.method_calls[id(c)] = got
        return got

    def holder_called(self, func: ast.Attribute, st: State) -> bool:
        """``trainer.train()``, ``trainer.evaluate()`` on an object that keeps models it was
        given by keyword (``HolderVal``): its class is not read, so each method may switch
        them; from here on their modes are unknown (their grad rules still speak)."""
        key = path_of(func.value)
        holder = st.env.get(key) if key else None
        if type(holder) is not HolderVal or func.attr in holder.attrs:
            return False  # `trainer.model(x)` runs the model it holds
        line = func.lineno
        for attr in sorted(holder.attrs):
            v = st.env.get(f"{key}.{attr}")
            if isinstance(v, ModelVal):
                why = f"`{key}.{func.attr}()` at {line_ref(self.u.path, line)} may switch it"
                self._memo.clear()
                st.env[f"{key}.{attr}"] = v.with_modes(modes_of(UNKNOWN, why, line))
        return True

    def used_as_module(self, func: ast.Attribute, c: ast.Call, st: State) -> bool:
        """``net.eval()``, ``net.train()``, ``net.parameters()`` on a name or attribute whose
        value the analysis does not know (a network from a package it does not read, a
        factory it cannot follow): only an ``nn.Module`` has these methods, so from here on
        it holds a model, in the mode the switch names (else unknown). None of its layers is
        seen, so it is no evidence for DG101/DG102 (``dependent=False``): the grad rules speak."""
        u = self.u
        key = self.base_key(func.value)
        if not key or st.env.get(key) is not None or self.value(func.value, st) is not None:
            return False
        root = root_of(key)
        if root in u.module.imports or (u.is_module_method and u.positional and root == u.positional[0]):
            return False  # a module's name, or the module's own submodule (it inherits the mode)
        if key == root and self.known_non_model(root):
            return False  # `criterion = SplitCrossEntropyLoss(...)`, `pool = nn.AvgPool2d(2)`: seen, and no model
        if func.attr == "eval" and (c.args or c.keywords):
            return False  # pandas' `df.eval("a + b")`
        if func.attr == "train" and (c.keywords or len(c.args) > 1 or (
                c.args and not (type(c.args[0]) is ast.Constant and isinstance(c.args[0].value, bool)))):
            return False  # gensim's `model.train(corpus, ...)`
        if func.attr in _MODE_METHODS:
            modes = self.switched_modes(func.attr, c, st)
        else:
            modes = modes_of(UNKNOWN, f"used as a module by `{key}.{func.attr}()` at {line_ref(u.path, c.lineno)}",
                             c.lineno)
        self.set_model(key, ModelVal(modes, False, key), st)
        return True

    def known_non_model(self, name: str) -> bool:
        """``name`` is bound once (here, or for a global at the module's top level) to a call
        the analysis resolves: a project class, or a torch constructor (a loss, a pooling
        layer). What it built is known, and it was no model. (A project function's result
        may be one it could not follow: `get_model(...)` picking a class from a dict.)"""
        u, p = self.u, self.p
        bound = p.bound_once_here_or_global(u, name)
        if type(bound) is not _Call:
            return False
        q = p.resolve_q(u.module, bound.func)
        return bool(q) and (q.startswith("torch.") or p.lookup_class(q, u.module) is not None)

    def note_constructor_args(self, ci: ClassInfo, c: ast.Call, st: State) -> None:
        """``Trainer(generator, ...)``: what each parameter of the class's ``__init__`` is
        given here (``note_param_class``), so the models it keeps on ``self`` are known in its
        methods (``constructor_model``)."""
        init = self.p.method_unit(ci, "__init__")
        if init is None or init.cls is not ci:
            return
        bound = [] if has_star_args(c) else self.p.bind_args(init, c, constructor=True)
        given = {p for p, _a in bound}
        for p in init.params[1:]:
            if p not in given:
                self.p.note_param_class((init.id, p), None)
        for p, a in bound:
            self.p.note_param_class((init.id, p), self.value(a, st), self.u)

    def union_callees(self, c: ast.Call, st: State) -> List["_Unit"]:
        """``policy.select_action(s)`` on an instance of one of several project classes: that
        method of each class; none when a class lacks it or cannot be found (which class
        runs is not for the analysis to decide then)."""
        func = c.func
        if type(func) is not _Attribute:
            return []
        recv = self.value(func.value, st)
        if type(recv) is ModelVal and recv.alts:
            # a model of one of several classes: the method of each class that defines it (on
            # one that does not, the call would raise: it runs on the others)
            units = [self.p.method_unit(ci, func.attr) for ci in map(self.p.class_by_qualname, sorted(recv.alts))
                     if ci is not None]
            return list(dict.fromkeys(cal for cal in units if cal is not None and cal.fn is not None))
        if type(recv) is ModelVal and recv.cls is None and not recv.hf:
            return self.p.model_methods_named(func.attr)  # a model from a registry: `model.loss(sample)`
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

    def abstract_overrides(self, c: ast.Call) -> List["_Unit"]:
        """``self._predict(args, model, ...)`` where this class's ``_predict`` only raises
        ``NotImplementedError`` (or only passes): the subclasses' overrides are what runs, so
        each one's effects are applied, joined."""
        u, func = self.u, c.func
        if type(func) is not _Attribute or type(func.value) is not _Name or not u.is_method \
                or not u.positional or func.value.id != u.positional[0]:
            return []
        callee = self.p.resolve_callee(u, c, None, None)
        if callee is None or callee.fn is None or not _abstract_body(callee.fn.node):
            return []
        return [ov for ov in self.p.overrides(callee) if ov.fn is not None]

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

    def wrapped_modes(self, ci: ClassInfo, c: ast.Call, st: State) -> Optional[Tuple[Modes, Optional[bool]]]:
        """A new module that runs nothing but the models handed to its constructor
        (``self.model = model``: dinov2's ``ModelWithNormalize(model)``) runs in their modes,
        whatever its own flag, and behaves differently in training if one of them does: their
        modes and mode dependence here; None for any other module."""
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
            return self._handed_only(ci, given, st)  # it runs something besides what it is given
        out: Set[Mode] = set()
        dep: Optional[bool] = False
        for n in init.fn.nodes:
            if type(n) is not ast.Assign or len(n.targets) != 1:
                continue
            t = n.targets[0]
            if not (type(t) is _Attribute and type(t.value) is _Name and t.value.id == selfname and t.attr in run):
                continue
            if type(n.value) is not _Name or n.value.id not in params:
                return self._handed_only(ci, given, st)  # a layer of its own, or something we cannot follow
            only_read = t.attr not in self._called_attrs(ci)  # `self.mean_type == "eps"`: it runs nothing
            if n.value.id not in given:  # its default: a function or an object that is no module keeps no mode
                if only_read or self._no_module(default_of(init.fn.node, n.value.id), ci.module, ci):
                    continue
                return self._handed_only(ci, given, st)
            v = self.value(given[n.value.id], st)
            if not isinstance(v, ModelVal) or not v.modes:
                if only_read or isinstance(v, InstanceVal) or \
                        v is None and self._no_module(given[n.value.id], self.u.module, None):
                    continue  # `likelihood=binary_cross_entropy`, `beta=Warmup(n=200)`: no module
                return None
            out |= v.modes
            dep = _or_dep(dep, v.dependent)
        return (frozenset(out), dep) if out else None

    def _called_attrs(self, ci: ClassInfo) -> Set[str]:
        """The attributes ``X`` some method of ``ci`` calls, or calls a method of
        (``self.X(...)``, ``self.X.resample(...)``); memoised per class."""
        memo = self.p.memo.setdefault("called_attrs", {})
        got = memo.get(ci.qualname)
        if got is None:
            got = memo[ci.qualname] = set()
            for fn in ci.methods.values():
                me = (fn.positional_params() or ["self"])[0]
                for c in fn.calls:
                    f = c.func
                    if type(f) is _Attribute and type(f.value) is _Attribute:
                        f = f.value
                    if type(f) is _Attribute and type(f.value) is _Name and f.value.id == me:
                        got.add(f.attr)
        return got

    def _no_module(self, e: Optional[ast.AST], module, cls: Optional[ClassInfo]) -> bool:
        """``e`` (read in ``module``, as a default of ``cls``'s ``__init__`` when given) is
        surely no module: a function (``binary_cross_entropy``, ``F.mse_loss``, a lambda) or an
        instance of a project class that is no module (``sampler=base_sampler``, a class
        attribute built as ``ImportanceWeightedSampler(mc=1)``)."""
        if e is None:
            return False
        if type(e) is ast.Lambda:
            return True
        if type(e) is _Name and cls is not None:  # a class attribute of its own
            for st in cls.node.body:
                if type(st) is ast.Assign and any(type(t) is _Name and t.id == e.id for t in st.targets):
                    e = st.value
                    break
        if type(e) is _Call:
            q = module.resolve(e.func)
            if q and q.partition(".")[0] in sys.stdlib_module_names:
                return True  # `beta=repeat(1)`: an iterator, a partial, a counter
            found = self.p.lookup_class(q, module) if q else None
            return found is not None and not self.p.is_torch_module(found)
        q = module.resolve(e) if type(e) in (_Name, _Attribute) else None
        if not q:
            return False
        if q.startswith("torch.nn.functional."):
            return True
        found = self.p.lookup(q, module)
        return found is not None and not isinstance(found, ClassInfo)  # a project function

    def _handed_only(self, ci: ClassInfo, given, st: State) -> Optional[Tuple[Modes, Optional[bool]]]:
        """A new module whose own layers (what ``__init__`` builds, with the models it is handed
        taken away) keep no mode: it runs its handed models' layers in their modes (Guided
        Backprop's wrapper listing an eval'd model's convolutions and batch norms): their
        modes and mode dependence; None when it builds anything that trains differently."""
        handed = {name: v for name, a in given.items()
                  for v in [self.value(a, st)] if isinstance(v, ModelVal) and v.modes and (
                      v.cls is not None or v.dependent is not None or ENTRY not in kinds(v.modes))}
        # (a parameter passed on, `Actor(state_dim)`, is no model for all the analysis knows)
        if not handed or any(UNKNOWN in kinds(v.modes) or ENTRY in kinds(v.modes) for v in handed.values()) \
                or self.p.class_dependent(ci, frozenset(handed)) is not False:
            return None  # (their modes unknown here: the new module's own flag is what the analysis has)
        out: Set[Mode] = set()
        dep: Optional[bool] = False
        for v in handed.values():
            out |= v.modes
            dep = _or_dep(dep, v.dependent)
        return frozenset(out), dep

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
        dep = recv.dependent
        for item in items:
            modes, item_dep = self.added_modes(item, st, attr == "extend", c.lineno)
            added |= modes
            dep = _or_dep(dep, item_dep)
        self.set_model(key, ModelVal(recv.modes | frozenset(added), dep, recv.label, recv.hf, recv.cls, recv.param), st)

    def added_modes(self, item: Optional[ast.AST], st: State, listed: bool, line: int) -> Tuple[Modes, Optional[bool]]:
        """The modes and the mode dependence of a module added to a container. Only modules
        can be added, so ``ckpt.eval()`` is one in eval mode even where ``ckpt`` is not known
        to be a model."""
        if type(item) is ast.IfExp:
            (m1, d1), (m2, d2) = (self.added_modes(item.body, st, listed, line),
                                  self.added_modes(item.orelse, st, listed, line))
            return m1 | m2, _or_dep(d1, d2)
        v = self.value(item, st) if item is not None and not isinstance(item, ast.Starred) else None
        if listed and isinstance(v, ListVal):
            v = v.elem
        if isinstance(v, ModelVal):
            return v.modes, v.dependent
        if not listed and type(item) is _Call and type(item.func) is _Attribute and item.func.attr == "eval" \
                and not item.args and not item.keywords:
            return self.switched_modes("eval", item), None
        return modes_of(UNKNOWN, "", line), None

    def switch_aliases(self, key: str, before: ModelVal, new: Modes, line: int, st: State) -> None:
        """``a = model`` (or ``model = a``) and then ``model.train()``: ``a`` is switched too
        when it holds the same model and has no other source in this body; when it may hold
        it (assigned from it on some paths: ``a = model if flag else other``), its mode is
        no longer known."""
        for other, sole in self.u.aliases(key):
            v = st.env.get(other)
            if not isinstance(v, ModelVal):
                continue
            if sole and kinds(v.modes) == kinds(before.modes):  # (its label and origins are its own)
                self.set_model(other, v.with_modes(new), st)
            elif v.modes & before.modes:
                self.set_model(other, v.with_modes(modes_of(UNKNOWN, "", line)), st)

    def follow_held(self, key: str, st: State) -> None:
        """``model.eval()`` where ``elbo = SVI(model, ...)`` runs nothing but ``model``
        (``wrapped_modes``): the wrapper now runs in the modes of the models it holds."""
        for w in self.pure_wrappers:
            kids = self.children.get(w, ())
            wv = st.env.get(w)
            if key not in kids or not isinstance(wv, ModelVal):
                continue
            held = [st.env.get(k) for k in kids]
            if all(isinstance(v, ModelVal) for v in held):
                self.set_model(w, wv.with_modes(frozenset().union(*(v.modes for v in held))), st)

    def held_view(self, key: Optional[str], val: ModelVal, bound, evals: Set[str]) -> ModelVal:
        """``evaluate(net_sampler, net_model)`` where ``net_sampler`` runs nothing but
        ``net_model`` (``pure_wrappers``) and the helper switches its ``model`` parameter to
        eval: the wrapper runs in eval mode in there too."""
        kids = self.children.get(key or "") if key in self.pure_wrappers else None
        if not kids or not evals:
            return val
        switched = {self.base_key(a) for p, a in bound if p in evals}
        if not kids <= switched:
            return val
        line = min((m[2] for m in val.modes), default=0)
        return val.with_modes(modes_of(EVAL, "its model switched to eval by the helper it is handed to", line))

    def note_children(self, target: ast.AST, call: ast.Call, st: State) -> None:
        """``wrapper = Wrapper(net)``: the models a new module holds follow its ``.eval()``;
        where it runs nothing but them, it follows theirs (``follow_held``)."""
        key = path_of(target)
        while type(call.func) is _Attribute and call.func.attr in K.SAME_MODEL_METHODS \
                and type(call.func.value) is _Call:  # `Wrapper(net).to(device)`
            call = call.func.value
        q = self.p.resolve_q(self.u.module, call.func)
        if key is None or q in K.COPY_FUNCTIONS or q in K.NEW_TRAINING_WRAPPERS:
            return  # a copy of the weights (`deepcopy`, `AveragedModel`): another object
        if q in K.SAME_MODEL_WRAPPERS and call.args and path_of(call.args[0]) == key:
            return  # `net = DataParallel(net)`: the same model, holding what it held
        kids = set()
        for a in [*call.args, *(k.value for k in call.keywords)]:
            for n in ([a] if not isinstance(a, (ast.List, ast.Tuple)) else a.elts):
                ak = path_of(n)
                if ak and isinstance(st.env.get(ak), ModelVal):
                    kids.add(ak)
        self.pure_wrappers.discard(key)
        if kids:
            self.children[key] = kids
            if id(call) in self.wrapped_calls:  # its value came from `wrapped_modes`
                self.pure_wrappers.add(key)

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

    def switched_modes(self, attr: str, c: ast.Call, st: Optional[State] = None) -> Modes:
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
        saved = self.restoring(c, arg, st) if st is not None else None
        if saved is not None:  # `model.train(was_training)`: the modes it had when the flag was read
            return saved.modes
        return modes_of(UNKNOWN, "", line)

    def restoring(self, c: ast.Call, arg: ast.AST, st: State) -> Optional[SavedMode]:
        """The saved mode flag ``arg`` holds when it was read from the model ``c`` switches
        (``model.train(was_training)``, ``was_training = model.training``); None else."""
        saved = self.value(arg, st)
        if type(saved) is SavedMode and type(c.func) is _Attribute and saved.key == self.base_key(c.func.value):
            return saved
        return None

    def set_model(self, key: str, val: ModelVal, st: State) -> None:
        self._memo.clear()
        st.kill(key)
        st.env[key] = val
        src = self.loop_alias.get(key)
        if src is not None and isinstance(st.env.get(src), ListVal):
            st.env[src] = ListVal(val)

    def model_call(self, c: ast.Call, key: str, val: ModelVal, st: State) -> None:
        u = self.u
        if not c.args and not c.keywords and val.cls is None and kinds(val.modes) == {ENTRY} and "." not in key:
            return  # `act()` on a parameter given no input: a layer class handed in, built here (spinningup's mlp())
        if not c.args and not c.keywords and val.label == "loaded model":
            return  # `timer()` of `checkpoint['timer']`: an object kept in a checkpoint, called with no input
        through = mode_free = layer_only = False
        if u.is_module_method:
            selfname = u.positional[0] if u.positional else "self"
            if key != selfname and u.runs_receiver(key):
                # `self.encoder(x)` in `encode()`, `self.fc_pi(x)` in `pi()`: the receiver's
                # weights run, a call of the receiver as `self(x)` is; its mode matters only
                # where that layer visibly behaves differently in training
                whole = st.env.get(selfname)
                if isinstance(whole, ModelVal):
                    attr = key.split(".", 1)[1]
                    dep = self.p.attr_dependent(u.cls, attr)
                    # a network handed to the constructor and of unknown kind: the receiver's
                    # construction decides (the caller's model value), not the class
                    mode_free = dep is False or (dep is None and not self.p.handed_attr(u.cls, attr))
                    # a dropout layer of the receiver (`self.drop(h)`): its mode, no weights to record
                    layer_only = not self.p.weighted_submodule(u.cls.qualname, attr)
                    key, val, through = selfname, whole, True
            if key != selfname and "." not in key and (selfname, True) in u.aliases(key):
                key = selfname  # `model = self.train()`, then `model(x)`: the receiver under another name
            if key != selfname:
                if root_of(key) == selfname or not (val.param and ENTRY in kinds(val.modes)):
                    return  # submodules and layers built here inherit the caller's mode
            elif u.fn is not None and u.fn.name in _RUN_METHODS:
                return
        val = self.guard_view(key, val)
        role = u.role(c, key)
        if role == "train" and not self.trains_in_this_pass():
            role = "predict"  # the validation pass of `for split in splits:`, its backward ruled out
        if role != "train" and self.forward_trains(val):
            role = "train"  # MAML's `Meta.forward` runs its own backward pass and optimizer step
        grad = self.p.forward_grad(val, c)  # `@torch.no_grad()` on the class's own forward
        weightless = grad == frozenset({OFF}) and val.cls is not None and self.p.weightless_class(val.cls)
        if role == "train" and not weightless and (grad == frozenset({OFF}) or (
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
        if grad is None and u.froze(key):
            grad = frozenset({OFF})  # every parameter frozen: autograd records nothing of this pass
        if grad is None and any(self.p.volatile_input(u, a, c.lineno) for a in c.args):
            grad = frozenset({OFF})  # old PyTorch's `Variable(x, volatile=True)`: nothing is recorded
        grad = grad if grad is not None else st.grad
        if layer_only:
            grad = frozenset({OFF})
        dependent = False if mode_free else val.dependent
        if dependent is True and val.cls and self.p.call_dependent(val.cls, c) is False:
            dependent = False  # `model(x)` leaving `is_training=False`: the dropout branch does not run
        self.add_event(Event("call", c, key, val.modes, grad, role, dependent,
                             val.hf, val.param if has_entry else None, cls=val.cls, feeds_backward=feeds,
                             through=through, handed=val.param or ""))
        if has_entry and val.param and role == "deferred":
            rg = self.summary.returns_grad
            rg[val.param] = rg.get(val.param, frozenset()) | grad
            if not through:
                self.summary.returns_direct.add(val.param)
        elif val.param and role == "deferred" and ENTRY in grad:
            # a parameter's model put in a mode here (`self.eval()` in `generate()`) and its
            # output returned: the callers decide the grad state, not the mode
            self.returns_in_own_modes(val.param, grad, val.modes, not through)
        if role == "train" and any(m[0] == TRAIN and m[3] for m in val.modes):
            why = f"left in training mode by the training step at {line_ref(self.u.path, c.lineno)}"
            new = frozenset((TRAIN, why, c.lineno, False) if (m[0] == TRAIN and m[3]) else m for m in val.modes)
            self.set_model(key, val.with_modes(new), st)

    def returns_in_own_modes(self, param: str, grad: FrozenSet[str], modes: Modes, direct: bool) -> None:
        """The summary: ``param``'s model predicts in ``modes`` this body set, and the output
        is returned, with the caller's grad state where ``grad`` holds ENTRY."""
        sm = self.summary
        sm.returns_calls.add(param)
        sm.returns_grad[param] = sm.returns_grad.get(param, frozenset()) | grad
        sm.returns_modes[param] = sm.returns_modes.get(param, frozenset()) | modes
        if direct:
            sm.returns_direct.add(param)

    def forward_trains(self, val: ModelVal) -> bool:
        """The model's class's own ``forward`` runs a backward pass and an optimizer step:
        calling the model is a training step, whatever its result is used for."""
        ci = self.p.class_by_qualname(val.cls) if val.cls else None
        fwd = self.p.method_unit(ci, "forward") if ci is not None else None
        if fwd is None or fwd is self.u:
            return False
        fwd.facts()
        return bool(fwd.backward_calls) and bool(fwd.steps)

    def note_feeds(self, param: str, feeds: bool) -> None:
        """A prediction with a parameter's model: whether all of them feed a backward pass."""
        f = self.summary.feeds
        f[param] = f.get(param, True) and feeds

    def apply_summary(self, callee: "_Unit", c: ast.Call, st: State) -> None:
        u = self.u
        s = callee.summary
        u.edges.append((callee.id, self.call_grad(c, st)))
        cid = id(c)
        self.p.call_sites.setdefault(callee.id, {})[cid] = (u, c)
        if u._walk_pending:
            u.ret_calls.append((cid, callee.id))  # no backward pass here: Project.settle_ret_calls decides
        else:
            self.p.note_ret_call(u, cid, callee.id)
        name = callee.fn.name if callee.fn else callee.id
        bound = self.p.bind_args(callee, c)
        given = {p for p, _a in bound}
        facts = not is_test_function(u)  # a test's arguments (a Mock) say nothing of what the code is handed
        for p in callee.params:  # a parameter this call leaves to its default (or to `*args`)
            if p not in given and facts:
                self.p.note_param_class((callee.id, p), None)
                self.p.fn_params[(callee.id, p)] = None
        for p, a in bound:
            aval = self.value(a, st)
            pk = (callee.id, p)
            if facts:
                self.p.note_param_class(pk, aval, u)
                self.p.note_fn_param(pk, u, a)
                dep = aval.dependent if isinstance(aval, ModelVal) else self.p.passed_dependent(u, a)
                self.p.param_dep[pk] = _or_dep(self.p.param_dep.get(pk, dep), dep)
            if not isinstance(aval, ModelVal):
                continue
            selfname = u.positional[0] if u.positional else "self"
            if u.is_module_method and (type(a) is _Attribute or (type(a) is _Name and u.fn.name in _RUN_METHODS)) \
                    and root_of(path_of(a) or "") == selfname:
                # `pack_wrapper(self.att_embed, x)` in the module's own method, `_apply_encoding(self,
                # q, k)` in its forward: those layers run as `self.att_embed(x)` would, in its forward
                # pass; a method of such a layer called outside `forward` (`self.odeblock.trajectory(x)`
                # in `trajectory()`) runs the receiver's weights, as `self.odeblock(x)` there does
                # (``runs_receiver``)
                whole = st.env.get(selfname)
                if callee.is_method and p == callee.positional[0] and u.runs_receiver(path_of(a)) \
                        and isinstance(whole, ModelVal) and whole.param \
                        and (p in s.predicts or p in s.trains or p in s.returns_calls):
                    u.param_gets_model[(callee.id, p)] = (u.id, whole.param)  # if the receiver gets one
                    self.record_uses(callee, c, st, selfname, whole, p, name)
                continue
            if aval.param and ENTRY in kinds(aval.modes) and (
                    (aval.cls is None and aval.dependent is None) or (u.is_module_method and aval.param == selfname)):
                # a parameter passed on (the receiver too, `self.embed_query(x)` in a method):
                # evidence only if the caller's own parameter gets a model
                u.param_gets_model[(callee.id, p)] = (u.id, aval.param)
            else:
                u.param_gets_model[(callee.id, p)] = True
            bk = self.base_key(a)
            key = bk or p
            passed = aval  # the state's value: what the callee's exit modes apply to
            aval = self.guard_view(bk, aval)  # in an `inference_guard` region: its mode is checked at run time
            aval = self.held_view(bk, aval, bound, s.evals_param)
            self.record_uses(callee, c, st, key, aval, p, name)
            exit_modes = s.exits.get(p)
            if exit_modes is not None and bk:
                new = substitute(exit_modes, passed.modes, name, self.u.path, c.lineno)
                if new != passed.modes:
                    self.set_model(bk, passed.with_modes(new), st)
                    self.switch_aliases(bk, passed, new, c.lineno, st)  # `model = net.train()` too
        self.apply_path_summary(callee, c, st, name)
        if callee.module is u.module and s.globals_exit:
            for g, gm in s.globals_exit.items():
                cur = st.env.get(g)
                if isinstance(cur, ModelVal):
                    self.set_model(g, cur.with_modes(substitute(gm, cur.modes, name, self.u.path, c.lineno)), st)

    def call_grad(self, c: ast.Call, st: State) -> FrozenSet[str]:
        """The grad state a call of a project function runs in: the caller's, or off where an
        argument is old PyTorch's volatile input (``model.decode(Variable(x, volatile=True))``:
        nothing computed from it is recorded)."""
        if st.grad != frozenset({OFF}) and any(self.p.volatile_input(self.u, a, c.lineno) for a in c.args):
            return frozenset({OFF})
        return st.grad

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
        fixed = s.returns_modes.get(p)  # the helper sets the mode its returned prediction runs in
        if has_entry and aval.param and (p in s.predicts or p in s.trains or (p in s.returns_calls and not fixed)):
            (self.mode_cand if free else self.mode_used).add(aval.param)
        # a model whose parameters this body froze records no graph in the helper either
        grad = frozenset({OFF}) if u.froze(key) else self.call_grad(c, st)
        uses = []
        if p in s.predicts and not (p in s.trains and self.p.predicts_in_own_mode(callee, p)):
            uses.append(("predict", s.predicts[p]))
        if p in s.trains:
            uses.append(("train", s.trains[p]))
        returned_grad = None
        if p in s.returns_calls:
            returned_grad = frozenset(g2 for g in s.returns_grad.get(p, frozenset({ENTRY}))
                                      for g2 in (grad if g == ENTRY else (g,)))
            role = u.role(c, key)
            if role == "train" and st.grad == frozenset({OFF}) and self.start_grad != st.grad \
                    and self.outside_backward(c):
                role = "predict_grad"  # as for a model called there (model_call): a reference, not trained
            cline = callee.fn.node.lineno if callee.fn else 0
            entry_param = aval.param if (has_entry or (fixed and ENTRY in returned_grad)) else None
            if role in ("predict", "predict_grad", "deferred") and not (aval.hf and name == "generate"):
                # the callee's own call is reported where all its callers predict; where some
                # train with it (`model.pi(s)` in a rollout and in the loss), at this call; a
                # result this body returns takes the role its own callers give it (also when
                # the model is our own parameter: `f(m, x)` returning `g(m, x)`, whose other
                # callers train with it)
                self.add_event(Event("returned", c, key, fixed or aval.modes, returned_grad, role, aval.dependent,
                                     aval.hf, aval.param if has_entry and not fixed else None, name, cline,
                                     callee_path=callee.path, cls=aval.cls, callee_id=callee.id,
                                     through=p not in s.returns_direct))
            if role == "train":
                uses.append(("train", cline))
            elif role in ("predict", "predict_grad"):
                uses.append(("predict", cline))
            elif role == "deferred":
                if entry_param and fixed:
                    self.returns_in_own_modes(entry_param, returned_grad, fixed, p in s.returns_direct)
                elif entry_param:
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
            mine = fixed if fixed and p not in s.predicts and p not in s.trains else None
            if has_entry and aval.param and use != "deferred" and not (use == "predict" and mine):
                # (a prediction in a mode the helper sets itself asks nothing of our callers' mode;
                # its grad state is this call's, reported here)
                target = self.summary.predicts if use == "predict" else self.summary.trains
                target.setdefault(aval.param, c.lineno)
                if use == "predict":
                    self.note_feeds(aval.param, feeds)
            if (aval.hf and use == "predict" and name == "generate") or free:
                continue
            self.add_event(Event("helper", c, key, mine or aval.modes, grad, use, aval.dependent, aval.hf,
                                 aval.param if has_entry and not mine else None, name, cline, use,
                                 callee_path=callee.path, cls=aval.cls, feeds_backward=feeds, handed=aval.param or ""))

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
        outer = self.p.enclosing_unit(callee)
        if outer is u:  # a closure: our models it reads (see closure_paths)
            pairs.extend((v, v, True) for v in self.p.closure_paths(callee, 0))
        elif outer is not None and type(c.func) is _Name:  # `step(...)` of `step = make_step(model, ...)`
            origin = self.p.returned_closure(u, c.func.id)
            if origin is not None and origin[1] is outer:  # the models it reads are the factory's arguments
                given = {p: self.base_key(a) for p, a in self.p.bind_args(outer, origin[2])}
                pairs.extend((v, given[v], True) for v in self.p.closure_paths(callee, 0) if given.get(v))
        if callee.module is u.module and callee.fn is not None:  # module-level models it reads (see global_paths)
            own = set(callee.params) | {k for _p, k, _e in pairs}  # a closure's path is no global
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
                    self.switch_aliases(key, aval, new, c.lineno, st)

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
        ev.node = self.u.written(ev.node)
        k = (id(ev.node), ev.kind, ev.key, ev.role)  # one call trains in one pass and predicts in another
        cur = self.u.events.get(k)
        if cur is None:
            self.u.events[k] = ev
        else:
            cur.merge(ev)


def _abstract_body(fn: ast.AST) -> bool:
    """A method body that only raises ``NotImplementedError`` or does nothing (after its
    docstring): a base class's placeholder for its subclasses' overrides."""
    body = [s for s in fn.body if not (type(s) is ast.Expr and type(s.value) is _Constant)]
    if len(body) != 1:
        return False
    s = body[0]
    if type(s) is ast.Pass or (type(s) is ast.Expr and type(s.value) is _Constant):
        return True
    if type(s) is ast.Raise and s.exc is not None:
        e = s.exc.func if type(s.exc) is _Call else s.exc
        return type(e) is _Name and e.id == "NotImplementedError"
    return False
