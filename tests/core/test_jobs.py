"""Background training jobs, local runner: real detached workers on tiny settings; every wait is bounded.

What every runner must do (submit, progress, succeed, fail, cancel, list, logs, queue limit) is in
test_runner_contract.py, run against the local and the Ray runner."""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bayes_core import artifacts
from bayes_core.errors import BayesCoreError, DataValidationError, InvalidParametersError, RunNotFoundError
from bayes_core.jobs import (FINISHED_STATES, JOB_STATES, IllegalTransitionError, Job, JobConfigError,
                             JobRequest, JobState, JobStoreError, LocalJobRunner, get_runner, max_jobs, run_data,
                             transition, uploaded_data)
from bayes_core.jobs import tasks, worker
from bayes_core.jobs.api import allowed_predecessors, empty_progress
from bayes_core.jobs.local import UNEXPECTED_EXIT, heartbeat_timeout_s
from bayes_core.jobs.processes import exit_reason
from bayes_core.jobs.tasks import TaskResult
from bayes_core.jobs.worker import ProgressTracker, Reporter, execute
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


@pytest.fixture(params=["warm", "cold"])
def runner(request, monkeypatch):
    """The local runner with a warm worker (the default) and with one process per job: every job
    test runs against both. Warm workers outlive a test (compiled models are shared); the session
    stops them (tests/conftest.py)."""
    monkeypatch.setenv("BAYES_MAX_JOBS", "4")
    monkeypatch.setenv("BAYES_WARM_WORKERS", "1" if request.param == "warm" else "0")
    r = get_runner()
    yield r
    for job in r.list():  # never leave a worker behind for the next test
        if job.is_active:
            r.cancel(job.job_id)


def test_two_jobs_on_one_model_run_at_once_with_distinct_runs(runner, nb_run):
    """Also covers the two other data sources end to end: an upload and an earlier run's snapshot."""
    upload = b"entity,count\nA,1\nA,3\nA,2\nB,0\nB,2\nB,1\n"
    a = runner.submit(JobRequest(MODEL, {**TINY, "seed": 11}, data=uploaded_data(upload)))
    b = runner.submit(JobRequest(MODEL, {**TINY, "seed": 12}, data=run_data(nb_run.run_id)))
    assert a.state == b.state == "running"
    a, b = (wait_for(runner, j.job_id, finished, what="both jobs") for j in (a, b))
    assert a.state == b.state == "succeeded", (a.error, b.error)
    assert a.run_id != b.run_id
    assert {a.run_id, b.run_id} <= set(artifacts.list_run_ids(MODEL))
    assert artifacts.Run(MODEL, a.run_id).metadata["data_rows"] == 6
    assert artifacts.Run(MODEL, b.run_id).metadata["data_hash"] == nb_run.metadata["data_hash"]


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
    job = Job(job_id=f"20200101-000000-{os.urandom(4).hex()}", model_id=MODEL, state="running", settings=dict(TINY), options={},
              data_ref={"kind": "example"}, created_at="2020-01-01T00:00:00+00:00",
              started_at="2020-01-01T00:00:00+00:00", pid=999_999, host="another-host")
    store.insert(job)
    store.update(job.job_id, heartbeat_at=(datetime.now(timezone.utc) - timedelta(seconds=20)).isoformat())
    assert runner.status(job.job_id).state == "running"  # another host's pid is not checked here
    store.update(job.job_id, heartbeat_at=(datetime.now(timezone.utc) - timedelta(hours=1)).isoformat())
    failed = runner.status(job.job_id)
    assert failed.state == "failed" and UNEXPECTED_EXIT in failed.error and "no heartbeat" in failed.error


# The runner-independent cases are in test_runner_contract.py; these are the local runner's others.
@pytest.mark.parametrize("kwargs, error, fragment", [
    (dict(model_id=MODEL, settings={"thin": 2}), InvalidParametersError, "unknown training setting"),
    (dict(model_id=MODEL, settings={}, options={"non_centered": "maybe"}), InvalidParametersError, "non_centered"),
    (dict(model_id=MODEL, settings={}, data=uploaded_data(b"site,n\nA,1\n")), DataValidationError, "missing column"),
    (dict(model_id=MODEL, settings={}, data=run_data("20200101-000000-000000-abcdef")), RunNotFoundError, "No run 20200101-000000-000000-abcdef"),
])
def test_bad_submission_is_refused_and_never_queued(runner, kwargs, error, fragment):
    count = len(runner.list(limit=10_000))
    with pytest.raises(error, match=fragment):
        runner.submit(JobRequest(**kwargs))
    assert len(runner.list(limit=10_000)) == count


def test_settings_errors_are_reported_together(runner):
    with pytest.raises(InvalidParametersError) as info:
        runner.submit(JobRequest(MODEL, {"draws": 0}, options={"non_centered": "maybe"}))
    assert set(info.value.errors) == {"draws", "non_centered"}


def test_uploaded_csv_is_kept_with_the_job(runner, monkeypatch):
    monkeypatch.setenv("BAYES_MAX_JOBS", "1")
    blocker = runner.submit(JobRequest(MODEL, LONG))  # keeps the upload job queued: no sampling needed here
    csv = b"entity,count\nA,1\nA,3\nB,0\nB,2\n"
    job = runner.submit(JobRequest(MODEL, TINY, data=uploaded_data(csv, "counts.csv")))
    assert job.state == "queued"
    assert job.data_ref["kind"] == "upload" and job.data_ref["filename"] == "counts.csv"
    assert runner.upload_path(job.job_id).read_bytes() == csv
    runner.cancel(job.job_id)
    runner.cancel(blocker.job_id)


def test_job_modules_stay_light():
    code = ("import sys, json, bayes_core.jobs, bayes_core.jobs.cli; "
            "print(json.dumps([m for m in ('streamlit', 'jax', 'pymc', 'pytensor', 'ray') if m in sys.modules]))")
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


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
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
    assert status["job_id"] == job_id and status["options"]["non_centered"] is True
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


# -- the state machine ------------------------------------------------------------------------------
LEGAL_MOVES = {("queued", "running"), ("queued", "cancelled"), ("queued", "failed"),
               ("running", "succeeded"), ("running", "failed"), ("running", "cancelled")}


@pytest.mark.parametrize("current, new", list(itertools.product(JOB_STATES, repeat=2)))
def test_transition_allows_exactly_the_legal_moves(current, new):
    if (current, new) in LEGAL_MOVES:
        assert transition(current, new) is JobState(new)
        assert current in allowed_predecessors(new)
    else:
        with pytest.raises(IllegalTransitionError, match=f"A {current} job cannot become {new}"):
            transition(current, new)
        assert current not in allowed_predecessors(new)


def test_final_states_are_never_left_and_unknown_states_refused():
    for state in JobState:
        assert state.is_terminal == JobState.is_terminated(state.value) == (state.value in FINISHED_STATES)
    with pytest.raises(BayesCoreError, match="not a job state"):
        transition("queued", "paused")


@pytest.fixture
def quiet_runner(tmp_path, monkeypatch):
    """A runner on its own store whose queue never moves: submissions stay queued, no worker runs."""
    r = LocalJobRunner(tmp_path)
    monkeypatch.setattr(r, "sweep", lambda: None)
    return r


def test_store_changes_states_only_through_transition(quiet_runner):
    store = quiet_runner.store
    job = quiet_runner.submit(JobRequest(MODEL, TINY))
    with pytest.raises(ValueError, match="transition"):
        store.update(job.job_id, state="running")
    assert store.transition(job.job_id, JobState.CANCELLED)
    assert not store.transition(job.job_id, JobState.RUNNING)  # a final state is never left
    assert store.get(job.job_id).state is JobState.CANCELLED


# -- requests -------------------------------------------------------------------------------------
def test_request_round_trips_through_json():
    request = JobRequest(MODEL, settings={"draws": 10}, options={"non_centered": True},
                         data=uploaded_data(b"entity,count\nA,1\n", "c.csv"), priors={"mu_rate": 0.5},
                         params={"sims": 3}, task="train")
    again = JobRequest.from_dict(json.loads(json.dumps(request.to_dict())))
    assert again == request and again.data["content"] == b"entity,count\nA,1\n"
    assert JobRequest.from_dict({"model_id": MODEL}) == JobRequest(MODEL)
    with pytest.raises(BayesCoreError, match="kind"):
        JobRequest(MODEL, data={"kind": "ftp"})
    with pytest.raises(BayesCoreError, match="content"):
        JobRequest(MODEL, data={"kind": "upload", "content": "not bytes"})


def test_submitted_job_carries_the_whole_request(quiet_runner, registry):
    prior = next(iter(registry.get_model_metadata(MODEL).priors))
    csv = b"entity,count\nA,1\nA,3\nB,0\n"
    job = quiet_runner.submit(JobRequest(MODEL, TINY, options={"non_centered": "true"},
                                         data=uploaded_data(csv, "counts.csv"), priors={prior: "0.5"},
                                         params={"note": "x"}))
    assert job.state is JobState.QUEUED and job.task == "train" and job.runner == "local" and job.external_id is None
    assert job.options["non_centered"] is True and job.priors == {prior: 0.5} and job.params == {"note": "x"}
    assert job.settings["draws"] == TINY["draws"] and job.progress["draws_total"] == (60 + 60) * 2
    assert job.data_ref == {"kind": "upload", "path": f"uploads/{job.job_id}.csv", "filename": "counts.csv"}
    assert quiet_runner.upload_path(job.job_id).read_bytes() == csv
    assert quiet_runner.status(job.job_id).to_dict() == job.to_dict()


@pytest.mark.parametrize("request_kwargs, fragment", [
    (dict(priors={"no_such_prior": 1.0}), "unknown prior"),
    (dict(priors={"__first__": "abc"}), "must be a number"),
    (dict(priors={"__first__": float("nan")}), "finite"),
    (dict(task="astrology"), "unknown task 'astrology'"),
])
def test_bad_priors_or_task_are_refused_before_queueing(quiet_runner, registry, request_kwargs, fragment):
    prior = next(iter(registry.get_model_metadata(MODEL).priors))
    if "priors" in request_kwargs:
        request_kwargs = {"priors": {(prior if k == "__first__" else k): v for k, v in request_kwargs["priors"].items()}}
    with pytest.raises(InvalidParametersError, match=fragment):
        quiet_runner.submit(JobRequest(MODEL, TINY, **request_kwargs))
    assert quiet_runner.store.list() == []


# -- runner selection -----------------------------------------------------------------------------
def test_runner_is_cached_per_artifacts_root(tmp_path, monkeypatch):
    first = get_runner()
    assert get_runner() is first and first.name == "local"
    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(tmp_path))
    other = get_runner()
    assert other is not first and other.root == tmp_path.absolute()
    monkeypatch.undo()
    assert get_runner() is first


def test_unknown_runner_is_refused_listing_the_known_ones(monkeypatch):
    monkeypatch.setenv("BAYES_JOB_RUNNER", "slurm")
    with pytest.raises(JobConfigError, match="'slurm' is not a job runner; known runners: local, ray"):
        get_runner()


def test_schema_applied_once_and_again_for_a_store_moved_aside(quiet_runner, monkeypatch):
    store = quiet_runner.store
    applied = []
    original = store._apply_schema
    monkeypatch.setattr(store, "_apply_schema", lambda: (applied.append(1), original())[1])
    quiet_runner.submit(JobRequest(MODEL, TINY))
    for _ in range(3):
        store.list()
    assert len(applied) == 1
    store.path.rename(store.path.with_name("jobs.sqlite3.broken"))
    assert store.list() == []  # "move it aside; a new store is created on next use" — also for a cached runner
    assert len(applied) == 2


# -- a damaged or unusable store --------------------------------------------------------------------
def _damaged_store(root: Path, how: str) -> None:
    db = root / "jobs.sqlite3"
    if how == "garbage":
        db.write_bytes(b"this is not a database " * 200)
    elif how == "truncated":
        r = LocalJobRunner(root)
        r.sweep = lambda: None
        for seed in range(40):
            r.submit(JobRequest(MODEL, {**TINY, "seed": seed}))
        data = db.read_bytes()
        db.write_bytes(data[: len(data) // 2])
    elif how == "folder":
        db.mkdir()


@pytest.mark.parametrize("how", ["garbage", "truncated", "folder"])
def test_damaged_store_says_how_to_recover(tmp_path, how):
    _damaged_store(tmp_path, how)
    runner = LocalJobRunner(tmp_path)
    with pytest.raises(JobStoreError, match=r"(?si)jobs\.sqlite3.*(damaged|is a folder).*move it aside") as info:
        runner.list()
    assert "Traceback" not in str(info.value)
    runner.store.path.rename(runner.store.path.with_name("jobs.sqlite3.broken"))  # the advice, followed
    assert runner.list() == []


class _FailingConnection:
    """A connection whose writes fail as SQLite's do on a full disk or a read-only folder."""

    def __init__(self, conn, message):
        self._conn, self._message = conn, message

    def execute(self, sql, *args):
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "BEGIN")):
            raise sqlite3.OperationalError(self._message)
        return self._conn.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._conn, name)


@pytest.mark.parametrize("sqlite_message, fragment", [
    ("database or disk is full", "is full"),
    ("attempt to write a readonly database", "writable"),
    ("unable to open database file", "writable"),
    ("disk I/O error", "failed a read or write"),
])
def test_unwritable_store_gives_a_clear_message(quiet_runner, monkeypatch, sqlite_message, fragment):
    store = quiet_runner.store
    store.list()  # schema in place
    real = store._connect
    monkeypatch.setattr(store, "_connect", lambda: _FailingConnection(real(), sqlite_message))
    with pytest.raises(JobStoreError, match=fragment):
        quiet_runner.submit(JobRequest(MODEL, TINY))


def test_artifacts_path_that_is_a_file_is_named(tmp_path):
    root = tmp_path / "artifacts"
    root.write_text("oops")
    with pytest.raises(JobStoreError, match="is a file, not a folder"):
        LocalJobRunner(root).list()


def test_damaged_store_through_the_cli_is_one_json_error(tmp_path):
    _damaged_store(tmp_path, "garbage")
    out = cli("jobs", "list", "--json", env={"BAYES_ARTIFACTS_DIR": str(tmp_path)})
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "is damaged" in json.loads(out.stdout)["error"]


# -- settings from the environment ------------------------------------------------------------------
@pytest.mark.parametrize("value, expected", [("3", 3), ("1", 1), (" 2 ", 2), ("", None)])
def test_max_jobs_accepts_whole_numbers(monkeypatch, value, expected):
    monkeypatch.setenv("BAYES_MAX_JOBS", value)
    assert max_jobs() == (expected or max(1, (os.cpu_count() or 1) // 2))


@pytest.mark.parametrize("value", ["abc", "-3", "0", "2.5"])
def test_bad_max_jobs_is_refused_on_every_read(monkeypatch, quiet_runner, value):
    monkeypatch.setenv("BAYES_MAX_JOBS", value)
    with pytest.raises(JobConfigError, match=f"BAYES_MAX_JOBS={value!r} is not a whole number"):
        LocalJobRunner(quiet_runner.root).list()


@pytest.mark.parametrize("value", ["abc", "-1", "nan", "inf", "0"])
def test_bad_heartbeat_timeout_is_refused(monkeypatch, value):
    monkeypatch.setenv("BAYES_JOB_HEARTBEAT_TIMEOUT", value)
    with pytest.raises(JobConfigError, match="BAYES_JOB_HEARTBEAT_TIMEOUT"):
        heartbeat_timeout_s()
    monkeypatch.setenv("BAYES_JOB_HEARTBEAT_TIMEOUT", "120")
    assert heartbeat_timeout_s() == 120.0


def test_bad_setting_through_the_cli_is_one_json_error():
    out = cli("jobs", "list", "--json", env={"BAYES_JOB_HEARTBEAT_TIMEOUT": "abc"})
    assert out.returncode == 2 and "BAYES_JOB_HEARTBEAT_TIMEOUT='abc'" in json.loads(out.stdout)["error"]


def test_exit_reason_without_the_exit_status_still_says_what_to_do():
    reason = exit_reason(999_999)
    assert "most likely killed" in reason and "fewer draws or chains" in reason


# -- execute(job, reporter), with a task of the test's own ---------------------------------------------
class RecordingReporter(Reporter):
    def __init__(self, cancel: bool = False):
        self.staged, self.snapshots, self.outcomes, self.cancel = [], [], [], cancel

    def staging(self, output_id):
        self.staged.append(output_id)

    def progress(self, snapshot):
        self.snapshots.append(snapshot)

    def cancel_requested(self):
        return self.cancel

    def finish(self, outcome):
        self.outcomes.append(outcome)


class EchoTask:
    """Reports some progress, then succeeds, fails or waits to be cancelled (by ``params``)."""

    name = "echo"

    def new_output_id(self):
        return "out-1"

    def run(self, ctx):
        ctx.progress(Progress("sampling", 5, 10, [5], divergences=1))
        mode = ctx.job.params.get("mode")
        if mode == "fail":
            raise RuntimeError("the task broke")
        if mode == "wait":
            deadline = time.monotonic() + 10
            while not ctx.job.params["cancelled"].is_set():
                assert time.monotonic() < deadline, "the cancel never arrived"
                time.sleep(0.02)
            raise SystemExit(143)
        return TaskResult(run_id="run-1", sampler="echo", device="cpu", message="echoed", progress={"draws_done": 10})


def _echo_job(**params) -> Job:
    return Job(job_id="20260101-000000-0000abcd", model_id=MODEL, state="running", settings={}, options={},
               data_ref={"kind": "example"}, created_at="2026-01-01T00:00:00+00:00", task="echo", params=params,
               progress={**empty_progress(), "draws_total": 10})


@pytest.fixture
def echo_task(monkeypatch):
    monkeypatch.setitem(tasks.TASKS, "echo", EchoTask())
    monkeypatch.setattr(worker, "HEARTBEAT_S", 0.05)


def test_execute_reports_staging_progress_and_success(echo_task, tmp_path):
    reporter = RecordingReporter()
    outcome = execute(_echo_job(), reporter, root=tmp_path)
    assert outcome.state is JobState.SUCCEEDED and reporter.outcomes == [outcome] and reporter.staged == ["out-1"]
    assert (outcome.run_id, outcome.sampler, outcome.progress["draws_done"]) == ("run-1", "echo", 10)
    assert outcome.progress["phase"] == "succeeded" and outcome.progress["message"] == "echoed"


def test_execute_reports_a_failure_with_its_reason(echo_task, tmp_path):
    outcome = execute(_echo_job(mode="fail"), RecordingReporter(), root=tmp_path)
    assert outcome.state is JobState.FAILED and "RuntimeError: the task broke" in outcome.error
    assert outcome.progress["draws_done"] == 5  # where it stopped


def test_execute_cancels_cooperatively_when_the_reporter_asks(echo_task, tmp_path):
    cancelled = threading.Event()
    reporter = RecordingReporter(cancel=True)
    outcome = execute(_echo_job(mode="wait", cancelled=cancelled), reporter, root=tmp_path, on_cancel=cancelled.set)
    assert outcome.state is JobState.CANCELLED and outcome.error is None
    assert reporter.snapshots and reporter.snapshots[-1]["draws_done"] == 5
