"""Serving the app for a browser: ``streamlit run`` on a free loopback port, and the Chromium to drive it
(benches and the end-to-end tests share these, so the app is started and stopped one way)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bayes_core.jobs.ray_local import free_port
from bench.common import ROOT


def chromium() -> str | None:
    for path in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if path and Path(path).is_file():
            return path
    return None


@contextlib.contextmanager
def served_app(env: dict[str, str], log: Path | None = None, start_timeout: float = 90):
    """``streamlit run`` on a free loopback port, stopped (by its own process) on exit; its output goes
    to ``log`` when given, and a server that does not start says so with that log."""
    port = free_port()
    with open(log or os.devnull, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless",
                                 "true", "--server.address", "127.0.0.1", "--server.port", str(port),
                                 "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + start_timeout
            while True:
                try:
                    if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("streamlit did not start" + (f":\n{log.read_text()}" if log else "")) from None
                    time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
