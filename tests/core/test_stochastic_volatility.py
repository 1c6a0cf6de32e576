"""Stochastic volatility: the vectorised AR(1) filter, the model's density, recovery, inputs, edge
cases, EWMA fallback (sampling raising or converging badly), registry round trip."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from bayes_core import fallback, samplers
from bayes_core.errors import NotTrainedError, SamplerError
from bayes_core.finance import FallbackWarning
from bayes_core.models import StochasticVolatilityModel, estimate_volatility_regime
from bayes_core.models.stochastic_volatility import EWMA_LAMBDA, ar1_filter
from tests.conftest import TINY


def _failing_sampler(*args, **kwargs):
    raise SamplerError("forced failure for the test")


def _recursion(e: np.ndarray, phi: float) -> np.ndarray:
    out, acc = np.empty_like(e), 0.0
    for t, v in enumerate(e):
        acc = phi * acc + v
        out[t] = acc
    return out


@pytest.fixture(scope="module")
def example():
    return StochasticVolatilityModel().example_data()


@pytest.fixture(scope="module")
def fitted(example):
    model = StochasticVolatilityModel()
    model.fit_returns(example.set_index("date")["return"], samples=400, tune=400, chains=2, seed=3)
    return model


@pytest.mark.parametrize("phi", [0.97, 0.5, 0.0, -0.6])
def test_log_depth_filter_equals_the_recursion_in_numpy_and_pytensor(phi):
    import pytensor
    import pytensor.tensor as pt

    e = np.random.default_rng(0).normal(size=(2, 77))
    expected = np.stack([_recursion(row, phi) for row in e])
    np.testing.assert_allclose(ar1_filter(e, np.full((2, 1), phi), 77), expected, atol=1e-12)
    ev, pv = pt.vector("e"), pt.scalar("phi")
    fn = pytensor.function([ev, pv], ar1_filter(ev, pv, 77))
    np.testing.assert_allclose(fn(e[0], phi), expected[0], atol=1e-12)


def test_model_density_is_the_written_out_state_space_model(example):
    """Non-centred logp = priors + N(0,1) innovations + returns given the recursively built h."""
    from scipy import stats

    model = StochasticVolatilityModel()
    data = model.load_data(example.iloc[:120])
    r, p = data["return"].to_numpy(), model.priors
    mu, phi_beta, sigma_eta = -8.7, 0.96, 0.3
    z = np.random.default_rng(1).normal(size=120)
    point = {"mu": mu, "phi_beta_logodds__": np.log(phi_beta / (1 - phi_beta)),
             "sigma_eta_log__": np.log(sigma_eta), "z": z}
    logp = model.build_model(data).compile_logp()(point)
    phi = 2 * phi_beta - 1
    h = np.empty(120)
    h[0] = mu + sigma_eta / np.sqrt(1 - phi**2) * z[0]
    for t in range(1, 120):
        h[t] = mu + phi * (h[t - 1] - mu) + sigma_eta * z[t]
    expected = (stats.norm.logpdf(mu, np.log(np.var(r)), p["mu_sd"])
                + stats.beta.logpdf(phi_beta, p["phi_a"], p["phi_b"]) + np.log(phi_beta * (1 - phi_beta))
                + stats.halfnorm.logpdf(sigma_eta, scale=p["sigma_eta_sd"]) + np.log(sigma_eta)
                + stats.norm.logpdf(z).sum() + stats.norm.logpdf(r, 0, np.exp(h / 2)).sum())
    assert logp == pytest.approx(expected, abs=1e-4)  # special-function rounding differs by ~1e-6


@pytest.mark.slow
def test_recovers_example_parameters_and_volatility(fitted, example):
    summary = fitted.summary()
    assert set(summary.index) == {"mu", "phi", "sigma_eta"} and not summary["fallback"].any()
    for name, truth in StochasticVolatilityModel.true_parameters.items():
        row = summary.loc[name]
        assert abs(row["mean"] - truth) < 3 * row["sd"], name
    path = fitted.volatility_path
    assert isinstance(path.index, pd.DatetimeIndex) and len(path) == len(example)
    truth = example["true_volatility"].to_numpy()
    assert np.mean((path["lower"].to_numpy() <= truth) & (truth <= path["upper"].to_numpy())) > 0.85
    assert np.corrcoef(path["mean"], truth)[0, 1] > 0.8


@pytest.mark.slow
def test_forecast_and_plot(fitted, example):
    forecast = fitted.volatility_forecast(horizon=30)
    assert len(forecast) == 30 and forecast.index[0] > example["date"].iloc[-1]
    assert (forecast["lower"] < forecast["mean"]).all() and (forecast["mean"] < forecast["upper"]).all()
    assert forecast["upper"].iloc[-1] - forecast["lower"].iloc[-1] > forecast["upper"].iloc[0] - forecast["lower"].iloc[0]
    fig = fitted.plot_volatility(horizon=10)
    assert {t.name for t in fig.data} >= {"|return|", "volatility", "forecast"}
    with pytest.raises(ValueError, match="horizon"):
        fitted.volatility_forecast(0)


def test_predict_before_fit_is_a_clear_error():
    fresh = StochasticVolatilityModel()
    for call in (lambda: fresh.volatility_path, fresh.summary, fresh.volatility_forecast, fresh.plot_volatility):
        with pytest.raises(NotTrainedError, match="fit"):
            call()


_R = np.random.default_rng(3).normal(0, 0.01, 200)


@pytest.mark.parametrize("returns, message", [
    ([], "empty"),
    (np.full(200, 0.001), "constant"),
    (_R[:30], "minimum is 50"),
    (np.r_[_R[:-1], np.nan], "NaN"),
    (np.r_[np.inf, _R[1:]], "infinite"),
    (pd.DataFrame({"date": ["2024-01-02"] * 60, "return": _R[:60]}), "duplicate dates"),
])
def test_edge_cases_raise_value_error_naming_the_problem(returns, message, monkeypatch):
    monkeypatch.setattr(samplers, "sample", _failing_sampler)  # never reached: input errors come first
    with pytest.raises(ValueError, match=message):
        StochasticVolatilityModel().fit_returns(returns, **TINY)


def test_ewma_fallback_when_sampling_fails_numpy_input(monkeypatch):
    monkeypatch.setattr(samplers, "sample", _failing_sampler)
    model = StochasticVolatilityModel()
    with pytest.warns(FallbackWarning, match="EWMA"):
        fit = model.fit_returns(_R, **TINY)
    assert fit.path == "fallback" and fit.method == "EWMA" and fit.idata is None  # sampling raised: no trace
    assert "forced failure" in fit.fallback.reason
    path = model.volatility_path
    assert isinstance(path.index, pd.RangeIndex) and path["fallback"].all() and (path["method"] == "EWMA fallback").all()
    var = np.var(_R[:30])
    for r in _R:
        var = EWMA_LAMBDA * var + (1 - EWMA_LAMBDA) * r * r
    assert path["mean"].iloc[-1] == pytest.approx(np.sqrt(var))
    assert (path["lower"] < path["mean"]).all() and (path["mean"] < path["upper"]).all()
    assert model.summary()["fallback"].all() and model.volatility_forecast(5)["fallback"].all()
    with pytest.warns(FallbackWarning):
        regime = estimate_volatility_regime(pd.Series(_R), **TINY)
    assert {"volatility", "vol_lower", "vol_upper", "fallback"} <= set(regime.columns) and regime["fallback"].all()
    with pytest.raises(SamplerError, match="No run was written"):
        model.train(pd.DataFrame({"return": _R}), **TINY)


@pytest.mark.slow
def test_registry_round_trip_train_predict_csv(registry, example, monkeypatch):
    # Tiny sampling cannot converge; this test is about the plumbing (recovery is tested above).
    monkeypatch.setattr(fallback, "convergence_failure", lambda diag: None)
    model = registry.load_model_instance("stochastic_volatility")
    run = model.train(example.iloc[:200], **TINY)
    assert not run.diagnostics["fallback"]["used"] and run.metadata["fit_path"] == "mcmc"
    table = model.predict({"horizon": 10, "credible_level": 0.9}, run)
    csv = pd.read_csv(io.StringIO(table.to_csv(index=False)))
    row = csv.iloc[0]
    assert row["forecast_lower"] < row["forecast_volatility"] < row["forecast_upper"]
    assert row["method"].startswith("stochastic volatility") and not row["fallback"] and row["run_id"] == run.run_id


@pytest.mark.slow
def test_bad_convergence_writes_a_flagged_run_with_ewma_predictions(registry, example, monkeypatch):
    monkeypatch.setattr(fallback, "convergence_failure", lambda diag: "forced: R-hat too high")
    model = registry.load_model_instance("stochastic_volatility")
    with pytest.warns(FallbackWarning, match="EWMA"):
        run = model.train(example.iloc[:200], **TINY)
    assert run.diagnostics["fallback"]["used"] and run.metadata["fit_path"] == "fallback"  # the trace is kept
    assert "sample_stats" in run.idata.children
    csv = pd.read_csv(io.StringIO(model.predict({"horizon": 5}, run).to_csv(index=False)))
    assert bool(csv["fallback"].iloc[0]) and csv["method"].iloc[0] == "EWMA fallback"
    assert "R-hat" in csv["fallback_reason"].iloc[0]
