"""Predictions: posterior predictive check, the generated inference form, batch CSV, downloads."""

import streamlit as st

from ui import nav, ppc, predict, resources, state
from ui.model_views import render_model_views

nav.frame()
st.title("Predictions")
model_id, run_id = state.select_trained_run(
    nav.PREDICTIONS, "This model has no trained run yet, so there is nothing to predict from. Train it first.")
model = resources.model(model_id)
run = resources.open_run(model_id, run_id)
predict.convergence_gate(run)

tab_form, tab_batch, tab_ppc = st.tabs(["Predict", "Batch (CSV)", "Posterior predictive check"])
with tab_form:
    predict.single_form(model, run)
with tab_batch:
    predict.batch(model, run)
with tab_ppc:
    st.caption("Does data simulated from the fitted model look like the data it was trained on?")
    ppc.render(run, model.outcome_kind)

render_model_views(model, run)
