"""Plotly figures for the app. Pure functions of numpy arrays: no Streamlit, no ArviZ, no PyMC."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

OBSERVED, REPLICATED = "#1f3b73", "#e07b39"
CHAIN_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
VERDICT_COLOURS = {"good": "#2e7d32", "warning": "#ef6c00", "problem": "#c62828"}
_MAX_BARS = 150


def _layout(fig: go.Figure, title: str, x: str, y: str, height: int = 360) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=height, margin=dict(l=10, r=10, t=50, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0))
    return fig


def is_count_data(values: np.ndarray) -> bool:
    values = np.asarray(values)
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    return values.dtype.kind in "iub" or (finite.size > 0 and np.all(finite == np.round(finite)) and finite.min() >= 0)


def shared_bins(observed: np.ndarray | None, replicated: np.ndarray, n_bins: int = 60) -> np.ndarray:
    """Bin edges shared by the observed and the replicated histograms: from the lower of the 1st
    percentile of the draws and the observed minimum to the higher of the 99th percentile and the
    observed maximum, so both series are binned alike and a few huge draws do not flatten the plot."""
    replicated = np.asarray(replicated, dtype=float)
    replicated = replicated[np.isfinite(replicated)]
    lower, upper = np.quantile(replicated, [0.01, 0.99]) if replicated.size else (0.0, 1.0)
    if observed is not None and np.size(observed):
        lower, upper = min(lower, float(np.min(observed))), max(upper, float(np.max(observed)))
    if not upper > lower:
        lower, upper = lower - 0.5, upper + 0.5
    return np.linspace(lower, upper, n_bins + 1)


def _density_bars(fig: go.Figure, values: np.ndarray, edges: np.ndarray, name: str, colour: str) -> float:
    """Density histogram of ``values`` on ``edges`` (mass outside the edges left out); returns that share."""
    values = np.asarray(values, dtype=float).ravel()
    counts, _ = np.histogram(values, bins=edges)
    widths = np.diff(edges)
    fig.add_bar(x=(edges[:-1] + edges[1:]) / 2, y=counts / (max(values.size, 1) * widths), width=widths, name=name,
                marker_color=colour, opacity=0.55)
    return 1.0 - counts.sum() / max(values.size, 1)


def predictive_vs_observed(observed: np.ndarray | None, replicated: np.ndarray, title: str,
                           replicated_name: str = "Replicated", discrete: bool | None = None) -> go.Figure:
    """Counts (``discrete``; guessed from the values when None): share of each value, observed vs
    replicated mean with a 5–95 % band across draws. Continuous: density histograms of both on the
    same bins. ``replicated`` is (draws, n_obs)."""
    replicated = np.asarray(replicated).reshape(replicated.shape[0], -1)
    fig = go.Figure()
    if discrete if discrete is not None else is_count_data(replicated):
        obs_max = float(observed.max()) if observed is not None and observed.size else 0.0
        # Wide priors put a few huge counts in the tail: bars up to the data and the bulk of the draws,
        # the tail pooled into the last bar.
        top = int(min(_MAX_BARS, max(obs_max, np.nanquantile(replicated, 0.95) if replicated.size else 0)))
        values = np.arange(top + 1)
        per_draw = np.stack([np.bincount(np.clip(r.astype(int), 0, values[-1]), minlength=values.size)
                             for r in replicated]) / replicated.shape[1]
        lo, mid, hi = np.quantile(per_draw, [0.05, 0.5, 0.95], axis=0)
        fig.add_bar(x=values, y=per_draw.mean(axis=0), name=f"{replicated_name} (mean, 5–95 % band)",
                    marker_color=REPLICATED, opacity=0.6,
                    error_y=dict(type="data", symmetric=False, array=hi - per_draw.mean(axis=0),
                                 arrayminus=per_draw.mean(axis=0) - lo, color=REPLICATED))
        if observed is not None:
            obs_share = np.bincount(np.clip(observed.astype(int), 0, values[-1]), minlength=values.size) / observed.size
            fig.add_scatter(x=values, y=obs_share, mode="markers", name="Observed",
                            marker=dict(color=OBSERVED, size=9, symbol="diamond"))
        return _layout(fig, title, f"value (the last bar pools all values ≥ {top})", "share of observations")
    edges = shared_bins(observed, replicated)
    outside = _density_bars(fig, replicated, edges, replicated_name, REPLICATED)
    if observed is not None:
        _density_bars(fig, observed, edges, "Observed", OBSERVED)
    fig.update_layout(barmode="overlay", bargap=0)
    note = f"value ({outside:.1%} of the draws lie outside the range shown)" if outside >= 0.0005 else "value"
    return _layout(fig, title, note, "density")


def ecdf_overlay(observed: np.ndarray | None, replicated: np.ndarray, title: str, n_lines: int = 40,
                 replicated_name: str = "Replicated") -> go.Figure:
    """ECDF of the observed data over the ECDFs of ``n_lines`` replicated data sets."""
    replicated = np.asarray(replicated).reshape(replicated.shape[0], -1)
    fig = go.Figure()
    picks = np.linspace(0, replicated.shape[0] - 1, min(n_lines, replicated.shape[0])).astype(int)
    for j, i in enumerate(picks):
        x = np.sort(replicated[i])
        fig.add_scatter(x=x, y=np.arange(1, x.size + 1) / x.size, mode="lines", line=dict(color=REPLICATED, width=1,
                        shape="hv"), opacity=0.25, name=replicated_name, showlegend=j == 0, hoverinfo="skip")
    if observed is not None:
        x = np.sort(observed)
        fig.add_scatter(x=x, y=np.arange(1, x.size + 1) / x.size, mode="lines", name="Observed",
                        line=dict(color=OBSERVED, width=3, shape="hv"))
    upper = max(np.nanquantile(replicated, 0.99), np.max(observed) if observed is not None else -np.inf)
    lower = min(np.nanquantile(replicated, 0.01), np.min(observed) if observed is not None else np.inf)
    fig.update_xaxes(range=[lower, upper])
    return _layout(fig, title, "value (1st–99th percentile of the draws; zoom out for the tail)", "cumulative share")


def statistic_histogram(replicated_stat: np.ndarray, observed_stat: float, name: str, p_value: float) -> go.Figure:
    fig = go.Figure()
    fig.add_histogram(x=replicated_stat, name="Replicated", marker_color=REPLICATED, opacity=0.7, nbinsx=30)
    fig.add_vline(x=observed_stat, line=dict(color=OBSERVED, width=3), annotation_text="observed")
    return _layout(fig, f"{name} (p = {p_value:.2f})", name, "replicated data sets", height=280)


def marginal(samples: np.ndarray, name: str, colour: str = REPLICATED) -> go.Figure:
    fig = go.Figure()
    fig.add_histogram(x=np.asarray(samples).ravel(), histnorm="probability density", nbinsx=50,
                      marker_color=colour, opacity=0.8, name=name)
    return _layout(fig, name, name, "density", height=260)


def trace(draws: np.ndarray, name: str) -> go.Figure:
    """Trace of one scalar (chain, draw): one line per chain."""
    fig = go.Figure()
    for c, chain in enumerate(np.asarray(draws)):
        fig.add_scatter(y=chain, mode="lines", name=f"chain {c}", line=dict(width=1, color=CHAIN_COLOURS[c % 8]))
    return _layout(fig, f"Trace: {name}", "draw", name, height=300)


def rank(draws: np.ndarray, name: str, bins: int = 20) -> go.Figure:
    """Rank plot: ranks over all chains pooled, histogram per chain; uniform when chains agree."""
    draws = np.asarray(draws)
    ranks = draws.ravel().argsort().argsort().reshape(draws.shape)
    edges = np.linspace(0, ranks.size, bins + 1)
    fig = go.Figure()
    for c, chain in enumerate(ranks):
        counts, _ = np.histogram(chain, bins=edges)
        fig.add_scatter(x=(edges[:-1] + edges[1:]) / 2, y=counts, mode="lines", line=dict(shape="hvh",
                        color=CHAIN_COLOURS[c % 8]), name=f"chain {c}")
    fig.add_hline(y=draws.shape[1] / bins, line=dict(dash="dot", color="grey"), annotation_text="uniform")
    return _layout(fig, f"Rank plot: {name}", "rank (all chains)", "draws per bin", height=300)


def energy(energy_draws: np.ndarray) -> go.Figure:
    """Marginal energy vs energy transitions (both centred): similar widths mean good exploration."""
    e = np.asarray(energy_draws, dtype=float)
    fig = go.Figure()
    fig.add_histogram(x=(e - e.mean(axis=1, keepdims=True)).ravel(), histnorm="probability density",
                      name="marginal energy", opacity=0.6, marker_color=OBSERVED, nbinsx=50)
    transitions = np.diff(e, axis=1)
    fig.add_histogram(x=(transitions - transitions.mean()).ravel(), histnorm="probability density",
                      name="energy transition", opacity=0.6, marker_color=REPLICATED, nbinsx=50)
    fig.update_layout(barmode="overlay")
    return _layout(fig, "Energy", "energy (centred)", "density", height=300)


def pair(x: np.ndarray, y: np.ndarray, x_name: str, y_name: str, diverging: np.ndarray | None) -> go.Figure:
    x, y = np.ravel(x), np.ravel(y)
    div = np.zeros(x.shape, bool) if diverging is None else np.ravel(diverging).astype(bool)
    fig = go.Figure()
    fig.add_scatter(x=x[~div], y=y[~div], mode="markers", name="draws", marker=dict(size=4, opacity=0.45,
                    color=OBSERVED))
    fig.add_scatter(x=x[div], y=y[div], mode="markers", name=f"divergent ({int(div.sum())})",
                    marker=dict(size=8, color="#d62728", symbol="x"))
    return _layout(fig, f"{y_name} vs {x_name}", x_name, y_name, height=380)


def forest(labels: Sequence[str], mean: np.ndarray, lower: np.ndarray, upper: np.ndarray, name: str,
           verdicts: Sequence[str] | None = None) -> go.Figure:
    """Posterior mean and 94 % HDI per element, coloured by convergence verdict."""
    colours = [VERDICT_COLOURS.get(v, OBSERVED) for v in verdicts] if verdicts is not None else OBSERVED
    fig = go.Figure()
    fig.add_scatter(x=mean, y=list(labels), mode="markers", marker=dict(color=colours, size=7), name="mean",
                    error_x=dict(type="data", symmetric=False, array=np.asarray(upper) - mean,
                                 arrayminus=mean - np.asarray(lower), color="#888", thickness=1.2))
    height = min(1200, 120 + 18 * len(labels))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, f"Forest plot: {name} (mean, 94 % HDI)", name, "", height=height)
