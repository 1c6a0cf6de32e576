"""Predictions: posterior predictive check, the generated inference form, batch CSV, downloads."""

import streamlit as st

from ui import nav, ppc, predict, resources, state
from ui.model_views import render_model_views

nav.require_router()
st.title("Predictions")
model_id, run_id = state.select_model_and_run()
if model_id is None:
    st.stop()
if run_id is None:
    st.info("This model has no trained run yet, so there is nothing to predict from. Train it first.",
            icon=":material/hourglass_empty:")
    st.page_link(nav.TRAINING, label="Go to training", icon=":material/model_training:",
                 query_params=nav.url_params(model_id))
    st.stop()
model = resources.model(model_id)
run = resources.run(model_id, run_id)
nav.page_links(model_id, run_id, exclude=nav.PREDICTIONS)
predict.convergence_gate(run)

tab_form, tab_batch, tab_ppc = st.tabs(["Predict", "Batch (CSV)", "Posterior predictive check"])
with tab_form:
    predict.single_form(model, run)
with tab_batch:
    predict.batch(model, run)
with tab_ppc:
    st.caption("Does data simulated from the fitted model look like the data it was trained on?")
    ppc.render(run)

render_model_views(model, run)
