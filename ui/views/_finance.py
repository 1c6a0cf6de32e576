"""Shared pieces of the finance models' views (not a view itself: no model id starts with '_')."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from bayes_core.artifacts import Run
from bayes_core.csvio import to_csv_bytes
from bayes_core.finance import Fallback
from ui.text import MESSAGE_CHARS, safe_text


def fallback_banner(run: Run) -> Fallback:
    """A warning when the run's estimates come from the fallback method, not MCMC."""
    fallback = Fallback.from_dict(run.diagnostics.get("fallback"))
    if fallback.used:
        st.warning(f"These results come from the **{safe_text(fallback.method)} fallback**, not the Bayesian posterior: "
                   f"{safe_text(fallback.reason, MESSAGE_CHARS)}. Every prediction row and CSV carries "
                   "`fallback = True`.",
                   icon=":material/warning:")
    return fallback


def table_with_download(table: pd.DataFrame, run: Run, name: str, index: bool = False) -> None:
    """Show a result table with its CSV download (file named after the model, table and run)."""
    st.dataframe(table, hide_index=not index, width="stretch")
    st.download_button(f"Download {name.replace('_', ' ')} (CSV)", to_csv_bytes(table, index=index),
                       f"{run.model_id}_{name}_{run.run_id}.csv", "text/csv", key=f"{run.run_id}_{name}_csv",
                       icon=":material/download:", on_click="ignore")
