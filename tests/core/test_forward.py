"""The vectorised forward functions are PyMC's own results: for every model, the same elementwise
log-likelihood as ``compute_log_likelihood`` and the same posterior predictive draws as
``sample_posterior_predictive`` with the same seed; where a model cannot be vectorised the function
says so (None) and the per-draw path runs. A kept function takes a new model's data containers."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest

from bayes_core import compiled, forward

# Models whose posterior predictive is vectorised (the others have an Op with no batched form, or
# more observed values a draw than MAX_VALUES_PER_DRAW); every model's log-likelihood is.
VECTORISED_PREDICTIVE = {"bayesian_linear_regression", "bayesian_sharpe", "hierarchical_negbinom", "pairs_trading"}
NOT_VECTORISED_LOG_LIKELIHOOD = {"player_props"}  # 23,000 observed values a draw
# PyMC's per-draw references are compiled as the vectorised functions are (what is under test is the
# vectorisation): numba's fast-math kernels need not agree with numpy where a term is -inf, and their
# compile would be most of this file's time on a fresh machine
SAME_MODE = {"mode": forward.forward_mode()}


def prior_as_posterior(model, draws: int = 12):
    """Prior draws of every free variable, shaped like a posterior (one chain): no sampler needed."""
    with model:
        prior = pm.sample_prior_predictive(draws=draws, random_seed=5, compile_kwargs=SAME_MODE)["prior"].to_dataset()
    return prior[[rv.name for rv in model.free_RVs]]


@pytest.mark.parametrize("model_id", ["bayesian_linear_regression", "bayesian_sharpe", "hierarchical_negbinom",
                                      "pairs_trading", "player_props", "stochastic_volatility",
                                      "strategy_comparison"])
def test_forward_functions_are_pymcs_results(registry, model_id):
    model = registry.load_model_instance(model_id)
    predictive = model.build_predictive_model(model.load_data())
    posterior = prior_as_posterior(predictive)
    with compiled.scoped(None):  # built afresh here, not taken from a kept function
        log_lik = forward.log_likelihood(predictive, posterior)
        with predictive:
            pp = forward.posterior_predictive(predictive, posterior, random_seed=11)
    assert (log_lik is None) == (model_id in NOT_VECTORISED_LOG_LIKELIHOOD)
    assert (pp is not None) == (model_id in VECTORISED_PREDICTIVE)
    if log_lik is not None:
        reference = pm.compute_log_likelihood({"posterior": posterior}, model=predictive, extend_inferencedata=False,
                                              progressbar=False, compile_kwargs=SAME_MODE)
        assert set(log_lik) == set(reference.data_vars)
        for name, values in log_lik.items():
            np.testing.assert_allclose(values, reference[name].values, rtol=1e-10, atol=1e-10)
    if pp is not None:
        with predictive:
            reference = pm.sample_posterior_predictive(posterior, random_seed=11, progressbar=False,
                                                       compile_kwargs=SAME_MODE)
        for group in ("posterior_predictive", "observed_data"):
            mine, theirs = pp[group].to_dataset(), reference[group].to_dataset()
            assert set(mine.data_vars) == set(theirs.data_vars)
            for name in theirs.data_vars:
                assert mine[name].dims == theirs[name].dims
                # the same draws (float arithmetic may differ in the last bits)
                np.testing.assert_allclose(mine[name].values, theirs[name].values, rtol=1e-12, atol=1e-12)


def test_a_kept_function_reads_the_new_models_data_and_seed():
    def build(y):
        with pm.Model() as model:
            x = pm.Data("x", np.linspace(0, 1, y.size))
            mu = pm.Normal("mu")
            sigma = pm.HalfNormal("sigma")
            pm.Normal("y", mu + x, sigma, observed=pm.Data("y_obs", y))
        return model

    rng = np.random.default_rng(0)
    first, second = build(rng.normal(size=30)), build(rng.normal(size=30) + 5)
    posterior = prior_as_posterior(first)
    with compiled.scoped(compiled.CompiledModels()) as cache:
        for model in (first, second, first):
            log_lik = forward.log_likelihood(model, posterior)
            reference = pm.compute_log_likelihood({"posterior": posterior}, model=model, extend_inferencedata=False,
                                                  progressbar=False, compile_kwargs=SAME_MODE)
            np.testing.assert_allclose(log_lik["y"], reference["y"].values, rtol=1e-12)
            for seed in (1, 2):
                with model:
                    pp = forward.posterior_predictive(model, posterior, random_seed=seed)
                    expected = pm.sample_posterior_predictive(posterior, random_seed=seed, progressbar=False,
                                                             compile_kwargs=SAME_MODE)
                np.testing.assert_allclose(pp["posterior_predictive"]["y"].values,
                                           expected["posterior_predictive"]["y"].values, rtol=1e-12, atol=1e-12)
                np.testing.assert_array_equal(pp["observed_data"]["y"].values, expected["observed_data"]["y"].values)
        assert len(cache._functions) == 2  # one log-likelihood and one predictive function, reused


VECTORISED_PRIOR = {"bayesian_linear_regression", "bayesian_sharpe", "hierarchical_negbinom"}


@pytest.mark.parametrize("model_id", ["bayesian_linear_regression", "bayesian_sharpe", "hierarchical_negbinom",
                                      "pairs_trading", "stochastic_volatility", "strategy_comparison"])
def test_prior_predictive_has_pymcs_distribution(registry, model_id):
    """The vectorised prior predictive draws in another order than PyMC's per-draw loop, so its values
    differ for a seed: its groups, variables, dims and shapes are PyMC's, and every variable's first
    element has PyMC's distribution (two-sample Kolmogorov–Smirnov over 1,000 draws each)."""
    from scipy import stats

    model = registry.load_model_instance(model_id)
    predictive = model.build_predictive_model(model.load_data())
    with compiled.scoped(None):
        tree = forward.prior_predictive(predictive, 1000, random_seed=3)
    assert (tree is not None) == (model_id in VECTORISED_PRIOR)
    if tree is None:
        return
    with predictive:
        reference = pm.sample_prior_predictive(draws=1000, random_seed=4, compile_kwargs=SAME_MODE)
    for group in ("prior", "prior_predictive", "observed_data"):
        mine, theirs = tree[group].to_dataset(), reference[group].to_dataset()
        assert set(mine.data_vars) == set(theirs.data_vars)
        for name in theirs.data_vars:
            assert mine[name].dims == theirs[name].dims and mine[name].shape == theirs[name].shape
            if group == "observed_data":
                np.testing.assert_array_equal(mine[name].values, theirs[name].values)
                continue
            first = mine[name].values.reshape(1000, -1)[:, 0], theirs[name].values.reshape(1000, -1)[:, 0]
            assert np.std(first[0]) > 0 and stats.ks_2samp(*first).pvalue > 1e-3, (group, name)


def test_a_kept_function_serves_concurrent_callers_each_with_its_own_data():
    """The app serves sessions from threads: two analysts moving the same model's prior slider at once
    each get draws under their own hyper-parameter (binding and calling a kept function is one step)."""
    from concurrent.futures import ThreadPoolExecutor

    def build(location):
        with pm.Model() as model:
            mu = pm.Normal("mu", pm.Data("mu_location", location), 0.01)
            pm.Normal("y", mu, 0.01, observed=np.zeros(5))
        return model

    def mean_of_mu(location):
        tree = forward.prior_predictive(build(location), 200, random_seed=int(location))
        return location, float(tree["prior"]["mu"].mean())

    with compiled.scoped(compiled.CompiledModels()) as cache:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(mean_of_mu, [0.0, 100.0] * 20))
        assert len(cache._functions) == 1  # one kept function served every call
    for location, mean in results:
        assert mean == pytest.approx(location, abs=0.01)


def test_each_observed_variable_gets_its_own_log_likelihood():
    """Several observed variables (player props: goals, shots, cards) each get their own terms, not
    another's: PyMC's joint ``logp(sum=False)`` lists its terms in an order of its own."""
    rng = np.random.default_rng(3)
    with pm.Model() as model:
        rate = pm.Gamma("rate", 2.0, 1.0, shape=2)
        spread = pm.HalfNormal("spread")
        pm.Poisson("goals", rate[0], observed=rng.poisson(1.0, 40))
        pm.Normal("shots", rate[1], spread, observed=rng.normal(3.0, 1.0, 40))
        pm.Poisson("cards", rate[1], observed=rng.poisson(3.0, 40))
    posterior = prior_as_posterior(model)
    with compiled.scoped(None):
        log_lik = forward.log_likelihood(model, posterior)
    reference = pm.compute_log_likelihood({"posterior": posterior}, model=model, extend_inferencedata=False,
                                          progressbar=False, compile_kwargs=SAME_MODE)
    assert list(log_lik) == ["goals", "shots", "cards"]
    for name, values in log_lik.items():
        np.testing.assert_allclose(values, reference[name].values, rtol=1e-10, atol=1e-10)


def test_a_failed_compile_takes_pymcs_path_once_and_is_not_kept(monkeypatch, caplog):
    """A structure that cannot be vectorised is remembered; a compile that fails (memory, a compiler)
    is not: that call takes PyMC's per-draw path and the next one builds the function."""
    with pm.Model() as model:
        mu = pm.Normal("mu")
        pm.Normal("y", mu, 1.0, observed=np.zeros(5))
    posterior = prior_as_posterior(model)
    real_compile, failures = pm.compile, iter([MemoryError("no room for the batched graph")])

    def compile_failing_once(*args, **kwargs):
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return real_compile(*args, **kwargs)

    monkeypatch.setattr(pm, "compile", compile_failing_once)
    with compiled.scoped(compiled.CompiledModels()) as cache:
        with caplog.at_level("WARNING", logger="bayes_core.forward"):
            assert forward.log_likelihood(model, posterior) is None
        assert "could not compile the log_likelihood function (MemoryError" in caplog.text
        assert not cache._functions
        assert forward.log_likelihood(model, posterior)["y"].shape == (1, 12, 5)
        assert len(cache._functions) == 1


def test_pymcs_per_draw_path_answers_where_a_model_cannot_be_vectorised(monkeypatch):
    """The functions callers take (``sample_posterior_predictive``, ``compute_log_likelihood``,
    ``sample_prior_predictive``) give PyMC's per-draw results where the vectorised ones decline."""
    rng = np.random.default_rng(4)
    with pm.Model() as model:
        mu = pm.Normal("mu")
        pm.Normal("y", mu, 1.0, observed=rng.normal(size=6))
    posterior = prior_as_posterior(model)
    monkeypatch.setattr(forward, "MAX_VALUES_PER_DRAW", 0)  # "too many values a draw": the per-draw path
    monkeypatch.setattr(forward, "prior_predictive", lambda *args, **kwargs: None)
    with compiled.scoped(None):
        assert forward.posterior_predictive(model, posterior, 3) is None and forward.log_likelihood(model, posterior) is None
        pp = forward.sample_posterior_predictive(model, posterior, random_seed=3)
        log_lik = forward.compute_log_likelihood(model, posterior)
        prior = forward.sample_prior_predictive(model, 7, random_seed=3)
    expected = pm.sample_posterior_predictive(posterior, model=model, random_seed=3, progressbar=False,
                                              compile_kwargs=SAME_MODE)
    np.testing.assert_array_equal(pp["posterior_predictive"]["y"].values, expected["posterior_predictive"]["y"].values)
    reference = pm.compute_log_likelihood({"posterior": posterior}, model=model, extend_inferencedata=False,
                                          progressbar=False)
    np.testing.assert_allclose(log_lik["y"], reference["y"].values, rtol=1e-12)
    assert prior["prior"]["mu"].shape == (1, 7) and prior["prior_predictive"]["y"].shape == (1, 7, 6)
