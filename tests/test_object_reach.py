"""Which modules' objects may meet: a method call through a receiver the analysis cannot
resolve may run a method of a class only where some module is, or imports, both the caller's
module and the class's (``ScopesMixin.may_meet``). Two scripts of a collection that nothing
imports together share no object, though one run analyses them together."""
from __future__ import annotations

import ast

from dropout_guard.lint.flow import Project
from dropout_guard.lint.knowledge import DEFAULT_KNOWLEDGE
from dropout_guard.lint.semantic import ModuleInfo


def _project(sources):
    modules = {}
    for name, src in sources.items():
        is_package = name.endswith(".__init__")
        modname = name[: -len(".__init__")] if is_package else name
        modules[name] = ModuleInfo(ast.parse(src), modname, f"{name.replace('.', '/')}.py", is_package)
    return Project([], modules, DEFAULT_KNOWLEDGE), {m.modname: m for m in modules.values()}


def test_scripts_nothing_imports_together_do_not_meet():
    p, m = _project({"gan": "class G:\n    def sample(self): ...\n", "rl": "def fit(dist):\n    dist.sample()\n"})
    assert not p.may_meet(m["rl"], m["gan"])
    assert p.may_meet(m["rl"], m["rl"])


def test_a_module_importing_both_lets_their_objects_meet():
    p, m = _project({"model": "class Net:\n    pass\n", "engine": "def fit(net):\n    net.step()\n",
                     "train": "from model import Net\nfrom engine import fit\nfit(Net())\n"})
    assert p.may_meet(m["engine"], m["model"]) and p.may_meet(m["model"], m["engine"])


def test_importers_are_transitive_and_a_package_import_reaches_its_modules():
    p, m = _project({"pkg.__init__": "", "pkg.nets": "class Net:\n    pass\n",
                     "loop": "def run(obj):\n    obj.go()\n", "wiring": "import pkg\nimport loop\n",
                     "main": "import wiring\n"})
    assert p.may_meet(m["loop"], m["pkg.nets"])  # `wiring` imports the package and the loop
    p2, m2 = _project({"a": "import b\n", "b": "x = 1\n", "c": "y = 2\n"})
    assert p2.may_meet(m2["a"], m2["b"]) and not p2.may_meet(m2["a"], m2["c"])


def _method(p, qualname, name):
    ci = p.class_by_qualname(qualname)
    return p.method_unit(ci, name)


def test_a_class_built_by_name_reaches_only_modules_that_meet_its_own():
    p, m = _project({"sac": "class Policy:\n    def act(self, s): ...\n\np = Policy()\n",
                     "rainbow": "def run(agent):\n    agent.act(1)\n"})
    assert not p.may_run_on(m["rainbow"], _method(p, "sac.Policy", "act"))
    assert p.may_run_on(m["sac"], _method(p, "sac.Policy", "act"))


def test_a_class_never_built_by_name_may_reach_any_module():
    # hydra's `instantiate(cfg.agent)`: no call names the class, so nothing bounds where it goes
    p, m = _project({"agent": "class Agent:\n    def act(self, obs): ...\n",
                     "train": "import hydra\ndef run(cfg):\n    a = hydra.utils.instantiate(cfg.agent)\n    a.act(1)\n"})
    assert p.may_run_on(m["train"], _method(p, "agent.Agent", "act"))
    # a subclass built by name does not bound the base class it inherits the method from when
    # the base class itself is never built by name
    p2, m2 = _project({"base": "class Base:\n    def act(self, s): ...\n",
                       "impl": "from base import Base\nclass Impl(Base):\n    pass\nx = Impl()\n",
                       "other": "def run(a):\n    a.act(1)\n"})
    assert p2.may_run_on(m2["other"], _method(p2, "base.Base", "act"))
