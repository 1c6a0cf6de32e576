"""Prior predictive: how the priors' choices show in simulated data, before any training."""

import streamlit as st

from bayes_core.errors import BayesCoreError, DataValidationError
from ui import model_options, nav, prior, resources, state, uploads
from ui.text import MESSAGE_CHARS, safe_text

nav.frame()
st.title("Prior predictive check")
st.caption("Data simulated from the priors alone. Move a prior and see whether the simulated data "
           "still covers what is plausible for your data, before spending time on training.")

model_id = state.select_model()
if model_id is None:
    st.stop()
meta = state.registry().get_model_metadata(model_id)
model = resources.model(model_id)
nav.page_links(model_id, exclude=nav.PRIOR_PREDICTIVE)

source, settings = st.columns([2, 1])
with source:
    use_upload = st.radio("Data", ["Example data", "Upload a CSV"], horizontal=True) == "Upload a CSV"
    # Options that decide the data's columns (e.g. the regression's target) are set here, never guessed.
    depends = model_options.dependence_note(model)
    model = model_options.with_options(model, *model_options.inputs(meta, f"prior_{model_id}_opt", depends, heading=""))
    if model is None:
        st.stop()
    st.caption(model.data_schema().description)
    data_csv = None
    if use_upload:
        upload = uploads.csv_uploader("CSV file", key=f"prior_{model_id}_upload")
        if upload is None:
            st.info("Upload a CSV with the columns above to compare against your own data.")
            st.stop()
        data_csv = upload.getvalue()
        try:
            model.load_data(data_csv)
        except DataValidationError as exc:
            uploads.problems_box(f"{uploads.shown_name(upload)} cannot be used ({uploads.ROW_NUMBERS}):",
                                 exc.problems)
            st.stop()
with settings:
    draws = st.select_slider("Prior draws", [100, 250, 500, 1000, 2000], value=500)
    seed = st.number_input("Seed", min_value=0, value=0, step=1)


@st.fragment
def hyper_parameters_and_plots(model, data_csv: bytes | None, draws: int, seed: int) -> None:
    """Sliders, sampling and plots as one fragment: a slider step reruns only this part, not the page
    (model loading, options and upload above stay as they were)."""
    st.subheader("Prior hyper-parameters")
    priors = prior.prior_inputs(model.metadata)
    try:
        with st.spinner("Sampling the prior predictive…"):
            result = prior.sample(model.model_id, model.metadata.config_hash, tuple(sorted(priors.items())),
                                  tuple(sorted(model.options.items())), data_csv, draws, seed)
    except BayesCoreError as exc:
        st.error(safe_text(exc, MESSAGE_CHARS, multiline=True))
        return
    except (ValueError, FloatingPointError) as exc:  # e.g. a prior value the distribution rejects
        st.error(f"Sampling failed with these priors: {safe_text(exc, MESSAGE_CHARS, multiline=True)}")
        return
    prior.render(result, model.headline_vars, model.outcome_kind)


hyper_parameters_and_plots(model, data_csv, int(draws), int(seed))
