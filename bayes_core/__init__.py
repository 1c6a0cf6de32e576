"""Core of the Bayesian model workbench: configs, registry, model lifecycle, runs, jobs.

Never imports streamlit; importing it does not import jax or pymc (those load on first use).
"""

import os as _os
import sys as _sys

from bayes_core.errors import BayesCoreError
from bayes_core.registry import ModelRegistry, get_registry

__all__ = ["BayesCoreError", "ModelRegistry", "get_registry", "load_model"]
__version__ = "0.1.0"


def _no_c_compiler_for_pytensor() -> None:
    """Tell pytensor (before it loads) to compile no C. Everything that runs hot here is compiled by
    numba; C was only a side effect: a one-off function in pytensor's Python mode (the DAG's shapes,
    initial points, a prior predictive) still builds C thunks for some operations, such as the LKJ
    prior's inner graph, and a fresh machine spends g++ time on them (26 s for player props' DAG, 1 s
    without; the results are the same). Children inherit the setting; a ``cxx`` the caller set in
    PYTENSOR_FLAGS, or a pytensor already loaded, is left alone."""
    flags = _os.environ.get("PYTENSOR_FLAGS", "")
    named = {flag.split("=", 1)[0].strip() for flag in flags.split(",")}  # gcc__cxxflags is another flag
    if "pytensor" not in _sys.modules and "cxx" not in named:
        _os.environ["PYTENSOR_FLAGS"] = f"{flags},cxx=" if flags else "cxx="


_no_c_compiler_for_pytensor()


def load_model(model_id: str, ref: str | None = "latest", version: str | None = None):
    """The model bound to a run: ``load_model("hierarchical_negbinom", ref="production")`` (a run id,
    latest, latest-converged, an alias) or ``version="1.0.0"`` (its newest run of that version).
    ``predict``/``predict_batch`` then use that run by default. PyMC loads on first use, not here."""
    from bayes_core.runs.history import load_model as _load_model

    return _load_model(model_id, ref, version)
