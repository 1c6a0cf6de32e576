"""Starting, checking and stopping detached worker processes (POSIX).

A worker is the leader of its own session and process group (``start_new_session=True``), so it
outlives the page or CLI that started it and cancelling can stop it together with any children
(PyMC's multiprocess chains). Two kinds exist: a one-job worker (``python -m bayes_core.jobs.worker
<job_id>``) and a warm worker (``python -m bayes_core.jobs.warm <worker_id>``). A pid is only ever
taken for one of ours when its command line names the module and the id, so a reused pid is
never signalled.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WORKER_MODULE = "bayes_core.jobs.worker"
WARM_MODULE = "bayes_core.jobs.warm"
EXIT_STATUS_WAIT_S = 2.0
_CHILDREN: dict[int, subprocess.Popen] = {}  # workers this process started: polled so they never linger as zombies
_EXIT_CODES: dict[int, int] = {}  # exit codes of reaped workers: why a worker died, when we were its parent


def hostname() -> str:
    return socket.gethostname()


def spawn_worker(job_id: str, log_path: Path, artifacts_root: Path) -> int:
    """Start ``python -m bayes_core.jobs.worker <job_id>`` detached; stdout/stderr go to the job log."""
    return spawn_module(WORKER_MODULE, job_id, log_path, artifacts_root)


def spawn_module(module: str, ident: str, log_path: Path, artifacts_root: Path) -> int:
    """Start ``python -m <module> <ident>`` detached in its own session; output appended to ``log_path``."""
    env = dict(os.environ)
    # The worker must see the same artifacts root and configs whatever its working directory.
    env["BAYES_ARTIFACTS_DIR"] = str(Path(artifacts_root).resolve())
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, ident], stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, env=env, start_new_session=True, close_fds=True,
        )
    _CHILDREN[proc.pid] = proc
    return proc.pid


def reap_children() -> None:
    """Collect the exit status of finished workers this process started (no zombies linger)."""
    for pid in list(_CHILDREN):
        _reap(pid)


def _reap(pid: int, wait_s: float = 0.0) -> None:
    """Collect ``pid``'s exit status if it is our child and has exited (waiting up to ``wait_s``)."""
    proc = _CHILDREN.get(pid)
    if proc is None:
        return
    try:
        proc.wait(timeout=wait_s) if wait_s > 0 else proc.poll()
    except subprocess.TimeoutExpired:
        return
    if proc.returncode is not None:
        _CHILDREN.pop(pid, None)
        _EXIT_CODES[pid] = proc.returncode


def exit_reason(pid: int | None) -> str:
    """Why the worker ``pid`` is gone, and what to do, as far as this process can know.

    Only the process that started a worker learns its exit status (a page's app process does; a
    short-lived ``jobs submit`` does not). A worker that records no outcome was almost always
    killed from outside: by the kernel for lack of memory (SIGKILL), or by an administrator.
    """
    if pid:
        # Just after a SIGKILL a multi-threaded worker's main thread is already a zombie while its other
        # threads still exit; only then can its status be collected: give it a moment.
        _reap(pid, wait_s=EXIT_STATUS_WAIT_S)
    code = _EXIT_CODES.get(pid) if pid else None
    advice = "try fewer draws or chains (or less data), and see the job log for its last lines"
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "an unknown signal"
        cause = ", possibly by the system for lack of memory" if -code == signal.SIGKILL else ""
        return f"the worker was killed (signal {-code}, {name}){cause}: {advice}."
    if code is not None:
        return (f"the worker (pid {pid}) exited with code {code} without recording an outcome: see the job log "
                "for its last lines.")
    return (f"the worker (pid {pid}) is gone without recording an outcome; it was most likely killed (e.g. by the "
            f"system for lack of memory, signal 9): {advice}.")


def worker_alive(pid: int | None, job_id: str, module: str = WORKER_MODULE) -> bool:
    """Is ``pid`` still the worker of ``job_id`` (a warm worker's id with ``module=WARM_MODULE``)?
    False for a gone, zombie or reused pid."""
    if not pid:
        return False
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else: cannot be ours, but do not declare it dead
    proc_dir = Path(f"/proc/{pid}")
    if not proc_dir.is_dir():  # no procfs (macOS): the signal check is all we have
        return True
    try:
        state = (proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc_dir / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    except OSError:
        return True
    return is_worker_process(state, cmdline, job_id, module)


def is_worker_process(state: str, cmdline: bytes, job_id: str, module: str = WORKER_MODULE) -> bool:
    """From ``/proc/<pid>`` facts: is this a live worker of ``job_id``? A process that has just
    exec'd can show an empty command line for a moment (seen right after ``Popen`` returns): it
    is taken as alive, else a job would be failed in the instant its worker starts."""
    if state in ("Z", "X"):
        return False
    if not cmdline:
        return True
    return module.encode() in cmdline and job_id.encode() in cmdline


def terminate_worker(pid: int, job_id: str, grace_s: float = 2.5, kill_wait_s: float = 1.5,
                     module: str = WORKER_MODULE) -> bool:
    """SIGTERM the worker's process group, SIGKILL it after ``grace_s``; True once it is gone."""
    if not worker_alive(pid, job_id, module):
        return True
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, kill_wait_s)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not worker_alive(pid, job_id, module):
                return True
            time.sleep(0.05)
    return not worker_alive(pid, job_id, module)
