"""Stochastic volatility view: volatility path with bands and the forecast (CSV for both)."""

from __future__ import annotations

import streamlit as st

from bayes_core.artifacts import Run
from bayes_core.base import BaseBayesianModel
from bayes_core.models.stochastic_volatility import flagged_table, volatility_figure
from ui.predict import predictions_csv
from ui.text import MESSAGE_CHARS, safe_text


@st.cache_resource(show_spinner="Rebuilding the volatility path from the posterior draws…")
def _estimate(_model: BaseBayesianModel, model_id: str, run_id: str):
    return _model.estimate_from_run(Run(model_id, run_id))


def render(model: BaseBayesianModel, run: Run) -> None:
    estimate = _estimate(model, run.model_id, run.run_id)
    if estimate.fallback.used:
        st.warning(f"EWMA fallback: {safe_text(estimate.fallback.reason, MESSAGE_CHARS)}. The volatility below "
                   "is the EWMA estimate (λ = 0.94) with an approximate sampling band, not the Bayesian posterior.",
                   icon=":material/warning:")
    cols = st.columns(2)
    horizon = cols[0].slider("Forecast horizon (days)", 1, 250, 20, key=f"sv_horizon_{run.run_id}")
    level = cols[1].slider("Credible level", 0.5, 0.99, 0.94, 0.01, key=f"sv_level_{run.run_id}")
    path = flagged_table(estimate.path(level), estimate)
    forecast = flagged_table(estimate.forecast(int(horizon), level, seed=run.metadata.get("seed", 0)), estimate)
    data = run.data
    st.plotly_chart(volatility_figure(path, forecast, data["return"].to_numpy(float)), width="stretch")
    for name, table in (("Volatility path", path), ("Volatility forecast", forecast)):
        with st.expander(f"{name} (table)"):
            st.dataframe(table, width="stretch")
        slug = name.lower().replace(" ", "_")
        st.download_button(f"Download {name.lower()} (CSV)", predictions_csv(table.reset_index(names="day"), run.verdict),
                           f"{slug}_{run.run_id}.csv", "text/csv", key=f"{slug}_{run.run_id}",
                           icon=":material/download:", on_click="ignore")
