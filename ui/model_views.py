"""Model-specific views below the generic predictions content (``ui/views/<model_id>.py``)."""

from __future__ import annotations

import importlib
import importlib.util
import logging

import streamlit as st

from bayes_core.artifacts import Run
from bayes_core.base import BaseBayesianModel
from bayes_core.config import MODEL_ID_PATTERN
from bayes_core.errors import BayesCoreError
from ui.text import MESSAGE_CHARS, safe_text

log = logging.getLogger("ui.model_views")


def view_module_name(model: BaseBayesianModel) -> str | None:
    """``ui.views.<model_id>`` when that module exists; the id comes from the registry's metadata."""
    model_id = model.model_id
    if not MODEL_ID_PATTERN.match(model_id):
        return None
    name = f"ui.views.{model_id}"
    return name if importlib.util.find_spec(name) is not None else None


def render_model_views(model: BaseBayesianModel, run: Run) -> None:
    """Call the model's ``render(model, run)``; a failing view is reported, the page keeps serving."""
    name = view_module_name(model)
    if name is None:
        return
    st.divider()
    st.header(f"{model.metadata.name}: model-specific views")
    try:
        importlib.import_module(name).render(model, run)
    except BayesCoreError as exc:  # e.g. a damaged report of the run: the message says what to do
        st.error(f"The model-specific view cannot be shown: {safe_text(exc, MESSAGE_CHARS)}", icon=":material/error:")
    except Exception as exc:  # one model's view must not take the generic page down
        log.exception("the model-specific view %s failed for run %s", name, getattr(run, "run_id", run))
        detail = safe_text(f"{type(exc).__name__}: {exc}", MESSAGE_CHARS)
        st.error(f"The model-specific view failed ({detail}). The rest of the page is unaffected. If the run's "
                 "reports were edited or damaged, train again; otherwise this is a bug: its traceback is in the "
                 "app's log.", icon=":material/error:")
