"""Entry point: page config and navigation only. Pages live in pages/, shared helpers in ui/."""

import streamlit as st

from ui import nav

st.set_page_config(page_title="Bayesian model workbench", page_icon=":material/insights:", layout="wide")

pages = {
    "Models": [st.Page(nav.CATALOGUE, title="Catalogue", icon=":material/view_module:", default=True)],
    "Before training": [st.Page(nav.PRIOR_PREDICTIVE, title="Prior predictive", icon=":material/query_stats:")],
    "Train": [st.Page(nav.TRAINING, title="Training", icon=":material/model_training:")],
    "After training": [
        st.Page(nav.DIAGNOSTICS, title="Diagnostics", icon=":material/monitor_heart:"),
        st.Page(nav.PREDICTIONS, title="Predictions", icon=":material/online_prediction:"),
    ],
}
st.navigation(pages).run()
