"""The Runs page in a real browser (issue #13): the history with a production run, a run's bundle
downloaded and checked file by file against its manifest, and two runs compared on the same data.

Uses the walk-through's harness (``tests/e2e/test_browser.py``: free port, Debian's Chromium via
Playwright) and saves ``runs.png`` and ``runs_compare.png`` beside its screenshots.
"""

from __future__ import annotations

import hashlib
import json
import zipfile

import pytest

from bayes_core.runs import evaluation, labels
from tests.e2e.test_browser import NB, _settle, app_url, page, sharpe_run, shots  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e


@pytest.fixture
def labelled(nb_run, poisson_run):
    """nb_run aliased 'production', the Poisson variant tagged and noted; all removed afterwards, so
    other tests' default runs are as they were."""
    for run in (nb_run, poisson_run):
        evaluation.evaluate(run)
    before = labels.read(NB)
    labels.set_alias(NB, "production", nb_run.run_id)
    labels.set_tag(NB, poisson_run.run_id, "variant", "poisson")
    labels.set_note(NB, poisson_run.run_id, "Is the extra-Poisson variation needed?")
    yield nb_run, poisson_run
    if before.aliases.get("production"):
        labels.set_alias(NB, "production", before.aliases["production"])
    else:
        labels.remove_alias(NB, "production", reason="e2e test done")
    labels.set_tag(NB, poisson_run.run_id, "variant", before.tags.get(poisson_run.run_id, {}).get("variant", ""))
    labels.set_note(NB, poisson_run.run_id, before.notes.get(poisson_run.run_id, ""))


def _drawn(page) -> None:
    """The script run finished, the window as tall as the page (Streamlit scrolls inside its main
    container, so a full-page screenshot is the window) and every table and plotly chart drawn."""
    _settle(page)
    height = page.evaluate("Math.max(...[...document.querySelectorAll('[data-testid=stMain], "
                           "[data-testid=stMainBlockContainer]')].map(e => e.scrollHeight), 0)")
    page.set_viewport_size({"width": 1500, "height": max(2400, min(int(height) + 200, 12_000))})
    _settle(page)
    for selector in ("[data-testid='stDataFrame'] canvas", "[data-testid='stPlotlyChart'] .main-svg"):
        items = page.locator(selector)
        for i in range(items.count()):
            items.nth(i).wait_for(state="visible")
    page.wait_for_timeout(2_000)


def test_runs_page_downloads_a_bundle_whose_files_match_their_hashes_and_compares_two_runs(
        app_url, page, labelled, tmp_path, shots):
    from playwright.sync_api import expect

    production, variant = labelled
    page.goto(f"{app_url}/runs?model={NB}&run={production.run_id}")
    expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
    expect(page.get_by_text("shown by default as the alias 'production'")).to_be_visible()
    expect(page.get_by_text("Is the extra-Poisson variation needed?").first).to_be_visible()
    _drawn(page)
    page.screenshot(path=shots / "runs.png", full_page=True)

    with page.expect_download(timeout=180_000) as info:
        page.get_by_role("button", name="Download reproducible bundle (.zip)").click()
    assert info.value.suggested_filename == f"{NB}-{production.run_id}.zip"
    path = tmp_path / "bundle.zip"
    info.value.save_as(path)
    with zipfile.ZipFile(path) as bundle:
        manifest = json.loads(bundle.read("manifest.json"))
        assert manifest["run_id"] == production.run_id and manifest["model_id"] == NB
        names = set(bundle.namelist()) - {"manifest.json"}
        assert names == set(manifest["files"])
        assert {"trace.nc", "metadata.json", "diagnostics.json", "summary.csv", "data.csv", "evaluation.json",
                "requirements.lock", "README.md"} <= names
        for name, entry in manifest["files"].items():
            assert hashlib.sha256(bundle.read(name)).hexdigest() == entry["sha256"], name

    page.goto(f"{app_url}/runs?model={NB}&compare=production,{variant.run_id}")
    expect(page.get_by_role("heading", name="Predictive accuracy (PSIS-LOO)")).to_be_visible(timeout=180_000)
    expect(page.get_by_text("Δelpd").first).to_be_visible()
    expect(page.get_by_role("heading", name="Calibration (LOO-PIT)")).to_be_visible()
    _drawn(page)
    page.screenshot(path=shots / "runs_compare.png", full_page=True)

    # Back to History with the comparison still in the link: a label's confirmation, drawn above the
    # tabs on the next run, keeps the analyst on History (it reopened Compare runs before the tabs' key)
    page.get_by_role("tab", name="History").click()
    expect(page.get_by_role("tab", selected=True)).to_have_text("History")
    page.get_by_role("textbox", name="Set an alias").first.fill("walkthrough")
    page.get_by_role("button", name="Save labels").first.click()
    expect(page.get_by_text("saved alias walkthrough", exact=False).first).to_be_visible()
    _settle(page)
    expect(page.get_by_role("tab", selected=True)).to_have_text("History")
