"""The analyst's walk-through in a real browser: catalogue (details dialog on a lower card) →
NB predictions → form → predict → CSV download → diagnostics → prior predictive, the Sharpe
model's prior predictive and posterior predictive check, and training a linear regression on an
uploaded CSV whose target is not `y` (issue #12.1).

Drives Debian's Chromium (``/usr/bin/chromium``, installed by ``.ci/run``) with Playwright against
``streamlit run`` on a free loopback port, reading the session's temporary artifacts directory.
A screenshot of every page walked is saved in ``tests/e2e/screenshots/`` (git-ignored; see the
README there), so the latest run's pictures of the fixed pages are always at hand.

Every check after an action is Playwright's auto-retrying ``expect(...)`` (imported inside each
test: Playwright is optional), never a count or a text read once: a rerun draws its result a
moment after the action, later still on a loaded machine. ``_settle`` only lets a page finish
drawing before a screenshot.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pandas as pd
import pytest

from bayes_core import artifacts
from bench.serve import chromium, served_app

SHOTS = Path(__file__).resolve().parent / "screenshots"
NB = "hierarchical_negbinom"
SHARPE = "bayesian_sharpe"
LR = "bayesian_linear_regression"
EXPECT_TIMEOUT_MS = 60_000  # a rerun on a loaded 2-core machine can take seconds
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def sharpe_run(registry):
    from tests.conftest import TINY

    return registry.load_model_instance(SHARPE).train(**TINY)


@pytest.fixture
def shots() -> Path:
    SHOTS.mkdir(exist_ok=True)
    return SHOTS


def _served(artifacts_dir: Path, log: Path):
    return served_app({**os.environ, "BAYES_ARTIFACTS_DIR": str(artifacts_dir)}, log=log, start_timeout=60)


@pytest.fixture(scope="module")
def app_url(nb_run, sharpe_run, artifacts_dir, tmp_path_factory):
    """One server for a file's walks (each in a browser session of its own): a server's start and its
    first imports are paid once, as an analyst's team pays them once."""
    with _served(artifacts_dir, tmp_path_factory.mktemp("streamlit") / "streamlit.log") as url:
        yield url


@pytest.fixture
def cold_app_url(nb_run, sharpe_run, artifacts_dir, tmp_path):
    """A server that has rendered nothing yet (the first request decides Streamlit's page mode)."""
    with _served(artifacts_dir, tmp_path / "streamlit.log") as url:
        yield url


@pytest.fixture
def page(tmp_path):
    executable = chromium()
    if executable is None:
        pytest.skip("no Chromium: install Debian's `chromium` package (.ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable,
                                    headless=True, args=BROWSER_ARGS)
        context = browser.new_context(viewport={"width": 1500, "height": 2400}, accept_downloads=True)
        tab = context.new_page()
        tab.set_default_timeout(90_000)
        sync_api.expect.set_options(timeout=EXPECT_TIMEOUT_MS)
        yield tab
        context.close()
        browser.close()


def _settle(page) -> None:
    """Let Streamlit finish the current script run and draw (before a screenshot; checks use expect)."""
    page.wait_for_selector("[data-testid='stStatusWidget']", state="detached", timeout=120_000)
    page.wait_for_timeout(500)


def test_catalogue_to_predictions_csv(app_url, page, nb_run, tmp_path, shots):
    from playwright.sync_api import expect

    # The page opens the default run (production, else the newest converged, else the newest); other
    # tests in the session may have trained after nb_run.
    from bayes_core.runs import refs

    nb_run = artifacts.load_run(nb_run.model_id, refs.default_run(nb_run.model_id)[0])

    page.goto(app_url)
    expect(page.get_by_role("heading", name="Model catalogue")).to_be_visible()
    expect(page.get_by_text("Hierarchical Negative-Binomial event rates").first).to_be_visible()
    _settle(page)
    page.screenshot(path=shots / "catalogue.png", full_page=True)

    # From the model's card to its predictions page (the link carries ?model=&run=).
    page.locator(f"a[href*='predictions'][href*='model={NB}']").first.click()
    expect(page.get_by_role("heading", name="Predictions")).to_be_visible()
    expect(page).to_have_url(re.compile(f"model={NB}"))
    windows = page.get_by_role("spinbutton", name="Windows ahead")
    windows.fill("4")
    page.get_by_role("spinbutton", name="Threshold").fill("6")
    page.get_by_role("button", name="Predict").click()
    download_button = page.get_by_role("button", name="Download predictions (CSV)")
    expect(download_button).to_be_visible()
    if nb_run.verdict == "problem":
        expect(download_button).to_be_disabled()  # a non-converged run gates the download
        page.get_by_text("I understand these predictions come from a run that did not converge.").click()
    expect(download_button).to_be_enabled()
    _settle(page)
    page.screenshot(path=shots / "predictions.png", full_page=True)

    with page.expect_download() as info:
        download_button.click()
    path = tmp_path / "predictions.csv"
    info.value.save_as(path)
    csv = pd.read_csv(io.BytesIO(path.read_bytes()))
    assert csv["windows"].tolist() == [4] and csv["threshold"].tolist() == [6]
    assert csv["run_id"].tolist() == [nb_run.run_id]
    assert csv["model_version"].astype(str).tolist() == [str(nb_run.metadata["model_version"])]
    assert csv["entity"].iloc[0] in set(nb_run.data["entity"].astype(str))
    assert 0 <= csv["p_window_at_least_threshold"].iloc[0] <= csv["p_total_at_least_threshold"].iloc[0] <= 1

    page.get_by_role("link", name="Diagnostics").first.click()
    expect(page.get_by_role("heading", name="Convergence diagnostics")).to_be_visible()
    _settle(page)
    page.screenshot(path=shots / "diagnostics.png", full_page=True)
    page.get_by_role("link", name="Prior predictive").first.click()
    expect(page.get_by_role("heading", name="Prior predictive check")).to_be_visible()
    expect(page.get_by_text("Marginal priors")).to_be_visible(timeout=180_000)
    _settle(page)
    page.screenshot(path=shots / "prior_predictive.png", full_page=True)
    print(f"screenshots in {shots}")


def _assert_app_menu_only(page) -> None:
    """The app's own menu (ui.nav.frame) in the sidebar, and none of Streamlit's automatic menus —
    neither the legacy ``pages/`` file-name list nor st.navigation's."""
    from playwright.sync_api import expect

    sidebar = page.locator("[data-testid='stSidebar']")
    expect(sidebar.locator("[data-testid='stPageLink-NavLink']", has_text="Catalogue").first).to_be_visible()
    expect(sidebar.get_by_text("After training")).to_have_count(1)
    # Absence is checked once the run has finished (_settle by the caller): a legacy menu comes with the page.
    expect(page.locator("[data-testid='stSidebarNav'], [data-testid='stTopNav']")).to_have_count(0)
    expect(page.get_by_text("streamlit app", exact=False)).to_have_count(0)  # the legacy menu lists the entry file


def test_cold_server_deep_link_shows_the_app_menu_not_the_legacy_one(cold_app_url, page, tmp_path):
    """The first request to a fresh server is a shared link: Streamlit is then in its legacy
    ``pages/`` mode and runs the page without the router. The page must still show its page
    config and the app's menu, and no legacy file-name sidebar may ever appear."""
    from playwright.sync_api import expect

    page.goto(f"{cold_app_url}/predictions?model={NB}")  # the very first page this server renders
    expect(page.get_by_role("heading", name="Predictions")).to_be_visible()
    _settle(page)
    _assert_app_menu_only(page)
    expect(page).to_have_title(re.compile("Bayesian model workbench"))  # the page config applied on the bare run
    page.screenshot(path=tmp_path / "cold_deep_link.png", full_page=True)

    page.goto(cold_app_url)  # the router has now run: the same frame, no automatic menu either
    expect(page.get_by_role("heading", name="Model catalogue")).to_be_visible()
    _settle(page)
    _assert_app_menu_only(page)
    page.locator("[data-testid='stSidebar'] [data-testid='stPageLink-NavLink']", has_text="Diagnostics").click()
    expect(page.get_by_role("heading", name="Convergence diagnostics")).to_be_visible()


#: True once the dialog's model graph is wider than 60 % of the dialog (it is drawn, then sized).
_DAG_IS_WIDE = """() => {
    const dialog = document.querySelector("[role='dialog']");
    const graph = dialog && dialog.querySelector("[data-testid='stGraphVizChart'] svg");
    return !!graph && graph.getBoundingClientRect().width > 0.6 * dialog.getBoundingClientRect().width;
}"""


def test_details_open_over_a_lower_card_and_from_a_link(app_url, page, shots):
    """Details on the last card opens a dialog where the analyst is looking (the old side panel
    opened ~2,750 px above), with the rendered model definition and a DAG as wide as the dialog."""
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(app_url)
    expect(page.get_by_role("heading", name="Model catalogue")).to_be_visible()
    _settle(page)
    details = page.locator(".st-key-details_stochastic_volatility button")
    details.scroll_into_view_if_needed()
    details.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Model definition")).to_be_in_viewport(ratio=1)  # the details open in view
    expect(dialog.locator(".katex").first).to_be_visible()  # the definition's math is typeset, not raw text
    expect(dialog).not_to_contain_text("Notebook use")
    _settle(page)
    page.screenshot(path=shots / "catalogue_details_dialog.png")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)

    page.goto(f"{app_url}/?model={NB}")
    dialog = page.get_by_role("dialog")
    graph = dialog.locator("[data-testid='stGraphVizChart'] svg")
    expect(graph).to_be_attached()
    graph.scroll_into_view_if_needed()
    page.wait_for_function(_DAG_IS_WIDE)  # polled like expect: the DAG is readable
    _settle(page)
    page.screenshot(path=shots / "catalogue_details_dag.png")


def test_sharpe_prior_and_posterior_predictive_on_one_scale_without_false_alarm(app_url, page, shots):
    from playwright.sync_api import expect

    page.goto(f"{app_url}/prior_predictive?model={SHARPE}")
    expect(page.get_by_text("Marginal priors")).to_be_visible(timeout=180_000)
    _settle(page)
    page.screenshot(path=shots / "prior_predictive_sharpe.png", full_page=True)

    page.goto(f"{app_url}/predictions?model={SHARPE}")
    expect(page.get_by_role("heading", name="Predictions")).to_be_visible()
    page.get_by_role("tab", name="Posterior predictive check").click()
    main = page.locator("[data-testid='stMain']")
    expect(main.get_by_text("Observed vs replicated", exact=False).first).to_be_visible()
    expect(main).to_contain_text("skewness")  # continuous statistics, drawn with the table
    _settle(page)
    expect(main).not_to_contain_text("share of zeros")  # no count statistic, so no false alarm about it
    page.screenshot(path=shots / "predictions_sharpe_ppc.png", full_page=True)



def test_training_upload_problems_in_one_box_and_a_rejected_file_replaces_the_last(app_url, page, tmp_path, shots):
    bad, good, text = tmp_path / "bad.csv", tmp_path / "good.csv", tmp_path / "notes.txt"
    bad.write_text("entity,count\nA,1\nB,-2\nC,x\n")
    good.write_text("entity,count\nA,1\nB,2\n")
    text.write_text("not a table\n")
    from playwright.sync_api import expect

    page.goto(f"{app_url}/training?model={NB}")
    expect(page.get_by_role("heading", name="Train a model")).to_be_visible()
    page.get_by_text("Upload a CSV").first.click()
    upload = page.locator("[data-testid='stFileUploader'] input[type='file']").first
    # Upload messages only: the jobs panel below lists other tests' failed jobs of this model.
    errors = page.locator("[data-testid='stAlertContentError']").filter(has_text=re.compile(r"bad\.csv|notes\.txt"))
    valid = page.get_by_text("2 valid rows")

    # expect() retries until the rerun after an upload has drawn its result (the upload itself
    # takes a moment before the script run starts, so a settle alone can look too early).
    upload.set_input_files(bad)
    expect(errors).to_have_count(1)  # the heading and its problems in one box
    expect(errors.first).to_contain_text("header = row 1")
    expect(errors.first.locator("li")).to_have_count(2)
    _settle(page)
    page.screenshot(path=shots / "training_upload_error.png", full_page=True)
    upload.set_input_files(good)
    expect(valid).to_have_count(1)
    expect(errors).to_have_count(0)
    upload.set_input_files(text)
    expect(errors).to_have_count(1)
    expect(errors.first).to_contain_text("is not a CSV file")
    expect(valid).to_have_count(0)  # the previous file's success is gone


def test_training_walk_through_lr_csv_with_target_sales(app_url, page, tmp_path, shots):
    """Issue #12.1 as the analyst met it: upload sales,price,ads,region to the linear regression;
    the page says which option to set; with Target column = sales and Features = price,ads the file
    is usable, Train submits a job (tiny settings) and the job's run trained on target sales."""
    from playwright.sync_api import expect

    from bayes_core.jobs import get_runner
    from tests.conftest import TINY, lr_sales_csv

    csv = tmp_path / "lr.csv"
    csv.write_bytes(lr_sales_csv())
    page.goto(f"{app_url}/training?model={LR}")
    expect(page.get_by_role("heading", name="Train a model")).to_be_visible()
    page.get_by_text("Upload a CSV").first.click()
    page.locator("[data-testid='stFileUploader'] input[type='file']").first.set_input_files(csv)
    errors = page.locator("[data-testid='stAlertContentError']").filter(has_text="lr.csv")
    expect(errors).to_have_count(1)
    expect(errors).to_contain_text("no column 'y': set the Target column option (target) to one of sales, price, ads")
    expect(page.get_by_text("What the data must hold depends on the model options below")).to_be_visible()
    _settle(page)
    page.screenshot(path=shots / "training_lr_needs_target.png", full_page=True)

    for label, value in (("Target column", "sales"), ("Feature columns", "price,ads")):
        field = page.get_by_role("textbox", name=f"{label} (optional)", exact=True)
        field.fill(value)
        field.press("Enter")  # a text input's value reaches the app on Enter (or leaving it)
    valid = page.locator("[data-testid='stAlertContentSuccess']").filter(has_text="lr.csv")
    expect(valid).to_contain_text("40 valid rows, checked with Target column = sales, Feature columns = price,ads")
    expect(errors).to_have_count(0)

    for label, name in (("Draws per chain", "draws"), ("Warm-up draws per chain", "tune"), ("Chains", "chains"),
                        ("Seed", "seed")):
        page.get_by_role("spinbutton", name=label, exact=True).fill(str(TINY[name]))
    page.get_by_role("button", name="Train model").click()
    submitted = page.get_by_text(re.compile(r"Job \S+ submitted"))
    expect(submitted).to_be_visible()
    job_id = re.search(r"Job (\S+) submitted", submitted.inner_text()).group(1)  # read once it is drawn
    job = get_runner().status(job_id)
    assert job.options == {"target": "sales", "features": "price,ads"} and job.settings["draws"] == TINY["draws"]

    # The jobs panel refreshes itself: the job's row turns "succeeded" when the worker is done.
    row = page.locator("[data-testid='stMarkdownContainer']").filter(has_text=job_id).filter(has_text="succeeded")
    expect(row).to_have_count(1, timeout=300_000)
    _settle(page)
    page.screenshot(path=shots / "training_lr_walkthrough.png", full_page=True)
    run = artifacts.Run(LR, get_runner().status(job_id).run_id)
    assert run.metadata["options"] == {"target": "sales", "features": "price,ads"}
    assert list(run.data.columns) == ["price", "ads", "sales"]
