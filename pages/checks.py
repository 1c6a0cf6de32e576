"""Checks: simulation-based calibration of a model — start it as a background job, follow it, read
stored checks. Deep link: ``?model=<id>&check=<check id>``."""

import streamlit as st

from ui import checks_view, nav, resources, state
from ui.text import MESSAGE_CHARS, safe_text

nav.frame()
st.title("Model checks")
st.caption("Simulation-based calibration: do the model's fits recover parameters drawn from its own prior? "
           "Each check fits many simulated data sets in the background; its result is stored beside the runs.")

model_id = state.select_model(key="checks_model", clears=("check",))
if model_id is None:
    st.stop()
model = resources.open_model(model_id)

if model.sbc_unavailable:
    st.warning(f"SBC cannot check {safe_text(model.metadata.name)}: {safe_text(model.sbc_unavailable, MESSAGE_CHARS)}")
    st.stop()

st.subheader("Start a check")
checks_view.start_form(model)
checks_view.jobs_panel(model_id)

st.subheader("Stored checks")
check_id = checks_view.pick_check(model_id)
if check_id is not None:
    checks_view.show_check(model_id, check_id)
