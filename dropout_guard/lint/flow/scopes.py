"""Globals, closures and attributes as entry-relative paths: ``ScopesMixin``.

Which globals a module switches and a unit reads, the environment of globals, parameter
values (defaults, annotations), and the closure, global and attribute paths that a unit's
summary reports like parameters, with the models and state on them.
"""
from __future__ import annotations

import ast
from collections import Counter
from typing import Dict, List, Optional, Set, Tuple

from .. import knowledge as K
from ..semantic import ClassInfo, FunctionInfo, ModuleInfo, default_of
from .values import ENTRY, UNKNOWN, InstanceVal, ListVal, ModelVal, _or_dep, kinds, modes_of
from .summaries import entry_path
from .syntax import _MODE_METHODS, _Attribute, _Call, _Load, _Name, path_of
from .taint import _TaintWalker
from .unit import _Unit


_MAX_CANDIDATES = 32  # methods by one name that a call through an unresolved receiver is followed into


class ScopesMixin:
    """Globals, closures and attributes as paths, for ``Project`` (see the module docstring)."""

    def switched_globals_of_module(self, module: ModuleInfo) -> Set[str]:
        got = self._switched_globals.get(module.path)
        if got is None:
            got = set()
            for u in self.units_by_path.get(module.path, ()):
                if u.fn is None:
                    continue
                for n in u.nodes:
                    if type(n) is ast.Global:
                        got |= set(n.names)
                got |= self.switched_globals(u)
            self._switched_globals[module.path] = got
        return got

    def reads_globals(self, unit: _Unit) -> Set[str]:
        """The names ``unit`` reads and never binds (memoised: closures and module-level models
        ask at every run and call)."""
        got = self._reads_globals.get(unit.id)
        if got is None:
            local = self.local_names(unit)
            got = self._reads_globals[unit.id] = {n.id for n in unit.nodes if type(n) is _Name and n.id not in local}
        return got

    def switched_globals(self, unit: _Unit) -> Set[str]:
        if unit.fn is None:
            return set()
        got = self._switched_cache.get(unit.id)
        if got is None:
            local = self.local_names(unit)
            got = set()
            for n in unit.calls:
                f = n.func
                if type(f) is _Attribute and f.attr in _MODE_METHODS and type(f.value) is _Name \
                        and f.value.id not in local:
                    got.add(f.value.id)
            self._switched_cache[unit.id] = got
        return got

    def switched_at_top(self, module: ModuleInfo) -> Set[str]:
        """Module-level names the module's top-level code switches (``model.eval()``)."""
        memo = self.memo.setdefault("switched_at_top", {})
        got = memo.get(module.path)
        if got is None:
            body = self.body_unit.get(module.path)
            got = memo[module.path] = {n.func.value.id for n in (body.calls if body is not None else ())
                                       if type(n.func) is _Attribute and n.func.attr in _MODE_METHODS
                                       and type(n.func.value) is _Name}
        return got

    def unread_globals(self, body: _Unit) -> Set[str]:
        """The names a module's top-level code binds that none of its functions reads (a
        rollout's ``log_probs = []`` in a notebook): plain locals of a script, as far as
        where a value stored in them can go. (Another module importing one is not followed:
        a script's lists are rarely imported.)"""
        memo = self.memo.setdefault("unread_globals", {})
        got = memo.get(body.path)
        if got is None:  # syntactic: once per module, though its body is walked again each round
            read: Set[str] = set()
            for u in self.units_by_path.get(body.path, ()):
                if u.fn is not None:
                    read |= self.reads_globals(u)
            got = memo[body.path] = set(body.module.stored) - read
        return got

    def global_env(self, module: ModuleInfo) -> Dict[str, object]:
        return self._global_env.get(module.path, {})

    def param_value(self, unit: _Unit, p: str, line: int) -> Optional[ModelVal]:
        default = default_of(unit.fn.node, p)
        if isinstance(default, ast.Constant) and default.value is not None:
            return None
        if isinstance(default, (ast.Name, ast.Attribute, ast.Lambda)) and not isinstance(
                self.lookup(unit.module.resolve(default) or "", unit.module), type(None)):
            return None  # a function or class as default: a callback, not a model
        if isinstance(default, ast.Lambda):
            return None
        if unit.fn.node.args.vararg is not None and unit.fn.node.args.vararg.arg == p:
            return None
        ann = unit.fn.annotation_of(p)
        dep, cls_q, label = None, None, p
        if ann is not None:
            q = unit.module.resolve(ann)
            if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
                try:
                    q = unit.module.resolve(ast.parse(ann.value, mode="eval").body)
                except SyntaxError:
                    q = None
            ci = self.lookup_class(q, unit.module) if q else None
            if ci is not None:
                if not self.is_torch_module(ci):
                    return None
                dep, cls_q = self.class_dependent(ci), ci.qualname
            elif q in ("torch.nn.Module", "torch.nn.modules.module.Module"):
                pass
            elif q is not None or isinstance(ann, (ast.Subscript, ast.Constant, ast.BinOp)):
                return None
            elif isinstance(ann, ast.Name) and ann.id in ("int", "float", "str", "bool", "bytes", "dict", "list"):
                return None
        return ModelVal(modes_of(ENTRY, f"passed in as `{p}`", line), dep, label, cls=cls_q, param=p)

    def path_gets_model(self, unit: _Unit, path: str, depth: int = 0) -> bool:
        """A model reaches ``path`` of ``unit`` from outside it: a parameter its call sites
        pass a model (``param_gets_model``); for a nested function, a name of the enclosing
        function that holds a model made there or reaching it the same way (``cv2_demo(net)``
        defining ``predict(frame)`` that runs ``net``); a module-level model; in a method of a
        class that is no module, a model its ``__init__`` keeps on ``self`` (``attr_models``:
        a trainer's ``self.model``, from its constructor's call sites)."""
        if depth > 8:
            return False
        if path in unit.params:
            return (unit.id, path) in self.param_gets_model
        root = path.split(".", 1)[0]
        if unit.is_method and unit.positional and root == unit.positional[0] and path.count(".") == 1 \
                and unit.cls is not None:
            return path.split(".", 1)[1] in self.attr_models(unit.cls)  # `self.model` kept by __init__
        outer = self.enclosing_unit(unit)
        if outer is not None and root in self.local_names(outer):
            if outer.is_method and outer.positional and root == outer.positional[0]:
                return False  # the receiver of the enclosing method: the module's own code runs it
            v = outer.final_env.get(root)
            if not isinstance(v, ModelVal):
                return False
            return v.param is None or self.path_gets_model(outer, v.param, depth + 1)
        if unit.fn is not None and root not in self.local_names(unit):
            return isinstance(self.global_env(unit.module).get(root), ModelVal)
        return False

    def closure_paths(self, unit: _Unit, line: int) -> Dict[str, ModelVal]:
        """For a nested function: the models of the enclosing function that it reads (free
        names bound there). Each enters as its caller leaves it (``ENTRY``, ``param=<name>``):
        its summary says what it predicts, trains and leaves the model in, and each call in
        the enclosing function applies that to the model there, as for a parameter (``main()``
        builds the model and defines ``evaluate()``, which switches it to eval)."""
        outer = self.enclosing_unit(unit)
        if outer is None:
            return {}
        self.attr_deps.setdefault(outer.id, set()).add(unit.id)  # re-run when what the enclosing function holds changes
        bound = self.local_names(outer) | set(outer.params)
        out: Dict[str, ModelVal] = {}
        for name in sorted(self.reads_globals(unit) & bound):
            v = outer.final_env.get(name)
            if isinstance(v, ModelVal):
                out[name] = entry_path(v, name, line)
        return out

    def global_paths(self, unit: _Unit, line: int) -> Dict[str, ModelVal]:
        """For a function: the module-level models that some function of its module switches
        (``net.eval()`` in ``test()``) and that it reads. Each enters as its caller leaves it
        (``ENTRY``, ``param=<name>``), so the function's summary says what it does to the
        model (``globals_exit``, ``predicts``, ``trains``), applied where it is called, as
        for a parameter. (Was: such a model was unknown in every function.)"""
        if unit.fn is None:
            return {}
        switched = self.switched_globals_of_module(unit.module)
        top = self.switched_at_top(unit.module) - switched
        if top & self.reads_globals(unit) and unit.id not in self.value_refs and self.static_callers().get(unit.id):
            # a function the module calls by name reads a model its top-level code switches
            # (a notebook's epoch loop: `model.train()` ... `model.eval()`, each phase calling
            # the same `calc_loss()`): each call applies it to the model as it is there
            switched = switched | top
        if not switched:
            return {}
        out: Dict[str, ModelVal] = {}
        genv = self.global_env(unit.module)
        reads = self.reads_globals(unit)
        wanted = switched & reads
        aliases = {a: b for a, b in self.global_aliases(unit.module).items() if a in reads}
        wanted |= {b for a, b in aliases.items() if a in switched or b in switched}
        for g in sorted(wanted):  # read, never bound here
            v = genv.get(g)
            if isinstance(v, ModelVal):
                out[g] = entry_path(v, g, line)
        for a, b in aliases.items():
            if b in out:  # `parallel_model` runs what `model` holds, as the caller leaves it
                out[a] = out[b]
        return out

    def attr_paths(self, unit: _Unit, selfname: str, line: int) -> Dict[str, ModelVal]:
        """For a method of a class that is no module: the models ``__init__`` keeps on
        ``self`` that some other method switches (``self.net.eval()`` in ``validate``), as
        access paths from the receiver. Each enters the method as its caller leaves it
        (``ENTRY``, ``param="self.net"``), so the method's summary says what it does to
        ``self.net`` as it does for a parameter, and a call ``self.validate()`` applies it to
        the caller's ``self.net``. A method nothing calls starts from that entry too: what it
        predicts in entry mode is its callers' business, as for a parameter."""
        if unit.fn is None or unit.fn.name == "__init__":
            return {}  # `__init__` makes them (as ``attr_path_names`` says)
        ci = unit.cls
        out: Dict[str, ModelVal] = {}
        init = self.method_unit(ci, "__init__")
        if init is not None:
            self.attr_deps.setdefault(init.id, set()).add(unit.id)  # re-run when __init__'s facts change
        models = self.attr_models(ci)
        for src, _env, _ret in self.memo["attr_model_sources"].get(ci.qualname, ()):
            if src is not unit:  # re-run when a base's __init__, an override or a builder changes
                self.attr_deps.setdefault(src.id, set()).add(unit.id)
        for attr, v in models.items():
            path = f"{selfname}.{attr}"
            out[path] = entry_path(v, path, line)
        for attr, same in self.attr_aliases(ci).items():  # `self.runner = nn.DataParallel(self.net)`
            out[f"{selfname}.{attr}"] = out[f"{selfname}.{same}"]
        return out

    def attr_path_names(self, unit: _Unit) -> List[str]:
        """The access paths ``attr_paths`` gives ``unit`` (none for functions and module methods)."""
        if not unit.is_method or unit.is_module_method or unit.cls is None or unit.is_classmethod \
                or unit.fn is None or unit.fn.name == "__init__":
            return []
        selfname = unit.positional[0]
        return [f"{selfname}.{attr}" for attr in self.attr_models(unit.cls)]

    def attr_models(self, ci: ClassInfo) -> Dict[str, ModelVal]:
        """attr -> the model ``__init__`` leaves in ``self.attr``, for the attributes some other
        method switches and none rebinds; or, for one that a single other method binds, the
        model that method builds there (tabnet's ``_set_network()``: ``self.network =
        TabNet(...)``, which ``fit()`` calls before the methods that run it)."""
        got = self._attr_models.get(ci.qualname)
        read = self.memo.setdefault("attr_model_sources", {}).get(ci.qualname)
        if got is not None and read and any(s.final_env is not env or s.summary.returns != ret for s, env, ret in read):
            got = None  # a base class's __init__ or an overriding method it read has run again since
        if got is None:
            got = {}
            init = self.method_unit(ci, "__init__")
            sources: List[_Unit] = []  # the base inits and overriding methods read
            if init is not None and not self.is_torch_module(ci):
                switched = self.switched_attrs(ci) - self.assigned_attrs(ci)
                for unit in [init] + self._base_inits(init):
                    selfname = unit.positional[0] if unit.positional else "self"
                    for k, v in unit.final_env.items():
                        attr = k.split(".", 1)[1] if k.startswith(selfname + ".") and k.count(".") == 1 else ""
                        if attr in switched and attr not in got:
                            v = self.constructor_model(unit, v)
                            if isinstance(v, ModelVal) and ENTRY not in kinds(v.modes):
                                got[attr] = v
                    if unit is not init:
                        sources.append(unit)
                        got.update({a: v for a, v in self._built_by_overrides(ci, unit, sources).items()
                                    if a in switched and a not in got})
            if not self.is_torch_module(ci):
                switched = self.switched_attrs(ci)
                for attr, builder in self._attr_builders(ci).items():
                    if attr in got or attr not in switched:
                        continue
                    sources.append(builder)
                    v = builder.final_env.get(f"{builder.positional[0]}.{attr}")
                    if isinstance(v, ModelVal) and v.param is None and ENTRY not in kinds(v.modes):
                        got[attr] = v
            self.memo["attr_model_sources"][ci.qualname] = [(x, x.final_env, x.summary.returns) for x in sources]
            self._attr_models[ci.qualname] = got
        return got

    def _attr_builders(self, ci: ClassInfo) -> Dict[str, _Unit]:
        """attr -> the one method of ``ci`` other than ``__init__`` that binds ``self.attr``
        (where only one does)."""
        key = ("attr_builders", ci.qualname)
        got = self.memo.get(key)
        if got is None:
            seen: Dict[str, List[_Unit]] = {}
            for name in ci.methods:
                unit = self.method_unit(ci, name) if name != "__init__" else None
                if unit is None or unit.fn is None or not unit.positional or unit.is_classmethod:
                    continue
                me = unit.positional[0]
                for n in unit.nodes:
                    if type(n) is ast.Assign:
                        for t in n.targets:
                            if type(t) is _Attribute and type(t.value) is _Name and t.value.id == me:
                                seen.setdefault(t.attr, []).append(unit)
            got = self.memo[key] = {a: us[0] for a, us in seen.items() if len(set(us)) == 1}
        return got

    def _built_by_overrides(self, ci: ClassInfo, base_init: _Unit, sources: List[_Unit]) -> Dict[str, ModelVal]:
        """attr -> the model a base class's ``__init__`` keeps at ``self.attr`` from a method
        that ``ci`` overrides (``self.model = self._build_model().to(device)``, where the
        experiment subclass defines ``_build_model()``): what ``ci``'s method returns."""
        out: Dict[str, ModelVal] = {}
        selfname = base_init.positional[0] if base_init.positional else "self"
        for n in base_init.nodes:
            if type(n) is not ast.Assign or len(n.targets) != 1:
                continue
            t, e = n.targets[0], n.value
            if not (type(t) is _Attribute and type(t.value) is _Name and t.value.id == selfname):
                continue
            while type(e) is _Call and type(e.func) is _Attribute and e.func.attr in K.SAME_MODEL_METHODS:
                e = e.func.value  # `.to(device)`, `.float()`: the same model
            if not (type(e) is _Call and type(e.func) is _Attribute and type(e.func.value) is _Name
                    and e.func.value.id == selfname):
                continue
            method = self.method_unit(ci, e.func.attr)
            if method is None or method.cls is base_init.cls:
                continue
            sources.append(method)
            r = method.summary.returns
            if isinstance(r, ModelVal) and ENTRY not in kinds(r.modes):
                out[t.attr] = r
        return out

    def _base_inits(self, init: _Unit) -> List[_Unit]:
        """The ``__init__`` of the base classes of the project that ``init`` runs through
        ``super().__init__(...)`` (or ``Base.__init__(self, ...)``): the attributes they build
        (an experiment class's ``self.model``) are the subclass's too."""
        if init.cls is None or init.fn is None or not any(
                type(c.func) is _Attribute and c.func.attr == "__init__" for c in init.calls):
            return []
        out = []
        for b in init.cls.bases:
            bc = self.lookup_class(b, init.cls.module)
            base_init = self.method_unit(bc, "__init__") if bc is not None else None
            if base_init is not None and base_init is not init:
                out.append(base_init)
        return out

    def note_unresolved(self, c: ast.Call, caller: _Unit) -> None:
        """``exp.test(setting)`` on a receiver the call graph cannot resolve: any method by that
        name may run there. The interpreter later tells the grad state at the call, or
        resolves it from the receiver's value (``note_unresolved_visit``)."""
        name = c.func.attr  # type: ignore[attr-defined]
        self.unresolved_calls.add(name)
        n = -1 if c.keywords or any(type(a) is ast.Starred for a in c.args) else len(c.args)
        self.unresolved_arity.setdefault(name, set()).add(n)
        self.unresolved_sites.setdefault(id(c), [name, n, caller.id, None, False])

    def note_unresolved_visit(self, c: ast.Call, grad, resolved: bool) -> None:
        """The interpreter reached statically unresolved call ``c`` with grad state ``grad``;
        ``resolved``: the receiver's value named the method there (its edge is recorded)."""
        site = self.unresolved_sites.get(id(c))
        if site is None:
            return
        if resolved:
            site[4] = True
        else:
            site[3] = grad if site[3] is None else site[3] | grad

    def unresolved_callers(self, u: _Unit):
        """The calls through unresolved receivers that may run method ``u``, as (caller id,
        grad at the call); None when one of them was never interpreted (its state unknown)."""
        if len(self.methods_named(u.fn.name)) > _MAX_CANDIDATES:
            return None  # `layer.forward(x)` somewhere: too many methods by that name to follow each call
        by_name = self.memo.get("sites_by_name")
        if by_name is None:  # built once every site is known (the entry-grad solve)
            by_name = self.memo["sites_by_name"] = {}
            for site in self.unresolved_sites.values():
                by_name.setdefault(site[0], []).append(site)
        out = []
        for _name, n, caller, grad, resolved in by_name.get(u.fn.name, ()):
            if resolved or not self.arity_fits(u, {n}) or not self.may_run_on(self.units[caller].module, u):
                continue
            if grad is None:
                return None
            out.append((caller, grad))
        return out

    def unresolved_candidates_of(self, cid: int) -> List[_Unit]:
        """The project methods a statically unresolved call ``obj.m(...)`` (by its id) may
        run: every method named ``m`` that takes as many arguments as it passes; none where
        the project has more than a few by that name (`forward`, `update`: the call says too
        little about which one runs)."""
        site = self.unresolved_sites.get(cid)
        if site is None:
            return []
        named = self.methods_named(site[0])
        if len(named) > _MAX_CANDIDATES:
            return []
        if site[0] == "sample":  # `dist.sample()`, followed only into distributions (see differentiable_sample)
            named = [u for u in named if self._distribution_class(u.cls)]
        caller = self.units[site[2]].module
        return [u for u in named if self.arity_fits(u, {site[1]}) and self.may_run_on(caller, u)]

    def may_run_on(self, caller: ModuleInfo, method: _Unit) -> bool:
        """Method ``method`` may run on an object that code in ``caller`` holds. When the
        project builds every class that has the method (its class and the subclasses that
        inherit it) by name, an object of theirs comes from a module that imports their
        module, so it reaches ``caller`` only where some module is, or imports, both
        (``may_meet``): two scripts of one collection, analysed together because each
        spells a module name the other's folder has (``from memory import ...``), share no
        object. A class the project never builds by name (instantiated from a config string,
        a registry, ``getattr``) may reach any code."""
        ci = method.cls
        if ci is None or caller is method.module:
            return True
        bounded = self.memo.setdefault("built_by_name_methods", {})
        if method.id not in bounded:  # per method: its class and the subclasses inheriting it
            built = self.classes_built_by_name()
            bounded[method.id] = ci.qualname in built and all(
                c.qualname in built for c in self.subclasses(ci) if method.fn.name not in c.methods)
        return not bounded[method.id] or self.may_meet(caller, ci.module)

    def classes_built_by_name(self) -> Set[str]:
        """Qualified names of the project classes that some call names (``Agent(...)``,
        ``models.Agent(...)``), as the names resolve."""
        got = self.memo.get("built_by_name")
        if got is None:
            got = self.memo["built_by_name"] = set()
            simple = {c.name for m in self.modules.values() for c in m.classes.values()}
            for u in self.units.values():
                for c in u.calls:
                    f = c.func
                    last = f.id if type(f) is _Name else f.attr if type(f) is _Attribute else None
                    if last in simple:
                        ci = self.lookup_class(u.module.resolve(f), u.module)
                        if ci is not None:
                            got.add(ci.qualname)
        return got

    def may_meet(self, a: ModuleInfo, b: ModuleInfo) -> bool:
        """An object of a class defined in ``b`` may reach code in ``a``: some module of the
        project is, or imports (directly or through others), both (a training script importing
        the trainer and the model)."""
        if a is b:
            return True
        masks = self._importer_masks()
        return bool(masks.get(a.modname, 0) & masks.get(b.modname, 0))

    def _importer_masks(self) -> Dict[str, int]:
        """modname -> the set, as a bit mask over the project's modules, of that module and
        every module that imports it (or a package above it), directly or through others:
        each module's mask takes in its importers' masks until nothing changes (import
        cycles included), one pass over the import edges per round."""
        masks = self.memo.get("importer_masks")
        if masks is None:
            names = sorted(self.by_modname)
            bit = {n: 1 << i for i, n in enumerate(names)}
            rev: Dict[str, Set[str]] = {}  # module -> the modules that import it
            for mod in self.by_modname.values():
                for q in list(mod.imports.values()) + list(mod.star_bases):
                    t = self.imported_module(q, mod) if q else None
                    if t is not None and t is not mod:
                        rev.setdefault(t.modname, set()).add(mod.modname)
            for n in names:  # `import pkg` may reach `pkg.mod`: the package's importers are the module's
                parts = n.split(".")
                rev.setdefault(n, set()).update(p for p in (".".join(parts[:k]) for k in range(1, len(parts)))
                                                if p in bit)
            masks = dict(bit)
            changed = True
            while changed:
                changed = False
                for n in names:
                    m = masks[n]
                    for p in rev.get(n, ()):
                        m |= masks[p]
                    if m != masks[n]:
                        masks[n] = m
                        changed = True
            self.memo["importer_masks"] = masks
        return masks

    def methods_named(self, name: str) -> List[_Unit]:
        """The project's methods by that name."""
        by_name = self.memo.get("methods_by_name")
        if by_name is None:
            by_name = self.memo["methods_by_name"] = {}
            for u in self.units.values():
                if u.fn is not None and u.cls is not None:
                    by_name.setdefault(u.fn.name, []).append(u)
        return by_name.get(name, [])

    def model_methods_named(self, name: str) -> List[_Unit]:
        """For a method called on a model whose class the analysis does not know (built from
        a registry or a configuration string, loaded whole): the project's module classes'
        methods by that name, when there are a few (at most three) and none is an
        ``nn.Module`` method or ``forward``: the model is one of those classes (prototypical
        networks' ``model.loss(sample)``, from ``get_model(name, opt)``)."""
        if name in K.MODULE_METHODS or name in K.SAME_MODEL_METHODS or name in ("forward", "__call__") \
                or name.startswith("__"):
            return []
        # (of classes that are modules by their bases: not a plain trainer object with a `forward`)
        got = [u for u in self.methods_named(name) if u.cls is not None and self.is_torch_module(u.cls, 1)]
        if not 0 < len(got) <= 3 or any(u.is_classmethod or u._is_static() for u in got):
            return []  # (a static helper, `apply_argmax_softmax(pred)`, takes no receiver)
        return got

    def arity_fits(self, u: _Unit, counts=None) -> bool:
        """Some call of a method by ``u``'s name through a receiver we cannot resolve passes as
        many positional arguments as ``u`` takes (``self.G.train()`` cannot call a trainer's
        ``train(self, loader, epochs)``)."""
        counts = counts if counts is not None else self.unresolved_arity.get(u.fn.name, {-1})
        a = u.fn.node.args
        n_pos = len(a.posonlyargs) + len(a.args) - (0 if u._is_static() else 1)
        required = n_pos - len(a.defaults)
        if any(d is None for d in a.kw_defaults):
            required = 10 ** 6  # a required keyword-only parameter: only a call with keywords fits
        most = 10 ** 6 if a.vararg is not None else n_pos
        return any(c == -1 or required <= c <= most for c in counts)

    def switches_own_layer(self, u: _Unit, c: ast.Call) -> bool:
        """``self.G.train()`` / ``self.net.eval()`` in a method, where the class's ``__init__``
        builds ``self.G`` as a module (a project module class, a torch layer or container, a
        library model): ``nn.Module.train``, not a method of the project's that is named so (a
        trainer's ``train()``, whose callers' grad state it would otherwise make unknown)."""
        f = c.func
        if f.attr not in ("train", "eval") or len(c.args) > 1 or c.keywords or not u.is_method or u.cls is None \
                or not u.positional:
            return False
        base = f.value
        if not (type(base) is _Attribute and type(base.value) is _Name and base.value.id == u.positional[0]):
            return False
        init = u.cls.methods.get("__init__")
        if init is None:
            return False
        selfname = (init.positional_params() or ["self"])[0]
        found = False
        for n in self.scope_nodes(init.node):
            if not (type(n) is ast.Assign and any(type(t) is _Attribute and t.attr == base.attr and type(t.value) is _Name
                                                  and t.value.id == selfname for t in n.targets)):
                continue
            v = n.value
            q = self.resolve_q(u.cls.module, v.func) if type(v) is _Call else None
            if not q:
                return False
            ci = self.lookup_class(q, u.cls.module)
            if ci is not None:
                if not self.is_torch_module(ci):
                    return False
            elif not (q.startswith("torch.nn.") or q.startswith(K.LIBRARY_MODEL_PREFIXES)):
                return False
            found = True
        return found

    def attrs_near_backward(self) -> Tuple[Set[str], Set[str]]:
        """Attribute names read (other than as the list a value is appended to) by a body of
        the project that runs a backward pass or returns a value, and by any body. A result
        stored under an attribute that some body reads and none of the first kind does
        (``self.samples.append(G(z))``, then ``torch.save(self.samples, path)``) is never
        differentiated here; one nothing reads (a buffer for code we cannot see) may be. The
        same walk lists, for each attribute name, the modules whose bodies read it from another
        object (``_attr_readers``, appended-to lists included)."""
        got = self._attrs_near_backward
        if got is None:
            self._attrs_read_by_backward = set()
            self._attrs_read_elsewhere = set()
            readers = self._attr_readers
            near: Set[str] = set()
            read: Set[str] = set()
            got = self._attrs_near_backward = (near, read)
            for u in self.units.values():
                nodes = u.nodes
                backs = bool(u.backward_calls)
                selfname = u.positional[0] if u.is_method and u.positional else None
                close = bool(backs or any(type(n) is ast.Return and n.value is not None for n in nodes)
                             or any(type(n) in (ast.Yield, ast.YieldFrom, ast.Lambda) for n in nodes))
                added_to = _added_to(nodes)
                for n in nodes:
                    if type(n) is not _Attribute or type(n.ctx) is not _Load:
                        continue
                    other = not (type(n.value) is _Name and n.value.id == selfname)  # `self.X`: the class's own
                    if other:
                        readers.setdefault(n.attr, set()).add(u.module)
                    if id(n) in added_to:
                        continue
                    read.add(n.attr)
                    if close:
                        near.add(n.attr)
                    if other:
                        self._attrs_read_elsewhere.add(n.attr)
                        if backs:
                            self._attrs_read_by_backward.add(n.attr)
        return got

    def kept_off_backward(self, ci: ClassInfo, attr: str) -> bool:
        """A result stored under ``self.<attr>`` by a method of ``ci``, a plain class (an
        evaluator, a predictor object) none of whose methods, bases' or subclasses' runs a
        backward pass, where no body of the project that runs one reads an attribute of that
        name from another object, and something reads it back (that family's ``self.<attr>``,
        or ``obj.<attr>`` anywhere; one nothing reads is a buffer for code the analysis cannot
        see): it keeps it to show or save, never to differentiate."""
        self.attrs_near_backward()
        if attr in self._attrs_read_by_backward or self.is_torch_module(ci):
            return False
        hit = self._class_backprops.get(ci.qualname)
        if hit is None:
            backprops, reads = False, set()
            for c in self.class_family(ci):
                for fn in c.methods.values():
                    u = self.unit_by_node.get(id(fn.node))
                    if u is None or not u.positional:
                        continue
                    backprops = backprops or bool(u.backward_calls)
                    me = u.positional[0]
                    reads.update(n.attr for n in _attr_reads(u.nodes) if type(n.value) is _Name and n.value.id == me)
            hit = self._class_backprops[ci.qualname] = (backprops, frozenset(reads))
        backprops, reads = hit
        return not backprops and (attr in reads or attr in self._attrs_read_elsewhere)

    def attr_aliases(self, ci: ClassInfo) -> Dict[str, str]:
        """attr -> another attr of ``attr_models`` that ``__init__`` makes it hold the same model
        as (``self.runner = nn.DataParallel(self.net)``, ``self.model = self.net.to(dev)``),
        where no method rebinds either: one object under two names, so ``.eval()`` on one
        switches the other, and a prediction through either is one on ``self.net``."""
        got = self._attr_aliases.get(ci.qualname)
        if got is None:
            got = {}
            init = self.method_unit(ci, "__init__")
            models = self.attr_models(ci)
            if init is not None and init.fn is not None and models:
                selfname = init.positional[0] if init.positional else "self"
                rebound = self.assigned_attrs(ci)
                seen: Counter = Counter()
                for n in init.fn.nodes:
                    if type(n) is not ast.Assign or len(n.targets) != 1:
                        continue
                    t = path_of(n.targets[0])
                    if not t or not t.startswith(selfname + ".") or t.count(".") != 1:
                        continue
                    a = t.split(".", 1)[1]
                    seen[a] += 1
                    src = self.same_model_source(ci.module, n.value)
                    if src and src.startswith(selfname + ".") and src.count(".") == 1:
                        b = src.split(".", 1)[1]
                        if b in models and b != a:
                            got[a] = b
                got = {a: b for a, b in got.items() if seen[a] == 1 and seen[b] == 1 and a not in rebound
                       and b not in rebound}
            self._attr_aliases[ci.qualname] = got
        return got

    def same_model_source(self, module: ModuleInfo, v: ast.AST) -> Optional[str]:
        """The path a value holds the same model as: ``model``, ``model.cuda()``,
        ``model.train()`` (a mode switch returns the module), ``nn.DataParallel(model)``
        (wrappers that run and switch with what they wrap)."""
        while type(v) is _Call:
            if type(v.func) is _Attribute and (v.func.attr in K.SAME_MODEL_METHODS or (
                    v.func.attr in _MODE_METHODS and not v.keywords and len(v.args) <= 1 and
                    all(type(a) is ast.Constant and type(a.value) is bool for a in v.args))):
                v = v.func.value
            elif v.args and self.resolve_q(module, v.func) in K.SAME_MODEL_WRAPPERS:
                v = v.args[0]
            else:
                break
        return path_of(v)

    def global_aliases(self, module: ModuleInfo) -> Dict[str, str]:
        """name -> another module-level name that the top-level code makes it hold the same
        model as (``parallel_model = model.cuda()`` or ``nn.DataParallel(model)``, on every
        path that binds it), where a function that rebinds either (``global``) rebinds the
        alias from the same name too: one object under two names, so a function that
        switches ``model`` switches what it runs as ``parallel_model``, and an optimizer over
        ``model.parameters()`` steps it (as ``attr_aliases`` does for ``self.runner``)."""
        memo = self.memo.setdefault("global_aliases", {})
        got = memo.get(module.path)
        if got is None:
            got = memo[module.path] = {}
            body = self.body_unit.get(module.path)
            if body is None:
                return got
            sources = self._name_sources(module, body.nodes)
            pairs = {a: next(iter(srcs)) for a, srcs in sources.items() if len(srcs) == 1 and None not in srcs}
            pairs = {a: b for a, b in pairs.items() if b != a and "." not in b and b in sources and b not in pairs}
            if pairs:
                for u in self.units_by_path.get(module.path, ()):
                    rebinds = self.declared_globals(u)
                    if not rebinds & (set(pairs) | set(pairs.values())):
                        continue
                    here = self._name_sources(module, u.nodes)
                    for a, b in list(pairs.items()):
                        if (a in rebinds and here.get(a, {b}) != {b}) or (b in rebinds and here.get(a) != {b}):
                            del pairs[a]
            got.update(pairs)
        return got

    def _name_sources(self, module: ModuleInfo, nodes) -> Dict[str, Set[Optional[str]]]:
        """name -> what each plain assignment among ``nodes`` makes it hold the same model as
        (``same_model_source``; None for a value that is no such path)."""
        got: Dict[str, Set[Optional[str]]] = {}
        for n in nodes:
            if type(n) is ast.Assign and len(n.targets) == 1 and type(n.targets[0]) is _Name:
                got.setdefault(n.targets[0].id, set()).add(self.same_model_source(module, n.value))
        return got

    def attr_state(self, ci: ClassInfo, current: FunctionInfo) -> Dict[str, object]:
        """``self.X`` values as ``__init__`` leaves them, minus those other methods switch."""
        if current.name == "__init__" or self.is_torch_module(ci):
            return {}  # a module's own attributes are submodules: their calls inherit its mode
        init = self.method_unit(ci, "__init__")
        if init is None:
            return {}
        cur = self.unit_by_node.get(id(current.node))
        if cur is not None:
            self.attr_deps.setdefault(init.id, set()).add(cur.id)
        others = self._attr_assigners(ci)
        if cur is not None:
            for m in others.values():  # re-run when what another method leaves there changes
                for o in m:
                    self.attr_deps.setdefault(o.id, set()).add(cur.id)
        got = self._attr_state.get(ci.qualname)
        if got is None:
            got = {}
            self._attr_state[ci.qualname] = got
            selfname = init.positional[0] if init.positional else "self"
            switched = self.switched_attrs(ci) | self.assigned_attrs(ci)
            for k, v in init.final_env.items():
                if k.startswith(selfname + ".") and k.count(".") == 1:
                    attr = k.split(".", 1)[1]
                    if attr in switched - self.switched_attrs(ci) and isinstance(v, ModelVal):
                        v = self._reassigned_model(init, attr, v, others.get(attr, []))
                    elif attr in switched or not isinstance(v, (ModelVal, InstanceVal, ListVal)):
                        continue
                    v = self.constructor_model(init, v)
                    if v is None or (isinstance(v, ModelVal) and ENTRY in kinds(v.modes)):
                        continue
                    got[attr] = v
            for attr, assigners in others.items():
                if attr not in got and self._set_later(init, selfname, attr):
                    lazy = self._reassigned_model(init, attr, None, assigners)
                    if lazy is not None:
                        got[attr] = lazy
        return got

    def _set_later(self, init: _Unit, selfname: str, attr: str) -> bool:
        """``__init__`` leaves ``self.attr`` empty (``None``, or does not set it): a lazy
        ``load()`` puts the model there later."""
        for n in init.nodes:
            if type(n) is ast.Assign and any(type(t) is _Attribute and t.attr == attr and type(t.value) is _Name
                                             and t.value.id == selfname for t in n.targets):
                if not (type(n.value) is ast.Constant and n.value.value is None):
                    return False
        return True

    def _attr_assigners(self, ci: ClassInfo) -> Dict[str, List[_Unit]]:
        """attr -> the methods other than ``__init__`` that assign ``self.attr``."""
        memo = self.memo.setdefault("attr_assigners", {})
        got = memo.get(ci.qualname)
        if got is None:
            got = memo[ci.qualname] = {}
            for name, fn in ci.methods.items():
                mu = self.unit_by_node.get(id(fn.node))
                if name == "__init__" or mu is None or not mu.positional:
                    continue
                me = mu.positional[0]
                for n in self.scope_nodes(fn.node):
                    if type(n) is ast.Assign:
                        for t in n.targets:
                            if type(t) is _Attribute and type(t.value) is _Name and t.value.id == me \
                                    and not self._hands_back(ci, me, t.attr, n.value):
                                lst = got.setdefault(t.attr, [])
                                if mu not in lst:
                                    lst.append(mu)
        return got

    def _hands_back(self, ci: ClassInfo, me: str, attr: str, value: ast.AST) -> bool:
        """``self.<attr> = self.m(..., self.<attr>, ...)`` where the method ``m`` returns that
        parameter unchanged (TD3's ``self.target_q = self.target_soft_update(self.q,
        self.target_q, tau)``): the attribute keeps its object, no other model comes in."""
        if type(value) is not _Call or type(value.func) is not _Attribute or path_of(value.func.value) != me:
            return False
        callee = self.method_unit(ci, value.func.attr)
        if callee is None or callee.fn is None:
            return False
        rets = [r.value for r in callee.nodes if type(r) is ast.Return]
        rebound = {x.id for x in callee.nodes if type(x) is _Name and type(x.ctx) is not _Load}
        bound = dict(self.bind_args(callee, value))
        return bool(rets) and all(type(r) is _Name and r.id not in rebound and r.id in callee.positional[1:]
                                  and path_of(bound.get(r.id)) == f"{me}.{attr}" for r in rets)

    def _reassigned_model(self, init: _Unit, attr: str, v: Optional[ModelVal],
                          assigners: List[_Unit]) -> Optional[ModelVal]:
        """``self.critic_target`` built in ``__init__`` and built again by ``load()``
        (``copy.deepcopy(self.critic)`` after loading weights): a model in every method when
        each method that assigns it leaves a model there, in a mode unknown at a method's
        entry (which assignment ran last is not followed). ``v`` None: ``__init__`` leaves it
        empty and those methods alone put a model there (a lazy ``load()``). None when one
        of them leaves anything else, or has not been analysed."""
        first = v if v is not None else assigners[0].final_env.get(f"{assigners[0].positional[0]}.{attr}")
        if not isinstance(first, ModelVal):
            return None
        dep, cls = first.dependent, first.cls
        for mu in assigners:
            w = mu.final_env.get(f"{mu.positional[0]}.{attr}")
            if not isinstance(w, ModelVal):
                return None
            dep = _or_dep(dep, w.dependent)
            cls = cls if w.cls == cls else None
        line = init.fn.node.lineno if init.fn is not None else 1
        where = ", ".join(f"`{mu.fn.name}()`" for mu in assigners if mu.fn is not None)
        why = f"assigned by `__init__` and again by {where}" if v is not None else f"assigned by {where}"
        return ModelVal(modes_of(UNKNOWN, why, line), dep, first.label, first.hf, cls)

    def held_model(self, reader: _Unit, cls_q: str, attr: str) -> Optional[ModelVal]:
        """``obj.attr`` read in ``reader`` where ``obj`` is an instance of the project class
        ``cls_q`` that is no module (pointer_summarizer's ``self.model.encoder``, a plain
        ``Model`` object holding its networks): the model its ``__init__`` keeps there, built
        there or handed to its constructor. Its mode is unknown at the read (any code holding
        the object may have switched it since), so only the grad rules speak of it."""
        ci = self.class_by_qualname(cls_q)
        init = self.method_unit(ci, "__init__") if ci is not None and not self.is_torch_module(ci) else None
        if init is None or init.cls is not ci or not init.positional:
            return None
        self.attr_deps.setdefault(init.id, set()).add(reader.id)  # read again when __init__'s facts change
        v = self.constructor_model(init, init.final_env.get(f"{init.positional[0]}.{attr}"))
        if not isinstance(v, ModelVal) or ENTRY in kinds(v.modes) or v.param:
            return None
        line = init.fn.node.lineno if init.fn is not None else 1
        return ModelVal(modes_of(UNKNOWN, f"kept by `{ci.name}` as `{attr}`", line), v.dependent, v.label, v.hf, v.cls)

    def constructor_model(self, init: _Unit, v: object) -> object:
        """What ``self.G = generator`` keeps when ``generator`` is a parameter of ``__init__``
        that every call site of the constructor passes a model (``Trainer(generator, ...)``,
        ``note_param_class``): that model, in a mode unknown at a method's entry (the caller
        may have switched it since), so the grad rules see its predictions and DG101 stays
        silent. Any other value is returned as it is."""
        if not (isinstance(v, ModelVal) and v.param and v.param in init.params and ENTRY in kinds(v.modes)):
            return v
        got = self.param_classes_of((init.id, v.param))
        if got is None or got[0] != "model":
            return v
        line = init.fn.node.lineno if init.fn is not None else 1
        return ModelVal(modes_of(UNKNOWN, f"handed to the constructor as `{v.param}`", line), v.dependent,
                        v.label, v.hf, v.cls)


def _attr_reads(nodes) -> List[ast.Attribute]:
    """The attribute reads among ``nodes``, not counting an object that a mutating call
    adds to (``self.samples`` of ``self.samples.append(x)``)."""
    added_to = _added_to(nodes)
    return [n for n in nodes if type(n) is _Attribute and type(n.ctx) is _Load and id(n) not in added_to]


def _added_to(nodes) -> Set[int]:
    """The ids of the objects among ``nodes`` that a mutating call adds to (``self.samples``
    of ``self.samples.append(x)``)."""
    return {id(n.func.value) for n in nodes
            if type(n) is _Call and type(n.func) is _Attribute and n.func.attr in _TaintWalker._MUTATORS}
