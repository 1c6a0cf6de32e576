"""Prediction latency of the NB model from a trained run: single requests and a 10,000-row batch.

Goals (issue 7): a single prediction p95 < 2 ms, judged on the predictor path (``predict_one``
over the cached draws, a dict, as the player-props ``predict_player``); a 10,000-row batch < 0.5 s
through the validating ``predict_batch``. The validating one-row ``model.predict`` (a provenance-
stamped DataFrame, what the app's form calls) is reported beside it.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd

from bench.common import figure, latency


def run(mode: str) -> dict[str, Any]:
    from bayes_core.models.hierarchical_negbinom import HierarchicalNegBinomModel, predict_one
    from bayes_core.predictor import draws_for_run

    model = HierarchicalNegBinomModel()
    draws = {"full": 500, "quick": 300, "smoke": 30}[mode]
    trained = model.train(draws=draws, tune=draws, chains=2, seed=3)
    calls = {"full": 1000, "quick": 1000, "smoke": 50}[mode]
    batch_rows = {"full": 10_000, "quick": 10_000, "smoke": 200}[mode]

    t0 = time.perf_counter()
    cached = draws_for_run(trained)
    load_s = time.perf_counter() - t0
    request = {"entity": "E003", "windows": 2, "threshold": 5, "credible_level": 0.9}
    core = latency(lambda: predict_one(cached, request), calls)
    full = latency(lambda: model.predict(request, trained), calls)
    entities = list(cached["entity_index"])
    batch = pd.DataFrame({"entity": [entities[i % len(entities)] for i in range(batch_rows)],
                          "windows": 1, "threshold": 5, "credible_level": 0.9})
    t0 = time.perf_counter()
    table, problems = model.predict_batch(batch, trained)
    batch_s = time.perf_counter() - t0
    assert len(table) == batch_rows and not problems

    return {
        "posterior draws": figure(int(cached["n_draws"]), "draws"),
        "load the run's draws": figure(load_s, "s"),
        **{f"predict_one (cached draws → dict) {q}": figure(core[f"{q}_ms"], "ms", *(
            ("< 2 ms", core["p95_ms"] < 2.0) if q == "p95" else ())) for q in ("p50", "p95", "p99")},
        **{f"model.predict (validated → provenance DataFrame) {q}": figure(full[f"{q}_ms"], "ms")
           for q in ("p50", "p95", "p99")},
        f"predict_batch of {batch_rows:,} rows (validated)": figure(batch_s, "s", "< 0.5 s", batch_s < 0.5),
        "single calls timed": figure(calls, "calls"),
    }
