"""Posterior predictive check: observed vs replicated data of a run, test statistics and p-values."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
import streamlit as st

from bayes_core.artifacts import Run
from bayes_core.draws import draw_matrix
from ui import charts

STATISTICS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mean": lambda x: x.mean(axis=-1),
    "sd": lambda x: x.std(axis=-1, ddof=1),
    "share of zeros": lambda x: (x == 0).mean(axis=-1),
    "max": lambda x: x.max(axis=-1),
}


def test_statistics(observed: np.ndarray, replicated: np.ndarray) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Per statistic T: T(observed), mean and 90 % interval of T(replicated), and the posterior
    predictive p-value P(T(y_rep) ≥ T(y)); values near 0 or 1 flag a misfit."""
    observed = np.asarray(observed, dtype=float).ravel()
    replicated = np.asarray(replicated, dtype=float).reshape(replicated.shape[0], -1)
    rows, per_draw = [], {}
    for name, stat in STATISTICS.items():
        t_obs, t_rep = float(stat(observed)), stat(replicated)
        per_draw[name] = t_rep
        lo, hi = np.quantile(t_rep, [0.05, 0.95])
        rows.append({"statistic": name, "observed": t_obs, "replicated mean": float(t_rep.mean()),
                     "replicated 5%": lo, "replicated 95%": hi, "p-value": float(np.mean(t_rep >= t_obs))})
    return pd.DataFrame(rows), per_draw


def replicated_pairs(run: Run) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{var: (observed, replicated (draws, n_obs))}`` for variables in both groups."""
    tree = run.idata
    if "posterior_predictive" not in tree.children or "observed_data" not in tree.children:
        return {}
    pp, obs = tree["posterior_predictive"].to_dataset(), tree["observed_data"].to_dataset()
    out = {}
    for name in pp.data_vars:
        if name in obs.data_vars:
            out[name] = (obs[name].values, draw_matrix(pp[name].values))
    return out


def render(run: Run) -> None:
    pairs = replicated_pairs(run)
    if not pairs:
        st.info("This run saved no posterior predictive draws (posterior_predictive_draws: 0).")
        return
    for name, (observed, replicated) in pairs.items():
        st.caption(f"`{name}`: {observed.size} observations, {replicated.shape[0]} replicated data sets "
                   "(thinned posterior draws saved with the run).")
        left, right = st.columns(2)
        left.plotly_chart(charts.predictive_vs_observed(observed, replicated, f"Observed vs replicated: {name}"),
                          width="stretch")
        right.plotly_chart(charts.ecdf_overlay(observed, replicated, f"ECDF: {name}"), width="stretch")
        table, per_draw = test_statistics(observed, replicated)
        st.dataframe(table.style.format({c: "{:.3g}" for c in table.columns if c != "statistic"}),
                     hide_index=True, width="stretch")
        extreme = table[(table["p-value"] < 0.05) | (table["p-value"] > 0.95)]
        if len(extreme):
            st.warning("The model rarely reproduces the observed " + ", ".join(extreme["statistic"]) +
                       " (p-value below 0.05 or above 0.95): check the model before trusting predictions.")
        cols = st.columns(len(per_draw))
        for col, row in zip(cols, table.itertuples()):
            col.plotly_chart(charts.statistic_histogram(per_draw[row.statistic], row.observed, row.statistic,
                                                        row._6), width="stretch")
