"""What a function's analysis leaves for its callers, and how a caller reads it.

``Summary`` (per function: which parameters it predicts with, trains, leaves in which mode,
what reaches a backward pass, what it returns) and ``Event`` (one model use, mode switch or
backward pass recorded on a node, which the rules read). ``substitute`` turns a callee's
exit modes into the caller's modes at one call; ``entry_path`` makes a value read at a path
entry-relative, like a parameter, so the summary says what the body does to it.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Optional, Set

from ..findings import line_ref
from .values import ENTRY, EVAL, TRAIN, UNKNOWN, ModelVal, Modes, _or_dep, modes_of


@dataclass
class Summary:
    predicts: Dict[str, int] = field(default_factory=dict)  # param -> line of a prediction in entry mode
    trains: Dict[str, int] = field(default_factory=dict)  # param -> line of a training call in entry mode
    exits: Dict[str, Modes] = field(default_factory=dict)  # param -> modes at exit (ENTRY = unchanged)
    evals_param: Set[str] = field(default_factory=set)  # params the function itself calls .eval() on
    backward_params: Set[int] = field(default_factory=set)  # positional indexes that reach backward
    grad_params: Set[int] = field(default_factory=set)  # ... that reach only `torch.autograd.grad` (no training)
    steps: bool = False  # runs an optimizer step
    returns_calls: Set[str] = field(default_factory=set)  # params whose call result is returned
    returns_grad: Dict[str, FrozenSet[str]] = field(default_factory=dict)  # the grad of those calls (ENTRY: caller's)
    returns_direct: Set[str] = field(default_factory=set)  # ... some of them a call of the model itself (`m(x)`)
    # ... some of them in modes the function set itself (`self.eval()` in `generate()`): those, not the caller's
    returns_modes: Dict[str, Modes] = field(default_factory=dict)
    mode_free: Set[str] = field(default_factory=set)  # params used only through layers known to keep no mode
    returns: Optional[object] = None  # the value returned (a ModelVal), if any
    globals_exit: Dict[str, Modes] = field(default_factory=dict)
    feeds: Dict[str, bool] = field(default_factory=dict)  # param -> each prediction feeds a backward pass
    # a `@contextmanager` generator: ``exits`` are the modes at its `yield` (what a `with`
    # block runs in), these the modes at its end (what the block's exit leaves)
    leave_exits: Dict[str, Modes] = field(default_factory=dict)

    def key(self):
        return (tuple(sorted(self.predicts)), tuple(sorted(self.trains)),
                tuple(sorted((k, v) for k, v in self.exits.items())), tuple(sorted(self.evals_param)),
                tuple(sorted(self.backward_params)), tuple(sorted(self.grad_params)), self.steps, tuple(sorted(self.returns_calls)),
                tuple(sorted((k, tuple(sorted(v))) for k, v in self.returns_grad.items())),
                tuple(sorted(self.returns_direct)), tuple(sorted((k, tuple(sorted(v))) for k, v in self.returns_modes.items())),
                tuple(sorted(self.mode_free)), self.returns,
                tuple(sorted(self.globals_exit.items())), tuple(sorted(self.feeds.items())),
                tuple(sorted(self.leave_exits.items())))


@dataclass
class Event:
    kind: str  # "call" | "helper" | "training_assign" | "mode_attr" | "backward"
    node: ast.AST
    key: str = ""
    modes: Modes = frozenset()
    grad: FrozenSet[str] = frozenset()
    role: str = ""  # for calls: "train" | "predict" | "predict_grad" | "deferred" | "unknown"
    dependent: Optional[bool] = None
    hf: bool = False
    param: Optional[str] = None
    callee: str = ""
    callee_line: int = 0
    use: str = ""  # for helper events: "predict" | "train"
    is_model: bool = False
    callee_path: str = ""  # the file of callee_line
    callee_id: str = ""  # for helper events whose callee returns its call of the model: that unit
    through: bool = False  # a call of a layer of the receiver in the module's own method (`self.fc(x)` in `pi()`)
    cls: Optional[str] = None  # the model's project class (qualified), for naming its layers
    feeds_backward: bool = False  # a prediction whose result reaches a backward pass (Unit.feeds_backward)
    handed: str = ""  # the parameter or path the model came in as, whatever mode it was switched to since

    def merge(self, other: "Event") -> None:
        self.through = self.through and other.through
        self.modes = self.modes | other.modes
        self.grad = self.grad | other.grad
        self.is_model = self.is_model or other.is_model
        self.dependent = _or_dep(self.dependent, other.dependent)
        self.handed = self.handed if self.handed == other.handed else ""
        if self.cls != other.cls:
            self.cls = None


def entry_path(v: ModelVal, path: str, line: int) -> ModelVal:
    """The model ``v`` (as it is where it was made) read at ``path`` by a body that starts with
    it as its caller leaves it: entry-relative, like a parameter, so the body's summary says
    what it does to ``path``."""
    return ModelVal(modes_of(ENTRY, f"`{path}` as the caller left it", line), v.dependent, v.label, v.hf, v.cls,
                    param=path)


def substitute(exit_modes: Modes, arg_modes: Modes, callee: str, path: str, line: int) -> Modes:
    """The modes a model leaves ``callee`` in, called at ``line`` of ``path``, given the modes it entered with."""
    at = line_ref(path, line)
    out = set()
    for m in exit_modes:
        if m[0] == ENTRY:
            out |= arg_modes
        elif m[0] == TRAIN:
            out.add((TRAIN, f"switched to training mode inside `{callee}()` (called at {at})", line, False))
        elif m[0] == EVAL:
            out.add((EVAL, f"switched to eval by `{callee}(...)` at {at}", line, False))
        else:
            out.add((UNKNOWN, "", line, False))
    return frozenset(out)
