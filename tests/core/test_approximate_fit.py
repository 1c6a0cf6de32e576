"""An approximate (ADVI) run is marked everywhere: its verdict, its evaluation's caveat, a ``method``
column in every prediction CSV, never counted as converged, and never silently mixed into an ELPD
comparison (the comparison withholds ELPD and says why, but still compares settings and parameters)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bayes_core.runs import compare, evaluation, refs, store

NB = "hierarchical_negbinom"
REQUEST = ["--param", "entity=E001", "--param", "windows=1", "--param", "threshold=5", "--param", "credible_level=0.9"]


@pytest.fixture
def root(approximate_root, monkeypatch):
    path, approximate_id, mcmc_id = approximate_root
    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(path))
    return approximate_id, mcmc_id


def test_an_approximate_run_says_so_and_is_never_converged(root):
    approximate_id, _ = root
    run = store.load_run(NB, approximate_id)
    assert run.metadata["fit_path"] == "approximate" and run.metadata["fit_method"] == "ADVI"
    assert run.verdict == "approximate" and not run.diagnostics["converged"]
    assert not refs.is_converged(run), "latest-converged never names an approximation"
    assert "approximate path (ADVI), not MCMC" in evaluation.evaluate(run)["loo"]["caveat"]


def test_a_comparison_with_an_approximate_run_withholds_elpd_and_says_why(root):
    approximate_id, mcmc_id = root
    result = compare.compare_runs(NB, [approximate_id, mcmc_id])
    assert result["elpd"] is None and result["elpd_verdict"] is None
    assert f"{approximate_id} (approximate: ADVI)" in result["elpd_reason"]
    assert "data hash" not in result["elpd_reason"], "same data: it is withheld for being approximate"
    assert {p["variable"] for p in result["parameters"]} >= {"mu", "alpha", "phi"}, "parameters still compared"
    assert result["settings_diff"]["differs"]["fit_path"] == {approximate_id: "approximate", mcmc_id: "mcmc"}


@pytest.mark.parametrize("which, method", [(0, "approximate"), (1, "mcmc")])
def test_every_prediction_csv_row_names_the_method_of_its_run(root, tmp_path, capsys, which, method):
    from bayes_core.cli import main

    run_id = root[which]
    out = tmp_path / "predictions.csv"
    assert main(["predict", NB, "--run", run_id, *REQUEST, "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 1
    table = pd.read_csv(out)
    assert table["method"].tolist() == [method] and table["run_id"].tolist() == [run_id]
