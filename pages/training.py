"""Training: pick a model, set the sampler and data, submit a background job, follow it live."""

import streamlit as st

from bayes_core.errors import BayesCoreError
from bayes_core.registry import get_registry
from ui import nav, training
from ui.text import MESSAGE_CHARS, safe_text

nav.frame()
st.title("Train a model")
st.caption("Training runs as a background job: it keeps going if you close this tab, and its progress, "
           "result or error is here when you come back.")

registry = get_registry()
model_id = training.pick_model(registry)
if model_id is None:
    st.stop()

try:
    model = registry.load_model_instance(model_id)
except BayesCoreError as exc:
    st.error(f"Model {model_id} cannot be loaded: {safe_text(exc, MESSAGE_CHARS, multiline=True)}")
    st.stop()

meta = model.metadata
if meta.description:
    st.caption(meta.description)

training.submit_form(model)

st.subheader("Jobs")
training.jobs_panel(model_id)
