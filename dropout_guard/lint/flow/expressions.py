"""Expressions for the abstract interpreter: ``ExpressionsMixin``.

Visits an expression for its calls, and computes its abstract value: names and paths,
lists and tuples, call results (constructors, factories, library models, containers and
what a called function returns).
"""
from __future__ import annotations

import ast
from typing import List, Optional, Set

from .. import knowledge as K
from ..findings import line_ref
from ..semantic import _FIELDS, ClassInfo, _child_fields
from .values import (ENTRY, EVAL, TRAIN, UNKNOWN, EmptyListVal, InstanceVal, ListVal, Mode, ModelVal, Modes, SavedMode,
                     State, TupleVal, _or_dep, join_vals, kinds, modes_of)
from .summaries import substitute
from .syntax import (_COMPREHENSIONS, _CONTAINERS, _EXPR, _MODE_METHODS, _Attribute, _Call, _Constant, _Keyword, _Name,
                     _SUBMODULE_LISTS, _target_names, path_of, root_of)
from .idioms import _DATA_BUILTINS, _local_parts, layer_dependent
from .unit import _Unit

_CHILDREN_CALLS = _SUBMODULE_LISTS | {"values"}  # `list(net.children())`, `ModuleDict.values()`


class ExpressionsMixin:
    """The expressions of ``Interpreter`` (see the module docstring)."""

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
        if t is ast.IfExp:  # `model.train() if is_train else model.eval()`: one branch runs
            self.visit(expr.test, st)
            known = self.branch_known(expr.test, st)
            if known is not None:
                self.visit(expr.body if known else expr.orelse, st)
                return
            a, b = st.copy(), st.copy()
            self.visit(expr.body, a)
            self.visit(expr.orelse, b)
            self._memo.clear()
            self.join_into(st, [a, b])
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
            # a model switched by a call in it (`[self.predict(x) for x in batches]` whose
            # `predict()` calls `self.eval()`): switched outside too, unless it ran no pass
            targets = set(outer_alias)
            for key, v in inner.env.items():
                old = st.env.get(key)
                if type(v) is ModelVal and type(old) is ModelVal and old != v and root_of(key) not in targets:
                    self._memo.clear()
                    st.env[key] = old.join(v)
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
                    if e.attr == "training":  # `was_training = model.training`: its modes now
                        key = path_of(e.value)
                        return SavedMode(key, base.modes) if key else None
                    if base.cls and self.p.is_submodule_attr(base.cls, e.attr):
                        owner = self.p.class_by_qualname(base.cls)
                        dep = False if base.dependent is False else \
                            self.p.attr_dependent(owner, e.attr) if owner is not None else None
                        return ModelVal(base.modes, dep, f"{base.label}.{e.attr}", base.hf,
                                        self.p.attr_class(owner, e.attr) if owner is not None else None, base.param)
                elif type(base) is InstanceVal and not (  # `self.model.encoder` of a plain object holding networks
                        type(e.value) is _Name and self.u.is_method and e.value.id == self.u.positional[0]):
                    return self.p.held_model(self.u, base.cls, e.attr)  # (the receiver's own: attr_state)
                return None
            return self.p.functional_value(self.u, e)  # `evaluate(net, data)` with `def net(X): X @ W1 ...`
        if type(e) is ast.Lambda:
            return self.p.lambda_model(self.u, e)  # `net = lambda X: linreg(X, w, b)`
        if isinstance(e, ast.Call):
            if type(e.func) is _Name and e.func.id == "bool" and len(e.args) == 1 and not e.keywords:
                inner = self.value(e.args[0], st)
                if type(inner) is SavedMode:
                    return inner  # `prev_training = bool(self.training)`: the flag saved
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
                                base.dependent, "loaded model")
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
            known = self.branch_known(e.test, st)
            if known is not None:
                return self.value(e.body if known else e.orelse, st)
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
                    return recv.with_modes(self.switched_modes(func.attr, c, st))
                if func.attr in K.SAME_MODEL_METHODS:
                    return recv
                callee = p.resolve_callee(u, c, st, self)
                if callee is not None:
                    return self.returned_value(callee, c, st)
                return p.stored_factory(func.attr, u.path, line) if q is None else None
            if isinstance(recv, ListVal) and func.attr in ("values", "items", "copy") and not c.args:
                return recv  # iterating a dict of models: `for name, m in models.items()`
            if func.attr == "prepare" and c.args and not isinstance(recv, (ListVal, TupleVal)):
                vals = tuple(self.value(a, st) for a in c.args)
                if len(vals) == 1:
                    return vals[0]
                return TupleVal(vals)
        if q is None and type(func) is _Attribute and func.attr == "from_pretrained" and type(func.value) is _Name:
            named = self.registry_names(func.value.id)  # `config_class, model_class, _ = MODEL_CLASSES[...]`
            if named and all(K.loads_hugging_face_model(n + ".from_pretrained") for n in named):
                return ModelVal(modes_of(EVAL, f"loaded with `from_pretrained` at {line_ref(u.path, line)} (Hugging "
                                               "Face returns models in eval mode)", line),
                                True, named[0].rsplit(".", 1)[-1], True)
        ci = p.lookup_class(q, u.module) if q else None
        if ci is not None and u.fn is None:  # top-level code: the definition in force here
            ci = u.module.class_at(ci, line)
        if ci is None and type(func) is _Name and u.fn is not None and func.id not in u.params:
            ci = u.module.local_class(u.fn, func.id)  # `class Net(nn.Module)` defined in this factory
        if ci is None and type(func) is ast.Subscript and type(func.value) is _Name:
            listed = self.registry_classes(func.value.id)
            if listed:  # `model_dict[args.model](...)`: one of the module classes it lists
                return self.one_of(listed, f"{func.value.id}[...]", func.value.id, line)
        if ci is None and type(func) is _Name and u.fn is not None:
            picked = u.picked_classes(func.id)
            if len(picked) == 1:
                ci = picked[0]
            elif picked:  # `net = BetaVAE_H if ... else BetaVAE_B`, then `net(...)`: one of them, new
                return self.one_of(picked, func.id, func.id, line)
        if ci is None and isinstance(func, ast.Attribute):
            owner_q = p.resolve_q(u.module, func.value)
            owner = p.lookup_class(owner_q, u.module) if owner_q else None
            if owner is None and type(func.value) is _Name and u.fn is not None:
                picked = u.picked_classes(func.value.id)  # `model_class.from_pretrained(...)` of an alias
                owner = picked[0] if len(picked) == 1 else None
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
            if p.is_torch_module(ci) and p.parameter_free(ci) and p.class_dependent(ci) is False:
                return None  # `AffineGridGen(h, w)`: no weight and no mode, a function written as a module
            if p.is_torch_module(ci):
                if not c.args and not c.keywords and p.empty_container(ci):
                    # `Ensemble()`, a ModuleList of its own: no mode until modules are added
                    return ModelVal(frozenset(), p.class_dependent(ci), ci.name, cls=ci.qualname)
                built = p.built_modes(ci, u)
                if built is not None:  # its __init__ puts what it runs in eval mode
                    return ModelVal(built, p.class_dependent_for_call(ci, c, caller=u), ci.name, cls=ci.qualname)
                wrapped = self.wrapped_modes(ci, c, st)
                if wrapped is not None:  # it runs only the models it is given: in their modes
                    self.wrapped_calls.add(id(c))
                    return ModelVal(wrapped[0], wrapped[1], ci.name, cls=ci.qualname)
                self.wrapped_calls.discard(id(c))
                return ModelVal(modes_of(TRAIN, f"built by `{ci.name}(...)` at {line_ref(u.path, line)} (a new module starts "
                                               "in training mode)", line),
                                self.built_dependent(ci, c, st), ci.name, cls=ci.qualname)
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
                                            "starts in training mode)", line), p.class_param_dependent(u, func.id), func.id)
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
        if type(func) is _Attribute and q is None and not isinstance(self.value(func.value, st), (ListVal, TupleVal)):
            return p.stored_factory(func.attr, u.path, line)  # `config.network_fn()`
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
            v = self.children_of(e, st) if isinstance(e, ast.Starred) else self.value(e, st)
            if v is None and isinstance(e, ast.Starred) and type(e.value) is _Name and self.u.fn is not None:
                built = self._built_here(_local_parts(self.u.fn, e.value.id))
                if built:  # `*layers`, a list of layers the function builds (`layers.append(nn.Dropout(p))`)
                    fresh = True
                    continue
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

    @staticmethod
    def _built_here(parts: List[ast.AST]) -> bool:
        """Each of ``parts`` (what a local list is made of) builds its modules in place: a
        call, or a list or tuple of calls (``[nn.Linear(4, 8)]``, ``drop(0.5)``)."""
        items = [x for p in parts for x in (p.elts if type(p) in (ast.List, ast.Tuple) else [p])]
        return bool(parts) and all(
            type(x) is _Call and not (type(x.func) is _Name and x.func.id in _DATA_BUILTINS)  # list(net.children())
            and not (type(x.func) is _Attribute and x.func.attr in _CHILDREN_CALLS) for x in items)

    def children_of(self, e: ast.AST, st: State) -> Optional[ModelVal]:
        """``*list(resnet.children())[:-1]`` (or ``.modules()``, ``tuple(...)``): layers of a
        model the state holds, in its modes and with its mode dependence; None for any other."""
        while True:
            t = type(e)
            if t is ast.Starred or t is ast.Subscript:
                e = e.value
            elif t is _Call and type(e.func) is _Name and e.func.id in ("list", "tuple") and len(e.args) == 1 \
                    and not e.keywords:
                e = e.args[0]
            else:
                break
        if type(e) is _Call and type(e.func) is _Attribute and e.func.attr in ("children", "modules") and not e.args:
            v = self.value(e.func.value, st)
            return v if isinstance(v, ModelVal) else None
        return None

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

    def one_of(self, classes: List[ClassInfo], called: str, label: str, line: int) -> ModelVal:
        """A new model of one of the module ``classes`` (built by calling ``called``):
        mode-dependent where each of them is."""
        dep: Optional[bool] = False
        for k in classes:
            dep = _or_dep(dep, self.p.class_dependent(k))
        return ModelVal(modes_of(TRAIN, f"built by `{called}(...)` at {line_ref(self.u.path, line)} (a new module starts "
                                        "in training mode)", line), dep, label)

    def registry_classes(self, name: str) -> List[ClassInfo]:
        """The module classes of the project a registry lists: ``name`` is a dict bound once
        (here or at the module's top level) whose values are all such classes (``model_dict =
        {'informer': Informer, ...}``); empty for anything else."""
        out: List[ClassInfo] = []
        for q in self._registry_entries(name):
            ci = self.p.lookup_class(q, self.u.module)
            if ci is None or not self.p.is_torch_module(ci):
                return []
            out.append(ci)
        return out

    def registry_names(self, name: str) -> List[str]:
        """The qualified names a local takes that this body binds once to an entry of a
        registry (``_registry_entries``): ``model_class = MODELS[args.arch]``, or by position,
        ``config_class, model_class, tokenizer_class = MODEL_CLASSES[args.model_type]`` (the
        Hugging Face example scripts' table); empty for anything else."""
        u = self.u
        if u.fn is None or name in u.params:
            return []
        binds = [(targets, value) for targets, value in u.assigns() if any(name in _target_names(t) for t in targets)]
        if len(binds) != 1 or len(binds[0][0]) != 1:
            return []
        (target,), value = binds[0]
        if type(value) is not ast.Subscript or type(value.value) is not _Name:
            return []
        if type(target) is _Name:
            return self._registry_entries(value.value.id)
        if type(target) in (ast.Tuple, ast.List) and all(type(e) is _Name for e in target.elts):
            return self._registry_entries(value.value.id, [e.id for e in target.elts].index(name), len(target.elts))
        return []

    def _registry_entries(self, name: str, pos: Optional[int] = None, width: int = 0) -> List[str]:
        """The qualified names a registry ``name`` lists: a dict bound once (here or at the
        module's top level) whose values are names, or (``pos``) tuples of ``width`` names, of
        which the one at ``pos``; empty for anything else."""
        registry = self.p.bound_once_here_or_global(self.u, name)
        if type(registry) is not ast.Dict or not registry.values:
            return []
        out: List[str] = []
        for v in registry.values:
            if pos is not None:
                if type(v) not in (ast.Tuple, ast.List) or len(v.elts) != width:
                    return []
                v = v.elts[pos]
            q = self.u.module.resolve(v) if type(v) in (_Name, _Attribute) else None
            if not q:
                return []
            out.append(q)
        return out

    def trained_whole(self, c: ast.Call) -> bool:
        """``c`` is bound to a name whose ``.parameters()`` this body hands to a torch
        optimizer (``optimizer = torch.optim.SGD(net.parameters(), lr=0.01)``): what it
        builds is the model being trained, even a single layer (the d2l book's linear
        regression)."""
        u = self.u
        memo = self.p.memo.setdefault("optimized_names", {})
        trained = memo.get(u.id)
        if trained is None:  # once per body: most bodies build layers and train none by name
            trained = memo[u.id] = set()
            for n in u.calls:
                if n.args and type(n.args[0]) is _Call and (u.module.resolve(n.func) or "").startswith("torch.optim."):
                    f = n.args[0].func
                    if type(f) is _Attribute and f.attr == "parameters" and type(f.value) is _Name:
                        trained.add(f.value.id)
        # the name's only binding: its optimizer is this layer's
        return any(self.p.bound_once(u, name) is c for name in trained)

    def built_dependent(self, ci: ClassInfo, c: ast.Call, st: State) -> Optional[bool]:
        """The mode dependence of the module ``ci(...)`` builds: its class's; where that is
        unknown (a layer of its own it keeps from an argument), a model handed to it that
        behaves differently in training makes it do so too (``Head(backbone)``)."""
        dep = self.p.class_dependent_for_call(ci, c, caller=self.u)
        if dep is None:
            for a in list(c.args) + [k.value for k in c.keywords]:
                v = self.value(a.value if type(a) is ast.Starred else a, st)
                if isinstance(v, ModelVal) and v.dependent is True:
                    return True
        return dep

    def library_model(self, q: str, c: ast.Call, st: State):
        line = c.lineno
        last = q.rsplit(".", 1)[-1]
        if q in K.SAME_MODEL_WRAPPERS and c.args:  # `nn.DataParallel(net)`: the same model, in its mode
            return self.value(c.args[0], st)
        if q in K.COPY_FUNCTIONS and c.args:
            # `model = deepcopy(model)`: a new object in the same mode; switching it (ODFA's
            # `model.eval()` on its copy) leaves the caller's model as it was
            v = self.value(c.args[0], st)
            if not isinstance(v, ModelVal):
                return None
            why = f"a copy made at {line_ref(self.u.path, line)} of `{v.label}` as its caller left it"
            return ModelVal(frozenset((UNKNOWN, why, line, False) if m[0] == ENTRY else m for m in v.modes),
                            v.dependent, v.label, v.hf, v.cls)
        if q.startswith("torch.nn.") and q.count(".") == 2:
            if last in _CONTAINERS:
                dep = self.p.expr_dependent(c, self.u.module, self.u.fn)
                if dep is not True:  # `nn.Sequential(*list(resnet.children())[:-1])`: that model's layers
                    parts = [self.children_of(a, st) for a in c.args]
                    if any(v is not None and v.dependent is True for v in parts):
                        dep = True
                return ModelVal(self.container_modes(c, st, last), dep, f"nn.{last}")
            if last.startswith(K.PARAMETER_LAYER_PREFIXES) and self.trained_whole(c):
                # `net = nn.Linear(2, 1)` whose parameters this body's optimizer trains: the model
                return ModelVal(modes_of(TRAIN, f"built by `nn.{last}(...)` at {line_ref(self.u.path, line)}", line),
                                layer_dependent(last, c) if last in K.MODE_DEPENDENT_LAYERS else False, f"nn.{last}")
            if last not in K.MODE_DEPENDENT_LAYERS or last in K.DROPOUT_LAYERS:
                return None  # a single layer (or a loss) used on its own is not a model
            return ModelVal(modes_of(TRAIN, f"built by `nn.{last}(...)` at {line_ref(self.u.path, line)}", line),
                            layer_dependent(last, c), f"nn.{last}")
        if K.builds_library_model(q):
            return ModelVal(modes_of(TRAIN, f"created by `{q}(...)` at {line_ref(self.u.path, line)} (a new model starts in "
                                            "training mode)", line), True, last)
        if q == "torch.jit.load":  # a TorchScript program: a trace runs as it was traced, a scripted
            # module keeps the flag it was saved with (exported for serving, after `eval()`)
            return ModelVal(modes_of(UNKNOWN, "", line), None, "loaded program")
        if q in K.MAYBE_TRAINING_LOADERS:
            dep = self.p.loaded_whole_dependent(c, self.u.module)
            if dep is None:  # a model unpickled whole: evidence enough (its class cannot be seen at all)
                dep = True
            return ModelVal(modes_of(TRAIN, f"loaded whole with `{q}` at {line_ref(self.u.path, line)} (its saved mode flags are "
                                            "unknown; PyTorch asks for `.eval()` after loading)", line),
                            dep, "loaded model")
        if q.endswith(".from_pretrained") and q.startswith(("transformers.", "peft.")):
            if K.loads_hugging_face_model(q):
                return ModelVal(modes_of(EVAL, f"loaded with `from_pretrained` at {line_ref(self.u.path, line)} (Hugging Face "
                                               "returns models in eval mode)", line), True, q.rsplit(".", 2)[-2], True)
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
        given = None  # the caller's model, when the callee returns the one it was handed
        if r.param:
            for p, a in self.p.bind_args(callee, c):
                if p == r.param:
                    aval = self.value(a, st)
                    given = aval if isinstance(aval, ModelVal) else None
            if ENTRY in kinds(r.modes):
                return given.with_modes(substitute(r.modes, given.modes, name, self.u.path, c.lineno)) \
                    if given is not None else None
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
        if given is not None:  # switched there (`validate_then_train(net)`): the same model, in the modes it left it in
            return ModelVal(frozenset(out), given.dependent, given.label, given.hf, given.cls, given.param)
        if not out:
            return None  # a value handed back that is no model here (`default(val, d)` given no model)
        return ModelVal(frozenset(out), r.dependent, r.label, r.hf, r.cls, None)
