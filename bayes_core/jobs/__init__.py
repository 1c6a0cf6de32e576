"""Background training jobs: durable (SQLite), observable (live progress), cancellable.

``get_runner()`` is the only entry point pages and the CLI need; it returns a ``JobRunner``
(today the ``LocalJobRunner``: detached worker processes on this machine).
"""

from __future__ import annotations

from bayes_core.jobs.api import (ACTIVE_STATES, FINISHED_STATES, JOB_STATES, Job, JobNotFoundError, JobRunner,
                                 check_job_id)
from bayes_core.jobs.local import LocalJobRunner, max_jobs

__all__ = ["ACTIVE_STATES", "FINISHED_STATES", "JOB_STATES", "Job", "JobNotFoundError", "JobRunner",
           "LocalJobRunner", "check_job_id", "get_runner", "max_jobs"]


def get_runner() -> JobRunner:
    """The job runner for the current artifacts root (``BAYES_ARTIFACTS_DIR``)."""
    return LocalJobRunner()
