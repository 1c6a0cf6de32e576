"""Sharpe-ratio views: the posterior of the annualised Sharpe ratio with P(> 0), and the returns."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bayes_core.models.sharpe import HDI_PROB, sharpe_summary


def summary_table(draws: dict[str, Any], prob: float = HDI_PROB) -> pd.DataFrame:
    rows = []
    for name in ("sharpe", "annual_return", "annual_volatility", "nu"):
        s = sharpe_summary(draws[name], prob)
        rows.append({"quantity": name, "mean": s["mean"], "sd": s["std"], "hdi_lower": s["hdi_low"],
                     "hdi_upper": s["hdi_high"], "prob_positive": s["prob_positive"]})
    return pd.DataFrame(rows)


def sharpe_figure(sharpe: np.ndarray, prob: float = HDI_PROB):
    import plotly.graph_objects as go

    s = sharpe_summary(sharpe, prob)
    lo, hi, p_pos = s["hdi_low"], s["hdi_high"], s["prob_positive"]
    fig = go.Figure(go.Histogram(x=sharpe, nbinsx=70, histnorm="probability density", name="posterior",
                                 marker_color="#1f3b73", opacity=0.75))
    fig.add_vrect(x0=float(lo), x1=float(hi), fillcolor="rgba(224,123,57,0.15)", line_width=0,
                  annotation_text=f"{prob:.0%} HDI", annotation_position="top left")
    fig.add_vline(x=0, line_dash="dot", line_color="#c62828")
    fig.update_layout(title=f"Annualised Sharpe ratio — P(Sharpe > 0) = {p_pos:.1%}", xaxis_title="Sharpe ratio",
                      yaxis_title="density", height=380, margin={"t": 50}, showlegend=False)
    return fig


def cumulative_figure(data: pd.DataFrame):
    import plotly.graph_objects as go

    x = pd.to_datetime(data["date"]) if "date" in data.columns else np.arange(len(data))
    growth = np.cumprod(1 + data["return"].to_numpy(float))
    fig = go.Figure(go.Scatter(x=x, y=growth, mode="lines", line={"color": "#1f3b73"}))
    fig.update_layout(title="Growth of 1 (the training returns)", yaxis_title="value", height=300, margin={"t": 50})
    return fig


def render(model, run) -> None:
    import streamlit as st

    from bayes_core.predictor import draws_for_run
    from ui.views._finance import table_with_download

    draws = draws_for_run(run)
    sharpe = draws["sharpe"]
    s = sharpe_summary(sharpe)
    options = run.metadata.get("options", {})
    cols = st.columns(3)
    cols[0].metric("Sharpe (posterior mean)", f"{s['mean']:.2f}")
    cols[1].metric("94 % HDI", f"{s['hdi_low']:.2f} … {s['hdi_high']:.2f}")
    cols[2].metric("P(Sharpe > 0)", f"{s['prob_positive']:.1%}")
    st.caption(f"Annualised with {options.get('periods_per_year', 252):g} periods per year, net of an annual "
               f"risk-free rate of {options.get('risk_free_rate', 0.0):.2%}.")
    st.plotly_chart(sharpe_figure(sharpe), width="stretch")
    table_with_download(summary_table(draws), run, "sharpe_summary")
    st.plotly_chart(cumulative_figure(run.data), width="stretch")
