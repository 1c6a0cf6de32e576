"""The finance models' views render against tiny trained runs (AppTest) and their builders agree
with the posterior draws."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import TINY

pytestmark = pytest.mark.slow  # trains or compiles models: `make test` runs it, `make test-fast` does not

MODEL_IDS = ["bayesian_linear_regression", "bayesian_sharpe", "strategy_comparison"]


def _view_script(model_id: str, run_id: str) -> None:
    import importlib

    from bayes_core.artifacts import Run
    from bayes_core.registry import get_registry

    model = get_registry().load_model_instance(model_id)
    importlib.import_module(f"ui.views.{model_id}").render(model, Run(model_id, run_id))


@pytest.fixture(scope="module")
def runs(registry):
    return {m: registry.load_model_instance(m).train(**TINY) for m in MODEL_IDS}


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_view_renders_plots_and_csv_downloads(runs, model_id):
    at = AppTest.from_function(_view_script, args=(model_id, runs[model_id].run_id), default_timeout=120).run()
    assert not at.exception, at.exception
    charts = at.get("plotly_chart")
    assert len(charts) >= 2
    downloads = at.get("download_button")
    assert len(downloads) >= 1 and len(at.dataframe) == len(downloads)  # every table has its CSV


def test_comparison_heatmap_is_a_probability_matrix(runs):
    from bayes_core.models.sharpe import ranking_from_draws
    from bayes_core.predictor import draws_for_run
    from ui.views.strategy_comparison import heatmap_figure

    draws = draws_for_run(runs["strategy_comparison"])
    ranking, prob = ranking_from_draws(draws["sharpe"], draws["coords"]["strategy"])
    z = heatmap_figure(prob).data[0].z
    off = ~np.eye(len(z), dtype=bool)
    np.testing.assert_allclose(np.asarray(z)[off] + np.asarray(z).T[off], 1.0)


def test_regression_band_contains_the_mean_and_widens_for_new_observations(runs):
    from bayes_core.predictor import draws_for_run
    from ui.views.bayesian_linear_regression import fit_band

    run = runs["bayesian_linear_regression"]
    band = fit_band(draws_for_run(run), run.data, "x1", "y")
    assert (band["mean_lower"] <= band["y_mean"]).all() and (band["y_mean"] <= band["mean_upper"]).all()
    assert (band["prediction_upper"] - band["prediction_lower"] > band["mean_upper"] - band["mean_lower"]).all()


def _ppc_script(model_id: str, run_id: str) -> None:
    from bayes_core.artifacts import Run
    from bayes_core.registry import get_registry
    from ui import ppc

    ppc.render(Run(model_id, run_id), get_registry().load_model_instance(model_id).outcome_kind)


def test_sharpe_posterior_predictive_check_raises_no_share_of_zeros_alarm(runs):
    """Continuous returns are checked with continuous statistics: no "share of zeros" row, and so
    not the old warning that the model never reproduces the (zero) share of zeros."""
    at = AppTest.from_function(_ppc_script, args=("bayesian_sharpe", runs["bayesian_sharpe"].run_id),
                               default_timeout=120).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    statistics = list(table.data["statistic"] if hasattr(table, "data") else table["statistic"])
    assert "share of zeros" not in statistics and "skewness" in statistics
    assert not any("share of zeros" in str(w.value) for w in at.warning)
