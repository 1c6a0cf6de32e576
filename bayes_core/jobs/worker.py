"""The worker process of one job: ``python -m bayes_core.jobs.worker <job_id>``.

It trains the job's model through ``model.train`` (so the run is written atomically by the core),
while a heartbeat thread writes the latest progress, elapsed time and ETA into the job row every
second — also when the sampler itself reports nothing for a while (compiling, NumPyro). On exit it
records the outcome and starts the next queued job, so the queue moves without a daemon.
SIGTERM (cancel) raises SystemExit in the main thread, which unwinds ``train`` and removes the
staged run directory; the runner SIGKILLs and cleans up if that takes too long.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
import traceback
from typing import Any

from bayes_core import artifacts
from bayes_core.jobs.api import check_job_id
from bayes_core.jobs.local import LocalJobRunner
from bayes_core.jobs.store import JobStore, now_iso
from bayes_core.samplers import Progress

log = logging.getLogger("bayes_core.jobs.worker")
HEARTBEAT_S = 1.0
TRACEBACK_TAIL_LINES = 15
_SAMPLING_PHASES = ("tuning", "sampling")


class ProgressTracker:
    """The sampler's progress callback: keeps the latest snapshot and derives elapsed time and ETA.

    The ETA extrapolates the draw rate measured since the first reported draw (compile time is
    excluded); it is None until the sampler reports draws (NumPyro reports none).
    """

    def __init__(self, draws_total: int, clock=time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._t0 = clock()
        self._rate_start: tuple[float, int] | None = None
        self._latest = Progress("starting", 0, draws_total, message="loading the model and data")

    def __call__(self, progress: Progress) -> None:
        with self._lock:
            if not progress.draws_total:
                progress.draws_total = self._latest.draws_total
            if progress.phase in _SAMPLING_PHASES and progress.draws_done > 0 and self._rate_start is None:
                self._rate_start = (self._clock(), progress.draws_done)
            self._latest = progress

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            p, now = self._latest, self._clock()
            eta = None
            if p.phase in _SAMPLING_PHASES and self._rate_start is not None:
                t_start, d_start = self._rate_start
                done_since = p.draws_done - d_start
                if done_since > 0 and now > t_start:
                    eta = max(0.0, (p.draws_total - p.draws_done) * (now - t_start) / done_since)
            return {"phase": p.phase, "draws_done": int(p.draws_done), "draws_total": int(p.draws_total),
                    "chain_draws": [int(c) for c in p.chain_draws], "divergences": int(p.divergences),
                    "elapsed_s": round(now - self._t0, 1), "eta_s": None if eta is None else round(eta, 1),
                    "message": p.message}


class Heartbeat(threading.Thread):
    """Writes the tracker's snapshot and a heartbeat into the job row every ``interval`` seconds."""

    def __init__(self, store: JobStore, job_id: str, tracker: ProgressTracker, interval: float = HEARTBEAT_S):
        super().__init__(name=f"heartbeat-{job_id}", daemon=True)
        self.store, self.job_id, self.tracker, self.interval = store, job_id, tracker, interval
        self._stop_event = threading.Event()

    def beat(self) -> None:
        self.store.update(self.job_id, only_if_state=["running"], progress=self.tracker.snapshot(),
                          heartbeat_at=now_iso())

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            try:
                self.beat()
            except Exception as exc:  # a locked or briefly unavailable DB must not kill training
                log.warning("heartbeat not written: %s", exc)

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=5)


def _on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


def _data_source(runner: LocalJobRunner, job) -> Any:
    ref = job.data_ref or {}
    if ref.get("kind") == "upload":
        return runner.upload_path(job.job_id)
    if ref.get("kind") == "run":
        return artifacts.Run(job.model_id, ref["run_id"]).path / artifacts.DATA_FILE
    return None  # the model's example data


def _error_text(exc: BaseException) -> str:
    tail = traceback.format_exception(exc)
    lines = "".join(tail).rstrip().splitlines()[-TRACEBACK_TAIL_LINES:]
    return f"{type(exc).__name__}: {exc}\n\nTraceback (last lines):\n" + "\n".join(lines)


def run_job(job_id: str) -> int:
    from bayes_core.registry import get_registry

    runner = LocalJobRunner()
    store = runner.store
    job = store.get(check_job_id(job_id))
    deadline = time.monotonic() + 10
    while job.state == "queued" and time.monotonic() < deadline:  # the starter's commit may trail our start
        time.sleep(0.1)
        job = store.get(job_id)
    if job.state != "running":
        log.info("job %s is %s; nothing to do", job_id, job.state)
        return 0
    staged_run_id = artifacts.new_run_id()
    store.update(job_id, staged_run_id=staged_run_id)
    tracker = ProgressTracker(job.progress.get("draws_total") or 0)
    heartbeat = Heartbeat(store, job_id, tracker)
    heartbeat.start()
    log.info("job %s: training %s with settings %s, options %s, data %s", job_id, job.model_id, job.settings,
             job.options, job.data_ref)
    try:
        model = get_registry().load_model_instance(job.model_id, options=job.options)
        run = model.train(_data_source(runner, job), progress=tracker, run_id=staged_run_id, **job.settings)
        heartbeat.stop()
        per_chain = int(job.settings["draws"]) + int(job.settings["tune"])
        final = {**tracker.snapshot(), "phase": "succeeded", "eta_s": 0.0, "message": f"run {run.run_id}",
                 "draws_done": per_chain * int(job.settings["chains"]),
                 "chain_draws": [per_chain] * int(job.settings["chains"])}
        store.update(job_id, only_if_state=["running"], state="succeeded", finished_at=now_iso(), run_id=run.run_id,
                     sampler=run.metadata.get("sampler"), device=run.metadata.get("device"), progress=final,
                     heartbeat_at=now_iso())
        log.info("job %s succeeded: run %s (%s)", job_id, run.run_id, run.verdict)
        return 0
    except SystemExit:
        heartbeat.stop()
        cancelled = bool(store.get_row(job_id)["cancel_requested"])
        final = {**tracker.snapshot(), "phase": "cancelled" if cancelled else "failed", "eta_s": None}
        store.update(job_id, only_if_state=["running"], state="cancelled" if cancelled else "failed",
                     finished_at=now_iso(), progress=final,
                     error=None if cancelled else "the worker was stopped by a signal")
        log.info("job %s stopped (%s)", job_id, "cancelled" if cancelled else "signal")
        return 1
    except Exception as exc:
        heartbeat.stop()
        log.exception("job %s failed", job_id)
        final = {**tracker.snapshot(), "phase": "failed", "eta_s": None}
        store.update(job_id, only_if_state=["running"], state="failed", finished_at=now_iso(), progress=final,
                     error=_error_text(exc))
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a late cancel must not interrupt the hand-over
        try:
            runner.sweep()  # start the next queued job
        except Exception as exc:
            log.warning("could not start queued jobs: %s", exc)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m bayes_core.jobs.worker <job_id>", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _on_sigterm)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run_job(argv[0])


if __name__ == "__main__":
    sys.exit(main())
