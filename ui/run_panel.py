"""One run on the Runs page: its evaluation, its labels edited in place (aliases, tags, note), the
reproducible bundle to download and deletion behind a confirmation.

Every change goes through ``bayes_core.runs`` (``labels``, ``history.delete``, ``bundle``), whose
messages are shown as they are; a change is confirmed once, after the page reran with it (so the
table above shows it too).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from bayes_core import artifacts
from bayes_core.errors import BayesCoreError, InvalidParametersError
from bayes_core.runs import bundle, evaluation, history, labels
from ui.runs_table import verdict_chip
from ui.text import MESSAGE_CHARS, safe_text

_FLASH = "runs_page_flash"  # a confirmation to show after the rerun that made the change visible
_CONFIRM = "runs_page_confirm_delete"  # the run whose deletion waits for confirmation


def _message(exc: BayesCoreError) -> str:
    if isinstance(exc, InvalidParametersError):
        return "; ".join(f"{k}: {v}" for k, v in exc.errors.items())
    return str(exc)


def _done(text: str) -> None:
    st.session_state[_FLASH] = text
    st.rerun()


def show_flash() -> None:
    text = st.session_state.pop(_FLASH, None)
    if text:
        st.success(text, icon=":material/check:")


def parse_tags(text: str) -> tuple[dict[str, str], list[str]]:
    """``key=value`` lines → tags, and the lines that are not of that form."""
    tags, bad = {}, []
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            bad.append(line.strip())
        else:
            tags[key.strip()] = value.strip()
    return tags, bad


def apply_labels(model_id: str, run_id: str, row: dict[str, Any], alias: str, removed: list[str], tags_text: str,
                 note: str) -> tuple[list[str], list[str]]:
    """Apply the form's changes through ``runs.labels``: ``(what changed, errors)``. Each change is
    tried on its own, so one bad tag does not lose the note."""
    done, errors = [], []
    new_tags, bad = parse_tags(tags_text)
    errors += [f"tag: {b} is not KEY=VALUE" for b in bad]  # made safe where shown, once
    old_tags = row.get("tags") or {}
    steps = [(f"tag {k}", lambda k=k, v=v: labels.set_tag(model_id, run_id, k, v))
             for k, v in new_tags.items() if old_tags.get(k) != v]
    steps += [(f"tag {k} removed", lambda k=k: labels.set_tag(model_id, run_id, k, ""))
              for k in old_tags if k not in new_tags]
    if note.strip() != (row.get("note") or ""):
        steps.append(("note", lambda: labels.set_note(model_id, run_id, note)))
    steps += [(f"alias {a} removed", lambda a=a: labels.remove_alias(model_id, a, reason="removed on the Runs page"))
              for a in removed]
    if alias.strip() and alias.strip() not in (row.get("aliases") or []):
        steps.append((f"alias {alias.strip()}", lambda: labels.set_alias(model_id, alias.strip(), run_id)))
    for what, step in steps:
        try:
            result = step()
        except BayesCoreError as exc:
            errors.append(_message(exc))
            continue
        if isinstance(result, dict) and result.get("action") == "moved":
            what += f" (moved here from run {result['previous']})"
        done.append(what)
    return done, errors


def labels_form(model_id: str, run_id: str, row: dict[str, Any]) -> None:
    with st.form(f"labels_{run_id}"):
        st.markdown("**Labels**")
        left, right = st.columns(2)
        alias = left.text_input("Set an alias", placeholder="e.g. production or candidate", key=f"alias_{run_id}",
                                help="One run per alias per model: setting an alias that another run holds moves it "
                                     "here (the move is recorded). Pages open the 'production' run by default.")
        removed = right.multiselect("Remove aliases", row.get("aliases") or [], placeholder="none",
                                    key=f"unalias_{run_id}")
        tags = left.text_area("Tags (one KEY=VALUE per line)", "\n".join(f"{k}={v}" for k, v in
                                                                       (row.get("tags") or {}).items()), height=110,
                             key=f"tags_{run_id}")
        note = right.text_area("Note", row.get("note") or "", height=110, max_chars=labels.MAX_NOTE,
                               key=f"note_{run_id}")
        saved = st.form_submit_button("Save labels", icon=":material/save:", key=f"save_labels_{run_id}")
    if saved:
        done, errors = apply_labels(model_id, run_id, row, alias, removed, tags, note)
        for error in errors:
            st.error(safe_text(error, MESSAGE_CHARS), icon=":material/error:")
        if done and not errors:
            _done(f"Run {run_id}: saved " + ", ".join(done) + ".")
        elif not done and not errors:
            st.info("Nothing changed.")


def evaluation_section(run: artifacts.Run, row: dict[str, Any]) -> None:
    if row.get("evaluation"):
        st.markdown(f"**Evaluation:** {safe_text(row['evaluation'], 300)}")
        return
    st.caption("Not evaluated yet (a run trained before evaluations, or from a notebook).")
    if st.button("Compute its evaluation (PSIS-LOO, LOO-PIT)", key=f"evaluate_{run.run_id}",
                 icon=":material/calculate:"):
        try:
            with st.spinner("Computing PSIS-LOO and LOO-PIT…"):
                evaluation.evaluate(run)
        except BayesCoreError as exc:
            st.error(safe_text(exc, MESSAGE_CHARS), icon=":material/error:")
            return
        _done(f"Run {run.run_id}: evaluated.")


def download_section(model_id: str, run_id: str, readable: bool) -> None:
    st.download_button("Download reproducible bundle (.zip)", lambda: bundle.export_bytes(model_id, run_id)[1],
                       f"{model_id}-{run_id}.zip", "application/zip", key=f"bundle_{run_id}",
                       icon=":material/folder_zip:", on_click="ignore", disabled=not readable,
                       help="Trace, summary, diagnostics, evaluation, metadata, config snapshot, training data, "
                            "package lock list and a README; manifest.json holds every file's SHA-256. Reproduce "
                            "with `python -m bayes_core runs reproduce FILE.zip`.")


def delete_section(model_id: str, run_id: str, row: dict[str, Any]) -> None:
    if st.session_state.get(_CONFIRM) != run_id:
        if st.button("Delete this run…", key=f"delete_{run_id}", icon=":material/delete:"):
            st.session_state[_CONFIRM] = run_id
            st.rerun()
        return
    with st.container(border=True):
        held = ", ".join(row.get("aliases") or [])
        st.warning(f"Delete run `{run_id}` for good? Its folder (trace, data snapshot, evaluation) is removed "
                   "and cannot be recovered; download its bundle first to keep a copy."
                   + (f" It holds the alias(es) {safe_text(held, 200)}." if held else ""), icon=":material/delete:")
        force = st.checkbox("Force: delete even if it holds an alias or a queued job trains on its data",
                            key=f"force_{run_id}")
        confirm, cancel = st.columns(2)
        if cancel.button("Cancel", key=f"cancel_delete_{run_id}"):
            st.session_state.pop(_CONFIRM, None)
            st.rerun()
        if confirm.button("Delete permanently", key=f"confirm_delete_{run_id}", type="primary",
                          icon=":material/delete_forever:"):
            try:
                result = history.delete(model_id, run_id, force=force)
            except BayesCoreError as exc:
                st.error(safe_text(exc, MESSAGE_CHARS), icon=":material/block:")
                st.caption("Move or remove its aliases above, or tick **Force** to delete it anyway.")
                return
            st.session_state.pop(_CONFIRM, None)
            st.session_state.pop("selected_run", None)
            st.query_params.pop("run", None)
            removed = result.get("aliases_removed") or []
            _done(f"Run {run_id} deleted" + (f" (aliases removed: {', '.join(removed)})" if removed else "") + "."
                  + (f" {result['warning']}" if result.get("warning") else ""))


def render(model_id: str, run_id: str, row: dict[str, Any]) -> None:
    """The selected run's panel (``row``: its ``history.list_rows`` row)."""
    readable = row.get("verdict") != "unreadable"
    st.markdown(f"{verdict_chip(row.get('verdict'))} `{run_id}` "
                + " ".join(f":blue-badge[:material/sell: {safe_text(a)}]" for a in row.get("aliases") or []))
    if readable:
        evaluation_section(artifacts.Run(model_id, run_id), row)
    else:
        st.error(safe_text(row.get("problem") or "This run cannot be read.", MESSAGE_CHARS),
                 icon=":material/broken_image:")
    labels_form(model_id, run_id, row)
    left, right = st.columns(2)
    with left:
        download_section(model_id, run_id, readable)
    with right:
        delete_section(model_id, run_id, row)
