"""Simulation-based calibration (SBC) of a model's own fit path.

For one model: draw N parameter sets from its prior and simulate a data set from each with its own
prior predictive, at the size of the template data (the example data, or the analyst's); fit each
simulated data set with the model's sampled model — the reduced likelihood where it has one, and
one compile for all N fits (``compiled.scoped``) — and record where each prior draw ranks among its
posterior's draws, thinned to near-independent draws. If the prior, the simulator and the fit agree,
every parameter's ranks are uniform (Talts et al. 2018); ``ranks`` turns them into a p-value, an
ECDF difference with its simultaneous 95% band and a verdict per parameter.

Fits that raise are counted and named (``fits_errored``, ``failures``); fits whose convergence
verdict is 'problem' are counted in ``fits_failed`` too but their ranks are kept: dropping them
would hide exactly the simulations where inference struggles. ``fit_priors`` fits with other prior
hyper-parameters than those that simulated — a deliberate mis-specification SBC must catch.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

import numpy as np

from bayes_core import compiled, diagnostics
from bayes_core.checks import ranks
from bayes_core.errors import BayesCoreError, InvalidParametersError
from bayes_core.samplers import Progress

KIND = "sbc"
SIMS_BOUNDS = (1, 1000)
#: Small defaults: each of N fits needs only enough draws for a rank, not a production posterior.
DEFAULTS = {"sims": 100, "draws": 500, "tune": 500, "chains": 2, "seed": 0}
#: Most parameter elements ranked (a vector's elements count one each).
MAX_RANKED = 50
MAX_FAILURES_KEPT = 20


class SBCUnavailableError(BayesCoreError):
    """The model cannot be checked by SBC (its reason says why)."""


def check_sims(value: Any) -> int:
    lo, hi = SIMS_BOUNDS
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= int(value) <= hi:
        raise InvalidParametersError({"sims": f"must be a whole number of simulations from {lo} to {hi} (got {value!r})"})
    return int(value)


def sbc_settings(model, **overrides: Any) -> dict[str, Any]:
    """The check's settings: ``sims`` and the sampler's draws/tune/chains/seed (SBC's small defaults
    where not given), every bad value named at once (bounds as ``settings.SamplerSettings``)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise InvalidParametersError({name: "unknown SBC setting" for name in unknown})
    merged = {**DEFAULTS, **given}
    errors: dict[str, str] = {}
    try:
        merged["sims"] = check_sims(merged["sims"])
    except InvalidParametersError as exc:
        errors.update(exc.errors)
    try:
        sampler = model.training_settings(**{k: merged[k] for k in ("draws", "tune", "chains", "seed")})
        merged.update({k: getattr(sampler, k) for k in ("draws", "tune", "chains", "seed")})
    except InvalidParametersError as exc:
        errors.update(exc.errors)
    if errors:
        raise InvalidParametersError(errors)
    return merged


def require_available(model) -> None:
    if model.sbc_unavailable:
        raise SBCUnavailableError(f"SBC cannot check {model.model_id}: {model.sbc_unavailable}")


def fit_model_with(model, fit_priors: Mapping[str, float] | None):
    """The model that fits: ``model`` itself, or the same model with ``fit_priors`` changed."""
    if not fit_priors:
        return model
    unknown = sorted(set(fit_priors) - set(model.priors))
    if unknown:
        raise InvalidParametersError({f"fit prior {n}": f"unknown prior (known: {', '.join(sorted(model.priors))})"
                                      for n in unknown})
    return type(model)(model.metadata, options=model.options, priors={**model.priors, **fit_priors})


def run_sbc(model, data: Any = None, *, sims: int | None = None, draws: int | None = None, tune: int | None = None,
            chains: int | None = None, seed: int | None = None, fit_priors: Mapping[str, float] | None = None,
            progress: Callable[[Progress], None] | None = None) -> dict[str, Any]:
    """SBC of ``model`` on data shaped like ``data`` (None: its example data): a JSON-able result
    (``checks.store.write_check`` saves it). ``progress`` gets "fit k of N" and may raise
    ``samplers.Cancelled`` to stop between — or inside — fits."""
    require_available(model)
    s = sbc_settings(model, sims=sims, draws=draws, tune=tune, chains=chains, seed=seed)
    fitter = fit_model_with(model, fit_priors)
    report = progress or (lambda _: None)
    started, t0 = datetime.now(timezone.utc), time.perf_counter()
    template = model.load_data(data)
    report(Progress("simulating", 0, s["sims"], message=f"{s['sims']} data sets from the prior predictive"))
    prior, simulated = model.sbc_simulate(template, s["sims"], s["seed"])
    elements = _elements(prior, model.sbc_parameters(prior), model.sbc_pooled_dims)
    names = list(dict.fromkeys(var for var, _, _ in elements))
    ranks_by: dict[str, list[int]] = {label: [] for _, _, label in elements}
    draws_by: dict[str, list[int]] = {label: [] for _, _, label in elements}  # a pooled label: one per element
    n_draws: list[int] = []
    failures: list[dict[str, Any]] = []
    not_converged: list[int] = []
    t_fits = time.perf_counter()
    # A few fits take Python callbacks when short; more take numba C callbacks, whose compile pays off
    # by about the fifth (samplers.short_run).
    few = s["sims"] <= 4
    with compiled.scoped(compiled.CompiledModels(max_entries=1, data_shapes=False, short_runs_as_callbacks=few)) as cache:
        for i in range(s["sims"]):
            def during_fit(_: Progress, k: int = i) -> None:  # the sampler's reports: "fit k of N", and cancel
                report(Progress("sampling", k, s["sims"], message=f"fit {k + 1} of {s['sims']}"))

            during_fit(Progress("sampling"))
            settings = fitter.training_settings(draws=s["draws"], tune=s["tune"], chains=s["chains"],
                                                seed=(s["seed"] + 1 + i) % 2**32)
            # Where the simulated values go is the model's (a mistake there fails the check, not one fit).
            one = model.sbc_data_from(template, {k: simulated[k].isel(sim=i).values for k in simulated.data_vars})
            try:
                posterior, verdict = fitter.sbc_fit(one, settings, during_fit)
                kept = ranks.thinned(posterior, names)
            except Exception as exc:  # a fit that raises is counted and named; Cancelled is not an Exception
                failures.append({"sim": i, "reason": f"{type(exc).__name__}: {exc}"[:300]})
                continue
            if verdict == diagnostics.PROBLEM:
                not_converged.append(i)
            n_draws.append(int(kept.sizes["chain"] * kept.sizes["draw"]))
            for var, index, label in elements:
                draws_of = kept[var].values.reshape(n_draws[-1], *kept[var].shape[2:])
                ranks_by[label].append(int(ranks.rank_of(prior[var].isel(sim=i).values, draws_of)[index]))
                draws_by[label].append(n_draws[-1])
        compiles = cache.compiles
    report(Progress("ranking", s["sims"], s["sims"], message="rank statistics"))
    parameters = [_parameter(label, ranks_by[label], draws_by[label], s["seed"]) for label in ranks_by]
    return {
        "kind": KIND, "model_id": model.model_id, "model_version": model.metadata.version,
        "config_hash": model.metadata.config_hash, "options": dict(model.options), "priors": dict(model.priors),
        "fit_priors": dict(fit_priors or {}), "settings": s, "data_rows": int(len(template)),
        "n_sims": s["sims"], "n_ranked": len(n_draws), "fits_failed": len(failures) + len(not_converged),
        "fits_errored": len(failures), "not_converged": not_converged, "failures": failures[:MAX_FAILURES_KEPT],
        "draws_per_rank": {"min": min(n_draws, default=0), "max": max(n_draws, default=0)},
        "parameters": parameters, "verdict": ranks.worst([p["verdict"] for p in parameters]),
        "created_at": started.isoformat(),
        "timings": {"total_s": time.perf_counter() - t0, "fits_s": time.perf_counter() - t_fits, "compiles": compiles},
    }


def _elements(prior, variables: list[str], pooled: tuple[str, ...] = ()) -> list[tuple[str, tuple, str]]:
    """``(variable, element index, label)`` of every ranked element, e.g. ``beta[x1]``; elements along
    a ``pooled`` dimension share one label (``hedge_ratio``); at most ``MAX_RANKED`` labels."""
    out, labels_seen = [], []
    for var in variables:
        da = prior[var]
        dims = [d for d in da.dims if d != "sim"]
        for index in np.ndindex(*da.shape[1:]):
            labels = [str(da[d].values[j]) if d in da.coords else str(j) for d, j in zip(dims, index)
                      if d not in pooled]
            label = f"{var}[{','.join(labels)}]" if labels else var
            if label not in labels_seen:
                if len(labels_seen) == MAX_RANKED:
                    continue
                labels_seen.append(label)
            out.append((var, index, label))
    if not out:
        raise SBCUnavailableError("SBC found no parameter to rank in the model's prior (its sbc_parameters is empty).")
    return out


def _parameter(label: str, parameter_ranks: list[int], n_draws: list[int], seed: int) -> dict[str, Any]:
    if not parameter_ranks:  # every fit failed: nothing to test
        return {"name": label, "p_value": None, "verdict": ranks.INCONCLUSIVE, "ranks_ok": None, "ranks": [],
                "n_draws": [], "ecdf": None}
    pit = ranks.pit_values(parameter_ranks, n_draws, seed)
    stats = ranks.rank_statistics(pit, seed)
    return {"name": label, "p_value": stats["p_value"], "ranks_ok": stats["ranks_ok"],
            "verdict": ranks.verdict(stats["p_value"], stats["ranks_ok"], len(parameter_ranks)),
            "ranks": list(parameter_ranks), "n_draws": list(n_draws), "ecdf": stats["ecdf"]}
