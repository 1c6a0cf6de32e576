"""Warm starts (issue #16): from submit to a finished run, one process per job against a warm worker,
side by side in one invocation, through the local job runner exactly as the Training page uses it.

- count model, example data, 2 chains × (300 tune + 300 draws): submit → succeeded, cold and warm
  (warm: a worker that has trained the model once, so its compiled model is kept);
- Bayesian Sharpe, 1,000 example returns, the config's default settings: the same;
- cancel of a running warm job → cancelled, and the same worker running the next job;
- consecutive warm jobs: the worker's resident memory after each (growth after the first).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from bench.common import Figure

COUNT_MODEL, SHARPE = "hierarchical_negbinom", "bayesian_sharpe"
SMALL = {"draws": 300, "tune": 300, "chains": 2}
CANCEL_SETTINGS = {"draws": 100_000, "tune": 100_000, "chains": 1}
POLL_S = 0.02


@contextmanager
def _env(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _wait(runner, job_id: str, predicate, timeout: float = 900.0):
    deadline = time.perf_counter() + timeout
    while True:
        job = runner.status(job_id)
        if predicate(job):
            return job
        if time.perf_counter() > deadline:
            raise RuntimeError(f"job {job_id} timed out in state {job.state}: {runner.logs(job_id, 20)}")
        time.sleep(POLL_S)


def submit_to_succeeded(runner, model_id: str, settings: dict[str, Any], warm: bool) -> tuple[float, Any]:
    """Seconds from ``submit`` to the job seen succeeded, with a warm worker or a process per job."""
    from bayes_core.jobs import JobRequest

    with _env(BAYES_WARM_WORKERS="1" if warm else "0"):
        t0 = time.perf_counter()
        job = runner.submit(JobRequest(model_id, settings))
        done = _wait(runner, job.job_id, lambda j: not j.is_active)
        elapsed = time.perf_counter() - t0
    if done.state != "succeeded":
        raise RuntimeError(f"{model_id} job {done.job_id} {done.state}: {done.error}")
    return elapsed, done


def _breakdown(done) -> dict[str, float]:
    from bayes_core import artifacts

    timings = artifacts.Run(done.model_id, done.run_id).metadata.get("timings", {})
    return {k: round(float(v), 3) for k, v in timings.items()}


def compare(runner, model_id: str, settings: dict[str, Any], cold_runs: int, warm_runs: int) -> dict[str, Any]:
    cold = [submit_to_succeeded(runner, model_id, {**settings, "seed": 100 + i}, warm=False) for i in range(cold_runs)]
    first_warm = submit_to_succeeded(runner, model_id, {**settings, "seed": 200}, warm=True)  # compiles once
    warm = [submit_to_succeeded(runner, model_id, {**settings, "seed": 300 + i}, warm=True) for i in range(warm_runs)]
    return {"cold_s": [round(t, 2) for t, _ in cold], "first_warm_s": round(first_warm[0], 2),
            "warm_s": [round(t, 2) for t, _ in warm], "cold_median_s": statistics.median(t for t, _ in cold),
            "warm_median_s": statistics.median(t for t, _ in warm), "cold_breakdown": _breakdown(cold[-1][1]),
            "warm_breakdown": _breakdown(warm[-1][1]), "warm_pids": sorted({d.pid for _, d in warm})}


def cancel_warm(runner) -> dict[str, Any]:
    from bayes_core.jobs import JobRequest

    with _env(BAYES_WARM_WORKERS="1"):
        job = runner.submit(JobRequest(COUNT_MODEL, {**CANCEL_SETTINGS, "seed": 7}))
        _wait(runner, job.job_id, lambda j: j.progress.get("draws_done", 0) > 0 or not j.is_active)
        t0 = time.perf_counter()
        cancelled = runner.cancel(job.job_id)
        elapsed = time.perf_counter() - t0
    after, nxt = submit_to_succeeded(runner, COUNT_MODEL, {**SMALL, "seed": 8}, warm=True)
    return {"cancel_s": elapsed, "state": str(cancelled.state), "draws_at_cancel": cancelled.progress.get("draws_done"),
            "worker_reused": nxt.pid == job.pid, "next_job_s": after}


def memory_over_jobs(runner, jobs: int) -> list[float]:
    """The warm worker's resident memory (MB) after each of ``jobs`` consecutive count-model jobs."""
    rss = []
    for i in range(jobs):
        _, done = submit_to_succeeded(runner, COUNT_MODEL, {**SMALL, "seed": 400 + i}, warm=True)
        deadline = time.perf_counter() + 10
        while True:  # the worker notes its memory once the job is recorded and garbage collected
            worker = next(w for w in runner.pool.workers() if w.pid == done.pid)
            if (worker.rss_at or "") >= done.finished_at or time.perf_counter() > deadline:
                break
            time.sleep(POLL_S)
        rss.append(round(float(worker.rss_mb), 1))
    return rss


def run(quick: bool = False) -> dict[str, Any]:
    from bayes_core.jobs.local import LocalJobRunner

    root = Path(os.environ.get("BAYES_ARTIFACTS_DIR") or tempfile.mkdtemp(prefix="bench-warm-"))
    runner = LocalJobRunner(root)
    repeats = {"cold": 1 if quick else 2, "warm": 3 if quick else 5, "memory": 10 if quick else 20}
    try:
        with _env(BAYES_MAX_JOBS="1", BAYES_WARM_IDLE="600"):
            runner.stop_warm_workers()  # a fresh worker: its first job is the one that compiles
            count = compare(runner, COUNT_MODEL, SMALL, repeats["cold"], repeats["warm"])
            sharpe = compare(runner, SHARPE, {}, repeats["cold"], repeats["warm"])
            cancel = cancel_warm(runner)
            rss = memory_over_jobs(runner, repeats["memory"])
    finally:
        stopped = runner.stop_warm_workers()
    ratio = count["warm_median_s"] / count["cold_median_s"]
    growth = (max(rss[1:]) - rss[0]) / rss[0] if len(rss) > 1 else 0.0
    figures = [
        Figure("count model 2×(300+300): submit → succeeded, one process per job (median)",
               round(count["cold_median_s"], 2), "s"),
        Figure("count model 2×(300+300): submit → succeeded, warm worker (median)", round(count["warm_median_s"], 2),
               "s", "≤ 2 s", count["warm_median_s"] <= 2.0),
        Figure("count model: warm ÷ cold", round(ratio, 3), "", "≤ 0.25", ratio <= 0.25),
        Figure("count model: first job of a new warm worker (import + compile)", count["first_warm_s"], "s"),
        Figure("Bayesian Sharpe 1,000 returns, defaults: submit → succeeded, one process per job (median)",
               round(sharpe["cold_median_s"], 2), "s", "≤ 5 s", sharpe["cold_median_s"] <= 5.0),
        Figure("Bayesian Sharpe 1,000 returns, defaults: submit → succeeded, warm worker (median)",
               round(sharpe["warm_median_s"], 2), "s", "≤ 1.5 s", sharpe["warm_median_s"] <= 1.5),
        Figure("cancel of a running warm job → cancelled", round(cancel["cancel_s"], 2), "s", "≤ 5 s",
               cancel["cancel_s"] <= 5.0 and cancel["state"] == "cancelled"),
        Figure("worker reused after the cancel (next job on the same process)", cancel["worker_reused"], "", "yes",
               bool(cancel["worker_reused"])),
        Figure(f"{len(rss)} consecutive warm jobs: worker memory after the first", rss[0], "MB"),
        Figure(f"{len(rss)} consecutive warm jobs: worker memory growth after the first", round(100 * growth, 1), "%",
               "≤ 10 %", growth <= 0.10),
    ]
    return {"figures": [f.to_dict() for f in figures], "count_model": count, "sharpe": sharpe, "cancel": cancel,
            "rss_mb_after_each_job": rss, "warm_workers_stopped": stopped,
            "gpu": "not measured: no GPU machine was available to this task"}
