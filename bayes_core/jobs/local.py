"""``LocalJobRunner``: jobs in SQLite, each trained by a detached worker process on this machine.

No daemon is needed. Whoever touches the queue — a submit, a list or status read, a cancel, or a
worker as it finishes — runs ``sweep()``: inside one SQLite write transaction it marks running jobs
whose worker died (or stopped heartbeating) as failed, then starts queued jobs in order while fewer
than ``BAYES_MAX_JOBS`` run. The write lock makes the count-and-start step atomic across processes.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bayes_core import artifacts, samplers
from bayes_core.errors import BayesCoreError, InvalidParametersError
from bayes_core.jobs import processes
from bayes_core.jobs.api import ACTIVE_STATES, Job, JobRunner, check_job_id, empty_progress
from bayes_core.jobs.store import JobStore, age_seconds, now_iso

log = logging.getLogger(__name__)

LOGS_DIR = "jobs"
UPLOADS_DIR = "uploads"
UNEXPECTED_EXIT = "worker exited unexpectedly"


def max_jobs() -> int:
    """``BAYES_MAX_JOBS``, default one job per two CPU cores (at least one)."""
    raw = os.environ.get("BAYES_MAX_JOBS")
    if raw:
        try:
            return max(1, int(raw))
        except ValueError:
            log.warning("BAYES_MAX_JOBS=%r is not a whole number; using the default", raw)
    return max(1, (os.cpu_count() or 1) // 2)


def heartbeat_timeout_s() -> float:
    """A running job silent for longer than this is declared dead (workers beat every second)."""
    return float(os.environ.get("BAYES_JOB_HEARTBEAT_TIMEOUT", "300"))


def new_job_id() -> str:
    return f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"


class LocalJobRunner(JobRunner):
    def __init__(self, store: JobStore | None = None):
        self.store = store or JobStore()
        self.root = self.store.path.parent

    # -- paths -----------------------------------------------------------------------------------
    def log_path(self, job_id: str) -> Path:
        return self.root / LOGS_DIR / f"{check_job_id(job_id)}.log"

    def upload_path(self, job_id: str) -> Path:
        return self.root / UPLOADS_DIR / f"{check_job_id(job_id)}.csv"

    # -- submit ----------------------------------------------------------------------------------
    def validate(self, model_id: str, settings: dict[str, Any], options: dict[str, Any] | None = None,
                 data_csv: bytes | None = None, data_run_id: str | None = None):
        """Everything a worker would trip over, checked now. Returns ``(model, SamplerSettings)``."""
        from bayes_core.registry import get_registry

        registry = get_registry()
        registry.get_model_metadata(model_id)  # UnknownModelError listing the known ids
        errors: dict[str, str] = {}
        try:
            model = registry.load_model_instance(model_id, options=options or {})
        except InvalidParametersError as exc:
            errors.update(exc.errors)
            model = registry.load_model_instance(model_id)  # still check the settings: report all at once
        try:
            resolved = model.training_settings(**(settings or {}))
        except InvalidParametersError as exc:
            errors.update(exc.errors)
        if errors:
            raise InvalidParametersError(errors)
        samplers.resolve(resolved)  # DeviceUnavailableError / SamplerError before queueing
        if data_csv is not None and data_run_id is not None:
            raise InvalidParametersError({"data": "give either an uploaded CSV or an earlier run's data, not both"})
        if data_csv is not None:
            model.load_data(data_csv)
        elif data_run_id is not None:
            model.load_data(artifacts.Run(model_id, data_run_id).path / artifacts.DATA_FILE)
        return model, resolved

    def submit(self, model_id: str, settings: dict[str, Any], options: dict[str, Any] | None = None,
               data_csv: bytes | None = None, data_run_id: str | None = None,
               data_filename: str | None = None) -> Job:
        model, resolved = self.validate(model_id, settings, options, data_csv, data_run_id)
        job_id = new_job_id()
        if data_csv is not None:
            path = self.upload_path(job_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".part")
            tmp.write_bytes(data_csv)
            os.replace(tmp, path)
            data_ref = {"kind": "upload", "path": f"{UPLOADS_DIR}/{path.name}", "filename": data_filename}
        elif data_run_id is not None:
            data_ref = {"kind": "run", "run_id": data_run_id}
        else:
            data_ref = {"kind": "example"}
        progress = empty_progress()
        progress["draws_total"] = (resolved.draws + resolved.tune) * resolved.chains
        self.store.insert(Job(
            job_id=job_id, model_id=model_id, state="queued", settings=resolved.to_dict(),
            options=dict(model.options), data_ref=data_ref, created_at=now_iso(), progress=progress,
            log_path=str(self.log_path(job_id)),
        ))
        self.sweep()
        return self.store.get(job_id)

    # -- reads -----------------------------------------------------------------------------------
    def status(self, job_id: str) -> Job:
        self.store.get_row(job_id)  # JobNotFoundError before any sweep
        self.sweep()
        return self.store.get(job_id)

    def list(self, model_id: str | None = None, limit: int = 100) -> list[Job]:
        self.sweep()
        return self.store.list(model_id, limit)

    def logs(self, job_id: str, tail_lines: int = 200) -> str:
        path = self.log_path(job_id)
        self.store.get_row(job_id)
        if not path.is_file():
            return ""
        with open(path, "rb") as fh:  # read only the end of a long log
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 256 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-tail_lines:]) if tail_lines > 0 else ""

    # -- cancel ----------------------------------------------------------------------------------
    def cancel(self, job_id: str) -> Job:
        """Stop a job: a queued one never starts; a running one's process group is terminated
        (SIGTERM, then SIGKILL) and its staged run directory removed. Finished jobs are unchanged."""
        with self.store.transaction() as conn:
            row = self.store.get_row(job_id, conn)
            if row["state"] == "queued":
                self._finish(conn, row, "cancelled", message="cancelled before it started")
            elif row["state"] == "running":
                self.store.update(job_id, conn, cancel_requested=1)
        if row["state"] == "running":
            if row["pid"] and row["host"] == processes.hostname():
                processes.terminate_worker(row["pid"], job_id)
            with self.store.transaction() as conn:
                row = self.store.get_row(job_id, conn)
                if row["state"] == "running":
                    self._finish(conn, row, "cancelled", message="cancelled")
        self.sweep()
        return self.store.get(job_id)

    # -- the queue -------------------------------------------------------------------------------
    def sweep(self) -> None:
        """Mark dead workers failed, then start queued jobs in order while slots are free."""
        processes.reap_children()
        if self.store.count_active() == 0:
            return
        limit = max_jobs()
        with self.store.transaction() as conn:
            running = 0
            for row in self.store.rows_in_state(conn, ["running"]):
                if self._is_dead(row):
                    self._finish(conn, row, "failed", error=self._unexpected_exit_message(row))
                else:
                    running += 1
            for row in self.store.rows_in_state(conn, ["queued"]):
                if running >= limit:
                    break
                self._start(conn, row)
                running += 1

    def _is_dead(self, row) -> bool:
        silent = age_seconds(row["heartbeat_at"] or row["started_at"])
        if silent is not None and silent > heartbeat_timeout_s():
            if row["pid"] and row["host"] == processes.hostname():
                processes.terminate_worker(row["pid"], row["job_id"], grace_s=1.0)  # hung: stop it
            return True
        if row["host"] == processes.hostname():
            return not processes.worker_alive(row["pid"], row["job_id"])
        return False  # another host's worker: only its heartbeat can tell

    def _unexpected_exit_message(self, row) -> str:
        silent = age_seconds(row["heartbeat_at"] or row["started_at"])
        if silent is not None and silent > heartbeat_timeout_s():
            return f"{UNEXPECTED_EXIT}: no heartbeat for {silent:.0f} s. See the job log for its last lines."
        return f"{UNEXPECTED_EXIT} (pid {row['pid']} is gone). See the job log for its last lines."

    def _start(self, conn, row) -> None:
        job_id = row["job_id"]
        try:
            pid = processes.spawn_worker(job_id, self.log_path(job_id))
        except OSError as exc:
            self._finish(conn, row, "failed", error=f"could not start the worker: {exc}")
            return
        progress = {**empty_progress(), "draws_total": _progress(row).get("draws_total", 0), "phase": "starting",
                    "message": "worker starting"}
        self.store.update(job_id, conn, state="running", started_at=now_iso(), heartbeat_at=now_iso(), pid=pid,
                          host=processes.hostname(), progress=progress)

    def _finish(self, conn, row, state: str, error: str | None = None, message: str = "") -> None:
        """Move an active job to a final state and clean up what its worker may have left.

        A worker stopped after its run was renamed into place (but before it could record that)
        left a whole run: the job is then recorded as succeeded with it, not cancelled or failed.
        """
        progress = _progress(row)
        fields: dict[str, Any] = {"state": state, "error": error}
        run = completed_run(row["model_id"], row["staged_run_id"])
        if run is not None:
            fields = {"state": "succeeded", "error": None, "run_id": run.run_id,
                      "sampler": run.metadata.get("sampler"), "device": run.metadata.get("device")}
            state, message = "succeeded", "finished before it could be stopped"
        progress.update(phase=state, eta_s=None, message=message or progress.get("message", ""))
        self.store.update(row["job_id"], conn, only_if_state=ACTIVE_STATES, finished_at=now_iso(),
                          progress=progress, **fields)
        remove_staged_run(row["model_id"], row["staged_run_id"])


def _progress(row) -> dict[str, Any]:
    return json.loads(row["progress"] or "{}")


def completed_run(model_id: str, staged_run_id: str | None) -> artifacts.Run | None:
    if not staged_run_id:
        return None
    try:
        run = artifacts.Run(model_id, staged_run_id)
        run.metadata  # noqa: B018 - a whole run has its metadata
        return run
    except BayesCoreError:
        return None


def remove_staged_run(model_id: str, staged_run_id: str | None) -> None:
    """Delete the hidden ``.tmp-<run_id>`` directory of a job that will never finish it."""
    if not staged_run_id:
        return
    try:
        tmp = artifacts.run_path(model_id, staged_run_id).parent / f".tmp-{staged_run_id}"
    except BayesCoreError:
        return
    shutil.rmtree(tmp, ignore_errors=True)
