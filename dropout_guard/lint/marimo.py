"""marimo notebooks saved as ``.py``: their cells as one program.

A marimo app (``app = marimo.App()``) keeps each cell in a function decorated ``@app.cell``
whose parameters are the names it reads from other cells and whose ``return`` hands its
own names on. marimo runs the cells as one program, in dependency order, which the file
keeps. The analysis reads it the same way as a Jupyter notebook: each cell's statements at
the top level (their lines unchanged), the cell's closing ``return`` left out, so a class
defined in one cell and the model built in another are one module's names. Functions
marked ``@app.function`` and the ``with app.setup:`` block are kept as they are written
(the block's statements at the top level).
"""
from __future__ import annotations

import ast
from typing import List, Set


def flatten_cells(tree: ast.Module) -> ast.Module:
    """``tree`` with each ``@app.cell`` function of a marimo app replaced by its body; any
    other module is returned unchanged."""
    apps = _app_names(tree)
    if not apps:
        return tree
    body: List[ast.stmt] = []
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and _is_cell(stmt, apps):
            body.extend(s for s in stmt.body if not isinstance(s, ast.Return))
        elif isinstance(stmt, ast.With) and any(_is_setup(i.context_expr, apps) for i in stmt.items):
            body.extend(stmt.body)
        else:
            body.append(stmt)
    tree.body = body
    return tree


def _app_names(tree: ast.Module) -> Set[str]:
    """The names bound at the top level to ``marimo.App(...)``."""
    marimo_names = {a.asname or a.name for s in tree.body if isinstance(s, ast.Import) for a in s.names
                    if a.name == "marimo"}
    app_classes = {a.asname or a.name for s in tree.body if isinstance(s, ast.ImportFrom) and s.module == "marimo"
                   for a in s.names if a.name == "App"}
    out: Set[str] = set()
    for s in tree.body:
        if isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name) \
                and isinstance(s.value, ast.Call):
            f = s.value.func
            if (isinstance(f, ast.Attribute) and f.attr == "App" and isinstance(f.value, ast.Name)
                    and f.value.id in marimo_names) or (isinstance(f, ast.Name) and f.id in app_classes):
                out.add(s.targets[0].id)
    return out


def _is_cell(fn: ast.AST, apps: Set[str]) -> bool:
    return any(_app_attr(d, apps, "cell") for d in fn.decorator_list)  # type: ignore[attr-defined]


def _is_setup(e: ast.AST, apps: Set[str]) -> bool:
    return _app_attr(e, apps, "setup")


def _app_attr(e: ast.AST, apps: Set[str], attr: str) -> bool:
    """``e`` is ``app.<attr>`` or ``app.<attr>(...)`` for an app of ``apps``."""
    target = e.func if isinstance(e, ast.Call) else e
    return isinstance(target, ast.Attribute) and target.attr == attr and isinstance(target.value, ast.Name) \
        and target.value.id in apps
