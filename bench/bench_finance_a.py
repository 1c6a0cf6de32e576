"""Finance models A: training time at default settings, compile included, against the goals.

Each model is timed in a fresh interpreter (so numba/PyTensor compilation is paid as a user pays it
on a first training), around ``fit`` on synthetic data of the goal's size: data validation, model
build, compile, sampling and the thinned posterior predictive. The breakdown comes from the fit's
own timings. Goals (issue 6, this 2-core machine): regression 1,000 × 5 ≤ 10 s; Sharpe 1,000
returns ≤ 5 s. The three-strategy comparison has no goal and is reported for reference.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from bench.common import Figure, time_in_fresh_interpreter

_CHILD = r"""
import json, sys, time
import numpy as np, pandas as pd
case, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(11)
t_import = time.perf_counter()
if case == "regression":
    from bayes_core.models.linear_regression import BayesianLinearRegression as cls
    X = rng.normal(size=(n, 5))
    data = pd.DataFrame(X, columns=[f"x{j}" for j in range(1, 6)])
    data["y"] = 1.0 + X @ np.array([0.5, -1.0, 2.0, 0.0, 0.3]) + rng.normal(0, 1.0, n)
elif case == "sharpe":
    from bayes_core.models.sharpe import BayesianSharpeModel as cls
    data = pd.DataFrame({"return": 0.0005 + 0.01 * rng.standard_t(5, size=n)})
else:
    from bayes_core.models.sharpe import StrategyComparisonModel as cls
    data = cls().example_data(n=n)
model = cls()
import pymc, nutpie  # imports are not part of training time
t0 = time.perf_counter()
fit = model.fit(data)
wall = time.perf_counter() - t0
print(json.dumps({"wall_s": wall, "timings": fit.info["timings"], "sampler": fit.info["sampler"],
                  "settings": fit.settings.to_dict(), "verdict": fit.diagnostics["verdict"],
                  "r_hat_max": fit.diagnostics["r_hat_max"], "ess_bulk_min": fit.diagnostics["ess_bulk_min"]}))
"""

CASES = {  # name → (child case, size, goal seconds or None)
    "regression 1,000 × 5": ("regression", 1000, 10.0),
    "Sharpe 1,000 returns": ("sharpe", 1000, 5.0),
    "comparison 3 strategies × 1,000 dates": ("comparison", 1000, None),
}


def run(quick: bool) -> dict[str, Any]:
    """``quick`` skips the comparison (no goal); the goal cases always run at their goal sizes."""
    results, figures = {}, []
    for name, (case, n, goal) in CASES.items():
        if quick and goal is None:
            continue
        r = time_in_fresh_interpreter(_CHILD, case, n)
        results[name] = r
        figures.append(Figure(f"{name}: training wall, compile included", round(r["wall_s"], 2), "s",
                              f"≤ {goal:g} s" if goal else "", (r["wall_s"] <= goal) if goal else None).to_dict())
        figures.append(Figure(f"{name}: of which compile", round(r["timings"].get("compile_s", 0.0), 2), "s").to_dict())
        figures.append(Figure(f"{name}: of which sampling", round(r["timings"].get("sampling_s", 0.0), 2), "s").to_dict())
    return {"figures": figures, "cases": results}


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
