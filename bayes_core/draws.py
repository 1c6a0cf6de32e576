"""Posterior draws as plain numpy arrays: the one place draws are reshaped.

- ``stack_chains(values)``            (chain, draw, ...) → (chain·draw, ...), chain after chain
- ``thin_evenly(draws, max_draws)``   an evenly spaced, deterministic subset along the first axis
- ``stacked(values, max_draws)``      both at once (what predictions and caches use)
- ``draw_matrix(values)``             (chain, draw, ...) → (chain·draw, values): one row per draw
- ``thinning_step(total, keep)``      the stride that keeps about ``keep`` of ``total`` draws
- ``group_draws(group, names)``       ``{name: stacked draws}`` of an ArviZ group (DataTree/Dataset)
- ``posterior_of(idata, name)``       one posterior variable's stacked draws
- ``central_interval(draws, prob)``   equal-tailed interval (quantiles)
- ``hdi(draws, prob)``                highest-density interval (shortest interval holding ``prob``)

Plain numpy: prediction paths need no xarray or ArviZ. Thinning is deterministic so that every
cached copy of a run's draws agrees.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from bayes_core.errors import InvalidParametersError


def stack_chains(values: Any) -> np.ndarray:
    """(chain, draw, ...) → (chain·draw, ...): chain 0's draws first, then chain 1's, ..."""
    arr = np.asarray(values)
    if arr.ndim < 2:
        raise ValueError(f"expected (chain, draw, ...) values, got shape {arr.shape}")
    return arr.reshape((arr.shape[0] * arr.shape[1], *arr.shape[2:]))


def thin_evenly(draws: np.ndarray, max_draws: int | None) -> np.ndarray:
    """At most ``max_draws`` evenly spaced draws (first and last kept); all when None or fewer."""
    if max_draws is None or draws.shape[0] <= max_draws:
        return draws
    return draws[np.linspace(0, draws.shape[0] - 1, max_draws).round().astype(int)]


def stacked(values: Any, max_draws: int | None = None) -> np.ndarray:
    """Chains stacked, then thinned evenly to ``max_draws``."""
    return thin_evenly(stack_chains(values), max_draws)


def draw_matrix(values: Any) -> np.ndarray:
    """(chain, draw, ...) → (chain·draw, n): each draw's values flattened into one row."""
    arr = stack_chains(values)
    return arr.reshape(arr.shape[0], -1)


def thinning_step(total: int, keep: int) -> int:
    """The stride that keeps about ``keep`` of ``total`` draws (1 = keep all)."""
    return max(1, int(math.ceil(total / max(keep, 1))))


def group_draws(group: Any, names: Iterable[str] | None = None, max_draws: int | None = None) -> dict[str, np.ndarray]:
    """``{name: (draws, ...)}`` of an ArviZ group (``DataTree`` node or ``xarray.Dataset``)."""
    dataset = group.to_dataset() if hasattr(group, "to_dataset") else group
    return {name: stacked(dataset[name].values, max_draws) for name in (names or dataset.data_vars)}


def posterior_of(idata: Any, name: str) -> np.ndarray:
    """Posterior draws of ``name`` with the chains stacked: (draws,) or (draws, *shape)."""
    return stacked(idata["posterior"][name].values)


def _check_prob(prob: float, field: str) -> float:
    if isinstance(prob, bool) or not isinstance(prob, (int, float, np.floating)) or not 0 < prob < 1:
        raise InvalidParametersError({field: f"must be between 0 and 1 (got {prob!r})"})
    return float(prob)


def central_interval(draws: Any, prob: float = 0.94, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed interval: the (1 − prob)/2 and (1 + prob)/2 quantiles along ``axis``."""
    tail = (1 - _check_prob(prob, "credible_level")) / 2
    lower, upper = np.quantile(np.asarray(draws, dtype=float), (tail, 1 - tail), axis=axis)  # one partition
    return lower, upper


def hdi(draws: Any, prob: float = 0.94, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Highest-density interval (shortest interval holding ``prob`` of the draws) along ``axis``.

    Unimodal posteriors assumed (as ArviZ's default); matches ``arviz_stats.hdi`` on the same draws.
    """
    prob = _check_prob(prob, "hdi_prob")
    x = np.sort(np.moveaxis(np.asarray(draws, dtype=float), axis, 0), axis=0)
    n = x.shape[0]
    width = max(1, min(n - 1, int(math.floor(prob * n))))
    spans = x[width:] - x[: n - width]
    start = np.argmin(spans, axis=0)
    lower = np.take_along_axis(x, start[None, ...], axis=0)[0]
    upper = np.take_along_axis(x, (start + width)[None, ...], axis=0)[0]
    return lower, upper
