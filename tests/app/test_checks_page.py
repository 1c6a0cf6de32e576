"""The Checks page: a stored SBC check renders (table, ECDF plots with their band, fits failed), a
deep link opens it, a bad deep link is an error, an unreadable check is listed with why, a model SBC
cannot check says why with no Start button, and Start submits a background SBC job that can be
cancelled (followed here, not listed as training)."""

from __future__ import annotations

import pytest

from bayes_core.checks import sbc, store
from bayes_core.registry import get_registry
from tests.app.conftest import NB
from tests.app.test_pages import open_page, texts

PAGE = "pages/checks.py"


@pytest.fixture(scope="module")
def stored_check(registry):
    """A real three-simulation SBC of the count model (tiny fits), stored as a check."""
    model = registry.load_model_instance(NB)
    result = sbc.run_sbc(model, model.example_data(n_entities=6), sims=3, draws=30, tune=30, chains=1, seed=4)
    return store.write_check(NB, sbc.KIND, result)


@pytest.mark.slow
def test_a_deep_linked_check_shows_its_table_plots_and_failed_fits(app, stored_check):
    at = open_page(app, PAGE, model=NB, check=stored_check["check_id"])
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key=f"sbc_check_{NB}").value == stored_check["check_id"]
    table = next(e.value for e in at.dataframe if "ranks_ok" in getattr(e.value, "columns", []))
    assert list(table["name"]) == [p["name"] for p in stored_check["parameters"]] == ["mu", "alpha", "phi"]
    assert list(table.columns) == ["name", "p_value", "verdict", "ranks_ok"]
    figures = [c.proto.spec for c in at.get("plotly_chart")]
    assert len(figures) == 3 and all("band" in f and "ECDF" in f for f in figures)
    assert any(f"fits failed: **{stored_check['fits_failed']}**" in m for m in [e.value for e in at.markdown])
    assert "inconclusive" in " ".join(e.value for e in at.markdown)  # three simulations decide nothing


@pytest.mark.slow
def test_a_bad_deep_link_is_an_error_and_the_page_still_serves(app, stored_check):
    at = open_page(app, PAGE, model=NB, check="../../etc/passwd")
    assert not at.exception
    assert any("no readable SBC check" in e for e in texts(at, "error"))
    assert at.selectbox(key=f"sbc_check_{NB}").value  # the newest readable check is shown instead
    at = open_page(app, PAGE, model="no_such_model")
    assert not at.exception  # the same notice as every page's: the link's model is ignored, a picker offered
    assert any("no such model is registered" in w for w in texts(at, "warning"))
    assert at.selectbox(key="checks_model").value in get_registry().model_ids()


def test_a_model_sbc_cannot_check_says_why_and_offers_no_start(app, monkeypatch):
    sharpe = get_registry().load_model_instance("bayesian_sharpe")
    monkeypatch.setattr(type(sharpe), "sbc_unavailable", "a reason given by the model")
    at = open_page(app, PAGE, model="bayesian_sharpe")
    assert not at.exception, [e.value for e in at.exception]
    assert any("SBC cannot check" in w and "a reason given by the model" in w for w in texts(at, "warning"))
    assert "sbc_start" not in [b.key for b in at.button]


@pytest.mark.slow
def test_start_submits_a_background_sbc_job_and_cancel_stops_it(app):
    from bayes_core.jobs import get_runner

    at = open_page(app, PAGE, model=NB)
    at.number_input(key=f"sbc_{NB}_sims").set_value(2)
    at.number_input(key=f"sbc_{NB}_draws").set_value(20)
    at.button(key="sbc_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("SBC job" in s for s in texts(at, "success"))
    job = next(j for j in get_runner().list(NB) if j.task == sbc.KIND)
    assert job.params == {"sims": 2} and job.settings["draws"] == 20
    assert job.job_id in " ".join(texts(at, "markdown"))  # followed here ...
    training = open_page(app, "pages/training.py", model=NB)
    assert job.job_id not in " ".join(texts(training, "markdown"))  # ... not as a training job
    at = open_page(app, PAGE, model=NB)
    cancel = f"sbc_cancel_{job.job_id}"
    if cancel in [b.key for b in at.button]:  # still queued or running: Cancel stops it
        at.button(key=cancel).click().run()
        assert get_runner().status(job.job_id).state in ("cancelled", "succeeded")


@pytest.mark.slow
def test_an_unreadable_check_is_listed_with_why_and_its_neighbours_still_open(app, stored_check):
    import shutil

    damaged = store.check_path(NB, sbc.KIND, "20000101-000000-000000-0c0c0c")
    damaged.mkdir(parents=True)
    (damaged / store.RESULT_FILE).write_text("{not json")
    try:
        at = open_page(app, PAGE, model=NB, check=stored_check["check_id"])
        assert not at.exception, [e.value for e in at.exception]
        assert any(damaged.name in w and "unreadable" in w and "rm -r" in w for w in texts(at, "warning"))
        assert at.selectbox(key=f"sbc_check_{NB}").value == stored_check["check_id"]
        assert damaged.name not in at.selectbox(key=f"sbc_check_{NB}").options
    finally:
        shutil.rmtree(damaged)


@pytest.mark.slow
def test_a_pooled_check_says_its_parameters_pool_their_parts(app, registry, stored_check):
    """Pairs trading's windows are pooled per parameter: the page says how many ranks each holds."""
    model = registry.load_model_instance("pairs_trading")
    result = sbc.run_sbc(model, sims=2, draws=20, tune=20, chains=1, seed=5)
    check = store.write_check("pairs_trading", sbc.KIND, result)
    at = open_page(app, PAGE, model="pairs_trading", check=check["check_id"])
    assert not at.exception, [e.value for e in at.exception]
    assert any("pools the ranks of its independent parts (8 a simulation, 16 in all)" in c
               for c in texts(at, "caption"))
    unpooled = open_page(app, PAGE, model=NB, check=stored_check["check_id"])
    assert not any("pools the ranks" in c for c in texts(unpooled, "caption"))


def test_the_model_picker_follows_the_analysts_pick_and_then_a_new_link(app):
    at = open_page(app, PAGE, model=NB)
    assert at.selectbox(key="checks_model").value == NB
    at.selectbox(key="checks_model").select("bayesian_sharpe").run()
    assert at.selectbox(key="checks_model").value == "bayesian_sharpe" and at.query_params["model"] == "bayesian_sharpe"
    at.run()  # a rerun keeps the pick
    assert at.selectbox(key="checks_model").value == "bayesian_sharpe"
    at.query_params["model"] = NB  # a link to another model, in the same session
    at.run()
    assert at.selectbox(key="checks_model").value == NB
