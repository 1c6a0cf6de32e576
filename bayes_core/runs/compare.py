"""Two or more runs of one model side by side: settings, diagnostics, parameters and — on the same
data — PSIS-LOO with arviz-stats' ``compare`` (elpd_diff, dse, stacking weights, Pareto-k).

``compare_runs(model_id, refs)`` returns one JSON-able dict (what ``runs compare`` prints and a
comparison page renders):

- ``runs``: each run's row (``history.run_row``) with a ``label`` naming what sets it apart;
- ``settings_diff``: ``{"differs": {key: {run_id: value}}, "same": {key: value}}`` over sampler
  settings, options, priors, model version, config and data hashes, fit path and package versions;
- ``diagnostics``: R-hat, ESS, divergences, E-BFMI per run;
- ``parameters``: mean, sd and HDI of each shared parameter element per run (``bayes_core.draws``),
  and ``shift_sd``, the largest difference of means in posterior standard deviations;
- ``elpd``: rows (run_id, elpd_loo, se, p_loo, elpd_diff, dse, weight, pareto_k_max, warning, ...)
  best first, with ``elpd_verdict`` in plain words — or None and ``elpd_reason`` when the runs were
  trained on different data, a run has no LOO, or a run is not an MCMC/closed-form posterior
  (approximations and fallbacks are never silently mixed into an ELPD table);
- ``loo_pit``: each run's LOO-PIT summary.
"""

from __future__ import annotations

import itertools
import json
import warnings
from typing import Any

import numpy as np

from bayes_core import draws as draws_mod
from bayes_core.errors import BayesCoreError
from bayes_core.runs import evaluation, history, labels, store

INDISTINGUISHABLE = 4.0  # |Δelpd| below this: the runs predict about equally well (Sivula et al. 2022)
CLEAR_SE = 2.0  # |Δelpd| beyond this many standard errors of the difference: clearly better
MAX_ELEMENTS = 50  # elements per vector parameter shown by default
_DIFF_SECTIONS = ("settings", "options", "priors")
_DIFF_KEYS = ("sampler", "device", "fit_path", "fit_method", "model_version", "config_hash", "data_hash", "data_rows",
              "python_version")


def compare_runs(model_id: str, refs: list[str], *, var_names: list[str] | None = None, hdi_prob: float = 0.94,
                 max_elements: int = MAX_ELEMENTS) -> dict[str, Any]:
    """Compare the runs ``refs`` name (run ids, aliases, latest, ...; at least two distinct runs)."""
    runs = [store.load_run(model_id, ref) for ref in refs]
    ids = [r.run_id for r in runs]
    if len(set(ids)) != len(ids) or len(ids) < 2:
        raise BayesCoreError(f"Name at least two different runs to compare (the references resolve to {', '.join(ids)}).")
    found, damage = labels.read_or_error(model_id)
    diff = settings_diff(runs)
    rows = []
    for ref, run in zip(refs, runs):
        row = history.run_row(run, found, damage)
        rows.append({**row, "ref": ref, "label": _label(run, row, diff["differs"])})
    out: dict[str, Any] = {
        "model_id": model_id, "runs": rows, "settings_diff": diff,
        "diagnostics": [{"run_id": r.run_id, **{k: r.diagnostics.get(k) for k in
                         ("verdict", "r_hat_max", "ess_bulk_min", "ess_tail_min", "divergences", "bfmi_min")}}
                        for r in runs],
        "parameters": parameters(runs, var_names, hdi_prob, max_elements), "hdi_prob": hdi_prob,
    }
    out.update(elpd_table(runs, {r["run_id"]: r["label"] for r in rows}))
    return out


# -- settings -----------------------------------------------------------------------------------
def _flat_settings(meta: dict[str, Any]) -> dict[str, Any]:
    flat = {key: meta.get(key) for key in _DIFF_KEYS}
    for section in _DIFF_SECTIONS:
        for key, value in (meta.get(section) or {}).items():
            flat[f"{section}.{key}"] = value
    for name, version in (meta.get("package_versions") or {}).items():
        flat[f"package.{name}"] = version
    return flat


def settings_diff(runs: list[store.Run]) -> dict[str, dict[str, Any]]:
    """Every setting, split into those that differ between the runs (per run) and those that agree."""
    flats = {r.run_id: _flat_settings(r.metadata) for r in runs}
    keys = list(dict.fromkeys(k for f in flats.values() for k in f))
    differs, same = {}, {}
    for key in keys:
        values = {rid: f.get(key) for rid, f in flats.items()}
        if len({json.dumps(v, sort_keys=True, default=str) for v in values.values()}) > 1:
            differs[key] = values
        else:
            same[key] = next(iter(values.values()))
    return {"differs": differs, "same": same}


def _label(run: store.Run, row: dict[str, Any], differs: dict[str, dict[str, Any]]) -> str:
    """"run <id>" plus its aliases and the options/settings that set it apart (e.g. likelihood=poisson)."""
    shown = [f"{k.split('.', 1)[-1]}={v[run.run_id]}" for k, v in differs.items()
             if k.startswith(("options.", "settings.", "priors.")) and k != "settings.seed"][:3]
    names = (row.get("aliases") or []) + shown
    return f"run {run.run_id}" + (f" ({', '.join(names)})" if names else "")


# -- parameters ---------------------------------------------------------------------------------
def _elements(dataset, name: str) -> tuple[list[str], np.ndarray]:
    """Labels (``theta[E001]``) and stacked draws (draws, elements) of one posterior variable."""
    values = dataset[name]
    dims = [d for d in values.dims if d not in ("chain", "draw")]
    matrix = draws_mod.draw_matrix(values.transpose("chain", "draw", *dims).values)
    if not dims:
        return [name], matrix
    coords = [[str(c) for c in values[d].values] for d in dims]
    return [f"{name}[{', '.join(c)}]" for c in itertools.product(*coords)], matrix


def _element_table(dataset, name: str) -> dict[str, np.ndarray]:
    labels_, matrix = _elements(dataset, name)
    return dict(zip(labels_, matrix.T))


def parameters(runs: list[store.Run], var_names: list[str] | None, hdi_prob: float,
               max_elements: int) -> list[dict[str, Any]]:
    """Mean, sd and HDI of every parameter element all runs share (the first ``max_elements`` of a
    vector), per run; ``shift_sd`` = largest difference of means / largest posterior sd."""
    datasets = [r.idata["posterior"].to_dataset() for r in runs]
    shared = [n for n in datasets[0].data_vars if all(n in d.data_vars for d in datasets[1:])]
    if var_names:
        unknown = sorted(set(var_names) - set(shared))
        if unknown:
            raise BayesCoreError(f"Not a parameter every run has: {', '.join(unknown)} (shared: {', '.join(shared)}).")
        shared = [n for n in shared if n in var_names]
    out = []
    for name in shared:
        per_run = [_element_table(d, name) for d in datasets]
        labels_shared = [k for k in per_run[0] if all(k in p for p in per_run[1:])]
        for label in labels_shared[:max_elements]:
            stats = {}
            for run, table in zip(runs, per_run):
                x = table[label]
                low, high = draws_mod.hdi(x, hdi_prob)
                stats[run.run_id] = {"mean": float(x.mean()), "sd": float(x.std(ddof=1)) if x.size > 1 else 0.0,
                                     "hdi_low": float(low), "hdi_high": float(high)}
            means = [s["mean"] for s in stats.values()]
            spread = max(s["sd"] for s in stats.values())
            out.append({"parameter": label, "variable": name, "runs": stats,
                        "shift_sd": (max(means) - min(means)) / spread if spread > 0 else None,
                        "elements_of_variable": len(labels_shared)})
    return out


# -- ELPD ---------------------------------------------------------------------------------------
def _withheld(runs: list[store.Run]) -> str | None:
    """Why the runs' ELPD must not be compared, or None."""
    not_mcmc = [f"{r.run_id} ({r.metadata.get('fit_path')}: {r.metadata.get('fit_method')})" for r in runs
                if r.metadata.get("fit_path") in evaluation.NOT_MCMC_PATHS]
    if not_mcmc:
        return ("ELPD is withheld: run(s) " + ", ".join(not_mcmc) + " are not posterior draws from MCMC or a closed "
                "form, and PSIS-LOO would treat an approximation as the posterior; compare them on settings and "
                "parameters, or train them with MCMC.")
    hashes = {r.run_id: r.metadata.get("data_hash") for r in runs}
    if None in hashes.values() or len(set(hashes.values())) > 1:
        shown = ", ".join(f"{rid}: {h or 'unknown'}" for rid, h in hashes.items())
        return (f"ELPD is withheld: the runs were trained on different data (data hash {shown}); LOO compares "
                "predictions of the same observations only.")
    return None


def elpd_table(runs: list[store.Run], names: dict[str, str]) -> dict[str, Any]:
    """``{"elpd": rows | None, "elpd_reason", "elpd_verdict", "loo_pit"}`` for runs of one model."""
    out: dict[str, Any] = {"elpd": None, "elpd_reason": _withheld(runs), "elpd_verdict": None, "loo_pit": {}}
    evaluations = {}
    for run in runs:
        try:
            evaluations[run.run_id] = evaluation.evaluate(run)
        except BayesCoreError as exc:
            evaluations[run.run_id] = {"loo": None, "loo_reason": str(exc), "loo_pit": None}
        out["loo_pit"][run.run_id] = evaluations[run.run_id].get("loo_pit")
    if out["elpd_reason"]:
        return out
    missing = [f"{rid}: {e.get('loo_reason')}" for rid, e in evaluations.items() if not e.get("loo")]
    if missing:
        out["elpd_reason"] = "ELPD is withheld: no PSIS-LOO for run(s) " + "; ".join(missing)
        return out
    sizes = {rid: e["loo"]["n_observations"] for rid, e in evaluations.items()}
    if len(set(sizes.values())) > 1:
        out["elpd_reason"] = f"ELPD is withheld: the runs' LOO covers different numbers of observations ({sizes})."
        return out
    from arviz_stats import compare

    elpd_data = {run.run_id: evaluation.elpd_data(run, evaluations[run.run_id]) for run in runs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = compare(elpd_data, method="stacking", round_to="None")
    rows = []
    for run_id, row in table.iterrows():
        loo = evaluations[run_id]["loo"]
        rows.append({"run_id": run_id, "rank": int(row["rank"]), "elpd_loo": float(row["elpd"]), "se": float(row["se"]),
                     "p_loo": float(row["p"]), "elpd_diff": float(row["elpd_diff"]), "dse": float(row["dse"]),
                     "weight": float(row["weight"]), "p_worse": _number(row.get("p_worse")),
                     "pareto_k_max": loo.get("pareto_k_max"), "pareto_k": loo["pareto_k"], "good_k": loo["good_k"],
                     "warning": bool(loo["warning"]), "diag_diff": str(row.get("diag_diff") or ""),
                     "diag_elpd": str(row.get("diag_elpd") or "")})
    verdicts = [_verdict(rows[0], row, names) for row in rows[1:]]
    for row, decision in zip(rows, ["best"] + [d for d, _ in verdicts]):
        row["decision"] = decision
    sentences = [s for _, s in verdicts] + _k_warnings(rows, names)
    out.update(elpd=rows, elpd_verdict=" ".join(sentences))
    return out


def _number(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def _verdict(best: dict[str, Any], other: dict[str, Any], names: dict[str, str]) -> tuple[str, str]:
    gap, dse = -other["elpd_diff"], other["dse"]
    figures = f"Δelpd {gap:.1f} ± {dse:.1f}"
    a, b = names[best["run_id"]], names[other["run_id"]]
    if gap < INDISTINGUISHABLE:
        return "indistinguishable", f"{b} is indistinguishable from {a} ({figures})."
    if gap > CLEAR_SE * dse:
        return "clearly_worse", f"{a} is clearly better than {b} ({figures})."
    return "uncertain", (f"{a} is ahead of {b}, but not clearly: the difference is within {CLEAR_SE:g} standard "
                         f"errors ({figures}).")


def _k_warnings(rows: list[dict[str, Any]], names: dict[str, str]) -> list[str]:
    out = []
    for row in rows:
        high = row["pareto_k"]["bad"] + row["pareto_k"]["very_bad"]
        if high:
            out.append(f"Pareto-k warning for {names[row['run_id']]}: {high} observation(s) with k̂ > "
                       f"{row['good_k']:.2f}, so its elpd may be optimistic.")
    return out
