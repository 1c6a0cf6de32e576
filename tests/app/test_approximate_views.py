"""An approximate (ADVI) run as the app shows it: its own badge on the model's card, 'approximate' in
the run pickers, and predictions gated like a non-converged run (a warning, every CSV row marked,
the download behind an acknowledgement), with the CSV's ``method`` column."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from tests.app.conftest import NB
from tests.app.test_pages import _submit, open_page, texts

DOWNLOAD = "Download predictions (CSV)"


@pytest.fixture
def root(approximate_root, monkeypatch):
    path, approximate_id, mcmc_id = approximate_root
    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(path))
    return approximate_id, mcmc_id


def test_the_catalogue_card_the_run_picker_and_the_summary_say_approximate(app, root):
    approximate_id, mcmc_id = root
    at = app.run()
    assert not at.exception, [e.value for e in at.exception]
    cards = " ".join(texts(at, "markdown"))
    assert "Approximate fit (ADVI)] Last run" in cards and approximate_id in cards

    at = open_page(app, "pages/diagnostics.py", model=NB, run=approximate_id)
    assert not at.exception, [e.value for e in at.exception]
    picker = next(s for s in at.selectbox if any(approximate_id in str(o) for o in s.options))
    assert any(approximate_id in o and o.endswith("approximate") for o in map(str, picker.options)), picker.options
    assert any("Approximate fit (ADVI" in w for w in texts(at, "warning"))
    # its R-hat and ESS are 'good' by construction: the summary judges nothing rather than shows green
    summary = at.dataframe[0].value
    assert set(summary["verdict"]) == {"approximate"}, summary["verdict"]
    assert any("judge nothing" in c for c in texts(at, "caption"))
    at = open_page(app, "pages/diagnostics.py", model=NB, run=mcmc_id)
    assert set(at.dataframe[0].value["verdict"]) <= {"good", "warning", "problem"}
    assert any("Cells: green good" in c for c in texts(at, "caption"))
    at = open_page(app, "pages/diagnostics.py", model=NB, run=approximate_id, tab="Model graph")
    assert "Not coloured: an approximate fit's R-hat and ESS judge nothing." in texts(at, "caption")


def test_predictions_from_an_approximate_run_are_gated_and_every_csv_row_is_marked(app, root, captured_downloads):
    from ui.predict import APPROXIMATE_WARNING

    approximate_id, _ = root
    at = open_page(app, "pages/predictions.py", model=NB, run=approximate_id)
    assert any("approximate fit" in w for w in texts(at, "warning"))
    _submit(at)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    button = next(b for b in at.get("download_button") if b.proto.label == DOWNLOAD)
    assert button.proto.disabled, "the download waits for the acknowledgement"
    next(c for c in at.checkbox if c.label.startswith("I understand these predictions come from an approximate")
         ).check().run()
    assert not next(b for b in at.get("download_button") if b.proto.label == DOWNLOAD).proto.disabled
    csv = pd.read_csv(io.BytesIO(captured_downloads[f"predictions_{NB}_{approximate_id}.csv"]))
    assert csv["method"].tolist() == ["approximate"] and csv["convergence_verdict"].tolist() == ["approximate"]
    assert csv["convergence_warning"].tolist() == [APPROXIMATE_WARNING]
