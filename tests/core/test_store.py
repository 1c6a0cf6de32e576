"""The run store: a fit written by the store round-trips, the trace says what it is (and a trace
that names another run is refused), references resolve, a run is deleted whole, and a fit without a
trace is never written. Uses the session's tiny NB run; nothing here samples."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from bayes_core import artifacts, samplers
from bayes_core.errors import CorruptRunError, NotTrainedError, RunNotFoundError, SamplerError
from bayes_core.runs import store


@pytest.fixture
def copy_root(tmp_path, monkeypatch):
    """A private artifacts root (the session's runs stay untouched)."""
    root = tmp_path / "art"
    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(root))
    return root


def copy_run(run, root, run_id: str | None = None):
    run_id = run_id or run.run_id
    target = root / run.model_id / "runs" / run_id
    shutil.copytree(run.path, target)
    return artifacts.Run(run.model_id, run_id)


def test_a_trained_run_carries_its_identity_in_the_trace(nb_run, nb_model):
    attrs = nb_run.idata.attrs
    assert attrs["model_id"] == nb_run.model_id and attrs["run_id"] == nb_run.run_id
    assert attrs["model_version"] == nb_model.metadata.version == nb_run.metadata["model_version"]
    assert attrs["config_hash"] == nb_run.metadata["config_hash"]
    assert attrs["created_at"] == nb_run.metadata["created_at"]
    assert nb_run.metadata["fit_path"] == "mcmc" and nb_run.metadata["fit_method"] == "nutpie"


def test_a_trace_that_names_another_run_is_refused(nb_run, copy_root):
    moved = copy_run(nb_run, copy_root, artifacts.new_run_id())
    with pytest.raises(CorruptRunError, match=f"written for another run.*run_id '{nb_run.run_id}'"):
        moved.idata  # noqa: B018


def test_a_trace_that_names_another_model_is_refused(nb_run, copy_root):
    target = copy_root / "bayesian_sharpe" / "runs" / nb_run.run_id
    shutil.copytree(nb_run.path, target)
    with pytest.raises(CorruptRunError, match="model_id 'hierarchical_negbinom'"):
        artifacts.Run("bayesian_sharpe", nb_run.run_id).idata  # noqa: B018


def test_a_trace_written_before_stamping_still_loads(nb_run, copy_root):
    import xarray as xr

    old = copy_run(nb_run, copy_root)
    trace = old.path / artifacts.TRACE_FILE
    with xr.open_datatree(trace) as tree:
        unstamped = tree.load()
    unstamped.attrs.clear()
    trace.unlink()
    unstamped.to_netcdf(trace)
    meta_file = old.path / artifacts.METADATA_FILE  # written before stamping: before checksums too
    meta_file.write_text(json.dumps({k: v for k, v in json.loads(meta_file.read_text()).items()
                                     if k != "trace_sha256"}))
    assert "run_id" not in artifacts.Run(nb_run.model_id, nb_run.run_id).idata.attrs


def test_references_resolve_to_run_ids(nb_run):
    assert artifacts.load_run(nb_run.model_id, nb_run.run_id).run_id == nb_run.run_id
    latest = artifacts.list_run_ids(nb_run.model_id)[-1]
    assert artifacts.load_run(nb_run.model_id).run_id == latest == artifacts.load_run(nb_run.model_id, "latest").run_id
    with pytest.raises(RunNotFoundError, match="'../x' is not a valid run id or run reference.*Known references: latest"):
        artifacts.load_run(nb_run.model_id, "../x")
    with pytest.raises(NotTrainedError, match="no trained run yet"):
        artifacts.load_run("never_trained", "latest")


def test_a_fit_written_by_the_store_round_trips(nb_model, nb_run, copy_root):
    """A closed-form fit (draws computed without MCMC) through ``write_run``: the same files and
    the same draws come back."""
    posterior = nb_run.idata["posterior"].to_dataset()
    draws = {k: posterior[k].values for k in ("mu", "alpha", "phi", "theta")}
    data = nb_model.load_data()
    fit = nb_model.fit_from_draws(draws, data, nb_model.training_settings(draws=60, chains=2), method="test-draws",
                                  dims={"theta": ["entity"]}, coords={"entity": posterior["entity"].values})
    assert fit.path == "closed_form" and fit.method == "test-draws"
    run = artifacts.write_run(nb_model, fit)
    assert run.run_id in artifacts.list_run_ids(nb_model.model_id)
    assert run.metadata["fit_path"] == "closed_form" and run.metadata["sampler"] == "test-draws"
    theta = draws["theta"]
    np.testing.assert_array_equal(run.posterior_arrays(["theta"])["theta"], np.concatenate(list(theta)))
    assert run.idata.attrs["run_id"] == run.run_id and len(run.data) == len(data)
    for name in (artifacts.SUMMARY_FILE, artifacts.DIAGNOSTICS_FILE, artifacts.DAG_DOT_FILE):
        assert (run.path / name).is_file(), name


def test_a_fit_without_a_trace_is_never_written(nb_model, copy_root):
    data = nb_model.load_data()
    fit = nb_model.fit_without_draws(data, nb_model.training_settings(), method="EWMA",
                                     fallback={"used": True, "reason": "sampling failed: boom", "method": "EWMA"})
    assert fit.path == "fallback" and fit.idata is None and fit.diagnostics["verdict"] == "warning"
    with pytest.raises(SamplerError, match="sampling failed: boom. No run was written"):
        artifacts.write_run(nb_model, fit)
    assert artifacts.list_run_ids(nb_model.model_id) == [] and not list(copy_root.rglob(".tmp-*"))


def test_a_run_is_deleted_whole(nb_run, copy_root, monkeypatch):
    gone = copy_run(nb_run, copy_root)
    artifacts.delete_run(gone.model_id, gone.run_id)
    assert artifacts.list_run_ids(gone.model_id) == [] and not list(artifacts.runs_dir(gone.model_id).iterdir())
    with pytest.raises(RunNotFoundError):
        artifacts.delete_run(gone.model_id, gone.run_id)

    # A deletion that fails half-way (a file that cannot be removed) still removes the run at once:
    # what is left is a hidden folder, never a run with missing files.
    stuck = copy_run(nb_run, copy_root)
    monkeypatch.setattr(store.shutil, "rmtree", lambda path, ignore_errors=False: (path / "trace.nc").unlink())
    artifacts.delete_run(stuck.model_id, stuck.run_id)
    assert artifacts.list_run_ids(stuck.model_id) == []
    with pytest.raises(RunNotFoundError):
        artifacts.Run(stuck.model_id, stuck.run_id)
    assert [p.name.startswith(".del-") for p in artifacts.runs_dir(stuck.model_id).iterdir()] == [True]


def test_a_model_without_a_fallback_lets_sampling_errors_through(nb_model, monkeypatch):
    def fail(*args, **kwargs):
        raise SamplerError("forced failure for the test")

    monkeypatch.setattr(samplers, "sample", fail)
    with pytest.raises(SamplerError, match="forced failure"):
        nb_model.fit(draws=10, tune=10, chains=1)
