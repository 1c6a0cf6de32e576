"""Sampler settings in one place: the names, the bounds, and the trace-size check.

``SamplerSettings`` is what every entry point validates against — the config's ``training:``
section, ``model.training_settings`` (CLI, jobs, notebooks), the Training page's inputs. Its bounds
and the ``SAMPLERS``/``DEVICES``/``METHODS`` tuples are the only copy of them. Every bad value gets a
message naming the field (``InvalidParametersError({field: message})``): out of range, not finite,
a bool, too large for any integer type — never a bare ``ValidationError`` or ``OverflowError``.

``check_trace_size`` refuses, before any sampling, a trace that would not fit in memory, stating
the estimate (chains × draws × values per draw × 8 bytes, plus the posterior predictive) and the
limit (``BAYES_MAX_TRACE_MB``, default 4096).
"""

from __future__ import annotations

import math
import os
from numbers import Integral, Real
from typing import Any, Mapping

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from bayes_core.errors import InvalidParametersError, TraceTooLargeError

SAMPLERS: tuple[str, ...] = ("auto", "nutpie", "numpyro", "pymc")
DEVICES: tuple[str, ...] = ("auto", "cpu", "gpu")
METHODS: tuple[str, ...] = ("mcmc", "approximate")

#: Inclusive bounds of the whole-number settings.
WHOLE_BOUNDS: dict[str, tuple[int, int]] = {
    "draws": (1, 100_000),
    "tune": (0, 100_000),
    "chains": (1, 64),
    "seed": (0, 2**32 - 1),
}
#: Exclusive bounds of target_accept.
TARGET_ACCEPT_BOUNDS = (0.5, 1.0)
CHOICES: dict[str, tuple[str, ...]] = {"sampler": SAMPLERS, "device": DEVICES, "method": METHODS}

MAX_TRACE_MB_ENV = "BAYES_MAX_TRACE_MB"
DEFAULT_MAX_TRACE_MB = 4096
BYTES_PER_VALUE = 8  # float64
#: Sampler statistics stored per draw (step size, tree depth, energy, divergence, ...): a generous count.
SAMPLE_STATS_PER_DRAW = 16


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def whole_number(name: str, value: Any) -> int:
    """``value`` as an int within ``WHOLE_BOUNDS[name]``; ValueError with a message otherwise."""
    lo, hi = WHOLE_BOUNDS[name]
    if isinstance(value, bool) or not isinstance(value, Integral) or not lo <= int(value) <= hi:
        raise ValueError(f"must be a whole number from {lo} to {hi} (got {_shown(value)})")
    return int(value)


def target_accept_value(value: Any) -> float:
    lo, hi = TARGET_ACCEPT_BOUNDS
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)) \
            or not lo < float(value) < hi:
        raise ValueError(f"must be between {lo} and {hi:g} (exclusive), got {_shown(value)}")
    return float(value)


def choice(name: str, value: Any) -> str:
    options = CHOICES[name]
    if value not in options:
        raise ValueError(f"must be one of {', '.join(options)} (got {_shown(value)})")
    return value


class SamplerSettings(BaseModel):
    """How to sample: draws and warm-up per chain, chains, target acceptance, seed, sampler, device
    and method (``mcmc``; ``approximate`` is reserved for a variational/Pathfinder path)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    draws: int = 2000
    tune: int = 1000
    chains: int = 4
    target_accept: float = 0.9
    seed: int = 42
    sampler: str = "auto"
    device: str = "auto"
    method: str = "mcmc"

    @field_validator("draws", "tune", "chains", "seed", mode="before")
    @classmethod
    def _whole(cls, value: Any, info) -> int:
        return whole_number(info.field_name, value)

    @field_validator("target_accept", mode="before")
    @classmethod
    def _target_accept(cls, value: Any) -> float:
        return target_accept_value(value)

    @field_validator("sampler", "device", "method", mode="before")
    @classmethod
    def _choice(cls, value: Any, info) -> str:
        return choice(info.field_name, value)

    @classmethod
    def parse(cls, values: Mapping[str, Any]) -> "SamplerSettings":
        """Validated settings, or ``InvalidParametersError`` with one message per bad field."""
        unknown = sorted(set(values) - set(cls.model_fields))
        errors = {k: f"unknown training setting (known: {', '.join(cls.model_fields)})" for k in unknown}
        try:
            settings = cls(**{k: v for k, v in values.items() if k not in unknown})
        except ValidationError as exc:
            errors.update(field_errors(exc))
            settings = None
        if errors:
            raise InvalidParametersError(errors)
        return settings

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


def field_errors(exc: ValidationError) -> dict[str, str]:
    """pydantic's errors as ``{field: message}`` (the "Value error, " prefix dropped)."""
    out: dict[str, str] = {}
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "settings"
        out.setdefault(field, err["msg"].removeprefix("Value error, "))
    return out


# -- trace size ------------------------------------------------------------------------------------
def max_trace_mb() -> float:
    """``BAYES_MAX_TRACE_MB`` (default 4096); an unusable value is an error that says how to fix it."""
    raw = os.environ.get(MAX_TRACE_MB_ENV)
    if raw is None or raw.strip() == "":
        return float(DEFAULT_MAX_TRACE_MB)
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or value <= 0:
        raise InvalidParametersError({MAX_TRACE_MB_ENV: f"{_shown(raw)} is not a positive number of megabytes; "
                                                        f"unset it (default {DEFAULT_MAX_TRACE_MB}) or set e.g. 8192"})
    return value


def trace_bytes(values_per_draw: int, settings: SamplerSettings, predictive_values: int = 0) -> int:
    """Estimated bytes of a trace: chains × draws × (values per draw + sampler statistics) × 8, plus
    the posterior predictive values kept with it."""
    per_draw = int(values_per_draw) + SAMPLE_STATS_PER_DRAW
    return (settings.chains * settings.draws * per_draw + int(predictive_values)) * BYTES_PER_VALUE


def check_trace_size(values_per_draw: int, settings: SamplerSettings, predictive_values: int = 0) -> int:
    """Refuse (``TraceTooLargeError``) a trace over ``BAYES_MAX_TRACE_MB``; returns the estimate in bytes."""
    limit_mb = max_trace_mb()
    estimate = trace_bytes(values_per_draw, settings, predictive_values)
    estimate_mb = estimate / 2**20
    if estimate_mb > limit_mb:
        raise TraceTooLargeError(
            f"the trace would need about {estimate_mb:,.0f} MB of memory ({settings.chains} chains × "
            f"{settings.draws:,} draws × {values_per_draw:,} values per draw × {BYTES_PER_VALUE} bytes, plus sampler "
            f"statistics and the posterior predictive), over the limit of {limit_mb:,.0f} MB ({MAX_TRACE_MB_ENV}). "
            "Lower draws or chains, or raise the limit if the machine has the memory.")
    return estimate
