"""Hierarchical Gamma–Negative-Binomial event-rate model.

    μ ~ Exponential(rate = priors.mu_rate)           population mean rate
    α ~ HalfNormal(priors.alpha_sigma)               concentration of entity rates
    φ ~ HalfNormal(priors.phi_sigma)                 NB over-dispersion
    θ_i ~ Gamma(shape = μ·α, rate = α)               rate of entity i (mean μ, variance μ/α)
    y_ij ~ NegativeBinomial(mu = θ_i, alpha = φ)

Non-centred option: θ_i = μ·θ_raw_i with θ_raw_i ~ Gamma(μ·α, μ·α) (mean 1). This is an exact
reparameterisation of the centred prior (Gamma(μα, α) = μ·Gamma(μα, μα)); the shorter form
Gamma(α, α) would change the model (variance μ²/α instead of μ/α), so it is not used.

Sampling uses the likelihood reduced to exact sufficient statistics: per entity the count n_i and
sum S_i, and the multiplicity c_v of each distinct count v for the lgamma(v + φ) term, so one
gradient costs O(entities + distinct counts) instead of O(observations). The plain
per-observation model is kept for prior/posterior predictive and as the reference in tests.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import pandas as pd

from bayes_core.artifacts import Run
from bayes_core.base import BaseBayesianModel
from bayes_core.data import Column, DataSchema


class SufficientStats:
    """Exact sufficient statistics of NB counts grouped by entity."""

    def __init__(self, entity_idx: np.ndarray, counts: np.ndarray, n_entities: int):
        self.n = np.bincount(entity_idx, minlength=n_entities).astype(float)
        self.s = np.bincount(entity_idx, weights=counts, minlength=n_entities).astype(float)
        self.values, self.multiplicity = np.unique(counts, return_counts=True)
        self.total = len(counts)
        from scipy.special import gammaln

        self.log_factorial_sum = float(gammaln(counts + 1.0).sum())


class HierarchicalNegBinomModel(BaseBayesianModel):
    config_id = "hierarchical_negbinom"
    headline_vars = ["mu", "alpha", "phi"]
    true_parameters = {"mu": 4.0, "alpha": 2.0, "phi": 3.0}

    def data_schema(self) -> DataSchema:
        return DataSchema(
            columns=(Column("entity", "string", description="any id of the entity the counts belong to"),
                     Column("count", "integer", min_value=0, description="events in one window")),
            min_rows=2,
            description="One row per entity per window: `entity`, `count` (non-negative integer).",
        )

    def example_data(self, n_entities: int = 30, seed: int = 42) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        t = self.true_parameters
        theta = rng.gamma(shape=t["mu"] * t["alpha"], scale=1.0 / t["alpha"], size=n_entities)
        windows = rng.integers(10, 30, size=n_entities)
        entity = np.repeat([f"E{i:03d}" for i in range(n_entities)], windows)
        rates = np.repeat(theta, windows)
        # NB(mu, alpha) as a Gamma–Poisson mixture: λ ~ Gamma(φ, φ/μ), y ~ Poisson(λ)
        counts = rng.poisson(rng.gamma(shape=t["phi"], scale=rates / t["phi"]))
        return pd.DataFrame({"entity": entity, "count": counts})

    # -- model ---------------------------------------------------------------------------------
    @staticmethod
    def _index(data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        codes, entities = pd.factorize(data["entity"].astype(str), sort=True)
        return codes, np.asarray(entities, dtype=str)

    def _hyperpriors(self, coords_entities: np.ndarray):
        import pymc as pm

        p = self.priors
        mu = pm.Exponential("mu", lam=p["mu_rate"])
        alpha = pm.HalfNormal("alpha", sigma=p["alpha_sigma"])
        phi = pm.HalfNormal("phi", sigma=p["phi_sigma"])
        if self.options.get("non_centered"):
            theta_raw = pm.Gamma("theta_raw", alpha=mu * alpha, beta=mu * alpha, dims="entity")
            theta = pm.Deterministic("theta", mu * theta_raw, dims="entity")
        else:
            theta = pm.Gamma("theta", alpha=mu * alpha, beta=alpha, dims="entity")
        return theta, phi

    def build_model(self, data: pd.DataFrame):
        """The sampled model: NB log-likelihood from sufficient statistics (exact)."""
        import pymc as pm
        import pytensor.tensor as pt

        idx, entities = self._index(data)
        stats = SufficientStats(idx, data["count"].to_numpy(), len(entities))
        with pm.Model(coords={"entity": entities}) as model:
            theta, phi = self._hyperpriors(entities)
            log_phi_theta = pt.log(phi + theta)
            loglik = (
                pt.sum(stats.multiplicity * pt.gammaln(stats.values + phi))
                - stats.total * pt.gammaln(phi)
                - stats.log_factorial_sum
                + phi * pt.sum(stats.n * (pt.log(phi) - log_phi_theta))
                + pt.sum(stats.s * (pt.log(theta) - log_phi_theta))
            )
            pm.Potential("loglik", loglik)
        return model

    def build_predictive_model(self, data: pd.DataFrame):
        """The plain per-observation model (reference likelihood; prior/posterior predictive)."""
        import pymc as pm

        idx, entities = self._index(data)
        with pm.Model(coords={"entity": entities, "obs": np.arange(len(data))}) as model:
            theta, phi = self._hyperpriors(entities)
            entity_idx = pm.Data("entity_idx", idx, dims="obs")
            pm.NegativeBinomial("y", mu=theta[entity_idx], alpha=phi, observed=data["count"].to_numpy(), dims="obs")
        return model

    # -- prediction ----------------------------------------------------------------------------
    def run_options(self, run: Run | None) -> dict[str, list[Any]]:
        if run is None:
            return {}
        return {"entity": [str(e) for e in run.idata["posterior"]["entity"].values]}

    def predict_rows(self, run: Run, requests: list[dict[str, Any]]) -> pd.DataFrame:
        from bayes_core.predictor import draws_for_run

        draws = draws_for_run(run, max_draws=PREDICTION_DRAWS)
        # Identical requests (common in batch files) are computed once.
        keys = [(str(r["entity"]), int(r["windows"]), int(r["threshold"]), float(r["credible_level"])) for r in requests]
        unique = {key: predict_one(draws, dict(zip(("entity", "windows", "threshold", "credible_level"), key)))
                  for key in dict.fromkeys(keys)}
        return pd.DataFrame([unique[key] for key in keys])


PREDICTION_DRAWS = 1000  # posterior draws used per prediction: ample for intervals and tail probabilities


def nb_cdf(k, n, p):
    """NB CDF with real-valued size ``n`` and success probability ``p``: P(Y ≤ k) = I_p(n, k + 1)."""
    from scipy.special import betainc

    return betainc(n, np.asarray(k, dtype=float) + 1.0, p)


def predict_one(draws: dict[str, Any], req: dict[str, Any]) -> dict[str, Any]:
    """Prediction for one request from cached draws (``mu``, ``alpha``, ``phi``, ``theta``, ``entity_index``)."""
    entity, windows, threshold, level = str(req["entity"]), int(req["windows"]), int(req["threshold"]), float(req["credible_level"])
    known = entity in draws["entity_index"]
    if known:
        theta = draws["theta"][:, draws["entity_index"][entity]]
        warning = ""
    else:  # a new entity: its rate drawn from the population distribution, one per posterior draw
        rng = np.random.default_rng(zlib.crc32(entity.encode()))
        theta = rng.gamma(draws["mu"] * draws["alpha"], 1.0 / draws["alpha"])
        warning = f"unknown entity {entity!r}: population prediction (a new entity drawn from the fitted population)"
    phi = draws["phi"]
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    p_window = phi / (phi + theta)
    # The sum of `windows` iid NB(θ, φ) counts is NB(mean = w·θ, alpha = w·φ): same p, size w·φ.
    n_total = windows * phi
    p_exceed = 1.0 - float(nb_cdf(threshold - 1, phi, p_window).mean()) if threshold > 0 else 1.0
    mean_total = windows * theta
    total_lower, total_upper = _mixture_quantiles(n_total, p_window, mean_total, (lo_q, hi_q))
    return {
        "entity": entity,
        "known_entity": known,
        "windows": windows,
        "threshold": threshold,
        "credible_level": level,
        "rate_mean": float(theta.mean()),
        "rate_lower": float(np.quantile(theta, lo_q)),
        "rate_upper": float(np.quantile(theta, hi_q)),
        "total_mean": float(mean_total.mean()),
        "total_lower": total_lower,
        "total_upper": total_upper,
        "p_at_least_threshold": p_exceed,
        "warning": warning,
    }


def _mixture_quantiles(n: np.ndarray, p: np.ndarray, means: np.ndarray, qs: tuple[float, ...]) -> list[int]:
    """Exact quantiles of the posterior predictive mixture of NB(n_d, p_d) over draws d.

    The mixture CDF is evaluated on a bracket of ±8 sd around the draws' means in one pass: the pmf
    of each draw by its ratio recursion in log space, then a cumulative sum (no per-k special calls).
    """
    from scipy.special import gammaln

    sd = np.sqrt(means + means**2 / n)
    lo = max(0, int(means.min() - 8 * sd.max()))
    hi = int(np.ceil(means.max() + 8 * sd.max())) + 1
    if (hi - lo) * len(n) > 200_000:  # a wide bracket (many windows): bisection on the exact CDF
        return [_bisect_quantile(lambda k: float(nb_cdf(k, n, p).mean()), q, lo, hi) for q in qs]
    ks = np.arange(lo, hi + 1, dtype=float)
    log_p, log_q = np.log(p), np.log1p(-p)
    log_first = gammaln(lo + n) - gammaln(n) - gammaln(lo + 1.0) + n * log_p + lo * log_q
    log_ratio = np.log((ks[:-1, None] + n) / (ks[:-1, None] + 1.0)) + log_q
    log_pmf = np.vstack([log_first[None, :], log_first + np.cumsum(log_ratio, axis=0)])
    below = nb_cdf(lo - 1, n, p) if lo > 0 else 0.0
    mixture_cdf = (below + np.cumsum(np.exp(log_pmf), axis=0)).mean(axis=1)
    out = []
    for q in qs:
        i = int(np.searchsorted(mixture_cdf, q))
        out.append(int(ks[min(i, len(ks) - 1)]))
    return out


def _bisect_quantile(cdf, q: float, lo: int, hi: int) -> int:
    """Smallest integer k in [lo, hi] with cdf(k) ≥ q (hi widened if needed)."""
    while cdf(hi) < q:
        hi *= 2
    if lo > 0 and cdf(lo) >= q:
        lo = 0
    if cdf(lo) >= q:
        return lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if cdf(mid) >= q else (mid, hi)
    return hi
