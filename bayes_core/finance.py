"""Shared helpers for the finance models: input cleaning, annualisation, and the fallback record.

Small on purpose; every finance model uses the same rules so users get the same messages:

- ``clean_series(values, name=..., min_length=...)``   one numeric series → float array
- ``clean_xy(X, y, min_rows=...)``                      design matrix + target, aligned
- ``clean_returns_table(table, min_length=...)``        several return series, aligned → DataFrame
- ``returns_frame(returns, min_length=...)``            one return series → the models' ``date``/``return`` frame
- ``per_period_rate`` / ``annualise_sharpe`` / ``annualise_volatility``
- ``Fallback``, ``FallbackWarning``: re-exported from ``bayes_core.fallback`` (the base class's one
  fit path switches a finance model to its fallback when sampling raises or fails badly, and
  says so — never silently)

Every input problem is a ``DataValidationError`` (a ``ValueError``) naming the problem and, where
one applies, the minimum. Nothing here imports PyMC/ArviZ.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from bayes_core.data import MAX_ABS_FLOAT
from bayes_core.errors import DataValidationError, InvalidParametersError
from bayes_core.fallback import NO_FALLBACK, Fallback, FallbackWarning  # noqa: F401 - the finance models' names

# Largest |return| per period accepted from a CSV (10,000 %): returns are fractions (0.012 = 1.2 %);
# percent figures still fit, a price column given as returns or a 1e308 does not.
MAX_ABS_RETURN = 100.0


# -- input cleaning ---------------------------------------------------------------------------
def _positions(mask: np.ndarray, labels: Sequence[Any] | None = None, limit: int = 5) -> str:
    idx = np.flatnonzero(mask)
    shown = [str(labels[i]) if labels is not None else str(i) for i in idx[:limit]]
    more = f" and {len(idx) - limit} more" if len(idx) > limit else ""
    return ", ".join(shown) + more


def _check_values(values: np.ndarray, name: str, labels: Sequence[Any] | None) -> list[str]:
    problems = []
    nan, inf = np.isnan(values), np.isinf(values)
    huge = np.isfinite(values) & (np.abs(values) > MAX_ABS_FLOAT)
    where = "index" if labels is not None else "position"
    if nan.any():
        problems.append(f"{name}: NaN (missing) value at {where} {_positions(nan, labels)}")
    if inf.any():
        problems.append(f"{name}: infinite value at {where} {_positions(inf, labels)}")
    if huge.any():
        problems.append(f"{name}: value beyond ±{MAX_ABS_FLOAT:.0e} at {where} {_positions(huge, labels)} "
                        "(check the units)")
    return problems


def _as_float(values: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataValidationError([f"{name}: not numeric ({exc})"]) from None
    return arr


def clean_series(values: Any, *, name: str = "returns", min_length: int = 2,
                 allow_constant: bool = False) -> np.ndarray:
    """One numeric series (list, ndarray, Series, one-column DataFrame) → 1-D float array.

    Raises ``DataValidationError`` for: empty input, NaN/inf (positions named), fewer than
    ``min_length`` values (the minimum named) and — unless ``allow_constant`` — a constant series
    (no variation: a Sharpe ratio or volatility is undefined).
    """
    labels = None
    if isinstance(values, pd.DataFrame):
        if values.shape[1] != 1:
            raise DataValidationError([f"{name}: expected one column, got {values.shape[1]}"])
        values = values.iloc[:, 0]
    if isinstance(values, pd.Series):
        labels = [i.date() if isinstance(i, pd.Timestamp) else i for i in values.index]
    arr = _as_float(values, name)
    if arr.ndim != 1:
        arr = arr.squeeze()
        if arr.ndim != 1:
            raise DataValidationError([f"{name}: expected a 1-D series, got shape {np.shape(values)}"])
    if arr.size == 0:
        raise DataValidationError([f"{name}: empty input (at least {min_length} values are needed)"])
    problems = _check_values(arr, name, labels)
    if arr.size < min_length:
        problems.append(f"{name}: too short: {arr.size} values, the minimum is {min_length}")
    if not problems and not allow_constant and np.ptp(arr) == 0:
        problems.append(f"{name}: constant (every value is {arr[0]:g}); a series with variation is needed")
    if problems:
        raise DataValidationError(problems)
    return arr


def clean_xy(X: Any, y: Any, *, min_rows: int, x_name: str = "X", y_name: str = "y"
             ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A design matrix and a target → ``(X (n, p) float, y (n,) float, feature names)``.

    ``X`` may be 1-D (one feature), 2-D, or a DataFrame (its column names are the feature names;
    otherwise ``x1..xp``). When both are pandas objects their indexes must match exactly (no silent
    re-alignment); otherwise their lengths must. Also refused: empty input, NaN/inf, fewer than
    ``min_rows`` rows, a constant target, a constant feature (its coefficient is not identified).
    """
    if isinstance(X, pd.Series):
        X = X.to_frame()
    names = [str(c) for c in X.columns] if isinstance(X, pd.DataFrame) else None
    x_index = X.index if isinstance(X, pd.DataFrame) else None
    y_index = y.index if isinstance(y, (pd.Series, pd.DataFrame)) else None
    xa, ya = _as_float(X, x_name), _as_float(y, y_name)
    if xa.ndim == 1:
        xa = xa[:, None]
    if ya.ndim == 2 and ya.shape[1] == 1:
        ya = ya[:, 0]
    if xa.ndim != 2 or ya.ndim != 1:
        raise DataValidationError([f"{x_name} must be 1-D or 2-D and {y_name} 1-D "
                                   f"(got shapes {xa.shape} and {ya.shape})"])
    names = names or [f"x{j + 1}" for j in range(xa.shape[1])]
    if xa.shape[0] == 0 or ya.size == 0 or xa.shape[1] == 0:
        raise DataValidationError([f"empty input: {x_name} has shape {xa.shape}, {y_name} {ya.shape} "
                                   f"(at least {min_rows} rows are needed)"])
    if xa.shape[0] != ya.shape[0]:
        raise DataValidationError([f"misaligned: {x_name} has {xa.shape[0]} rows but {y_name} has {ya.shape[0]}"])
    if x_index is not None and y_index is not None and not x_index.equals(y_index):
        differ = int((~x_index.isin(y_index)).sum())
        raise DataValidationError([f"misaligned: the indexes of {x_name} and {y_name} differ "
                                   f"({differ} labels of {x_name} are not in {y_name}); align them first"])
    problems = _check_values(ya, y_name, None)
    for j, col in enumerate(names):
        problems.extend(_check_values(xa[:, j], f"{x_name} column '{col}'", None))
    if xa.shape[0] < min_rows:
        problems.append(f"too short: {xa.shape[0]} rows, the minimum is {min_rows}")
    if not problems:
        if np.ptp(ya) == 0:
            problems.append(f"{y_name} is constant (every value is {ya[0]:g}); nothing to explain")
        constant = [c for j, c in enumerate(names) if np.ptp(xa[:, j]) == 0]
        if constant:
            problems.append(f"constant feature(s) {', '.join(constant)}: their coefficients are not identified "
                            "(the intercept is added by the model; drop them)")
    if problems:
        raise DataValidationError(problems)
    return xa, ya, names


def clean_returns_table(table: Mapping[str, Any] | pd.DataFrame, *, min_length: int,
                        min_columns: int = 2) -> pd.DataFrame:
    """Several strategies' returns → DataFrame, one float column per strategy, rows aligned.

    A dict of pandas Series must share one index (misaligned dates are refused, not dropped); a
    dict of arrays/lists must have equal lengths. Each column is checked like ``clean_series``.
    """
    if isinstance(table, pd.DataFrame):
        frame = table
    else:
        if not isinstance(table, Mapping):
            raise DataValidationError(["expected a dict of strategy name → returns, or a DataFrame"])
        series = {str(k): v for k, v in table.items()}
        if all(isinstance(v, pd.Series) for v in series.values()) and series:
            indexes = [v.index for v in series.values()]
            first = indexes[0]
            if any(not ix.equals(first) for ix in indexes[1:]):
                raise DataValidationError(["misaligned: the strategies' return series have different indexes "
                                           "(dates); restrict them to their common dates first"])
            frame = pd.DataFrame({k: v.to_numpy() for k, v in series.items()}, index=first)
        else:
            lengths = {k: len(np.atleast_1d(np.asarray(v))) for k, v in series.items()}
            if len(set(lengths.values())) > 1:
                listed = ", ".join(f"{k}: {n}" for k, n in lengths.items())
                raise DataValidationError([f"misaligned: the strategies have different lengths ({listed})"])
            frame = pd.DataFrame({k: np.asarray(v) for k, v in series.items()})
    if frame.shape[1] < min_columns:
        raise DataValidationError([f"need at least {min_columns} strategies to compare, got {frame.shape[1]}"])
    problems, out = [], {}
    for col in frame.columns:
        try:
            out[str(col)] = clean_series(frame[col], name=f"strategy '{col}'", min_length=min_length)
        except DataValidationError as exc:
            problems.extend(exc.problems)
    if problems:
        raise DataValidationError(problems)
    return pd.DataFrame(out, index=frame.index)


def returns_frame(returns: Any, *, min_length: int) -> pd.DataFrame:
    """A plain return series (numpy, list, pandas) as the models' data frame: a ``return`` column,
    and a ``date`` column when the series carries a DatetimeIndex."""
    frame = pd.DataFrame({"return": clean_series(returns, name="returns", min_length=min_length)})
    index = getattr(returns, "index", None)
    if isinstance(index, pd.DatetimeIndex):
        frame.insert(0, "date", index.normalize())
    return frame


# -- annualisation ----------------------------------------------------------------------------
def per_period_rate(annual_rate: float, periods_per_year: float) -> float:
    """An annual (compounded) rate as the equivalent rate per period: (1 + r)^(1/n) − 1."""
    check_periods(periods_per_year)
    if not math.isfinite(annual_rate) or annual_rate <= -1:
        raise InvalidParametersError({"risk_free_rate": f"must be a finite rate above -1 (got {annual_rate!r})"})
    return (1.0 + annual_rate) ** (1.0 / periods_per_year) - 1.0


def annualise_sharpe(per_period_sharpe: Any, periods_per_year: float) -> Any:
    """Per-period Sharpe ratio × √periods (the usual i.i.d. scaling); works on arrays."""
    return np.asarray(per_period_sharpe) * math.sqrt(check_periods(periods_per_year))


def annualise_volatility(per_period_sd: Any, periods_per_year: float) -> Any:
    return np.asarray(per_period_sd) * math.sqrt(check_periods(periods_per_year))


def check_periods(periods_per_year: float) -> float:
    if isinstance(periods_per_year, bool) or not isinstance(periods_per_year, (int, float, np.number)) \
            or not math.isfinite(periods_per_year) or periods_per_year <= 0:
        raise InvalidParametersError({"periods_per_year": f"must be a positive number (got {periods_per_year!r})"})
    return float(periods_per_year)
