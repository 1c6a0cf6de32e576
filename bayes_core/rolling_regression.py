"""Exact rolling Bayesian regression (conjugate Normal–Inverse-Gamma per window) and z-score signals.

Used by the pairs-trading model; pure numpy (scipy inside the one function that needs it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_core.errors import DataValidationError, InvalidParametersError

# -- the exact per-window posterior -------------------------------------------------------------
@dataclass(frozen=True)
class WindowStats:
    """Exact sufficient statistics of each rolling window (rows: windows, ending at ``ends``)."""

    ends: np.ndarray
    n: int
    x_mean: np.ndarray
    y_mean: np.ndarray
    sxx: np.ndarray  # Σ (x − x̄)²
    sxy: np.ndarray  # Σ (x − x̄)(y − ȳ)
    syy: np.ndarray  # Σ (y − ȳ)²

    @classmethod
    def of(cls, y: np.ndarray, x: np.ndarray, window: int) -> "WindowStats":
        from numpy.lib.stride_tricks import sliding_window_view

        return cls.of_windows(np.arange(window - 1, len(y)), sliding_window_view(y, window),
                              sliding_window_view(x, window))

    @classmethod
    def of_windows(cls, ends: np.ndarray, Y: np.ndarray, X: np.ndarray) -> "WindowStats":
        """Statistics of the windows given as rows of ``Y`` and ``X`` (windows, days)."""
        xm, ym = X.mean(axis=1), Y.mean(axis=1)
        Xc, Yc = X - xm[:, None], Y - ym[:, None]
        return cls(np.asarray(ends), X.shape[1], xm, ym, (Xc * Xc).sum(axis=1), (Xc * Yc).sum(axis=1),
                   (Yc * Yc).sum(axis=1))

    def at(self, windows: np.ndarray) -> "WindowStats":
        """The statistics of the windows at positions ``windows`` only."""
        return WindowStats(self.ends[windows], self.n, self.x_mean[windows], self.y_mean[windows],
                           self.sxx[windows], self.sxy[windows], self.syy[windows])

    def log_likelihood(self, c, beta, sigma2, log=np.log):
        """Each window's exact Normal log-likelihood from its statistics (numpy arrays, or PyTensor
        tensors with ``log=pt.log``): Σ(y − c − βx̃)² = Syy + n(ȳ − c)² − 2βSxy + β²Sxx."""
        rss = self.syy + self.n * (self.y_mean - c) ** 2 - 2 * beta * self.sxy + beta**2 * self.sxx
        return -0.5 * self.n * (np.log(2 * np.pi) + log(sigma2)) - 0.5 * rss / sigma2


@dataclass(frozen=True)
class DataScale:
    """What the data-scaled prior reads from the data: sd of y and x, the full-sample OLS slope, the
    mean of y and σ̂², the median residual variance of the rolling OLS fits."""

    sd_y: float
    sd_x: float
    slope: float
    y_mean: float
    resid_var: float

    @classmethod
    def of(cls, y: np.ndarray, x: np.ndarray, window: int) -> "DataScale":
        sd_y, sd_x = float(np.std(y, ddof=1)), float(np.std(x, ddof=1))
        s = WindowStats.of(y, x, window)
        with np.errstate(divide="ignore", invalid="ignore"):
            rss = s.syy - np.where(s.sxx > 0, s.sxy**2 / s.sxx, 0.0)
        return cls(sd_y, sd_x, float(np.cov(x, y)[0, 1] / sd_x**2), float(y.mean()),
                   max(float(np.median(rss / (window - 2))), 1e-12 * sd_y**2))


@dataclass(frozen=True)
class NIGPrior:
    """(c, β) | σ² ~ Normal(m, σ² Λ0⁻¹) with diagonal Λ0; σ² ~ InverseGamma(a0, b0).

    ``flat()`` is p(c, β, σ²) ∝ 1/σ² (Λ0 = 0, a0 = −1, b0 = 0): its posterior centres on OLS.
    """

    m_c: float
    m_beta: float
    prec_c: float
    prec_beta: float
    a0: float
    b0: float

    @classmethod
    def scaled_to(cls, y: np.ndarray, x: np.ndarray, priors: dict[str, float], window: int) -> "NIGPrior":
        """Data-scaled hyper-parameters; σ̂² is the median residual variance of the rolling OLS fits."""
        return cls.from_scale(DataScale.of(y, x, window), priors)

    @classmethod
    def from_scale(cls, d: DataScale, priors: dict[str, float]) -> "NIGPrior":
        a0 = float(priors["sigma_shape"])
        return cls(m_c=d.y_mean, m_beta=d.slope,
                   prec_c=d.resid_var / (priors["level_scale"] * d.sd_y) ** 2,
                   prec_beta=d.resid_var / (priors["slope_scale"] * d.sd_y / d.sd_x) ** 2,
                   a0=a0, b0=a0 * d.resid_var)

    def log_density(self, c: np.ndarray, beta: np.ndarray, sigma2: np.ndarray) -> np.ndarray:
        """log p(c, β, σ²) of each window's draws: InverseGamma(a0, b0) × the two conditional Normals."""
        from scipy import stats

        return (stats.invgamma.logpdf(sigma2, self.a0, scale=self.b0)
                + stats.norm.logpdf(c, self.m_c, np.sqrt(sigma2 / self.prec_c))
                + stats.norm.logpdf(beta, self.m_beta, np.sqrt(sigma2 / self.prec_beta)))

    @classmethod
    def flat(cls) -> "NIGPrior":
        return cls(0.0, 0.0, 0.0, 0.0, -1.0, 0.0)


@dataclass(frozen=True)
class WindowPosterior:
    """The NIG posterior of every window: (c, β) | σ² Normal (independent), σ² InverseGamma."""

    stats: WindowStats
    c_mean: np.ndarray
    beta_mean: np.ndarray
    prec_c: np.ndarray
    prec_beta: np.ndarray
    a: np.ndarray
    b: np.ndarray

    @classmethod
    def of(cls, s: WindowStats, p: NIGPrior) -> "WindowPosterior":
        with np.errstate(divide="ignore", invalid="ignore"):  # a constant x in a flat-prior window → NaN
            prec_c, prec_beta = p.prec_c + s.n, p.prec_beta + s.sxx
            c_mean = (p.prec_c * p.m_c + s.n * s.y_mean) / prec_c
            beta_mean = (p.prec_beta * p.m_beta + s.sxy) / prec_beta
            shrink_c = s.n * p.prec_c / prec_c * (s.y_mean - p.m_c) ** 2
            b = p.b0 + 0.5 * (s.syy + p.prec_beta * p.m_beta**2 - prec_beta * beta_mean**2 + shrink_c)
        a = np.full_like(beta_mean, p.a0 + 0.5 * s.n)
        return cls(s, c_mean, beta_mean, prec_c, prec_beta, a, np.maximum(b, 0.0))

    @property
    def sigma2_mean(self) -> np.ndarray:
        return self.b / (self.a - 1.0)

    @property
    def beta_sd(self) -> np.ndarray:
        """Sd of the Student-t marginal of β (2a degrees of freedom): √(b / ((a − 1) Λβ))."""
        return np.sqrt(self.sigma2_mean / self.prec_beta)

    @property
    def c_sd(self) -> np.ndarray:
        return np.sqrt(self.sigma2_mean / self.prec_c)

    @property
    def intercept_mean(self) -> np.ndarray:
        return self.c_mean - self.beta_mean * self.stats.x_mean

    def beta_interval(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        from scipy import stats

        half = stats.t.ppf(0.5 + level / 2, df=2 * self.a) * np.sqrt(self.b / (self.a * self.prec_beta))
        return self.beta_mean - half, self.beta_mean + half

    def draws(self, chains: int, draws: int, seed: int) -> dict[str, np.ndarray]:
        """Exact Monte Carlo draws ``{name: (chains, draws, windows)}`` (the MCMC variable names)."""
        rng = np.random.default_rng(seed)
        shape = (chains, draws, len(self.a))
        sigma2 = self.b / rng.gamma(self.a, 1.0, size=shape)
        return {"intercept_centered": self.c_mean + np.sqrt(sigma2 / self.prec_c) * rng.standard_normal(shape),
                "hedge_ratio": self.beta_mean + np.sqrt(sigma2 / self.prec_beta) * rng.standard_normal(shape),
                "sigma2": sigma2}


def zscore(spread: pd.Series, lookback: int | None = None) -> pd.Series:
    """Spread standardised by its full-sample mean/sd, or by a trailing ``lookback`` (no look-ahead)."""
    if lookback is None:
        sd = spread.std()
        if not np.isfinite(sd) or sd == 0:
            raise DataValidationError(["spread: constant (or fewer than 2 values); cannot z-score it"])
        return (spread - spread.mean()) / sd
    roll = spread.rolling(int(lookback), min_periods=int(lookback))
    return (spread - roll.mean()) / roll.std().replace(0.0, np.nan)


def positions_from_zscore(z: pd.Series, entry_threshold: float = 2.0, exit_threshold: float = 0.5) -> pd.Series:
    """-1/0/1 positions: short the spread when z > entry, long when z < −entry, flat when |z| < exit,
    otherwise hold the previous position (forward-filled). A jump from one side straight past the
    other entry flips the position; NaN z (warm-up) holds."""
    check_thresholds(entry_threshold, exit_threshold)
    event = pd.Series(np.nan, index=z.index)
    event[z.abs() < exit_threshold] = 0.0
    event[z > entry_threshold] = -1.0
    event[z < -entry_threshold] = 1.0
    return event.ffill().fillna(0.0).astype(int).rename("position")


def check_thresholds(entry: float, exit_: float) -> None:
    errors = {}
    if not np.isfinite(entry) or entry <= 0:
        errors["entry_threshold"] = f"must be a positive number (got {entry!r})"
    if not np.isfinite(exit_) or exit_ < 0:
        errors["exit_threshold"] = f"must be ≥ 0 (got {exit_!r})"
    elif not errors and exit_ >= entry:
        errors["exit_threshold"] = f"must be below the entry threshold {entry:g} (got {exit_:g})"
    if errors:
        raise InvalidParametersError(errors)
