"""Linear-regression views: coefficient plot and table, and the fit along one feature with HDI bands.

Figure and table builders are plain functions of posterior draws (no Streamlit) so they can be
tested; ``render(model, run)`` lays them out on the predictions page.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bayes_core.draws import hdi

HDI_PROB = 0.94


def coefficient_table(draws: dict[str, Any], prob: float = HDI_PROB) -> pd.DataFrame:
    """Posterior mean, sd, HDI and P(> 0) of the intercept, each slope and σ."""
    rows = []
    features = draws["coords"]["feature"]
    named = [("intercept", draws["intercept"])] + [(f"beta[{f}]", draws["beta"][:, j]) for j, f in enumerate(features)]
    for name, x in named + [("sigma", draws["sigma"])]:
        lo, hi = hdi(x, prob)
        rows.append({"parameter": name, "mean": float(x.mean()), "sd": float(x.std()), "hdi_lower": float(lo),
                     "hdi_upper": float(hi), "prob_positive": float((x > 0).mean())})
    return pd.DataFrame(rows)


def coefficient_figure(table: pd.DataFrame):
    import plotly.graph_objects as go

    slopes = table[table["parameter"].str.startswith("beta[")]
    fig = go.Figure(go.Scatter(
        x=slopes["mean"], y=slopes["parameter"], mode="markers", marker={"size": 9, "color": "#1f3b73"},
        error_x={"type": "data", "symmetric": False, "array": slopes["hdi_upper"] - slopes["mean"],
                 "arrayminus": slopes["mean"] - slopes["hdi_lower"]}, name="mean, 94 % HDI"))
    fig.add_vline(x=0, line_dash="dot", line_color="grey")
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title="Slopes: posterior mean and 94 % HDI", xaxis_title="effect of +1 unit of the feature",
                      height=140 + 40 * len(slopes), margin={"t": 50})
    return fig


def fit_band(draws: dict[str, Any], data: pd.DataFrame, feature: str, target: str, prob: float = HDI_PROB,
             points: int = 60, seed: int = 0) -> pd.DataFrame:
    """Expected target along ``feature`` (others at their means): mean, HDI of the line and of a new
    observation. Returns one row per grid point."""
    features = draws["coords"]["feature"]
    j = features.index(feature)
    grid = np.linspace(data[feature].min(), data[feature].max(), points)
    X = np.tile(data[features].mean().to_numpy(float), (points, 1))
    X[:, j] = grid
    mu = draws["intercept"][None, :] + X @ draws["beta"].T
    y_new = mu + np.random.default_rng(seed).standard_normal(mu.shape) * draws["sigma"][None, :]
    lo, hi = hdi(mu, prob, axis=1)
    plo, phi = hdi(y_new, prob, axis=1)
    return pd.DataFrame({feature: grid, f"{target}_mean": mu.mean(axis=1), "mean_lower": lo, "mean_upper": hi,
                         "prediction_lower": plo, "prediction_upper": phi})


def fit_figure(band: pd.DataFrame, data: pd.DataFrame, feature: str, target: str):
    import plotly.graph_objects as go

    x = band[feature]
    fig = go.Figure()
    for lower, upper, name, colour in (("prediction_lower", "prediction_upper", "94 % HDI of a new observation",
                                        "rgba(224,123,57,0.18)"),
                                       ("mean_lower", "mean_upper", "94 % HDI of the mean", "rgba(31,59,115,0.30)")):
        fig.add_scatter(x=np.r_[x, x[::-1]], y=np.r_[band[upper], band[lower][::-1]], fill="toself",
                        fillcolor=colour, line={"width": 0}, name=name, hoverinfo="skip")
    fig.add_scatter(x=data[feature], y=data[target], mode="markers", name="observed",
                    marker={"size": 4, "color": "#555", "opacity": 0.5})
    fig.add_scatter(x=x, y=band[f"{target}_mean"], mode="lines", name="posterior mean", line={"color": "#1f3b73"})
    fig.update_layout(title=f"{target} against {feature} (other features at their means)", xaxis_title=feature,
                      yaxis_title=target, height=420, margin={"t": 50})
    return fig


def render(model, run) -> None:
    import streamlit as st

    from bayes_core.predictor import draws_for_run
    from ui.views._finance import fallback_banner, table_with_download

    fallback_banner(run)
    draws = draws_for_run(run)
    report = run.report("regression") or {}
    target = report.get("target", model.target)
    features = draws["coords"]["feature"]
    table = coefficient_table(draws)
    st.subheader("Coefficients")
    st.plotly_chart(coefficient_figure(table), width="stretch")
    table_with_download(table, run, "coefficients")
    st.subheader("Fit with 94 % HDI bands")
    feature = st.selectbox("Feature on the x-axis", features, key=f"{run.run_id}_fit_feature")
    band = fit_band(draws, run.data, feature, target)
    st.plotly_chart(fit_figure(band, run.data, feature, target), width="stretch")
    table_with_download(band, run, "fit_band")
