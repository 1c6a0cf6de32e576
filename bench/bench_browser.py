"""Speed as the analyst feels it (issue #12), measured in a real Chromium against `streamlit run`:
a prior slider step until the plot has changed, and a page of a cached run until it is drawn."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from bench.common import figure
from bench.serve import chromium as find_chromium, served_app

NB = "hierarchical_negbinom"
# A digest of every plotly chart's data: it changes when Streamlit has sent a new figure and plotly holds
# it (layout-only redraws, hover and resize leave it alone).
PLOT_DIGEST = """() => [...document.querySelectorAll('.js-plotly-plot')].map((gd) => (gd.data || []).map(
  (t) => (JSON.stringify(t.x) || '').slice(0, 300) + (JSON.stringify(t.y) || '').slice(0, 300)).join('|')).join('#')"""
PAGE_READY = {  # what says a page of a cached run is there for the analyst
    "diagnostics": "[data-testid='stDataFrame']",
    "predictions": "[data-testid='stFormSubmitButton'] button",
    "runs": "[data-testid='stTable']",  # the model's run history (the selected run's panel below it)
}


def settle(page) -> None:
    page.wait_for_selector("[data-testid='stStatusWidget']", state="detached", timeout=120_000)


def slider_steps(page, url: str, steps: int, slider: str = "mu_rate") -> list[float]:
    """Seconds from a key press on a prior slider (the count model's ``mu_rate``) to the plots holding
    new data; every step moves on to a value not seen before, so no step is served from a cache."""
    page.goto(f"{url}/prior_predictive?model={NB}")
    page.locator(".js-plotly-plot").first.wait_for(timeout=120_000)
    settle(page)
    thumb = page.get_by_role("slider", name=slider)
    out = []
    for _ in range(steps):
        before = page.evaluate(PLOT_DIGEST)
        thumb.focus()
        started = page.evaluate("performance.now()")
        page.keyboard.press("ArrowRight")
        changed = page.wait_for_function(f"(before) => ({PLOT_DIGEST})() !== before && performance.now()", arg=before,
                                         polling="raf", timeout=60_000).json_value()
        out.append((changed - started) / 1000)
        settle(page)
    return out


def page_loads(page, url: str, run_id: str, repeats: int) -> dict[str, list[float]]:
    """Seconds from navigating to a page of a cached run (its caches warmed by one visit first) to its
    content being drawn and the script run finished."""
    out = {}
    for name, ready in PAGE_READY.items():
        link = f"{url}/{name}?model={NB}&run={run_id}"
        page.goto(link)
        page.locator(ready).first.wait_for(timeout=120_000)
        settle(page)  # the warm-up visit's script run finishes (and fills the caches) before timing starts
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            page.goto(link, wait_until="commit")
            page.locator(ready).first.wait_for(timeout=120_000)
            settle(page)
            times.append(time.perf_counter() - t0)
        out[name] = times
    return out


def run(mode: str) -> dict[str, Any]:
    from bayes_core.models.hierarchical_negbinom import HierarchicalNegBinomModel

    chromium = find_chromium()
    if chromium is None:
        return {"note": figure("no Chromium: nothing measured", "")}
    steps, repeats = {"smoke": (2, 1), "quick": (8, 3)}.get(mode, (19, 8))
    trained = HierarchicalNegBinomModel().train(draws=300, tune=300, chains=2, seed=5)
    from playwright.sync_api import sync_playwright

    with served_app({**os.environ}) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_context(viewport={"width": 1500, "height": 1200}).new_page()
            step_times = slider_steps(page, url, steps)
            loads = page_loads(page, url, trained.run_id, repeats)
        finally:
            browser.close()
    p95 = float(np.percentile(step_times, 95))
    result = {
        "prior slider step → plot changed, p50": figure(float(np.percentile(step_times, 50)), "s"),
        "prior slider step → plot changed, p95": figure(p95, "s", "≤ 0.5 s", p95 <= 0.5),
        "slider steps measured (each to a new value)": figure(len(step_times), ""),
        "machine load (1 min) while measured": figure(os.getloadavg()[0], ""),
    }
    for name, times in loads.items():
        result[f"{name} page of a cached run → drawn, median"] = figure(float(np.median(times)), "s")
        result[f"{name} page of a cached run → drawn, slowest of {len(times)}"] = figure(
            max(times), "s", "≤ 1.5 s", max(times) <= 1.5)
    return result
