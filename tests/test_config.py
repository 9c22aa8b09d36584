"""Configuration discovery, validation and rule selection (dropout_guard.lint.config)."""
from __future__ import annotations

import pytest

from dropout_guard.lint.api import check
from dropout_guard.lint.config import ConfigError, find_config, load_settings, resolve_codes
from dropout_guard.lint.knowledge import DEFAULT_KNOWLEDGE


def write(path, text=""):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def codes(tmp_path, table="", **kw):
    if table:
        write(tmp_path / "pyproject.toml", "[tool.dropout-guard]\n" + table)
    return load_settings(["."], cwd=tmp_path, **kw).enabled_codes()


# -- discovery ---------------------------------------------------------------------------------
def test_nearest_pyproject_with_section_wins(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.dropout-guard]\nignore = ["DG000"]\n')
    write(tmp_path / "sub" / "pyproject.toml", '[project]\nname = "x"\n')  # no section: skipped
    write(tmp_path / "sub" / "deeper" / "m.py")
    assert find_config(tmp_path / "sub" / "deeper") == tmp_path / "pyproject.toml"
    settings = load_settings(["sub/deeper"], cwd=tmp_path)
    assert settings.config_path == str(tmp_path / "pyproject.toml")
    assert settings.root == str(tmp_path)


def test_dedicated_files_take_precedence_in_the_same_folder(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.dropout-guard]\nselect = ["DG0"]\n')
    assert find_config(tmp_path) == tmp_path / "pyproject.toml"
    write(tmp_path / "dropout-guard.toml", 'select = ["DG000"]\n')
    assert find_config(tmp_path) == tmp_path / "dropout-guard.toml"
    write(tmp_path / ".dropout-guard.toml", 'select = ["DG000"]\n')
    assert find_config(tmp_path) == tmp_path / ".dropout-guard.toml"


def test_discovery_starts_at_the_common_folder_of_the_paths(tmp_path):
    write(tmp_path / "a" / "pyproject.toml", '[tool.dropout-guard]\nextend-exclude = ["x"]\n')
    write(tmp_path / "a" / "m.py")
    write(tmp_path / "b" / "m.py")
    assert load_settings(["a/m.py"], cwd=tmp_path).config_path == str(tmp_path / "a" / "pyproject.toml")
    assert load_settings(["a", "b"], cwd=tmp_path).config_path != str(tmp_path / "a" / "pyproject.toml")


def test_explicit_config_and_isolated(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.dropout-guard]\nignore = ["DG000"]\n')
    other = write(tmp_path / "conf" / "custom.toml", 'extend-exclude = ["gen"]\n')
    s = load_settings(["."], cwd=tmp_path, config="conf/custom.toml")
    assert s.config_path == str(other) and s.extend_exclude == ("gen",) and s.root == str(tmp_path / "conf")
    assert "DG000" in s.enabled_codes()
    assert load_settings(["."], cwd=tmp_path, isolated=True).config_path is None


def test_missing_explicit_config_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="nope.toml: configuration file not found"):
        load_settings(["."], cwd=tmp_path, config="nope.toml")


# -- validation --------------------------------------------------------------------------------
@pytest.mark.parametrize("table, message", [
    ('selct = ["DG1"]\n', r"pyproject.toml: tool.dropout-guard.selct: unknown key"),
    ('extend_select = ["DG000"]\n', r"extend_select: unknown key \(did you mean 'extend-select'\?\)"),
    ('select = "DG000"\n', r"tool.dropout-guard.select: expected a list of strings, got a string"),
    ('ignore = ["DG9999"]\n', r"tool.dropout-guard.ignore: unknown rule code or prefix 'DG9999'"),
    ('select = ["XYZ1"]\n', r"unknown rule code or prefix 'XYZ1'"),
    ('select = ["D"]\n', r"unknown rule code or prefix 'D'"),
    ('select = [""]\n', r"empty rule code"),
    ('per-file-ignores = ["x"]\n', r"per-file-ignores: expected a table"),
    ('per-file-ignores = {"tests/*" = ["NOPE1"]}\n', r"per-file-ignores.'tests/\*': unknown rule code"),
    ('per-file-ignores = {"x.py" = "DG000"}\n', r"per-file-ignores.x.py: expected a list of strings"),
    ('exclude = [1]\n', r"exclude: expected a list of strings"),
    ('force-exclude = "yes"\n', r"force-exclude: expected true or false, got a string"),
    ('eval-model-factories = ["not a name"]\n', r"eval-model-factories: 'not a name' is not a qualified name"),
    ('no-grad-decorators = "pkg.deco"\n', r"no-grad-decorators: expected a list of strings"),
])
def test_bad_values_raise_one_line_naming_file_and_key(tmp_path, table, message):
    write(tmp_path / "pyproject.toml", "[tool.dropout-guard]\n" + table)
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(["."], cwd=tmp_path)
    assert "\n" not in str(info.value)


def test_invalid_toml_and_bad_section_type(tmp_path):
    write(tmp_path / "pyproject.toml", "[tool.dropout-guard]\nselect = [\n")
    with pytest.raises(ConfigError, match=r"pyproject.toml: invalid TOML"):
        load_settings(["."], cwd=tmp_path)
    write(tmp_path / "pyproject.toml", '[tool]\ndropout-guard = 3\n')
    with pytest.raises(ConfigError, match=r"tool.dropout-guard: expected a table"):
        load_settings(["."], cwd=tmp_path, config="pyproject.toml")


def test_dedicated_file_keys_have_no_tool_prefix(tmp_path):
    write(tmp_path / "dropout-guard.toml", 'bogus = 1\n')
    with pytest.raises(ConfigError, match=r"^dropout-guard.toml: bogus: unknown key$"):
        load_settings(["."], cwd=tmp_path)


def test_command_line_codes_are_validated(tmp_path):
    with pytest.raises(ConfigError, match=r"^--select: unknown rule code or prefix 'NOPE'"):
        load_settings(["."], cwd=tmp_path, select="NOPE")
    with pytest.raises(ConfigError, match=r"^--ignore: unknown rule code or prefix 'DG0000'"):
        load_settings(["."], cwd=tmp_path, ignore=["DG000", "DG0000"])


def test_knowledge_extensions(tmp_path):
    write(tmp_path / "pyproject.toml", "[tool.dropout-guard]\n"
          'eval-model-factories = ["mypkg.registry.load_model"]\n'
          'no-grad-decorators = ["mypkg.utils.inference"]\n'
          'inference-functions = ["serve.predict", "serve.Handler.handle"]\n')
    k = load_settings(["."], cwd=tmp_path).knowledge
    assert "mypkg.registry.load_model" in k.eval_factories
    assert "mypkg.utils.inference" in k.no_grad_decorators
    assert {"serve.predict", "serve.Handler.handle"} <= k.inference_functions
    assert DEFAULT_KNOWLEDGE.eval_factories <= k.eval_factories


def test_knowledge_reaches_the_analysis(tmp_path, monkeypatch):
    from dropout_guard.lint import api

    write(tmp_path / "pyproject.toml", '[tool.dropout-guard]\ninference-functions = ["app.serve"]\n')
    write(tmp_path / "app.py", "def serve():\n    pass\n")
    seen = []
    monkeypatch.setattr(api, "analyze", lambda files, knowledge, codes=None, **_: seen.append(knowledge) or [])
    check(["."], cwd=tmp_path)
    assert "app.serve" in seen[0].inference_functions


# -- selection ---------------------------------------------------------------------------------
def test_default_selection_skips_opt_in_rules(tmp_path, fake_rules):
    enabled = codes(tmp_path)
    assert "DG990" in enabled and "DG991" not in enabled and "DG000" in enabled


def test_opt_in_rule_needs_its_exact_code(tmp_path, fake_rules):
    assert "DG991" not in codes(tmp_path, select="ALL")
    assert "DG991" not in codes(tmp_path, select="DG9")
    assert "DG991" in codes(tmp_path, extend_select="DG991")
    assert "DG991" in codes(tmp_path, select="dg991")  # case-insensitive


def test_select_prefix_ignore_and_specificity(tmp_path, fake_rules):
    assert codes(tmp_path, select="DG99") == {"DG990"}
    assert "DG990" not in codes(tmp_path, ignore="DG9")
    # a more specific select beats a less specific ignore, in one layer
    assert codes(tmp_path, 'select = ["DG990"]\nignore = ["DG"]\n') == {"DG990"}
    # the same code selected and ignored: ignore wins
    assert codes(tmp_path, 'select = ["DG990", "DG000"]\nignore = ["DG990"]\n') == {"DG000"}


def test_command_line_layer_overrides_the_file(tmp_path, fake_rules):
    table = 'select = ["DG990"]\n'
    assert codes(tmp_path, table) == {"DG990"}
    assert codes(tmp_path, table, select="DG000") == {"DG000"}  # --select replaces
    assert codes(tmp_path, table, extend_select="DG000") == {"DG000", "DG990"}
    assert codes(tmp_path, table, ignore="DG") == set()  # --ignore applies on top
    write(tmp_path / "pyproject.toml", '[tool.dropout-guard]\nignore = ["DG990"]\n')
    assert "DG990" in load_settings(["."], cwd=tmp_path, select="ALL").enabled_codes()


def test_resolve_codes_reads_the_registry_at_call_time(fake_rules):
    assert "DG990" in resolve_codes(())


def test_per_file_ignores(tmp_path, monkeypatch, fake_rules):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "pyproject.toml", "[tool.dropout-guard]\n[tool.dropout-guard.per-file-ignores]\n"
          '"tests/**" = ["DG990"]\n"__init__.py" = ["DG9"]\n"!src/**" = ["DG000"]\n')
    src = "boom()\n"
    write(tmp_path / "tests" / "test_a.py", src)
    write(tmp_path / "pkg" / "__init__.py", src)
    write(tmp_path / "pkg" / "mod.py", src)
    write(tmp_path / "src" / "broken.py", "def f(:\n")
    write(tmp_path / "other" / "broken.py", "def f(:\n")
    result = check(["."])
    assert sorted((f.path, f.code) for f in result.findings) == [("pkg/mod.py", "DG990"),
                                                                 ("src/broken.py", "DG000")]
    assert result.suppressed == 3


def test_per_file_ignores_folder_pattern_and_all(tmp_path, monkeypatch, fake_rules):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "pyproject.toml", '[tool.dropout-guard.per-file-ignores]\n"legacy" = ["ALL"]\n')
    write(tmp_path / "legacy" / "deep" / "m.py", "boom()\n")
    write(tmp_path / "m.py", "boom()\n")
    assert [f.path for f in check(["."]).findings] == ["m.py"]


# -- did you mean, extend, cache-dir -----------------------------------------------------------
@pytest.mark.parametrize("key, hint", [
    ("selct", "select"),
    ("extend-selct", "extend-select"),
    ("per_file_ignores", "per-file-ignores"),
    ("respect-gitignor", "respect-gitignore"),
    ("Exclude", "exclude"),
])
def test_unknown_key_suggests_the_closest_one(tmp_path, key, hint):
    write(tmp_path / "pyproject.toml", f'[tool.dropout-guard]\n{key} = []\n')
    with pytest.raises(ConfigError, match=rf"^pyproject.toml: tool.dropout-guard.{key}: unknown key "
                                          rf"\(did you mean '{hint}'\?\)$"):
        load_settings(["."], cwd=tmp_path)


def test_unknown_key_far_from_every_key_has_no_suggestion(tmp_path):
    write(tmp_path / "dropout-guard.toml", 'line-length = 88\n')
    with pytest.raises(ConfigError, match=r"^dropout-guard.toml: line-length: unknown key$"):
        load_settings(["."], cwd=tmp_path)


def test_extend_reads_the_base_then_overrides_it(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.dropout-guard]\nignore = ["DG103"]\nexclude = ["a"]\n'
                                       'extend-exclude = ["b"]\nforce-exclude = true\n'
                                       'eval-model-factories = ["base.load"]\n')
    write(tmp_path / "sub" / "pyproject.toml", '[tool.dropout-guard]\nextend = "../pyproject.toml"\n'
                                               'extend-select = ["DG001"]\nextend-exclude = ["c"]\n'
                                               'force-exclude = false\n')
    write(tmp_path / "sub" / "m.py")
    settings = load_settings(["sub"], cwd=tmp_path)
    assert settings.config_path == str(tmp_path / "sub" / "pyproject.toml")
    assert settings.root == str(tmp_path / "sub")
    assert settings.extended == (str(tmp_path / "pyproject.toml"),)
    enabled = settings.enabled_codes()
    assert "DG103" not in enabled and "DG001" in enabled and "DG101" in enabled
    assert settings.exclude == ("a",)  # the base's, not overridden
    assert settings.extend_exclude == ("b", "c")  # added up
    assert settings.force_exclude is False  # the extending file wins
    assert settings.knowledge.eval_factories == frozenset({"base.load"})


def test_extend_select_in_the_child_replaces_the_base_selection(tmp_path):
    write(tmp_path / "base.toml", 'select = ["DG2"]\n')
    write(tmp_path / "dropout-guard.toml", 'extend = "base.toml"\nselect = ["DG1"]\n')
    enabled = load_settings(["."], cwd=tmp_path).enabled_codes()
    assert enabled and all(c.startswith("DG1") for c in enabled)


def test_extend_chain_and_cycle(tmp_path):
    write(tmp_path / "a.toml", 'ignore = ["DG101"]\n')
    write(tmp_path / "b.toml", 'extend = "a.toml"\nignore = ["DG102"]\n')
    write(tmp_path / "dropout-guard.toml", 'extend = "b.toml"\n')
    enabled = load_settings(["."], cwd=tmp_path).enabled_codes()
    assert "DG101" not in enabled and "DG102" not in enabled and "DG103" in enabled
    write(tmp_path / "a.toml", 'extend = "dropout-guard.toml"\n')
    with pytest.raises(ConfigError, match=r"^dropout-guard.toml: circular `extend` of configuration files: "
                                          r"dropout-guard.toml -> b.toml -> a.toml -> dropout-guard.toml$"):
        load_settings(["."], cwd=tmp_path)


def test_extend_errors_name_the_file(tmp_path):
    write(tmp_path / "dropout-guard.toml", 'extend = "missing.toml"\n')
    with pytest.raises(ConfigError, match=r"^dropout-guard.toml: extend: configuration file not found: missing.toml$"):
        load_settings(["."], cwd=tmp_path)
    write(tmp_path / "dropout-guard.toml", 'extend = 3\n')
    with pytest.raises(ConfigError, match=r"^dropout-guard.toml: extend: expected a path, got an integer$"):
        load_settings(["."], cwd=tmp_path)
    write(tmp_path / "base.toml", 'ignre = []\n')
    write(tmp_path / "dropout-guard.toml", 'extend = "base.toml"\n')
    with pytest.raises(ConfigError, match=r"^base.toml: ignre: unknown key \(did you mean 'ignore'\?\)$"):
        load_settings(["."], cwd=tmp_path)


def test_cache_dir_setting_and_override(tmp_path):
    write(tmp_path / "sub" / "base.toml", 'cache-dir = "cache-here"\n')
    write(tmp_path / "dropout-guard.toml", 'extend = "sub/base.toml"\n')
    assert load_settings(["."], cwd=tmp_path).cache_dir == str(tmp_path / "sub" / "cache-here")  # its file's folder
    write(tmp_path / "dropout-guard.toml", 'cache-dir = "c"\n')
    assert load_settings(["."], cwd=tmp_path).cache_dir == str(tmp_path / "c")
    assert load_settings(["."], cwd=tmp_path, cache_dir="elsewhere").cache_dir == str(tmp_path / "elsewhere")
    write(tmp_path / "dropout-guard.toml", 'cache-dir = 1\n')
    with pytest.raises(ConfigError, match=r"^dropout-guard.toml: cache-dir: expected a path, got an integer$"):
        load_settings(["."], cwd=tmp_path)


def test_cache_dir_is_where_check_writes_its_cache(tmp_path):
    write(tmp_path / "dropout-guard.toml", 'cache-dir = "my-cache"\n')
    write(tmp_path / "m.py", "x = 1\n")
    check(["."], cwd=tmp_path, cache=True)
    assert (tmp_path / "my-cache" / "CACHEDIR.TAG").is_file()
    assert not (tmp_path / ".dropout_guard_cache").exists()


def test_extend_globs_of_the_base_are_relative_to_its_folder(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.dropout-guard]\nextend-exclude = ["pkg/legacy", "other/x", "*_pb2.py"]\n'
                                       '[tool.dropout-guard.per-file-ignores]\n"pkg/tests/*" = ["DG2"]\n'
                                       '"docs/*" = ["DG1"]\n')
    write(tmp_path / "pkg" / "pyproject.toml", '[tool.dropout-guard]\nextend = "../pyproject.toml"\n'
                                               'extend-exclude = ["gen"]\n')
    write(tmp_path / "pkg" / "m.py")
    settings = load_settings(["pkg"], cwd=tmp_path)
    assert settings.extend_exclude == ("/legacy", "*_pb2.py", "gen")  # other/x cannot match under pkg/
    assert [(e.pattern, e.codes) for e in settings.per_file_ignores] == [("tests/*", ("DG2",))]
    bad = "import torch\n\ntorch.no_grad()\n"
    write(tmp_path / "pkg" / "legacy" / "a.py", bad)
    write(tmp_path / "pkg" / "tests" / "t.py", bad)
    write(tmp_path / "pkg" / "b.py", bad)
    found = check(["pkg"], cwd=tmp_path).findings
    assert [f.path for f in found] == ["pkg/b.py"]


@pytest.mark.parametrize("glob, base, root, expected", [
    ("legacy", "/p", "/p/s", "legacy"),
    ("s/legacy/", "/p", "/p/s", "/legacy/"),
    ("!s/x/**", "/p", "/p/s", "!x/**"),
    ("s*/a/b", "/p", "/p/s", "a/b"),
    ("t/x", "/p", "/p/s", None),
    ("**/gen", "/p", "/p/s", "**/gen"),
    ("tests/**", "/p/s", "/p", "s/tests/**"),
    ("x/y", "/p/a", "/p/b", None),
    ("s", "/p", "/p/s", "s"),
])
def test_rebase_glob(glob, base, root, expected):
    from dropout_guard.lint.config import rebase_glob

    assert rebase_glob(glob, base, root) == expected
