"""Prior sensitivity (power-scaling, arviz-stats' psense_summary) of a run: a tight prior far from the
data is a prior-data conflict on that parameter, a default run has none; the count model's weighted
cells give the plain per-observation result exactly; the result is stored once, a damaged file is
recomputed and says so; a model that cannot be checked refuses first; the CLI prints one object."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from bayes_core.checks import sensitivity as sens
from bayes_core.errors import BayesCoreError, NotEvaluableError
from bayes_core.loglik import plain_log_likelihood
from tests.conftest import TINY

LR = "bayesian_linear_regression"
TIGHT_SLOPES = {"slope_scale": 0.05}  # beta_j ~ Normal(0, 0.05·sd y/sd x_j): sd ≈ 0.17 at 0; the data's beta[x1] is 2


@pytest.fixture(scope="module")
def lr_run(registry):
    return registry.load_model_instance(LR).train(**TINY)


@pytest.fixture(scope="module")
def tight_run(registry):
    """MCMC with enough draws to converge under the tight prior (at TINY it falls back to OLS, whose
    flat-prior draws would be no test of the prior)."""
    return registry.load_model_instance(LR, priors=TIGHT_SLOPES).train(**{**TINY, "draws": 150, "tune": 150})


def by_name(payload: dict) -> dict[str, dict]:
    return {p["name"]: p for p in payload["parameters"]}


def test_a_default_run_shows_no_prior_sensitivity(lr_run):
    assert lr_run.metadata["fit_path"] == "mcmc"
    payload = sens.sensitivity(lr_run, force=True)
    assert set(by_name(payload)) == {"intercept", "beta[x1]", "beta[x2]", "beta[x3]", "sigma"}
    assert {p["diagnosis"] for p in payload["parameters"]} == {sens.NONE}, payload["parameters"]
    assert all(p["prior"] < sens.THRESHOLD <= p["likelihood"] for p in payload["parameters"])
    assert payload["power_scaled_priors"] == ["intercept_centered", "beta", "sigma"]
    assert payload["verdict"].startswith("No parameter is sensitive to its prior")


def test_a_tight_prior_far_from_the_data_is_a_prior_data_conflict_on_that_parameter(lr_run, tight_run):
    assert tight_run.metadata["fit_path"] == "mcmc"
    tight = by_name(sens.sensitivity(tight_run, force=True))["beta[x1]"]
    default = by_name(sens.sensitivity(lr_run))["beta[x1]"]
    assert tight["diagnosis"] == sens.CONFLICT, tight
    assert tight["prior"] > 10 * max(default["prior"], sens.THRESHOLD / 10), (tight, default)
    assert "prior-data conflict for" in sens.sensitivity(tight_run)["verdict"]
    assert "the prior and the data disagree" in sens.describe(tight)


def test_the_count_models_weighted_cells_give_the_plain_result_exactly(nb_model, nb_run):
    data = nb_run.data
    posterior = nb_run.idata["posterior"].to_dataset()
    reduced = nb_model.pointwise_log_likelihood(posterior, data)
    plain = plain_log_likelihood(nb_model.build_predictive_model(data), posterior)
    assert reduced.is_reduced and reduced.n_cells < plain.n_cells == len(data)
    np.testing.assert_allclose(reduced.total(), plain.total(), rtol=1e-10)

    log_prior = nb_model.log_prior(posterior, data, var_names=nb_model.power_scaled_priors(data))
    names = sens.reported_parameters(nb_model, posterior)
    assert sens.power_scaling_table(posterior, names, log_prior, reduced.total()) == \
        sens.power_scaling_table(posterior, names, log_prior, plain.total())


def test_only_the_priors_the_analyst_sets_are_power_scaled(nb_model, nb_run, registry):
    """θ_i ~ Gamma(μα, α) is the model's hierarchy (priorsense scales brms' lprior, not it); the
    standardised group-level effects of player props are left out by name."""
    assert nb_model.power_scaled_priors(nb_run.data) == ["mu", "alpha", "phi"]
    props = registry.load_model_instance("player_props")
    scaled = props.power_scaled_priors(props.load_data())
    assert not {"player_z", "opponent_z"} & set(scaled) and "intercept" in scaled


def test_the_result_is_stored_once_and_a_damaged_file_is_reported_and_recomputed(lr_run, caplog):
    path = lr_run.path / sens.SENSITIVITY_FILE
    first = sens.sensitivity(lr_run, force=True)
    assert json.loads(path.read_text()) == first
    assert sens.sensitivity(lr_run)["computed_at"] == first["computed_at"], "cached, not computed again"
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")], "written atomically"
    for damage in ("{truncated", "[1, 2]", json.dumps({**first, "run_id": "20000101-000000-000000-000000"})):
        path.write_text(damage)
        assert sens.stored(lr_run)[0] is None and sens.stored(lr_run)[1]
        again = sens.sensitivity(lr_run)
        assert again["computed_at"] != first["computed_at"] and sens.SENSITIVITY_FILE in again["recomputed_because"]
        assert sens.stored(lr_run)[0] == again
    assert "computed again" in caplog.text


def test_an_oversized_stored_file_is_never_read(lr_run, monkeypatch):
    from bayes_core.runs import integrity

    sens.sensitivity(lr_run)
    monkeypatch.setattr(integrity, "MAX_JSON_BYTES", 100)
    payload, problem = sens.stored(lr_run)
    assert payload is None and "is larger than 100 bytes" in problem


def test_a_model_that_cannot_be_checked_refuses_before_any_work(registry, nb_run, monkeypatch):
    model = registry.load_model_instance("hierarchical_negbinom")
    monkeypatch.setattr(type(model), "sensitivity_unavailable", "a reason given by the model")
    monkeypatch.setattr(type(model), "log_prior", lambda *a, **k: pytest.fail("work done before refusing"))
    with pytest.raises(NotEvaluableError, match="hierarchical_negbinom cannot be checked this way: a reason given"):
        sens.compute(nb_run, model)


def test_an_approximate_run_is_computed_with_its_caveat(lr_run, tmp_path, monkeypatch):
    """ADVI draws are reweighted as if they were the posterior: the result says so."""
    from bayes_core.runs import store

    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(tmp_path))
    copy = tmp_path / LR / "runs" / lr_run.run_id
    shutil.copytree(lr_run.path, copy)
    meta = json.loads((copy / store.METADATA_FILE).read_text())
    meta.update(fit_path="approximate", fit_method="ADVI")
    (copy / store.METADATA_FILE).write_text(json.dumps(meta))
    payload = sens.sensitivity(store.load_run(LR, lr_run.run_id), force=True)
    assert "approximate path (ADVI), not MCMC" in payload["caveat"]


# -- CLI ---------------------------------------------------------------------------------------------
def run_cli(capsys, *argv: str) -> tuple[int, dict]:
    from bayes_core.cli import main

    code = main(["check", "sensitivity", *argv, "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out  # exactly one JSON object
    return code, json.loads(out[0])


def test_cli_prints_one_object_with_each_parameters_sensitivities(lr_run, capsys):
    code, payload = run_cli(capsys, LR, "--run", lr_run.run_id)
    assert code == 0 and payload["run_id"] == lr_run.run_id
    assert payload["parameters"] and all(set(p) == {"name", "prior", "likelihood", "diagnosis"}
                                         for p in payload["parameters"])
    assert payload["parameters"] == [{k: p[k] for k in ("name", "prior", "likelihood", "diagnosis")}
                                     for p in sens.stored(lr_run)[0]["parameters"]]


@pytest.mark.parametrize("argv, says", [
    (["no_such_model"], "Unknown model 'no_such_model'"),
    ([LR, "--run", "../../etc/passwd"], "not a valid run id or run reference"),
    ([LR, "--run", "20990101-000000-000000-abcdef"], "No run 20990101-000000-000000-abcdef"),
    ([LR, "--run", "x" * 5000], "not a valid run id or run reference"),
    ([LR, "--unknown-flag"], "--unknown-flag"),
])
def test_cli_refuses_what_it_cannot_use_with_one_error_object(lr_run, capsys, argv, says):
    code, payload = run_cli(capsys, *argv)
    assert code == 2 and set(payload) == {"error"} and says in payload["error"], payload


def test_load_names_the_run_when_its_sensitivity_cannot_be_computed(registry, nb_run, monkeypatch):
    monkeypatch.setattr(type(registry.load_model_instance("hierarchical_negbinom")), "sensitivity_unavailable",
                        "a reason given by the model")
    (nb_run.path / sens.SENSITIVITY_FILE).unlink(missing_ok=True)
    with pytest.raises(BayesCoreError, match=f"run {nb_run.run_id} cannot be computed: .*a reason given by the model"):
        sens.load("hierarchical_negbinom", nb_run.run_id)
