"""Pairs trading view: hedge ratio with its band, the spread and the positions over time (CSV)."""

from __future__ import annotations

import streamlit as st

from bayes_core.artifacts import Run
from bayes_core.base import BaseBayesianModel
from bayes_core.errors import BayesCoreError
from bayes_core.models.pairs_trading import hedge_figure, positions_from_zscore, zscore
from ui.predict import predictions_csv
from ui.text import MESSAGE_CHARS, safe_text


@st.cache_data(show_spinner="Summarising the hedge-ratio posterior…")
def _hedge_table(_model: BaseBayesianModel, model_id: str, run_id: str, level: float):
    return _model.hedge_from_run(Run(model_id, run_id), level)


def render(model: BaseBayesianModel, run: Run) -> None:
    report = run.report("pairs") or {}
    fallback = report.get("fallback", {})
    if fallback.get("used"):
        st.warning(f"Rolling OLS fallback: {safe_text(fallback.get('reason'), MESSAGE_CHARS)}. The hedge ratios "
                   "below are rolling OLS estimates with their flat-prior uncertainty, not the Bayesian posterior.",
                   icon=":material/warning:")
    elif report.get("max_gap_in_mcse") is not None:
        st.caption(f"MCMC check of the exact (conjugate) posterior: largest difference of the posterior means "
                   f"{report['max_gap_in_mcse']:.1f} MCSE over {len(report['exact_hedge_ratio_mean'])} windows "
                   f"(window {report['window']} days).")
    cols = st.columns(3)
    entry = cols[0].number_input("Entry threshold (z)", 0.1, 10.0, 2.0, 0.1, key=f"pairs_entry_{run.run_id}")
    exit_ = cols[1].number_input("Exit threshold (z)", 0.0, 10.0, 0.5, 0.1, key=f"pairs_exit_{run.run_id}")
    level = cols[2].slider("Credible level", 0.5, 0.99, 0.94, 0.01, key=f"pairs_level_{run.run_id}")
    table = _hedge_table(model, run.model_id, run.run_id, float(level)).copy()
    try:
        table["zscore"] = zscore(table["spread"])
        table["position"] = positions_from_zscore(table["zscore"], entry, exit_)
    except BayesCoreError as exc:
        st.error(safe_text(exc, MESSAGE_CHARS, multiline=True))
        return
    st.plotly_chart(hedge_figure(table), width="stretch")
    trades = int((table["position"].diff().fillna(0) != 0).sum())
    st.caption(f"{trades} position changes; z-score over the whole sample (research view, uses look-ahead).")
    with st.expander("Hedge ratio, spread and positions (table)"):
        st.dataframe(table, width="stretch")
    st.download_button("Download hedge ratio, spread and positions (CSV)",
                       predictions_csv(table.reset_index(names="day"), run.verdict),
                       f"pairs_{run.run_id}.csv", "text/csv", key=f"pairs_csv_{run.run_id}",
                       icon=":material/download:", on_click="ignore")
