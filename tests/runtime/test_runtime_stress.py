"""Stress: many threads, 10,000 enter/exit cycles, hooks of other libraries that raise."""
# dropout-guard: noqa: DG101, DG201, DG301, DG302  # deliberate mode bugs: they test the guard
from __future__ import annotations

import gc
import threading
import tracemalloc
import weakref

import pytest
import torch
from torch import nn

from dropout_guard import TrainingModeDropoutError, inference_guard

from _rt_models import FunctionalDropout, Net, all_hook_counts

X = torch.randn(4, 8)
GLOBAL_PRE = torch.nn.modules.module._global_forward_pre_hooks


def test_eight_inference_threads_while_others_train():
    shared_eval = Net().eval()
    shared_train = Net()  # trained by the trainer threads while inference threads guard it
    n_infer, n_train, rounds = 8, 3, 40
    barrier = threading.Barrier(n_infer + n_train + 1)
    errors, canary = [], {}

    def infer(i):
        try:
            own = Net().eval()
            barrier.wait(30)
            for r in range(rounds):
                with inference_guard(action="raise"):  # process-wide for this thread
                    with inference_guard(own):
                        with torch.no_grad():
                            own(X)
                            shared_eval(X)
                with inference_guard(shared_train, action="raise"):
                    pass  # hooks installed on a model other threads are training
        except BaseException as exc:
            errors.append((i, exc))

    def train(i):
        try:
            # trainer 0 trains the model that the inference threads also guard
            model = shared_train if i == 0 else Net()
            opt = torch.optim.SGD(model.parameters(), lr=1e-3)
            barrier.wait(30)
            for _ in range(rounds):
                loss = model(X).sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
        except BaseException as exc:
            errors.append(("train", i, exc))

    def canary_thread():
        model = Net()  # in training mode: this thread's guard must see exactly its own calls
        barrier.wait(30)
        with inference_guard(action="record") as guard:
            for _ in range(rounds):
                with torch.no_grad():
                    model(X)
        canary["violations"] = [(v.name, v.count) for v in guard.violations]

    threads = [threading.Thread(target=infer, args=(i,)) for i in range(n_infer)]
    threads += [threading.Thread(target=train, args=(i,)) for i in range(n_train)]
    threads.append(threading.Thread(target=canary_thread))
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert len(canary["violations"]) == 8
    assert all(count == rounds for _, count in canary["violations"])
    assert all_hook_counts(shared_eval) == all_hook_counts(shared_train) == 0


def test_ten_thousand_cycles_leak_no_hooks_and_no_memory():
    model = FunctionalDropout()  # training mode + functional code: hooks *and* a mode
    model.drop = nn.Dropout(0.1)
    guard_record = inference_guard(model, action="record")
    before_global = dict(GLOBAL_PRE)
    x = torch.randn(1, 8)

    def cycles(n):
        for i in range(n):
            if i % 3 == 0:
                with guard_record:
                    model(x)
            elif i % 3 == 1:
                with inference_guard(action="record"):  # process-wide, global hook
                    pass
            else:
                try:
                    with inference_guard(model):
                        model.drop(x)
                except TrainingModeDropoutError:
                    pass

    cycles(500)  # warm caches
    gc.collect()
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        cycles(9500)
        gc.collect()
        end, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert all_hook_counts(model) == 0
    assert dict(GLOBAL_PRE) == before_global
    assert torch.overrides._get_current_function_mode_stack() == []
    # one Violation, just counted (model.drop is hooked but never called by forward)
    assert [(v.kind, v.count) for v in guard_record.violations] == [("functional", 3334)]
    assert end - start < 200_000, f"grew by {end - start} bytes over 9,500 cycles"


def test_models_guarded_in_a_loop_are_collected():
    refs = []
    guards = []
    for _ in range(200):
        model = Net()
        guard = inference_guard(model, action="record")
        with guard:
            model(X)
        refs.append(weakref.ref(model))
        guards.append(guard)  # keeping the guards (and their violations) alive
        del model
    gc.collect()
    assert sum(r() is not None for r in refs) == 0
    assert all(g.violations for g in guards)


@pytest.mark.parametrize("where", ["pre", "post", "forward"])
def test_exceptions_from_other_libraries_hooks(where):
    model = Net()

    class LibraryError(Exception):
        pass

    def raising(*args):
        raise LibraryError(where)

    target = model.encoder.layers[1]
    if where == "pre":
        handle = target.register_forward_pre_hook(raising)
    elif where == "post":
        handle = target.register_forward_hook(raising, always_call=True)
    else:
        handle = None
        target.forward = raising
    model.eval()
    model.encoder.layers[3].dropout1.train()  # the guard hooks it; layer 1 fails first
    for _ in range(50):
        for action in ("record", "raise"):
            with pytest.raises(LibraryError) as info:
                with inference_guard(model, action=action):
                    with inference_guard(action="record", functional="always"):
                        model(X)
            assert info.value.args == (where,)
            assert all_hook_counts(model) == (0 if handle is None else 1)
    if handle is not None:
        assert all_hook_counts(model) == 1
        handle.remove()
    assert all_hook_counts(model) == 0


def test_one_decorated_guard_called_from_many_threads():
    model = Net()  # training mode: every call fires 8 times

    @inference_guard(action="record")
    def predict(x):
        with torch.no_grad():
            return model(x)

    def worker():
        for _ in range(25):
            predict(X)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    violations = predict.guard.violations
    assert len(violations) == 8
    assert all(v.count == 200 for v in violations)
    assert all_hook_counts(model) == 0
