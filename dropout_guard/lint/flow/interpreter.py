"""The abstract interpreter of one unit: ``Interpreter``.

Runs a body to its summary: sets up the entry state (parameters, closures, globals and
attributes as entry-relative paths), walks the statements within the CPU-time budget and
collects the exit state. The statements, calls and expressions are interpreted by the
mixins ``StatementsMixin`` (statements.py), ``CallsMixin`` (calls.py) and
``ExpressionsMixin`` (expressions.py).
"""
from __future__ import annotations

import ast
import time
from typing import Dict, FrozenSet, List, Optional, Sequence, Set, Tuple

from .. import knowledge as K
from ..semantic import get_arg
from .values import (ENTRY, EVAL, ON, UNKNOWN, AnalysisTimeout, InstanceVal, ModelVal, Modes, State, TupleVal, join_states,
                     modes_of)
from .summaries import Summary
from .syntax import _Call, path_of
from .unit import _Unit
from .statements import StatementsMixin
from .calls import CallsMixin
from .expressions import ExpressionsMixin


class Interpreter(StatementsMixin, CallsMixin, ExpressionsMixin):
    def __init__(self, unit: _Unit):
        self.u = unit
        self.p = unit.project
        self.returns: Optional[State] = None
        self.loops: List[List[Optional[State]]] = []
        self.loop_alias: Dict[str, str] = {}
        self.exit_stacks: Set[str] = set()  # names of the `with ExitStack() as stack:` blocks we are in
        # dropout-guard's `eval_mode(m)` entered on a stack: the models to restore when it closes
        self.stack_evals: Dict[str, List[Tuple[str, ModelVal]]] = {}
        # `inference_guard` regions we are in, innermost last: (the guarded model's path, "" for
        # every model; the ExitStack that entered it, if any; the line)
        self.guards: List[Tuple[str, Optional[str], int]] = []
        self.consts: Dict[str, object] = {}  # loop targets known in the pass of a loop over constants
        self.ret_val = None
        self.has_return_val = False
        self.def_grad: Dict[str, FrozenSet[str]] = {p: frozenset({ENTRY}) for p in unit.params}
        # CPU time of this thread, not the wall clock: a loaded machine must not turn a file into DG000
        self.deadline = time.thread_time() + unit.project.budget
        self._until_check = 0  # statements until the clock is read again
        self.start_grad: FrozenSet[str] = frozenset()  # the grad state the body starts in
        self.children: Dict[str, Set[str]] = {}  # wrapper model -> the models it holds
        self.pure_wrappers: Set[str] = set()  # wrappers that run nothing but what they hold (wrapped_modes)
        self.wrapped_calls: Set[int] = set()  # the constructions valued by wrapped_modes (call ids)
        self._memo: Dict[int, object] = {}  # expression id -> value, valid until the state changes
        # access paths the body starts with as its caller leaves them, besides its parameters
        # (see Project.attr_paths, closure_paths, global_paths): summarised like parameters
        self.entry_paths: List[str] = []
        self.entry_globals: List[str] = []
        self.yield_state: Optional[State] = None  # the states at the body's `yield` statements

    # -- entry -------------------------------------------------------------------------
    def run(self) -> None:
        u = self.u
        u.facts()
        u.events = {}
        u.edges = []
        u.param_gets_model = {}
        u.ret_calls = []
        summary = Summary(backward_params=set(u.backward_params), grad_params=set(u.grad_params), steps=bool(u.steps))
        self.summary = summary
        self.mode_cand: Set[str] = set()
        self.mode_used: Set[str] = set()
        state = self.initial_state()
        self.start_grad = state.grad
        self.guards = list(self.p.decorator_guards(u))
        end = self.block(self.u.node.body, state)
        exit_state = join_states(end, self.returns)
        self.final_env = exit_state.env if exit_state is not None else {}
        u.final_env = self.final_env
        if exit_state is not None:
            summary.exits = self.param_modes(exit_state)
            if self.yield_state is not None and self.p.context_manager(u):
                summary.leave_exits, summary.exits = summary.exits, self.param_modes(self.yield_state)
            switched = self.p.decorator_eval(u)
            if switched is not None and switched[1] and u.params:  # the decorator restores the mode it found
                summary.exits[u.params[0]] = modes_of(ENTRY, f"passed in as `{u.params[0]}`", u.fn.node.lineno)
            for g in self.p.switched_globals(u):
                v = exit_state.env.get(g)
                summary.globals_exit[g] = v.modes if isinstance(v, ModelVal) else modes_of(UNKNOWN, "", 0)
            for g in self.entry_globals:  # (an alias of another global holds that one's value: its `param`)
                v = exit_state.env.get(g)
                summary.globals_exit[g] = v.modes if isinstance(v, ModelVal) and v.param in self.entry_globals else \
                    modes_of(UNKNOWN, "", 0)
        if self.has_return_val and isinstance(self.ret_val, ModelVal):
            summary.returns = self.ret_val
        elif self.has_return_val and isinstance(self.ret_val, TupleVal):  # `return model, vocab`
            items = tuple(v if isinstance(v, ModelVal) else None for v in self.ret_val.items)
            if any(items):
                summary.returns = TupleVal(items)
        summary.mode_free = self.mode_cand - self.mode_used
        u.summary = summary

    def param_modes(self, st: State) -> Dict[str, Modes]:
        """The modes ``st`` leaves each parameter (and entry path) in, for the summary."""
        got = {}
        for p in self.u.params + self.entry_paths:
            v = st.env.get(p)
            got[p] = v.modes if isinstance(v, ModelVal) and v.param == p else modes_of(UNKNOWN, "rebound", 0)
        return got

    def initial_state(self) -> State:
        u = self.u
        grad = self.p.decorator_grad(u)
        if grad is None:
            grad = frozenset({ENTRY}) if u.fn is not None else frozenset({ON})
        env: Dict[str, object] = {}
        if u.fn is not None:
            # module-level models and instances, in the state the top-level code leaves them
            local = self.p.local_names(u)
            switched_here = self.p.switched_globals_of_module(u.module)
            for name, val in self.p.global_env(u.module).items():
                if name not in local and name not in switched_here:
                    env[name] = val
            line = u.fn.node.lineno
            globs = self.p.global_paths(u, line)
            closed = self.p.closure_paths(u, line)
            env.update(globs)
            env.update(closed)
            self.entry_globals = list(globs)
            self.entry_paths = list(closed)
            line = u.fn.node.lineno
            switched = self.p.decorator_eval(u)  # @eval_decorator: the first argument runs in eval mode
            for i, p in enumerate(u.params):
                if switched is not None and i == 0 and not u.is_classmethod and (u.is_module_method or not u.is_method):
                    val = ModelVal(modes_of(EVAL, f"switched to eval by `@{switched[0]}`", line),
                                   self.p.self_dependent(u.cls) if u.is_module_method else None, p,
                                   cls=u.cls.qualname if u.is_module_method else None, param=p)
                    if not u.is_module_method:
                        given = self.p.param_value(u, p, line)
                        if given is None:
                            continue
                        val = given.with_modes(val.modes)
                    env[p] = val
                    continue
                if u.is_method and i == 0:
                    if u.is_classmethod:
                        continue  # the class, not an instance
                    if u.is_module_method:  # what it holds: its class's layers or a subclass's
                        env[p] = ModelVal(modes_of(ENTRY, f"the receiver `{p}`", line), self.p.self_dependent(u.cls),
                                          p, cls=u.cls.qualname, param=p)
                    elif u.cls is not None:
                        env[p] = InstanceVal(u.cls.qualname)
                        env.update({f"{p}.{k}": v for k, v in self.p.attr_state(u.cls, u.fn).items()})
                        attrs = self.p.attr_paths(u, p, line)
                        env.update(attrs)
                        self.entry_paths += [k for k, v in attrs.items() if v.param == k]
                    continue
                val = self.p.param_class_value(u, p, line) or self.p.param_value(u, p, line)
                if val is not None:
                    env[p] = val
            for d in u.fn.node.decorator_list:  # `@eval_mode(model)`: that model in eval mode inside
                if type(d) is _Call and self.p.resolve_q(u.module, d.func) in K.EVAL_MODE_CONTEXTS:
                    key = path_of(get_arg(d, 0, "model"))
                    if key and isinstance(env.get(key), ModelVal):
                        env[key] = env[key].with_modes(self.eval_mode_modes(d))
        return State(env, grad)

    # -- statements ------------------------------------------------------------------------
    def block(self, stmts: Sequence[ast.stmt], state: Optional[State]) -> Optional[State]:
        for stmt in stmts:
            if state is None:
                return None
            self._until_check -= 1
            if self._until_check <= 0:  # reading the clock is a system call: at the first statement, then every 32nd
                self._until_check = 32
                if time.thread_time() > self.deadline:
                    raise AnalysisTimeout(f"analysis exceeded {self.p.budget:g} s of CPU time")
            state = self.stmt(stmt, state)
        return state
