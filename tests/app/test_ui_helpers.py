"""The pure helpers behind the pages: DAG colouring, PPC statistics, filters, CSV, form specs, views."""

from __future__ import annotations

import importlib.machinery
import io
import re
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_core.config import InferenceParameter, ModelMetadata

DOT = 'digraph {\n\tmu [label="mu\n~\nExponential" shape=ellipse]\n\ty [label="y" shape=ellipse style=filled]\n' \
      '\tmu -> y\n}\n'


def test_colour_dag_fills_free_variables_by_verdict_and_keeps_observed_nodes():
    from ui.diagnostics_view import colour_dag

    out = colour_dag(DOT, {"mu": {"verdict": "problem", "r_hat_max": 1.2, "ess_bulk_min": 50.0},
                           "sigma_missing": {"verdict": "good"}})
    assert '"mu" [style=filled fillcolor="#ffcdd2"' in out
    assert "sigma_missing" not in out, "variables absent from the graph are not added as nodes"
    assert out.rstrip().endswith("}") and out.count("{") == out.count("}")
    assert colour_dag(DOT, {}) == DOT


def test_ppc_table_marks_statistics_no_data_set_can_move_as_not_informative():
    from bayes_core.ppc import COUNT, check_statistics
    from ui.ppc import NOT_INFORMATIVE, shown_table

    observed = np.array([0.5, 1.5, 2.5])
    replicated = np.array([[0.5, 1.0, 2.0], [1.5, 2.5, 3.5], [0.25, 0.75, 9.5]])
    table, _ = check_statistics(observed, replicated, COUNT)
    checks = shown_table(table).set_index("statistic")["check"]
    assert checks["share of zeros"] == NOT_INFORMATIVE
    assert checks["mean"] == "reproduced"
    assert "informative" not in shown_table(table).columns


def _entry(model_id, status="active", tags=(), description=""):
    meta = ModelMetadata(model_id=model_id, name=model_id.title(), version="1", status=status, tags=list(tags),
                         description=description, model_class="bayes_core.models.x:Y")
    return {"model_id": model_id, "metadata": meta}


def test_catalogue_filter_by_status_tags_and_text():
    from ui.catalogue import filter_entries

    entries = [_entry("a", tags=["counts"]), _entry("b", "deprecated", ["counts"]),
               _entry("c", "beta", ["regression"], description="Sales with weekly seasonality")]
    ids = lambda kept: [e["model_id"] for e in kept]  # noqa: E731
    assert ids(filter_entries(entries, False, [], "")) == ["a", "c"]
    assert ids(filter_entries(entries, True, ["counts"], "")) == ["a", "b"]
    assert ids(filter_entries(entries, True, [], "SEASONALITY")) == ["c"]
    assert ids(filter_entries(entries, False, ["counts", "regression"], "")) == []


def test_predictions_csv_marks_rows_of_a_non_converged_run():
    from ui.predict import NOT_CONVERGED, predictions_csv

    table = pd.DataFrame({"x": [1, 2], "run_id": ["r", "r"], "convergence_verdict": ["problem"] * 2})
    marked = pd.read_csv(io.BytesIO(predictions_csv(table, "problem")))
    assert marked["convergence_warning"].tolist() == [NOT_CONVERGED] * 2
    plain = pd.read_csv(io.BytesIO(predictions_csv(table.assign(convergence_verdict="good"), "good")))
    assert "convergence_warning" not in plain.columns


def test_form_spec_from_run_options_keeps_the_config_spec_valid():
    from ui.forms import as_spec

    spec, options = as_spec({"name": "entity", "type": "select", "label": "Entity", "options_from_run": True,
                             "options": ["E1", "E2"], "default": "E1", "required": True, "min_value": None,
                             "max_value": None, "help_text": ""})
    assert isinstance(spec, InferenceParameter) and spec.options is None and options == ["E1", "E2"]
    plain = InferenceParameter(name="n", type="integer", min_value=1, max_value=5, default=2)
    assert as_spec(plain) == (plain, None)


def test_model_views_are_found_by_registered_id_and_failures_are_contained(monkeypatch):
    from ui import model_views

    calls = []
    module = types.ModuleType("ui.views.fake_model")
    module.__spec__ = importlib.machinery.ModuleSpec("ui.views.fake_model", None)
    module.render = lambda model, run: calls.append((model, run))
    monkeypatch.setitem(sys.modules, "ui.views.fake_model", module)
    model = types.SimpleNamespace(model_id="fake_model", metadata=types.SimpleNamespace(name="Fake"))
    assert model_views.view_module_name(model) == "ui.views.fake_model"
    model_views.render_model_views(model, "run")
    assert calls == [(model, "run")]
    module.render = lambda model, run: 1 / 0
    model_views.render_model_views(model, "run")  # reported in the page, not raised
    for bad in ("no_such_view_module", "../etc", "ui.views"):
        assert model_views.view_module_name(types.SimpleNamespace(model_id=bad)) is None


def test_every_model_declares_a_markdown_definition_without_developer_notes(registry):
    """The catalogue renders ``definition`` (Markdown with $…$ math), not the module docstring."""
    from ui.catalogue import model_definition

    for model_id, meta in registry.get_all_models().items():
        text = model_definition(meta)
        assert text and "$$" in text, model_id
        assert "Notebook use" not in text and "::" not in text and "``" not in text, model_id
        assert not text.startswith("    "), "dedented: indented Markdown would render as code"
        assert text.count("$$") % 2 == 0, model_id


EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u23E9-\u23FA\uFE0F]")


def test_no_emoji_in_the_app_only_material_icons():
    """Emoji render as empty boxes in a browser without an emoji font; ``:material/...:`` icons ship
    with Streamlit."""
    root = Path(__file__).resolve().parents[2]
    files = [root / "streamlit_app.py", *sorted((root / "ui").rglob("*.py")), *sorted((root / "pages").rglob("*.py"))]
    found = [f"{f.relative_to(root)}:{n}: {line.strip()}" for f in files
             for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1) if EMOJI.search(line)]
    assert not found, found


def _form_script() -> None:
    from bayes_core.config import InferenceParameter
    from ui.forms import render_fields

    specs = [InferenceParameter(name=n, type="float", label=n, default=1.0) for n in ("x1", "x2", "x3")]
    specs.append(InferenceParameter(name="credible_level", type="float", label="level", default=0.9,
                                    min_value=0.5, max_value=0.99))
    render_fields(specs, key_prefix="f", columns=2)


def test_generated_form_reads_row_by_row_in_declared_order():
    """Two columns are filled row by row: x1 x2 / x3 level (the DOM and tab order too), not x1 x3 / x2."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_form_script).run()
    assert [w.label for w in at.number_input] == ["x1", "x2", "x3", "level"]


@pytest.mark.parametrize("step, values, expected", [(0.005, (0.005, 0.5, 0.1), "%.3f"), (0.1, (0.1, 10.0, 2.0), "%.1f"),
                                                     (0.075, (0.075, 7.5, 1.5), "%.3f"), (1.0, (-50.0, 50.0), "%.0f"),
                                                     (0.0001, (), "%.4f")])
def test_slider_format_shows_the_step_and_bounds_to_their_last_decimal(step, values, expected):
    from ui.forms import step_format

    assert step_format(step, *values) == expected
    assert float(expected % values[0]) == pytest.approx(values[0]) if values else True


def _prior_script() -> None:
    from bayes_core.registry import get_registry
    from ui.prior import prior_inputs

    prior_inputs(get_registry().get_model_metadata("hierarchical_negbinom"))


def test_prior_sliders_are_formatted_to_their_step():
    """mu_rate 0.1 moves in steps of 0.005 from 0.005: labelled 0.005, not 0.01."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_prior_script).run()
    slider = at.slider(key="prior_hierarchical_negbinom_mu_rate")
    assert slider.proto.format == "%.3f" and slider.proto.min == pytest.approx(0.005)


def _prior_render_script(scalar_prior: bool) -> None:
    import numpy as np

    from ui.prior import render

    rng = np.random.default_rng(0)
    prior = {"sigma": rng.gamma(2, size=200)} if scalar_prior else {}
    render({"prior": prior, "predictive": {"y": rng.normal(size=(200, 30))}, "observed": {"y": rng.normal(size=30)}},
           [], "continuous")


@pytest.mark.parametrize("scalar_prior", [True, False])
def test_marginal_priors_plot_scalar_priors_or_say_why_there_are_none(scalar_prior):
    """A model whose priors are all per window (pairs trading) gets a sentence under "Marginal priors",
    not an empty heading."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_prior_render_script, args=(scalar_prior,)).run()
    assert not at.exception
    assert [h.value for h in at.subheader] == ["Marginal priors"]
    said = any("no scalar parameters" in c.value for c in at.caption)
    assert said != scalar_prior
    assert len(at.get("plotly_chart")) == 2 + scalar_prior  # predictive and ECDF, plus the marginal


def test_result_display_leaves_provenance_and_empty_warnings_to_the_csv_and_transposes_one_row():
    from ui.predict import display_table

    one = pd.DataFrame([{"entity": "E1", "known_entity": True, "p_window_at_least_threshold": 0.00123456,
                         "warning": "", "run_id": "r", "model_id": "m", "model_version": "1",
                         "convergence_verdict": "good"}])
    shown = display_table(one)
    assert list(shown.columns) == ["output", "value"]
    assert dict(zip(shown["output"], shown["value"])) == {"entity": "E1", "known_entity": "yes",
                                                          "p_window_at_least_threshold": "0.001235"}
    two = pd.concat([one, one.assign(warning="unknown entity")], ignore_index=True)
    assert list(display_table(two).columns) == ["entity", "known_entity", "p_window_at_least_threshold", "warning"]
