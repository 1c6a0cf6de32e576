"""A single-node Ray head on this machine, to try the Ray runner (``make ray-up``/``make ray-down``)
and for the tests.

    python -m bayes_core.jobs.ray_local up [--cpus 2] [--gpus N] [--port 8265] [--hours 12]
    python -m bayes_core.jobs.ray_local down
    python -m bayes_core.jobs.ray_local status

``up`` starts a small supervisor (this module's ``supervise``) in a session of its own. It runs
``ray start --head --block`` and stops it — SIGTERM to that process, which stops the processes it
started, then SIGKILL to its process group for anything left — when ``down`` sends it SIGTERM, when
its time is up (``--hours``: a forgotten head stops by itself), or when the process it watches
exits (a test session). The pids are recorded in ``<state dir>/head.json`` (``.ray/`` for
``ray-up``); nothing is ever stopped by name (``ray stop`` would stop every Ray on the machine).

The head: Jobs API and dashboard on 127.0.0.1 (every other port on the loopback address too; Ray's
switch for a one-machine cluster, ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, makes it use 127.0.0.1 as
its node address), usage statistics off, token authentication on (Ray 2.60's default for local
clusters) with the token in Ray's default file ``~/.ray/auth_token`` (created if missing), which the
runner finds by itself, ``--num-cpus`` as given, its own temporary folder (removed when it stops).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bayes_core.jobs.processes import PROJECT_ROOT

STATE_DIR = PROJECT_ROOT / ".ray"
HEAD_FILE, LOG_FILE = "head.json", "head.log"
MODULE = "bayes_core.jobs.ray_local"
READY_WAIT_S = 120.0
STOP_WAIT_S = 20.0


def default_token_path() -> Path:
    return Path.home() / ".ray" / "auth_token"


def ensure_token(path: Path) -> Path:
    """The token file at ``path``, created (owner-only, 256 random bits as Ray makes them) if missing."""
    if not path.is_file() or not path.read_text().strip():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # from the ephemeral range: clear of Ray's worker ports (10002-19999)
        return s.getsockname()[1]


def _alive(pid: int | None, marker: str) -> bool:
    """Is ``pid`` a live process whose command line holds ``marker`` (never a reused pid)?"""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (ProcessLookupError, FileNotFoundError):
        return False
    except (PermissionError, OSError):
        return True
    return state not in ("Z", "X") and marker in cmdline


def read_head(state_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((state_dir / HEAD_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return None


def running_head(state_dir: Path) -> dict[str, Any] | None:
    """The recorded head if its supervisor is still alive."""
    head = read_head(state_dir)
    if head and _alive(head.get("supervisor_pid"), MODULE):
        return head
    return None


def _get(url: str, token: str, timeout: float = 3.0) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def _ready(head: dict[str, Any]) -> bool:
    """The Jobs API answers and the node has registered its CPUs."""
    token = Path(head["token_path"]).read_text().strip()
    try:
        _get(head["address"] + "/api/version", token)
        nodes = _get(head["address"] + "/api/v0/nodes", token)["data"]["result"]["result"]
    except (OSError, urllib.error.URLError, ValueError, KeyError, TypeError):
        return False
    return any(n.get("state") == "ALIVE" and (n.get("resources_total") or {}).get("CPU") for n in nodes)


# -- start / stop -----------------------------------------------------------------------------------
def start(state_dir: Path = STATE_DIR, *, cpus: int = 2, gpus: int | None = None, port: int | None = None,
          hours: float | None = None, token_path: Path | None = None, watch_pid: int | None = None,
          wait_s: float = READY_WAIT_S) -> dict[str, Any]:
    """Start a head (or return the one already running from ``state_dir``) and wait until it takes jobs."""
    state_dir = Path(state_dir).absolute()
    head = running_head(state_dir)
    if head is not None:
        return head
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / HEAD_FILE).unlink(missing_ok=True)
    token_path = ensure_token(Path(token_path or default_token_path()).absolute())
    spec = {"cpus": cpus, "gpus": gpus, "port": port or free_port(), "hours": hours, "token_path": str(token_path),
            "watch_pid": watch_pid}
    with open(state_dir / LOG_FILE, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", MODULE, "supervise", str(state_dir), json.dumps(spec)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT,
                                start_new_session=True, close_fds=True)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        head = read_head(state_dir)
        if proc.poll() is not None:
            raise RuntimeError(f"The Ray head did not start (exit code {proc.returncode}); its log "
                               f"{state_dir / LOG_FILE} ends:\n{_tail(state_dir / LOG_FILE)}")
        if head and head.get("supervisor_pid") == proc.pid and _ready(head):
            return head
        time.sleep(0.5)
    stop(state_dir)
    raise RuntimeError(f"The Ray head did not answer within {wait_s:.0f} s; it was stopped. Its log "
                       f"{state_dir / LOG_FILE} ends:\n{_tail(state_dir / LOG_FILE)}")


def stop(state_dir: Path = STATE_DIR, wait_s: float = STOP_WAIT_S + 15) -> bool:
    """Stop the head recorded in ``state_dir`` by its recorded pids; False when none is recorded."""
    state_dir = Path(state_dir).absolute()
    head = read_head(state_dir)
    if head is None:
        return False
    supervisor = head.get("supervisor_pid")
    if _alive(supervisor, MODULE):
        os.kill(supervisor, signal.SIGTERM)
        deadline = time.monotonic() + wait_s
        while _alive(supervisor, MODULE) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(supervisor, MODULE):
            os.kill(supervisor, signal.SIGKILL)
    _kill_group(head.get("ray_pid"))  # whatever the supervisor could not stop (none when it stopped cleanly)
    if head.get("temp_dir"):
        shutil.rmtree(head["temp_dir"], ignore_errors=True)
    (state_dir / HEAD_FILE).unlink(missing_ok=True)
    return True


def _group_is_ray(pgid: int) -> bool:
    """Does process group ``pgid`` still hold a Ray process (so the id is not someone else's by now)?"""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2]) == pgid \
                    and b"ray" in (proc / "cmdline").read_bytes():
                return True
        except (OSError, IndexError, ValueError):
            continue
    return False


def _kill_group(ray_pid: int | None) -> None:
    """SIGKILL what is left of the process group that ``ray start`` leads (it makes itself a group leader)."""
    if not ray_pid or ray_pid == os.getpgrp() or not _group_is_ray(ray_pid):
        return
    try:
        os.killpg(ray_pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# -- the supervisor -----------------------------------------------------------------------------------
def supervise(state_dir: Path, spec: dict[str, Any]) -> int:
    temp_dir = tempfile.mkdtemp(prefix="bayes-ray-", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    if ray is None:
        print("The `ray` command is missing: install the requirements (`make venv`).", file=sys.stderr)
        return 1
    address = f"http://127.0.0.1:{spec['port']}"
    cmd = [ray, "start", "--head", "--block", "--disable-usage-stats", "--include-dashboard", "true",
           "--node-ip-address", "127.0.0.1", "--dashboard-host", "127.0.0.1", "--dashboard-port", str(spec["port"]),
           "--num-cpus", str(spec["cpus"]), "--temp-dir", temp_dir, "--object-store-memory", str(200 * 2**20)]
    if spec.get("gpus") is not None:
        cmd += ["--num-gpus", str(spec["gpus"])]
    for flag in ("--port", "--ray-client-server-port", "--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
                 "--runtime-env-agent-port", "--metrics-export-port", "--node-manager-port", "--object-manager-port"):
        cmd += [flag, str(free_port())]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=spec["token_path"],
               RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0",
               PYTHONPATH=os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p),
               PATH=os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", ""))))
    proc = subprocess.Popen(cmd, env=env, cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL)
    started = datetime.now(timezone.utc)
    expires = started + timedelta(hours=spec["hours"]) if spec.get("hours") else None
    head = {"supervisor_pid": os.getpid(), "ray_pid": proc.pid, "address": address, "token_path": spec["token_path"],
            "cpus": spec["cpus"], "gpus": spec.get("gpus"), "temp_dir": temp_dir, "started_at": started.isoformat(),
            "expires_at": expires.isoformat() if expires else None, "watch_pid": spec.get("watch_pid")}
    tmp = state_dir / f".{HEAD_FILE}.tmp"
    tmp.write_text(json.dumps(head, indent=1))
    os.replace(tmp, state_dir / HEAD_FILE)

    stopping: list[str] = []
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: stopping.append(signal.Signals(signum).name))
    watch = spec.get("watch_pid")
    while proc.poll() is None:
        if stopping or (watch and not _pid_exists(watch)) or (expires and datetime.now(timezone.utc) > expires):
            reason = stopping[0] if stopping else ("the watched process exited" if watch and not _pid_exists(watch)
                                                   else "its time was up")
            print(f"stopping the Ray head ({reason})", flush=True)
            proc.send_signal(signal.SIGTERM)  # `ray start --block` stops what it started
            try:
                proc.wait(timeout=STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                pass
            break
        time.sleep(0.5)
    _kill_group(proc.pid)
    proc.wait()
    shutil.rmtree(temp_dir, ignore_errors=True)
    if (read_head(state_dir) or {}).get("supervisor_pid") == os.getpid():
        (state_dir / HEAD_FILE).unlink(missing_ok=True)
    return 0


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- command line -----------------------------------------------------------------------------------
def _instructions(head: dict[str, Any]) -> str:
    address = head["address"]
    gpus = "GPUs as Ray detects them" if head.get("gpus") is None else f"{head['gpus']} GPU(s)"
    until = f"it stops by itself at {head['expires_at']}" if head.get("expires_at") else "it runs until stopped"
    token = Path(head["token_path"])
    found = ("Ray's default token file: the app and the CLI find it there"
             if token == default_token_path().absolute() else f"set RAY_AUTH_TOKEN_PATH={token} for the app")
    return (f"Ray head running (supervisor pid {head['supervisor_pid']}): Jobs API and dashboard on {address}, "
            f"{head['cpus']} CPU(s), {gpus}, usage statistics off.\n"
            f"Token authentication is on; the token is in {token} ({found}).\n"
            f"Train through it:\n"
            f"  BAYES_JOB_RUNNER=ray RAY_ADDRESS={address} make run\n"
            f"  BAYES_JOB_RUNNER=ray RAY_ADDRESS={address} .venv/bin/python -m bayes_core jobs submit "
            f"hierarchical_negbinom --draws 60 --tune 60 --chains 2\n"
            f"Stop it with `make ray-down` ({until}).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", allow_abbrev=False,
                                     description="A single-node Ray head on this machine for the Ray job runner.")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start a head (or show the running one)", allow_abbrev=False)
    up.add_argument("--cpus", type=int, default=2, help="CPUs the head offers to jobs (default 2)")
    up.add_argument("--gpus", type=int, default=None, help="GPUs it offers (default: as Ray detects them)")
    up.add_argument("--port", type=int, default=8265, help="Jobs API and dashboard port (default 8265)")
    up.add_argument("--hours", type=float, default=12.0, help="stop by itself after this many hours (0: never)")
    up.add_argument("--state-dir", type=Path, default=STATE_DIR, help=argparse.SUPPRESS)
    for name in ("down", "status"):
        p = sub.add_parser(name, allow_abbrev=False)
        p.add_argument("--state-dir", type=Path, default=STATE_DIR, help=argparse.SUPPRESS)
    sup = sub.add_parser("supervise", help=argparse.SUPPRESS)
    sup.add_argument("state_dir", type=Path)
    sup.add_argument("spec")
    args = parser.parse_args(argv)

    if args.command == "supervise":
        return supervise(args.state_dir, json.loads(args.spec))
    if args.command == "up":
        already = running_head(args.state_dir)
        try:
            head = start(args.state_dir, cpus=args.cpus, gpus=args.gpus, port=args.port, hours=args.hours or None)
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(("A Ray head was already running. " if already else "") + _instructions(head))
        return 0
    if args.command == "down":
        head = read_head(args.state_dir)
        if not stop(args.state_dir):
            print(f"No Ray head recorded in {args.state_dir}; nothing to stop.")
            return 0
        print(f"Ray head stopped (supervisor pid {head['supervisor_pid']}, ray pid {head['ray_pid']}).")
        return 0
    head = running_head(args.state_dir)
    print(_instructions(head) if head else "No Ray head running.")
    return 0 if head else 1


if __name__ == "__main__":
    sys.exit(main())
