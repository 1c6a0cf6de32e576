"""The job-runner contract, run against every runner: local (detached workers + SQLite) and Ray
(a local Ray head, one per session). The pages and the CLI rely on exactly this behaviour.

Each runner gets the same requests and must give the same answers: submit, progress, succeed, fail
with a reason, cancel a queued job, cancel a running one, list, logs, and a queue limit (locally
``BAYES_MAX_JOBS=1``; on Ray a job asks for one CPU per chain, so two-chain jobs take the 2-CPU head
one at a time). Real workers, tiny settings, every wait bounded.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from bayes_core import artifacts
from bayes_core.errors import DataValidationError, DeviceUnavailableError, InvalidParametersError, UnknownModelError
from bayes_core.jobs import Job, JobNotFoundError, JobRequest, get_runner, run_data, uploaded_data
from bayes_core.jobs.processes import hostname
from tests.conftest import TINY

pytestmark = pytest.mark.slow  # trains or compiles models: `make test` runs it, `make test-fast` does not

MODEL = "hierarchical_negbinom"
# Minutes of sampling on two chains (a whole 2-CPU Ray head): only ever cancelled.
BLOCKER = dict(draws=100_000, tune=100_000, chains=2, seed=2)
LONG = dict(draws=100_000, tune=100_000, chains=1, seed=3)  # only ever killed
WAIT_S = 240
CANCEL_LIMIT_S = 5.0
# How each runner words a worker killed with SIGKILL (the kernel's out-of-memory killer does this).
KILLED = {"local": ["killed (signal 9, SIGKILL)", "lack of memory", "fewer draws or chains"],
          "ray": ["Ray reports the job failed", "exit code -9"]}


@pytest.fixture(params=["local", "local-one-process-per-job", pytest.param("ray", marks=pytest.mark.ray)])
def runner(request, monkeypatch):
    """Every runner; the local one with its warm worker (the default: it outlives a test, so compiled
    models are shared; the session stops it) and with one process per job (``BAYES_WARM_WORKERS=0``)."""
    if request.param.startswith("local"):
        monkeypatch.setenv("BAYES_MAX_JOBS", "4")
        monkeypatch.setenv("BAYES_WARM_WORKERS", "1" if request.param == "local" else "0")
    else:
        request.getfixturevalue("ray_env")
    r = get_runner()
    assert r.name == request.param.split("-")[0]
    yield r
    for job in r.list():  # never leave a worker behind for the next test
        if job.is_active:
            r.cancel(job.job_id)


def one_at_a_time(runner, monkeypatch) -> None:
    """Make the runner start one two-chain job at a time."""
    if runner.name == "local":
        monkeypatch.setenv("BAYES_MAX_JOBS", "1")
    else:
        nodes = runner.resources()
        if nodes.nodes != 1 or nodes.max_node_cpus > 2:
            pytest.skip(f"the queue test needs a single 2-CPU Ray node (this cluster: {nodes.describe()})")


def wait_for(runner, job_id: str, predicate, timeout: float = WAIT_S, what: str = "condition") -> Job:
    deadline = time.monotonic() + timeout
    while True:
        job = runner.status(job_id)
        if predicate(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; job is {job.state}: {job.progress} {job.error}\n"
                                 f"{runner.logs(job_id, 30)}")
        time.sleep(0.3)


def finished(job: Job) -> bool:
    return not job.is_active


def sampling(job: Job) -> bool:
    """Inside ``model.train`` (its run staged), drawing samples — or already over."""
    return not job.is_active or (job.state == "running" and job.progress.get("draws_done", 0) > 0)


def staged_dirs() -> list[Path]:
    return list(artifacts.runs_dir(MODEL).glob(".tmp-*"))


def training(job: Job) -> bool:
    """Inside ``model.train``, its run staged (compiling or sampling) — or already over."""
    return not job.is_active or (job.state == "running" and bool(staged_dirs()))


def test_job_succeeds_with_progress_a_run_listing_and_logs(runner):
    job = runner.submit(JobRequest(MODEL, TINY))
    assert job.state in ("queued", "running") and job.runner == runner.name
    assert job.progress["draws_total"] == (TINY["draws"] + TINY["tune"]) * TINY["chains"]
    assert job.external_id == (job.job_id if runner.name == "ray" else None)  # Ray's job id is the project's
    assert job.job_id in [j.job_id for j in runner.list(MODEL)]
    done = wait_for(runner, job.job_id, finished, what="the job to finish")
    assert done.state == "succeeded", (done.error, runner.logs(job.job_id))
    run = artifacts.Run(MODEL, done.run_id)
    assert run.metadata["settings"]["draws"] == TINY["draws"]
    assert (done.sampler, done.device) == (run.metadata["sampler"], run.metadata["device"]) == ("nutpie", "cpu")
    assert done.progress["phase"] == "succeeded" and done.progress["draws_done"] == done.progress["draws_total"]
    assert done.progress["elapsed_s"] > 0 and done.finished_at >= done.started_at >= done.created_at
    assert done.pid and done.host == hostname()
    log = runner.logs(job.job_id)
    assert "succeeded" in log and "Suppressed KeyError" not in log  # library noise stays out of job logs
    assert not staged_dirs()
    listed = {j.job_id: j for j in runner.list(MODEL)}[job.job_id]
    assert listed.to_dict() == done.to_dict()
    # A new runner on the same artifacts (as after an app restart) sees the same job, unchanged.
    assert type(runner)(runner.root).status(job.job_id).to_dict() == done.to_dict()


def test_queue_limit_cancels_and_a_failure_with_its_reason(runner, monkeypatch, nb_run):
    """One job runs, two wait. The first waiting job is cancelled and never starts; the running one is
    cancelled within 5 s leaving no run; the second waiting job then starts — and fails, with the
    reason, because the earlier run whose data it was to train on was deleted meanwhile."""
    one_at_a_time(runner, monkeypatch)
    doomed = artifacts.new_run_id()  # a copy of a whole run (renamed in its metadata), deleted while its job waits
    shutil.copytree(nb_run.path, artifacts.run_path(MODEL, doomed))
    meta = artifacts.run_path(MODEL, doomed) / artifacts.METADATA_FILE
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "run_id": doomed}))
    before = set(artifacts.list_run_ids(MODEL)) - {doomed}

    first = runner.submit(JobRequest(MODEL, BLOCKER))
    waiting = runner.submit(JobRequest(MODEL, TINY))
    later = runner.submit(JobRequest(MODEL, TINY, data=run_data(doomed)))
    first = wait_for(runner, first.job_id, sampling, what="the first job to sample")
    assert first.state == "running", (first.error, runner.logs(first.job_id, 30))
    assert first.progress["phase"] in ("tuning", "sampling") and first.heartbeat_at  # live progress
    assert runner.status(waiting.job_id).state == runner.status(later.job_id).state == "queued"

    cancelled = runner.cancel(waiting.job_id)
    assert cancelled.state == "cancelled" and cancelled.pid is None and cancelled.started_at is None
    shutil.rmtree(artifacts.run_path(MODEL, doomed))

    t0 = time.monotonic()
    stopped = runner.cancel(first.job_id)
    assert time.monotonic() - t0 < CANCEL_LIMIT_S
    assert stopped.state == "cancelled" and stopped.error is None and stopped.run_id is None
    assert stopped.finished_at is not None and not staged_dirs()
    assert set(artifacts.list_run_ids(MODEL)) == before
    assert runner.cancel(first.job_id).state == "cancelled"  # idempotent

    failed = wait_for(runner, later.job_id, finished, what="the last job to fail")
    assert failed.state == "failed" and "No run" in failed.error and doomed in failed.error
    assert "was deleted after the job was queued" in failed.error
    assert failed.started_at >= stopped.finished_at
    assert runner.status(waiting.job_id).state == "cancelled"  # it never ran, also after the queue moved
    assert set(artifacts.list_run_ids(MODEL)) == before and not staged_dirs()


def test_killed_worker_fails_with_the_reason(runner):
    before = set(artifacts.list_run_ids(MODEL))
    # Killed while it trains (its run staged), before or after its compile: nothing of it may remain.
    job = wait_for(runner, runner.submit(JobRequest(MODEL, LONG)).job_id, training, what="the worker to train")
    assert job.state == "running" and job.host == hostname()
    os.kill(job.pid, signal.SIGKILL)
    failed = wait_for(runner, job.job_id, finished, timeout=15, what="the killed worker to be noticed")
    assert failed.state == "failed"
    for fragment in KILLED[runner.name]:
        assert fragment in failed.error
    assert not staged_dirs() and set(artifacts.list_run_ids(MODEL)) == before


@pytest.mark.parametrize("kwargs, error, fragment", [
    (dict(model_id="no_such_model", settings={}), UnknownModelError, "hierarchical_negbinom"),
    (dict(model_id=MODEL, settings={"draws": 0, "target_accept": 1.5}), InvalidParametersError, "target_accept"),
    (dict(model_id=MODEL, settings={}, data=uploaded_data(b"entity,count\nA,-1\nB,x\n")), DataValidationError, "negative"),
    (dict(model_id=MODEL, settings={"device": "gpu"}), DeviceUnavailableError, "no GPU"),
])
def test_bad_submission_is_refused_and_never_queued(runner, kwargs, error, fragment):
    count = len(runner.list(limit=10_000))
    with pytest.raises(error, match=fragment):
        runner.submit(JobRequest(**kwargs))
    assert len(runner.list(limit=10_000)) == count
    assert not list((runner.root / "uploads").glob("*.part"))


def test_unknown_job_ids_are_refused(runner):
    with pytest.raises(JobNotFoundError):
        runner.status("20200101-000000-ffffffff")
    with pytest.raises(JobNotFoundError):
        runner.logs("../../etc/passwd")
    with pytest.raises(JobNotFoundError):
        runner.cancel("20200101-000000-ffffffff")
