"""Correctness check of ``inference_guard`` / ``eval_mode`` on a CUDA model (no timing).

A small model with ``nn.Dropout`` and ``nn.BatchNorm1d`` (left in training mode, the bug the
guard exists for) and user hooks of its own, on the GPU:

* ``raise``: ``with inference_guard(model):`` raises ``TrainingModeBatchNormError`` (a
  ``TrainingModeDropoutError``) at the first forward, before batch norm touched its running
  statistics; with ``batchnorm=False``, ``TrainingModeDropoutError`` on the dropout;
* ``warn`` / ``record``: warnings of both kinds attributed to this file, violations listed;
* a dropout switched to training inside a guarded eval region is caught (root re-check);
* functional dropout and ``scaled_dot_product_attention(dropout_p>0)`` on CUDA tensors are
  caught through the ``TorchFunctionMode``;
* ``eval_mode(model)``: eval + inference mode inside, no violation under a guard,
  deterministic outputs, every module's own ``training`` flag restored (mixed modes), also
  when the body raises;
* ``torch.compile`` (inductor on cuda by default): eval model guarded without recompiling,
  a dropout switched inside the region caught, a training-mode model raises with names
  inside the model. When compiling a plain model fails (no compiler, unsupported Python,
  ...) these print SKIP with the reason.

After every guarded region (also when it raised) the check compares, for every module, the
``training`` flag and every hook dictionary with their values before, plus torch's global
module hooks, the ``TorchFunctionMode`` stack and the grad mode.

Run: ``python benchmarks/cuda_guard_check.py`` (``--device cpu`` to run it without a GPU,
``--compile-backend eager|inductor|none``). Prints PASS / FAIL / SKIP per check; exits 1 on
any FAIL, 2 when the device is unavailable. About 1 min on one H100 (mostly inductor
compilation), a few seconds with ``--compile-backend eager``.
"""
# dropout-guard: noqa: DG101, DG201, DG301, DG302, DG303  # deliberate mode bugs: they test the guard
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import traceback
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from dropout_guard import (  # noqa: E402
    DropoutGuardWarning,
    TrainingModeBatchNormError,
    TrainingModeBatchNormWarning,
    TrainingModeDropoutError,
    TrainingModeDropoutWarning,
    eval_mode,
    inference_guard,
)

THIS_FILE = os.path.abspath(__file__)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(32, 64)
        self.bn = nn.BatchNorm1d(64)
        self.act = nn.ReLU()
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(self.act(self.bn(self.fc1(x)))))


class FunctionalNet(nn.Module):
    """Dropout that no module mode controls: F.dropout (training defaults to True) and
    scaled_dot_product_attention with dropout_p > 0."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(32, 96)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q, k, v = self.proj(x).view(b, t, 3, 2, 16).permute(2, 0, 3, 1, 4)
        ctx = F.scaled_dot_product_attention(q, k, v, dropout_p=0.1)
        return F.dropout(ctx, 0.1)


# -- state before / after a guarded region -------------------------------------------------

_HOOK_DICTS = ("_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_forward_hooks",
               "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
               "_backward_pre_hooks", "_backward_hooks")
_GLOBAL_HOOK_DICTS = ("_global_forward_pre_hooks", "_global_forward_hooks",
                      "_global_forward_hooks_always_called", "_global_backward_pre_hooks",
                      "_global_backward_hooks")


def _items(d) -> list:
    return list(d.items())  # keys, values (by identity) and order


def state(model: nn.Module) -> dict:
    """Everything a guard must leave as it found it."""
    modules = {}
    for name, module in model.named_modules():
        hooks = {attr: _items(getattr(module, attr)) for attr in _HOOK_DICTS
                 if hasattr(module, attr)}
        modules[name] = (module.training, hooks)
    glob = {attr: _items(getattr(torch.nn.modules.module, attr)) for attr in _GLOBAL_HOOK_DICTS
            if hasattr(torch.nn.modules.module, attr)}
    modes = [id(m) for m in torch.overrides._get_current_function_mode_stack()]
    return {"modules": modules, "global hooks": glob, "mode stack": modes,
            "grad enabled": torch.is_grad_enabled(),
            "inference mode": torch.is_inference_mode_enabled()}


def assert_state(model: nn.Module, before: dict, where: str) -> None:
    after = state(model)
    if after == before:
        return
    diffs = []
    for key in before:
        if key != "modules" and after[key] != before[key]:
            diffs.append(f"{key}: {before[key]!r} -> {after[key]!r}")
    for name in sorted(set(before["modules"]) | set(after["modules"])):
        b, a = before["modules"].get(name), after["modules"].get(name)
        label = f"module {name or '<root>'!r}"
        if a is None or b is None:
            diffs.append(f"{label}: {'added' if b is None else 'removed'}")
        elif a[0] != b[0]:
            diffs.append(f"{label}: training {b[0]} -> {a[0]}")
        for attr in sorted(set(b[1] if b else ()) | set(a[1] if a else ())):
            hb = b[1].get(attr) if b else None
            ha = a[1].get(attr) if a else None
            if hb != ha:
                diffs.append(f"{label}.{attr}: {len(hb or ())} entries {hb!r} -> "
                             f"{len(ha or ())} entries {ha!r}")
    raise AssertionError(f"state changed {where}: " + "; ".join(diffs))


def add_user_hooks(model: nn.Module) -> None:
    """Hooks of the user's own, which the guard must leave in place (same keys, same order)."""
    model.bn.register_forward_pre_hook(lambda module, args: None)
    model.fc2.register_forward_hook(lambda module, args, out: None)
    model.drop.register_forward_pre_hook(lambda module, args, kwargs: None, with_kwargs=True)


def modes(model: nn.Module) -> dict:
    return {name: m.training for name, m in model.named_modules()}


# -- the checks ---------------------------------------------------------------------------


class Context:
    def __init__(self, device: torch.device, backend: str) -> None:
        self.device = device
        self.backend = backend
        self.x = torch.randn(16, 32, device=device)
        self.seq = torch.randn(2, 8, 32, device=device)
        self.compile_skip = None  # why the compile checks are skipped ("": they run)

    def train_model(self) -> Net:
        torch.manual_seed(0)
        model = Net().to(self.device)  # nn.Module starts in training mode: left there
        add_user_hooks(model)
        return model


def _forward_until_raised(model, x, **guard):
    """Three guarded forward passes under no_grad: (how many ran, the guard's error or None)."""
    calls, error = 0, None
    try:
        with torch.no_grad():
            with inference_guard(model, **guard):
                for _ in range(3):
                    calls += 1
                    model(x)
    except TrainingModeDropoutError as exc:
        error = exc
    return calls, error


def check_raise(ctx: Context) -> str:
    model = ctx.train_model()
    x = ctx.x
    before = state(model)
    stats = (model.bn.running_mean.clone(), model.bn.num_batches_tracked.clone())
    calls, error = _forward_until_raised(model, x)
    assert error is not None, "no error raised"
    assert calls == 1, f"raised at forward #{calls}, not the first"
    assert type(error) is TrainingModeBatchNormError, f"{type(error).__name__}: {error}"
    assert error.violation.name == "bn", error.violation
    assert torch.equal(model.bn.running_mean, stats[0]) and \
        torch.equal(model.bn.num_batches_tracked, stats[1]), \
        "batch norm updated its running statistics before the error"
    assert_state(model, before, "after the guard raised")

    calls, error = _forward_until_raised(model, x, batchnorm=False)
    assert error is not None, "batchnorm=False: no error raised"
    assert calls == 1, f"batchnorm=False: raised at forward #{calls}"
    assert type(error) is TrainingModeDropoutError, f"{type(error).__name__}: {error}"
    assert error.violation.name == "drop", error.violation
    assert_state(model, before, "after the batchnorm=False guard raised")
    return ("first forward raised TrainingModeBatchNormError on 'bn' (running stats "
            "untouched); TrainingModeDropoutError on 'drop' with batchnorm=False")


def check_warn(ctx: Context) -> str:
    model = ctx.train_model()
    before = state(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with torch.no_grad():
            with inference_guard(model, action="warn"):
                y = model(ctx.x)
                model(ctx.x)
    ours = [w for w in caught if issubclass(w.category, DropoutGuardWarning)]
    categories = {w.category for w in ours}
    assert categories == {TrainingModeBatchNormWarning, TrainingModeDropoutWarning}, \
        f"warning categories: {sorted(c.__name__ for c in categories)}"
    bad_site = [w.filename for w in ours if os.path.abspath(w.filename) != THIS_FILE]
    assert not bad_site, f"warnings attributed to {bad_site}, not to this file"
    assert y.device == ctx.x.device and y.shape == (16, 10), (y.device, y.shape)
    assert_state(model, before, "after the warn guard")
    return f"{len(ours)} warnings ({', '.join(sorted(c.__name__ for c in categories))})"


def check_record(ctx: Context) -> str:
    model = ctx.train_model()
    before = state(model)
    with torch.no_grad():
        with inference_guard(model, action="record") as guard:
            model(ctx.x)
            model(ctx.x)
    got = [(v.name, v.kind, v.count) for v in guard.violations]
    assert got == [("bn", "batchnorm", 2), ("drop", "dropout", 2)], got
    assert_state(model, before, "after the record guard")
    return f"violations {got}"


def check_switch_inside(ctx: Context) -> str:
    model = ctx.train_model().eval()
    before = state(model)
    with torch.no_grad():
        with inference_guard(model, action="record") as guard:
            model(ctx.x)
            model.drop.train()  # switched inside the region
            model(ctx.x)
            model.drop.eval()
    got = [(v.name, v.kind, v.count) for v in guard.violations]
    assert got == [("drop", "dropout", 1)], got
    assert_state(model, before, "after the guard")
    return "dropout switched to training inside an eval region: caught"


def check_functional(ctx: Context) -> str:
    torch.manual_seed(0)
    model = FunctionalNet().to(ctx.device).eval()
    before = state(model)
    with torch.no_grad():
        with inference_guard(model, action="record") as guard:
            y = model(ctx.seq)
    got = sorted((v.kind, v.function) for v in guard.violations)
    assert got == [("functional", "torch.nn.functional.dropout"),
                   ("sdpa", "torch.nn.functional.scaled_dot_product_attention")], got
    assert y.device == ctx.seq.device
    assert_state(model, before, "after the functional guard")
    return "F.dropout and scaled_dot_product_attention(dropout_p=0.1) caught"


def check_eval_mode(ctx: Context) -> str:
    model = ctx.train_model()
    model.drop.eval()  # mixed modes: eval_mode must restore exactly this
    flags = modes(model)
    before = state(model)
    with eval_mode(model):
        assert not any(m.training for m in model.modules()), "a module still in training"
        assert torch.is_inference_mode_enabled(), "inference mode off inside eval_mode"
        with inference_guard(model) as guard:  # raise: must stay silent
            y1 = model(ctx.x)
            y2 = model(ctx.x)
        assert guard.violations == [], guard.violations
        assert y1.device == ctx.x.device
        assert torch.allclose(y1, y2, rtol=1e-4, atol=1e-5), "eval outputs differ"
    assert modes(model) == flags, f"flags not restored: {modes(model)} != {flags}"
    assert_state(model, before, "after eval_mode")

    try:
        with eval_mode(model):
            model(ctx.x)
            raise KeyError("body failed")
    except KeyError:
        pass
    assert modes(model) == flags, f"flags not restored after a raise: {modes(model)}"
    assert_state(model, before, "after eval_mode raised")
    return "eval + inference mode inside, guard silent, mixed flags restored (also on raise)"


# -- torch.compile ------------------------------------------------------------------------


def _compile(ctx: Context, model: nn.Module):
    return torch.compile(model, backend=ctx.backend)


def check_compile_smoke(ctx: Context) -> str:
    """Compile a plain eval model, no guard: a failure here is the environment's (SKIP)."""
    if ctx.backend == "none":
        ctx.compile_skip = "--compile-backend none"
        return "SKIP: --compile-backend none"
    try:
        import torch._dynamo  # noqa: F401

        torch._dynamo.reset()
        model = ctx.train_model().eval()
        compiled = _compile(ctx, model)
        with torch.no_grad():
            y = compiled(ctx.x)
            ref = model(ctx.x)
        if not torch.allclose(y, ref, rtol=1e-3, atol=1e-3):
            raise RuntimeError(f"compiled output differs from eager by "
                               f"{(y - ref).abs().max().item():.3g}")
    except Exception as exc:  # no C++ compiler / triton, unsupported Python, ...
        reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
        ctx.compile_skip = f"torch.compile(backend={ctx.backend!r}) fails without the guard: " \
            f"{reason[:300]}"
        return "SKIP: " + ctx.compile_skip
    ctx.compile_skip = ""
    return f"torch.compile(backend={ctx.backend!r}) works without the guard"


def _needs_compile(ctx: Context) -> None:
    if ctx.compile_skip is None:  # the smoke check was not run (--only)
        check_compile_smoke(ctx)
    if ctx.compile_skip:
        raise _Skip(ctx.compile_skip)


def check_compile_eval(ctx: Context) -> str:
    _needs_compile(ctx)
    torch._dynamo.reset()
    try:
        from torch._dynamo.utils import counters
    except ImportError:
        counters = None
    if counters is not None:
        counters.clear()
    model = ctx.train_model().eval()
    compiled = _compile(ctx, model)
    before = state(compiled)
    with torch.no_grad():
        ref = compiled(ctx.x)
        graphs = counters["stats"]["unique_graphs"] if counters is not None else None
        for _ in range(5):
            with inference_guard(compiled) as guard:
                y = compiled(ctx.x)
            assert guard.violations == []
            assert torch.allclose(y, ref, rtol=1e-4, atol=1e-5), "guarded output differs"
            with inference_guard(model):  # guarding the eager model works too
                compiled(ctx.x)
    assert_state(compiled, before, "after guarding the compiled eval model")
    if counters is None:
        return "eval model guarded 10 times, no violation (recompilations not counted)"
    now = counters["stats"]["unique_graphs"]
    assert now == graphs, f"recompiled under the guard: {graphs} -> {now} graphs"
    return f"eval model guarded 10 times, no violation, no recompilation ({now} graph)"


def check_compile_switch(ctx: Context) -> str:
    _needs_compile(ctx)
    torch._dynamo.reset()
    model = ctx.train_model().eval()
    compiled = _compile(ctx, model)
    before = state(compiled)
    with torch.no_grad():
        compiled(ctx.x)
        with inference_guard(compiled, action="record") as guard:
            compiled(ctx.x)
            model.drop.train()  # switched inside the region
            compiled(ctx.x)
            model.drop.eval()
    got = [(v.name, v.kind) for v in guard.violations]
    assert got == [("drop", "dropout")], got
    assert_state(compiled, before, "after the guard")
    return "dropout switched inside a guarded region of the compiled model: caught"


def check_compile_raise(ctx: Context) -> str:
    _needs_compile(ctx)
    torch._dynamo.reset()
    model = ctx.train_model()  # training mode
    compiled = _compile(ctx, model)
    before = state(compiled)
    calls, error = 0, None
    try:
        with torch.no_grad():
            with inference_guard(compiled):
                for _ in range(3):
                    calls += 1
                    compiled(ctx.x)
    except TrainingModeDropoutError as exc:
        error = exc
    assert error is not None, "no error raised"
    assert calls == 1, f"raised at forward #{calls}"
    assert type(error) is TrainingModeBatchNormError, f"{type(error).__name__}: {error}"
    assert error.violation.name == "bn", f"name {error.violation.name!r} (expected 'bn')"
    assert_state(compiled, before, "after the guard raised")
    with torch.no_grad():
        with inference_guard(compiled, action="record") as guard:
            compiled(ctx.x)
    got = [(v.name, v.kind) for v in guard.violations]
    assert got == [("bn", "batchnorm"), ("drop", "dropout")], got
    assert_state(compiled, before, "after the record guard")
    torch._dynamo.reset()
    return "training-mode compiled model: raised at the first forward, names without _orig_mod."


class _Skip(Exception):
    pass


CHECKS = [
    ("raise", check_raise),
    ("warn", check_warn),
    ("record", check_record),
    ("switch-inside-region", check_switch_inside),
    ("functional+sdpa", check_functional),
    ("eval_mode", check_eval_mode),
    ("compile-smoke", check_compile_smoke),
    ("compile-eval-no-recompile", check_compile_eval),
    ("compile-switch-inside-region", check_compile_switch),
    ("compile-raise", check_compile_raise),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                        help="default cuda")
    parser.add_argument("--compile-backend", default=None,
                        help="torch.compile backend: inductor (default on cuda), eager (default "
                        "on cpu: inductor needs a C++ compiler and is slow there), none (skip)")
    parser.add_argument("--only", action="append", default=[],
                        help="run only the checks whose name contains this (repeatable)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print(f"FAIL  cuda-available: torch {torch.__version__} (CUDA build: {torch.version.cuda}) "
              "sees no CUDA device")
        return 2
    device = torch.device(args.device)
    backend = args.compile_backend or ("inductor" if args.device == "cuda" else "eager")
    print(f"torch {torch.__version__}, Python {platform.python_version()}, {platform.machine()}")
    if args.device == "cuda":
        print(f"device: cuda, {torch.cuda.get_device_name(device)}, CUDA {torch.version.cuda}")
    else:
        print("device: cpu")
    print(f"torch.compile backend: {backend}\n")
    ctx = Context(device, backend)
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    t_start = time.perf_counter()
    for name, check in CHECKS:
        if args.only and not any(part in name for part in args.only):
            continue
        t0 = time.perf_counter()
        try:
            detail = check(ctx)
            verdict = "SKIP" if detail.startswith("SKIP: ") else "PASS"
            detail = detail[len("SKIP: "):] if verdict == "SKIP" else detail
        except _Skip as exc:
            verdict, detail = "SKIP", str(exc)
        except AssertionError as exc:
            verdict, detail = "FAIL", str(exc) or "assertion failed"
            detail += "\n" + "".join(traceback.format_exc(limit=-1)).rstrip()
        except Exception as exc:
            verdict, detail = "FAIL", f"{type(exc).__name__}: {exc}"
            detail += "\n" + traceback.format_exc().rstrip()
        counts[verdict] += 1
        elapsed = time.perf_counter() - t0
        print(f"{verdict}  {name} ({elapsed:.1f} s): {detail}", flush=True)
    if args.device == "cuda":
        torch.cuda.synchronize()
    # nothing left behind by the whole run
    leftovers = [attr for attr in _GLOBAL_HOOK_DICTS
                 if getattr(torch.nn.modules.module, attr, None)]
    if leftovers or torch.overrides._get_current_function_mode_stack():
        print(f"FAIL  leftovers: global hooks {leftovers}, mode stack "
              f"{torch.overrides._get_current_function_mode_stack()}")
        counts["FAIL"] += 1
    print(f"\n{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped "
          f"in {time.perf_counter() - t_start:.0f} s")
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
