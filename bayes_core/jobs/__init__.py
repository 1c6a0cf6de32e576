"""Background jobs: durable, observable (live progress), cancellable.

``get_runner()`` is the only entry point pages and the CLI need: it returns the ``JobRunner`` that
``BAYES_JOB_RUNNER`` names (default ``local``: detached worker processes on this machine), one
instance per runner name and artifacts root. Jobs are asked for with a ``JobRequest``.
"""

from __future__ import annotations

import importlib
import os
import threading
from pathlib import Path

from bayes_core import artifacts
from bayes_core.jobs.api import (ACTIVE_STATES, FINISHED_STATES, JOB_STATES, IllegalTransitionError, Job,
                                 JobConfigError, JobNotFoundError, JobRequest, JobRunner, JobState, JobStoreError,
                                 check_job_id, example_data, run_data, transition, uploaded_data)
from bayes_core.jobs.local import LocalJobRunner, max_jobs

__all__ = ["ACTIVE_STATES", "FINISHED_STATES", "JOB_STATES", "IllegalTransitionError", "Job", "JobConfigError",
           "JobNotFoundError", "JobRequest", "JobRunner", "JobState", "JobStoreError", "LocalJobRunner", "RUNNERS",
           "check_job_id", "example_data", "get_runner", "max_jobs", "run_data", "transition", "uploaded_data"]

# Runner name → "module:callable" taking the artifacts root. Imported only when selected, so an
# optional runner's dependencies (Ray) load only for those who choose it. A new runner is one line.
RUNNERS: dict[str, str] = {
    "local": "bayes_core.jobs.local:LocalJobRunner",
    "ray": "bayes_core.jobs.ray:RayJobRunner",
}
DEFAULT_RUNNER = "local"

_cache: dict[tuple[str, Path], JobRunner] = {}
_cache_lock = threading.Lock()


def runner_name() -> str:
    """``BAYES_JOB_RUNNER`` (default ``local``); an unknown name is refused listing the known ones."""
    name = (os.environ.get("BAYES_JOB_RUNNER") or DEFAULT_RUNNER).strip().lower()
    if name not in RUNNERS:
        raise JobConfigError(f"BAYES_JOB_RUNNER={name!r} is not a job runner; known runners: "
                             f"{', '.join(sorted(RUNNERS))}. Unset it to use the local runner.")
    return name


def get_runner() -> JobRunner:
    """The job runner for ``BAYES_JOB_RUNNER`` and the current artifacts root (``BAYES_ARTIFACTS_DIR``),
    created once per (runner, root) and then reused: no store is reopened per call."""
    name = runner_name()
    root = artifacts.artifacts_root().absolute()
    key = (name, root)
    runner = _cache.get(key)
    if runner is None:
        with _cache_lock:
            runner = _cache.get(key)
            if runner is None:
                module, _, attr = RUNNERS[name].partition(":")
                factory = getattr(importlib.import_module(module), attr)
                runner = _cache[key] = factory(root)
    return runner
