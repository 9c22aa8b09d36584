"""Name resolution across the project: ``ResolveMixin``.

Qualified names, star imports, looking up a name in a module (classes, units, methods and
the methods they override), the callee of a call expression, binding call arguments to
parameters, and the unit and module a node belongs to.
"""
from __future__ import annotations

import ast
from typing import Dict, FrozenSet, List, Optional, Set, Tuple

from .. import knowledge as K
from ..partition import source_root
from ..semantic import ClassInfo, FunctionInfo, ModuleInfo
from .values import ENTRY, InstanceUnion, InstanceVal, ListVal, ModelVal, State, TupleVal, _instance_classes, kinds
from .syntax import _Attribute, _Call, _Name, is_test_function
from .unit import _Unit

_ANY_CLASS = "?"  # in param_classes: a model of no project class (torchvision's, a loaded one)


class ResolveMixin:
    """Name resolution of ``Project`` (see the module docstring)."""

    # -- resolution --------------------------------------------------------------------------
    def resolve_q(self, module: ModuleInfo, expr: ast.AST) -> Optional[str]:
        return module.resolve(expr)

    def _resolve_star_imports(self) -> None:
        """``from models import *`` of a project module: the public names that module defines
        or imports become names of the importer (``ModuleInfo.star_names``), so ``Net()``
        resolves to ``models.Net`` as with ``from models import Net``. The module is found
        as an import of the importer's folder would find it (nearest first); star imports
        of star imports follow, to a fixed point. A library's star import (``from
        torch_snippets import *``) gives the conventional library names the file reads and
        never binds or imports itself (``torch``, ``nn``, ``F``, ``optim``, ``np``): the
        library re-exports them, as such helper packages do."""
        importers = [m for m in self.modules.values() if m.star_bases]
        for _ in range(3):
            moved = False
            for m in importers:
                for base in m.star_bases:
                    src = self.module_named(base, m)
                    if src is None or src is m:
                        continue
                    names = {n: f"{src.modname}.{n}" for n in (*src.classes, *src.functions)}
                    names.update(src.imports)
                    names.update(src.star_names)
                    for n, q in names.items():
                        if not n.startswith("_") and m.star_names.get(n) != q and n not in m.imports:
                            m.star_names[n] = q
                            moved = True
            if not moved:
                break
        for m in importers:
            if all(self.module_named(base, m) is not None for base in m.star_bases):
                continue
            free = set(m.loaded) - m.stored - set(m.imports) - set(m.classes) - set(m.functions) - set(m.star_names)
            for name in free & K.STAR_IMPORTED_NAMES.keys():
                m.star_names[name] = K.STAR_IMPORTED_NAMES[name]

    def module_named(self, qn: str, frm: ModuleInfo) -> Optional[ModuleInfo]:
        """The project module an import of ``qn`` in ``frm`` finds: relative to ``frm``'s folder
        or any folder above it (the nearest first, as a script's imports), then absolute."""
        folder = _folder_of(frm)
        folder = folder.split(".") if folder else []
        for k in range(len(folder), -1, -1):
            found = self.by_modname.get(".".join(folder[:k] + qn.split(".")))
            if found is not None:
                return found
        for root in self.source_roots():  # a `src/` layout: `import pkg` finds `src/pkg`
            found = self.by_modname.get(f"{root}.{qn}")
            if found is not None:
                return found
        return None

    def source_roots(self) -> List[str]:
        """Folders that are no package but hold packages (``src`` of ``src/pkg/__init__.py``):
        where an installed project's packages are imported from."""
        got = self.memo.get("source_roots")
        if got is None:
            packages = {m.modname for m in self.by_modname.values() if m.is_package}
            got = self.memo["source_roots"] = sorted({source_root(p, packages, itself=True) for p in packages} - {""})
        return got

    def imported_module(self, q: str, frm: ModuleInfo) -> Optional[ModuleInfo]:
        """The project module an imported name ``q`` of ``frm`` comes from: the module it
        names, or the one it is defined in (``from pkg.mod import f``: ``pkg.mod``)."""
        return self.module_named(q, frm) or self.module_named(q.rpartition(".")[0], frm)

    def lookup(self, qn: str, frm: ModuleInfo, depth: int = 0):
        """A project function or class named ``qn`` as seen from module ``frm``."""
        if not qn or depth > 5:
            return None
        # the search depends on the importing file only through its folder (below)
        folder = _folder_of(frm)
        ck = (qn, folder)
        if ck in self._lookup_cache:
            return self._lookup_cache[ck]
        found = self._lookup(qn, folder.split(".") if folder else [], depth)
        self._lookup_cache[ck] = found
        return found

    def _lookup(self, qn: str, folder: List[str], depth: int):
        parts = qn.split(".")
        by_modname, prefixes = self.by_modname, self._modname_prefixes
        # script-style imports: relative to the importing file's folder or to any folder above
        # it (``from rl.utils import f`` in ``rl/agent.py`` when the script runs next to ``rl/``),
        # the nearest first; then absolute; then below a source root (`src/`). Within each, the
        # longest module name first.
        bases = [folder[:k] for k in range(len(folder), -1, -1)] + [r.split(".") for r in self.source_roots()]
        for base in bases:
            full = base + parts
            found_at = []  # the lengths i at which full[:i] names a module
            name = full[0]
            for i in range(1, len(full)):
                if name not in prefixes:
                    break  # no module name starts so: none longer does either
                if name in by_modname:
                    found_at.append(i)
                name = f"{name}.{full[i]}"
            for i in reversed(found_at):
                found = self._find_in_module(by_modname[".".join(full[:i])], full[i:], depth)
                if found is not None:
                    return found
        return None

    def _find_in_module(self, mod: ModuleInfo, rest: List[str], depth: int):
        head = rest[0]
        if head in mod.functions and len(rest) == 1:
            return mod.functions[head]
        if head in mod.classes:
            ci = mod.classes[head]
            if len(rest) == 1:
                return ci
            if len(rest) == 2:
                return ci.methods.get(rest[1])
            return None
        if head in mod.imports:
            return self.lookup(".".join([mod.imports[head]] + rest[1:]), mod, depth + 1)
        if head in mod.star_names:  # a package's `from .utils import *` re-exports utils' names
            return self.lookup(".".join([mod.star_names[head]] + rest[1:]), mod, depth + 1)
        return None

    def lookup_class(self, qn: Optional[str], frm: ModuleInfo) -> Optional[ClassInfo]:
        if not qn:
            return None
        found = self.lookup(qn, frm)
        return found if isinstance(found, ClassInfo) else None

    def lookup_unit(self, qn: str, frm: ModuleInfo) -> Optional[_Unit]:
        found = self.lookup(qn, frm)
        if isinstance(found, FunctionInfo):
            return self.unit_by_node.get(id(found.node))
        return None

    def method_unit(self, ci: ClassInfo, name: str, depth: int = 0) -> Optional[_Unit]:
        """The unit of method ``name`` of class ``ci``, its own or the first base's that has it."""
        if depth > 8:
            return None
        fn = ci.methods.get(name)
        if fn is not None:
            return self.unit_by_node.get(id(fn.node))
        if depth == 0:  # memoised for the class as a whole (`self.dropout(x)`: every call searches the bases)
            key = (id(ci), name)
            if key not in self._method_units:
                self._method_units[key] = self._base_method_unit(ci, name, 0)
            return self._method_units[key]
        return self._base_method_unit(ci, name, depth)

    def _base_method_unit(self, ci: ClassInfo, name: str, depth: int) -> Optional[_Unit]:
        for b in ci.bases:
            bc = self.lookup_class(b, ci.module)
            if bc is not None:
                u = self.method_unit(bc, name, depth + 1)
                if u is not None:
                    return u
        return None

    def overrides(self, callee: _Unit) -> List[_Unit]:
        """Methods of subclasses that override ``callee`` (``self.m()`` may dispatch to them)."""
        if callee.cls is None or callee.fn is None:
            return []
        memo_key = (callee.cls.qualname, callee.fn.name)
        hit = self._overrides.get(memo_key)
        if hit is not None:  # a base class's method is called from many places: walk its subclasses once
            return hit
        out = []
        for ci in self.subclasses(callee.cls):
            fn = ci.methods.get(callee.fn.name)
            if fn is not None and id(fn.node) in self.unit_by_node:
                out.append(self.unit_by_node[id(fn.node)])
        self._overrides[memo_key] = out
        return out

    def class_by_qualname(self, qual: str) -> Optional[ClassInfo]:
        mod, _, name = qual.rpartition(".")
        m = self.by_modname.get(mod)
        if m is not None and name in m.classes:
            return m.classes[name]
        if m is not None and "@" in name:  # a definition its module redefines further down
            for ci in m.class_defs.get(name.partition("@")[0], ()):
                if ci.qualname == qual:
                    return ci
        for m in self.modules.values():
            for ci in m.classes.values():
                if ci.qualname == qual:
                    return ci
        if ".<locals>." in qual:  # a class defined in a function (`semantic.local_class`), once asked for
            for m in self.modules.values():
                for ci in m.memo.get("local_classes", {}).values():
                    if ci is not None and ci.qualname == qual:
                        return ci
        return None

    def resolve_callee(self, unit: _Unit, c: ast.Call, st: Optional[State], interp) -> Optional[_Unit]:
        """The unit a call runs: from the receiver's value in ``st`` when there is one (a
        method of an instance's class), else from the names alone (memoised per call)."""
        func = c.func
        variant = self.variant_calls.get(id(c))
        if variant is not None:  # `run_epoch(..., train=False)`: the copy specialised to its flags
            return variant
        if st is not None and interp is not None and type(func) is _Attribute:
            base = func.value
            if not (type(base) is _Name and unit.is_method and unit.positional and base.id == unit.positional[0]):
                val = interp.value(base, st)
                cls_q = val.cls if isinstance(val, (InstanceVal, ModelVal)) else None
                if cls_q:
                    ci = self.class_by_qualname(cls_q)
                    if ci is not None:
                        return self.method_unit(ci, func.attr)
                if isinstance(val, (ModelVal, ListVal, TupleVal)):
                    return None
        if type(func) is _Name and unit.fn is not None:
            passed = self.passed_function(unit, func.id)
            if passed is not None:
                return passed
        memo = unit.static_callees
        cid = id(c)
        if cid in memo:
            return memo[cid]
        out = memo[cid] = self._static_callee(unit, c)
        return out

    def passed_function(self, unit: _Unit, name: str, depth: int = 0) -> Optional[_Unit]:
        """``get_loss()`` where ``get_loss`` is a parameter of ``unit`` (or of a function
        enclosing it) that every call site fills with the same project function
        (``trpo_step(policy_net, get_loss, get_kl, ...)``): that function."""
        if name in unit.params:
            got = self.resolved_fn_param((unit.id, name))
            return self.units.get(got) if got else None
        outer = self.enclosing_unit(unit)
        if outer is None or depth > 4 or name in self.local_names(unit):
            return None
        return self.passed_function(outer, name, depth + 1)

    def resolved_fn_param(self, key: Tuple[str, str], depth: int = 0) -> Optional[str]:
        """The function id a parameter holds (``fn_params``), following call sites that pass
        their own parameter on (``p_sample_loop(model)`` calling ``p_sample(model, x)``)."""
        got = self.fn_params.get(key)
        if type(got) is tuple:
            return self.resolved_fn_param(got, depth + 1) if depth < 8 else None
        return got

    def note_fn_param(self, key: Tuple[str, str], unit: _Unit, arg: ast.AST) -> None:
        """A call site passes ``arg`` as that parameter (see ``passed_function``): a project
        function, or the caller's own parameter passed on (resolved through the caller's
        call sites: a closure handed down a sampler's chain of methods)."""
        fn = self.unit_named(unit, arg) if type(arg) is _Name else None
        val = fn.id if fn is not None else None
        if fn is None and type(arg) is _Name and unit.fn is not None and arg.id in unit.params:
            val = (unit.id, arg.id)
        old = self.fn_params.get(key, val)
        self.fn_params[key] = val if val is not None and old == val else None

    def _static_callee(self, unit: _Unit, c: ast.Call) -> Optional[_Unit]:
        func = c.func
        mod = unit.module
        if type(func) is _Name:
            named = self.unit_named(unit, func)
            if named is None:
                origin = self.returned_closure(unit, func.id)
                return origin[0] if origin is not None else self.called_instance(unit, func.id)
            if unit.fn is None and named.fn is not None and named.module is mod:  # the definition in force here
                named = self.unit_by_node.get(id(mod.function_at(named.fn, c.lineno).node), named)
            return named
        if type(func) is _Attribute:
            base = func.value
            if type(base) is _Name and unit.is_method and unit.positional and base.id == unit.positional[0]:
                return self.method_unit(unit.cls, func.attr)
            q = mod.resolve(func)
            if q:
                return self.lookup_unit(q, mod)
        return None

    def called_instance(self, unit: _Unit, name: str) -> Optional[_Unit]:
        """``compute_loss(X, Y, logits)`` where ``name`` is bound once (in ``unit``, or at its
        module's top level for a global it reads, under ``if __name__ == "__main__":`` too)
        to an instance of a project class that is no module and defines ``__call__`` (a
        loss-compute object whose ``__call__`` backpropagates and steps): that ``__call__``."""
        bound = self.bound_once_here_or_global(unit, name)
        if type(bound) is not _Call:
            return None
        q = unit.module.resolve(bound.func)
        ci = self.lookup_class(q, unit.module) if q else None
        if ci is None or self.is_torch_module(ci):
            return None
        return self.method_unit(ci, "__call__")

    def unit_named(self, unit: _Unit, name: ast.Name) -> Optional[_Unit]:
        """The function a name means in ``unit``: one defined in its body or, for a nested
        function, in a function enclosing it that the name is not rebound in between
        (``make()`` calling its sibling closure ``decode()``), else what it resolves to."""
        cur = unit
        for _ in range(8):
            if cur.fn is None:
                break
            local = self.unit_by_name_in(cur, name.id)
            if local is not None:
                return local
            if name.id in self.local_names(cur):
                break
            cur = self.enclosing_unit(cur)
            if cur is None:
                break
        q = unit.module.resolve(name)
        return self.lookup_unit(q, unit.module) if q else None

    def unit_by_name_in(self, unit: _Unit, name: str) -> Optional[_Unit]:
        """The function defined by that name directly in ``unit``'s body (the first one)."""
        defs = unit.local_defs
        if defs is None:
            defs = unit.local_defs = {}
            for n in unit.fn.node.body:
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name not in defs:
                    defs[n.name] = n
        n = defs.get(name)
        return self.unit_by_node.get(id(n)) if n is not None else None

    def note_param_class(self, key: Tuple[str, str], val, caller: Optional[_Unit] = None) -> None:
        """A call site passes ``val`` as that parameter: the parameter holds an instance of the
        project classes every call site passes (``evaluate(PPO(...), env)``, ``test(step,
        model)`` with a module of the project), so its methods resolve on them; one call site
        passing anything else (or nothing) and the parameter is what it was without this. A
        call site in ``caller`` that passes one of its own parameters on (``check_outputs(model)``
        calling ``greedy_decode(model, ...)``, also after switching it) passes what that
        parameter's call sites pass: a dependency, resolved by ``param_classes_of``."""
        if key in self.param_classes and self.param_classes[key] is None:
            return
        if caller is not None and isinstance(val, ModelVal) and not val.cls and val.param \
                and val.param in caller.params:  # (switched on the way or not: the same object)
            self.param_deps.setdefault(key, set()).add((caller.id, val.param))
            return
        got: Optional[Tuple[str, FrozenSet[str]]] = None
        if type(val) in (InstanceVal, InstanceUnion):
            got = ("instance", _instance_classes(val))
        elif isinstance(val, ModelVal) and (val.cls or ENTRY not in kinds(val.modes)):
            got = ("model", val.classes() or frozenset((_ANY_CLASS,)))  # a library model: of no project class
        old = self.param_classes.get(key, got)
        if got is None or old is None or old[0] != got[0]:
            self.param_classes[key] = None
        else:
            self.param_classes[key] = (got[0], old[1] | got[1])

    def param_classes_of(self, key: Tuple[str, str]):
        """What ``note_param_class`` learnt of a parameter, with the parameters of callers that
        hand theirs on (``param_deps``) resolved as of the last round (``resolve_param_classes``):
        (kind, classes), or None when unknown (a call site passing anything else, or a
        caller's parameter that nothing tells its class)."""
        got = self.param_classes.get(key)
        if got is None and key in self.param_classes:
            return None  # a call site passed something else: unknown, whatever the others pass
        return self._pc_resolved.get(key, got)

    def resolve_param_classes(self) -> Dict[Tuple[str, str], object]:
        """Each parameter's classes joined with those of the callers' parameters handed on to
        it, to a fixed point (a worklist over the reverse dependencies: linear in a chain of
        helpers). A parameter that hands on a caller's parameter nothing tells is unknown."""
        bottom = ()
        value: Dict[Tuple[str, str], object] = {}
        rev: Dict[Tuple[str, str], Set[Tuple[str, str]]] = {}
        for k, ds in self.param_deps.items():
            for d in ds:
                rev.setdefault(d, set()).add(k)
        keys = set(self.param_classes) | set(self.param_deps) | set(rev)
        for k in keys:
            if k in self.param_classes:
                value[k] = self.param_classes[k]
            else:
                value[k] = bottom if k in self.param_deps else None  # handed on, but never told
        todo = list(self.param_deps)
        while todo:
            k = todo.pop()
            cur = value[k]
            if cur is None:
                continue
            new = cur
            for d in self.param_deps[k]:
                other = value[d]
                if other == bottom:
                    continue
                if other is None or (new != bottom and new[0] != other[0]):
                    new = None
                    break
                new = other if new == bottom else (new[0], new[1] | other[1])
            if new != cur:
                value[k] = new
                todo.extend(rev.get(k, ()))
        self._pc_resolved = {k: (None if v == bottom else v) for k, v in value.items()}
        return self._pc_resolved

    def param_class_value(self, unit: _Unit, p: str, line: int):
        """The value of parameter ``p`` from the classes its call sites pass (note_param_class):
        an instance (or one of several), or a model of that one class; None when unknown."""
        got = self.param_classes_of((unit.id, p))
        if got is None:
            return None
        kind, classes = got
        if kind == "instance":
            return InstanceVal(next(iter(classes))) if len(classes) == 1 else InstanceUnion(classes)
        val = self.param_value(unit, p, line)
        if _ANY_CLASS in classes or not isinstance(val, ModelVal) or val.cls is not None:
            return None
        if len(classes) > 1:  # a model of one of several classes (`evaluate(data, model)`, each call site's pick)
            return ModelVal(val.modes, val.dependent, val.label, val.hf, None, val.param, classes)
        return ModelVal(val.modes, val.dependent, val.label, val.hf, next(iter(classes)), val.param)

    def only_tests_call(self, unit: _Unit) -> bool:
        """Every call of ``unit`` the names resolve (in functions and module bodies) is in a
        test (``is_test_function``), and there is one: a test file's helper."""
        memo = self.memo.setdefault("only_tests_call", {})
        if unit.id in memo:
            return memo[unit.id]
        memo[unit.id] = False  # (helpers calling each other: not proven by the cycle)
        callers = self.static_callers().get(unit.id, set())
        memo[unit.id] = got = bool(callers) and all(is_test_function(self.units[c]) for c in callers)
        return got

    def static_callers(self) -> Dict[str, Set[str]]:
        """Unit id -> the ids of the units (functions and module bodies) whose calls resolve
        to it by their names (computed once, when a test file's helper asks)."""
        got = self.memo.get("static_callers")
        if got is None:
            got = self.memo["static_callers"] = {}
            for u in list(self.units.values()):
                for c in u.calls:
                    cal = self.resolve_callee(u, c, None, None)
                    if cal is not None:
                        got.setdefault(cal.id, set()).add(u.id)
        return got

    def bind_args(self, callee: _Unit, c: ast.Call, constructor: bool = False) -> List[Tuple[str, ast.AST]]:
        """(parameter, argument) pairs of call ``c`` of ``callee``; ``constructor``: ``c``
        builds the class whose ``__init__`` ``callee`` is (``self`` is given no argument)."""
        pos = list(callee.positional)
        pairs = []
        if constructor:
            pos = pos[1:]
        elif callee.is_method and isinstance(c.func, ast.Attribute):
            if pos:
                pairs.append((pos[0], c.func.value))
            pos = pos[1:]
        elif callee.is_method and type(c.func) is _Name and callee.fn.name == "__call__":
            if pos:  # `compute_loss(logits, y)`: the instance is the receiver (`called_instance`)
                pairs.append((pos[0], c.func))
            pos = pos[1:]
        for i, a in enumerate(c.args):
            if isinstance(a, ast.Starred):
                break
            if i < len(pos):
                pairs.append((pos[i], a))
        names = set(callee.params)
        for kw in c.keywords:
            if kw.arg and kw.arg in names:
                pairs.append((kw.arg, kw.value))
        return pairs

    def returned_closure(self, unit: _Unit, name: str) -> Optional[Tuple[_Unit, _Unit, ast.Call]]:
        """``step = make_step(model, opt)`` bound once in ``unit``, where the project function
        ``make_step`` returns a function it defines (``def step(...): ...; return step``): that
        nested function, the factory and the call (so a call ``step(...)`` runs the closure over
        the arguments the factory was given; see ``CallsMixin.apply_path_summary``)."""
        memo = self.memo.setdefault("returned_closure", {})
        key = (unit.id, name)
        if key not in memo:
            memo[key] = None
            binds = [n for n in unit.nodes if type(n) is _Name and n.id == name and type(n.ctx) is not ast.Load]
            assigns = [a for a in unit.assigns() if len(a[0]) == 1 and type(a[0][0]) is _Name and a[0][0].id == name]
            if len(binds) == 1 and len(assigns) == 1 and type(assigns[0][1]) is _Call:
                call = assigns[0][1]
                factory = self._static_callee(unit, call)
                inner = self._returned_def(factory) if factory is not None and factory.fn is not None else None
                if inner is not None:
                    memo[key] = (inner, factory, call)
        return memo[key]

    def _returned_def(self, factory: _Unit) -> Optional[_Unit]:
        """The function defined in ``factory``'s body that its every ``return`` returns by name."""
        rets = [n for n in factory.nodes if type(n) is ast.Return]
        names = {r.value.id for r in rets if r.value is not None and type(r.value) is _Name}
        if len(names) != 1 or any(r.value is None or type(r.value) is not _Name for r in rets):
            return None
        return self.unit_by_name_in(factory, names.pop())

    def enclosing_unit(self, unit: _Unit) -> Optional[_Unit]:
        """The function a nested function (not a method) is defined in."""
        if unit.fn is None or unit.cls is not None or ".<locals>." not in unit.id:
            return None
        return self.units.get(unit.id.rsplit(".<locals>.", 1)[0])

    # -- results for the rules ---------------------------------------------------------------
    def module_of(self, fn: object) -> Optional[ModuleInfo]:
        """The module that defines ``fn``, a function or method of the project (None for
        anything else)."""
        unit = self.unit_by_node.get(id(fn.node)) if isinstance(fn, FunctionInfo) else None
        return unit.module if unit is not None else None

    def units_of(self, path: str) -> List[_Unit]:
        return self.units_by_path.get(path, [])


def _folder_of(frm: ModuleInfo) -> str:
    """The dotted folder an import in ``frm`` is resolved from (a package's own name)."""
    return frm.modname if frm.is_package else frm.modname.rpartition(".")[0]
