"""Bayesian pairs trading: a rolling hedge ratio with an exact per-window posterior, and signals.

Formulation (exact, closed form). For the window of ``window`` days ending on day t, a Bayesian
linear regression of y on x with the predictor centred in the window (x̃ = x − x̄_t)::

    y_s = c_t + β_t x̃_s + ε_s,   ε_s ~ Normal(0, σ_t²)                 s in the window
    σ_t² ~ InverseGamma(a0, b0)
    c_t | σ_t² ~ Normal(mean y, σ_t² v_c),   β_t | σ_t² ~ Normal(β_ols, σ_t² v_β)

This Normal–Inverse-Gamma prior is conjugate, so each window's posterior is NIG again and its
marginals are Student-t: the hedge ratio's posterior mean and sd are exact, computed for every
window at once (numpy, no sampling). Hyper-parameters are scaled to the data (as Bambi/rstanarm
do): with σ̂² the median residual variance of the rolling OLS fits, at σ = σ̂ the prior sd of c is
``level_scale`` · sd(y), of β ``slope_scale`` · sd(y)/sd(x) around the full-sample OLS slope, and
σ² has ``sigma_shape`` = a0, b0 = a0 σ̂² (weight of 2·a0 observations). The intercept on the price
scale is α_t = c_t − β_t x̄_t; the spread on day t is y_t − (α̂_t + β̂_t x_t) with the posterior means
of the window ending on day t (no look-ahead).

Registered model (training, diagnostics, a trace): the same W per-window regressions as ONE PyMC
model with a ``window`` dimension, likelihood reduced to each window's exact sufficient statistics
(n, x̄, ȳ, Σx̃², Σx̃y, Σ(y−ȳ)²), sampled with NUTS. It is a collection of independent regressions
(windows overlap, so it is not a joint model of the price series); sampling it is the check of
the closed form: each run reports the largest |MCMC mean − exact mean| in MCSE units.

Fallback: when sampling raises or fails badly, hedge ratios are the rolling OLS fits with their
exact flat-prior uncertainty (p(c, β, σ²) ∝ 1/σ²: Student-t around OLS), flagged in the
diagnostics, in every prediction row and in the notebook tables (``fallback``, ``fallback_reason``),
with a ``FallbackWarning``. A run that sampled but failed badly keeps its trace (its diagnostics
show why); one whose sampling raised stores Monte Carlo draws of the rolling-OLS posterior.

Notebook use::

    pairs = BayesianPairsTrading()
    hedge = pairs.fit_dynamic_hedge(y, x, window=60)     # hedge_ratio_mean, hedge_ratio_std, spread
    positions = pairs.generate_signals(entry_threshold=2.0, exit_threshold=0.5)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bayes_core import samplers
from bayes_core.artifacts import Run
from bayes_core.base import BaseBayesianModel, FitResult, require_fit
from bayes_core.data import Column, DataSchema
from bayes_core.errors import DataValidationError, InvalidParametersError
from bayes_core.draws import central_interval, group_draws
from bayes_core.fallback import NO_FALLBACK, Fallback
from bayes_core.finance import clean_xy
from bayes_core.models.pairs_checks import PairsChecks
from bayes_core.rolling_regression import (NIGPrior, WindowPosterior, WindowStats, check_thresholds,
                                           positions_from_zscore, zscore)

REPORT = "pairs"
MIN_WINDOW = 10


def hedge_table(index: pd.Index, y: np.ndarray, x: np.ndarray, window: int, beta_mean, beta_sd, intercept,
                lower, upper, fallback: Fallback) -> pd.DataFrame:
    """One row per day (NaN before the first full window): the hedge ratio and today's spread."""
    n, pad = len(y), np.full(window - 1, np.nan)
    full = {name: np.concatenate([pad, np.asarray(v, float)]) for name, v in
            (("hedge_ratio_mean", beta_mean), ("hedge_ratio_std", beta_sd), ("hedge_ratio_lower", lower),
             ("hedge_ratio_upper", upper), ("intercept_mean", intercept))}
    table = pd.DataFrame({"y": y, "x": x, **full}, index=index[:n])
    table["spread"] = table["y"] - table["intercept_mean"] - table["hedge_ratio_mean"] * table["x"]
    for k, v in fallback.columns().items():
        table[k] = v
    return table


class BayesianPairsTrading(PairsChecks, BaseBayesianModel):
    outcome_kind = "continuous"
    config_id = "pairs_trading"
    prior_constraints = {"level_scale": "positive", "slope_scale": "positive", "sigma_shape": "positive"}
    definition = r"""
    For the window of $W$ days ending on day $t$, with $\tilde{x}_s = x_s - \bar{x}_t$ centred in the window:

    $$
    \begin{aligned}
    y_s &\sim \operatorname{Normal}(c_t + \beta_t \tilde{x}_s,\ \sigma_t) \qquad s \text{ in the window} \\
    \sigma_t^2 &\sim \operatorname{InverseGamma}(a_0,\ b_0) \\
    c_t \mid \sigma_t^2 &\sim \operatorname{Normal}(\bar{y},\ \sigma_t^2 v_c) \qquad
    \beta_t \mid \sigma_t^2 \sim \operatorname{Normal}(\hat\beta_{\mathrm{OLS}},\ \sigma_t^2 v_\beta)
    \end{aligned}
    $$

    The hedge ratio $\beta_t$ has an exact Student-t posterior in every window. The spread on day $t$
    is $y_t - (\hat\alpha_t + \hat\beta_t x_t)$ from the window ending that day (no look-ahead);
    entry and exit signals come from its z-score. Priors are scaled to the data by `level_scale`,
    `slope_scale` and `sigma_shape`.
    """
    headline_vars = ["hedge_ratio"]
    true_parameters = {"hedge_ratio_1": 1.5, "hedge_ratio_2": 1.1, "hedge_ratio_3": 0.8, "intercept": 5.0,
                       "noise_sd": 0.5}

    fallback_method = "rolling OLS"
    keep_failed_trace = True  # a run that sampled but failed badly keeps its trace; its diagnostics show why

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._hedge: pd.DataFrame | None = None

    @property
    def window(self) -> int:
        return int(self.options.get("window") or 60)

    # -- data -------------------------------------------------------------------------------
    def data_schema(self) -> DataSchema:
        return DataSchema(
            columns=(Column("date", "date", required=False, description="YYYY-MM-DD (optional; row order otherwise)"),
                     Column("y", "float", description="price of the asset traded against x"),
                     Column("x", "float", description="price of the hedge asset")),
            # The window sets the fewest rows: the page re-validates the data when it changes.
            min_rows=self.min_length(self.window), depends_on_options=("window",),
            min_rows_reason=f"two rolling windows of {self.window} days: lower {self.option_ref('window')} or add rows",
            description="Daily prices of the pair: `date`, `y`, `x` (one row per day, in time order).")

    def example_data(self, n: int = 1000, seed: int = 42) -> pd.DataFrame:
        """x a random walk; y = 5 + β_t x + noise, β_t with two breaks (1.5 → 1.1 at 40 %, → 0.8 at 70 %)."""
        rng = np.random.default_rng(seed)
        t = self.true_parameters
        x = 50.0 + np.cumsum(rng.normal(0, 1.0, n))
        beta = true_hedge_path(n, t)
        y = t["intercept"] + beta * x + rng.normal(0, t["noise_sd"], n)
        return pd.DataFrame({"date": pd.bdate_range("2020-01-01", periods=n), "y": y, "x": x})

    def prepare_data(self, data: pd.DataFrame) -> pd.DataFrame:
        if "date" in data.columns:
            if data["date"].duplicated().any():
                raise DataValidationError(["column 'date': duplicate dates (one row per day is needed)"])
            data = data.sort_values("date").reset_index(drop=True)
        xa, ya, _ = clean_xy(data["x"].to_numpy(float), data["y"].to_numpy(float),
                             min_rows=self.min_length(self.window), x_name="x", y_name="y")
        return data.assign(x=xa[:, 0], y=ya)

    @staticmethod
    def min_length(window: int) -> int:
        """At least two full windows (a hedge-ratio path, not one number)."""
        return window + 1

    def _check_window(self, window: Any) -> int:
        if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < MIN_WINDOW:
            raise InvalidParametersError({"window": f"must be a whole number ≥ {MIN_WINDOW} (got {window!r})"})
        return int(window)

    def _frame(self, y: Any, x: Any, window: int) -> pd.DataFrame:
        """Numpy/pandas y and x → the model's data frame (dates kept when the index has them)."""
        xa, ya, _ = clean_xy(x, y, min_rows=self.min_length(window), x_name="x", y_name="y")
        frame = pd.DataFrame({"y": ya, "x": xa[:, 0]})
        index = getattr(y, "index", getattr(x, "index", None))
        if isinstance(index, pd.DatetimeIndex):
            frame.insert(0, "date", index.normalize())
        return frame

    @staticmethod
    def _labels(data: pd.DataFrame) -> pd.Index:
        if "date" in data.columns:
            return pd.DatetimeIndex(data["date"])
        return pd.RangeIndex(len(data))

    def _prior(self, data: pd.DataFrame, window: int | None = None) -> NIGPrior:
        return NIGPrior.scaled_to(data["y"].to_numpy(float), data["x"].to_numpy(float), self.priors,
                                  window or self.window)

    def exact_posterior(self, data: pd.DataFrame, window: int | None = None) -> WindowPosterior:
        window = window or self.window
        stats = WindowStats.of(data["y"].to_numpy(float), data["x"].to_numpy(float), window)
        return WindowPosterior.of(stats, self._prior(data, window))

    # -- the PyMC model (per-window regressions with a window dimension) ----------------------
    def _coords(self, data: pd.DataFrame, stats: WindowStats) -> dict[str, list[str]]:
        labels = self._labels(data)
        names = [d.strftime("%Y-%m-%d") for d in labels[stats.ends]] if isinstance(labels, pd.DatetimeIndex) \
            else [f"t{int(i)}" for i in stats.ends]
        return {"window": names}

    def _window_priors(self, p: NIGPrior):
        import pymc as pm
        import pytensor.tensor as pt

        sigma2 = pm.InverseGamma("sigma2", alpha=p.a0, beta=p.b0, dims="window")
        c = pm.Normal("intercept_centered", mu=p.m_c, sigma=pt.sqrt(sigma2 / p.prec_c), dims="window")
        beta = pm.Normal("hedge_ratio", mu=p.m_beta, sigma=pt.sqrt(sigma2 / p.prec_beta), dims="window")
        return c, beta, sigma2

    def build_model(self, data: pd.DataFrame):
        """Sampled model: each window's Normal log-likelihood from its sufficient statistics (exact)."""
        s = WindowStats.of(data["y"].to_numpy(float), data["x"].to_numpy(float), self.window)
        return self.window_model(s, self._prior(data), self._coords(data, s))

    def window_model(self, s: WindowStats, prior: NIGPrior, coords: dict[str, list[str]]):
        """The per-window regressions of ``s`` under ``prior``. The statistics are data containers, so
        a process that keeps compiled models (a warm worker, SBC's fits) binds new ones without compiling."""
        import pymc as pm
        import pytensor.tensor as pt

        with pm.Model(coords=coords) as model:
            c, beta, sigma2 = self._window_priors(prior)
            stats = {name: pm.Data(name, getattr(s, name), dims="window")
                     for name in ("x_mean", "y_mean", "sxx", "sxy", "syy")}
            bound = WindowStats(ends=s.ends, n=s.n, **stats)
            pm.Potential("loglik", pt.sum(bound.log_likelihood(c, beta, sigma2, log=pt.log)))
        return model

    def build_predictive_model(self, data: pd.DataFrame):
        """Plain per-observation predictive model: each window's last day, y_t ~ Normal(c + β x̃_t, σ)."""
        import pymc as pm
        import pytensor.tensor as pt

        y, x = data["y"].to_numpy(float), data["x"].to_numpy(float)
        s = WindowStats.of(y, x, self.window)
        with pm.Model(coords=self._coords(data, s)) as model:
            c, beta, sigma2 = self._window_priors(self._prior(data))
            x_centred = pm.Data("x_centered", x[s.ends] - s.x_mean, dims="window")
            pm.Normal("y", mu=c + beta * x_centred, sigma=pt.sqrt(sigma2), observed=y[s.ends], dims="window")
        return model

    # -- fitting: the base's one path, with the rolling-OLS fallback ----------------------------
    def fallback_fit(self, data: pd.DataFrame, settings: samplers.SamplerSettings, reason: str) -> FitResult:
        """Sampling raised: Monte Carlo draws of the rolling-OLS posterior (flagged)."""
        return self._rolling_ols_fit(data, settings, self.fallback)

    def _rolling_ols_fit(self, data: pd.DataFrame, settings: samplers.SamplerSettings, fallback: Fallback) -> FitResult:
        s = WindowStats.of(data["y"].to_numpy(float), data["x"].to_numpy(float), self.window)
        draws = WindowPosterior.of(s, NIGPrior.flat()).draws(settings.chains, settings.draws, settings.seed)
        return self.fit_from_draws(draws, data, settings, method="rolling-ols-fallback",
                                   dims={k: ["window"] for k in draws}, coords=self._coords(data, s),
                                   fallback=fallback.to_dict())

    def build_reports(self, fit: FitResult) -> dict[str, dict]:
        """The exact posterior beside the run's draws: the run is the check of the closed form."""
        exact = self.exact_posterior(fit.data)
        post = fit.idata["posterior"]["hedge_ratio"]
        mcmc_mean = np.asarray(post.mean(("chain", "draw")).values)
        mcse = fit.summary.loc[[f"hedge_ratio[{w}]" for w in post["window"].values], "mcse_mean"].to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            gap = np.abs(mcmc_mean - exact.beta_mean) / mcse
        return {REPORT: {"window": self.window,
                         "exact_hedge_ratio_mean": exact.beta_mean.tolist(),
                         "exact_hedge_ratio_std": exact.beta_sd.tolist(),
                         "max_gap_in_mcse": float(np.nanmax(gap)) if np.isfinite(gap).any() else None,
                         "fallback": Fallback.from_dict(fit.diagnostics.get("fallback")).to_dict()}}

    # -- registered prediction ------------------------------------------------------------------
    def run_options(self, run: Run | None) -> dict[str, list[Any]]:
        if run is None:
            return {}
        return {"date": [str(w) for w in run.idata["posterior"]["window"].values][::-1]}  # latest first

    def hedge_from_run(self, run: Run, credible_level: float = 0.94) -> pd.DataFrame:
        """The hedge-ratio table of a trained run (posterior draws; flagged if it is the fallback)."""
        from bayes_core.predictor import draws_for_run

        data = self.load_data(run.data)
        window = int(run.metadata.get("options", {}).get("window") or self.window)
        fallback = Fallback.from_dict(run.diagnostics.get("fallback"))
        if fallback.used:
            return rolling_ols_table(self._labels(data), data, window, credible_level, fallback)
        draws = draws_for_run(run)
        return self._table_from_draws(self._labels(data), data, window, draws["hedge_ratio"],
                                      draws["intercept_centered"], credible_level)

    @staticmethod
    def _table_from_draws(index: pd.Index, data: pd.DataFrame, window: int, beta: np.ndarray, c: np.ndarray,
                          level: float) -> pd.DataFrame:
        """Hedge table from posterior draws ``(draws, windows)`` of β and the centred intercept."""
        y, x = data["y"].to_numpy(float), data["x"].to_numpy(float)
        x_mean = WindowStats.of(y, x, window).x_mean
        lower, upper = central_interval(beta, level)
        return hedge_table(index, y, x, window, beta.mean(0), beta.std(0, ddof=1), c.mean(0) - beta.mean(0) * x_mean,
                           lower, upper, NO_FALLBACK)

    def predict_rows(self, run: Run, requests: list[dict[str, Any]]) -> pd.DataFrame:
        rows, tables = [], {}
        for req in requests:
            check_thresholds(req["entry_threshold"], req["exit_threshold"])
            level = float(req["credible_level"])
            if level not in tables:  # one summary of the draws per credible level, not per row
                tables[level] = self.hedge_from_run(run, level)
            table = tables[level].copy()
            table["zscore"] = zscore(table["spread"])
            table["position"] = positions_from_zscore(table["zscore"], req["entry_threshold"], req["exit_threshold"])
            labels = table.index.strftime("%Y-%m-%d") if isinstance(table.index, pd.DatetimeIndex) \
                else [f"t{i}" for i in table.index]
            date = str(req["date"] or labels[-1])  # blank: the latest day
            row = table.loc[np.asarray(labels) == date]
            if row.empty or np.isnan(row["hedge_ratio_mean"].iloc[0]):
                raise InvalidParametersError({"date": f"{date!r} is not a window end of this run"})
            rows.append({"date": date, "credible_level": float(req["credible_level"]),
                         "entry_threshold": req["entry_threshold"], "exit_threshold": req["exit_threshold"],
                         **row.iloc[0].to_dict()})
        return pd.DataFrame(rows)

    # -- notebook API ---------------------------------------------------------------------------
    def fit_dynamic_hedge(self, y: Any, x: Any, window: int = 60, method: str = "conjugate",
                          credible_level: float = 0.94, **settings: Any) -> pd.DataFrame:
        """Rolling Bayesian hedge ratio of ``y`` on ``x`` (numpy or pandas, aligned, same length).

        ``method="conjugate"`` (default): the exact Normal–Inverse-Gamma posterior of every window
        (closed form, see the module docstring). ``method="mcmc"``: the same model sampled with
        NUTS (``settings`` as for ``fit``); falls back to rolling OLS, flagged, when sampling fails.
        Returns one row per day (NaN before the first full window): ``hedge_ratio_mean``,
        ``hedge_ratio_std``, ``hedge_ratio_lower``/``upper`` (``credible_level``), ``intercept_mean``,
        ``spread`` (y − α̂ − β̂ x with today's window), ``y``, ``x``, ``fallback``, ``fallback_reason``.
        """
        window = self._check_window(window)
        if method not in ("conjugate", "mcmc"):
            raise InvalidParametersError({"method": f"must be 'conjugate' or 'mcmc' (got {method!r})"})
        frame = self._frame(y, x, window)
        self.options = self.validate_options({**self.options, "window": window})
        index = y.index if isinstance(y, pd.Series) else x.index if isinstance(x, pd.Series) else pd.RangeIndex(len(frame))
        ya, xa = frame["y"].to_numpy(float), frame["x"].to_numpy(float)
        if method == "conjugate":
            post = self.exact_posterior(frame, window)
            self.fallback = NO_FALLBACK
            lower, upper = post.beta_interval(credible_level)
            table = hedge_table(index, ya, xa, window, post.beta_mean, post.beta_sd, post.intercept_mean,
                                lower, upper, NO_FALLBACK)
        else:
            fit = self.fit(frame, **settings)
            if fit.path == "fallback":
                table = rolling_ols_table(index, frame, window, credible_level, self.fallback)
            else:
                post = group_draws(fit.idata["posterior"], ["hedge_ratio", "intercept_centered"])
                table = self._table_from_draws(index, frame, window, post["hedge_ratio"], post["intercept_centered"],
                                               credible_level)
        self._hedge = table
        return table

    def generate_signals(self, spread: Any = None, entry_threshold: float = 2.0, exit_threshold: float = 0.5,
                         lookback: int | None = None) -> pd.Series:
        """Positions (-1 short the spread, 0 flat, 1 long) from the z-scored spread, forward-filled
        between an entry (|z| > entry) and an exit (|z| < exit).

        ``spread``: a series/array, or None for the spread of the last ``fit_dynamic_hedge``. The
        z-score uses the full-sample mean/sd (look-ahead: fine for research, not for a backtest)
        unless ``lookback`` days are given (trailing mean/sd, no look-ahead).
        """
        if spread is None:
            spread = require_fit(self, "_hedge")["spread"]
        elif not isinstance(spread, pd.Series):
            spread = pd.Series(np.asarray(spread, dtype=float))
        values = spread.to_numpy(dtype=float)
        if values.size == 0 or np.isnan(values).all():
            raise DataValidationError(["spread: empty (no values to trade on)"])
        if np.isinf(values).any():
            raise DataValidationError(["spread: infinite values"])
        if lookback is not None and (isinstance(lookback, bool) or not isinstance(lookback, (int, np.integer)) or lookback < 2):
            raise InvalidParametersError({"lookback": f"must be a whole number ≥ 2 (got {lookback!r})"})
        return positions_from_zscore(zscore(spread.astype(float), lookback), entry_threshold, exit_threshold)

    @property
    def hedge(self) -> pd.DataFrame:
        """The table of the last ``fit_dynamic_hedge``."""
        return require_fit(self, "_hedge")

    def plot_hedge(self, entry_threshold: float = 2.0, exit_threshold: float = 0.5):
        """Plotly figure of the last ``fit_dynamic_hedge``: hedge ratio with band, spread, positions."""
        table = self.hedge.copy()
        table["position"] = self.generate_signals(None, entry_threshold, exit_threshold)
        return hedge_figure(table)


def rolling_ols_table(index: pd.Index, data: pd.DataFrame, window: int, level: float,
                      fallback: Fallback) -> pd.DataFrame:
    """The fallback's hedge table: rolling OLS with its exact flat-prior (Student-t) uncertainty."""
    y, x = data["y"].to_numpy(float), data["x"].to_numpy(float)
    post = WindowPosterior.of(WindowStats.of(y, x, window), NIGPrior.flat())
    lower, upper = post.beta_interval(level)
    return hedge_table(index, y, x, window, post.beta_mean, post.beta_sd, post.intercept_mean, lower, upper, fallback)


def true_hedge_path(n: int, truth: dict[str, float]) -> np.ndarray:
    """The example data's hedge ratio: three regimes, breaks at 40 % and 70 % of the days."""
    beta = np.full(n, truth["hedge_ratio_3"])
    beta[: int(0.7 * n)] = truth["hedge_ratio_2"]
    beta[: int(0.4 * n)] = truth["hedge_ratio_1"]
    return beta


def hedge_figure(table: pd.DataFrame):
    """Three stacked panels: hedge ratio with its band, the spread, the positions."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    t = table.index
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.05,
                        subplot_titles=("Hedge ratio (posterior mean and credible band)", "Spread", "Position"))
    fig.add_trace(go.Scatter(x=t, y=table["hedge_ratio_upper"], line=dict(width=0), showlegend=False), 1, 1)
    fig.add_trace(go.Scatter(x=t, y=table["hedge_ratio_lower"], fill="tonexty", line=dict(width=0),
                             name="credible band", fillcolor="rgba(31,119,180,0.25)"), 1, 1)
    fig.add_trace(go.Scatter(x=t, y=table["hedge_ratio_mean"], name="hedge ratio", line=dict(color="#1f77b4")), 1, 1)
    fig.add_trace(go.Scatter(x=t, y=table["spread"], name="spread", line=dict(color="#7f7f7f")), 2, 1)
    if "position" in table:
        fig.add_trace(go.Scatter(x=t, y=table["position"], name="position", line=dict(shape="hv", color="#d62728")), 3, 1)
    title = "Pairs trading"
    if "fallback" in table and bool(table["fallback"].any()):
        title += f" — ROLLING OLS FALLBACK: {table['fallback_reason'].iloc[-1]}"
    fig.update_layout(title=title, height=700)
    return fig
