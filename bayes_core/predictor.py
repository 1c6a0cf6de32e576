"""Posterior draws of a run cached as plain numpy arrays, for fast predictions.

Loading a trace (NetCDF → xarray) costs far more than predicting from it, so a run's draws are
read once per process and kept as numpy arrays with lookup tables for their coordinates
(``draws_for_run``). Model-specific serving layers (e.g. the player-props predictor in
``bayes_core.models.player_props_predictor``) register their own caches here, so ``clear_cache``
empties them all. ``BayesianPredictor`` is importable from here as before.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from typing import Any, Callable

import numpy as np

from bayes_core.artifacts import Run

MAX_CACHED_VALUES = 25_000_000  # per run (200 MB of float64): beyond it draws are thinned evenly
_CACHES: list[Callable[[], None]] = []
#: Names of the player-props serving layer, importable from here (README and notebooks use them).
_PROPS_EXPORTS = ("BayesianPredictor", "PropsDraws", "props_predictor_for_run", "count_pmf", "tail_probabilities",
                  "PROPS", "PROP_FAMILY", "DEFAULT_LINES", "PROPS_INPUTS_REPORT")


@lru_cache(maxsize=16)
def _load_draws(run_dir: str, max_draws: int | None) -> dict[str, Any]:
    run = Run.from_path(run_dir)
    posterior = run.idata["posterior"].to_dataset()
    per_draw = sum(int(np.prod([n for d, n in v.sizes.items() if d not in ("chain", "draw")]))
                   for v in posterior.data_vars.values())
    budget = max(1, MAX_CACHED_VALUES // max(per_draw, 1))
    max_draws = budget if max_draws is None else min(max_draws, budget)
    draws: dict[str, Any] = dict(run.posterior_arrays(max_draws=max_draws))
    coords = {dim: [str(v) for v in posterior[dim].values] for dim in posterior.dims if dim not in ("chain", "draw")}
    draws["coords"] = coords
    for dim, values in coords.items():
        draws[f"{dim}_index"] = {v: i for i, v in enumerate(values)}
    draws["n_draws"] = next((a.shape[0] for a in draws.values() if isinstance(a, np.ndarray)), 0)
    return draws


def draws_for_run(run: Run, max_draws: int | None = None) -> dict[str, Any]:
    """``{var: (draws, ...) ndarray, "coords": {dim: [labels]}, "<dim>_index": {label: i}}``.

    All draws by default, so that figures computed from them (means, HDIs, probabilities) agree
    exactly with the run's own summary and reports; models with large vectors pass a cap, and no
    run keeps more than ``MAX_CACHED_VALUES`` numbers in memory.
    """
    return _load_draws(str(run.path), max_draws)


def register_cache(clear: Callable[[], None]) -> None:
    """A serving layer's per-run cache, emptied by ``clear_cache`` with this module's own."""
    _CACHES.append(clear)


def clear_cache() -> None:
    _load_draws.cache_clear()
    for clear in _CACHES:
        clear()


def __getattr__(name: str) -> Any:
    if name in _PROPS_EXPORTS:
        return getattr(importlib.import_module("bayes_core.models.player_props_predictor"), name)
    raise AttributeError(f"module 'bayes_core.predictor' has no attribute {name!r}")
