"""Bayesian Sharpe ratio and strategy comparison: likelihood, recovery, API, edge cases, registry."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

from bayes_core.errors import NotTrainedError
from bayes_core.models import (BayesianSharpeModel, StrategyComparisonModel, bayesian_sharpe,
                               compare_strategies_bayesian)
from bayes_core.models.sharpe import MIN_RETURNS
from tests.conftest import TINY

SMALL = dict(tune=300, seed=2)  # notebook API: `samples` sets the draws


def _returns(n=300, mean=0.0008, scale=0.01, seed=0):
    return mean + scale * np.random.default_rng(seed).standard_t(6, size=n)


@pytest.mark.slow
def test_comparison_likelihood_matches_plain_mvstudentt():
    model = StrategyComparisonModel()
    data = model.load_data()
    reduced, plain = model.build_model(data), model.build_predictive_model(data)
    point = {k: v + 0.1 for k, v in plain.initial_point().items()}
    assert reduced.compile_logp()(point) == pytest.approx(plain.compile_logp()(point), rel=1e-10)


@pytest.mark.slow
def test_sharpe_recovers_example_parameters():
    model = BayesianSharpeModel()
    fit = model.fit(draws=500, tune=500, chains=2, seed=3)
    assert fit.diagnostics["verdict"] != "problem"
    for name, truth in model.true_parameters.items():
        row = fit.summary.loc[name]
        assert abs(row["mean"] - truth) < 3 * row["sd"], name


@pytest.mark.slow
def test_bayesian_sharpe_api_numpy_and_pandas_agree_and_match_the_sample_sharpe():
    r = _returns(n=500)
    result = bayesian_sharpe(r, samples=800, **SMALL)
    assert set(result) == {"mean", "std", "hdi_low", "hdi_high", "prob_positive"}
    assert result["hdi_low"] < result["mean"] < result["hdi_high"] and 0 <= result["prob_positive"] <= 1
    series = pd.Series(r, index=pd.bdate_range("2021-01-01", periods=len(r)))
    assert bayesian_sharpe(series, samples=800, **SMALL) == pytest.approx(result)
    sample_sharpe = r.mean() / r.std(ddof=1) * math.sqrt(252)
    assert abs(result["mean"] - sample_sharpe) < 1.0 * result["std"]


@pytest.mark.slow
def test_risk_free_rate_and_annualisation_act_on_the_same_posterior():
    r = _returns(n=300, seed=4)
    base = bayesian_sharpe(r, samples=400, **SMALL)
    with_rf = bayesian_sharpe(r, samples=400, risk_free_rate=0.05, **SMALL)
    assert with_rf["mean"] < base["mean"] and with_rf["prob_positive"] <= base["prob_positive"]
    # Every draw's Sharpe ratio is its excess mean over its return sd, annualised with √periods.
    fit = BayesianSharpeModel(options={"periods_per_year": 12, "risk_free_rate": 0.05}).fit(
        pd.DataFrame({"return": r}), draws=100, chains=2, tune=200, seed=2)
    post = {k: fit.idata["posterior"][k].values.ravel() for k in ("sharpe", "mu", "scale", "nu")}
    rf = (1 + 0.05) ** (1 / 12) - 1
    implied = (post["mu"] - rf) / (post["scale"] * np.sqrt(post["nu"] / (post["nu"] - 2))) * math.sqrt(12)
    np.testing.assert_allclose(post["sharpe"], implied, rtol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("model_class", [BayesianSharpeModel, StrategyComparisonModel])
def test_the_sharpe_prior_is_weakly_informative_at_every_return_frequency(model_class):
    """The prior is on the annualised Sharpe ratio: about 95 % within ±3 for daily and monthly
    returns alike (the old ratio-of-priors spanned hundreds), and the prior predictive returns are
    on the data's own scale."""
    for periods in (252, 12):
        model = model_class(options={"periods_per_year": periods})
        tree = model.sample_prior_predictive(draws=1000, seed=1)
        sharpe = tree["prior"]["sharpe"].values.ravel()
        assert np.mean(np.abs(sharpe) < 3) > 0.93
        assert np.std(sharpe) == pytest.approx(model.priors["sharpe_sd"], rel=0.1)
        observed = tree["observed_data"]["returns"].values
        simulated = tree["prior_predictive"]["returns"].values
        ratio = np.subtract(*np.quantile(simulated, [0.9, 0.1])) / np.subtract(*np.quantile(observed, [0.9, 0.1]))
        assert 0.3 < ratio < 3, "prior predictive and observed returns share one (raw) scale"


@pytest.mark.slow
def test_compare_strategies_ranks_and_gives_consistent_pairwise_probabilities():
    data = StrategyComparisonModel().example_data()
    returns = {k: data.set_index("date")[k] for k in ("value", "carry", "momentum")}
    ranking, prob = compare_strategies_bayesian(returns, samples=800, **SMALL)
    assert list(ranking.index) == ["momentum", "carry", "value"]  # the true order (1.2, 0.6, 0.0)
    assert list(ranking["rank"]) == [1, 2, 3]
    assert ranking["sharpe_mean"].is_monotonic_decreasing
    assert (ranking["hdi_low"] < ranking["sharpe_mean"]).all() and (ranking["sharpe_mean"] < ranking["hdi_high"]).all()
    assert ranking["prob_best"].sum() == pytest.approx(1.0)
    assert list(prob.index) == list(prob.columns) == list(ranking.index)
    assert np.isnan(np.diag(prob.to_numpy())).all()
    assert prob.loc["momentum", "value"] + prob.loc["value", "momentum"] == pytest.approx(1.0)
    assert prob.loc["momentum", "value"] > 0.8
    truth = StrategyComparisonModel.true_parameters
    for name in ranking.index:
        assert abs(ranking.loc[name, "sharpe_mean"] - truth[f"sharpe[{name}]"]) < 3 * ranking.loc[name, "sharpe_sd"]
    arrays, _ = compare_strategies_bayesian({k: v.to_numpy() for k, v in returns.items()}, samples=800, **SMALL)
    np.testing.assert_allclose(arrays.loc[ranking.index, "sharpe_mean"], ranking["sharpe_mean"])


@pytest.mark.parametrize("returns, message", [
    ([], "empty input"),
    (np.full(50, 0.001), "constant"),
    (_returns(n=MIN_RETURNS - 1), f"minimum is {MIN_RETURNS}"),
    (np.r_[_returns(n=30), np.nan], "NaN"),
    (np.r_[_returns(n=30), np.inf], "infinite"),
])
def test_sharpe_edge_cases_raise_value_error(returns, message):
    with pytest.raises(ValueError, match=message):
        bayesian_sharpe(returns, samples=100)


@pytest.mark.parametrize("returns, message", [
    ({"a": _returns(40), "b": _returns(39)}, "misaligned"),
    ({"a": pd.Series(_returns(40)), "b": pd.Series(_returns(40), index=range(1, 41))}, "misaligned"),
    ({"a": _returns(40)}, "at least 2 strategies"),
    ({"a": _returns(40), "b": np.full(40, 0.01)}, "strategy 'b': constant"),
    ({"a": _returns(10), "b": _returns(10, seed=1)}, f"minimum is {MIN_RETURNS}"),
    ({"a": [], "b": []}, "empty input"),
])
def test_comparison_edge_cases_raise_value_error(returns, message):
    with pytest.raises(ValueError, match=message):
        compare_strategies_bayesian(returns, samples=100)


def test_bad_settings_and_csv_problems_are_named(registry):
    with pytest.raises(ValueError, match="samples"):
        bayesian_sharpe(_returns(), samples=0)
    with pytest.raises(ValueError, match="periods_per_year"):
        bayesian_sharpe(_returns(), periods_per_year=0)
    sharpe = registry.load_model_instance("bayesian_sharpe")
    dup = b"date,return\n" + b"".join(f"2024-01-{1 + i % 25:02d},{v}\n".encode() for i, v in enumerate(_returns(30)))
    with pytest.raises(ValueError, match="duplicate dates"):
        sharpe.load_data(dup)
    unsorted = sharpe.load_data(pd.DataFrame({"date": [f"2024-03-{d:02d}" for d in range(25, 0, -1)],
                                              "return": _returns(25)}))
    assert unsorted["date"].is_monotonic_increasing
    comparison = registry.load_model_instance("strategy_comparison")
    with pytest.raises(ValueError, match="not numeric returns"):
        comparison.load_data(pd.DataFrame({"a": _returns(30), "b": _returns(30, seed=1), "note": ["x"] * 30}))


def test_predict_before_training_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(tmp_path))
    for model in (BayesianSharpeModel(), StrategyComparisonModel()):
        with pytest.raises(NotTrainedError, match="no trained run"):
            model.predict({"credible_level": 0.9})


@pytest.mark.slow
def test_sharpe_registry_round_trip(registry):
    from bayes_core.artifacts import load_run

    model = registry.load_model_instance("bayesian_sharpe", options={"risk_free_rate": 0.02})
    run = load_run("bayesian_sharpe", model.train(**TINY).run_id)
    assert run.metadata["options"]["risk_free_rate"] == 0.02
    assert run.report("sharpe")["risk_free_rate"] == 0.02
    row = model.predict({"threshold": 0.5, "credible_level": 0.9}, run)
    assert row["sharpe_lower"].iloc[0] < row["sharpe_mean"].iloc[0] < row["sharpe_upper"].iloc[0]
    assert row["prob_sharpe_above_threshold"].iloc[0] <= row["prob_sharpe_positive"].iloc[0]
    table, problems = model.predict_batch(pd.DataFrame({"threshold": [0.0, 99.0], "credible_level": [0.9, 0.9]}), run)
    assert len(table) == 1 and problems[0]["field"] == "threshold"
    back = pd.read_csv(io.StringIO(table.to_csv(index=False)))
    assert {"sharpe_mean", "prob_sharpe_positive", "run_id"} <= set(back.columns)


@pytest.mark.slow
def test_predictions_agree_with_the_runs_summary_and_report(registry):
    """Every page shows the same Sharpe ratio: predictions use all the run's draws (2,200 here),
    not a thinned subset that would move the mean and the HDI away from the summary's."""
    model = registry.load_model_instance("bayesian_sharpe")
    run = model.train(draws=1100, tune=100, chains=2, seed=3)
    row = model.predict({"threshold": 0.0, "credible_level": 0.94}, run).iloc[0]
    summary, report = run.summary.loc["sharpe"], run.report("sharpe")
    assert row["sharpe_mean"] == pytest.approx(summary["mean"], rel=1e-12) == report["mean"]
    assert (row["sharpe_lower"], row["sharpe_upper"]) == pytest.approx((summary["hdi94_lb"], summary["hdi94_ub"]))
    assert row["prob_sharpe_positive"] == pytest.approx(report["prob_positive"])


@pytest.mark.slow
def test_comparison_registry_round_trip(registry):
    from bayes_core.artifacts import load_run

    model = registry.load_model_instance("strategy_comparison")
    run = load_run("strategy_comparison", model.train(**TINY).run_id)
    fields = {f["name"]: f for f in model.get_inference_form_fields(run)}
    assert sorted(fields["strategy_a"]["options"]) == ["carry", "momentum", "value"]
    assert fields["strategy_b"]["default"] == fields["strategy_a"]["options"][1]  # best vs runner-up
    row = model.predict({"strategy_a": "momentum", "strategy_b": "value", "credible_level": 0.9}, run)
    assert 0 <= row["prob_a_greater"].iloc[0] <= 1
    assert row["difference_mean"].iloc[0] == pytest.approx(row["sharpe_a_mean"].iloc[0] - row["sharpe_b_mean"].iloc[0])
    ok, errors = model.validate_inference_params({"strategy_a": "nope", "strategy_b": "value"}, run)
    assert not ok and "strategy_a" in errors
    ok, errors = model.validate_inference_params({"strategy_a": "carry", "strategy_b": "carry"}, run)
    assert not ok and "different" in errors["strategy_b"]
    report = run.report("ranking")
    assert [r["strategy"] for r in report["ranking"]] and set(report["prob_greater"]) == {"momentum", "carry", "value"}
    csv = row.to_csv(index=False)
    assert "prob_a_greater" in csv.splitlines()[0]
