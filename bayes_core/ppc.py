"""Posterior (and prior) predictive test statistics chosen by the outcome's type. Pure numpy.

A test statistic T compares the observed data y with replicated data sets y_rep: the posterior
predictive p-value P(T(y_rep) ≥ T(y)) near 0 or 1 says the model rarely reproduces T(y). Which
statistics make sense depends on what is observed (``BaseBayesianModel.outcome_kind``): the share
of zeros tells a lot about counts and nothing about continuous returns (never exactly 0 on either
side, so p = 1 and a false alarm). A statistic equal to the observed value in every replicated data
set is not informative and is never reported as a misfit.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

COUNT, CONTINUOUS, BINARY = "count", "continuous", "binary"
OUTCOME_KINDS = (COUNT, CONTINUOUS, BINARY)

#: p-values outside [EXTREME, 1 − EXTREME] are reported as misfits.
EXTREME = 0.05

Statistic = Callable[[np.ndarray], np.ndarray]  # (..., n_obs) -> (...)


def _skewness(x: np.ndarray) -> np.ndarray:
    centred = x - x.mean(axis=-1, keepdims=True)
    sd = np.sqrt((centred**2).mean(axis=-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > 0, (centred**3).mean(axis=-1) / sd**3, 0.0)


def _sd(x: np.ndarray) -> np.ndarray:
    return x.std(axis=-1, ddof=1) if x.shape[-1] > 1 else np.zeros(x.shape[:-1])


_MEAN: Statistic = lambda x: x.mean(axis=-1)  # noqa: E731

STATISTICS: dict[str, dict[str, Statistic]] = {
    COUNT: {"mean": _MEAN, "sd": _sd, "share of zeros": lambda x: (x == 0).mean(axis=-1),
            "max": lambda x: x.max(axis=-1)},
    # Quantiles rather than min/max: the extremes of heavy-tailed data (returns) are one value each.
    CONTINUOUS: {"mean": _MEAN, "sd": _sd, "skewness": _skewness,
                 "1st percentile": lambda x: np.quantile(x, 0.01, axis=-1),
                 "99th percentile": lambda x: np.quantile(x, 0.99, axis=-1)},
    BINARY: {"share of ones": _MEAN},
}


def statistics_for(kind: str) -> dict[str, Statistic]:
    """The test statistics that fit an outcome of type ``kind`` (count, continuous, binary)."""
    if kind not in STATISTICS:
        raise ValueError(f"unknown outcome kind {kind!r}; use one of {', '.join(OUTCOME_KINDS)}")
    return STATISTICS[kind]


def check_statistics(observed: np.ndarray, replicated: np.ndarray, kind: str
                    ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Per statistic T: T(observed), mean and 90 % interval of T(replicated), the posterior
    predictive p-value P(T(y_rep) ≥ T(y)) and ``informative`` (False when every replicated data
    set has exactly the observed value, e.g. no zeros on either side). ``replicated`` is
    (draws, ...) with the observations' shape after the first axis."""
    observed = np.asarray(observed, dtype=float).ravel()
    replicated = np.asarray(replicated, dtype=float).reshape(np.shape(replicated)[0], -1)
    rows, per_draw = [], {}
    for name, stat in statistics_for(kind).items():
        t_obs, t_rep = float(stat(observed)), np.asarray(stat(replicated), dtype=float)
        per_draw[name] = t_rep
        lo, hi = np.quantile(t_rep, [0.05, 0.95])
        rows.append({"statistic": name, "observed": t_obs, "replicated mean": float(t_rep.mean()),
                     "replicated 5%": float(lo), "replicated 95%": float(hi),
                     "p-value": float(np.mean(t_rep >= t_obs)), "informative": not bool(np.all(t_rep == t_obs))})
    return pd.DataFrame(rows), per_draw


def misfits(table: pd.DataFrame) -> list[str]:
    """Informative statistics whose p-value is extreme (below EXTREME or above 1 − EXTREME)."""
    p = table["p-value"]
    extreme = table["informative"] & ((p < EXTREME) | (p > 1 - EXTREME))
    return list(table.loc[extreme, "statistic"])


def summary_rows(values: np.ndarray, kind: str) -> dict[str, float]:
    """Descriptive statistics of one pooled sample (prior predictive vs observed tables)."""
    x = np.asarray(values, dtype=float).ravel()
    q5, q50, q95 = np.quantile(x, [0.05, 0.5, 0.95])
    out = {"mean": float(x.mean()), "sd": float(x.std(ddof=1)) if x.size > 1 else 0.0,
           "5%": float(q5), "median": float(q50), "95%": float(q95)}
    if kind == COUNT:
        out.update({"share of zeros": float(np.mean(x == 0)), "max": float(x.max())})
    elif kind == BINARY:
        out = {"share of ones": float(x.mean())}
    return out
