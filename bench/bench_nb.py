"""NB model: the project path (reduced likelihood + nutpie) against stock samplers of the plain
per-observation model, and scaling in N. Every contender runs in this invocation on the same data."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from bench.common import median_time


def synthetic(n_entities: int, n_obs: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mu, alpha, phi = 4.0, 2.0, 3.0
    theta = rng.gamma(mu * alpha, 1 / alpha, size=n_entities)
    idx = np.concatenate([np.arange(n_entities), rng.integers(0, n_entities, size=n_obs - n_entities)])
    counts = rng.poisson(rng.gamma(phi, theta[idx] / phi))
    return pd.DataFrame({"entity": [f"E{i:05d}" for i in idx], "count": counts})


def _score(idata, wall: float) -> dict[str, Any]:
    from bayes_core import diagnostics

    summary = diagnostics.summary_table(idata, var_names=["mu", "alpha", "phi", "theta"])
    ess = float(summary["ess_bulk"].min())
    head = summary.loc[["mu", "alpha", "phi"]]
    return {"wall_s": wall, "ess_bulk_min": ess, "ess_per_s": ess / wall, "r_hat_max": float(summary["r_hat"].max()),
            "divergences": diagnostics.divergence_count(idata),
            "means": head["mean"].to_dict(), "mcse": head["mcse_mean"].to_dict()}


def project_path(data: pd.DataFrame, draws: int, tune: int, chains: int) -> dict[str, Any]:
    from bayes_core.models.hierarchical_negbinom import HierarchicalNegBinomModel

    model = HierarchicalNegBinomModel()
    t0 = time.perf_counter()
    fit = model.fit(data, draws=draws, tune=tune, chains=chains, seed=1)
    return _score(fit.idata, time.perf_counter() - t0)


def stock_pymc(data: pd.DataFrame, draws: int, tune: int, chains: int) -> dict[str, Any]:
    import pymc as pm

    from bayes_core.models.hierarchical_negbinom import HierarchicalNegBinomModel

    t0 = time.perf_counter()
    with HierarchicalNegBinomModel().build_predictive_model(data):
        idata = pm.sample(draws=draws, tune=tune, chains=chains, target_accept=0.9, random_seed=1,
                          progressbar=False)
    return _score(idata, time.perf_counter() - t0)


def stock_numpyro(data: pd.DataFrame, draws: int, tune: int, chains: int) -> dict[str, Any]:
    import arviz as az
    import jax
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS

    idx, entities = pd.factorize(data["entity"], sort=True)
    y = data["count"].to_numpy()

    def model(idx, y):
        mu = numpyro.sample("mu", dist.Exponential(0.1))
        alpha = numpyro.sample("alpha", dist.HalfNormal(2.0))
        phi = numpyro.sample("phi", dist.HalfNormal(2.0))
        with numpyro.plate("entity", len(entities)):
            theta = numpyro.sample("theta", dist.Gamma(mu * alpha, alpha))
        numpyro.sample("y", dist.NegativeBinomial2(theta[idx], phi), obs=y)

    t0 = time.perf_counter()
    mcmc = MCMC(NUTS(model, target_accept_prob=0.9), num_warmup=tune, num_samples=draws, num_chains=chains,
                chain_method="sequential", progress_bar=False)
    mcmc.run(jax.random.PRNGKey(1), idx, y)
    idata = az.from_numpyro(mcmc)
    return _score(idata, time.perf_counter() - t0)


def agree(results: dict[str, dict[str, Any]], k: float = 4.0) -> dict[str, bool]:
    """Do posterior means of μ, α, φ agree across paths within k combined MCSE?"""
    out = {}
    names = list(results)
    for param in ("mu", "alpha", "phi"):
        ok = True
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                ra, rb = results[a], results[b]
                se = np.hypot(ra["mcse"][param], rb["mcse"][param])
                ok &= abs(ra["means"][param] - rb["means"][param]) <= k * se
        out[param] = bool(ok)
    return out


def gradient_times(data: pd.DataFrame, repeats: int) -> dict[str, float]:
    from bayes_core.models.hierarchical_negbinom import HierarchicalNegBinomModel

    model = HierarchicalNegBinomModel()
    out = {}
    for label, pm_model in (("reduced", model.build_model(data)), ("plain", model.build_predictive_model(data))):
        dlogp = pm_model.compile_dlogp()
        point = pm_model.initial_point()
        out[f"{label}_gradient_ms"] = 1e3 * median_time(lambda: dlogp(point), repeats)
    return out


def run(mode: str) -> dict[str, Any]:
    sizes = {"full": dict(entities=200, obs=20_000, draws=1000, tune=1000, chains=4, big=1_000_000, big_entities=5000),
             "quick": dict(entities=200, obs=20_000, draws=300, tune=300, chains=2, big=200_000, big_entities=2000),
             "smoke": dict(entities=20, obs=400, draws=30, tune=30, chains=1, big=2_000, big_entities=50)}[mode]
    s = sizes
    data = synthetic(s["entities"], s["obs"])
    contenders = {"project (reduced + nutpie)": project_path, "stock PyMC (nutpie, plain)": stock_pymc,
                  "stock NumPyro CPU (plain)": stock_numpyro}
    training = {name: fn(data, s["draws"], s["tune"], s["chains"]) for name, fn in contenders.items()}
    best_stock = max(v["ess_per_s"] for k, v in training.items() if not k.startswith("project"))
    speedup = training["project (reduced + nutpie)"]["ess_per_s"] / best_stock

    small = synthetic(s["big_entities"], max(s["obs"], s["big_entities"]))
    big = synthetic(s["big_entities"], s["big"])
    scale_small = project_path(small, s["draws"], s["tune"], s["chains"])
    scale_big = project_path(big, s["draws"], s["tune"], s["chains"])
    return {
        "sizes": s,
        "training": training,
        "ess_per_s_speedup_vs_best_stock": speedup,
        "means_agree_within_4_mcse": agree(training),
        "scaling": {
            "n_small": len(small), "n_big": len(big),
            "wall_small_s": scale_small["wall_s"], "wall_big_s": scale_big["wall_s"],
            "wall_ratio": scale_big["wall_s"] / scale_small["wall_s"],
            "gradient_small": gradient_times(small, 20), "gradient_big": gradient_times(big, 5),
        },
    }
