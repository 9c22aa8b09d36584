"""Untrained models: a model built in a body and used there before anything gives it weights.

A model that predicts in training mode (DG101) predicts wrongly only if it has weights worth
predicting with: weights trained in the analysed code, loaded, or handed in from outside. A
model that a body only constructs and calls — a shape check, a ``__main__`` demo, a teaching
cell — has random weights whatever its mode. This module answers, for one DG101 event, "was
every training-mode origin a fresh construction in this very body, with no evidence in the
body that the model gets weights?". Evidence is read generously (any of it keeps the finding):

- a backward pass anywhere in the body (it may train the model);
- a method of the model (or of a part of it) that loads, restores or fits
  (``load_state_dict``, ``load_weights``, ``fit``, ...);
- the model, a part of it or its parameters handed to a call (``train(model, ...)``,
  ``Adam(model.parameters())``, ``accelerator.prepare(model)``), other than the same-model
  wrappers and builtins such as ``print``;
- the model stored where others can reach it (``self.model = model``, ``d[k] = model``;
  not its output unpacked into names), declared ``global``, or named by a function nested in
  the body (or, for a module's top-level code, by any function of the module);
- an existing layer added to it (``model.add_module(name, layer)``: a pretrained part);
- a project class whose methods load weights or build library models (``torchvision``,
  ``timm``, ``from_pretrained``: pretrained backbones), directly or through the project
  classes it builds.

Origins built elsewhere (a module-level model used in a function, a factory's result) are
never fresh here: that other body may train or load it; except a project function that only
builds (``densenet_cifar()`` returning ``DenseNet(...)``, with no backward pass, no loading
method, no loader, no project class that loads): its result is as fresh as a construction.

A name rebound to the same model moved (``model = model.cuda()``) keeps its construction.
For DG201 inside a helper or a model's own method (``demo_callers_only``), the question is
asked at every call the interpreter applied: all of them handing an untrained model make
its prediction a demo too.

A module's top-level code (a script, a notebook's cells in order) runs once from top to
bottom, so there the evidence must come before the prediction: a statement above it, one in
a loop that also holds it (a later iteration follows it), or a function defined above it (a
function defined below cannot have run yet). A notebook's "one step of the untrained
network" cell before the training cells is a demo; inside a function any evidence counts.
"""
from __future__ import annotations

import ast
import re
from typing import List, Optional, Set

from . import knowledge as K
from .flow import Event, bad_training, path_of
from .flow.dependence import _takes_sizes as takes_sizes
from .flow.syntax import _CONTAINER_ADDS

_HARMLESS_CALLS = frozenset({"print", "len", "isinstance", "type", "str", "repr", "id", "hasattr", "getattr",
                             "vars", "dir", "hash"})
_WEIGHT_WORDS = frozenset({"pretrained", "checkpoint", "fit", "learn"})  # whole words
_WEIGHT_PREFIXES = ("load", "restore", "download")  # words beginning so (`loader`, `loadModel`)
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")  # snake_case and camelCase words
_BUILT = "built by `"
_ADDS_PARTS = _CONTAINER_ADDS | {"update"}  # (`ModuleDict.update` too)
_RETURNED = "returned in training mode by `"


def untrained(project, unit, ev: Event) -> bool:
    """Every training-mode origin of ``ev``'s model is a construction in ``unit`` that nothing
    in ``unit`` gives weights to: its predictions are a demo, not a bug."""
    bad = bad_training(ev.modes)
    key = ev.key
    if not bad or not key or _trained_between(unit, min(m[2] for m in bad), ev.node):
        return False
    if _iterated_at(unit, ev.node, key.split(".", 1)[0]):
        return False  # an item of a collection (`for net in nets`): its weights come through the collection
    for m in bad:
        if m[1].startswith(_BUILT) and _built_here(project, unit, m[2]):
            continue
        if m[1].startswith(_RETURNED) and _factory_here(project, unit, m[2]):
            continue
        return False
    if ev.kind == "helper" and _helper_gives_weights(project, unit, ev.node):
        return False
    built = min(m[2] for m in bad)
    # the names the origins' constructions are bound to (`trained = Net()`, then `scorer =
    # Wrapper(trained)` runs in `trained`'s modes): evidence for them counts too
    names_at = unit.__dict__.get("_names_bound_at")
    if names_at is None:  # line -> the names an assignment of a value starting there binds (once per body)
        names_at = unit.__dict__["_names_bound_at"] = {}
        for targets, value in unit.assigns():
            names_at.setdefault(getattr(value, "lineno", None), set()).update(
                t.id for t in targets if type(t) is ast.Name)
    built_as = {n for m in bad for n in names_at.get(m[2], ())}
    return not any(_given_weights(project, unit, ev, k, built) for k in {key} | built_as)


def _helper_gives_weights(project, unit, call: ast.AST) -> bool:
    """The helper the model is handed to loads or fits weights into one of its parameters
    (``teacher.load_state_dict(...)`` inside ``distill(student, teacher, ...)``)."""
    callee = project.resolve_callee(unit, call, None, None) if type(call) is ast.Call else None
    if callee is None or callee.fn is None:
        return False
    for c in callee.calls:
        f = c.func
        if _weight_method(f) and \
                any(_mine(f.value, p) for p in callee.params):
            return True
    return False


def _built_here(project, unit, line: int) -> bool:
    """A module is constructed by this unit's own code at ``line``, and what it constructs
    holds no weights from elsewhere. (Memoised per body and line.)"""
    memo = unit.__dict__.setdefault("_built_here_memo", {})
    if line not in memo:
        by_line = unit.__dict__.get("_calls_by_line")
        if by_line is None:
            by_line = unit.__dict__["_calls_by_line"] = {}
            for c in unit.calls:
                by_line.setdefault(c.lineno, []).append(c)
        memo[line] = _built_at(project, unit, by_line.get(line, ()))
    return memo[line]


def _built_at(project, unit, calls, depth: int = 0) -> bool:
    found = False
    for c in calls:
        q = unit.module.resolve(c.func)
        if not q:
            continue
        if q.startswith("torch.nn.") and q.count(".") == 2:
            found = True
            continue
        ci = project.lookup_class(q, unit.module)
        if ci is not None and project.is_torch_module(ci):
            if _class_loads(project, ci, set()):
                return False
            found = True
        elif _loader_name(q):
            return False
        elif depth < 3 and ci is None:
            callee = project.resolve_callee(unit, c, None, None)
            if callee is not None and callee.fn is not None and callee.cls is None \
                    and _only_builds(project, callee, depth + 1):
                found = True  # `mobile_half(n)` returning `mobilenetv2_T_w(6, 0.5, n)`: a factory of a factory
    return found


def _factory_here(project, unit, line: int) -> bool:
    """The call at ``line`` runs a project function that only builds a module
    (``densenet_cifar()`` returning ``DenseNet(...)``): what it returns is as fresh as a
    construction here."""
    for c in unit.calls:
        if c.lineno != line:
            continue
        callee = project.resolve_callee(unit, c, None, None)
        if callee is not None and callee.fn is not None and _only_builds(project, callee):
            return True
    return False


def _only_builds(project, callee, depth: int = 0) -> bool:
    """A function that constructs a module (itself or through another such function) and
    nothing that gives weights: no backward pass, no method that loads or fits, no loader or
    library model, no project class that loads."""
    if callee.backward_calls:
        return False
    for c in callee.calls:
        f = c.func
        if _weight_method(f):
            return False
    return _built_at(project, callee, callee.calls, depth)


def _says_weights(name: str) -> bool:
    """A name whose words say it gives weights: ``load_state_dict``, ``loadModel``,
    ``from_pretrained``, ``fit``, ``restore_checkpoint``; not one where such a word is only
    part of a word (``learned_gate``, ``fitness``)."""
    return any(w in _WEIGHT_WORDS or w.startswith(_WEIGHT_PREFIXES)
               for w in (x.lower() for x in _WORD_SPLIT.split(name) if x))


def _weight_method(f: ast.AST) -> bool:
    """``x.load_state_dict``, ``x.load_weights``, ``x.fit``: a method whose name says it gives weights."""
    return type(f) is ast.Attribute and _says_weights(f.attr)


def _loader_name(q: str) -> bool:
    if q.startswith("torch.") and not q.startswith(("torch.load", "torch.hub.", "torch.jit.load")):
        return False  # `torch.utils.checkpoint.checkpoint`: recomputes activations, loads nothing
    return _says_weights(q.rsplit(".", 1)[-1]) or q in K.TRAINING_FACTORIES or \
        q.startswith(K.TRAINING_FACTORIES_PREFIXES) or q.startswith(("transformers.", "torch.hub."))


def _class_loads(project, ci, seen: Set[str], depth: int = 0) -> bool:
    """The class (its methods, its project bases, the project classes it builds) may load
    weights or build a library model."""
    if ci.qualname in seen:
        return False
    if depth > 6:
        return True
    seen.add(ci.qualname)
    for b in ci.bases:
        bc = project.lookup_class(b, ci.module)
        if bc is not None and _class_loads(project, bc, seen, depth + 1):
            return True
    for fn in ci.methods.values():
        if any(type(d) is ast.Name and d.id in ("classmethod", "staticmethod") for d in fn.node.decorator_list):
            continue  # `ConvTasNet.load_model(path)`: a loader beside the constructor, not run by it
        me = (fn.positional_params() or ["self"])[0]
        for n in project.scope_nodes(fn.node):
            if type(n) is ast.Name and type(n.ctx) is ast.Load and n.id not in fn.param_names() \
                    and _global_loads(project, ci.module, n.id):
                return True  # `nn.Sequential(*list(resnet.children())[:4])` of a pretrained global
            if type(n) is not ast.Call:
                continue
            f = n.func
            if _weight_method(f) and \
                    (path_of(f.value) or "").split(".")[0] in (me, ""):
                return True  # `self.load_state_dict(...)`, `self.backbone.load_pretrained(...)`; not a CUDA module's `m.load(ptx)`
            q = ci.module.resolve(f)
            if not q:
                continue
            sub = project.lookup_class(q, ci.module)
            if sub is not None and project.is_torch_module(sub):  # a layer of the project: what it does, not its name
                if _class_loads(project, sub, seen, depth + 1):  # (`RelLearnableDecoderLayer`)
                    return True
            elif _loader_name(q):
                return True
    return False


def _global_loads(project, module, name: str) -> bool:
    """The module's top-level code binds ``name`` to what a loader returns
    (``resnet = models.resnet50(pretrained=True)``)."""
    for v in project.module_bindings(module, name):
        while type(v) is ast.Call and type(v.func) is ast.Attribute and not module.resolve(v.func):
            v = v.func.value  # `models.resnet50(pretrained=True).cuda()`
        q = module.resolve(v.func) if type(v) is ast.Call else None
        if q and _loader_name(q):
            return True
    return False


def _mine(expr: ast.AST, key: str) -> bool:
    """``expr`` is the model, a part of it, or something read off it (``model.parameters()``)."""
    while True:
        t = type(expr)
        if t is ast.Starred:
            expr = expr.value
        elif t is ast.Call and type(expr.func) is ast.Attribute:
            expr = expr.func.value
        elif t is ast.Subscript:
            expr = expr.value
        else:
            break
    p = path_of(expr)
    return p is not None and (p == key or p.startswith(key + "."))


def _given_weights(project, unit, ev: Event, key: str, built: int = 0) -> bool:
    """Evidence in ``unit`` that the model at ``key`` gets weights (other than ``ev``'s own
    call). Memoised per body and key: a long body has a prediction on every line, and each
    would scan the whole body again."""
    memo = unit.__dict__.setdefault("_given_weights_memo", {})
    found = memo.get(key)
    if found is None:
        found = memo[key] = _weight_evidence(project, unit, key)
    calls, elsewhere = found

    def counts(n: ast.AST) -> bool:
        """May run before the prediction; a statement of top-level code also below the
        construction at ``built`` (one above it gave weights to an earlier model of that name)."""
        if not _before(unit, n, ev.node):
            return False
        if unit.fn is not None or type(n) in (ast.FunctionDef, ast.AsyncFunctionDef):
            return True  # a function defined above may be called after the construction
        return getattr(n, "lineno", 0) > built

    return any(counts(n) for n in elsewhere) or any(c is not ev.node and counts(c) for c in calls)


def _dominates(unit, stmt: Optional[ast.AST], node: ast.AST, lines: List[int]) -> bool:
    """``stmt`` is an earlier statement of a block that holds ``node`` (it runs first on every
    path to it), and no other binding (at ``lines``) lies in a loop around ``node`` up to that
    block (a later iteration could reach ``node`` with what that one bound)."""
    if stmt is None:
        return False
    for owner, before in unit.earlier_statements(node):
        if type(owner) in (ast.For, ast.AsyncFor, ast.While):  # a loop around the prediction
            span = range(owner.lineno, (owner.end_lineno or owner.lineno) + 1)
            if any(line in span and line != stmt.lineno for line in lines):
                return False
        if stmt in before:
            return True
    return False


def _iterated_at(unit, node: ast.AST, name: str) -> bool:
    """``name`` at ``node`` is the target of a loop or comprehension around it (an item of
    a collection: ``for net in nets: net(x)``, ``[net(x) for net in nets]``)."""
    parents = unit.parents()
    up = parents.get(id(node))
    while up is not None and up is not unit.node:
        gens = up.generators if type(up) in (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp) else \
            [up] if type(up) in (ast.For, ast.AsyncFor) else ()
        if any(name in {x.id for x in ast.walk(g.target) if type(x) is ast.Name} for g in gens):
            return True
        up = parents.get(id(up))
    return False


def _trained_between(unit, built: int, event: ast.AST) -> bool:
    """A backward pass of the body may run after the model's construction at line ``built``
    and before ``event`` (anywhere in a function; in top-level code, below the construction
    and before the event: the training of an earlier model above it trains nothing here)."""
    return any(_before(unit, b, event) and (unit.fn is not None or b.lineno > built) for b in unit.backward_calls)


def _before(unit, node: ast.AST, event: ast.AST) -> bool:
    """``node`` may run before ``event``: always in a function; in a module's top-level code,
    when it is above the event or in a loop that holds the event too."""
    if unit.fn is None and node.lineno > event.lineno:
        parents = unit.parents()
        loops = set()
        up = parents.get(id(event))
        while up is not None:
            if type(up) in (ast.For, ast.AsyncFor, ast.While):
                loops.add(id(up))
            up = parents.get(id(up))
        up = parents.get(id(node))
        while up is not None:
            if id(up) in loops:
                return True
            up = parents.get(id(up))
        return False
    return True


def _weight_evidence(project, unit, key: str):
    """(the calls that give the model at ``key`` weights, the other nodes of the body that may:
    statements handing it out, functions that name it)."""
    calls = [c for c in unit.calls if _gives_weights(unit, c, key)]
    if unit.fn is not None and len(calls) > 1:
        calls = calls[:2]  # two are enough: one of them is not the event's own call
    return calls, _kept_elsewhere(project, unit, key)


def _gives_weights(unit, c: ast.Call, key: str) -> bool:
    f = c.func
    if _weight_method(f) and _mine(f.value, key):
        return True
    if type(f) is ast.Attribute and _mine(f.value, key) and f.attr not in ("train", "eval") and "train" in f.attr:
        return True  # model.train_model(...), model.train_step(...)
    if type(f) is ast.Attribute and _mine(f.value, key) and f.attr in _ADDS_PARTS and c.args \
            and type(c.args[-1]) in (ast.Name, ast.Attribute, ast.Subscript):
        return True  # `model.add_module(name, layer)` of a pretrained network's layer (not a new `nn.Linear(...)`)
    if any(_mine(a, key) for a in list(c.args) + [k.value for k in c.keywords]):
        q = unit.module.resolve(f)
        if q in K.SAME_MODEL_WRAPPERS or q in K.COPY_FUNCTIONS:
            return False
        if q and takes_sizes(q):
            return False  # `torch.zeros(1, decoder.hidden_size)`: a size read off the model
        if (q or "").startswith("torch.optim.") and type(unit.parents().get(id(c))) is ast.Assign:
            return False  # `opt = Adam(model.parameters())` trains nothing until a backward pass and a step
        if type(f) is ast.Name and f.id in _HARMLESS_CALLS and q is None:
            return False
        return True
    return False


def _kept_elsewhere(project, unit, key: str) -> list:
    """The statements that hand the model out and the functions that may train it."""
    root = key.split(".", 1)[0]
    out = []
    for n in unit.nodes:
        t = type(n)
        if t in (ast.Global, ast.Nonlocal) and root in n.names:
            out.append(n)
        elif t is ast.Assign and any(type(x) in (ast.Attribute, ast.Subscript)
                                     for tg in n.targets for x in _target_parts(tg)):
            # (`sampled, logp = model.translate(x)` unpacks into names: nothing handed out)
            vals = n.value.elts if type(n.value) in (ast.Tuple, ast.List) else [n.value]
            if any(_mine(v, key) for v in vals):
                out.append(n)  # handed out: self.model = model, registry[name] = model
    return out + _named_elsewhere(project, unit, root)


def _target_parts(target: ast.AST) -> list:
    """The targets an assignment target binds, tuples and lists unpacked."""
    if type(target) in (ast.Tuple, ast.List):
        return [x for e in target.elts for x in _target_parts(e)]
    if type(target) is ast.Starred:
        return _target_parts(target.value)
    return [target]


def _named_elsewhere(project, unit, name: str) -> list:
    """The functions nested in this body (or, for top-level code, of the whole module) that
    read ``name``: they may train the model."""
    inner = None if unit.fn is None else unit.fn.qualname + ".<locals>."
    out = []
    for fn in unit.module.all_functions:
        if fn is unit.fn or (inner is not None and not fn.qualname.startswith(inner)):
            continue
        if name in fn.param_names():
            continue
        nodes = project.scope_nodes(fn.node)
        names = [n for n in nodes if type(n) is ast.Name and n.id == name]
        if names and not any(type(n.ctx) is not ast.Load for n in names):
            out.append(fn.node)  # read, never bound there: the outer model
            if unit.fn is not None:
                break  # one is enough where order does not matter
    return out


def untrained_model(project, unit, ev: Event) -> bool:
    """For DG201, in any mode: the model at ``ev.key`` (or the model it is a part of:
    ``net.generator``) is a plain name that the body binds, before the prediction and on
    every path to it, to a construction of its own (``model = Net()``, or a project function
    that only builds one: ``net = densenet_cifar()``), and
    nothing in the body gives it weights — a forward pass of random weights (a script's
    ``__main__`` smoke test, a notebook's "try a forward pass" cell, a model file's
    ``def test(): net = ResNet18(); print(net(x))``) whose graph is worth no finding."""
    key = ev.key.split(".", 1)[0] if ev.key else ""  # a part of that model (`net.generator`) too
    if not key:
        return False
    memo = unit.__dict__.setdefault("_fresh_memo", {})
    if key not in memo:
        bindings = []  # (line, whether a construction of this body's own, its statement)
        parents = unit.parents()
        for targets, value in unit.assigns():
            if any(type(t) is ast.Name and t.id == key for t in targets):
                if project.same_model_source(unit.module, value) == key:
                    continue  # `model = model.cuda()`: the same model, moved
                line = value.lineno if type(value) is ast.Call else None
                built = line is not None and (_built_here(project, unit, line) or _factory_here(project, unit, line))
                bindings.append((value.lineno, built, parents.get(id(value))))
            elif any(key in {n.id for n in ast.walk(t) if type(n) is ast.Name and type(n.ctx) is ast.Store}
                     for t in targets):
                bindings.append((getattr(value, "lineno", 0), False, None))  # unpacked or bound another way
        memo[key] = sorted(bindings, key=lambda b: b[0])
    bindings = memo[key]
    # the binding that reaches the prediction: the last one above it, when it runs before the
    # prediction on every path (an earlier statement of a block that holds the prediction: the
    # module's body, the `if __name__ == "__main__":` block), not one a branch could bypass
    above = [b for b in bindings if b[0] < ev.node.lineno]
    if not above or not above[-1][1] or not _dominates(unit, above[-1][2], ev.node, [b[0] for b in bindings]):
        return False
    built = above[-1][0]
    return not _trained_between(unit, built, ev.node) and not _given_weights(project, unit, ev, key, built)


def demo_callers_only(project, unit, ev: Event) -> bool:
    """For DG201 inside a helper (a model that came in as ``ev.param``, the receiver of a
    model's own method included): every call of the helper that the analysis sees hands it a
    model that the calling body only built (``untrained_model`` there: a model file's
    ``__main__`` self-test of ``net.sample(x)``, a notebook's "try the untrained model"
    cell). Not where something else may call it: a reference to it as a value, a call
    through a receiver the analysis cannot resolve."""
    if not ev.param or unit.fn is None or unit.id in project.value_refs or unit.backward_calls or unit.steps:
        return False  # (a helper that trains gives the model weights itself)
    if unit.cls is not None and unit.fn.name in project.unresolved_calls and project.unresolved_callers(unit) != []:
        return False
    sites = project.call_sites.get(unit.id)
    if not sites:
        return False
    head = ev.param.split(".", 1)[0]
    for caller, c in sites.values():
        arg = dict(project.bind_args(unit, c)).get(head)
        key = path_of(arg) if arg is not None else None
        if not key or _gives_weights(caller, c, key) or not untrained_model(project, caller, Event("helper", c, key=key)):
            return False  # (`model.train_net()`: the call itself may give weights)
    return True
