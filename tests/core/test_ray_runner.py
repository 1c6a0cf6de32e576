"""The Ray runner's own promises: GPU routing and its refusal, bad addresses and tokens (each a clear
message within the stated time-out), how Ray's states map onto the job's, history without a cluster,
and the worker's file mode. What every runner does is in test_runner_contract.py."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from bayes_core import artifacts
from bayes_core.errors import DeviceUnavailableError
from bayes_core.jobs import Job, JobConfigError, JobRequest, JobState, get_runner
from bayes_core.jobs.api import empty_progress
from bayes_core.jobs.files import FileReporter, JobFiles, job_ids
from bayes_core.jobs.ray import RayJobRunner
from bayes_core.jobs.ray_client import RayClusterError, find_token, ray_address, ray_timeout_s
from bayes_core.jobs.store import now_iso
from bayes_core.jobs.worker import execute
from tests.conftest import TINY
from tests.core.test_jobs import _echo_job, echo_task  # noqa: F401 - a task of the test's own, and its fixture

ROOT = Path(__file__).resolve().parents[2]
MODEL = "hierarchical_negbinom"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture
def silent_server():
    """An address that accepts connections and never answers (a hung proxy, a firewall's tarpit)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()


def _job(job_id: str = "20200101-000000-0000abcd", state: str = "running", **fields) -> Job:
    return Job(job_id=job_id, model_id=MODEL, state=state, settings=dict(TINY), options={},
               data_ref={"kind": "example"}, created_at="2020-01-01T00:00:00+00:00", runner="ray",
               external_id=job_id, progress={**empty_progress(), "draws_total": 240}, **fields)


# -- GPU routing -------------------------------------------------------------------------------------
@pytest.mark.ray
def test_gpu_job_on_a_cluster_without_gpu_is_refused_with_a_clear_message(ray_env):
    runner = get_runner()
    before, submitted = job_ids(runner.root), len(runner.cluster().client.list_jobs())
    with pytest.raises(DeviceUnavailableError) as info:
        runner.submit(JobRequest(MODEL, {**TINY, "device": "gpu"}))
    message = str(info.value)
    assert f"the Ray cluster at {ray_env} has no GPU" in message and "0 GPU(s) in all" in message
    assert "deploy/raycluster.yaml" in message and "choose device 'cpu'" in message
    assert job_ids(runner.root) == before and len(runner.cluster().client.list_jobs()) == submitted  # nothing made


@pytest.mark.ray
def test_gpu_job_through_the_cli_is_one_json_error(ray_env):
    out = _cli("jobs", "submit", MODEL, "--gpu", "--json")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "has no GPU" in json.loads(out.stdout)["error"]


def test_device_is_resolved_against_the_cluster_not_this_machine(monkeypatch):
    """``auto`` becomes what the cluster can give (stored, so the worker does exactly that); ``gpu`` is
    checked against the cluster's GPUs, whatever this machine has."""
    from bayes_core.jobs import tasks

    request = JobRequest(MODEL, {**TINY, "device": "auto"})
    assert tasks.get_task("train").prepare(request, gpu=False).device == "cpu"
    assert tasks.get_task("train").prepare(request, gpu=True).device == "gpu"
    gpu = JobRequest(MODEL, {**TINY, "device": "gpu"})
    assert tasks.get_task("train").prepare(gpu, gpu=True).device == "gpu"  # no GPU here, one on the cluster
    with pytest.raises(DeviceUnavailableError):
        tasks.get_task("train").prepare(gpu, gpu=False)


@pytest.mark.parametrize("device, gpus, node_cpus, wants", [
    ("gpu", 1, 4, {"entrypoint_num_gpus": 1, "entrypoint_num_cpus": 1.0, "device": "gpu"}),
    ("auto", 1, 4, {"entrypoint_num_gpus": 1, "entrypoint_num_cpus": 1.0, "device": "gpu"}),
    ("cpu", 1, 4, {"entrypoint_num_gpus": None, "entrypoint_num_cpus": 2.0, "device": "cpu"}),  # a CPU per chain
    ("auto", 0, 1, {"entrypoint_num_gpus": None, "entrypoint_num_cpus": 1.0, "device": "cpu"}),  # capped by the node
])
def test_a_job_asks_ray_for_what_its_device_needs(offline, monkeypatch, device, gpus, node_cpus, wants):
    """What Ray is asked for decides where the job lands: a GPU job one GPU (so only a GPU node takes
    it), a CPU job a CPU per chain up to the largest node; the worker runs what was reserved."""
    from bayes_core.jobs.ray_client import ClusterResources

    submitted = {}
    cluster = SimpleNamespace(address="http://127.0.0.1:1", request=lambda what, fn: fn(),
                              client=SimpleNamespace(submit_job=lambda **kwargs: submitted.update(kwargs)))
    monkeypatch.setattr(offline, "cluster", lambda: cluster)
    monkeypatch.setattr(offline, "resources", lambda: ClusterResources(nodes=1, max_node_cpus=node_cpus, gpus=gpus))
    job = offline.submit(JobRequest(MODEL, {**TINY, "device": device}))
    assert {k: submitted[k] for k in ("entrypoint_num_gpus", "entrypoint_num_cpus")} == \
        {k: wants[k] for k in ("entrypoint_num_gpus", "entrypoint_num_cpus")}
    assert submitted["submission_id"] == job.job_id and submitted["entrypoint"].endswith(
        f"-m bayes_core.jobs.worker --file {job.job_id}")
    assert submitted["runtime_env"]["env_vars"]["BAYES_ARTIFACTS_DIR"] == str(offline.root)
    assert job.settings["device"] == wants["device"] and job.state == JobState.QUEUED


# -- bad addresses and tokens --------------------------------------------------------------------------
def test_unreachable_address_is_refused_fast_and_nothing_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", f"http://127.0.0.1:{_closed_port()}")
    runner = RayJobRunner(tmp_path)
    t0 = time.monotonic()
    with pytest.raises(RayClusterError, match=r"Cannot reach the Ray cluster's Jobs API at http://127\.0\.0\.1:\d+ "
                                              r"\(connection refused") as info:
        runner.submit(JobRequest(MODEL, TINY))
    assert time.monotonic() - t0 < 5
    assert "make ray-up" in str(info.value) and "unset BAYES_JOB_RUNNER" in str(info.value)
    assert runner.list() == [] and not (tmp_path / "jobs").exists()


def test_address_that_never_answers_times_out(tmp_path, monkeypatch, silent_server):
    monkeypatch.setenv("RAY_ADDRESS", silent_server)
    monkeypatch.setenv("BAYES_RAY_TIMEOUT", "1")
    t0 = time.monotonic()
    with pytest.raises(RayClusterError, match=r"no answer within 1 s"):
        RayJobRunner(tmp_path).submit(JobRequest(MODEL, TINY))
    assert time.monotonic() - t0 < 4


def test_unreachable_address_through_the_cli_is_one_json_error(tmp_path):
    out = _cli("jobs", "submit", MODEL, "--json", env={"BAYES_JOB_RUNNER": "ray", "BAYES_ARTIFACTS_DIR": str(tmp_path),
                                                      "RAY_ADDRESS": f"127.0.0.1:{_closed_port()}"})
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "Cannot reach the Ray cluster" in json.loads(out.stdout)["error"]


@pytest.mark.ray
def test_wrong_token_is_refused_with_what_to_do(ray_env, monkeypatch, tmp_path):
    monkeypatch.setenv("RAY_AUTH_TOKEN", "0" * 64)  # e.g. a token the cluster has since replaced
    with pytest.raises(RayClusterError, match="refused the authentication token from RAY_AUTH_TOKEN") as info:
        RayJobRunner(tmp_path).submit(JobRequest(MODEL, TINY))
    assert "ray get-auth-token" in str(info.value)


@pytest.mark.ray
def test_missing_token_is_refused_with_where_to_put_it(ray_env, monkeypatch, tmp_path):
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ray/auth_token either
    with pytest.raises(RayClusterError, match="requires an authentication token and none was found") as info:
        RayJobRunner(tmp_path).submit(JobRequest(MODEL, TINY))
    assert "RAY_AUTH_TOKEN_PATH" in str(info.value)


def test_token_is_found_in_rays_own_order(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    assert find_token() == (None, "")
    default = tmp_path / ".ray" / "auth_token"
    default.parent.mkdir()
    default.write_text("from-default\n")
    assert find_token()[0] == "from-default"
    named = tmp_path / "token"
    named.write_text("from-path")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(named))
    assert find_token() == ("from-path", f"the token file {named}")
    monkeypatch.setenv("RAY_AUTH_TOKEN", "from-env")
    assert find_token() == ("from-env", "RAY_AUTH_TOKEN")
    monkeypatch.delenv("RAY_AUTH_TOKEN")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "missing"))
    with pytest.raises(JobConfigError, match="RAY_AUTH_TOKEN_PATH=.*cannot be read"):
        find_token()


@pytest.mark.parametrize("name, value, fragment", [
    ("RAY_ADDRESS", "ray://10.0.0.1:10001", "not a Jobs API address"),
    ("RAY_ADDRESS", "http://", "not a Jobs API address"),
    ("BAYES_RAY_TIMEOUT", "abc", "BAYES_RAY_TIMEOUT='abc'"),
    ("BAYES_RAY_TIMEOUT", "0", "BAYES_RAY_TIMEOUT='0'"),
])
def test_bad_settings_are_refused(monkeypatch, name, value, fragment):
    monkeypatch.setenv(name, value)
    with pytest.raises(JobConfigError, match=fragment):
        ray_address() if name == "RAY_ADDRESS" else ray_timeout_s()


def test_address_defaults_to_the_local_head(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert ray_address() == "http://127.0.0.1:8265"
    monkeypatch.setenv("RAY_ADDRESS", "10.1.2.3:8265/")
    assert ray_address() == "http://10.1.2.3:8265"


# -- Ray's states onto the job's ---------------------------------------------------------------------
def _details(status: str, message: str = "", end_time: int | None = None):
    return SimpleNamespace(status=status, message=message, start_time=None, end_time=end_time)


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """A Ray runner on its own artifacts whose cluster is never contacted by these tests."""
    monkeypatch.setenv("RAY_ADDRESS", f"http://127.0.0.1:{_closed_port()}")
    return RayJobRunner(tmp_path)


def _kept(runner: RayJobRunner, job: Job, state: dict | None = None) -> JobFiles:
    files = JobFiles(runner.root, job.job_id)
    files.write_job(job)
    if state is not None:
        files.write_state(state)
    return files


def test_a_lost_node_fails_the_job_with_rays_reason_and_removes_the_staged_run(offline):
    job = _job()
    staged = artifacts.runs_dir(MODEL) / ".tmp-20200101-000000-000000-aaaaaa"
    staged.mkdir(parents=True)
    files = _kept(offline, job, {"started_at": "2020-01-01T00:00:01+00:00", "pid": 4242, "host": "node-7",
                                 "staged_output_id": "20200101-000000-000000-aaaaaa",
                                 "progress": {"phase": "sampling", "draws_done": 100}})
    reason = ("Job supervisor actor died: The actor died because its node has died. Node Id: 2f1c...\n"
              "\tthe actor's node was terminated unexpectedly")
    done = offline._refresh(files, job, _details("FAILED", reason, end_time=1_600_000_000_000))
    assert done.state == "failed" and done.error.startswith("Ray reports the job failed: Job supervisor actor died")
    assert "node was terminated" in done.error and done.progress["phase"] == "failed"
    assert (done.pid, done.host, done.progress["draws_done"]) == (4242, "node-7", 100)
    assert not staged.exists()
    assert files.read_job().to_dict() == done.to_dict()  # recorded: Ray is not asked again


@pytest.mark.parametrize("status, outcome, expected, fragment", [
    ("FAILED", {"state": "failed", "error": "DataValidationError: column count has negative values"}, "failed",
     "DataValidationError"),  # the worker's own reason is more precise than Ray's exit code
    ("FAILED", {"state": "cancelled", "error": None}, "cancelled", None),  # stopped itself at a cancel
    ("STOPPED", None, "cancelled", None),
    ("SUCCEEDED", None, "failed", "without recording an outcome"),
    (None, None, "failed", "no longer knows this job"),  # the head was restarted: Ray forgot it
])
def test_rays_final_states_map_onto_the_jobs(offline, status, outcome, expected, fragment):
    job = _job()
    state = {"started_at": "2020-01-01T00:00:01+00:00", **({"outcome": outcome} if outcome else {})}
    done = offline._refresh(_kept(offline, job, state), job, _details(status) if status else None)
    assert done.state == expected
    assert (fragment in done.error) if fragment else done.error is None


def test_a_job_ray_has_not_seen_yet_stays_queued_while_it_is_submitted(offline):
    job = _job(state="queued")
    job.created_at = now_iso()
    assert offline._refresh(_kept(offline, job), job, None).state == "queued"


def test_a_job_that_ran_before_anyone_looked_moves_queued_running_succeeded(offline):
    job = _job(state="queued")
    state = {"started_at": "2020-01-01T00:00:05+00:00", "pid": 7, "host": "n1", "finished_at": "2020-01-01T00:01:00+00:00",
             "outcome": {"state": "succeeded", "run_id": "20200101-000005-000000-bbbbbb", "sampler": "nutpie",
                         "device": "cpu", "error": None}}
    done = offline._refresh(_kept(offline, job, state), job, _details("SUCCEEDED"))
    assert done.state == "succeeded" and done.run_id == "20200101-000005-000000-bbbbbb"
    assert (done.started_at, done.finished_at) == ("2020-01-01T00:00:05+00:00", "2020-01-01T00:01:00+00:00")


def test_a_worker_silent_past_the_heartbeat_limit_is_stopped_and_failed(offline, monkeypatch):
    """Ray still says RUNNING, but the worker stopped reporting (hung): as locally, it is failed — and
    stopped on the cluster, so it frees its CPUs."""
    monkeypatch.setenv("BAYES_JOB_HEARTBEAT_TIMEOUT", "60")
    stopped = []
    cluster = SimpleNamespace(client=SimpleNamespace(stop_job=stopped.append),
                              request=lambda what, fn: fn())  # records the stop instead of sending it
    monkeypatch.setattr(offline, "cluster", lambda: cluster)
    job = _job()
    fresh = {"started_at": now_iso(), "heartbeat_at": now_iso(), "progress": {"phase": "sampling"}}
    assert offline._refresh(_kept(offline, job, fresh), job, _details("RUNNING")).state == "running"
    assert stopped == []
    silent = {**fresh, "heartbeat_at": "2020-01-01T00:00:05+00:00"}
    failed = offline._refresh(_kept(offline, job, silent), job, _details("RUNNING"))
    assert failed.state == "failed" and "no heartbeat for" in failed.error and "BAYES_JOB_HEARTBEAT_TIMEOUT=60" in failed.error
    assert stopped == [job.job_id]


def test_history_needs_no_cluster(offline):
    """Finished jobs list, show and keep their worker's log while the cluster is down."""
    job = _job(state="succeeded", run_id="20200101-000005-000000-bbbbbb", finished_at="2020-01-01T00:01:00+00:00")
    files = _kept(offline, job)
    files.log_path.write_text("line 1\nline 2\njob succeeded\n")
    assert [j.job_id for j in offline.list()] == [job.job_id]
    assert offline.status(job.job_id).state == "succeeded"
    assert offline.logs(job.job_id, tail_lines=2) == "line 2\njob succeeded"
    _kept(offline, _job("20200101-000000-0000abce", state="queued"))
    with pytest.raises(RayClusterError, match="Cannot reach"):  # an active job does need the cluster
        offline.list()


def test_cancel_of_a_finished_job_changes_nothing_and_needs_no_cluster(offline):
    job = _job(state="failed", error="boom", finished_at="2020-01-01T00:01:00+00:00")
    _kept(offline, job)
    assert offline.cancel(job.job_id).to_dict() == job.to_dict()


# -- the worker's file mode -------------------------------------------------------------------------------
def test_file_reporter_writes_progress_and_outcome_whole(echo_task, tmp_path):  # noqa: F811
    job = _echo_job()
    files = JobFiles(tmp_path, job.job_id)
    files.write_job(job)
    outcome = execute(job, FileReporter(files), root=tmp_path)
    state = files.read_state()
    assert outcome.state is JobState.SUCCEEDED and state["outcome"]["state"] == "succeeded"
    assert state["outcome"]["run_id"] == "run-1" and state["staged_output_id"] == "out-1"
    assert state["pid"] == os.getpid() and state["progress"]["phase"] == "succeeded"
    assert not list(files.dir.glob(".*.tmp"))  # every write replaced the file whole


def test_file_reporter_cancel_flag_stops_the_task(echo_task, tmp_path):  # noqa: F811
    cancelled = threading.Event()
    job = _echo_job(mode="wait", cancelled=cancelled)
    files = JobFiles(tmp_path, job.job_id)
    files.write_job(_echo_job())
    files.request_cancel()
    outcome = execute(job, FileReporter(files), root=tmp_path, on_cancel=cancelled.set)
    assert outcome.state is JobState.CANCELLED and files.read_state()["outcome"]["state"] == "cancelled"


def test_worker_file_mode_does_nothing_for_a_job_cancelled_before_it_started(tmp_path):
    job = _job(state="queued")
    files = JobFiles(tmp_path, job.job_id)
    files.write_job(job)
    files.request_cancel()
    out = subprocess.run([sys.executable, "-m", "bayes_core.jobs.worker", "--file", job.job_id], capture_output=True,
                         text=True, cwd=ROOT, timeout=60, env={**os.environ, "BAYES_ARTIFACTS_DIR": str(tmp_path)})
    assert out.returncode == 0 and "cancelled before it started" in out.stderr
    assert not files.state_path.exists()


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "bayes_core", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)
