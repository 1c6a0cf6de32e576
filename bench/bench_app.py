"""App start-up and page render times."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, figure
from bench.serve import chromium as find_chromium, served_app


def import_cost() -> dict[str, Any]:
    code = ("import time, sys, json; t = time.perf_counter(); import bayes_core; "
            "from bayes_core.registry import get_registry; get_registry().get_all_models_with_status(); "
            "print(json.dumps({'s': time.perf_counter() - t, "
            "'heavy': [m for m in ('jax', 'pymc', 'streamlit', 'pytensor') if m in sys.modules]}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def streamlit_startup(timeout: float = 90) -> dict[str, Any]:
    """Seconds from launching ``streamlit run`` to the health endpoint answering and, where a
    Chromium exists, to the catalogue's heading being visible in a real browser (launched before
    the clock starts, so its own start-up is not counted)."""
    with contextlib.ExitStack() as stack:
        page = None
        chromium = find_chromium()
        if chromium:
            from playwright.sync_api import sync_playwright

            browser = stack.enter_context(sync_playwright()).chromium.launch(executable_path=chromium)
            stack.callback(browser.close)
            page = browser.new_page()
        t0 = time.perf_counter()
        try:
            url = stack.enter_context(served_app(os.environ.copy(), start_timeout=timeout))
        except RuntimeError as exc:
            return {"health_s": None, "error": str(exc)}
        out: dict[str, Any] = {"health_s": time.perf_counter() - t0}
        if page is None:
            return {**out, "catalogue_rendered_s": None, "note": "no Chromium: browser render not measured"}
        page.goto(f"{url}/", timeout=timeout * 1000)
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
