"""The project graph: all files of one run analysed together (``Project``).

Builds the units of every module, runs the interpreter over them in rounds to a fixed point
of their summaries, and keeps what the rules read. The work is split into mixins:
``SolverMixin`` (solver.py: order, rounds, returned roles, entry grad states),
``ResolveMixin`` (resolve.py: names, imports, classes, callees, arguments),
``GradMixin`` (grads.py: decorators and grad contexts across calls), ``ScopesMixin``
(scopes.py: globals, closures, attributes and parameters as paths), ``ClassFactsMixin``
(classes.py: facts about model classes), ``DependenceMixin`` (dependence.py: whether a
class or value depends on the mode) and ``VariantMixin`` (variants.py: copies of helpers
specialised to the constant flags their calls pass).
"""
from __future__ import annotations

import ast
from typing import Any, Dict, FrozenSet, List, Optional, Set, Tuple

from ..semantic import ClassInfo, ModuleInfo
from .values import DEFAULT_BUDGET_S, InstanceVal, ListVal, ModelVal
from .unit import _Unit
from .interpreter import Interpreter
from .solver import SolverMixin
from .resolve import ResolveMixin
from .grads import GradMixin
from .scopes import ScopesMixin
from .classes import ClassFactsMixin
from .dependence import DependenceMixin
from .variants import VariantMixin


_ROUNDS = 4


class Project(SolverMixin, ResolveMixin, GradMixin, ScopesMixin, ClassFactsMixin, DependenceMixin, VariantMixin):
    """All files of one run, analysed together."""

    def __init__(self, files, modules: Dict[str, ModuleInfo], knowledge, budget: float = DEFAULT_BUDGET_S):
        self.budget = budget
        self.files = files
        self.modules = modules
        self.knowledge = knowledge
        self.memo: Dict[str, Any] = {}  # what rules derive from the whole project once per run
        self.by_modname: Dict[str, ModuleInfo] = {}
        for m in modules.values():
            self.by_modname.setdefault(m.modname, m)
        self._modname_prefixes: Set[str] = set()  # "a", "a.b", "a.b.c" of each module name "a.b.c"
        for name in self.by_modname:
            parts = name.split(".")
            self._modname_prefixes.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        self._resolve_star_imports()
        self._subclasses: Optional[Dict[str, List[ClassInfo]]] = None  # (units ask which classes are modules)
        self.units: Dict[str, _Unit] = {}
        self.body_unit: Dict[str, _Unit] = {}
        self._lookup_cache: Dict[Tuple[str, str], object] = {}
        self._submodule_attrs: Dict[str, Set[str]] = {}
        self._weighted_attrs: Dict[Tuple[str, str], bool] = {}
        self._attr_scans: Dict[str, Tuple[Set[str], Set[str]]] = {}
        self._switched_cache: Dict[str, Set[str]] = {}
        self.attr_deps: Dict[str, Set[str]] = {}
        self.units_by_path: Dict[str, List[_Unit]] = {}
        self.unit_by_node: Dict[int, _Unit] = {}
        for m in modules.values():
            body = _Unit(self, m, None)
            self._add_unit(body)
            for fn in m.all_functions:
                self._add_unit(_Unit(self, m, fn))
        self._global_env: Dict[str, Dict[str, object]] = {}
        self._class_dep: Dict[object, Optional[bool]] = {}  # class name (and the parameters a call zeroes) -> dependence
        self._run_attr_cache: Dict[str, Set[str]] = {}
        self._noise_cache: Dict[str, bool] = {}  # class -> a NoisyNet-style layer (learned_noise)
        self._attr_state: Dict[str, Dict[str, object]] = {}
        self._attr_models: Dict[str, Dict[str, ModelVal]] = {}  # class -> attr -> the model __init__ leaves there
        self._attr_aliases: Dict[str, Dict[str, str]] = {}  # class -> attr -> the attr it holds the same model as
        self._attrs_near_backward: Optional[Tuple[Set[str], Set[str]]] = None
        self._attrs_read_by_backward: Set[str] = set()  # `obj.X` (not `self.X`) in a body with a backward pass
        self._attrs_read_elsewhere: Set[str] = set()  # `obj.X` (not `self.X`) in any body
        self._attr_readers: Dict[str, Set[ModuleInfo]] = {}  # X -> the modules whose bodies read `obj.X`
        self._modern_files: Dict[str, bool] = {}  # path -> uses an API of PyTorch >= 0.4 (`volatile` ignored)
        self._class_backprops: Dict[str, Tuple[bool, FrozenSet[str]]] = {}
        self._switched_globals: Dict[str, Set[str]] = {}
        self._local_names: Dict[str, Set[str]] = {}
        self._reads_globals: Dict[str, Set[str]] = {}
        self.entry_grad: Dict[str, FrozenSet[str]] = {}
        self.param_gets_model: Set[Tuple[str, str]] = set()
        self.value_refs: Set[str] = set()
        # callee id -> the calls the interpreter applied its summary at: call id -> (caller, call)
        self.call_sites: Dict[str, Dict[int, Tuple[_Unit, ast.Call]]] = {}
        self.unresolved_calls: Set[str] = set()  # method names called on receivers we cannot resolve
        self.unresolved_arity: Dict[str, Set[int]] = {}  # ... with how many positional arguments (-1: any)
        # call id -> [method name, positional count (-1: any), caller unit id, the grad states the
        # interpreter met there (None: never interpreted), resolved there from the receiver's value]
        self.unresolved_sites: Dict[int, list] = {}
        self._overrides: Dict[Tuple[str, str], List[_Unit]] = {}
        self._method_units: Dict[Tuple[int, str], Optional[_Unit]] = {}
        self._scope_nodes: Dict[int, Tuple[ast.AST, List[ast.AST]]] = {}
        self._param_free: Dict[str, bool] = {}
        self.ret_role: Dict[str, str] = {}
        self.errors: Dict[str, Tuple[BaseException, int]] = {}  # path -> the exception that stopped it
        self.ret_links: Dict[str, Set[str]] = {}
        # (unit id, param) -> what its call sites pass: True/False/None as ModelVal.dependent
        self.param_dep: Dict[Tuple[str, str], Optional[bool]] = {}
        # (unit id, param) -> the project classes its call sites pass: ("instance" | "model",
        # class names), None once a call site passes anything else (see note_param_class)
        self.param_classes: Dict[Tuple[str, str], Optional[Tuple[str, FrozenSet[str]]]] = {}
        # (unit id, parameter) -> the callers' parameters handed on to it as they came in
        self.param_deps: Dict[Tuple[str, str], Set[Tuple[str, str]]] = {}
        self._pc_resolved: Dict[Tuple[str, str], object] = {}  # param_classes with param_deps joined
        # (unit id, param) -> the id of the project function every call site passes there
        # (`trpo_step(policy_net, get_loss, ...)`), None once one passes anything else
        self.fn_params: Dict[Tuple[str, str], object] = {}  # a function id, or (unit id, param) passing its own on
        self._volatile_cache: Dict[str, Dict[str, List[Tuple[int, bool]]]] = {}
        self._bound_cache: Dict[str, Dict[str, Tuple[int, Tuple[ast.AST, ...]]]] = {}  # see bound_values
        self.variant_calls: Dict[int, _Unit] = {}  # call id -> the copy of its callee specialised to its flags

    def displays(self) -> Dict[str, str]:
        """Absolute path -> the name users see, for line references into other files."""
        got = self.memo.get("displays")
        if got is None:
            got = self.memo["displays"] = {f.path: f.display for f in self.files}
        return got

    def _add_unit(self, unit: _Unit) -> None:
        if unit.fn is None:
            self.body_unit[unit.path] = unit
        if unit.id in self.units:  # a redefinition: keep the first, analyse the second under a new id
            unit.id = f"{unit.id}@{getattr(unit.node, 'lineno', 0)}"
        self.units[unit.id] = unit
        self.units_by_path.setdefault(unit.path, []).append(unit)
        if unit.fn is not None:
            self.unit_by_node[id(unit.fn.node)] = unit

    def release(self) -> None:
        """Break the analysis' reference cycles (units and project, files and their classes)
        once the rules have read it: reference counting then frees it at once. The project
        and its modules are unusable afterwards."""
        for u in self.units.values():
            u.__dict__.clear()
        for m in self.modules.values():
            m.release()
        self.__dict__.clear()

    def declared_globals(self, unit: _Unit) -> Set[str]:
        """The names a function declares ``global`` (and so binds at module level)."""
        if unit.fn is None:
            return set()
        memo = self.memo.setdefault("declared_globals", {})
        got = memo.get(unit.id)
        if got is None:
            got = memo[unit.id] = {g for n in unit.nodes if type(n) is ast.Global for g in n.names}
        return got

    def module_globals(self, path: str) -> Dict[str, object]:
        """The models, instances and lists a module's functions read as globals: what its
        top-level code leaves in each name; for a name it leaves no model in, the models the
        functions that declare it ``global`` make and leave there (``global _model`` in
        ``load_model()``, read by ``embed()``), joined; not one such a function is handed
        (``global BatchNorm; BatchNorm = bn`` in a setter)."""
        body = self.body_unit.get(path)
        kept = (ModelVal, InstanceVal, ListVal)
        genv = {k: v for k, v in (body.final_env if body is not None else {}).items() if isinstance(v, kept)}
        declared: Dict[str, ModelVal] = {}
        for u in self.units_by_path.get(path, ()):
            for g in self.declared_globals(u):
                v = u.final_env.get(g)
                if isinstance(v, ModelVal) and v.param is None and not isinstance(genv.get(g), kept):
                    declared[g] = declared[g].join(v) if g in declared else v
        genv.update(declared)
        return genv

    # -- running -----------------------------------------------------------------------------
    def run(self) -> None:
        self.add_variants()
        order = self._order()
        bodies = [u for u in self.units.values() if u.fn is None]
        sequence = [u for u in order if not u.inert()] + bodies
        dirty = set(self.units)
        callers: Dict[str, Set[str]] = {}
        for uid, outs in self._graph.items():
            for o in outs:
                callers.setdefault(o, set()).add(uid)
        classes_before: Dict[Tuple[str, str], Optional[Tuple[str, FrozenSet[str]]]] = {}
        fns_before: Dict[Tuple[str, str], Optional[str]] = {}
        for _ in range(_ROUNDS):
            changed: Dict[str, int] = {}
            ran_at: Dict[str, int] = {}
            global_dirty: Set[str] = set()
            for clock, u in enumerate(sequence):
                if u.id not in dirty:
                    continue
                ran_at[u.id] = clock
                before = u.summary.key()
                env_before = u.final_env
                if u.path in self.errors:
                    continue
                try:
                    Interpreter(u).run()
                except Exception as exc:  # noqa: BLE001 - one bad file must not stop the run
                    self.errors[u.path] = (exc, getattr(u.node, "lineno", 1))
                    for x in self.units_by_path.get(u.path, ()):
                        x.events = {}
                    continue
                if u.summary.key() != before:
                    changed[u.id] = clock
                if u.fn is None or self.declared_globals(u):
                    genv = self.module_globals(u.path)
                    old_genv = self._global_env.get(u.path, {})
                    if genv != old_genv:
                        self._global_env[u.path] = genv
                        moved = {k for k in set(genv) | set(old_genv) if genv.get(k) != old_genv.get(k)}
                        global_dirty |= {x.id for x in self.units_by_path.get(u.path, ())
                                         if x.fn is not None and self.reads_globals(x) & moved}
                if u.fn is not None and (u.fn.name == "__init__" or u.id in self.attr_deps) \
                        and u.final_env != env_before:
                    self._attr_state.pop(u.cls.qualname if u.cls else "", None)
                    self._attr_models.pop(u.cls.qualname if u.cls else "", None)
                    self._attr_aliases.pop(u.cls.qualname if u.cls else "", None)
                    changed[u.id] = clock
            for uid, u in self.units.items():
                for callee, _g in u.edges:
                    callers.setdefault(callee, set()).add(uid)
            dirty = set(global_dirty)
            classes_now = dict(self.resolve_param_classes())
            if classes_now != classes_before:  # call sites told a parameter its class
                dirty |= {k[0] for k, v in classes_now.items() if classes_before.get(k, v) != v
                          or k not in classes_before}
            classes_before = classes_now
            fns_now = {k: self.resolved_fn_param(k) for k in self.fn_params}
            if fns_now != fns_before:  # call sites told a parameter the function it holds
                moved = {k[0] for k, v in fns_now.items() if fns_before.get(k, v) != v or k not in fns_before}
                dirty |= {x for x in self.units if x in moved or (".<locals>." in x and any(
                    p in moved for p in _enclosing_ids(x)))}
            fns_before = fns_now
            for uid, when in changed.items():
                # only those that ran before the change saw the stale summary
                for dep in callers.get(uid, set()) | self.attr_deps.get(uid, set()):
                    if ran_at.get(dep, -1) <= when:
                        dirty.add(dep)
            if not dirty:
                break
        self.settle_ret_calls()
        self._solve_ret_roles()
        self._solve_entry_grad()


def _enclosing_ids(uid: str) -> List[str]:
    """The ids of the functions a nested function's id says it is defined in
    (``f.<locals>.g.<locals>.h``: ``f``, ``f.<locals>.g``)."""
    parts = uid.split(".<locals>.")
    return [".<locals>.".join(parts[:i]) for i in range(1, len(parts))]
