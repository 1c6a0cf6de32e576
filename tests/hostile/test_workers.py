"""Killed, stopped and starved workers (#11.5): each job ends in a final state whose message says what
happened and what to do, no staging folder is left, and the queue keeps moving (the job queued behind
it starts). Real detached workers on a private artifacts root, one job at a time; every wait bounded.
A worker killed with SIGKILL and a job whose data run was deleted while it waited are covered by
tests/core/test_runner_contract.py."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from bayes_core import artifacts
from bayes_core.jobs import Job, JobRequest, LocalJobRunner, get_runner, run_data, uploaded_data
from bayes_core.jobs.local import UNEXPECTED_EXIT
from bayes_core.jobs.store import now_iso
from tests.conftest import TINY
from tests.hostile.conftest import NB

# Every test starts real worker processes that import the stack and compile the models they train.
pytestmark = pytest.mark.slow

LONG = dict(draws=100_000, tune=100_000, chains=1, seed=2)  # minutes of sampling: only ever stopped
FOLLOWER = "bayesian_sharpe"  # the job queued behind: another model, so removing NB's config spares it
WAIT_S = 240


@pytest.fixture
def queue(tmp_path, monkeypatch):
    """The local runner on a private artifacts root, one job at a time."""
    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(tmp_path / "art"))
    monkeypatch.setenv("BAYES_MAX_JOBS", "1")
    runner = get_runner()
    assert runner.name == "local"
    yield runner
    for job in runner.list():  # never leave a worker behind
        if job.is_active and job.host != "another-host":
            runner.cancel(job.job_id)


def wait_for(runner, job_id: str, predicate, timeout: float = WAIT_S, what: str = "condition") -> Job:
    deadline = time.monotonic() + timeout
    while True:
        job = runner.status(job_id)
        if predicate(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; job is {job.state}: {job.error}\n"
                                 f"{runner.logs(job_id, 30)}")
        time.sleep(0.2)


def staged(runner, job: Job) -> Path | None:
    output = runner.store.get_row(job.job_id)["staged_run_id"]
    return runner.root / job.model_id / "runs" / f".tmp-{output}" if output else None


def training(runner, job: Job) -> Job:
    """Wait until the worker is inside ``model.train`` (its staging folder exists)."""
    def inside(j: Job) -> bool:
        path = staged(runner, j)
        return j.state != "running" or (path is not None and path.is_dir())

    job = wait_for(runner, job.job_id, inside, what="the worker to start training")
    assert job.state == "running", (job.error, runner.logs(job.job_id, 30))
    return job


def hold_the_slot(runner) -> str:
    """A running job of another machine, heartbeating: the one slot is taken, new jobs wait queued."""
    job_id = "20200101-000000-00000f0f"
    runner.store.insert(Job(job_id=job_id, model_id=NB, state="running", settings=dict(TINY), options={},
                            data_ref={"kind": "example"}, created_at=now_iso(), started_at=now_iso(),
                            heartbeat_at=now_iso(), pid=999_999, host="another-host"))
    return job_id


def free_the_slot(runner, job_id: str) -> None:
    runner.store.transition(job_id, "failed", finished_at=now_iso(), error="released by the test")


def assert_ended_cleanly(runner, job: Job, follower: Job, *says: str) -> None:
    assert job.state == "failed", (job.state, job.error)
    for words in says:
        assert words in job.error, job.error
    assert "Traceback" not in job.error, job.error
    # (the follower is another model: its own staging folder may exist by now)
    assert not list((runner.root / job.model_id / "runs").glob(".tmp-*")), "no staging folder left"
    moved = wait_for(runner, follower.job_id, lambda j: j.state != "queued", timeout=30, what="the queue to move")
    assert moved.state in ("running", "succeeded"), (moved.state, moved.error)


def follower(runner) -> Job:
    job = runner.submit(JobRequest(FOLLOWER, LONG))
    assert job.state == "queued"
    return job


def finished(job: Job) -> bool:
    return not job.is_active


# -- workers stopped from outside ------------------------------------------------------------------
def test_a_worker_stopped_past_the_heartbeat_limit_is_failed_and_killed(queue, monkeypatch):
    job = training(queue, queue.submit(JobRequest(NB, LONG)))
    behind = follower(queue)
    monkeypatch.setenv("BAYES_JOB_HEARTBEAT_TIMEOUT", "5")  # low only now: the worker has been beating
    os.kill(job.pid, signal.SIGSTOP)
    try:
        failed = wait_for(queue, job.job_id, finished, timeout=60, what="the silent worker to be failed")
    finally:
        if _alive(job.pid):
            os.kill(job.pid, signal.SIGCONT)
    assert_ended_cleanly(queue, failed, behind, UNEXPECTED_EXIT, "no heartbeat for",
                         "BAYES_JOB_HEARTBEAT_TIMEOUT=5 s", "hung or was paused", "Submit the job again")
    deadline = time.monotonic() + 10
    while _alive(job.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(job.pid), "the stopped worker was killed"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def test_a_worker_terminated_from_outside_says_it_was_not_a_cancel(queue):
    job = training(queue, queue.submit(JobRequest(NB, LONG)))
    behind = follower(queue)
    os.kill(job.pid, signal.SIGTERM)  # e.g. an administrator's kill: not the app's cancel
    failed = wait_for(queue, job.job_id, finished, timeout=60, what="the terminated worker to finish")
    assert_ended_cleanly(queue, failed, behind, "stopped by a signal (SIGTERM) from outside",
                         "not a cancel", "submit the job again")
    assert artifacts.list_run_ids(NB) == []


# -- what a queued job needs, gone before it starts ------------------------------------------------------
def test_a_queued_job_whose_model_was_removed_from_the_configs(queue, config_tree):
    held = hold_the_slot(queue)
    job = queue.submit(JobRequest(NB, TINY))
    behind = follower(queue)
    shutil.rmtree(config_tree / NB)
    free_the_slot(queue, held)
    failed = wait_for(queue, job.job_id, finished, timeout=60, what="the job to fail")
    assert_ended_cleanly(queue, failed, behind, f"Model '{NB}' is no longer registered",
                         f"Restore model_configs/{NB}/config.yaml and submit the job again")


def test_a_queued_job_whose_uploaded_csv_vanished(queue):
    held = hold_the_slot(queue)
    job = queue.submit(JobRequest(NB, TINY, data=uploaded_data(b"entity,count\nA,1\nA,2\nB,0\nB,3\n", "mine.csv")))
    behind = follower(queue)
    queue.upload_path(job.job_id).unlink()
    free_the_slot(queue, held)
    failed = wait_for(queue, job.job_id, finished, timeout=60, what="the job to fail")
    assert_ended_cleanly(queue, failed, behind, "The CSV uploaded with this job", "is gone",
                         "Submit the job again with the file")


def test_a_queued_job_whose_data_run_was_damaged(queue, nb_run):
    held = hold_the_slot(queue)
    shutil.copytree(nb_run.path, artifacts.run_path(NB, nb_run.run_id))
    job = queue.submit(JobRequest(NB, TINY, data=run_data(nb_run.run_id)))
    behind = follower(queue)
    (artifacts.run_path(NB, nb_run.run_id) / "metadata.json").write_text('{"created_at": 5}')
    free_the_slot(queue, held)
    failed = wait_for(queue, job.job_id, finished, timeout=60, what="the job to fail")
    assert_ended_cleanly(queue, failed, behind, f"Run {nb_run.run_id}", "metadata.json 'created_at' is 5",
                         "To recover, delete it (`python -m bayes_core runs delete")


# -- a staging folder deleted under its worker ----------------------------------------------------------
# The worker notices only when it writes the run, after compiling and sampling: tens of seconds on a
# busy machine. The job is started with the module (its own artifacts root) and checked last, so that
# the wait overlaps the cases above.
def _delete_when_staged(runner, job: Job) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        path = staged(runner, job)
        if path is not None and path.is_dir():
            shutil.rmtree(path)  # e.g. a clean-up script sweeping hidden folders
            return
        if runner.store.get(job.job_id).state not in ("queued", "running"):
            return
        time.sleep(0.1)


@pytest.fixture(scope="module", autouse=True)
def doomed(tmp_path_factory):
    runner = LocalJobRunner(tmp_path_factory.mktemp("doomed") / "art")
    job = runner.submit(JobRequest(NB, TINY))
    behind = runner.submit(JobRequest(FOLLOWER, LONG))
    deleter = threading.Thread(target=_delete_when_staged, args=(runner, job), daemon=True)
    deleter.start()
    yield runner, job, behind, deleter
    for active in runner.list():
        if active.is_active:
            runner.cancel(active.job_id)


def test_a_worker_whose_staging_folder_is_deleted_fails_saying_so(doomed):
    runner, job, behind, deleter = doomed
    deleter.join(timeout=WAIT_S)
    failed = wait_for(runner, job.job_id, finished, what="the worker to finish without its folder")
    assert_ended_cleanly(runner, failed, behind, "RunStoreError", "was not saved",
                         "staging folder", "disappeared while it was being written", "train again")
    assert not list((runner.root / NB / "runs").glob("2*")), "no run"
