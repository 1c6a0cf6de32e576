"""Hierarchical Gamma–Negative-Binomial event-rate model.

    μ ~ Exponential(rate = priors.mu_rate)           population mean rate
    α ~ HalfNormal(priors.alpha_sigma)               concentration of entity rates
    φ ~ HalfNormal(priors.phi_sigma)                 NB over-dispersion
    θ_i ~ Gamma(shape = μ·α, rate = α)               rate of entity i (mean μ, variance μ/α)
    y_ij ~ NegativeBinomial(mu = θ_i, alpha = φ)

Likelihood option ``poisson``: y_ij ~ Poisson(θ_i) instead (no φ) — so that LOO can say whether
the extra-Poisson variation is needed (``runs compare`` of the two runs).

Non-centred option: θ_i = μ·θ_raw_i with θ_raw_i ~ Gamma(μ·α, μ·α) (mean 1). This is an exact
reparameterisation of the centred prior (Gamma(μα, α) = μ·Gamma(μα, μα)); the shorter form
Gamma(α, α) would change the model (variance μ²/α instead of μ/α), so it is not used.

Sampling uses the likelihood reduced to exact sufficient statistics: per entity the count n_i and
sum S_i, and the multiplicity c_v of each distinct count v for the lgamma(v + φ) term, so one
gradient costs O(entities + distinct counts) instead of O(observations). The plain
per-observation model is kept for prior/posterior predictive and as the reference in tests.
For evaluation the pointwise log-likelihood is reduced the same exact way: identical (entity,
count) observations have identical leave-one-out terms, so LOO runs over the distinct cells
weighted by their multiplicity (``pointwise_log_likelihood``).
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import pandas as pd

from bayes_core.artifacts import Run
from bayes_core.base import BaseBayesianModel
from bayes_core.data import Column, DataSchema
from bayes_core.draws import central_interval

NEGATIVE_BINOMIAL, POISSON = "negative_binomial", "poisson"


class SufficientStats:
    """Exact sufficient statistics of NB counts grouped by entity."""

    def __init__(self, entity_idx: np.ndarray, counts: np.ndarray, n_entities: int):
        self.n = np.bincount(entity_idx, minlength=n_entities).astype(float)
        self.s = np.bincount(entity_idx, weights=counts, minlength=n_entities).astype(float)
        self.values, self.multiplicity = np.unique(counts, return_counts=True)
        self.total = len(counts)
        from scipy.special import gammaln

        self.log_factorial_sum = float(gammaln(counts + 1.0).sum())


# Counts beyond this are a units mistake (or an attack): far outside any prior and slow to sample.
MAX_COUNT = 1_000_000_000


class HierarchicalNegBinomModel(BaseBayesianModel):
    outcome_kind = "count"
    config_id = "hierarchical_negbinom"
    reduced_log_likelihood = True
    prior_constraints = {"mu_rate": "positive", "alpha_sigma": "positive", "phi_sigma": "positive"}
    definition = r"""
    Counts $y_{ij}$ of entity $i$ in window $j$:

    $$
    \begin{aligned}
    y_{ij} &\sim \operatorname{NegBinomial}(\text{mean } \theta_i,\ \text{dispersion } \phi) \\
    \theta_i &\sim \operatorname{Gamma}(\text{shape } \mu\alpha,\ \text{rate } \alpha) \qquad \text{mean } \mu,\ \text{variance } \mu/\alpha \\
    \mu &\sim \operatorname{Exponential}(\texttt{mu\_rate}) \qquad
    \alpha \sim \operatorname{HalfNormal}(\texttt{alpha\_sigma}) \qquad
    \phi \sim \operatorname{HalfNormal}(\texttt{phi\_sigma})
    \end{aligned}
    $$

    Each entity's rate $\theta_i$ is pulled towards the population rate $\mu$, the more so the fewer
    windows it has. The total over $w$ future windows is $\operatorname{NegBinomial}(w\theta_i,\ w\phi)$;
    an entity not seen in training gets a rate drawn from the population.
    """
    headline_vars = ["mu", "alpha", "phi"]
    sbc_observed_columns = {"y": "count"}
    true_parameters = {"mu": 4.0, "alpha": 2.0, "phi": 3.0}

    def data_schema(self) -> DataSchema:
        return DataSchema(
            columns=(Column("entity", "string", description="any id of the entity the counts belong to"),
                     Column("count", "integer", min_value=0, max_value=MAX_COUNT,
                            description="events in one window")),
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
    @property
    def likelihood(self) -> str:
        """``negative_binomial`` (default) or ``poisson`` (the model option ``likelihood``)."""
        return self.options.get("likelihood") or NEGATIVE_BINOMIAL

    @staticmethod
    def _index(data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        codes, entities = pd.factorize(data["entity"].astype(str), sort=True)
        return codes, np.asarray(entities, dtype=str)

    def _hyperpriors(self, coords_entities: np.ndarray):
        import pymc as pm

        p = self.priors_as_data()
        mu = pm.Exponential("mu", lam=p["mu_rate"])
        alpha = pm.HalfNormal("alpha", sigma=p["alpha_sigma"])
        phi = pm.HalfNormal("phi", sigma=p["phi_sigma"]) if self.likelihood == NEGATIVE_BINOMIAL else None
        if self.options.get("non_centered"):
            theta_raw = pm.Gamma("theta_raw", alpha=mu * alpha, beta=mu * alpha, dims="entity")
            theta = pm.Deterministic("theta", mu * theta_raw, dims="entity")
        else:
            theta = pm.Gamma("theta", alpha=mu * alpha, beta=alpha, dims="entity")
        return theta, phi

    def build_model(self, data: pd.DataFrame):
        """The sampled model: the log-likelihood from sufficient statistics (exact)."""
        import pymc as pm
        import pytensor.tensor as pt

        idx, entities = self._index(data)
        stats = SufficientStats(idx, data["count"].to_numpy(), len(entities))
        with pm.Model(coords={"entity": entities}) as model:
            theta, phi = self._hyperpriors(entities)
            # Data containers, not constants: a warm worker binds another data set with the same
            # numbers of entities and distinct counts to the compiled model (bayes_core.compiled).
            n = pm.Data("windows_per_entity", stats.n, dims="entity")
            s = pm.Data("sum_per_entity", stats.s, dims="entity")
            log_factorial_sum = pm.Data("log_factorial_sum", stats.log_factorial_sum)
            if phi is None:  # Poisson: Σ_i (S_i log θ_i − n_i θ_i) − Σ log y!
                loglik = pt.sum(s * pt.log(theta) - n * theta) - log_factorial_sum
            else:
                values = pm.Data("distinct_counts", stats.values)
                multiplicity = pm.Data("distinct_count_multiplicity", stats.multiplicity)
                total = pm.Data("n_observations", stats.total)
                log_phi_theta = pt.log(phi + theta)
                loglik = (
                    pt.sum(multiplicity * pt.gammaln(values + phi))
                    - total * pt.gammaln(phi)
                    - log_factorial_sum
                    + phi * pt.sum(n * (pt.log(phi) - log_phi_theta))
                    + pt.sum(s * (pt.log(theta) - log_phi_theta))
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
            observed = data["count"].to_numpy()
            if phi is None:
                pm.Poisson("y", mu=theta[entity_idx], observed=observed, dims="obs")
            else:
                pm.NegativeBinomial("y", mu=theta[entity_idx], alpha=phi, observed=observed, dims="obs")
        return model

    def pointwise_log_likelihood(self, posterior, data: pd.DataFrame):
        """Log-likelihood of each distinct (entity, count) cell with its multiplicity: exact for LOO
        (identical observations have identical leave-one-out terms) and of a size set by the
        distinct cells, not the observations. With the predictive CDF for an exact LOO-PIT."""
        from bayes_core.models.negbinom_cells import count_cells_log_likelihood

        idx, entities = self._index(data)
        return count_cells_log_likelihood(posterior, idx, data["count"].to_numpy(), entities,
                                          poisson=self.likelihood == POISSON)

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


class CountMixture:
    """The posterior predictive mixture over draws d of NB(size n_d, probability p_d) — or of
    Poisson(mean m_d) when no size is given (the ``poisson`` likelihood)."""

    def __init__(self, means: np.ndarray, n: np.ndarray | None = None, p: np.ndarray | None = None):
        self.means, self.n, self.p = np.asarray(means, dtype=float), n, p

    @classmethod
    def nb(cls, n: np.ndarray, p: np.ndarray) -> "CountMixture":
        return cls(n * (1.0 - p) / p, n, p)

    def __len__(self) -> int:
        return len(self.means)

    def cdf(self, k) -> np.ndarray:
        """P(Y ≤ k) per draw."""
        from scipy.special import pdtr

        return pdtr(k, self.means) if self.n is None else nb_cdf(k, self.n, self.p)

    def log_pmf(self, lo: int, hi: int) -> np.ndarray:
        """log P(Y = k) for k = lo..hi (rows) and each draw (columns)."""
        return _poisson_log_pmf(lo, hi, self.means) if self.n is None else _nb_log_pmf(lo, hi, self.n, self.p)

    def sd(self) -> np.ndarray:
        return np.sqrt(self.means if self.n is None else self.means + self.means**2 / self.n)


def predict_one(draws: dict[str, Any], req: dict[str, Any]) -> dict[str, Any]:
    """Prediction for one request from cached draws (``mu``, ``alpha``, ``phi``, ``theta``,
    ``entity_index``; no ``phi`` for a run of the ``poisson`` likelihood)."""
    entity, windows, threshold, level = str(req["entity"]), int(req["windows"]), int(req["threshold"]), float(req["credible_level"])
    known = entity in draws["entity_index"]
    if known:
        theta = draws["theta"][:, draws["entity_index"][entity]]
        warning = ""
    else:  # a new entity: its rate drawn from the population distribution, one per posterior draw
        rng = np.random.default_rng(zlib.crc32(entity.encode()))
        theta = rng.gamma(draws["mu"] * draws["alpha"], 1.0 / draws["alpha"])
        warning = f"unknown entity {entity!r}: population prediction (a new entity drawn from the fitted population)"
    phi = draws.get("phi")
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    mean_total = windows * theta
    if phi is None:  # Poisson: the total over `windows` windows is Poisson(w·θ)
        window, total = CountMixture(theta), CountMixture(mean_total)
    else:
        # The sum of `windows` iid NB(θ, φ) counts is NB(mean = w·θ, alpha = w·φ): same p, size w·φ.
        p_window = phi / (phi + theta)
        window, total = CountMixture(theta, phi, p_window), CountMixture(mean_total, windows * phi, p_window)
    total_lower, total_upper = _mixture_quantiles(total, (lo_q, hi_q))
    rate_lower, rate_upper = central_interval(theta, level)
    return {
        "entity": entity,
        "known_entity": known,
        "windows": windows,
        "threshold": threshold,
        "credible_level": level,
        "rate_mean": float(theta.mean()),
        "rate_lower": float(rate_lower),
        "rate_upper": float(rate_upper),
        "total_mean": float(mean_total.mean()),
        "total_lower": total_lower,
        "total_upper": total_upper,
        # Named by what they are: one window reaching the threshold, and the total over `windows`.
        "p_window_at_least_threshold": _mixture_sf(threshold, window),
        "p_total_at_least_threshold": _mixture_sf(threshold, total),
        "warning": warning,
    }


_GRID_LIMIT = 200_000  # (counts × draws) cells evaluated in one pass before bisection on the exact CDF


def _nb_log_pmf(lo: int, hi: int, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """log P(Y = k | n_d, p_d) for k = lo..hi (rows) and each draw d (columns).

    The ratio recursion p(k+1)/p(k) = (k + n)/(k + 1)·(1 − p) summed in log space: one logarithm
    per cell and no special function beyond the first row, and tiny probabilities do not underflow.
    """
    from scipy.special import gammaln

    log_q = np.log1p(-p)
    first = n * np.log(p) + lo * log_q
    if lo:
        first += gammaln(lo + n) - gammaln(n) - gammaln(lo + 1.0)
    ks = np.arange(lo, hi, dtype=float)[:, None]
    out = np.empty((hi - lo + 1, len(n)))
    out[0] = first
    np.cumsum(np.log(ks + n) - np.log1p(ks) + log_q, axis=0, out=out[1:])
    out[1:] += first
    return out


def _poisson_log_pmf(lo: int, hi: int, m: np.ndarray) -> np.ndarray:
    """log P(Y = k | m_d) for k = lo..hi (rows) and each draw d: the ratio m/(k + 1) in log space."""
    from scipy.special import gammaln

    log_m = np.log(m)
    first = lo * log_m - m - gammaln(lo + 1.0)
    ks = np.arange(lo, hi, dtype=float)[:, None]
    out = np.empty((hi - lo + 1, len(m)))
    out[0] = first
    np.cumsum(log_m - np.log1p(ks), axis=0, out=out[1:])
    out[1:] += first
    return out


def _mixture_sf(k: int, mixture: CountMixture) -> float:
    """P(Y ≥ k) under the posterior predictive mixture over draws."""
    if k <= 0:
        return 1.0
    if k * len(mixture) > _GRID_LIMIT:
        return 1.0 - float(mixture.cdf(k - 1).mean())
    return float(np.clip(1.0 - np.exp(mixture.log_pmf(0, k - 1)).sum(axis=0).mean(), 0.0, 1.0))


def _mixture_quantiles(mixture: CountMixture, qs: tuple[float, ...]) -> list[int]:
    """Exact quantiles of the posterior predictive mixture over draws.

    Cantelli's inequality bounds each draw's one-sided tails by 1/(1 + t²) beyond t standard
    deviations, whatever its shape; with t = 1/√(smallest tail) every draw, and so the mixture,
    keeps less than that tail outside min(m − t·sd) .. max(m + t·sd). The mixture CDF is evaluated
    on that bracket in one pass (bisection on the exact CDF when the bracket is very wide).
    """
    tail = min(min(q, 1.0 - q) for q in qs)
    means, sd = mixture.means, mixture.sd()
    t = 1.0 / np.sqrt(tail)
    lo = max(0, int(np.floor((means - t * sd).min())))
    hi = int(np.ceil((means + t * sd).max())) + 1
    if (hi - lo) * len(mixture) > _GRID_LIMIT:
        return [_bisect_quantile(lambda k: float(mixture.cdf(k).mean()), q, lo, hi) for q in qs]
    below = mixture.cdf(lo - 1).mean() if lo > 0 else 0.0
    mixture_cdf = below + np.cumsum(np.exp(mixture.log_pmf(lo, hi)).mean(axis=1))
    return [lo + min(int(np.searchsorted(mixture_cdf, q)), hi - lo) for q in qs]


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
