"""A model's run history as plain rows, one run in detail, deletion, and a model bound to a run.

What a Runs page or ``python -m bayes_core runs list|show|delete`` renders: ``list_rows`` (newest
first, with aliases, tags, note and the evaluation headline), ``show`` (one run in full),
``delete`` (refused while the run holds an alias or a queued/running job trains on its data,
unless forced). ``model_for_run`` builds the model a run was trained as (its options and priors);
``load_model`` is the notebook entry (``bayes_core.load_model``).
"""

from __future__ import annotations

import logging
from typing import Any

from bayes_core.errors import BayesCoreError, CorruptRunError, InvalidParametersError
from bayes_core.runs import evaluation, labels, refs, store, writer

log = logging.getLogger("bayes_core.runs")


def model_for_run(run: store.Run):
    """The model instance ``run`` was trained as: its model, options and priors."""
    from bayes_core.registry import get_registry

    meta = run.metadata
    try:
        return get_registry().load_model_instance(run.model_id, options=meta.get("options") or {},
                                                  priors=meta.get("priors") or None)
    except InvalidParametersError as exc:
        raise BayesCoreError(f"Run {run.run_id} was trained with options or priors the current {run.model_id} model "
                             f"no longer accepts ({'; '.join(f'{k}: {v}' for k, v in exc.errors.items())}); "
                             "it can be listed and compared but not re-evaluated.") from exc


def load_model(model_id: str, ref: str | None = refs.LATEST, version: str | None = None):
    """The model bound to the run ``ref`` (or the newest run of model ``version``) names: its
    ``predict``/``predict_batch``/``sample_posterior_predictive`` use that run by default.

    ``bayes_core.load_model("hierarchical_negbinom", ref="production")``.
    """
    if version is not None:
        ref = version if str(version).startswith("v") else f"v{version}"
    run = store.load_run(model_id, ref)
    model = model_for_run(run)
    model.bound_run = run
    return model


def duration_s(meta: dict[str, Any]) -> float | None:
    """Sampling (compile included) + posterior predictive + saving, from the run's timings."""
    timings = meta.get("timings") or {}
    parts = [timings.get(k) for k in ("total_s", "posterior_predictive_s", "save_s")]
    known = [float(p) for p in parts if isinstance(p, (int, float))]
    return sum(known) if known else None


def run_row(run: store.Run, found: labels.Labels, labels_error: str | None = None) -> dict[str, Any]:
    """One run as a flat row (``problem`` says why when it cannot be read)."""
    row: dict[str, Any] = {"run_id": run.run_id, "aliases": None if labels_error else found.aliases_of(run.run_id),
                           "tags": None if labels_error else found.tags.get(run.run_id, {}),
                           "note": None if labels_error else found.notes.get(run.run_id, ""), "problem": None}
    try:
        meta, verdict = run.metadata, run.verdict
    except BayesCoreError as exc:
        return {**row, "verdict": "unreadable", "problem": str(exc)}
    settings = meta.get("settings") or {}
    stored = evaluation.stored(run)
    loo = (stored or {}).get("loo") or {}
    return {
        **row,
        "created_at": meta.get("created_at"), "model_version": meta.get("model_version"), "verdict": verdict,
        "converged": refs.is_converged(run), "sampler": meta.get("sampler"), "device": meta.get("device"),
        "draws": settings.get("draws"), "tune": settings.get("tune"), "chains": settings.get("chains"),
        "seed": meta.get("seed"), "duration_s": duration_s(meta), "data_hash": meta.get("data_hash"),
        "data_rows": meta.get("data_rows"), "options": meta.get("options") or {},
        "fit_path": meta.get("fit_path", "mcmc"), "fit_method": meta.get("fit_method"),
        "evaluation": stored["headline"] if stored else None,
        "elpd_loo": loo.get("elpd_loo"), "elpd_se": loo.get("se"),
    }


def list_rows(model_id: str) -> dict[str, Any]:
    """``{"model_id", "runs": [row, ...] newest first, "labels_error": message | None}``. An unknown
    model without runs is an ``UnknownModelError`` (runs of a model no longer registered still list)."""
    ids = store.list_run_ids(model_id)
    if not ids:
        from bayes_core.registry import get_registry

        get_registry().get_model_metadata(model_id)
    found, damage = labels.read_or_error(model_id)
    rows = [run_row(store.Run(model_id, rid), found, damage) for rid in reversed(ids)]
    return {"model_id": model_id, "runs": rows, "labels_error": damage}


def picker(model_id: str) -> dict[str, Any]:
    """What a run picker needs: ``{"default": run_id, "why": sentence, "options": [{"run_id", "label",
    "verdict", "aliases"}] newest first}`` (label: ``<run id> · <verdict> · <aliases>``)."""
    default, why = refs.default_run(model_id)
    rows = list_rows(model_id)["runs"]
    options = [{"run_id": r["run_id"], "verdict": r["verdict"], "aliases": r["aliases"] or [],
                "label": " · ".join([r["run_id"], r["verdict"], *(r["aliases"] or [])])} for r in rows]
    return {"default": default, "why": why, "options": options}


def show(model_id: str, ref: str | None = refs.LATEST) -> dict[str, Any]:
    """One run in full: its row, metadata, diagnostics, evaluation (None until computed: see
    ``evaluation.evaluate``), report names and its aliases' history."""
    run = store.load_run(model_id, ref)
    found, damage = labels.read_or_error(model_id)
    row = run_row(run, found, damage)
    history = [] if damage else [h for h in found.alias_history if run.run_id in (h.get("run_id"), h.get("previous"))]
    return {**row, "ref": ref, "metadata": run.metadata, "diagnostics": run.diagnostics,
            "evaluation_detail": evaluation.stored(run), "reports": run.report_names(), "alias_history": history,
            "labels_error": damage}


def active_jobs_using(model_id: str, run_id: str) -> list[str]:
    """Queued or running jobs of the model that train on ``run_id``'s data snapshot."""
    from bayes_core.jobs import get_runner

    jobs = get_runner().list(model_id, limit=10_000)
    return [j.job_id for j in jobs if j.is_active and (j.data_ref or {}).get("kind") == "run"
            and j.data_ref.get("run_id") == run_id]


def delete(model_id: str, run_id: str, force: bool = False) -> dict[str, Any]:
    """Delete a run whole. Refused (naming why) while it holds an alias or a queued/running job uses
    its data, unless ``force``; forced, its aliases (recorded in their history), tags and note go too."""
    store.check_run_id(run_id)
    try:
        store.Run(model_id, run_id)  # RunNotFoundError before any check
    except CorruptRunError:
        pass  # a damaged run is what deleting is for
    found, damage = labels.read_or_error(model_id)
    aliases = found.aliases_of(run_id)
    try:
        jobs, jobs_error = active_jobs_using(model_id, run_id), None
    except BayesCoreError as exc:
        jobs, jobs_error = [], str(exc)
    reasons = []
    if damage:
        reasons.append("the run registry is damaged, so whether the run holds an alias is unknown")
    if aliases:
        reasons.append(f"it holds the alias(es) {', '.join(aliases)} (move them first: `runs alias`/`runs unalias`)")
    if jobs:
        reasons.append(f"job(s) {', '.join(jobs)} will train on its data")
    if jobs_error:
        reasons.append(f"the job list cannot be read ({jobs_error})")
    if reasons and not force:
        raise BayesCoreError(f"Run {run_id} of {model_id} was not deleted: {'; '.join(reasons)}. "
                             "Use --force (force=True) to delete it anyway.")
    writer.delete_run(model_id, run_id)
    dropped, warning = [], None
    try:
        dropped = labels.forget_run(model_id, run_id, reason="run deleted")
    except BayesCoreError as exc:
        warning = f"the run is deleted, but its labels could not be removed: {exc}"
        log.warning(warning)
    return {"model_id": model_id, "run_id": run_id, "deleted": True, "forced": bool(reasons),
            "overridden": reasons, "aliases_removed": dropped, "warning": warning}

