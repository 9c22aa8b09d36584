"""Mode dependence of classes and values: ``DependenceMixin``.

Whether a class, a value or an expression behaves differently in training and eval mode
(dropout, batch norm, mode-reading code), the attributes a class switches or assigns, and
the scopes those scans walk.
"""
from __future__ import annotations

import ast
import contextlib
import copy
import itertools
from typing import FrozenSet, List, Optional, Set, Tuple

from .. import knowledge as K
from ..semantic import ClassInfo, FunctionInfo, ModuleInfo, default_of, has_star_args
from .values import _or_dep
from .unit import _Unit, _chain_base
from .syntax import (_CONTAINERS, _MODE_METHODS, _PURE_BUILTINS, _SUBMODULE_LISTS, _Attribute, _Call, _Load, _Name,
                     _walk_scope, path_of)
from .idioms import _DATA_BUILTINS, _TAKE_MODULES, _TENSOR_SIZE_METHODS, _local_parts, _passed_through, layer_dependent


_DESCRIBING_METHODS = frozenset({"extra_repr", "__repr__", "__str__", "__format__"})
_GAUSSIAN_DRAWS = frozenset({"normal_", "randn", "randn_like", "normal"})
_SEQUENCES = (ast.List, ast.Tuple, ast.ListComp)


class DependenceMixin:
    """Mode dependence of classes and values, for ``Project`` (see the module docstring)."""

    def scope_nodes(self, node: ast.AST) -> List[ast.AST]:
        """``_walk_scope(node)``, listed once: the class facts below read each method's nodes
        several times."""
        got = self._scope_nodes.get(id(node))
        if got is None or got[0] is not node:
            got = self._scope_nodes[id(node)] = (node, list(_walk_scope(node)))
        return got[1]

    def class_dependent(self, ci: ClassInfo, zero: FrozenSet[str] = frozenset()) -> Optional[bool]:
        """True: some layer behaves differently in training; False: none does (all visible).
        ``zero``: ``__init__`` parameters a construction sets to 0 (``dropout=0.``), read as
        that constant where ``__init__`` builds its layers (see ``class_dependent_for_call``)."""
        key = (ci.qualname, zero) if zero else ci.qualname
        if key in self._class_dep:
            return self._class_dep[key]
        self._class_dep[key] = None  # recursion guard
        result = self._class_dep[key] = self._class_scan(ci, zero)
        return result

    def _class_scan(self, ci: ClassInfo, zero: FrozenSet[str]) -> Optional[bool]:
        """``class_dependent`` without its memo (read under a construction's arguments too)."""
        result: Optional[bool] = False
        for b in ci.bases:
            if b in K.TORCH_MODULE_BASES and b.rsplit(".", 1)[-1] == "Module":
                continue
            bc = self.lookup_class(b, ci.module)
            if bc is not None:
                result = _or_dep(result, self.class_dependent(bc))
            elif b.startswith("torch.nn.") and b.count(".") == 2 and b[9:] not in _CONTAINERS and b[9:10].isupper():
                # a torch layer subclassed (whisper's `class LayerNorm(nn.LayerNorm)`): that layer's behaviour
                result = _or_dep(result, b[9:] in K.MODE_DEPENDENT_LAYERS)
            elif K.library_model_class(b):  # `class DeepDream(torchvision.models.ResNet)`: its batch norm
                result = True
            elif not self.third_party_layer(b):  # a library layer's subclass (an augmentation): no evidence
                result = None if result is False else result
        for fn in ci.methods.values():
            with self._zeros_bound(fn, zero):
                for n in self.scope_nodes(fn.node):
                    if isinstance(n, ast.Attribute) and n.attr == "training" and isinstance(n.value, ast.Name) \
                            and isinstance(n.ctx, ast.Load):
                        if id(n) not in self.shaping_reads(fn.node) and not self.learned_noise(ci):
                            result = True  # it reads the flag (`self.training = False`, setting it, branches on
                            # nothing)
                    elif isinstance(n, (ast.Assign, ast.AnnAssign)) and n.value is not None:
                        targets = n.targets if isinstance(n, ast.Assign) else [n.target]
                        selfname = (fn.positional_params() or ["self"])[0]
                        mine = [t.attr for t in targets if isinstance(t, ast.Attribute) and
                                isinstance(t.value, ast.Name) and t.value.id == selfname]
                        if mine:
                            value = _zeroed(n.value, zero, selfname) if zero and fn.name == "__init__" else n.value
                            dep = self.value_dependent(value, ci.module, fn)
                            if dep is None and (not (set(mine) & self._run_attrs(ci))
                                                or self._plain_layer(value, ci.module, fn)):
                                dep = False  # an unknown value the module never runs (a size, an option), a tensor
                            elif dep and self.never_read(ci, mine):
                                dep = False  # a classifier head that `forward` (returning feature maps) never runs
                            result = _or_dep(result, dep)
                    elif isinstance(n, ast.Call):
                        q = ci.module.resolve(n.func)
                        if q and (q in K.FUNCTIONAL_DROPOUT or q.startswith("torch.nn.functional.") and
                                  ("dropout" in q or "batch_norm" in q)):
                            result = True
            if result is True:
                break
        return result

    def shaping_reads(self, node: ast.AST) -> Set[int]:
        """The ``self.training`` reads of method ``node`` (ids) that only choose what is
        returned, both ways built without a call: ``if self.training: return [m1, m2], pose``
        ``else: return m1, pose`` (or the eval return after the ``if``), ``return (x, aux) if
        self.training else x``. The values are the same in both modes; only their structure
        differs, which a caller cannot misread silently."""
        memo = self.memo.setdefault("shaping_reads", {})
        got = memo.get(id(node))
        if got is None or got[0] is not node:
            got = memo[id(node)] = (node, _shaping_reads(node))
        return got[1]

    @contextlib.contextmanager
    def _zeros_bound(self, fn: FunctionInfo, zero: FrozenSet[str]):
        """While open, the parameters in ``zero`` of ``__init__`` ``fn`` read as 0 wherever
        ``value_dependent`` meets them, also in what a local list is made of (``layers.append(
        Attention(dim, dropout=attn_dropout))``), and in the calls that pass them on."""
        if not zero or fn.name != "__init__":
            yield
            return
        zeros = self.memo.setdefault("zero_constants", {})
        with self._bound_to(fn, {p: zeros.setdefault(p, ast.Constant(0)) for p in zero}, fn.cls.module if fn.cls
                            else self.module_of(fn), fn):
            yield

    def _zero_arg(self, a: ast.AST, fn: Optional[FunctionInfo], unit: Optional[_Unit] = None,
                  depth: int = 0) -> bool:
        """Argument ``a`` (read in ``fn``; in ``unit``'s code, when given) is a constant 0, a
        parameter of ``fn`` that the binding in force reads as one, or a name that every
        assignment of ``unit`` binds to one (``emb, hid, dropout = 32, 32, 0.0``)."""
        if type(a) is ast.Constant:
            return type(a.value) in (int, float, bool) and not a.value
        if type(a) is not _Name or depth > 4:
            return False
        if fn is not None:
            bound = self.memo.get("dependence_bindings", {}).get(id(fn.node))
            got = bound[0].get(a.id) if bound is not None else None
            if got is not None:
                return got is not a and self._zero_arg(got, bound[2], None, depth + 1)
        values = self.bound_values(unit, a.id) if unit is not None else None
        return bool(values) and all(self._zero_arg(v, fn, unit, depth + 1) for v in values)

    def class_dependent_for_call(self, ci: ClassInfo, call: ast.Call, module: Optional[ModuleInfo] = None,
                                 fn: Optional[FunctionInfo] = None, caller: Optional[_Unit] = None) -> Optional[bool]:
        """The mode dependence of the module ``call`` builds: its class's, with the
        ``__init__`` parameters the call sets to a constant 0 read as 0 (``Seq2Seq(...,
        dropout=0.)`` whose dropout layers all take that rate holds none that acts). Where
        the class's is unknown because ``__init__`` keeps what it is handed (``self.encoder =
        encoder``), and the call is read in ``module`` (in ``fn``), each parameter reads as
        what this call passes (``EncoderDecoder(Encoder(EncoderLayer(...)), ...)``). A name
        passed reads as 0 where every assignment of it in the calling code (``caller``, or
        ``fn``'s or ``module``'s) is a 0."""
        init = ci.methods.get("__init__")
        unit = self.unit_by_node.get(id(init.node)) if init is not None else None
        if unit is None:
            return self.class_dependent(ci)
        bound = self.bind_args(unit, call, constructor=True)
        if caller is None:
            caller = self.unit_by_node.get(id(fn.node)) if fn is not None else \
                self.body_unit.get(module.path) if module is not None else None
        zero = frozenset(p for p, a in bound if self._zero_arg(a, fn, caller))
        got = self.class_dependent(ci, zero)
        if got is True and not has_star_args(call):  # a rate the call leaves to a default of 0 (`dropout=0.0`)
            given = {p for p, _a in bound}
            left = frozenset(p for p in unit.params if p not in given and self._zero_arg(default_of(init.node, p), None))
            if left:
                got = self.class_dependent(ci, zero | left)
        if got is not None or module is None or not bound:
            return got
        with self._bound_to(init, dict(bound), module, fn) as fresh:
            return self._class_scan(ci, zero) if fresh else None

    @contextlib.contextmanager
    def _bound_to(self, callee: FunctionInfo, args, module: ModuleInfo, fn: Optional[FunctionInfo]):
        """While open, ``value_dependent`` reads a parameter of ``callee`` as the argument a
        call passes it (``args``: parameter -> expression, read in ``module``, in ``fn``).
        Yields False, binding nothing, where ``callee`` is bound already or too deep."""
        stack = self.memo.setdefault("dependence_bindings", {})
        fresh = id(callee.node) not in stack and len(stack) < 8
        if fresh:
            stack[id(callee.node)] = (args, module, fn)
        try:
            yield fresh
        finally:
            if fresh:
                del stack[id(callee.node)]

    def learned_noise(self, ci: ClassInfo) -> bool:
        """A NoisyNet-style layer: its forward adds noise that another of its methods resamples
        into its state (``reset_noise()`` writing ``self.weight_epsilon``), scaled by its own
        learned parameters (``self.weight_sigma``), where either those scales or the resampling
        (``if self.training: self.sample_noise()``, drawing Gaussian noise, not a dropout
        mask) act in training mode only. The program drives that noise itself and keeps it on
        purpose (exploration, a noisy target network): no evidence that the mode matters."""
        got = self._noise_cache.get(ci.qualname)
        if got is not None:
            return got
        self._noise_cache[ci.qualname] = False
        fwd = ci.methods.get("forward")
        if fwd is None:
            return False
        params: Set[str] = set()
        written: Set[str] = set()
        resamplers: Set[str] = set()  # the methods that write them
        for name, fn in ci.methods.items():
            me = (fn.positional_params() or ["self"])[0]
            for n in self.scope_nodes(fn.node):
                if name == "__init__" and type(n) is ast.Assign and type(n.value) is _Call and \
                        (ci.module.resolve(n.value.func) or "").rsplit(".", 1)[-1] == "Parameter":
                    params |= {t.attr for t in n.targets if type(t) is _Attribute and path_of(t.value) == me}
                elif name not in ("__init__", "forward") and type(n) is _Call and type(n.func) is _Attribute \
                        and n.func.attr.endswith("_") and type(n.func.value) is _Attribute \
                        and path_of(n.func.value.value) == me:
                    written.add(n.func.value.attr)  # `self.weight_epsilon.copy_(...)`, `.normal_()`
                    resamplers.add(name)
                elif name not in ("__init__", "forward") and type(n) is ast.Assign:
                    mine = {t.attr for t in n.targets if type(t) is _Attribute and path_of(t.value) == me}
                    written |= mine
                    if mine:
                        resamplers.add(name)
        me = (fwd.positional_params() or ["self"])[0]
        reads = {n.attr for n in self.scope_nodes(fwd.node) if type(n) is _Attribute and path_of(n.value) == me}
        in_training = set()
        for n in self.scope_nodes(fwd.node):
            if type(n) is ast.If and type(n.test) is _Attribute and n.test.attr == "training" \
                    and path_of(n.test.value) == me:
                in_training |= {x.attr for b in n.body for x in ast.walk(b)
                                if type(x) is _Attribute and path_of(x.value) == me}
        # the learned scales act in training only, or the noise is drawn again in training only
        # (`if self.training: self.sample_noise()`: exploration, as NoisyNet acts)
        gaussian = {name for name in resamplers & in_training if any(
            type(n) is _Call and (n.func.attr if type(n.func) is _Attribute else getattr(n.func, "id", ""))
            in _GAUSSIAN_DRAWS for n in self.scope_nodes(ci.methods[name].node))}  # not a dropout mask
        got = bool(written & reads) and bool(params & in_training or gaussian and params & reads) \
            and not (written & params)
        self._noise_cache[ci.qualname] = got
        return got

    def _run_attrs(self, ci: ClassInfo) -> Set[str]:
        """Attributes ``self.X`` that the class's methods may run as a submodule: called
        (``self.X(...)``, ``self.X.f(...)``), iterated, or handed to another call positionally."""
        got = self._run_attr_cache.get(ci.qualname)
        if got is None:
            got = self._run_attr_cache[ci.qualname] = set()
            for fn in ci.methods.values():
                if fn.name in _DESCRIBING_METHODS:
                    continue  # `extra_repr()` formats `self.input_dim`: it runs nothing
                selfname = (fn.positional_params() or ["self"])[0]

                def own_attr(e: ast.AST) -> Optional[str]:
                    while isinstance(e, (ast.Attribute, ast.Subscript)):
                        if isinstance(e, ast.Attribute) and isinstance(e.value, ast.Name) and e.value.id == selfname:
                            return e.attr
                        e = e.value
                    return None

                for n in self.scope_nodes(fn.node):
                    if isinstance(n, ast.Call):
                        f = n.func
                        if isinstance(f, ast.Name) and f.id in _PURE_BUILTINS:
                            continue  # min(self.size, ...), len(self.blocks) run nothing
                        if type(f) is _Attribute and f.attr == "format" and type(f.value) is ast.Constant:
                            continue  # "{} -> {}".format(self.in_dim, self.out_dim): text
                        q = ci.module.resolve(f) or ""
                        if q.startswith("torch.nn.functional."):
                            continue  # F.pad(x, self.padding): an option, not a module
                        if type(f) is _Attribute and f.attr in _TENSOR_SIZE_METHODS:
                            continue  # x.view(B, T, self.n_head), self.cache.index_select(0, pos): tensors
                        sizes = _takes_sizes(q)
                        own = ci.methods.get(f.attr) if type(f) is _Attribute and path_of(f.value) == selfname \
                            else None
                        if own is None and q and not q.startswith("torch."):
                            built = self.lookup_class(q, ci.module)  # `NoisyLinear(512, self.num_atoms)`
                            own = built.methods.get("__init__") if built is not None else None
                        if own is not None and not own.node.decorator_list and not any(
                                type(a) is ast.Starred for a in n.args):
                            # `self._scale_noise(self.in_features)`, `ResidualBlock(self.channels)`: a
                            # value that the class's own method, or a project class's __init__, does
                            # not run where it lands is no submodule
                            ps = own.positional_params()[1:]
                            sizes = all(i < len(ps) and not self._param_runs(own, ps[i]) for i in range(len(n.args)))
                        for e in (f,) if sizes else (f, *n.args):  # by keyword (groups=self.channels): an option
                            a = own_attr(e)
                            if a is not None:
                                got.add(a)
                    elif isinstance(n, (ast.For, ast.comprehension)):
                        a = own_attr(n.iter)
                        if a is not None:
                            got.add(a)
        return got

    def never_read(self, ci: ClassInfo, attrs: List[str]) -> bool:
        """No code can run the layers ``ci`` keeps under ``attrs``: no method of its family
        (its project bases and subclasses) reads ``self.<attr>``, hands ``self`` out whole or
        iterates its submodules to call them (``getattr(self, name)``, ``for m in
        self.children(): x = m(x)``), and no body of the project that an object of ``ci``
        may reach (``may_meet``) reads an attribute of that name from another object
        (``model.classifier(x)``, ``self.backbone.classifier``)."""
        self.attrs_near_backward()  # (its walk lists the readers)
        readers = self._attr_readers
        if any(self.may_meet(m, ci.module) for a in attrs for m in readers.get(a, ())):
            return False
        own = self.memo.setdefault("own_reads", {})
        reads = own.get(ci.qualname)
        if reads is None:  # the attributes its family reads on `self`; None: it may run any
            reads = set()
            for c in self.class_family(ci):
                for fn in c.methods.values():
                    got = _own_reads(list(ast.walk(fn.node)), (fn.positional_params() or ["self"])[0])
                    if got is None:
                        reads = False
                        break
                    reads |= got
                if reads is False:
                    break
            own[ci.qualname] = reads
        return reads is not False and not reads.intersection(attrs)

    def _param_runs(self, fn: FunctionInfo, name: str) -> bool:
        """``fn`` (a method of a class, or a project class's ``__init__``) may run what its
        parameter ``name`` holds: calls it or a method of it, iterates it, hands it positionally
        to a call that takes modules (not to a torch layer's constructor, a tensor or a math
        function: those take sizes), or keeps it on ``self`` where the class runs it (a
        wrapper's ``self.block = block``)."""
        module = self.module_of(fn) or (fn.cls.module if fn.cls is not None else None)
        selfname = (fn.positional_params() or ["self"])[0]
        for n in self.scope_nodes(fn.node):
            t = type(n)
            if t is _Call:
                root = n.func
                while type(root) is _Attribute:
                    root = root.value
                if type(root) is _Name and root.id == name:
                    return True
                if any(type(a) is _Name and a.id == name for a in n.args) and not (
                        module is not None and _takes_sizes(module.resolve(n.func) or "")):
                    return True
            elif t in (ast.For, ast.comprehension) and type(n.iter) is _Name and n.iter.id == name:
                return True
            elif t is ast.Assign and type(n.value) is _Name and n.value.id == name and fn.cls is not None and any(
                    type(x) is _Attribute and type(x.value) is _Name and x.value.id == selfname
                    and x.attr in self._run_attrs(fn.cls) for x in n.targets):
                return True
        return False

    def plain_function(self, e: Optional[ast.AST], module: ModuleInfo) -> bool:
        """``e`` names a function, not a class or an object: one of the project's, or a
        library's lowercase attribute (``F.relu``, ``torch.tanh``), or a lambda."""
        if isinstance(e, ast.Lambda):
            return True
        if not isinstance(e, (ast.Name, ast.Attribute)):
            return False
        q = module.resolve(e)
        if not q:
            return False
        found = self.lookup(q, module)
        if found is not None:
            return isinstance(found, FunctionInfo)
        head, _, last = q.rpartition(".")
        if q in K.FUNCTIONAL_DROPOUT or "dropout" in last or "batch_norm" in last:
            return False  # mode-dependent when called with `training=self.training`
        return bool(head) and last[:1].islower() and head.split(".", 1)[0] in K.FUNCTION_LIBRARIES

    def value_dependent(self, e: ast.AST, module: ModuleInfo, fn: Optional[FunctionInfo],
                        depth: int = 0) -> Optional[bool]:
        if depth > 12:  # the nesting of one expression (nn.ModuleDict(dict(h=nn.ModuleList(...))))
            return None
        if isinstance(e, ast.Constant):
            return False
        if isinstance(e, (ast.List, ast.Tuple)):
            r: Optional[bool] = False
            for x in e.elts:
                r = _or_dep(r, self.value_dependent(x, module, fn, depth + 1))
            return r
        if isinstance(e, ast.Dict):
            r = False
            for x in e.values:
                r = _or_dep(r, self.value_dependent(x, module, fn, depth + 1))
            return r
        if isinstance(e, ast.Call) and type(e.func) is _Name and e.func.id in _DATA_BUILTINS \
                and module.resolve(e.func) is None and not (fn is not None and e.func.id in fn.param_names()):
            # nn.ModuleDict(dict(wte=..., h=...)), tuple(map(lambda t: t[:c], normalization)): made of their arguments
            return self.expr_dependent(e, module, fn, depth + 1)
        if isinstance(e, ast.Lambda):  # what it returns (map(lambda c: nn.Dropout(c), ...) builds dropout)
            return self.value_dependent(e.body, module, fn, depth + 1)
        if isinstance(e, (ast.ListComp, ast.GeneratorExp)):
            return self.value_dependent(e.elt, module, fn, depth + 1)
        if isinstance(e, ast.IfExp):  # F.smooth_l1_loss if smooth else F.mse_loss
            return _or_dep(self.value_dependent(e.body, module, fn, depth + 1),
                           self.value_dependent(e.orelse, module, fn, depth + 1))
        if isinstance(e, ast.Starred):
            return self.value_dependent(e.value, module, fn, depth + 1)
        if type(e) is ast.BinOp and type(e.op) in (ast.Add, ast.Mult) and any(
                type(x) in _SEQUENCES for x in (e.left, e.right)):
            # `n_blocks * [ResBlock(c)]`, `layers + [nn.Dropout(p)]`: the items of the lists
            r = False
            for x in (e.left, e.right):
                if type(x) in _SEQUENCES or type(e.op) is ast.Add:
                    r = _or_dep(r, self.value_dependent(x, module, fn, depth + 1))
            return r
        if isinstance(e, (ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.JoinedStr)):
            return False
        if isinstance(e, ast.Name):
            bound = self.memo.get("dependence_bindings", {}).get(id(fn.node)) if fn is not None else None
            if bound is not None and e.id in bound[0] and not _local_parts(fn, e.id):
                return self.value_dependent(bound[0][e.id], bound[1], bound[2], depth + 1)  # what the call passes
            if fn is not None and e.id in fn.param_names():
                ann = fn.annotation_of(e.id)
                if ann is not None:
                    q = module.resolve(ann)
                    if isinstance(ann, ast.Name) and ann.id in ("int", "float", "str", "bool"):
                        return False
                    if q in ("torch.nn.Module", "torch.nn.modules.module.Module"):
                        return None
                    ci = self.lookup_class(q, module) if q else None
                    if ci is not None and not self.is_torch_module(ci):
                        return False  # `dims: ModelDimensions`, a class of the project's that is no module
                default = default_of(fn.node, e.id)
                if isinstance(default, ast.Constant):
                    return False
                if isinstance(default, (ast.Tuple, ast.List)):  # normalization=((0.5, 0.5, 0.5), ...)
                    return self.value_dependent(default, module, None, depth + 1)
                if self.plain_function(default, module):
                    return False  # `activation=F.relu`: a callback, not a layer
                return None
            if fn is not None:  # a local list built up in the function: `layers.append(...)`, then Sequential(*layers)
                parts = _local_parts(fn, e.id)
                if parts:
                    r = False
                    for x in parts:
                        r = _or_dep(r, self.value_dependent(x, module, fn, depth + 1))
                        if r is None:
                            break
                    return r
                if any(self.value_dependent(x, module, fn, depth + 1) is True
                       for x in _local_parts(fn, e.id, handed=True)):
                    return True  # a list also handed to a call (that may add more): a dropout in it
                if any(type(n) is _Name and n.id == e.id and type(n.ctx) is not _Load for n in fn.nodes):
                    return None  # a local bound some other way
            # a global of the module (`resnet = models.resnet50(pretrained=True)` at the top,
            # sliced in a class's `__init__`): what the top-level code binds to it
            r = None
            for x in self.module_bindings(module, e.id):
                r = self.value_dependent(x, module, None, depth + 1) if r is None else \
                    _or_dep(r, self.value_dependent(x, module, None, depth + 1))
                if r is True:
                    break
            return r
        if type(e) is ast.Subscript:  # `list(resnet.children())[:-1]`: some of those layers
            return self.value_dependent(e.value, module, fn, depth + 1)
        if type(e) is _Call and type(e.func) is _Attribute and e.func.attr in ("children", "modules") \
                and not e.args and not e.keywords:  # `resnet.children()`: that model's layers
            return self.value_dependent(e.func.value, module, fn, depth + 1)
        if type(e) is _Attribute and type(e.value) is _Name and fn is not None and fn.positional_params() \
                and e.value.id == fn.positional_params()[0] and fn.name == "__init__":
            return False  # `self.mu = init_layer_uniform(self.mu)`: what its own assignment holds, counted there
        if isinstance(e, (ast.Name, ast.Attribute)):
            q = module.resolve(e)
            if q and q.startswith("torch.nn.functional."):  # a function kept on the module (self.conv = F.conv2d)
                return "dropout" in q or "batch_norm" in q
        if isinstance(e, ast.Call):
            if fn is not None and type(e.func) is _Name:
                local = module.local_class(fn, e.func.id)  # a class defined in this very function
                if local is not None:
                    return self.class_dependent(local) if self.is_torch_module(local) else False
                nested = module.local_function(fn, e.func.id)  # `*block(64, 128)`: a helper defined here
                if nested is not None:
                    return self._returned_dependent(nested, e, module, fn, depth)
            q = module.resolve(e.func)
            if q is None and type(e.func) is _Name and fn is not None:  # `c = copy.deepcopy`, then `c(attn)`
                alias = _local_parts(fn, e.func.id)
                q = module.resolve(alias[0]) if len(alias) == 1 and type(alias[0]) in (_Name, _Attribute) else None
                choices = [c for a in alias for c in ((a.body, a.orelse) if type(a) is ast.IfExp else (a,))]
                if q is None and len(choices) > 1 and all(type(c) in (_Name, _Attribute) for c in choices):
                    # `execute_type = ReversibleSequence if reversible else SequentialSequence`, then
                    # `execute_type(layers)`: what calling either class builds
                    r = False
                    for c in choices:
                        r = _or_dep(r, self.value_dependent(self._called_as(e, c), module, fn, depth + 1))
                    return r
            if q in K.COPY_FUNCTIONS and e.args:  # `deepcopy(position)`: a copy of that module, its layers
                return self.value_dependent(e.args[0], module, fn, depth + 1)
            g = e.func
            if q is None and type(g) is _Call and type(g.func) is _Name and g.func.id == "getattr" and g.args \
                    and module.resolve(g.func) is None:  # getattr(torchvision.models, arch)(weights=None)
                lib = module.resolve(g.args[0])
                return True if lib and (lib + ".").startswith(K.TRAINING_FACTORIES_PREFIXES) else None
            if q is None:
                return None
            if q.startswith("torch.nn.") and q.count(".") == 2:
                last = q.rsplit(".", 1)[-1]
                if last in _CONTAINERS:
                    return self.expr_dependent(e, module, fn, depth + 1)
                if last in K.MODE_DEPENDENT_LAYERS:
                    return layer_dependent(last, e)
                return False if last[:1].isupper() else None
            if q.startswith("torch.nn.") and q.count(".") == 3 and q.split(".")[2][:1].isupper():
                # `nn.Embedding.from_pretrained(...)`: a classmethod that builds that layer
                return q.split(".")[2] in K.MODE_DEPENDENT_LAYERS
            if K.builds_library_model(q) or K.loads_hugging_face_model(q):
                return True  # a model of a library family that holds dropout or batch norm
            if q.startswith("torch.") and not q.startswith("torch.nn."):
                return False  # tensors, parameters
            found = self.lookup(q, module)
            if found is None and self.third_party_layer(q):
                return False  # `Rearrange(...)`, an augmentation: a library layer, no evidence of dropout
            if isinstance(found, ClassInfo):
                return self.class_dependent_for_call(found, e, module, fn) if self.is_torch_module(found) else False
            if isinstance(found, FunctionInfo):
                if _returns_data(found, self.module_of(found) or module):
                    return False  # `-> Tensor`: a window, a mask, a table; no layer
                return self._returned_dependent(found, e, module, fn, depth,
                                                found.cls.module if found.cls else module)
            return None
        return None

    def _called_as(self, call: ast.Call, func: ast.AST) -> ast.Call:
        """``call`` with ``func`` in place of what it calls, made once per run (the analysis
        keys facts by node identity, so the copy must live as long as the run)."""
        made = self.memo.setdefault("called_as", {})
        key = (id(call), id(func))
        hit = made.get(key)
        if hit is None:  # (the originals kept alive with it, so their ids stay theirs)
            hit = made[key] = (call, func, ast.copy_location(ast.Call(func=func, args=call.args,
                                                                      keywords=call.keywords), call))
        return hit[2]

    def module_bindings(self, module: ModuleInfo, name: str) -> List[ast.AST]:
        """The values the module's top-level code assigns to ``name`` (in ``if``/``try``
        blocks too, not in functions or classes); none when it also binds it another way
        (a loop target, an import)."""
        memo = self.memo.setdefault("module_bindings", {})
        key = (module.path, name)
        got = memo.get(key)
        if got is None:
            got = []
            stack = list(module.tree.body)
            while stack:
                st = stack.pop()
                t = type(st)
                if t in (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
                    continue
                if t is ast.Assign and len(st.targets) == 1 and type(st.targets[0]) is _Name:
                    if st.targets[0].id == name:
                        got.append(st.value)
                    continue
                heads = [st] if t not in (ast.If, ast.Try, ast.With) else \
                    [st.test] if t is ast.If else [i.optional_vars for i in st.items if i.optional_vars] \
                    if t is ast.With else []  # a block: its own statements are visited one by one
                if any(type(n) is _Name and n.id == name and type(n.ctx) is not _Load
                       for h in heads for n in ast.walk(h)) or (t in (ast.Import, ast.ImportFrom) and any(
                           (a.asname or a.name.split(".")[0]) == name for a in st.names)):
                    got = []  # bound another way (a loop target, `with ... as name`, an import)
                    break
                for field in ("body", "orelse", "finalbody", "handlers"):
                    stack.extend(getattr(st, field, ()) or ())
            memo[key] = got
        return got

    def _returned_dependent(self, found: FunctionInfo, e: ast.Call, module: ModuleInfo, fn: Optional[FunctionInfo],
                            depth: int, home: Optional[ModuleInfo] = None) -> Optional[bool]:
        """The mode dependence of what the call ``e`` of the project function ``found`` (defined
        in ``home``, by default ``module``) returns: of each value it returns, or of the
        argument it hands back (``layer_init(nn.Linear(4, 4))``)."""
        r: Optional[bool] = False
        body = list(_walk_scope(found.node))
        rets = [n.value for n in body if isinstance(n, ast.Return) and n.value is not None]
        if not rets:
            return None
        rebound = {n.id for n in body if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
        callee = self.unit_by_node.get(id(found.node))
        args = dict(self.bind_args(callee, e)) if callee is not None and not has_star_args(e) else {}
        with self._bound_to(found, args, module, fn):  # `clones(layer, N)` copies what it is handed
            for rv in rets:
                arg = _passed_through(found, rv, e, rebound)
                if arg is not None:  # layer_init(nn.Linear(4, 4)) returns the layer it is given
                    r = _or_dep(r, self.value_dependent(arg, module, fn, depth + 1))
                else:
                    r = _or_dep(r, self.value_dependent(rv, home or module, found, depth + 1))
        return r

    def expr_dependent(self, call: ast.Call, module: ModuleInfo, fn: Optional[FunctionInfo] = None,
                       depth: int = 0) -> Optional[bool]:
        r: Optional[bool] = False
        for a in list(call.args) + [k.value for k in call.keywords]:
            r = _or_dep(r, self.value_dependent(a, module, fn, depth + 1))
            if r is True:
                return True
        return r

    def is_submodule_attr(self, cls_q: str, attr: str) -> bool:
        got = self._submodule_attrs.get(cls_q)
        if got is None:
            got = set()
            ci = self.class_by_qualname(cls_q)
            init = ci.methods.get("__init__") if ci is not None else None
            if init is not None:
                init_unit = self.unit_by_node.get(id(init.node))
                for n in self.scope_nodes(init.node):
                    if isinstance(n, ast.Assign) and (isinstance(n.value, ast.Call) or (  # `self.encoder = encoder`
                            type(n.value) is _Name and (self.annotated_module(init_unit, n.value.id)
                                                        or self._kept_weighted(ci, init, n.value.id)))):
                        for t in n.targets:
                            if isinstance(t, ast.Attribute):
                                got.add(t.attr)
                got -= set(ci.methods)
            self._submodule_attrs[cls_q] = got
        return attr in got

    def attr_dependent(self, ci: ClassInfo, attr: str) -> Optional[bool]:
        """Whether the submodule ``__init__`` keeps at ``self.<attr>`` may hold a layer that
        behaves differently in training (``rnd.target``, an ``nn.Sequential`` of linear layers,
        is not, though its class holds a dropout elsewhere): what each value assigned there is,
        as for the class itself (``value_dependent``); None when unknown or never assigned."""
        key = (ci.qualname, attr)
        memo = self.memo.setdefault("attr_dependent", {})
        if key in memo:
            return memo[key]
        memo[key] = None  # recursion guard
        init = ci.methods.get("__init__")
        values = self.init_values(ci, attr)
        result: Optional[bool] = None
        if values:
            result = False
            for v in values:
                result = _or_dep(result, self.value_dependent(v, ci.module, init))
                if result is True:
                    break
        memo[key] = result
        return result

    def handed_attr(self, ci: ClassInfo, attr: str) -> bool:
        """Every value ``__init__`` keeps at ``self.<attr>`` is one of its parameters as handed
        in (or a deep copy of one): what it holds is whatever the constructions hand over."""
        memo = self.memo.setdefault("handed_attr", {})
        key = (ci.qualname, attr)
        if key not in memo:
            init = ci.methods.get("__init__")
            values = self.init_values(ci, attr)
            memo[key] = bool(values) and init is not None and all(_kept_param(ci, init, v) for v in values)
        return memo[key]

    def attr_class(self, ci: ClassInfo, attr: str) -> Optional[str]:
        """The project module class whose instance ``__init__`` keeps at ``self.<attr>``, when
        every value it assigns there builds that one class (``self.odeblock = ODEBlock(...)``):
        so ``model.odeblock.trajectory(x)`` runs that class's method. None otherwise."""
        sub = self.attr_built(ci, attr)
        return sub.qualname if sub is not None and self.is_torch_module(sub) else None

    def attr_built(self, ci: ClassInfo, attr: str) -> Optional[ClassInfo]:
        """The project class (module or not) every value ``__init__`` assigns to
        ``self.<attr>`` builds; None when there is none or more than one."""
        memo = self.memo.setdefault("attr_built", {})
        key = (ci.qualname, attr)
        if key not in memo:
            found = {}
            for v in self.init_values(ci, attr):
                v = _chain_base(v)  # `Policy(...).to(device=self.device)`: that policy
                q = ci.module.resolve(v.func) if type(v) is _Call else None
                sub = self.lookup_class(q, ci.module) if q else None
                found[sub.qualname if sub is not None else None] = sub
            memo[key] = found.popitem()[1] if len(found) == 1 else None
        return memo[key]

    def init_values(self, ci: ClassInfo, attr: str) -> List[ast.AST]:
        """The values the class's own ``__init__`` assigns to ``self.<attr>``, in order."""
        init = ci.methods.get("__init__")
        if init is None:
            return []
        selfname = (init.positional_params() or ["self"])[0]
        return [n.value for n in self.scope_nodes(init.node) if type(n) is ast.Assign and any(
            type(t) is _Attribute and t.attr == attr and type(t.value) is _Name and t.value.id == selfname
            for t in n.targets)]

    def weighted_submodule(self, cls_q: str, attr: str) -> bool:
        """``self.<attr>`` of that class is a layer with parameters in every binding ``__init__``
        gives it (``nn.Linear(...)``, ``nn.Sequential(...)``, a project module that can hold
        parameters, a library model): running it in one of the class's own methods runs the
        receiver's weights. A loss, an activation, a tokenizer or anything unseen is not."""
        key = (cls_q, attr)
        got = self._weighted_attrs.get(key)
        if got is not None:
            return got
        self._weighted_attrs[key] = False  # recursion guard
        ci = self.class_by_qualname(cls_q)
        found = False
        ok = ci is not None and "__init__" in ci.methods
        init = ci.methods.get("__init__") if ok else None
        for v in self.init_values(ci, attr) if ok else ():
            if type(v) is _Name and v.id in init.param_names() and not _local_parts(init, v.id):
                good = self._kept_weighted(ci, init, v.id)  # `self.encoder = encoder`: what constructions pass
            else:
                good = self._builds_weighted(v, ci.module, None, 0)
            if not good:
                ok = False
                break
            found = True
        got = self._weighted_attrs[key] = ok and found
        return got

    def _builds_weighted(self, v: ast.AST, module: ModuleInfo, unit, depth: int) -> bool:
        """``v`` (in ``unit``'s body, when given) builds a layer with parameters: a torch layer
        that has weights, a library model, a project module that can hold parameters, a deep
        copy of one (``c(layer)`` with ``c = copy.deepcopy``), or a local name that each of its
        plain assignments binds to one (a notebook building ``encoder`` in two cells)."""
        if depth > 4:
            return False
        if type(v) is _Name and unit is not None:
            bound = self.bound_values(unit, v.id)
            return bound is not None and all(self._builds_weighted(b, module, unit, depth + 1) for b in bound)
        if type(v) is not _Call:
            return False
        q = module.resolve(v.func)
        if q is None and type(v.func) is _Name and unit is not None:  # `c = copy.deepcopy`, then `c(attn)`
            alias = self.bound_once(unit, v.func.id)
            q = module.resolve(alias) if type(alias) in (_Name, _Attribute) else None
        if not q:
            return False
        if q in K.COPY_FUNCTIONS:
            return bool(v.args) and self._builds_weighted(v.args[0], module, unit, depth + 1)
        last = q.rsplit(".", 1)[-1]
        if q.startswith("torch.nn.") and q.count(".") == 2:
            return last.startswith(K.PARAMETER_LAYER_PREFIXES) and bool(v.args or v.keywords)
        if q.startswith(K.LIBRARY_MODEL_PREFIXES):
            return True
        sub = self.lookup_class(q, module)
        return sub is not None and self.is_torch_module(sub) and not self.parameter_free(sub)

    def _kept_weighted(self, ci: ClassInfo, init: FunctionInfo, param: str) -> bool:
        """``self.x = param`` in module class ``ci``'s ``__init__`` keeps a layer with
        parameters: ``param`` is a parameter ``__init__`` never rebinds, and every
        construction of ``ci`` in the project hands it one (``EncoderDecoder(Encoder(...),
        ...)``, the annotated transformer's composition of parts): at least one, and each
        one's argument builds one (``_builds_weighted``)."""
        if param not in init.param_names() or _local_parts(init, param) or not self.is_torch_module(ci):
            return False
        init = self.method_unit(ci, "__init__")
        if init is None or init.cls is not ci:
            return False
        sites = self.construction_sites(ci)
        if not sites:
            return False
        for unit, c in sites:
            arg = dict(self.bind_args(init, c, constructor=True)).get(param)
            if arg is None or not self._builds_weighted(arg, unit.module, unit, 0):
                return False
        return True

    def construction_sites(self, ci: ClassInfo):
        """(unit, call) of each call in the project that resolves to the class ``ci``."""
        index = self.memo.get("calls_by_name")
        if index is None:  # the last name of each call's function, once: most classes are never asked for
            index = self.memo["calls_by_name"] = {}
            for u in self.units.values():
                imports = u.module.imports
                for c in u.calls:
                    f = c.func
                    # an imported alias under the name it was imported by (`from m import Net as N`)
                    name = imports.get(f.id, f.id).rpartition(".")[2] if type(f) is _Name else \
                        f.attr if type(f) is _Attribute else None
                    if name is not None:
                        index.setdefault(name, []).append((u, c))
        out = []
        for u, c in index.get(ci.name, ()):
            q = self.resolve_q(u.module, c.func)
            if q and self.lookup_class(q, u.module) is ci:
                out.append((u, c))
        return out

    def switched_attrs(self, ci: ClassInfo) -> Set[str]:
        """Attributes ``self.X`` whose mode some method other than ``__init__`` switches."""
        return self._attr_scan(ci)[0]

    def assigned_attrs(self, ci: ClassInfo) -> Set[str]:
        return self._attr_scan(ci)[1]

    def _attr_scan(self, ci: ClassInfo) -> Tuple[Set[str], Set[str]]:
        got = self._attr_scans.get(ci.qualname)
        if got is None:
            switched: Set[str] = set()
            assigned: Set[str] = set()
            for fn in ci.methods.values():
                if fn.name == "__init__":
                    continue
                for n in fn.nodes:
                    if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and \
                            n.func.attr in _MODE_METHODS:
                        p = path_of(n.func.value)
                        if p and "." in p:
                            switched.add(p.split(".", 1)[1])
                    elif isinstance(n, ast.Assign):
                        for t in n.targets:
                            p = path_of(t)
                            if p and "." in p:
                                assigned.add(p.split(".", 1)[1])
            got = self._attr_scans[ci.qualname] = (switched, assigned)
        return got

    def loaded_whole_dependent(self, load: ast.Call, module: ModuleInfo) -> Optional[bool]:
        """The mode dependence of a model unpickled whole by ``torch.load(path)``: what the
        project's own ``torch.save(model, path)`` calls save (the file is the channel between
        the script that trains and the one that loads). Saves to the same constant file name
        when there are any; else every model the project saves whole, when each is a project
        class or ``nn`` container whose layers are all visible. None when unknown (no save
        seen, one of unknown class, or one with a layer that behaves differently is as good
        as unknown when another file is meant)."""
        saves = self.memo.get("whole_saves")
        if saves is None:
            saves = self.memo["whole_saves"] = []
            for u in self.units.values():
                for c in u.calls:
                    if len(c.args) >= 2 and u.module.resolve(c.func) == "torch.save":
                        dep = self._saved_dependent(u, c.args[0])
                        if dep is not _NOT_A_MODEL:
                            saves.append((_file_name(c.args[1]), dep))
        if not saves:
            return self._unpicklable_dependent(module)
        name = _file_name(load.args[0]) if load.args else None
        same = [d for n, d in saves if name is not None and n == name]
        deps = set(same or (d for _n, d in saves))
        if deps == {False}:
            return False
        if same and deps == {True}:
            return True
        return self._unpicklable_dependent(module) if not same else None

    def _unpicklable_dependent(self, module: ModuleInfo) -> Optional[bool]:
        """Unpickling a whole model needs its class where the loading module can find it: it
        defines or imports the project's module classes it may load (a script's own `class
        Policy(nn.Module)` above `policy = torch.load("policyNet.pkl")`). False when there is
        one and none of them has a layer that behaves differently in training; None else."""
        classes = [ci for ci in module.classes.values() if self.is_torch_module(ci)]
        for q in module.imports.values():
            ci = self.lookup_class(q, module)
            if ci is not None and self.is_torch_module(ci):
                classes.append(ci)
        if not classes:
            return None
        return False if all(self.class_dependent(ci) is False for ci in classes) else None

    def _saved_dependent(self, unit, value: ast.AST):
        """The mode dependence of what ``torch.save(value, ...)`` saves whole: a name bound
        once (in the function or at the module's top level) to a project module class, an
        ``nn`` container or what a project function builds; ``_NOT_A_MODEL`` for a state dict, a dict or another call's
        result; None when unknown."""
        if type(value) is not _Name:
            return _NOT_A_MODEL if type(value) in (_Call, ast.Dict) else None
        bound = self.bound_once_here_or_global(unit, value.id)
        if type(bound) is ast.Dict:
            return _NOT_A_MODEL
        if type(bound) is not _Call:
            return None
        q = unit.module.resolve(bound.func)
        ci = self.lookup_class(q, unit.module) if q else None
        if ci is not None:
            return self.class_dependent(ci) if self.is_torch_module(ci) else _NOT_A_MODEL
        if q and q.startswith("torch.nn.") and q.rsplit(".", 1)[-1] in _CONTAINERS:
            return self.expr_dependent(bound, unit.module)
        if type(bound.func) is _Attribute and bound.func.attr == "state_dict":
            return _NOT_A_MODEL
        if q and isinstance(self.lookup(q, unit.module), FunctionInfo):  # `net = create_net()`: what it builds
            return self.value_dependent(bound, unit.module, unit.fn)
        return None


_DATA_TYPES = frozenset({"torch.Tensor", "numpy.ndarray", "int", "float", "bool", "str", "bytes"})


def _returns_data(fn: FunctionInfo, module: ModuleInfo) -> bool:
    """The function is annotated to return a tensor, an array or a plain value, not a module."""
    ann = fn.node.returns
    if ann is None:
        return False
    q = module.resolve(ann) if isinstance(ann, (ast.Name, ast.Attribute)) else None
    return q in _DATA_TYPES or (isinstance(ann, ast.Name) and ann.id in _DATA_TYPES and q is None)


def _takes_sizes(q: str) -> bool:
    """The callee ``q`` takes numbers, not modules: a torch function that takes no module
    (``torch.zeros(self.n)``), ``math``/``numpy``/``random``/``operator``/``itertools``, a
    progress bar (``trange(0, n, self.batch_size)``), or a torch layer's constructor
    (``nn.Linear(512, self.n_actions)``; a container or a wrapper takes modules)."""
    return (q.startswith("torch.") and not q.startswith(_TAKE_MODULES)) or \
        q.startswith(("math.", "numpy.", "random.", "operator.", "itertools.", "tqdm.")) or (
            q.startswith("torch.nn.") and q.count(".") == 2 and q[9:10].isupper()
            and q[9:] not in _CONTAINERS and q not in K.SAME_MODEL_WRAPPERS)


_NOT_A_MODEL = "not a model"  # _saved_dependent: a save of no whole model (a state dict, a dict)


def _file_name(e: ast.AST) -> Optional[str]:
    """The file name a constant path ends in (``'out/char-rnn.pt'`` -> ``'char-rnn.pt'``)."""
    if type(e) is ast.Constant and isinstance(e.value, str) and e.value:
        return e.value.replace("\\", "/").rsplit("/", 1)[-1]
    return None


class _Zeroer(ast.NodeTransformer):
    """A copy of an expression with some names (and ``self.<name>``) read as the constant 0."""

    def __init__(self, zero: FrozenSet[str], selfname: str):
        self.zero, self.selfname = zero, selfname

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.copy_location(ast.Constant(0), node) if node.id in self.zero else node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        if type(node.value) is ast.Name and node.value.id == self.selfname and node.attr in self.zero:
            return ast.copy_location(ast.Constant(0), node)  # `self.dropout = dropout`, then `LSTM(dropout=self.dropout)`
        self.generic_visit(node)
        return node


def _zeroed(e: ast.AST, zero: FrozenSet[str], selfname: str) -> ast.AST:
    """``e`` with the ``__init__`` parameters in ``zero`` read as 0 (a copy: the tree is shared)."""
    return _Zeroer(zero, selfname).visit(copy.deepcopy(e))


def _selection(e: Optional[ast.AST]) -> bool:
    """``e`` only picks and groups values already computed: names, constants, attributes,
    constant subscripts, tuples, lists and dicts of those (no call, no arithmetic)."""
    t = type(e)
    if e is None or t in (_Name, ast.Constant):
        return True
    if t is _Attribute:
        return _selection(e.value)
    if t is ast.Subscript:
        return type(e.slice) is ast.Constant and _selection(e.value)
    if t is ast.Starred:
        return _selection(e.value)
    if t in (ast.Tuple, ast.List):
        return all(_selection(x) for x in e.elts)
    if t is ast.Dict:
        return all(_selection(x) for x in e.keys) and all(_selection(x) for x in e.values)
    return False


def _returns_selection(stmts: List[ast.stmt]) -> bool:
    return len(stmts) == 1 and type(stmts[0]) is ast.Return and _selection(stmts[0].value)


def _training_tests(test: ast.AST) -> List[ast.AST]:
    """The ``<name>.training`` reads of a branch test without a call; [] when it calls."""
    nodes = list(ast.walk(test))
    if any(type(n) is _Call for n in nodes):
        return []
    return [n for n in nodes if type(n) is _Attribute and n.attr == "training" and type(n.value) is _Name]


def _shaping_reads(node: ast.AST) -> Set[int]:
    """``DependenceMixin.shaping_reads`` without its memo."""
    found: Set[int] = set()
    for n in itertools.chain((node,), _walk_scope(node)):
        if type(n) is ast.IfExp and _selection(n.body) and _selection(n.orelse):
            found.update(id(x) for x in _training_tests(n.test))
        for field in ("body", "orelse", "finalbody"):
            stmts = getattr(n, field, None)
            if not isinstance(stmts, list):
                continue
            for i, stmt in enumerate(stmts):
                if type(stmt) is ast.If and _returns_selection(stmt.body) and \
                        _returns_selection(stmt.orelse or stmts[i + 1:]):
                    found.update(id(x) for x in _training_tests(stmt.test))
    return found


_INTROSPECTION = _SUBMODULE_LISTS | {"_modules", "__dict__", "get_submodule"}


def _own_reads(nodes: List[ast.AST], selfname: str) -> Optional[Set[str]]:
    """The attributes ``nodes`` (one method's, nested scopes included) read from ``self``;
    None where they may run any of its submodules without naming them: ``self`` handed out
    whole (``getattr(self, name)``, ``helper(self)``), or its submodules listed other than by
    a loop that calls none of them (the weight initialisation's ``for m in self.modules():
    nn.init...``)."""
    whole = attr_of_self = 0
    benign: Set[int] = set()
    reads: Set[str] = set()
    for n in nodes:
        t = type(n)
        if t is _Name and n.id == selfname and type(n.ctx) is _Load:
            whole += 1
        elif t is _Attribute and type(n.value) is _Name and n.value.id == selfname:
            attr_of_self += 1
            if type(n.ctx) is _Load:
                reads.add(n.attr)
        elif t is _Call and (type(n.func) is _Name and n.func.id in ("super", selfname)):
            whole -= sum(1 for a in n.args if type(a) is _Name and a.id == selfname)  # super(Cls, self)
            whole -= n.func.id == selfname  # self(x): its forward, a method of the family
        elif t is ast.For and type(n.iter) is _Call and type(n.iter.func) is _Attribute:
            targets = {x.id for x in ast.walk(n.target) if type(x) is _Name}
            if not any(type(c) is _Call and type(c.func) is _Name and c.func.id in targets
                       for b in n.body for c in ast.walk(b)):
                benign.add(id(n.iter.func))
    if whole > attr_of_self or any(type(n) is _Attribute and n.attr in _INTROSPECTION and type(n.value) is _Name
                                   and n.value.id == selfname and id(n) not in benign for n in nodes):
        return None
    return reads


def _kept_param(ci: ClassInfo, init: FunctionInfo, v: ast.AST) -> Optional[str]:
    """The ``__init__`` parameter ``v`` keeps as handed in (``model``, ``model.to(dev)``,
    ``deepcopy(model)``), when ``__init__`` never rebinds it; None otherwise."""
    v = _chain_base(v)
    if type(v) is _Call and len(v.args) == 1 and ci.module.resolve(v.func) in K.COPY_FUNCTIONS:
        v = _chain_base(v.args[0])
    if type(v) is not _Name or v.id not in init.param_names() or _local_parts(init, v.id):
        return None
    return v.id
