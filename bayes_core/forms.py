"""Validation of values for form fields declared in a config (inference params, model options).

The same rules serve the app's generated forms, the CLI and batch CSVs: a value is coerced to its
field's type and checked against bounds and options; every bad field gets its own message.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

from bayes_core.config import InferenceParameter

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "") or (
        isinstance(value, float) and math.isnan(value))


def coerce_value(spec: InferenceParameter, value: Any, options: list[Any] | None = None) -> Any:
    """Return the value converted to the field's type, or raise ValueError with a user message."""
    t = spec.type
    if t == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"{value!r} is not true/false")
    if t == "integer":
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a whole number")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not a whole number") from None
        if not math.isfinite(number) or number != int(number):
            raise ValueError(f"{value!r} is not a whole number")
        value = int(number)
    elif t == "float":
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a number")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
    elif t in ("string", "select"):
        value = str(value).strip() if not isinstance(value, str) else value.strip()
        if t == "select" and not spec.options_from_run:
            allowed = options if options is not None else spec.options or []
            match = next((o for o in allowed if str(o) == value), None)
            if match is None:
                raise ValueError(f"{value!r} is not one of {', '.join(map(str, allowed))}")
            return match
        return value
    if t in ("integer", "float"):
        if spec.min_value is not None and value < spec.min_value:
            raise ValueError(f"must be ≥ {_fmt(spec.min_value)} (got {_fmt(value)})")
        if spec.max_value is not None and value > spec.max_value:
            raise ValueError(f"must be ≤ {_fmt(spec.max_value)} (got {_fmt(value)})")
    return value


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def validate_fields(specs: Iterable[InferenceParameter], values: Mapping[str, Any],
                    dynamic_options: Mapping[str, list[Any]] | None = None,
                    fill_defaults: bool = True) -> tuple[dict[str, Any], dict[str, str]]:
    """Coerce ``values`` field by field. Returns ``(clean, errors)``; ``errors`` maps field → message.

    Missing optional fields take their default; unknown names are reported too.
    """
    specs = list(specs)
    dynamic_options = dynamic_options or {}
    known = {s.name for s in specs}
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in values:
        if name not in known:
            errors[name] = f"unknown parameter (expected one of: {', '.join(sorted(known))})"
    for spec in specs:
        raw = values.get(spec.name)
        if _is_missing(raw):
            if spec.default is not None and fill_defaults:
                raw = spec.default
            elif spec.required:
                errors[spec.name] = "is required"
                continue
            else:
                clean[spec.name] = None
                continue
        try:
            clean[spec.name] = coerce_value(spec, raw, dynamic_options.get(spec.name))
        except ValueError as exc:
            errors[spec.name] = str(exc)
    return clean, errors
