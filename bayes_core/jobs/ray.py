"""``RayJobRunner``: each job is a Ray job on a Ray cluster, through Ray's Jobs API.

Selected with ``BAYES_JOB_RUNNER=ray``; ``RAY_ADDRESS`` is the cluster's Jobs API (dashboard) address
(default ``http://127.0.0.1:8265``, where ``make ray-up`` starts a local head). Ray is imported only
here, when this runner is chosen.

* **Submit** checks the request as the local runner does, but against the cluster's nodes (a GPU
  job needs a node with a GPU), keeps the record as files on the shared artifacts storage
  (``files.py``: ``jobs/<job_id>/job.json``; an uploaded CSV under ``uploads/``), then submits
  ``python -m bayes_core.jobs.worker --file <job_id>`` with ``submission_id`` = the job id. A GPU job
  asks for ``entrypoint_num_gpus=1`` (Ray starts it only on a node with a free GPU); a CPU job for one
  CPU per chain, capped at the CPUs of the largest node (more could never be granted).
* **State** is Ray's status combined with what the worker wrote in ``state.json``: PENDING → queued,
  RUNNING → running, SUCCEEDED/FAILED → the worker's recorded outcome (or, without one, ``failed``
  with Ray's message — a lost node, a killed worker), STOPPED → cancelled. Every move goes through
  ``transition()``; a finished job is recorded in its ``job.json`` and Ray is not asked again.
* **Cancel** writes the ``cancel`` flag (the worker's heartbeat sees it within a second; a job Ray
  has not started yet exits at once if it ever starts) and calls ``stop_job`` (SIGTERM, then
  SIGKILL after ``RAY_JOB_STOP_WAIT_TIME_S``), waits at most ``CANCEL_WAIT_S`` and removes what the
  worker staged.
* A worker Ray still runs but that stopped reporting for ``BAYES_JOB_HEARTBEAT_TIMEOUT`` is stopped
  and its job failed, as the local runner does.
* A warm path (an actor keeping compiled models) can run ``worker.execute(job, FileReporter(files))``
  in a long-lived process the same way: the job's files are all a worker needs.
* Every request to the cluster has a time-out (``BAYES_RAY_TIMEOUT``, default 5 s) and carries the
  cluster's token when one is found (``ray_client``: the connection, the token, the errors).
"""

from __future__ import annotations

import os
import shlex
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bayes_core import artifacts
from bayes_core.errors import DeviceUnavailableError
from bayes_core.jobs import tasks
from bayes_core.jobs.api import Job, JobNotFoundError, JobRequest, JobRunner, JobState, empty_progress, transition
from bayes_core.jobs.files import JobFiles, job_ids
from bayes_core.jobs.local import heartbeat_timeout_s, new_job_id
from bayes_core.jobs.ray_client import Cluster, ClusterResources, RayClusterError, find_token, ray_address, ray_timeout_s
from bayes_core.jobs.store import age_seconds, now_iso

CANCEL_WAIT_S = 4.5  # cancel returns within 5 s
SUBMIT_GRACE_S = 60.0  # a job this young that Ray does not know yet is still being submitted
RESOURCES_TTL_S = 15.0
POLL_S = 0.2
RAY_MESSAGE_TAIL_LINES = 15


def _ray_failure(message: str | None) -> str:
    """Ray's reason for a failed job (a lost node, a killed worker), without the long log it appends."""
    lines = (message or "no reason given").strip().splitlines() or ["no reason given"]
    text = f"Ray reports the job failed: {lines[0]}"
    if len(lines) > 1:
        text += "\n\n" + "\n".join(lines[1:][-RAY_MESSAGE_TAIL_LINES:])
    return text


def _ray_time(ms: int | None) -> str | None:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat() if ms else None


# -- the runner -----------------------------------------------------------------------------------
class RayJobRunner(JobRunner):
    name = "ray"

    def __init__(self, root: str | Path | None = None, *, address: str | None = None):
        """``root``: the artifacts root, which the cluster's nodes mount at the same path.
        ``address``: the Jobs API address (default: ``RAY_ADDRESS``, read on every call)."""
        self.root = Path(root if root is not None else artifacts.artifacts_root()).absolute()
        self._address = address
        self._lock = threading.Lock()
        self._cluster: Cluster | None = None
        self._resources: tuple[float, tuple, ClusterResources] | None = None

    # -- connection ------------------------------------------------------------------------------
    def address(self) -> str:
        return self._address.rstrip("/") if self._address else ray_address()

    def cluster(self) -> Cluster:
        """The connection for the current address, token and time-out (made again when one changes)."""
        address = self.address()
        token, source = find_token()
        timeout = ray_timeout_s()
        with self._lock:
            c = self._cluster
            if c is None or (c.address, c.token, c.timeout_s) != (address, token, timeout):
                c = self._cluster = Cluster(address, token, source, timeout)
            return c

    def resources(self) -> ClusterResources:
        cluster = self.cluster()
        key = (cluster.address, cluster.token)
        cached = self._resources
        if cached is not None and cached[1] == key and time.monotonic() - cached[0] < RESOURCES_TTL_S:
            return cached[2]
        found = cluster.resources()
        self._resources = (time.monotonic(), key, found)
        return found

    # -- submit ----------------------------------------------------------------------------------
    def submit(self, request: JobRequest) -> Job:
        task = tasks.get_task(request.task)
        cluster, nodes = self.cluster(), self.resources()  # an unusable cluster is reported before anything is kept
        try:
            prepared = task.prepare(request, gpu=nodes.gpus > 0)
        except DeviceUnavailableError as exc:
            raise DeviceUnavailableError(
                f"device 'gpu' was requested, but the Ray cluster at {cluster.address} has no GPU ({nodes.describe()}). "
                "Add a GPU worker group (deploy/raycluster.yaml) or choose device 'cpu'.") from exc
        settings = dict(prepared.settings)
        gpu = prepared.device == "gpu"
        if prepared.device and "device" in settings:
            settings["device"] = prepared.device  # the worker runs where Ray placed it: what was reserved
        chains = int(settings.get("chains") or 1)
        num_cpus = 1.0 if gpu else max(1.0, min(float(chains), nodes.max_node_cpus))
        job_id = new_job_id()
        files = JobFiles(self.root, job_id)
        wants = f"{num_cpus:g} CPU(s)" + (" and 1 GPU" if gpu else "")
        python = os.environ.get("BAYES_RAY_PYTHON", "").strip() or "python"
        try:
            job = Job(job_id=job_id, model_id=request.model_id, state=JobState.QUEUED, settings=settings,
                      options=prepared.options, data_ref=tasks.keep_data(self.root, job_id, request.data),
                      created_at=now_iso(), log_path=str(files.log_path), task=task.name, priors=prepared.priors,
                      params=prepared.params, runner=self.name, external_id=job_id,
                      progress={**empty_progress(), "draws_total": prepared.draws_total,
                                "message": f"waiting for {wants} on the Ray cluster"})
            files.write_job(job)
            cluster.request("accept the job", lambda: cluster.client.submit_job(
                entrypoint=f"exec {shlex.quote(python)} -m bayes_core.jobs.worker --file {job_id}",
                submission_id=job_id, entrypoint_num_cpus=num_cpus, entrypoint_num_gpus=1 if gpu else None,
                runtime_env={"env_vars": {"BAYES_ARTIFACTS_DIR": str(self.root)}},
                metadata={"bayes_job_id": job_id, "bayes_model_id": request.model_id, "bayes_task": task.name}))
        except BaseException:
            files.remove()  # never listed: the job does not exist
            tasks.upload_path(self.root, job_id).unlink(missing_ok=True)
            raise
        return job

    # -- reads -----------------------------------------------------------------------------------
    def status(self, job_id: str) -> Job:
        files = JobFiles(self.root, job_id)
        job = files.read_job()
        if not job.is_active:
            return job
        return self._refresh(files, job, self.cluster().info(job_id))

    def list(self, model_id: str | None = None, limit: int = 100) -> list[Job]:
        jobs: list[tuple[JobFiles, Job]] = []
        for job_id in job_ids(self.root):
            if len(jobs) >= limit:
                break
            files = JobFiles(self.root, job_id)
            try:
                job = files.read_job()
            except JobNotFoundError:
                continue  # a folder whose record is being written or removed
            if model_id is None or job.model_id == model_id:
                jobs.append((files, job))
        if not any(job.is_active for _, job in jobs):
            return [job for _, job in jobs]  # history needs no cluster
        cluster = self.cluster()
        known = {d.submission_id: d for d in cluster.request("list its jobs", cluster.client.list_jobs)}
        return [self._refresh(files, job, known.get(job.job_id)) if job.is_active else job for files, job in jobs]

    def logs(self, job_id: str, tail_lines: int = 200) -> str:
        files = JobFiles(self.root, job_id)
        job = files.read_job()
        text = None
        try:
            cluster = self.cluster()
            if cluster.info(job_id) is not None:
                text = cluster.request("send the job's log", lambda: cluster.client.get_job_logs(job_id))
        except RayClusterError:
            if job.is_active:
                raise
        if text is None:  # the cluster forgot it (or is gone): the worker's own log on shared storage
            try:
                text = files.log_path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = ""
        return "\n".join(text.splitlines()[-tail_lines:]) if tail_lines > 0 else ""

    # -- cancel ----------------------------------------------------------------------------------
    def cancel(self, job_id: str) -> Job:
        """Stop a job within ``CANCEL_WAIT_S``: a queued one never trains; a running one is stopped
        (cooperatively and by Ray's ``stop_job``) and what it staged is removed."""
        files = JobFiles(self.root, job_id)
        job = files.read_job()
        if not job.is_active:
            return job
        deadline = time.monotonic() + CANCEL_WAIT_S
        files.request_cancel()
        cluster = self.cluster()
        details = cluster.info(job_id)
        if details is not None and not details.status.is_terminal():
            cluster.request("stop the job", lambda: cluster.client.stop_job(job_id))
        if not files.read_state().get("started_at") and (details is None or details.status == "PENDING"):
            return self._finish(files, job, {}, None, cancelled=True)  # never started: if Ray starts it, it exits
        while details is not None and not details.status.is_terminal() and time.monotonic() < deadline:
            time.sleep(POLL_S)
            details = cluster.info(job_id)
        return self._finish(files, job, files.read_state(), details, cancelled=True)

    # -- state -----------------------------------------------------------------------------------
    def _refresh(self, files: JobFiles, job: Job, details) -> Job:
        """An active job brought up to date from the worker's report and Ray's view of it."""
        state = files.read_state()
        if details is None and not state.get("outcome") and (age_seconds(job.created_at) or 0) < SUBMIT_GRACE_S:
            return job  # still being submitted by another process
        if details is not None and details.status == "PENDING":
            return job
        if details is not None and details.status == "RUNNING" and not state.get("outcome"):
            if job.state == JobState.QUEUED:
                job = self._record(files, self._started(job, state, details))
            job = self._merged(job, state)
            silent, limit = age_seconds(job.heartbeat_at or job.started_at), heartbeat_timeout_s()
            if silent is None or silent <= limit:
                return job
            # Ray still runs it, but the worker stopped reporting (hung): stop it and say so, as locally.
            cluster = self.cluster()
            cluster.request("stop the job", lambda: cluster.client.stop_job(job.job_id))
            return self._finish(files, job, state, details, error=(
                f"the worker sent no heartbeat for {silent:.0f} s (limit BAYES_JOB_HEARTBEAT_TIMEOUT={limit:.0f} s) "
                "and was stopped: see the job's log for its last lines."))
        return self._finish(files, job, state, details)

    @staticmethod
    def _merged(job: Job, state: dict[str, Any]) -> Job:
        """The job as its worker last reported it (progress, heartbeat, where it runs)."""
        job.progress = {**job.progress, **(state.get("progress") or {})}
        job.heartbeat_at = state.get("heartbeat_at") or job.heartbeat_at
        job.started_at = state.get("started_at") or job.started_at  # the worker's start, not Ray's (= submission)
        job.pid, job.host = state.get("pid", job.pid), state.get("host", job.host)
        return job

    def _started(self, job: Job, state: dict[str, Any], details) -> Job:
        job.state = transition(job.state, JobState.RUNNING)
        job.started_at = now_iso()  # until the worker says when it began
        job.progress = {**job.progress, "phase": "starting", "message": "worker starting"}
        return self._merged(job, state)

    def _finish(self, files: JobFiles, job: Job, state: dict[str, Any], details, cancelled: bool = False,
                error: str | None = None) -> Job:
        """Record how an active job ended (``error``: the runner's own reason it failed); remove what its
        worker staged unless it is a whole run."""
        task = tasks.get_task(job.task)
        outcome = state.get("outcome") or {}
        status = details.status if details is not None else None
        fields: dict[str, Any] = {}
        if error is not None:
            final, fields["error"] = JobState.FAILED, error
        elif outcome.get("state"):
            final = JobState(outcome["state"])
            fields = {k: outcome.get(k) for k in ("error", "run_id", "sampler", "device")}
        elif cancelled or status == "STOPPED":
            final = JobState.CANCELLED
        elif status == "FAILED":
            final, fields["error"] = JobState.FAILED, _ray_failure(details.message)
        elif status == "SUCCEEDED":
            final, fields["error"] = JobState.FAILED, ("the worker ended without recording an outcome: see the job's "
                                                       "log")
        else:
            final, fields["error"] = JobState.FAILED, (
                f"The Ray cluster at {self.address()} no longer knows this job, and its worker recorded no "
                "outcome (the cluster's head was restarted, or the job was deleted there): submit it again.")
        staged = state.get("staged_output_id")
        message = "cancelled" if final == JobState.CANCELLED else ""
        if final != JobState.SUCCEEDED:
            done = task.completed(job.model_id, staged)
            if done is not None:  # renamed into place before it could be stopped: keep it, as the local runner does
                final, message = JobState.SUCCEEDED, done.message
                fields = {"error": None, "run_id": done.run_id, "sampler": done.sampler, "device": done.device}
            task.discard(job.model_id, staged)
        if job.state == JobState.QUEUED and (state.get("started_at") or final == JobState.SUCCEEDED):
            job = self._started(job, state, details)  # it ran before anyone looked: queued → running → final
        elif not (cancelled and job.state == JobState.QUEUED):
            job = self._merged(job, state)
        if cancelled and job.state == JobState.QUEUED and final == JobState.CANCELLED:
            message = "cancelled before it started"
        job.state = transition(job.state, final)
        for key, value in fields.items():
            setattr(job, key, value)
        job.finished_at = state.get("finished_at") or _ray_time(getattr(details, "end_time", None)) or now_iso()
        job.progress = {**job.progress, "phase": final.value, "eta_s": None,
                        "message": message or job.progress.get("message", "")}
        return self._record(files, job)

    @staticmethod
    def _record(files: JobFiles, job: Job) -> Job:
        """Write ``job``, unless another process has already recorded it finished (its record stands)."""
        stored = files.read_job()
        if not stored.is_active:
            return stored
        files.write_job(job)
        return job
