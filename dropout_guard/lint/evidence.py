"""Name the layer that makes a model of the project mode-dependent, for the DG101/DG102
messages: "`model.encoder.drop` (Dropout) stays active" rather than a generic "dropout and
batch norm". Reads the same facts as ``Project.class_dependent`` (the layers a class's
``__init__`` assigns to ``self``, through ``nn.Sequential``/``ModuleList``/``ModuleDict`` and
the project classes it builds; functional dropout in its methods); None when it finds none
it can name (the finding then speaks of its layers in general).
"""
from __future__ import annotations

import ast
from typing import Iterator, Optional, Set, Tuple

from . import knowledge as K
from .flow import _CONTAINERS, layer_dependent
from .flow.idioms import _local_parts

_NORMS = ("BatchNorm", "SyncBatchNorm", "LazyBatchNorm", "InstanceNorm")


def kind_of(layer: str) -> str:
    """"batch norm", "dropout" or the layer's own name (an RNN's dropout, RReLU)."""
    if layer.startswith(_NORMS):
        return "batch norm"
    if "Dropout" in layer or layer in K.DROPOUT_ARGUMENT_LAYERS or layer.startswith("Transformer"):
        return "dropout"
    return layer


def layers(project, ci, prefix: str, seen: Set[str], depth: int = 0) -> Iterator[Tuple[str, str]]:
    """(attribute path, layer name) for each mode-dependent layer the class visibly holds."""
    if ci.qualname in seen or depth > 6:
        return
    seen.add(ci.qualname)
    for b in ci.bases:
        bc = project.lookup_class(b, ci.module)
        if bc is not None:
            yield from layers(project, bc, prefix, seen, depth + 1)
    for fn in ci.methods.values():
        selfname = (fn.positional_params() or ["self"])[0]
        for n in project.scope_nodes(fn.node):
            if type(n) is ast.Assign and len(n.targets) == 1:
                t = n.targets[0]
                if type(t) is ast.Attribute and type(t.value) is ast.Name and t.value.id == selfname \
                        and not project.never_read(ci, [t.attr]):
                    yield from _in_value(project, ci, n.value, f"{prefix}.{t.attr}", seen, depth, fn)
            elif type(n) is ast.Call:
                q = ci.module.resolve(n.func) or ""
                if q in K.FUNCTIONAL_DROPOUT:
                    yield f"{prefix}.{fn.name}", "F." + q.rsplit(".", 1)[-1]


def _in_value(project, ci, e: ast.AST, path: str, seen: Set[str], depth: int, fn=None) -> Iterator[Tuple[str, str]]:
    if type(e) is ast.Starred:
        e = e.value
    if type(e) is not ast.Call:
        return
    nested = ci.module.local_function(fn, e.func.id) if fn is not None and type(e.func) is ast.Name else None
    if nested is not None:  # `*block(64, 128)`: the layers the helper defined in __init__ returns
        for r in (n.value for n in nested.nodes if type(n) is ast.Return and n.value is not None):
            for part in _local_parts(nested, r.id) if type(r) is ast.Name else [r]:
                for x in part.elts if type(part) in (ast.List, ast.Tuple) else [part]:
                    yield from _in_value(project, ci, x, path, seen, depth)
        return
    q = ci.module.resolve(e.func) or ""
    last = q.rsplit(".", 1)[-1]
    if q.startswith("torch.nn.") and q.count(".") == 2:
        if last in _CONTAINERS:
            spread = any(type(a) is ast.Starred for a in e.args)  # `*block(...)`: positions unknown
            for i, a in enumerate(list(e.args) + [k.value for k in e.keywords]):
                for x in a.elts if type(a) in (ast.List, ast.Tuple) else [a]:
                    yield from _in_value(project, ci, x, path if spread or last == "ModuleDict" else f"{path}[{i}]",
                                         seen, depth, fn)
        elif last in K.MODE_DEPENDENT_LAYERS and layer_dependent(last, e):
            yield path, last
        return
    if q and (K.builds_library_model(q) or K.loads_hugging_face_model(q)):
        yield path, q  # a library model with dropout or batch norm: `model.net` (timm.create_model)
        return
    sub = project.lookup_class(q, ci.module) if q else None
    if sub is not None and project.is_torch_module(sub):
        yield from layers(project, sub, path, seen, depth + 1)


_EFFECT = {"dropout": "stays active", "batch norm": "normalises with each batch's statistics"}
_EFFECT_EVAL = {"dropout": "stays off", "batch norm": "uses frozen statistics"}


def describe_layers(project, ev, training: bool = True) -> Optional[str]:
    """"`model.encoder.drop` (Dropout) stays active", and the first batch norm's effect when
    there is one too; None when no layer can be named. ``training``: the model wrongly in
    training mode (DG101), else wrongly in eval mode (DG102)."""
    if not ev.cls or not ev.key:
        return None
    ci = project.class_by_qualname(ev.cls)
    if ci is None:
        return None
    first = {}
    for path, layer in layers(project, ci, ev.key, set()):
        first.setdefault(kind_of(layer), (path, layer))
        if len(first) >= 2:
            break
    if not first:
        return None
    effects = _EFFECT if training else _EFFECT_EVAL
    default = "runs in its training behaviour" if training else "runs in its eval behaviour"
    return " and ".join(f"`{p}` ({layer}{' dropout' if layer in K.DROPOUT_ARGUMENT_LAYERS else ''}) "
                        f"{effects.get(kind, default)}" for kind, (p, layer) in first.items())


__all__ = ["describe_layers", "kind_of", "layers"]
