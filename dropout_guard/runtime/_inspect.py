"""Internal helpers of the runtime guard: what to watch, names, call sites, warnings.

Imports torch. Nothing here registers hooks or changes any state of torch or of a model.
"""
from __future__ import annotations

import builtins
import dis
import inspect
import logging
import operator
import os
import sys
import types
import warnings
import weakref
from typing import Any, Dict, FrozenSet, List, Optional, Tuple

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.dropout import _DropoutNd

logger = logging.getLogger("dropout_guard.runtime")

TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_INTERNAL_PREFIXES: Tuple[str, ...] = (TORCH_DIR, PACKAGE_DIR)

# --------------------------------------------------------------------------------------
# What is watched
# --------------------------------------------------------------------------------------

#: Third-party stochastic-depth / drop-path / drop-block layers, recognised by class name
#: anywhere in the class's MRO (timm: DropPath, DropBlock2d; torchvision: StochasticDepth,
#: DropBlock2d, DropBlock3d).
DROP_PATH_CLASS_NAMES = frozenset(
    {"DropPath", "StochasticDepth", "DropBlock2d", "DropBlock3d", "DropBlock", "DropPathLayer"}
)
_SCRIPT_DROPOUT_NAMES = frozenset(
    {"Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"}
) | DROP_PATH_CLASS_NAMES
_SCRIPT_BN_NAMES = frozenset(
    {"BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm",
     "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d"}
)

# category of a module class: "dropout", "batchnorm", "mha", "script" or None.
# Keyed by id(cls) with a weak reference that drops the entry when the class goes away,
# so the cache keeps no class (and no model) alive and a lookup costs one dict access.
_CATEGORY: Dict[int, Tuple[Any, Optional[str]]] = {}


def class_category(cls: type) -> Optional[str]:
    entry = _CATEGORY.get(id(cls))
    if entry is not None and entry[0]() is cls:
        return entry[1]
    cat = _compute_category(cls)
    key = id(cls)
    try:
        ref = weakref.ref(cls, lambda _r, _k=key: _CATEGORY.pop(_k, None))
    except TypeError:  # pragma: no cover - classes are weak-referenceable
        return cat
    _CATEGORY[key] = (ref, cat)
    return cat


def _compute_category(cls: type) -> Optional[str]:
    if issubclass(cls, torch.jit.ScriptModule):
        return "script"
    if issubclass(cls, _DropoutNd):
        return "dropout"
    if issubclass(cls, _BatchNorm):  # BatchNorm1d/2d/3d, SyncBatchNorm, LazyBatchNorm*
        return "batchnorm"
    if issubclass(cls, nn.MultiheadAttention):
        return "mha"
    if any(k.__name__ in DROP_PATH_CLASS_NAMES for k in cls.__mro__):
        return "dropout"
    return None


def _rate_is_zero(module: Any) -> bool:
    d = module.__dict__
    for attr in ("p", "drop_prob", "drop_rate"):
        value = d.get(attr)
        if value is None:
            value = getattr(module, attr, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value == 0
    return False


def target_kind(module: Any, batchnorm: bool) -> Optional[str]:
    """"dropout" / "batchnorm" if ``module`` behaves differently in training mode, else None.

    Zero-rate dropouts and batch norms without running statistics are not targets: their
    output is the same in both modes.
    """
    cat = class_category(type(module))
    if cat is None:
        return None
    return kind_for_category(module, cat, batchnorm)


def kind_for_category(module: Any, cat: str, batchnorm: bool) -> Optional[str]:
    if cat == "dropout":
        return None if _rate_is_zero(module) else "dropout"
    if cat == "batchnorm":
        if batchnorm and getattr(module, "track_running_stats", True):
            return "batchnorm"
        return None
    if cat == "mha":
        return "dropout" if float(getattr(module, "dropout", 0.0) or 0.0) > 0 else None
    if cat == "script":
        return script_target_kind(module, batchnorm)
    return None


def script_target_kind(module: Any, batchnorm: bool) -> Optional[str]:
    name = getattr(module, "original_name", None) or ""
    if name in _SCRIPT_DROPOUT_NAMES:
        try:
            if _rate_is_zero(module):
                return None
        except Exception:  # pragma: no cover - attribute access on odd script modules
            pass
        return "dropout"
    if name == "MultiheadAttention":
        try:
            rate = float(getattr(module, "dropout", 0.0) or 0.0)
        except Exception:  # pragma: no cover
            rate = 1.0
        return "dropout" if rate > 0 else None
    if batchnorm and name in _SCRIPT_BN_NAMES:
        return "batchnorm"
    return None


def is_script_module(module: Any) -> bool:
    return class_category(type(module)) == "script"


#: Module classes whose fused fast path is disabled by any hook on the module or its children.
def is_fused_fastpath_module(module: Any) -> bool:
    return isinstance(module, nn.TransformerEncoderLayer)


# --------------------------------------------------------------------------------------
# Wrappers and names
# --------------------------------------------------------------------------------------

#: Class names of the wrappers that :func:`unwrap` looks through.
WRAPPER_CLASS_NAMES = frozenset({"DataParallel", "DistributedDataParallel", "OptimizedModule"})


def is_data_parallel(module: Any) -> bool:
    return isinstance(module, nn.DataParallel)


def unwrap(model: Any) -> Any:
    """Strip ``DataParallel`` / ``DistributedDataParallel`` / ``torch.compile`` wrappers."""
    seen = 0
    while seen < 8:
        seen += 1
        name = type(model).__name__
        if name in WRAPPER_CLASS_NAMES:
            inner = model.__dict__.get("_modules", {}).get("module") or model.__dict__.get(
                "_modules", {}
            ).get("_orig_mod")
            if isinstance(inner, nn.Module):
                model = inner
                continue
        break
    return model


def qualified_names(root: Any) -> Dict[int, Tuple["weakref.ref[Any]", str]]:
    """``{id(module): (weakref, qualified name)}`` for every module under ``root``.

    ``root`` is first unwrapped (DataParallel/DDP ``module.``, torch.compile ``_orig_mod.``),
    so the names are those inside the wrapped model; the root itself is named ``""``.
    """
    inner = unwrap(root)
    names: Dict[int, Tuple[Any, str]] = {}
    for name, module in inner.named_modules(remove_duplicate=True):
        try:
            ref = weakref.ref(module)
        except TypeError:  # pragma: no cover
            continue
        names.setdefault(id(module), (ref, name))
    # the wrappers themselves (outside the wrapped model) get the root's name
    if root is not inner:
        names.setdefault(id(root), (weakref.ref(root), ""))
    return names


def lookup_name(names: Dict[int, Tuple[Any, str]], module: Any) -> Optional[str]:
    entry = names.get(id(module))
    if entry is not None and entry[0]() is module:
        return entry[1]
    return None


def display_name(name: Optional[str]) -> str:
    if name is None:
        return "<unknown>"
    return name if name else "<root>"


# --------------------------------------------------------------------------------------
# Frames: which modules are running, where the user's code is
# --------------------------------------------------------------------------------------

_CALL_IMPL_CODE = nn.Module._call_impl.__code__


def running_modules(start: Optional[types.FrameType] = None) -> List[Any]:
    """Modules whose ``__call__`` is on the current stack, outermost first."""
    frame = start if start is not None else sys._getframe(1)
    found: List[Any] = []
    while frame is not None:
        if frame.f_code is _CALL_IMPL_CODE:
            module = frame.f_locals.get("self")
            if module is not None:
                found.append(module)
        frame = frame.f_back
    found.reverse()
    return found


def is_internal_file(filename: str) -> bool:
    return filename.startswith(_INTERNAL_PREFIXES)


def user_frame(start: Optional[types.FrameType] = None) -> Optional[types.FrameType]:
    """First frame, walking outwards, that is neither torch's nor dropout-guard's."""
    frame = start if start is not None else sys._getframe(1)
    while frame is not None and is_internal_file(frame.f_code.co_filename):
        frame = frame.f_back
    return frame


def format_site(frame: Optional[types.FrameType]) -> str:
    if frame is None:
        return "<unknown>"
    filename = frame.f_code.co_filename
    try:
        rel = os.path.relpath(filename)
        if not rel.startswith(".."):
            filename = rel
    except ValueError:  # different drive on Windows
        pass
    return f"{filename}:{frame.f_lineno}"


def calling_frame(start: Optional[types.FrameType] = None) -> Optional[types.FrameType]:
    """The user's frame that called the model: the first frame outside torch and
    dropout-guard, walking outwards from the outermost ``nn.Module.__call__`` on the stack
    (a warning raised inside a model's ``forward`` belongs to the line that ran the model,
    not to a line of the model's code); the first such frame from ``start`` when no module
    call is on the stack (functional dropout called directly, a guard being entered)."""
    frame = start if start is not None else sys._getframe(1)
    outermost = None
    cur = frame
    while cur is not None:
        if cur.f_code is _CALL_IMPL_CODE:
            outermost = cur
        cur = cur.f_back
    found = user_frame(outermost) if outermost is not None else None
    return found if found is not None else user_frame(frame)


def warn_at_user_site(message: str, category: type) -> None:
    """Warn attributed to the user's line that called the model (``calling_frame``): its
    file, line and module name, so ``-W error::…:module`` filters, ``python -W error`` and
    the once-per-location registry apply to the user's code, never to torch's or ours."""
    frame = calling_frame(sys._getframe(1))
    if frame is None:
        warnings.warn(message, category, stacklevel=2)
        return
    module_globals = frame.f_globals
    module = module_globals.get("__name__", "<string>")
    registry = module_globals.setdefault("__warningregistry__", {})
    warnings.warn_explicit(message, category, frame.f_code.co_filename, frame.f_lineno, module,
                           registry, module_globals)


# --------------------------------------------------------------------------------------
# Static pre-scan: can this Python code call functional dropout / SDPA / batch norm?
# --------------------------------------------------------------------------------------

#: Names whose appearance in module code makes the guard push its TorchFunctionMode.
FUNCTIONAL_NAMES = frozenset({
    "dropout", "dropout1d", "dropout2d", "dropout3d", "dropout_",
    "alpha_dropout", "alpha_dropout_", "feature_alpha_dropout", "feature_alpha_dropout_",
    "feature_dropout", "feature_dropout_", "native_dropout",
    "scaled_dot_product_attention", "multi_head_attention_forward",
    "batch_norm", "native_batch_norm",
})
#: Module constructors: a dropout / batch-norm module built while the model runs (in
#: ``forward``, DG302) is not in the model at entry, so only the mode sees it.
CONSTRUCTOR_NAMES = frozenset({
    "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
    "MultiheadAttention", "DropPath", "StochasticDepth", "DropBlock2d", "DropBlock3d",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm",
})
_CONSTRUCTION_METHODS = frozenset({
    "__init__", "__new__", "__post_init__", "reset_parameters", "_init_weights", "init_weights",
    "extra_repr", "__repr__", "__setstate__",
})
BATCHNORM_NAMES = frozenset({"batch_norm", "native_batch_norm", "BatchNorm1d", "BatchNorm2d",
                             "BatchNorm3d", "SyncBatchNorm"})
_WATCHED_NAMES = FUNCTIONAL_NAMES | CONSTRUCTOR_NAMES
_UNKNOWN = "<unscannable>"
_MAX_SCANNED = 400

_CODE_FACTS: "weakref.WeakKeyDictionary[types.CodeType, Tuple[FrozenSet[str], tuple]]" = (
    weakref.WeakKeyDictionary()
)
_CLASS_NAMES_CACHE: Dict[int, Tuple[Any, FrozenSet[str]]] = {}


def _is_trusted_module_name(modname: Optional[str]) -> bool:
    return bool(modname) and (modname == "torch" or modname.startswith("torch."))


def _code_facts(code: types.CodeType, glb: Dict[str, Any]) -> Tuple[FrozenSet[str], tuple]:
    """Direct facts of one code object: watched names it loads, and what it may call."""
    try:
        return _CODE_FACTS[code]
    except KeyError:
        pass
    hits = set()
    callees: list = []
    selfname = code.co_varnames[0] if code.co_argcount and code.co_varnames else None
    chain: Any = None  # "self", ("obj", value) or None
    for ins in dis.get_instructions(code):
        op = ins.opname
        arg = ins.argval
        if op.startswith("LOAD_FAST"):
            last = arg[-1] if isinstance(arg, tuple) else arg
            chain = "self" if (selfname is not None and last == selfname) else None
            continue
        if op in ("LOAD_DEREF", "LOAD_CLASSDEREF", "LOAD_CLOSURE"):
            if arg in _WATCHED_NAMES:
                hits.add(arg)
            chain = "self" if arg == selfname or arg == "self" else None
            continue
        if op in ("LOAD_GLOBAL", "LOAD_NAME", "LOAD_FROM_DICT_OR_GLOBALS"):
            if arg in _WATCHED_NAMES:
                hits.add(arg)
            value = glb.get(arg, getattr(builtins, arg, None)) if isinstance(arg, str) else None
            chain = _follow(value, callees)
            continue
        if op in ("LOAD_ATTR", "LOAD_METHOD", "LOAD_SUPER_ATTR"):
            if chain == "self" or op == "LOAD_SUPER_ATTR":
                continue  # self.dropout(...) is a submodule call, watched by module hooks
            if arg in _WATCHED_NAMES:
                hits.add(arg)
            if isinstance(chain, tuple):
                owner = chain[1]
                value = None
                if isinstance(owner, types.ModuleType):
                    value = owner.__dict__.get(arg)
                elif isinstance(owner, type):
                    try:
                        value = inspect.getattr_static(owner, arg)
                    except AttributeError:
                        value = None
                chain = _follow(value, callees)
            else:
                chain = None
            continue
        if op == "IMPORT_FROM" and arg in _WATCHED_NAMES:
            hits.add(arg)
        elif op in ("LOAD_CONST", "RETURN_CONST"):
            if isinstance(arg, types.CodeType):
                callees.append((arg, glb))
            elif isinstance(arg, str) and arg in FUNCTIONAL_NAMES:
                hits.add(arg)  # getattr(F, "dropout") and friends
        chain = None
    facts = (frozenset(hits), tuple(callees))
    try:
        _CODE_FACTS[code] = facts
    except TypeError:  # pragma: no cover
        pass
    return facts


def _follow(value: Any, callees: list) -> Any:
    """Record ``value`` as a possible callee when it is project (non-torch) Python code."""
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, types.FunctionType):
        if not _is_trusted_module_name(getattr(value, "__module__", None)):
            callees.append((value.__code__, value.__globals__))
        return None
    if isinstance(value, types.ModuleType):
        return ("obj", value)
    if isinstance(value, type):
        return ("obj", value)
    return None


def scan_functions(functions: List[Tuple[types.CodeType, Dict[str, Any]]]) -> FrozenSet[str]:
    """Watched names reachable from these code objects (transitively, project code only)."""
    hits: set = set()
    seen: set = set()
    todo = list(functions)
    while todo:
        code, glb = todo.pop()
        if code in seen:
            continue
        seen.add(code)
        if len(seen) > _MAX_SCANNED:
            hits.add(_UNKNOWN)
            break
        try:
            direct, callees = _code_facts(code, glb)
        except Exception:  # pragma: no cover - dis on exotic code objects
            logger.debug("dropout-guard: could not scan %r", code, exc_info=True)
            hits.add(_UNKNOWN)
            continue
        hits.update(direct)
        todo.extend(callees)
    return frozenset(hits)


def _function_entries(value: Any) -> List[Tuple[types.CodeType, Dict[str, Any]]]:
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, property):
        return [e for f in (value.fget, value.fset) for e in _function_entries(f)]
    if isinstance(value, types.MethodType):
        value = value.__func__
    entries = []
    while isinstance(value, types.FunctionType):
        entries.append((value.__code__, value.__globals__))
        value = getattr(value, "__wrapped__", None)
    return entries


def class_functional_names(cls: type) -> FrozenSet[str]:
    """Watched names that the Python code of a module class may reach.

    torch's own classes are trusted (their functional calls are gated by
    ``self.training``, which the module hooks check); every other class in the MRO has all
    its methods scanned, and the project functions they call, transitively.
    """
    entry = _CLASS_NAMES_CACHE.get(id(cls))
    if entry is not None and entry[0]() is cls:
        return entry[1]
    entries: List[Tuple[types.CodeType, Dict[str, Any]]] = []
    construction: List[Tuple[types.CodeType, Dict[str, Any]]] = []
    for klass in cls.__mro__:
        if klass is object or _is_trusted_module_name(getattr(klass, "__module__", None)):
            continue
        for attr, value in list(vars(klass).items()):
            (construction if attr in _CONSTRUCTION_METHODS else entries).extend(
                _function_entries(value))
    names = scan_functions(entries)
    if construction:  # building dropout modules in __init__ is what everyone does
        names = names | (scan_functions(construction) - CONSTRUCTOR_NAMES)
    key = id(cls)
    try:
        ref = weakref.ref(cls, lambda _r, _k=key: _CLASS_NAMES_CACHE.pop(_k, None))
    except TypeError:  # pragma: no cover
        return names
    _CLASS_NAMES_CACHE[key] = (ref, names)
    return names


def instance_functional_names(module: Any) -> FrozenSet[str]:
    """Like :func:`class_functional_names`, plus a ``forward`` assigned on the instance."""
    names = class_functional_names(type(module))
    override = module.__dict__.get("forward")
    if override is not None:
        entries = _function_entries(override)
        names = names | (scan_functions(entries) if entries else frozenset({_UNKNOWN}))
    return names


_CODE_RESULT: "weakref.WeakKeyDictionary[types.CodeType, FrozenSet[str]]" = (
    weakref.WeakKeyDictionary()
)


def code_functional_names(code: types.CodeType, glb: Dict[str, Any]) -> FrozenSet[str]:
    """Watched names reachable from one code object (cached per code object)."""
    try:
        return _CODE_RESULT[code]
    except KeyError:
        pass
    names = scan_functions([(code, glb)])
    try:
        _CODE_RESULT[code] = names
    except TypeError:  # pragma: no cover
        pass
    return names


#: ``{id(cls): (weakref(cls), category, needs_mode with batchnorm, needs_mode without)}``
CLASS_INFO: Dict[int, Tuple[Any, Optional[str], bool, bool]] = {}


def class_info(cls: type) -> Tuple[Any, Optional[str], bool, bool]:
    """Cached facts about a module class (see :data:`CLASS_INFO`)."""
    entry = CLASS_INFO.get(id(cls))
    if entry is not None and entry[0]() is cls:
        return entry
    cat = class_category(cls)
    if cat == "script":
        names: FrozenSet[str] = frozenset()
    else:
        names = class_functional_names(cls)
    key = id(cls)
    try:
        ref = weakref.ref(cls, lambda _r, _k=key: CLASS_INFO.pop(_k, None))
    except TypeError:  # pragma: no cover
        return (lambda: cls, cat, needs_mode(names, True), needs_mode(names, False))
    entry = (ref, cat, needs_mode(names, True), needs_mode(names, False))
    CLASS_INFO[key] = entry
    return entry


def needs_mode(names: FrozenSet[str], batchnorm: bool) -> bool:
    if not names:
        return False
    if batchnorm:
        return True
    return bool(names - BATCHNORM_NAMES)


# --------------------------------------------------------------------------------------
# Per-model plans: what a guard entry needs from the module tree, cached between entries
# --------------------------------------------------------------------------------------


class _EndOfChildren:
    """Closes one module's children in a plan's flattened tree (see :class:`ModelPlan`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<end of children>"


_END = _EndOfChildren()
_CANDIDATE_CATEGORIES = frozenset({"dropout", "batchnorm", "mha"})


def _picker(positions: Tuple[int, ...]) -> Any:
    """``seq -> tuple(seq[i] for i in positions)`` in C (``operator.itemgetter``)."""
    if len(positions) >= 2:
        return operator.itemgetter(*positions)
    if positions:
        only = positions[0]
        return lambda seq: (seq[only],)
    return lambda seq: ()


def _immortal_class(klass: type) -> bool:
    """Whether ``klass`` lives as long as the process anyway: a module-level class of torch
    (never unloaded), a builtin, or ours. Holding such a class adds no lifetime to anything;
    every other class is held weakly (it might reference a model)."""
    modname = getattr(klass, "__module__", None)
    qualname = getattr(klass, "__qualname__", "")
    if klass is _EndOfChildren or modname == "builtins":
        return True
    if not isinstance(modname, str) or not _is_trusted_module_name(modname) or \
            not isinstance(qualname, str) or "." in qualname:
        return False
    return getattr(sys.modules.get(modname), qualname, None) is klass


class ModelPlan:
    """The facts a guard entry needs about a model's module tree, cheap to re-validate.

    The tree is flattened breadth-first into a list: the root, then, for each *expanded*
    module in turn, its ``_modules`` values followed by an end-of-children marker. A module
    met a second time (shared, or a cycle) is a *repeat* and is not expanded again; a module
    without children is a *leaf*. A plan keeps the shape of that list, and no strong
    reference to a module or to a class that could hold one (it never keeps a model alive):

    * ``expanded``: the positions whose children were appended, in order;
    * the class at every position (torch's own classes directly, others weakly);
    * ``repeats``: ``(position, earlier position)`` pairs holding the same module;
    * ``module_flags``: ``(position, is a leaf)`` of every module met for the first time;

    and what the guard derives from those classes: ``candidates``, the ``(position,
    category)`` of every dropout / batch-norm / attention module, and whether the classes'
    code may call functional dropout (``needs_mode_bn`` / ``needs_mode_plain``, with and
    without batch norm watched).

    :meth:`match` rebuilds the flat list from a root along ``expanded`` and returns it only
    when the shape is unchanged: the same length, the same class at every position (the
    markers included, so every expanded module has the same number of children), the same
    repeats, leaves still without children and, when asked, no ``forward`` assigned on an
    instance. Everything the guard takes from a plan is then what a full walk would find:
    categories and the scanned code depend only on the classes; training flags and rates are
    read from the live modules at each entry, names from the live model when something is
    reported. The check costs about 0.05-0.1 µs per module; the full walk (class look-ups,
    pre-scan) about 1 µs per module.

    Models with TorchScript submodules or with a ``forward`` assigned on an instance get a
    plan that is not cached (``cacheable`` is false): they are walked at every entry.
    """

    __slots__ = ("size", "expanded", "classes", "class_refs", "classes_at", "repeats",
                 "module_flags", "candidates", "candidates_at", "watch",
                 "needs_mode_bn", "needs_mode_plain", "unhookable_root", "cacheable")

    @classmethod
    def build(cls, root: Any) -> Tuple["ModelPlan", List[Any], List[Any]]:
        """Walk the tree under ``root``: ``(plan, flat list, TorchScript modules)``."""
        flat: List[Any] = [root]
        expanded: List[int] = []
        repeats: List[Tuple[int, int]] = []
        module_flags: List[Tuple[int, bool]] = []
        candidates: List[Tuple[int, str]] = []
        scripts: List[Any] = []
        first: Dict[int, int] = {}  # id -> position; ``flat`` keeps every module alive here
        need_bn = need_plain = overridden = False
        i = 0
        while i < len(flat):
            module = flat[i]
            if module is None or module is _END:
                i += 1
                continue
            earlier = first.get(id(module))
            if earlier is not None:
                repeats.append((i, earlier))
                i += 1
                continue
            first[id(module)] = i
            info = class_info(type(module))
            cat = info[1]
            if cat == "script":  # runs no Python hooks: checked once per entry, not walked
                for sub in module.modules():
                    if id(sub) not in first or sub is module:
                        scripts.append(sub)
                        first.setdefault(id(sub), i)
                i += 1
                continue
            if cat in _CANDIDATE_CATEGORIES:
                candidates.append((i, cat))
            need_bn = need_bn or info[2]
            need_plain = need_plain or info[3]
            if "forward" in module.__dict__:
                overridden = True
                names = instance_functional_names(module)
                need_bn = need_bn or needs_mode(names, True)
                need_plain = need_plain or needs_mode(names, False)
            children = module._modules
            module_flags.append((i, not children))
            if children:
                expanded.append(i)
                flat.extend(children.values())
                flat.append(_END)
            i += 1
        plan = cls.__new__(cls)
        plan.size = len(flat)
        plan.expanded = tuple(expanded)
        # the class at each position: a fixed tuple when every class is immortal, else
        # picked from weak references to the distinct classes
        distinct: Dict[int, Tuple[int, type]] = {}  # id(class) -> (index, class)
        for item in flat:
            klass = type(item)
            if id(klass) not in distinct:
                distinct[id(klass)] = (len(distinct), klass)
        if all(_immortal_class(klass) for _index, klass in distinct.values()):
            plan.classes = tuple(map(type, flat))
            plan.class_refs = plan.classes_at = None
        else:
            plan.classes = None
            plan.class_refs = tuple(weakref.ref(klass) for _index, klass in distinct.values())
            plan.classes_at = _picker(tuple(distinct[id(type(item))][0] for item in flat))
        plan.repeats = tuple(repeats)
        plan.module_flags = tuple(module_flags)
        plan.candidates = tuple(candidates)
        plan.candidates_at = _picker(tuple(position for position, _cat in candidates))
        plan.watch = None
        plan.needs_mode_bn = need_bn
        plan.needs_mode_plain = need_plain
        plan.unhookable_root = is_fused_fastpath_module(root) or is_script_module(root)
        plan.cacheable = not scripts and not overridden
        return plan, flat, scripts

    def match(self, root: Any, overrides: bool) -> Optional[List[Any]]:
        """The flat list of ``root``'s tree if it has this plan's shape, else ``None``.

        ``overrides``: also require that no module has a ``forward`` assigned on the
        instance (only the automatic functional pre-scan cares about those).
        """
        flat = [root]
        extend = flat.extend
        append = flat.append
        try:
            # one pass, in the build's order: expand the expanded modules, check the rest
            for i, leaf in self.module_flags:
                state = flat[i].__dict__
                if leaf:
                    if state["_modules"]:
                        return None  # a leaf got children
                else:
                    extend(state["_modules"].values())
                    append(_END)
                if overrides and "forward" in state:
                    return None  # a forward assigned on the instance: scan it
            if len(flat) != self.size:
                return None
            classes = self.classes
            if classes is None:  # a collected class gives None, which matches nothing
                classes = self.classes_at([ref() for ref in self.class_refs])
            if tuple(map(type, flat)) != classes:
                return None
            for i, earlier in self.repeats:
                if flat[i] is not flat[earlier]:
                    return None
        except Exception:  # a module unlike the plan's (no _modules dict...): walk it
            return None
        return flat


def watch_lists(plan: ModelPlan, candidates: Tuple[Any, ...]) -> Tuple[tuple, tuple, tuple]:
    """``(weak references to candidates, [(ref, category)] with batch norm, without)``.

    Kept on the plan as ``plan.watch`` while the candidates stay the same modules (weak
    references only), so that a guard entry on an eval model allocates none of them.
    """
    refs = tuple(map(weakref.ref, candidates))
    pending = tuple(zip(refs, (cat for _position, cat in plan.candidates)))
    return refs, pending, tuple(p for p in pending if p[1] != "batchnorm")


_PLANS: "weakref.WeakKeyDictionary[Any, ModelPlan]" = weakref.WeakKeyDictionary()


def model_plan(root: Any, overrides: bool,
               batchnorm: bool) -> Tuple[ModelPlan, List[Any], List[Any]]:
    """``(plan, flat list, TorchScript modules)`` for the tree under ``root``.

    Uses the plan cached for ``root`` when it still matches, else walks the tree (and
    caches the new plan when it is cacheable). ``overrides`` / ``batchnorm``: whether
    instance ``forward`` assignments matter (automatic functional pre-scan) and for which
    batch-norm setting.
    """
    try:
        plan = _PLANS.get(root)
    except TypeError:  # a module class that is not hashable
        plan = None
    if plan is not None:
        needs = plan.needs_mode_bn if batchnorm else plan.needs_mode_plain
        flat = plan.match(root, overrides and not needs)
        if flat is not None:
            return plan, flat, []
    plan, flat, scripts = ModelPlan.build(root)
    try:
        if plan.cacheable:
            _PLANS[root] = plan
        else:
            _PLANS.pop(root, None)  # walked at every entry now: drop the stale plan
    except TypeError:
        pass
    return plan, flat, scripts
