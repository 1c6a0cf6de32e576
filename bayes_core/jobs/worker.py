"""The one entry point every runner executes: ``python -m bayes_core.jobs.worker [--file] <job_id>``.

``execute(job, reporter)`` runs one job wherever it is called — this detached process (the local
runner), a Ray job's entrypoint, or a long-lived warm worker — and talks to the outside only
through its ``Reporter``: where its output is staged, a progress snapshot every half second (the
heartbeat), whether a cancel was asked for, and the final outcome. The local runner's reporter
writes the job's SQLite row; with ``--file`` (a Ray job's entrypoint) the job's record and reports
are JSON files on shared storage instead (``files.FileReporter``).
What the job does is looked up by ``job.task`` in ``bayes_core.jobs.tasks``.

SIGTERM (cancel) raises SystemExit in the main thread, which unwinds the task and removes its
staged output; the runner SIGKILLs and cleans up if that takes too long. A cancel seen by the
heartbeat (the reporter's flag) also makes the job's progress callback raise ``Cancelled`` in the
thread running the task: the sampler stops at its next report (nutpie's is aborted), which is
how a long-lived warm worker cancels a job and stays alive for the next one.
"""

from __future__ import annotations

import _thread
import logging
import signal
import sys
import threading
import time
import traceback
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bayes_core import artifacts
from bayes_core.errors import BayesCoreError
from bayes_core.jobs import tasks
from bayes_core.jobs.api import Job, JobState, check_job_id
from bayes_core.jobs.store import JobStore, now_iso
from bayes_core.samplers import Cancelled, Progress

log = logging.getLogger("bayes_core.jobs.worker")
HEARTBEAT_S = 0.5
#: Library loggers whose INFO lines are noise in a job's log (pytensor's config parser says
#: "Suppressed KeyError ..." six times on import).
NOISY_LOGGERS = ("pytensor.configparser",)
TRACEBACK_TAIL_LINES = 15
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_SAMPLING_PHASES = ("tuning", "sampling")


@dataclass
class Outcome:
    """How a job ended: its final state, last progress snapshot and what it produced (or why not)."""

    state: JobState
    progress: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    run_id: str | None = None
    sampler: str | None = None
    device: str | None = None


class Reporter(ABC):
    """Where a running job reports to. Implementations must be safe to call from two threads."""

    @abstractmethod
    def staging(self, output_id: str) -> None:
        """The task stages its output under ``output_id``: a runner that finds the worker dead uses
        it to keep a whole output or remove a partial one."""

    @abstractmethod
    def progress(self, snapshot: dict[str, Any]) -> None:
        """The latest progress; also the heartbeat (called every half second, even when nothing moved)."""

    @abstractmethod
    def cancel_requested(self) -> bool:
        """Has the user asked to cancel this job?"""

    @abstractmethod
    def finish(self, outcome: Outcome) -> None:
        """Record the final outcome (a no-op when the runner already finished the job, e.g. cancelled)."""


class StoreReporter(Reporter):
    """The local runner's reporter: the job's row in the SQLite job store."""

    def __init__(self, store: JobStore, job_id: str):
        self.store, self.job_id = store, job_id

    def staging(self, output_id: str) -> None:
        self.store.update(self.job_id, staged_run_id=output_id)

    def progress(self, snapshot: dict[str, Any]) -> None:
        self.store.update(self.job_id, only_if_state=[JobState.RUNNING], progress=snapshot, heartbeat_at=now_iso())

    def cancel_requested(self) -> bool:
        return bool(self.store.get_row(self.job_id)["cancel_requested"])

    def finish(self, outcome: Outcome, conn=None) -> None:
        """Record the outcome (inside ``conn``'s transaction when given)."""
        fields = {"finished_at": now_iso(), "progress": outcome.progress, "error": outcome.error,
                  "heartbeat_at": now_iso()}
        if outcome.run_id:
            fields.update(run_id=outcome.run_id, sampler=outcome.sampler, device=outcome.device)
        if not self.store.transition(self.job_id, outcome.state, conn, **fields):
            log.info("job %s was already finished by its runner; outcome %s not recorded", self.job_id,
                     outcome.state.value)


class ProgressTracker:
    """The sampler's progress callback: keeps the latest snapshot and derives elapsed time and ETA.

    The ETA extrapolates the draw rate measured since the first reported draw (compile time is
    excluded); it is None until the sampler reports draws (NumPyro reports none). A phase reported
    without draws (posterior predictive, saving) keeps the draws done so far: a job stopped there
    shows where sampling got to, never a reset or a filled bar.

    After ``cancel()`` the next report from the thread that created the tracker (the one running
    the task) raises ``Cancelled``; reports from other threads (a sampler's own) are only recorded.
    """

    def __init__(self, draws_total: int, clock=time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._t0 = clock()
        self._rate_start: tuple[float, int] | None = None
        self._latest = Progress("starting", 0, draws_total, message="loading the model and data")
        self._owner = threading.get_ident()
        self.cancelled = threading.Event()

    def cancel(self) -> None:
        self.cancelled.set()

    def __call__(self, progress: Progress) -> None:
        with self._lock:
            previous = self._latest
            if not progress.draws_total:
                progress.draws_total = previous.draws_total
            if progress.phase not in _SAMPLING_PHASES and not progress.draws_done and previous.draws_done:
                progress.draws_done, progress.chain_draws = previous.draws_done, list(previous.chain_draws)
                progress.divergences = progress.divergences or previous.divergences
            if progress.phase in _SAMPLING_PHASES and progress.draws_done > 0 and self._rate_start is None:
                self._rate_start = (self._clock(), progress.draws_done)
            self._latest = progress
        if self.cancelled.is_set() and threading.get_ident() == self._owner:
            raise Cancelled()

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
    """Reports the tracker's snapshot every ``interval`` seconds and watches for a cancel request."""

    def __init__(self, reporter: Reporter, tracker: ProgressTracker, on_cancel: Callable[[], None] | None = None,
                 interval: float | None = None):
        super().__init__(name="job-heartbeat", daemon=True)
        self.reporter, self.tracker, self.on_cancel = reporter, tracker, on_cancel
        self.interval = HEARTBEAT_S if interval is None else interval
        self.cancel_seen = False
        self._stop_event = threading.Event()

    def beat(self) -> None:
        self.reporter.progress(self.tracker.snapshot())
        if not self.cancel_seen and self.reporter.cancel_requested():
            self.cancel_seen = True
            self.tracker.cancel()  # the task stops at its next progress report
            if self.on_cancel is not None:
                self.on_cancel()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            try:
                self.beat()
            except Exception as exc:  # a locked or briefly unavailable store must not kill the job
                log.warning("heartbeat not written: %s", exc)

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive() and self is not threading.current_thread():
            self.join(timeout=5)


def execute(job: Job, reporter: Reporter, *, root: Path | None = None,
            on_cancel: Callable[[], None] | None = None) -> Outcome:
    """Run ``job`` (already ``running``) to its outcome and report it; never raises for the job's own
    failure. ``root``: the artifacts root holding uploads (default: the current one). When a cancel
    is requested the task's progress callback raises ``Cancelled`` at its next report (which aborts
    nutpie's sampler); ``on_cancel``, called from the heartbeat thread, may stop it harder (the
    one-job worker process interrupts its main thread)."""
    root = Path(root) if root is not None else artifacts.artifacts_root()
    tracker = ProgressTracker(job.progress.get("draws_total") or 0)
    heartbeat = Heartbeat(reporter, tracker, on_cancel)
    log.info("job %s: %s %s with settings %s, options %s, priors %s, data %s", job.job_id, job.task, job.model_id,
             job.settings, job.options, job.priors, job.data_ref)
    try:
        task = tasks.get_task(job.task)
        output_id = task.new_output_id()
        reporter.staging(output_id)
        heartbeat.start()
        result = task.run(tasks.TaskContext(job, tasks.data_source(job, root), tracker, output_id))
        heartbeat.stop()
        outcome = Outcome(JobState.SUCCEEDED, {**tracker.snapshot(), "phase": "succeeded", "eta_s": 0.0,
                                               "message": result.message, **result.progress},
                          run_id=result.run_id, sampler=result.sampler, device=result.device)
        log.info("job %s succeeded: %s", job.job_id, result.message)
    except (SystemExit, KeyboardInterrupt) as exc:
        heartbeat.stop()
        cancelled = heartbeat.cancel_seen or _cancel_requested(reporter)
        state = JobState.CANCELLED if cancelled else JobState.FAILED
        outcome = Outcome(state, {**tracker.snapshot(), "phase": state.value, "eta_s": None},
                          error=None if cancelled else f"the worker was stopped by {_signal_name(exc)} from outside "
                                                       "(not a cancel from the app or CLI), and nothing was saved: "
                                                       "submit the job again")
        log.info("job %s stopped (%s)", job.job_id, "cancelled" if cancelled else "signal")
    except Exception as exc:
        heartbeat.stop()
        log.exception("job %s failed", job.job_id)
        outcome = Outcome(JobState.FAILED, {**tracker.snapshot(), "phase": "failed", "eta_s": None},
                          error=_error_text(exc))
    try:
        reporter.finish(outcome)
    except Exception as exc:
        log.error("job %s: outcome %s not recorded: %s", job.job_id, outcome.state.value, exc)
    return outcome


def _signal_name(exc: BaseException) -> str:
    """Which signal stopped the worker: SIGTERM's handler exits with 128 + its number, Ctrl-C interrupts."""
    if isinstance(exc, KeyboardInterrupt):
        return "an interrupt (SIGINT)"
    code = exc.code if isinstance(exc, SystemExit) else None
    if isinstance(code, int) and code > 128:
        try:
            return f"a signal ({signal.Signals(code - 128).name})"
        except ValueError:
            pass
    return "a signal"


def _cancel_requested(reporter: Reporter) -> bool:
    try:
        return reporter.cancel_requested()
    except Exception:
        return False


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, BayesCoreError):  # the core's messages say what to do; no traceback needed
        return f"{type(exc).__name__}: {exc}"
    tail = traceback.format_exception(exc)
    lines = "".join(tail).rstrip().splitlines()[-TRACEBACK_TAIL_LINES:]
    return f"{type(exc).__name__}: {exc}\n\nTraceback (last lines):\n" + "\n".join(lines)


# -- the local runner's process ---------------------------------------------------------------------
def _on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


def _ignore_signal(signum, frame) -> None:
    pass


def _interrupt_main() -> None:
    _thread.interrupt_main(signal.SIGTERM)


def run_job(job_id: str) -> int:
    """Execute a local job in this process, then start the next queued one (no daemon needed)."""
    from bayes_core.jobs.local import LocalJobRunner

    runner = LocalJobRunner()
    store = runner.store
    job = store.get(check_job_id(job_id))
    deadline = time.monotonic() + 10
    while job.state == JobState.QUEUED and time.monotonic() < deadline:  # the starter's commit may trail our start
        time.sleep(0.1)
        job = store.get(job_id)
    if job.state != JobState.RUNNING:
        log.info("job %s is %s; nothing to do", job_id, job.state.value)
        return 0
    try:
        outcome = execute(job, StoreReporter(store, job_id), root=runner.root, on_cancel=_interrupt_main)
    finally:
        # A late cancel must not interrupt the hand-over. A handler, not SIG_IGN: an ignored signal is
        # inherited by the next worker this sweep starts, which then could not be cancelled while starting.
        signal.signal(signal.SIGTERM, _ignore_signal)
        try:
            runner.sweep()  # start the next queued job
        except Exception as exc:
            log.warning("could not start queued jobs: %s", exc)
    return 0 if outcome.state == JobState.SUCCEEDED else 1


def run_file_job(job_id: str, root: Path | None = None) -> int:
    """Execute a cluster job whose record and reports are files on shared storage (``files.py``):
    a Ray job's entrypoint. A job cancelled before it started exits at once, doing nothing."""
    from bayes_core.jobs.files import FileReporter, JobFiles

    root = Path(root) if root is not None else artifacts.artifacts_root()
    files = JobFiles(root, job_id)
    job = files.read_job()
    handler = logging.FileHandler(files.log_path)  # kept with the job when the cluster forgets its log
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.getLogger().addHandler(handler)
    if files.cancel_requested():
        log.info("job %s was cancelled before it started; nothing to do", job_id)
        return 0
    if job.state.is_terminal or files.read_state().get("outcome"):
        log.info("job %s has already ended (%s); nothing to do", job_id, job.state.value)
        return 0
    job.state, job.started_at = JobState.RUNNING, now_iso()
    outcome = execute(job, FileReporter(files), root=root, on_cancel=_interrupt_main)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the outcome is recorded: a late stop changes nothing
    return 0 if outcome.state == JobState.SUCCEEDED else 1


USAGE = ("usage: python -m bayes_core.jobs.worker <job_id>          (a local job, in the SQLite store)\n"
         "       python -m bayes_core.jobs.worker --file <job_id>   (a cluster job, as files under BAYES_ARTIFACTS_DIR)")


def quiet_library_loggers() -> None:
    """Keep libraries' INFO chatter out of job logs (call before pytensor is imported)."""
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    file_mode = len(argv) == 2 and argv[0] == "--file"
    if len(argv) != 1 and not file_mode:
        print(USAGE, file=sys.stderr)
        return 2
    job_id = argv[-1]
    signal.signal(signal.SIGTERM, _on_sigterm)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format=LOG_FORMAT)
    quiet_library_loggers()
    try:
        return run_file_job(check_job_id(job_id)) if file_mode else run_job(job_id)
    except BayesCoreError as exc:  # e.g. a damaged job store: say so in the job log, no traceback
        log.error("job %s cannot run: %s", job_id, exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
