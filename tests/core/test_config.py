"""Config validation: one fixture per failure, exact messages, every error of a file at once."""

from pathlib import Path

import pytest

from bayes_core.config import load_model_config
from bayes_core.errors import ConfigError

FIXTURES = Path(__file__).parent.parent / "fixtures" / "configs"
REAL = Path(__file__).parent.parent.parent / "model_configs"


def problems(name: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_model_config(FIXTURES / name / "config.yaml")
    assert str(FIXTURES / name / "config.yaml") in str(info.value)  # the file is named
    return info.value.problems


def test_unknown_keys_get_did_you_mean_hints_all_at_once():
    assert sorted(problems("unknown_key")) == [
        "descripton: unknown key (did you mean 'description'?)",
        "training.chians: unknown key (did you mean 'chains'?)",
    ]


def test_default_outside_its_bounds_is_rejected():
    assert problems("default_out_of_bounds") == ["inference_params.0: default 0 is below min_value 1.0"]


def test_select_default_must_be_an_option():
    assert problems("select_default_not_option") == [
        "inference_params.0: default 'blue' is not one of the options ['red', 'green']"]


def test_duplicate_parameter_names_are_rejected():
    assert problems("duplicate_names") == ["inference_params: duplicate parameter names: windows"]


def test_model_class_outside_models_package_is_refused():
    (msg,) = problems("outside_class")
    assert msg.startswith("model_class: model_class 'os.path:join' must be 'bayes_core.models.<module>:<Class>'")
    assert "refused" in msg


def test_every_error_of_a_file_is_reported_together():
    found = problems("many_errors")
    fields = sorted(p.split(":")[0] for p in found)
    assert fields == ["name", "status", "training.chains", "training.target_accept"]
    assert "status: Input should be 'active', 'beta' or 'deprecated'" in found


def test_a_file_that_is_not_a_mapping_says_so():
    assert problems("not_a_mapping") == ["the file must hold a mapping of keys (name, version, ...)"]


@pytest.mark.parametrize("path", sorted(REAL.glob("*/config.yaml")), ids=lambda p: p.parent.name)
def test_every_shipped_config_is_valid(path):
    meta = load_model_config(path)
    assert meta.model_id == path.parent.name
    assert meta.config_hash and len(meta.config_hash) == 16
