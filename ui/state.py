"""Which model and run a page shows: carried in the URL (``?model=<id>&run=<ref>``).

A model in the URL is only ever compared with the registry; a run is a listed run id or a reference
resolved by ``bayes_core.runs.refs`` (which validates it before any path); one that matches nothing
is dropped with a visible notice (naming the references that exist) and never reaches a path. The selection is also
kept in session state, so moving through the sidebar (which drops the query string) keeps it.
"""

from __future__ import annotations

import streamlit as st

from bayes_core import artifacts
from bayes_core.errors import BayesCoreError
from bayes_core.runs import labels, refs
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


def select_model(label: str = "Model", include_deprecated: bool = False, *, key: str | None = None,
                 clears: tuple[str, ...] = ("run",)) -> str | None:
    """A model picker defaulting to the URL's model (a deprecated one reached by link is offered, marked);
    the choice is written back to the URL and ``clears`` names the URL parameters that belong to the
    previous model (a run, a check) and are dropped when it changes."""
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
        st.info("No models are registered. Add `model_configs/<model_id>/config.yaml` (see the README).")
        return None
    ids = list(choices)
    synced = f"_{key}_url_model"
    if key is not None and current in ids and st.session_state.get(synced) != current:
        # A keyed selectbox keeps its session value and ignores ``index``: a link that names another
        # model than the one last written to the URL must move it (the analyst's own pick must not).
        st.session_state[key] = current
    chosen = st.selectbox(label, ids, index=ids.index(current) if current in ids else 0,
                          format_func=choices.__getitem__, key=key)
    if key is not None:
        st.session_state[synced] = chosen
    if chosen != st.query_params.get("model"):
        if st.query_params.get("model") is not None:
            for name in clears:
                st.query_params.pop(name, None)
        st.query_params["model"] = chosen
    st.session_state[_MODEL_KEY] = chosen
    return chosen


def run_aliases(model_id: str) -> dict[str, list[str]]:
    """Each run's aliases (none when the registry file is damaged: the Runs page says so)."""
    found, _damage = labels.read_or_error(model_id)
    by_run: dict[str, list[str]] = {}
    for alias, run_id in sorted(found.aliases.items()):
        by_run.setdefault(run_id, []).append(alias)
    return by_run


def url_run(model_id: str, run_ids: list[str]) -> tuple[str | None, str | None]:
    """``(run id, reference)`` the URL's ``?run=`` names — a run id, ``latest``, ``latest-converged``,
    an alias or ``v<version>``, resolved by ``refs.resolve`` — else the run kept in session, else
    ``(None, None)``. A reference that names no run is shown with st.error and the known references."""
    raw = _url_value("run")
    if raw is None:
        kept = st.session_state.get(_RUN_KEY)
        return (kept, None) if kept in run_ids else (None, None)
    if raw in run_ids:  # a listed id, even a damaged one: the page then says why it cannot be shown
        return raw, raw
    try:
        run_id = refs.resolve(model_id, raw)
    except BayesCoreError as exc:
        st.error(f"Ignored the link's run “{safe_text(raw)}”: {safe_text(exc, MESSAGE_CHARS)}",
                 icon=":material/link_off:")
        st.query_params.pop("run", None)
        return None, None
    return (run_id, raw) if run_id in run_ids else (None, None)


def run_label(row: dict, aliases: list[str] | None = None) -> str:
    """A run picker's option: date · id · verdict · aliases; an unreadable run says so and why."""
    named = f" · {', '.join(aliases)}" if aliases else ""
    if row["status"] == artifacts.UNREADABLE:
        problem = row["problem"] if len(row["problem"]) <= 120 else row["problem"][:119] + "…"
        return f"{row['run_id']} · unreadable: {problem}{named}"
    created = (row["created_at"] or "")[:16].replace("T", " ")
    return f"{created} · {row['run_id']} · {row['verdict']}{named}"


def run_listing(model_id: str) -> list[dict] | None:
    """The model's runs, newest first, each readable or unreadable with why (``artifacts.run_summaries``);
    None, with the reason shown, when the runs folder itself cannot be read."""
    try:
        return artifacts.run_summaries(model_id)
    except BayesCoreError as exc:
        st.error(safe_text(exc, MESSAGE_CHARS), icon=":material/folder_off:")
        return None


def default_run(model_id: str, run_ids: list[str]) -> tuple[str, str]:
    """``refs.default_run`` (production → newest converged → newest), and why, in words."""
    try:
        run_id, why = refs.default_run(model_id)
    except BayesCoreError as exc:  # e.g. the runs folder became unreadable between two reads
        return run_ids[0], f"the newest run ({safe_text(exc, MESSAGE_CHARS)})"
    return (run_id, why) if run_id in run_ids else (run_ids[0], "the newest run")


def select_run(model_id: str, label: str = "Run", runs_page_hint: bool = True) -> str | None:
    """The run picker of every page: options "date · id · verdict · aliases", newest first; the run
    ``?run=<ref>`` names, else the one picked earlier, else ``refs.default_run``; a caption says which
    run is shown and why. None when the model has no run."""
    rows = run_listing(model_id)
    if rows is None:
        st.stop()
    if not rows:
        return None
    by_id = {row["run_id"]: row for row in rows}
    aliases = run_aliases(model_id)
    ids = list(by_id)
    linked, ref = url_run(model_id, ids)
    default, default_why = default_run(model_id, ids)
    current = linked or default
    chosen = st.selectbox(label, ids, index=ids.index(current),
                          format_func=lambda run_id: run_label(by_id[run_id], aliases.get(run_id)))
    if chosen == default:
        why = f"shown by default as {default_why}"
    elif chosen == linked and ref not in (None, linked):
        why = f"the link's “{safe_text(ref)}” names it"
    else:
        why = "picked here (by default the page shows the 'production' run, else the newest converged one)"
    verdict = by_id[chosen]["verdict"] or "unreadable"
    st.caption(f"Run `{chosen}` ({verdict}): {why}."
               + (" All runs, their aliases and comparisons: the **Runs** page." if runs_page_hint else ""))
    if ref is not None and chosen == linked:
        pass  # the link's reference (an alias, latest, ...) stays in the URL while it names the run shown
    elif chosen == default:  # no run in the URL: the link keeps meaning "the default run" (production...)
        st.query_params.pop("run", None)
    else:
        st.query_params["run"] = chosen
    if chosen == default:  # kept only when picked: a new 'production' run must show on the next visit
        st.session_state.pop(_RUN_KEY, None)
    else:
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
