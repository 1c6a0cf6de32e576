"""Finance models B: training time of pairs trading and stochastic volatility at their config defaults
(1,000 days; compile, sampling, posterior predictive, summary and saving included) against the goals,
plus the exact notebook path of pairs trading (conjugate, no sampling)."""

from __future__ import annotations

import time
from typing import Any

GOALS_S = {"stochastic_volatility": 20.0, "pairs_trading": 100.0}
DAYS = 1000


def _train(model_id: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    from bayes_core.registry import get_registry

    model = get_registry().load_model_instance(model_id, options=options)
    data = model.example_data(n=DAYS)
    t0 = time.perf_counter()
    run = model.train(data)  # config defaults
    wall = time.perf_counter() - t0
    diag = run.diagnostics
    return {"days": DAYS, "settings": run.metadata["settings"], "wall_s": wall, "goal_s": GOALS_S[model_id],
            "meets_goal": wall <= GOALS_S[model_id], "timings": run.metadata["timings"],
            "verdict": diag["verdict"], "r_hat_max": diag["r_hat_max"], "ess_bulk_min": diag["ess_bulk_min"],
            "divergences": diag["divergences"], "fallback": diag.get("fallback", {}).get("used"),
            **({"max_gap_in_mcse": run.report("pairs")["max_gap_in_mcse"]} if model_id == "pairs_trading" else {})}


def _conjugate_pairs() -> dict[str, Any]:
    from bayes_core.models.pairs_trading import BayesianPairsTrading

    model = BayesianPairsTrading()
    data = model.example_data(n=DAYS)
    model.fit_dynamic_hedge(data["y"], data["x"], window=60)  # warm imports
    t0 = time.perf_counter()
    model.fit_dynamic_hedge(data["y"], data["x"], window=60)
    return {"days": DAYS, "window": 60, "wall_s": time.perf_counter() - t0}


def run(quick: bool) -> dict[str, Any]:
    """Both modes time the goal setting (1,000 days at defaults): a smaller run would not be comparable."""
    return {"stochastic_volatility": _train("stochastic_volatility"),
            "pairs_trading": _train("pairs_trading", {"window": 60}),
            "pairs_conjugate_notebook": _conjugate_pairs(), "quick": quick}
