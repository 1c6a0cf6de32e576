"""The pairs-trading and stochastic-volatility views render against tiny trained runs (AppTest):
a plot, and a CSV download for every table."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import TINY

pytestmark = pytest.mark.slow  # trains or compiles models: `make test` runs it, `make test-fast` does not

MODEL_IDS = ["pairs_trading", "stochastic_volatility"]


def _view_script(model_id: str, run_id: str) -> None:
    import importlib

    from bayes_core.artifacts import Run
    from bayes_core.registry import get_registry

    model = get_registry().load_model_instance(model_id)
    importlib.import_module(f"ui.views.{model_id}").render(model, Run(model_id, run_id))


@pytest.fixture(scope="module")
def runs(registry):
    out = {}
    for model_id in MODEL_IDS:
        model = registry.load_model_instance(model_id)
        out[model_id] = model.train(model.example_data().iloc[:150], **TINY)
    return out


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_view_renders_plot_and_csv_downloads(runs, model_id):
    at = AppTest.from_function(_view_script, args=(model_id, runs[model_id].run_id), default_timeout=120).run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) >= 1
    downloads = at.get("download_button")
    assert len(downloads) >= 1 and len(at.dataframe) == len(downloads)  # every table has its CSV
    if runs[model_id].diagnostics["fallback"]["used"]:  # tiny sampling may not converge: then it says so
        assert any("fallback" in w.value for w in at.warning)
