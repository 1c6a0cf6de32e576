"""Prior hyper-parameters: which names a model reads and which values each may take.

A model class declares ``prior_constraints = {"mu_rate": "positive", "intercept_mu": "real", ...}``.
The registry checks a config's ``priors`` against it when it loads (a broken-config entry, not a
sampler crash later), and the base class checks priors given at construction (prior page, jobs).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

# kind -> (test, what the value must be)
CONSTRAINTS: dict[str, tuple[Any, str]] = {
    "real": (lambda x: True, "a finite number"),
    "positive": (lambda x: x > 0, "a finite number > 0"),
    "nonnegative": (lambda x: x >= 0, "a finite number ≥ 0"),
    "unit_interval": (lambda x: 0 < x < 1, "a number strictly between 0 and 1"),
}


def prior_problems(constraints: Mapping[str, str], priors: Mapping[str, Any], *,
                   require_all: bool = True) -> dict[str, str]:
    """Every problem of ``priors`` against a model's ``constraints``: name → message.

    Unknown names are refused (a typo would otherwise be ignored and the model's own value used
    silently); with ``require_all`` a prior the model reads but the config lacks is refused too.
    """
    problems: dict[str, str] = {}
    known = ", ".join(constraints) or "(none)"
    for name, value in priors.items():
        kind = constraints.get(name)
        if kind is None:
            problems[name] = f"unknown prior (this model's priors: {known})"
            continue
        test, wanted = CONSTRAINTS[kind]
        number = _number(value)
        if number is None or not math.isfinite(number) or not test(number):
            problems[name] = f"must be {wanted} (got {value!r})"
    if require_all:
        for name in constraints:
            if name not in priors:
                problems[name] = f"missing: this model needs it ({constraints[name]} prior)"
    return problems


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def check_constraint_kinds(constraints: Mapping[str, str]) -> list[str]:
    """Constraint kinds a model class declares that this module does not know (a programming error)."""
    return [f"{name}: unknown constraint kind {kind!r} (known: {', '.join(CONSTRAINTS)})"
            for name, kind in constraints.items() if kind not in CONSTRAINTS]
