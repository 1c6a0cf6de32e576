"""A run's evaluation — PSIS-LOO, LOO-PIT and the model's own held-out metrics — in ``evaluation.json``.

Computed once after training (by the training job and ``python -m bayes_core train``) and, for a
run without one (trained before evaluations existed, or from a notebook), on first request
(``evaluate(run)``). The pointwise LOO values go beside it in ``loo_pointwise.npz`` (per cell, with
the cell of every observation), which ``runs.compare`` expands to observations for arviz-stats'
``compare``.

- PSIS-LOO over the cells of ``model.pointwise_log_likelihood``: elpd = Σ c_k·elpd_k, p_loo likewise,
  se = √(N · var) with the observation-level variance (Σ c_k (elpd_k − elpd/N)² / (N − 1)), Pareto-k
  counted per observation in arviz-stats' bands (good ≤ good_k, bad ≤ 1, very bad > 1). For a
  reduced likelihood (distinct cells weighted by multiplicity) this equals per-observation LOO
  exactly, and time and memory follow the distinct cells. Draws beyond ``BAYES_EVAL_MAX_DRAWS``
  (default 4000) are thinned evenly (every chain kept), and for a plain per-observation likelihood
  so that its values fit ``BAYES_EVAL_MAX_MB`` (default 1024 MB); ``draws_used`` says so.
- LOO-PIT: from the model's predictive CDF when it gives one (exact, every draw; randomised within
  a count's probability step), else arviz-stats' ``loo_pit`` on the run's posterior predictive draws
  (with the log-likelihood and PSIS weights at those draws taken from LOO's own values where they
  line up); a Kolmogorov–Smirnov test of uniformity per observed variable.
- Held-out: ``model.held_out_metrics(run)`` (player props: ECE, Brier, log loss per prop).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from bayes_core import forward
from bayes_core.errors import BayesCoreError, CorruptRunError, NotEvaluableError
from bayes_core.loglik import _check_free_variables
from bayes_core.runs import store
from bayes_core.runs.psis import good_k, psis_loo, relative_eff

log = logging.getLogger("bayes_core.runs")

EVALUATION_FILE = "evaluation.json"
POINTWISE_FILE = "loo_pointwise.npz"
SCHEMA = 1
MAX_MB_ENV = "BAYES_EVAL_MAX_MB"
DEFAULT_MAX_MB = 1024
MAX_DRAWS_ENV = "BAYES_EVAL_MAX_DRAWS"
DEFAULT_MAX_DRAWS = 4000  # PSIS-LOO is accurate well before this; time grows with draws × cells
PIT_SEED = 214  # arviz-stats' default seed for randomising discrete PIT values
PIT_ALPHA = 0.01  # KS p-value below which (Bonferroni over variables) LOO-PIT is called non-uniform
NOT_MCMC_PATHS = ("approximate", "fallback")


def stored(run: store.Run) -> dict[str, Any] | None:
    """The run's stored evaluation (current schema) or None."""
    path = run.path / EVALUATION_FILE
    try:
        payload = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError:
        log.warning("run %s: %s is not valid JSON; it is computed again", run.run_id, EVALUATION_FILE)
        return None
    if payload.get("schema") != SCHEMA:
        return None
    if payload.get("loo") and not (run.path / POINTWISE_FILE).is_file():
        return None
    return payload


def evaluate(run: store.Run, model=None, *, force: bool = False) -> dict[str, Any]:
    """The run's evaluation: the stored one, or computed now and stored (``force``: recompute)."""
    if not force:
        payload = stored(run)
        if payload is not None:
            return payload
    from bayes_core.runs.history import model_for_run

    model = model or model_for_run(run)
    payload, pointwise = compute(run, model)
    _write(run, payload, pointwise)
    return payload


def ensure_after_training(run: store.Run, model=None) -> dict[str, Any] | None:
    """Evaluate a freshly trained run; a failure is logged (the run stays good, the evaluation is
    computed again on first request, where its error is shown)."""
    try:
        return evaluate(run, model)
    except Exception as exc:  # evaluation never fails a training
        log.warning("run %s: evaluation failed (%s: %s); it is retried on first request",
                    run.run_id, type(exc).__name__, exc)
        return None


# -- computing -----------------------------------------------------------------------------------
def compute(run: store.Run, model) -> tuple[dict[str, Any], dict[str, np.ndarray] | None]:
    """``(evaluation, pointwise arrays)`` of a run (nothing written)."""
    t0 = time.perf_counter()
    meta = run.metadata
    payload: dict[str, Any] = {
        "schema": SCHEMA, "run_id": run.run_id, "model_id": run.model_id,
        "computed_at": datetime.now(timezone.utc).isoformat(), "fit_path": meta.get("fit_path"),
        "loo": None, "loo_reason": None, "loo_pit": None, "loo_pit_reason": None, "held_out": None,
        "timings": {},
    }
    pointwise = None
    data = run.data
    _max_values(), _max_draws()  # a bad setting is the user's to fix, never stored as a reason
    try:
        payload["loo"], pointwise, pit = _loo(run, model, data, payload["timings"])
    except NotEvaluableError as exc:
        payload["loo_reason"], pit = str(exc), None
    t1 = time.perf_counter()
    if pit is None:
        try:
            pit = _pit_from_predictive(run, model, data)
        except NotEvaluableError as exc:
            payload["loo_pit_reason"] = str(exc)
    if pit is not None:
        payload["loo_pit"] = _pit_summary(pit)
    payload["timings"]["loo_pit_s"] = payload["timings"].get("loo_pit_s", 0.0) + time.perf_counter() - t1
    payload["held_out"] = model.held_out_metrics(run)
    payload["timings"]["total_s"] = time.perf_counter() - t0
    payload["headline"] = headline(payload)
    return payload, pointwise


def _max_values() -> int:
    raw = os.environ.get(MAX_MB_ENV) or str(DEFAULT_MAX_MB)
    try:
        mb = float(raw)
    except ValueError:
        mb = float("nan")
    if not math.isfinite(mb) or mb <= 0:
        raise BayesCoreError(f"{MAX_MB_ENV}={raw!r} is not a positive number of megabytes; unset it "
                             f"(default {DEFAULT_MAX_MB}) or set e.g. 2048.")
    return int(mb * 2**20 / 8 / 3)  # the values, PyMC's per-variable arrays and the summed copy


def _max_draws() -> int:
    raw = os.environ.get(MAX_DRAWS_ENV) or str(DEFAULT_MAX_DRAWS)
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 100:
        raise BayesCoreError(f"{MAX_DRAWS_ENV}={raw!r} is not a whole number ≥ 100; unset it "
                             f"(default {DEFAULT_MAX_DRAWS}) or set e.g. 8000.")
    return value


def posterior_within_budget(run: store.Run, model, data) -> tuple[Any, int]:
    """The posterior to evaluate (LOO here, prior sensitivity in ``checks``) and the draws it had:
    thinned evenly over draws (every chain kept) to at most ``BAYES_EVAL_MAX_DRAWS`` draws in all,
    and — for a plain per-observation log-likelihood — so that the values fit the memory budget."""
    posterior = run.idata["posterior"].to_dataset()
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    keep = max(1, _max_draws() // chains)
    if not model.reduced_log_likelihood:
        from bayes_core import samplers

        n_obs = max(1, samplers.value_counts(model.build_predictive_model(data))[1])
        keep = min(keep, max(1, _max_values() // (n_obs * chains)))
    if keep < draws:
        posterior = posterior.isel(draw=slice(None, None, math.ceil(draws / keep)))
    return posterior, chains * draws


def _loo(run, model, data, timings) -> tuple[dict[str, Any], dict[str, np.ndarray], np.ndarray | None]:
    t0 = time.perf_counter()
    posterior, draws_total = posterior_within_budget(run, model, data)
    pll = model.pointwise_log_likelihood(posterior, data)
    r_eff = relative_eff(model.complete_posterior(posterior))
    timings["prepare_s"] = time.perf_counter() - t0
    n, s = pll.n_cells, pll.n_samples
    elpd, p_loo, k = np.empty(n), np.empty(n), np.empty(n)
    below = np.empty(n) if pll.cdf_below is not None else None
    t0 = time.perf_counter()
    for start, stop, values in pll.blocks():
        result = psis_loo(values.reshape(s, -1).T, r_eff, keep_weights=below is not None)
        elpd[start:stop], p_loo[start:stop], k[start:stop] = result.elpd, result.p_loo, result.pareto_k
        if below is not None:
            cdf = pll.cdf_below(start, stop).reshape(s, -1).T
            below[start:stop] = result.weighted_mean(cdf)
    timings["psis_s"] = time.perf_counter() - t0
    summary = loo_summary(elpd, p_loo, k, pll.weights, s)
    summary.update(cells=pll.cells, n_cells=n, observed=pll.observed, draws_used=s, draws_total=draws_total,
                   thinned=s < draws_total, r_eff=r_eff)
    if run.metadata.get("fit_path") in NOT_MCMC_PATHS:
        summary["caveat"] = (f"the draws come from the {run.metadata.get('fit_path')} path "
                             f"({run.metadata.get('fit_method')}), not MCMC: PSIS-LOO treats them as posterior draws")
    pointwise = {"elpd": elpd, "p_loo": p_loo, "pareto_k": k, "weights": pll.weights,
                 "obs_cell": pll.obs_cell.astype(np.int32 if n < 2**31 else np.int64)}
    pit = None
    if below is not None:  # randomised PIT of each observation within its count's probability step
        rng = np.random.default_rng(PIT_SEED)
        cell = pll.obs_cell
        pit = {pll.observed[0] if pll.observed else "y": np.clip(
            below[cell] + rng.uniform(size=cell.size) * np.exp(elpd)[cell], 0.0, 1.0)}
    else:
        t0 = time.perf_counter()
        pit = _pit_from_loo_values(run, model, pll, posterior)
        timings["loo_pit_s"] = time.perf_counter() - t0
    return summary, pointwise, pit


def loo_summary(elpd: np.ndarray, p_loo: np.ndarray, pareto_k: np.ndarray, weights: np.ndarray,
                n_samples: int) -> dict[str, Any]:
    """Totals over observations from per-cell values and multiplicities (weights all one: plain LOO)."""
    n_obs = float(weights.sum())
    total = float(weights @ elpd)
    var = float(weights @ (elpd - total / n_obs) ** 2) / (n_obs - 1) if n_obs > 1 else 0.0
    threshold = good_k(n_samples)
    with np.errstate(invalid="ignore"):
        bands = {"good": weights[pareto_k <= threshold].sum(), "bad": weights[(pareto_k > threshold) & (pareto_k <= 1)].sum(),
                 "very_bad": weights[pareto_k > 1].sum(), "not_estimated": weights[np.isnan(pareto_k)].sum()}
    return {
        "elpd_loo": total, "se": math.sqrt(n_obs * var), "p_loo": float(weights @ p_loo), "n_observations": int(n_obs),
        "good_k": threshold, "pareto_k": {k: int(v) for k, v in bands.items()},
        "pareto_k_max": _finite(np.nanmax(pareto_k)) if not np.isnan(pareto_k).all() else None,
        "warning": bool(bands["bad"] + bands["very_bad"] > 0),
    }


def _finite(value: float) -> float | None:
    """A float for JSON: None for NaN or ±inf (an unfittable tail counts as very bad already)."""
    return float(value) if math.isfinite(value) else None


def _pit_from_loo_values(run: store.Run, model, pll, posterior) -> dict[str, np.ndarray] | None:
    """arviz-stats' LOO-PIT of the run's posterior predictive draws, with the log-likelihood and PSIS
    weights at those draws taken from the LOO's own values (the predictive draws are a thinned subset
    of LOO's draws): the same result as ``_pit_from_predictive`` without evaluating the likelihood a
    second time or running arviz-stats' one-observation-at-a-time PSIS. None when the values do not
    line up (several or reduced observed variables, other draws): the general path then runs."""
    idata = run.idata
    if pll.is_reduced or len(pll.observed) != 1 or pll.cdf_below is not None \
            or not {"posterior_predictive", "observed_data"} <= set(idata.children):
        return None
    name = pll.observed[0]
    pp = idata["posterior_predictive"].to_dataset()
    if name not in pp or int(np.prod(pp[name].shape[2:])) != pll.n_cells \
            or pp.sizes["chain"] != pll.chains or pp.sizes["chain"] * pp.sizes["draw"] < 25:
        return None
    position = {int(d): i for i, d in enumerate(posterior["draw"].values)}
    try:
        at = np.array([position[int(d)] for d in pp["draw"].values])
    except KeyError:  # a predictive draw LOO did not keep
        return None
    chains, draws = pp.sizes["chain"], pp.sizes["draw"]
    values = {name: pll.values()[:, at, :].reshape(chains, draws, *pp[name].shape[2:])}
    try:
        return _arviz_loo_pit(model.complete_posterior(posterior.isel(draw=at)), pp[[name]], idata, values)
    except NotEvaluableError:  # the general path gives the reason
        return None


def _arviz_loo_pit(posterior, pp, idata, log_lik: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """arviz-stats' ``loo_pit`` of the predictive variables ``pp`` against the run's observed data,
    given the (complete) posterior and each variable's log-likelihood at the same draws, (chain,
    draw, *shape). The PSIS weights come from ``psis_loo``, vectorised over observations
    (arviz-stats smooths one observation at a time: seconds for player props' 23,000 values), and
    go to arviz-stats as ``log_weights`` and ``pareto_k``: its result is the same. Shapes or data
    it cannot take are a reason, not a crash."""
    import xarray as xr
    from arviz_stats import loo_pit

    names = list(log_lik)
    r_eff = relative_eff(posterior)
    weights, ks, lls = {}, {}, {}
    for name in names:
        dims, values = pp[name].dims, np.asarray(log_lik[name], dtype=float)
        chains, draws, obs_shape = values.shape[0], values.shape[1], values.shape[2:]
        result = psis_loo(values.reshape(chains * draws, -1).T, r_eff, keep_weights=True)
        log_w = np.log(result.ratios) - np.log(result.total)[:, None]  # (n, S), normalised like psislw's
        coords = {d: pp[name][d] for d in dims if d in pp[name].coords}
        weights[name] = xr.DataArray(log_w.T.reshape(chains, draws, *obs_shape), dims=dims, coords=coords)
        ks[name] = xr.DataArray(result.pareto_k.reshape(obs_shape), dims=dims[2:],
                                coords={d: c for d, c in coords.items() if d in dims[2:]})
        lls[name] = xr.DataArray(values, dims=dims, coords=coords)
    groups = {"posterior": posterior, "posterior_predictive": pp[names],
              "observed_data": idata["observed_data"].to_dataset()[names], "log_likelihood": xr.Dataset(lls)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            pit = loo_pit(xr.DataTree.from_dict(groups), var_names=names, log_weights=xr.Dataset(weights),
                          pareto_k=xr.Dataset(ks))
        except (ValueError, TypeError) as exc:
            raise NotEvaluableError(f"arviz-stats' loo_pit cannot take this run's data ({exc})") from exc
    return {name: np.asarray(pit[name].values, dtype=float).ravel() for name in names}


def _pit_from_predictive(run: store.Run, model, data) -> dict[str, np.ndarray]:
    """arviz-stats' LOO-PIT from the run's posterior predictive draws (log weights from the
    log-likelihood at the same draws)."""
    idata = run.idata
    if not {"posterior_predictive", "observed_data"} <= set(idata.children):
        raise NotEvaluableError("the run has no posterior predictive draws (posterior_predictive_draws is 0 in its "
                             "config), so its LOO-PIT cannot be computed")
    pp = idata["posterior_predictive"].to_dataset()
    if pp.sizes["chain"] * pp.sizes["draw"] < 25:
        raise NotEvaluableError(f"the run keeps only {pp.sizes['chain'] * pp.sizes['draw']} posterior predictive draws; "
                             "LOO-PIT needs at least 25")
    posterior = idata["posterior"].to_dataset().sel(chain=pp["chain"], draw=pp["draw"])
    predictive = model.build_predictive_model(data)
    posterior = model.complete_posterior(posterior)
    _check_free_variables(predictive, posterior)
    ll = forward.compute_log_likelihood(predictive, posterior)
    names = [n for n in pp.data_vars if n in ll]
    if not names:
        raise NotEvaluableError("the run's posterior predictive variables are not the model's observed variables")
    joint = [n for n in names if ll[n].shape[2:] != pp[n].shape[2:]]
    if joint:
        raise NotEvaluableError(f"LOO-PIT is defined per observed value, but {', '.join(joint)} is observed jointly "
                             "(a multivariate likelihood gives one log-likelihood per observation, not per value)")
    return _arviz_loo_pit(posterior, pp, idata, {n: ll[n] for n in names})


def _pit_summary(pit: dict[str, np.ndarray]) -> dict[str, Any]:
    from scipy import stats

    per_variable = {}
    for name, values in pit.items():
        # A PIT is a probability; PSIS-weighted sums can land a rounding error outside [0, 1], where
        # np.histogram's range would drop the value from the histogram that `n` counts
        values = np.clip(values[np.isfinite(values)], 0.0, 1.0)
        test = stats.kstest(values, "uniform")
        hist, _ = np.histogram(values, bins=20, range=(0.0, 1.0))
        per_variable[name] = {"n": int(values.size), "ks_statistic": float(test.statistic),
                              "p_value": float(test.pvalue), "histogram": hist.tolist()}
    worst = min(per_variable, key=lambda n: per_variable[n]["p_value"])
    alpha = PIT_ALPHA / len(per_variable)
    return {"test": "Kolmogorov–Smirnov against Uniform(0, 1)", "alpha": alpha, "variables": per_variable,
            "worst_variable": worst, "p_value": per_variable[worst]["p_value"],
            "ks_statistic": per_variable[worst]["ks_statistic"],
            "uniform": bool(per_variable[worst]["p_value"] >= alpha)}


# -- reading ---------------------------------------------------------------------------------------
def headline(payload: dict[str, Any]) -> str:
    """One line for tables and cards: elpd ± se, p_loo, Pareto-k, LOO-PIT."""
    loo = payload.get("loo")
    parts = []
    if loo:
        bad = loo["pareto_k"]["bad"] + loo["pareto_k"]["very_bad"]
        parts.append(f"elpd_loo {loo['elpd_loo']:.1f} ± {loo['se']:.1f}, p_loo {loo['p_loo']:.1f}")
        parts.append("k̂ all good" if not bad else f"{bad} k̂ > {loo['good_k']:.2f}")
    else:
        parts.append("no LOO")
    pit = payload.get("loo_pit")
    if pit:
        parts.append(f"LOO-PIT {'uniform' if pit['uniform'] else 'NOT uniform'} (p {pit['p_value']:.2g})")
    held = payload.get("held_out") or {}
    if held.get("mean_ece") is not None:
        parts.append(f"held-out mean ECE {held['mean_ece']:.3f}")
    return " · ".join(parts)


def pointwise(run: store.Run) -> dict[str, np.ndarray]:
    """The stored per-cell LOO arrays (elpd, p_loo, pareto_k, weights, obs_cell)."""
    path = run.path / POINTWISE_FILE
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (OSError, ValueError) as exc:
        raise CorruptRunError(f"Run {run.run_id}: cannot read {POINTWISE_FILE} ({exc}); recompute it with "
                              f"`python -m bayes_core runs evaluate {run.model_id} {run.run_id} --force`.") from exc


def elpd_data(run: store.Run, payload: dict[str, Any] | None = None):
    """arviz-stats' ``ELPDDataLOO`` of the run, pointwise values expanded to observations (what
    ``arviz_stats.compare`` reads)."""
    import xarray as xr
    from arviz_stats.utils import ELPDDataLOO

    payload = payload or evaluate(run)
    loo = payload.get("loo")
    if not loo:
        raise BayesCoreError(f"Run {run.run_id} has no PSIS-LOO: {payload.get('loo_reason')}")
    arrays = pointwise(run)
    cell = arrays["obs_cell"]
    return ELPDDataLOO(elpd=loo["elpd_loo"], se=loo["se"], p=loo["p_loo"], n_samples=loo["draws_used"],
                       n_data_points=loo["n_observations"], scale="log", warning=loo["warning"], good_k=loo["good_k"],
                       elpd_i=xr.DataArray(arrays["elpd"][cell], dims=["obs"]),
                       pareto_k=xr.DataArray(arrays["pareto_k"][cell], dims=["obs"]))


def _write(run: store.Run, payload: dict[str, Any], arrays: dict[str, np.ndarray] | None) -> None:
    """The pointwise arrays, then the JSON (its presence says the evaluation is whole), each
    written to a temporary file and renamed into place. A read-only run keeps none (logged)."""
    try:
        if arrays is not None:
            replace_file(run.path / POINTWISE_FILE, lambda fh: np.savez_compressed(fh, **arrays), binary=True)
        replace_file(run.path / EVALUATION_FILE,
                 lambda fh: fh.write(json.dumps(payload, indent=2, default=store._json_default, allow_nan=True)))
    except OSError as exc:
        log.warning("run %s: the evaluation could not be stored (%s); it is computed again on next request",
                    run.run_id, exc.strerror or exc)


def replace_file(path: Path, write, binary: bool = False) -> None:
    """Write ``path`` through ``write(fh)`` into a temporary file renamed into place (atomic)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb" if binary else "w", encoding=None if binary else "utf-8") as fh:
            write(fh)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
