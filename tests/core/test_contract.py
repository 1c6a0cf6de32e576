"""The contract every registered model keeps: example data → build → prior predictive → tiny
training run → save → load → predict → CSV round trip."""

import warnings

import pandas as pd
import pytest

from bayes_core import artifacts
from bayes_core.fallback import FallbackWarning
from bayes_core.registry import get_registry
from tests.conftest import TINY

MODEL_IDS = get_registry(refresh=True).model_ids()

#: The fit path each model takes at TINY settings on its example data (default: MCMC), and why.
#: Pairs trading (941 windows × 3 parameters) and stochastic volatility (1,000 latent steps) cannot
#: converge in 60 draws: they take their flagged fallback here, and the test says so — a model that
#: changes path (either way) fails it.
EXPECTED_PATH = {
    "pairs_trading": ("fallback", "MCMC did not converge"),
    "stochastic_volatility": ("fallback", "MCMC did not converge"),
}


def default_request(model, run) -> dict:
    return {f["name"]: f["default"] for f in model.get_inference_form_fields(run) if f["default"] is not None}


@pytest.mark.slow
@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_model_lifecycle(model_id, tmp_path):
    model = get_registry().load_model_instance(model_id)
    data = model.load_data()
    assert len(data) >= model.data_schema().min_rows
    assert model.true_parameters, "example data must come with its known true parameters"

    prior = model.sample_prior_predictive(data, draws=20)
    assert {"prior", "prior_predictive"} <= set(prior.children)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = model.train(data, **TINY)
    # The new run is the model's latest and loads by reference (a test that can fail: an older run
    # of the session would not do).
    assert artifacts.list_run_ids(model_id)[-1] == run.run_id
    assert artifacts.load_run(model_id, "latest").run_id == run.run_id and model.has_trained_model()

    path, reason = EXPECTED_PATH.get(model_id, ("mcmc", None))
    fallback = run.diagnostics.get("fallback", {})
    assert run.metadata["fit_path"] == path, (run.metadata["fit_path"], fallback)
    announced = [str(w.message) for w in caught if issubclass(w.category, FallbackWarning)]
    if path == "fallback":
        assert fallback["used"] and reason in fallback["reason"], fallback
        assert announced and reason in announced[0]  # never silently
    else:
        assert not fallback.get("used") and not announced, announced
    for name in (artifacts.TRACE_FILE, artifacts.SUMMARY_FILE, artifacts.DIAGNOSTICS_FILE,
                 artifacts.METADATA_FILE, artifacts.DATA_FILE, artifacts.DAG_DOT_FILE, artifacts.LOG_FILE):
        assert (run.path / name).is_file(), name

    loaded = artifacts.Run(model_id, run.run_id)
    assert {"posterior", "sample_stats", "posterior_predictive", "observed_data"} <= set(loaded.idata.children)
    assert {k: loaded.idata.attrs[k] for k in ("model_id", "run_id", "model_version")} == \
        {"model_id": model_id, "run_id": run.run_id, "model_version": model.metadata.version}
    assert loaded.metadata["model_version"] == model.metadata.version
    assert loaded.metadata["settings"]["draws"] == TINY["draws"]
    assert set(loaded.diagnostics) >= {"r_hat_max", "ess_bulk_min", "ess_tail_min", "divergences", "bfmi_min",
                                       "converged", "verdicts"}
    assert len(loaded.data) == len(data)

    # Every model's run is evaluated (PSIS-LOO over its pointwise log-likelihood), once, and stored.
    from bayes_core.runs import evaluation

    evaluated = evaluation.evaluate(loaded)
    assert evaluated["loo"] and evaluated["loo"]["n_observations"] > 0, evaluated["loo_reason"]
    assert evaluation.stored(loaded) == evaluated and evaluated["headline"].startswith("elpd_loo")
    if path != "mcmc":
        assert path in evaluated["loo"]["caveat"]  # draws that are not MCMC are said to be so

    # Every model's run has its prior sensitivity (power-scaling), or the model refuses with why.
    from bayes_core.checks import sensitivity
    from bayes_core.errors import NotEvaluableError

    if model.sensitivity_unavailable:
        with pytest.raises(NotEvaluableError, match=f"{model_id} cannot be checked this way"):
            sensitivity.sensitivity(loaded)
    else:
        checked = sensitivity.sensitivity(loaded)
        assert checked["parameters"] and checked["power_scaled_priors"] and sensitivity.stored(loaded)[0] == checked
        assert all(p["diagnosis"] in sensitivity.MEANING for p in checked["parameters"])

    table = model.predict(default_request(model, loaded), loaded)
    assert len(table) == 1 and table["run_id"].iloc[0] == run.run_id
    path = tmp_path / "predictions.csv"
    table.to_csv(path, index=False)
    back = pd.read_csv(path, keep_default_na=False)
    assert list(back.columns) == list(table.columns)
    assert back["run_id"].iloc[0] == run.run_id
