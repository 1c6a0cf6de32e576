"""The hierarchical NB model: exact reduced likelihood, parameter recovery, predictions."""

import numpy as np
import pandas as pd
import pytest

from bayes_core.models.hierarchical_negbinom import HierarchicalNegBinomModel


@pytest.mark.parametrize("non_centered", [False, True])
def test_sufficient_statistics_give_the_plain_log_density(non_centered):
    model = HierarchicalNegBinomModel(options={"non_centered": non_centered})
    data = model.example_data(n_entities=7, seed=3)
    reduced, plain = model.build_model(data), model.build_predictive_model(data)
    logp_reduced, logp_plain = reduced.compile_logp(), plain.compile_logp()
    rng = np.random.default_rng(0)
    point = reduced.initial_point()
    for _ in range(5):
        trial = {k: v + rng.normal(0, 0.5, size=np.shape(v)) for k, v in point.items()}
        assert logp_reduced(trial) == pytest.approx(logp_plain(trial), rel=1e-10, abs=1e-8)


def test_reduced_graph_holds_no_per_observation_array():
    """Every constant in the reduced log-density is per entity or per distinct count, never per row,
    so a gradient costs O(entities + distinct counts) whatever the number of observations."""
    from pytensor.graph.basic import Constant
    from pytensor.graph.traversal import ancestors

    model = HierarchicalNegBinomModel()
    small = model.example_data(n_entities=5, seed=1)
    big = pd.concat([small] * 200, ignore_index=True)
    largest = max(np.size(v.data) for v in ancestors([model.build_model(big).logp()]) if isinstance(v, Constant))
    assert largest <= max(5, big["count"].nunique())
    plain = max(np.size(v.data) for v in ancestors([model.build_predictive_model(big).logp()]) if isinstance(v, Constant))
    assert plain >= len(big)  # the reference model does scale with N


@pytest.mark.slow
def test_recovers_true_parameters_from_example_data():
    model = HierarchicalNegBinomModel()
    fit = model.fit(draws=500, tune=500, chains=2, seed=11)
    summary = fit.summary
    for name, truth in model.true_parameters.items():
        lo, hi = summary.loc[name, "hdi94_lb"], summary.loc[name, "hdi94_ub"]
        assert lo <= truth <= hi, f"{name}: true {truth} outside 94% HDI [{lo:.3f}, {hi:.3f}]"


def test_predictions_are_coherent(nb_model, nb_run):
    base = {"entity": "E001", "windows": 1, "threshold": 3, "credible_level": 0.9}
    one = nb_model.predict(base, nb_run).iloc[0]
    assert one["known_entity"] and one["warning"] == ""
    assert one["rate_lower"] <= one["rate_mean"] <= one["rate_upper"]
    assert one["total_lower"] <= one["total_mean"] <= one["total_upper"]
    higher = nb_model.predict({**base, "threshold": 8}, nb_run).iloc[0]
    assert higher["p_window_at_least_threshold"] < one["p_window_at_least_threshold"]
    # one window: the total is that window
    assert one["p_total_at_least_threshold"] == pytest.approx(one["p_window_at_least_threshold"], rel=1e-12)
    four = nb_model.predict({**base, "windows": 4}, nb_run).iloc[0]
    assert four["p_window_at_least_threshold"] == pytest.approx(one["p_window_at_least_threshold"])
    assert four["p_total_at_least_threshold"] > one["p_total_at_least_threshold"]
    assert four["total_mean"] == pytest.approx(4 * one["total_mean"])
    assert four["rate_mean"] == pytest.approx(one["rate_mean"])
    wider = nb_model.predict({**base, "credible_level": 0.99}, nb_run).iloc[0]
    assert wider["rate_upper"] - wider["rate_lower"] > one["rate_upper"] - one["rate_lower"]


def test_unknown_entity_gets_population_prediction_with_warning(nb_model, nb_run):
    row = nb_model.predict({"entity": "never-seen"}, nb_run).iloc[0]
    assert not row["known_entity"]
    assert "population prediction" in row["warning"]
    again = nb_model.predict({"entity": "never-seen"}, nb_run).iloc[0]
    assert row["rate_mean"] == again["rate_mean"]  # deterministic across calls


def test_inference_params_are_validated_per_field(nb_model, nb_run):
    ok, errors = nb_model.validate_inference_params(
        {"entity": "E001", "windows": 0, "threshold": -1, "credible_level": 1.5}, nb_run)
    assert not ok
    assert errors == {"windows": "must be ≥ 1 (got 0)", "threshold": "must be ≥ 0 (got -1)",
                      "credible_level": "must be ≤ 0.99 (got 1.5)"}
    assert nb_model.validate_inference_params({"entity": "E001", "windows": "3"}, nb_run) == (True, {})


def test_batch_reports_bad_rows_and_predicts_good_ones(nb_model, nb_run):
    requests = pd.DataFrame({"entity": ["E001", "E002", "E003"], "windows": [1, "x", 2]})
    table, problems = nb_model.predict_batch(requests, nb_run)
    assert list(table["entity"]) == ["E001", "E003"]
    assert problems == [{"row": 3, "field": "windows", "message": "'x' is not a whole number"}]


def test_data_validation_names_every_problem(nb_model):
    from bayes_core.errors import DataValidationError

    bad = pd.DataFrame({"entity": ["a", "b", "c", ""], "count": [1, -2, 1.5, 3]})
    with pytest.raises(DataValidationError) as info:
        nb_model.load_data(bad)
    assert info.value.problems == [
        "column 'entity': empty value in row 5",
        "column 'count': not a whole number in row 4",
        "column 'count': negative value in row 3",
    ]
    with pytest.raises(DataValidationError, match=r"missing column\(s\): count"):
        nb_model.load_data(pd.DataFrame({"entity": ["a", "b"]}))


@pytest.mark.parametrize("windows", [1, 3, 400])
def test_count_interval_is_the_exact_mixture_quantile(windows):
    """Both quantile paths (one-pass grid, bisection for wide brackets) match a brute-force CDF."""
    from scipy import stats

    from bayes_core.models.hierarchical_negbinom import CountMixture, _mixture_quantiles

    rng = np.random.default_rng(4)
    theta, phi = rng.gamma(8.0, 0.5, size=300), rng.gamma(30.0, 0.1, size=300)
    n, p = windows * phi, phi / (phi + theta)
    ks = np.arange(0, int(windows * theta.max() * 3 + 100))
    cdf = stats.nbinom.cdf(ks[:, None], n, p).mean(axis=1)
    expected = [int(ks[np.argmax(cdf >= q)]) for q in (0.05, 0.95)]
    assert _mixture_quantiles(CountMixture(windows * theta, n, p), (0.05, 0.95)) == expected


@pytest.mark.parametrize("threshold", [0, 1, 5, 800])
def test_exceedance_probability_is_the_exact_mixture_tail(threshold):
    """P(Y ≥ k) from the log-space pmf grid (and the incomplete-beta path for large k) equals scipy's."""
    from scipy import stats

    from bayes_core.models.hierarchical_negbinom import CountMixture, _mixture_sf

    rng = np.random.default_rng(5)
    theta, phi = rng.gamma(8.0, 0.5, size=300), rng.gamma(30.0, 0.1, size=300)
    p = phi / (phi + theta)
    expected = stats.nbinom.sf(threshold - 1, phi, p).mean() if threshold > 0 else 1.0
    assert _mixture_sf(threshold, CountMixture.nb(phi, p)) == pytest.approx(expected, abs=1e-12)


def test_total_over_windows_probability_matches_simulated_sums():
    """p_total_at_least_threshold is P(sum of `windows` window counts ≥ threshold): checked against
    sums of simulated NB counts, per posterior draw (the per-window probability stays per window)."""
    from bayes_core.models.hierarchical_negbinom import predict_one

    rng = np.random.default_rng(6)
    draws = {"theta": rng.gamma(20.0, 0.2, size=(400, 1)), "phi": rng.gamma(30.0, 0.1, size=400),
             "entity_index": {"E0": 0}}
    row = predict_one(draws, {"entity": "E0", "windows": 4, "threshold": 20, "credible_level": 0.9})
    theta, phi = draws["theta"][:, 0], draws["phi"]
    # NB(mean θ, alpha φ) as a Gamma–Poisson mixture, 4 windows per draw, 500 repetitions
    counts = rng.poisson(rng.gamma(phi[:, None, None], theta[:, None, None] / phi[:, None, None], size=(400, 500, 4)))
    assert row["p_total_at_least_threshold"] == pytest.approx((counts.sum(axis=2) >= 20).mean(), abs=0.01)
    assert row["p_window_at_least_threshold"] == pytest.approx((counts[:, :, 0] >= 20).mean(), abs=0.01)
    assert row["p_total_at_least_threshold"] > 0.2 > 0.01 > row["p_window_at_least_threshold"]
