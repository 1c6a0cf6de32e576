"""Simulation-based calibration of the count model (``hierarchical_negbinom``): 100 simulations on
the example data's shape, each fitted with SBC's default per-fit settings (2 chains × 500 tune +
500 draws, the reduced likelihood, nutpie), one compile for all fits.

Goal (issue 15): ≤ 5 minutes on 2 cores for 100 simulations, compile included. The verdict and p-values
are reported too: on the model as it is, the check should pass (a failure here is a finding, not noise,
at this many simulations).
"""

from __future__ import annotations

import time
from typing import Any

from bench.common import figure

MODEL_ID = "hierarchical_negbinom"
SIZES = {"full": dict(sims=100, draws=500, tune=500, chains=2),
         "quick": dict(sims=30, draws=300, tune=300, chains=2),
         "smoke": dict(sims=3, draws=30, tune=30, chains=1)}
GOAL_S = 300.0


def run(mode: str) -> dict[str, Any]:
    from bayes_core.checks import sbc
    from bayes_core.registry import get_registry

    s = SIZES[mode]
    model = get_registry().load_model_instance(MODEL_ID)
    t0 = time.perf_counter()
    result = sbc.run_sbc(model, seed=0, **s)
    wall = time.perf_counter() - t0
    judged = mode == "full"
    p_values = {p["name"]: p["p_value"] for p in result["parameters"]}
    return {
        "simulations": figure(result["n_sims"], ""),
        "data rows per simulation (example data)": figure(result["data_rows"], ""),
        "per fit": figure(f"{s['chains']} chains × {s['tune']} tune + {s['draws']} draws", ""),
        "SBC wall time (simulate, fit all, rank; compile included)": figure(
            wall, "s", f"≤ {GOAL_S:g} s for 100 simulations on 2 cores" if judged else "",
            wall <= GOAL_S if judged else None),
        "of which fits": figure(result["timings"]["fits_s"], "s"),
        "per fit, mean": figure(result["timings"]["fits_s"] / max(result["n_sims"], 1), "s"),
        "compiles": figure(result["timings"]["compiles"], "", "1 for all fits", result["timings"]["compiles"] == 1),
        "fits failed (raised or not converged)": figure(result["fits_failed"], ""),
        "verdict": figure(result["verdict"], ""),
        "p-values": figure(", ".join(f"{k} {v:.3f}" if v is not None else f"{k} –" for k, v in p_values.items()), ""),
    }
