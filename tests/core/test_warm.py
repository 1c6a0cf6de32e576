"""Warm workers: compiled models reused across jobs, cooperative cancel, crash, idle exit, memory
recycle, live progress. Every other job test runs against them too (tests/core/test_jobs.py)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
from pathlib import Path

import pytest

from bayes_core import artifacts
from bayes_core.jobs import Job, JobConfigError, JobRequest, JobState, LocalJobRunner, get_runner
from bayes_core.jobs import processes, tasks
from bayes_core.jobs.api import empty_progress
from bayes_core.jobs.local import UNEXPECTED_EXIT
from bayes_core.jobs.pool import wait_until
from bayes_core.jobs.store import now_iso
from bayes_core.jobs.warm import WarmExecutor
from tests.conftest import TINY
from tests.core.test_jobs import (LONG, MODEL, EchoTask, RecordingReporter, _echo_job, cli,  # noqa: F401
                                  echo_task, finished, runner, wait_for)

pytestmark = pytest.mark.slow  # trains or compiles models: `make test` runs it, `make test-fast` does not

CANCEL_LIMIT_S = 5.0


def wait_until_staged(r: LocalJobRunner, job: Job) -> Path:
    """Wait until the worker is inside ``model.train``: its hidden staged run directory exists."""
    def staged_dir(j: Job) -> Path | None:
        staged = r.store.get_row(j.job_id)["staged_run_id"]
        return artifacts.runs_dir(j.model_id) / f".tmp-{staged}" if staged else None

    job = wait_for(r, job.job_id, lambda j: j.state != "running" or (staged_dir(j) or Path("/nonexistent")).is_dir(),
                   what="the worker to start training")
    assert job.state == "running", (job.error, r.logs(job.job_id, 30))
    return staged_dir(job)


@pytest.fixture(scope="module")
def warm_root(tmp_path_factory):
    """This module's artifacts: its runs stay out of the session's (pages pick the newest run), and
    its warm worker — shared by its tests, so the model is compiled once — is stopped at the end."""
    root = tmp_path_factory.mktemp("warm-artifacts")
    yield root
    LocalJobRunner(root).pool.stop_all()


@pytest.fixture
def warm_runner(warm_root, monkeypatch):
    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(warm_root))
    monkeypatch.setenv("BAYES_MAX_JOBS", "1")
    monkeypatch.setenv("BAYES_WARM_WORKERS", "1")
    r = get_runner()
    yield r
    for job in r.list():
        if job.is_active:
            r.cancel(job.job_id)


@pytest.fixture
def own_root(tmp_path, monkeypatch):
    """A runner on its own artifacts root, so its warm workers (started with the settings a test
    sets) are not the session's; every one of them is stopped afterwards."""
    monkeypatch.setenv("BAYES_MAX_JOBS", "1")
    monkeypatch.setenv("BAYES_WARM_WORKERS", "1")
    r = LocalJobRunner(tmp_path)
    yield r
    r.pool.stop_all()


def quick_failing_job(r: LocalJobRunner) -> str:
    """A queued job that fails at once in its worker (its data run does not exist): a worker's
    whole cycle without a compile."""
    job_id = f"20260101-000000-{os.urandom(4).hex()}"
    r.store.insert(Job(job_id=job_id, model_id=MODEL, state="queued", settings=dict(TINY, target_accept=0.9),
                       options={}, data_ref={"kind": "run", "run_id": "20200101-000000-000000-abcdef"},
                       created_at=now_iso(), progress=empty_progress(), log_path=str(r.log_path(job_id))))
    r.sweep()
    return job_id


def gone(pid: int, worker_id: str) -> bool:
    processes.reap_children()
    return not processes.worker_alive(pid, worker_id, processes.WARM_MODULE)


def run_and_wait(r, request: JobRequest) -> Job:
    job = r.submit(request)
    done = wait_for(r, job.job_id, finished, what="the job")
    assert done.state == "succeeded", (done.error, r.logs(job.job_id))
    return done


# -- reuse ---------------------------------------------------------------------------------------------
def test_second_job_on_the_same_structure_reuses_the_worker_and_its_compiled_model(warm_runner):
    first = run_and_wait(warm_runner, JobRequest(MODEL, {**TINY, "seed": 31}))
    second = run_and_wait(warm_runner, JobRequest(MODEL, {**TINY, "seed": 32}, priors={"mu_rate": 0.5}))
    assert second.pid == first.pid  # the same long-lived process
    log = warm_runner.logs(second.job_id)
    assert "compiled model reused" in log and "model compiled" not in log
    timings = artifacts.Run(MODEL, second.run_id).metadata["timings"]
    assert "bind_s" in timings and "compile_s" not in timings
    run = artifacts.Run(MODEL, second.run_id)
    assert run.metadata["priors"]["mu_rate"] == 0.5
    assert float(run.idata["constant_data"]["mu_rate"]) == 0.5
    assert "Suppressed KeyError" not in log and "Traceback" not in log


# -- cancel ---------------------------------------------------------------------------------------------
def _progress_until_draws(r, job_id: str, draws: int) -> list[int]:
    seen = []
    deadline = time.monotonic() + 240
    while not seen or seen[-1] < draws:
        job = r.status(job_id)
        assert job.state == "running" and time.monotonic() < deadline, (job.state, job.error, r.logs(job_id, 30))
        if job.progress["draws_done"] and (not seen or job.progress["draws_done"] != seen[-1]):
            seen.append(job.progress["draws_done"])
        time.sleep(0.1)
    return seen


def test_progress_moves_and_a_cancelled_job_keeps_where_it_stopped(runner):
    """Both kinds of worker: draws reported while sampling; a cancel leaves the bar where it was."""
    job = runner.submit(JobRequest(MODEL, LONG))
    seen = _progress_until_draws(runner, job.job_id, 60_000)
    assert len(seen) >= 2 and seen == sorted(seen)  # reported while sampling, more than once
    cancelled = runner.cancel(job.job_id)
    p = cancelled.progress
    assert cancelled.state == "cancelled" and p["phase"] == "cancelled"
    assert seen[-1] <= p["draws_done"] < p["draws_total"]  # where it stopped: never reset, never filled
    assert cancelled.fraction < 1.0


def test_cancel_is_cooperative_within_5_s_and_the_worker_takes_the_next_job(warm_runner):
    job = warm_runner.submit(JobRequest(MODEL, LONG))
    _progress_until_draws(warm_runner, job.job_id, 1000)
    staged = wait_until_staged(warm_runner, job)
    t0 = time.monotonic()
    cancelled = warm_runner.cancel(job.job_id)
    elapsed = time.monotonic() - t0
    assert cancelled.state == "cancelled" and cancelled.error is None and elapsed <= CANCEL_LIMIT_S, elapsed
    assert not staged.exists()
    worker = warm_runner.pool.get(warm_runner.store.get_row(job.job_id)["worker_id"])
    assert worker is not None and worker.pid == job.pid  # stopped by itself: not killed
    assert f"job {job.job_id} stopped (cancelled)" in warm_runner.logs(job.job_id)
    nxt = run_and_wait(warm_runner, JobRequest(MODEL, {**TINY, "seed": 33}))
    assert nxt.pid == job.pid


# -- crash, idle, memory (own artifacts roots: their workers start with the settings set here) ---------
def test_a_crashed_warm_worker_fails_its_job_and_a_new_one_takes_the_next(own_root, monkeypatch):
    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(own_root.root))  # the run data the worker reads
    job = own_root.submit(JobRequest(MODEL, LONG))
    row = own_root.store.get_row(job.job_id)
    wait_until_staged(own_root, job)
    os.kill(job.pid, signal.SIGKILL)
    failed = wait_for(own_root, job.job_id, finished, timeout=15, what="the crash to be noticed")
    assert failed.state == "failed" and UNEXPECTED_EXIT in failed.error and "killed" in failed.error
    assert own_root.pool.get(row["worker_id"]) is None  # forgotten
    nxt = quick_failing_job(own_root)
    done = wait_for(own_root, nxt, finished, what="a replacement worker to run the next job")
    assert done.pid not in (None, job.pid) and "No run" in done.error  # ran (and failed for its own reason)


def test_idle_worker_exits_by_itself(own_root, monkeypatch):
    monkeypatch.setenv("BAYES_WARM_IDLE", "1")
    job_id = quick_failing_job(own_root)
    worker = own_root.pool.workers()[0]
    wait_for(own_root, job_id, finished, what="the job")
    assert wait_until(lambda: gone(worker.pid, worker.worker_id), 30), "the idle worker did not exit"
    assert own_root.pool.workers() == []
    assert "idle for 1 s" in own_root.pool.log_path(worker.worker_id).read_text()


def test_worker_over_its_memory_limit_is_replaced_after_its_job(own_root, monkeypatch):
    monkeypatch.setenv("BAYES_WARM_MAX_RSS_MB", "1")
    first = quick_failing_job(own_root)
    worker = own_root.pool.workers()[0]
    wait_for(own_root, first, finished, what="the job")
    assert wait_until(lambda: gone(worker.pid, worker.worker_id), 30), "the worker was not recycled"
    assert "exceeds BAYES_WARM_MAX_RSS_MB=1" in own_root.pool.log_path(worker.worker_id).read_text()
    second = quick_failing_job(own_root)
    assert own_root.store.get(second).pid not in (None, worker.pid)  # a fresh worker took it


def test_warm_workers_listed_and_stopped_by_their_recorded_pid_from_the_cli(own_root):
    job_id = quick_failing_job(own_root)
    worker = own_root.pool.workers()[0]
    wait_for(own_root, job_id, finished, what="the job")
    env = {"BAYES_ARTIFACTS_DIR": str(own_root.root)}
    listed = json.loads(cli("jobs", "workers", "--json", env=env).stdout)
    assert [(w["pid"], w["state"]) for w in listed["workers"]] == [(worker.pid, "idle")]
    stopped = json.loads(cli("jobs", "workers", "--stop", "--json", env=env).stdout)
    assert stopped == {"workers": [], "stopped": 1}
    assert gone(worker.pid, worker.worker_id)


# -- settings ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, value", [
    ("BAYES_WARM_WORKERS", "-1"), ("BAYES_WARM_WORKERS", "two"), ("BAYES_WARM_WORKERS", "1.5"),
    ("BAYES_WARM_IDLE", "0"), ("BAYES_WARM_IDLE", "soon"), ("BAYES_WARM_IDLE", "inf"),
    ("BAYES_WARM_MAX_RSS_MB", "-5"), ("BAYES_WARM_MAX_RSS_MB", "nan"),
])
def test_bad_warm_settings_are_refused_on_every_read(tmp_path, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(JobConfigError, match=f"{name}={value!r} is not"):
        LocalJobRunner(tmp_path).list()


def test_zero_warm_workers_runs_one_process_per_job(tmp_path, monkeypatch):
    monkeypatch.setenv("BAYES_WARM_WORKERS", "0")
    r = LocalJobRunner(tmp_path)
    job_id = quick_failing_job(r)
    row = r.store.get_row(job_id)
    assert row["worker_id"] is None and r.pool.workers() == []
    assert processes.worker_alive(row["pid"], job_id) or r.store.get(job_id).state != "running"
    wait_for(r, job_id, finished, what="the one-job worker")


# -- the executor a Ray actor can hold ------------------------------------------------------------------
class NoisyTask(EchoTask):
    """Writes to the process's stdout and stderr as native library code does, then succeeds."""

    name = "noisy"

    def run(self, ctx):
        os.write(1, b"native stdout line\n")
        os.write(2, b"native stderr line\n")
        return super().run(ctx)


def test_executor_runs_jobs_with_any_reporter_and_captures_their_output(echo_task, tmp_path, monkeypatch):
    from bayes_core import compiled

    monkeypatch.setitem(tasks.TASKS, "noisy", NoisyTask())
    log_path = tmp_path / "job.log"
    reporter = RecordingReporter()
    with compiled.scoped(None):  # the executor keeps its own compiled models; the test process's come back after
        executor = WarmExecutor()
        outcome = executor.run(dataclasses.replace(_echo_job(), task="noisy"), reporter, root=tmp_path,
                               log_path=log_path)
    assert outcome.state is JobState.SUCCEEDED and reporter.outcomes == [outcome]
    assert executor.jobs_done == 1
    os.write(1, b"after the job\n")  # the process's own streams are back: not in the job's log
    assert Path(log_path).read_text().splitlines() == ["native stdout line", "native stderr line"]
