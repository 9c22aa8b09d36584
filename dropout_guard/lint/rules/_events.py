"""Helpers shared by the mode and grad rule families: iterate the flow analysis' events."""
from __future__ import annotations

from typing import Iterator, Tuple

from ..context import FileContext
from ..flow import Event, is_test_function


_MODEL_USES = frozenset({"call", "helper", "returned"})


def module_classes(ctx: FileContext):
    """The torch module classes of the file (top level; classes nested in functions are rare
    in model code)."""
    project = ctx.project
    for ci in ctx.module.classes.values():
        if project is not None and project.is_torch_module(ci):
            yield ci


def events(ctx: FileContext, *kinds: str) -> Iterator[Tuple[object, Event]]:
    project = ctx.project
    if project is None:
        return
    for unit in project.units_of(ctx.file.path):
        if unit.is_lightning:
            continue  # the trainer switches mode and grad around Lightning hooks
        skip = _MODEL_USES if is_test_function(unit) else frozenset()  # other events still count
        for ev in list(unit.events.values()):
            if ev.kind in kinds and ev.kind not in skip:
                yield unit, ev


def model_uses(ctx: FileContext, need: str) -> Iterator[Tuple[object, Event]]:
    """Uses of mode-dependent models that need ``need`` ("predict": eval mode; "train").

    Only on evidence: a model with a visible layer that behaves differently in training, a
    model of a library family that holds one, a model loaded whole (``ev.dependent`` True),
    or a model handed in from outside (a parameter, an attribute of ``self``, an enclosing
    function's or the module's model) unless every call site hands in one without such a
    layer. A model built here from parts the analysis cannot see (a third-party layer, a
    class it cannot resolve) is no evidence: not reported."""
    project = ctx.project
    for unit, ev in events(ctx, "call", "helper"):
        if ev.dependent is False:
            continue  # every layer visible, none behaves differently in training
        if ev.dependent is None and not ev.handed:
            continue  # built from parts the analysis cannot see: no evidence either way
        if ev.dependent is None and project.param_dep.get((unit.id, ev.handed), None) is False:
            continue  # a parameter: every call site passes a model with no such layer
        if ev.kind == "call":
            role = project.effective_role(unit, ev)
            ok = role in ("predict", "predict_grad") if need == "predict" else role == "train"
        else:
            ok = project.effective_use(unit, ev) == need
        if ok:
            yield unit, ev


def describe(ev: Event) -> str:
    return f"`{ev.key}`" if ev.key else "the model"
