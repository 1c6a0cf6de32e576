"""The main journey in a real browser: catalogue → NB predictions → form → predict → CSV download.

Drives Debian's Chromium (``/usr/bin/chromium``, installed by ``.ci/run``) with Playwright against
``streamlit run`` on a free loopback port, reading the session's temporary artifacts directory.
Screenshots of each page are saved under the test's temporary directory.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from bayes_core import artifacts

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
NB = "hierarchical_negbinom"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_url(nb_run, artifacts_dir, tmp_path):
    port = _free_port()
    env = {**os.environ, "BAYES_ARTIFACTS_DIR": str(artifacts_dir)}
    log = (tmp_path / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("streamlit did not start:\n" + (tmp_path / "streamlit.log").read_text())
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def page(tmp_path):
    if not Path(CHROMIUM).is_file() and not shutil.which("chromium"):
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's `chromium` package (.ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium"),
                                    headless=True, args=BROWSER_ARGS)
        context = browser.new_context(viewport={"width": 1500, "height": 2400}, accept_downloads=True)
        tab = context.new_page()
        tab.set_default_timeout(90_000)
        yield tab
        context.close()
        browser.close()


def _settle(page) -> None:
    """Wait until Streamlit has finished the current script run."""
    page.wait_for_selector("[data-testid='stStatusWidget']", state="detached", timeout=120_000)
    page.wait_for_timeout(500)


def test_catalogue_to_predictions_csv(app_url, page, nb_run, tmp_path):
    # The page opens the latest run; other tests in the session may have trained after nb_run.
    nb_run = artifacts.load_run(nb_run.model_id)
    shots = tmp_path / "screenshots"
    shots.mkdir()

    page.goto(app_url)
    page.get_by_role("heading", name="Model catalogue").wait_for()
    page.get_by_text("Hierarchical Negative-Binomial event rates").first.wait_for()
    _settle(page)
    page.screenshot(path=shots / "catalogue.png", full_page=True)

    # From the model's card to its predictions page (the link carries ?model=&run=).
    page.locator(f"a[href*='predictions'][href*='model={NB}']").first.click()
    page.get_by_role("heading", name="Predictions").wait_for()
    assert f"model={NB}" in page.url
    windows = page.get_by_role("spinbutton", name="Windows ahead")
    windows.fill("4")
    page.get_by_role("spinbutton", name="Threshold").fill("6")
    page.get_by_role("button", name="Predict").click()
    download_button = page.get_by_role("button", name="Download predictions (CSV)")
    download_button.wait_for()
    _settle(page)
    if nb_run.verdict == "problem":
        assert download_button.is_disabled(), "a non-converged run gates the download"
        page.get_by_text("I understand these predictions come from a run that did not converge.").click()
        _settle(page)
    page.screenshot(path=shots / "predictions.png", full_page=True)

    with page.expect_download() as info:
        page.get_by_role("button", name="Download predictions (CSV)").click()
    path = tmp_path / "predictions.csv"
    info.value.save_as(path)
    csv = pd.read_csv(io.BytesIO(path.read_bytes()))
    assert csv["windows"].tolist() == [4] and csv["threshold"].tolist() == [6]
    assert csv["run_id"].tolist() == [nb_run.run_id]
    assert csv["model_version"].astype(str).tolist() == [str(nb_run.metadata["model_version"])]
    assert csv["entity"].iloc[0] in set(nb_run.data["entity"].astype(str))
    assert 0 <= csv["p_window_at_least_threshold"].iloc[0] <= 1

    page.get_by_role("link", name="Diagnostics").first.click()
    page.get_by_role("heading", name="Convergence diagnostics").wait_for()
    _settle(page)
    page.screenshot(path=shots / "diagnostics.png", full_page=True)
    page.get_by_role("link", name="Prior predictive").first.click()
    page.get_by_role("heading", name="Prior predictive check").wait_for()
    page.get_by_text("Marginal priors").wait_for(timeout=180_000)
    _settle(page)
    page.screenshot(path=shots / "prior_predictive.png", full_page=True)
    print(f"screenshots in {shots}")
