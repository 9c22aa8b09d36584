"""``inference_guard`` and ``eval_mode``: the runtime half of dropout-guard.

``inference_guard(model)`` watches a region of code declared as inference and reports every
dropout (and batch norm) that runs in training mode there; ``eval_mode(model)`` puts a
model in eval mode and ``torch.inference_mode()`` for a region and restores every
submodule's own ``training`` flag afterwards. See ``docs/runtime.md``.

Importing this module imports torch; it registers nothing until a guard is entered.
"""
from __future__ import annotations

import functools
import inspect
import itertools
import logging
import sys
import threading
import types
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar, Union

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from dropout_guard.runtime import _inspect as _in
from dropout_guard.runtime.errors import (
    DropoutGuardError,
    GuardLimitationWarning,
    TrainingModeBatchNormError,
    TrainingModeBatchNormWarning,
    TrainingModeDropoutError,
    TrainingModeDropoutWarning,
    UnsupportedModelError,
)

__all__ = ["inference_guard", "InferenceGuard", "eval_mode", "Violation"]

logger = logging.getLogger("dropout_guard.runtime")

_F = TypeVar("_F", bound=Callable[..., Any])
_ACTIONS = ("raise", "warn", "record")
_get_ident = threading.get_ident

FIX_MODULE = "call model.eval() before inference, or use dropout_guard.eval_mode(model)"


# ======================================================================================
# Violations and their reporting
# ======================================================================================


@dataclass
class Violation:
    """One kind of training-mode behaviour seen inside a guarded region.

    Attributes:
        name: qualified name of the module inside the guarded model
            (``encoder.layers.3.dropout1``; ``""`` is the model itself). For DataParallel /
            DistributedDataParallel / torch.compile wrappers, the name inside the wrapped
            module. For functional calls, the module whose code made the call (``""`` with
            an empty ``class_name`` when no module was running).
        class_name: the module's class (``Dropout``, ``BatchNorm2d``, ``SelfAttention``).
        kind: ``"dropout"``, ``"batchnorm"`` (a module in training mode), ``"functional"``
            (``F.dropout``-family / ``F.batch_norm`` called with training on) or ``"sdpa"``
            (``scaled_dot_product_attention`` with ``dropout_p > 0``).
        count: how many times it fired.
        first_call_site: ``path:line`` of the user's code where it first fired.
        function: for ``functional`` / ``sdpa``: the function called, else ``None``.
        model: class name of the guarded model (or of the outermost running module).
        message: the full explanation, with the fix.
    """

    name: str
    class_name: str
    kind: str
    count: int
    first_call_site: str
    function: Optional[str] = None
    model: str = ""
    message: str = ""

    def __str__(self) -> str:
        return self.message or f"{self.kind}: {self.name} ({self.class_name}) x{self.count}"


_KIND_WORDS = {"dropout": "dropout", "batchnorm": "batch norm"}


def _describe(kind: str, name: str, class_name: str, model: str) -> str:
    if not class_name:
        return "code outside any module"
    if not name:
        return f"{class_name} (the model itself)"
    where = f" in {model}" if model else ""
    return f"'{name}' ({class_name}{where})"


def _module_message(kind: str, name: str, class_name: str, model: str, site: str,
                    context: str) -> str:
    what = _describe(kind, name, class_name, model)
    if kind == "batchnorm":
        effect = ("it normalises with the batch's own statistics and overwrites its running "
                  "statistics")
    elif class_name == "MultiheadAttention":
        effect = "attention dropout is applied, so predictions are random"
    else:
        effect = "it randomly zeroes activations, so predictions are random"
    fix = FIX_MODULE
    if "<unregistered" in name:
        fix = (f"this {class_name} is not a registered submodule (built inside forward?), so "
               "model.eval() cannot reach it: create it in __init__ and assign it to self")
    return (f"{_KIND_WORDS.get(kind, kind)} module {what} ran in training mode {context} "
            f"at {site}: {effect}. Fix: {fix}.")


def _functional_message(kind: str, function: str, detail: str, name: str, class_name: str,
                        model: str, site: str, context: str, fix: str) -> str:
    what = _describe(kind, name, class_name, model)
    return (f"{function}({detail}) was called {context} from {what} at {site}. Fix: {fix}.")


class _Recorder:
    """Violation bookkeeping and dispatch shared by the guard and the process watch."""

    _context = "inside inference_guard"

    def __init__(self, action: str) -> None:
        if action not in _ACTIONS:
            raise ValueError(f"action must be one of {_ACTIONS}, not {action!r}")
        self.action = action
        self._lock = threading.Lock()
        self._violations: List[Violation] = []
        self._index: Dict[tuple, Violation] = {}
        self._internal_errors = 0

    @property
    def violations(self) -> List[Violation]:
        """What fired so far (a new list; the ``Violation`` objects keep counting)."""
        with self._lock:
            return list(self._violations)

    def clear(self) -> None:
        """Forget the recorded violations."""
        with self._lock:
            self._violations.clear()
            self._index.clear()

    def _internal_error(self) -> None:
        # A bug in the bookkeeping must never break the user's forward pass: log it.
        self._internal_errors += 1
        if self._internal_errors <= 3:
            logger.warning("dropout-guard: internal error (ignored)", exc_info=True)

    def _record(self, key: tuple, build: Callable[[str], Violation], site: str) -> Violation:
        with self._lock:
            found = self._index.get(key)
            if found is not None:
                found.count += 1
                return found
            violation = build(site)
            self._index[key] = violation
            self._violations.append(violation)
            return violation

    def _dispatch(self, violation: Violation) -> None:
        if self.action == "record":
            return
        batchnorm = violation.kind == "batchnorm" or (
            violation.function is not None and "batch_norm" in violation.function)
        if self.action == "warn":
            category = TrainingModeBatchNormWarning if batchnorm else TrainingModeDropoutWarning
            _in.warn_at_user_site(violation.message, category)
            return
        error = TrainingModeBatchNormError if batchnorm else TrainingModeDropoutError
        raise error(violation.message, violation)

    # -- the two kinds of reports ---------------------------------------------------------

    def report_module(self, module: Any, kind: str, name: str, model: str,
                      frame: Any = None) -> None:
        try:
            class_name = type(module).__name__
            if _in.is_script_module(module):
                class_name = getattr(module, "original_name", class_name) or class_name
            context = self._context

            def build(site: str) -> Violation:
                return Violation(name, class_name, kind, 1, site, None, model,
                                 _module_message(kind, name, class_name, model, site, context))

            site = _in.format_site(_in.user_frame(frame or sys._getframe(1)))
            violation = self._record((kind, name, class_name, model), build, site)
        except Exception:
            self._internal_error()
            return
        self._dispatch(violation)

    def report_functional(self, kind: str, function: str, detail: str, fix: str,
                          name: str, class_name: str, model: str, frame: Any) -> None:
        try:
            context = self._context
            site = _in.format_site(_in.user_frame(frame))

            def build(site_: str) -> Violation:
                return Violation(name, class_name, kind, 1, site_, function, model,
                                 _functional_message(kind, function, detail, name, class_name,
                                                     model, site_, context, fix))

            violation = self._record((kind, function, name, class_name, model, site), build,
                                     site)
        except Exception:
            self._internal_error()
            return
        self._dispatch(violation)


# ======================================================================================
# Functional checks (TorchFunctionMode)
# ======================================================================================


class _Spec:
    __slots__ = ("kind", "qualname", "p_pos", "p_kw", "p_default", "flag_pos", "flag_kw",
                 "flag_default", "stats_pos", "stats_kw", "fix", "batchnorm")

    def __init__(self, kind: str, qualname: str, *, p: Tuple[int, str, Any],
                 flag: Optional[Tuple[int, str, Any]], stats: Optional[Tuple[int, str]] = None,
                 fix: str, batchnorm: bool = False) -> None:
        self.kind = kind
        self.qualname = qualname
        self.p_pos, self.p_kw, self.p_default = p
        if flag is None:
            self.flag_pos, self.flag_kw, self.flag_default = -1, "", True
        else:
            self.flag_pos, self.flag_kw, self.flag_default = flag
        self.stats_pos, self.stats_kw = stats if stats is not None else (-1, "")
        self.fix = fix
        self.batchnorm = batchnorm

    @staticmethod
    def _arg(args: tuple, kwargs: dict, pos: int, kw: str, default: Any) -> Any:
        if kw in kwargs:
            return kwargs[kw]
        if 0 <= pos < len(args):
            return args[pos]
        return default

    def check(self, args: tuple, kwargs: dict) -> Optional[str]:
        """A short description of the offending arguments when the call fires, else None."""
        if self.batchnorm:
            training = self._arg(args, kwargs, self.flag_pos, self.flag_kw, self.flag_default)
            if not training:
                return None
            if self._arg(args, kwargs, self.stats_pos, self.stats_kw, None) is None:
                return None  # no running statistics: nothing is overwritten
            return "training=True"
        if self.flag_pos >= 0 or self.flag_kw:
            training = self._arg(args, kwargs, self.flag_pos, self.flag_kw, self.flag_default)
            if training is None or not bool(training):
                return None
        p = self._arg(args, kwargs, self.p_pos, self.p_kw, self.p_default)
        try:
            rate = float(p)
        except Exception:
            rate = 1.0
        if rate <= 0:
            return None
        if self.flag_pos >= 0 or self.flag_kw:
            return f"{self.p_kw}={rate:g}, {self.flag_kw}=True"
        return f"{self.p_kw}={rate:g}"


def _build_specs() -> Dict[Any, _Spec]:
    specs: Dict[Any, _Spec] = {}
    fix_f = "pass training=self.training (the functional form defaults to training=True), or use an nn.Dropout module"
    fix_alpha = "pass training=self.training, or use an nn.AlphaDropout module"
    for name, default in (("dropout", True), ("dropout1d", True), ("dropout2d", True),
                          ("dropout3d", True), ("alpha_dropout", False),
                          ("feature_alpha_dropout", False)):
        func = getattr(F, name, None)
        if func is not None:
            specs[func] = _Spec("functional", f"torch.nn.functional.{name}",
                                p=(1, "p", 0.5), flag=(2, "training", default),
                                fix=fix_f if default else fix_alpha)
    for name in ("dropout", "dropout_", "feature_dropout", "feature_dropout_", "alpha_dropout",
                 "alpha_dropout_", "feature_alpha_dropout", "feature_alpha_dropout_",
                 "native_dropout"):
        func = getattr(torch, name, None)
        if func is not None:
            specs[func] = _Spec("functional", f"torch.{name}", p=(1, "p", 0.5),
                                flag=(2, "train", None),
                                fix="pass train=self.training")
    sdpa = getattr(F, "scaled_dot_product_attention", None)
    if sdpa is not None:
        specs[sdpa] = _Spec(
            "sdpa", "torch.nn.functional.scaled_dot_product_attention",
            p=(4, "dropout_p", 0.0), flag=None,
            fix="pass dropout_p=(self.dropout_p if self.training else 0.0); "
                "scaled_dot_product_attention applies dropout whatever the module's mode")
    mha = getattr(F, "multi_head_attention_forward", None)
    if mha is not None:
        specs[mha] = _Spec("functional", "torch.nn.functional.multi_head_attention_forward",
                           p=(10, "dropout_p", 0.0), flag=(13, "training", True),
                           fix="pass training=self.training")
    bn_fix = "pass training=self.training, or use an nn.BatchNorm module"
    specs[F.batch_norm] = _Spec("functional", "torch.nn.functional.batch_norm", p=(0, "", 0),
                                flag=(5, "training", False), stats=(1, "running_mean"),
                                fix=bn_fix, batchnorm=True)
    specs[torch.batch_norm] = _Spec("functional", "torch.batch_norm", p=(0, "", 0),
                                    flag=(5, "training", False), stats=(3, "running_mean"),
                                    fix=bn_fix, batchnorm=True)
    return specs


_SPECS = _build_specs()


class _GuardMode(TorchFunctionMode):
    """Pushed by an active guard (this thread only); sees every torch function call."""

    def __init__(self, activation: "_Activation") -> None:
        super().__init__()
        self.activation = activation
        # under torch.compile, dynamo inlines modes: keep it out of the reporting code
        self.on_functional = _maybe_disable_dynamo(activation.on_functional)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if kwargs is None:
            kwargs = {}
        try:
            spec = _SPECS.get(func)
        except TypeError:  # unhashable callable
            spec = None
        if spec is not None:
            self.on_functional(spec, args, kwargs)
        return func(*args, **kwargs)


def _pop_own_mode(mode: TorchFunctionMode) -> None:
    """Pop ``mode`` from this thread's mode stack, even if it is no longer on top."""
    stack = torch.overrides._get_current_function_mode_stack()
    if stack and stack[-1] is mode:
        mode.__exit__(None, None, None)
        return
    if not any(m is mode for m in stack):
        logger.warning("dropout-guard: its TorchFunctionMode was already gone from the stack")
        return
    logger.warning("dropout-guard: modes pushed inside the guard were not popped; "
                   "removing the guard's mode from under them")
    above = []
    while True:
        top = torch.overrides._pop_mode()
        if top is mode:
            break
        above.append(top)
    for m in reversed(above):
        torch.overrides._push_mode(m)


# ======================================================================================
# One process-wide forward pre-hook, shared by every process-wide guard and watch
# ======================================================================================


_REG_LOCK = threading.RLock()  # hook (de)registration: RemovableHandle ids are not thread-safe


def _maybe_disable_dynamo(fn: Callable) -> Callable:
    """Keep torch.compile from tracing into our hooks (it graph-breaks and runs them eagerly)."""
    if "torch._dynamo" in sys.modules:
        try:
            return torch.compiler.disable(fn)
        except Exception:  # pragma: no cover
            return fn
    return fn


class _GlobalHook:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.handle: Any = None
        self.local = threading.local()
        self.watchers: Tuple[Any, ...] = ()  # all-thread subscribers (ProcessWatch)

    def _acquire(self) -> None:
        with self.lock:
            if self.count == 0:
                with _REG_LOCK:
                    self.handle = nn.modules.module.register_module_forward_pre_hook(
                        _maybe_disable_dynamo(_global_pre_hook))
            self.count += 1

    def _release(self) -> None:
        with self.lock:
            self.count -= 1
            if self.count == 0 and self.handle is not None:
                with _REG_LOCK:
                    self.handle.remove()
                self.handle = None

    def add_thread_sub(self, sub: Any) -> None:
        subs = self.local.__dict__.get("subs")
        if subs is None:
            subs = self.local.subs = []
        self._acquire()
        subs.append(sub)

    def remove_thread_sub(self, sub: Any) -> None:
        subs = self.local.__dict__.get("subs") or []
        for i in range(len(subs) - 1, -1, -1):
            if subs[i] is sub:
                del subs[i]
                self._release()
                return

    def add_watcher(self, watcher: Any) -> None:
        self._acquire()
        with self.lock:
            self.watchers = self.watchers + (watcher,)

    def remove_watcher(self, watcher: Any) -> None:
        with self.lock:
            if not any(w is watcher for w in self.watchers):
                return
            self.watchers = tuple(w for w in self.watchers if w is not watcher)
        self._release()


_GLOBAL = _GlobalHook()


def _global_pre_hook(module: Any, args: Any) -> None:
    if not getattr(module, "training", False):
        return
    subs = _GLOBAL.local.__dict__.get("subs")
    if subs:
        for sub in tuple(subs):
            sub.on_global(module)
    watchers = _GLOBAL.watchers
    if watchers:
        for watcher in watchers:
            watcher.on_global(module)


class _RootNames:
    """Qualified names for modules found running without a guarded model (process-wide)."""

    def __init__(self) -> None:
        self._by_root: Dict[int, Tuple[Any, Dict[int, Tuple[Any, str]]]] = {}

    def resolve(self, module: Any, frame: Any) -> Tuple[str, str]:
        """(name inside the outermost running module, that module's class name)."""
        running = _in.running_modules(frame)
        root = running[0] if running else module
        entry = self._by_root.get(id(root))
        if entry is None or entry[0]() is not root:
            entry = (weakref.ref(root), _in.qualified_names(root))
            self._by_root[id(root)] = entry
        name = _in.lookup_name(entry[1], module)
        if name is None:  # a module created after the names were computed?
            entry = (weakref.ref(root), _in.qualified_names(root))
            self._by_root[id(root)] = entry
            name = _in.lookup_name(entry[1], module)
        if name is None:  # not registered in the model (built in forward)
            outer = ""
            for parent in reversed(running):
                if parent is not module:
                    found = _in.lookup_name(entry[1], parent)
                    if found is not None:
                        outer = found
                        break
            name = _unregistered_name(outer, type(module).__name__)
        return name, type(_in.unwrap(root)).__name__


# ======================================================================================
# The guard
# ======================================================================================


#: Keys of the root pre-hooks that guards put straight into ``module._forward_pre_hooks``:
#: negative, so they never collide with the ids of torch's ``RemovableHandle`` (a global
#: counter from 0). ``next()`` on ``itertools.count`` is atomic under the GIL.
_ROOT_HOOK_KEYS = itertools.count(-1, -1)
_recheck_no_dynamo: Optional[Callable] = None


def _recheck(activation: "_Activation", host: Any, args: Any) -> None:
    activation._recheck_hook(host, args)


def _root_hook(activation: "_Activation") -> Callable:
    """The root pre-hook of ``activation``, kept out of dynamo once torch.compile is loaded
    (a module-level function wrapped once: ``torch.compiler.disable`` costs µs per call)."""
    global _recheck_no_dynamo
    if _recheck_no_dynamo is None:
        _recheck_no_dynamo = _maybe_disable_dynamo(_recheck)
    return functools.partial(_recheck_no_dynamo, activation)


def _root_host(model: Any, inner: Any, unhookable_root: bool) -> Any:
    """Where the root re-check hook goes: outside a torch.compile wrapper (its hooks stay
    out of the compiled code), never on a fused ``TransformerEncoderLayer`` (any hook turns
    its fast path off) nor on TorchScript (``None``: no root hook)."""
    if type(model).__name__ == "OptimizedModule":
        return model
    if unhookable_root:
        return model if model is not inner and not _in.is_script_module(model) else None
    return inner


class _Activation:
    """What one ``__enter__`` installed, in one thread; undone by :meth:`stop`.

    The class attributes are the defaults: an entry sets only what it uses.
    """

    any_thread = False
    handles: Any = ()  # RemovableHandles of per-module hooks (a list when used)
    mode: Optional[_GuardMode] = None
    global_sub = False
    pending: Any = ()  # [(weakref, category)]: eval-mode candidates the root hook re-checks
    hooked: Any = frozenset()  # ids of modules carrying our per-module hook (a set when used)
    names: Optional[Dict[int, Tuple[Any, str]]] = None
    model_ref: Any = None
    model_name = ""
    root_names: Optional[_RootNames] = None
    root_hook: Optional[Tuple[Any, int]] = None  # (weakref to the hooks dict, key)

    def __init__(self, guard: "InferenceGuard", body_code: Any, body_globals: Any) -> None:
        self.guard = guard
        self.body_code = body_code  # the function around the region (for the pre-scan)
        self.body_globals = body_globals
        self.tid = _get_ident()

    # -- setup / teardown -------------------------------------------------------------

    def start(self) -> None:
        guard = self.guard
        try:
            if guard._model_ref is None:
                self.root_names = _RootNames()
                _GLOBAL.add_thread_sub(self)
                self.global_sub = True
                if guard.functional:
                    self._push_mode()
            else:
                model = guard._model_ref()
                if model is None:
                    raise UnsupportedModelError(
                        "inference_guard: the guarded model no longer exists")
                self._start_model(model)
        except BaseException:
            self.stop()
            raise

    def _start_model(self, model: Any) -> None:
        guard = self.guard
        if type(model).__name__ in _in.WRAPPER_CLASS_NAMES:
            inner = _in.unwrap(model)
            self.model_ref = weakref.ref(inner)
            self.any_thread = _in.is_data_parallel(model)
        else:
            inner = model
            self.model_ref = guard._model_ref
        self.model_name = type(inner).__name__
        batchnorm = guard.batchnorm
        auto = guard.functional is True
        # The model's tree: the guard's last plan if the tree still has its shape (a quick
        # check, about 0.1 µs per module), else the model's cached plan, else a walk.
        plan = guard._plan
        flat = scripts = None
        if plan is not None:
            needs = plan.needs_mode_bn if batchnorm else plan.needs_mode_plain
            flat = plan.match(inner, auto and not needs)
        if flat is None:
            plan, flat, scripts = _in.model_plan(inner, auto, batchnorm)
            guard._plan = plan if plan.cacheable else None
        # dropout / batch-norm candidates: hook those in training mode now, let the root
        # hook re-check the others at each call of the model
        candidates = plan.candidates_at(flat)
        watch = plan.watch  # (weakrefs to the candidates, pending with / without batch norm)
        training = False
        if watch is not None:
            for ref, module in zip(watch[0], candidates):
                if ref() is not module:  # other modules with the same shape
                    watch = None
                    break
                if module.training:
                    training = True
        if watch is None:
            watch = plan.watch = _in.watch_lists(plan, candidates)
            training = any(module.training for module in candidates)
        if training:
            pending = self._hook_training_candidates(plan, candidates, watch[0])
        else:  # the common case: every candidate in eval mode, one list shared by entries
            pending = watch[1] if batchnorm else watch[2]
        if pending:
            self.pending = pending
            host: Any = inner
            if model is not inner or plan.unhookable_root:
                host = _root_host(model, inner, plan.unhookable_root)
            if host is not None:
                # what register_forward_pre_hook does, minus the RemovableHandle (which
                # costs ≈ 1.5 µs per entry + exit, half of what the rest costs on a small
                # model); stop() deletes the key from this same dictionary
                hooks = host._forward_pre_hooks
                key = next(_ROOT_HOOK_KEYS)
                hooks[key] = (self._recheck_hook if "torch._dynamo" not in sys.modules
                              else _root_hook(self))
                self.root_hook = (weakref.ref(hooks), key)
        if auto:
            if (plan.needs_mode_bn if batchnorm else plan.needs_mode_plain):
                self._push_mode()
            else:  # the pre-scan of the function around the region, cached per code object
                code = self.body_code
                cached = guard._body_mode
                if cached is None or cached[0] is not code:
                    cached = guard._body_mode = (code, self._body_needs_mode())
                if cached[1]:
                    self._push_mode()
        elif guard.functional == "always":
            self._push_mode()
        if scripts:
            self._check_scripts(scripts)

    def _hook_training_candidates(self, plan: Any, candidates: Tuple[Any, ...],
                                  refs: Tuple[Any, ...]) -> List[Tuple[Any, str]]:
        """Hook the candidates in training mode; return the others, for the root hook."""
        batchnorm = self.guard.batchnorm
        pending: List[Tuple[Any, str]] = []
        for module, ref, (_position, cat) in zip(candidates, refs, plan.candidates):
            if module.training:
                kind = _in.kind_for_category(module, cat, batchnorm)
                if kind is not None and id(module) not in self.hooked:  # shared: hook once
                    self._hook_module(module, kind)
            elif batchnorm or cat != "batchnorm":
                pending.append((ref, cat))  # its kind is decided if it switches
        return pending

    def _body_needs_mode(self) -> bool:
        """Whether the function around the region may call a watched functional."""
        code = self.body_code
        if code is None:
            return False
        return _in.needs_mode(_in.code_functional_names(code, self.body_globals),
                              self.guard.batchnorm)

    def _push_mode(self) -> None:
        mode = _GuardMode(self)
        mode.__enter__()
        self.mode = mode

    def stop(self) -> None:
        if self.mode is not None:
            try:
                _pop_own_mode(self.mode)
            except Exception:
                logger.warning("dropout-guard: could not pop its mode", exc_info=True)
            self.mode = None
        root_hook = self.root_hook
        if root_hook is not None:
            self.root_hook = None
            hooks = root_hook[0]()
            if hooks is not None:
                hooks.pop(root_hook[1], None)
        if self.handles:
            with _REG_LOCK:
                for handle in self.handles:
                    try:
                        handle.remove()
                    except Exception:  # pragma: no cover
                        logger.warning("dropout-guard: could not remove a hook", exc_info=True)
            self.handles = []
        if self.global_sub:
            _GLOBAL.remove_thread_sub(self)
            self.global_sub = False
        if self.pending:
            self.pending = ()
        if self.hooked:
            self.hooked = frozenset()
        if self.names is not None:
            self.names = None
        if self.root_names is not None:
            self.root_names = None

    # -- names --------------------------------------------------------------------------

    def _name_of(self, module: Any) -> Optional[str]:
        if self.names is None:
            model = self.model_ref() if self.model_ref is not None else None
            if model is None:
                return None
            self.names = _in.qualified_names(model)
        name = _in.lookup_name(self.names, module)
        if name is None:  # module added after the names were computed
            model = self.model_ref() if self.model_ref is not None else None
            if model is not None:
                self.names = _in.qualified_names(model)
                name = _in.lookup_name(self.names, module)
        return name

    # -- module hooks -------------------------------------------------------------------

    def _hook_module(self, module: Any, kind: str) -> None:
        name = self._name_of(module)
        if name is None:
            name = type(module).__name__
        guard = self.guard
        tid = self.tid
        any_thread = self.any_thread
        model_name = self.model_name

        def hook(mod: Any, args: Any) -> None:
            if mod.training and (any_thread or _get_ident() == tid):
                guard._recorder.report_module(mod, kind, name, model_name)

        if not self.handles:
            self.handles = []
        if not self.hooked:
            self.hooked = set()
        with _REG_LOCK:
            self.handles.append(module.register_forward_pre_hook(_maybe_disable_dynamo(hook)))
        self.hooked.add(id(module))

    def _recheck_hook(self, host: Any, args: Any) -> None:
        """Root pre-hook: catch candidates switched to training mode inside the region."""
        try:
            for ref, _cat in self.pending:  # the common case: all still in eval mode
                module = ref()
                if module is not None and module.training:
                    break
            else:
                return
            if not self.any_thread and _get_ident() != self.tid:
                return  # another thread's call: not ours to watch
            batchnorm = self.guard.batchnorm
            promoted = []
            still = []
            for ref, cat in self.pending:
                module = ref()
                if module is None:
                    continue
                if module.training:
                    kind = _in.kind_for_category(module, cat, batchnorm)
                    if kind is not None and id(module) not in self.hooked:
                        promoted.append((module, kind))
                else:
                    still.append((ref, cat))
            self.pending = still
            now = []
            for module, kind in promoted:
                self._hook_module(module, kind)
                if module is host:  # its own pre-hooks already ran for this call
                    now.append((module, kind))
        except Exception:
            self.guard._recorder._internal_error()
            return
        for module, kind in now:
            self.guard._recorder.report_module(module, kind, self._name_of(module) or "",
                                               self.model_name)

    def _check_scripts(self, scripts: List[Any]) -> None:
        """TorchScript submodules run no Python hooks: check their flags once, now."""
        rec = self.guard._recorder
        top = [s for s in scripts
               if not any(o is not s and _is_submodule(o, s) for o in scripts)]
        names = ", ".join(repr(_in.display_name(self._name_of(s))) for s in top[:3])
        _in.warn_at_user_site(
            f"inference_guard: {names} {'is a TorchScript module' if len(top) == 1 else 'are TorchScript modules'}"
            " of " + self.model_name + "; TorchScript runs no Python hooks, so the training "
            "flags of its submodules were checked once, on entry (later mode changes and "
            "functional dropout inside TorchScript code are not seen). Guard the eager "
            "model before torch.jit.script/trace for full checks.", GuardLimitationWarning)
        for module in scripts:
            kind = _in.script_target_kind(module, self.guard.batchnorm)
            if kind is not None and module.training:
                rec.report_module(module, kind, self._name_of(module) or "", self.model_name)

    # -- process-wide (no model) --------------------------------------------------------

    def on_global(self, module: Any) -> None:
        # called from the global pre-hook, in this activation's thread, module.training is True
        kind = _in.target_kind(module, self.guard.batchnorm)
        if kind is None:
            return
        try:
            frame = sys._getframe(1)
            name, model_name = self.root_names.resolve(module, frame)  # type: ignore[union-attr]
        except Exception:
            self.guard._recorder._internal_error()
            return
        self.guard._recorder.report_module(module, kind, name, model_name, frame)

    # -- functional ---------------------------------------------------------------------

    def on_functional(self, spec: _Spec, args: tuple, kwargs: dict) -> None:
        guard = self.guard
        if spec.batchnorm and not guard.batchnorm:
            return
        try:
            detail = spec.check(args, kwargs)
        except Exception:
            guard._recorder._internal_error()
            return
        if detail is None:
            return
        try:
            frame = sys._getframe(2)
            running = _in.running_modules(frame)
            inner = running[-1] if running else None
            name, class_name, model_name = "", "", self.model_name
            module_kind = None
            if inner is not None:
                module_kind = _in.target_kind(inner, guard.batchnorm)
                if module_kind is not None and (self.global_sub or id(inner) in self.hooked):
                    return  # a module hook reports this call
                class_name = type(inner).__name__
                if self.root_names is not None:
                    name, model_name = self.root_names.resolve(inner, frame)
                elif module_kind is not None:
                    # a dropout/batch-norm module's own call: ours only if it is in the model,
                    # or unregistered but called from the model's code (built in forward)
                    found = self._name_of(inner)
                    if found is None:
                        for module in reversed(running[:-1]):
                            outer = self._name_of(module)
                            if outer is not None:
                                found = _unregistered_name(outer, class_name)
                                break
                    if found is None:
                        return
                    name = found
                else:
                    found = None
                    for module in reversed(running):  # innermost module of the guarded model
                        found = self._name_of(module)
                        if found is not None:
                            class_name = type(module).__name__
                            break
                    if found is None:  # running outside the guarded model
                        model_name = type(running[0]).__name__
                    else:
                        name = found
        except Exception:
            guard._recorder._internal_error()
            return
        if module_kind is not None:
            guard._recorder.report_module(inner, module_kind, name, model_name, frame)
        else:
            guard._recorder.report_functional(spec.kind, spec.qualname, detail, spec.fix,
                                              name, class_name, model_name, frame)


def _unregistered_name(outer: str, class_name: str) -> str:
    """Name of a module that runs inside ``outer`` but is not registered in the model."""
    return f"{outer}.<unregistered {class_name}>" if outer else f"<unregistered {class_name}>"


def _is_submodule(parent: Any, child: Any) -> bool:
    try:
        return any(m is child for m in parent.modules())
    except Exception:  # pragma: no cover
        return False


class InferenceGuard:
    """Context manager and decorator returned by :func:`inference_guard`."""

    def __init__(self, model: Any = None, *, action: str = "raise",
                 functional: Union[bool, str] = True, batchnorm: bool = True) -> None:
        if functional not in (True, False, "always"):
            raise ValueError(f"functional must be True, False or 'always', not {functional!r}")
        if model is not None and not isinstance(model, nn.Module):
            raise TypeError(
                "inference_guard(model): model must be a torch.nn.Module (or a function to "
                f"decorate), not {type(model).__name__}")
        self._recorder = _Recorder(action)
        self.action = action
        self.functional = functional
        self.batchnorm = bool(batchnorm)
        self._model_ref = weakref.ref(model) if model is not None else None
        self._local = threading.local()
        self._plan: Optional[_in.ModelPlan] = None  # the last plan of the model's tree
        self._body_mode: Optional[Tuple[Any, bool]] = None  # (code, pre-scan says push)

    @property
    def model(self) -> Optional[nn.Module]:
        """The guarded model (``None`` when the guard is process-wide or the model is gone)."""
        return self._model_ref() if self._model_ref is not None else None

    @property
    def violations(self) -> List[Violation]:
        """Every violation seen by this guard so far, in first-seen order (a new list)."""
        return self._recorder.violations

    def clear(self) -> None:
        """Forget the recorded violations."""
        self._recorder.clear()

    @property
    def active(self) -> bool:
        """Whether this guard is entered in the calling thread."""
        return bool(self._local.__dict__.get("stack"))

    def __repr__(self) -> str:
        target = type(self.model).__name__ if self._model_ref is not None else "process"
        return (f"<inference_guard {target} action={self.action!r} "
                f"functional={self.functional!r} batchnorm={self.batchnorm}>")

    # -- context manager ----------------------------------------------------------------

    def _enter(self, body_code: Any, body_globals: Any) -> "InferenceGuard":
        local = self._local.__dict__
        stack = local.get("stack")
        if stack is None:
            stack = local["stack"] = []
        if stack:  # the same guard re-entered in this thread: the outer entry covers it
            stack.append(None)
            return self
        activation = _Activation(self, body_code, body_globals)
        activation.start()
        stack.append(activation)
        return self

    def __enter__(self) -> "InferenceGuard":
        if self.functional is not True:  # no pre-scan of the code around the region
            return self._enter(None, None)
        frame = sys._getframe(1)
        return self._enter(frame.f_code, frame.f_globals)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        stack = self._local.__dict__.get("stack")
        if not stack:
            logger.warning("dropout-guard: __exit__ without __enter__ in this thread")
            return False
        activation = stack.pop()
        if activation is not None:
            activation.stop()
        return False

    # -- decorator ----------------------------------------------------------------------

    def __call__(self, fn: _F) -> _F:
        if not callable(fn):
            raise TypeError("inference_guard(...) decorates a function")
        if inspect.iscoroutinefunction(fn) or inspect.isgeneratorfunction(fn) or \
                inspect.isasyncgenfunction(fn):
            raise TypeError(
                "inference_guard cannot decorate generator or async functions (the guard "
                "would cover only the creation of the generator/coroutine); use "
                "`with inference_guard(...):` inside it")
        body_code = getattr(fn, "__code__", None)
        body_globals = getattr(fn, "__globals__", {})

        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            self._enter(body_code, body_globals)
            try:
                return fn(*args, **kwargs)
            finally:
                self.__exit__(None, None, None)

        guarded.guard = self  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]


def inference_guard(model: Any = None, *, action: str = "raise",
                    functional: Union[bool, str] = True,
                    batchnorm: bool = True) -> Any:
    """Report dropout and batch norm that run in training mode in code declared as inference.

    Use it as a context manager (``with inference_guard(model):``) or as a decorator, with
    or without parentheses (``@inference_guard``, ``@inference_guard(action="warn")``,
    ``@inference_guard(model)``).

    Args:
        model: the ``nn.Module`` to watch (DataParallel / DistributedDataParallel /
            ``torch.compile`` wrappers are looked through; names are those inside them).
            ``None``: every module called in the *current thread* while the guard is active.
        action: ``"raise"`` (default) raises :class:`TrainingModeDropoutError` (or its
            subclass ``TrainingModeBatchNormError``) at the first firing; ``"warn"`` emits
            :class:`TrainingModeDropoutWarning` attributed to your line; ``"record"`` only
            collects :attr:`InferenceGuard.violations`.
        functional: ``True`` (default) also catches ``F.dropout``-family calls with training
            on, ``scaled_dot_product_attention`` with ``dropout_p > 0`` and ``F.batch_norm``
            with ``training=True`` (including inside ``nn.MultiheadAttention``). With a
            model, the guard pushes its ``TorchFunctionMode`` only when the Python code of
            the model's non-torch classes, or of the function around the region, mentions
            one of these functions (a bytecode pre-scan); ``"always"`` pushes it
            unconditionally; ``False`` never.
        batchnorm: also report batch norm layers (with running statistics) that run in
            training mode.

    Side effects: while active, the guard registers forward pre-hooks on the training-mode
    dropout/batch-norm modules of ``model`` and one on its root (or, without a model, one
    process-wide module pre-hook, filtered to the current thread), and may push a
    ``TorchFunctionMode`` in the current thread. It never changes a module's mode, and it
    removes everything on exit, also when the body raises. The process-wide form (no model)
    adds a little overhead to every module call in the process while active, and the
    ``TorchFunctionMode`` disables ``nn.TransformerEncoder``'s fused fast path while
    active: meant for debugging, tests and checked inference paths, not for hot production
    loops.

    Returns:
        an :class:`InferenceGuard` (or, when ``model`` is a function, that function wrapped
        in a process-wide guard).
    """
    if model is not None and not isinstance(model, nn.Module):
        if isinstance(model, (types.FunctionType, types.MethodType, types.BuiltinFunctionType,
                              functools.partial)):
            return InferenceGuard(None, action=action, functional=functional,
                                  batchnorm=batchnorm)(model)
        raise TypeError(
            "inference_guard(model): model must be a torch.nn.Module or a function to "
            f"decorate, not {type(model).__name__}")
    return InferenceGuard(model, action=action, functional=functional, batchnorm=batchnorm)


# ======================================================================================
# eval_mode
# ======================================================================================


class _EvalMode:
    """Context manager and decorator returned by :func:`eval_mode`."""

    def __init__(self, model: nn.Module, inference_mode: bool = True) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"eval_mode(model): expected an nn.Module, not {type(model).__name__}")
        self.model = model
        self.inference_mode = inference_mode
        self._local = threading.local()

    def __enter__(self) -> nn.Module:
        stack = self._local.__dict__.get("stack")
        if stack is None:
            stack = self._local.stack = []
        snapshot = {m: m.training for m in self.model.modules()}
        grad_ctx = torch.inference_mode() if self.inference_mode else torch.no_grad()
        try:
            self.model.eval()
            grad_ctx.__enter__()
        except BaseException:
            _restore(snapshot)
            raise
        stack.append((snapshot, grad_ctx))
        return self.model

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        snapshot, grad_ctx = self._local.stack.pop()
        try:
            grad_ctx.__exit__(exc_type, exc, tb)
        finally:
            _restore(snapshot)
        return False

    def __call__(self, fn: _F) -> _F:
        if inspect.iscoroutinefunction(fn) or inspect.isgeneratorfunction(fn):
            raise TypeError("eval_mode cannot decorate generator or async functions")

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def _restore(snapshot: Dict[nn.Module, bool]) -> None:
    for module, flag in snapshot.items():
        if module.training != flag:
            module.training = flag


def eval_mode(model: nn.Module, *, inference_mode: bool = True) -> _EvalMode:
    """Run a region with ``model`` in eval mode and gradients off; restore modes afterwards.

    ``with eval_mode(model): y = model(x)`` or ``@eval_mode(model)`` on a function.

    Side effects: on entry it records ``{m: m.training for m in model.modules()}``, calls
    ``model.eval()`` (so custom ``train()`` overrides run) and enters
    ``torch.inference_mode()`` (``torch.no_grad()`` with ``inference_mode=False``; tensors
    created under inference mode cannot be used in autograd later). On exit, also when the
    body raises, it leaves the grad mode and sets each submodule's own ``training`` flag back
    to its recorded value (mixed modes included; ``train()`` is not called). It installs no
    hooks and keeps the modules referenced only while the region runs. Safe for production;
    not thread-safe if another thread switches the same model's modes meanwhile.
    """
    return _EvalMode(model, inference_mode=inference_mode)
