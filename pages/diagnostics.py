"""Diagnostics of a trained run: verdict, coloured summary, trace/rank/energy/pair/forest plots, DAG,
prior sensitivity."""

import streamlit as st

from bayes_core import artifacts
from bayes_core.csvio import to_csv_bytes
from bayes_core import diagnostics as dg
from ui import charts, nav, resources, state
from ui import diagnostics_view as dv
from ui import sensitivity_view

nav.frame()
st.title("Convergence diagnostics")
model_id, run_id = state.select_trained_run(nav.DIAGNOSTICS, "This model has no trained run yet. Train it first.")
model = resources.model(model_id)
run = resources.open_run(model_id, run_id)
diag = run.diagnostics
post = resources.posterior(model_id, run_id)
summary = resources.summary(model_id, run_id)
judged = diag.get("verdict") != dg.APPROXIMATE  # R-hat and ESS of independent variational draws judge nothing
flagged = dg.flagged_elements(summary) if judged else []
verdict_of = {e["element"]: e["verdict"] for e in flagged} if judged else None  # R-hat, ESS bulk and tail
dv.verdict_banner(diag, flagged)
dv.metrics_row(diag)
vectors = [n for n, dims in post["dims"].items() if dims]


def summary_tab() -> None:
    all_vars = list(post["arrays"])
    default = [v for v in model.headline_vars if v in all_vars] or [v for v in all_vars if v not in vectors]
    shown = st.multiselect("Variables", all_vars, default=default,
                           help="Vector variables (one value per entity) can be long; add them on purpose. "
                                "Elements that are not good are always listed first.")
    unflagged = dg.GOOD if judged else dg.APPROXIMATE
    st.dataframe(dv.styled_summary(dv.summary_view(summary, shown, flagged, unflagged), judged), width="stretch")
    st.caption("Cells: green good, orange warning, red problem (R-hat < 1.01 / ≤ 1.05; ESS > 400 / ≥ 100)." if judged
               else "An approximate fit: its R-hat and ESS are kept for the record and judge nothing (its draws are "
                    "independent by construction), so no cell is coloured.")
    csv_col, nc_col = st.columns(2)
    csv_col.download_button("Download summary (CSV)", to_csv_bytes(summary, index=True), f"summary_{run_id}.csv",
                            "text/csv", icon=":material/download:", on_click="ignore")
    nc_col.download_button("Download trace (NetCDF)",
                           lambda: resources.run_file_bytes(model_id, run_id, artifacts.TRACE_FILE),
                           f"trace_{run_id}.nc", "application/x-netcdf", icon=":material/download:",
                           on_click="ignore")


def trace_tab() -> None:
    label, draws = dv.pick_scalar(post, model.headline_vars, "trace")
    left, right = st.columns(2)
    left.plotly_chart(charts.trace(draws, label), width="stretch")
    right.plotly_chart(charts.rank(draws, label), width="stretch")


def pair_tab() -> None:
    left, right = st.columns(2)
    with left:
        x_label, x = dv.pick_scalar(post, model.headline_vars, "pair_x", "x")
    with right:
        y_label, y = dv.pick_scalar(post, model.headline_vars, "pair_y", "y", default=1)
    st.plotly_chart(charts.pair(x, y, x_label, y_label, dv.sample_stat(run, "diverging")), width="stretch")
    energy = dv.sample_stat(run, "energy")
    if energy is not None:
        st.plotly_chart(charts.energy(energy), width="stretch")


def vectors_tab() -> None:
    if not vectors:
        st.info("This model has no vector parameters.")
    for name in vectors:
        dv.forest_section(summary, name, key=f"forest_{name}", verdict_of=verdict_of)


# Only the open tab runs: every tab's plots, the DAG and the sensitivity table drawn on each load
# were most of the page's time in a browser.
nav.lazy_tabs({"Summary": summary_tab, "Trace & rank": trace_tab, "Pair & energy": pair_tab,
               "Vector parameters": vectors_tab,
               "Model graph": lambda: dv.dag_section(run, diag.get("per_variable", {})),
               "Run details": lambda: dv.run_details(run.metadata),
               "Prior sensitivity": lambda: sensitivity_view.section(run, model)})
