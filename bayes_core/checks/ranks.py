"""The statistics of SBC ranks: rank of a prior draw among (thinned) posterior draws, the PIT
values they give, the rank ECDF difference with its simultaneous band, a uniformity test and the
verdict. The ECDF band and the test are ArviZ's (``arviz_stats``): the simultaneous band of
Säilynoja et al. (2022) and the pointwise-order test with Cauchy combination (``pot_c``).

A rank r among L posterior draws is uniform on {0, …, L} when inference is calibrated; with a
uniform jitter U, (r + U) / (L + 1) is then exactly uniform on (0, 1) whatever L is — so
simulations whose fits were thinned differently are pooled without approximation. The jitter is
drawn from a fixed seed: the same check gives the same numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Probability of the simultaneous band drawn around the ECDF difference.
BAND_PROB = 0.95
#: Simulations of the band's width (ArviZ's default for its envelope).
BAND_SIMULATIONS = 1000
#: Below this p-value a parameter fails; below WARN_P (or outside the band) it is a warning.
FAIL_P, WARN_P = 0.01, 0.05
#: Fewer successful fits than this cannot tell calibration from chance: the verdict says so.
MIN_SIMS_FOR_VERDICT = 20
PASS, WARN, FAIL, INCONCLUSIVE = "pass", "warning", "fail", "inconclusive"
_ORDER = (PASS, INCONCLUSIVE, WARN, FAIL)


def thinned(posterior, names: list[str]):
    """The posterior of ``names`` thinned to near-independent draws (ArviZ's ESS-based factor)."""
    from arviz_stats import thin

    return thin(posterior[names], factor="auto")


def rank_of(prior_value: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """How many of ``draws`` (sample, ...) lie below ``prior_value`` (...), element-wise."""
    return (draws < prior_value[None, ...]).sum(axis=0)


def pit_values(ranks: np.ndarray, n_draws: np.ndarray, seed: int) -> np.ndarray:
    """(rank + U) / (L + 1): exactly uniform on (0, 1) under calibration (see the module docstring)."""
    jitter = np.random.default_rng(seed).uniform(size=np.shape(ranks))
    return (np.asarray(ranks, float) + jitter) / (np.asarray(n_draws, float) + 1.0)


def rank_statistics(pit: np.ndarray, seed: int) -> dict[str, Any]:
    """The uniformity test's p-value, whether the ECDF stays inside its simultaneous band, and the
    curve with the band as differences from the uniform CDF (what the Checks page plots)."""
    from arviz_stats.base import array_stats
    from arviz_stats.ecdf_utils import ecdf_pit

    pit = np.asarray(pit, float)
    p_value = float(array_stats.uniformity_test(pit, method="pot_c")[0])
    x, ecdf, lower, upper = ecdf_pit(pit, BAND_PROB, BAND_SIMULATIONS, rng=np.random.default_rng(seed))
    inside = bool(np.all((ecdf >= lower - 1e-12) & (ecdf <= upper + 1e-12)))
    return {"p_value": p_value, "ranks_ok": inside,
            "ecdf": {"x": x.tolist(), "difference": (ecdf - x).tolist(), "lower": (lower - x).tolist(),
                     "upper": (upper - x).tolist(), "band_prob": BAND_PROB}}


def verdict(p_value: float, ranks_ok: bool, n: int) -> str:
    """fail: p < 0.01; warning: p < 0.05 or the ECDF leaves its band; inconclusive: too few fits."""
    if n < MIN_SIMS_FOR_VERDICT:
        return INCONCLUSIVE
    if not np.isfinite(p_value) or p_value < FAIL_P:
        return FAIL
    return WARN if p_value < WARN_P or not ranks_ok else PASS


def worst(verdicts: list[str]) -> str:
    return max(verdicts, key=_ORDER.index) if verdicts else INCONCLUSIVE
