"""Page paths and links between pages, carrying the selected model and run in the URL."""

from __future__ import annotations

import streamlit as st

CATALOGUE = "pages/catalogue.py"
PRIOR_PREDICTIVE = "pages/prior_predictive.py"
TRAINING = "pages/training.py"
DIAGNOSTICS = "pages/diagnostics.py"
PREDICTIONS = "pages/predictions.py"

# (path, label, icon) in the order an analyst works through a model.
MODEL_PAGES = [
    (PRIOR_PREDICTIVE, "Prior predictive", ":material/query_stats:"),
    (TRAINING, "Train", ":material/model_training:"),
    (DIAGNOSTICS, "Diagnostics", ":material/monitor_heart:"),
    (PREDICTIONS, "Predictions", ":material/online_prediction:"),
]


def url_params(model_id: str | None, run_id: str | None = None) -> dict[str, str]:
    params = {}
    if model_id:
        params["model"] = model_id
    if model_id and run_id:
        params["run"] = run_id
    return params


def page_links(model_id: str, run_id: str | None = None, exclude: str | None = None, per_row: int = 4) -> None:
    """Links to the model's pages (the current page left out), ``per_row`` to a row: narrow
    containers such as catalogue cards use two so that labels are not cut off."""
    pages = [p for p in MODEL_PAGES if p[0] != exclude]
    for start in range(0, len(pages), per_row):
        row = pages[start:start + per_row]
        for col, (path, label, icon) in zip(st.columns(min(per_row, len(pages))), row):
            with col:
                st.page_link(path, label=label, icon=icon, query_params=url_params(model_id, run_id))


def require_router() -> None:
    """Make sure the page runs under ``streamlit_app.py``'s ``st.navigation``.

    Streamlit treats a ``pages/`` folder as a legacy (v1) multipage app until ``st.navigation``
    has run once in the process: a cold server whose first visitor opens a shared link such as
    ``/predictions?model=...`` would run that page bare (no page config, file-name sidebar) for
    everyone. Switching the legacy mode off and rerunning routes the request through the router.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
