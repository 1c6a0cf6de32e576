"""Posterior draws of a run cached as plain numpy arrays, for fast predictions.

Loading a trace (NetCDF → xarray) costs far more than predicting from it, so a run's draws are
read once per process and kept as numpy arrays with lookup tables for their coordinates.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from bayes_core.artifacts import Run

DEFAULT_MAX_DRAWS = 2000


@lru_cache(maxsize=16)
def _load_draws(run_dir: str, max_draws: int) -> dict[str, Any]:
    run = Run.from_path(run_dir)
    posterior = run.idata["posterior"].to_dataset()
    draws: dict[str, Any] = {name: arr for name, arr in run.posterior_arrays(max_draws=max_draws).items()}
    coords = {dim: [str(v) for v in posterior[dim].values] for dim in posterior.dims if dim not in ("chain", "draw")}
    draws["coords"] = coords
    for dim, values in coords.items():
        draws[f"{dim}_index"] = {v: i for i, v in enumerate(values)}
    draws["n_draws"] = next((a.shape[0] for a in draws.values() if isinstance(a, np.ndarray)), 0)
    return draws


def draws_for_run(run: Run, max_draws: int = DEFAULT_MAX_DRAWS) -> dict[str, Any]:
    """``{var: (draws, ...) ndarray, "coords": {dim: [labels]}, "<dim>_index": {label: i}}``."""
    return _load_draws(str(run.path), max_draws)


def clear_cache() -> None:
    _load_draws.cache_clear()
