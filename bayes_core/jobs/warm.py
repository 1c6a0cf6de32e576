"""A warm worker: ``python -m bayes_core.jobs.warm <worker_id>``, started by the local runner's sweep.

It imports the scientific stack once, keeps compiled models (``bayes_core.compiled``) and runs the
jobs handed to it (``pool.WarmPool.take``) one after another through the same entry point as every
runner, ``worker.execute(job, reporter)``: durable state and live progress in the job's row, each
job's output in the job's own log. Between jobs it collects garbage and checks its memory.

Memory is collected once the worker has been idle for a moment after a job (``COLLECT_AFTER_S``)
— not while the next job waits: a full collection of a process holding the stack takes ~0.2 s —
and at least every ``COLLECT_EVERY_JOBS`` jobs. It leaves (removing its row first, so no job is
handed to it meanwhile) when:
- it has been idle for ``BAYES_WARM_IDLE`` seconds;
- its memory, collected after a job, exceeds ``BAYES_WARM_MAX_RSS_MB`` (the next job starts a fresh one);
- the project's code changed since it started (it would otherwise run old code);
- it receives SIGTERM (``WarmPool.stop``): a job it is running fails with that reason;
- its row disappears (it was forgotten as dead).

A cancelled job is stopped by the job itself (``ProgressTracker`` raises ``Cancelled`` at the next
progress report, which aborts nutpie's sampler) and the worker takes the next job; a job that does
not stop in time is ended by killing the worker (``LocalJobRunner.cancel``).

``WarmExecutor`` is the reusable part — stack loaded, compiled models kept, jobs run one at a time
with their output captured — with no tie to SQLite: a Ray actor can hold one and run the jobs it is
given with a file reporter.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Iterator

from bayes_core.jobs import worker
from bayes_core.jobs.api import Job, JobState
from bayes_core.jobs.worker import Outcome, Reporter, StoreReporter

log = logging.getLogger("bayes_core.jobs.warm")
POLL_S = 0.1  # how soon an idle worker notices a job handed to it
SEEN_EVERY_S = 5.0
COLLECT_AFTER_S = 0.3  # idle this long after a job: collect its garbage and check the memory
COLLECT_EVERY_JOBS = 5  # ... and at least this often when jobs come back to back
STARTUP_WAIT_S = 10.0  # the sweep that started us may commit our row a moment after we start
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


class WarmExecutor:
    """Runs jobs one after another in this process, with the scientific stack imported once and
    compiled models kept; each job's output goes to its own log. ``release()`` collects what the
    jobs left (call it between jobs when nothing waits). The local runner's warm worker holds one;
    a Ray actor can hold one the same way."""

    def __init__(self, max_compiled: int | None = None):
        from bayes_core import compiled

        self.compiled = compiled.enable(max_compiled or compiled.DEFAULT_MAX_ENTRIES)
        self.jobs_done = 0
        self._configs_stamp: tuple | None = None

    @staticmethod
    def preload() -> float:
        """Import what every training needs (seconds it took): the cost a warm worker pays once."""
        t0 = time.perf_counter()
        import arviz  # noqa: F401
        import nutpie  # noqa: F401
        import pymc  # noqa: F401

        from bayes_core.registry import get_registry

        get_registry()
        return time.perf_counter() - t0

    def run(self, job: Job, reporter: Reporter, *, root: Path, log_path: Path | None = None) -> Outcome:
        """``worker.execute`` for one job (already running), its output appended to ``log_path``."""
        self._refresh_configs()
        with job_output(log_path):
            outcome = worker.execute(job, reporter, root=root)
            log.info("warm worker %s: job %s %s (compiled models: %s)", os.getpid(), job.job_id,
                     outcome.state.value, self.compiled.stats())
        self.jobs_done += 1
        return outcome

    @staticmethod
    def release() -> float:
        """Collect the garbage of the jobs run so far; returns the resident memory then (MB)."""
        release_memory()
        return rss_mb()

    def _refresh_configs(self) -> None:
        """Re-read the model configs when a file changed since the last job (a cheap stat)."""
        from bayes_core.config import config_dir
        from bayes_core.registry import get_registry

        stamp = _stamp(Path(config_dir()).glob("*/config.yaml"))
        if self._configs_stamp is not None and stamp != self._configs_stamp:
            get_registry(refresh=True)
        self._configs_stamp = stamp


# -- a job's output and memory -------------------------------------------------------------------------
@contextlib.contextmanager
def job_output(path: Path | None) -> Iterator[None]:
    """Send this process's stdout and stderr (Python's, the libraries', native threads') to ``path``
    while the block runs, as a one-job worker's go to its job log; restored afterwards."""
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(path, "ab", buffering=0) as target:
            os.dup2(target.fileno(), 1)
            os.dup2(target.fileno(), 2)
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        for fd in saved:
            os.close(fd)


def rss_mb() -> float:
    """This process's resident memory now, in MB (Linux ``/proc``; the peak elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def release_memory() -> None:
    """Collect what the last job left and hand freed heap pages back to the system (glibc)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _stamp(paths) -> tuple:
    out = []
    for path in paths:
        with contextlib.suppress(OSError):
            st = path.stat()
            out.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(sorted(out))


def code_stamp() -> tuple:
    """The project's Python sources as (path, mtime, size): a change means this worker runs old code."""
    return _stamp(PACKAGE_ROOT.rglob("*.py"))


# -- the worker process ------------------------------------------------------------------------------
class WarmStoreReporter(StoreReporter):
    """The job's row, as for any local job. The outcome is recorded in one transaction with the
    worker becoming idle and the queue's next job handed over (a sweep): whoever sees the job
    finished sees the queue already moved on, and a job submitted that moment finds the worker free."""

    def __init__(self, runner, job_id: str, worker_id: str):
        super().__init__(runner.store, job_id)
        self.runner, self.worker_id = runner, worker_id

    def finish(self, outcome: Outcome, conn=None) -> None:
        with self.store.transaction() as own:
            super().finish(outcome, own)
            self.runner.pool.release(own, self.worker_id, self.job_id)
            try:
                self.runner.sweep(own)
            except Exception as exc:  # e.g. a bad setting: the outcome stays recorded; the next read sweeps
                log.warning("could not start queued jobs: %s", exc)


def serve(worker_id: str) -> int:
    """The warm worker's loop: run the jobs handed to it until it has a reason to leave."""
    from bayes_core.jobs import pool as pool_settings
    from bayes_core.jobs.local import LocalJobRunner

    runner = LocalJobRunner()
    pool, store = runner.pool, runner.store
    if not pool_settings.wait_until(lambda: pool.get(worker_id) is not None, STARTUP_WAIT_S, 0.1):
        log.info("warm worker %s has no row in %s; exiting", worker_id, store.path)
        return 0
    idle_s, max_rss = pool_settings.idle_seconds(), pool_settings.max_rss_mb()
    executor = WarmExecutor()
    log.info("warm worker %s (pid %s) loaded the stack in %.1f s; idle exit after %.0f s, memory limit %.0f MB",
             worker_id, os.getpid(), executor.preload(), idle_s, max_rss)
    started_code = code_stamp()
    idle_since = last_seen = time.monotonic()
    leaving: str | None = None  # a reason to leave once idle (memory, code, SIGTERM); idleness is checked apart
    ran: set[str] = set()  # never run a job twice (its outcome may not have been recorded)
    uncollected = 0  # jobs run since memory was last collected
    while True:
        me = pool.get(worker_id)
        if me is None:
            log.info("warm worker %s: its row is gone; exiting", worker_id)
            return 0
        if me.job_id and me.job_id not in ran:
            ran.add(me.job_id)
            _run_handed_job(executor, runner, worker_id, me.job_id)
            uncollected += 1
            leaving = leaving or _reason_to_leave(started_code)
            idle_since = time.monotonic()
            if uncollected < COLLECT_EVERY_JOBS:
                continue  # the next job may already be ours (handed over as this one's outcome was recorded)
        elif me.job_id:  # its outcome was not recorded (store locked): free the worker anyway
            with store.transaction() as conn:
                pool.release(conn, worker_id, me.job_id)
            _sweep(runner)
            continue
        if uncollected and (uncollected >= COLLECT_EVERY_JOBS or time.monotonic() - idle_since > COLLECT_AFTER_S):
            memory = executor.release()
            pool.seen(worker_id, memory)
            uncollected, last_seen = 0, time.monotonic()
            if memory > max_rss:
                leaving = leaving or f"memory {memory:.0f} MB exceeds BAYES_WARM_MAX_RSS_MB={max_rss:.0f}"
        idle = not me.job_id and time.monotonic() - idle_since > idle_s
        reason = leaving or (f"idle for {idle_s:.0f} s" if idle else None)
        if reason is not None and not uncollected:
            if pool.retire_if_idle(worker_id):  # else a job was handed over meanwhile: run it first
                log.info("warm worker %s leaves after %d job(s): %s", worker_id, executor.jobs_done, reason)
                _sweep(runner)  # a queued job now starts a replacement
                return 0
            continue
        if time.monotonic() - last_seen > SEEN_EVERY_S:
            pool.seen(worker_id)
            last_seen = time.monotonic()
        time.sleep(POLL_S)


def _run_handed_job(executor: WarmExecutor, runner, worker_id: str, job_id: str) -> None:
    job = runner.store.get(job_id)
    if job.state != JobState.RUNNING or job.pid != os.getpid():
        log.info("job %s handed over is %s; nothing to do", job_id, job.state.value)
        with runner.store.transaction() as conn:
            runner.pool.release(conn, worker_id, job_id)
        return
    reporter = WarmStoreReporter(runner, job_id, worker_id)
    executor.run(job, reporter, root=runner.root, log_path=runner.log_path(job_id))


def _reason_to_leave(started_code: tuple) -> str | None:
    if _stopping:
        return "asked to stop (SIGTERM)"
    if code_stamp() != started_code:
        return "the project's code changed since it started"
    return None


def _sweep(runner) -> None:
    try:
        runner.sweep()
    except Exception as exc:  # a locked store must not kill the worker; the next read sweeps again
        log.warning("could not start queued jobs: %s", exc)


_stopping = False


def _on_sigterm(signum, frame) -> None:
    global _stopping
    _stopping = True
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m bayes_core.jobs.warm <worker_id>", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _on_sigterm)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format=worker.LOG_FORMAT)
    worker.quiet_library_loggers()
    worker_id = argv[0]
    try:
        return serve(worker_id)
    except SystemExit:
        return 0
    finally:
        _leave(worker_id)


def _leave(worker_id: str) -> None:
    """Remove this worker's row however it leaves (a no-op when it already has)."""
    from bayes_core.jobs.local import LocalJobRunner

    with contextlib.suppress(Exception):
        with LocalJobRunner().store.transaction() as conn:
            conn.execute("DELETE FROM warm_workers WHERE worker_id = ? AND pid = ?", (worker_id, os.getpid()))


if __name__ == "__main__":
    sys.exit(main())
