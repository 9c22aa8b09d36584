"""inference_guard: actions, names, kinds, functional / SDPA / batch norm, decorator forms."""
# dropout-guard: noqa: DG101, DG201, DG301, DG302  # deliberate mode bugs: they test the guard
from __future__ import annotations

import logging
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import dropout_guard
from dropout_guard import (
    DropoutGuardError,
    DropoutGuardWarning,
    TrainingModeDropoutError,
    TrainingModeDropoutWarning,
    Violation,
    inference_guard,
)
from dropout_guard.runtime.errors import TrainingModeBatchNormError, TrainingModeBatchNormWarning

from _rt_models import (
    Block,
    line_of,
    DropoutBuiltInForward,
    FunctionalDropout,
    GatedFunctionalDropout,
    MhaWrapper,
    Net,
    SdpaAttention,
    WithDropPath,
    all_hook_counts,
    mha_model,
)

X = torch.randn(4, 8)


def names(guard):
    return sorted((v.name, v.class_name, v.kind) for v in guard.violations)


# -- public API shape -------------------------------------------------------------------


def test_public_names_resolve_lazily_to_their_modules():
    assert dropout_guard.inference_guard.__module__ == "dropout_guard.runtime.guard"
    assert dropout_guard.eval_mode.__module__ == "dropout_guard.runtime.guard"
    assert dropout_guard.Violation.__module__ == "dropout_guard.runtime.guard"
    assert issubclass(DropoutGuardError, RuntimeError)
    assert issubclass(DropoutGuardWarning, RuntimeWarning)
    assert issubclass(TrainingModeDropoutError, DropoutGuardError)
    assert issubclass(TrainingModeDropoutWarning, DropoutGuardWarning)
    assert issubclass(TrainingModeBatchNormError, TrainingModeDropoutError)
    assert issubclass(TrainingModeBatchNormWarning, TrainingModeDropoutWarning)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError):
        inference_guard(Net(), action="explode")
    with pytest.raises(ValueError):
        inference_guard(Net(), functional="sometimes")
    with pytest.raises(TypeError):
        inference_guard(42)


# -- the three actions --------------------------------------------------------------------


def test_raise_at_first_firing_names_module_class_and_fix():
    model = Net()
    with pytest.raises(TrainingModeDropoutError) as info:
        with inference_guard(model):
            model(X)
    message = str(info.value)
    assert "'encoder.layers.0.dropout1'" in message
    assert "(Dropout in Net)" in message
    assert "call model.eval() before inference, or use dropout_guard.eval_mode(model)" in message
    assert info.value.violation.name == "encoder.layers.0.dropout1"
    assert info.value.violation.count == 1
    assert all_hook_counts(model) == 0


def test_batchnorm_raises_its_own_subclass():
    model = Net()
    for layer in model.encoder.layers:
        layer.dropout1.eval()
    with pytest.raises(TrainingModeBatchNormError) as info:
        with inference_guard(model):
            model(X)
    assert "'encoder.layers.0.norm' (BatchNorm1d in Net)" in str(info.value)
    assert "running statistics" in str(info.value)


def test_record_collects_what_where_and_how_often_without_interrupting():
    model = Net()
    with inference_guard(model, action="record") as guard:
        out1 = model(X)
        out2 = model(X)
    assert out1.shape == out2.shape == (4, 2)
    assert len(guard.violations) == 8
    first = guard.violations[0]
    assert isinstance(first, Violation)
    assert (first.name, first.class_name, first.kind, first.count) == (
        "encoder.layers.0.dropout1", "Dropout", "dropout", 2)
    # attributed to user code (Block.forward), not to torch
    assert first.first_call_site.endswith(f"_rt_models.py:{line_of(Block.forward, 'dropout1(')}")
    assert {v.kind for v in guard.violations} == {"dropout", "batchnorm"}
    assert all(v.count == 2 for v in guard.violations)
    assert first.model == "Net"


def test_warn_points_at_the_line_that_called_the_model_not_inside_forward():
    model = FunctionalDropout().eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with inference_guard(model, action="warn"):
            model(X)  # the warning is attributed here, not to FunctionalDropout.forward
            line = __import__("inspect").currentframe().f_lineno - 1
    ours = [w for w in caught if issubclass(w.category, DropoutGuardWarning)]
    assert len(ours) == 1
    assert ours[0].category is TrainingModeDropoutWarning
    assert (ours[0].filename, ours[0].lineno) == (__file__, line)
    assert "torch.nn.functional.dropout(p=0.3, training=True)" in str(ours[0].message)
    # the message still says where in the model's code it fired
    assert f"_rt_models.py:{line_of(FunctionalDropout.forward, 'F.dropout')}" in str(ours[0].message)


def test_warn_of_a_module_inside_a_users_forward_is_attributed_to_the_model_call():
    model = Net()  # Block.forward (in _rt_models.py) calls the dropout
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with inference_guard(model, action="warn"):
            model(X)
            line = __import__("inspect").currentframe().f_lineno - 1
    ours = [w for w in caught if issubclass(w.category, DropoutGuardWarning)]
    assert ours and {(w.filename, w.lineno) for w in ours} == {(__file__, line)}


def test_warning_filters_by_module_match_the_calling_module():
    # `-W error::dropout_guard.DropoutGuardWarning:<module>` names the user's module; a filter
    # on the module of the model's code (here _rt_models) does not match
    model = Net()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.filterwarnings("error", category=DropoutGuardWarning, module="_rt_models")
        with inference_guard(model, action="warn"):
            model(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.filterwarnings("error", category=DropoutGuardWarning, module=__name__)
        with pytest.raises(TrainingModeDropoutWarning):
            with inference_guard(model, action="warn"):
                model(X)
    assert all_hook_counts(model) == 0


def test_python_dash_w_error_stops_at_the_users_call(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "predict.py"
    script.write_text(
        "import torch\nfrom torch import nn\nfrom dropout_guard import inference_guard\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.drop = nn.Dropout(0.5)\n\n"
        "    def forward(self, x):\n        return self.drop(x)\n\n"
        "model = Net()\nwith torch.no_grad(), inference_guard(model, action='warn'):\n"
        "    model(torch.ones(2, 3))\n", encoding="utf-8")
    # (python's own -W cannot import a package's category at startup: RuntimeWarning, its base)
    done = subprocess.run([sys.executable, "-W", "error::RuntimeWarning:__main__", str(script)],
                          capture_output=True, text=True, cwd=str(tmp_path))
    assert done.returncode == 1
    assert "TrainingModeDropoutWarning" in done.stderr
    # not attributed to torch's module code, nor to the package's
    for module in ("torch.nn.modules.module", "dropout_guard.runtime._inspect"):
        done = subprocess.run([sys.executable, "-W", f"error::RuntimeWarning:{module}", str(script)],
                              capture_output=True, text=True, cwd=str(tmp_path))
        assert done.returncode == 0, done.stderr
    done = subprocess.run([sys.executable, "-W", "always::dropout_guard.DropoutGuardWarning", str(script)],
                          capture_output=True, text=True, cwd=str(tmp_path))
    assert done.returncode == 0
    assert f"{script}:15: TrainingModeDropoutWarning" in done.stderr


def test_warn_for_module_dropout_is_attributed_outside_torch():
    model = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with inference_guard(model, action="warn"):
            model(X)  # the warning must point here
            line = __import__("inspect").currentframe().f_lineno - 1
    ours = [w for w in caught if issubclass(w.category, DropoutGuardWarning)]
    assert [(w.filename, w.lineno) for w in ours] == [(__file__, line)]


def test_warning_can_be_turned_into_an_error_by_filter():
    model = Net()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DropoutGuardWarning)
        with pytest.raises(TrainingModeDropoutWarning):
            with inference_guard(model, action="warn"):
                model(X)
    assert all_hook_counts(model) == 0


def test_eval_model_is_silent_and_keeps_output():
    model = Net().eval()
    ref = model(X)
    with inference_guard(model) as guard:
        out = model(X)
    assert torch.equal(ref, out)
    assert guard.violations == []


def test_guard_changes_no_mode():
    model = Net()
    model.encoder.layers[1].eval()
    before = {n: m.training for n, m in model.named_modules()}
    with inference_guard(model, action="record"):
        model(X)
    assert {n: m.training for n, m in model.named_modules()} == before


# -- decorator forms ----------------------------------------------------------------------


def test_decorator_without_parentheses_is_process_wide():
    model = Net()

    @inference_guard
    def predict(x):
        return model(x)

    with pytest.raises(TrainingModeDropoutError, match="encoder.layers.0.dropout1"):
        predict(X)
    model.eval()
    assert predict(X).shape == (4, 2)


def test_decorator_with_options_and_with_model():
    model = Net()

    @inference_guard(action="record")
    def predict(x):
        return model(x)

    predict(X)
    predict(X)
    guard = predict.guard
    assert guard.violations[0].count == 2

    @inference_guard(model, action="raise")
    def predict2(x):
        return model(x)

    with pytest.raises(TrainingModeDropoutError):
        predict2(X)
    assert predict2.__name__ == "predict2"


def test_decorator_refuses_generators():
    with pytest.raises(TypeError, match="generator"):
        @inference_guard
        def gen():
            yield 1


# -- what is covered ------------------------------------------------------------------------


@pytest.mark.parametrize("layer, shape", [
    (nn.Dropout(0.1), (2, 3)), (nn.Dropout1d(0.1), (2, 3, 4)), (nn.Dropout2d(0.1), (2, 3, 4, 4)),
    (nn.Dropout3d(0.1), (2, 3, 4, 4, 4)), (nn.AlphaDropout(0.1), (2, 3)),
    (nn.FeatureAlphaDropout(0.1), (2, 3, 4, 4)),
])
def test_every_dropout_kind_is_caught(layer, shape):
    model = nn.Sequential(nn.Identity(), layer)
    with inference_guard(model, action="record") as guard:
        model(torch.randn(*shape))
    assert names(guard) == [("1", type(layer).__name__, "dropout")]


def test_zero_rate_dropout_and_stats_free_batchnorm_are_not_reported():
    model = nn.Sequential(nn.Dropout(0.0), nn.BatchNorm1d(8, track_running_stats=False))
    with inference_guard(model, action="record") as guard:
        model(X)
    assert guard.violations == []


def test_batchnorm_false_ignores_batch_norm():
    model = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8))
    with inference_guard(model, batchnorm=False) as guard:
        model(X)
    assert guard.violations == []


def test_sync_batchnorm_and_batchnorm2d_are_caught():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.SyncBatchNorm(4))
    with inference_guard(model, action="record", functional=False) as guard:
        model[1](torch.randn(2, 4, 4, 4))
        try:  # SyncBatchNorm in training mode needs a process group; the hook runs first
            model[2](torch.randn(2, 4, 4, 4))
        except (ValueError, RuntimeError):
            pass
    assert names(guard) == [("1", "BatchNorm2d", "batchnorm"),
                            ("2", "SyncBatchNorm", "batchnorm")]


def test_drop_path_and_stochastic_depth_by_class_name():
    model = WithDropPath()
    with inference_guard(model, action="record") as guard:
        model(X)
    assert names(guard) == [("depth", "StochasticDepth", "dropout"),
                            ("drop_path", "DropPath", "dropout")]


def test_functional_dropout_in_eval_model_is_caught_with_module_name():
    model = nn.Sequential(nn.Linear(8, 8), FunctionalDropout()).eval()
    with pytest.raises(TrainingModeDropoutError) as info:
        with inference_guard(model):
            model(X)
    v = info.value.violation
    assert (v.kind, v.name, v.class_name, v.function) == (
        "functional", "1", "FunctionalDropout", "torch.nn.functional.dropout")
    assert "pass training=self.training" in str(info.value)


def test_gated_functional_dropout_is_silent_in_eval_and_caught_in_training():
    model = GatedFunctionalDropout().eval()
    with inference_guard(model) as guard:
        model(X)
    assert guard.violations == []
    model.train()
    with inference_guard(model, action="record") as guard:
        model(X)
    assert [(v.kind, v.name) for v in guard.violations] == [("functional", "")]


def test_functional_false_does_not_look_at_functional_calls():
    model = FunctionalDropout().eval()
    with inference_guard(model, functional=False) as guard:
        model(X)
    assert guard.violations == []


def test_functional_call_in_the_with_body_is_caught():
    model = nn.Linear(8, 8).eval()
    with inference_guard(model, action="record") as guard:
        F.dropout(model(X), 0.5)
    assert [(v.kind, v.class_name, v.function) for v in guard.violations] == [
        ("functional", "", "torch.nn.functional.dropout")]


def test_functional_alpha_dropout_defaults_off_and_is_caught_when_on():
    model = nn.Identity()
    with inference_guard(model, action="record") as guard:
        F.alpha_dropout(X, 0.2)
        F.feature_alpha_dropout(X.view(4, 8, 1), 0.2)
        F.dropout(X, 0.0)
        F.dropout(X, 0.2, training=False)
    assert guard.violations == []
    with inference_guard(model, action="record") as guard:
        F.alpha_dropout(X, 0.2, training=True)
        F.dropout2d(X.view(1, 4, 8, 1), 0.2)
        torch.dropout(X, 0.2, True)
    assert sorted(v.function for v in guard.violations) == [
        "torch.dropout", "torch.nn.functional.alpha_dropout", "torch.nn.functional.dropout2d"]


def test_sdpa_with_ungated_dropout_is_caught_and_gated_is_not():
    x = torch.randn(2, 5, 8)
    bad = SdpaAttention(gated=False).eval()
    with pytest.raises(TrainingModeDropoutError) as info:
        with inference_guard(bad):
            bad(x)
    assert info.value.violation.kind == "sdpa"
    assert "dropout_p=0.2" in str(info.value)
    good = SdpaAttention(gated=True).eval()
    with inference_guard(good) as guard:
        good(x)
    assert guard.violations == []


def test_functional_batch_norm_with_training_true():
    mean, var = torch.zeros(8), torch.ones(8)

    class BadNorm(nn.Module):
        def forward(self, x):
            return F.batch_norm(x, mean, var, training=True)

    model = BadNorm().eval()
    with pytest.raises(TrainingModeBatchNormError):
        with inference_guard(model):
            model(X)
    with inference_guard(model, batchnorm=False) as guard:
        model(X)
    assert guard.violations == []


def test_multihead_attention_in_training_mode_is_caught():
    x = torch.randn(2, 5, 8)
    model = MhaWrapper(0.1)
    with inference_guard(model, action="record") as guard:
        model(x)
    assert names(guard) == [("attn", "MultiheadAttention", "dropout")]
    model.eval()
    with inference_guard(model) as guard:
        model(x)
    no_dropout = MhaWrapper(0.0)
    with inference_guard(no_dropout) as guard:
        no_dropout(x)
    assert guard.violations == []


def test_multihead_attention_via_functional_mode_only():
    """functional=True catches MHA dropout even when the MHA module is not hooked."""
    x = torch.randn(2, 5, 8)
    model = mha_model(0.1)
    with inference_guard(action="record") as guard:  # process-wide: global hook reports
        model[0](x, x, x)
    assert names(guard) == [("", "MultiheadAttention", "dropout")]
    with inference_guard(functional="always", batchnorm=False, action="record") as guard2:
        F.multi_head_attention_forward(
            x.transpose(0, 1), x.transpose(0, 1), x.transpose(0, 1), 8, 2,
            model[0].in_proj_weight, model[0].in_proj_bias, None, None, False, 0.3,
            model[0].out_proj.weight, model[0].out_proj.bias, training=True)
    assert [(v.kind, v.function) for v in guard2.violations] == [
        ("functional", "torch.nn.functional.multi_head_attention_forward")]


def test_dropout_constructed_in_forward_is_caught():
    model = nn.Sequential(nn.Linear(8, 8), DropoutBuiltInForward()).eval()
    with pytest.raises(TrainingModeDropoutError) as info:
        with inference_guard(model):
            model(X)
    v = info.value.violation
    assert (v.name, v.class_name, v.kind) == ("1.<unregistered Dropout>", "Dropout", "dropout")
    assert "create it in __init__" in str(info.value)
    with inference_guard(action="record") as guard:  # process-wide: same name
        model(X)
    assert [v.name for v in guard.violations] == ["1.<unregistered Dropout>"]


def test_module_switched_to_training_inside_the_region_is_caught():
    model = Net().eval()
    with inference_guard(model, action="record") as guard:
        model(X)
        model.encoder.layers[3].dropout1.train()
        model(X)
        model(X)
    assert [(v.name, v.count) for v in guard.violations] == [("encoder.layers.3.dropout1", 2)]
    assert all_hook_counts(model) == 0


def test_guarded_model_that_is_itself_a_dropout():
    layer = nn.Dropout(0.5).eval()
    with inference_guard(layer, action="record") as guard:
        layer(X)
        layer.train()
        layer(X)
        layer(X)
    assert [(v.name, v.class_name, v.count) for v in guard.violations] == [("", "Dropout", 2)]
    assert "Dropout (the model itself)" in guard.violations[0].message


def test_other_models_are_not_watched_by_a_model_guard():
    guarded, other = Net().eval(), Net()
    with inference_guard(guarded, action="record") as guard:
        other(X)
        guarded(X)
    assert guard.violations == []


def test_process_wide_guard_names_modules_inside_the_outermost_model():
    model = Net()
    with inference_guard(action="record") as guard:
        model(X)
    assert guard.violations[0].name == "encoder.layers.0.dropout1"
    assert guard.violations[0].model == "Net"


def test_auto_functional_pushes_mode_only_when_code_may_need_it():
    plain = Net().eval()
    with inference_guard(plain):
        assert torch.overrides._get_current_function_mode_stack() == []
    functional = FunctionalDropout().eval()
    with inference_guard(functional):
        assert len(torch.overrides._get_current_function_mode_stack()) == 1
    with inference_guard(plain, functional="always"):
        assert len(torch.overrides._get_current_function_mode_stack()) == 1
    with inference_guard(plain, functional=False):
        assert torch.overrides._get_current_function_mode_stack() == []


# -- robustness ----------------------------------------------------------------------------


def test_internal_bookkeeping_error_is_logged_not_raised(monkeypatch, caplog):
    from dropout_guard.runtime import _inspect

    def broken(*a, **k):
        raise ZeroDivisionError("bug in the guard")

    monkeypatch.setattr(_inspect, "format_site", broken)
    model = Net()
    with caplog.at_level(logging.WARNING, logger="dropout_guard.runtime"):
        with inference_guard(model):
            out = model(X)
    assert out.shape == (4, 2)
    assert "internal error" in caplog.text
    assert all_hook_counts(model) == 0


def test_errors_are_picklable():
    import pickle

    model = Net()
    with pytest.raises(TrainingModeDropoutError) as info:
        with inference_guard(model):
            model(X)
    clone = pickle.loads(pickle.dumps(info.value))
    assert type(clone) is TrainingModeDropoutError
    assert clone.violation.name == "encoder.layers.0.dropout1"


def test_clear_forgets_violations():
    model = Net()
    with inference_guard(model, action="record") as guard:
        model(X)
    assert guard.violations
    guard.clear()
    assert guard.violations == []


def _helper_that_drops(x):
    return F.dropout(x, 0.25)


class UsesHelper(nn.Module):
    def forward(self, x):
        return _helper_that_drops(x)


class UsesMethod(nn.Module):
    def forward(self, x):
        return self.regularise(x)

    def regularise(self, x):
        return getattr(F, "dropout")(x, 0.25)


class Clean(nn.Module):
    def __init__(self):
        super().__init__()
        self.dropout = nn.Dropout(0.1)  # building dropouts in __init__ is normal

    def forward(self, x):
        return self.dropout(x).softmax(-1)


@pytest.mark.parametrize("cls, pushed", [(UsesHelper, True), (UsesMethod, True), (Clean, False)])
def test_prescan_follows_helpers_and_methods(cls, pushed):
    model = cls().eval()
    with inference_guard(model, action="record") as guard:
        assert bool(torch.overrides._get_current_function_mode_stack()) is pushed
        model(X)
    assert [v.kind for v in guard.violations] == (["functional"] if pushed else [])


def test_process_watch_warning_is_attributed_to_the_model_call():
    # the check behind `dropout-guard run` and `pytest --dropout-guard=warn`
    from dropout_guard.runtime.watch import ProcessWatch

    model = Net()  # its dropouts are called from Block.forward in _rt_models.py
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with ProcessWatch("warn"), torch.no_grad():
            model(X)
            line = __import__("inspect").currentframe().f_lineno - 1
    ours = [w for w in caught if issubclass(w.category, DropoutGuardWarning)]
    assert ours and {(w.filename, w.lineno) for w in ours} == {(__file__, line)}
