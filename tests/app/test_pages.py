"""Every page driven through the entry point with AppTest, against a tiny trained NB run."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys

import pandas as pd
import pytest

from tests.app.conftest import BROKEN, DEPRECATED, NB, ROOT, new_app

PAGES = ["pages/catalogue.py", "pages/prior_predictive.py", "pages/diagnostics.py", "pages/predictions.py", "pages/runs.py"]
FORM = f"predict_{NB}"


def open_page(app, page: str, **params: str):
    """Run the entry point, then open ``page`` with ``params`` in the URL (as a shared link would)."""
    app.run()
    for key, value in params.items():
        app.query_params[key] = value
    app.switch_page(page)
    return app.run()


def texts(app, kind: str) -> list[str]:
    """The elements' text as shown: untrusted parts are Markdown-escaped (ui.text), so drop the escapes."""
    return [re.sub(r"\\(.)", r"\1", str(e.value)) for e in getattr(app, kind)]


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_without_exception(app, page):
    at = open_page(app, page, model=NB)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title, "every page has a title"


def test_catalogue_lists_models_hides_deprecated_and_shows_broken_configs(app, config_tree):
    at = app.run()
    assert not at.exception
    cards = " ".join(texts(at, "markdown"))
    assert "Hierarchical Negative-Binomial event rates" in cards
    assert "Old event-rate model" not in cards
    errors = " ".join(texts(at, "error"))
    assert f"{BROKEN}/config.yaml" in errors and "did you mean 'version'" in errors
    next(c for c in at.checkbox if c.label == "Show deprecated").check().run()
    assert "Old event-rate model" in " ".join(texts(at, "markdown"))


def test_catalogue_filters_by_tag_and_text(app, config_tree):
    at = app.run()
    at.text_input[0].input("no model mentions this").run()
    assert "No model matches the filters." in texts(at, "info")
    at.text_input[0].input("negative-binomial").run()
    assert "Hierarchical Negative-Binomial event rates" in " ".join(texts(at, "markdown"))


def test_catalogue_detail_shows_inference_parameters_priors_and_dag(app):
    at = open_page(app, "pages/catalogue.py", model=NB)
    params = next(t.value for t in at.table if "allowed" in t.value.columns)
    assert list(params["name"]) == ["entity", "windows", "threshold", "credible_level"]
    tables = [e.value for e in at.dataframe]
    priors = next(t for t in tables if "hyper-parameter" in t.columns)
    assert set(priors["hyper-parameter"]) == {"mu_rate", "alpha_sigma", "phi_sigma"}
    assert at.get("graphviz_chart"), "the DAG of the latest run is shown"


def _dialogs(at) -> list:
    """The dialog blocks of the page (details open over the page, not in a side panel). Streamlit
    puts a dialog in the "event" block beside main and sidebar, so the whole tree is searched."""
    found, stack = [], list(at._tree.children.values())
    while stack:
        node = stack.pop()
        if getattr(node, "type", None) == "dialog":
            found.append(node)
        stack.extend(getattr(node, "children", {}).values())
    return found


def test_catalogue_details_open_in_a_dialog_from_the_card_and_from_a_link(app):
    at = app.run()
    assert not _dialogs(at), "no details before the analyst asks"
    last = at.button(key="details_stochastic_volatility")  # a lower card
    last.click().run()
    dialogs = _dialogs(at)
    assert len(dialogs) == 1
    definition = " ".join(m.value for m in dialogs[0].markdown)
    assert "\\sigma_t" in definition or "sigma_t" in definition, "the model definition with its math"
    assert "Notebook use" not in definition and "::" not in definition, "developer notes stay out"
    assert at.query_params["model"] in (["stochastic_volatility"], "stochastic_volatility")
    at.text_input[0].input("volatility").run()
    assert not _dialogs(at), "a rerun does not reopen the dialog"
    linked = open_page(app, "pages/catalogue.py", model=NB)
    assert len(_dialogs(linked)) == 1, "a ?model= link opens the details"


def test_invalid_model_in_url_is_ignored_with_a_notice(app):
    at = open_page(app, "pages/predictions.py", model="../../etc")
    assert not at.exception
    assert any("Ignored" in w and "no such model" in w for w in texts(at, "warning"))
    from bayes_core.registry import get_registry

    first = get_registry().get_model_for_dropdown()[0][0]
    assert at.selectbox[0].value == first, "falls back to the first registered model"


def test_invalid_run_in_url_is_refused_naming_the_known_references_and_the_default_shown(app, nb_run):
    from bayes_core.runs import refs

    at = open_page(app, "pages/diagnostics.py", model=NB, run="20990101-000000-000000-abcdef")
    assert any("No run 20990101-000000-000000-abcdef" in e and "Known references" in e for e in texts(at, "error"))
    assert at.selectbox[1].value == refs.default_run(NB)[0]
    assert "run" not in at.query_params, "the bad reference leaves the URL"


def test_diagnostics_banner_names_the_worst_elements_and_the_summary_lists_every_flagged_one(app, nb_run):
    """The header's worst R-hat/ESS can belong to one theta[...] element: the banner names it and the
    default summary (headline variables) still lists it, instead of only under Vector parameters."""
    from bayes_core.diagnostics import flagged_elements

    at = open_page(app, "pages/diagnostics.py", model=NB, run=nb_run.run_id)
    assert not at.exception
    flagged = flagged_elements(nb_run.summary)
    table = next(e.value for e in at.dataframe if "r_hat" in getattr(e.value, "columns", []))
    table = table.data if hasattr(table, "data") else table  # a Styler
    assert {e["element"] for e in flagged} <= set(table.index)
    assert list(table.index[:len(flagged)]) == [e["element"] for e in flagged], "flagged rows come first"
    assert {"mu", "alpha", "phi"} <= set(table.index)
    if flagged:
        banner = " ".join(texts(at, "warning") + texts(at, "error"))
        assert f"**Worst:** `{flagged[0]['element']}` (" in banner
        assert "listed first in the **Summary** table" in banner


def test_diagnostics_draws_only_the_open_tab_and_a_link_opens_a_tab(app, nb_run):
    """The tabs are lazy: a plain link draws the Summary tab only (no trace plots, no DAG); a link
    with ``tab=`` opens that tab and draws it instead of the summary."""
    at = open_page(app, "pages/diagnostics.py", model=NB, run=nb_run.run_id)
    assert not at.exception and at.dataframe
    assert not at.get("plotly_chart") and not at.get("graphviz_chart")
    assert at.query_params.get("tab") in (None, "Summary", ["Summary"])
    at = open_page(new_app(), "pages/diagnostics.py", model=NB, run=nb_run.run_id, tab="Trace & rank")
    assert not at.exception
    charts = " ".join(c.proto.spec for c in at.get("plotly_chart"))
    assert "Trace" in charts and "Rank" in charts
    assert not any("r_hat" in getattr(e.value, "columns", []) for e in at.dataframe), "the summary is not drawn"


def test_the_vector_forest_colours_each_element_by_the_summarys_own_verdict(app, nb_run):
    """R-hat, ESS bulk and ESS tail, as the summary judges them: an element flagged only by its ESS
    tail was drawn green beside the summary's 'warning'."""
    from bayes_core.diagnostics import flagged_elements
    from ui.charts import VERDICT_COLOURS

    at = open_page(app, "pages/diagnostics.py", model=NB, run=nb_run.run_id, tab="Vector parameters")
    assert not at.exception
    figure = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "theta" in c.proto.spec)
    points = next(trace for trace in figure["data"] if trace.get("name") == "mean")
    verdict = {e["element"]: e["verdict"] for e in flagged_elements(nb_run.summary)}
    assert points["marker"]["color"] == [VERDICT_COLOURS[verdict.get(label, "good")] for label in points["y"]]


def test_form_rejects_out_of_bounds_value_then_accepts_a_valid_one(app):
    at = open_page(app, "pages/predictions.py", model=NB)
    at.number_input(key=f"{FORM}__windows").set_value(5000)
    _submit(at)
    at.run()
    errors = texts(at, "error")
    assert any("Windows ahead: must be ≤ 1000 (got 5000)" in e for e in errors), errors
    assert _single_result(at) is None, "nothing predicted while a field is invalid"
    at.number_input(key=f"{FORM}__windows").set_value(3)
    _submit(at)
    at.run()
    assert not any("Windows ahead" in e for e in texts(at, "error"))
    result = _single_result(at)
    assert result["windows"] == "3" and float(result["total_mean"]) > 0


def test_csv_download_has_inputs_outputs_and_provenance(app, nb_run, captured_downloads):
    at = open_page(app, "pages/predictions.py", model=NB, run=nb_run.run_id)  # other tests train NB runs too
    _submit(at)
    at.run()
    button = next(b for b in at.get("download_button") if b.proto.label == "Download predictions (CSV)")
    if nb_run.verdict == "problem":  # the tiny run rarely converges: the download is gated
        assert button.proto.disabled
        next(c for c in at.checkbox if c.label.startswith("I understand")).check().run()
        button = next(b for b in at.get("download_button") if b.proto.label == "Download predictions (CSV)")
    assert not button.proto.disabled
    name = f"predictions_{NB}_{nb_run.run_id}.csv"
    csv = pd.read_csv(io.BytesIO(captured_downloads[name]))
    for column in ("entity", "windows", "threshold", "credible_level", "rate_mean", "total_lower", "total_upper",
                   "p_window_at_least_threshold", "p_total_at_least_threshold", "run_id", "model_version", "convergence_verdict"):
        assert column in csv.columns, column
    assert csv["run_id"].tolist() == [nb_run.run_id]
    assert csv["convergence_verdict"].iloc[0] == nb_run.verdict
    assert ("convergence_warning" in csv.columns) == (nb_run.verdict == "problem")


def test_batch_csv_reports_bad_rows_and_predicts_good_ones(app, nb_run, captured_downloads):
    at = open_page(app, "pages/predictions.py", model=NB, run=nb_run.run_id, tab="Batch (CSV)")
    upload = b"entity,windows,threshold,credible_level\nE001,2,3,0.9\nE002,0,3,0.9\nNEW,1,1,0.8\n"
    at.file_uploader(key=f"batch_{NB}").set_value(("requests.csv", upload, "text/csv"))
    at.run()
    problems = next(e.value for e in at.dataframe if "field" in e.value.columns)
    assert problems.to_dict("records") == [{"row": 3, "field": "windows", "message": "must be ≥ 1 (got 0)"}]
    results = _result_tables(at)[0]
    assert results["entity"].tolist() == ["E001", "NEW"]
    assert results["known entity"].tolist() == ["yes", "no"]
    assert {"p window at least threshold", "p total at least threshold"} <= set(results.columns)
    assert "run id" not in results.columns, "provenance is in the caption and the CSV"


def test_untrained_model_links_to_training(app, config_tree):
    at = open_page(app, "pages/predictions.py", model=DEPRECATED)
    assert not at.exception
    assert any("no trained run" in i for i in texts(at, "info"))
    assert any(link.proto.page.endswith("training.py") or "training" in link.proto.page
               for link in at.get("page_link"))


def test_prior_predictive_reports_each_problem_of_an_uploaded_csv(app):
    at = open_page(app, "pages/prior_predictive.py", model=NB)
    at.radio[0].set_value("Upload a CSV").run()
    at.file_uploader[0].set_value(("bad.csv", b"entity,count\nA,1\nB,-2\nC,x\n", "text/csv"))
    at.run()
    errors = texts(at, "error")
    assert len(errors) == 1 and "header = row 1" in errors[0], "one box: heading and problems"
    assert "negative value in row 3" in errors[0] and "not a number in row 4" in errors[0]


def test_prior_predictive_checks_an_upload_with_the_options_its_columns_depend_on(app):
    """Issue #12.1 on this page: the linear regression's target and features decide its columns, so
    the page shows those options, and lr.csv (no column y) is usable once the target is sales."""
    from tests.conftest import lr_sales_csv

    lr = "bayesian_linear_regression"
    at = open_page(app, "pages/prior_predictive.py", model=lr)
    assert any("depends on the model options below (Target column, Feature columns)" in c for c in texts(at, "caption"))
    at.radio[0].set_value("Upload a CSV").run()
    at.file_uploader[0].set_value(("lr.csv", lr_sales_csv(), "text/csv")).run()
    errors = texts(at, "error")
    assert len(errors) == 1 and "no column 'y': set the Target column option (target) to one of sales, price, ads" in errors[0]
    at.text_input(key=f"prior_{lr}_opt__target").set_value("sales")
    at.text_input(key=f"prior_{lr}_opt__features").set_value("price,ads").run()
    assert not at.exception and not at.error, texts(at, "error")
    assert at.get("plotly_chart"), "the prior predictive is drawn against the uploaded sales"
    nb = open_page(app, "pages/prior_predictive.py", model=NB)
    assert not nb.checkbox and not nb.text_input, "the NB model's options do not change its data: none shown"


def test_prior_change_moves_the_prior_predictive(app):
    at = open_page(app, "pages/prior_predictive.py", model=NB)
    before = _observed_vs_predictive_means(at)
    at.slider(key=f"prior_{NB}_mu_rate").set_value(0.4).run()
    after = _observed_vs_predictive_means(at)
    assert after[0] == before[0], "observed data unchanged"
    assert after[1] < before[1], "a larger rate on μ pulls the simulated counts down"


def test_catalogue_import_loads_neither_jax_nor_pymc(nb_run):
    code = (
        "import sys, json; sys.path.insert(0, '.');"
        "from streamlit.testing.v1 import AppTest;"
        "at = AppTest.from_file('streamlit_app.py', default_timeout=120).run();"
        "assert not at.exception, at.exception;"
        "print(json.dumps({m: m in sys.modules for m in ('jax', 'pymc', 'pytensor', 'numpyro')}))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"jax": False, "pymc": False, "pytensor": False,
                                                               "numpyro": False}


def _submit(at) -> None:
    next(b for b in at.button if b.proto.label == "Predict").click()


def _result_tables(at) -> list[pd.DataFrame]:
    """Batch results: a static table whose headers wrap (``rate mean``) while it is short."""
    return [e.value for e in [*at.table, *at.dataframe]
            if {"rate mean", "rate_mean"} & set(getattr(e.value, "columns", []))]


def _single_result(at) -> dict[str, str] | None:
    """A single prediction, shown as ``output | value`` rows (it would not fit as one wide row)."""
    for e in at.table:
        table = e.value
        if list(getattr(table, "columns", [])) == ["output", "value"]:
            return dict(zip(table["output"], table["value"]))
    return None


def test_single_prediction_reads_top_to_bottom_with_both_threshold_probabilities(app):
    at = open_page(app, "pages/predictions.py", model=NB)
    at.number_input(key=f"{FORM}__windows").set_value(4)
    _submit(at)
    at.run()
    result = _single_result(at)
    assert result is not None and not _result_tables(at), "one prediction is not one wide row"
    assert float(result["p_total_at_least_threshold"]) >= float(result["p_window_at_least_threshold"])
    assert "run_id" not in result, "provenance is in the caption and the CSV, not the table"
    assert any("The CSV has every column" in c for c in texts(at, "caption"))


def _observed_vs_predictive_means(at) -> tuple[float, float]:
    table = next(e.value for e in at.dataframe if "share of zeros" in getattr(e.value, "columns", []))
    return float(table.loc["observed", "mean"]), float(table.loc["predictive (all draws)", "mean"])


@pytest.mark.parametrize("page", sorted(f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py")
                                         if p.name != "catalogue.py"))
def test_cold_server_deep_link_shows_the_page_in_its_frame(app, page):
    """A shared link opened first on a fresh server runs the page without the router (Streamlit's
    legacy ``pages/`` mode): the page still draws the app's menu, grouped as the router's, and no
    file-name menu (Streamlit's own is hidden by .streamlit/config.toml; see ui/nav.frame)."""
    from ui import nav

    at = app.run()
    at.query_params["model"] = NB
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title and at.title[0].value != "Model catalogue"
    links = [e.proto.label for e in at.sidebar if type(e).__name__ == "PageLink"]
    assert links == [title for entries in nav.SECTIONS.values() for _, title, _ in entries]
    assert [c.value for c in at.sidebar if type(c).__name__ == "Caption"] == list(nav.SECTIONS)


def test_streamlit_automatic_menu_is_hidden_by_the_project_config():
    """The option the frame relies on: read from the project's .streamlit/config.toml."""
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showSidebarNavigation"] is False
