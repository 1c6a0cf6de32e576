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
