"""Catalogue sections: model cards, filters, broken-config panel and a model's details dialog.

Details open in a dialog over the card the analyst is looking at (a side panel at the top of a
long page opened thousands of pixels above a lower card). ``?model=<id>`` opens the same dialog
once per visit, so a shared link still lands on the model's details.
"""

from __future__ import annotations

import textwrap
from typing import Any, Iterable

import pandas as pd
import streamlit as st

from bayes_core import artifacts
from bayes_core.config import ModelMetadata
from bayes_core.errors import BayesCoreError
from bayes_core.registry import ConfigProblem, resolve_model_class
from bayes_core.runs import evaluation, labels, refs
from ui import nav
from ui.text import safe_bullets, safe_text

STATUS_BADGES = {"active": ("Active", "green"), "beta": ("BETA", "orange"), "deprecated": ("Deprecated", "gray")}
_DETAILS_SHOWN = "catalogue_details_shown"  # the model whose details this session last opened
VERDICT_BADGES = {"good": ("Converged", "green", ":material/check_circle:"),
                  "warning": ("Warnings", "orange", ":material/warning:"),
                  "problem": ("Problems", "red", ":material/error:"),
                  "approximate": ("Approximate fit (ADVI)", "violet", ":material/speed:"),
                  "unreadable": ("Unreadable", "red", ":material/broken_image:")}


def filter_entries(entries: Iterable[dict[str, Any]], show_deprecated: bool, tags: list[str], text: str
                   ) -> list[dict[str, Any]]:
    """Entries of ``get_all_models_with_status()`` kept by status, all chosen tags and a text search."""
    needle = text.strip().lower()
    out = []
    for entry in entries:
        meta: ModelMetadata = entry["metadata"]
        if meta.status == "deprecated" and not show_deprecated:
            continue
        if tags and not set(tags) <= set(meta.tags):
            continue
        haystack = " ".join([meta.model_id, meta.name, meta.description, meta.author, *meta.tags]).lower()
        if needle and needle not in haystack:
            continue
        out.append(entry)
    return out


def last_verdict(entry: dict[str, Any]) -> str | None:
    """The last run's verdict, "unreadable" for a damaged run (``last_problem`` says why), None untrained."""
    if entry["last_status"] == artifacts.UNREADABLE:
        return artifacts.UNREADABLE
    return entry["last_verdict"]


def render_config_problems(problems: list[ConfigProblem]) -> None:
    if not problems:
        return
    with st.expander(f":red[:material/error: {len(problems)} model config(s) could not be loaded]", expanded=True):
        st.caption("The other models work normally. Fix the files below and press **Reload configs**.")
        for problem in problems:
            st.error(f"**{safe_text(problem.path, 300)}**\n\n" + safe_bullets(problem.messages))


def render_card(entry: dict[str, Any]) -> None:
    meta: ModelMetadata = entry["metadata"]
    with st.container(border=True):
        text, badge_colour = STATUS_BADGES[meta.status]
        st.markdown(f"#### {meta.name}")
        st.markdown(f":{badge_colour}-badge[{text}] :gray-badge[v{meta.version}] "
                    + " ".join(f":blue-badge[{t}]" for t in meta.tags))
        st.caption(f"`{meta.model_id}`" + (f" · by {meta.author}" if meta.author else ""))
        if meta.description:
            st.write(meta.description)
        verdict = last_verdict(entry)
        if verdict is None:
            st.markdown(":gray-badge[:material/hourglass_empty: Not trained yet]")
        else:
            label, colour, icon = VERDICT_BADGES.get(verdict, (verdict, "gray", ":material/help:"))
            if verdict == artifacts.UNREADABLE:
                which = f"Last run `{entry['last_run_id']}`" if entry["last_run_id"] else "Runs"
                st.markdown(f":{colour}-badge[{icon} {label}] {which}: {safe_text(entry['last_problem'], 300)}")
            else:
                when = (entry["last_trained"] or "")[:16].replace("T", " ")
                st.markdown(f":{colour}-badge[{icon} {label}] Last run {when} UTC · `{entry['last_run_id']}`")
        production = production_line(meta.model_id)
        if production:
            st.caption(production)
        if st.button("Details", key=f"details_{meta.model_id}", icon=":material/info:"):
            st.query_params["model"] = meta.model_id
            st.session_state["selected_model"] = meta.model_id
            st.session_state[_DETAILS_SHOWN] = meta.model_id  # opened here: a rerun must not reopen it
            show_details(meta)
        nav.page_links(meta.model_id, per_row=2)  # no run: each page opens the default (production first)


def production_line(model_id: str) -> str | None:
    """One small line: the run aliased 'production' and its stored evaluation headline (never computed
    here: the catalogue stays fast); None when no run holds the alias."""
    found, _damage = labels.read_or_error(model_id)
    run_id = found.aliases.get(refs.DEFAULT_ALIAS)
    if not run_id:
        return None
    try:
        stored = evaluation.stored(artifacts.Run(model_id, run_id))
    except BayesCoreError as exc:
        return f":material/verified: Production `{run_id}` · :red[cannot be read: {safe_text(exc, 200)}]"
    headline = safe_text(stored["headline"], 200) if stored else "not evaluated yet"
    return f":material/verified: Production `{run_id}` · {headline}"


def details_requested_by_url(model_ids: Iterable[str]) -> str | None:
    """The model whose details a ``?model=`` link asks for, once per link (not on every rerun)."""
    requested = st.query_params.get("model")
    if requested in set(model_ids) and st.session_state.get(_DETAILS_SHOWN) != requested:
        st.session_state[_DETAILS_SHOWN] = requested
        return requested
    return None


def _details_closed() -> None:
    """Closing the dialog drops ``?model=`` so that the address no longer asks for it."""
    st.session_state.pop(_DETAILS_SHOWN, None)
    st.query_params.pop("model", None)


def show_details(meta: ModelMetadata) -> None:
    """The details of ``meta`` in a large dialog over the page."""
    st.dialog(meta.name, width="large", icon=":material/info:", on_dismiss=_details_closed)(render_detail)(meta)


def inference_table(meta: ModelMetadata) -> pd.DataFrame:
    """The prediction form's fields, one row each (text columns: shown wrapped in a static table)."""
    rows = []
    for p in meta.inference_params:
        if p.type in ("integer", "float"):
            allowed = f"{'' if p.min_value is None else f'{p.min_value:g}'} … {'' if p.max_value is None else f'{p.max_value:g}'}"
        elif p.type == "select":
            allowed = "from the trained run" if p.options_from_run else ", ".join(map(str, p.options or []))
        else:
            allowed = ""
        rows.append({"name": p.name, "label": p.display_label, "type": p.type + ("" if p.required else " (optional)"),
                     "default": "" if p.default is None else str(p.default), "allowed": allowed,
                     "help": p.help_text or ""})
    return pd.DataFrame(rows, columns=["name", "label", "type", "default", "allowed", "help"])


def model_definition(meta: ModelMetadata) -> str:
    """The model class's declared ``definition`` (Markdown with math), dedented; "" when none."""
    return textwrap.dedent(resolve_model_class(meta.model_class).definition).strip()


@st.cache_data(max_entries=32, show_spinner="Building the model graph…")
def model_graph_source(model_id: str, config_hash: str | None) -> str:
    """DOT source of the model's DAG on its example data (imports PyMC: only on demand)."""
    from ui import resources

    return resources.model(model_id).graph().source


def render_detail(meta: ModelMetadata) -> None:
    st.caption(f"`{meta.model_id}` · version {meta.version}")
    if meta.description:
        st.write(meta.description)
    definition = model_definition(meta)
    st.markdown("**Model definition**")
    if definition:
        st.markdown(definition)
    else:
        st.caption("This model declares no definition.")
    st.markdown("**Inference parameters** (the prediction form)")
    st.table(inference_table(meta), hide_index=True)
    left, right = st.columns(2)
    with left:
        st.markdown("**Prior hyper-parameters**")
        st.dataframe(pd.DataFrame({"hyper-parameter": list(meta.priors), "value": list(meta.priors.values())}),
                     hide_index=True, width="stretch")
    with right:
        t = meta.training
        st.markdown("**Training defaults**")
        st.dataframe(pd.DataFrame({"setting": ["draws", "warm-up", "chains", "target_accept", "sampler", "device"],
                                   "value": [str(v) for v in (t.draws, t.tune, t.chains,
                                                              t.target_accept, t.sampler, t.device)]}),
                     hide_index=True, width="stretch")
    st.markdown("**Model graph (DAG)**")
    try:  # the graph saved with the newest readable run; a damaged run or graph is passed over
        latest = artifacts.newest_readable(artifacts.run_summaries(meta.model_id))
        dot = artifacts.Run(meta.model_id, latest).dag_dot if latest else None
    except BayesCoreError:
        latest, dot = None, None
    if dot is None and st.toggle("Build the model graph from the example data"):
        dot = model_graph_source(meta.model_id, meta.config_hash)
    if dot:
        st.graphviz_chart(dot, width="stretch")
    elif not latest:
        st.caption("No trained run yet: the graph is built from the example data on request.")
