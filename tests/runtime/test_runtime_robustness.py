"""Hooks always come off, guards nest, threads are isolated, models are not kept alive."""
# dropout-guard: noqa: DG101, DG201, DG301, DG302  # deliberate mode bugs: they test the guard
from __future__ import annotations

import gc
import threading
import weakref

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dropout_guard import TrainingModeDropoutError, inference_guard

from _rt_models import FunctionalDropout, Net, all_hook_counts

X = torch.randn(4, 8)
GLOBAL_PRE = torch.nn.modules.module._global_forward_pre_hooks


def mode_stack():
    return torch.overrides._get_current_function_mode_stack()


def test_hooks_and_modes_are_removed_when_the_body_raises():
    model = FunctionalDropout()  # training mode + functional code: hooks and a mode
    model.drop = nn.Dropout(0.1)
    with pytest.raises(KeyError):
        with inference_guard(model, action="record"):
            assert all_hook_counts(model) > 0
            assert len(mode_stack()) == 1
            raise KeyError("user error")
    assert all_hook_counts(model) == 0
    assert mode_stack() == []


def test_process_wide_guard_removes_its_global_hook():
    before = dict(GLOBAL_PRE)
    with pytest.raises(TrainingModeDropoutError):
        with inference_guard():
            assert len(GLOBAL_PRE) == len(before) + 1
            Net()(X)
    assert dict(GLOBAL_PRE) == before
    assert mode_stack() == []


def test_users_own_hook_raising_propagates_unchanged_and_guard_cleans_up():
    model = Net()

    class UserHookError(Exception):
        pass

    def user_hook(module, args):
        raise UserHookError("from the user's hook")

    handle = model.encoder.layers[2].register_forward_pre_hook(user_hook)
    with pytest.raises(UserHookError, match="from the user's hook"):
        with inference_guard(model, action="record") as guard:
            model(X)
    assert [v.name for v in guard.violations][:2] == [
        "encoder.layers.0.dropout1", "encoder.layers.0.norm"]
    assert all_hook_counts(model) == 1  # only the user's own hook is left
    handle.remove()
    assert all_hook_counts(model) == 0


def test_users_global_forward_hook_raising_with_process_wide_guard():
    def boom(module, args, output):
        if isinstance(module, nn.Linear):
            raise ValueError("user forward hook")

    handle = torch.nn.modules.module.register_module_forward_hook(boom)
    try:
        with pytest.raises(ValueError, match="user forward hook"):
            with inference_guard(action="record"):
                Net().eval()(X)
    finally:
        handle.remove()


def test_nested_guards_both_see_the_violation():
    model = Net()
    with inference_guard(model, action="record") as outer:
        with inference_guard(model, action="record") as inner:
            model(X)
        model(X)
    assert inner.violations[0].count == 1
    assert outer.violations[0].count == 2
    assert all_hook_counts(model) == 0


def test_nested_raise_inside_record():
    model = Net()
    with inference_guard(model, action="record") as outer:
        with pytest.raises(TrainingModeDropoutError):
            with inference_guard(model):  # raises at the first firing
                model(X)
    assert outer.violations[0].name == "encoder.layers.0.dropout1"
    assert all_hook_counts(model) == 0


def test_same_guard_reentered_counts_once_per_call():
    model = Net()
    guard = inference_guard(model, action="record")
    with guard:
        with guard:
            with guard:
                model(X)
            assert guard.active
        model(X)
    assert not guard.active
    assert guard.violations[0].count == 2
    assert all_hook_counts(model) == 0


def test_nested_process_wide_and_model_guards_with_modes():
    model = FunctionalDropout().eval()
    with inference_guard(action="record") as outer:
        with inference_guard(model, action="record", functional="always") as inner:
            assert len(mode_stack()) == 2
            model(X)
        assert len(mode_stack()) == 1
    assert mode_stack() == []
    assert len(inner.violations) == 1 and len(outer.violations) == 1


def test_mode_pushed_inside_the_guard_and_left_open_does_not_break_exit():
    from torch.overrides import TorchFunctionMode

    class UserMode(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            return func(*args, **(kwargs or {}))

    user = UserMode()
    model = nn.Linear(2, 2)
    guard = inference_guard(model, functional="always")
    guard.__enter__()
    user.__enter__()
    guard.__exit__(None, None, None)  # out of order: the user's mode stays
    assert mode_stack() == [user]
    user.__exit__(None, None, None)
    assert mode_stack() == []


def test_guard_does_not_keep_the_model_alive():
    model = Net()
    ref = weakref.ref(model)
    guard = inference_guard(model, action="record")
    with guard:
        model(X)
    assert guard.violations
    del model
    gc.collect()
    assert ref() is None
    assert guard.model is None
    with pytest.raises(Exception, match="no longer exists"):
        with guard:
            pass


def test_hooks_do_not_keep_the_model_alive_inside_the_region():
    model = Net()
    ref = weakref.ref(model)
    with inference_guard(model, action="record"):
        model(X)
        del model
        gc.collect()
        assert ref() is None


# -- threads --------------------------------------------------------------------------------


def test_guard_in_one_thread_does_not_see_another_threads_training():
    shared = Net()  # training mode: the guard hooks its dropouts
    entered, trained = threading.Event(), threading.Event()
    errors = []

    def trainer():
        try:
            entered.wait(10)
            out = shared(X)  # training in another thread, with grad
            out.sum().backward()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            trained.set()

    thread = threading.Thread(target=trainer)
    thread.start()
    with inference_guard(shared) as guard:  # action="raise"
        with inference_guard(action="raise"):
            entered.set()
            trained.wait(10)
    thread.join(10)
    assert errors == []
    assert guard.violations == []


def test_process_wide_guard_is_per_thread():
    results = {}

    def infer():
        model = Net()
        with inference_guard(action="record") as guard:
            model(X)
        results["infer"] = [v.name for v in guard.violations]

    def train():
        model = Net()
        for _ in range(20):
            model(X).sum().backward()
        results["train"] = "ok"

    threads = [threading.Thread(target=infer), threading.Thread(target=train)]
    with inference_guard(action="raise"):  # main thread's guard: must not fire for them
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert results["train"] == "ok"
    assert results["infer"][0] == "encoder.layers.0.dropout1"
    assert len(results["infer"]) == 8


def test_functional_mode_is_thread_local():
    model = FunctionalDropout().eval()
    seen = []

    def other():
        seen.append(len(mode_stack()))
        F.dropout(X, 0.5)  # not guarded in this thread

    with inference_guard(model, action="record") as guard:
        t = threading.Thread(target=other)
        t.start()
        t.join(10)
    assert seen == [0]
    assert guard.violations == []
