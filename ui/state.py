"""Which model and run a page shows: carried in the URL (``?model=<id>&run=<run_id>``).

A URL value is only ever compared with the registry and the model's existing run ids; one that
matches nothing is dropped with a visible notice and never reaches a path. The selection is also
kept in session state, so moving through the sidebar (which drops the query string) keeps it.
"""

from __future__ import annotations

import streamlit as st

from bayes_core import artifacts
from bayes_core.errors import BayesCoreError
from bayes_core.registry import ModelRegistry, get_registry
from ui.text import MESSAGE_CHARS, safe_text

_MODEL_KEY, _RUN_KEY = "selected_model", "selected_run"


def registry() -> ModelRegistry:
    """The process-wide registry (discovery cached in the core; the catalogue can refresh it)."""
    return get_registry()


def _url_value(name: str) -> str | None:
    value = st.query_params.get(name)
    return value if value else None


def url_model() -> str | None:
    """The registered model named in the URL (or kept in session), else None with a notice."""
    raw = _url_value("model")
    if raw is not None:
        if raw in registry():
            st.session_state[_MODEL_KEY] = raw
            return raw
        st.warning(f"Ignored the link's model “{safe_text(raw)}”: no such model is registered. "
                   "Pick one from the list instead.", icon=":material/link_off:")
        st.query_params.pop("model", None)
        st.query_params.pop("run", None)
        return None
    kept = st.session_state.get(_MODEL_KEY)
    return kept if kept in registry() else None


def select_model(label: str = "Model", include_deprecated: bool = False) -> str | None:
    """A model picker defaulting to the URL's model; the choice is written back to the URL."""
    reg = registry()
    choices = dict(reg.get_model_for_dropdown())
    current = url_model()
    if current and current not in choices:  # a deprecated model reached by a shared link
        meta = reg.get_model_metadata(current)
        choices[current] = f"{meta.name} [DEPRECATED]"
    if include_deprecated:
        choices.update({m: f"{meta.name} [DEPRECATED]" for m, meta in reg.get_all_models().items()
                        if m not in choices})
    if not choices:
        st.info("No models are registered. Add `model_configs/<model_id>/config.yaml`.")
        return None
    ids = list(choices)
    chosen = st.selectbox(label, ids, index=ids.index(current) if current in ids else 0,
                          format_func=choices.__getitem__)
    if chosen != st.query_params.get("model"):
        if st.query_params.get("model") is not None:
            st.query_params.pop("run", None)
        st.query_params["model"] = chosen
    st.session_state[_MODEL_KEY] = chosen
    return chosen


def url_run(model_id: str, run_ids: list[str] | None = None) -> str | None:
    """The URL's run if it is an existing run of ``model_id``; otherwise None (with a notice)."""
    raw = _url_value("run")
    run_ids = artifacts.list_run_ids(model_id) if run_ids is None else run_ids
    if raw is not None:
        if raw in run_ids:
            return raw
        st.warning(f"Ignored the link's run “{safe_text(raw)}”: model `{model_id}` has no such run; "
                   "showing the latest run instead.", icon=":material/link_off:")
        st.query_params.pop("run", None)
        return None
    kept = st.session_state.get(_RUN_KEY)
    return kept if kept in run_ids else None


def run_label(row: dict) -> str:
    """A run picker's option: when, id and verdict; an unreadable run says so and why."""
    if row["status"] == artifacts.UNREADABLE:
        problem = row["problem"] if len(row["problem"]) <= 120 else row["problem"][:119] + "…"
        return f"{row['run_id']} · unreadable: {problem}"
    created = (row["created_at"] or "")[:19].replace("T", " ")
    return f"{created} UTC · {row['run_id']} · {row['verdict']}"


def run_listing(model_id: str) -> list[dict] | None:
    """The model's runs, newest first, each readable or unreadable with why (``artifacts.run_summaries``);
    None, with the reason shown, when the runs folder itself cannot be read."""
    try:
        return artifacts.run_summaries(model_id)
    except BayesCoreError as exc:
        st.error(safe_text(exc, MESSAGE_CHARS), icon=":material/folder_off:")
        return None


def select_run(model_id: str, label: str = "Run") -> str | None:
    """A run picker, newest first, defaulting to the URL's run or the newest readable one; None if untrained."""
    rows = run_listing(model_id)
    if rows is None:
        st.stop()
    if not rows:
        return None
    by_id = {row["run_id"]: row for row in rows}
    current = url_run(model_id, list(by_id)) or artifacts.newest_readable(rows)
    chosen = st.selectbox(label, list(by_id), index=list(by_id).index(current),
                          format_func=lambda run_id: run_label(by_id[run_id]))
    st.query_params["run"] = chosen
    st.session_state[_RUN_KEY] = chosen
    return chosen


def select_model_and_run() -> tuple[str | None, str | None]:
    """Model and run pickers side by side (the run picker only when the model has runs)."""
    left, right = st.columns(2)
    with left:
        model_id = select_model()
    if model_id is None:
        return None, None
    with right:
        run_id = select_run(model_id)
    return model_id, run_id


def select_trained_run(page: str, no_run_message: str) -> tuple[str, str]:
    """Model and run pickers for a page that needs a trained run; without one, the page says why,
    links to training and stops. ``page`` is the calling page (left out of the page links)."""
    from ui import nav

    model_id, run_id = select_model_and_run()
    if model_id is None:
        st.stop()
    if run_id is None:
        st.info(no_run_message, icon=":material/hourglass_empty:")
        st.page_link(nav.TRAINING, label="Go to training", icon=":material/model_training:",
                     query_params=nav.url_params(model_id))
        st.stop()
    nav.page_links(model_id, run_id, exclude=page)
    return model_id, run_id
