"""Diagnostics sections: verdict banner, coloured summary, variable pickers, plots and the DAG."""

from __future__ import annotations

import itertools
import re
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from bayes_core import diagnostics as dg
from bayes_core.errors import BayesCoreError
from ui import charts
from ui.text import MESSAGE_CHARS, safe_text

_CELL = {dg.GOOD: "background-color: #e8f5e9", dg.WARNING: "background-color: #fff3e0",
         dg.PROBLEM: "background-color: #ffebee; font-weight: bold"}


def verdict_banner(diag: dict[str, Any], flagged: list[dict[str, Any]]) -> None:
    """The run's verdict, naming the worst elements (``flagged``, from the summary, so runs written
    before diagnostics.json named them get the same banner) and where to find them."""
    verdict = diag.get("verdict")
    if verdict == dg.APPROXIMATE:  # R-hat and ESS of independent variational draws would only mislead
        st.warning(dg.approximate_sentence(diag) + " Predictions from this run are marked as approximate.",
                   icon=":material/speed:")
        return
    sentence = dg.verdict_sentence({**diag, "worst_elements": []})
    if verdict not in (dg.GOOD, dg.WARNING):
        sentence += " Predictions from this run are marked as not converged."
    if flagged:
        worst = ", ".join(f"`{e['element']}` ({', '.join(e['reasons'])})" for e in flagged[:dg.WORST_SHOWN])
        vectors = any("[" in e["element"] for e in flagged)
        sentence += (f"\n\n**Worst:** {worst}.\n\nAll {len(flagged)} element(s) that are not good are listed "
                     "first in the **Summary** table below" + (" (vector elements also under **Vector parameters**)."
                                                              if vectors else "."))
    if verdict == dg.GOOD:
        st.success(sentence, icon=":material/check_circle:")
    elif verdict == dg.WARNING:
        st.warning(sentence, icon=":material/warning:")
    else:
        st.error(sentence, icon=":material/error:")


def metrics_row(diag: dict[str, Any]) -> None:
    def fmt(v: float | None, spec: str) -> str:
        return "n/a" if v is None else format(v, spec)

    v = diag.get("verdicts", {})
    items = [("R-hat max", fmt(diag.get("r_hat_max"), ".3f"), v.get("r_hat")),
             ("ESS bulk min", fmt(diag.get("ess_bulk_min"), ".0f"), v.get("ess_bulk")),
             ("ESS tail min", fmt(diag.get("ess_tail_min"), ".0f"), v.get("ess_tail")),
             ("Divergences", str(diag.get("divergences", 0)), v.get("divergences")),
             ("E-BFMI min", fmt(diag.get("bfmi_min"), ".2f"), v.get("bfmi"))]
    for col, (label, value, verdict) in zip(st.columns(len(items)), items):
        col.metric(label, value, help=f"verdict: {verdict or 'n/a'}", border=True)
        col.caption(f":{charts_colour(verdict)}[{verdict or 'n/a'}]")


def charts_colour(verdict: str | None) -> str:
    return {dg.GOOD: "green", dg.WARNING: "orange", dg.PROBLEM: "red"}.get(verdict or "", "gray")


def styled_summary(table: pd.DataFrame, judged: bool = True):
    """The summary coloured cell by cell with the R-hat/ESS thresholds of ``bayes_core.diagnostics``;
    ``judged=False`` (an approximate fit, whose independent draws make every cell 'good') leaves the
    cells plain."""
    def colour(series: pd.Series, rule) -> list[str]:
        return [_CELL[rule(float(x))] if judged and pd.notna(x) else "" for x in series]

    numeric = [c for c in table.columns if c not in ("ess_bulk", "ess_tail", "verdict")]
    styler = table.style.format("{:.3f}", subset=numeric)
    styler = styler.format("{:.0f}", subset=[c for c in ("ess_bulk", "ess_tail") if c in table.columns])
    if "verdict" in table.columns:
        styler = styler.apply(lambda col: [_CELL.get(v, "") for v in col], subset=["verdict"])
    if "r_hat" in table.columns:
        styler = styler.apply(colour, rule=dg.rhat_verdict, subset=["r_hat"])
    for col in ("ess_bulk", "ess_tail"):
        if col in table.columns:
            styler = styler.apply(colour, rule=dg.ess_verdict, subset=[col])
    return styler


def rows_for(table: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    keep = [i for i in table.index if dg.base_name(i) in names]
    return table.loc[keep]


def summary_view(table: pd.DataFrame, names: list[str], flagged: list[dict[str, Any]],
                 unflagged: str = dg.GOOD) -> pd.DataFrame:
    """The summary rows shown: every flagged element first (worst first, whatever variable it
    belongs to), then the rows of the chosen variables; a ``verdict`` column says why each is there
    (``unflagged`` for the others: ``approximate`` where R-hat and ESS judge nothing)."""
    first = [e["element"] for e in flagged if e["element"] in table.index]
    rest = [i for i in rows_for(table, names).index if i not in set(first)]
    shown = table.loc[first + rest].copy()
    verdict_of = {e["element"]: e["verdict"] for e in flagged}
    shown.insert(0, "verdict", [verdict_of.get(i, unflagged) for i in shown.index])
    return shown


def element_labels(coords: dict[str, list[str]], dims: list[str]) -> list[str]:
    """``E000`` for one dim, ``a, b`` for two: the labels inside ArviZ's ``var[...]`` names."""
    return [", ".join(combo) for combo in itertools.product(*(coords[d] for d in dims))]


def scalar_draws(post: dict[str, Any], name: str, element: int | None = None) -> np.ndarray:
    arr = post["arrays"][name]
    if element is None:
        return arr
    return arr.reshape(arr.shape[0], arr.shape[1], -1)[:, :, element]


def scalar_choices(post: dict[str, Any], headline: list[str]) -> list[str]:
    """Scalar variables (headline first); vectors are reached through the element picker."""
    scalars = [n for n, a in post["arrays"].items() if a.ndim == 2]
    return [n for n in headline if n in scalars] + [n for n in scalars if n not in headline]


_NODE = re.compile(r'^\s*"?([A-Za-z_][\w.]*)"?\s*\[label=', re.M)


def colour_dag(dot: str, per_variable: dict[str, dict[str, Any]]) -> str:
    """The run's DOT with each free variable filled by its worst R-hat/ESS verdict (observed nodes kept)."""
    fills = {dg.GOOD: "#c8e6c9", dg.WARNING: "#ffe0b2", dg.PROBLEM: "#ffcdd2"}
    nodes = set(_NODE.findall(dot))
    extra = [f'\t"{name}" [style=filled fillcolor="{fills[info["verdict"]]}" '
             f'tooltip="{name}: {info["verdict"]} (R-hat max {info.get("r_hat_max") or float("nan"):.3f}, '
             f'ESS bulk min {info.get("ess_bulk_min") or float("nan"):.0f})"]'
             for name, info in per_variable.items() if name in nodes and info.get("verdict") in fills]
    end = dot.rstrip().rfind("}")
    return dot[:end] + "\n".join(extra) + "\n}" if extra else dot


def forest_section(table: pd.DataFrame, name: str, key: str, verdict_of: dict[str, str] | None) -> None:
    """Means and intervals of one vector variable's elements, each coloured by its summary verdict
    (``verdict_of``: the flagged elements', the others good); None leaves them plain (an approximate
    fit, where R-hat and ESS judge nothing)."""
    rows = rows_for(table, [name])
    left, right = st.columns([2, 1])
    order = left.radio("Elements shown", ["worst R-hat", "lowest ESS bulk", "first"], horizontal=True,
                       key=f"{key}_order")
    count = right.slider("How many", 5, max(5, min(200, len(rows))), min(30, len(rows)), key=f"{key}_count") \
        if len(rows) > 5 else len(rows)
    if order == "worst R-hat":
        rows = rows.sort_values("r_hat", ascending=False)
    elif order == "lowest ESS bulk":
        rows = rows.sort_values("ess_bulk")
    rows = rows.head(count)
    lo_col, hi_col = (c for c in rows.columns if c.startswith("hdi") or c.startswith("eti"))
    verdicts = None if verdict_of is None else [verdict_of.get(str(label), dg.GOOD) for label in rows.index]
    st.plotly_chart(charts.forest(list(rows.index), rows["mean"].to_numpy(), rows[lo_col].to_numpy(),
                                  rows[hi_col].to_numpy(), name, verdicts), width="stretch")


def pick_scalar(post: dict[str, Any], headline: list[str], key: str, label: str = "Variable",
                default: int = 0) -> tuple[str, np.ndarray]:
    """A variable picker (headline first); a vector variable adds an element picker."""
    names = scalar_choices(post, headline)
    names += [n for n in post["arrays"] if n not in names]
    name = st.selectbox(label, names, index=min(default, len(names) - 1), key=f"{key}_var")
    dims = post["dims"][name]
    if not dims:
        return name, scalar_draws(post, name)
    labels = element_labels(post["coords"], dims)
    element = st.selectbox(f"Element of {name} ({len(labels)})", range(len(labels)), key=f"{key}_{name}_el",
                           format_func=labels.__getitem__)
    return f"{name}[{labels[element]}]", scalar_draws(post, name, element)


def sample_stat(run, name: str) -> np.ndarray | None:
    stats = run.idata["sample_stats"] if "sample_stats" in run.idata.children else None
    return np.asarray(stats[name].values) if stats is not None and name in stats.data_vars else None


def dag_section(run, per_variable: dict[str, dict[str, Any]]) -> None:
    """The run's model graph coloured by convergence; a damaged ``model.dot`` is reported instead."""
    try:
        dot = run.dag_dot
    except BayesCoreError as exc:
        st.error(f"The model graph cannot be shown: {safe_text(exc, MESSAGE_CHARS)}", icon=":material/error:")
        return
    if dot:
        st.graphviz_chart(colour_dag(dot, per_variable))
        if any(info.get("verdict") == dg.APPROXIMATE for info in per_variable.values()):
            st.caption("Not coloured: an approximate fit's R-hat and ESS judge nothing.")
        else:
            st.caption("Free variables filled by their worst R-hat/ESS verdict: green good, orange warning, red problem.")
    else:
        st.info("This run has no saved model graph.")


def run_details(metadata: dict[str, Any]) -> None:
    left, right = st.columns(2)
    with left:
        st.markdown("**Sampling**")
        st.json({k: metadata.get(k) for k in ("sampler", "device", "settings", "options", "priors", "data_rows",
                                              "data_hash", "model_version", "config_hash", "created_at")})
    with right:
        st.markdown("**Timings (s)**")
        timings = metadata.get("timings") or {}
        st.dataframe(pd.DataFrame({"step": list(timings), "seconds": [round(float(v), 2) if isinstance(v, (int, float))
                                   else v for v in timings.values()]}), hide_index=True, width="stretch")
        st.markdown("**Versions**")
        st.json({"python": metadata.get("python_version"), **(metadata.get("package_versions") or {})}, expanded=False)
