"""Streamlit pieces of the Checks page: simulation-based calibration (SBC) of a model.

A check never runs here: "Start SBC" submits a background job (task ``sbc``, ``bayes_core.jobs``)
through the same runner as training; a fragment polls it ("fit k of N", Cancel). Finished checks
are read from the check store (``bayes_core.checks.store``) and shown per parameter: p-value,
verdict, whether the rank ECDF stays in its simultaneous band, and the ECDF-difference plot.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import streamlit as st

from bayes_core.checks import ranks, sbc, store
from bayes_core.errors import BayesCoreError, InvalidParametersError
from bayes_core.jobs import JobRequest, get_runner
from bayes_core.settings import WHOLE_BOUNDS
from ui.text import MESSAGE_CHARS, safe_code, safe_text

REFRESH_S = 2
MAX_JOBS_SHOWN = 10
#: ECDF plots drawn at once (a model may rank up to ``sbc.MAX_RANKED`` elements).
MAX_PLOTS = 12
_VERDICT_ICONS = {ranks.PASS: ":green[:material/check_circle:]", ranks.WARN: ":orange[:material/warning:]",
                  ranks.FAIL: ":red[:material/error:]", ranks.INCONCLUSIVE: ":gray[:material/help:]"}
HOW_TO_READ = (
    "Each simulation draws parameters from the model's prior, simulates a data set from them and fits it; the "
    "prior draw's rank among its posterior draws is uniform when the fit is calibrated. The plot shows the ranks' "
    "ECDF minus the uniform CDF: inside the grey simultaneous 95% band is consistent with calibration. A curve "
    "below zero (ranks pile up high) means the fits underestimate the parameter; above zero, overestimate; a ∩ "
    "shape means posteriors too wide, a ∪ shape too narrow. p < 0.01 fails, p < 0.05 or leaving the band warns; "
    f"fewer than {ranks.MIN_SIMS_FOR_VERDICT} fitted simulations are inconclusive.")


# -- model ----------------------------------------------------------------------------------------
# -- start a check ----------------------------------------------------------------------------------
def settings_inputs(model_id: str) -> dict[str, int]:
    """Simulations and per-fit sampler settings, SBC's small defaults, bounded as the core bounds them."""
    cols, key = st.columns(5), f"sbc_{model_id}_"

    def whole(col, label: str, name: str, bounds: tuple[int, int], help: str | None = None) -> int:
        return col.number_input(label, min_value=bounds[0], max_value=bounds[1], value=sbc.DEFAULTS[name], step=1,
                                key=key + name, help=help)

    return {"sims": whole(cols[0], "Simulations", "sims", sbc.SIMS_BOUNDS, "Data sets simulated and fitted, one each."),
            "draws": whole(cols[1], "Draws per chain", "draws", WHOLE_BOUNDS["draws"]),
            "tune": whole(cols[2], "Warm-up per chain", "tune", WHOLE_BOUNDS["tune"]),
            "chains": whole(cols[3], "Chains", "chains", WHOLE_BOUNDS["chains"]),
            "seed": whole(cols[4], "Seed", "seed", WHOLE_BOUNDS["seed"], "Same seed, same simulations and ranks.")}


def start_form(model) -> None:
    """The settings and "Start SBC": a background job on the example data's shape."""
    with st.form(f"sbc_form_{model.model_id}"):
        chosen = settings_inputs(model.model_id)
        clicked = st.form_submit_button("Start SBC", type="primary", key="sbc_start")
    if not clicked:
        return
    settings = {k: v for k, v in chosen.items() if k != "sims"}
    try:
        job = get_runner().submit(JobRequest(model.model_id, settings=settings, params={"sims": chosen["sims"]},
                                             task=sbc.KIND))
    except InvalidParametersError as exc:
        st.error("The check was not started; fix these values:")
        for field, message in exc.errors.items():
            st.error(f"{safe_text(field)}: {safe_text(message, MESSAGE_CHARS)}")
        return
    except BayesCoreError as exc:
        st.error(f"The check was not started: {safe_text(exc, MESSAGE_CHARS, multiline=True)}")
        return
    st.success(f"SBC job {job.job_id} started: {chosen['sims']} fits in the background. Follow it below.")


@st.fragment(run_every=REFRESH_S)
def jobs_panel(model_id: str) -> None:
    """This model's SBC jobs, newest first: live "fit k of N", Cancel, and the finished check's link."""
    try:
        jobs = [j for j in get_runner().list(model_id, limit=100) if j.task == sbc.KIND][:MAX_JOBS_SHOWN]
    except BayesCoreError as exc:
        st.error(f"Cannot read the jobs: {safe_text(exc, MESSAGE_CHARS, multiline=True)}")
        return
    if not jobs:
        st.caption("No SBC jobs for this model yet.")
        return
    for job in jobs:
        p = job.progress
        with st.container(border=True):
            head, bar, action = st.columns([3, 4, 1.3], vertical_alignment="center")
            head.markdown(f"**{safe_text(job.state)}** · `{safe_code(job.job_id)}`  \n"
                          f"{safe_text(job.params.get('sims'))} simulations · {safe_text(job.settings.get('draws'))} "
                          f"draws × {safe_text(job.settings.get('chains'))} chains")
            bar.progress(job.fraction, text=safe_text(p.get("message") or p.get("phase", ""), 80))
            if job.is_active and action.button("Cancel", key=f"sbc_cancel_{job.job_id}"):
                st.toast(f"Job {job.job_id} {get_runner().cancel(job.job_id).state}.")
                st.rerun()
            check_id = p.get("check_id")
            if job.state == "succeeded" and check_id and action.button("Open", key=f"sbc_open_{job.job_id}"):
                st.query_params["check"] = str(check_id)
                st.rerun()
            if job.error:
                st.error(safe_text(job.error.splitlines()[0], MESSAGE_CHARS))


# -- stored checks --------------------------------------------------------------------------------
def pick_check(model_id: str) -> str | None:
    """The stored checks (unreadable ones with why) and the one to show: ``?check=`` or the newest."""
    try:
        rows = store.list_checks(model_id, sbc.KIND)
    except BayesCoreError as exc:
        st.error(f"Cannot list the checks: {safe_text(exc, MESSAGE_CHARS, multiline=True)}")
        return None
    requested = st.query_params.get("check")
    readable = [r["check_id"] for r in rows if r["status"] == store.READABLE]
    for row in rows:
        if row["status"] == store.UNREADABLE:
            st.warning(f"Check `{safe_code(row['check_id'])}` is unreadable: "
                       f"{safe_text(row['problem'], MESSAGE_CHARS)}")
    if requested is not None and requested not in readable:
        st.error(f"There is no readable SBC check “{safe_text(requested)}” of {safe_text(model_id)}; "
                 "pick one of the stored checks below.")
    if not readable:
        st.info("No stored SBC checks of this model yet: start one above.")
        return None
    by_id = {r["check_id"]: r for r in rows}
    check_id = st.selectbox("Stored check", readable, index=readable.index(requested) if requested in readable else 0,
                            format_func=lambda c: _check_label(by_id[c]), key=f"sbc_check_{model_id}")
    if st.query_params.get("check") != check_id:
        st.query_params["check"] = check_id
    return check_id


def _check_label(row: dict[str, Any]) -> str:
    return (f"{row['check_id']} · {row.get('verdict')} · {row.get('n_sims')} sims, "
            f"{row.get('fits_failed')} failed")


def show_check(model_id: str, check_id: str) -> None:
    try:
        result = store.load_check(model_id, sbc.KIND, check_id)
    except BayesCoreError as exc:
        st.error(safe_text(exc, MESSAGE_CHARS, multiline=True))
        return
    s, verdict = result.get("settings") or {}, result.get("verdict", ranks.INCONCLUSIVE)
    st.markdown(f"{_VERDICT_ICONS.get(verdict, '')} **{safe_text(verdict)}** · {result.get('n_sims')} simulations, "
                f"{result.get('n_ranked')} ranked · fits failed: **{result.get('fits_failed')}** "
                f"({result.get('fits_errored')} raised, {len(result.get('not_converged') or [])} not converged) · "
                f"{s.get('draws')} draws × {s.get('chains')} chains, seed {s.get('seed')}")
    if result.get("fit_priors"):
        st.warning(f"Fitted with other priors than simulated: {safe_text(result['fit_priors'], MESSAGE_CHARS)}")
    if result.get("failures"):
        with st.expander(f"Fits that raised ({result.get('fits_errored')})"):
            for f in result["failures"]:
                st.markdown(f"simulation {safe_text(f.get('sim'))}: {safe_text(f.get('reason'), MESSAGE_CHARS)}")
    parameters = result["parameters"]
    st.dataframe([{"name": p["name"], "p_value": p["p_value"], "verdict": p["verdict"], "ranks_ok": p["ranks_ok"]}
                  for p in parameters], hide_index=True, width="stretch",
                 column_config={"p_value": st.column_config.NumberColumn("p-value", format="%.3g"),
                                "ranks_ok": st.column_config.CheckboxColumn("inside 95% band")})
    st.caption(HOW_TO_READ)
    pooled = max((len(p.get("ranks") or []) for p in parameters), default=0)
    if result.get("n_ranked") and pooled > result["n_ranked"]:  # e.g. pairs trading's independent windows
        st.caption(f"Each parameter pools the ranks of its independent parts ({pooled // result['n_ranked']} a "
                   f"simulation, {pooled} in all): one test per parameter instead of one per part.")
    plotted = [p for p in parameters if p.get("ecdf")]
    cols = st.columns(3)
    for i, p in enumerate(plotted[:MAX_PLOTS]):
        with cols[i % 3]:
            st.plotly_chart(ecdf_figure(p), width="stretch", key=f"sbc_ecdf_{check_id}_{i}")
    if len(plotted) > MAX_PLOTS:
        st.caption(f"The first {MAX_PLOTS} of {len(plotted)} parameters are plotted; the table lists them all.")


def ecdf_figure(parameter: dict[str, Any]) -> go.Figure:
    """The rank ECDF minus the uniform CDF, with its simultaneous band (both from ``checks.ranks``)."""
    e = parameter["ecdf"]
    fig = go.Figure([
        go.Scatter(x=e["x"], y=e["upper"], mode="lines", line={"width": 0, "shape": "hv"}, showlegend=False,
                   hoverinfo="skip"),
        go.Scatter(x=e["x"], y=e["lower"], mode="lines", line={"width": 0, "shape": "hv"}, fill="tonexty",
                   fillcolor="rgba(128,128,128,0.25)", name=f"{e['band_prob']:.0%} band", hoverinfo="skip"),
        go.Scatter(x=e["x"], y=e["difference"], mode="lines", line={"shape": "hv", "color": "#1f77b4"},
                   name="ECDF − uniform"),
    ])
    p_value = "–" if parameter["p_value"] is None else f"{parameter['p_value']:.3g}"
    fig.update_layout(title=f"{parameter['name']}: {parameter['verdict']} (p = {p_value})", height=280,
                      margin={"l": 10, "r": 10, "t": 40, "b": 10}, showlegend=False,
                      xaxis_title="fractional rank", yaxis_title="ECDF difference")
    fig.add_hline(y=0, line={"color": "grey", "dash": "dot", "width": 1})
    return fig
