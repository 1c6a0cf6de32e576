"""Cached loading of models and runs, keyed by model id + run id (a new run shows without restart).

``st.cache_resource`` holds shared objects (the loaded trace, posterior draws as numpy arrays);
``st.cache_data`` holds small copyable results (summaries, diagnostics, file bytes).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from bayes_core.artifacts import Run, delete_command
from bayes_core.base import BaseBayesianModel
from bayes_core.errors import BayesCoreError, CorruptRunError
from bayes_core.registry import get_registry
from ui.text import MESSAGE_CHARS, safe_text


@st.cache_resource(max_entries=16, show_spinner=False)
def _model(model_id: str, config_hash: str | None, priors: tuple[tuple[str, float], ...]) -> BaseBayesianModel:
    return get_registry().load_model_instance(model_id, priors=dict(priors) or None)


def model(model_id: str, priors: dict[str, float] | None = None) -> BaseBayesianModel:
    """A model instance; the config hash in the key makes an edited config take effect."""
    meta = get_registry().get_model_metadata(model_id)
    return _model(model_id, meta.config_hash, tuple(sorted((priors or {}).items())))


def open_model(model_id: str) -> BaseBayesianModel:
    """A fresh instance of the model a page configures (Training, Checks), not the shared cached one;
    a model that cannot be loaded is reported and the page stops there."""
    try:
        return get_registry().load_model_instance(model_id)
    except BayesCoreError as exc:
        st.error(f"Model {model_id} cannot be loaded: {safe_text(exc, MESSAGE_CHARS, multiline=True)}")
        st.stop()


@st.cache_resource(max_entries=8, show_spinner="Loading the run's trace…")
def run(model_id: str, run_id: str) -> Run:
    """A run with its trace loaded into memory (shared by every session)."""
    loaded = Run(model_id, run_id)
    loaded.idata  # noqa: B018 - load once here, not on first use inside a page
    return loaded


def open_run(model_id: str, run_id: str) -> Run:
    """The run a page shows, loaded and checked (trace, metadata, diagnostics, summary). A damaged run
    is reported with why and what to do, and the page stops there (its pickers stay usable)."""
    try:
        Run(model_id, run_id).check_files()  # first what listings check: the same words as the run picker
        loaded = run(model_id, run_id).check()
    except BayesCoreError as exc:
        st.error(f"This run cannot be shown. {safe_text(exc, MESSAGE_CHARS)}  \nPick another run above.",
                 icon=":material/broken_image:")
        if isinstance(exc, CorruptRunError):
            st.caption("To delete the damaged run, run in a terminal:")
            st.code(delete_command(model_id, run_id), language="bash")
        st.stop()
    return loaded


@st.cache_resource(max_entries=8, show_spinner=False)
def posterior(model_id: str, run_id: str) -> dict[str, Any]:
    """Posterior draws as numpy arrays ``{var: (chain, draw, *shape)}`` plus coordinates."""
    ds = run(model_id, run_id).idata["posterior"].to_dataset()
    arrays = {name: ds[name].values for name in ds.data_vars}
    coords = {name: [str(v) for v in ds[name].values] for name in ds.dims if name not in ("chain", "draw")}
    dims = {name: [d for d in ds[name].dims if d not in ("chain", "draw")] for name in ds.data_vars}
    return {"arrays": arrays, "coords": coords, "dims": dims}


@st.cache_data(max_entries=32, show_spinner=False)
def summary(model_id: str, run_id: str) -> pd.DataFrame:
    return Run(model_id, run_id).summary


@st.cache_data(max_entries=32, show_spinner=False)
def run_file_bytes(model_id: str, run_id: str, name: str) -> bytes:
    """Bytes of one of the run's files (``name`` is one of the artifacts constants, never user input)."""
    return (Run(model_id, run_id).path / name).read_bytes()
