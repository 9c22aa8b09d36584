"""TorchScript (hooks cannot run: modes checked on entry) and torch.compile (works)."""
# dropout-guard: noqa: DG101, DG201, DG301, DG302  # deliberate mode bugs: they test the guard
from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from dropout_guard import TrainingModeDropoutError, inference_guard
from dropout_guard.runtime.errors import GuardLimitationWarning

from _rt_models import Net, all_hook_counts

X = torch.randn(4, 8)

# torch 2.13 deprecates torch.jit.script / trace in favour of torch.compile / torch.export
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:DeprecationWarning")


def scripted_net():
    return torch.jit.script(Net())


def test_scriptmodule_hooks_are_refused_by_torch():
    """Why the guard cannot hook TorchScript: torch refuses (and the C++ runtime skips them)."""
    scripted = scripted_net()
    with pytest.raises(RuntimeError, match="not supported on ScriptModules"):
        scripted.register_forward_pre_hook(lambda m, a: None)


def test_scripted_model_in_training_mode_is_reported_on_entry():
    scripted = scripted_net()
    with pytest.warns(GuardLimitationWarning, match="TorchScript"):
        with pytest.raises(TrainingModeDropoutError) as info:
            with inference_guard(scripted):
                pass  # reported on entry, before any call
    assert info.value.violation.name == "encoder.layers.0.dropout1"
    assert info.value.violation.class_name == "Dropout"
    with pytest.warns(GuardLimitationWarning):
        with inference_guard(scripted, action="record") as guard:
            scripted(X)
    assert sorted({v.kind for v in guard.violations}) == ["batchnorm", "dropout"]
    assert len(guard.violations) == 8


def test_scripted_model_in_eval_mode_only_gets_the_limitation_warning():
    scripted = scripted_net().eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with inference_guard(scripted) as guard:
            scripted(X)
    assert guard.violations == []
    assert [w.category for w in caught] == [GuardLimitationWarning]
    assert caught[0].filename == __file__  # attributed to the with statement


def test_eager_model_with_a_scripted_submodule():
    model = Net().eval()
    model.encoder = torch.jit.script(model.encoder)
    dict(model.named_modules())["encoder.layers.2.dropout1"].train()
    with pytest.warns(GuardLimitationWarning, match="'encoder'"):
        with inference_guard(model, action="record") as guard:
            model(X)
    assert [v.name for v in guard.violations] == ["encoder.layers.2.dropout1"]
    assert all_hook_counts(model.head) == 0


def test_traced_model_is_checked_on_entry_too():
    traced = torch.jit.trace(Net().eval(), X)
    with pytest.warns(GuardLimitationWarning):
        with inference_guard(traced) as guard:
            traced(X)
    assert guard.violations == []


def _compile(model):
    # backend="eager": dynamo's handling of hooks and modes is what matters here and is the
    # same for every backend; inductor (the default) needs ~15 s of C++ compilation per
    # model on this 2-core machine (checked by hand: same results, see docs/runtime.md).
    return torch.compile(model, backend="eager")


def test_torch_compile_training_mode_dropout_is_caught_with_names():
    pytest.importorskip("torch._dynamo")
    torch._dynamo.reset()
    model = Net()
    compiled = _compile(model)
    with torch.no_grad():
        with pytest.raises(TrainingModeDropoutError) as info:
            with inference_guard(compiled):
                compiled(X)
        assert info.value.violation.name == "encoder.layers.0.dropout1"  # no _orig_mod.
        with inference_guard(model, action="record") as guard:  # guarding the eager model
            compiled(X)
        assert len(guard.violations) == 8
        model.eval()
        with inference_guard(compiled, action="record") as guard:
            compiled(X)
            model.encoder.layers[1].dropout1.train()  # switched inside the region
            compiled(X)
    assert [v.name for v in guard.violations] == ["encoder.layers.1.dropout1"]
    assert all_hook_counts(model) == 0
    torch._dynamo.reset()


def test_torch_compile_eval_model_does_not_recompile_per_guard():
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    model = Net().eval()
    compiled = _compile(model)
    with torch.no_grad():
        compiled(X)
        graphs = counters["stats"]["unique_graphs"]
        for _ in range(10):
            with inference_guard(compiled):
                compiled(X)
            with inference_guard(model):
                compiled(X)
    assert counters["stats"]["unique_graphs"] == graphs == 1
    torch._dynamo.reset()


def test_torch_compile_functional_dropout_through_the_mode():
    from _rt_models import FunctionalDropout

    torch._dynamo.reset()
    model = FunctionalDropout().eval()
    compiled = _compile(model)
    with torch.no_grad():
        with inference_guard(compiled, action="record") as guard:
            compiled(X)
    assert [(v.kind, v.function) for v in guard.violations] == [
        ("functional", "torch.nn.functional.dropout")]
    torch._dynamo.reset()
