"""Durable job rows in SQLite (``<artifacts>/jobs.sqlite3``, WAL mode).

Every call opens a short-lived connection, so one store object is safe to share between threads,
and any number of app sessions and workers can use the file at once. State changes that must not
race (promoting queued jobs, marking dead workers) run inside ``transaction()``, which takes
SQLite's write lock up front (``BEGIN IMMEDIATE``): two processes never both start the same slot.

A state changes only through ``transition()``: a conditional UPDATE whose WHERE clause holds the
states ``api.transition`` allows before the new one, so the move is checked and atomic at once.
Every SQLite failure (a damaged file, a read-only folder, a full disk) becomes a ``JobStoreError``
that says how to recover. The schema is (re)applied whenever the file is new to this object, so a
store moved aside is recreated on next use, also by a long-lived (cached) runner.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from bayes_core import artifacts
from bayes_core.errors import BayesCoreError
from bayes_core.jobs.api import (ACTIVE_STATES, Job, JobNotFoundError, JobState, JobStoreError, allowed_predecessors,
                                 check_job_id)

DB_FILE = "jobs.sqlite3"
_JSON_COLUMNS = ("settings", "options", "data_ref", "progress", "priors", "params")
_JOB_COLUMNS = tuple(Job.__dataclass_fields__)
# Internal columns, not part of the Job contract: the run id the worker stages under, and a flag
# that tells a worker (and a crash sweep) that the user asked to cancel.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL UNIQUE,
    model_id TEXT NOT NULL,
    state TEXT NOT NULL,
    settings TEXT NOT NULL,
    options TEXT NOT NULL,
    data_ref TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    pid INTEGER,
    host TEXT,
    progress TEXT NOT NULL,
    heartbeat_at TEXT,
    error TEXT,
    run_id TEXT,
    log_path TEXT,
    sampler TEXT,
    device TEXT,
    staged_run_id TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, seq);
CREATE INDEX IF NOT EXISTS jobs_by_model ON jobs (model_id, seq);
-- Warm workers (bayes_core.jobs.pool): one row per live long-lived worker process, by its own id;
-- state idle | busy (job_id: the job handed to it). A worker removes its row as it exits.
CREATE TABLE IF NOT EXISTS warm_workers (
    worker_id TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    state TEXT NOT NULL,
    job_id TEXT,
    started_at TEXT NOT NULL,
    seen_at TEXT,
    jobs_done INTEGER NOT NULL DEFAULT 0,
    rss_mb REAL,
    rss_at TEXT
);
"""
# Columns added after the first release: added in place to an older store.
_ADDED_COLUMNS = {
    "task": "TEXT NOT NULL DEFAULT 'train'",
    "priors": "TEXT NOT NULL DEFAULT '{}'",
    "params": "TEXT NOT NULL DEFAULT '{}'",
    "runner": "TEXT NOT NULL DEFAULT 'local'",
    "external_id": "TEXT",
    "worker_id": "TEXT",  # internal: the warm worker a job was handed to (None: a one-job worker)
}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def age_seconds(iso: str | None) -> float | None:
    if not iso:
        return None
    return (datetime.now(timezone.utc) - datetime.fromisoformat(iso)).total_seconds()


def store_error(path: Path, exc: BaseException) -> JobStoreError:
    """A message for an SQLite or filesystem failure that says what is wrong and how to recover."""
    text = str(exc)
    lowered = text.lower()
    aside = (f"Move it aside (e.g. `mv {path} {path}.broken`); a new, empty job store is created on next use "
             f"(the job history is lost; trained runs are not).")
    if isinstance(exc, (json.JSONDecodeError, BayesCoreError)) or "not a database" in lowered \
            or "malformed" in lowered or "no such table" in lowered or "no such column" in lowered:
        return JobStoreError(f"The job store {path} is damaged ({text}). {aside}")
    if "full" in lowered or getattr(exc, "errno", None) == 28:
        return JobStoreError(f"The disk holding the job store {path} is full ({text}). Free some space and "
                             "try again.")
    if "readonly" in lowered or "read-only" in lowered or "unable to open" in lowered \
            or isinstance(exc, PermissionError):
        return JobStoreError(f"Cannot write the job store {path} ({text}). Make {path.parent} writable, or set "
                             "BAYES_ARTIFACTS_DIR to a writable folder.")
    if "locked" in lowered or "busy" in lowered:
        return JobStoreError(f"The job store {path} stayed locked by another process for 30 s ({text}). "
                             "Try again; if it persists, stop stray workers (`python -m bayes_core jobs list`).")
    if "disk i/o" in lowered:
        return JobStoreError(f"The disk holding the job store {path} failed a read or write ({text}): check that "
                             "it is not full or removed, then try again. If the error stays, " + aside[0].lower()
                             + aside[1:])
    return JobStoreError(f"The job store {path} cannot be used ({type(exc).__name__}: {text}). {aside}")


class JobStore:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else artifacts.artifacts_root() / DB_FILE
        self._ready_for: tuple[int, int] | None = None  # (device, inode) of the file the schema was applied to
        self._ready_lock = threading.Lock()

    # -- connections ---------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _ensure_schema(self) -> None:
        """Create the folder, file and schema once per file (again if the file was replaced)."""
        identity = _file_identity(self.path)
        if identity is not None and identity == self._ready_for:
            return
        with self._ready_lock:
            folder = self.path.parent
            if folder.exists() and not folder.is_dir():
                raise JobStoreError(f"The artifacts folder {folder} is a file, not a folder: set "
                                    "BAYES_ARTIFACTS_DIR to a folder (or move the file away).")
            if self.path.is_dir():
                raise JobStoreError(f"The job store {self.path} is a folder, not a file: move it aside; a new "
                                    "job store is created on next use.")
            folder.mkdir(parents=True, exist_ok=True)
            self._apply_schema()
            self._ready_for = _file_identity(self.path)

    def _apply_schema(self) -> None:
        conn = self._connect()
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            present = {row["name"] for row in conn.execute("PRAGMA table_info(jobs)")}
            for column, ddl in _ADDED_COLUMNS.items():
                if column not in present:
                    conn.execute(f"ALTER TABLE jobs ADD COLUMN {column} {ddl}")
        finally:
            conn.close()

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        try:
            self._ensure_schema()
            conn = self._connect()
        except JobStoreError:
            raise
        except (sqlite3.Error, OSError) as exc:
            raise store_error(self.path, exc) from exc
        try:
            yield conn
        except (sqlite3.Error, json.JSONDecodeError) as exc:
            raise store_error(self.path, exc) from exc
        finally:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding SQLite's write lock from its first statement."""
        with self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # -- rows ----------------------------------------------------------------------------------
    def _to_job(self, row: sqlite3.Row) -> Job:
        try:
            values = {k: row[k] for k in _JOB_COLUMNS}
            for k in _JSON_COLUMNS:
                values[k] = json.loads(values[k]) if values[k] else {}
            return Job(**values)
        except (json.JSONDecodeError, BayesCoreError, IndexError, TypeError) as exc:
            raise store_error(self.path, exc) from exc

    @staticmethod
    def _encode(fields: dict[str, Any]) -> dict[str, Any]:
        return {k: json.dumps(v) if k in _JSON_COLUMNS else (v.value if isinstance(v, JobState) else v)
                for k, v in fields.items()}

    def insert(self, job: Job) -> None:
        values = self._encode(job.to_dict())
        cols = ", ".join(values)
        marks = ", ".join(f":{k}" for k in values)
        with self.connection() as conn:
            conn.execute(f"INSERT INTO jobs ({cols}) VALUES ({marks})", values)

    def get(self, job_id: str, conn: sqlite3.Connection | None = None) -> Job:
        row = self.get_row(job_id, conn)
        return self._to_job(row)

    def get_row(self, job_id: str, conn: sqlite3.Connection | None = None) -> sqlite3.Row:
        check_job_id(job_id)
        if conn is None:
            with self.connection() as own:
                return self.get_row(job_id, own)
        row = conn.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFoundError(f"No job {job_id}. List jobs with `python -m bayes_core jobs list`.")
        return row

    def list(self, model_id: str | None = None, limit: int = 100) -> list[Job]:
        sql, args = "SELECT * FROM jobs", []
        if model_id is not None:
            sql, args = sql + " WHERE model_id = ?", [model_id]
        with self.connection() as conn:
            rows = conn.execute(sql + " ORDER BY seq DESC LIMIT ?", [*args, int(limit)]).fetchall()
        return [self._to_job(r) for r in rows]

    def rows_in_state(self, conn: sqlite3.Connection, states: Iterable[str]) -> list[sqlite3.Row]:
        states = [str(s) for s in states]
        marks = ", ".join("?" for _ in states)
        return conn.execute(f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY seq", states).fetchall()

    def count_active(self) -> int:
        marks = ", ".join("?" for _ in ACTIVE_STATES)
        with self.connection() as conn:
            return conn.execute(f"SELECT COUNT(*) FROM jobs WHERE state IN ({marks})", ACTIVE_STATES).fetchone()[0]

    def update(self, job_id: str, conn: sqlite3.Connection | None = None, *, only_if_state: Iterable[str] | None = None,
               **fields: Any) -> bool:
        """Set ``fields`` (never the state: see ``transition``); with ``only_if_state`` only while the
        job is in one of those states. Returns whether a row changed."""
        if "state" in fields:
            raise ValueError("job states change only through JobStore.transition()")
        return self._update(job_id, conn, only_if_state, fields)

    def transition(self, job_id: str, new: str, conn: sqlite3.Connection | None = None, **fields: Any) -> bool:
        """Move the job to ``new`` (and set ``fields``) if ``api.transition`` allows it from the job's
        current state. Atomic: the allowed predecessors are the UPDATE's condition. Returns whether the
        job moved (False when another process moved it first, e.g. a cancel beat a finishing worker)."""
        new_state = JobState(new)
        return self._update(job_id, conn, allowed_predecessors(new_state), {**fields, "state": new_state})

    def _update(self, job_id: str, conn: sqlite3.Connection | None, only_if_state: Iterable[str] | None,
                fields: dict[str, Any]) -> bool:
        if conn is None:
            with self.connection() as own:
                return self._update(job_id, own, only_if_state, fields)
        values = self._encode(fields)
        sets = ", ".join(f"{k} = :{k}" for k in values)
        sql = f"UPDATE jobs SET {sets} WHERE job_id = :_job_id"
        values["_job_id"] = job_id
        if only_if_state is not None:
            states = [str(s) for s in only_if_state]
            sql += f" AND state IN ({', '.join(f':_s{i}' for i in range(len(states)))})"
            values.update({f"_s{i}": s for i, s in enumerate(states)})
        return conn.execute(sql, values).rowcount > 0


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino
