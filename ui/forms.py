"""Generated forms: one widget per ``InferenceParameter`` spec, each value validated where it stands.

Used for inference parameters (predictions page) and for model options (training page):

    values, errors = render_fields(specs, key_prefix="predict", values=None, dynamic_options=None)

``specs`` are ``InferenceParameter`` objects or their dicts (``model.get_inference_form_fields(run)``
returns dicts whose select ``options`` come from the run). ``values`` pre-fills the widgets (else
the config defaults). The returned ``values`` are coerced by ``bayes_core.forms`` rules and
``errors`` maps field → message; each message is also shown right under its field.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Iterator, Mapping

import streamlit as st

from bayes_core.config import InferenceParameter
from bayes_core.forms import validate_fields
from ui.text import MESSAGE_CHARS, safe_text


def as_spec(spec: InferenceParameter | Mapping[str, Any]) -> tuple[InferenceParameter, list[Any] | None]:
    """The validated spec, plus run-provided select options when the dict carries them."""
    if isinstance(spec, InferenceParameter):
        return spec, spec.options
    data = dict(spec)
    options = data.get("options")
    if data.get("options_from_run"):
        data["options"] = None  # options from the run are not part of the config's spec
        if data.get("default") is not None and options and data["default"] not in options:
            data["default"] = None
    return InferenceParameter.model_validate(data), options


def _step(spec: InferenceParameter) -> float:
    lo, hi = spec.min_value, spec.max_value
    if lo is not None and hi is not None and hi > lo:
        return float(10 ** math.floor(math.log10((hi - lo) / 100))) if hi - lo < 100 else 1.0
    return 0.01


def _widget(spec: InferenceParameter, options: list[Any] | None, value: Any, key: str, help_text: str) -> Any:
    label = spec.display_label + ("" if spec.required else " (optional)")
    if spec.type == "boolean":
        return st.checkbox(label, value=bool(value) if value is not None else False, key=key, help=help_text)
    if spec.type == "select":
        opts = list(options or [])
        index = opts.index(value) if value in opts else (0 if opts and spec.required else None)
        # Options from a run (e.g. entities it saw) still accept a new value typed in.
        return st.selectbox(label, opts, index=index, key=key, help=help_text,
                            accept_new_options=spec.options_from_run,
                            placeholder="Choose or type a value" if spec.options_from_run else "Choose an option")
    if spec.type == "string":
        return st.text_input(label, value="" if value is None else str(value), key=key, help=help_text)
    is_int = spec.type == "integer"
    cast = int if is_int else float
    start = cast(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    # Bounds are checked by bayes_core.forms and reported under the field: a widget-enforced
    # min/max would silently reset an out-of-range entry to the default instead of saying why.
    return st.number_input(label, value=start, key=key, help=help_text,
                           step=1 if is_int else _step(spec), format="%d" if is_int else "%g",
                           placeholder="required" if spec.required else "optional")


def render_fields(specs: Iterable[InferenceParameter | Mapping[str, Any]], key_prefix: str,
                  values: Mapping[str, Any] | None = None,
                  dynamic_options: Mapping[str, list[Any]] | None = None,
                  columns: int = 1) -> tuple[dict[str, Any], dict[str, str]]:
    """Render one widget per spec; return ``(clean_values, errors)`` (errors shown under fields)."""
    values = dict(values or {})
    dynamic_options = dict(dynamic_options or {})
    clean, errors = {}, {}
    parsed = [as_spec(s) for s in specs]
    for place, (spec, options) in zip(grid(len(parsed), columns), parsed):
        options = dynamic_options.get(spec.name, options)
        bounds = _bounds_text(spec)
        help_text = " ".join(t for t in (spec.help_text, bounds) if t) or None
        with place:
            raw = _widget(spec, options, values.get(spec.name, spec.default), f"{key_prefix}__{spec.name}", help_text)
            # run-provided options only suggest: a select fed by the run accepts new values
            field_clean, field_errors = validate_fields(
                [spec], {spec.name: raw}, None if spec.options_from_run else {spec.name: options or []})
            if field_errors:
                errors[spec.name] = field_errors[spec.name]
                st.error(f"{spec.display_label}: {safe_text(field_errors[spec.name], MESSAGE_CHARS)}",
                         icon=":material/error:")
            else:
                clean[spec.name] = field_clean[spec.name]
    return clean, errors


def grid(count: int, columns: int) -> Iterator[Any]:
    """``count`` places filled row by row (a fresh ``st.columns`` per row), so fields read and tab
    left to right in their declared order (x1 x2 / x3) instead of down each column (x1 x3 / x2)."""
    columns = max(1, columns)
    for start in range(0, count, columns):
        row = st.columns(columns) if columns > 1 else [st.container()]
        yield from row[:min(columns, count - start)]


def decimals_for(*numbers: float | None, most: int = 6) -> int:
    """Fewest decimals (≤ ``most``) that write every number exactly: 0.005 → 3, 2.5 → 1, 10 → 0."""
    needed = 0
    for x in numbers:
        if x is None or not math.isfinite(x):
            continue
        d = 0
        while d < most and abs(round(x, d) - x) > 1e-9 * max(1.0, abs(x)):
            d += 1
        needed = max(needed, d)
    return needed


def step_format(step: float, *values: float | None) -> str:
    """A printf format that shows ``step`` and ``values`` (bounds, default) to their last decimal,
    so a slider from 0.005 is labelled 0.005, not 0.01."""
    return f"%.{decimals_for(step, *values)}f"


def _bounds_text(spec: InferenceParameter) -> str:
    lo, hi = spec.min_value, spec.max_value
    if lo is not None and hi is not None:
        return f"Allowed: {lo:g} to {hi:g}."
    if lo is not None:
        return f"Allowed: ≥ {lo:g}."
    if hi is not None:
        return f"Allowed: ≤ {hi:g}."
    return ""


def show_errors(errors: Mapping[str, str]) -> None:
    """Errors from a whole-request check (``model.validate_inference_params``) not tied to a widget."""
    for name, message in errors.items():
        st.error(f"{safe_text(name)}: {safe_text(message, MESSAGE_CHARS)}", icon=":material/error:")
