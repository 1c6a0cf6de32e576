"""Core of the Bayesian model workbench: configs, registry, model lifecycle, runs, jobs.

Never imports streamlit; importing it does not import jax or pymc (those load on first use).
"""

from bayes_core.errors import BayesCoreError
from bayes_core.registry import ModelRegistry, get_registry

__all__ = ["BayesCoreError", "ModelRegistry", "get_registry"]
__version__ = "0.1.0"
