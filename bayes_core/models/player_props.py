"""Multi-task player-props model: goals, shots and cards per player per match.

For each prop k ∈ {goals, shots, cards} and row i (player p, opponent o):

    log λ_ik = intercept_k + player_pk + opponent_ok + home_k·was_home_i + x_i·β_k + log(minutes_i / 90)
    goals, cards ~ Poisson(λ);  shots ~ NegativeBinomial(mean λ, φ)

Player effects (multi-task): player_p = L·z_p with z_p ~ N(0, I₃) and L the Cholesky factor of an
LKJ covariance (non-centred; z zero-sum over players), so what a player's shots say informs his goals. ``multitask: false``
makes L diagonal (independent per prop, the single-task baseline). Opponent effects are partially
pooled per prop (non-centred and zero-sum: opponent_ok = σ_k·z_ko). Features are centred and scaled on the
training window; their centre and scale are saved in the run (reports/model_inputs.json).

Training uses rows in [train_start, train_end] with minutes > 0; rows in (train_end, val_end] are
kept for the calibration report. The trace holds only what prediction and diagnostics need: the
per-row rates are never stored, the player effects are rebuilt from z and L by the predictor.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Mapping

import numpy as np
import pandas as pd

from bayes_core.artifacts import Run
from bayes_core.base import BaseBayesianModel, FitResult
from bayes_core.data import Column, DataSchema
from bayes_core.errors import DataValidationError, InvalidParametersError
from bayes_core.models.player_props_league import TRUE_PARAMETERS, synthetic_league
from bayes_core.models.player_props_predictor import (DEFAULT_LINES, PROP_FAMILY, PROPS, PROPS_INPUTS_REPORT,
                                                      PropsDraws, props_predictor_for_run, tail_probabilities)

log = logging.getLogger("bayes_core")

MIN_TRAINING_ROWS = 100
WINDOW_OPTIONS = ("train_start", "train_end", "val_end")
ECE_TOLERANCE = 1.10  # use multi-task if its mean ECE ≤ 1.10 × the single-task mean ECE
PROP_PAIRS = [f"{a}:{b}" for i, a in enumerate(PROPS) for b in PROPS[i + 1:]]  # goals:shots, goals:cards, shots:cards
_FEATURE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED = {"date", "player_id", "opponent_id", "was_home", "minutes", "window", *PROPS}


# Most of each count one player can have in one match (far above any record): larger is a data error.
PROP_MAX = {"goals": 30, "shots": 100, "cards": 5}


class PlayerPropsModel(BaseBayesianModel):
    outcome_kind = "count"
    config_id = "player_props"
    prior_constraints = {"intercept_mu": "real", "intercept_sigma": "positive", "home_sigma": "positive",
                         "player_sigma": "positive", "lkj_eta": "positive", "opponent_sigma": "positive",
                         "beta_sigma": "positive", "inv_phi_sigma": "positive"}
    definition = r"""
    For prop $k \in$ {goals, shots, cards}, player $p$ against opponent $o$ in match row $i$:

    $$
    \begin{aligned}
    \log \lambda_{ik} &= a_k + u_{pk} + v_{ok} + h_k\, \mathrm{home}_i + x_i^\top \beta_k + \log(\mathrm{minutes}_i / 90) \\
    \text{goals}, \text{cards} &\sim \operatorname{Poisson}(\lambda), \qquad \text{shots} \sim \operatorname{NegBinomial}(\lambda,\ \phi) \\
    u_p &\sim \operatorname{MvNormal}(0,\ \Sigma), \qquad \Sigma \text{ with an } \operatorname{LKJ}(\texttt{lkj\_eta}) \text{ correlation} \\
    v_{ok} &\sim \operatorname{Normal}(0,\ \sigma_k), \qquad \sigma_k \sim \operatorname{HalfNormal}(\texttt{opponent\_sigma})
    \end{aligned}
    $$

    Player effects are shared across the three props (multi-task): what a player's shots say informs
    his goals. Opponents are partially pooled per prop. Predictions give the expected count with a
    credible interval and $P(\text{over the line})$; a validation window measures calibration.
    """
    headline_vars = ["intercept", "home", "player_sd", "player_corr", "opponent_sd", "shots_phi", "beta"]
    true_parameters = TRUE_PARAMETERS
    group_level_priors = ("player_z", "opponent_z")  # standardised effects, scaled by the Cholesky factor / sd

    # -- options and data -------------------------------------------------------------------------
    def validate_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        clean = super().validate_options(options)
        errors: dict[str, str] = {}
        dates: dict[str, pd.Timestamp] = {}
        for name in WINDOW_OPTIONS:
            value = clean.get(name)
            if value in (None, ""):
                clean[name] = None
                continue
            stamp = pd.to_datetime(value, format="%Y-%m-%d", errors="coerce")
            if pd.isna(stamp) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(value)):
                errors[name] = f"{value!r} is not a YYYY-MM-DD date"
            else:
                dates[name] = stamp
        if "val_end" in dates and "train_end" not in dates and "val_end" not in errors:
            errors["val_end"] = "needs train_end: validation is the window (train_end, val_end]"
        for early, late in (("train_start", "train_end"), ("train_end", "val_end"), ("train_start", "val_end")):
            if early in dates and late in dates and not dates[early] < dates[late] and late not in errors:
                errors[late] = f"must be after {early} ({clean[early]})"
        features = [f.strip() for f in str(clean.get("features") or "").split(",") if f.strip()]
        bad = [f for f in features if not _FEATURE_NAME.match(f) or f in _RESERVED]
        if bad:
            errors["features"] = f"not usable as feature column(s): {', '.join(bad)} (names of numeric columns)"
        elif len(set(features)) != len(features):
            errors["features"] = "a feature is listed twice"
        if errors:
            raise InvalidParametersError(errors)
        clean["features"] = ",".join(features)
        return clean

    @property
    def features(self) -> list[str]:
        return [f for f in str(self.options.get("features") or "").split(",") if f]

    def windows(self) -> dict[str, pd.Timestamp | None]:
        return {n: (pd.Timestamp(self.options[n]) if self.options.get(n) else None) for n in WINDOW_OPTIONS}

    def data_schema(self) -> DataSchema:
        columns = [
            Column("date", "date", description="match date, YYYY-MM-DD"),
            Column("player_id", "string", description="player id"),
            Column("opponent_id", "string", description="opposing team id"),
            Column("was_home", "boolean", description="true/false or 1/0"),
            Column("minutes", "float", min_value=0, max_value=120, description="minutes played, 0–120"),
            *(Column(p, "integer", min_value=0, max_value=PROP_MAX[p], description=f"{p} in the match")
              for p in PROPS),
            *(Column(f, "float", description="numeric feature (from the `features` option)",
                     option=self.option_ref("features", many=True)) for f in self.features),
        ]
        return DataSchema(
            # Feature columns come from `features`; the windows decide which rows are fitted (prepare_data).
            columns=tuple(columns), min_rows=2, depends_on_options=("features", *WINDOW_OPTIONS),
            description="One row per player per match: date, player_id, opponent_id, was_home, minutes, "
                        "goals, shots, cards, plus the numeric feature columns named in the `features` option.",
            extra=["Rows with 0 minutes are kept in the snapshot but carry no information and are not fitted."],
        )

    def example_data(self, n_teams: int = 20, n_players: int = 250, n_rounds: int | None = None,
                     seed: int = 2025) -> pd.DataFrame:
        return synthetic_league(n_teams, n_players, n_rounds, seed)[0]

    def prepare_data(self, data: pd.DataFrame) -> pd.DataFrame:
        """Keep rows in [train_start, val_end]; label each as train or validation; check sizes."""
        w = self.windows()
        keep = np.ones(len(data), dtype=bool)
        if w["train_start"] is not None:
            keep &= (data["date"] >= w["train_start"]).to_numpy()
        if w["val_end"] is not None:
            keep &= (data["date"] <= w["val_end"]).to_numpy()
        data = data.loc[keep].sort_values(["date", "player_id"], kind="stable").reset_index(drop=True)
        is_train = np.ones(len(data), dtype=bool) if w["train_end"] is None else (data["date"] <= w["train_end"]).to_numpy()
        data["window"] = np.where(is_train, "train", "validation")
        n_train = int((is_train & (data["minutes"] > 0).to_numpy()).sum())
        if n_train < MIN_TRAINING_ROWS:
            span = f"{self.options.get('train_start') or 'start'} to {self.options.get('train_end') or 'end'}"
            raise DataValidationError([
                f"the training window ({span}) holds {n_train} rows with minutes > 0; at least "
                f"{MIN_TRAINING_ROWS} are needed: widen {self.option_ref('train_start')} / "
                f"{self.option_ref('train_end')} or add data"])
        return data

    # -- model ------------------------------------------------------------------------------------
    def _inputs(self, data: pd.DataFrame) -> dict[str, Any]:
        """What the predictor needs beyond the trace: features with their training centre/scale."""
        train = _fitted_rows(data, "train")
        x = train[self.features].to_numpy(dtype=float) if self.features else np.zeros((len(train), 0))
        scale = x.std(axis=0) if len(x) else np.ones(0)
        return {
            "props": list(PROPS),
            "lines": {p: list(v) for p, v in DEFAULT_LINES.items()},
            "features": self.features,
            "feature_center": x.mean(axis=0).tolist() if len(x) else [0.0] * len(self.features),
            "feature_scale": np.where(scale > 0, scale, 1.0).tolist(),
            "multitask": bool(self.options.get("multitask", True)),
            "windows": {n: self.options.get(n) for n in WINDOW_OPTIONS},
            "train_rows": int(len(train)),
            "validation_rows": int(len(_fitted_rows(data, "validation"))),
        }

    def build_model(self, data: pd.DataFrame):
        import pymc as pm
        import pytensor.tensor as pt

        train = _fitted_rows(data, "train")
        inputs = self._inputs(data)
        p_idx, players = pd.factorize(train["player_id"].astype(str), sort=True)
        o_idx, opponents = pd.factorize(train["opponent_id"].astype(str), sort=True)
        coords = {"prop": list(PROPS), "prop_b": list(PROPS), "prop_pair": PROP_PAIRS, "player": list(players),
                  "opponent": list(opponents), "obs": np.arange(len(train))}
        if self.features:
            coords["feature"] = self.features
        pr = self.priors
        with pm.Model(coords=coords) as model:
            intercept = pm.Normal("intercept", mu=pr["intercept_mu"], sigma=pr["intercept_sigma"], dims="prop")
            home = pm.Normal("home", mu=0.0, sigma=pr["home_sigma"], dims="prop")
            # Zero-sum over players (and opponents): the intercept is then the average player against
            # the average opponent — exactly what unknown ids are predicted as — and it no longer
            # trades off against the mean of the effects (which made its ESS poor).
            player_z = pm.ZeroSumNormal("player_z", sigma=1.0, dims=("prop", "player"))
            if self.options.get("multitask", True):
                # The full correlation matrix is not stored: its constant diagonal (1 ± 1e-16)
                # gives meaningless R-hat values; the three off-diagonal pairs say it all.
                chol, corr, stds = pm.LKJCholeskyCov(
                    "player_cov", n=len(PROPS), eta=pr["lkj_eta"], compute_corr=True, store_in_trace=False,
                    sd_dist=pm.HalfNormal.dist(pr["player_sigma"], shape=len(PROPS)))
                pm.Deterministic("player_sd", stds, dims="prop")
                pm.Deterministic("player_corr", corr[np.triu_indices(len(PROPS), 1)], dims="prop_pair")
            else:
                chol = pt.diag(pm.HalfNormal("player_sd", sigma=pr["player_sigma"], dims="prop"))
            chol = pm.Deterministic("player_chol", chol, dims=("prop", "prop_b"))
            player = (chol @ player_z).T  # (player, prop)
            opponent_sd = pm.HalfNormal("opponent_sd", sigma=pr["opponent_sigma"], dims="prop")
            opponent_z = pm.ZeroSumNormal("opponent_z", sigma=1.0, dims=("prop", "opponent"))
            opponent = pm.Deterministic("opponent_effect", (opponent_z * opponent_sd[:, None]).T,
                                        dims=("opponent", "prop"))
            # Over-dispersion 1/φ shrunk towards 0 (Poisson): a half-normal on 1/φ, not on φ.
            shots_inv_phi = pm.HalfNormal("shots_inv_phi", sigma=pr["inv_phi_sigma"])
            shots_phi = pm.Deterministic("shots_phi", 1.0 / shots_inv_phi)

            eta = (intercept + player[p_idx] + opponent[o_idx]
                   + home * train["was_home"].to_numpy(dtype=float)[:, None]
                   + np.log(train["minutes"].to_numpy(dtype=float) / 90.0)[:, None])
            if self.features:
                x = (train[self.features].to_numpy(dtype=float) - inputs["feature_center"]) / inputs["feature_scale"]
                beta = pm.Normal("beta", 0.0, pr["beta_sigma"], dims=("feature", "prop"))
                eta = eta + pt.as_tensor(x) @ beta
            rate = pt.exp(eta)
            pm.Poisson("goals", mu=rate[:, 0], observed=train["goals"].to_numpy(), dims="obs")
            pm.NegativeBinomial("shots", mu=rate[:, 1], alpha=shots_phi, observed=train["shots"].to_numpy(), dims="obs")
            pm.Poisson("cards", mu=rate[:, 2], observed=train["cards"].to_numpy(), dims="obs")
        return model

    def sbc_data_from(self, template: pd.DataFrame, simulated) -> pd.DataFrame:
        """The simulated props into the training rows the model observes (``_fitted_rows``)."""
        data = template.copy()
        observed = (data["window"] == "train") & (data["minutes"] > 0)
        for prop in PROPS:
            data.loc[observed, prop] = np.asarray(simulated[prop])
        return data

    # -- reports ----------------------------------------------------------------------------------
    def build_reports(self, fit: FitResult) -> dict[str, dict]:
        inputs = self._inputs(fit.data)
        reports: dict[str, dict] = {PROPS_INPUTS_REPORT: inputs}
        if inputs["validation_rows"] == 0:
            log.info("no validation rows (set train_end and val_end): no calibration report")
            return reports
        draws = PropsDraws.from_posterior(fit.idata["posterior"].to_dataset(), inputs, n_samples=1000)
        reports["calibration"] = calibration_report(draws, _fitted_rows(fit.data, "validation"), self.options)
        if self.options.get("compare"):
            reports["comparison"] = self._comparison(fit, reports["calibration"])
        return reports

    def _comparison(self, fit: FitResult, own: dict[str, Any]) -> dict[str, Any]:
        """Fit the other variant (single- vs multi-task) on the same data and settings; decide."""
        multitask = bool(self.options.get("multitask", True))
        log.info("comparison: fitting the %s-task variant on the same split", "single" if multitask else "multi")
        other = type(self)(self.metadata, options={**self.options, "multitask": not multitask, "compare": False},
                           priors=self.priors)
        other_fit = other.fit(fit.data, **fit.settings.to_dict())
        other_cal = other.build_reports(other_fit)["calibration"]
        single, multi = (other_cal, own) if multitask else (own, other_cal)
        return comparison_decision(single, multi, {"single_task": _fit_summary(other_fit if multitask else fit),
                                                   "multi_task": _fit_summary(fit if multitask else other_fit)})

    # -- evaluation -------------------------------------------------------------------------------
    def complete_posterior(self, posterior):
        """The packed Cholesky factor ``player_cov`` (not stored: ``store_in_trace=False``) from the
        stored ``player_chol``, in LKJCholeskyCov's packing (the lower triangle, row by row)."""
        if "player_cov" in posterior.data_vars or "player_chol" not in posterior.data_vars \
                or not self.options.get("multitask", True):
            return posterior
        rows, cols = np.tril_indices(len(PROPS))
        chol = posterior["player_chol"].transpose("chain", "draw", "prop", "prop_b").values
        return posterior.assign(player_cov=(("chain", "draw", "player_cov_dim_0"), chol[:, :, rows, cols]))

    def held_out_metrics(self, run: Run) -> dict[str, Any] | None:
        """ECE, Brier and log loss of P(y > line) on the validation window, per prop (averaged over its
        lines, each line kept too), from the run's calibration report; None without a validation split."""
        report = run.report("calibration")
        if not report:
            return None
        props = {}
        for prop, per_line in report["props"].items():
            lines = {line: {k: m[k] for k in ("ece", "brier", "log_loss", "n", "base_rate")}
                     for line, m in per_line.items()}
            props[prop] = {k: float(np.mean([m[k] for m in lines.values()])) for k in ("ece", "brier", "log_loss")}
            props[prop]["lines"] = lines
        return {"source": "validation split (reports/calibration.json)", "validation_rows": report["validation_rows"],
                "window": report.get("window"), "mean_ece": report["mean_ece"], "props": props}

    # -- prediction -------------------------------------------------------------------------------
    def run_options(self, run: Run | None) -> dict[str, list[Any]]:
        if run is None:
            return {}
        predictor = props_predictor_for_run(run)
        return {"player": predictor.players, "opponent": predictor.opponents}

    def predict_rows(self, run: Run, requests: list[dict[str, Any]]) -> pd.DataFrame:
        predictor = props_predictor_for_run(run)
        frame = pd.DataFrame({
            "player_id": [str(r["player"]) for r in requests],
            "opponent_id": [str(r["opponent"]) for r in requests],
            "was_home": [bool(r["was_home"]) for r in requests],
            "minutes": [float(r["minutes"]) for r in requests],
        })
        feats = [parse_features(r.get("features")) for r in requests]
        unknown = sorted({name for f in feats for name in f if name not in predictor.features})
        if unknown:  # ignored silently before: "minutes=45" here still predicted for 90 minutes
            hint = " (minutes is a field of its own)" if "minutes" in unknown else ""
            raise InvalidParametersError({"features": f"unknown feature(s) {', '.join(unknown)}{hint}; this run's "
                                                      f"features: {', '.join(predictor.features) or 'none'}"})
        for name in predictor.features:
            frame[name] = [f.get(name, np.nan) for f in feats]
        missing = sorted({n for n in predictor.features if frame[n].isna().any()})
        if missing:
            raise InvalidParametersError({"features": f"missing value(s) for {', '.join(missing)}: give them as "
                                                      f"'name=value, ...' ({', '.join(predictor.features)})"})
        lines = [{p: parse_lines(r.get(f"{p}_lines"), f"{p}_lines") for p in PROPS} for r in requests]
        groups = pd.Series([repr((float(r["credible_level"]), sorted(ln.items()))) for r, ln in zip(requests, lines)])
        parts = []
        for _, idx in groups.groupby(groups, sort=False).groups.items():
            idx = np.asarray(idx)
            first = int(idx[0])
            part = predictor.predict_frame(frame.iloc[idx], float(requests[first]["credible_level"]), lines[first])
            part.index = idx
            parts.append(part)
        out = pd.concat(parts).sort_index()
        head = pd.DataFrame({"player": frame["player_id"], "opponent": frame["opponent_id"],
                             "was_home": frame["was_home"], "minutes": frame["minutes"],
                             "credible_level": [float(r["credible_level"]) for r in requests]})
        return pd.concat([head, out], axis=1).reset_index(drop=True)


# -- helpers ------------------------------------------------------------------------------------------
def _fitted_rows(data: pd.DataFrame, window: str) -> pd.DataFrame:
    """Rows of one window that carry information (minutes > 0)."""
    return data.loc[(data["window"] == window) & (data["minutes"] > 0)].reset_index(drop=True)


def parse_features(text: Any) -> dict[str, float]:
    """``"form=0.3, rest_days=4"`` → ``{"form": 0.3, "rest_days": 4.0}``."""
    out: dict[str, float] = {}
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return out
    for part in str(text).split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not sep or not name.strip() or not np.isfinite(number):
            raise InvalidParametersError({"features": f"{part.strip()!r} is not name=number"})
        out[name.strip()] = number
    return out


def parse_lines(text: Any, field: str) -> tuple[float, ...]:
    """``"0.5, 1.5"`` → ``(0.5, 1.5)``; lines are between 0 and 100."""
    try:
        values = tuple(sorted({float(v) for v in str(text).split(",") if v.strip()}))
    except ValueError:
        raise InvalidParametersError({field: f"{text!r} is not a comma-separated list of numbers"}) from None
    if not values or any(not np.isfinite(v) or not 0 <= v <= 100 for v in values):
        raise InvalidParametersError({field: f"give one or more lines between 0 and 100 (got {text!r})"})
    return values


def calibration_report(draws, validation: pd.DataFrame, options: Mapping[str, Any] | None = None,
                       lines: Mapping[str, tuple[float, ...]] = DEFAULT_LINES, n_bins: int = 10) -> dict[str, Any]:
    """ECE, Brier and log loss of P(y > line) on the validation rows, per prop and line."""
    from bayes_core.calibration import calibration_metrics

    p_idx, o_idx = draws.encode(validation["player_id"], validation["opponent_id"])
    x = validation[draws.features].to_numpy(dtype=float) if draws.features else np.zeros((len(validation), 0))
    rates = draws.expected_counts(p_idx, o_idx, validation["was_home"].to_numpy(dtype=float), x,
                                  validation["minutes"].to_numpy(dtype=float))
    props: dict[str, dict[str, Any]] = {}
    for k, prop in enumerate(PROPS):
        phi = draws.phi[None, :] if PROP_FAMILY[prop] == "negbinom" else None
        y = validation[prop].to_numpy()
        p_over = tail_probabilities(rates[k], lines[prop], PROP_FAMILY[prop], phi)
        props[prop] = {f"{line:g}": calibration_metrics(p_over[line], (y > line).astype(float), n_bins)
                       for line in lines[prop]}
    eces = [m["ece"] for per_line in props.values() for m in per_line.values()]
    dates = pd.to_datetime(validation["date"])
    return {
        "props": props,
        "mean_ece": float(np.mean(eces)),
        "validation_rows": int(len(validation)),
        "unknown_players": int((p_idx < 0).sum()),
        "unknown_opponents": int((o_idx < 0).sum()),
        "window": {"from": dates.min().strftime("%Y-%m-%d"), "to": dates.max().strftime("%Y-%m-%d")},
        "multitask": bool((options or {}).get("multitask", True)),
        "n_bins": n_bins,
    }


def comparison_decision(single: dict[str, Any], multi: dict[str, Any],
                        fits: dict[str, Any] | None = None) -> dict[str, Any]:
    """Apply "use multi-task if its mean ECE ≤ 1.10 × the single-task mean ECE" and say so."""
    s, m = single["mean_ece"], multi["mean_ece"]
    use_multi = m <= ECE_TOLERANCE * s
    per_line = {f"{prop} > {line}": {"single_task": single["props"][prop][line]["ece"],
                                     "multi_task": multi["props"][prop][line]["ece"]}
                for prop in single["props"] for line in single["props"][prop]}
    ratio = m / s if s > 0 else float("inf") if m > 0 else 1.0
    return {
        "rule": f"use multi-task if its mean ECE ≤ {ECE_TOLERANCE:.2f} × the single-task mean ECE",
        "single_task_mean_ece": s,
        "multi_task_mean_ece": m,
        "ratio": ratio,
        "decision": "multi-task" if use_multi else "single-task",
        "statement": (f"Use the {'multi' if use_multi else 'single'}-task model: multi-task mean ECE {m:.4f} "
                      f"{'≤' if use_multi else '>'} {ECE_TOLERANCE:.2f} × single-task {s:.4f} "
                      f"(= {ECE_TOLERANCE * s:.4f})."),
        "per_line_ece": per_line,
        "single_task": single,
        "multi_task": multi,
        "fits": fits or {},
    }


def _fit_summary(fit: FitResult) -> dict[str, Any]:
    d = fit.diagnostics
    return {"verdict": d.get("verdict"), "r_hat_max": d.get("r_hat_max"), "ess_bulk_min": d.get("ess_bulk_min"),
            "divergences": d.get("divergences"), "sampling_s": fit.info["timings"].get("sampling_s")}


def compare_multitask(data: pd.DataFrame | str | None = None, options: Mapping[str, Any] | None = None,
                      priors: Mapping[str, float] | None = None, **settings: Any) -> dict[str, Any]:
    """Fit single-task and multi-task on the same split (``options`` windows) and decide between them.

    ``data`` is a DataFrame or CSV path (None: the example league); ``settings`` are sampler
    settings (draws, tune, chains, seed, ...). Needs validation rows (train_end before the data end).
    """
    options = {**(options or {}), "compare": False}
    fits, cals = {}, {}
    for label, multitask in (("single_task", False), ("multi_task", True)):
        model = PlayerPropsModel(options={**options, "multitask": multitask}, priors=priors)
        fits[label] = model.fit(data, **settings)
        reports = model.build_reports(fits[label])
        if "calibration" not in reports:
            raise InvalidParametersError({"train_end": "the comparison needs validation rows: set train_end "
                                                       "(and val_end) so that some data fall after it"})
        cals[label] = reports["calibration"]
    return comparison_decision(cals["single_task"], cals["multi_task"],
                               {k: _fit_summary(f) for k, f in fits.items()})
