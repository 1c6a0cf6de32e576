"""Plotly figures of a run comparison (``bayes_core.runs.compare``'s output): the forest overlay of
shared parameters and LOO-PIT histograms. Pure functions of plain data: no Streamlit."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go
from scipy import stats

from ui.charts import CHAIN_COLOURS, OBSERVED, _layout

PIT_BAND = 0.99  # pointwise band of a histogram bar's height under uniformity


def forest_overlay(parameters: Sequence[dict[str, Any]], runs: Sequence[dict[str, Any]], hdi_prob: float
                   ) -> go.Figure:
    """Mean and HDI of every shared parameter element, one panel per variable (each on its own scale:
    a dispersion and a rate share no axis), one colour per run, each run's marker offset vertically so
    that overlapping intervals stay readable (the first run on top)."""
    from plotly.subplots import make_subplots

    variables = list(dict.fromkeys(p["variable"] for p in parameters))
    groups = [[p for p in parameters if p["variable"] == v] for v in variables]
    fig = make_subplots(rows=len(groups), cols=1, row_heights=[len(g) + 1.5 for g in groups],
                        vertical_spacing=min(0.08, 0.4 / len(groups)))  # the y ticks name each element
    n = len(runs)
    offsets = np.linspace(-0.22, 0.22, n) if n > 1 else np.zeros(1)
    for row, group in enumerate(groups, start=1):
        labels = [p["parameter"] for p in group]
        position = np.arange(len(labels), dtype=float)
        for k, (run, offset) in enumerate(zip(runs, offsets)):
            rid = run["run_id"]
            mean = np.array([p["runs"][rid]["mean"] for p in group])
            low = np.array([p["runs"][rid]["hdi_low"] for p in group])
            high = np.array([p["runs"][rid]["hdi_high"] for p in group])
            colour = CHAIN_COLOURS[k % len(CHAIN_COLOURS)]
            fig.add_scatter(x=mean, y=position + offset, mode="markers", name=run["label"], legendgroup=rid,
                            showlegend=row == 1, marker=dict(color=colour, size=7),
                            customdata=np.stack([low, high], axis=-1), text=labels,
                            hovertemplate="%{text}: mean %{x:.4g}, HDI [%{customdata[0]:.4g}, %{customdata[1]:.4g}]"
                                          "<extra></extra>",
                            error_x=dict(type="data", symmetric=False, array=high - mean, arrayminus=mean - low,
                                         color=colour, thickness=1.4), row=row, col=1)
        fig.update_yaxes(tickmode="array", tickvals=position, ticktext=labels, autorange="reversed",
                         range=[len(labels) - 0.5, -0.5], row=row, col=1)
    height = 140 + sum(30 + 22 * len(g) * max(1.0, n / 2) for g in groups)
    fig.update_layout(height=int(min(2400, height)), margin=dict(l=10, r=10, t=60, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0.0,
                                  title_text=f"mean and {hdi_prob:.0%} HDI:"))
    return fig


def loo_pit_histogram(variable: dict[str, Any], title: str) -> go.Figure:
    """The stored LOO-PIT histogram (20 equal bins of [0, 1]) as densities, with the uniform density
    and the pointwise 99 % band a bar's height has when the PIT values are uniform (binomial)."""
    counts = np.asarray(variable["histogram"], dtype=float)
    n, bins = max(int(variable["n"]), 1), len(counts)
    width = 1.0 / bins
    centres = (np.arange(bins) + 0.5) * width
    low, high = stats.binom.interval(PIT_BAND, n, 1.0 / bins)
    fig = go.Figure()
    fig.add_shape(type="rect", x0=0, x1=1, y0=low / (n * width), y1=high / (n * width), layer="below",
                  fillcolor="rgba(224,123,57,0.18)", line_width=0)  # the band behind the bars
    fig.add_bar(x=centres, y=counts / (n * width), width=width, name="LOO-PIT", marker_color=OBSERVED, opacity=0.75)
    fig.add_scatter(x=[0, 1], y=[1, 1], mode="lines", line=dict(color="#e07b39", dash="dash"),
                    name=f"uniform (band: {PIT_BAND:.0%})")
    fig.update_xaxes(range=[0, 1])
    return _layout(fig, title, "LOO-PIT value", "density", height=300)
