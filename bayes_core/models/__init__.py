"""Model classes, one module per model. Each fills the hooks of ``BaseBayesianModel``.

Imports here are lazy so that ``import bayes_core.models`` stays light; notebook APIs are
importable by name (``from bayes_core.models import BayesianLinearRegression``).
"""

from __future__ import annotations

import importlib

_EXPORTS: dict[str, str] = {
    "HierarchicalNegBinomModel": "hierarchical_negbinom",
    "PlayerPropsModel": "player_props",
    "compare_multitask": "player_props",
    "BayesianLinearRegression": "linear_regression",
    "bayesian_sharpe": "sharpe",
    "compare_strategies_bayesian": "sharpe",
    "BayesianSharpeModel": "sharpe",
    "StrategyComparisonModel": "sharpe",
    "BayesianPairsTrading": "pairs_trading",
    "StochasticVolatilityModel": "stochastic_volatility",
    "estimate_volatility_regime": "stochastic_volatility",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bayes_core.models' has no attribute {name!r}")
    return getattr(importlib.import_module(f"bayes_core.models.{module}"), name)


__all__ = sorted(_EXPORTS)
