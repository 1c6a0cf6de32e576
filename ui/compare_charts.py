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
    """Mean and HDI of every shared parameter element, one colour per run, each run's marker offset
    vertically so that overlapping intervals stay readable (the first run on top)."""
    labels = [p["parameter"] for p in parameters]
    fig = go.Figure()
    n = len(runs)
    offsets = np.linspace(-0.25, 0.25, n) if n > 1 else np.zeros(1)
    position = np.arange(len(labels), dtype=float)
    for k, (run, offset) in enumerate(zip(runs, offsets)):
        rid = run["run_id"]
        mean = np.array([p["runs"][rid]["mean"] for p in parameters])
        low = np.array([p["runs"][rid]["hdi_low"] for p in parameters])
        high = np.array([p["runs"][rid]["hdi_high"] for p in parameters])
        fig.add_scatter(x=mean, y=position + offset, mode="markers", name=run["label"],
                        marker=dict(color=CHAIN_COLOURS[k % len(CHAIN_COLOURS)], size=7),
                        customdata=np.stack([low, high], axis=-1), text=labels,
                        hovertemplate="%{text}: mean %{x:.4g}, HDI [%{customdata[0]:.4g}, %{customdata[1]:.4g}]"
                                      "<extra></extra>",
                        error_x=dict(type="data", symmetric=False, array=high - mean, arrayminus=mean - low,
                                     thickness=1.4))
    fig.update_yaxes(tickmode="array", tickvals=position, ticktext=labels, autorange="reversed")
    height = min(1400, 160 + 26 * len(labels) * max(1, n / 2))
    fig = _layout(fig, f"Shared parameters: mean and {hdi_prob:.0%} HDI per run", "value", "", height=int(height))
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0.0))
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
    fig.add_bar(x=centres, y=counts / (n * width), width=width, name="LOO-PIT", marker_color=OBSERVED, opacity=0.8)
    fig.add_scatter(x=[0, 1, 1, 0, 0], y=np.array([low, low, high, high, low]) / (n * width), fill="toself",
                    mode="lines", line=dict(width=0), fillcolor="rgba(224,123,57,0.2)",
                    name=f"uniform, {PIT_BAND:.0%} band")
    fig.add_scatter(x=[0, 1], y=[1, 1], mode="lines", line=dict(color="#e07b39", dash="dash"), name="uniform")
    fig.update_xaxes(range=[0, 1])
    return _layout(fig, title, "LOO-PIT value", "density", height=300)
