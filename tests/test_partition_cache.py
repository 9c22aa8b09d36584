"""The run's partition into independent parts, and the findings cache."""
from __future__ import annotations

import json

from dropout_guard.lint.cache import FindingsCache, digest, part_key
from dropout_guard.lint.findings import Edit, Finding, Fix
from dropout_guard.lint.partition import Entry, identifiers, import_names, partition, relevant, top_name


def _entry(name: str, src: str) -> Entry:
    return Entry(name, src.encode(), import_names(name.removesuffix(".py").replace("/", ".")))


def test_files_that_import_each_other_share_a_part():
    files = [
        _entry("train.py", "from engine import fit\nimport torch\n"),
        _entry("engine.py", "def fit(model):\n    model.train()\n"),
        _entry("tools/report.py", "print('hello')\n"),
        _entry("app.py", "from pkg.registry import load\n"),
        _entry("pkg/registry.py", "def load():\n    pass\n"),
    ]
    parts = [[e.key for e in p] for p in partition(files)]
    assert parts == [["train.py", "engine.py"], ["tools/report.py"], ["app.py", "pkg/registry.py"]]


def test_a_part_without_triggers_is_not_relevant():
    triggers = frozenset({"torch", "eval"})
    (torch_part, plain) = partition([_entry("a.py", "import torch\n"), _entry("b.py", "x = 1\n")])
    assert relevant(torch_part, triggers) and not relevant(plain, triggers)
    assert relevant(plain, None)


def test_identifiers_inside_words_do_not_link_files():
    parts = partition([_entry("a.py", "mode = 1\n"), _entry("model.py", "x = 2\n")])
    assert len(parts) == 2


def test_part_key_depends_on_content_names_and_settings():
    files = [("a.py", "a", digest(b"x = 1\n"))]
    assert part_key(files, "f") == part_key(list(files), "f")
    assert part_key(files, "f") != part_key(files, "g")
    assert part_key(files, "f") != part_key([("a.py", "a", digest(b"x = 2\n"))], "f")
    assert part_key(files, "f") != part_key([("b.py", "a", digest(b"x = 1\n"))], "f")


def test_cache_round_trip_and_corruption(tmp_path):
    cache = FindingsCache(tmp_path / ".dropout_guard_cache")
    f = Finding("DG103", "mode-method-not-called", "m", "a.py", 3, 1, 3, 8,
                Fix("unsafe", "call it", (Edit("()", 3, 8, 3, 8),)), None, "/x/a.py")
    assert cache.get("k") is None
    cache.put("k", [f])
    (got,) = cache.get("k")
    assert got == f and got.fix.edits[0].content == "()" and got.abspath == "/x/a.py"
    assert (tmp_path / ".dropout_guard_cache" / ".gitignore").read_text().strip().endswith("*")
    entry = next((tmp_path / ".dropout_guard_cache").rglob("k.json"))
    entry.write_text("{not json")
    assert cache.get("k") is None  # a damaged entry is a miss, never an error


def test_disabled_cache_stores_nothing(tmp_path):
    cache = FindingsCache(None)
    cache.put("k", [])
    assert cache.get("k") is None and not any(tmp_path.iterdir())


def _pkg_entry(path: str, src: str) -> Entry:
    modname = path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    return Entry(path, src.encode(), import_names(modname), top=top_name(modname))


def test_a_name_spelled_in_another_package_does_not_link_it():
    """Relative imports stay in their package; an absolute one spells the package's name."""
    files = [
        _pkg_entry("vision/models.py", "from .utils import load\n"),
        _pkg_entry("vision/utils.py", "def load():\n    pass\n"),
        _pkg_entry("text/utils.py", "def tokenize():\n    pass\n"),
        _pkg_entry("text/train.py", "from . import utils\n"),
        _pkg_entry("app.py", "import text.utils\n"),
    ]
    parts = [[e.key for e in p] for p in partition(files)]
    assert parts == [["vision/models.py", "vision/utils.py"], ["text/utils.py", "text/train.py", "app.py"]]


def test_only_an_import_statement_links_another_package():
    """A variable called ``examples`` is no import of the folder ``examples/``; an import
    statement naming it is, wherever the statement stands."""
    provider = ("examples/data.py", "def load():\n    pass\n")
    cases = {
        "app/prose.py": ('"""Adapted from examples.data"""\nexamples = data = 1\n', False),
        "app/plain.py": ("import examples.data\n", True),
        "app/from_.py": ("from examples import data\n", True),
        "app/guarded.py": ("import typing\nif typing.TYPE_CHECKING: import examples.data as data\n", True),
        "app/semi.py": ("import os; from examples.data import load\n", True),
        "app/continued.py": ("from \\\n    examples import data\n", True),
        "app/crlf.py": ("x = 1\r\nfrom examples import data\r\n", True),
        "app/bom.py": ("\ufefffrom examples import data\n", True),
    }
    for path, (src, linked) in cases.items():
        parts = partition([_pkg_entry(*provider), _pkg_entry(path, src)])
        assert (len(parts) == 1) == linked, path


def test_a_root_module_imports_its_neighbours_relatively():
    """In a root module, ``from . import data`` and ``from .pkg import f`` reach other top-level
    names, through the names after ``import`` and the module after the dots."""
    for src, linked in [("from . import (\n    data,\n)\n", True), ("from .data import load\n", True),
                        ("print(data)\n", False)]:
        parts = partition([_pkg_entry("data.py", "def load():\n    pass\n"), _pkg_entry("script.py", src)])
        assert (len(parts) == 1) == linked, src


def test_a_notebook_is_read_as_its_code_cells():
    """A notebook's cell source may be one JSON string: ``\\n`` escapes must not glue the name
    that starts a line to an ``n`` (``\\nmodels`` is not ``nmodels``)."""
    cell = {"cell_type": "code", "source": "import torch\nfrom helpers import (\nmodels)\nmodels.make()\n",
            "metadata": {}, "outputs": [], "execution_count": None}
    nb = json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()
    helper = _pkg_entry("helpers/models.py", "def make():\n    pass\n")
    as_json = Entry("demo.ipynb", nb, import_names("demo-ipynb"), top="demo-ipynb")
    assert len(partition([helper, as_json])) == 2  # what reading the raw JSON gets wrong
    notebook = Entry("demo.ipynb", nb, import_names("demo-ipynb"), top="demo-ipynb", notebook=True)
    assert len(partition([helper, notebook])) == 1
    broken = Entry("bad.ipynb", b"{not json helpers models", import_names("bad-ipynb"), top="bad-ipynb",
                   notebook=True)
    assert "models" in broken.identifiers()  # not a notebook after all: its bytes as they are


def test_names_with_non_ascii_letters_are_names():
    files = [_pkg_entry("café.py", "def f():\n    pass\n"), _pkg_entry("main.py", "import café\ncafé.f()\n")]
    assert len(partition(files)) == 1
    assert {"ﬁle", "file"} <= identifiers("x = ﬁle\n".encode())  # Python reads ``ﬁle`` as ``file``
