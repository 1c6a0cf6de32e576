"""Pure convergence diagnostics over ArviZ data (an ``xarray.DataTree`` from sampling).

Thresholds follow Vehtari et al. (2021) and the Stan/ArviZ guidance:
R-hat < 1.01 good, ≤ 1.05 warning, > 1.05 problem; ESS > 400 good, 100–400 warning, < 100 problem;
divergences 0 good, 1–10 warning, > 10 problem; E-BFMI ≥ 0.3 good, 0.2–0.3 warning, < 0.2 problem.

A run from the ``approximate`` method (ADVI) has the verdict ``approximate`` instead: its draws are
independent draws from the approximation, so R-hat and ESS say nothing about whether it fits the
posterior (``mark_approximate``).
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

GOOD, WARNING, PROBLEM, APPROXIMATE = "good", "warning", "problem", "approximate"
_ORDER = {GOOD: 0, WARNING: 1, APPROXIMATE: 2, PROBLEM: 3}
CI_PROB = 0.94
WORST_SHOWN = 5  # flagged elements named in diagnostics.json and the verdict banner


def rhat_verdict(r_hat: float) -> str:
    if r_hat is None or math.isnan(r_hat):
        return GOOD
    return GOOD if r_hat < 1.01 else WARNING if r_hat <= 1.05 else PROBLEM


def ess_verdict(ess: float) -> str:
    if ess is None or math.isnan(ess):
        return GOOD
    return GOOD if ess > 400 else WARNING if ess >= 100 else PROBLEM


def divergence_verdict(n: int) -> str:
    return GOOD if n == 0 else WARNING if n <= 10 else PROBLEM


def bfmi_verdict(bfmi: float | None) -> str:
    if bfmi is None or math.isnan(bfmi):
        return GOOD
    return GOOD if bfmi >= 0.3 else WARNING if bfmi >= 0.2 else PROBLEM


def worst(*verdicts: str) -> str:
    return max(verdicts, key=_ORDER.__getitem__, default=GOOD)


def summary_table(idata, var_names: list[str] | None = None) -> pd.DataFrame:
    """Mean, sd, 94 % HDI, ESS bulk/tail, R-hat and MCSE per scalar element of the posterior."""
    import arviz as az

    table = az.summary(idata, var_names=var_names, ci_kind="hdi", ci_prob=CI_PROB, round_to="none")
    return pd.DataFrame(table)


def base_name(label: str) -> str:
    """``theta[3]`` → ``theta``."""
    return re.sub(r"\[.*\]$", "", str(label))


def divergence_count(idata) -> int:
    if "sample_stats" not in idata.children or "diverging" not in idata["sample_stats"].data_vars:
        return 0
    return int(np.asarray(idata["sample_stats"]["diverging"].values).sum())


def bfmi_values(idata) -> list[float]:
    """E-BFMI per chain; empty when the sampler records no energy."""
    if "sample_stats" not in idata.children or "energy" not in idata["sample_stats"].data_vars:
        return []
    energy = np.asarray(idata["sample_stats"]["energy"].values, dtype=float)  # (chain, draw)
    num = np.square(np.diff(energy, axis=1)).mean(axis=1)
    den = energy.var(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return [float(v) for v in num / den]


def per_variable(summary: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Worst R-hat and ESS per variable (for colouring the DAG and collapsing vectors)."""
    grouped = summary.assign(_var=[base_name(i) for i in summary.index]).groupby("_var", sort=False)
    out = {}
    for name, rows in grouped:
        r_hat = float(rows["r_hat"].max()) if rows["r_hat"].notna().any() else float("nan")
        ess_bulk = float(rows["ess_bulk"].min()) if rows["ess_bulk"].notna().any() else float("nan")
        ess_tail = float(rows["ess_tail"].min()) if rows["ess_tail"].notna().any() else float("nan")
        out[str(name)] = {
            "size": int(len(rows)),
            "r_hat_max": r_hat,
            "ess_bulk_min": ess_bulk,
            "ess_tail_min": ess_tail,
            "verdict": worst(rhat_verdict(r_hat), ess_verdict(ess_bulk), ess_verdict(ess_tail)),
        }
    return out


def _value(row: pd.Series, column: str) -> float:
    return float(row[column]) if column in row.index and pd.notna(row[column]) else float("nan")


def flagged_elements(summary: pd.DataFrame, limit: int | None = None) -> list[dict[str, Any]]:
    """Summary rows (scalar elements such as ``theta[E017]``) whose verdict is not good, worst
    first: problems before warnings, then by R-hat (high first) and the smaller ESS (low first).
    Each names its ``element``, ``verdict``, the metrics and ``reasons`` (the metrics that flagged it)."""
    out = []
    for label, row in summary.iterrows():
        r_hat, bulk, tail = _value(row, "r_hat"), _value(row, "ess_bulk"), _value(row, "ess_tail")
        verdicts = {"R-hat": (rhat_verdict(r_hat), f"{r_hat:.3f}"), "ESS bulk": (ess_verdict(bulk), f"{bulk:.0f}"),
                    "ESS tail": (ess_verdict(tail), f"{tail:.0f}")}
        verdict = worst(*(v for v, _ in verdicts.values()))
        if verdict == GOOD:
            continue
        out.append({"element": str(label), "variable": base_name(label), "verdict": verdict,
                    "r_hat": _nan_to_none(r_hat), "ess_bulk": _nan_to_none(bulk), "ess_tail": _nan_to_none(tail),
                    "reasons": [f"{name} {text}" for name, (v, text) in verdicts.items() if v != GOOD]})

    def severity(item: dict[str, Any]) -> tuple:
        ess = min(x for x in (item["ess_bulk"], item["ess_tail"], math.inf) if x is not None)
        return (-_ORDER[item["verdict"]], -(item["r_hat"] or 0.0), ess)

    out.sort(key=severity)
    return out if limit is None else out[:limit]


def _nan_to_none(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def compute_diagnostics(idata, summary: pd.DataFrame | None = None) -> dict[str, Any]:
    """The run's diagnostics.json: worst-case metrics, a verdict per metric and overall."""
    summary = summary_table(idata) if summary is None else summary
    r_hat_max = float(summary["r_hat"].max()) if summary["r_hat"].notna().any() else float("nan")
    ess_bulk_min = float(summary["ess_bulk"].min()) if summary["ess_bulk"].notna().any() else float("nan")
    ess_tail_min = float(summary["ess_tail"].min()) if summary["ess_tail"].notna().any() else float("nan")
    divergences = divergence_count(idata)
    bfmis = bfmi_values(idata)
    bfmi_min = min(bfmis) if bfmis else float("nan")
    verdicts = {
        "r_hat": rhat_verdict(r_hat_max),
        "ess_bulk": ess_verdict(ess_bulk_min),
        "ess_tail": ess_verdict(ess_tail_min),
        "divergences": divergence_verdict(divergences),
        "bfmi": bfmi_verdict(bfmi_min),
    }
    overall = worst(*verdicts.values())
    posterior = idata["posterior"]
    return {
        "r_hat_max": _nan_to_none(r_hat_max),
        "ess_bulk_min": _nan_to_none(ess_bulk_min),
        "ess_tail_min": _nan_to_none(ess_tail_min),
        "divergences": divergences,
        "bfmi_min": _nan_to_none(bfmi_min),
        "bfmi_per_chain": bfmis,
        "converged": overall != PROBLEM,
        "verdict": overall,
        "verdicts": verdicts,
        "chains": int(posterior.sizes.get("chain", 0)),
        "draws": int(posterior.sizes.get("draw", 0)),
        "per_variable": {k: {kk: _nan_to_none(vv) if isinstance(vv, float) else vv for kk, vv in v.items()}
                         for k, v in per_variable(summary).items()},
        "worst_elements": flagged_elements(summary, limit=WORST_SHOWN),
    }


def mark_approximate(diag: dict[str, Any], approximation: dict[str, Any] | None) -> dict[str, Any]:
    """Diagnostics of an approximate fit: verdict ``approximate`` everywhere, never converged, no
    flagged elements (R-hat and ESS of independent draws are good by construction, which would
    pretend the fit is). The metrics stay for the record; ``approximation`` says what was fitted."""
    diag.update(verdict=APPROXIMATE, converged=False, verdicts={"method": APPROXIMATE}, worst_elements=[],
                approximation=dict(approximation or {}))
    for info in diag.get("per_variable", {}).values():
        info["verdict"] = APPROXIMATE
    return diag


def approximate_sentence(diag: dict[str, Any]) -> str:
    """What an approximate run is, and what to do before trusting it."""
    info = diag.get("approximation") or {}
    how = info.get("method", "ADVI")
    iterations = f", {info['iterations']:,} iterations" if info.get("iterations") else ""
    levelled = "" if info.get("loss_levelled_off", True) else " Its loss had not levelled off when it stopped."
    return (f"Approximate fit ({how}{iterations}): a quick look, not MCMC. R-hat and ESS do not apply to its draws; "
            f"variational draws are typically too narrow and ignore correlations between parameters.{levelled} "
            "Train with method 'mcmc' before relying on its intervals or predictions.")


def worst_sentence(elements: list[dict[str, Any]]) -> str:
    """``Worst: theta[E017] (R-hat 1.037), theta[E003] (ESS tail 210).`` ("" when none)."""
    if not elements:
        return ""
    return "Worst: " + ", ".join(f"{e['element']} ({', '.join(e['reasons'])})" for e in elements) + "."


def verdict_sentence(diag: dict[str, Any]) -> str:
    """One line a person can act on."""
    v = diag.get("verdict", "unknown")
    if v == APPROXIMATE:
        return approximate_sentence(diag)
    parts = [f"R-hat max {diag.get('r_hat_max') or float('nan'):.3f}",
             f"ESS bulk min {diag.get('ess_bulk_min') or float('nan'):.0f}",
             f"ESS tail min {diag.get('ess_tail_min') or float('nan'):.0f}",
             f"{diag.get('divergences', 0)} divergences"]
    if v == GOOD:
        return "Converged: " + ", ".join(parts) + "."
    worst_named = worst_sentence(diag.get("worst_elements") or [])
    advice = " Consider more draws/warm-up, a higher target_accept, or a non-centred parameterisation."
    return (f"{'Warnings' if v == WARNING else 'Problems'}: " + ", ".join(parts) + "."
            + (f" {worst_named}" if worst_named else "") + advice)
