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


def ppc_tab() -> None:
    st.caption("Does data simulated from the fitted model look like the data it was trained on?")
    ppc.render(run, model.outcome_kind)


# Only the open tab runs: the check's six plots on every load were most of the page's time in a browser.
nav.lazy_tabs({"Predict": lambda: predict.single_form(model, run), "Batch (CSV)": lambda: predict.batch(model, run),
               "Posterior predictive check": ppc_tab})

render_model_views(model, run)
