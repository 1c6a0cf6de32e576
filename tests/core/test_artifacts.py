"""Runs are written atomically, ids are validated before any path, corrupt traces fail clearly."""

import json
import os

import pytest

from bayes_core import artifacts
from bayes_core.errors import CorruptRunError, NotTrainedError, RunNotFoundError
from tests.conftest import TINY


@pytest.mark.slow
def test_a_failure_mid_run_leaves_no_run_directory(nb_model, monkeypatch):
    before = artifacts.list_run_ids(nb_model.model_id)
    written = []

    def explode(fit):  # the store has written the trace, summary, ... when it asks for the reports
        written.extend(p.name for p in artifacts.runs_dir(nb_model.model_id).glob(".tmp-*/*"))
        raise RuntimeError("disk full")

    monkeypatch.setattr(nb_model, "build_reports", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        nb_model.train(**TINY)
    assert artifacts.TRACE_FILE in written  # the failure came mid-run, with files already staged
    assert artifacts.list_run_ids(nb_model.model_id) == before
    leftovers = [p.name for p in artifacts.runs_dir(nb_model.model_id).iterdir() if p.name.startswith(".tmp")]
    assert leftovers == []


@pytest.mark.parametrize("bad", ["../../etc", "20260101-120000-000000-zzzzzz", "", "latest", "a/b"])
def test_run_ids_are_validated_before_any_path(bad):
    with pytest.raises(RunNotFoundError, match="not a valid run id"):
        artifacts.run_path("hierarchical_negbinom", bad)


@pytest.mark.parametrize("bad", ["../x", "X", "a-b", ""])
def test_model_ids_are_validated_before_any_path(bad):
    from bayes_core.errors import BayesCoreError

    with pytest.raises(BayesCoreError, match="not a valid model id"):
        artifacts.model_dir(bad)


def test_run_ids_sort_by_time_and_are_unique():
    ids = [artifacts.new_run_id() for _ in range(200)]
    assert len(set(ids)) == 200
    assert ids == sorted(ids)
    assert all(artifacts.RUN_ID_PATTERN.match(i) for i in ids)


def test_a_truncated_trace_gives_a_clear_error(nb_run, tmp_path, monkeypatch):
    import shutil

    copy_root = tmp_path / "art"
    target = copy_root / nb_run.model_id / "runs" / nb_run.run_id
    shutil.copytree(nb_run.path, target)
    trace = target / artifacts.TRACE_FILE
    trace.write_bytes(trace.read_bytes()[: os.path.getsize(trace) // 3])
    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(copy_root))
    with pytest.raises(CorruptRunError, match="corrupt or truncated"):
        artifacts.Run(nb_run.model_id, nb_run.run_id).idata


def test_metadata_describes_the_run(nb_run):
    meta = json.loads((nb_run.path / artifacts.METADATA_FILE).read_text())
    assert meta["model_id"] == "hierarchical_negbinom" and meta["run_id"] == nb_run.run_id
    for key in ("model_version", "config_hash", "data_hash", "settings", "seed", "package_versions",
                "python_version", "timings", "created_at", "sampler", "device"):
        assert meta[key] is not None, key
    assert meta["sampler"] == "nutpie" and meta["device"] == "cpu"
    assert meta["package_versions"]["pymc"].startswith("6.")


def test_loading_the_latest_run_of_an_untrained_model_says_how_to_train():
    with pytest.raises(NotTrainedError, match="python -m bayes_core train never_trained"):
        artifacts.load_run("never_trained")


def test_from_path_opens_a_run_directory(nb_run):
    run = artifacts.Run.from_path(nb_run.path)
    assert (run.model_id, run.run_id) == (nb_run.model_id, nb_run.run_id)
    arrays = run.posterior_arrays(["mu", "theta"], max_draws=50)
    assert arrays["mu"].shape == (50,) and arrays["theta"].shape[0] == 50


def test_cached_draws_keep_every_draw_within_the_memory_budget(nb_run, monkeypatch):
    """All draws by default (so figures match the run's summary); thinned evenly past the budget."""
    from bayes_core import predictor

    predictor.clear_cache()
    n_total = nb_run.idata["posterior"].sizes["chain"] * nb_run.idata["posterior"].sizes["draw"]
    assert predictor.draws_for_run(nb_run)["n_draws"] == n_total
    per_draw = sum(int(v.size // n_total) for v in nb_run.idata["posterior"].to_dataset().data_vars.values())
    monkeypatch.setattr(predictor, "MAX_CACHED_VALUES", per_draw * 50)
    predictor.clear_cache()
    assert predictor.draws_for_run(nb_run)["n_draws"] == 50
    assert predictor.draws_for_run(nb_run, max_draws=20)["n_draws"] == 20
    predictor.clear_cache()
