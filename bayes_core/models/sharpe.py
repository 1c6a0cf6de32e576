"""Bayesian Sharpe ratio of one strategy, and a Bayesian comparison of several.

One strategy (``bayesian_sharpe``)::

    r_t ~ StudentT(ν, μ, s)                      heavy tails, as daily returns have
    Sharpe ~ Normal(0, priors.sharpe_sd)         annualised excess-return Sharpe ratio (default sd 1.5)
    s / sd r ~ HalfNormal(priors.scale_scale)    Student-t scale relative to the sample volatility (1)
    ν − 2 ~ Gamma(priors.nu_alpha, priors.nu_beta)   (2, 0.1; Juarez & Steel) ν > 2: the variance exists
    μ = r_f + Sharpe / √periods_per_year · s·√(ν/(ν−2))      the mean return the Sharpe ratio implies

Priors are weakly informative in a finance analyst's terms: the prior is placed on the annualised
Sharpe ratio itself, so about 95 % of its mass lies within ±3 (a Sharpe ratio above 3 sustained
over years is exceptional) whatever the return frequency; the volatility prior is scaled to the
sample volatility (within about twice it). A prior on the mean return and the scale separately
would imply a Sharpe prior spanning hundreds (their ratio explodes where the scale is near 0).

The free parameters are in units of the returns' sample sd (unit-scale geometry for the sampler,
whatever the return scale); the likelihood and every reported quantity (``mu``, ``scale``,
``annual_return``, ``annual_volatility``, the prior and posterior predictive) are in the original
return units. ``r_f`` is the annual risk-free rate turned into a per-period rate by compounding
(``finance.per_period_rate``).

Several strategies (``strategy_comparison``): the same model, jointly — returns on the same dates
are multivariate Student-t with an LKJ(η = priors.lkj_eta) correlation and one shared ν — so
P(Sharpe A > Sharpe B) accounts for the strategies' correlation (two highly correlated strategies
have a much sharper difference than two independent fits would claim).

Notebook use::

    bayesian_sharpe(returns, samples=5000, risk_free_rate=0.0, periods_per_year=252)
        → {"mean", "std", "hdi_low", "hdi_high", "prob_positive"}   (94 % HDI)
    ranking, prob_greater = compare_strategies_bayesian({"A": r_a, "B": r_b}, samples=5000)
        ranking: DataFrame indexed by strategy, best first; prob_greater.loc[a, b] = P(Sharpe a > Sharpe b)
"""

from __future__ import annotations

import math
from typing import Any, Mapping, NamedTuple

import numpy as np
import pandas as pd

from bayes_core.artifacts import Run
from bayes_core.base import BaseBayesianModel, FitResult
from bayes_core.data import Column, DataSchema
from bayes_core.draws import hdi, posterior_of
from bayes_core.errors import DataValidationError, InvalidParametersError
from bayes_core.finance import (MAX_ABS_RETURN, check_periods, clean_returns_table, clean_series, per_period_rate,
                                returns_frame)

#: Fewest returns accepted: fewer cannot separate the Student-t scale from its tails.
MIN_RETURNS = 20
HDI_PROB = 0.94
_RESERVED = {"date"}


class StrategyComparison(NamedTuple):
    """What ``compare_strategies_bayesian`` returns (unpacks as ``ranking, prob_greater``)."""

    ranking: pd.DataFrame
    prob_greater: pd.DataFrame


class _SharpeBase(BaseBayesianModel):
    """Shared by both models: options, date handling, priors and the Sharpe deterministic."""
    outcome_kind = "continuous"

    @property
    def periods_per_year(self) -> float:
        return check_periods(self.options.get("periods_per_year") or 252.0)

    @property
    def risk_free_per_period(self) -> float:
        return per_period_rate(float(self.options.get("risk_free_rate") or 0.0), self.periods_per_year)

    def _sorted_by_date(self, data: pd.DataFrame) -> pd.DataFrame:
        if "date" not in data.columns:
            return data.reset_index(drop=True)
        duplicated = data["date"].duplicated()
        if duplicated.any():
            days = ", ".join(str(d.date()) for d in data.loc[duplicated, "date"].head(5))
            raise DataValidationError([f"duplicate dates: {days}; one row per date is expected"])
        return data.sort_values("date").reset_index(drop=True)

    def _nu(self, priors):
        import pymc as pm

        nu_minus_two = pm.Gamma("nu_minus_two", alpha=priors["nu_alpha"], beta=priors["nu_beta"])
        return pm.Deterministic("nu", nu_minus_two + 2.0)

    def _sharpe_terms(self, priors, scale_z, nu, sd_r, dims: str | None = None):
        """The Sharpe prior and the deterministics in original units; returns the per-period mean
        in standardised units (``sd_r`` is the sd used to standardise returns). ``priors``: the
        hyper-parameters, as numbers or data containers."""
        import pymc as pm
        import pytensor.tensor as pt

        ppy, rf = self.periods_per_year, self.risk_free_per_period
        kw = {"dims": dims} if dims else {}
        sharpe = pm.Normal("sharpe", 0.0, priors["sharpe_sd"], **kw)
        return_sd_z = scale_z * pt.sqrt(nu / (nu - 2.0))
        mu_z = rf / sd_r + sharpe / math.sqrt(ppy) * return_sd_z
        pm.Deterministic("mu", mu_z * sd_r, **kw)
        pm.Deterministic("scale", scale_z * sd_r, **kw)
        pm.Deterministic("annual_return", mu_z * sd_r * ppy, **kw)
        pm.Deterministic("annual_volatility", return_sd_z * sd_r * math.sqrt(ppy), **kw)
        return mu_z


class BayesianSharpeModel(_SharpeBase):
    config_id = "bayesian_sharpe"
    prior_constraints = {"sharpe_sd": "positive", "scale_scale": "positive",
                         "nu_alpha": "positive", "nu_beta": "positive"}
    definition = r"""
    Returns $r_t$ per period (day, week, month), $P$ periods per year, risk-free rate $r_f$ per period:

    $$
    \begin{aligned}
    r_t &\sim \operatorname{StudentT}(\nu,\ \mu,\ s) \\
    \mathrm{Sharpe} &= \frac{\mu - r_f}{s\sqrt{\nu/(\nu-2)}}\ \sqrt{P} \;\sim\; \operatorname{Normal}(0,\ \texttt{sharpe\_sd}) \\
    s / \mathrm{sd}(r) &\sim \operatorname{HalfNormal}(\texttt{scale\_scale}) \qquad
    \nu - 2 \sim \operatorname{Gamma}(\texttt{nu\_alpha},\ \texttt{nu\_beta})
    \end{aligned}
    $$

    The prior is on the annualised Sharpe ratio itself: with the default $\texttt{sharpe\_sd} = 1.5$
    about 95 % of it lies within ±3, at any return frequency. Heavy tails ($\nu$) keep a few extreme
    days from dominating the estimate.
    """
    headline_vars = ["sharpe", "annual_return", "annual_volatility", "nu"]
    sbc_observed_columns = {"returns": "return"}
    # Example data: daily Student-t returns, annual mean 12 %, scale 1 %, ν = 5.
    true_parameters = {"mu": 0.12 / 252, "scale": 0.01, "nu": 5.0,
                       "sharpe": (0.12 / 252) / (0.01 * math.sqrt(5 / 3)) * math.sqrt(252)}

    def data_schema(self) -> DataSchema:
        return DataSchema(
            columns=(Column("date", "date", required=False, description="YYYY-MM-DD (optional; sorts the rows)"),
                     Column("return", "float", max_abs=MAX_ABS_RETURN,
                            description="simple return per period, e.g. 0.012 for +1.2 %")),
            min_rows=MIN_RETURNS,
            description=f"One row per period: `date`, `return` (at least {MIN_RETURNS} returns).")

    def example_data(self, n: int = 1000, seed: int = 42) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        t = self.true_parameters
        returns = t["mu"] + t["scale"] * rng.standard_t(t["nu"], size=n)
        return pd.DataFrame({"date": pd.bdate_range("2020-01-01", periods=n), "return": returns})

    def prepare_data(self, data: pd.DataFrame) -> pd.DataFrame:
        data = self._sorted_by_date(data)
        clean_series(data["return"], name="return", min_length=MIN_RETURNS)
        return data

    def build_model(self, data: pd.DataFrame):
        import pymc as pm

        r = data["return"].to_numpy(float)
        with pm.Model(coords={"obs": np.arange(len(r))}) as model:
            # Returns and priors as data containers: a warm worker binds another series of the same
            # length, or other priors, to the compiled model (bayes_core.compiled).
            priors = self.priors_as_data()
            observed = pm.Data("returns_observed", r, dims="obs")
            sd_r = pm.Data("returns_sd", float(r.std(ddof=1)))
            scale_z = pm.HalfNormal("scale_z", priors["scale_scale"])
            nu = self._nu(priors)
            mu_z = self._sharpe_terms(priors, scale_z, nu, sd_r)
            pm.StudentT("returns", nu=nu, mu=mu_z * sd_r, sigma=scale_z * sd_r, observed=observed, dims="obs")
        return model

    def build_reports(self, fit: FitResult) -> dict[str, dict]:
        return {"sharpe": {"periods_per_year": self.periods_per_year,
                           "risk_free_rate": float(self.options.get("risk_free_rate") or 0.0),
                           **sharpe_summary(posterior_of(fit.idata, "sharpe"))}}

    def predict_rows(self, run: Run, requests: list[dict[str, Any]]) -> pd.DataFrame:
        from bayes_core.predictor import draws_for_run

        draws = draws_for_run(run)
        rows = []
        for req in requests:
            level, threshold = float(req["credible_level"]), float(req["threshold"])
            lo, hi = hdi(draws["sharpe"], level)
            rows.append({"threshold": threshold, "credible_level": level,
                         "sharpe_mean": float(draws["sharpe"].mean()), "sharpe_sd": float(draws["sharpe"].std()),
                         "sharpe_lower": float(lo), "sharpe_upper": float(hi),
                         "prob_sharpe_above_threshold": float((draws["sharpe"] > threshold).mean()),
                         "prob_sharpe_positive": float((draws["sharpe"] > 0).mean()),
                         "annual_return_mean": float(draws["annual_return"].mean()),
                         "annual_volatility_mean": float(draws["annual_volatility"].mean())})
        return pd.DataFrame(rows)


class StrategyComparisonModel(_SharpeBase):
    config_id = "strategy_comparison"
    prior_constraints = {"sharpe_sd": "positive", "scale_scale": "positive", "lkj_eta": "positive",
                         "nu_alpha": "positive", "nu_beta": "positive"}
    definition = r"""
    Returns $r_t$ of $K$ strategies on the same dates, $P$ periods per year:

    $$
    \begin{aligned}
    r_t &\sim \operatorname{MvStudentT}(\nu,\ \mu,\ \Sigma), \qquad \Sigma = \operatorname{diag}(s)\, R\, \operatorname{diag}(s) \\
    \mathrm{Sharpe}_k &= \frac{\mu_k - r_f}{s_k\sqrt{\nu/(\nu-2)}}\ \sqrt{P} \;\sim\; \operatorname{Normal}(0,\ \texttt{sharpe\_sd}) \\
    R &\sim \operatorname{LKJ}(\texttt{lkj\_eta}) \qquad
    s_k / \mathrm{sd}(r_k) \sim \operatorname{HalfNormal}(\texttt{scale\_scale}) \qquad
    \nu - 2 \sim \operatorname{Gamma}(\texttt{nu\_alpha},\ \texttt{nu\_beta})
    \end{aligned}
    $$

    Fitting the strategies jointly makes $P(\mathrm{Sharpe}_A > \mathrm{Sharpe}_B)$ account for their
    correlation: two correlated strategies are told apart more sharply than two separate fits would.
    """
    headline_vars = ["sharpe", "nu"]
    # Example: three correlated daily strategies with annualised Sharpe ≈ 1.2, 0.6, 0.0 (Student-t ν = 6).
    true_parameters = {"nu": 6.0, "sharpe[momentum]": 1.2, "sharpe[carry]": 0.6, "sharpe[value]": 0.0}

    def data_schema(self) -> DataSchema:
        return DataSchema(
            columns=(Column("date", "date", required=False, description="YYYY-MM-DD (optional; sorts the rows)"),),
            min_rows=MIN_RETURNS,
            description=(f"One row per date: `date` plus one return column per strategy (at least 2 strategies "
                         f"and {MIN_RETURNS} dates; every strategy has a return on every date)."))

    def example_data(self, n: int = 1000, seed: int = 42) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        names = ["momentum", "carry", "value"]
        nu, vol = self.true_parameters["nu"], np.array([0.012, 0.008, 0.010])
        sharpe = np.array([self.true_parameters[f"sharpe[{k}]"] for k in names])
        sd = vol * math.sqrt(nu / (nu - 2))  # return sd of a Student-t with scale `vol`
        mu = sharpe / math.sqrt(252) * sd
        corr = np.array([[1.0, 0.5, 0.2], [0.5, 1.0, 0.3], [0.2, 0.3, 1.0]])
        chol = np.linalg.cholesky(corr) * vol[:, None]
        gauss = rng.standard_normal((n, 3)) @ chol.T
        returns = mu + gauss / np.sqrt(rng.chisquare(nu, size=(n, 1)) / nu)  # multivariate t
        return pd.DataFrame({"date": pd.bdate_range("2020-01-01", periods=n), **dict(zip(names, returns.T))})

    def strategies(self, data: pd.DataFrame) -> list[str]:
        return [c for c in data.columns if c not in _RESERVED]

    def sbc_data_from(self, template: pd.DataFrame, simulated) -> pd.DataFrame:
        """The simulated (obs, strategy) returns into the strategies' columns."""
        return template.assign(**dict(zip(self.strategies(template), np.asarray(simulated["returns"]).T)))

    def prepare_data(self, data: pd.DataFrame) -> pd.DataFrame:
        data = self._sorted_by_date(data)
        names = [c for c in data.columns if c not in _RESERVED]
        numeric = {c: pd.to_numeric(data[c], errors="coerce") for c in names}
        text = [c for c in names if numeric[c].isna().all() and data[c].notna().any()]
        if text:
            raise DataValidationError([f"column(s) {', '.join(map(str, text))} are not numeric returns; "
                                       "keep only `date` and one return column per strategy"])
        table = clean_returns_table(pd.DataFrame({c: data[c] for c in names}), min_length=MIN_RETURNS)
        if "date" in data.columns:
            table.insert(0, "date", data["date"].to_numpy())
        return table

    def _joint(self, data: pd.DataFrame, likelihood):
        """Priors and deterministics; ``likelihood(mu_z, chol, nu, R, sd_r)`` adds the returns' term
        (``mu_z``, ``chol`` in units of each strategy's sample sd ``sd_r``; ``R`` the raw returns)."""
        import pymc as pm

        names = self.strategies(data)
        R = data[names].to_numpy(float)
        sd_r = R.std(axis=0, ddof=1)
        with pm.Model(coords={"strategy": names, "strategy_": names, "obs": np.arange(len(R))}) as model:
            chol, corr, scale_z = pm.LKJCholeskyCov(
                "chol", n=len(names), eta=self.priors["lkj_eta"], compute_corr=True,
                sd_dist=pm.HalfNormal.dist(self.priors["scale_scale"], shape=len(names)))
            pm.Deterministic("correlation", corr, dims=("strategy", "strategy_"))
            nu = self._nu(self.priors)
            mu_z = self._sharpe_terms(self.priors, scale_z, nu, sd_r, dims="strategy")
            likelihood(mu_z, chol, nu, R, sd_r)
        return model

    def build_model(self, data: pd.DataFrame):
        """The sampled model: the multivariate-t log-density written out exactly, with L⁻¹(z_t − μ)
        by forward substitution over the k strategies as elementwise vector operations. Numba
        fuses these into loops; its triangular-solve and dot kernels on (k, n) blocks were ~30x slower
        per gradient, and PyMC's MvStudentT slower still. Written for the standardised returns Z = R / sd
        plus the Jacobian −n·Σ log sd, it is exactly the density of the raw returns."""
        import pymc as pm
        import pytensor.tensor as pt

        def likelihood(mu_z, chol, nu, R, sd_r):
            Z = R / sd_r
            n, k = Z.shape
            whitened: list = []  # row i: (z_i − μ_i − Σ_{j<i} L_ij w_j) / L_ii
            for i in range(k):
                row = Z[:, i] - mu_z[i]
                for j in range(i):
                    row = row - chol[i, j] * whitened[j]
                whitened.append(row / chol[i, i])
            mahalanobis = sum(w**2 for w in whitened)
            pm.Potential("loglik", n * (pt.gammaln((nu + k) / 2) - pt.gammaln(nu / 2) - k / 2 * pt.log(nu * np.pi))
                         - n * pt.sum(pt.log(pt.diag(chol))) - (nu + k) / 2 * pt.sum(pt.log1p(mahalanobis / nu))
                         - n * float(np.log(sd_r).sum()))

        return self._joint(data, likelihood)

    def build_predictive_model(self, data: pd.DataFrame):
        """The plain model with PyMC's MvStudentT (reference likelihood; prior/posterior predictive)."""
        import pymc as pm

        return self._joint(data, lambda mu_z, chol, nu, R, sd_r: pm.MvStudentT(
            "returns", nu=nu, mu=mu_z * sd_r, chol=sd_r[:, None] * chol, observed=R, dims=("obs", "strategy")))

    def build_reports(self, fit: FitResult) -> dict[str, dict]:
        ranking, prob = ranking_from_draws(posterior_of(fit.idata, "sharpe"), self.strategies(fit.data))
        return {"ranking": {"ranking": ranking.reset_index().to_dict(orient="records"),
                            "prob_greater": prob.to_dict(orient="index")}}

    def run_options(self, run: Run | None) -> dict[str, list[Any]]:
        if run is None:
            return {}
        from bayes_core.predictor import draws_for_run

        draws = draws_for_run(run)
        ranked = [draws["coords"]["strategy"][i] for i in np.argsort(-draws["sharpe"].mean(axis=0), kind="stable")]
        # Best first; B's list starts at the runner-up, so the form's default pair is best vs runner-up.
        return {"strategy_a": ranked, "strategy_b": ranked[1:] + ranked[:1]}

    def coerce_inference_params(self, params: Mapping[str, Any], run: Run | None = None) -> dict[str, Any]:
        """Run-dependent selects accept any text by default; here both must be strategies of the run."""
        clean = super().coerce_inference_params(params, run)
        known = sorted(self.options_of_run(run).get("strategy_a", [])) if run is not None else []
        errors = {f: f"{clean[f]!r} is not a strategy of this run ({', '.join(known)})"
                  for f in ("strategy_a", "strategy_b") if known and clean[f] not in known}
        if not errors and clean["strategy_a"] == clean["strategy_b"]:
            errors["strategy_b"] = "choose a strategy different from strategy A"
        if errors:
            raise InvalidParametersError(errors)
        return clean

    def predict_rows(self, run: Run, requests: list[dict[str, Any]]) -> pd.DataFrame:
        from bayes_core.predictor import draws_for_run

        draws = draws_for_run(run)
        index, sharpe = draws["strategy_index"], draws["sharpe"]
        rows = []
        for req in requests:
            a, b, level = str(req["strategy_a"]), str(req["strategy_b"]), float(req["credible_level"])
            diff = sharpe[:, index[a]] - sharpe[:, index[b]]
            lo, hi = hdi(diff, level)
            rows.append({"strategy_a": a, "strategy_b": b, "credible_level": level,
                         "sharpe_a_mean": float(sharpe[:, index[a]].mean()),
                         "sharpe_b_mean": float(sharpe[:, index[b]].mean()),
                         "difference_mean": float(diff.mean()), "difference_lower": float(lo),
                         "difference_upper": float(hi), "prob_a_greater": float((diff > 0).mean())})
        return pd.DataFrame(rows)


# -- shared summaries ------------------------------------------------------------------------------
def sharpe_summary(draws: np.ndarray, prob: float = HDI_PROB) -> dict[str, float]:
    lo, hi = hdi(draws, prob)
    return {"mean": float(draws.mean()), "std": float(draws.std()), "hdi_low": float(lo), "hdi_high": float(hi),
            "prob_positive": float((draws > 0).mean())}


def ranking_from_draws(sharpe: np.ndarray, names: list[str], prob: float = HDI_PROB
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ranking (best posterior mean Sharpe first) and the matrix P(Sharpe row > Sharpe column)."""
    lo, hi = hdi(sharpe, prob, axis=0)
    best = np.bincount(sharpe.argmax(axis=1), minlength=len(names)) / len(sharpe)
    table = pd.DataFrame({"sharpe_mean": sharpe.mean(axis=0), "sharpe_sd": sharpe.std(axis=0),
                          "hdi_low": lo, "hdi_high": hi, "prob_positive": (sharpe > 0).mean(axis=0),
                          "prob_best": best}, index=pd.Index(names, name="strategy"))
    table = table.sort_values("sharpe_mean", ascending=False)
    table.insert(0, "rank", np.arange(1, len(names) + 1))
    greater = (sharpe[:, :, None] > sharpe[:, None, :]).mean(axis=0)
    np.fill_diagonal(greater, np.nan)
    order = list(table.index)
    matrix = pd.DataFrame(greater, index=pd.Index(names, name="strategy"), columns=names).loc[order, order]
    return table, matrix


# -- notebook API ------------------------------------------------------------------------------------
def _settings_for(samples: int, chains: int = 4) -> dict[str, int]:
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < chains:
        raise InvalidParametersError({"samples": f"must be a whole number ≥ {chains} (got {samples!r})"})
    return {"draws": int(math.ceil(samples / chains)), "chains": chains}


def bayesian_sharpe(returns: Any, samples: int = 5000, risk_free_rate: float = 0.0,
                    periods_per_year: float = 252, **settings: Any) -> dict[str, float]:
    """Posterior of the annualised Sharpe ratio of one return series (Student-t returns).

    ``returns``: list/array/Series of simple per-period returns (a Series with a DatetimeIndex is
    sorted by date). ``samples``: total posterior draws (over 4 chains). Returns the posterior
    ``mean``, ``std``, 94 % HDI (``hdi_low``, ``hdi_high``) and ``prob_positive`` = P(Sharpe > 0).
    Extra keyword settings (``tune``, ``seed``, ``sampler``, ...) go to the sampler.
    """
    model = BayesianSharpeModel(options={"risk_free_rate": risk_free_rate, "periods_per_year": periods_per_year})
    fit = model.fit(returns_frame(returns, min_length=MIN_RETURNS), **{**_settings_for(samples), **settings})
    return sharpe_summary(posterior_of(fit.idata, "sharpe"))


def compare_strategies_bayesian(returns_dict: Mapping[str, Any] | pd.DataFrame, samples: int = 5000,
                                risk_free_rate: float = 0.0, periods_per_year: float = 252,
                                **settings: Any) -> StrategyComparison:
    """Joint posterior of several strategies' annualised Sharpe ratios.

    ``returns_dict``: strategy name → returns on the same dates (Series sharing one index, or
    equal-length arrays), or a DataFrame with one column per strategy. Returns
    ``StrategyComparison(ranking, prob_greater)`` (unpacks as a tuple): ``ranking`` is indexed by
    strategy, best posterior mean first, with ``rank``, ``sharpe_mean``, ``sharpe_sd``, the 94 % HDI
    ``hdi_low``/``hdi_high``, ``prob_positive`` and ``prob_best``; ``prob_greater.loc[a, b]`` is
    P(Sharpe a > Sharpe b) (NaN on the diagonal), rows and columns in ranking order.
    """
    table = clean_returns_table(returns_dict, min_length=MIN_RETURNS)
    clash = [c for c in table.columns if c in _RESERVED]
    if clash:
        raise DataValidationError([f"'{clash[0]}' is reserved; rename that strategy"])
    if isinstance(table.index, pd.DatetimeIndex):
        table = table.rename_axis("date").reset_index()
    else:
        table = table.reset_index(drop=True)
    model = StrategyComparisonModel(options={"risk_free_rate": risk_free_rate, "periods_per_year": periods_per_year})
    fit = model.fit(table, **{**_settings_for(samples), **settings})
    return StrategyComparison(*ranking_from_draws(posterior_of(fit.idata, "sharpe"), model.strategies(fit.data)))
