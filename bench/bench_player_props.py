"""Speed of the player-props predictor and size of its run on disk.

Goals (issue 5): loading a run ≤ 1 s; ``predict_player`` p95 < 2 ms; ``predict_batch`` of 10,000
requests < 0.5 s; the trace far below the seed's 356 MB. ``run(quick)`` trains one run (quick: a
reduced league and short chains; full: the example league with the config's default sampling) in a
temporary artifacts directory and measures it. Every figure comes with its unit.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import figure

N_BATCH = 10_000


def _timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _train(quick: bool):
    from bayes_core.registry import get_registry

    model = get_registry(refresh=True).load_model_instance(
        "player_props", options={"train_end": "2026-03-01", "features": "form"})
    settings = dict(draws=200, tune=200, chains=2) if quick else {}
    t0 = time.perf_counter()
    run = model.train(**settings)
    return model, run, time.perf_counter() - t0


def _measure(run) -> dict[str, Any]:
    from bayes_core.predictor import BayesianPredictor, clear_cache

    trace = Path(run.path) / "trace.nc"
    loads = []
    for _ in range(3):
        clear_cache()
        t0 = time.perf_counter()
        predictor = BayesianPredictor(run.path, n_samples=1000)
        loads.append(time.perf_counter() - t0)

    rng = np.random.default_rng(0)
    players, opponents = predictor.players, predictor.opponents
    singles = [(players[rng.integers(len(players))], opponents[rng.integers(len(opponents))], bool(rng.integers(2)),
                {"form": float(rng.normal())}, float(rng.integers(1, 91))) for _ in range(500)]
    for args in singles[:20]:  # warm-up
        predictor.predict_player(*args)
    single_ms = sorted(1000 * t for t in (min(_timed(lambda a=a: predictor.predict_player(*a), 1)) for a in singles))

    requests = [{"player_id": players[rng.integers(len(players))], "opponent_id": opponents[rng.integers(len(opponents))],
                 "was_home": bool(rng.integers(2)), "features": {"form": float(rng.normal())},
                 "minutes": float(rng.integers(1, 91))} for _ in range(N_BATCH)]
    batch_s = _timed(lambda: predictor.predict_batch(requests), 3)

    load, p95, batch = statistics.median(loads), single_ms[int(0.95 * len(single_ms)) - 1], statistics.median(batch_s)
    return {
        "trace_size": figure(trace.stat().st_size / 1e6, "MB"),
        "run_dir_size": figure(sum(p.stat().st_size for p in Path(run.path).rglob("*") if p.is_file()) / 1e6, "MB"),
        "draws_kept": figure(predictor.draws.n_draws, "draws"),
        "load_run": figure(load, "s", "≤ 1 s", load <= 1),
        "predict_player_p50": figure(single_ms[len(single_ms) // 2], "ms"),
        "predict_player_p95": figure(p95, "ms", "< 2 ms", p95 < 2),
        "predict_batch_10k": figure(batch, "s", "< 0.5 s", batch < 0.5),
    }


def run(quick: bool | str = False) -> dict[str, Any]:
    """``quick`` may also be the harness's mode name ("full", "quick", "smoke")."""
    if isinstance(quick, str):
        quick = quick != "full"
    own_dir = None
    if not os.environ.get("BAYES_ARTIFACTS_DIR"):
        own_dir = tempfile.TemporaryDirectory(prefix="bench-props-")
        os.environ["BAYES_ARTIFACTS_DIR"] = own_dir.name
    try:
        _, trained, train_s = _train(quick)
        figures = _measure(trained)
        figures["train"] = figure(train_s, "s")
        settings = trained.metadata["settings"]
        figures["sampler settings"] = figure(f"{settings['chains']} chains × {settings['draws']} draws "
                                           f"(+{settings['tune']} tune)", "")
        figures["convergence verdict"] = figure(trained.verdict, "")
        return figures
    finally:
        if own_dir is not None:
            os.environ.pop("BAYES_ARTIFACTS_DIR", None)
            own_dir.cleanup()


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2, default=str))
