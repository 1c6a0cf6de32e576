"""Diagnostics are pure functions of the trace with the documented thresholds."""

import numpy as np
import pytest
import xarray as xr

from bayes_core import diagnostics as d


@pytest.mark.parametrize("value, verdict", [(1.0, "good"), (1.0099, "good"), (1.01, "warning"),
                                            (1.05, "warning"), (1.0501, "problem")])
def test_rhat_thresholds(value, verdict):
    assert d.rhat_verdict(value) == verdict


@pytest.mark.parametrize("value, verdict", [(401, "good"), (400, "warning"), (100, "warning"), (99, "problem")])
def test_ess_thresholds(value, verdict):
    assert d.ess_verdict(value) == verdict


@pytest.mark.parametrize("value, verdict", [(0, "good"), (1, "warning"), (10, "warning"), (11, "problem")])
def test_divergence_thresholds(value, verdict):
    assert d.divergence_verdict(value) == verdict


def _tree(chains: np.ndarray, diverging: int = 0) -> xr.DataTree:
    n_chain, n_draw = chains.shape
    coords = {"chain": np.arange(n_chain), "draw": np.arange(n_draw)}
    div = np.zeros((n_chain, n_draw), bool)
    div.flat[:diverging] = True
    rng = np.random.default_rng(0)
    return xr.DataTree.from_dict({
        "posterior": xr.Dataset({"x": (("chain", "draw"), chains)}, coords=coords),
        "sample_stats": xr.Dataset({"diverging": (("chain", "draw"), div),
                                    "energy": (("chain", "draw"), rng.normal(size=(n_chain, n_draw)))}, coords=coords),
    })


def test_well_mixed_chains_converge():
    rng = np.random.default_rng(1)
    diag = d.compute_diagnostics(_tree(rng.normal(size=(4, 1000))))
    assert diag["verdict"] == "good" and diag["converged"]
    assert diag["r_hat_max"] < 1.01 and diag["ess_bulk_min"] > 400 and diag["divergences"] == 0
    assert diag["per_variable"]["x"]["verdict"] == "good"


def test_chains_stuck_apart_are_a_problem():
    rng = np.random.default_rng(2)
    stuck = rng.normal(size=(4, 500)) + np.array([[0], [0], [5], [5]])
    diag = d.compute_diagnostics(_tree(stuck, diverging=12))
    assert diag["verdict"] == "problem" and not diag["converged"]
    assert diag["verdicts"]["r_hat"] == "problem" and diag["verdicts"]["divergences"] == "problem"
    assert diag["divergences"] == 12


def test_flagged_elements_name_the_worst_vector_elements_first():
    """The header's worst R-hat / ESS come from single elements (theta[E017]); they are named."""
    import pandas as pd

    summary = pd.DataFrame({"mean": 0.0, "r_hat": [1.001, 1.002, 1.037, 1.003, 1.2],
                            "ess_bulk": [900, 1000, 800, 950, 90], "ess_tail": [800, 900, 700, 210, 80]},
                           index=["mu", "phi", "theta[E017]", "theta[E003]", "theta[E020]"])
    flagged = d.flagged_elements(summary)
    assert [e["element"] for e in flagged] == ["theta[E020]", "theta[E017]", "theta[E003]"]
    assert flagged[0]["verdict"] == "problem" and flagged[0]["variable"] == "theta"
    assert flagged[1]["reasons"] == ["R-hat 1.037"] and flagged[2]["reasons"] == ["ESS tail 210"]
    assert d.flagged_elements(summary, limit=1) == flagged[:1]
    sentence = d.verdict_sentence({"verdict": "warning", "r_hat_max": 1.037, "ess_bulk_min": 800,
                                   "ess_tail_min": 210, "divergences": 0, "worst_elements": flagged[1:]})
    assert "Worst: theta[E017] (R-hat 1.037), theta[E003] (ESS tail 210)." in sentence
    assert d.flagged_elements(summary.loc[["mu", "phi"]]) == []
