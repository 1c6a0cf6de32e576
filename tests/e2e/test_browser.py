"""The analyst's walk-through in a real browser: catalogue (details dialog on a lower card) →
NB predictions → form → predict → CSV download → diagnostics → prior predictive, and the Sharpe
model's prior predictive and posterior predictive check.

Drives Debian's Chromium (``/usr/bin/chromium``, installed by ``.ci/run``) with Playwright against
``streamlit run`` on a free loopback port, reading the session's temporary artifacts directory.
A screenshot of every page walked is saved in ``tests/e2e/screenshots/`` (git-ignored; see the
README there), so the latest run's pictures of the fixed pages are always at hand.
"""

from __future__ import annotations

import io
import os
import re
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
SHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM = "/usr/bin/chromium"
NB = "hierarchical_negbinom"
SHARPE = "bayesian_sharpe"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def sharpe_run(registry):
    from tests.conftest import TINY

    return registry.load_model_instance(SHARPE).train(**TINY)


@pytest.fixture
def shots() -> Path:
    SHOTS.mkdir(exist_ok=True)
    return SHOTS


@pytest.fixture
def app_url(nb_run, sharpe_run, artifacts_dir, tmp_path):
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


def test_catalogue_to_predictions_csv(app_url, page, nb_run, tmp_path, shots):
    # The page opens the latest run; other tests in the session may have trained after nb_run.
    nb_run = artifacts.load_run(nb_run.model_id)

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
    assert 0 <= csv["p_window_at_least_threshold"].iloc[0] <= csv["p_total_at_least_threshold"].iloc[0] <= 1

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


def _assert_app_menu_only(page) -> None:
    """The app's own menu (ui.nav.frame) in the sidebar, and none of Streamlit's automatic menus —
    neither the legacy ``pages/`` file-name list nor st.navigation's."""
    sidebar = page.locator("[data-testid='stSidebar']")
    sidebar.locator("[data-testid='stPageLink-NavLink']", has_text="Catalogue").first.wait_for()
    assert sidebar.get_by_text("After training").count() == 1
    assert page.locator("[data-testid='stSidebarNav'], [data-testid='stTopNav']").count() == 0
    assert page.get_by_text("streamlit app", exact=False).count() == 0, "the legacy menu lists the entry file"


def test_cold_server_deep_link_shows_the_app_menu_not_the_legacy_one(app_url, page, tmp_path):
    """The first request to a fresh server is a shared link: Streamlit is then in its legacy
    ``pages/`` mode and runs the page without the router. The page must still show its page
    config and the app's menu, and no legacy file-name sidebar may ever appear."""
    page.goto(f"{app_url}/predictions?model={NB}")  # the very first page this server renders
    page.get_by_role("heading", name="Predictions").wait_for()
    _settle(page)
    _assert_app_menu_only(page)
    assert "Bayesian model workbench" in page.title(), "the page config was applied on the bare run"
    page.screenshot(path=tmp_path / "cold_deep_link.png", full_page=True)

    page.goto(app_url)  # the router has now run: the same frame, no automatic menu either
    page.get_by_role("heading", name="Model catalogue").wait_for()
    _settle(page)
    _assert_app_menu_only(page)
    page.locator("[data-testid='stSidebar'] [data-testid='stPageLink-NavLink']", has_text="Diagnostics").click()
    page.get_by_role("heading", name="Convergence diagnostics").wait_for()
def _in_viewport(page, locator) -> bool:
    box, view = locator.bounding_box(), page.viewport_size
    return box is not None and 0 <= box["y"] < view["height"] and box["y"] + min(box["height"], 200) <= view["height"]


def test_details_open_over_a_lower_card_and_from_a_link(app_url, page, shots):
    """Details on the last card opens a dialog where the analyst is looking (the old side panel
    opened ~2,750 px above), with the rendered model definition and a DAG as wide as the dialog."""
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(app_url)
    page.get_by_role("heading", name="Model catalogue").wait_for()
    _settle(page)
    details = page.locator(".st-key-details_stochastic_volatility button")
    details.scroll_into_view_if_needed()
    details.click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    _settle(page)
    assert _in_viewport(page, dialog.get_by_text("Model definition")), "the details open in view"
    assert dialog.locator(".katex").count() > 0, "the definition's math is typeset, not raw text"
    assert "Notebook use" not in dialog.inner_text()
    page.screenshot(path=shots / "catalogue_details_dialog.png")
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")

    page.goto(f"{app_url}/?model={NB}")
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    _settle(page)
    graph = dialog.locator("[data-testid='stGraphVizChart'] svg")
    graph.scroll_into_view_if_needed()
    assert graph.bounding_box()["width"] > 0.6 * dialog.bounding_box()["width"], "the DAG is readable"
    page.screenshot(path=shots / "catalogue_details_dag.png")


def test_sharpe_prior_and_posterior_predictive_on_one_scale_without_false_alarm(app_url, page, shots):
    page.goto(f"{app_url}/prior_predictive?model={SHARPE}")
    page.get_by_text("Marginal priors").wait_for(timeout=180_000)
    _settle(page)
    page.screenshot(path=shots / "prior_predictive_sharpe.png", full_page=True)

    page.goto(f"{app_url}/predictions?model={SHARPE}")
    page.get_by_role("heading", name="Predictions").wait_for()
    _settle(page)
    page.get_by_role("tab", name="Posterior predictive check").click()
    page.get_by_text("Observed vs replicated", exact=False).first.wait_for()
    _settle(page)
    text = page.locator("[data-testid='stMain']").inner_text()
    assert "share of zeros" not in text and "skewness" in text
    assert "rarely reproduces the observed share of zeros" not in text
    page.screenshot(path=shots / "predictions_sharpe_ppc.png", full_page=True)



def test_training_upload_problems_in_one_box_and_a_rejected_file_replaces_the_last(app_url, page, tmp_path, shots):
    bad, good, text = tmp_path / "bad.csv", tmp_path / "good.csv", tmp_path / "notes.txt"
    bad.write_text("entity,count\nA,1\nB,-2\nC,x\n")
    good.write_text("entity,count\nA,1\nB,2\n")
    text.write_text("not a table\n")
    page.goto(f"{app_url}/training?model={NB}")
    page.get_by_role("heading", name="Train a model").wait_for()
    _settle(page)
    page.get_by_text("Upload a CSV").first.click()
    _settle(page)
    upload = page.locator("[data-testid='stFileUploader'] input[type='file']").first
    # Upload messages only: the jobs panel below lists other tests' failed jobs of this model.
    errors = page.locator("[data-testid='stAlertContentError']").filter(has_text=re.compile(r"bad\.csv|notes\.txt"))
    from playwright.sync_api import expect

    # expect() retries until the rerun after an upload has drawn its result (the upload itself
    # takes a moment before the script run starts, so a settle alone can look too early).
    upload.set_input_files(bad)
    expect(errors).to_have_count(1, timeout=60_000)  # the heading and its problems in one box
    _settle(page)
    assert "header = row 1" in errors.first.inner_text() and errors.first.locator("li").count() == 2
    page.screenshot(path=shots / "training_upload_error.png", full_page=True)
    upload.set_input_files(good)
    expect(page.get_by_text("2 valid rows")).to_have_count(1, timeout=60_000)
    expect(errors).to_have_count(0)
    upload.set_input_files(text)
    expect(errors).to_have_count(1, timeout=60_000)
    assert page.get_by_text("2 valid rows").count() == 0, "the previous file's success is gone"
    assert "is not a CSV file" in errors.first.inner_text()
