"""Per-file facts from one ``ast`` pass: imports, aliases, qualified names, classes, functions.

Names are resolved semantically: ``import torch.nn.functional as F; F.dropout`` and
``from torch.nn.functional import dropout as drop; drop`` both resolve to
``torch.nn.functional.dropout``. Nothing here matches source text.

A top-level class or function defined more than once (a notebook cell redefining ``Net``
or ``get_model()``) keeps every definition (``class_defs``, ``function_defs``); ``class_at``
and ``function_at`` give the one in force at a line of top-level code (the last before it),
so uses before a redefinition see the earlier one. Uses inside functions see the last
definition.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Optional, Set, Tuple, Union

FunctionNode = Union[ast.FunctionDef, ast.AsyncFunctionDef]
_SINGLETONS = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)
_FIELDS: Dict[type, Tuple[str, ...]] = {}  # node type -> the fields that may hold child nodes


def _child_fields(t: type) -> Tuple[str, ...]:
    fields = _FIELDS.get(t)
    if fields is None:
        fields = _FIELDS[t] = tuple(f for f in t._fields if f not in ("ctx", "op"))
    return fields


@dataclass
class FunctionInfo:
    node: FunctionNode
    qualname: str  # "pkg.mod.func" or "pkg.mod.Class.method"
    cls: Optional["ClassInfo"] = None
    nodes: List[ast.AST] = field(default_factory=list)  # its own nodes, nested scopes excluded
    calls: List[ast.Call] = field(default_factory=list)  # the calls among them, in the same order

    @property
    def name(self) -> str:
        return self.node.name

    def param_names(self) -> List[str]:
        a = self.node.args
        return [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)]

    def positional_params(self) -> List[str]:
        a = self.node.args
        return [p.arg for p in (*a.posonlyargs, *a.args)]

    def annotation_of(self, name: str) -> Optional[ast.expr]:
        a = self.node.args
        for p in (*a.posonlyargs, *a.args, *a.kwonlyargs):
            if p.arg == name:
                return p.annotation
        return None


@dataclass
class ClassInfo:
    node: ast.ClassDef
    qualname: str
    module: "ModuleInfo"
    bases: List[str] = field(default_factory=list)  # resolved base names ("torch.nn.Module", "mod.Class")
    methods: Dict[str, FunctionInfo] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.node.name


class ModuleInfo:
    """Facts about one file. ``modname`` is its dotted name relative to the analysed root."""

    def __init__(self, tree: ast.Module, modname: str, path: str = "", is_package: bool = False):
        self.tree = tree
        self.modname = modname
        self.path = path
        self.is_package = is_package
        self.imports: Dict[str, str] = {}
        self.displayed: Set[int] = set()  # a notebook's cell-final expression statements (their value is shown)
        self.star_bases: List[str] = []  # modules imported with ``from X import *``, in order
        self.star_names: Dict[str, str] = {}  # name -> qualified name, from those of them in the project
        self.aliases: Dict[str, str] = {}  # module-level ``Exp = Exp_Informer``: name -> what it names
        self.classes: Dict[str, ClassInfo] = {}  # top-level classes by name (the last definition)
        self.class_defs: Dict[str, List[ClassInfo]] = {}  # every top-level definition, in order
        self.function_defs: Dict[str, List[FunctionInfo]] = {}  # every top-level definition, in order
        self._redefined: Dict[Tuple[bool, str], int] = {}  # (a class?, name) -> definitions, where more than one
        self.functions: Dict[str, FunctionInfo] = {}
        self.all_functions: List[FunctionInfo] = []
        self.nodes: List[ast.AST] = []  # every node, from one walk shared by every consumer
        self.loaded: List[str] = []  # the identifier of each Name read (the commonest node)
        self.stored: Set[str] = set()  # the identifiers bound by assignment (Store) anywhere in the file
        self.called: List[str] = []  # the identifier of each Name called or used as a decorator
        self.expr_stmts: List[ast.Expr] = []  # the expression statements
        self._own: Dict[int, List[ast.AST]] = {}  # def node id -> its own nodes (nested scopes excluded)
        self._own_calls: Dict[int, List[ast.Call]] = {}  # def node id -> the calls among them
        self._nested: Dict[int, List[FunctionNode]] = {}  # def node id -> defs directly inside it
        self.memo: Dict[str, Any] = {}  # what rules derive from this file once per run (it dies with the run)
        self._walk()
        # a top-level class defined again further down (a notebook cell that redefines `Net`):
        # each earlier definition gets its own qualified name, ``mod.Net@<line>``; the last
        # keeps ``mod.Net`` (what an import sees); ``class_defs`` lists them all, in order
        counts: Dict[Tuple[bool, str], int] = {}  # (a class?, name) -> its top-level definitions
        for stmt in self.tree.body:
            for node in _flatten_defs(stmt):
                key = (isinstance(node, ast.ClassDef), node.name)
                counts[key] = counts.get(key, 0) + 1
        self._redefined = {key: n for key, n in counts.items() if n > 1}
        self._collect_defs(self.tree.body, prefix=self.modname, cls=None)
        self._collect_aliases()

    def class_at(self, ci: ClassInfo, line: int) -> ClassInfo:
        """The definition of top-level class ``ci``'s name in force at ``line`` of this
        module's top-level code: the last one before it (cells and scripts run top to
        bottom); ``ci`` when it is not redefined here or none precedes the line."""
        return _in_force(self.class_defs.get(ci.name) if ci.module is self else None, ci, line)

    def function_at(self, fi: "FunctionInfo", line: int) -> "FunctionInfo":
        """``class_at`` for a top-level function redefined in this module."""
        return _in_force(self.function_defs.get(fi.name) if fi.cls is None else None, fi, line)

    def _top_qualname(self, qual: str, node: ast.AST, defs: Dict[str, list]) -> str:
        """A top-level definition's qualified name: ``mod.Net`` for the last definition of its
        name, ``mod.Net@<line>`` for one the module redefines further down."""
        if self._redefined.get((isinstance(node, ast.ClassDef), node.name), 0) > len(defs.get(node.name, ())) + 1:
            return f"{qual}@{node.lineno}"
        return qual

    def parents(self) -> Dict[int, ast.AST]:
        """Child id -> parent node over the whole file (built once, for the rules and the
        flow analysis that walk up from a node)."""
        out = self.memo.get("parents")
        if out is None:
            out = self.memo["parents"] = _parent_map(self.nodes)
        return out

    def release(self) -> None:
        """Break this file's reference cycles (the module, its classes and their methods point
        at each other) once the run is over, so that reference counting frees them at once
        instead of a later collection of the cyclic garbage collector (see
        ``engine.collector_paused``). The object is unusable afterwards."""
        for fi in self.all_functions:
            if fi.cls is not None:
                fi.cls.__dict__.clear()
            fi.__dict__.clear()
        for ci in [c for defs in self.class_defs.values() for c in defs]:  # every top-level class, redefined ones too
            ci.__dict__.clear()
        for ci in self.memo.get("local_classes", {}).values():
            if ci is not None:
                for fi in ci.methods.values():
                    fi.__dict__.clear()
                ci.__dict__.clear()
        self.__dict__.clear()

    # -- collection -------------------------------------------------------------------------
    def _walk(self) -> None:
        """One pass over the tree: all nodes, imports, each function's own nodes, and the
        names read and called (for ``flow``'s callbacks: names read more often than called).

        The hot loop of the whole analyser, so it inlines ``ast.iter_child_nodes`` and skips
        the operator and context singletons (``Load``, ``Add``…) that nothing consults."""
        FD, AFD, Lam, Cls, Imp, ImpF = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef,
                                        ast.Import, ast.ImportFrom)
        NameT, CallT, ExprT, Load = ast.Name, ast.Call, ast.Expr, ast.Load
        AST = ast.AST
        fields_of = _FIELDS
        nodes, own, nested, own_calls = self.nodes, self._own, self._nested, self._own_calls
        add_expr = self.expr_stmts.append
        add_loaded, add_called, add_stored = self.loaded.append, self.called.append, self.stored.add
        stack: List = [(self.tree, None)]
        push, pop = stack.append, stack.pop
        while stack:
            node, owner = pop()
            nodes.append(node)
            if owner is not None and owner != -1:
                own[owner].append(node)
            t = type(node)
            if t is FD or t is AFD:
                if owner != -1:
                    if owner is not None:
                        nested.setdefault(owner, []).append(node)
                    own[id(node)] = []
                    own_calls[id(node)] = []
                    child_owner = id(node)
                else:
                    child_owner = -1
                # decorators, defaults and annotations run in the enclosing scope; the body in its own
                for d in node.decorator_list:
                    push((d, owner))
                    if d.__class__ is NameT:
                        add_called(d.id)
                push((node.args, owner))
                if node.returns is not None:
                    push((node.returns, owner))
                for stmt in node.body:
                    push((stmt, child_owner))
                continue
            if t is Lam or t is Cls:
                if t is Cls:
                    for d in node.decorator_list:
                        if d.__class__ is NameT:
                            add_called(d.id)
                child_owner = -1 if owner is not None else None  # a class at module level: its methods count
            else:
                child_owner = owner
                if t is NameT:
                    if node.ctx.__class__ is Load:
                        add_loaded(node.id)
                    else:
                        add_stored(node.id)
                    continue  # its only child is its context
                if t is CallT:
                    if node.func.__class__ is NameT:
                        add_called(node.func.id)
                    if owner is not None and owner != -1:
                        own_calls[owner].append(node)
                elif t is ExprT:
                    add_expr(node)
                elif t is Imp:
                    for alias in node.names:
                        if alias.asname:
                            self.imports[alias.asname] = alias.name
                        else:
                            top = alias.name.split(".")[0]
                            self.imports[top] = top
                elif t is ImpF:
                    base = self._import_base(node)
                    for alias in node.names:
                        if alias.name != "*":
                            self.imports[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name
                        elif base:
                            self.star_bases.append(base)
            fields = fields_of.get(t) or _child_fields(t)
            for name in fields:
                v = getattr(node, name, None)
                if v.__class__ is list:
                    for item in v:
                        if isinstance(item, AST):
                            push((item, child_owner))
                elif isinstance(v, AST) and not isinstance(v, _SINGLETONS):
                    push((v, child_owner))

    def _import_base(self, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        parts = self.modname.split(".") if self.modname else []
        if not self.is_package:
            parts = parts[:-1]
        if node.level > 1:
            parts = parts[: len(parts) - (node.level - 1)] if len(parts) >= node.level - 1 else []
        if node.module:
            parts = parts + node.module.split(".")
        return ".".join(parts)

    def _collect_defs(self, body: List[ast.stmt], prefix: str, cls: Optional[ClassInfo]) -> None:
        for stmt in body:
            for node in _flatten_defs(stmt):  # (functions and classes only)
                is_fn = not isinstance(node, ast.ClassDef)
                qual = f"{prefix}.{node.name}" if prefix else node.name
                top = cls is None and prefix == self.modname
                if top:
                    qual = self._top_qualname(qual, node, self.function_defs if is_fn else self.class_defs)
                if is_fn:
                    info = FunctionInfo(node, qual, cls)
                    self.all_functions.append(info)
                    if cls is not None:
                        cls.methods.setdefault(node.name, info)
                    elif top:
                        self.functions[node.name] = info
                        self.function_defs.setdefault(node.name, []).append(info)
                    self._collect_nested(info)
                else:
                    ci = ClassInfo(node, qual, self)
                    if top:
                        self.classes[node.name] = ci
                        self.class_defs.setdefault(node.name, []).append(ci)
                    ci.bases = [b for b in (self.resolve(_unsubscripted(base)) for base in node.bases) if b]
                    self._collect_defs(node.body, qual, ci)

    def _collect_aliases(self) -> None:
        """Module-level names bound once, to another name: ``Exp = Exp_Informer`` (then
        ``exp = Exp(args)`` builds an ``Exp_Informer``), ``Net = models.ResNet``. A name bound
        more than once in the module's own code (a branch, a loop, an augmented assignment), or
        one that is also imported or defined, is not an alias."""
        bound: Dict[str, int] = {}
        candidates: Dict[str, ast.AST] = {}
        stack: List[ast.AST] = list(self.tree.body)
        while stack:
            node = stack.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                continue
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                bound[node.id] = bound.get(node.id, 0) + 1
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and type(node.targets[0]) is ast.Name:
                candidates[node.targets[0].id] = node.value
            stack.extend(ast.iter_child_nodes(node))
        for name, value in candidates.items():
            if bound.get(name) != 1 or name in self.imports or name in self.classes or name in self.functions:
                continue
            if type(value) in (ast.Name, ast.Attribute):
                qn = self.resolve(value)
                if qn:
                    self.aliases[name] = qn

    def _collect_nested(self, fn: FunctionInfo) -> None:
        """Attach the function's own nodes (from the walk) and create its nested functions."""
        fn.nodes = self._own.get(id(fn.node), [])
        fn.calls = self._own_calls.get(id(fn.node), [])
        for node in self._nested.get(id(fn.node), ()):
            info = FunctionInfo(node, f"{fn.qualname}.<locals>.{node.name}")
            self.all_functions.append(info)
            self._collect_nested(info)

    def local_class(self, fn: FunctionInfo, name: str) -> Optional[ClassInfo]:
        """The class ``name`` defined in ``fn``'s own body (``class Kernel(nn.Module)`` inside
        an ``__init__``), with its methods; None when there is none, or more than one."""
        memo = self.memo.setdefault("local_classes", {})
        key = (id(fn.node), name)
        if key not in memo:
            found = [n for n in fn.nodes if type(n) is ast.ClassDef and n.name == name]
            ci = None
            if len(found) == 1:
                node = found[0]
                ci = ClassInfo(node, f"{fn.qualname}.<locals>.{name}", self)
                ci.bases = [b for b in (self.resolve(_unsubscripted(base)) for base in node.bases) if b]
                for stmt in node.body:
                    for d in _flatten_defs(stmt):
                        if isinstance(d, (ast.FunctionDef, ast.AsyncFunctionDef)):
                            ci.methods.setdefault(d.name, FunctionInfo(d, f"{ci.qualname}.{d.name}", ci))
            memo[key] = ci
        return memo[key]

    def nested_defs(self, fn: FunctionInfo) -> List[FunctionNode]:
        """The functions defined directly in ``fn``'s body (not inside classes or lambdas)."""
        return self._nested.get(id(fn.node), [])

    def local_function(self, fn: FunctionInfo, name: str) -> Optional[FunctionInfo]:
        """The function ``name`` defined directly in ``fn``'s body (a ``block()`` helper inside
        an ``__init__``); None when there is none, or more than one."""
        found = [d for d in self.nested_defs(fn) if d.name == name]
        if len(found) != 1:
            return None
        infos = self.memo.get("function_infos")
        if infos is None:
            infos = self.memo["function_infos"] = {id(f.node): f for f in self.all_functions}
        return infos.get(id(found[0]))

    # -- resolution -------------------------------------------------------------------------
    def resolve(self, expr: Optional[ast.AST]) -> Optional[str]:
        """Qualified name of a Name/Attribute chain, through imports and local definitions."""
        attrs = []
        while type(expr) is ast.Attribute:
            attrs.append(expr.attr)
            expr = expr.value
        if type(expr) is not ast.Name:
            return None
        name = expr.id
        if name in self.imports:
            base = self.imports[name]
        elif name in self.classes or name in self.functions:
            base = f"{self.modname}.{name}" if self.modname else name
        elif name in self.star_names:
            base = self.star_names[name]
        elif name in self.aliases:
            base = self.aliases[name]
        else:
            return None
        if not attrs:
            return base
        return ".".join([base, *reversed(attrs)]) if base else None

    def resolve_call(self, call: ast.AST) -> Optional[str]:
        return self.resolve(call.func) if isinstance(call, ast.Call) else None


def _in_force(defs, d, line: int):
    """Of the top-level definitions ``defs`` of ``d``'s name, in order, the one in force at
    ``line`` of top-level code: the last before it; ``d`` where the name is not redefined
    (or ``d`` is none of them) or none precedes the line."""
    if not defs or len(defs) < 2 or not any(x is d for x in defs):
        return d
    before = [x for x in defs if x.node.lineno < line]
    return before[-1] if before else d


def _unsubscripted(base: ast.AST) -> ast.AST:
    """A class's base without its type arguments: ``Base[str]`` is ``Base`` (a generic of the
    project, ``class Base(nn.Module, Generic[T])``), ``Generic[T]`` is ``Generic``."""
    while type(base) is ast.Subscript:
        base = base.value
    return base


def _link_children(node: ast.AST, out: Dict[int, ast.AST], push=None) -> None:
    """Record ``node`` as the parent of each child (and hand each child to ``push``)."""
    for name in _FIELDS.get(type(node)) or _child_fields(type(node)):
        v = getattr(node, name, None)
        if v.__class__ is list:
            for item in v:
                if isinstance(item, ast.AST):
                    out[id(item)] = node
                    if push is not None:
                        push(item)
        elif isinstance(v, ast.AST):
            out[id(v)] = node
            if push is not None:
                push(v)


def _parent_map(nodes: Iterable[ast.AST]) -> Dict[int, ast.AST]:
    """Child id -> parent node, for the children of ``nodes``."""
    out: Dict[int, ast.AST] = {}
    for node in nodes:
        _link_children(node, out)
    return out


def parent_map(root: ast.AST) -> Dict[int, ast.AST]:
    """Child id -> parent node over ``root``'s subtree (``root`` itself has none)."""
    out: Dict[int, ast.AST] = {}
    stack = [root]
    while stack:
        _link_children(stack.pop(), out, stack.append)
    return out


def _flatten_defs(stmt: ast.stmt) -> Iterator[ast.stmt]:
    """Definitions in a statement, looking into if/try blocks (conditional definitions)."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        yield stmt
    elif isinstance(stmt, (ast.If, ast.Try, ast.With, ast.AsyncWith)) or type(stmt).__name__ == "TryStar":
        for name in ("body", "orelse", "finalbody"):
            for sub in getattr(stmt, name, []) or []:
                yield from _flatten_defs(sub)
        for handler in getattr(stmt, "handlers", []) or []:
            for sub in handler.body:
                yield from _flatten_defs(sub)


def get_arg(call: ast.Call, position: Optional[int], keyword: str) -> Optional[ast.expr]:
    """An argument read by keyword or position (None when absent or hidden behind *args)."""
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    if position is not None:
        for i, arg in enumerate(call.args):
            if isinstance(arg, ast.Starred):
                return None
            if i == position:
                return arg
    return None


def has_star_args(call: ast.Call) -> bool:
    return any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords)


def default_of(fn: ast.AST, name: str) -> Optional[ast.AST]:
    """The default value of parameter ``name`` of the function definition ``fn``, or None."""
    a = fn.args
    pos = [*a.posonlyargs, *a.args]
    defaults = a.defaults
    for p, d in zip(pos[len(pos) - len(defaults):], defaults):
        if p.arg == name:
            return d
    for p, d in zip(a.kwonlyargs, a.kw_defaults):
        if p.arg == name:
            return d
    return None
