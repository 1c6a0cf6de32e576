"""Strategy-comparison views: ranking with credible intervals and the P(Sharpe A > Sharpe B) heat-map."""

from __future__ import annotations

import numpy as np
import pandas as pd


def ranking_figure(ranking: pd.DataFrame):
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(
        x=ranking["sharpe_mean"], y=ranking.index, mode="markers", marker={"size": 10, "color": "#1f3b73"},
        error_x={"type": "data", "symmetric": False, "array": ranking["hdi_high"] - ranking["sharpe_mean"],
                 "arrayminus": ranking["sharpe_mean"] - ranking["hdi_low"]},
        customdata=ranking[["prob_best", "prob_positive"]].to_numpy(),
        hovertemplate="%{y}: %{x:.2f}<br>P(best) %{customdata[0]:.1%}<br>P(>0) %{customdata[1]:.1%}<extra></extra>"))
    fig.add_vline(x=0, line_dash="dot", line_color="grey")
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title="Annualised Sharpe ratio by strategy (mean, 94 % HDI), best first",
                      xaxis_title="Sharpe ratio", height=160 + 45 * len(ranking), margin={"t": 50})
    return fig


def heatmap_figure(prob_greater: pd.DataFrame):
    import plotly.graph_objects as go

    z = prob_greater.to_numpy(float)
    text = np.where(np.isnan(z), "", np.vectorize(lambda v: f"{v:.0%}")(np.nan_to_num(z)))
    fig = go.Figure(go.Heatmap(z=z, x=list(prob_greater.columns), y=list(prob_greater.index), zmin=0, zmax=1,
                               colorscale="RdBu", text=text, texttemplate="%{text}",
                               hovertemplate="P(Sharpe %{y} > Sharpe %{x}) = %{z:.3f}<extra></extra>",
                               colorbar={"title": "P(row > column)"}))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title="P(Sharpe of row > Sharpe of column)", height=200 + 50 * len(z), margin={"t": 50})
    return fig


def render(model, run) -> None:
    import streamlit as st

    from bayes_core.models.sharpe import ranking_from_draws
    from bayes_core.predictor import draws_for_run
    from ui.views._finance import table_with_download

    draws = draws_for_run(run)
    ranking, prob = ranking_from_draws(draws["sharpe"], draws["coords"]["strategy"])
    best = ranking.index[0]
    st.metric(f"Most likely best strategy: {best}", f"P(best) = {ranking.loc[best, 'prob_best']:.1%}")
    st.plotly_chart(ranking_figure(ranking), width="stretch")
    table_with_download(ranking, run, "ranking", index=True)
    st.plotly_chart(heatmap_figure(prob), width="stretch")
    table_with_download(prob, run, "prob_greater", index=True)
