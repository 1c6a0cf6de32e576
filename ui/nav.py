"""Page paths and links between pages, carrying the selected model and run in the URL."""

from __future__ import annotations

from typing import Callable

import streamlit as st
from streamlit.errors import StreamlitAPIException

CATALOGUE = "pages/catalogue.py"
PRIOR_PREDICTIVE = "pages/prior_predictive.py"
TRAINING = "pages/training.py"
DIAGNOSTICS = "pages/diagnostics.py"
PREDICTIONS = "pages/predictions.py"
RUNS = "pages/runs.py"

# (path, label, icon) in the order an analyst works through a model.
MODEL_PAGES = [
    (PRIOR_PREDICTIVE, "Prior predictive", ":material/query_stats:"),
    (TRAINING, "Train", ":material/model_training:"),
    (RUNS, "Runs", ":material/history:"),
    (DIAGNOSTICS, "Diagnostics", ":material/monitor_heart:"),
    (PREDICTIONS, "Predictions", ":material/online_prediction:"),
]


def lazy_tabs(tabs: dict[str, Callable[[], None]]) -> None:
    """Tabs of which only the open one runs and is drawn (a page's other plots, DAG and tables are
    not computed on every load); the open tab is in the URL (``tab=<label>``), so a link opens it."""
    for tab, draw in zip(st.tabs(list(tabs), key="tab", bind="query-params"), tabs.values()):
        if tab.open:
            with tab:
                draw()


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


# The app's navigation, by section: (path, title, icon). The catalogue is the default page.
SECTIONS = {
    "Models": [(CATALOGUE, "Catalogue", ":material/view_module:")],
    "Before training": [(PRIOR_PREDICTIVE, "Prior predictive", ":material/query_stats:"),
                        ("pages/checks.py", "Checks", ":material/fact_check:")],
    "Train": [(TRAINING, "Training", ":material/model_training:"),
              (RUNS, "Runs", ":material/history:")],
    "After training": [(DIAGNOSTICS, "Diagnostics", ":material/monitor_heart:"),
                       (PREDICTIONS, "Predictions", ":material/online_prediction:")],
}


def page_config() -> None:
    st.set_page_config(page_title="Bayesian model workbench", page_icon=":material/insights:", layout="wide")


def route() -> None:
    """The router (``streamlit_app.py``): every page of ``SECTIONS``; Streamlit's own menu hidden,
    because ``frame()`` draws the menu (see there why)."""
    page_config()
    pages = {section: [st.Page(path, title=title, icon=icon, default=path == CATALOGUE)
                       for path, title, icon in entries] for section, entries in SECTIONS.items()}
    st.navigation(pages, position="hidden").run()


def frame() -> None:
    """Page config and the sidebar menu, drawn by every page itself (first line of each page).

    Streamlit runs an app in its legacy multipage mode while a ``pages/`` folder sits next to the
    entry point, until ``st.navigation`` has run once in the process: on a fresh server, a shared
    link such as ``/predictions?model=...`` opened first runs that page bare, without the router,
    and Streamlit would show its automatic file-name menu. The project keeps its ``pages/`` folder,
    so it answers with public means only: ``client.showSidebarNavigation = false`` in
    ``.streamlit/config.toml`` hides the automatic menu (its documented purpose), and each page
    draws the page config and this menu itself, so a page looks the same routed or bare.
    tests/e2e/test_browser.py opens a deep link on a cold server and fails if a legacy menu appears.
    """
    page_config()
    menu = st.sidebar.empty()
    try:
        with menu.container():
            for section, entries in SECTIONS.items():
                st.caption(section)
                for path, title, icon in entries:
                    st.page_link(path, label=title, icon=icon)
    except StreamlitAPIException:  # the page runs on its own (a page test): there are no other pages
        menu.empty()
