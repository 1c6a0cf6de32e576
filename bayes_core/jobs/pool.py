"""The local runner's warm workers: their settings, their rows in the job store, hand-over and stop.

A warm worker (``bayes_core.jobs.warm``) is a long-lived process with the scientific stack imported
and compiled models kept, so a second training of a small model takes about a second instead of
the tens of seconds an import and a compile cost. There is no daemon: the runner's ``sweep()``
hands a queued job to an idle warm worker — or starts one while fewer than ``BAYES_WARM_WORKERS``
live — inside the same SQLite write transaction that moves the job ``queued → running`` with the
worker's pid, host and id. Workers are found by their row (``warm_workers``) and stopped by its
pid, after checking that the pid still runs ``bayes_core.jobs.warm <worker_id>``; never by name.

Settings (environment, read on every sweep; a bad value is a ``JobConfigError``):
``BAYES_WARM_WORKERS`` (default 1; 0 = one process per job, as before), ``BAYES_WARM_IDLE``
(seconds an idle worker waits before it exits; default 900), ``BAYES_WARM_MAX_RSS_MB`` (a worker
whose memory grew past this after a job is replaced; default 2048).
"""

from __future__ import annotations

import math
import os
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bayes_core.jobs import processes
from bayes_core.jobs.api import JobConfigError
from bayes_core.jobs.store import JobStore, now_iso

DEFAULT_WARM_WORKERS = 1
DEFAULT_IDLE_S = 900.0
DEFAULT_MAX_RSS_MB = 2048.0
#: How long a cancelled job's warm worker may take to stop it by itself before it is killed (and
#: replaced by the next job that needs one): with the kill, a cancel ends within 5 s.
CANCEL_GRACE_S = 2.5
WARM_LOGS_DIR = "jobs/warm"
IDLE, BUSY = "idle", "busy"


# -- settings ----------------------------------------------------------------------------------------
def _env_number(name: str, default: float, ok: Callable[[float], bool], what: str, integer: bool = False) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(int(raw)) if integer else float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not ok(value):
        raise JobConfigError(f"{name}={raw!r} is not {what}. Set it to e.g. {default:g} (the default), or unset it.")
    return value


def warm_workers() -> int:
    """``BAYES_WARM_WORKERS``: how many warm workers may live (0: one process per job, as before)."""
    return int(_env_number("BAYES_WARM_WORKERS", DEFAULT_WARM_WORKERS, lambda v: v >= 0,
                           "a whole number ≥ 0 (how many warm workers may run; 0 starts one process per job)",
                           integer=True))


def idle_seconds() -> float:
    """``BAYES_WARM_IDLE``: seconds an idle warm worker waits for a job before it exits."""
    return _env_number("BAYES_WARM_IDLE", DEFAULT_IDLE_S, lambda v: v > 0,
                       "a number of seconds > 0 (how long an idle warm worker waits before it exits)")


def max_rss_mb() -> float:
    """``BAYES_WARM_MAX_RSS_MB``: a warm worker using more memory than this after a job is replaced."""
    return _env_number("BAYES_WARM_MAX_RSS_MB", DEFAULT_MAX_RSS_MB, lambda v: v > 0,
                       "a number of megabytes > 0 (the memory after which a warm worker is replaced)")


def check_settings() -> int:
    """Every warm setting checked (a bad one raises ``JobConfigError``); returns the pool size."""
    idle_seconds()
    max_rss_mb()
    return warm_workers()


# -- the workers' rows ------------------------------------------------------------------------------
@dataclass(frozen=True)
class WarmWorker:
    worker_id: str
    pid: int
    host: str
    state: str
    job_id: str | None
    started_at: str
    seen_at: str | None
    jobs_done: int
    rss_mb: float | None  # resident memory after its garbage was last collected (rss_at)
    rss_at: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "WarmWorker":
        return cls(**{k: row[k] for k in cls.__dataclass_fields__})

    @property
    def is_local(self) -> bool:
        return self.host == processes.hostname()


class WarmPool:
    """The warm workers recorded in one job store (on this host)."""

    def __init__(self, store: JobStore):
        self.store = store
        self.root = store.path.parent

    def log_path(self, worker_id: str) -> Path:
        return self.root / WARM_LOGS_DIR / f"{worker_id}.log"

    # -- reads -----------------------------------------------------------------------------------
    def workers(self, conn: sqlite3.Connection | None = None) -> list[WarmWorker]:
        if conn is None:
            with self.store.connection() as own:
                return self.workers(own)
        rows = conn.execute("SELECT * FROM warm_workers ORDER BY started_at").fetchall()
        return [WarmWorker.from_row(r) for r in rows]

    def get(self, worker_id: str, conn: sqlite3.Connection | None = None) -> WarmWorker | None:
        if conn is None:
            with self.store.connection() as own:
                return self.get(worker_id, own)
        row = conn.execute("SELECT * FROM warm_workers WHERE worker_id = ?", (worker_id,)).fetchone()
        return WarmWorker.from_row(row) if row is not None else None

    @staticmethod
    def alive(worker: WarmWorker) -> bool:
        """Is the worker's process still running (checked here only for a worker on this host)?"""
        return not worker.is_local or processes.worker_alive(worker.pid, worker.worker_id, processes.WARM_MODULE)

    def serves(self, conn: sqlite3.Connection, worker_id: str, job_id: str) -> bool:
        """Is the warm worker ``worker_id`` alive and still holding ``job_id``?"""
        worker = self.get(worker_id, conn)
        return worker is not None and worker.job_id == job_id and self.alive(worker)

    # -- hand-over -------------------------------------------------------------------------------
    def forget_dead(self, conn: sqlite3.Connection) -> None:
        """Remove the rows of workers on this host whose process is gone (killed or crashed)."""
        for worker in self.workers(conn):
            if worker.is_local and not self.alive(worker):
                self.forget(conn, worker.worker_id)

    def take(self, conn: sqlite3.Connection, job_id: str, size: int) -> WarmWorker | None:
        """A warm worker for ``job_id``, marked busy with it: an idle live one, else a new one while
        fewer than ``size`` live; None when every worker is busy. Call inside the write transaction
        that moves the job to running with the worker's pid, host and id."""
        live = [w for w in self.workers(conn) if w.is_local and self.alive(w)]
        idle = next((w for w in live if w.state == IDLE), None)
        if idle is not None:
            conn.execute("UPDATE warm_workers SET state = ?, job_id = ? WHERE worker_id = ?", (BUSY, job_id,
                                                                                            idle.worker_id))
            return self.get(idle.worker_id, conn)
        if len(live) >= size:
            return None
        worker_id = secrets.token_hex(6)
        pid = processes.spawn_module(processes.WARM_MODULE, worker_id, self.log_path(worker_id), self.root)
        conn.execute("INSERT INTO warm_workers (worker_id, pid, host, state, job_id, started_at, seen_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)", (worker_id, pid, processes.hostname(), BUSY, job_id, now_iso(),
                                                      now_iso()))
        return self.get(worker_id, conn)

    # -- what a worker records about itself -------------------------------------------------------
    @staticmethod
    def release(conn: sqlite3.Connection, worker_id: str, job_id: str) -> None:
        """The worker is done with ``job_id`` and idle: called in the transaction that records the
        job's outcome, so whoever sees the job finished also sees its worker free for the next."""
        conn.execute("UPDATE warm_workers SET state = ?, job_id = NULL, jobs_done = jobs_done + 1, seen_at = ? "
                     "WHERE worker_id = ? AND job_id = ?", (IDLE, now_iso(), worker_id, job_id))

    def retire_if_idle(self, worker_id: str) -> bool:
        """Remove an idle worker's row (it exits); False when a job was handed to it meanwhile."""
        with self.store.transaction() as conn:
            worker = self.get(worker_id, conn)
            if worker is not None and (worker.state != IDLE or worker.job_id):
                return False
            self.forget(conn, worker_id)
            return True

    def seen(self, worker_id: str, rss_mb: float | None = None) -> None:
        """The worker is alive (and, with ``rss_mb``, has just collected its garbage: its memory now)."""
        now = now_iso()
        with self.store.connection() as conn:
            if rss_mb is None:
                conn.execute("UPDATE warm_workers SET seen_at = ? WHERE worker_id = ?", (now, worker_id))
            else:
                conn.execute("UPDATE warm_workers SET seen_at = ?, rss_mb = ?, rss_at = ? WHERE worker_id = ?",
                             (now, rss_mb, now, worker_id))

    @staticmethod
    def forget(conn: sqlite3.Connection, worker_id: str) -> None:
        conn.execute("DELETE FROM warm_workers WHERE worker_id = ?", (worker_id,))

    # -- stopping ------------------------------------------------------------------------------
    def stop(self, worker: WarmWorker, grace_s: float = 1.0) -> bool:
        """Stop a worker on this host by its recorded pid (SIGTERM, SIGKILL after ``grace_s``) and
        remove its row; True once it is gone."""
        gone = processes.terminate_worker(worker.pid, worker.worker_id, grace_s=grace_s,
                                          module=processes.WARM_MODULE) if worker.is_local else False
        if gone:
            with self.store.transaction() as conn:
                self.forget(conn, worker.worker_id)
        return gone

    def stop_all(self, grace_s: float = 1.0) -> int:
        """Stop every warm worker of this store on this host; returns how many were stopped."""
        stopped = 0
        for worker in self.workers():
            if worker.is_local:
                stopped += self.stop(worker, grace_s)
        processes.reap_children()
        return stopped


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds or ``timeout_s`` passes; returns whether it held."""
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)
