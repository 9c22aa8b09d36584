"""The per-model plan cache behind cheap per-call guards (dropout_guard.runtime._inspect).

A guard entered again on the same model reuses the plan of its module tree when the tree
still has the same shape; every change that matters must be seen at the next entry.
"""
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
from dropout_guard.runtime import _inspect

from _rt_models import Net, all_hook_counts

X = torch.randn(4, 8)


def per_call(model, **kwargs):
    """The decorator form: enter and exit the guard around every call."""
    guard = inference_guard(model, action="record", **kwargs)

    @guard
    def predict(x):
        return model(x)

    return guard, predict


def fired(guard):
    return [(v.name, v.class_name, v.kind, v.count) for v in guard.violations]


def test_repeated_entries_reuse_one_plan_and_leave_nothing_behind():
    model = Net().eval()
    model.head.register_forward_pre_hook(lambda m, a: None)  # a user hook stays put
    before = {id(m): dict(m._forward_pre_hooks) for m in model.modules()}
    guard, predict = per_call(model)
    for _ in range(20):
        predict(X)
    assert guard._plan is not None and _inspect._PLANS.get(model) is guard._plan
    assert {id(m): dict(m._forward_pre_hooks) for m in model.modules()} == before
    assert guard.violations == []


def test_dropout_added_after_a_cached_entry_is_caught_at_the_next():
    model = Net().eval()
    guard, predict = per_call(model)
    predict(X)
    plan = guard._plan
    # a new (training-mode) dropout where a Linear was: same number of modules
    model.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(8, 2))
    predict(X)
    assert guard._plan is not plan
    assert fired(guard) == [("head.0", "Dropout", "dropout", 1)]


def test_dropout_appended_to_a_container_is_caught():
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU()).eval()
    guard, predict = per_call(model)
    predict(X)
    model.append(nn.Dropout(0.5))
    predict(X)
    assert fired(guard) == [("2", "Dropout", "dropout", 1)]


def test_same_class_replacement_is_watched_not_the_old_module():
    model = Net().eval()
    guard, predict = per_call(model, functional=False)  # module hooks only
    predict(X)
    old = model.encoder.layers[2].dropout1
    new = nn.Dropout(0.3).eval()
    model.encoder.layers[2].dropout1 = new  # same shape: the plan still matches
    with guard:
        old.train()  # no longer in the model: not reported
        model(X)
        new.train()  # switched inside the region: the root hook must watch the new one
        model(X)
    assert fired(guard) == [("encoder.layers.2.dropout1", "Dropout", "dropout", 1)]


def test_child_added_to_a_leaf_is_caught():
    model = Net().eval()
    guard = inference_guard(model, action="record", functional=False)  # module hooks only
    with guard:
        model(X)
    model.head.extra = nn.Dropout(0.5)  # a leaf (Linear) gets a child, called directly
    with guard:
        model.head.extra(X)
    assert fired(guard) == [("head.extra", "Dropout", "dropout", 1)]


def test_model_switched_to_train_between_entries_is_caught():
    model = Net().eval()
    guard, predict = per_call(model, functional=False)
    predict(X)
    model.train()
    with torch.no_grad():
        predict(X)
    model.eval()
    predict(X)
    assert len(guard.violations) == 8  # 4 dropouts, 4 batch norms, one call each
    assert {v.count for v in guard.violations} == {1}
    assert all_hook_counts(model) == 0


def test_forward_assigned_on_an_instance_after_a_cached_entry_is_scanned():
    model = Net().eval()
    guard, predict = per_call(model)
    predict(X)
    assert torch.overrides._get_current_function_mode_stack() == []
    block = model.encoder.layers[1]
    plain = type(block).forward

    def forward(x):
        return F.dropout(plain(block, x), 0.5)  # training defaults to True

    block.forward = forward
    predict(X)
    assert [(v.name, v.kind, v.function) for v in guard.violations] == [
        ("encoder.layers.1", "functional", "torch.nn.functional.dropout")]
    del block.forward
    predict(X)  # cached again: the count does not move
    assert guard.violations[0].count == 1


def test_class_reassigned_on_an_instance_is_seen():
    model = nn.Sequential(nn.Linear(8, 8), nn.Identity()).eval()
    guard, predict = per_call(model)
    predict(X)
    ident = model[1]
    ident.p, ident.inplace = 0.5, False
    ident.__class__ = nn.Dropout  # now a (training-mode) dropout: ident.train() below
    ident.train()
    predict(X)
    assert fired(guard) == [("1", "Dropout", "dropout", 1)]


def test_a_shared_module_unshared_after_a_cached_entry_is_seen():
    shared = nn.Dropout(0.2)
    model = nn.Sequential(nn.Linear(8, 8), shared, nn.ReLU(), shared).eval()
    guard, predict = per_call(model, functional=False)
    predict(X)
    model[3] = nn.Dropout(0.2)  # same class where the repeat was; in training mode
    predict(X)
    assert fired(guard) == [("3", "Dropout", "dropout", 1)]


def test_removed_and_shared_modules_keep_names_right():
    model = Net().eval()
    guard, predict = per_call(model)
    predict(X)
    del model.encoder.layers[0]  # ModuleList renumbers: a new _modules dict
    shared = nn.Dropout(0.2)
    model.encoder.layers[0].dropout1 = shared
    model.encoder.layers[1].dropout1 = shared  # the same module twice: hooked once
    predict(X)
    assert fired(guard) == [("encoder.layers.0.dropout1", "Dropout", "dropout", 2)]
    assert all_hook_counts(model) == 0


def test_models_with_the_same_shape_do_not_share_their_watch():
    a, b = Net().eval(), Net().eval()
    guard_a, guard_b = inference_guard(a, action="record"), inference_guard(b, action="record")
    for _ in range(3):
        with guard_a:
            a(X)
        with guard_b:
            b.encoder.layers[0].dropout1.train()
            b(X)
            b.encoder.layers[0].dropout1.eval()
    assert guard_a.violations == []
    assert fired(guard_b) == [("encoder.layers.0.dropout1", "Dropout", "dropout", 3)]


def test_the_cache_keeps_no_model_alive():
    refs, guards = [], []
    for _ in range(20):
        model = Net().eval()
        guard, predict = per_call(model)
        for _ in range(3):
            predict(X)
        assert guard._plan is not None
        refs.append(weakref.ref(model))
        guards.append(guard)  # the guards (and their plans) outlive the models
        del model, predict  # (the decorated function itself refers to the model)
    gc.collect()
    assert sum(r() is not None for r in refs) == 0
    assert all(g.model is None and g._plan is not None for g in guards)


def test_plan_holds_no_strong_reference_to_modules_or_model_classes():
    class Local(nn.Module):  # a class that dies with its model
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(8, 8)
            self.drop = nn.Dropout(0.1)

        def forward(self, x):
            return self.drop(self.linear(x))

    model = Local().eval()
    guard, predict = per_call(model)
    predict(X)
    plan = guard._plan
    assert plan.classes is None  # a local class: held weakly
    cls_ref = weakref.ref(Local)
    model_ref = weakref.ref(model)
    del model, Local, predict
    gc.collect()
    assert model_ref() is None and cls_ref() is None
    assert guard._plan is plan


def test_per_call_guards_in_threads_stay_isolated():
    model = Net().eval()
    guard, predict = per_call(model)
    errors = []
    barrier = threading.Barrier(4)

    def worker(switch):
        try:
            barrier.wait(10)
            for _ in range(30):
                if switch:  # a private model in training mode, in this thread only
                    own = Net()
                    with inference_guard(own, action="record") as g:
                        own(X)
                    assert len(g.violations) == 8
                predict(X)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i % 2 == 0,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert guard.violations == []
    assert all_hook_counts(model) == 0


def test_raise_on_a_cached_entry_removes_the_root_hook():
    model = Net().eval()
    guard = inference_guard(model)
    with guard:
        model(X)
    with pytest.raises(TrainingModeDropoutError):
        with guard:
            model.encoder.layers[0].dropout1.train()
            model(X)
    assert all_hook_counts(model) == 0
    model.eval()
    with guard:
        model(X)
    assert all_hook_counts(model) == 0
