"""The Diagnostics page's Prior sensitivity tab: a button computes the run's power-scaling result
(stored in the run), then the table, the bars and the diagnosis in words; a damaged stored file is
reported and can be computed again; a model that cannot be checked says why, with no button."""

from __future__ import annotations

from bayes_core.checks import sensitivity as sens
from tests.app.conftest import NB
from tests.app.test_pages import open_page, texts

BUTTON = "sensitivity_compute"
TAB = "Prior sensitivity"  # the page draws only the open tab; the link opens this one


def _tab_table(at):
    return next(e.value for e in at.dataframe if "likelihood" in getattr(e.value, "columns", []))


def test_the_button_computes_the_sensitivity_stores_it_and_shows_table_bars_and_diagnosis(app, nb_run):
    (nb_run.path / sens.SENSITIVITY_FILE).unlink(missing_ok=True)
    at = open_page(app, "pages/diagnostics.py", model=NB, run=nb_run.run_id, tab=TAB)
    assert not at.exception, [e.value for e in at.exception]
    assert "Not computed for this run yet." in texts(at, "info")
    assert not any("likelihood" in getattr(e.value, "columns", []) for e in at.dataframe)

    at.button(key=BUTTON).click().run()
    assert not at.exception, [e.value for e in at.exception]
    stored, problem = sens.stored(nb_run)
    assert stored is not None and problem is None, "the result is stored in the run"
    table = _tab_table(at)
    assert list(table["name"]) == [p["name"] for p in stored["parameters"]] == ["mu", "alpha", "phi"]
    assert set(table["diagnosis"]) <= {sens.CONFLICT, sens.WEAK_LIKELIHOOD, sens.NONE}
    figures = [c for c in at.get("plotly_chart") if "Power-scaling sensitivity" in c.proto.spec]
    assert figures, "the bars of prior and likelihood sensitivity are drawn"
    shown = " ".join(texts(at, "success") + texts(at, "warning"))
    assert stored["verdict"] in shown
    flagged = [p for p in stored["parameters"] if p["diagnosis"] != sens.NONE]
    if flagged:  # the diagnosis in plain words, per flagged parameter
        assert sens.MEANING[flagged[0]["diagnosis"]] in " ".join(texts(at, "markdown"))

    at = open_page(app, "pages/diagnostics.py", model=NB, run=nb_run.run_id, tab=TAB)  # stored: no button, same result
    assert BUTTON not in [b.key for b in at.button]
    assert list(_tab_table(at)["name"]) == ["mu", "alpha", "phi"]


def test_a_damaged_stored_result_is_reported_and_computed_again(app, nb_run):
    (nb_run.path / sens.SENSITIVITY_FILE).write_text("{not json")
    at = open_page(app, "pages/diagnostics.py", model=NB, run=nb_run.run_id, tab=TAB)
    assert not at.exception
    assert any("cannot be used" in w and sens.SENSITIVITY_FILE in w for w in texts(at, "warning"))
    at.button(key=BUTTON).click().run()
    assert not at.exception
    assert any(sens.SENSITIVITY_FILE in i for i in texts(at, "info")), "the recomputation says why"
    assert sens.stored(nb_run)[0] is not None


def test_a_model_that_cannot_be_checked_says_why_and_offers_no_button(monkeypatch):
    from streamlit.testing.v1 import AppTest

    from bayes_core.registry import get_registry

    nb = get_registry().load_model_instance("hierarchical_negbinom")
    monkeypatch.setattr(type(nb), "sensitivity_unavailable", "a reason given by the model")

    def tab():
        from bayes_core.registry import get_registry
        from ui import sensitivity_view

        sensitivity_view.section(None, get_registry().load_model_instance("hierarchical_negbinom"))

    at = AppTest.from_function(tab).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Not available for this model" in i and "a reason given by the model" in i for i in texts(at, "info"))
    assert not at.button
