"""App start-up and page render times."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def import_cost() -> dict[str, Any]:
    code = ("import time, sys, json; t = time.perf_counter(); import bayes_core; "
            "from bayes_core.registry import get_registry; get_registry().get_all_models_with_status(); "
            "print(json.dumps({'s': time.perf_counter() - t, "
            "'heavy': [m for m in ('jax', 'pymc', 'streamlit', 'pytensor') if m in sys.modules]}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def streamlit_startup(timeout: float = 90) -> dict[str, Any]:
    port = _free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
                             "--server.headless", "true", "--server.address", "127.0.0.1"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    try:
        while time.perf_counter() - t0 < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        return {"health_s": time.perf_counter() - t0}
            except OSError:
                time.sleep(0.1)
        return {"health_s": None, "error": f"no health answer within {timeout}s"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def page_renders(run) -> dict[str, Any]:
    """Render time of each page for a cached run (AppTest, second render = warm caches)."""
    from streamlit.testing.v1 import AppTest

    out = {}
    for page in ("pages/catalogue.py", "pages/diagnostics.py", "pages/predictions.py"):
        if not (ROOT / page).is_file():
            continue
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
        at.query_params["model"] = run.model_id
        at.query_params["run"] = run.run_id
        at.run()
        at.switch_page(page)
        t0 = time.perf_counter()
        at.run()
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        at.run()
        out[page] = {"first_s": cold, "rerun_s": time.perf_counter() - t0, "exceptions": len(at.exception)}
    return out


def run(mode: str) -> dict[str, Any]:
    from bayes_core.models.hierarchical_negbinom import HierarchicalNegBinomModel

    result = {"import_bayes_core": import_cost(), "streamlit_start": streamlit_startup()}
    if mode != "smoke":
        trained = HierarchicalNegBinomModel().train(draws=300, tune=300, chains=2, seed=5)
        result["page_render"] = page_renders(trained)
    return result
