"""The job contract shared by every runner: the ``Job`` record and the ``JobRunner`` interface.

Pages and the CLI only ever see these two; the local runner (SQLite + detached worker processes)
is one implementation, and a cluster runner can be added behind the same interface later.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any

from bayes_core.errors import BayesCoreError

JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
ACTIVE_STATES = ("queued", "running")
FINISHED_STATES = ("succeeded", "failed", "cancelled")
JOB_ID_PATTERN = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{8}$")


class JobNotFoundError(BayesCoreError):
    pass


def check_job_id(job_id: str) -> str:
    """Job ids name files (logs, uploads): validate the pattern before any path is built."""
    if not isinstance(job_id, str) or not JOB_ID_PATTERN.match(job_id):
        raise JobNotFoundError(f"{job_id!r} is not a valid job id (expected e.g. 20260101-120000-1a2b3c4d).")
    return job_id


def empty_progress() -> dict[str, Any]:
    return {"phase": "queued", "draws_done": 0, "draws_total": 0, "chain_draws": [], "divergences": 0,
            "elapsed_s": None, "eta_s": None, "message": ""}


@dataclass
class Job:
    """One background training job, as stored. Times are ISO-8601 strings in UTC."""

    job_id: str
    model_id: str
    state: str
    settings: dict[str, Any]
    options: dict[str, Any]
    # {"kind": "example"} | {"kind": "upload", "path": ..., "filename": ...} | {"kind": "run", "run_id": ...}
    data_ref: dict[str, Any]
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    pid: int | None = None
    host: str | None = None
    progress: dict[str, Any] = field(default_factory=empty_progress)
    heartbeat_at: str | None = None
    error: str | None = None
    run_id: str | None = None
    log_path: str | None = None
    sampler: str | None = None
    device: str | None = None

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def fraction(self) -> float:
        total = self.progress.get("draws_total") or 0
        return min(1.0, (self.progress.get("draws_done") or 0) / total) if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class JobRunner(ABC):
    """Submit, observe and cancel background training jobs.

    ``submit`` validates everything it can (model, options, settings, device, data) and raises the
    core's errors before anything is queued, so a bad job never appears in ``list``.
    """

    @abstractmethod
    def submit(self, model_id: str, settings: dict[str, Any], options: dict[str, Any] | None = None,
               data_csv: bytes | None = None, data_run_id: str | None = None) -> Job: ...

    @abstractmethod
    def status(self, job_id: str) -> Job: ...

    @abstractmethod
    def list(self, model_id: str | None = None, limit: int = 100) -> list[Job]: ...

    @abstractmethod
    def cancel(self, job_id: str) -> Job: ...

    @abstractmethod
    def logs(self, job_id: str, tail_lines: int = 200) -> str: ...
