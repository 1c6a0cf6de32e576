"""Jobs as small JSON files on shared storage: how a cluster runner and its workers talk.

SQLite's locking is unsafe on a network filesystem, so a cluster runner keeps no database. Under the
artifacts root (``BAYES_ARTIFACTS_DIR``, which every node of a cluster mounts at the same path):

    jobs/<job_id>/job.json     the job record; written by the app's runner only (the worker reads its
                               spec from it once, at start)
    jobs/<job_id>/state.json   what the worker reports: where it runs, its staged output, its progress
                               (the heartbeat, every second) and finally its outcome; written by the
                               worker only
    jobs/<job_id>/cancel       present once a cancel was asked for; the worker's heartbeat looks for it
    jobs/<job_id>/worker.log   the worker's own log lines, kept when the cluster forgets the job

Each file has one writer and is replaced whole (a temporary file in the same folder, then
``os.replace``), so a reader sees the old or the new content, never half of one.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

from bayes_core.jobs.api import Job, JobNotFoundError, JobStoreError, check_job_id
from bayes_core.jobs.processes import hostname
from bayes_core.jobs.store import now_iso
from bayes_core.jobs.worker import Outcome, Reporter

JOBS_DIR = "jobs"
JOB_FILE, STATE_FILE, CANCEL_FILE, WORKER_LOG = "job.json", "state.json", "cancel", "worker.log"


def write_json(path: Path, payload: Any) -> None:
    """Replace ``path`` whole with ``payload`` as JSON (temporary file + rename, same folder)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(payload, default=str), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise JobStoreError(f"Cannot write {path} ({exc.strerror or exc}): make the artifacts folder "
                            f"{path.parents[2]} writable (on a cluster: the shared volume) and try again.") from exc


def read_json(path: Path) -> Any | None:
    """The JSON in ``path``; None when there is no such file."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise JobStoreError(f"The job file {path} cannot be read ({exc}). Move its folder {path.parent} aside "
                            "(that job's record is lost; trained runs are not).") from exc


class JobFiles:
    """The files of one job under an artifacts root."""

    def __init__(self, root: Path, job_id: str):
        self.job_id = check_job_id(job_id)
        self.dir = Path(root) / JOBS_DIR / job_id

    @property
    def job_path(self) -> Path:
        return self.dir / JOB_FILE

    @property
    def state_path(self) -> Path:
        return self.dir / STATE_FILE

    @property
    def log_path(self) -> Path:
        return self.dir / WORKER_LOG

    def read_job(self) -> Job:
        values = read_json(self.job_path)
        if values is None:
            raise JobNotFoundError(f"No job {self.job_id}. List jobs with `python -m bayes_core jobs list`.")
        try:
            return Job(**values)
        except (TypeError, ValueError) as exc:
            raise JobStoreError(f"The job file {self.job_path} is damaged ({exc}). Move {self.dir} aside (that "
                                "job's record is lost; trained runs are not).") from exc

    def write_job(self, job: Job) -> None:
        write_json(self.job_path, job.to_dict())

    def read_state(self) -> dict[str, Any]:
        try:
            return read_json(self.state_path) or {}
        except JobStoreError:
            return {}  # the worker's report is advisory: the job file and the cluster still say where it is

    def write_state(self, state: dict[str, Any]) -> None:
        write_json(self.state_path, state)

    def request_cancel(self) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            (self.dir / CANCEL_FILE).touch()
        except OSError as exc:
            raise JobStoreError(f"Cannot mark job {self.job_id} cancelled in {self.dir} ({exc.strerror or exc}): "
                                "make the artifacts folder writable and try again.") from exc

    def cancel_requested(self) -> bool:
        return (self.dir / CANCEL_FILE).exists()

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def job_ids(root: Path) -> list[str]:
    """Ids of the jobs kept under ``root``, newest first (ids start with their UTC creation time)."""
    folder = Path(root) / JOBS_DIR
    try:
        names = [p.name for p in folder.iterdir() if p.is_dir()]
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise JobStoreError(f"Cannot list the jobs in {folder} ({exc.strerror or exc}): check that the artifacts "
                            "folder (on a cluster: the shared volume) is mounted and readable.") from exc
    ids = []
    for name in names:
        try:
            ids.append(check_job_id(name))
        except JobNotFoundError:
            continue  # not a job folder (e.g. left by something else): ignored
    return sorted(ids, reverse=True)


class FileReporter(Reporter):
    """A cluster worker's reporter: the job's ``state.json`` (whole, replaced on every report) and
    its ``cancel`` flag. Safe from the worker's two threads (the task's and the heartbeat's)."""

    def __init__(self, files: JobFiles):
        self.files = files
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {"started_at": now_iso(), "heartbeat_at": now_iso(), "pid": os.getpid(),
                                       "host": hostname()}
        self.files.write_state(self._state)

    def _update(self, **fields: Any) -> None:
        with self._lock:
            self._state.update(fields)
            self.files.write_state(dict(self._state))

    def staging(self, output_id: str) -> None:
        self._update(staged_output_id=output_id)

    def progress(self, snapshot: dict[str, Any]) -> None:
        self._update(progress=snapshot, heartbeat_at=now_iso())

    def cancel_requested(self) -> bool:
        return self.files.cancel_requested()

    def finish(self, outcome: Outcome) -> None:
        self._update(progress=outcome.progress, heartbeat_at=now_iso(), finished_at=now_iso(),
                     outcome={"state": outcome.state.value, "error": outcome.error, "run_id": outcome.run_id,
                              "sampler": outcome.sampler, "device": outcome.device})
