"""Prediction sections: the generated form, batch CSV, results and the gated CSV download."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from bayes_core.artifacts import Run
from bayes_core.base import FIT_PATHS, BaseBayesianModel
from bayes_core.csvio import to_csv_bytes
from bayes_core.data import read_csv
from bayes_core.diagnostics import APPROXIMATE, PROBLEM, WARNING
from bayes_core.errors import BayesCoreError, DataValidationError
from bayes_core.runs import refs
from ui import forms, uploads
from ui.text import MESSAGE_CHARS, safe_text

NOT_CONVERGED = "run did not converge: treat these predictions with caution"
APPROXIMATE_WARNING = "approximate fit (ADVI), not MCMC: treat these predictions with caution"
#: Verdicts whose predictions are gated: shown with a warning, every CSV row marked, download acknowledged.
GATED = {PROBLEM: NOT_CONVERGED, APPROXIMATE: APPROXIMATE_WARNING}
ACKNOWLEDGE = {PROBLEM: "I understand these predictions come from a run that did not converge.",
               APPROXIMATE: "I understand these predictions come from an approximate fit, not MCMC."}
STATIC_ROWS = 30  # results up to this many rows are a static table that wraps; more scroll in a grid
PROVENANCE = ("run_id", "model_id", "model_version", "convergence_verdict")


def _cell(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """What fits on the page: provenance (the same on every row, stated in a caption and kept in
    the CSV) and empty warnings left out; a single prediction turned into ``output | value`` rows,
    so a wide result reads top to bottom instead of running off the right edge."""
    shown = table.drop(columns=[c for c in PROVENANCE if c in table.columns])
    if "method" in shown.columns and shown["method"].isin(FIT_PATHS).all():  # provenance, not the model's own
        shown = shown.drop(columns="method")
    if "warning" in shown.columns and not shown["warning"].astype(str).str.strip().any():
        shown = shown.drop(columns="warning")
    if len(shown) == 1:
        row = shown.iloc[0]
        return pd.DataFrame({"output": list(shown.columns), "value": [_cell(v) for v in row]})
    return shown


def predictions_csv(table: pd.DataFrame, verdict: str) -> bytes:
    """Inputs, outputs and provenance (run id, model version, verdict, method); rows of a run that did
    not converge or is approximate marked."""
    table = table.copy()
    if verdict in GATED:
        table["convergence_warning"] = GATED[verdict]
    return to_csv_bytes(table)


def convergence_gate(run: Run) -> None:
    """A visible note above the predictions of a run that is not plainly converged MCMC: verdict
    "problem" (the download is gated), verdict "warning", or draws that are not the MCMC posterior."""
    if run.verdict == PROBLEM:
        st.warning("This run did **not** converge (see Diagnostics). Predictions are shown, but they may be "
                   "wrong; the CSV marks every row, and you must acknowledge this before downloading.",
                   icon=":material/warning:")
    elif run.verdict == APPROXIMATE:
        st.warning("This run is an **approximate fit** (ADVI), a quick look before MCMC: its intervals are "
                   "typically too narrow. Predictions are shown, but the CSV marks every row, and you must "
                   "acknowledge this before downloading. Train with method 'mcmc' for predictions to rely on.",
                   icon=":material/warning:")
    elif run.verdict == WARNING:
        st.warning("This run's convergence diagnostics have **warnings** (R-hat or ESS near their limits, or a few "
                   "divergences; see Diagnostics). Its predictions are usable, but tail probabilities are less "
                   "certain than they look; train longer for decisions that rest on them. The CSV records "
                   "`convergence_verdict=warning`.", icon=":material/warning:")
    path = run.metadata.get("fit_path", "mcmc")
    if run.verdict != APPROXIMATE and path not in refs.CONVERGED_PATHS:
        st.warning(f"These predictions come from the **{safe_text(path)}** path "
                   f"({safe_text(run.metadata.get('fit_method') or 'unknown method')}), not from MCMC draws of the "
                   "posterior: treat their uncertainty as approximate.", icon=":material/warning:")


def download(table: pd.DataFrame, run: Run, file_name: str, key: str) -> None:
    """The CSV download; behind an acknowledgement when the run did not converge or is approximate."""
    allowed = True
    if run.verdict in GATED:
        allowed = st.checkbox(ACKNOWLEDGE[run.verdict], key=f"{key}_ack")
    st.download_button("Download predictions (CSV)", predictions_csv(table, run.verdict), file_name, "text/csv",
                       key=f"{key}_download", disabled=not allowed, icon=":material/download:", on_click="ignore")


def single_form(model: BaseBayesianModel, run: Run) -> None:
    """The form generated from the config's inference parameters; predicts only valid input."""
    state_key = f"prediction_{run.run_id}"
    with st.form(f"predict_{model.model_id}"):
        values, errors = forms.render_fields(model.get_inference_form_fields(run), f"predict_{model.model_id}",
                                             columns=2)
        submitted = st.form_submit_button("Predict", type="primary", icon=":material/play_arrow:")
    if submitted:
        ok, request_errors = model.validate_inference_params(values, run) if not errors else (False, {})
        if ok:
            try:
                st.session_state[state_key] = model.predict(values, run)
            except BayesCoreError as exc:
                st.error(safe_text(exc, MESSAGE_CHARS, multiline=True))
        else:
            forms.show_errors({k: v for k, v in request_errors.items() if k not in errors})
            st.session_state.pop(state_key, None)
            st.error("Fix the fields marked above; nothing was predicted.", icon=":material/error:")
    result = st.session_state.get(state_key)
    if result is not None:
        show_results(result, run, f"predictions_{model.model_id}_{run.run_id}.csv", "single")


def show_results(table: pd.DataFrame, run: Run, file_name: str, key: str) -> None:
    warnings = table["warning"] if "warning" in table.columns else pd.Series(dtype=str)
    for note in sorted({w for w in warnings if isinstance(w, str) and w}):
        st.info(safe_text(note, MESSAGE_CHARS), icon=":material/info:")  # may quote a request
    shown = display_table(table)
    if list(shown.columns) == ["output", "value"]:  # a static table sizes itself to its text: nothing cut off
        st.table(shown, hide_index=True, width="content")
    elif len(shown) <= STATIC_ROWS:
        # Headers with spaces wrap, so a dozen outputs fit the page's width instead of running off it.
        st.table(shown.map(_cell).rename(columns=lambda c: c.replace("_", " ")), hide_index=True)
    else:
        numbers = {c: st.column_config.NumberColumn(format="%.4g") for c in shown.columns
                   if pd.api.types.is_float_dtype(shown[c])}
        st.dataframe(shown, hide_index=True, width="stretch", column_config=numbers)
        st.caption(f"{len(shown.columns)} columns: scroll sideways for all of them.")
    st.caption(f"Run `{run.run_id}` · model version {safe_text(run.metadata.get('model_version', '?'))} · "
               f"convergence: {run.verdict} · method: {safe_text(run.metadata.get('fit_path', 'mcmc'))}. The CSV has every column, provenance included.")
    download(table, run, file_name, key)


def template_csv(model: BaseBayesianModel, run: Run) -> bytes:
    row = {f["name"]: f["default"] for f in model.get_inference_form_fields(run)}
    return to_csv_bytes(pd.DataFrame([row]))


def batch(model: BaseBayesianModel, run: Run) -> None:
    st.caption("One row per request; columns named after the inference parameters: "
               + ", ".join(f"`{p.name}`" for p in model.metadata.inference_params) + ".")
    st.download_button("Template CSV", template_csv(model, run), f"template_{model.model_id}.csv", "text/csv",
                       icon=":material/description:", on_click="ignore")
    upload = uploads.csv_uploader("Requests CSV", key=f"batch_{model.model_id}")
    if upload is None:
        return
    try:
        requests = read_csv(upload.getvalue())
        results, problems = model.predict_batch(requests, run)
    except DataValidationError as exc:
        uploads.problems_box(f"{uploads.shown_name(upload)} cannot be read ({uploads.ROW_NUMBERS}):", exc.problems)
        return
    except BayesCoreError as exc:
        uploads.problems_box(f"{uploads.shown_name(upload)} cannot be used:", [str(exc)])
        return
    if problems:
        st.error(f"{len({p['row'] for p in problems})} row(s) were not predicted ({uploads.ROW_NUMBERS}); "
                 "the table below names each problem.", icon=":material/error:")
        st.dataframe(pd.DataFrame(problems), hide_index=True, width="stretch")
    if len(results):
        st.success(f"{len(results)} of {len(requests)} row(s) predicted.")
        show_results(results, run, f"batch_predictions_{model.model_id}_{run.run_id}.csv", "batch")
