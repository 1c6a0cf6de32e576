"""Validation of values for form fields declared in a config (inference params, model options).

The same rules serve the app's generated forms, the CLI and batch CSVs: a value is coerced to its
field's type and checked against bounds and options; every bad field gets its own message.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

from bayes_core.config import InferenceParameter
from bayes_core.data import MAX_ABS_FLOAT, MAX_ABS_INTEGER, text_problem

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "") or (
        isinstance(value, float) and math.isnan(value))


def _echo(value: Any, limit: int = 40) -> str:
    """``repr`` of a user's value for a message, cut short (a 100,000-character cell stays out)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _short(name: Any, limit: int = 64) -> str:
    text = str(name)
    return text if len(text) <= limit else text[:limit - 1] + "…"


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
        raise ValueError(f"{_echo(value)} is not true/false")
    if t == "integer":
        if isinstance(value, bool):
            raise ValueError(f"{_echo(value)} is not a whole number")
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"{_echo(value)} is not a whole number") from None
        if not math.isfinite(number) or number != int(number):
            raise ValueError(f"{_echo(value)} is not a whole number")
        if abs(number) > MAX_ABS_INTEGER:
            raise ValueError(f"{_echo(value)} is too large (at most ±{MAX_ABS_INTEGER:,})")
        value = int(number)
    elif t == "float":
        if isinstance(value, bool):
            raise ValueError(f"{_echo(value)} is not a number")
        try:
            value = float(value)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"{_echo(value)} is not a number") from None
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        if abs(value) > MAX_ABS_FLOAT:
            raise ValueError(f"{_echo(value)} is too large (at most ±{MAX_ABS_FLOAT:g})")
    elif t in ("string", "select"):
        value = str(value).strip() if not isinstance(value, str) else value.strip()
        problem = text_problem(value)
        if problem:
            raise ValueError(f"{_echo(value)} {problem}")
        if t == "select" and not spec.options_from_run:
            allowed = options if options is not None else spec.options or []
            match = next((o for o in allowed if str(o) == value), None)
            if match is None:
                raise ValueError(f"{_echo(value)} is not one of {_listing(allowed)}")
            return match
        return value
    if t in ("integer", "float"):
        if spec.min_value is not None and value < spec.min_value:
            raise ValueError(f"must be ≥ {_fmt(spec.min_value)} (got {_fmt(value)})")
        if spec.max_value is not None and value > spec.max_value:
            raise ValueError(f"must be ≤ {_fmt(spec.max_value)} (got {_fmt(value)})")
    return value


def _listing(values: Iterable[Any], limit: int = 20) -> str:
    """A comma-separated list, cut after ``limit`` items (a run may know thousands of entities)."""
    values = list(values)
    head = ", ".join(map(str, values[:limit]))
    return head + (f", … ({len(values) - limit} more)" if len(values) > limit else "")


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
            errors[_short(name)] = f"unknown parameter (known: {', '.join(s.name for s in specs)})"
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


# -- batch CSVs ----------------------------------------------------------------------------------
BLANK_IN_BATCH = ("empty, and a default would be used silently: in a batch give a value in every row "
                  "of a column you include, or leave the column out to use the default ({default}) everywhere")


def batch_problems(columns: Iterable[Any], n_rows: int, fields: list[str]) -> list[str]:
    """What makes a whole batch unusable: no rows, a column named twice, columns no field has."""
    from bayes_core.data import ambiguous_header, duplicate_names

    columns = [str(c) for c in columns]
    problems = []
    dupes = duplicate_names(columns)
    if dupes:
        problems.append(ambiguous_header(dupes))
    unknown = [c for c in columns if c not in fields]
    if unknown:
        problems.append(f"unknown column(s) {', '.join(repr(_short(c)) for c in unknown[:20])}: the columns are "
                        f"the inference parameters ({', '.join(fields)}); remove or rename the others")
    if n_rows == 0:
        problems.append("no rows: the file has a header but no requests; add one request per row")
    return problems


def blank_cells(row: Mapping[str, Any], specs: Iterable[InferenceParameter]) -> dict[str, str]:
    """Cells of one batch row left empty (NaN, None, blank) where the field's default would
    silently stand in for them. A blank where the default is itself blank (e.g. no features)
    changes nothing and is left to the field's own rules (a required field says "is required")."""
    defaults = {s.name: s.default for s in specs}
    return {name: BLANK_IN_BATCH.format(default=_echo(defaults[name])) for name, value in row.items()
            if name in defaults and _is_missing(value) and not _is_missing(defaults[name])}
