"""Modes, abstract values and the abstract state of the flow analysis.

A mode element is ``(kind, why, line, deliberate)``; a model expression's value is a set of
them (``ModelVal``), possibly inside a list, tuple or project-class instance (``ListVal``,
``TupleVal``, ``InstanceVal``) or kept by keyword in an object of a class the analysis does
not read (``HolderVal``); a mode flag read from a model is a ``SavedMode``.
``State`` is what the interpreter carries through a body: each name's value and the grad
state; ``join_vals`` / ``join_states`` merge branches. Also
the mode kinds (train / eval / unknown / entry), grad states (on / off), the time budget
and its exception, and ``_or_dep`` (the three-valued "or" of mode dependence).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Optional, Set, Tuple


TRAIN, EVAL, UNKNOWN, ENTRY = "train", "eval", "unknown", "entry"
DEFAULT_BUDGET_S = 10.0  # CPU seconds per function body; a pathological one becomes DG000 for its file


class AnalysisTimeout(Exception):
    """A function body took longer than the time budget to analyse."""
ON, OFF = "on", "off"

# A mode element: (kind, why, line, deliberate). ``deliberate`` marks training mode the
# function switched on itself (Monte-Carlo dropout, BN recalibration) before any training.
Mode = Tuple[str, str, int, bool]
Modes = FrozenSet[Mode]


def modes_of(kind: str, why: str, line: int, deliberate: bool = False) -> Modes:
    return frozenset({(kind, why, line, deliberate)})


def kinds(modes: Modes) -> Set[str]:
    return {m[0] for m in modes}


def bad_training(modes: Modes) -> List[Mode]:
    """Training-mode origins that arrived unasked (not switched on deliberately here)."""
    return sorted((m for m in modes if m[0] == TRAIN and not m[3]), key=lambda m: (m[2], m[1]))


def eval_origins(modes: Modes) -> List[Mode]:
    return sorted((m for m in modes if m[0] == EVAL), key=lambda m: (m[2], m[1]))


@dataclass(frozen=True)
class ModelVal:
    modes: Modes
    dependent: Optional[bool] = None  # False: no layer behaves differently in training
    label: str = "model"
    hf: bool = False  # Hugging Face model (generate() manages mode and grad)
    cls: Optional[str] = None  # qualified name of its project class
    param: Optional[str] = None  # the parameter it came in as
    # without one class: the project classes it is one of, when every path says which
    # (`model = SentClassifier(d) if flag else SeqLabel(d)`); a method call runs theirs
    alts: FrozenSet[str] = frozenset()

    def classes(self) -> FrozenSet[str]:
        return frozenset((self.cls,)) if self.cls else self.alts

    def join(self, other: "ModelVal") -> "ModelVal":
        if other is self:
            return self
        dep = None if (self.dependent is None or other.dependent is None) else (self.dependent or other.dependent)
        cls = self.cls if self.cls == other.cls else None
        a, b = self.classes(), other.classes()
        return ModelVal(self.modes | other.modes, dep, self.label, self.hf and other.hf, cls,
                        self.param if self.param == other.param else None,
                        a | b if cls is None and a and b else frozenset())

    def with_modes(self, modes: Modes) -> "ModelVal":
        return ModelVal(modes, self.dependent, self.label, self.hf, self.cls, self.param, self.alts)


def weights_model(label: str, line: int) -> ModelVal:
    """A model written as a function over weight tensors: no mode, no layer that trains
    differently (``GradMixin.functional_model``)."""
    return ModelVal(modes_of(UNKNOWN, f"a function over weights, `{label}`", line), False, label)


@dataclass(frozen=True)
class ListVal:
    """A list, tuple or dict of models built in the function and iterated over."""

    elem: ModelVal

    def join(self, other: "ListVal") -> "ListVal":
        return ListVal(self.elem.join(other.elem))


@dataclass(frozen=True)
class TupleVal:
    """A tuple whose items are known by position (``accelerator.prepare(model, opt)``)."""

    items: Tuple[object, ...]

    def join(self, other):
        if isinstance(other, TupleVal) and len(other.items) == len(self.items):
            return TupleVal(tuple(join_vals(a, b) for a, b in zip(self.items, other.items)))
        return None


@dataclass(frozen=True)
class InstanceVal:
    """An instance of a project class that is not a module (for method resolution)."""

    cls: str

    def join(self, other):
        return self if other == self else None


@dataclass(frozen=True)
class HolderVal:
    """An object of a class the analysis does not read, built with models given by keyword
    (``trainer = Trainer(model=model, ...)``): it keeps each under that name, so
    ``trainer.model`` is the model (the state holds it under that path). ``attrs``: those
    names."""

    attrs: FrozenSet[str]

    def join(self, other):
        both = self.attrs & other.attrs
        return HolderVal(both) if both else None


@dataclass(frozen=True)
class InstanceUnion:
    """An instance of one of several project classes, picked on different paths
    (``if ...: policy = TD3(...) elif ...: policy = DDPG(...)``). A method call on it runs
    that method of each class (Interpreter.union_call); everything else reads it as unknown."""

    classes: FrozenSet[str]

    def join(self, other):
        return _join_instances(self, other)


def _instance_classes(v) -> FrozenSet[str]:
    if type(v) is InstanceVal:
        return frozenset((v.cls,))
    if type(v) is InstanceUnion:
        return v.classes
    return frozenset()


def _join_instances(a, b):
    """Instances of project classes on two paths: the one class, or the union of them."""
    ca, cb = _instance_classes(a), _instance_classes(b)
    if not ca or not cb:
        return None
    both = ca | cb
    if len(both) == 1:
        return a
    return InstanceUnion(both)


@dataclass(frozen=True)
class SavedMode:
    """The value of ``<key>.training`` read while ``key`` held a model: the modes it had then.
    A flag saved to put them back (``was = model.training``, ``model.eval()``, ...,
    ``model.train(was)`` or ``if was: model.train()``), or tested to pick a branch."""

    key: str
    modes: Modes

    def join(self, other):
        return SavedMode(self.key, self.modes | other.modes) if other.key == self.key else None


@dataclass(frozen=True)
class EmptyListVal:
    """A list that starts empty (``nets = []``): appending models to it makes it a ListVal;
    appending anything else, a list the analysis does not follow."""

    def join(self, other):
        return self


def join_vals(a, b):
    if a is None or b is None:
        return a if b is None else b
    if type(a) is EmptyListVal and type(b) is ListVal:
        return b  # no item yet on one path: iterating it runs what the other path appended
    if type(b) is EmptyListVal and type(a) is ListVal:
        return a
    if type(a) in (InstanceVal, InstanceUnion) and type(b) in (InstanceVal, InstanceUnion):
        return _join_instances(a, b)
    if type(a) is not type(b):
        return None
    return a.join(b)


class State:
    __slots__ = ("env", "grad")

    def __init__(self, env: Dict[str, object], grad: FrozenSet[str]):
        self.env = env
        self.grad = grad

    def copy(self) -> "State":
        return State(dict(self.env), self.grad)

    def join(self, other: Optional["State"]) -> "State":
        if other is None:
            return self
        env = dict(self.env)
        for k, v in other.env.items():
            if k in env:
                j = join_vals(env[k], v)
                if j is None:
                    del env[k]
                else:
                    env[k] = j
            else:
                env[k] = v
        return State(env, self.grad | other.grad)

    def same(self, other: Optional["State"]) -> bool:
        return other is not None and self.grad == other.grad and self.env == other.env

    def kill(self, key: str) -> None:
        self.env.pop(key, None)
        prefix = key + "."
        for k in [k for k in self.env if k.startswith(prefix)]:
            del self.env[k]


def join_states(a: Optional[State], b: Optional[State]) -> Optional[State]:
    if a is None:
        return b
    return a.join(b)


def _or_dep(a: Optional[bool], b: Optional[bool]) -> Optional[bool]:
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False
