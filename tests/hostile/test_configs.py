"""Broken config.yaml files (#11.1): each is an entry in ``registry.errors`` naming the problem,
found when the registry loads; every good model is still listed."""

from __future__ import annotations

import json
import sys
import types

import pytest

from bayes_core.registry import ModelRegistry
from tests.hostile.conftest import BROKEN, GOOD_MODELS, NB_CONFIG

NB_CLASS = "bayes_core.models.hierarchical_negbinom:HierarchicalNegBinomModel"


def nb(old: str, new: str) -> bytes:
    """The NB config with one edit (the edit must apply: a typo here would test nothing)."""
    assert old in NB_CONFIG, old
    return NB_CONFIG.replace(old, new, 1).encode()


def with_class(spec: str) -> bytes:
    return nb(f"model_class: {NB_CLASS}", f"model_class: {spec}")


BILLION_LAUGHS = "\n".join(
    ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]).encode()

# (id, file content, text the broken-config message must contain)
CASES = [
    ("latin1_bytes", nb("name: ", "name: Caf\xe9 ").decode().encode("latin-1", errors="replace"),
     "not UTF-8 text: byte 0xe9"),
    ("invalid_utf8", NB_CONFIG.encode() + b"\ndescription: \xff\xfe\n", "not UTF-8 text: byte 0xff"),
    ("utf16_file", NB_CONFIG.encode("utf-16"), "not UTF-8 text"),
    ("deep_flow_list", ("tags: " + "[" * 5000 + "]" * 5000).encode(), "nested more than 32 levels deep"),
    ("deep_flow_map", ("tags: " + "{a: " * 5000 + "1" + "}" * 5000).encode(), "nested more than 32 levels deep"),
    ("deep_block_map", "".join(" " * i + "k:\n" for i in range(300)).encode(), "nested more than 32 levels deep"),
    ("duplicate_top_key", (NB_CONFIG + "\nversion: 9.9.9\n").encode(), "duplicate key 'version' (first at line"),
    ("duplicate_prior", nb("  mu_rate: 0.1", "  mu_rate: 0.1\n  mu_rate: 5"), "duplicate key 'mu_rate'"),
    ("duplicate_in_list_item", nb("    type: integer", "    type: integer\n    type: float"), "duplicate key 'type'"),
    ("duplicate_training_key", nb("training:\n", "training:\n  chains: 2\n"), "duplicate key 'chains'"),
    ("billion_laughs", BILLION_LAUGHS, "YAML aliases (*a) are not allowed"),
    ("alias_reuse", nb("tags: [", "x: &t [1]\ny: *t\ntags: ["), "YAML aliases (*t) are not allowed"),
    ("merge_key", b"base: &b {name: x}\nother:\n  <<: *b\n", "YAML aliases (*b) are not allowed"),
    ("over_a_megabyte", NB_CONFIG.encode() + b"\n#" + b"x" * 1_000_000, "a model config may be at most 1,000,000 bytes"),
    ("huge_string", nb("author: ", "author: " + "A" * 1_100_000 + " "), "may be at most 1,000,000 bytes"),
    ("abstract_base_class", with_class("bayes_core.models.hierarchical_negbinom:BaseBayesianModel"),
     "BaseBayesianModel does not implement data_schema, example_data, build_model, predict_rows"),
    ("abstract_shared_base", with_class("bayes_core.models.sharpe:_SharpeBase"),
     "_SharpeBase does not implement data_schema, example_data, build_model, predict_rows"),
    ("not_a_model_class", with_class("bayes_core.models.hierarchical_negbinom:SufficientStats"),
     "SufficientStats is not a BaseBayesianModel"),
    ("missing_module", with_class("bayes_core.models.no_such_module:Model"), "cannot import bayes_core.models.no_such_module"),
    ("class_outside_models", with_class("subprocess:Popen"), "classes outside bayes_core.models are refused"),
    ("prior_nan", nb("mu_rate: 0.1", "mu_rate: .nan"), "priors must be finite numbers: mu_rate = nan"),
    ("prior_inf", nb("mu_rate: 0.1", "mu_rate: .inf"), "priors must be finite numbers: mu_rate = inf"),
    ("prior_minus_inf", nb("phi_sigma: 2.0", "phi_sigma: -.inf"), "priors must be finite numbers: phi_sigma = -inf"),
    ("prior_negative", nb("mu_rate: 0.1", "mu_rate: -0.1"), "priors.mu_rate: must be a finite number > 0 (got -0.1)"),
    ("prior_zero", nb("alpha_sigma: 2.0", "alpha_sigma: 0"), "priors.alpha_sigma: must be a finite number > 0 (got 0.0)"),
    ("prior_text", nb("mu_rate: 0.1", "mu_rate: lots"), "priors.mu_rate: Input should be a valid number"),
    ("prior_list", nb("mu_rate: 0.1", "mu_rate: [1, 2]"), "priors.mu_rate: Input should be a valid number"),
    ("prior_unknown_name", nb("mu_rate: 0.1", "mu_rate: 0.1\n  mu_rat: 0.1"),
     "priors.mu_rat: unknown prior (this model's priors: mu_rate, alpha_sigma, phi_sigma)"),
    ("prior_of_another_model", nb("mu_rate: 0.1", "mu_rate: 0.1\n  lkj_eta: 2.0"), "priors.lkj_eta: unknown prior"),
    ("prior_missing", nb("  phi_sigma: 2.0\n", ""), "priors.phi_sigma: missing: this model needs it (positive prior)"),
    ("priors_of_other_class", with_class("bayes_core.models.player_props:PlayerPropsModel"),
     "priors.mu_rate: unknown prior"),
    ("empty_file", b"", "the file must hold a mapping of keys"),
    ("top_level_list", b"- name: x\n- version: 1\n", "the file must hold a mapping of keys"),
    ("top_level_scalar", b"just text\n", "the file must hold a mapping of keys"),
    ("tab_indentation", b"name: x\npriors:\n\tmu_rate: 1\n", "found character '\\t' that cannot start any token"),
    ("unclosed_quote", b"name: \"x\nversion: 1\n", "cannot read YAML: line"),
    ("control_characters", b"name: a\x00b\n", "cannot read YAML"),
    ("integer_keys", b"1: x\n2: y\n", "keys must be names, not 1, 2"),
    ("unhashable_key", b"? [a, b]\n: 1\n", "found unhashable key"),
    ("reserved_key", (NB_CONFIG + "\nmodel_id: other\n").encode(), "model_id: set by the registry"),
    ("huge_integer_setting", nb("  chains: 4", "  chains: " + "9" * 500), "training.chains"),
    ("nan_target_accept", nb("  target_accept: 0.9", "  target_accept: .nan"), "training.target_accept"),
]


def broken_messages(root) -> list[str]:
    reg = ModelRegistry(root)
    assert reg.model_ids() == GOOD_MODELS, "every good model is still listed"
    (entry,) = [e for e in reg.errors if e.path.endswith(f"{BROKEN}/config.yaml")]
    return entry.messages


@pytest.mark.parametrize(("content", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_broken_config_is_listed_and_the_rest_load(config_tree, content, expected):
    (config_tree / BROKEN / "config.yaml").write_bytes(content)
    messages = broken_messages(config_tree)
    assert any(expected in m for m in messages), messages
    assert all("Traceback" not in m and len(m) < 2_000 for m in messages)


def test_config_path_that_is_a_folder(config_tree):
    (config_tree / BROKEN / "config.yaml").mkdir()
    assert any("cannot read the file" in m for m in broken_messages(config_tree))


def test_config_that_is_a_symlink_loop(config_tree):
    link = config_tree / BROKEN / "config.yaml"
    link.symlink_to(link)
    assert any("cannot read the file" in m for m in broken_messages(config_tree))


def test_class_missing_one_hook_is_refused(config_tree, monkeypatch):
    from bayes_core.models.hierarchical_negbinom import HierarchicalNegBinomModel

    module = types.ModuleType("bayes_core.models.half_done")
    module.HalfDone = type("HalfDone", (HierarchicalNegBinomModel.__mro__[1],), {
        "data_schema": HierarchicalNegBinomModel.data_schema, "example_data": HierarchicalNegBinomModel.example_data,
        "build_model": HierarchicalNegBinomModel.build_model})
    monkeypatch.setitem(sys.modules, module.__name__, module)
    (config_tree / BROKEN / "config.yaml").write_bytes(with_class("bayes_core.models.half_done:HalfDone"))
    assert any("HalfDone does not implement predict_rows" in m for m in broken_messages(config_tree))


def test_model_module_that_fails_to_import_is_a_broken_config(config_tree, monkeypatch):
    import importlib

    real_import = importlib.import_module

    def failing(name, *args):
        if name == "bayes_core.models.exploding":
            raise ZeroDivisionError("division by zero at import")
        return real_import(name, *args)

    monkeypatch.setattr(importlib, "import_module", failing)
    (config_tree / BROKEN / "config.yaml").write_bytes(with_class("bayes_core.models.exploding:Model"))
    assert any("cannot import bayes_core.models.exploding (ZeroDivisionError" in m for m in broken_messages(config_tree))


@pytest.mark.parametrize("case", ["invalid_utf8", "deep_flow_list", "billion_laughs", "prior_nan", "abstract_base_class"])
def test_cli_list_reports_the_broken_config_and_lists_the_rest(config_tree, capsys, case):
    from bayes_core.cli import main
    from bayes_core.registry import get_registry

    content, expected = next(c[1:] for c in CASES if c[0] == case)
    (config_tree / BROKEN / "config.yaml").write_bytes(content)
    get_registry(refresh=True)
    assert main(["list", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert sorted(m["model_id"] for m in out["models"]) == GOOD_MODELS
    (problem,) = out["errors"]
    assert any(expected in m for m in problem["messages"])


@pytest.mark.parametrize(("priors", "message"), [
    ({"mu_rate": float("nan")}, "priors.mu_rate: must be a finite number > 0 (got nan)"),
    ({"mu_rate": -1.0}, "priors.mu_rate: must be a finite number > 0 (got -1.0)"),
    ({"phi_sigma": "x"}, "priors.phi_sigma: must be a finite number > 0 (got 'x')"),
    ({"mu_rat": 1.0}, "priors.mu_rat: unknown prior (this model's priors: mu_rate, alpha_sigma, phi_sigma)"),
])
def test_priors_given_to_a_model_are_checked(registry, priors, message):
    from bayes_core.errors import InvalidParametersError

    with pytest.raises(InvalidParametersError) as info:
        registry.load_model_instance("hierarchical_negbinom", priors=priors)
    assert message in str(info.value)
