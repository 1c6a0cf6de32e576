"""The pure helpers behind the pages: DAG colouring, PPC statistics, filters, CSV, form specs, views."""

from __future__ import annotations

import importlib.machinery
import io
import sys
import types

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
