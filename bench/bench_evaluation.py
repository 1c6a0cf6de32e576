"""Evaluation of a count-model run (PSIS-LOO over distinct (entity, count) cells, exact LOO-PIT):
time and peak memory at 1,000,000 observations.

Goal (issue 13): ≤ 30 s and ≤ 2 GB peak memory for a 1,000,000-observation NB run. The run is
trained here (reduced likelihood, nutpie); its evaluation runs in a fresh interpreter — load the
run, build the model, evaluate, store ``evaluation.json`` — so the wall time is what a first
request costs and the peak memory is that process's whole footprint, imports included (VmHWM from
/proc: ``ru_maxrss`` would also count the benchmark process it was forked from).
"""

from __future__ import annotations

import time
from typing import Any

from bench.bench_nb import synthetic
from bench.common import figure, time_in_fresh_interpreter

SIZES = {"full": dict(obs=1_000_000, entities=5000, draws=1000, tune=1000, chains=4),
         "quick": dict(obs=200_000, entities=2000, draws=500, tune=500, chains=2),
         "smoke": dict(obs=2000, entities=50, draws=60, tune=60, chains=2)}
GOAL_S, GOAL_MB = 30.0, 2048.0

EVALUATE = r"""
import json, resource, sys, time
t0 = time.perf_counter()


def peak_mb():
    try:  # this process's own high-water mark (ru_maxrss keeps the forking parent's across exec)
        line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


from bayes_core.runs import evaluation, store
run = store.Run(sys.argv[1], sys.argv[2])
result = evaluation.evaluate(run, force=True)
wall = time.perf_counter() - t0
print(json.dumps({"wall_s": wall, "peak_mb": peak_mb(),
                  "loo": result["loo"], "loo_pit": result["loo_pit"], "timings": result["timings"]}))
"""


def run(mode: str) -> dict[str, Any]:
    from bayes_core.models.hierarchical_negbinom import HierarchicalNegBinomModel

    s = SIZES[mode]
    data = synthetic(s["entities"], s["obs"])
    model = HierarchicalNegBinomModel()
    t0 = time.perf_counter()
    trained = model.train(data, draws=s["draws"], tune=s["tune"], chains=s["chains"], seed=1)
    train_s = time.perf_counter() - t0
    # Three fresh processes (one at smoke size): the median wall time, the largest peak memory.
    outs = [time_in_fresh_interpreter(EVALUATE, trained.model_id, trained.run_id)
            for _ in range(1 if mode == "smoke" else 3)]
    out = sorted(outs, key=lambda o: o["wall_s"])[len(outs) // 2]
    out["peak_mb"] = max(o["peak_mb"] for o in outs)
    loo, pit = out["loo"], out["loo_pit"]
    judged = mode == "full"
    return {
        "observations": figure(loo["n_observations"], ""),
        "distinct (entity, count) cells": figure(loo["n_cells"], ""),
        "posterior draws used": figure(loo["draws_used"], ""),
        "training (reduced likelihood + nutpie, for reference)": figure(train_s, "s"),
        "evaluation wall times of the fresh processes": figure(", ".join(f"{o['wall_s']:.1f}" for o in outs), "s"),
        "evaluation wall time, median (fresh process: load, PSIS-LOO, LOO-PIT, store)": figure(
            out["wall_s"], "s", f"≤ {GOAL_S:g} s at 1,000,000 observations" if judged else "",
            out["wall_s"] <= GOAL_S if judged else None),
        "evaluation peak memory (whole process, largest)": figure(
            out["peak_mb"], "MB", f"≤ {GOAL_MB:g} MB at 1,000,000 observations" if judged else "",
            out["peak_mb"] <= GOAL_MB if judged else None),
        "of which PSIS over the cells": figure(out["timings"].get("psis_s"), "s"),
        "of which preparation (cells, r_eff)": figure(out["timings"].get("prepare_s"), "s"),
        "elpd_loo": figure(loo["elpd_loo"], f"± {loo['se']:.1f}"),
        "Pareto k > good_k (observations)": figure(loo["pareto_k"]["bad"] + loo["pareto_k"]["very_bad"], ""),
        "LOO-PIT KS p-value": figure(pit["p_value"] if pit else None, ""),
    }
