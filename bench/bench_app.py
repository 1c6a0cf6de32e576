"""App start-up and page render times."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import ROOT, figure


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


def _chromium() -> str | None:
    for path in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if path and Path(path).is_file():
            return path
    return None


def streamlit_startup(timeout: float = 90) -> dict[str, Any]:
    """Seconds from launching ``streamlit run`` to the health endpoint answering and, where a
    Chromium exists, to the catalogue's heading being visible in a real browser (launched before
    the clock starts, so its own start-up is not counted)."""
    with contextlib.ExitStack() as stack:
        page = None
        chromium = _chromium()
        if chromium:
            from playwright.sync_api import sync_playwright

            browser = stack.enter_context(sync_playwright()).chromium.launch(executable_path=chromium)
            stack.callback(browser.close)
            page = browser.new_page()
        port = _free_port()
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port",
                                 str(port), "--server.headless", "true", "--server.address", "127.0.0.1"],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
        stack.callback(proc.wait, timeout=10)
        stack.callback(proc.terminate)
        out: dict[str, Any] = {"health_s": None}
        while time.perf_counter() - t0 < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        out["health_s"] = time.perf_counter() - t0
                        break
            except OSError:
                time.sleep(0.1)
        if out["health_s"] is None:
            return {**out, "error": f"no health answer within {timeout}s"}
        if page is None:
            return {**out, "catalogue_rendered_s": None, "note": "no Chromium: browser render not measured"}
        page.goto(f"http://127.0.0.1:{port}/", timeout=timeout * 1000)
        page.get_by_role("heading", name="Model catalogue").wait_for(timeout=timeout * 1000)
        out["catalogue_rendered_s"] = time.perf_counter() - t0
        return out


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

    imported, started = import_cost(), streamlit_startup()
    result = {
        "import bayes_core + read every config": figure(imported["s"], "s"),
        "heavy modules that import pulled in": figure(", ".join(imported["heavy"]) or "none", "(jax/pymc/pytensor/streamlit)"),
        "`streamlit run` → health endpoint answers": figure(started["health_s"], "s"),
        "`streamlit run` → catalogue visible in Chromium": figure(started.get("catalogue_rendered_s"), "s"),
    }
    if mode != "smoke":
        trained = HierarchicalNegBinomModel().train(draws=300, tune=300, chains=2, seed=5)
        for page, r in page_renders(trained).items():
            name = Path(page).stem
            result[f"{name} page (AppTest), first render"] = figure(r["first_s"], "s")
            result[f"{name} page (AppTest), rerun"] = figure(r["rerun_s"], "s")
            result[f"{name} page (AppTest), exceptions"] = figure(r["exceptions"], "")
    return result
