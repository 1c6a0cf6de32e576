"""Pairs trading: exact per-window posterior (checked against algebra, OLS and MCMC), recovery,
inputs, edge cases, signals, rolling-OLS fallback, registry round trip."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from bayes_core import samplers
from bayes_core.errors import NotTrainedError, SamplerError
from bayes_core.finance import FallbackWarning
from bayes_core.models import BayesianPairsTrading
from bayes_core.models.pairs_trading import NIGPrior, WindowPosterior, WindowStats, true_hedge_path
from tests.conftest import TINY


@pytest.fixture(scope="module")
def model():
    return BayesianPairsTrading()


@pytest.fixture(scope="module")
def example(model):
    return model.example_data()


def _failing_sampler(*args, **kwargs):
    raise SamplerError("forced failure for the test")


def test_conjugate_posterior_matches_matrix_algebra_on_one_window():
    rng = np.random.default_rng(0)
    x = 20 + np.cumsum(rng.normal(size=30))
    y = 3 + 1.2 * x + rng.normal(0, 0.7, 30)
    prior = NIGPrior(m_c=25.0, m_beta=0.5, prec_c=0.3, prec_beta=2.0, a0=2.0, b0=1.5)
    post = WindowPosterior.of(WindowStats.of(y, x, 30), prior)
    # Textbook NIG update with the full design matrix Z = [1, x − x̄].
    Z = np.column_stack([np.ones(30), x - x.mean()])
    L0, m0 = np.diag([prior.prec_c, prior.prec_beta]), np.array([prior.m_c, prior.m_beta])
    Ln = L0 + Z.T @ Z
    mn = np.linalg.solve(Ln, L0 @ m0 + Z.T @ y)
    an, bn = prior.a0 + 15, prior.b0 + 0.5 * (y @ y + m0 @ L0 @ m0 - mn @ Ln @ mn)
    assert post.c_mean[0] == pytest.approx(mn[0]) and post.beta_mean[0] == pytest.approx(mn[1])
    assert post.a[0] == pytest.approx(an) and post.b[0] == pytest.approx(bn)
    assert post.beta_sd[0] == pytest.approx(np.sqrt(bn / (an - 1) / Ln[1, 1]))


def test_flat_prior_posterior_is_rolling_ols():
    rng = np.random.default_rng(1)
    x = 10 + np.cumsum(rng.normal(size=100))
    y = 2 + 0.8 * x + rng.normal(0, 0.5, 100)
    post = WindowPosterior.of(WindowStats.of(y, x, 40), NIGPrior.flat())
    for w in (0, 30, 60):
        xs, ys = x[w:w + 40], y[w:w + 40]
        slope, intercept = np.polyfit(xs, ys, 1)
        resid = ys - intercept - slope * xs
        se = np.sqrt(resid @ resid / 38 / np.sum((xs - xs.mean()) ** 2))
        assert post.beta_mean[w] == pytest.approx(slope) and post.intercept_mean[w] == pytest.approx(intercept)
        assert post.beta_sd[w] == pytest.approx(se * np.sqrt(38 / 36))  # Student-t(38) sd


def test_sampled_model_logp_matches_the_per_observation_model_written_out(model, example):
    """The PyMC model (sufficient statistics) = NIG prior + per-observation likelihood, window by window."""
    from scipy import stats

    data = model.load_data(example.iloc[:80])
    n_win, p = 80 - 60 + 1, model._prior(data)
    rng = np.random.default_rng(2)
    c, beta, s2 = rng.normal(60, 1, n_win), rng.normal(1.5, 0.1, n_win), rng.uniform(0.2, 0.4, n_win)
    point = {"intercept_centered": c, "hedge_ratio": beta, "sigma2_log__": np.log(s2)}
    logp = model.build_model(data).compile_logp()(point)
    y, x = data["y"].to_numpy(), data["x"].to_numpy()
    expected = 0.0
    for w in range(n_win):
        ys, xs = y[w:w + 60], x[w:w + 60]
        expected += (stats.invgamma.logpdf(s2[w], p.a0, scale=p.b0) + np.log(s2[w])  # log-transform Jacobian
                     + stats.norm.logpdf(c[w], p.m_c, np.sqrt(s2[w] / p.prec_c))
                     + stats.norm.logpdf(beta[w], p.m_beta, np.sqrt(s2[w] / p.prec_beta))
                     + stats.norm.logpdf(ys, c[w] + beta[w] * (xs - xs.mean()), np.sqrt(s2[w])).sum())
    assert logp == pytest.approx(expected, rel=1e-9)


def test_recovers_the_true_hedge_ratio_path(model, example):
    hedge = model.fit_dynamic_hedge(example["y"], example["x"], window=60)
    truth = true_hedge_path(len(example), model.true_parameters)
    inside = np.array([t >= 59 and truth[t - 59] == truth[t] for t in range(len(truth))])  # one regime
    z = ((hedge["hedge_ratio_mean"] - truth) / hedge["hedge_ratio_std"]).to_numpy()[inside]
    assert np.mean(np.abs(z) < 2) > 0.85
    assert np.max(np.abs(z)) < 4
    assert hedge["hedge_ratio_mean"].iloc[:59].isna().all() and hedge["spread"].iloc[59:].notna().all()
    assert {"hedge_ratio_mean", "hedge_ratio_std", "spread"} <= set(hedge.columns)
    assert not hedge["fallback"].any()


def test_numpy_and_pandas_inputs_agree(example):
    dated = example.set_index("date")
    from_pandas = BayesianPairsTrading().fit_dynamic_hedge(dated["y"], dated["x"], window=30)
    from_numpy = BayesianPairsTrading().fit_dynamic_hedge(example["y"].to_numpy(), list(example["x"]), window=30)
    assert isinstance(from_pandas.index, pd.DatetimeIndex)
    assert isinstance(from_numpy.index, pd.RangeIndex)
    np.testing.assert_allclose(from_pandas["hedge_ratio_mean"].to_numpy(), from_numpy["hedge_ratio_mean"].to_numpy())


def test_predict_before_fit_is_a_clear_error():
    fresh = BayesianPairsTrading()
    with pytest.raises(NotTrainedError, match="fit"):
        fresh.generate_signals()
    with pytest.raises(NotTrainedError, match="fit"):
        fresh.hedge


_rng = np.random.default_rng(5)
_X = 30 + np.cumsum(_rng.normal(size=120))
_Y = 1 + 1.3 * _X + _rng.normal(size=120)


@pytest.mark.parametrize("y, x, window, message", [
    ([], [], 60, "empty"),
    (_Y, np.full(120, 4.0), 60, "constant"),
    (np.full(120, 4.0), _X, 60, "constant"),
    (_Y[:50], _X[:50], 60, "minimum is 61"),
    (np.r_[_Y[:-1], np.nan], _X, 60, "NaN"),
    (_Y, np.r_[_X[:-1], np.inf], 60, "infinite"),
    (_Y, _X[:-3], 60, "misaligned"),
    (pd.Series(_Y, index=np.arange(120)), pd.Series(_X, index=np.arange(1, 121)), 60, "misaligned"),
    (_Y, _X, 5, "window"),
])
def test_edge_cases_raise_value_error_naming_the_problem(y, x, window, message):
    with pytest.raises(ValueError, match=message):
        BayesianPairsTrading().fit_dynamic_hedge(y, x, window=window)


def test_signals_with_a_trailing_lookback_start_flat_and_use_no_future():
    spread = pd.Series([0.0, 1, -1, 0, 1, -1, 0, 5, 4, 0, 0.2])
    positions = BayesianPairsTrading().generate_signals(spread, entry_threshold=1.5, exit_threshold=0.5, lookback=7)
    assert positions.iloc[:6].eq(0).all()  # no full lookback yet: no signal
    assert positions.iloc[7] == -1  # 5 is far above the trailing mean of the previous week
    changed = spread.copy()
    changed.iloc[9:] = -50.0  # the future does not move today's position
    assert BayesianPairsTrading().generate_signals(changed, 1.5, 0.5, lookback=7).iloc[:9].tolist() == positions.iloc[:9].tolist()


def test_signals_hold_between_entry_and_exit_with_an_exact_spread():
    spread = pd.Series([0, 3, 1, 1, 0.1, -3, -1, 0, 3, -3], dtype=float)
    z = (spread - spread.mean()) / spread.std()
    positions = BayesianPairsTrading().generate_signals(spread, entry_threshold=1.2, exit_threshold=0.1)
    # z ≈ [-0.05, 1.39, 0.43, 0.43, -0.005, -1.50, -0.53, -0.05, 1.39, -1.50]
    np.testing.assert_allclose(z.round(2), [-0.05, 1.39, 0.43, 0.43, -0.0, -1.5, -0.53, -0.05, 1.39, -1.5])
    # flat; enter short; hold; hold; exit; enter long; hold; exit; short; flip straight to long
    assert positions.tolist() == [0, -1, -1, -1, 0, 1, 1, 0, -1, 1]


def test_signal_thresholds_are_validated():
    with pytest.raises(ValueError, match="exit_threshold"):
        BayesianPairsTrading().generate_signals([0.0, 1.0, -1.0], entry_threshold=1.0, exit_threshold=1.5)
    with pytest.raises(ValueError, match="constant"):
        BayesianPairsTrading().generate_signals([1.0, 1.0, 1.0])


def test_rolling_ols_fallback_when_sampling_fails_is_flagged(example, monkeypatch):
    monkeypatch.setattr(samplers, "sample", _failing_sampler)
    model = BayesianPairsTrading()
    with pytest.warns(FallbackWarning, match="rolling OLS"):
        hedge = model.fit_dynamic_hedge(example["y"].iloc[:150], example["x"].iloc[:150], window=60,
                                        method="mcmc", **TINY)
    assert model.fallback.used and "forced failure" in model.fallback.reason
    assert hedge["fallback"].iloc[-1] and "forced failure" in hedge["fallback_reason"].iloc[-1]
    exact_ols = WindowPosterior.of(WindowStats.of(example["y"].to_numpy()[:150], example["x"].to_numpy()[:150], 60),
                                   NIGPrior.flat())
    np.testing.assert_allclose(hedge["hedge_ratio_mean"].iloc[59:], exact_ols.beta_mean, atol=5 * exact_ols.beta_sd.max())
    with pytest.warns(FallbackWarning):
        run = model.train(example.iloc[:150], **TINY)
    assert run.diagnostics["fallback"]["used"] and run.metadata["fit_path"] == "fallback"
    table = model.predict({"date": model.run_options(run)["date"][0]}, run)
    csv = pd.read_csv(io.StringIO(table.to_csv(index=False)))
    assert bool(csv["fallback"].iloc[0]) and "forced failure" in csv["fallback_reason"].iloc[0]


@pytest.mark.slow
def test_registry_round_trip_and_mcmc_agrees_with_the_closed_form(registry, example):
    model = registry.load_model_instance("pairs_trading", options={"window": 60})
    run = model.train(example.iloc[:120], draws=300, tune=300, chains=2, seed=4)
    assert run.metadata["options"]["window"] == 60 and not run.diagnostics["fallback"]["used"]
    assert run.metadata["fit_path"] == "mcmc"
    report = run.report("pairs")
    assert report["max_gap_in_mcse"] < 4.5  # 61 windows: MCMC means within a few MCSE of the exact ones
    draws = run.posterior_arrays(["hedge_ratio"])["hedge_ratio"]
    np.testing.assert_allclose(draws.std(axis=0, ddof=1), report["exact_hedge_ratio_std"], rtol=0.3)
    latest = model.run_options(run)["date"][0]
    assert latest == example["date"].iloc[119].strftime("%Y-%m-%d")
    table = model.predict({"date": latest, "entry_threshold": 2.0, "exit_threshold": 0.5}, run)
    csv = pd.read_csv(io.StringIO(table.to_csv(index=False)))
    row = csv.iloc[0]
    assert row["hedge_ratio_lower"] < row["hedge_ratio_mean"] < row["hedge_ratio_upper"]
    assert row["position"] in (-1, 0, 1) and not row["fallback"] and row["run_id"] == run.run_id
    with pytest.raises(ValueError, match="exit_threshold"):
        model.predict({"date": latest, "entry_threshold": 1.0, "exit_threshold": 2.0}, run)
    # The day may be left out (CLI, batch CSV): the latest day is used.
    blank = model.predict({"entry_threshold": 2.0, "exit_threshold": 0.5}, run)
    assert blank["date"].iloc[0] == latest and blank["hedge_ratio_mean"].iloc[0] == table["hedge_ratio_mean"].iloc[0]
    batch, problems = model.predict_batch(pd.DataFrame({"entry_threshold": [2.0], "exit_threshold": [0.5]}), run)
    assert not problems and batch["date"].tolist() == [latest]


@pytest.mark.slow  # trains the model (a nutpie compile)
def test_bad_convergence_keeps_the_trace_and_flags_rolling_ols_predictions(registry, example, monkeypatch):
    from bayes_core import fallback

    monkeypatch.setattr(fallback, "convergence_failure", lambda diag: "forced: R-hat too high")
    model = registry.load_model_instance("pairs_trading")
    with pytest.warns(FallbackWarning, match="rolling OLS"):
        run = model.train(example.iloc[:150], **TINY)
    assert run.diagnostics["fallback"]["used"] and "sample_stats" in run.idata.children  # the MCMC trace is kept
    assert (run.metadata["fit_path"], run.metadata["fit_method"], run.metadata["sampler"]) == \
        ("fallback", "rolling OLS", "nutpie")
    table = model.hedge_from_run(run)
    exact_ols = WindowPosterior.of(WindowStats.of(example["y"].to_numpy()[:150], example["x"].to_numpy()[:150], 60),
                                   NIGPrior.flat())
    np.testing.assert_allclose(table["hedge_ratio_mean"].iloc[59:], exact_ols.beta_mean)
    assert table["fallback"].all() and (table["fallback_reason"] == "forced: R-hat too high").all()
