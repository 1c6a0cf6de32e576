"""bayes_core.draws: stacking order, deterministic thinning, intervals and HDI against numpy/ArviZ."""

from __future__ import annotations

import numpy as np
import pytest

from bayes_core import draws


def test_chains_are_stacked_chain_after_chain():
    values = np.arange(2 * 3 * 2).reshape(2, 3, 2)  # (chain, draw, element)
    stacked = draws.stack_chains(values)
    np.testing.assert_array_equal(stacked, np.concatenate([values[0], values[1]]))
    assert draws.draw_matrix(np.zeros((2, 3, 4, 5))).shape == (6, 20)
    with pytest.raises(ValueError, match="chain, draw"):
        draws.stack_chains(np.zeros(5))


def test_even_thinning_is_deterministic_and_keeps_both_ends():
    values = np.arange(4 * 250).reshape(4, 250)
    a, b = draws.stacked(values, 101), draws.stacked(values, 101)
    np.testing.assert_array_equal(a, b)
    assert len(a) == 101 and a[0] == 0 and a[-1] == 999 and np.all(np.diff(a) > 0)
    np.testing.assert_array_equal(draws.stacked(values, 5000), values.reshape(-1))  # fewer than asked: all
    assert draws.thinning_step(1000, 500) == 2 and draws.thinning_step(1000, 5000) == 1


def test_central_interval_is_numpys_quantiles():
    x = np.random.default_rng(0).gamma(2.0, size=(4001, 3))
    lower, upper = draws.central_interval(x, 0.9)
    np.testing.assert_allclose(lower, np.quantile(x, 0.05, axis=0))
    np.testing.assert_allclose(upper, np.quantile(x, 0.95, axis=0))


def test_hdi_on_known_arrays_and_against_arviz():
    from arviz_stats.base import array_stats

    assert draws.hdi(np.array([0.0, 1.0, 2.0, 3.0, 100.0]), 0.6) == (0.0, 3.0)  # the outlier is left out
    rng = np.random.default_rng(1)
    skewed = rng.gamma(2.0, size=4001)
    np.testing.assert_allclose(draws.hdi(skewed, 0.9), array_stats.hdi(skewed, 0.9))
    matrix = rng.normal(size=(3000, 4))
    np.testing.assert_allclose(np.stack(draws.hdi(matrix, 0.8, axis=0), axis=-1), array_stats.hdi(matrix, 0.8, axis=0))
    lo, hi = draws.hdi(skewed, 0.9)
    c_lo, c_hi = draws.central_interval(skewed, 0.9)
    assert hi - lo < c_hi - c_lo  # the shortest interval is shorter than the central one on a skewed posterior


@pytest.mark.parametrize("prob", [0, 1, 1.5, True])
def test_interval_probability_is_checked(prob):
    with pytest.raises(ValueError, match="between 0 and 1"):
        draws.hdi(np.arange(10.0), prob)
    with pytest.raises(ValueError, match="credible_level"):
        draws.central_interval(np.arange(10.0), prob)


def test_group_draws_of_a_run_match_the_trace(nb_run):
    posterior = nb_run.idata["posterior"]
    got = draws.group_draws(posterior, ["theta"])
    theta = posterior["theta"].values
    assert got["theta"].shape == (theta.shape[0] * theta.shape[1], theta.shape[2])
    np.testing.assert_array_equal(got["theta"][theta.shape[1]], theta[1, 0])  # chain 1 starts after chain 0
    np.testing.assert_array_equal(draws.posterior_of(nb_run.idata, "mu"), np.concatenate(list(posterior["mu"].values)))
