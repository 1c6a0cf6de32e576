"""The player-props view renders calibration, comparison and the predictive distribution."""

from __future__ import annotations

import pytest

from tests.conftest import TINY

pytestmark = pytest.mark.slow  # trains or compiles models: `make test` runs it, `make test-fast` does not


@pytest.fixture(scope="module")
def props_view_run():
    from bayes_core.models.player_props import comparison_decision
    from bayes_core.registry import get_registry

    model = get_registry().load_model_instance("player_props", options={"train_end": "2025-11-15", "features": "form"})
    run = model.train(model.example_data(n_teams=10, n_players=80), **TINY)
    # A comparison report as `compare: true` writes it (here: the run's calibration against itself).
    cal = run.report("calibration")
    from bayes_core import artifacts

    artifacts.write_json(run.path / artifacts.REPORTS_DIR / "comparison.json", comparison_decision(cal, cal))
    return model, run


def test_view_renders_every_section(props_view_run):
    from streamlit.testing.v1 import AppTest

    model, run = props_view_run

    def page(model_id: str, run_id: str) -> None:
        from bayes_core.artifacts import Run
        from bayes_core.registry import get_registry
        from ui.views.player_props import render

        render(get_registry().load_model_instance(model_id), Run(model_id, run_id))

    at = AppTest.from_function(page, args=(run.model_id, run.run_id), default_timeout=120).run()
    assert not at.exception
    subheaders = [s.value for s in at.subheader]
    assert {"Calibration on the validation window", "Single- vs multi-task",
            "Predicted distribution of one match-up"} <= set(subheaders)
    assert "Use the multi-task model" in at.success[0].value
    assert len(at.get("plotly_chart")) == 3
    assert len(at.dataframe) >= 2


def test_figures_follow_the_report(props_view_run):
    from ui.views.player_props import metrics_table, reliability_figure

    _, run = props_view_run
    cal = run.report("calibration")
    table = metrics_table(cal)
    assert list(table["prop"]) == ["goals", "shots", "shots", "shots", "cards"]
    fig = reliability_figure(cal)
    titles = [a.text for a in fig.layout.annotations]
    assert titles[1].startswith("shots over 0.5 — ECE") and len(titles) == 5
