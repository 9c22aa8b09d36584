"""eval_mode: eval + inference_mode for a region, every submodule's own flag restored."""
# dropout-guard: noqa: DG101, DG201, DG301, DG302  # deliberate mode bugs: they test the guard
from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

from dropout_guard import eval_mode, inference_guard

from _rt_models import Net, all_hook_counts

X = torch.randn(4, 8)


def flags(model):
    return {name: m.training for name, m in model.named_modules()}


def mixed_model():
    model = Net()
    model.encoder.layers[1].eval()
    model.encoder.layers[2].dropout1.eval()
    model.head.eval()
    return model


def test_eval_and_inference_mode_inside_and_mixed_modes_restored():
    model = mixed_model()
    before = flags(model)
    assert len(set(before.values())) == 2  # really mixed
    with eval_mode(model) as m:
        assert m is model
        assert not any(flags(model).values())
        assert torch.is_inference_mode_enabled()
        assert not torch.is_grad_enabled()
        with inference_guard(model) as guard:  # the point: nothing fires
            model(X)
    assert guard.violations == []
    assert flags(model) == before
    assert torch.is_grad_enabled()
    assert not torch.is_inference_mode_enabled()


def test_restored_when_the_body_raises():
    model = mixed_model()
    before = flags(model)
    with pytest.raises(RuntimeError, match="boom"):
        with eval_mode(model):
            raise RuntimeError("boom")
    assert flags(model) == before
    assert torch.is_grad_enabled()


def test_modes_changed_inside_are_reverted_too():
    model = mixed_model()
    before = flags(model)
    with eval_mode(model):
        model.train()
        model.encoder.layers[1].dropout1.train()
    assert flags(model) == before


def test_decorator_and_no_grad_variant():
    model = mixed_model()
    before = flags(model)

    @eval_mode(model)
    def predict(x):
        assert not model.training and torch.is_inference_mode_enabled()
        return model(x)

    out = predict(X)
    assert out.is_inference()
    assert flags(model) == before

    with eval_mode(model, inference_mode=False):
        assert not torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
        y = model(X)
    assert not y.is_inference()
    assert flags(model) == before


def test_nested_and_reentered():
    model = mixed_model()
    before = flags(model)
    ctx = eval_mode(model)
    with ctx:
        with ctx:
            assert not model.training
        assert not model.training  # inner exit restores to the outer's eval state
        assert torch.is_inference_mode_enabled()
    assert flags(model) == before


def test_custom_train_override_is_called_on_entry_and_flags_restored():
    calls = []

    class Frozen(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm1d(8)

        def train(self, mode=True):
            calls.append(mode)
            return super().train(mode)

    model = Frozen()
    with eval_mode(model):
        pass
    assert calls == [False]
    assert model.training and model.bn.training


def test_threads_have_their_own_stack():
    model = Net().eval()
    ctx = eval_mode(model)
    errors = []

    def worker():
        try:
            for _ in range(50):
                with ctx:
                    model(X)
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert not model.training
    assert all_hook_counts(model) == 0


def test_rejects_non_modules():
    with pytest.raises(TypeError):
        eval_mode(lambda x: x)
