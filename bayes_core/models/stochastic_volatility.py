"""Stochastic volatility: a latent AR(1) log-variance behind daily returns.

    h_t = log σ_t² = μ + φ (h_{t−1} − μ) + η_t,   η_t ~ Normal(0, σ_η)
    h_0 ~ Normal(μ, σ_η / √(1 − φ²))                (the stationary distribution)
    r_t = σ_t ε_t,  ε_t ~ Normal(0, 1)

Priors (config ``priors``): μ ~ Normal(log var(r), ``mu_sd``) (scaled to the data);
(φ + 1)/2 ~ Beta(``phi_a``, ``phi_b``) (Kim, Shephard & Chib 1998: persistence near 1 favoured, any
φ in (−1, 1) allowed); σ_η ~ HalfNormal(``sigma_eta_sd``).

Non-centred: the sampler sees standard-normal innovations z_t; h − μ is the AR(1) filter of the
scaled innovations e_t = σ_η z_t (e_0 = σ_η z_0 / √(1 − φ²)). The recursion x_t = φ x_{t−1} + e_t is
computed without a sequential loop by a log-depth prefix sum (after step j, x_t holds the sum over
the last 2^(j+1) innovations: x_t ← x_t + φ^d x_{t−d}, d = 1, 2, 4, ...): ⌈log2 T⌉ vectorised steps,
exact, only powers φ^d ≤ 1 (no overflow for any φ), and a small graph that compiles quickly.
The path h is not stored in the trace (it would double its size); it is recomputed from the draws
of z, μ, φ, σ_η with the same filter in numpy.

Fallback: when sampling raises or fails badly, volatility is the EWMA (RiskMetrics, λ = 0.94) with
an approximate sampling band (relative sd of the EWMA variance √(2(1−λ)/(1+λ)) under constant
volatility), flagged (``fallback`` columns, ``FallbackWarning``). A fit that converged badly keeps
its trace (``keep_failed_trace``): its run is written, flagged, and its predictions are the EWMA
ones. When sampling raises there is no trace: the EWMA estimate lives in memory only and a training
job fails with the reason (a run needs a trace).

Notebook use::

    sv = StochasticVolatilityModel()
    sv.fit_returns(returns, samples=2000, tune=1000)  # numpy or pandas (a DatetimeIndex is kept)
    sv.summary(); sv.volatility_path; sv.volatility_forecast(20); sv.plot_volatility()
    estimate_volatility_regime(returns)            # DataFrame(volatility, vol_lower, vol_upper)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayes_core import samplers
from bayes_core.artifacts import Run
from bayes_core.base import BaseBayesianModel, FitResult, require_fit
from bayes_core.data import Column, DataSchema
from bayes_core.draws import central_interval, group_draws
from bayes_core.errors import InvalidParametersError
from bayes_core.fallback import NO_FALLBACK, Fallback
from bayes_core.finance import MAX_ABS_RETURN, clean_series, returns_frame

MIN_RETURNS = 50
EWMA_LAMBDA = 0.94
_SV_VARS = ("mu", "phi", "sigma_eta", "z")  # what the volatility path is rebuilt from
PERIODS_PER_YEAR = 252


def ar1_filter(e, phi, n: int):
    """x_t = φ x_{t−1} + e_t (x_{−1} = 0) along the last axis by a log-depth prefix sum.

    Works on pytensor tensors (``phi`` a scalar) and on numpy arrays (``phi`` of shape (draws, 1)).
    """
    is_numpy = isinstance(e, np.ndarray)
    if not is_numpy:
        import pytensor.tensor as pt
    x, d = e, 1
    while d < n:
        if is_numpy:
            shifted = np.concatenate([np.zeros((*x.shape[:-1], d)), x[..., :-d]], axis=-1)
        else:
            shifted = pt.concatenate([pt.zeros((d,)), x[:-d]])
        x = x + phi**d * shifted
        d *= 2
    return x


def log_variance_draws(mu, phi, sigma_eta, z) -> np.ndarray:
    """h (draws, T) from posterior draws (1-D μ, φ, σ_η; z (draws, T)) — the model's own filter."""
    mu, phi, sigma_eta = (np.asarray(v, float)[:, None] for v in (mu, phi, sigma_eta))
    e = sigma_eta * np.asarray(z, float)
    e[:, 0] /= np.sqrt(1.0 - phi[:, 0] ** 2)
    return mu + ar1_filter(e, phi, e.shape[1])


def _bands(values: np.ndarray, level: float) -> dict[str, np.ndarray]:
    lower, upper = central_interval(values, level)
    return {"mean": values.mean(axis=0), "median": np.median(values, axis=0), "lower": lower, "upper": upper}


def _future_index(index: pd.Index, horizon: int) -> pd.Index:
    if isinstance(index, pd.DatetimeIndex) and len(index):
        return pd.bdate_range(index[-1] + pd.offsets.BDay(1), periods=horizon)
    return pd.RangeIndex(len(index), len(index) + horizon)


@dataclass
class PosteriorVolatility:
    """Volatility from posterior draws: σ_t = exp(h_t / 2) per draw."""

    index: pd.Index
    mu: np.ndarray
    phi: np.ndarray
    sigma_eta: np.ndarray
    h: np.ndarray
    fallback: Fallback = NO_FALLBACK
    method: str = "stochastic volatility (MCMC)"

    @classmethod
    def from_draws(cls, index: pd.Index, draws: dict[str, np.ndarray]) -> "PosteriorVolatility":
        h = log_variance_draws(draws["mu"], draws["phi"], draws["sigma_eta"], draws["z"])
        return cls(index, np.asarray(draws["mu"]), np.asarray(draws["phi"]), np.asarray(draws["sigma_eta"]), h)

    def path(self, level: float = 0.94) -> pd.DataFrame:
        return pd.DataFrame(_bands(np.exp(self.h / 2), level), index=self.index)

    def forecast(self, horizon: int, level: float = 0.94, seed: int = 0) -> pd.DataFrame:
        """Posterior predictive of σ_{T+1..T+H}: the AR(1) run forward from each draw's h_T."""
        rng = np.random.default_rng(seed)
        h, out = self.h[:, -1], np.empty((len(self.mu), horizon))
        for k in range(horizon):
            h = self.mu + self.phi * (h - self.mu) + self.sigma_eta * rng.standard_normal(len(self.mu))
            out[:, k] = h
        table = pd.DataFrame(_bands(np.exp(out / 2), level), index=_future_index(self.index, horizon))
        table.insert(0, "step", np.arange(1, horizon + 1))
        return table


@dataclass
class EWMAVolatility:
    """The fallback: exponentially weighted volatility with an approximate sampling band."""

    index: pd.Index
    returns: np.ndarray
    fallback: Fallback = field(default_factory=Fallback)
    lam: float = EWMA_LAMBDA
    method: str = "EWMA fallback"

    def _sigma(self) -> np.ndarray:
        var = np.empty(len(self.returns))
        prev = float(np.var(self.returns[: min(30, len(self.returns))]))
        for t, r in enumerate(self.returns):
            prev = self.lam * prev + (1 - self.lam) * r * r
            var[t] = prev
        return np.sqrt(var)

    def _band(self, sigma: np.ndarray, level: float) -> dict[str, np.ndarray]:
        from scipy import stats

        half_log = stats.norm.ppf(0.5 + level / 2) * 0.5 * np.sqrt(2 * (1 - self.lam) / (1 + self.lam))
        return {"mean": sigma, "median": sigma, "lower": sigma * np.exp(-half_log), "upper": sigma * np.exp(half_log)}

    def path(self, level: float = 0.94) -> pd.DataFrame:
        return pd.DataFrame(self._band(self._sigma(), level), index=self.index)

    def forecast(self, horizon: int, level: float = 0.94, seed: int = 0) -> pd.DataFrame:
        """The EWMA forecast is flat: tomorrow's variance for every step ahead."""
        sigma = np.full(horizon, self._sigma()[-1])
        table = pd.DataFrame(self._band(sigma, level), index=_future_index(self.index, horizon))
        table.insert(0, "step", np.arange(1, horizon + 1))
        return table


def flagged_table(table: pd.DataFrame, estimate) -> pd.DataFrame:
    table = table.copy()
    table["method"] = estimate.method
    for k, v in estimate.fallback.columns().items():
        table[k] = v
    return table


class StochasticVolatilityModel(BaseBayesianModel):
    outcome_kind = "continuous"
    config_id = "stochastic_volatility"
    prior_constraints = {"mu_sd": "positive", "phi_a": "positive", "phi_b": "positive", "sigma_eta_sd": "positive"}
    definition = r"""
    $$
    \begin{aligned}
    r_t &= \sigma_t\, \varepsilon_t, \qquad \varepsilon_t \sim \operatorname{Normal}(0, 1) \\
    h_t = \log \sigma_t^2 &= \mu + \phi\,(h_{t-1} - \mu) + \eta_t, \qquad \eta_t \sim \operatorname{Normal}(0,\ \sigma_\eta) \\
    \mu &\sim \operatorname{Normal}(\log \operatorname{var}(r),\ \texttt{mu\_sd}) \qquad
    \tfrac{\phi + 1}{2} \sim \operatorname{Beta}(\texttt{phi\_a},\ \texttt{phi\_b}) \qquad
    \sigma_\eta \sim \operatorname{HalfNormal}(\texttt{sigma\_eta\_sd})
    \end{aligned}
    $$

    Volatility moves slowly ($\phi$ near 1 is favoured, as in Kim, Shephard & Chib 1998); the model
    gives the volatility path with credible bands and a forecast.
    """
    headline_vars = ["mu", "phi", "sigma_eta"]
    sbc_observed_columns = {"returns": "return"}
    true_parameters = {"mu": -9.0, "phi": 0.95, "sigma_eta": 0.25}
    group_level_priors = ("z",)  # the latent path's standardised innovations (scaled by sigma_eta)

    fallback_method = "EWMA"
    keep_failed_trace = True  # a badly converged run is written, flagged; its predictions are the EWMA ones

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._estimate: tuple[FitResult, PosteriorVolatility | EWMAVolatility] | None = None

    # -- data -------------------------------------------------------------------------------
    def data_schema(self) -> DataSchema:
        return DataSchema(
            columns=(Column("date", "date", required=False, description="YYYY-MM-DD (optional; row order otherwise)"),
                     Column("return", "float", max_abs=MAX_ABS_RETURN,
                            description="daily (log) return, e.g. 0.012 for 1.2 %")),
            min_rows=1, description="Daily returns: `date`, `return` (one row per day, in time order).")

    def example_data(self, n: int = 1000, seed: int = 42) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        t = self.true_parameters
        h = np.empty(n)
        h[0] = t["mu"] + t["sigma_eta"] / np.sqrt(1 - t["phi"] ** 2) * rng.standard_normal()
        for i in range(1, n):
            h[i] = t["mu"] + t["phi"] * (h[i - 1] - t["mu"]) + t["sigma_eta"] * rng.standard_normal()
        return pd.DataFrame({"date": pd.bdate_range("2020-01-01", periods=n),
                             "return": np.exp(h / 2) * rng.standard_normal(n), "true_volatility": np.exp(h / 2)})

    def prepare_data(self, data: pd.DataFrame) -> pd.DataFrame:
        if "date" in data.columns:
            from bayes_core.errors import DataValidationError

            if data["date"].duplicated().any():
                raise DataValidationError(["column 'date': duplicate dates (one row per day is needed)"])
            data = data.sort_values("date").reset_index(drop=True)
        returns = clean_series(data["return"].to_numpy(float), name="returns", min_length=MIN_RETURNS)
        return data.assign(**{"return": returns})

    @staticmethod
    def _index(data: pd.DataFrame) -> pd.Index:
        return pd.DatetimeIndex(data["date"], name="date") if "date" in data.columns else pd.RangeIndex(len(data))

    # -- model ----------------------------------------------------------------------------------
    def build_model(self, data: pd.DataFrame):
        import pymc as pm
        import pytensor.tensor as pt

        r = data["return"].to_numpy(float)
        p = self.priors
        with pm.Model(coords={"time": np.arange(len(r))}) as model:
            mu = pm.Normal("mu", mu=float(np.log(np.var(r))), sigma=p["mu_sd"])
            phi_beta = pm.Beta("phi_beta", alpha=p["phi_a"], beta=p["phi_b"])
            phi = pm.Deterministic("phi", 2 * phi_beta - 1)
            sigma_eta = pm.HalfNormal("sigma_eta", sigma=p["sigma_eta_sd"])
            z = pm.Normal("z", 0.0, 1.0, dims="time")
            e = sigma_eta * z
            e = pt.set_subtensor(e[0], e[0] / pt.sqrt(1 - phi**2))
            h = mu + ar1_filter(e, phi, len(r))
            pm.Normal("returns", mu=0.0, sigma=pt.exp(h / 2), observed=r, dims="time")
        return model

    # -- fitting: the base's one path, with the EWMA fallback ---------------------------------
    def fallback_fit(self, data: pd.DataFrame, settings: samplers.SamplerSettings, reason: str) -> FitResult:
        """Sampling raised: the EWMA has no posterior draws, so the fit has no trace (no run)."""
        return self.fit_without_draws(data, settings, method=self.fallback_method, fallback=self.fallback.to_dict())

    def fit_returns(self, returns: Any = None, samples: int | None = 2000, tune: int | None = 1000,
                    progress: samplers.ProgressCallback | None = None, **settings: Any) -> FitResult:
        """``fit`` with the notebook's conveniences; returns the FitResult (``path`` says which ran).

        ``returns``: a data frame/CSV with a ``return`` column (and optional ``date``), or a plain
        series (numpy, list, pandas; a DatetimeIndex is kept); None = the example data.
        ``samples`` is the number of draws per chain (``draws`` overrides it), ``tune`` the warm-up
        (None = the config's); chains and target_accept come from the config.
        """
        if samples is not None:
            settings.setdefault("draws", samples)
        return self.fit(self._frame(returns), progress, tune=tune, **settings)

    def _current_estimate(self) -> PosteriorVolatility | EWMAVolatility:
        """The volatility estimate of the last fit: the posterior's, or the EWMA fallback's."""
        fit = require_fit(self)
        if self._estimate is None or self._estimate[0] is not fit:
            index = self._index(fit.data)
            if fit.path == "mcmc":
                estimate = PosteriorVolatility.from_draws(index, group_draws(fit.idata["posterior"], _SV_VARS))
            else:
                estimate = EWMAVolatility(index, fit.data["return"].to_numpy(float), fit.fallback)
            self._estimate = (fit, estimate)
        return self._estimate[1]

    @staticmethod
    def _frame(returns: Any) -> Any:
        """Frames, CSV paths and bytes go to ``load_data`` as they are; plain series become frames."""
        if returns is None or isinstance(returns, (pd.DataFrame, str, bytes)) or hasattr(returns, "read_text"):
            return returns
        return returns_frame(returns, min_length=MIN_RETURNS)

    # -- registered prediction ------------------------------------------------------------------
    def estimate_from_run(self, run: Run) -> PosteriorVolatility | EWMAVolatility:
        from bayes_core.predictor import draws_for_run

        data = self.load_data(run.data)
        fallback = Fallback.from_dict(run.diagnostics.get("fallback"))
        if fallback.used:
            return EWMAVolatility(self._index(data), data["return"].to_numpy(float), fallback)
        return PosteriorVolatility.from_draws(self._index(data), draws_for_run(run))

    def predict_rows(self, run: Run, requests: list[dict[str, Any]]) -> pd.DataFrame:
        estimate = self.estimate_from_run(run)
        rows = []
        for req in requests:
            level, horizon = float(req["credible_level"]), int(req["horizon"])
            now = estimate.path(level).iloc[-1]
            ahead = estimate.forecast(horizon, level, seed=run.metadata.get("seed", 0)).iloc[-1]
            rows.append({"horizon": horizon, "credible_level": level,
                         "current_volatility": now["mean"], "current_lower": now["lower"], "current_upper": now["upper"],
                         "forecast_volatility": ahead["mean"], "forecast_lower": ahead["lower"],
                         "forecast_upper": ahead["upper"],
                         "forecast_volatility_annualised": ahead["mean"] * np.sqrt(PERIODS_PER_YEAR),
                         "method": estimate.method, **estimate.fallback.columns()})
        return pd.DataFrame(rows)

    # -- notebook API ---------------------------------------------------------------------------
    def summary(self) -> pd.DataFrame:
        """Posterior summary of μ, φ, σ_η (mean, sd, 94 % HDI, ESS, R-hat), flagged if a fallback."""
        estimate = self._current_estimate()
        fit = require_fit(self)
        if fit.idata is None:  # sampling raised: there is no posterior to summarise
            table = pd.DataFrame({"mean": [EWMA_LAMBDA]}, index=["ewma_lambda"])
        else:
            table = fit.summary.loc[[i for i in fit.summary.index if i in self.headline_vars]].copy()
        return flagged_table(table, estimate)

    @property
    def volatility_path(self) -> pd.DataFrame:
        """Daily volatility σ_t: posterior mean, median and 94 % equal-tailed band (per date)."""
        estimate = self._current_estimate()
        return flagged_table(estimate.path(), estimate)

    def volatility_forecast(self, horizon: int = 20, credible_level: float = 0.94, seed: int = 0) -> pd.DataFrame:
        """σ for the next ``horizon`` days: the posterior predictive of the AR(1) run forward."""
        if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or not 1 <= horizon <= 1000:
            raise InvalidParametersError({"horizon": f"must be a whole number from 1 to 1000 (got {horizon!r})"})
        if not 0 < credible_level < 1:
            raise InvalidParametersError({"credible_level": f"must be between 0 and 1 (got {credible_level!r})"})
        estimate = self._current_estimate()
        return flagged_table(estimate.forecast(int(horizon), credible_level, seed), estimate)

    def plot_volatility(self, horizon: int = 20):
        """Plotly figure: |returns|, the volatility path with its band, and the forecast."""
        returns = require_fit(self).data["return"].to_numpy(float)
        return volatility_figure(self.volatility_path, self.volatility_forecast(horizon), returns)


def estimate_volatility_regime(returns: Any, samples: int = 1000, **settings: Any) -> pd.DataFrame:
    """Fit the stochastic volatility model; DataFrame(``volatility``, ``vol_lower``, ``vol_upper``)
    per day (posterior mean and 94 % band), plus ``method``/``fallback`` columns."""
    model = StochasticVolatilityModel()
    model.fit_returns(returns, samples=samples, **settings)
    return model.volatility_path.drop(columns=["median"]).rename(
        columns={"mean": "volatility", "lower": "vol_lower", "upper": "vol_upper"})


def volatility_figure(path: pd.DataFrame, forecast: pd.DataFrame | None = None, returns: np.ndarray | None = None):
    import plotly.graph_objects as go

    fig = go.Figure()
    if returns is not None:
        fig.add_trace(go.Scatter(x=path.index, y=np.abs(returns), mode="markers", name="|return|",
                                 marker=dict(size=3, color="rgba(127,127,127,0.45)")))
    for table, colour, label in ((path, "31,119,180", "volatility"), (forecast, "214,39,40", "forecast")):
        if table is None or table.empty:
            continue
        fig.add_trace(go.Scatter(x=table.index, y=table["upper"], line=dict(width=0), showlegend=False))
        fig.add_trace(go.Scatter(x=table.index, y=table["lower"], fill="tonexty", line=dict(width=0),
                                 fillcolor=f"rgba({colour},0.25)", name=f"{label} band"))
        fig.add_trace(go.Scatter(x=table.index, y=table["mean"], name=label, line=dict(color=f"rgb({colour})")))
    title = "Volatility (posterior mean and credible band)"
    if "fallback" in path and bool(path["fallback"].any()):
        title = f"Volatility — EWMA FALLBACK: {path['fallback_reason'].iloc[0]}"
    fig.update_layout(title=title, yaxis_title="daily volatility", height=450)
    return fig
