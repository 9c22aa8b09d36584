"""Mode and grad state through statements and across calls.

This is the heart of the analyser. For every function (and every module's top-level code)
an abstract interpreter walks the statements in order, joins branches, iterates loops to
a fixed point, and tracks

* for every model expression (``model``, ``self.encoder``, a list of models) the set of
  modes it may be in: training / eval / unknown / "as the caller passed it" (entry), each
  with its origin, so a finding can say *why*;
* the grad state: on / off / unknown / "as the caller has it" (entry).

Each function gets a summary (what it does with each parameter: predicts with it, trains
it, leaves it in which mode; which of its parameters reach a backward pass; what it
returns), computed to a fixed point over the project, so that findings land where the
contract says: at the caller's call site when the model came in as an argument.

When the analysis cannot decide it says "unknown", and unknown never produces a finding.

The analysis is split into stages, one module each (a lower stage never imports a higher
one at import time): ``values`` (modes, values, state), ``summaries`` (summaries, events,
substitution), ``syntax`` and ``idioms`` (syntax helpers and recognised source idioms),
``taint`` (reaching taint in one body), ``unit`` (the per-function unit), ``interpreter``
with ``statements``, ``calls`` and ``expressions`` (the abstract interpreter), and
``project`` with ``solver``, ``resolve``, ``grads``, ``scopes``, ``classes``,
``dependence`` and ``variants`` (the project graph and its fixed point). This module re-exports the names
the rest of the linter and the tests use.
"""
from __future__ import annotations

from .values import (DEFAULT_BUDGET_S, ENTRY, EVAL, OFF, ON, TRAIN, UNKNOWN, AnalysisTimeout, EmptyListVal,
                     InstanceUnion, InstanceVal, ListVal, Mode, ModelVal, Modes, State, TupleVal, bad_training,
                     eval_origins, join_states, join_vals, kinds, modes_of)
from .summaries import Event, Summary, entry_path, substitute
from .syntax import _CONTAINERS, is_test_function, path_of, root_of
from .idioms import grad_of_name, layer_dependent
from .interpreter import Interpreter
from .project import Project

# A lower stage that calls a higher one reads the name from its own globals: bound here,
# once every stage is loaded (the lower stage imports it only under TYPE_CHECKING).
from . import taint  # noqa: E402
from .unit import _NO_UNIT  # noqa: E402
taint._NO_UNIT = _NO_UNIT

__all__ = [
    "DEFAULT_BUDGET_S", "ENTRY", "EVAL", "OFF", "ON", "TRAIN", "UNKNOWN", "_CONTAINERS", "AnalysisTimeout",
    "EmptyListVal", "Event", "InstanceUnion", "InstanceVal", "Interpreter", "ListVal", "Mode", "ModelVal",
    "Modes", "Project", "State", "Summary", "TupleVal", "bad_training", "entry_path", "eval_origins",
    "grad_of_name", "is_test_function", "join_states", "join_vals", "kinds", "layer_dependent", "modes_of",
    "path_of", "root_of", "substitute",
]
