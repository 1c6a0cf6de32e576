"""Calibration of predicted probabilities of binary events (pure numpy, no model knowledge).

For a set of forecasts ``p`` of events ``y`` (0/1):

- expected calibration error (ECE): the forecasts are cut into ``n_bins`` equal-width bins on
  [0, 1]; ECE = Σ_b (n_b / N) · |mean(p in b) − mean(y in b)| (bins weighted by their count);
- Brier score: mean (p − y)²;
- log loss: −mean(y·log p + (1 − y)·log(1 − p)), with p clipped to [ε, 1 − ε] so that a single
  confident miss gives a large but finite number.
"""

from __future__ import annotations

from typing import Any

import numpy as np

LOG_LOSS_EPS = 1e-15


def _check(p: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(p, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if p.shape != y.shape:
        raise ValueError(f"forecasts and outcomes differ in length ({p.size} vs {y.size})")
    if p.size == 0:
        raise ValueError("no forecasts to score")
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("forecast probabilities must lie in [0, 1]")
    if np.any((y != 0) & (y != 1)):
        raise ValueError("outcomes must be 0 or 1")
    return p, y


def bin_index(p: np.ndarray, n_bins: int = 10) -> np.ndarray:
    """Equal-width bin of each probability; p = 1 falls in the last bin."""
    return np.minimum((np.asarray(p, dtype=float) * n_bins).astype(int), n_bins - 1)


def reliability_table(p: Any, y: Any, n_bins: int = 10) -> list[dict[str, float]]:
    """One entry per bin: edges, count, mean forecast and observed frequency (None when empty)."""
    p, y = _check(p, y)
    idx = bin_index(p, n_bins)
    count = np.bincount(idx, minlength=n_bins)
    sum_p = np.bincount(idx, weights=p, minlength=n_bins)
    sum_y = np.bincount(idx, weights=y, minlength=n_bins)
    rows = []
    for b in range(n_bins):
        n = int(count[b])
        rows.append({
            "bin_low": b / n_bins,
            "bin_high": (b + 1) / n_bins,
            "count": n,
            "mean_predicted": float(sum_p[b] / n) if n else None,
            "observed_frequency": float(sum_y[b] / n) if n else None,
        })
    return rows


def expected_calibration_error(p: Any, y: Any, n_bins: int = 10) -> float:
    p, y = _check(p, y)
    idx = bin_index(p, n_bins)
    count = np.bincount(idx, minlength=n_bins)
    gap = np.abs(np.bincount(idx, weights=p - y, minlength=n_bins))  # |Σp − Σy| = n_b·|mean p − mean y|
    return float(gap.sum() / count.sum())


def brier_score(p: Any, y: Any) -> float:
    p, y = _check(p, y)
    return float(np.mean((p - y) ** 2))


def log_loss(p: Any, y: Any, eps: float = LOG_LOSS_EPS) -> float:
    p, y = _check(p, y)
    q = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log1p(-q)))


def calibration_metrics(p: Any, y: Any, n_bins: int = 10) -> dict[str, Any]:
    """ECE, Brier, log loss, base rate and the reliability table of one set of forecasts."""
    p, y = _check(p, y)
    return {
        "n": int(p.size),
        "base_rate": float(y.mean()),
        "mean_predicted": float(p.mean()),
        "ece": expected_calibration_error(p, y, n_bins),
        "brier": brier_score(p, y),
        "log_loss": log_loss(p, y),
        "n_bins": n_bins,
        "reliability": reliability_table(p, y, n_bins),
    }
