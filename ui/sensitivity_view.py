"""The Diagnostics page's prior-sensitivity tab: the stored power-scaling result of a run (table,
bars against the 0.05 threshold, the diagnosis in plain words), or a button that computes it."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import streamlit as st

from bayes_core.checks import sensitivity as sens
from bayes_core.errors import BayesCoreError
from bayes_core.runs import store
from ui.text import MESSAGE_CHARS, safe_code, safe_text

PRIOR, LIKELIHOOD = "#e07b39", "#1f3b73"
MAX_BARS = 40  # the most prior-sensitive elements are drawn; the table has every one


def section(run: store.Run, model, key: str = "sensitivity") -> None:
    """The stored result, or why it cannot be computed for ``model``, or a button that computes it."""
    st.markdown("Does the posterior depend on the prior? Power-scaling raises the prior (or the likelihood) to a "
                "power near 1 and measures, by reweighting this run's draws (no refit), how far each "
                f"parameter's posterior moves. At or above **{sens.THRESHOLD}** a parameter is *sensitive*.")
    if model.sensitivity_unavailable:
        st.info(f"Not available for this model: {safe_text(model.sensitivity_unavailable, MESSAGE_CHARS)}",
                icon=":material/block:")
        return
    payload, problem = sens.stored(run)
    if payload is None:
        if problem:
            st.warning(f"The stored result cannot be used ({safe_text(problem, MESSAGE_CHARS)}); compute it again.",
                       icon=":material/warning:")
        if not st.button("Compute prior sensitivity", key=f"{key}_compute", icon=":material/balance:",
                         help="Takes a few seconds: the log prior and log likelihood of every draw, then "
                              "Pareto-smoothed importance weights. Stored in the run."):
            st.info("Not computed for this run yet.", icon=":material/hourglass_empty:")
            return
        with st.spinner("Power-scaling the prior and the likelihood…"):
            try:
                payload = sens.sensitivity(run)
            except BayesCoreError as exc:
                st.error(f"Prior sensitivity cannot be computed for this run: {safe_text(exc, MESSAGE_CHARS)}",
                         icon=":material/error:")
                return
    show(payload)


def show(payload: dict[str, Any]) -> None:
    parameters = payload["parameters"]
    flagged = [p for p in parameters if p["diagnosis"] != sens.NONE]
    (st.warning if flagged else st.success)(safe_text(payload["verdict"], MESSAGE_CHARS))
    if flagged:
        st.markdown("\n".join(f"- {safe_text(sens.describe(p), MESSAGE_CHARS)}" for p in flagged[:10]))
    if payload.get("unreliable"):
        st.warning(safe_text(payload["unreliable"], MESSAGE_CHARS), icon=":material/warning:")
    for note in (payload.get("scope"), payload.get("caveat"), payload.get("recomputed_because")):
        if note:
            st.info(safe_text(note, MESSAGE_CHARS), icon=":material/info:")
    st.plotly_chart(bars(parameters, payload["threshold"]), width="stretch")
    st.dataframe(parameters, hide_index=True, width="stretch",
                 column_config={"name": "parameter",
                                "prior": st.column_config.NumberColumn("prior sensitivity", format="%.3f"),
                                "likelihood": st.column_config.NumberColumn("likelihood sensitivity", format="%.3f")})
    st.caption(f"Priors power-scaled: {', '.join(safe_code(p) for p in payload['power_scaled_priors'])} (the priors "
               f"you set; hierarchical terms are the model's structure). {payload['draws_used']:,} draws. "
               "Prior-data conflict: sensitive to both; weak likelihood: to the prior only (priorsense, "
               "Kallioinen et al. 2024).")


def bars(parameters: list[dict[str, Any]], threshold: float) -> go.Figure:
    """Prior and likelihood sensitivity per parameter (the most prior-sensitive ``MAX_BARS``), with
    the threshold as a dashed line."""
    shown = sorted(parameters, key=lambda p: -(p["prior"] or 0.0))[:MAX_BARS]
    names = [p["name"] for p in shown]
    fig = go.Figure()
    for component, colour in (("prior", PRIOR), ("likelihood", LIKELIHOOD)):
        fig.add_bar(y=names, x=[p[component] for p in shown], name=f"{component} sensitivity", orientation="h",
                    marker_color=colour)
    fig.add_vline(x=threshold, line_dash="dash", line_color="#c62828", annotation_text=f"{threshold}",
                  annotation_position="top")
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(barmode="group", height=min(1200, 140 + 36 * len(shown)), xaxis_title="sensitivity (CJS)",
                      title="Power-scaling sensitivity" + (f" (the {MAX_BARS} most prior-sensitive)"
                                                           if len(parameters) > MAX_BARS else ""),
                      margin=dict(l=10, r=10, t=50, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0))
    return fig
