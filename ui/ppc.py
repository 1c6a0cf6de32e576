"""Posterior predictive check: observed vs replicated data of a run, test statistics and p-values.

The statistics come from ``bayes_core.ppc`` and fit the model's ``outcome_kind`` (no share of zeros
for continuous returns); a statistic that no data set can move is shown as "not informative".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from bayes_core import ppc as checks
from bayes_core.artifacts import Run
from bayes_core.draws import draw_matrix
from ui import charts

NOT_INFORMATIVE = "not informative (the same in every data set)"


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


def shown_table(table: pd.DataFrame) -> pd.DataFrame:
    """The statistics table as the analyst reads it: a ``check`` column instead of the flag."""
    extreme = set(checks.misfits(table))
    check = ["rarely reproduced" if name in extreme else "reproduced" if informative else NOT_INFORMATIVE
             for name, informative in zip(table["statistic"], table["informative"])]
    return table.drop(columns="informative").assign(check=check)


def render(run: Run, outcome_kind: str) -> None:
    pairs = replicated_pairs(run)
    if not pairs:
        st.info("This run saved no posterior predictive draws (posterior_predictive_draws: 0).")
        return
    for name, (observed, replicated) in pairs.items():
        st.caption(f"`{name}`: {observed.size} observations, {replicated.shape[0]} replicated data sets "
                   f"(thinned posterior draws saved with the run); {outcome_kind} outcome.")
        left, right = st.columns(2)
        left.plotly_chart(charts.predictive_vs_observed(observed, replicated, f"Observed vs replicated: {name}",
                                                        discrete=outcome_kind != checks.CONTINUOUS),
                          width="stretch")
        right.plotly_chart(charts.ecdf_overlay(observed, replicated, f"ECDF: {name}"), width="stretch")
        table, per_draw = checks.check_statistics(observed, replicated, outcome_kind)
        shown = shown_table(table)
        st.dataframe(shown.style.format({c: "{:.3g}" for c in shown.columns if c not in ("statistic", "check")}),
                     hide_index=True, width="stretch")
        extreme = checks.misfits(table)
        if extreme:
            st.warning("The model rarely reproduces the observed " + ", ".join(extreme) +
                       f" (p-value below {checks.EXTREME} or above {1 - checks.EXTREME}): check the model "
                       "before trusting predictions.", icon=":material/warning:")
        informative = table[table["informative"]]
        if len(informative):
            cols = st.columns(len(informative))
            for col, row in zip(cols, informative.itertuples(index=False)):
                col.plotly_chart(charts.statistic_histogram(per_draw[row.statistic], row.observed, row.statistic,
                                                            row[table.columns.get_loc("p-value")]), width="stretch")
