"""A run's evaluation: PSIS-LOO over weighted cells is exactly per-observation LOO (arviz-stats on the
plain model's full pointwise log-likelihood), the vectorised PSIS is arviz-stats' to numerical
precision, LOO-PIT and held-out metrics, storage, and the comparison of runs (same data → an ELPD
table; NB beats Poisson decisively on overdispersed data; different data or an approximate fit →
withheld with the reason). Uses the session's tiny NB and Poisson runs."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest
import xarray as xr

from bayes_core import artifacts
from bayes_core.errors import BayesCoreError
from bayes_core.loglik import plain_log_likelihood
from bayes_core.runs import compare, evaluation, psis


@pytest.fixture
def private_root(tmp_path, monkeypatch):
    root = tmp_path / "art"
    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(root))
    return root


def copy_run(run, root):
    shutil.copytree(run.path, root / run.model_id / "runs" / run.run_id)
    return artifacts.Run(run.model_id, run.run_id)


def arviz_loo(posterior, values):
    from arviz_stats import loo

    tree = xr.DataTree.from_dict({"posterior": posterior, "log_likelihood": xr.Dataset(
        {"y": (("chain", "draw", "obs"), values)})})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return loo(tree, pointwise=True)


# -- exactness ------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed, draws", [(0, 1000), (1, 120), (2, 4000)])
def test_vectorised_psis_is_arviz_stats_psis(seed, draws):
    """Heavy-tailed log-likelihoods (many Pareto k > 0.7): elpd_i, p_loo and k equal arviz-stats'."""
    rng = np.random.default_rng(seed)
    values = rng.standard_t(2, size=(4, draws // 4, 200)) * rng.uniform(0.1, 3, size=200) - 2
    posterior = xr.Dataset({"a": (("chain", "draw"), rng.normal(size=(4, draws // 4)))})
    ref = arviz_loo(posterior, values)
    mine = psis.psis_loo(values.reshape(draws, -1).T, psis.relative_eff(posterior))
    assert (mine.pareto_k > 0.7).any()  # the smoothing and the bad bands are exercised
    np.testing.assert_allclose(mine.elpd, ref.elpd_i.values, rtol=0, atol=1e-10)
    np.testing.assert_allclose(mine.pareto_k, ref.pareto_k.values, rtol=0, atol=1e-12)
    assert mine.p_loo.sum() == pytest.approx(ref.p, abs=1e-9)
    assert psis.good_k(draws) == ref.good_k


def test_loo_over_weighted_cells_equals_plain_per_observation_loo(nb_model, nb_run):
    """The NB model's LOO over distinct (entity, count) cells weighted by multiplicity is exactly
    arviz-stats' LOO of the plain per-observation model: elpd, se, p_loo, every Pareto k and the bands."""
    data = nb_run.data
    posterior = nb_run.idata["posterior"].to_dataset()
    plain = plain_log_likelihood(nb_model.build_predictive_model(data), posterior)
    ref = arviz_loo(posterior, plain.values())
    payload, arrays = evaluation.compute(nb_run, nb_model)
    loo = payload["loo"]
    assert loo["n_cells"] < loo["n_observations"] == len(data)  # a real reduction
    assert loo["elpd_loo"] == pytest.approx(ref.elpd, abs=1e-9)
    assert loo["se"] == pytest.approx(ref.se, abs=1e-9)
    assert loo["p_loo"] == pytest.approx(ref.p, abs=1e-9)
    per_obs_k = arrays["pareto_k"][arrays["obs_cell"]]
    np.testing.assert_allclose(per_obs_k, ref.pareto_k.values, rtol=0, atol=1e-12)
    np.testing.assert_allclose(arrays["elpd"][arrays["obs_cell"]], ref.elpd_i.values, rtol=0, atol=1e-10)
    k = ref.pareto_k.values
    assert loo["good_k"] == ref.good_k and loo["warning"] == ref.warning
    assert loo["pareto_k"] == {"good": int((k <= ref.good_k).sum()), "bad": int(((k > ref.good_k) & (k <= 1)).sum()),
                               "very_bad": int((k > 1).sum()), "not_estimated": 0}


def test_cell_log_likelihood_and_cdf_match_scipy_per_observation(nb_model, poisson_run, nb_run):
    from scipy import stats

    from bayes_core.models import negbinom_cells

    for run in (nb_run, poisson_run):
        model = type(nb_model)(nb_model.metadata, options=run.metadata["options"])
        posterior = run.idata["posterior"].to_dataset()
        cells = model.pointwise_log_likelihood(posterior, run.data)
        plain = plain_log_likelihood(model.build_predictive_model(run.data), posterior).values()
        np.testing.assert_allclose(cells.observation_values(), plain, rtol=0, atol=1e-10)
        np.testing.assert_allclose(cells.total(), plain.sum(axis=2), rtol=1e-12)
        table = cells.cell_table
        index = {e: i for i, e in enumerate(posterior["entity"].values)}
        theta = posterior["theta"].values[:, :, [index[e] for e in table["entity"]]]
        v = table["count"].to_numpy()
        if "phi" in posterior:
            phi = posterior["phi"].values[:, :, None]
            expected = stats.nbinom.cdf(v - 1, phi, phi / (phi + theta))
        else:
            expected = stats.poisson.cdf(v - 1, theta)
        for limit in (negbinom_cells.RECURSION_MAX, 2):  # the recursion and the special-function path
            negbinom_cells.RECURSION_MAX, saved = limit, negbinom_cells.RECURSION_MAX
            try:
                below = np.concatenate([cells.cdf_below(a, min(a + 37, cells.n_cells))
                                        for a in range(0, cells.n_cells, 37)], axis=2)
            finally:
                negbinom_cells.RECURSION_MAX = saved
            np.testing.assert_allclose(below, expected, rtol=0, atol=1e-12)


# -- the stored evaluation ---------------------------------------------------------------------------
def test_evaluation_is_computed_on_first_request_then_read_back(nb_run, private_root):
    run = copy_run(nb_run, private_root)
    assert evaluation.stored(run) is None  # trained by model.train in a notebook: none yet
    first = evaluation.evaluate(run)
    on_disk = json.loads((run.path / evaluation.EVALUATION_FILE).read_text())
    assert on_disk["headline"] == first["headline"] and (run.path / evaluation.POINTWISE_FILE).is_file()
    assert evaluation.evaluate(run) == on_disk  # read back, not recomputed
    assert first["loo"]["draws_used"] == first["loo"]["draws_total"] == 120 and not first["loo"]["thinned"]
    pit = first["loo_pit"]
    assert pit["variables"]["y"]["n"] == len(run.data) and sum(pit["variables"]["y"]["histogram"]) == len(run.data)
    assert pit["uniform"]  # NB counts under the NB model
    assert first["held_out"] is None and "elpd_loo" in first["headline"]


def test_a_plain_log_likelihood_is_thinned_to_the_memory_budget(nb_model, nb_run, monkeypatch):
    """Without a reduced likelihood the draws are thinned evenly (every chain kept) so chains × draws ×
    observations fits BAYES_EVAL_MAX_MB; the evaluation says how many draws it used."""
    monkeypatch.setenv(evaluation.MAX_MB_ENV, "0.8")
    monkeypatch.setattr(nb_model, "reduced_log_likelihood", False)
    payload, _ = evaluation.compute(nb_run, nb_model)
    loo = payload["loo"]
    assert loo["thinned"] and 25 <= loo["draws_used"] < loo["draws_total"] == 120
    monkeypatch.setenv(evaluation.MAX_MB_ENV, "lots")
    with pytest.raises(BayesCoreError, match="BAYES_EVAL_MAX_MB='lots' is not a positive number"):
        evaluation.compute(nb_run, nb_model)


def test_every_model_uses_at_most_the_draws_cap(nb_model, nb_run, monkeypatch):
    monkeypatch.setenv(evaluation.MAX_DRAWS_ENV, "100")  # 2 chains × 60 draws → every 2nd draw
    payload, _ = evaluation.compute(nb_run, nb_model)
    assert payload["loo"]["draws_used"] == 60 and payload["loo"]["thinned"]
    monkeypatch.setenv(evaluation.MAX_DRAWS_ENV, "10")
    with pytest.raises(BayesCoreError, match="BAYES_EVAL_MAX_DRAWS='10' is not a whole number ≥ 100"):
        evaluation.compute(nb_run, nb_model)


@pytest.fixture(scope="module")
def lr_run(registry):
    """A continuous-outcome run whose posterior predictive keeps every 4th draw (50 of 200)."""
    model = registry.load_model_instance("bayesian_linear_regression")
    training = model.metadata.training.model_copy(update={"posterior_predictive_draws": 50})
    model.metadata = model.metadata.model_copy(update={"training": training})
    return model, model.train(draws=100, tune=100, chains=2, seed=3)


def arviz_stats_loo_pit(run, model) -> dict[str, np.ndarray]:
    """The reference: arviz-stats' loo_pit on its own, with PyMC's log-likelihood at the run's posterior
    predictive draws and arviz-stats' PSIS (no weights passed in)."""
    import pymc as pm
    import xarray as xr
    from arviz_stats import loo_pit

    pp = run.idata["posterior_predictive"].to_dataset()
    posterior = model.complete_posterior(run.idata["posterior"].to_dataset().sel(chain=pp["chain"], draw=pp["draw"]))
    ll = pm.compute_log_likelihood({"posterior": posterior}, model=model.build_predictive_model(run.data),
                                   extend_inferencedata=False, progressbar=False)
    names = [n for n in pp.data_vars if n in ll.data_vars]
    tree = xr.DataTree.from_dict({"posterior": posterior, "posterior_predictive": pp[names], "log_likelihood": ll[names],
                                  "observed_data": run.idata["observed_data"].to_dataset()[names]})
    values = loo_pit(tree, var_names=names)
    return {n: np.asarray(values[n].values, dtype=float).ravel() for n in names}


def test_loo_pit_from_loo_values_is_arviz_stats_loo_pit_at_the_predictive_draws(lr_run):
    """For a continuous outcome LOO-PIT reuses LOO's log-likelihood and PSIS weights at the
    predictive draws, and the general path computes both afresh: each gives arviz-stats' own
    loo_pit; where the draws do not line up the fast path declines and the general path runs."""
    model, run = lr_run
    pp_draws = run.idata["posterior_predictive"].to_dataset().sizes["draw"]
    assert pp_draws == 25  # thinned: a real subset of LOO's 100 draws a chain
    posterior, _ = evaluation.posterior_within_budget(run, model, run.data)
    pll = model.pointwise_log_likelihood(posterior, run.data)
    fast = evaluation._pit_from_loo_values(run, model, pll, posterior)
    general = evaluation._pit_from_predictive(run, model, run.data)
    reference = arviz_stats_loo_pit(run, model)
    assert fast is not None and fast.keys() == general.keys() == reference.keys()
    for name in fast:
        np.testing.assert_allclose(fast[name], reference[name], rtol=0, atol=1e-12)
        np.testing.assert_allclose(general[name], reference[name], rtol=0, atol=1e-12)
    payload, _ = evaluation.compute(run, model)
    stored, expected = payload["loo_pit"], evaluation._pit_summary(reference)
    assert stored["variables"]["y"]["histogram"] == expected["variables"]["y"]["histogram"]
    assert stored["p_value"] == pytest.approx(expected["p_value"], rel=1e-9)
    odd = posterior.isel(draw=slice(1, None, 2))  # draws 1, 3, 5, …: none of the predictive draws
    odd_pll = model.pointwise_log_likelihood(odd, run.data)
    assert evaluation._pit_from_loo_values(run, model, odd_pll, odd) is None


def test_player_props_held_out_metrics_come_from_its_calibration_report(registry):
    model = registry.load_model_instance("player_props")

    class WithReport:
        def report(self, name):
            line = {"ece": 0.02, "brier": 0.1, "log_loss": 0.3, "n": 40, "base_rate": 0.2, "reliability": []}
            return {"props": {"goals": {"0.5": line, "1.5": {**line, "ece": 0.04}}}, "mean_ece": 0.03,
                    "validation_rows": 40, "window": {"from": "2025-01-01", "to": "2025-02-01"}} \
                if name == "calibration" else None

    held = model.held_out_metrics(WithReport())
    assert held["mean_ece"] == 0.03 and held["props"]["goals"]["ece"] == pytest.approx(0.03)
    assert held["props"]["goals"]["lines"]["1.5"]["ece"] == 0.04 and held["validation_rows"] == 40
    assert evaluation.headline({"held_out": held}).endswith("held-out mean ECE 0.030")


# -- comparison -----------------------------------------------------------------------------------
def test_nb_beats_poisson_decisively_on_overdispersed_data(nb_run, poisson_run):
    result = compare.compare_runs(nb_run.model_id, [poisson_run.run_id, nb_run.run_id])
    assert result["elpd_reason"] is None
    best, other = result["elpd"]
    assert best["run_id"] == nb_run.run_id and other["run_id"] == poisson_run.run_id
    assert sum(r["weight"] for r in result["elpd"]) == pytest.approx(1.0)
    assert best["elpd_diff"] == 0 and -other["elpd_diff"] > 4 * other["dse"] > 0
    assert other["decision"] == "clearly_worse"
    assert "(likelihood=negative_binomial) is clearly better than" in result["elpd_verdict"]
    assert result["settings_diff"]["differs"]["options.likelihood"] == {
        nb_run.run_id: "negative_binomial", poisson_run.run_id: "poisson"}
    mu = next(p for p in result["parameters"] if p["parameter"] == "mu")
    assert set(mu["runs"]) == {nb_run.run_id, poisson_run.run_id}
    assert not any(p["variable"] == "phi" for p in result["parameters"])  # only shared parameters
    # The extra-Poisson variation shows in the Poisson run's LOO-PIT too.
    assert not result["loo_pit"][poisson_run.run_id]["uniform"] and result["loo_pit"][nb_run.run_id]["uniform"]


@pytest.mark.slow
def test_runs_on_different_data_are_compared_without_elpd(nb_model, nb_run, private_root):
    run = copy_run(nb_run, private_root)
    other = nb_model.train(nb_model.example_data(n_entities=12, seed=3), draws=60, tune=60, chains=2, seed=2)
    result = compare.compare_runs(nb_model.model_id, [run.run_id, other.run_id])
    assert result["elpd"] is None and "trained on different data" in result["elpd_reason"]
    assert "data_hash" in result["settings_diff"]["differs"] and result["parameters"]
    assert {d["run_id"] for d in result["diagnostics"]} == {run.run_id, other.run_id}


def test_an_approximate_fit_is_never_mixed_into_an_elpd_table(nb_run, poisson_run, private_root):
    run, approx = copy_run(nb_run, private_root), copy_run(poisson_run, private_root)
    meta_path = approx.path / artifacts.METADATA_FILE
    meta = json.loads(meta_path.read_text())
    meta.update(fit_path="approximate", fit_method="ADVI")
    meta_path.write_text(json.dumps(meta))
    result = compare.compare_runs(run.model_id, [run.run_id, approx.run_id])
    assert result["elpd"] is None and "approximate: ADVI" in result["elpd_reason"]


def test_comparing_a_run_with_itself_is_refused(nb_run):
    with pytest.raises(Exception, match="at least two different runs"):
        compare.compare_runs(nb_run.model_id, [nb_run.run_id, "latest"] if artifacts.latest_run_id(
            nb_run.model_id) == nb_run.run_id else [nb_run.run_id, nb_run.run_id])


def test_loo_pit_from_too_few_predictive_draws_is_refused_before_any_likelihood_is_built():
    """Fewer than 25 kept predictive draws: refused with the count, and the model's likelihood is
    never built for a result that would be refused anyway."""
    from types import SimpleNamespace

    from bayes_core.errors import NotEvaluableError

    draws = xr.Dataset({"y": (("chain", "draw", "obs"), np.zeros((2, 10, 3)))})
    idata = xr.DataTree.from_dict({"posterior_predictive": draws, "observed_data": xr.Dataset({"y": ("obs", np.zeros(3))}),
                                   "posterior": xr.Dataset({"mu": (("chain", "draw"), np.zeros((2, 10)))})})

    class NoLikelihood:
        def build_predictive_model(self, data):
            raise AssertionError("the likelihood was built before the refusal")

    with pytest.raises(NotEvaluableError, match="keeps only 20 posterior predictive draws; LOO-PIT needs at least 25"):
        evaluation._pit_from_predictive(SimpleNamespace(idata=idata), NoLikelihood(), data=None)


def test_a_pit_a_rounding_error_outside_zero_to_one_stays_in_its_edge_bin():
    """PSIS-weighted sums can give 1 + 2e-16: the histogram must still count every value it reports."""
    values = np.array([1.0 + 2.2e-16, -1e-17, 0.5, np.nan])
    summary = evaluation._pit_summary({"y": values})["variables"]["y"]
    assert summary["n"] == 3 == sum(summary["histogram"])
    assert summary["histogram"][0] == 1 and summary["histogram"][-1] == 1
