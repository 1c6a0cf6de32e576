"""Pointwise log-likelihood of entity counts by distinct (entity, count) cell, for NB and Poisson.

Every observation of entity i with count v has the same log-likelihood under each draw,

    NB(mean θ, dispersion φ):  lgamma(v + φ) − lgamma(φ) − lgamma(v + 1) + φ·log(φ/(φ+θ)) + v·log(θ/(φ+θ))
    Poisson(θ):                −lgamma(v + 1) − θ + v·log θ

written as G_v + A_i + v·B_i, so the distinct cells (sorted by entity, then count) are evaluated
once each, weighted by how many observations they stand for. Values are computed block by
block from (entity, draw) terms of only the entities in the block: memory stays bounded by the
block, whatever the number of observations. The predictive CDF below each cell's count,
P(Y < v) = Σ_{u<v} exp(G_u + A_i + u·B_i), comes from the same terms (cumulative sums per entity;
the incomplete beta / gamma function for counts beyond ``RECURSION_MAX``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayes_core.loglik import PointwiseLogLik, posterior_dataset

#: Counts up to this are summed term by term for P(Y < v); larger ones use the special function.
RECURSION_MAX = 200
G_TABLE_VALUES = 2**22  # G_v of all distinct counts precomputed up to this many values (32 MB)


class _Cells:
    """Distinct (entity, count) cells and the posterior draws they are evaluated under."""

    def __init__(self, posterior: Any, entity_idx: np.ndarray, counts: np.ndarray, poisson: bool):
        dataset = posterior_dataset(posterior)
        self.chains, self.draws = dataset.sizes["chain"], dataset.sizes["draw"]
        n_samples = self.chains * self.draws
        counts = np.asarray(counts, dtype=np.int64)
        span = int(counts.max()) + 1 if counts.size else 1
        keys, self.obs_cell, self.weights = np.unique(entity_idx.astype(np.int64) * span + counts,
                                                      return_inverse=True, return_counts=True)
        self.entity, self.count = keys // span, keys % span
        # (entity, draw) rows: one entity's draws contiguous, so a block gathers whole rows.
        self.theta = np.ascontiguousarray(dataset["theta"].values.reshape(n_samples, -1).T, dtype=float)
        self.phi = None if poisson else dataset["phi"].values.reshape(n_samples).astype(float)
        self._g_values = np.unique(self.count)
        # G_v of every distinct count at once when that is small (it is the same in every block)
        self._g_table = self.g(self._g_values) if self._g_values.size * n_samples <= G_TABLE_VALUES else None

    def terms(self, e0: int, e1: int) -> tuple[np.ndarray, np.ndarray]:
        """A_i and B_i, (entities e0..e1-1, draw)."""
        theta = self.theta[e0:e1]
        if self.phi is None:
            return -theta, np.log(theta)
        log_phi_theta = np.log(self.phi + theta)
        return self.phi * (np.log(self.phi) - log_phi_theta), np.log(theta) - log_phi_theta

    def g(self, values: np.ndarray) -> np.ndarray:
        """G_v for the given counts, (len(values), draw) — or (len(values), 1) for Poisson."""
        from scipy.special import gammaln

        values = np.asarray(values, dtype=float)[:, None]
        if self.phi is None:
            return -gammaln(values + 1.0)
        return gammaln(values + self.phi) - gammaln(self.phi) - gammaln(values + 1.0)

    def _block(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(entity offset within the block, counts, A, B) of cells start..stop-1 (cells are sorted by
        entity, so a block spans a contiguous range of entities)."""
        e, v = self.entity[start:stop], self.count[start:stop]
        e0 = int(e[0])
        a, b = self.terms(e0, int(e[-1]) + 1)
        return e - e0, v, a, b

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Log-likelihood of cells start..stop-1, (cell, draw): entity by entity (its cells are
        consecutive), so A_i and B_i are broadcast rows, never gathered copies."""
        local, v, a, b = self._block(start, stop)
        if self._g_table is not None:
            g, position = self._g_table, np.searchsorted(self._g_values, v)
        else:
            distinct, position = np.unique(v, return_inverse=True)
            g = self.g(distinct)
        out = np.empty((stop - start, a.shape[1]))
        bounds = np.flatnonzero(np.diff(local)) + 1
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, local.size]):
            e = local[lo]
            part = out[lo:hi]
            np.multiply(v[lo:hi, None], b[e], out=part)
            part += a[e]
            part += g[position[lo:hi]]
        return out

    def below(self, start: int, stop: int) -> np.ndarray:
        """P(Y < count) of cells start..stop-1 under each draw, (cell, draw).

        Per entity, P(Y ≤ u) accumulates the pmf by its ratio recursion p(u+1) = p(u)·(u+φ)/(u+1)·θ/(φ+θ)
        (Poisson: ·θ/(u+1)) from p(0) = exp(A): multiplications only, and each entity stops at its
        largest count in the block. (If p(0) underflows, P(Y < v) for v ≤ ``RECURSION_MAX`` is below
        1e-300 and counts as 0.)
        """
        local, v, a, b = self._block(start, stop)
        out = np.zeros((stop - start, a.shape[1]))
        small = v <= RECURSION_MAX
        needed = np.zeros(a.shape[0], dtype=np.int64)  # per entity: the largest count below the limit
        np.maximum.at(needed, local[small], v[small])
        order = np.argsort(-needed, kind="stable")  # entities needing the longest recursion first
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        ratio = np.exp(b[order])  # θ/(φ+θ) (Poisson: θ)
        pmf = np.exp(a[order])  # P(Y = 0)
        cumulative = np.zeros_like(pmf)
        needed_sorted = needed[order]
        for u in range(int(needed_sorted[0]) if needed_sorted.size else 0):
            active = int(np.searchsorted(-needed_sorted, -u, side="left"))  # entities with a count > u
            cumulative[:active] += pmf[:active]  # P(Y ≤ u)
            hit = np.flatnonzero(small & (v == u + 1))
            if hit.size:
                out[hit] = cumulative[rank[local[hit]]]
            step = 1.0 / (u + 1) if self.phi is None else (u + self.phi) / (u + 1)
            pmf[:active] *= ratio[:active]
            pmf[:active] *= step
        large = ~small
        if large.any():
            out[large] = self._cdf_below_special(local[large] + int(self.entity[start]), v[large])
        return out

    def _cdf_below_special(self, e: np.ndarray, v: np.ndarray) -> np.ndarray:
        from scipy.special import betainc, gammaincc

        theta = self.theta[e]
        counts = v[:, None].astype(float)
        if self.phi is None:
            return gammaincc(counts, theta)  # P(Y ≤ v−1) of Poisson(θ)
        return betainc(self.phi, counts, self.phi / (self.phi + theta))  # P(Y ≤ v−1) of NB


def count_cells_log_likelihood(posterior: Any, entity_idx: np.ndarray, counts: np.ndarray,
                               entities: np.ndarray, *, poisson: bool = False) -> PointwiseLogLik:
    """``PointwiseLogLik`` over distinct (entity, count) cells of NB (or Poisson) counts."""
    import pandas as pd

    cells = _Cells(posterior, np.asarray(entity_idx), np.asarray(counts), poisson)
    shape = (cells.chains, cells.draws)

    def block(start: int, stop: int) -> np.ndarray:
        return cells.rows(start, stop).T.reshape(*shape, stop - start)

    def cdf_below(start: int, stop: int) -> np.ndarray:
        return cells.below(start, stop).T.reshape(*shape, stop - start)

    table = pd.DataFrame({"entity": np.asarray(entities, dtype=str)[cells.entity], "count": cells.count,
                          "observations": cells.weights})
    return PointwiseLogLik(chains=cells.chains, draws=cells.draws, weights=cells.weights, obs_cell=cells.obs_cell,
                           block=block, observed=["y"], cells="distinct (entity, count) pairs weighted by their "
                           "multiplicity (exact: identical observations have identical LOO terms)",
                           cdf_below=cdf_below, cell_table=table)
