"""The fallback record: when MCMC raises or fails badly, a model with a fallback says so.

``BaseBayesianModel.fit`` judges each sampled fit with ``convergence_failure`` and, for a model
that defines a ``fallback_fit``, records the switch with ``announce`` (a ``FallbackWarning`` and a
log line — never silently). The ``Fallback`` record travels in the diagnostics, in every prediction
row (``fallback``, ``fallback_reason``) and in the notebook tables.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any, Mapping

log = logging.getLogger("bayes_core.fallback")

#: R-hat above this (with an overall 'problem' verdict) counts as "failed to converge badly".
FALLBACK_RHAT = 1.05


class FallbackWarning(UserWarning):
    """Issued whenever a model reports a simpler estimate because MCMC failed."""


@dataclass(frozen=True)
class Fallback:
    """Whether a result came from the fallback method, and why. ``columns()`` goes into tables."""

    used: bool = False
    reason: str = ""
    method: str = ""

    def columns(self) -> dict[str, Any]:
        return {"fallback": self.used, "fallback_reason": self.reason}

    def to_dict(self) -> dict[str, Any]:
        return {"used": self.used, "reason": self.reason, "method": self.method}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "Fallback":
        d = d or {}
        return cls(bool(d.get("used", False)), str(d.get("reason", "")), str(d.get("method", "")))


NO_FALLBACK = Fallback()


def convergence_failure(diagnostics: Mapping[str, Any]) -> str | None:
    """A reason string when a fit failed to converge badly (verdict 'problem' and R-hat > 1.05)."""
    r_hat = diagnostics.get("r_hat_max")
    if diagnostics.get("verdict") == "problem" and r_hat is not None and r_hat > FALLBACK_RHAT:
        return f"MCMC did not converge (R-hat max {r_hat:.3f} > {FALLBACK_RHAT})"
    return None


def announce(model: Any, method: str, reason: str) -> Fallback:
    """Warn (``FallbackWarning``) and log that ``model`` uses ``method`` instead of MCMC."""
    message = (f"{type(model).__name__} ({model.model_id}): {reason}; using the {method} fallback instead of "
               "the Bayesian posterior.")
    warnings.warn(message, FallbackWarning, stacklevel=4)
    log.warning(message)
    return Fallback(True, reason, method)
