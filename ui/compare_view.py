"""Two or more runs of one model side by side (``bayes_core.runs.compare.compare_runs``): settings
that differ, diagnostics, an overlaid forest plot of shared parameters, the ELPD table with its
plain-language verdict (or why it is withheld) and LOO-PIT histograms.

``?compare=<ref>,<ref>`` (run ids, aliases, latest, latest-converged, v<version>) preselects the
runs; a reference that names no run is shown with st.error and the known references.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from bayes_core.errors import BayesCoreError
from bayes_core.runs import compare, labels, refs
from ui import compare_charts, state
from ui.text import MESSAGE_CHARS, safe_text

PARAM = "compare"
MAX_REFS = 12  # references read from a link


def url_refs(model_id: str, run_ids: list[str]) -> list[str]:
    """The runs ``?compare=`` names (resolved, in order, duplicates dropped); bad ones reported."""
    raw = st.query_params.get(PARAM)
    if not raw:
        return []
    chosen, bad = [], []
    for ref in [r.strip() for r in raw.split(",") if r.strip()][:MAX_REFS]:
        try:
            run_id = ref if ref in run_ids else refs.resolve(model_id, ref)
        except BayesCoreError as exc:
            bad.append(str(exc))
            continue
        if run_id in run_ids and run_id not in chosen:
            chosen.append(run_id)
    if bad:
        st.error("Ignored part of the link's comparison: " + safe_text(bad[0], MESSAGE_CHARS)
                 + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""), icon=":material/link_off:")
    return chosen


def _labels_signature(model_id: str) -> float:
    """Changes when aliases, tags or notes change (the cached comparison shows them)."""
    try:
        return labels.registry_path(model_id).stat().st_mtime_ns
    except OSError:
        return 0.0


@st.cache_data(max_entries=16, show_spinner="Comparing runs (PSIS-LOO is computed once per run)…")
def _compare(model_id: str, run_ids: tuple[str, ...], _labels_at: float) -> dict[str, Any]:
    return compare.compare_runs(model_id, list(run_ids))


def pick(model_id: str, rows: list[dict[str, Any]]) -> list[str]:
    readable = [r for r in rows if r.get("verdict") != "unreadable"]
    ids = [r["run_id"] for r in readable]
    by_id = {r["run_id"]: r for r in readable}
    key = f"compare_{model_id}"
    if key not in st.session_state:
        st.session_state[key] = url_refs(model_id, ids)
    st.session_state[key] = [r for r in st.session_state[key] if r in by_id]  # a deleted run drops out
    chosen = st.multiselect("Runs to compare", ids, key=key, placeholder="pick two or more runs",
                            format_func=lambda rid: state.run_label({**by_id[rid], "status": "readable"},
                                                                    by_id[rid].get("aliases")))
    if chosen:
        st.query_params[PARAM] = ",".join(chosen)
    else:
        st.query_params.pop(PARAM, None)
    return chosen


def _settings_table(result: dict[str, Any]) -> pd.DataFrame:
    ids = [r["run_id"] for r in result["runs"]]
    rows = [{"setting": key, **{rid: "" if values.get(rid) is None else str(values.get(rid)) for rid in ids}}
            for key, values in result["settings_diff"]["differs"].items()]
    return pd.DataFrame(rows, columns=["setting", *ids])


def _elpd_table(result: dict[str, Any]) -> pd.DataFrame:
    """Best run first; what an analyst decides on (decision, Δelpd ± dse, weight) before the totals."""
    names = {r["run_id"]: r["label"] for r in result["runs"]}

    def number(value: float | None) -> str:
        return "" if value is None else f"{value:.2f}"

    return pd.DataFrame([{
        "run": safe_text(names[row["run_id"]], 200), "decision": row["decision"].replace("_", " "),
        "elpd_diff": number(row["elpd_diff"]), "dse": number(row["dse"]), "weight": number(row["weight"]),
        "elpd_loo": number(row["elpd_loo"]), "se": number(row["se"]), "p_loo": number(row["p_loo"]),
        "k̂ max": number(row["pareto_k_max"]), "k̂ > threshold": row["pareto_k"]["bad"] + row["pareto_k"]["very_bad"]}
        for row in result["elpd"]])


DIAGNOSTIC_FORMATS = {"r_hat_max": "%.3f", "ess_bulk_min": "%.0f", "ess_tail_min": "%.0f", "bfmi_min": "%.2f"}


def _loo_pit(result: dict[str, Any]) -> None:
    st.subheader("Calibration (LOO-PIT)")
    st.caption("Each observation's leave-one-out predictive probability of a value at most the one observed: "
               "a calibrated model gives a flat histogram inside the band. A U shape means predictions are too "
               "narrow, a hump too wide, a slope biased.")
    columns = st.columns(len(result["runs"]))
    for column, run in zip(columns, result["runs"]):
        pit = result["loo_pit"].get(run["run_id"])
        with column:
            if not pit:
                st.info(f"{safe_text(run['label'], 200)}: no LOO-PIT stored for this run.", icon=":material/info:")
                continue
            st.markdown(f"**{safe_text(run['label'], 200)}**")
            for name, variable in pit["variables"].items():
                st.plotly_chart(compare_charts.loo_pit_histogram(variable, f"observed variable {name}"),
                                width="stretch", key=f"pit_{run['run_id']}_{name}")
            st.caption(f"KS p = {pit['p_value']:.2g}: " + ("consistent with uniform." if pit["uniform"]
                                                           else "**not** uniform: the model is miscalibrated."))


def render(model_id: str, rows: list[dict[str, Any]]) -> None:
    chosen = pick(model_id, rows)
    if len(chosen) < 2:
        st.info("Pick two or more runs to compare their settings, diagnostics, parameters and predictive accuracy.",
                icon=":material/compare_arrows:")
        return
    try:
        result = _compare(model_id, tuple(chosen), _labels_signature(model_id))
    except BayesCoreError as exc:
        st.error(safe_text(exc, MESSAGE_CHARS), icon=":material/error:")
        return
    st.subheader("Predictive accuracy (PSIS-LOO)")
    if result["elpd"]:
        st.table(_elpd_table(result), hide_index=True)  # a static table wraps the long run labels
        st.markdown(f":material/gavel: {safe_text(result['elpd_verdict'], MESSAGE_CHARS)}")
        st.caption("elpd_diff: how much worse than the best run (0 for the best), dse its standard error; weight: "
                   "stacking weight. Differences under 4 are negligible; k̂ above the threshold makes a run's elpd "
                   "unreliable (refit, or use K-fold).")
    else:
        st.info(safe_text(result["elpd_reason"], MESSAGE_CHARS), icon=":material/block:")
    st.subheader("Settings that differ")
    diff = _settings_table(result)
    if len(diff):
        st.dataframe(diff, hide_index=True, width="stretch")
    else:
        st.caption("None: the runs were trained with identical settings and data.")
    with st.expander(f"Settings that agree ({len(result['settings_diff']['same'])})"):
        st.dataframe(pd.DataFrame({"setting": list(result["settings_diff"]["same"]),
                                   "value": [str(v) for v in result["settings_diff"]["same"].values()]}),
                     hide_index=True, width="stretch")
    st.subheader("Convergence diagnostics")
    st.dataframe(pd.DataFrame(result["diagnostics"]), hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format=f) for c, f in DIAGNOSTIC_FORMATS.items()})
    st.caption("Converged: R-hat < 1.01 and ESS > 400 (good), ≤ 1.05 and ≥ 100 (warning); no divergences.")
    st.subheader("Shared parameters")
    params = result["parameters"]
    if params:
        st.plotly_chart(compare_charts.forest_overlay(params, result["runs"], result["hdi_prob"]), width="stretch",
                        key="compare_forest")
        shifted = [p for p in params if (p["shift_sd"] or 0) > 1]
        st.caption(f"{len(params)} parameter elements (first {compare.MAX_ELEMENTS} of a vector). "
                   + (f"{len(shifted)} moved by more than one posterior sd between runs: "
                      + ", ".join(p["parameter"] for p in shifted[:8]) if shifted else "None moved by more than one "
                      "posterior sd between runs."))
    else:
        st.info("The runs share no parameter (different model options or variants).")
    _loo_pit(result)
