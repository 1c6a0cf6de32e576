"""What a job does, by ``JobRequest.task``: one small table, so a second task (SBC) is one entry.

A task knows how to check a request before it is queued (``prepare``), how to run it inside a
worker (``run``), and what output a worker leaves while running (``completed`` finds a whole
output a killed worker still finished; ``discard`` removes a partial one). Runners and the worker
never know more about a task than this.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

from bayes_core import artifacts
from bayes_core.errors import BayesCoreError, InvalidParametersError, RunNotFoundError
from bayes_core.jobs.api import Job, JobRequest, JobStoreError

UPLOADS_DIR = "uploads"


@dataclass
class Prepared:
    """A validated request, normalised as it will be stored with the job."""

    settings: dict[str, Any]
    options: dict[str, Any]
    priors: dict[str, Any]
    params: dict[str, Any]
    draws_total: int = 0
    device: str | None = None  # where it will run ("cpu" | "gpu"), as resolved when it was checked


@dataclass
class TaskContext:
    job: Job
    data_source: Path | None  # None: the model's example data
    progress: Callable[[Any], None]  # takes ``samplers.Progress``
    output_id: str  # where the task stages its output (a run id for training)


@dataclass
class TaskResult:
    run_id: str | None = None
    sampler: str | None = None
    device: str | None = None
    message: str = ""
    progress: dict[str, Any] = field(default_factory=dict)  # final progress fields (e.g. all draws done)


class Task(Protocol):
    name: str

    def prepare(self, request: JobRequest, *, gpu: bool | None = None) -> Prepared:
        """Check ``request`` and normalise it; ``gpu``: can the job have a GPU where it will run
        (a cluster runner knows; default: is there one on this machine)."""

    def new_output_id(self) -> str: ...

    def run(self, ctx: TaskContext) -> TaskResult: ...

    def completed(self, model_id: str, output_id: str | None) -> TaskResult | None: ...

    def discard(self, model_id: str, output_id: str | None) -> None: ...


class TrainTask:
    """Train a model and write a run (``model.train`` stages it and renames it into place)."""

    name = "train"

    def prepare(self, request: JobRequest, *, gpu: bool | None = None) -> Prepared:
        from bayes_core import samplers
        from bayes_core.registry import get_registry

        registry = get_registry()
        meta = registry.get_model_metadata(request.model_id)  # UnknownModelError listing the known ids
        errors: dict[str, str] = {}
        priors = _check_priors(meta.priors, request.priors, errors)
        try:
            model = registry.load_model_instance(request.model_id, options=dict(request.options), priors=priors)
        except InvalidParametersError as exc:
            errors.update(exc.errors)
            model = registry.load_model_instance(request.model_id)  # still check the settings: report all at once
        try:
            resolved = model.training_settings(**dict(request.settings))
        except InvalidParametersError as exc:
            errors.update(exc.errors)
        if errors:
            raise InvalidParametersError(errors)
        _, device = samplers.resolve(resolved, gpu=gpu)  # DeviceUnavailableError / SamplerError before queueing
        data = request.data
        if data["kind"] == "upload":
            frame = model.load_data(data["content"])
        elif data["kind"] == "run":
            frame = model.load_data(run_data_file(request.model_id, data["run_id"]))
        else:  # the example data can lack what the options ask for (a target column, a longer window)
            frame = model.load_data()
        model.check_resources(frame, resolved)  # a trace too large for memory is refused, never queued
        settings = resolved.to_dict()
        return Prepared(settings=settings, options=dict(model.options), priors=priors, params=dict(request.params),
                        draws_total=(settings["draws"] + settings["tune"]) * settings["chains"], device=device)

    def new_output_id(self) -> str:
        return artifacts.new_run_id()

    def run(self, ctx: TaskContext) -> TaskResult:
        from bayes_core.registry import get_registry
        from bayes_core.runs import evaluation
        from bayes_core.samplers import Progress

        job = ctx.job
        registry = get_registry()
        if job.model_id not in registry:
            raise BayesCoreError(
                f"Model {job.model_id!r} is no longer registered: its config was removed or became invalid after the "
                f"job was queued (`python -m bayes_core list` names broken configs). Restore "
                f"model_configs/{job.model_id}/config.yaml and submit the job again.")
        model = registry.load_model_instance(job.model_id, options=job.options, priors=job.priors or None)
        run = model.train(ctx.data_source, progress=ctx.progress, run_id=ctx.output_id, **job.settings)
        per_chain = int(job.settings["draws"]) + int(job.settings["tune"])
        chains = int(job.settings["chains"])
        ctx.progress(Progress("evaluating", per_chain * chains, per_chain * chains, message="PSIS-LOO, LOO-PIT"))
        evaluation.ensure_after_training(run, model)  # a failure is logged; retried on first request
        return TaskResult(run_id=run.run_id, sampler=run.metadata.get("sampler"), device=run.metadata.get("device"),
                          message=f"run {run.run_id}",
                          progress={"draws_done": per_chain * chains, "chain_draws": [per_chain] * chains})

    def completed(self, model_id: str, output_id: str | None) -> TaskResult | None:
        if not output_id:
            return None
        try:
            run = artifacts.Run(model_id, output_id)
            meta = run.metadata  # a whole run has its metadata
        except BayesCoreError:
            return None
        return TaskResult(run_id=run.run_id, sampler=meta.get("sampler"), device=meta.get("device"),
                          message="finished before it could be stopped")

    def discard(self, model_id: str, output_id: str | None) -> None:
        """Delete the hidden ``.tmp-<run_id>`` directory of a job that will never finish it."""
        import shutil

        if not output_id:
            return
        try:
            tmp = artifacts.run_path(model_id, output_id).parent / f".tmp-{output_id}"
        except BayesCoreError:
            return
        shutil.rmtree(tmp, ignore_errors=True)


class SBCTask:
    """Simulation-based calibration of a model (``bayes_core.checks.sbc``): N fits, reported as
    "fit k of N", cancelled between or inside fits; the result is saved as a check
    (``checks.store``) under the job's output id. ``params``: ``{"sims": N}``."""

    name = "sbc"

    def prepare(self, request: JobRequest, *, gpu: bool | None = None) -> Prepared:
        from bayes_core import samplers
        from bayes_core.checks import sbc
        from bayes_core.registry import get_registry

        registry = get_registry()
        meta = registry.get_model_metadata(request.model_id)
        errors: dict[str, str] = {}
        priors = _check_priors(meta.priors, request.priors, errors)
        unknown = sorted(set(request.params) - {"sims"})
        if unknown:
            errors.update({f"param {n}": "unknown SBC parameter (known: sims)" for n in unknown})
        model = registry.load_model_instance(request.model_id, priors=priors)
        sbc.require_available(model)
        try:
            checked = sbc.sbc_settings(model, sims=request.params.get("sims"), **dict(request.settings))
        except InvalidParametersError as exc:
            errors.update(exc.errors)
        if errors:
            raise InvalidParametersError(errors)
        settings = {k: checked[k] for k in ("draws", "tune", "chains", "seed")}
        _, device = samplers.resolve(model.training_settings(**settings), gpu=gpu)
        if request.data["kind"] == "upload":
            model.load_data(request.data["content"])
        elif request.data["kind"] == "run":
            model.load_data(run_data_file(request.model_id, request.data["run_id"]))
        return Prepared(settings=settings, options={}, priors=priors, params={"sims": checked["sims"]},
                        draws_total=checked["sims"], device=device)

    def new_output_id(self) -> str:
        from bayes_core.checks import store

        return store.new_check_id()

    def run(self, ctx: TaskContext) -> TaskResult:
        from bayes_core.checks import sbc, store
        from bayes_core.registry import get_registry

        job = ctx.job
        model = get_registry().load_model_instance(job.model_id, priors=job.priors or None)
        result = sbc.run_sbc(model, ctx.data_source, sims=job.params["sims"], progress=ctx.progress, **job.settings)
        saved = store.write_check(job.model_id, sbc.KIND, result, ctx.output_id)
        return TaskResult(message=f"check {saved['check_id']}: {saved['verdict']}, {saved['fits_failed']} of "
                                  f"{saved['n_sims']} fits failed",
                          progress={"check_id": saved["check_id"], "draws_done": saved["n_sims"]})

    def completed(self, model_id: str, output_id: str | None) -> TaskResult | None:
        from bayes_core.checks import store

        if not output_id:
            return None
        try:
            saved = store.load_check(model_id, "sbc", output_id)
        except BayesCoreError:
            return None
        return TaskResult(message=f"check {saved['check_id']} finished before it could be stopped",
                          progress={"check_id": saved["check_id"]})

    def discard(self, model_id: str, output_id: str | None) -> None:
        from bayes_core.checks import store

        store.discard_staging(model_id, "sbc", output_id)


def _check_priors(known: dict[str, float], overrides, errors: dict[str, str]) -> dict[str, float]:
    clean = {}
    for name, value in dict(overrides or {}).items():
        if name not in known:
            errors[f"prior {name}"] = f"unknown prior (known: {', '.join(sorted(known)) or 'none'})"
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            errors[f"prior {name}"] = f"must be a number (got {value!r})"
            continue
        if not math.isfinite(number):
            errors[f"prior {name}"] = f"must be a finite number (got {value!r})"
            continue
        clean[name] = number
    return clean


# The task table: ``JobRequest.task`` → what runs.
TASKS: dict[str, Task] = {TrainTask.name: TrainTask(), SBCTask.name: SBCTask()}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise InvalidParametersError({"task": f"unknown task {name!r} (known: {', '.join(TASKS)})"}) from None


def upload_path(root: Path, job_id: str) -> Path:
    """Where a job's uploaded CSV lives, under the artifacts root (shared storage on a cluster)."""
    return root / UPLOADS_DIR / f"{job_id}.csv"


def keep_data(root: Path, job_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The job's ``data_ref``: an uploaded CSV is kept under the artifacts root, where the worker
    reads it (on a cluster, storage every node mounts); the other kinds are references."""
    if data["kind"] == "upload":
        path = upload_path(root, job_id)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".part")
            tmp.write_bytes(data["content"])
            os.replace(tmp, path)
        except OSError as exc:
            raise JobStoreError(f"Cannot keep the uploaded CSV in {path.parent} ({exc.strerror or exc}): make "
                                "the artifacts folder writable (or free disk space) and submit again.") from exc
        return {"kind": "upload", "path": f"{UPLOADS_DIR}/{path.name}", "filename": data.get("filename")}
    if data["kind"] == "run":
        return {"kind": "run", "run_id": data["run_id"]}
    return {"kind": "example"}


def data_source(job: Job, root: Path) -> Path | None:
    """The file a worker reads the job's data from; None for the model's example data. The upload
    path is rebuilt from the job id, never taken from the stored row."""
    kind = (job.data_ref or {}).get("kind")
    if kind == "upload":
        path = upload_path(root, job.job_id)
        if not path.is_file():
            raise BayesCoreError(f"The CSV uploaded with this job ({path}) is gone: it was removed after the job was "
                                 "queued. Submit the job again with the file.")
        return path
    if kind == "run":
        try:
            return run_data_file(job.model_id, job.data_ref["run_id"])
        except RunNotFoundError:
            raise RunNotFoundError(
                f"No run {job.data_ref['run_id']} of {job.model_id!r} any more: the run whose data this job trains on "
                "was deleted after the job was queued. Submit the job again with another run's data, or upload the "
                "CSV.") from None
    return None


def run_data_file(model_id: str, run_id: str) -> Path:
    """The training data snapshot of a run (``data.csv``), once the run is known to be whole."""
    run = artifacts.Run(model_id, run_id)
    run.check_files()  # CorruptRunError naming the damage and what to do
    return run.path / artifacts.DATA_FILE
