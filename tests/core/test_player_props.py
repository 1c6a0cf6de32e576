"""Player-props model: data and windows, the fast predictor, reports, end to end, recovery."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_core.errors import DataValidationError, InvalidParametersError
from bayes_core.models.player_props_predictor import PROPS, BayesianPredictor, count_pmf, tail_probabilities
from tests.conftest import TINY

pytestmark = pytest.mark.slow  # trains or compiles models: `make test` runs it, `make test-fast` does not

TRAIN_END = "2025-11-15"  # the reduced league runs 18 weekly rounds from 2025-08-16 to 2025-12-13
OPTIONS = {"train_end": TRAIN_END, "features": "form"}


@pytest.fixture(scope="module")
def props_model(registry):
    return registry.load_model_instance("player_props", options=OPTIONS)


@pytest.fixture(scope="module")
def small_league(props_model) -> pd.DataFrame:
    return props_model.example_data(n_teams=10, n_players=80)


@pytest.fixture(scope="module")
def props_run(props_model, small_league):
    return props_model.train(small_league, **TINY)


@pytest.fixture(scope="module")
def predictor(props_run):
    return BayesianPredictor(props_run.path, n_samples=100)


# -- data and options -----------------------------------------------------------------------------------
def test_validation_names_every_bad_column_and_row(props_model, small_league):
    bad = small_league.head(6).copy().astype({"date": object, "minutes": object})
    bad.loc[1, "goals"] = -1
    bad.loc[2, "date"] = "15/11/2025"
    bad.loc[3, "minutes"] = 130
    bad = bad.drop(columns="cards")
    with pytest.raises(DataValidationError) as err:
        props_model.load_data(bad)
    text = str(err.value)
    assert "missing column(s): cards" in text
    assert "'goals': negative value in row 3" in text
    assert "'date': not a YYYY-MM-DD date in row 4" in text
    assert "'minutes': value above 120 in row 5" in text


@pytest.mark.parametrize("options, field, message", [
    ({"train_end": "2025-13-01"}, "train_end", "not a YYYY-MM-DD date"),
    ({"train_start": "2025-11-01", "train_end": "2025-10-01"}, "train_end", "must be after train_start"),
    ({"train_end": "2025-11-01", "val_end": "2025-11-01"}, "val_end", "must be after train_end"),
    ({"val_end": "2025-11-01"}, "val_end", "needs train_end"),
    ({"features": "form, date"}, "features", "not usable"),
])
def test_bad_options_are_refused_with_the_field_named(registry, options, field, message):
    with pytest.raises(InvalidParametersError) as err:
        registry.load_model_instance("player_props", options=options)
    assert message in err.value.errors[field]


def test_windows_label_rows_and_drop_rows_outside(registry, small_league):
    model = registry.load_model_instance("player_props", options={
        "train_start": "2025-08-23", "train_end": "2025-11-15", "val_end": "2025-11-29"})
    data = model.load_data(small_league)
    assert data["date"].min() == pd.Timestamp("2025-08-23") and data["date"].max() == pd.Timestamp("2025-11-29")
    train = data["window"] == "train"
    assert (data.loc[train, "date"] <= pd.Timestamp("2025-11-15")).all()
    assert (data.loc[~train, "date"] > pd.Timestamp("2025-11-15")).all() and (~train).any()


def test_too_few_training_rows_is_a_clear_error(registry, small_league):
    model = registry.load_model_instance("player_props", options={"train_end": "2025-08-16"})
    with pytest.raises(DataValidationError, match="at least 100 are needed"):
        model.load_data(small_league.head(150))


def test_single_task_variant_has_independent_player_effects(registry, small_league):
    multi = registry.load_model_instance("player_props").build_model(small_league.assign(window="train"))
    single = registry.load_model_instance("player_props", options={"multitask": False}).build_model(
        small_league.assign(window="train"))
    assert "player_corr" in multi.named_vars and "player_cov" in multi.named_vars
    assert "player_corr" not in single.named_vars and "player_sd" in single.named_vars
    # No per-row quantity is stored in the trace: only observed data carry the row dimension.
    for model in (multi, single):
        per_row = [v.name for v in model.deterministics if "obs" in model.named_vars_to_dims.get(v.name, ())]
        assert per_row == []


# -- exact tails ----------------------------------------------------------------------------------------
def test_tail_probabilities_are_exact_mixtures():
    from scipy import stats

    rng = np.random.default_rng(1)
    rate = np.exp(rng.normal(0.0, 1.2, size=(4, 50)))  # 4 requests × 50 draws
    phi = np.exp(rng.normal(1.0, 0.5, size=50))
    lines = (-1.0, 0.0, 0.5, 1.5, 2.5, 7.0)
    for family, dist in (("poisson", lambda k: stats.poisson.sf(k, rate)),
                         ("negbinom", lambda k: stats.nbinom.sf(k, phi, phi / (phi + rate)))):
        got = tail_probabilities(rate, lines, family, phi[None, :] if family == "negbinom" else None)
        for line in lines:
            assert np.allclose(got[line], dist(np.floor(line)).mean(axis=1), atol=1e-12), (family, line)
    pmf = count_pmf(5, rate, "negbinom", phi[None, :])
    assert np.allclose(pmf, stats.nbinom.pmf(np.arange(6)[:, None, None], phi, phi / (phi + rate)), atol=1e-12)


# -- predictor ------------------------------------------------------------------------------------------
def test_known_player_prediction(predictor, small_league):
    player = predictor.players[0]
    out = predictor.predict_player(player, predictor.opponents[0], True, {"form": 0.0})
    assert out["warnings"] == []
    for prop in PROPS:
        res = out[prop]
        assert 0 <= res["ci_low"] <= res["mean"] <= res["ci_high"]
        probs = list(res["p_over"].values())
        assert all(0 <= p <= 1 for p in probs) and probs == sorted(probs, reverse=True)
    assert set(out["shots"]["p_over"]) == {0.5, 1.5, 2.5}
    # Fewer minutes, lower expected counts; zero minutes, nothing happens.
    half = predictor.predict_player(player, predictor.opponents[0], True, {"form": 0.0}, minutes=45)
    assert half["shots"]["mean"] == pytest.approx(out["shots"]["mean"] / 2)
    zero = predictor.predict_player(player, predictor.opponents[0], True, {"form": 0.0}, minutes=0)
    assert zero["goals"]["p_over"][0.5] == 0.0


def test_unknown_player_and_opponent_are_flagged_and_averaged(predictor):
    out = predictor.predict_player("NOBODY", predictor.opponents[0], False, {"form": 0.3})
    assert any("unknown player NOBODY" in w for w in out["warnings"]) and len(out["warnings"]) == 1
    out = predictor.predict_player(predictor.players[0], "NOWHERE", False, {"form": 0.3})
    assert any("unknown opponent NOWHERE" in w for w in out["warnings"]) and len(out["warnings"]) == 1
    # The league-average player has effect zero in every draw: the same as the model's baseline.
    d = predictor.draws
    rates = d.expected_counts(np.array([-1]), np.array([-1]), np.array([0.0]), np.array([[d.center[0]]]), np.array([90.0]))
    assert np.allclose(rates[:, 0, :], np.exp(d.intercept))


def test_missing_features_raise_value_error_naming_them(predictor):
    with pytest.raises(ValueError, match="missing feature value\\(s\\): form"):
        predictor.predict_player(predictor.players[0], predictor.opponents[0], True)
    with pytest.raises(ValueError, match="form"):
        predictor.predict_batch(pd.DataFrame({"player_id": ["P001"], "opponent_id": ["T01"], "was_home": [True]}))


def test_batch_equals_single(predictor):
    rng = np.random.default_rng(0)
    players = list(rng.choice(predictor.players, 7)) + ["NOBODY"]
    requests = [{"player_id": p, "opponent_id": rng.choice(predictor.opponents), "was_home": bool(i % 2),
                 "features": {"form": float(rng.normal())}, "minutes": float(rng.integers(1, 91))}
                for i, p in enumerate(players)]
    batch = predictor.predict_batch(requests, credible_level=0.8)
    singles = [predictor.predict_player(r["player_id"], r["opponent_id"], r["was_home"], r["features"],
                                        r["minutes"], credible_level=0.8) for r in requests]
    assert batch == singles
    frame = predictor.predict_frame(pd.DataFrame([{**{k: v for k, v in r.items() if k != "features"}, **r["features"]}
                                                  for r in requests]), credible_level=0.8)
    assert np.allclose(frame["shots_p_over_1.5"], [s["shots"]["p_over"][1.5] for s in singles])
    assert frame["warnings"].iloc[-1].startswith("unknown player NOBODY")
    assert predictor.predict_batch([]) == [] and predictor.predict_frame([]).empty


def test_large_batch_spans_blocks_and_matches_the_draws(predictor):
    """Batches run in blocks on threads: every row must equal its own single prediction, and the
    interval the order statistics of that request's expected-count draws."""
    from bayes_core.models.player_props_predictor import _CHUNK

    rng = np.random.default_rng(3)
    n = 2 * _CHUNK + 7
    frame = pd.DataFrame({"player_id": rng.choice(predictor.players, n), "opponent_id": rng.choice(predictor.opponents, n),
                          "was_home": rng.integers(0, 2, n).astype(bool), "form": rng.normal(size=n),
                          "minutes": rng.integers(1, 91, n).astype(float)})
    batch = predictor.predict_batch(frame, credible_level=0.9)
    for i in (0, _CHUNK, n - 1):
        row = frame.iloc[i]
        single = predictor.predict_player(row.player_id, row.opponent_id, bool(row.was_home), {"form": row.form},
                                          row.minutes, credible_level=0.9)
        assert batch[i] == single
        p_idx, o_idx = predictor.draws.encode([row.player_id], [row.opponent_id])
        rates = predictor.draws.expected_counts(p_idx, o_idx, np.array([row.was_home]), np.array([[row.form]]),
                                                np.array([row.minutes]))
        for k, prop in enumerate(PROPS):
            lo, hi = np.quantile(rates[k, 0], [0.05, 0.95], method="inverted_cdf")
            assert (single[prop]["ci_low"], single[prop]["ci_high"]) == pytest.approx((lo, hi))


# -- end to end ------------------------------------------------------------------------------------------
def test_train_save_load_predict(props_model, props_run, small_league):
    from bayes_core.artifacts import Run

    run = Run(props_run.model_id, props_run.run_id)
    assert run.metadata["options"]["train_end"] == TRAIN_END
    inputs = run.report("model_inputs")
    assert inputs["features"] == ["form"] and inputs["validation_rows"] > 0
    cal = run.report("calibration")
    assert set(cal["props"]) == set(PROPS) and set(cal["props"]["shots"]) == {"0.5", "1.5", "2.5"}
    for per_line in cal["props"].values():
        for m in per_line.values():
            assert 0 <= m["ece"] <= 1 and 0 <= m["brier"] <= 1 and m["log_loss"] > 0
            assert sum(b["count"] for b in m["reliability"]) == cal["validation_rows"]
    posterior = run.idata["posterior"]
    assert not any("obs" in posterior[v].dims for v in posterior.data_vars)

    fields = {f["name"]: f for f in props_model.get_inference_form_fields(run)}
    player, opponent = fields["player"]["options"][0], fields["opponent"]["options"][0]
    table = props_model.predict({"player": player, "opponent": opponent, "was_home": True, "minutes": 90,
                                 "features": "form=0.5", "shots_lines": "1.5, 3.5"}, run)
    assert len(table) == 1 and table.loc[0, "warnings"] == ""
    assert {"goals_mean", "shots_ci_low", "shots_p_over_1.5", "shots_p_over_3.5", "cards_p_over_0.5",
            "run_id", "convergence_verdict"} <= set(table.columns)
    assert "shots_p_over_2.5" not in table.columns
    with pytest.raises(InvalidParametersError, match="form"):
        props_model.predict({"player": player, "opponent": opponent}, run)

    csv = pd.DataFrame({"player": [player, "NEW"], "opponent": [opponent, opponent], "was_home": [1, 0],
                        "minutes": [90, 200], "features": ["form=0", "form=1"]})
    results, problems = props_model.predict_batch(csv, run)
    assert len(results) == 1 and problems == [{"row": 3, "field": "minutes", "message": "must be ≤ 120 (got 200)"}]


def test_comparison_rule_states_its_decision():
    from bayes_core.models.player_props import comparison_decision

    def cal(ece):
        return {"mean_ece": ece, "props": {"goals": {"0.5": {"ece": ece}}}}

    keep = comparison_decision(cal(0.020), cal(0.0219))
    assert keep["decision"] == "multi-task" and "≤ 1.10" in keep["statement"]
    drop = comparison_decision(cal(0.020), cal(0.0221))
    assert drop["decision"] == "single-task" and drop["ratio"] == pytest.approx(1.105)
    assert drop["per_line_ece"]["goals > 0.5"] == {"single_task": 0.020, "multi_task": 0.0221}


# -- recovery ---------------------------------------------------------------------------------------------
def test_recovers_home_effects_and_goals_shots_correlation(registry):
    from bayes_core.models.player_props_league import TRUE_PARAMETERS

    # The documented example league (20 teams, 250 players, one season). Home effects are small
    # (0.15–0.2 on the log scale) and one season pins them down only to ±0.03–0.09, so the check
    # is "truth within 3 posterior sd", not a fixed tolerance.
    model = registry.load_model_instance("player_props", options={"features": "form"})
    fit = model.fit(model.example_data(), draws=150, tune=200, chains=2, seed=5)
    post = fit.idata["posterior"]
    for prop in PROPS:
        draws = post["home"].sel(prop=prop).values.ravel()
        assert abs(draws.mean() - TRUE_PARAMETERS[f"home_{prop}"]) < 3 * draws.std(), prop
    corr = post["player_corr"].sel(prop_pair="goals:shots").values.ravel()
    assert (corr > 0).mean() > 0.95


# -- CLI -------------------------------------------------------------------------------------------------
def test_cli_train_with_windows_reports_non_convergence(tmp_path, small_league):
    """Too few draws to converge: the run is written with its windows and the single- vs multi-task
    comparison (``--compare true``), the CLI says it did not converge and exits 3."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    csv = tmp_path / "league.csv"
    small_league.to_csv(csv, index=False)
    out = subprocess.run(
        [sys.executable, "-m", "bayes_core", "train", "player_props", "--data", str(csv), "--draws", "15",
         "--tune", "15", "--chains", "2", "--train-end", TRAIN_END, "--val-end", "2025-12-06", "--compare", "true",
         "--json"],
        capture_output=True, text=True, cwd=root, timeout=900,
        env={**os.environ, "PYTHONPATH": str(root), "BAYES_ARTIFACTS_DIR": str(tmp_path / "artifacts")})
    payload = json.loads(out.stdout)
    assert payload["diagnostics"]["verdict"] == "problem"
    assert out.returncode == 3 and "did not converge" in out.stderr and "more draws" in out.stderr
    meta = json.loads((Path(payload["run_dir"]) / "metadata.json").read_text())
    assert meta["options"]["train_end"] == TRAIN_END and meta["options"]["val_end"] == "2025-12-06"
    cal = json.loads((Path(payload["run_dir"]) / "reports" / "calibration.json").read_text())
    assert cal["window"]["to"] <= "2025-12-06" < "2025-12-13"
    comparison = json.loads((Path(payload["run_dir"]) / "reports" / "comparison.json").read_text())
    assert comparison["multi_task_mean_ece"] == cal["mean_ece"]
    assert comparison["decision"] in ("multi-task", "single-task") and "Use the" in comparison["statement"]
    assert (comparison["decision"] == "multi-task") == (comparison["ratio"] <= 1.10)


def test_unknown_feature_and_request_keys_are_refused_not_ignored(predictor, props_run, props_model):
    """Issue #11.4: features={"minutes": 45} used to be ignored silently (a 90-minute prediction)."""
    player, opponent = predictor.players[0], predictor.opponents[0]
    with pytest.raises(ValueError, match=r"unknown feature\(s\) minutes \(pass minutes as its own argument"):
        predictor.predict_player(player, opponent, True, {"form": 0.0, "minutes": 45})
    with pytest.raises(ValueError, match=r"unknown feature\(s\) fromm; this run's features: form"):
        predictor.predict_player(player, opponent, True, {"fromm": 0.0})
    with pytest.raises(ValueError, match=r"unknown request key\(s\) home; the keys are player_id, opponent_id"):
        predictor.predict_batch([{"player_id": player, "opponent_id": opponent, "was_home": True, "home": False,
                                  "features": {"form": 0.0}}])
    with pytest.raises(ValueError, match=r"unknown request column\(s\) goals"):
        predictor.predict_frame(pd.DataFrame({"player_id": [player], "opponent_id": [opponent], "was_home": [True],
                                              "form": [0.0], "goals": [1]}))
    # minutes as its own argument is honoured
    full = predictor.predict_player(player, opponent, True, {"form": 0.0})
    half = predictor.predict_player(player, opponent, True, {"form": 0.0}, minutes=45)
    assert half["shots"]["mean"] == pytest.approx(full["shots"]["mean"] / 2)
    fields = {f["name"]: f for f in props_model.get_inference_form_fields(props_run)}
    request = {"player": fields["player"]["options"][0], "opponent": fields["opponent"]["options"][0]}
    with pytest.raises(InvalidParametersError, match=r"unknown feature\(s\) minutes \(minutes is a field of its own\)"):
        props_model.predict({**request, "features": "form=0.1, minutes=45"}, props_run)
    with pytest.raises(InvalidParametersError, match=r"minuts: unknown parameter \(known: player, opponent"):
        props_model.predict({**request, "features": "form=0.1", "minuts": 45}, props_run)


def test_loo_pit_of_three_props_is_arviz_stats_own(props_model, props_run):
    """Goals, shots and cards each get their LOO-PIT from the log-likelihood at the predictive draws,
    smoothed by the project's vectorised PSIS: arviz-stats' own loo_pit gives the same values."""
    from bayes_core.runs import evaluation
    from tests.core.test_runs_evaluation import arviz_stats_loo_pit

    pit = evaluation._pit_from_predictive(props_run, props_model, props_run.data)
    reference = arviz_stats_loo_pit(props_run, props_model)
    assert set(pit) == set(reference) == set(PROPS)
    for name in pit:
        np.testing.assert_allclose(pit[name], reference[name], rtol=0, atol=1e-12)
