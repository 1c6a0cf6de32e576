"""PSIS-LOO for many observations at once: arviz-stats' algorithm, vectorised over cells.

arviz-stats computes Pareto-smoothed importance sampling one observation at a time (about 1.6 ms
each at 4,000 draws: two minutes for the 75,000 distinct cells of a million-observation count
data set). This module runs the same algorithm on a block of observations at once with numpy:
the same tail length (3·√(S/r_eff), or S/5 for few effective draws), the same generalized Pareto
fit (Zhang & Stephens' empirical Bayes with arviz-stats' weakly informative prior on k), the same
tail smoothing and truncation, and elpd_i = log Σ w_s p(y_i | θ_s), p_loo_i = lppd_i − elpd_i.
Tests check it against ``arviz_stats.loo`` to numerical precision. ``good_k`` (the Pareto-k
threshold) is arviz-stats' own: min(1 − 1/log10(S), 0.7).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bayes_core.errors import NotEvaluableError

MIN_DRAWS = 25  # below this PSIS has fewer than 5 tail draws (arviz-stats refuses too)
_GPD_ROWS = 256  # observations per generalized Pareto fit pass (bounds the (rows, m, M) work array)
_PRIOR_BS, _PRIOR_K = 3, 10  # arviz-stats' _gpdfit constants


@dataclass
class PsisLoo:
    """Pointwise PSIS-LOO of a block of observations (one row each)."""

    elpd: np.ndarray  # (n,) log p(y_i | y_-i)
    p_loo: np.ndarray  # (n,) lppd_i − elpd_i
    pareto_k: np.ndarray  # (n,) NaN where the tail could not be fitted
    ratios: np.ndarray | None  # (n, S) smoothed importance ratios, when asked for ...
    total: np.ndarray | None  # (n,) ... and their sums: the weights are ratios / total[:, None]

    def weighted_mean(self, values: np.ndarray) -> np.ndarray:
        """Σ_s w_s · values_s per row: a LOO expectation (e.g. of a predictive CDF)."""
        return np.einsum("ij,ij->i", self.ratios, values) / self.total


def good_k(n_samples: int) -> float:
    """arviz-stats' Pareto-k threshold for S draws: min(1 − 1/log10(S), 0.7)."""
    return min(1 - 1 / np.log10(n_samples), 0.7) if n_samples > 1 else 0.7


def tail_length(n_samples: int, r_eff: float) -> int:
    """Draws in the smoothed tail (arviz-stats' ``_get_ps_tails`` for the right tail)."""
    if n_samples * r_eff > 225:
        return int(np.floor(3 * (n_samples / r_eff) ** 0.5))
    return int(np.floor(n_samples / 5))


def relative_eff(posterior) -> float:
    """Relative MCMC efficiency as ``arviz_stats.loo`` computes it: the mean 'mean'-ESS of every
    posterior element divided by the draws (1 for a single chain)."""
    import arviz_stats  # noqa: F401 - registers the .azstats accessor

    n_chains, n_draws = posterior.sizes["chain"], posterior.sizes["draw"]
    if n_chains == 1:
        return 1.0
    ess = posterior.azstats.ess(method="mean")
    return float(np.hstack([ess[v].values.flatten() for v in ess.data_vars]).mean() / (n_chains * n_draws))


def psis_loo(log_lik: np.ndarray, r_eff: float, keep_weights: bool = False) -> PsisLoo:
    """PSIS-LOO of each row of ``log_lik`` (observations × draws).

    The log importance ratios are r_s = min(ll) − ll_s (arviz-stats' −ll − max(−ll)), so the tail
    (largest ratios) is the smallest log-likelihoods. Outside the smoothed tail r_s + ll_s = min(ll),
    so elpd_i needs exponentials of the tail only; two passes of exp over the draws remain (the
    weights' normaliser and lppd_i).
    """
    log_lik = np.ascontiguousarray(log_lik, dtype=float)
    n, s = log_lik.shape
    if s < MIN_DRAWS:
        raise NotEvaluableError(f"PSIS-LOO needs at least {MIN_DRAWS} posterior draws (the run has {s}); "
                             "train with more draws.")
    m = tail_length(s, r_eff)
    high = log_lik.max(axis=1)
    part = np.argpartition(log_lik, m, axis=1)
    tail_idx = part[:, :m]
    tail_ll = np.take_along_axis(log_lik, tail_idx, axis=1)
    low = tail_ll.min(axis=1)  # the smallest log-likelihoods are the tail
    tail = low[:, None] - tail_ll  # log ratios of the tail
    order = np.argsort(tail, axis=1)
    tail_idx, tail = np.take_along_axis(tail_idx, order, axis=1), np.take_along_axis(tail, order, axis=1)
    cutoff = low - np.take_along_axis(log_lik, part[:, m:m + 1], axis=1)[:, 0]
    max_tail = tail[:, -1]
    exp_cutoff = np.exp(cutoff)
    kappa, sigma = _gpd_fit(np.exp(tail) - exp_cutoff[:, None])
    flat = np.abs(max_tail - tail[:, 0]) < np.finfo(float).tiny  # arviz-stats refuses these; no smoothing
    kappa[flat], sigma[flat] = np.nan, np.nan
    ratios = np.subtract(low[:, None], log_lik)  # importance ratios, then the smoothed tail put in
    np.exp(ratios, out=ratios)
    lppd = _lppd(log_lik, high)
    tail_gain = np.zeros(n)  # Σ_tail (exp(smoothed + ll) − exp(min ll)) / exp(min ll)
    smooth = np.flatnonzero(np.isfinite(kappa))
    if smooth.size:
        smoothed = _gpd_log_quantiles(m, kappa[smooth], sigma[smooth], exp_cutoff[smooth])
        smoothed = np.minimum(smoothed, max_tail[smooth, None], where=~np.isnan(smoothed), out=smoothed)
        ratios[smooth[:, None], tail_idx[smooth]] = np.exp(smoothed)
        tail_gain[smooth] = np.sum(np.exp(smoothed - tail[smooth]) - 1.0, axis=1)
    total = ratios.sum(axis=1)
    elpd = np.log(s + tail_gain) + low - np.log(total)
    return PsisLoo(elpd=elpd, p_loo=lppd - elpd, pareto_k=kappa, ratios=ratios if keep_weights else None,
                   total=total if keep_weights else None)


def _lppd(log_lik: np.ndarray, high: np.ndarray) -> np.ndarray:
    """log(mean_s p(y | θ_s)) per row (arviz-stats' logsumexp(ll, b=1/S))."""
    scaled = np.subtract(log_lik, high[:, None])
    return high + np.log(np.exp(scaled, out=scaled).sum(axis=1)) - np.log(log_lik.shape[1])


def _gpd_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(k, σ) of a generalized Pareto fit to each row of sorted exceedances (arviz-stats' ``_gpdfit``)."""
    out_k, out_s = np.empty(x.shape[0]), np.empty(x.shape[0])
    for start in range(0, x.shape[0], _GPD_ROWS):
        rows = slice(start, start + _GPD_ROWS)
        out_k[rows], out_s[rows] = _gpd_fit_rows(x[rows])
    return out_k, out_s


def _log_sum_exp_rows(a: np.ndarray) -> np.ndarray:
    """log Σ exp(a) along each row, kept as a column. Not ``scipy.special.logsumexp``: its array-API
    check imports all of JAX wherever arviz-base has left a lazy ``jax`` module in ``sys.modules``
    (nutpie imports arviz), which made a fresh process's first PSIS take 0.7 s instead of 0.3 s."""
    high = np.max(a, axis=1, keepdims=True)
    high = np.where(np.isfinite(high), high, 0.0)
    return high + np.log(np.sum(np.exp(a - high), axis=1, keepdims=True))


def _gpd_fit_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = x.shape[1]
    m_est = 30 + int(n**0.5)
    xstar = x[:, int((n / 4 + 0.5) - 1)]
    valid = xstar > x[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        b = 1 - np.sqrt(m_est / (np.arange(1, m_est + 1, dtype=float) - 0.5))
        b_ary = b[None, :] / (_PRIOR_BS * xstar[:, None]) + 1 / x[:, -1:]
        grid = np.multiply(-b_ary[:, :, None], x[:, None, :])
        k_ary = np.mean(np.log1p(grid, out=grid), axis=2)
        del grid
        len_scale = n * (np.log(-b_ary / k_ary) - k_ary - 1)
        w_theta = np.exp(len_scale - _log_sum_exp_rows(len_scale))
        w_theta = np.where(w_theta >= 10 * np.finfo(float).eps, w_theta, 0.0)
        w_theta /= w_theta.sum(axis=1, keepdims=True)
        b_post = np.sum(b_ary * w_theta, axis=1)
        kappa = np.mean(np.log1p(-b_post[:, None] * x), axis=1)
        sigma = -kappa / b_post
    kappa = (n * kappa + _PRIOR_K * 0.5) / (n + _PRIOR_K)
    sigma = np.where(np.isnan(kappa), np.nan, sigma)
    kappa = np.where(np.isnan(kappa), np.inf, kappa)
    return np.where(valid, kappa, np.nan), np.where(valid, sigma, np.nan)


def _gpd_log_quantiles(m: int, kappa: np.ndarray, sigma: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """log of the GPD quantiles at (0.5..m−0.5)/m per row (arviz-stats' ``_gpinv``, then log)."""
    p = np.arange(0.5, m) / m
    k, s, loc = kappa[:, None], sigma[:, None], mu[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(k == 0, loc - s * np.log1p(-p), loc + s * np.expm1(-k * np.log1p(-p)) / k)
        q = np.where(s <= 0, np.nan, q)
        return np.log(q)
