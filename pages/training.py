"""Training: pick a model, set the sampler and data, submit a background job, follow it live."""

import streamlit as st

from ui import nav, resources, state, training

nav.frame()
st.title("Train a model")
st.caption("Training runs as a background job: it keeps going if you close this tab, and its progress, "
           "result or error is here when you come back.")

model_id = state.select_model(key="training_model")
if model_id is None:
    st.stop()
model = resources.open_model(model_id)

meta = model.metadata
if meta.description:
    st.caption(meta.description)

training.submit_form(model)

st.subheader("Jobs")
training.jobs_panel(model_id)
