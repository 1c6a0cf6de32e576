"""Simulation-based calibration: rank statistics, the catalogue's hooks, a mis-specified fit that SBC
must catch, the check store, the job task (progress, cancel) and the `check` CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bayes_core.checks import ranks, sbc, store
from bayes_core.errors import InvalidParametersError
from bayes_core.jobs import JobRequest
from bayes_core.jobs.api import Job
from bayes_core.jobs.local import LocalJobRunner
from bayes_core.jobs.tasks import TASKS, TaskContext
from bayes_core.registry import get_registry
from bayes_core.samplers import Cancelled

NB = "hierarchical_negbinom"
SHARPE = "bayesian_sharpe"
UNCHECKABLE = "its likelihood is a black box (a reason given by the model)"
#: Tiny fits: SBC's machinery, not its power (the mis-specification test has the power it needs).
TWO_SIMS = dict(sims=2, draws=20, tune=20, chains=1, seed=5)
MODEL_IDS = get_registry(refresh=True).model_ids()
#: Models whose prior predictive mostly simulates data their own schema refuses (a finding SBC
#: reports as failed fits): player props' priors give far more than 30 goals or 100 shots a match.
SCHEMA_REFUSES_SIMULATIONS = {"player_props": "value above"}
#: Models whose parameters pool their elements' ranks: pairs trading's 8 separate windows.
POOLED_PER_SIM = {"pairs_trading": 8}


def small_nb(registry, **priors):
    model = registry.load_model_instance(NB, priors=priors or None)
    return model, model.example_data(n_entities=6)


# -- rank statistics ----------------------------------------------------------------------------------
def test_uniform_ranks_pass_and_piled_up_ranks_fail():
    rng = np.random.default_rng(0)
    n_draws = np.full(200, 99)
    uniform = ranks.rank_statistics(ranks.pit_values(rng.integers(0, 100, 200), n_draws, 1), 1)
    assert uniform["p_value"] > ranks.WARN_P and uniform["ranks_ok"]
    assert ranks.verdict(uniform["p_value"], uniform["ranks_ok"], 200) == ranks.PASS
    piled = ranks.rank_statistics(ranks.pit_values(rng.integers(80, 100, 200), n_draws, 1), 1)  # prior draws too high
    assert piled["p_value"] < ranks.FAIL_P and not piled["ranks_ok"]
    assert ranks.verdict(piled["p_value"], piled["ranks_ok"], 200) == ranks.FAIL
    band = uniform["ecdf"]
    assert len(band["x"]) == len(band["difference"]) == len(band["lower"]) == len(band["upper"])
    assert all(lo <= hi for lo, hi in zip(band["lower"], band["upper"]))
    assert ranks.verdict(0.5, True, ranks.MIN_SIMS_FOR_VERDICT - 1) == ranks.INCONCLUSIVE


def test_rank_counts_draws_below_the_prior_draw_elementwise():
    draws = np.array([[0.0, 5.0], [1.0, 6.0], [2.0, 7.0]])
    assert ranks.rank_of(np.array([1.5, 100.0]), draws).tolist() == [2, 3]


# -- every catalogue model ------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_every_catalogue_model_runs_a_two_simulation_sbc(model_id, registry):
    model = registry.load_model_instance(model_id)
    if model.sbc_unavailable:  # said why, before any work
        with pytest.raises(sbc.SBCUnavailableError, match="cannot check"):
            sbc.run_sbc(model, **TWO_SIMS)
        return
    result = sbc.run_sbc(model, **TWO_SIMS)
    refused = SCHEMA_REFUSES_SIMULATIONS.get(model_id)
    if refused:  # counted and named, never hidden
        assert result["fits_errored"] + result["n_ranked"] == 2 and result["fits_errored"] >= 1
        assert all(refused in f["reason"] for f in result["failures"]), result["failures"]
        return
    assert result["n_sims"] == 2 and result["fits_errored"] == 0, result["failures"]
    assert result["n_ranked"] == 2 and result["parameters"]
    for p in result["parameters"]:
        per_sim = POOLED_PER_SIM.get(model_id, 1)  # a pooled parameter: one rank per pooled element a simulation
        assert len(p["ranks"]) == len(p["n_draws"]) == 2 * per_sim
        assert all(0 <= r <= n for r, n in zip(p["ranks"], p["n_draws"]))
        assert p["verdict"] == ranks.INCONCLUSIVE  # two simulations never pass or fail a model
    assert json.loads(json.dumps(result)) == result  # JSON-able as stored


def test_every_catalogue_model_can_be_checked(registry):
    refused = [m for m in MODEL_IDS if registry.load_model_instance(m).sbc_unavailable]
    assert refused == []


@pytest.fixture
def uncheckable(registry, monkeypatch) -> str:
    """The Sharpe model made to refuse SBC, as a model that cannot be simulated says why."""
    monkeypatch.setattr(type(registry.load_model_instance(SHARPE)), "sbc_unavailable", UNCHECKABLE)
    return SHARPE


# -- SBC catches a mis-specified fit --------------------------------------------------------------------
@pytest.mark.slow
def test_sbc_passes_the_model_and_fails_a_fit_with_a_shifted_prior(registry):
    """Simulated with mu ~ Exponential(0.1) (mean 10), fitted with Exponential(1) (mean 1): the fits
    pull mu down, so the prior draws rank high. Same seed, same simulations, one compile each.
    (A correct model fails a parameter by chance in about one run in 30 — three parameters at
    p < 0.01 — so the seed is one whose simulations do not: seed 3 fails alpha at p = 0.001.)"""
    model, data = small_nb(registry)
    settings = dict(sims=30, draws=200, tune=200, chains=2, seed=4)
    right = sbc.run_sbc(model, data, **settings)
    assert right["fits_errored"] == 0 and right["timings"]["compiles"] == 1
    assert {p["name"]: p["verdict"] for p in right["parameters"]} == {"mu": "pass", "alpha": "pass", "phi": "pass"}
    wrong = sbc.run_sbc(model, data, fit_priors={"mu_rate": 1.0}, **settings)
    mu = next(p for p in wrong["parameters"] if p["name"] == "mu")
    assert mu["verdict"] == ranks.FAIL and mu["p_value"] < ranks.FAIL_P and not mu["ranks_ok"]
    assert wrong["verdict"] == ranks.FAIL and wrong["fit_priors"] == {"mu_rate": 1.0}


def test_settings_are_bounded_and_named_together(registry):
    model = registry.load_model_instance(NB)
    with pytest.raises(InvalidParametersError) as caught:
        sbc.sbc_settings(model, sims=0, draws=0, chains=100)
    assert set(caught.value.errors) == {"sims", "draws", "chains"}
    assert "from 1 to 1000" in caught.value.errors["sims"]
    with pytest.raises(InvalidParametersError, match="unknown prior"):
        sbc.fit_model_with(model, {"no_such_prior": 1.0})


# -- store ---------------------------------------------------------------------------------------------
def test_checks_are_stored_whole_listed_newest_first_and_damage_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(tmp_path))
    older = store.write_check(NB, "sbc", {"parameters": [], "n_sims": 3, "verdict": "pass"})
    newer = store.write_check(NB, "sbc", {"parameters": [], "n_sims": 4, "verdict": "fail"})
    folder = store.checks_dir(NB, "sbc")
    assert sorted(p.name for p in folder.iterdir()) == sorted([older["check_id"], newer["check_id"]])  # no staging left
    assert [r["check_id"] for r in store.list_checks(NB)] == [newer["check_id"], older["check_id"]]
    assert store.load_check(NB, "sbc", older["check_id"])["n_sims"] == 3
    (folder / older["check_id"] / store.RESULT_FILE).write_text("{not json")
    rows = {r["check_id"]: r for r in store.list_checks(NB)}
    assert rows[older["check_id"]]["status"] == store.UNREADABLE and "rm -r" in rows[older["check_id"]]["problem"]
    assert rows[newer["check_id"]]["status"] == store.READABLE
    with pytest.raises(store.CheckNotFoundError, match="not a check id"):
        store.load_check(NB, "sbc", "../../etc")


# -- job task ------------------------------------------------------------------------------------------
def _job(params, settings) -> Job:
    return Job(job_id="j1", model_id=NB, state="running", settings=settings, options={}, data_ref={"kind": "example"},
               created_at="2026-01-01T00:00:00+00:00", task="sbc", params=params)


def test_sbc_task_is_refused_before_queueing_with_every_problem(tmp_path, monkeypatch, uncheckable):
    runner = LocalJobRunner(tmp_path)
    monkeypatch.setattr(runner, "sweep", lambda: None)
    with pytest.raises(InvalidParametersError) as caught:
        runner.submit(JobRequest(NB, {"draws": 0}, params={"sims": 5000, "colour": 1}, task="sbc"))
    assert {"draws", "sims", "param colour"} <= set(caught.value.errors)
    with pytest.raises(sbc.SBCUnavailableError):
        runner.submit(JobRequest(uncheckable, params={"sims": 5}, task="sbc"))
    job = runner.submit(JobRequest(NB, {"draws": 30}, params={"sims": 4}, task="sbc"))
    assert job.progress["draws_total"] == 4 and job.params == {"sims": 4} and job.settings["draws"] == 30


@pytest.mark.slow
def test_sbc_task_reports_fit_k_of_n_saves_the_check_and_honours_cancel(registry):
    task, settings = TASKS["sbc"], dict(draws=30, tune=30, chains=1, seed=2)
    seen = []
    check_id = task.new_output_id()
    result = task.run(TaskContext(_job({"sims": 3}, settings), None, lambda p: seen.append(p.message), check_id))
    assert [m for m in dict.fromkeys(seen) if m.startswith("fit")] == ["fit 1 of 3", "fit 2 of 3", "fit 3 of 3"]
    assert result.progress["check_id"] == check_id and store.load_check(NB, "sbc", check_id)["n_sims"] == 3
    assert task.completed(NB, check_id) is not None

    def cancel_at_second_fit(p):
        if p.message == "fit 2 of 3":
            raise Cancelled()

    stopped = task.new_output_id()
    with pytest.raises(Cancelled):
        task.run(TaskContext(_job({"sims": 3}, settings), None, cancel_at_second_fit, stopped))
    assert task.completed(NB, stopped) is None  # nothing saved of a cancelled check


# -- CLI -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sims", ["0", "-3", "1001", "10000000000", "abc", "2.5"])
def test_cli_refuses_a_bad_number_of_simulations_before_any_work(sims, capsys):
    from bayes_core.cli import main

    assert main(["check", "sbc", NB, "--sims", sims, "--json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error.startswith("argument --sims") and ("from 1 to 1000" in error or "invalid whole number" in error)


@pytest.mark.slow
def test_cli_check_sbc_and_list_json(capsys, uncheckable):
    from bayes_core.cli import main

    assert main(["check", "sbc", NB, "--sims", "0", "--json"]) == 2
    assert "from 1 to 1000" in json.loads(capsys.readouterr().out)["error"]
    assert main(["check", "sbc", uncheckable, "--json"]) == 2
    assert UNCHECKABLE in json.loads(capsys.readouterr().out)["error"]
    code = main(["check", "sbc", NB, "--sims", "2", "--draws", "30", "--tune", "30", "--chains", "1", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["n_sims"] == 2 and isinstance(out["fits_failed"], int)
    assert [set(p) for p in out["parameters"]] == [{"name", "p_value", "verdict", "ranks_ok"}] * 3
    assert main(["check", "list", NB, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert out["check_id"] in [c["check_id"] for c in listed["checks"]]

