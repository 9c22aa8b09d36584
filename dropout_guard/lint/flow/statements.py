"""Statements for the abstract interpreter: ``StatementsMixin``.

Branches and their joins, loops to a fixed point (and small literal loops unrolled),
``with`` blocks (grad contexts, eval-mode contexts, the project's ``@contextmanager``s, exit
stacks), ``None`` tests, constant tests and tests of a saved mode flag, loop targets, grad
states from contexts and flags, and assignment.
"""
from __future__ import annotations

import ast
from typing import FrozenSet, List, Optional, Tuple

from .. import knowledge as K
from ..findings import line_ref
from ..semantic import get_arg
from .values import (ENTRY, EVAL, OFF, ON, TRAIN, UNKNOWN, HolderVal, ListVal, ModelVal, Modes, SavedMode, State,
                     TupleVal, join_states, join_vals, kinds, modes_of)
from .syntax import (_MAX_LOOP, _MODE_METHODS, _Attribute, _Call, _Constant, _Load, _Name, _has_call, _is_backward,
                     _target_names,
                     literal_truth, path_of)
from .summaries import substitute
from .idioms import _EXIT_STACKS, _UNBOUND, _guarded_path, grad_of_name


class StatementsMixin:
    """The statements of ``Interpreter`` (see the module docstring)."""

    def stmt(self, s: ast.stmt, st: State) -> Optional[State]:
        self._memo.clear()
        if isinstance(s, ast.Expr):
            v = s.value
            leaving = self.leaving(v.args[0], st) if self.stack_entered(v) else []
            self.visit(s.value, st)
            if type(v) in (ast.Yield, ast.YieldFrom):  # what a `@contextmanager`'s `with` block runs in
                self.yield_state = join_states(self.yield_state, st.copy())
            elif isinstance(v, ast.Attribute) and v.attr in _MODE_METHODS:
                self.record_attr_event("mode_attr", v, st)
            elif isinstance(v, ast.Call) and self.p.resolve_q(self.u.module, v.func) in K.SET_GRAD_ENABLED:
                st.grad = self.grad_from_flag(get_arg(v, 0, "mode"))
            elif self.stack_entered(v):
                # `stack.enter_context(torch.no_grad())` in `with ExitStack() as stack:` (detectron2's
                # inference_on_dataset): the rest of that block runs in the context
                g = self.grad_of_context(v.args[0])
                if g is not None:
                    st.grad = g
                stack = v.func.value.id
                for key, before in self.enter_eval_mode(v.args[0], st) + leaving:  # restored when the stack closes
                    self.stack_evals.setdefault(stack, []).append((key, before))
                guard = _guarded_path(v.args[0], self.u.module)
                if guard is not None:
                    self.guards.append((guard, stack, v.lineno))
            elif type(v) is _Call and type(v.func) is _Attribute and v.func.attr == "__enter__" and not v.args:
                # `torch.no_grad().__enter__()` (a script's way to switch grad off for good): the
                # rest of the body runs in that context
                g = self.grad_of_context(v.func.value)
                if g is not None:
                    st.grad = g
            return st
        if isinstance(s, ast.Assign):
            self.visit(s.value, st)
            val = self.value(s.value, st)
            for t in s.targets:
                self.assign(t, val, st, s.value)
                self.note_definition(t, s.value, st)
                if isinstance(val, ModelVal) and isinstance(s.value, ast.Call):
                    self.note_children(t, s.value, st)
                elif val is None and type(s.value) is _Call:
                    self.keep_keyword_models(t, s.value, st)
            return st
        if isinstance(s, ast.AnnAssign):
            if s.value is not None:
                self.visit(s.value, st)
                self.assign(s.target, self.value(s.value, st), st, s.value)
                self.note_definition(s.target, s.value, st)
            return st
        if isinstance(s, ast.AugAssign):
            self.visit(s.value, st)
            self.note_definition(s.target, s.value, st)
            p = path_of(s.target)
            if p:
                st.kill(p)
            return st
        if isinstance(s, ast.Return):
            if s.value is not None:
                self.visit(s.value, st)
                val = self.value(s.value, st)
                self.ret_val = val if not self.has_return_val else join_vals(self.ret_val, val)
                if self.has_return_val and self.ret_val is None:
                    self.ret_val = False  # mixed: not a model
                self.has_return_val = True
            self.returns = join_states(self.returns, st)
            return None
        if isinstance(s, ast.If):
            self.visit(s.test, st)
            known = self.branch_known(s.test, st)
            tested = self.mode_test(s.test, st) if known is None else None
            if tested is not None:  # `if was_training:`, `if model.training:`: decided where the mode is known
                saved, known, negated = tested
            if known is not None:  # `if teacher is not None:` on a model: the branch a model takes
                return self.block(s.body if known else s.orelse, st)
            if tested is not None:  # each branch knows what the saved flag says
                a = self.as_saved(self.block(s.body, self.as_saved(st.copy(), saved, not negated)), saved, not negated)
                b = self.as_saved(self.block(s.orelse, self.as_saved(st.copy(), saved, negated)), saved, negated)
                return join_states(a, b)
            a = self.block(s.body, st.copy())
            b = self.block(s.orelse, st.copy())
            return join_states(a, b)
        if isinstance(s, (ast.For, ast.AsyncFor, ast.While)):
            return self.loop(s, st)
        if isinstance(s, (ast.With, ast.AsyncWith)):
            return self.with_(s, st)
        if isinstance(s, ast.Try) or type(s).__name__ == "TryStar":
            body = self.block(s.body, st.copy())
            mid = join_states(st.copy(), body)
            out = self.block(s.orelse, body.copy()) if body is not None else None
            for h in s.handlers:
                out = join_states(out, self.block(h.body, mid.copy()))
            if s.finalbody:
                fin = self.block(s.finalbody, join_states(out, mid).copy() if out is not None else mid.copy())
                return fin if out is not None else None
            return out
        if isinstance(s, ast.Raise):
            if s.exc is not None:
                self.visit(s.exc, st)
            return None
        if isinstance(s, ast.Break):
            if self.loops:
                self.loops[-1][0] = join_states(self.loops[-1][0], st)
            return None
        if isinstance(s, ast.Continue):
            if self.loops:
                self.loops[-1][1] = join_states(self.loops[-1][1], st)
            return None
        if isinstance(s, ast.Delete):
            for t in s.targets:
                p = path_of(t)
                if p:
                    st.kill(p)
            return st
        if isinstance(s, (ast.Assert,)):
            self.visit(s.test, st)
            if isinstance(s.test, ast.Constant) and not s.test.value:
                return None  # `assert False`: the branch ends here, as with `raise`
            return st
        if isinstance(s, ast.Match):
            self.visit(s.subject, st)
            out = None
            for case in s.cases:
                out = join_states(out, self.block(case.body, st.copy()))
            return join_states(out, st)
        if isinstance(s, (ast.Import, ast.ImportFrom)):
            for alias in s.names:
                st.kill((alias.asname or alias.name).split(".")[0])
            return st
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            st.kill(s.name)
            return st
        return st

    def branch_known(self, test: ast.AST, st: State) -> Optional[bool]:
        """What a test of an ``if`` or a conditional expression is known to be here: a literal
        (``if False and ...:``, code switched off), a ``None`` test of a model, or a test of the
        constants a loop or a flag copy binds (``if phase == "train":``); None when unknown."""
        known = literal_truth(test)
        if known is None:
            known = self.none_test(test, st)
        if known is None and self.consts:
            known = self.const_test(test)
        return known

    def outside_backward(self, c: ast.Call) -> bool:
        """Whether the ``with`` block that disables grad around ``c`` holds no backward pass."""
        parents = self.u.parents()
        cur = parents.get(id(self.u.written(c)))
        while cur is not None and cur is not self.u.node:
            if type(cur) in (ast.With, ast.AsyncWith) and any(
                    type(i.context_expr) is _Call and self.grad_of_context(i.context_expr) == frozenset({OFF})
                    for i in cur.items):
                return not any(type(n) is _Call and _is_backward(n, self.u.module) for n in ast.walk(cur))
            cur = parents.get(id(cur))
        return False

    def mode_test(self, test: ast.AST, st: State) -> Optional[Tuple[SavedMode, Optional[bool], bool]]:
        """For a test of a model's mode flag (``model.training``, a name it was saved in,
        ``not`` either): the saved modes, whether the test holds (None: not known, the modes
        mixed or unknown), and whether it is negated."""
        negated = False
        while type(test) is ast.UnaryOp and type(test.op) is ast.Not:
            test, negated = test.operand, not negated
        if type(test) not in (_Name, _Attribute):
            return None
        saved = self.value(test, st)
        if type(saved) is not SavedMode:
            return None
        ks = kinds(saved.modes)
        holds = None if ks not in ({TRAIN}, {EVAL}) else (ks == {TRAIN}) != negated
        return saved, holds, negated

    def as_saved(self, st: Optional[State], saved: SavedMode, was_training: bool) -> Optional[State]:
        """``st`` on a path where the saved flag says the model was in training mode
        (``was_training``) or in eval mode: where the model is in that mode now, it is back in
        the modes it had when the flag was read (for a helper's parameter, its caller's). So
        ``if training: model.train()`` after ``model.eval()`` puts the mode back, and so does
        returning early under ``if not training:``."""
        now = st.env.get(saved.key) if st is not None else None
        if isinstance(now, ModelVal) and kinds(now.modes) == ({TRAIN} if was_training else {EVAL}):
            self.set_model(saved.key, now.with_modes(saved.modes), st)
        return st

    def none_test(self, test: ast.AST, st: State) -> Optional[bool]:
        """Whether ``x is not None`` (True) or ``x is None`` (False) holds when ``x`` holds a
        model here, or ``isinstance(x, nn.Module)`` (True); None for any other test."""
        if type(test) is ast.Compare and len(test.ops) == 1 and type(test.ops[0]) in (ast.Is, ast.IsNot) \
                and type(test.comparators[0]) is _Constant and test.comparators[0].value is None:
            key = path_of(test.left)
            if key and isinstance(st.env.get(key), ModelVal):
                return type(test.ops[0]) is ast.IsNot
        if type(test) is _Call and type(test.func) is _Name and test.func.id == "isinstance" and len(test.args) == 2:
            key = path_of(test.args[0])
            if key and isinstance(st.env.get(key), ModelVal) and \
                    self.p.resolve_q(self.u.module, test.args[1]) in K.TORCH_MODULE_BASES:
                return True
        return None

    def loop(self, s, st: State) -> Optional[State]:
        is_while = isinstance(s, ast.While)
        infinite = is_while and isinstance(s.test, ast.Constant) and bool(s.test.value)
        it = None  # what a `for` loop runs over
        if not is_while:
            self.visit(s.iter, st)
            it = self.value(s.iter, st)
            values = self._literal_values(s)
            if values is not None:
                return self.unrolled(s, st, it, values)
        head = st
        breaks: Optional[State] = None
        back: Optional[State] = None
        body = s.body if is_while else _without_leading_breaks(s.body)
        again = None if is_while else _body_before_last_pass(s)
        if again is not None:
            again = _without_leading_breaks(again)
        for _ in range(_MAX_LOOP):
            back, brk = self._loop_pass(s, it, head, body)
            breaks = join_states(breaks, brk)
            nxt = back
            if again is not None:  # what the next pass starts from: a pass that is not the last
                nxt, brk = self._loop_pass(s, it, head, again)
                breaks = join_states(breaks, brk)
            new = head.join(nxt) if nxt is not None else head
            if new.same(head):
                break
            head = new
        if infinite:
            return breaks
        # A `for` loop is taken to run at least once (a training loop over zero epochs is not
        # the path anyone means); a `while` loop may not run at all.
        after = head if is_while or back is None else back.copy()
        normal = self.block(s.orelse, after.copy())
        return join_states(normal, breaks)

    def _loop_pass(self, s, it, head: State, body: List[ast.stmt]) -> Tuple[Optional[State], Optional[State]]:
        """One pass of loop ``s`` from ``head`` through ``body``: the state at its end (joined
        with its ``continue``s) and at its ``break``s."""
        cur = head.copy()
        if isinstance(s, ast.While):
            self.visit(s.test, cur)
        else:
            self.bind_loop_target(s.target, it, cur, s.iter)
        self.loops.append([None, None])
        out = self.block(body, cur)
        brk, cont = self.loops.pop()
        return join_states(out, cont), brk

    def _literal_values(self, s) -> Optional[Tuple[List[object], int]]:
        """The constants a ``for`` loop runs over, in order (``for phase in ["train", "val"]``,
        or a name the body binds once to such a list, also joined with ``+`` to a list that a
        condition adds at the end: ``splits = ["train", "valid"] + (["test"] if args.test else
        [])``), when its target is a name the body never rebinds; with the number of them that
        always run (the rest may not). Else None."""
        if type(s.target) is not _Name:
            return None
        it = s.iter
        if type(it) is _Name:
            it = self.p.bound_once(self.u, it.id)
        got = _constant_sequence(it)
        if got is None or not 0 < len(got[0]) <= 8:
            return None
        name = s.target.id
        for stmt in s.body:
            for n in ast.walk(stmt):
                if type(n) is _Name and n.id == name and type(n.ctx) is not _Load:
                    return None
        return got

    def unrolled(self, s, st: State, it, sequence: Tuple[List[object], int]) -> Optional[State]:
        """A loop over constants, one pass per constant in order, with the target known in each
        (``if phase == "train":`` decided): the state after it is the last pass's (joined with
        the state after the passes that always run, when the last ones may not)."""
        values, always = sequence
        name = s.target.id
        before = self.consts.get(name, _UNBOUND)
        cur: Optional[State] = st
        breaks: Optional[State] = None
        early: Optional[State] = None
        try:
            for i, v in enumerate(values):
                if i == always:  # the passes after these may not run
                    early = cur.copy() if cur is not None else None
                if cur is None:
                    break
                cur = cur.copy()
                self.bind_loop_target(s.target, it, cur, s.iter)
                self.consts[name] = v
                self.loops.append([None, None])
                out = self.block(s.body, cur)
                brk, cont = self.loops.pop()
                breaks = join_states(breaks, brk)
                cur = join_states(out, cont)
        finally:
            if before is _UNBOUND:
                self.consts.pop(name, None)
            else:
                self.consts[name] = before
        cur = join_states(cur, early) if early is not None else cur
        normal = self.block(s.orelse, cur.copy()) if cur is not None else None
        return join_states(normal, breaks)

    def trains_in_this_pass(self) -> bool:
        """Some backward pass of the body may run in this pass of a loop over constants: not
        every one lies in a branch that the pass's constants rule out (``if split ==
        "train": loss.backward()``, in the ``"valid"`` pass)."""
        if not self.consts:
            return True
        parents = self.u.parents()
        for b in self.u.backward_calls:
            cur, up = b, parents.get(id(b))
            while up is not None and cur is not self.u.node:
                if type(up) is ast.If and cur is not up.test:
                    known = self.const_test(up.test)
                    if known is not None and (cur in up.body) != known:
                        break  # in the branch this pass does not take
                cur, up = up, parents.get(id(up))
            else:
                return True
        return False

    def const_test(self, test: ast.AST) -> Optional[bool]:
        """``name == c`` / ``name != c`` / ``name in (c, d)`` for a loop target known here."""
        if type(test) is not ast.Compare or len(test.ops) != 1:
            return None
        left, right, op = test.left, test.comparators[0], type(test.ops[0])
        if type(left) is _Constant and type(right) is _Name and op in (ast.Eq, ast.NotEq):
            left, right = right, left
        if type(left) is not _Name or left.id not in self.consts:
            return None
        v = self.consts[left.id]
        if type(right) is _Constant and op in (ast.Eq, ast.NotEq):
            return (v == right.value) == (op is ast.Eq)
        if type(right) in (ast.Tuple, ast.List, ast.Set) and op in (ast.In, ast.NotIn) and \
                all(type(e) is _Constant for e in right.elts):
            return (v in [e.value for e in right.elts]) == (op is ast.In)
        return None

    def bind_loop_target(self, target, it, st: State, iter_expr) -> None:
        names = list(_target_names(target))
        for n in names:
            st.kill(n)
            self.loop_alias.pop(n, None)
        if isinstance(target, ast.Name):
            if isinstance(it, ListVal):
                st.env[target.id] = it.elem
                src = path_of(iter_expr)
                if src:
                    self.loop_alias[target.id] = src
        elif isinstance(target, ast.Tuple) and type(iter_expr) is _Call and type(iter_expr.func) is _Name \
                and iter_expr.func.id in ("zip", "enumerate") and not iter_expr.keywords \
                and self.p.resolve_q(self.u.module, iter_expr.func) in (None, "zip", "enumerate", "builtins.zip",
                                                                        "builtins.enumerate"):
            # `for net, opt in zip(nets, opts)`, `for i, net in enumerate(nets)`: each name takes
            # the items of the list at its position
            if iter_expr.func.id == "zip":
                pairs = list(zip(target.elts, iter_expr.args)) if len(target.elts) == len(iter_expr.args) else []
            else:
                pairs = [(target.elts[1], iter_expr.args[0])] if len(target.elts) == 2 and iter_expr.args else []
            for elt, arg in pairs:
                if type(elt) is not _Name or type(arg) is ast.Starred:
                    continue
                v = self.value(arg, st)
                if isinstance(v, ListVal):
                    st.env[elt.id] = v.elem
                    src = path_of(arg)
                    if src:
                        self.loop_alias[elt.id] = src
        elif isinstance(target, ast.Tuple) and isinstance(it, ListVal):
            # for name, model in models.items()
            last = target.elts[-1]
            if isinstance(last, ast.Name):
                st.env[last.id] = it.elem
                src = path_of(iter_expr.func.value) if isinstance(iter_expr, ast.Call) and isinstance(
                    iter_expr.func, ast.Attribute) else None
                if src:
                    self.loop_alias[last.id] = src

    def with_(self, s, st: State) -> Optional[State]:
        grad = st.grad
        stacks = set()
        restore: List[Tuple[str, ModelVal]] = []  # `eval_mode(m)`: the modes it found, back on exit
        guards: List[Tuple[str, Optional[str], int]] = []
        for item in s.items:
            restore += self.leaving(item.context_expr, st)  # a `@contextmanager` of the project
            self.visit(item.context_expr, st)
            g = self.grad_of_context(item.context_expr)
            if g is not None:
                grad = g
            entered = self.enter_eval_mode(item.context_expr, st)
            restore += entered
            guard = _guarded_path(item.context_expr, self.u.module)
            if guard is not None:
                guards.append((guard, None, s.lineno))
                self.guards.append(guards[-1])
            if item.optional_vars is not None:
                inside = st.env.get(entered[0][0]) if entered else None
                for n in _target_names(item.optional_vars):
                    st.kill(n)
                if type(item.optional_vars) is _Name and type(item.context_expr) is _Call and \
                        self.p.resolve_q(self.u.module, item.context_expr.func) in _EXIT_STACKS:
                    stacks.add(item.optional_vars.id)
                if inside is not None and type(item.optional_vars) is _Name:  # `with eval_mode(m) as net:` is `m`
                    st.env[item.optional_vars.id] = inside
                    restore.append((item.optional_vars.id, entered[0][1]))
        inner = st.copy()
        inner.grad = grad
        self.exit_stacks |= stacks
        # a `return`, `break` or `continue` in the block leaves it too: what `eval_mode` restores
        # applies there (collected apart, then joined in)
        apart = bool(restore or stacks)
        outer_returns = self.returns
        outer_jumps = self.loops[-1][:] if apart and self.loops else None
        if apart:
            self.returns = None
            if outer_jumps is not None:
                self.loops[-1][:] = [None, None]
        try:
            out = self.block(s.body, inner)
        finally:
            self.exit_stacks -= stacks
            for gd in guards:
                self.guards.remove(gd)
            for stack in stacks:  # what was entered on a stack of this block ends with it
                restore += self.stack_evals.pop(stack, [])
                self.guards = [gd for gd in self.guards if gd[1] != stack]
        if apart:
            self.returns = join_states(outer_returns, self.restored(self.returns, restore))
        if outer_jumps is not None:
            self.loops[-1][:] = [join_states(outer, self.restored(jumped, restore))
                                 for outer, jumped in zip(outer_jumps, self.loops[-1])]
        if out is not None:
            out.grad = st.grad  # what the block entered, its stack included, ends with it
        return self.restored(out, restore)

    def stack_entered(self, v: ast.AST) -> bool:
        """``v`` is ``stack.enter_context(cm)`` on an ExitStack of a block we are in."""
        return type(v) is _Call and type(v.func) is _Attribute and v.func.attr == "enter_context" and \
            bool(v.args) and type(v.func.value) is _Name and v.func.value.id in self.exit_stacks

    def leaving(self, expr: ast.AST, st: State) -> List[Tuple[str, ModelVal]]:
        """For ``expr`` a call of the project's ``@contextmanager`` (read before the call
        enters it, up to its ``yield``): the models its arguments hold, in the modes the rest
        of its body leaves them when the block closes (``model.train()`` after the ``yield``:
        back in training; ``model.train(was_training)``: as they were before the ``with``)."""
        if type(expr) is not _Call:
            return []
        callee = self.p.resolve_callee(self.u, expr, st, self)
        if callee is None or not callee.summary.leave_exits:
            return []
        name = callee.fn.name if callee.fn else callee.id
        found = []
        for p, a in self.p.bind_args(callee, expr):
            key, left = self.base_key(a), callee.summary.leave_exits.get(p)
            val = st.env.get(key) if key else None
            if isinstance(val, ModelVal) and left is not None:
                found.append((key, val.with_modes(substitute(left, val.modes, name, self.u.path, expr.lineno))))
        return found

    def restored(self, st: Optional[State], restore: List[Tuple[str, ModelVal]]) -> Optional[State]:
        """``st`` with the models ``eval_mode`` entered back in the modes it found them in (and
        those a ``@contextmanager`` entered in the modes the rest of its body leaves them)."""
        if st is None or not restore:
            return st
        for key, before in reversed(restore):
            cur = st.env.get(key)
            if isinstance(cur, ModelVal):
                self.set_model(key, cur.with_modes(before.modes), st)
        return st

    def eval_mode_modes(self, c: ast.Call) -> Modes:
        return modes_of(EVAL, f"switched to eval by `eval_mode(...)` at {line_ref(self.u.path, c.lineno)}", c.lineno)

    def enter_eval_mode(self, expr: ast.AST, st: State) -> List[Tuple[str, ModelVal]]:
        """dropout-guard's ``eval_mode(model)`` entered here: the model (and the models it
        holds) switched to eval in ``st``; returns what to restore on exit (``eval_mode``
        sets every flag back as it found it, whatever the block did)."""
        if type(expr) is not _Call or self.p.resolve_q(self.u.module, expr.func) not in K.EVAL_MODE_CONTEXTS:
            return []
        arg = get_arg(expr, 0, "model")
        key = self.base_key(arg) if arg is not None else None
        val = st.env.get(key) if key else None
        if not isinstance(val, ModelVal):
            return []
        new = self.eval_mode_modes(expr)
        found = [(key, val)]
        for child in self.children.get(key, ()):
            cv = st.env.get(child)
            if isinstance(cv, ModelVal):
                found.append((child, cv))
        for k, v in found:
            self.set_model(k, v.with_modes(new), st)
        return found

    def guarded(self, key: str) -> Optional[int]:
        """The line of the ``inference_guard`` region that covers the model at ``key`` here."""
        for path, _stack, line in reversed(self.guards):
            if path == "" or key == path or key.startswith(path + "."):
                return line
        return None

    def guard_view(self, key: Optional[str], val: ModelVal) -> ModelVal:
        """A model inside an ``inference_guard`` region that covers it: its mode is checked at
        run time (the guard raises or warns), so the analysis reads it as unknown there. The
        state keeps its real mode: the guard switches nothing."""
        line = self.guarded(key) if key else None
        if line is None:
            return val
        return val.with_modes(modes_of(UNKNOWN, f"checked at run time by `inference_guard` at "
                                                f"{line_ref(self.u.path, line)}", line))

    def grad_of_context(self, expr: ast.AST) -> Optional[FrozenSet[str]]:
        q = self.p.resolve_q(self.u.module, expr.func if isinstance(expr, ast.Call) else expr)
        grad = grad_of_name(q, self.p.knowledge.no_grad_decorators)
        if grad is not None:
            return grad
        if q in K.SET_GRAD_ENABLED and isinstance(expr, ast.Call):
            return self.grad_from_flag(get_arg(expr, 0, "mode"))
        if isinstance(expr, ast.Call) and q:
            fn = self.p.lookup_unit(q, self.u.module)
            if fn is not None and fn.fn is not None and fn is not self.u:
                g = self.p.returned_grad_context(fn)
                if g is not None:
                    return g  # `with _get_no_grad_ctx_mgr():`, a project helper returning `torch.no_grad()`
        held = expr.func if isinstance(expr, ast.Call) and q is None else expr
        if type(expr) is _Name and q is None:  # `ctx = torch.no_grad()` once in this scope, then `with ctx:`
            bound = self.p.bound_once(self.u, expr.id)
            if type(bound) is _Call:
                g = self.grad_of_context(bound)
                if g is not None:
                    return g
        if isinstance(held, (ast.Name, ast.Attribute)) and self.p.holds_grad_context(self.u, held):
            return frozenset({UNKNOWN})
        return None

    @staticmethod
    def grad_from_flag(arg) -> FrozenSet[str]:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, bool):
            return frozenset({ON if arg.value else OFF})
        return frozenset({UNKNOWN})

    # -- assignment --------------------------------------------------------------------------
    def keep_keyword_models(self, target, c: ast.Call, st: State) -> None:
        """``trainer = Trainer(model=model, ...)`` of a library (or a call the analysis cannot
        resolve): an object keeps what it is given by keyword under that name, so
        ``trainer.model`` is the model handed in (a ``HolderVal``). A method called on the
        object later may switch it (``CallsMixin.holder_called``)."""
        name = path_of(target)
        if not name or not c.keywords or self.p.resolve_callee(self.u, c, st, self) is not None or \
                self.p.lookup_class(self.p.resolve_q(self.u.module, c.func), self.u.module) is not None:
            return
        held = {}
        for k in c.keywords:
            if k.arg is not None:
                v = self.value(k.value, st)
                if isinstance(v, ModelVal) and (ENTRY not in kinds(v.modes) or (
                        v.param and self.p.param_is_model(self.u, v.param))):
                    held[k.arg] = v  # a model (a parameter only on evidence: `device=device` is none)
        if held:
            st.env[name] = HolderVal(frozenset(held))
            for attr, v in held.items():
                st.env[f"{name}.{attr}"] = v

    def assign(self, target, val, st: State, value_expr) -> None:
        if isinstance(target, ast.Attribute) and target.attr == "training" and \
                isinstance(value_expr, ast.Constant) and isinstance(value_expr.value, bool):
            self.record_attr_event("training_assign", target, st)  # copying another flag is bookkeeping
        if isinstance(target, (ast.Tuple, ast.List)):
            elts = target.elts
            if isinstance(val, TupleVal) and len(val.items) == len(elts):
                for t, v in zip(elts, val.items):
                    self.assign(t, v, st, None)
            elif isinstance(val, ListVal):
                for t in elts:
                    self.assign(t, val.elem, st, None)
            else:
                for t in elts:
                    self.assign(t, None, st, None)
            return
        if isinstance(target, ast.Starred):
            self.assign(target.value, None, st, None)
            return
        p = path_of(target)
        if p is None:
            return
        self._memo.clear()
        st.kill(p)
        self.loop_alias.pop(p, None)
        if val is not None and val is not False:
            st.env[p] = val


def _constant_sequence(e) -> Optional[Tuple[List[object], int]]:
    """The constants of a list or tuple of constants, or of a sum of such lists whose last
    term may be one chosen by a condition (``[...] + ([...] if flag else [])``): (the values
    in order, how many of them are always there); None for anything else."""
    if type(e) in (ast.List, ast.Tuple):
        if any(type(x) is not _Constant for x in e.elts):
            return None
        values = [x.value for x in e.elts]
        return values, len(values)
    if type(e) is ast.BinOp and type(e.op) is ast.Add:
        head = _constant_sequence(e.left)
        if head is None or head[1] != len(head[0]):
            return None  # only the last term may be optional
        right = e.right
        if type(right) is ast.IfExp:
            body, other = _constant_sequence(right.body), _constant_sequence(right.orelse)
            if body is None or other is None or other[0]:
                return None  # `[...] if flag else []` only
            return head[0] + body[0], len(head[0])
        tail = _constant_sequence(right)
        if tail is None:
            return None
        return head[0] + tail[0], len(head[0]) + tail[1]
    return None


def _without_leading_breaks(body: List[ast.stmt]) -> List[ast.stmt]:
    """A ``for`` loop's body without the guards that open it by leaving the loop (``if ix ==
    N: break``, a test that calls nothing): as the loop is taken to run at least once, such a
    guard leaves it with the state the previous pass left, as the loop's normal end does."""
    k = 0
    while k < len(body) - 1:
        st = body[k]
        if not (type(st) is ast.If and not st.orelse and len(st.body) == 1 and type(st.body[0]) is ast.Break
                and not _has_call(st.test)):
            break
        k += 1
    return body[k:] if k else body


def _body_before_last_pass(loop: ast.For) -> Optional[List[ast.stmt]]:
    """``loop``'s body as a pass that another pass follows runs it, where an ``if`` among its
    statements holds only on the last pass (``for i, (x, y) in enumerate(batches): ...
    if i == len(batches) - 1: model.eval(); validate(model)``): that ``if``'s ``else``
    instead. None when there is no such ``if``."""
    t = loop.target
    counter = t.id if type(t) is _Name else t.elts[0].id if type(t) is ast.Tuple and t.elts \
        and type(t.elts[0]) is _Name else None
    if counter is None:
        return None
    out: List[ast.stmt] = []
    found = False
    for st in loop.body:
        if type(st) is ast.If and _last_pass_test(st.test, counter):
            out.extend(st.orelse)
            found = True
        else:
            out.append(st)
    return out if found else None


def _last_pass_test(test: ast.AST, counter: str) -> bool:
    """``i == len(xs) - 1``, ``i == n - 1`` or ``i + 1 == len(xs)`` for the loop counter ``i``."""
    if type(test) is not ast.Compare or len(test.ops) != 1 or type(test.ops[0]) is not ast.Eq:
        return False
    for a, b in ((test.left, test.comparators[0]), (test.comparators[0], test.left)):
        if type(a) is _Name and a.id == counter and type(b) is ast.BinOp and type(b.op) is ast.Sub \
                and type(b.right) is _Constant and b.right.value == 1 and type(b.left) is not _Constant:
            return True
        if type(a) is ast.BinOp and type(a.op) is ast.Add and type(a.left) is _Name and a.left.id == counter \
                and type(a.right) is _Constant and a.right.value == 1 and type(b) is not _Constant:
            return True
    return False
