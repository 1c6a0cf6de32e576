"""Background training jobs: real detached workers on tiny settings; every wait is bounded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bayes_core import artifacts
from bayes_core.errors import (DataValidationError, DeviceUnavailableError, InvalidParametersError,
                               RunNotFoundError, UnknownModelError)
from bayes_core.jobs import Job, JobNotFoundError, LocalJobRunner, get_runner
from bayes_core.jobs.local import UNEXPECTED_EXIT
from bayes_core.jobs.store import JobStore
from bayes_core.jobs.worker import ProgressTracker
from bayes_core.samplers import Progress
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parent.parent.parent
MODEL = "hierarchical_negbinom"
LONG = dict(draws=100_000, tune=100_000, chains=1, seed=2)  # minutes of sampling: only ever cancelled or killed
WAIT_S = 240


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


def staged_dir(runner: LocalJobRunner, job: Job) -> Path | None:
    staged = runner.store.get_row(job.job_id)["staged_run_id"]
    return artifacts.runs_dir(job.model_id) / f".tmp-{staged}" if staged else None


def wait_until_staged(runner, job: Job) -> Path:
    """Wait until the worker is inside ``model.train`` (its hidden staged run directory exists)."""
    def staged(j: Job) -> bool:
        path = staged_dir(runner, j)
        return j.state != "running" or (path is not None and path.is_dir())

    job = wait_for(runner, job.job_id, staged, what="the worker to start training")
    assert job.state == "running", (job.error, runner.logs(job.job_id, 30))
    return staged_dir(runner, job)


@pytest.fixture
def runner(monkeypatch):
    monkeypatch.setenv("BAYES_MAX_JOBS", "4")
    r = get_runner()
    yield r
    for job in r.list():  # never leave a worker behind for the next test
        if job.is_active:
            r.cancel(job.job_id)


def test_tiny_job_succeeds_with_a_run_and_survives_a_restart(runner):
    job = runner.submit(MODEL, TINY)
    assert job.state == "running" and job.pid
    done = wait_for(runner, job.job_id, finished, what="the job to finish")
    assert done.state == "succeeded", (done.error, runner.logs(job.job_id))
    run = artifacts.Run(MODEL, done.run_id)
    assert run.metadata["settings"]["draws"] == TINY["draws"]
    assert (done.sampler, done.device) == (run.metadata["sampler"], run.metadata["device"]) == ("nutpie", "cpu")
    assert done.progress["phase"] == "succeeded" and done.progress["draws_done"] == done.progress["draws_total"]
    assert done.progress["elapsed_s"] > 0 and done.finished_at >= done.started_at >= done.created_at
    assert "succeeded" in runner.logs(job.job_id)
    assert not list(artifacts.runs_dir(MODEL).glob(".tmp-*"))
    # A new store and runner (as after an app restart) see the same job, unchanged.
    again = LocalJobRunner(JobStore()).status(job.job_id)
    assert again.to_dict() == done.to_dict()


def test_two_jobs_on_one_model_run_at_once_with_distinct_runs(runner, nb_run):
    """Also covers the two other data sources end to end: an upload and an earlier run's snapshot."""
    upload = b"entity,count\nA,1\nA,3\nA,2\nB,0\nB,2\nB,1\n"
    a = runner.submit(MODEL, {**TINY, "seed": 11}, data_csv=upload)
    b = runner.submit(MODEL, {**TINY, "seed": 12}, data_run_id=nb_run.run_id)
    assert a.state == b.state == "running"
    a, b = (wait_for(runner, j.job_id, finished, what="both jobs") for j in (a, b))
    assert a.state == b.state == "succeeded", (a.error, b.error)
    assert a.run_id != b.run_id
    assert {a.run_id, b.run_id} <= set(artifacts.list_run_ids(MODEL))
    assert artifacts.Run(MODEL, a.run_id).metadata["data_rows"] == 6
    assert artifacts.Run(MODEL, b.run_id).metadata["data_hash"] == nb_run.metadata["data_hash"]


def test_queue_limit_one_job_at_a_time(runner, monkeypatch):
    monkeypatch.setenv("BAYES_MAX_JOBS", "1")
    first = runner.submit(MODEL, {**TINY, "seed": 21})
    second = runner.submit(MODEL, {**TINY, "seed": 22})
    assert first.state == "running"
    assert second.state == "queued" and second.pid is None
    first = wait_for(runner, first.job_id, finished, what="the first job")
    # The finishing worker starts the queued job itself; no read is needed to move the queue.
    second = wait_for(runner, second.job_id, finished, what="the queued job")
    assert first.state == second.state == "succeeded", (first.error, second.error)
    assert second.started_at >= first.finished_at


def test_queued_job_cancelled_never_starts(runner, monkeypatch):
    monkeypatch.setenv("BAYES_MAX_JOBS", "1")
    first = runner.submit(MODEL, LONG)
    queued = runner.submit(MODEL, LONG)
    assert queued.state == "queued"
    cancelled = runner.cancel(queued.job_id)
    assert cancelled.state == "cancelled" and cancelled.pid is None
    assert runner.cancel(first.job_id).state == "cancelled"


def test_cancel_running_job_leaves_no_run(runner):
    before = set(artifacts.list_run_ids(MODEL))
    job = runner.submit(MODEL, LONG)
    staged = wait_until_staged(runner, job)
    cancelled = runner.cancel(job.job_id)  # returns once the process group is gone
    assert cancelled.state == "cancelled" and cancelled.error is None
    assert cancelled.finished_at is not None and cancelled.run_id is None
    assert not staged.exists()
    assert set(artifacts.list_run_ids(MODEL)) == before
    assert runner.cancel(job.job_id).state == "cancelled"  # idempotent


def test_killed_worker_is_failed_on_next_read(runner):
    before = set(artifacts.list_run_ids(MODEL))
    job = runner.submit(MODEL, LONG)
    staged = wait_until_staged(runner, job)
    os.kill(job.pid, signal.SIGKILL)
    failed = wait_for(runner, job.job_id, finished, timeout=10, what="the dead worker to be noticed")
    assert failed.state == "failed"
    assert UNEXPECTED_EXIT in failed.error
    assert not staged.exists()
    assert set(artifacts.list_run_ids(MODEL)) == before


def test_worker_liveness_from_proc_facts():
    """Only a zombie or a process running something else is a dead worker; a just-exec'd worker
    whose command line is still empty counts as alive (it failed a job in the walk-through)."""
    from bayes_core.jobs.processes import WORKER_MODULE, is_worker_process

    job = "20261123-160127-531ea7cb"
    ours = f"python\0-m\0{WORKER_MODULE}\0{job}\0".encode()
    assert is_worker_process("R", ours, job) and is_worker_process("S", b"", job)
    assert not is_worker_process("Z", ours, job)
    assert not is_worker_process("S", ours.replace(job.encode(), b"20261123-160127-00000000"), job)
    assert not is_worker_process("S", b"bash\0", job)


def test_silent_worker_on_another_host_is_failed_after_the_heartbeat_limit(runner):
    store = runner.store
    job = Job(job_id="20200101-000000-0000abcd", model_id=MODEL, state="running", settings=dict(TINY), options={},
              data_ref={"kind": "example"}, created_at="2020-01-01T00:00:00+00:00",
              started_at="2020-01-01T00:00:00+00:00", pid=999_999, host="another-host")
    store.insert(job)
    store.update(job.job_id, heartbeat_at=(datetime.now(timezone.utc) - timedelta(seconds=20)).isoformat())
    assert runner.status(job.job_id).state == "running"  # another host's pid is not checked here
    store.update(job.job_id, heartbeat_at=(datetime.now(timezone.utc) - timedelta(hours=1)).isoformat())
    failed = runner.status(job.job_id)
    assert failed.state == "failed" and UNEXPECTED_EXIT in failed.error and "no heartbeat" in failed.error


@pytest.mark.parametrize("kwargs, error, fragment", [
    (dict(model_id="no_such_model", settings={}), UnknownModelError, "hierarchical_negbinom"),
    (dict(model_id=MODEL, settings={"draws": 0, "target_accept": 1.5}), InvalidParametersError, "target_accept"),
    (dict(model_id=MODEL, settings={"thin": 2}), InvalidParametersError, "unknown training setting"),
    (dict(model_id=MODEL, settings={}, options={"non_centered": "maybe"}), InvalidParametersError, "non_centered"),
    (dict(model_id=MODEL, settings={}, data_csv=b"entity,count\nA,-1\nB,x\n"), DataValidationError, "negative"),
    (dict(model_id=MODEL, settings={}, data_csv=b"site,n\nA,1\n"), DataValidationError, "missing column"),
    (dict(model_id=MODEL, settings={"device": "gpu"}), DeviceUnavailableError, "no GPU"),
    (dict(model_id=MODEL, settings={}, data_run_id="20200101-000000-000000-abcdef"), RunNotFoundError, "No run"),
])
def test_bad_submission_is_refused_and_never_queued(runner, kwargs, error, fragment):
    count = len(runner.list(limit=10_000))
    with pytest.raises(error, match=fragment):
        runner.submit(**kwargs)
    assert len(runner.list(limit=10_000)) == count


def test_settings_errors_are_reported_together(runner):
    with pytest.raises(InvalidParametersError) as info:
        runner.submit(MODEL, {"draws": 0}, options={"non_centered": "maybe"})
    assert set(info.value.errors) == {"draws", "non_centered"}


def test_uploaded_csv_is_kept_with_the_job(runner, monkeypatch):
    monkeypatch.setenv("BAYES_MAX_JOBS", "1")
    blocker = runner.submit(MODEL, LONG)  # keeps the upload job queued: no sampling needed here
    csv = b"entity,count\nA,1\nA,3\nB,0\nB,2\n"
    job = runner.submit(MODEL, TINY, data_csv=csv, data_filename="counts.csv")
    assert job.state == "queued"
    assert job.data_ref["kind"] == "upload" and job.data_ref["filename"] == "counts.csv"
    assert runner.upload_path(job.job_id).read_bytes() == csv
    runner.cancel(job.job_id)
    runner.cancel(blocker.job_id)


def test_unknown_job_ids_are_refused(runner):
    with pytest.raises(JobNotFoundError):
        runner.status("20200101-000000-ffffffff")
    with pytest.raises(JobNotFoundError):
        runner.logs("../../etc/passwd")


def test_job_modules_stay_light():
    code = ("import sys, json, bayes_core.jobs, bayes_core.jobs.cli; "
            "print(json.dumps([m for m in ('streamlit', 'jax', 'pymc', 'pytensor') if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                         timeout=60)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_progress_tracker_elapsed_and_eta():
    now = [100.0]
    tracker = ProgressTracker(draws_total=400, clock=lambda: now[0])
    assert tracker.snapshot()["phase"] == "starting" and tracker.snapshot()["eta_s"] is None
    now[0] = 110.0
    tracker(Progress("compiling", 0, 0))
    snap = tracker.snapshot()
    assert snap["elapsed_s"] == 10.0 and snap["draws_total"] == 400 and snap["eta_s"] is None
    tracker(Progress("tuning", 40, 400, [20, 20]))
    now[0] = 120.0
    tracker(Progress("sampling", 140, 400, [70, 70], divergences=2))
    snap = tracker.snapshot()  # 100 draws in 10 s since the first report: 260 left → 26 s
    assert snap["eta_s"] == pytest.approx(26.0) and snap["divergences"] == 2 and snap["chain_draws"] == [70, 70]
    now[0] = 125.0  # no new report: elapsed advances, the ETA is re-derived from the same rate
    assert tracker.snapshot()["elapsed_s"] == 25.0


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "bayes_core", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)


def test_cli_jobs_commands_json(runner):
    out = cli("jobs", "submit", MODEL, "--draws", "100000", "--tune", "100000", "--chains", "1", "--non-centered", "true",
              "--json")
    assert out.returncode == 0, out.stderr
    submitted = json.loads(out.stdout)
    assert set(submitted) == {"job_id", "state"} and submitted["state"] in ("queued", "running")
    job_id = submitted["job_id"]

    status = json.loads(cli("jobs", "status", job_id, "--json").stdout)
    assert status["job_id"] == job_id and status["options"] == {"non_centered": True}
    assert {"model_id", "state", "progress", "pid", "run_id", "error", "created_at", "started_at"} <= set(status)
    listed = json.loads(cli("jobs", "list", "--model", MODEL, "--json").stdout)
    assert job_id in [j["job_id"] for j in listed["jobs"]]
    logs = json.loads(cli("jobs", "logs", job_id, "--json").stdout)
    assert logs["job_id"] == job_id and isinstance(logs["log"], str)
    cancelled = json.loads(cli("jobs", "cancel", job_id, "--json").stdout)
    assert cancelled["state"] == "cancelled"

    bad = cli("jobs", "submit", MODEL, "--gpu", "--json")
    assert bad.returncode != 0 and "no GPU" in json.loads(bad.stdout)["error"]
    missing = cli("jobs", "status", "20200101-000000-ffffffff", "--json")
    assert missing.returncode != 0 and "No job" in json.loads(missing.stdout)["error"]
