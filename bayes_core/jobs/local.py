"""``LocalJobRunner``: jobs in SQLite, run by detached worker processes on this machine.

No daemon is needed. Whoever touches the queue — a submit, a list or status read, a cancel, or a
worker as it finishes — runs ``sweep()``: inside one SQLite write transaction it marks running jobs
whose worker died (or stopped heartbeating) as failed, then starts queued jobs in order while fewer
than ``BAYES_MAX_JOBS`` run. The write lock makes the count-and-start step atomic across processes.

A queued job goes to a warm worker (``pool.py``: a long-lived process with the stack imported and
compiled models kept) when one is idle or may be started (``BAYES_WARM_WORKERS``, default 1);
when every warm worker is busy, or with ``BAYES_WARM_WORKERS=0``, it gets a one-job worker process
as before. Either way the job is ``running`` with its worker's pid from the moment it is handed over.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bayes_core import artifacts
from bayes_core.jobs import pool, processes, tasks
from bayes_core.jobs.api import (Job, JobConfigError, JobRequest, JobRunner, JobState, check_job_id,
                                 empty_progress, transition)
from bayes_core.jobs.store import DB_FILE, JobStore, age_seconds, now_iso

LOGS_DIR = "jobs"
UPLOADS_DIR = tasks.UPLOADS_DIR
UNEXPECTED_EXIT = "worker exited unexpectedly"
DEFAULT_HEARTBEAT_TIMEOUT_S = 300.0


def max_jobs() -> int:
    """``BAYES_MAX_JOBS`` (a whole number ≥ 1), default one job per two CPU cores (at least one)."""
    raw = os.environ.get("BAYES_MAX_JOBS", "").strip()
    if not raw:
        return max(1, (os.cpu_count() or 1) // 2)
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise JobConfigError(f"BAYES_MAX_JOBS={raw!r} is not a whole number ≥ 1 (the number of jobs that may run at "
                             "once). Set it to e.g. 2, or unset it for one job per two CPU cores.")
    return value


def heartbeat_timeout_s() -> float:
    """A running job silent for longer than this is declared dead (workers beat every second)."""
    raw = os.environ.get("BAYES_JOB_HEARTBEAT_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_HEARTBEAT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 5:
        raise JobConfigError(f"BAYES_JOB_HEARTBEAT_TIMEOUT={raw!r} is not a number of seconds ≥ 5 (how long a running "
                             f"job may stay silent before it is marked failed). Set it to e.g. 300 (the default), "
                             "or unset it.")
    return value


def new_job_id() -> str:
    return f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"


class LocalJobRunner(JobRunner):
    name = "local"

    def __init__(self, store: JobStore | str | Path | None = None):
        """``store``: a ``JobStore``, or an artifacts root to keep one in (default: the current root)."""
        if store is None or isinstance(store, (str, Path)):
            root = Path(store) if store is not None else artifacts.artifacts_root()
            store = JobStore(root / DB_FILE)
        self.store = store
        self.root = self.store.path.parent
        self.pool = pool.WarmPool(self.store)

    # -- paths -----------------------------------------------------------------------------------
    def log_path(self, job_id: str) -> Path:
        return self.root / LOGS_DIR / f"{check_job_id(job_id)}.log"

    def upload_path(self, job_id: str) -> Path:
        return tasks.upload_path(self.root, check_job_id(job_id))

    # -- submit ----------------------------------------------------------------------------------
    def submit(self, request: JobRequest) -> Job:
        task = tasks.get_task(request.task)
        prepared = task.prepare(request)  # every problem raised before anything is stored
        job_id = new_job_id()
        data_ref = tasks.keep_data(self.root, job_id, request.data)
        progress = {**empty_progress(), "draws_total": prepared.draws_total}
        self.store.insert(Job(
            job_id=job_id, model_id=request.model_id, state=JobState.QUEUED, settings=prepared.settings,
            options=prepared.options, data_ref=data_ref, created_at=now_iso(), progress=progress,
            log_path=str(self.log_path(job_id)), task=task.name, priors=prepared.priors, params=prepared.params,
            runner=self.name,
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
        try:
            with open(path, "rb") as fh:  # read only the end of a long log
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - 256 * 1024))
                text = fh.read().decode("utf-8", errors="replace")
        except OSError as exc:
            return f"(the log {path} cannot be read: {exc.strerror or exc})"
        return "\n".join(text.splitlines()[-tail_lines:]) if tail_lines > 0 else ""

    # -- cancel ----------------------------------------------------------------------------------
    def cancel(self, job_id: str) -> Job:
        """Stop a job: a queued one never starts; a running one's staged output is removed. A warm
        worker stops the job itself (its sampler aborted) and stays for the next job; one that has
        not within ``pool.CANCEL_GRACE_S`` is killed (the next job starts a new one). A one-job
        worker's process group is terminated (SIGTERM, then SIGKILL). Finished jobs are unchanged."""
        with self.store.transaction() as conn:
            row = self.store.get_row(job_id, conn)
            if row["state"] == JobState.QUEUED:
                self._finish(conn, row, JobState.CANCELLED, message="cancelled before it started")
            elif row["state"] == JobState.RUNNING:
                self.store.update(job_id, conn, cancel_requested=1)
        if row["state"] == JobState.RUNNING and row["pid"] and row["host"] == processes.hostname():
            if row["worker_id"]:
                self._cancel_warm(row)
            else:
                processes.terminate_worker(row["pid"], job_id)
            with self.store.transaction() as conn:
                row = self.store.get_row(job_id, conn)
                if row["state"] == JobState.RUNNING:
                    self._finish(conn, row, JobState.CANCELLED, message="cancelled")
        self.sweep()
        return self.store.get(job_id)

    def _cancel_warm(self, row) -> None:
        """Give the warm worker ``CANCEL_GRACE_S`` to stop the job itself; kill it if it has not."""
        job_id = row["job_id"]
        stopped = pool.wait_until(lambda: self.store.get_row(job_id)["state"] != JobState.RUNNING,
                                  pool.CANCEL_GRACE_S)
        if not stopped:
            worker = self.pool.get(row["worker_id"])
            if worker is not None:
                self.pool.stop(worker, grace_s=0.5)
            else:
                processes.terminate_worker(row["pid"], row["worker_id"], grace_s=0.5, module=processes.WARM_MODULE)

    def stop_warm_workers(self) -> int:
        """Stop every warm worker of this store on this host, by its recorded pid (running jobs fail)."""
        stopped = self.pool.stop_all()
        self.sweep()
        return stopped

    # -- the queue -------------------------------------------------------------------------------
    def sweep(self, conn=None) -> None:
        """Mark dead workers failed, then start queued jobs in order while slots are free (inside
        ``conn``'s write transaction when given, e.g. the one recording a job's outcome)."""
        processes.reap_children()
        # Every setting is checked on every read, so a bad one is reported at once.
        limit, timeout, warm = max_jobs(), heartbeat_timeout_s(), pool.check_settings()
        if conn is not None:
            self._sweep(conn, limit, timeout, warm)
        elif self.store.count_active():
            with self.store.transaction() as conn:
                self._sweep(conn, limit, timeout, warm)

    def _sweep(self, conn, limit: int, timeout: float, warm: int) -> None:
        running = 0
        for row in self.store.rows_in_state(conn, [JobState.RUNNING]):
            silent = age_seconds(row["heartbeat_at"] or row["started_at"])
            if self._is_dead(conn, row, silent, timeout):
                self._finish(conn, row, JobState.FAILED, error=self._unexpected_exit_message(row, silent, timeout))
            else:
                running += 1
        self.pool.forget_dead(conn)
        for row in self.store.rows_in_state(conn, [JobState.QUEUED]):
            if running >= limit:
                break
            if not (warm and self._hand_over(conn, row, warm)):
                self._start(conn, row)
            running += 1

    def _is_dead(self, conn, row, silent: float | None, timeout: float) -> bool:
        warm = row["worker_id"]
        if silent is not None and silent > timeout:
            if row["pid"] and row["host"] == processes.hostname():  # hung: stop it
                processes.terminate_worker(row["pid"], warm or row["job_id"], grace_s=1.0,
                                           module=processes.WARM_MODULE if warm else processes.WORKER_MODULE)
            return True
        if row["host"] == processes.hostname():
            if warm:
                return not self.pool.serves(conn, warm, row["job_id"])
            return not processes.worker_alive(row["pid"], row["job_id"])
        return False  # another host's worker: only its heartbeat can tell

    @staticmethod
    def _unexpected_exit_message(row, silent: float | None, timeout: float) -> str:
        if silent is not None and silent > timeout:
            return (f"{UNEXPECTED_EXIT}: no heartbeat for {silent:.0f} s (limit BAYES_JOB_HEARTBEAT_TIMEOUT="
                    f"{timeout:g} s): the worker hung or was paused (e.g. stopped with SIGSTOP, or its machine "
                    "suspended) and was stopped. Submit the job again; see the job log for its last lines.")
        return f"{UNEXPECTED_EXIT}: {processes.exit_reason(row['pid'])}"

    def _hand_over(self, conn, row, size: int) -> bool:
        """Give the queued job to a warm worker (idle, or started now); False when all are busy."""
        transition(row["state"], JobState.RUNNING)
        try:
            worker = self.pool.take(conn, row["job_id"], size)
        except OSError as exc:
            self._finish(conn, row, JobState.FAILED, error=f"could not start a warm worker: {exc}")
            return True
        if worker is None:
            return False
        message = "warm worker starting" if worker.jobs_done == 0 else "handed to a warm worker"
        progress = {**empty_progress(), "draws_total": _progress(row).get("draws_total", 0), "phase": "starting",
                    "message": message}
        self.store.transition(row["job_id"], JobState.RUNNING, conn, started_at=now_iso(), heartbeat_at=now_iso(),
                              pid=worker.pid, host=worker.host, worker_id=worker.worker_id, progress=progress)
        return True

    def _start(self, conn, row) -> None:
        job_id = row["job_id"]
        transition(row["state"], JobState.RUNNING)
        try:
            pid = processes.spawn_worker(job_id, self.log_path(job_id), self.root)
        except OSError as exc:
            self._finish(conn, row, JobState.FAILED, error=f"could not start the worker: {exc}")
            return
        progress = {**empty_progress(), "draws_total": _progress(row).get("draws_total", 0), "phase": "starting",
                    "message": "worker starting"}
        self.store.transition(job_id, JobState.RUNNING, conn, started_at=now_iso(), heartbeat_at=now_iso(), pid=pid,
                              host=processes.hostname(), progress=progress)

    def _finish(self, conn, row, state: JobState, error: str | None = None, message: str = "") -> None:
        """Move an active job to a final state and clean up what its worker may have left.

        A worker stopped after its output was renamed into place (but before it could record that)
        left a whole run: the job is then recorded as succeeded with it, not cancelled or failed.
        """
        task = tasks.get_task(row["task"])
        progress = _progress(row)
        fields: dict[str, Any] = {"error": error}
        done = task.completed(row["model_id"], row["staged_run_id"]) if row["state"] == JobState.RUNNING else None
        if done is not None:
            state, message = JobState.SUCCEEDED, done.message
            fields = {"error": None, "run_id": done.run_id, "sampler": done.sampler, "device": done.device}
        transition(row["state"], state)
        progress.update(phase=state.value, eta_s=None, message=message or progress.get("message", ""))
        self.store.transition(row["job_id"], state, conn, finished_at=now_iso(), progress=progress, **fields)
        task.discard(row["model_id"], row["staged_run_id"])


def _progress(row) -> dict[str, Any]:
    return json.loads(row["progress"] or "{}")
