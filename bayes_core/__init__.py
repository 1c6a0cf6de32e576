"""Core of the Bayesian model workbench: configs, registry, model lifecycle, runs, jobs.

Never imports streamlit; importing it does not import jax or pymc (those load on first use).
"""

from bayes_core.errors import BayesCoreError
from bayes_core.registry import ModelRegistry, get_registry

__all__ = ["BayesCoreError", "ModelRegistry", "get_registry", "load_model"]
__version__ = "0.1.0"


def load_model(model_id: str, ref: str | None = "latest", version: str | None = None):
    """The model bound to a run: ``load_model("hierarchical_negbinom", ref="production")`` (a run id,
    latest, latest-converged, an alias) or ``version="1.0.0"`` (its newest run of that version).
    ``predict``/``predict_batch`` then use that run by default. PyMC loads on first use, not here."""
    from bayes_core.runs.history import load_model as _load_model

    return _load_model(model_id, ref, version)
