"""Runs: a model's history as a registry — verdicts, aliases, tags, notes, evaluation — one run's
labels, bundle and deletion, and two or more runs compared side by side."""

import streamlit as st

from ui import compare_view, nav, run_panel, runs_table, state

nav.frame()
st.title("Runs")
st.caption("Every trained run of a model: which converged, how well each predicts, which one is in "
           "production. Label runs, download a reproducible bundle, or compare runs side by side.")

model_id = state.select_model()
if model_id is None:
    st.stop()
rows, labels_error = runs_table.load_rows(model_id)
if not rows:
    st.info("This model has no trained run yet.", icon=":material/hourglass_empty:")
    st.page_link(nav.TRAINING, label="Go to training", icon=":material/model_training:",
                 query_params=nav.url_params(model_id))
    st.stop()
run_panel.show_flash()

# A link with a comparison opens on it; the key keeps the open tab when a label's confirmation is drawn
# above the tabs on the next run (without it Streamlit made new tabs, back on the default)
history_tab, compare_tab = st.tabs(["History", "Compare runs"], key="runs_tab",
                                   default="Compare runs" if st.query_params.get(compare_view.PARAM) else None)
with history_tab:
    runs_table.render(rows, labels_error, key=f"runs_{model_id}")
    st.subheader("Selected run")
    run_id = state.select_run(model_id, runs_page_hint=False)
    nav.page_links(model_id, run_id, exclude=nav.RUNS)
    row = next((r for r in rows if r["run_id"] == run_id), None)
    if row is None:  # trained while this page was drawn
        st.info("This run appeared a moment ago: reload the page to see it.", icon=":material/refresh:")
    else:
        run_panel.render(model_id, run_id, row)
with compare_tab:
    compare_view.render(model_id, rows)
