"""Facts about model classes: ``ClassFactsMixin``.

Subclasses, ``torch.nn.Module`` and third-party layers, containers, Lightning modules, the
modes a class builds its submodules in, frozen and parameter-free classes, the grad state
of ``forward`` and the inert environment of ``__init__``.
"""
from __future__ import annotations

import ast
from typing import Callable, Dict, FrozenSet, List, Optional, Set

from .. import knowledge as K
from ..semantic import ClassInfo, FunctionInfo, ModuleInfo, default_of, get_arg, has_star_args
from ..findings import line_ref
from .values import ENTRY, EVAL, OFF, TRAIN, InstanceVal, Mode, ModelVal, Modes, _or_dep, modes_of
from .summaries import Summary
from .syntax import _CONTAINERS, _PURE_BUILTINS, _Attribute, _Call, _Constant, _Load, _Name
from .idioms import _assigned_values, _local_parts, _self_freezing, grad_of_name
from .unit import _Unit
from .interpreter import Interpreter

# tensor methods that return a tensor of their receiver (a value, not a submodule)
_TENSOR_METHODS = frozenset({"cuda", "cpu", "float", "double", "half", "long", "int", "unsqueeze", "squeeze",
                             "view", "reshape", "transpose", "permute", "expand", "contiguous", "clone",
                             "detach", "repeat", "t", "flatten", "type"})


class ClassFactsMixin:
    """Facts about model classes, for ``Project`` (see the module docstring)."""

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

    def class_family(self, ci: ClassInfo) -> List[ClassInfo]:
        """``ci``, the project's classes derived from it and every project base of those: the
        classes whose methods may run on an object of ``ci``'s hierarchy."""
        key = ("class_family", ci.qualname)
        got = self.memo.get(key)
        if got is None:
            got = [ci] + self.subclasses(ci)
            seen = {c.qualname for c in got}
            stack = list(got)
            while stack:
                c = stack.pop()
                for b in c.bases:
                    bc = self.lookup_class(b, c.module)
                    if bc is not None and bc.qualname not in seen:
                        seen.add(bc.qualname)
                        got.append(bc)
                        stack.append(bc)
            self.memo[key] = got
        return got

    def self_dependent(self, ci: ClassInfo) -> Optional[bool]:
        """Whether ``self`` may hold a layer that behaves differently in training: what its
        class holds, or what a subclass in the project adds."""
        dep = self.class_dependent(ci)
        for sub in self.subclasses(ci):
            if dep is not False:
                break
            dep = _or_dep(dep, self.class_dependent(sub))
        return dep

    def annotated_module(self, unit: Optional[_Unit], p: str) -> bool:
        """Parameter ``p`` of ``unit`` is annotated as a module (``nn.Module``, a module class
        of the project)."""
        if unit is None or unit.fn is None:
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

    def untaped_class(self, cls_q: str, depth: int = 0) -> bool:
        """The class (qualified name) is a module of a framework whose autograd records
        nothing outside its own gradient manager (``K.UNTAPED_FRAMEWORKS``: MegEngine), by its
        bases."""
        ci = self.class_by_qualname(cls_q)
        if ci is None or depth > 10:
            return False
        for b in ci.bases:
            if b.startswith(K.UNTAPED_FRAMEWORKS):
                return True
            bc = self.lookup_class(b, ci.module)
            if bc is not None and bc is not ci and self.untaped_class(bc.qualname, depth + 1):
                return True
        return False

    def is_torch_module(self, ci: ClassInfo, depth: int = 0) -> bool:
        if depth > 10 or (depth == 0 and self._other_framework(ci)):
            return False
        for b in ci.bases:
            last = b.rsplit(".", 1)[-1]
            if b in K.TORCH_MODULE_BASES or (b.startswith("torch.nn.") and last[:1].isupper()):
                return True
            if b.startswith(("lightning.", "pytorch_lightning.")) and last.endswith("Module"):
                return True
            bc = self.lookup_class(b, ci.module)
            if bc is not None and bc is not ci:
                if self.is_torch_module(bc, depth + 1):
                    return True
            elif last.endswith("PreTrainedModel") and not last.startswith(("TF", "Flax")):
                return True  # a Hugging Face model class (`BertPreTrainedModel`), not TensorFlow's or Flax's
        # a mixin that defines forward() is module code, whatever its bases say; not a class
        # that is called through its own __call__ (PyG's transforms: BaseTransform.__call__
        # runs self.forward(data)), nor one whose forward() takes no input (a data layer's
        # `forward(self)` that hands out the next minibatch). A class written with no base is
        # module code where a module class of the project derives from it (a mixin) or where
        # it makes weights (a hand-written model); else it is a plain object (no mode, no
        # parameters: a NumPy network's `forward`)
        fwd = ci.methods.get("forward")
        return depth == 0 and fwd is not None and not self._defines_call(ci) and (
            len(fwd.positional_params()) > 1 or fwd.node.args.vararg is not None) and (
            bool(ci.bases) or (_imports_torch(ci.module) and (bool(ci.node.bases) or self._makes_weights(ci) or any(
                self.is_torch_module(sub, 1) for sub in self.subclasses(ci)))))

    def _other_framework(self, ci: ClassInfo) -> bool:
        """A base of the class, or of a project class it derives from (up to ten levels, as
        ``is_torch_module`` looks), is another framework's (``tf.keras.Model``,
        ``flax.linen.Module``): a Keras or Flax model, no torch module. (Memoised per class.)"""
        memo = self.memo.setdefault("other_framework", {})
        got = memo.get(ci.qualname)
        if got is None:
            got = False
            level, seen = [ci], {ci.qualname}
            for _ in range(11):
                nxt = []
                for c in level:
                    for b in c.bases:
                        if b.startswith(K.OTHER_FRAMEWORK_PREFIXES):
                            got = True
                        bc = self.lookup_class(b, c.module)
                        if bc is not None and bc.qualname not in seen:
                            seen.add(bc.qualname)
                            nxt.append(bc)
                if got or not nxt:
                    break
                level = nxt
            memo[ci.qualname] = got
        return got

    def project_backward(self, c: ast.Call, recv=None) -> bool:
        """``obj.backward(...)`` that runs a method of the project named ``backward`` (a
        normalizing flow's inverse, a TensorFlow model's wrapper), not autograd's: the receiver
        is an instance of a project class defining it (``recv``: its value, when known), or
        the call passes two or more arguments by position, as such a method of the project
        takes them (``Tensor.backward`` is given its gradient alone)."""
        f = c.func
        if type(f) is not _Attribute or f.attr != "backward":
            return False
        arities = self.memo.get("backward_methods")
        if arities is None:
            arities = self.memo["backward_methods"] = {}
            for m in self.modules.values():
                for ci in m.classes.values():
                    fn = ci.methods.get("backward")
                    if fn is not None and not any(type(d) is _Name and d.id in ("staticmethod", "classmethod")
                                                  for d in fn.node.decorator_list):
                        arities[ci.qualname] = len(fn.positional_params()) - 1
        if not arities:
            return False
        classes = recv.classes() if isinstance(recv, ModelVal) else \
            frozenset((recv.cls,)) if type(recv) is InstanceVal else frozenset()
        if classes and all(self._defines_backward(q, arities) for q in classes):
            return True
        n = len(c.args)
        return n >= 2 and not any(type(a) is ast.Starred for a in c.args) and any(k >= n for k in arities.values())

    def _defines_backward(self, qualname: str, arities: Dict[str, int]) -> bool:
        """The project class ``qualname`` (or the base it inherits the method from) defines a
        plain ``backward`` method."""
        ci = self.class_by_qualname(qualname)
        bw = self.method_unit(ci, "backward") if ci is not None else None
        return bw is not None and bw.cls is not None and bw.cls.qualname in arities

    def _makes_weights(self, ci: ClassInfo) -> bool:
        """A method of the class makes weight tensors (``_weight_expr``: ``torch.zeros(n,
        requires_grad=True)``, ``nn.Parameter(...)``, ``.requires_grad_()``) or torch layers
        (``nn.Linear(...)``): a hand-written model whose forward records a graph, base or
        not. (Memoised: ``is_torch_module`` asks at every use of the class.)"""
        memo = self.memo.setdefault("makes_weights", {})
        got = memo.get(ci.qualname)
        if got is None:
            got = memo[ci.qualname] = any(
                self._weight_expr(n, ci.module, 0) or _torch_layer(ci.module.resolve(n.func) or "")
                for fn in ci.methods.values() for n in ast.walk(fn.node) if type(n) is _Call)
        return got

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
        return self.class_param_classes(unit, name) is not None

    def class_param_classes(self, unit: _Unit, name: str) -> Optional[List[ClassInfo]]:
        """The project module classes that say parameter ``name`` holds a module class (the
        ``X`` of its annotation ``Type[X]``, its default), possibly none (``Type[nn.Module]``);
        None when nothing says so."""
        ann = unit.fn.annotation_of(name)
        head = ann.value if isinstance(ann, ast.Subscript) else None
        last = head.attr if isinstance(head, ast.Attribute) else head.id if isinstance(head, ast.Name) else ""
        if last in ("Type", "type", "Callable"):  # Type[X], type[X], Callable[..., X]: X is what it builds
            sl = ann.slice
            ann = sl.elts[-1] if isinstance(sl, ast.Tuple) and sl.elts else sl
        else:
            ann = None  # an instance (`nn.Module`, `Optional[nn.Module]`): calling it predicts
        out: Optional[List[ClassInfo]] = None
        for expr in (ann, default_of(unit.fn.node, name)):
            if not isinstance(expr, (ast.Name, ast.Attribute)):
                continue
            q = unit.module.resolve(expr)
            ci = self.lookup_class(q, unit.module) if q else None
            if ci is not None and self.is_torch_module(ci):
                out = (out or []) + [ci]
            elif q in K.TORCH_MODULE_BASES:
                out = out or []
        return out

    def class_param_dependent(self, unit: _Unit, name: str) -> Optional[bool]:
        """The mode dependence of a model built from a module class handed in as parameter
        ``name`` (``network=TinyGPT``, then ``network()``): True when a class its annotation
        or default names holds a layer that behaves differently in training (a caller may
        pass another class: nothing says it has none); else unknown."""
        for ci in self.class_param_classes(unit, name) or []:
            if self.class_dependent(ci):
                return True
        return None

    def predicts_in_own_mode(self, callee: _Unit, p: str) -> bool:
        """``callee`` trains the model of parameter ``p`` and, where it predicts with it, may
        find it in a training mode it set itself (a training step or ``train()`` of its own,
        as a model's ``run_epoch`` that validates between steps): that prediction is
        reported inside ``callee``, which alone can fix it, not at its callers."""
        line = callee.summary.predicts.get(p)
        return any(ev.param == p and ev.node.lineno == line and ev.kind in ("call", "helper")
                   and any(m[0] == TRAIN for m in ev.modes) for ev in callee.events.values())

    def _layers_under_context(self, fwd: _Unit, node: ast.AST, cls_q: str) -> Optional[FrozenSet[str]]:
        """The grad state of the one grad context (``with torch.no_grad():``) of the
        definition ``node`` outside of which it calls no layer of the module (``self(x)``,
        ``self.netG(x)``); None when there is no such context."""
        body = _without_docstring(node.body)
        found = [(i, g) for i, g in ((i, self._context_grad(fwd, s)) for i, s in enumerate(body)) if g is not None]
        if len(found) != 1:
            return None
        selfname = node.args.args[0].arg if node.args.args else "self"
        for s in body[:found[0][0]] + body[found[0][0] + 1:]:
            for n in ast.walk(s):
                if type(n) is _Call and ((type(n.func) is _Name and n.func.id == selfname) or (
                        type(n.func) is _Attribute and type(n.func.value) is _Name and n.func.value.id == selfname
                        and self.is_submodule_attr(cls_q, n.func.attr))):
                    return None  # a layer runs outside the context
        return found[0][1]

    def frozen_attrs(self, ci: ClassInfo) -> Set[str]:
        """Attributes ``self.X`` whose every parameter the class's ``__init__`` freezes (a
        random target network: ``for p in self.target.parameters(): p.requires_grad = False``),
        or that every method of the class binding ``self.X`` to a model freezes there (a
        moving-average generator built and frozen by ``buildAvG()``)."""
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
            every: Dict[str, bool] = {}
            for name in ci.methods:
                mu = self.method_unit(ci, name)
                if mu is None or mu.cls is not ci or mu.fn is None or not mu.positional:
                    continue
                me = mu.positional[0]
                bound = {t.attr for targets, v in mu.assigns() if type(v) is not _Constant for t in targets
                         if type(t) is _Attribute and type(t.value) is _Name and t.value.id == me}
                if not bound:
                    continue
                paths = None if name == "__init__" else mu._frozen_paths(mu.calls, mu.assigns())
                for a in bound:
                    every[a] = every.get(a, True) and (a in got if paths is None else f"{me}.{a}" in paths)
            got.update(a for a, ok in every.items() if ok)
        return got

    def forward_stores(self, ci: ClassInfo) -> bool:
        """The class's ``forward`` (its own or a base's) assigns to the module's attributes
        (``self._losses["total"] = ...``): a pass keeps what it computes on the module."""
        key = ("forward_stores", ci.qualname)
        if key not in self.memo:
            fwd = self.method_unit(ci, "forward")
            me = fwd.positional[0] if fwd is not None and fwd.fn is not None and fwd.positional else None
            self.memo[key] = me is not None and any(
                type(t) is _Attribute and type(t.value) is _Name and t.value.id == me
                for n in fwd.nodes if type(n) in (_Attribute, ast.Subscript) and type(n.ctx) is ast.Store
                for t in [n.value if type(n) is ast.Subscript else n])
        return self.memo[key]

    def always_built_frozen(self, ci: ClassInfo) -> bool:
        """Every construction of ``ci`` in the project freezes its parameters (``builds_frozen``):
        its instances, wherever a helper hands them, record no graph of their own."""
        key = ("always_frozen", ci.qualname)
        if key not in self.memo:
            sites = self.construction_sites(ci)
            self.memo[key] = bool(sites) and all(self.builds_frozen(c, u.module) for u, c in sites)
        return self.memo[key]

    def builds_frozen(self, call: ast.Call, module: ModuleInfo) -> bool:
        """Whether ``call`` builds a module of the project whose ``__init__`` freezes every one
        of its parameters, always or under the argument it is given here (ignite's and the
        PyTorch examples' ``Vgg16(requires_grad=False)``: ``if not requires_grad: for p in
        self.parameters(): p.requires_grad = False``), or calls a project function whose every
        return hands back a model it froze (a loader's ``netG.requires_grad_(False); return
        netG``). An argument that is not a constant decides nothing: not frozen."""
        q = module.resolve(call.func)
        found = self.lookup(q, module) if q else None
        if isinstance(found, FunctionInfo):
            return found.cls is None and self.returns_frozen(found)
        ci = self.lookup_class(q, module)
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
            arg = default_of(init.fn.node, name)
        return type(arg) is _Constant and bool(arg.value) is when

    def returns_frozen(self, fn: FunctionInfo) -> bool:
        """Every ``return`` of ``fn`` hands back a local model its body froze."""
        key = ("returns_frozen", id(fn.node))
        got = self.memo.get(key)
        if got is None:
            self.memo[key] = False  # recursion guard
            unit = self.unit_by_node.get(id(fn.node))
            rets = [n.value for n in unit.nodes if type(n) is ast.Return] if unit is not None else []
            frozen = unit._frozen_models(unit.calls, unit.assigns()) if rets else set()
            got = self.memo[key] = bool(rets) and all(type(r) is _Name and r.id in frozen for r in rets)
        return got

    def forward_grad(self, v: ModelVal, c: Optional[ast.Call] = None) -> Optional[FrozenSet[str]]:
        """The grad state a model's own ``forward`` sets with a decorator (YOLOv5's AutoShape
        decorates it with ``@smart_inference_mode()``) or around every layer it runs (dinov2's
        feature extractors: ``with torch.inference_mode(): ...``; a wrapper's ``with
        torch.no_grad(): outputs = self.model(ids)`` before it copies the outputs), or None. For the call
        ``c``, ``forward`` specialised to the flags it passes (``model(data,
        mode="inference")`` whose branch runs the generator under ``torch.no_grad()``): a
        grad context that holds every call of the module's layers there."""
        ci = self.class_by_qualname(v.cls) if v.cls else None
        if ci is not None and self.parameter_free(ci):
            return frozenset({OFF})  # nothing in it requires grad: autograd records nothing of its pass
        if ci is not None and self.always_built_frozen(ci):
            return frozenset({OFF})  # every construction freezes its parameters (`Vgg19(requires_grad=False)`)
        fwd = self.method_unit(ci, "forward") if ci is not None else None
        if fwd is None:
            return None
        grad = self.decorator_grad(fwd)
        variant = self.forward_variant(v.cls, c) if grad is None and c is not None else None
        if variant is not None:
            return self._layers_under_context(fwd, variant, v.cls)
        if grad is None and fwd.fn is not None:  # every layer it runs inside one `with torch.no_grad():`
            grad = self._layers_under_context(fwd, fwd.fn.node, v.cls)
        if grad is None and fwd.fn is not None:  # `return self.sample(mels)`, a method that holds that context
            grad = self._delegated_grad(ci, fwd, v.cls)
        return grad

    def _delegated_grad(self, ci: ClassInfo, fwd: _Unit, cls_q: str, depth: int = 0) -> Optional[FrozenSet[str]]:
        """The grad state of a ``forward`` that runs no layer itself and hands the work to
        methods of its class, each of which holds every layer it runs in one grad context
        (a decorator or one ``with`` block): WaveGrad's ``forward`` returning ``self.sample(mels)``
        whose body is one ``with torch.no_grad():``; None otherwise."""
        node = fwd.fn.node
        selfname = node.args.args[0].arg if node.args.args else "self"
        states = set()
        for n in ast.walk(node):
            if type(n) is not _Call:
                continue
            f = n.func
            if type(f) is _Name and f.id == selfname:
                return None  # `self(x)`: its own forward again
            if type(f) is not _Attribute or type(f.value) is not _Name or f.value.id != selfname:
                continue
            if self.is_submodule_attr(cls_q, f.attr):
                return None  # a layer runs here, outside any method's context
            m = self.method_unit(ci, f.attr)
            if m is None or m.fn is None or m is fwd:
                continue  # a library method of the module (`self.parameters()`) or no method at all
            g = self.decorator_grad(m) or self._layers_under_context(m, m.fn.node, cls_q)
            if g is None and depth < 2:
                g = self._delegated_grad(ci, m, cls_q, depth + 1)
            if g is None:
                mine = m.fn.node.args.args[0].arg if m.fn.node.args.args else "self"
                if any(type(c) is _Call and (type(c.func) is _Name and c.func.id == mine or type(c.func) is _Attribute
                                             and type(c.func.value) is _Name and c.func.value.id == mine)
                       for c in ast.walk(m.fn.node)):
                    return None  # it may run a layer outside any context
                continue  # a helper that calls nothing of the module (a check) sets nothing
            states |= g
        return frozenset(states) if len(states) == 1 else None

    def static_grad(self, u: _Unit, node: ast.AST) -> FrozenSet[str]:
        """The grad state at ``node`` of a body that is never interpreted (an inert method),
        from its syntax: the innermost ``with`` grad context around it, else the decorator's,
        else the caller's (``ENTRY``)."""
        parents = u.parents()
        cur = parents.get(id(node))
        while cur is not None and cur is not u.node:
            g = self._context_grad(u, cur)
            if g is not None:
                return g
            cur = parents.get(id(cur))
        return self.decorator_grad(u) or frozenset({ENTRY})

    def _context_grad(self, fwd: _Unit, stmt: ast.AST) -> Optional[FrozenSet[str]]:
        """The grad state ``stmt``, a statement of ``fwd``, sets when it is a ``with`` block
        of a grad context (``with torch.no_grad():``); None otherwise."""
        if type(stmt) is not ast.With:
            return None
        for item in stmt.items:
            e = item.context_expr
            g = grad_of_name(fwd.module.resolve(e.func), self.knowledge.no_grad_decorators) if type(e) is _Call else None
            if g is not None:
                return g
        return None

    _ATTACHING = frozenset({"register_parameter", "add_module", "register_module", "__dict__", "_modules",
                            "_parameters", "__setattr__"})

    def built_without_parameters(self, ci: ClassInfo, call: ast.Call, module: ModuleInfo) -> bool:
        """``call`` builds a module of the project that holds no parameter: its bases hold
        none, only its ``__init__`` sets attributes of ``self``, each to a constant or to one
        of its parameters, and this call passes those a function (a lambda, a function of the
        project, ``F.mse_loss``) or a constant (a loss wrapper: ``self.loss_fn = fn``)."""
        init = ci.methods.get("__init__")
        if init is None or has_star_args(call) or not self._bases_parameter_free(ci):
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
            arg = default_of(init.node, value.id)
        if arg is None or type(arg) is ast.Lambda or type(arg) is _Constant:
            return arg is not None
        if type(arg) in (_Name, _Attribute):
            q = module.resolve(arg)
            if q and q.startswith("torch.nn.functional."):
                return True
            return isinstance(self.lookup(q, module) if q else None, FunctionInfo)
        return False

    def weightless_class(self, cls_q: str) -> bool:
        """The project module class ``cls_q`` can hold no parameter (``parameter_free``): a
        call of it in a training step is part of that step (a loss reading
        ``self.training``), not a frozen model conditioning it."""
        ci = self.class_by_qualname(cls_q)
        return ci is not None and self.parameter_free(ci)

    def parameter_free(self, ci: ClassInfo, depth: int = 0) -> bool:
        """A module of the project that can hold no parameter: its bases are ``nn.Module`` or
        such modules, nothing is attached to it but buffers (``register_buffer``; no
        ``add_module``, ``setattr`` or ``_modules``: taming-transformers' index permuters),
        and each attribute its methods assign is a plain value: a constant, a size, a
        threshold, a tensor made without grad, that none of them runs as a submodule
        (``self.threshold = threshold`` in a metric), or a torch loss or activation layer
        built there (``self.criterion = nn.KLDivLoss()`` in a label-smoothing loss). An ``nn.Parameter``, a layer with
        weights, a project module or anything the analysis cannot see is not plain."""
        got = self._param_free.get(ci.qualname)
        if got is not None:
            return got
        self._param_free[ci.qualname] = False  # recursion guard
        free = depth <= 10 and self._bases_parameter_free(ci, depth)
        run = self._run_attrs(ci) if free else set()
        for fn in ci.methods.values() if free else ():
            selfname = (fn.positional_params() or [""])[0]
            covered: Set[int] = set()  # attribute targets of assignments judged by their value
            for n in self.scope_nodes(fn.node):
                t = type(n)
                if t in (ast.Assign, ast.AugAssign, ast.AnnAssign) and n.value is not None:
                    mine = [x for tg in (n.targets if t is ast.Assign else [n.target]) for x in ast.walk(tg)
                            if type(x) is _Attribute and type(x.value) is _Name and x.value.id == selfname]
                    ran = any(x.attr in run for x in mine)
                    if mine and (any(x.attr in self._ATTACHING for x in mine)
                                 or not self._plain_value(n.value, fn, ci.module)
                                 or ran and not (self._plain_layer(n.value, ci.module, fn)
                                                 or self._free_module_call(n.value, ci.module, depth))):
                        free = False
                    covered.update(id(x) for x in mine)
                elif t is ast.Attribute and type(n.value) is _Name and n.value.id == selfname and \
                        (type(n.ctx) is not _Load and id(n) not in covered or n.attr in self._ATTACHING):
                    free = False  # `for self.x in ...`, self.add_module(...), self._modules[...]
                elif t is _Call and type(n.func) is _Name and n.func.id == "setattr":
                    free = False
                if not free:
                    break
            if not free:
                break
        self._param_free[ci.qualname] = free
        return free

    _PLAIN_BUILTINS = _PURE_BUILTINS | {"dict", "set", "sum"}

    @staticmethod
    def _plain_layer(e: ast.AST, module: ModuleInfo, fn: Optional[FunctionInfo] = None, depth: int = 0) -> bool:
        """``e`` builds a torch layer (a loss, an activation) right there, is a number
        (``1.0 - smoothing``) or a tensor: a torch or NumPy function's result, or a tensor
        method's on one, on an attribute of the object (whose own assignments are judged) or
        on a local made of those (``Variable(grid, requires_grad=False)``,
        ``self.grid_X.cuda()``, ``np.meshgrid(...)``; not ``net.cuda()`` of a module handed
        in): what a method of the class may run, or hand to a call, without it being a
        submodule with weights (checked by ``_plain_value``)."""
        if type(e) in (_Constant, ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.JoinedStr):
            return True
        if type(e) is not _Call or depth > 6:
            return False
        f = e.func
        q = module.resolve(f) or ""
        if q.startswith("torch.nn."):
            return True
        if q.startswith(("torch.", "numpy.")) or q.startswith(K.PARAMETER_FREE_LIBRARY_PREFIXES):
            return True  # a tensor, an array, a library's feature transform
        if type(f) is not _Attribute or f.attr not in _TENSOR_METHODS:
            return False
        base = f.value
        while True:  # down a chain of tensor methods and indexing: `P_X.unsqueeze(2)[..., 0].cuda()`
            if type(base) is _Call and type(base.func) is _Attribute and base.func.attr in _TENSOR_METHODS:
                base = base.func.value
            elif type(base) is ast.Subscript:
                base = base.value
            else:
                break
        if type(base) is _Call:
            return ClassFactsMixin._plain_layer(base, module, fn, depth + 1)
        if type(base) is _Attribute:  # `self.grid_X.cuda()`: the attribute's assignments are judged too
            return fn is not None and type(base.value) is _Name and base.value.id == (fn.positional_params() or [""])[0]
        if type(base) is _Name and fn is not None and base.id not in fn.param_names():
            parts = _assigned_values(fn, base.id)  # a local made of tensors
            return bool(parts) and all(ClassFactsMixin._plain_layer(x, module, fn, depth + 1) for x in parts)
        return False

    def _plain_value(self, e: ast.AST, fn: FunctionInfo, module: ModuleInfo, depth: int = 0) -> bool:
        """``e`` holds no parameter and no module with one (see ``parameter_free``)."""
        if depth > 6:
            return False
        for n in ast.walk(e):
            t = type(n)
            if t is ast.Lambda:
                return False
            if t is _Name and type(n.ctx) is _Load and n.id not in fn.param_names():
                parts = _local_parts(fn, n.id)  # a local: what it was made of
                if parts and not all(self._plain_value(x, fn, module, depth + 1) for x in parts):
                    return False
            if t is not _Call:
                continue
            if any(k.arg == "requires_grad" and not (type(k.value) is _Constant and k.value.value is False)
                   for k in n.keywords):
                return False  # (`Variable(grid, requires_grad=False)` is a plain tensor)
            f = n.func
            if type(f) is _Name and f.id in self._PLAIN_BUILTINS and module.resolve(f) is None:
                continue
            q = module.resolve(f) or ""
            if _torch_layer(q):
                last = q[9:]
                if last.startswith(K.PARAMETER_LAYER_PREFIXES) or "Norm" in last or last.startswith(
                        ("Parameter", "Embedding", "Lazy")):
                    return False
                continue  # a loss or an activation layer
            if q.startswith("torch.") and not q.startswith("torch.nn."):
                continue  # a tensor made without grad, a size
            if q.startswith(("numpy.", "math.")):
                continue  # an array, a number (`np.meshgrid(...)` of a grid generator)
            if q.startswith(K.PARAMETER_FREE_LIBRARY_PREFIXES):
                continue  # a feature transform (torchaudio's `MelSpectrogram(**kwargs)`): buffers only
            if type(f) is _Attribute and not q:
                continue  # a method of a value (`x.float()`, `cfg.get("t", 0.5)`): checked through its receiver
            if self._free_module_call(n, module, depth):
                continue  # a project module that can hold no parameter (a label-smoothing loss inside a mixup loss)
            return False
        return True

    def _free_module_call(self, e: ast.AST, module: ModuleInfo, depth: int = 0) -> bool:
        """``e`` builds a module of the project that can hold no parameter (``parameter_free``)."""
        if type(e) is not _Call or depth > 6:
            return False
        q = module.resolve(e.func)
        sub = self.lookup_class(q, module) if q else None
        return sub is not None and self.is_torch_module(sub) and self.parameter_free(sub, depth + 1)

    def _bases_parameter_free(self, ci: ClassInfo, depth: int = 0) -> bool:
        """Every base of the class is ``nn.Module`` or a module of the project that can hold
        no parameter."""
        for b in ci.bases:
            if b in K.TORCH_MODULE_BASES and b.rsplit(".", 1)[-1] == "Module":
                continue
            bc = self.lookup_class(b, ci.module)
            if bc is None or bc is ci or not self.parameter_free(bc, depth + 1):
                return False
        return True

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

    def stored_factory(self, attr: str, path: str, line: int) -> Optional[ModelVal]:
        """``config.network_fn()`` on an object the analysis does not follow: what every
        assignment ``<anything>.network_fn = ...`` in the project stores there (a field-based
        view of attributes, as call-graph builders for dynamic languages take). When each
        one stores a factory of a project module (``lambda: VanillaNet(...)``, the class
        itself, ``functools.partial(Net, ...)``; ``None`` as a placeholder), calling it
        builds that module, in training mode; anything else stored there, or a project
        method of that name, and nothing is known."""
        index = self.memo.get("attr_stores")
        if index is None:
            index = self.memo["attr_stores"] = {}
            for m in self.modules.values():
                for n in m.nodes:
                    if type(n) is ast.Assign:
                        for t in n.targets:
                            if type(t) is _Attribute:
                                index.setdefault(t.attr, []).append((m, n.value))
                    elif type(n) is ast.AnnAssign and type(n.target) is _Attribute and n.value is not None:
                        index.setdefault(n.target.attr, []).append((m, n.value))
        stores = index.get(attr)
        if not stores or self.defines_method(attr):
            return None
        deps: Set[Optional[bool]] = set()
        names: List[str] = []
        for m, v in stores:
            if type(v) is _Constant and v.value is None:
                continue
            ci = self._factory_class(m, v)
            if ci is None:
                return None
            deps.add(self.class_dependent(ci))
            if ci.name not in names:
                names.append(ci.name)
        if not names:
            return None
        # the factory in force is one of them: a layer that trains differently is evidence
        # only where every one of them has it (DeepRL's configurations build a dozen networks)
        dep = deps.pop() if len(deps) == 1 else None
        built = " or ".join(f"`{n}`" for n in names[:3]) + (" or others" if len(names) > 3 else "")
        return ModelVal(modes_of(TRAIN, f"built by `.{attr}()` at {line_ref(path, line)}, a factory of {built} (a new "
                                        "module starts in training mode)", line), dep, attr)

    def _factory_class(self, m: ModuleInfo, v: ast.AST) -> Optional[ClassInfo]:
        """The project module class a stored factory builds: ``lambda: Net(...)``, ``Net``,
        ``functools.partial(Net, ...)``."""
        if type(v) is ast.Lambda:
            v = v.body
            if type(v) is not _Call:
                return None
            v = v.func
        elif type(v) is _Call and m.resolve(v.func) == "functools.partial" and v.args:
            v = v.args[0]
        if type(v) not in (_Name, _Attribute):
            return None
        q = m.resolve(v)
        ci = self.lookup_class(q, m) if q else None
        return ci if ci is not None and self.is_torch_module(ci) and not self.parameter_free(ci) else None

    def differentiable_sample(self, module: ModuleInfo) -> bool:
        """``module`` or a project module it imports subclasses a ``torch.distributions``
        class and overrides ``sample`` (DrQ-v2's ``TruncatedNormal.sample``: ``loc +
        clamp(noise)``, differentiable in ``loc``): there ``dist.sample()`` may carry a
        gradient, so it does not cut the taint from the model's output to a loss (an actor
        update is training)."""
        memo = self.memo.setdefault("differentiable_sample", {})
        got = memo.get(module.modname)
        if got is None:
            mods = [module] + [self.imported_module(q, module)
                               for q in module.imports.values()]
            got = memo[module.modname] = any(
                "sample" in c.methods and self._distribution_class(c)
                for m in mods if m is not None for c in m.classes.values())
        return got

    def _distribution_class(self, ci: ClassInfo) -> bool:
        return self.has_library_base(ci, lambda b: b.startswith("torch.distributions."))

    def has_library_base(self, ci: ClassInfo, accept: Callable[[str], bool], depth: int = 0) -> bool:
        """A base of ``ci``, or of one of its project bases, is a class ``accept`` takes
        (by its resolved name: a ``torch.distributions`` class, ``enum.Enum``)."""
        for b in ci.bases:
            if accept(b):
                return True
            base = self.class_by_qualname(b)
            if base is not None and depth < 8 and self.has_library_base(base, accept, depth + 1):
                return True
        return False

    def defines_method(self, name: str) -> bool:
        """Some project class defines a method by that name."""
        got = self.memo.get("method_names")
        if got is None:
            got = self.memo["method_names"] = {fn for m in self.modules.values() for c in m.classes.values()
                                               for fn in c.methods}
        return name in got


def _without_docstring(body: List[ast.stmt]) -> List[ast.stmt]:
    return body[1:] if body and type(body[0]) is ast.Expr and type(body[0].value) is _Constant else body


def _torch_layer(q: str) -> bool:
    """``q`` names a ``torch.nn`` class (``torch.nn.Linear``)."""
    return q.startswith("torch.nn.") and q.count(".") == 2 and q[9:10].isupper()


def _imports_torch(module: ModuleInfo) -> bool:
    """The file imports torch (or something from it), also through a star import."""
    got = module.memo.get("imports_torch")
    if got is None:
        got = module.memo["imports_torch"] = any(q == "torch" or q.startswith("torch.") for q in (
            *module.imports.values(), *module.star_names.values())) or bool(module.star_bases)
    return got

