"""Helpers shared by the mode and grad rule families: iterate the flow analysis' events."""
from __future__ import annotations

from typing import Iterator, Tuple

from ..context import FileContext
from ..flow import Event, is_test_function


_MODEL_USES = frozenset({"call", "helper", "returned"})


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
    """Uses of mode-dependent models that need ``need`` ("predict": eval mode; "train")."""
    project = ctx.project
    for unit, ev in events(ctx, "call", "helper"):
        if ev.dependent is False:
            continue  # every layer visible, none behaves differently in training
        if ev.dependent is None and ev.param and project.param_dep.get((unit.id, ev.param), None) is False:
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
