"""Streamlit pieces of the training page: model choice, training form, data source, live job table.

Training never runs here: "Train model" submits a background job (``bayes_core.jobs``) and the job
table polls the job store in a fragment that re-runs every few seconds on its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitAPIException

from bayes_core import artifacts
from bayes_core.config import ModelMetadata
from bayes_core.errors import BayesCoreError, DataValidationError, InvalidParametersError
from bayes_core.jobs import Job, JobRequest, example_data, get_runner, run_data, uploaded_data
from bayes_core.settings import DEVICES, METHODS, SAMPLERS, TARGET_ACCEPT_BOUNDS, WHOLE_BOUNDS
from ui import model_options, nav, prior, state, uploads
from ui.text import MESSAGE_CHARS, safe_code, safe_text

REFRESH_S = 2
MAX_JOBS_SHOWN = 25
DATA_EXAMPLE, DATA_UPLOAD, DATA_RUN = "Example data", "Upload a CSV", "Data of an earlier run"
# Material icons ship with Streamlit; emoji render as empty boxes where the browser has no emoji font.
_STATE_ICONS = {"queued": ":gray[:material/hourglass_empty:]", "running": ":blue[:material/autorenew:]",
                "succeeded": ":green[:material/check_circle:]", "failed": ":red[:material/error:]",
                "cancelled": ":gray[:material/block:]"}
_VERDICT_ICONS = {"good": ":green[:material/check_circle:]", "warning": ":orange[:material/warning:]",
                  "problem": ":red[:material/error:]", "unreadable": ":red[:material/broken_image:]",
                  "deleted": ":gray[:material/delete:]"}


# -- model -------------------------------------------------------------------------------------
# -- form --------------------------------------------------------------------------------------
def training_settings_inputs(meta: ModelMetadata) -> dict[str, Any]:
    """Sampler settings with the model's defaults, bounded as ``bayes_core.settings`` bounds them
    (target_accept's ends are excluded there, and the core explains that)."""
    t, key = meta.training, f"train_{meta.model_id}_"
    c1, c2, c3 = st.columns(3)

    def whole(col, label: str, name: str, step: int):
        lo, hi = WHOLE_BOUNDS[name]
        return col.number_input(label, min_value=lo, max_value=hi, value=getattr(t, name), step=step, key=key + name)

    settings = {
        "draws": whole(c1, "Draws per chain", "draws", 100),
        "tune": whole(c2, "Warm-up draws per chain", "tune", 100),
        "chains": whole(c3, "Chains", "chains", 1),
        "target_accept": c1.number_input("Target acceptance", min_value=TARGET_ACCEPT_BOUNDS[0],
                                         max_value=TARGET_ACCEPT_BOUNDS[1], value=t.target_accept, step=0.01,
                                         format="%.2f", key=key + "target_accept",
                                         help="Higher (e.g. 0.95) takes smaller steps: fewer divergences, slower."),
        "seed": whole(c2, "Seed", "seed", 1),
    }
    settings["sampler"] = c3.selectbox("Sampler", SAMPLERS, index=SAMPLERS.index(t.sampler), key=key + "sampler",
                                       help="auto: nutpie on CPU, NumPyro when a GPU is visible.")
    settings["device"] = c1.selectbox("Device", DEVICES, index=DEVICES.index(t.device), key=key + "device",
                                      help="auto: the GPU when one is visible. gpu needs the CUDA build of JAX (see "
                                           "the README) and pays only on large models: a small one trains faster on "
                                           "the CPU (the count model: 27 s of GPU sampling against 0.3 s on 2 CPUs).")
    settings["method"] = c2.selectbox(
        "Method", METHODS, index=METHODS.index(t.method), key=key + "method",
        help="mcmc: NUTS, the posterior to rely on. approximate: ADVI in seconds for a first look (draws × chains "
             "draws from the approximation; warm-up, target acceptance and sampler unused); its run is marked "
             "approximate, gated on Predictions and left out of LOO comparisons.")
    return settings


def data_source(model, chosen) -> dict[str, Any] | None:
    """Choose the training data and check it with the chosen options (``chosen``: the model with
    them; None while they are invalid), one message per problem. Returns the job's data
    (``example_data()``, ``uploaded_data(...)``, ``run_data(...)``), or None while it is unusable.

    A model whose schema declares ``depends_on_options`` (its columns or rows follow the options)
    has every kind of data checked, the example data included; others only uploads (the example
    and earlier runs' data fit the schema they were made with; submitting checks them again)."""
    kind = st.radio("Training data", [DATA_EXAMPLE, DATA_UPLOAD, DATA_RUN], horizontal=True,
                    key=f"train_{model.model_id}_data")
    schema = (chosen or model).data_schema()
    depends = model_options.dependence_note(chosen or model)
    picked = _pick_data(model, kind, schema)
    if picked is None:
        return None
    data, source, name = picked
    if chosen is None:
        st.info("The data is checked once the model options below are valid.")
        return None
    if kind != DATA_UPLOAD and not depends:
        return data
    frame, problems = load_upload(chosen, source)
    if problems:
        heading = (f"{name} cannot be used for training ({uploads.ROW_NUMBERS}):" if kind == DATA_UPLOAD
                   else f"{name} cannot be used with these model options:")
        uploads.problems_box(heading, problems)
        return None
    checked = model_options.in_use(chosen, depends)
    st.success(f"{name}: {len(frame)} valid rows" + (f", checked with {checked}." if checked else "."))
    return data


def _pick_data(model, kind: str, schema) -> tuple[dict[str, Any], bytes | Path | None, str] | None:
    """The widgets of one kind of data → ``(job data, what load_data reads, its name on the page)``;
    None while nothing usable is chosen."""
    if kind == DATA_EXAMPLE:
        st.caption(f"Synthetic data with known truth ({', '.join(f'{k} = {v:g}' for k, v in model.true_parameters.items())}).")
        return example_data(), None, "The example data"
    if kind == DATA_UPLOAD:
        st.caption(schema.description or f"Columns: {', '.join(schema.column_names())}")
        upload = uploads.csv_uploader("CSV file", key=f"train_{model.model_id}_upload")
        if upload is None:
            return None
        content = upload.getvalue()
        return uploaded_data(content, upload.name), content, uploads.shown_name(upload)
    rows = state.run_listing(model.model_id)  # each run readable or unreadable (with why)
    if not rows:
        if rows is not None:
            st.info("This model has no earlier run yet: train on the example data or upload a CSV.")
        return None
    by_id, aliases = {row["run_id"]: row for row in rows}, state.run_aliases(model.model_id)
    run_id = st.selectbox("Earlier run", list(by_id), index=list(by_id).index(artifacts.newest_readable(rows)),
                          format_func=lambda rid: state.run_label(by_id[rid], aliases.get(rid)),
                          key=f"train_{model.model_id}_data_run")
    if by_id[run_id]["status"] == artifacts.UNREADABLE:
        st.error(f"Run {run_id} cannot be used: {safe_text(by_id[run_id]['problem'], MESSAGE_CHARS)}. Pick another "
                 f"run, or delete it: `{artifacts.delete_command(model.model_id, run_id)}`", icon=":material/error:")
        return None
    return run_data(run_id), artifacts.Run(model.model_id, run_id).path / artifacts.DATA_FILE, f"The data of run `{run_id}`"


def load_upload(model, payload):
    """Training data read and validated once (CSV bytes or path; None: the example data):
    ``(frame, [])``, or ``(None, every problem)``."""
    try:
        return model.load_data(payload), []
    except DataValidationError as exc:
        return None, exc.problems
    except BayesCoreError as exc:
        return None, [str(exc)]


def validate_upload(model, payload: bytes) -> list[str]:
    """Every problem of an uploaded CSV against the model's schema ([] when it is valid)."""
    return load_upload(model, payload)[1]


def priors_choice(meta: ModelMetadata) -> dict[str, float]:
    """The priors the job trains with: the config's, or those moved on the Prior predictive page
    (offered, on by default, with each value beside the config's)."""
    moved = prior.moved_priors(meta)
    if not moved:
        st.caption("Priors: the model's config values. Move them on the Prior predictive page to train with "
                   "others.")
        return {}
    listed = ", ".join(f"{safe_text(name)} = {value:g} (config {meta.priors[name]:g})" for name, value in moved.items())
    use = st.checkbox(f"Train with the priors moved on the Prior predictive page: {listed}", value=True,
                      key=f"train_{meta.model_id}_moved_priors",
                      help="Unticked, the job trains with the config's priors. The run records the priors it used.")
    return moved if use else {}


def submit_form(model) -> None:
    """Training data, model options and sampler settings, and "Train model". The options sit outside
    the form, below the data but run before it (the data's place is kept by a container), so the
    data is always checked with the options the job will be submitted with."""
    meta = model.metadata
    data_box = st.container()
    options, option_errors = model_options.inputs(meta, key_prefix=f"train_{meta.model_id}_opt")
    chosen = model_options.with_options(model, options, option_errors)
    with data_box:
        data = data_source(model, chosen)
    priors = priors_choice(meta)
    with st.form(f"train_form_{meta.model_id}"):
        st.markdown("**Sampler settings**")
        settings = training_settings_inputs(meta)
        clicked = st.form_submit_button("Train model", type="primary", key="train_submit")
    if not clicked:
        return
    if chosen is None:
        st.error("The job was not submitted: fix the model options marked above.")
        return
    if data is None:
        st.error("Choose usable training data first: its problems are listed under Training data above.")
        return
    try:
        job = get_runner().submit(JobRequest(meta.model_id, settings=settings, options=options, data=data,
                                             priors=priors))
    except InvalidParametersError as exc:
        st.error("The job was not submitted; fix these values:")
        for field, message in exc.errors.items():
            st.error(f"{safe_text(field)}: {safe_text(message, MESSAGE_CHARS)}")
        return
    except BayesCoreError as exc:
        st.error(f"The job was not submitted: {safe_text(exc, MESSAGE_CHARS, multiline=True)}")
        return
    st.success(f"Job {job.job_id} submitted. It runs in the background: follow it under Jobs below, "
               "or leave this page and come back.")


# -- jobs table ----------------------------------------------------------------------------------
def fmt_seconds(value: float | None) -> str:
    if value is None:
        return "–"
    value = int(round(value))
    if value < 60:
        return f"{value} s"
    minutes, seconds = divmod(value, 60)
    return f"{minutes} min {seconds:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


@st.cache_data(max_entries=512, show_spinner=False, ttl=60)
def run_verdict(model_id: str, run_id: str) -> tuple[str, str | None]:
    """A finished job's run: its verdict, "unreadable" (with why) or "deleted"."""
    try:
        row = artifacts.run_summary(model_id, run_id)
    except BayesCoreError:
        return "deleted", None
    return (row["verdict"], None) if row["status"] == artifacts.READABLE else (artifacts.UNREADABLE, row["problem"])


def diagnostics_link(model_id: str, run_id: str) -> None:
    try:
        st.page_link(nav.DIAGNOSTICS, label="Open diagnostics", icon=":material/monitor_heart:",
                     query_params={"model": model_id, "run": run_id})
    except StreamlitAPIException:  # page not registered (page run on its own, e.g. in tests)
        st.caption(f"Diagnostics: model `{model_id}`, run `{run_id}`")


def render_job(job: Job) -> None:
    p = job.progress
    approximate = job.settings.get("method") == "approximate"
    with st.container(border=True):
        head, bar, action = st.columns([3, 4, 1.3], vertical_alignment="center")
        # A job row is data from the store: its texts are shown inert, like any untrusted text.
        head.markdown(f"{_STATE_ICONS.get(job.state, '')} **{job.state}** · `{safe_code(job.job_id)}`  \n"
                      f"{safe_text(job.model_id)} · {safe_text(job.settings.get('draws'))} draws"
                      + (f" + {safe_text(job.settings['tune'])} warm-up" if job.settings.get("tune") and not approximate
                         else "")
                      + f" × {safe_text(job.settings.get('chains'))} chains"
                      + (f" · {safe_text(job.sampler)} on {safe_text(job.device)}" if job.sampler else "")
                      + (f" · {safe_text(job.runner)} `{safe_code(job.external_id)}`" if job.external_id else ""))
        done, total = p.get("draws_done", 0), p.get("draws_total", 0)
        if not total:
            draws = ""
        elif approximate:  # ADVI stops early when its loss levels off
            draws = f"ADVI iteration {done} of at most {total}"
        else:  # the sampler counts warm-up and draws alike, over all chains
            draws = f"{done}/{total} iterations (warm-up included)"
        bar.progress(job.fraction, text=f"{p.get('phase', '')} {draws}".strip())
        bar.caption(f"divergences {p.get('divergences', 0)} · elapsed {fmt_seconds(p.get('elapsed_s'))} · "
                    f"ETA {fmt_seconds(p.get('eta_s')) if job.is_active else '–'}"
                    + (f" · {p['message']}" if p.get("message") and job.is_active else ""))
        if job.is_active:
            if action.button("Cancel", key=f"cancel_{job.job_id}"):
                cancelled = get_runner().cancel(job.job_id)
                st.toast(f"Job {job.job_id} {cancelled.state}.")
                st.rerun(scope="fragment")
        elif job.state == "succeeded" and job.run_id:
            verdict, problem = run_verdict(job.model_id, job.run_id)
            action.markdown(f"{_VERDICT_ICONS.get(verdict, ':gray[:material/help:]')} {verdict}",
                            help=problem and f"{safe_text(problem, MESSAGE_CHARS)}")
            if verdict != "deleted":
                diagnostics_link(job.model_id, job.run_id)
        if job.error:
            st.error(safe_text(job.error.splitlines()[0], MESSAGE_CHARS))
        with st.expander("Log" + (" and error" if job.error else "")):
            if job.error:
                st.code(job.error, language=None)
            st.code(get_runner().logs(job.job_id, tail_lines=40) or "(no log yet)", language=None)


@st.fragment(run_every=REFRESH_S)
def jobs_panel(model_id: str) -> None:
    show_all = st.toggle("Show jobs of all models", key="jobs_all_models")
    try:  # a damaged store or a bad job setting is shown here; the rest of the page keeps serving
        # Checks run as jobs too; they are followed on the Checks page, not as training.
        jobs = [j for j in get_runner().list(None if show_all else model_id, limit=4 * MAX_JOBS_SHOWN)
                if j.task == "train"][:MAX_JOBS_SHOWN]
        if not jobs:
            st.info("No training jobs yet." if show_all else "No training jobs for this model yet.")
            return
        active = sum(j.is_active for j in jobs)
        st.caption(f"{len(jobs)} job(s), {active} queued or running · refreshed every {REFRESH_S} s")
        for job in jobs:
            render_job(job)
    except BayesCoreError as exc:
        st.error(f"Cannot read the jobs: {safe_text(exc, MESSAGE_CHARS, multiline=True)}")
