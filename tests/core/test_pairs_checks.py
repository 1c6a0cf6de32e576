"""The pairs-trading model's checks: SBC of its per-window regressions (each simulated window its own
draw and its own y, fitted under the template's prior) and prior sensitivity power-scaled one window
at a time, with densities that are the sampled model's own."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bayes_core.checks import ranks, sbc
from bayes_core.checks import sensitivity as sens
from bayes_core.rolling_regression import WindowStats

PAIRS = "pairs_trading"
SMALL = {"window": 20}


# -- pairs trading: SBC of the per-window regressions ----------------------------------------------------
@pytest.mark.slow
def test_pairs_sbc_passes_its_model_and_fails_a_fit_with_a_narrowed_slope_prior(registry):
    """Each simulated window gets its own draw of (c, β, σ²) and its own y; fitted under the template's
    prior, the ranks are uniform. Fitted with a slope prior 200 times narrower, they pile up. The 8
    windows' ranks pool per parameter: 25 simulations give 200 ranks each."""
    model = registry.load_model_instance(PAIRS, options=SMALL)
    data = model.example_data(n=200)
    settings = dict(sims=25, draws=200, tune=200, chains=2, seed=3)
    right = sbc.run_sbc(model, data, **settings)
    assert right["fits_errored"] == 0 and right["timings"]["compiles"] == 1  # the statistics are bound, not compiled
    assert [p["name"] for p in right["parameters"]] == ["hedge_ratio", "intercept_centered", "sigma2"]
    assert all(len(p["ranks"]) == len(p["n_draws"]) == 8 * right["n_ranked"] for p in right["parameters"])
    assert all(p["verdict"] == ranks.PASS for p in right["parameters"]), [(p["name"], p["p_value"])
                                                                         for p in right["parameters"]]
    wrong = sbc.run_sbc(model, data, fit_priors={"slope_scale": 0.05}, **settings)
    slope = next(p for p in wrong["parameters"] if p["name"] == "hedge_ratio")
    assert slope["verdict"] == ranks.FAIL and slope["p_value"] < 1e-6


# -- prior sensitivity, one window at a time ---------------------------------------------------------------
def _train(registry, **priors):
    model = registry.load_model_instance(PAIRS, options=SMALL, priors=priors or None)
    return model, model.train(model.example_data(n=160), draws=300, tune=300, chains=2, seed=4)


@pytest.fixture(scope="module")
def default_run(registry):
    return _train(registry)


@pytest.fixture(scope="module")
def narrow_run(registry):
    """Slopes held 200 times tighter around the full-sample OLS slope, while the example's hedge ratio
    moves from 1.5 to 1.1 to 0.8: the prior and the windows' data disagree."""
    return _train(registry, slope_scale=0.05)


def _share_flagged(payload, family="hedge_ratio") -> float:
    rows = [p for p in payload["parameters"] if p["name"].startswith(family + "[")]
    return sum(p["diagnosis"] != sens.NONE for p in rows) / len(rows)


@pytest.mark.slow
def test_window_densities_sum_to_the_sampled_models_own_log_density(default_run):
    model, run = default_run
    assert run.metadata["fit_path"] == "mcmc"
    data = model.load_data(run.data)
    pm_model = model.build_model(data)
    logp = pm_model.compile_logp(jacobian=False)
    stats = WindowStats.of(data["y"].to_numpy(float), data["x"].to_numpy(float), model.window)
    prior = model._prior(data)
    post = run.idata["posterior"].isel(chain=0)
    for draw in range(3):
        c, beta, sigma2 = (post[v].isel(draw=draw).values for v in ("intercept_centered", "hedge_ratio", "sigma2"))
        point = {v.name: np.log(sigma2) if v.name.startswith("sigma2") else {"intercept_centered": c,
                                                                            "hedge_ratio": beta}[v.name]
                 for v in pm_model.value_vars}
        ours = np.sum(prior.log_density(c, beta, sigma2) + stats.log_likelihood(c, beta, sigma2))
        assert ours == pytest.approx(float(logp(point)), rel=1e-9)


@pytest.mark.slow
def test_each_window_is_power_scaled_alone_and_a_narrow_slope_prior_conflicts(default_run, narrow_run, capsys):
    model, run = default_run
    payload = sens.compute(run, model)
    windows = run.idata["posterior"].sizes["window"]
    examined = min(40, windows)
    assert len(payload["parameters"]) == 3 * examined and f"{examined} of {windows} windows" in payload["scope"]
    last = str(run.idata["posterior"]["window"].values[-1])
    assert {f"hedge_ratio[{last}]", f"sigma2[{last}]"} <= {p["name"] for p in payload["parameters"]}
    assert _share_flagged(payload) <= 0.1, payload["verdict"]  # wide default priors: the data decide
    narrow_model, narrow = narrow_run
    conflicted = sens.compute(narrow, narrow_model)
    assert _share_flagged(conflicted) >= 0.5, conflicted["verdict"]
    assert "prior-data conflict" in conflicted["verdict"]

    from bayes_core.cli import main

    assert main(["check", "sensitivity", PAIRS, "--run", run.run_id, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["scope"] == payload["scope"] and len(out["parameters"]) == 3 * examined
