"""Durable job rows in SQLite (``<artifacts>/jobs.sqlite3``, WAL mode).

Every call opens a short-lived connection, so one store object is safe to share between threads,
and any number of app sessions and workers can use the file at once. State changes that must not
race (promoting queued jobs, marking dead workers) run inside ``transaction()``, which takes
SQLite's write lock up front (``BEGIN IMMEDIATE``): two processes never both start the same slot.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from bayes_core import artifacts
from bayes_core.jobs.api import Job, JobNotFoundError, check_job_id

DB_FILE = "jobs.sqlite3"
_JSON_COLUMNS = ("settings", "options", "data_ref", "progress")
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
"""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def age_seconds(iso: str | None) -> float | None:
    if not iso:
        return None
    return (datetime.now(timezone.utc) - datetime.fromisoformat(iso)).total_seconds()


class JobStore:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else artifacts.artifacts_root() / DB_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            yield conn
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
    @staticmethod
    def _to_job(row: sqlite3.Row) -> Job:
        values = {k: row[k] for k in _JOB_COLUMNS}
        for k in _JSON_COLUMNS:
            values[k] = json.loads(values[k]) if values[k] else {}
        return Job(**values)

    @staticmethod
    def _encode(fields: dict[str, Any]) -> dict[str, Any]:
        return {k: json.dumps(v) if k in _JSON_COLUMNS else v for k, v in fields.items()}

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
        states = list(states)
        marks = ", ".join("?" for _ in states)
        return conn.execute(f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY seq", states).fetchall()

    def count_active(self) -> int:
        with self.connection() as conn:
            return conn.execute("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')").fetchone()[0]

    def update(self, job_id: str, conn: sqlite3.Connection | None = None, *, only_if_state: Iterable[str] | None = None,
               **fields: Any) -> bool:
        """Set ``fields``; with ``only_if_state`` only while the job is in one of those states.
        Returns whether a row changed (a conditional transition is atomic)."""
        if conn is None:
            with self.connection() as own:
                return self.update(job_id, own, only_if_state=only_if_state, **fields)
        values = self._encode(fields)
        sets = ", ".join(f"{k} = :{k}" for k in values)
        sql = f"UPDATE jobs SET {sets} WHERE job_id = :_job_id"
        values["_job_id"] = job_id
        if only_if_state is not None:
            states = list(only_if_state)
            sql += f" AND state IN ({', '.join(f':_s{i}' for i in range(len(states)))})"
            values.update({f"_s{i}": s for i, s in enumerate(states)})
        return conn.execute(sql, values).rowcount > 0
