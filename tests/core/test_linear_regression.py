"""Bayesian linear regression: likelihood reduction, recovery, kidiq reference, edge cases, fallback."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_core import samplers
from bayes_core.errors import NotTrainedError, SamplerError
from bayes_core.fallback import FallbackWarning, convergence_failure
from bayes_core.models import BayesianLinearRegression
from bayes_core.models.linear_regression import ols_posterior_draws
from tests.conftest import TINY

POSTERIORDB = Path("/work/shared/data/posteriordb")


def _read_zip_json(name: str):
    with zipfile.ZipFile(POSTERIORDB / name) as zf:
        return json.loads(zf.read(zf.namelist()[0]))


@pytest.fixture(scope="module")
def model():
    return BayesianLinearRegression()


def test_sufficient_statistics_likelihood_matches_per_observation_model(model):
    data = model.load_data()
    reduced, plain = model.build_model(data), model.build_predictive_model(data)
    point = {"intercept_centered": 1.2, "beta": np.array([1.9, -0.8, 0.4]), "sigma_log__": np.log(1.3)}
    lp_reduced = reduced.compile_logp()(point)
    lp_plain = plain.compile_logp()(point)
    assert lp_reduced == pytest.approx(lp_plain, rel=1e-10)


def test_recovers_example_parameters(model):
    fit = model.fit(draws=500, tune=500, chains=2, seed=3)
    assert fit.diagnostics["verdict"] != "problem"
    assert not model.fallback.used
    for name, truth in model.true_parameters.items():
        row = fit.summary.loc[name]
        assert abs(row["mean"] - truth) < 3 * row["sd"], name


@pytest.mark.slow
@pytest.mark.skipif(not POSTERIORDB.is_dir(), reason="posteriordb reference data not available")
def test_kidiq_agrees_with_posteriordb_reference():
    data = _read_zip_json("kidiq.json.zip")
    frame = pd.DataFrame({k: data[k] for k in ("kid_score", "mom_hs", "mom_iq")})
    chains = _read_zip_json("kidiq-kidscore_momhsiq.json.zip")
    ref = {k: np.concatenate([np.asarray(c[k], float) for c in chains]) for k in chains[0]}
    model = BayesianLinearRegression()
    fit = model.fit_xy(frame[["mom_hs", "mom_iq"]], frame["kid_score"], draws=1000, tune=500, chains=4, seed=7)
    assert model.options == {"target": "kid_score", "features": "mom_hs,mom_iq"}
    ours = {"beta[1]": "intercept", "beta[2]": "beta[mom_hs]", "beta[3]": "beta[mom_iq]", "sigma": "sigma"}
    for ref_name, our_name in ours.items():
        ref_mean, ref_sd = ref[ref_name].mean(), ref[ref_name].std()
        assert abs(fit.summary.loc[our_name, "mean"] - ref_mean) < 0.1 * ref_sd, (our_name, fit.summary.loc[our_name, "mean"], ref_mean)


@pytest.mark.slow
def test_numpy_and_pandas_inputs_agree():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2))
    y = 0.5 + X @ np.array([1.0, -2.0]) + rng.normal(0, 0.5, 80)
    a, b = BayesianLinearRegression(), BayesianLinearRegression()
    fit_np = a.fit_xy(X, y, **TINY)
    fit_pd = b.fit_xy(pd.DataFrame(X, columns=["x1", "x2"]), pd.Series(y, name="y"), **TINY)
    assert list(fit_np.summary.index) == list(fit_pd.summary.index)
    np.testing.assert_allclose(fit_np.summary["mean"], fit_pd.summary["mean"], rtol=1e-8)
    mean, (lower, upper) = a.predict(X[:5], hdi_prob=0.9)
    mean_pd, _ = b.predict(pd.DataFrame(X[:5], columns=["x1", "x2"]))
    np.testing.assert_allclose(mean, mean_pd)
    assert mean.shape == lower.shape == upper.shape == (5,)
    assert np.all(lower < mean) and np.all(mean < upper)
    _, (obs_lo, obs_hi) = a.predict(X[:5], 0.9, kind="observation")
    assert np.all(obs_hi - obs_lo > upper - lower)  # a new observation adds the noise σ
    assert a.plot_posterior("beta").data and a.plot_posterior("beta[x2]").data


def test_predict_before_fit_is_a_clear_error():
    model = BayesianLinearRegression()
    for call in (lambda: model.predict(np.zeros((2, 3))), model.summary, lambda: model.plot_posterior("beta")):
        with pytest.raises(NotTrainedError, match="fit"):
            call()


@pytest.mark.parametrize("X, y, message", [
    (np.empty((0, 2)), np.empty(0), "empty input"),
    (np.arange(20.0).reshape(10, 2), np.full(10, 3.0), "constant"),
    (np.arange(6.0).reshape(3, 2), np.array([1.0, 2.0, 4.0]), "minimum is 4"),
    (np.array([[1.0, 2], [2, 1], [3, 5], [np.nan, 1], [5, 0]]), np.arange(5.0), "NaN"),
    (np.array([[1.0, 2], [2, 1], [3, 5], [np.inf, 1], [5, 0]]), np.arange(5.0), "infinite"),
    (np.arange(20.0).reshape(10, 2) ** 2, np.arange(9.0), "misaligned"),
    (pd.DataFrame({"a": [1.0, 2, 3, 4, 6], "b": [0.0, 1, 0, 1, 1]}), pd.Series(np.arange(5.0), index=range(1, 6)), "misaligned"),
    (pd.DataFrame({"a": [1.0, 2, 3, 4, 6], "b": [1.0] * 5}), np.arange(5.0), "constant feature"),
])
def test_edge_cases_raise_value_error_naming_the_problem(X, y, message):
    with pytest.raises(ValueError, match=message):
        BayesianLinearRegression().fit_xy(X, y, **TINY)


def test_column_options_choose_target_and_features(registry):
    data = pd.DataFrame({"a": [1.0, 2, 3, 4, 5, 7], "b": [2.0, 1, 0, 3, 1, 2], "label": list("uvwxyz"),
                         "out": [1.0, 3, 2, 5, 6, 9]})
    everything = registry.load_model_instance("bayesian_linear_regression", options={"target": "out"})
    assert list(everything.load_data(data).columns) == ["a", "b", "out"]  # non-numeric 'label' skipped
    chosen = registry.load_model_instance("bayesian_linear_regression", options={"target": "out", "features": " b "})
    assert list(chosen.load_data(data).columns) == ["b", "out"]
    missing = registry.load_model_instance("bayesian_linear_regression", options={"target": "out", "features": "zz"})
    with pytest.raises(ValueError) as info:
        missing.load_data(data)
    assert info.value.problems == ["no column 'zz': the Feature columns option (features) lists it; "
                                   "list only numeric columns of this file: a, b"]  # not the target, not 'label'
    no_target = registry.load_model_instance("bayesian_linear_regression", options={"features": "a"})
    with pytest.raises(ValueError) as info:
        no_target.load_data(data)
    assert info.value.problems == ["no column 'y': set the Target column option (target) to one of b, out"]


def test_ols_fallback_draws_match_classical_ols():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 2))
    y = 1.0 + X @ np.array([0.5, 2.0]) + rng.normal(0, 1.0, 200)
    draws = ols_posterior_draws(X, y, chains=2, draws=20000, seed=0)
    Z = np.column_stack([np.ones(200), X])
    coef, *_ = np.linalg.lstsq(Z, y, rcond=None)
    s2 = np.sum((y - Z @ coef) ** 2) / (200 - 3)
    se = np.sqrt(np.diag(s2 * np.linalg.inv(Z.T @ Z)))
    beta = draws["beta"].reshape(-1, 2)
    np.testing.assert_allclose(beta.mean(axis=0), coef[1:], atol=0.02 * se.max() * 10)
    np.testing.assert_allclose(beta.std(axis=0), se[1:], rtol=0.05)  # t-posterior sd ≈ classical SE
    np.testing.assert_allclose(draws["intercept"].mean(), coef[0], atol=0.01)


def test_the_old_two_argument_fit_points_to_fit_xy(monkeypatch):
    monkeypatch.setattr(samplers, "sample", lambda *a, **k: pytest.fail("sampled"))
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match=r"progress: must be a progress callback.*fit_xy\(X, y\)"):
        BayesianLinearRegression().fit(X, X[:, 0], **TINY)


def _failing_sampler(*args, **kwargs):
    raise SamplerError("forced failure for the test")


def test_fallback_when_sampling_fails_is_flagged_everywhere(registry, monkeypatch):
    monkeypatch.setattr(samplers, "sample", _failing_sampler)
    model = registry.load_model_instance("bayesian_linear_regression")
    with pytest.warns(FallbackWarning, match="forced failure"):
        run = model.train(**TINY)
    assert model.fallback.used and "forced failure" in model.fallback.reason
    assert run.diagnostics["fallback"]["used"] is True
    assert run.diagnostics["verdict"] == "warning" and run.metadata["sampler"] == "ols-fallback"
    assert (run.metadata["fit_path"], run.metadata["fit_method"]) == ("fallback", "OLS")
    row = model.predict({"x1": 0.0, "x2": 1.0, "x3": 2.0}, run)
    assert bool(row["fallback"].iloc[0]) and "forced failure" in row["fallback_reason"].iloc[0]
    csv = row.to_csv(index=False)
    assert "fallback" in csv.splitlines()[0] and "forced failure" in csv
    mean, _ = model.predict(np.array([[0.0, 1.0, 2.0]]))  # the notebook form works on the fallback too
    assert mean[0] == pytest.approx(row["predicted_mean"].iloc[0], rel=0.05)


def test_convergence_failure_needs_problem_verdict_and_high_rhat():
    assert convergence_failure({"verdict": "problem", "r_hat_max": 1.3}) is not None
    assert convergence_failure({"verdict": "problem", "r_hat_max": 1.02}) is None  # e.g. divergences only
    assert convergence_failure({"verdict": "warning", "r_hat_max": 1.04}) is None


def test_registry_round_trip_train_load_predict_csv(registry):
    from bayes_core.artifacts import load_run

    model = registry.load_model_instance("bayesian_linear_regression")
    trained = model.train(**TINY)
    run = load_run("bayesian_linear_regression", trained.run_id)
    assert run.diagnostics["fallback"]["used"] is False and run.metadata["fit_path"] == "mcmc"
    fields = {f["name"]: f for f in model.get_inference_form_fields(run)}
    assert list(fields) == ["x1", "x2", "x3", "credible_level"]
    assert fields["x1"]["default"] == pytest.approx(model.example_data()["x1"].mean(), abs=1e-5)
    assert model.get_inference_form_fields(None)[-1]["name"] == "credible_level"
    ok, errors = model.validate_inference_params({"x1": "abc"}, run)
    assert not ok and "x1" in errors
    row = model.predict({"x1": 1.0, "x2": 0.0, "x3": 1.0}, run)
    truth = 1.5 + 2.0 * 1 + 0.5 * 1
    assert row["mean_lower"].iloc[0] < row["predicted_mean"].iloc[0] < row["mean_upper"].iloc[0]
    assert abs(row["predicted_mean"].iloc[0] - truth) < 0.5
    assert not bool(row["fallback"].iloc[0])
    batch = pd.DataFrame({"x1": [0.0, "bad"], "x2": [1.0, 1.0], "x3": [0.0, 0.0]})
    table, problems = model.predict_batch(batch, run)
    assert len(table) == 1 and problems == [{"row": 3, "field": "x1", "message": "'bad' is not a number"}]
    back = pd.read_csv(io.StringIO(table.to_csv(index=False)))
    assert {"predicted_mean", "prediction_lower", "prediction_upper", "fallback", "run_id"} <= set(back.columns)
    assert "posterior_predictive" in run.idata.children


def test_fallback_when_sampling_does_not_converge(monkeypatch):
    from bayes_core import diagnostics

    real, calls = diagnostics.compute_diagnostics, []

    def first_fit_failed(idata, summary=None):  # the MCMC fit reports R-hat 1.3; the OLS draws are real
        out = real(idata, summary)
        if not calls:
            out.update(verdict="problem", r_hat_max=1.3)
        calls.append(out)
        return out

    monkeypatch.setattr(diagnostics, "compute_diagnostics", first_fit_failed)
    model = BayesianLinearRegression()
    with pytest.warns(FallbackWarning, match="R-hat max 1.300"):
        fit = model.fit(**TINY)
    assert model.fallback.used and fit.info["sampler"] == "ols-fallback" and fit.path == "fallback"
    assert fit.diagnostics["fallback"]["method"] == "OLS"
