"""Player-props views: calibration (reliability per prop and line), single- vs multi-task
comparison, player-effect correlations, and the predictive distribution of one match-up.

The figure builders are plain functions of the run's reports (no Streamlit), so they can be tested
and reused; ``render(model, run)`` lays them out on the predictions page.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from bayes_core.csvio import to_csv_bytes

PROP_COLOURS = {"goals": "#1f77b4", "shots": "#ff7f0e", "cards": "#d62728"}


def metrics_table(calibration: dict[str, Any]) -> pd.DataFrame:
    """One row per prop and line: n, base rate, mean forecast, ECE, Brier, log loss."""
    rows = []
    for prop, per_line in calibration["props"].items():
        for line, m in per_line.items():
            rows.append({"prop": prop, "line": f"over {line}", "n": m["n"], "observed_rate": m["base_rate"],
                         "mean_predicted": m["mean_predicted"], "ece": m["ece"], "brier": m["brier"],
                         "log_loss": m["log_loss"]})
    return pd.DataFrame(rows)


def reliability_figure(calibration: dict[str, Any]):
    """A reliability diagram per prop and line: observed frequency vs mean forecast per bin."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    panels = [(prop, line, m) for prop, per_line in calibration["props"].items() for line, m in per_line.items()]
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"{p} over {ln} — ECE {m['ece']:.3f}"
                                                              for p, ln, m in panels],
                        horizontal_spacing=0.08, vertical_spacing=0.15)
    for i, (prop, line, m) in enumerate(panels):
        r, c = i // cols + 1, i % cols + 1
        bins = [b for b in m["reliability"] if b["count"]]
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "grey"},
                                 showlegend=False, hoverinfo="skip"), row=r, col=c)
        fig.add_trace(go.Scatter(
            x=[b["mean_predicted"] for b in bins], y=[b["observed_frequency"] for b in bins],
            mode="lines+markers", name=f"{prop} > {line}", showlegend=False,
            marker={"size": [6 + 18 * (b["count"] / m["n"]) ** 0.5 for b in bins], "color": PROP_COLOURS.get(prop)},
            customdata=[[b["count"], b["bin_low"], b["bin_high"]] for b in bins],
            hovertemplate="forecast %{x:.3f}<br>observed %{y:.3f}<br>n = %{customdata[0]}"
                          "<br>bin [%{customdata[1]:.1f}, %{customdata[2]:.1f})<extra></extra>"), row=r, col=c)
        fig.update_xaxes(range=[0, 1], title_text="predicted P(over)", row=r, col=c)
        fig.update_yaxes(range=[0, 1], title_text="observed frequency", row=r, col=c)
    fig.update_layout(height=330 * rows, margin={"t": 50, "b": 40})
    return fig


def comparison_table(comparison: dict[str, Any]) -> pd.DataFrame:
    rows = [{"prop_line": key, "single_task_ece": v["single_task"], "multi_task_ece": v["multi_task"]}
            for key, v in comparison["per_line_ece"].items()]
    rows.append({"prop_line": "mean", "single_task_ece": comparison["single_task_mean_ece"],
                 "multi_task_ece": comparison["multi_task_mean_ece"]})
    return pd.DataFrame(rows)


def comparison_figure(comparison: dict[str, Any]):
    import plotly.graph_objects as go

    table = comparison_table(comparison)
    fig = go.Figure([go.Bar(name="single-task", x=table["prop_line"], y=table["single_task_ece"]),
                     go.Bar(name="multi-task", x=table["prop_line"], y=table["multi_task_ece"])])
    fig.update_layout(barmode="group", yaxis_title="ECE (lower is better)", height=360, margin={"t": 30})
    return fig


def pmf_figure(pmfs: dict[str, Any]):
    """Predictive P(y = k) per prop (bars), from ``BayesianPredictor.predictive_pmf``."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(pmfs), subplot_titles=list(pmfs))
    for i, (prop, pmf) in enumerate(pmfs.items()):
        fig.add_trace(go.Bar(x=list(range(len(pmf))), y=list(pmf), name=prop, marker_color=PROP_COLOURS.get(prop),
                             hovertemplate="P(%{x}) = %{y:.3f}<extra></extra>"), row=1, col=i + 1)
        fig.update_xaxes(title_text="count", dtick=1, row=1, col=i + 1)
    fig.update_yaxes(title_text="probability", row=1, col=1)
    fig.update_layout(height=320, showlegend=False, margin={"t": 40})
    return fig


def _download(st, table: pd.DataFrame, name: str, run) -> None:
    st.download_button("Download CSV", to_csv_bytes(table), file_name=f"{run.run_id}-{name}.csv",
                       mime="text/csv", key=f"pp-{name}-{run.run_id}")


def render(model, run) -> None:
    import streamlit as st

    st.subheader("Calibration on the validation window")
    calibration = run.report("calibration")
    if calibration is None:
        st.info("This run has no validation window, so no calibration report. Train with a training end "
                "date (`train_end`) before the last match, and optionally `val_end`.")
    else:
        w = calibration["window"]
        st.caption(f"{calibration['validation_rows']} player-matches from {w['from']} to {w['to']}; "
                   f"{calibration['n_bins']} equal-width bins; mean ECE {calibration['mean_ece']:.4f}. "
                   f"Unknown players in the window: {calibration['unknown_players']} rows (predicted as average).")
        st.plotly_chart(reliability_figure(calibration), width="stretch")
        table = metrics_table(calibration)
        st.dataframe(table, hide_index=True, width="stretch")
        _download(st, table, "calibration", run)

    comparison = run.report("comparison")
    st.subheader("Single- vs multi-task")
    if comparison is None:
        st.caption("No comparison in this run: train with the option `compare` on to fit both variants on the "
                   "same split and apply the rule “use multi-task if its mean ECE ≤ 1.10 × single-task ECE”.")
    else:
        (st.success if comparison["decision"] == "multi-task" else st.warning)(comparison["statement"])
        st.plotly_chart(comparison_figure(comparison), width="stretch")
        table = comparison_table(comparison)
        st.dataframe(table, hide_index=True, width="stretch")
        _download(st, table, "comparison", run)

    if "player_corr[goals:shots]" in run.summary.index:
        st.subheader("Correlation of player effects across props")
        corr = run.summary.loc[[i for i in run.summary.index if i.startswith("player_corr[")],
                               ["mean", "sd", "hdi_3%", "hdi_97%"]] if "hdi_3%" in run.summary.columns else \
            run.summary.loc[[i for i in run.summary.index if i.startswith("player_corr[")], ["mean", "sd"]]
        st.dataframe(corr, width="stretch")

    _render_distribution(st, run)


def _render_distribution(st, run) -> None:
    from bayes_core.models.player_props_predictor import props_predictor_for_run

    st.subheader("Predicted distribution of one match-up")
    predictor = props_predictor_for_run(run)
    c1, c2, c3, c4 = st.columns(4)
    player = c1.selectbox("Player", predictor.players, key=f"pp-player-{run.run_id}")
    opponent = c2.selectbox("Opponent", predictor.opponents, key=f"pp-opp-{run.run_id}")
    home = c3.toggle("Home", value=True, key=f"pp-home-{run.run_id}")
    minutes = c4.number_input("Minutes", 0.0, 120.0, 90.0, key=f"pp-min-{run.run_id}")
    features = {f: st.number_input(f, value=float(c), key=f"pp-f-{f}-{run.run_id}")
                for f, c in zip(predictor.features, predictor.draws.center)}
    pmfs = predictor.predictive_pmf(player, opponent, home, features, minutes, k_max=8)
    st.plotly_chart(pmf_figure(pmfs), width="stretch")
