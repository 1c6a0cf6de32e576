"""Power-scaling prior and likelihood sensitivity of a run (Kallioinen et al. 2024; arviz-stats'
``psense_summary``), stored in the run as ``sensitivity.json``.

Power-scaling raises the prior (or the likelihood) to a power α near 1 and measures, by importance
weights on the run's own draws (Pareto-smoothed; no refit), how far each parameter's posterior moves:
the derivative of the cumulative Jensen–Shannon distance at α = 1. A parameter whose posterior moves
by 0.05 or more when the prior is power-scaled is *prior-sensitive*; when the likelihood is, it is
*likelihood-sensitive*. As priorsense reads them:

- prior- and likelihood-sensitive → **prior-data conflict**: the prior and the data pull apart;
- prior-sensitive only → **weak likelihood**: the data say little, the prior decides;
- otherwise none: the data dominate, as they should.

What is power-scaled: the priors the analyst sets (``model.power_scaled_priors``: not hierarchical
terms nor standardised group-level effects, as priorsense scales brms' ``lprior``), and the whole
likelihood. Both enter only as one total per draw, so the count model's reduced likelihood
(distinct cells weighted by multiplicity) gives exactly the plain per-observation result.

Computed on first request and cached (``sensitivity(run)``); a stored file that cannot be read is
reported (``recomputed_because``) and computed again. Draws are thinned as the run's evaluation
thins them (``BAYES_EVAL_MAX_DRAWS``, and the memory budget of a plain likelihood).
"""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from bayes_core.errors import BayesCoreError, NotEvaluableError
from bayes_core.runs import evaluation, integrity, store
from bayes_core.runs.psis import good_k

log = logging.getLogger("bayes_core.checks")

SENSITIVITY_FILE = "sensitivity.json"
SCHEMA = 1
THRESHOLD = 0.05  # priorsense's: a CJS-based sensitivity at or above it is "sensitive"
ALPHAS = (0.99, 1.01)  # the powers around 1 whose finite difference is the sensitivity (psense's default)
CONFLICT, WEAK_LIKELIHOOD, NONE = "prior-data conflict", "weak likelihood", "none"
#: arviz-stats' diagnosis strings → ours
_DIAGNOSES = {"potential prior-data conflict": CONFLICT, "potential strong prior / weak likelihood": WEAK_LIKELIHOOD}
MEANING = {
    CONFLICT: "sensitive to both the prior and the likelihood: the prior and the data disagree — check that the "
              "prior means what you intend, or that the data are what you think",
    WEAK_LIKELIHOOD: "sensitive to the prior but not to the likelihood: the data say little about it, so the prior "
                     "decides — its interval is largely the prior's",
    NONE: "driven by the data, as it should be",
}


# -- reading and caching ---------------------------------------------------------------------------
def stored(run: store.Run) -> tuple[dict[str, Any] | None, str | None]:
    """``(payload, problem)``: the stored result, or None with why it cannot be used (None: not there)."""
    path = run.path / SENSITIVITY_FILE
    try:
        if path.stat().st_size > integrity.MAX_JSON_BYTES:  # a few KB when whole: never read a planted giant
            return None, f"{SENSITIVITY_FILE} is larger than {integrity.MAX_JSON_BYTES:,} bytes"
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as exc:
        return None, f"{SENSITIVITY_FILE} cannot be read ({type(exc).__name__}: {exc})"
    if not isinstance(payload, dict) or not isinstance(payload.get("parameters"), list):
        return None, f"{SENSITIVITY_FILE} is not a sensitivity result"
    if payload.get("schema") != SCHEMA or payload.get("run_id") != run.run_id:
        return None, f"{SENSITIVITY_FILE} is from another schema or run"
    return payload, None


def sensitivity(run: store.Run, model=None, *, force: bool = False) -> dict[str, Any]:
    """The run's prior sensitivity: stored, or computed now and stored (``force``: recompute)."""
    payload, problem = (None, None) if force else stored(run)
    if payload is not None:
        return payload
    if problem:
        log.warning("run %s: %s; it is computed again", run.run_id, problem)
    from bayes_core.runs.history import model_for_run

    payload = compute(run, model or model_for_run(run))
    if problem:
        payload["recomputed_because"] = problem
    _write(run, payload)
    return payload


def _write(run: store.Run, payload: dict[str, Any]) -> None:
    """Written to a temporary file and renamed into place; a read-only run keeps none (logged)."""
    try:
        evaluation.replace_file(run.path / SENSITIVITY_FILE, lambda fh: fh.write(
            json.dumps(payload, indent=2, default=store._json_default, allow_nan=False)))
    except OSError as exc:
        log.warning("run %s: the sensitivity could not be stored (%s); it is computed again on next request",
                    run.run_id, exc.strerror or exc)


# -- computing -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScalingGroup:
    """Parameters power-scaled together: their posterior draws, and the log prior and log likelihood
    (one total per (chain, draw)) whose powers reweight them."""

    posterior: Any
    names: list[str]
    log_prior: np.ndarray
    log_lik: np.ndarray


def compute(run: store.Run, model) -> dict[str, Any]:
    """The sensitivity of ``run``'s parameters (nothing written); ``NotEvaluableError`` says why not."""
    if model.sensitivity_unavailable:
        raise NotEvaluableError(f"{model.model_id} cannot be checked this way: {model.sensitivity_unavailable}")
    t0 = time.perf_counter()
    data = run.data
    posterior, draws_total = evaluation.posterior_within_budget(run, model, data)
    posterior = model.complete_posterior(posterior)
    separate = model.power_scaling_groups(posterior, data)
    if separate is None:
        priors = model.power_scaled_priors(data)
        if not priors:
            raise NotEvaluableError(f"{run.model_id} has no prior the analyst sets (every free variable's prior is "
                                    "hierarchical), so there is nothing to power-scale.")
        names = reported_parameters(model, posterior)
        groups = [ScalingGroup(posterior, names, model.log_prior(posterior, data, var_names=priors),
                               model.pointwise_log_likelihood(posterior, data).total())]
    else:
        priors, groups = separate.priors, separate.groups
    table = [row for g in groups for row in power_scaling_table(g.posterior, g.names, g.log_prior, g.log_lik)]
    pareto_k = {part: _worst_k([weights_pareto_k(getattr(g, field)) for g in groups])
                for part, field in (("prior", "log_prior"), ("likelihood", "log_lik"))}
    draws_used = int(groups[0].log_lik.size)
    meta = run.metadata
    payload: dict[str, Any] = {
        "schema": SCHEMA, "run_id": run.run_id, "model_id": run.model_id,
        "computed_at": datetime.now(timezone.utc).isoformat(), "threshold": THRESHOLD,
        "power_scaled_priors": priors, "draws_used": draws_used, "draws_total": int(draws_total),
        "fit_path": meta.get("fit_path"), "parameters": table, "pareto_k": pareto_k, "good_k": good_k(draws_used),
        "seconds": time.perf_counter() - t0,
    }
    if separate is not None:
        payload["scope"] = separate.scope
    unreliable = [f"{part} k̂ {'not estimated' if k is None else f'{k:.2f}'}" for part, k in pareto_k.items()
                  if k is None or k > payload["good_k"]]
    if unreliable:
        payload["unreliable"] = (f"the power-scaling importance weights are unreliable ({', '.join(unreliable)} > "
                                 f"{payload['good_k']:.2f}): train with more draws before reading these values")
    if meta.get("fit_path") in evaluation.NOT_MCMC_PATHS:
        payload["caveat"] = (f"the draws come from the {meta.get('fit_path')} path ({meta.get('fit_method')}), not "
                             "MCMC: power-scaling reweights them as if they were the posterior")
    payload["verdict"] = verdict(table)
    return payload


@dataclass(frozen=True)
class SeparateScaling:
    """A model's groups power-scaled one at a time (``power_scaling_groups``), the priors they scale,
    and a sentence saying what was scaled separately and why."""

    groups: list[ScalingGroup]
    priors: list[str]
    scope: str


def _worst_k(values: list[float | None]) -> float | None:
    """The largest Pareto k̂ of the groups (None, not estimated, counts as the worst)."""
    return None if any(v is None for v in values) else max(values)


def reported_parameters(model, posterior) -> list[str]:
    """The model's headline variables the posterior has, else its scalar variables."""
    named = [n for n in model.headline_vars if n in posterior.data_vars]
    return named or [n for n, da in posterior.data_vars.items() if set(da.dims) == {"chain", "draw"}]


def power_scaling_table(posterior, names: list[str], log_prior: np.ndarray, log_lik: np.ndarray) -> list[dict]:
    """psense_summary over ``names`` with the log prior and log likelihood given as one total per
    draw (chain, draw): ``[{"name", "prior", "likelihood", "diagnosis"}]`` per parameter element."""
    import xarray as xr
    from arviz_stats import psense_summary

    if not (np.isfinite(log_prior).all() and np.isfinite(log_lik).all()):
        raise NotEvaluableError("some draws have a non-finite log prior or log likelihood (a draw outside the "
                                "prior's support), so power-scaling weights cannot be formed.")
    dims = ("chain", "draw")
    tree = xr.DataTree.from_dict({
        "posterior": posterior[names],
        "log_prior": xr.Dataset({"prior": (dims, log_prior)}, coords={d: posterior[d] for d in dims}),
        "log_likelihood": xr.Dataset({"likelihood": (dims, log_lik)}, coords={d: posterior[d] for d in dims}),
    })
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = psense_summary(tree, var_names=names, threshold=THRESHOLD, alphas=ALPHAS, round_to=6)
    return [{"name": str(label), "prior": _number(row["prior"]), "likelihood": _number(row["likelihood"]),
             "diagnosis": _DIAGNOSES.get(row["diagnosis"], NONE)} for label, row in frame.iterrows()]


def weights_pareto_k(log_density: np.ndarray) -> float | None:
    """The larger Pareto k̂ of the importance weights that power-scale ``log_density`` to α = 0.99
    and 1.01 (priorsense's reliability check: above ``good_k`` the sensitivities are not to be trusted)."""
    from arviz_stats.base import array_stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        k = max(float(array_stats.pareto_khat((alpha - 1.0) * log_density, log_weights=True)) for alpha in ALPHAS)
    return k if math.isfinite(k) else None


def _number(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def verdict(parameters: list[dict[str, Any]]) -> str:
    """One sentence over every parameter."""
    found = {d: [p["name"] for p in parameters if p["diagnosis"] == d] for d in (CONFLICT, WEAK_LIKELIHOOD)}
    if not any(found.values()):
        return (f"No parameter is sensitive to its prior (every prior sensitivity below {THRESHOLD}): "
                "the data drive the posterior.")
    parts = []
    for diagnosis, names in found.items():
        if names:
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            parts.append(f"{diagnosis} for {shown}")
    return "Potential " + "; ".join(parts) + "."


def describe(parameter: dict[str, Any]) -> str:
    """A parameter's diagnosis in plain words."""
    return f"{parameter['name']}: {MEANING[parameter['diagnosis']]}."


def load(model_id: str, ref: str | None, *, force: bool = False) -> dict[str, Any]:
    """The sensitivity of the run ``ref`` names (a run id, alias, ``latest``, ...)."""
    run = store.load_run(model_id, ref)
    try:
        return sensitivity(run, force=force)
    except NotEvaluableError as exc:
        raise BayesCoreError(f"Prior sensitivity of run {run.run_id} cannot be computed: {exc}") from exc
