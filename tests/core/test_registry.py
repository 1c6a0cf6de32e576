"""Discovery: broken configs are listed, never fatal; dropdown and status follow the seed API."""

import shutil
from pathlib import Path

import pytest

from bayes_core.errors import UnknownModelError
from bayes_core.registry import ModelRegistry, get_registry

FIXTURES = Path(__file__).parent.parent / "fixtures" / "configs"
REAL = Path(__file__).parent.parent.parent / "model_configs"


@pytest.fixture
def mixed_tree(tmp_path):
    """The real NB config, a beta and a deprecated copy, and every broken fixture."""
    shutil.copytree(REAL / "hierarchical_negbinom", tmp_path / "hierarchical_negbinom")
    for status in ("beta", "deprecated"):
        target = tmp_path / f"nb_{status}"
        shutil.copytree(REAL / "hierarchical_negbinom", target)
        text = (target / "config.yaml").read_text().replace("status: active", f"status: {status}")
        (target / "config.yaml").write_text(text)
    for broken in FIXTURES.iterdir():
        shutil.copytree(broken, tmp_path / broken.name)
    return tmp_path


def test_broken_configs_are_listed_and_the_rest_still_load(mixed_tree):
    reg = ModelRegistry(mixed_tree)
    assert sorted(reg.model_ids()) == ["hierarchical_negbinom", "nb_beta", "nb_deprecated"]
    broken = {Path(e.path).parent.name: e.messages for e in reg.errors}
    assert set(broken) == {p.name for p in FIXTURES.iterdir()}
    assert broken["Bad-Name"] == ["directory name 'Bad-Name' is not a valid model id (^[a-z][a-z0-9_]{0,63}$)"]
    assert broken["missing_class"] == [
        "model_class: model_class 'bayes_core.models.hierarchical_negbinom:NoSuchModel': NoSuchModel is not a "
        "BaseBayesianModel in bayes_core.models.hierarchical_negbinom"]


def test_dropdown_labels_beta_and_hides_deprecated(mixed_tree):
    reg = ModelRegistry(mixed_tree)
    options = dict(reg.get_model_for_dropdown())
    assert "nb_deprecated" not in options
    assert options["nb_beta"].endswith("[BETA]")
    assert not options["hierarchical_negbinom"].endswith("[BETA]")


def test_unknown_model_lists_the_known_ones(mixed_tree):
    reg = ModelRegistry(mixed_tree)
    with pytest.raises(UnknownModelError) as info:
        reg.get_model_metadata("nope")
    assert str(info.value) == "Unknown model 'nope'. Known models: hierarchical_negbinom, nb_beta, nb_deprecated."


def test_status_of_an_untrained_model(mixed_tree):
    status = ModelRegistry(mixed_tree).get_model_status("nb_beta")
    assert status["is_trained"] is False and status["last_trained"] is None
    assert set(status) >= {"model_id", "name", "version", "status", "is_trained", "has_trace", "last_trained", "output_dir"}


def test_status_of_a_trained_model(nb_run):
    from bayes_core import artifacts

    status = get_registry().get_model_status("hierarchical_negbinom")
    assert status["is_trained"] and status["has_trace"]
    latest = artifacts.Run("hierarchical_negbinom", status["last_run_id"])  # other tests may train later runs
    assert latest.run_id >= nb_run.run_id
    assert status["last_trained"] == latest.metadata["created_at"]


def test_a_run_without_its_trace_is_trained_but_has_no_trace(nb_run, tmp_path, monkeypatch):
    from bayes_core import artifacts

    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(tmp_path))
    copy = artifacts.run_path("hierarchical_negbinom", nb_run.run_id)
    shutil.copytree(nb_run.path, copy)
    (copy / artifacts.TRACE_FILE).unlink()
    status = get_registry().get_model_status("hierarchical_negbinom")
    assert status["is_trained"] and status["last_run_id"] == nb_run.run_id
    assert status["has_trace"] is False and status["last_status"] == artifacts.UNREADABLE


def test_refresh_sees_a_new_config(mixed_tree):
    reg = ModelRegistry(mixed_tree)
    shutil.copytree(mixed_tree / "nb_beta", mixed_tree / "nb_new")
    assert "nb_new" not in reg
    assert "nb_new" in reg.refresh()


def test_load_model_instance_validates_options(mixed_tree):
    from bayes_core.errors import InvalidParametersError

    reg = ModelRegistry(mixed_tree)
    assert reg.load_model_instance("hierarchical_negbinom", options={"non_centered": "yes"}).options == {
        "non_centered": True, "likelihood": "negative_binomial"}
    with pytest.raises(InvalidParametersError, match="non_centered: 'maybe' is not true/false"):
        reg.load_model_instance("hierarchical_negbinom", options={"non_centered": "maybe"})
