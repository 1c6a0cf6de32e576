"""The job contract shared by every runner: states, requests, the ``Job`` record, ``JobRunner``.

Pages and the CLI only ever see these; the local runner (SQLite + detached worker processes) is one
implementation, and a cluster runner (Ray) or a warm worker pool plugs in behind the same interface.

States move only through ``transition()``: ``queued → running → succeeded | failed | cancelled``
(a queued job can also be cancelled, or fail to start). The three final states are never left, as
MLflow's ``RunStatus.is_terminated`` has it: a finished job is history, not a slot to reuse.
"""

from __future__ import annotations

import base64
import re
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Mapping

from bayes_core.errors import BayesCoreError

JOB_ID_PATTERN = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{8}$")


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @classmethod
    def is_terminated(cls, state: str) -> bool:
        """True for a final state (MLflow's ``RunStatus.is_terminated``)."""
        return cls(state) in _TERMINAL


_TERMINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
# The only legal moves. A running job is never re-queued: a lost worker fails its job, with why.
_NEXT: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED, JobState.FAILED}),
    JobState.RUNNING: frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}),
    **{s: frozenset() for s in _TERMINAL},
}

JOB_STATES = tuple(s.value for s in JobState)
ACTIVE_STATES = (JobState.QUEUED.value, JobState.RUNNING.value)
FINISHED_STATES = tuple(s.value for s in JobState if s.is_terminal)


class JobNotFoundError(BayesCoreError):
    pass


class IllegalTransitionError(BayesCoreError):
    def __init__(self, current: str, new: str):
        self.current, self.new = str(current), str(new)
        allowed = ", ".join(sorted(_NEXT[JobState(current)])) or "none: it is finished"
        super().__init__(f"A {self.current} job cannot become {self.new} (allowed from {self.current}: {allowed}).")


class JobStoreError(BayesCoreError):
    """The job store cannot be used (damaged, read-only, disk full): the message says how to recover."""


class JobConfigError(BayesCoreError):
    """A job setting (environment variable or runner name) that cannot be used."""


def transition(current: str, new: str) -> JobState:
    """The one gate for every state change: returns ``new`` or raises ``IllegalTransitionError``."""
    current_state, new_state = _state(current), _state(new)
    if new_state not in _NEXT[current_state]:
        raise IllegalTransitionError(current_state, new_state)
    return new_state


def allowed_predecessors(new: str) -> tuple[str, ...]:
    """States a job may be in to move to ``new`` (the store's conditional UPDATE uses these)."""
    new_state = _state(new)
    return tuple(s.value for s in JobState if new_state in _NEXT[s])


def _state(value: str) -> JobState:
    try:
        return JobState(value)
    except ValueError:
        raise BayesCoreError(f"{value!r} is not a job state (known: {', '.join(JOB_STATES)}).") from None


def check_job_id(job_id: str) -> str:
    """Job ids name files (logs, uploads): validate the pattern before any path is built."""
    if not isinstance(job_id, str) or not JOB_ID_PATTERN.match(job_id):
        raise JobNotFoundError(f"{job_id!r} is not a valid job id (expected e.g. 20260101-120000-1a2b3c4d).")
    return job_id


def empty_progress() -> dict[str, Any]:
    return {"phase": "queued", "draws_done": 0, "draws_total": 0, "chain_draws": [], "divergences": 0,
            "elapsed_s": None, "eta_s": None, "message": ""}


# -- requests -------------------------------------------------------------------------------------
DATA_KINDS = ("example", "upload", "run")


@dataclass(frozen=True)
class JobRequest:
    """Everything a page or the CLI asks of a runner. Runners validate it before anything is queued.

    ``data`` is ``{"kind": "example"}``, ``{"kind": "upload", "content": <bytes>, "filename": ...}``
    or ``{"kind": "run", "run_id": ...}`` (an earlier run's data snapshot; ``run_id`` may be any run
    reference — an alias, latest, ... — and is resolved to the run id when the request is made, so
    the job trains on the run it named then even if an alias moves); build it with
    ``example_data()``, ``uploaded_data()`` or ``run_data()``. ``priors`` overrides prior
    hyper-parameters by name; ``params`` holds what only the task reads (e.g. SBC's simulations).
    """

    model_id: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    data: Mapping[str, Any] = field(default_factory=lambda: {"kind": "example"})
    priors: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    task: str = "train"

    def __post_init__(self) -> None:
        for name in ("settings", "options", "data", "priors", "params"):
            value = getattr(self, name)
            if value is None:
                object.__setattr__(self, name, {"kind": "example"} if name == "data" else {})
            elif not isinstance(value, Mapping):
                raise BayesCoreError(f"JobRequest.{name} must be a mapping, not {type(value).__name__}.")
        kind = self.data.get("kind")
        if kind not in DATA_KINDS:
            raise BayesCoreError(f"JobRequest.data kind {kind!r} is not one of {', '.join(DATA_KINDS)}.")
        if kind == "upload" and not isinstance(self.data.get("content"), bytes):
            raise BayesCoreError("An uploaded data set needs its CSV bytes as data['content'].")
        if kind == "run" and not isinstance(self.data.get("run_id"), str):
            raise BayesCoreError("Data of an earlier run needs data['run_id'].")
        if kind == "run":
            from bayes_core.runs import refs

            object.__setattr__(self, "data", {**self.data, "run_id": refs.resolve(self.model_id, self.data["run_id"])})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy (uploaded bytes as base64): how a request travels to a remote runner."""
        data = dict(self.data)
        if "content" in data:
            data["content"] = base64.b64encode(data["content"]).decode("ascii")
        return {"task": self.task, "model_id": self.model_id, "settings": dict(self.settings),
                "options": dict(self.options), "data": data, "priors": dict(self.priors),
                "params": dict(self.params)}

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> "JobRequest":
        data = dict(payload.get("data") or {"kind": "example"})
        if isinstance(data.get("content"), str):
            data["content"] = base64.b64decode(data["content"])
        return cls(model_id=payload["model_id"], settings=payload.get("settings") or {},
                   options=payload.get("options") or {}, data=data, priors=payload.get("priors") or {},
                   params=payload.get("params") or {}, task=payload.get("task") or "train")


def example_data() -> dict[str, Any]:
    return {"kind": "example"}


def uploaded_data(content: bytes, filename: str | None = None) -> dict[str, Any]:
    return {"kind": "upload", "content": content, "filename": filename}


def run_data(ref: str, model_id: str | None = None) -> dict[str, Any]:
    """An earlier run's data snapshot; ``ref`` is a run id or any run reference (resolved by the
    request, or here when ``model_id`` is given)."""
    if model_id is not None:
        from bayes_core.runs import refs

        ref = refs.resolve(model_id, ref)
    return {"kind": "run", "run_id": ref}


# -- jobs -----------------------------------------------------------------------------------------
@dataclass
class Job:
    """One background job, as stored. Times are ISO-8601 strings in UTC.

    ``runner`` names the runner that owns it (``local``, later ``ray``); ``external_id`` is that
    runner's own id for it (None locally, Ray's submission id on a cluster).
    """

    job_id: str
    model_id: str
    state: JobState
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
    task: str = "train"
    priors: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    runner: str = "local"
    external_id: str | None = None

    def __post_init__(self) -> None:
        self.state = _state(self.state)

    @property
    def is_active(self) -> bool:
        return not self.state.is_terminal

    @property
    def fraction(self) -> float:
        total = self.progress.get("draws_total") or 0
        return min(1.0, (self.progress.get("draws_done") or 0) / total) if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["state"] = self.state.value
        return values


class JobRunner(ABC):
    """Submit, observe and cancel background jobs.

    ``submit`` validates everything it can (model, options, settings, device, data, priors) and
    raises the core's errors before anything is queued, so a bad job never appears in ``list``.
    Every method may raise ``JobStoreError`` (a damaged or unwritable store) with how to recover.
    """

    #: The name ``BAYES_JOB_RUNNER`` selects this runner by; stored on every job it owns.
    name: str = ""

    @abstractmethod
    def submit(self, request: JobRequest) -> Job: ...

    @abstractmethod
    def status(self, job_id: str) -> Job: ...

    @abstractmethod
    def list(self, model_id: str | None = None, limit: int = 100) -> list[Job]: ...

    @abstractmethod
    def cancel(self, job_id: str) -> Job: ...

    @abstractmethod
    def logs(self, job_id: str, tail_lines: int = 200) -> str: ...
