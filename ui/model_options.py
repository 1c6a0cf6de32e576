"""Model options on a page: their inputs, the model with them, and the data that depends on them.

A model's data schema declares the options it depends on (``DataSchema.depends_on_options``: a
target column the analyst names, a window that sets the fewest rows). Pages read that declaration
instead of guessing: they render those options where the data is chosen, check the data with the
model built from them, and check it again whenever one changes (options live outside forms, so a
change reruns the page).
"""

from __future__ import annotations

from typing import Any, Iterable

import streamlit as st

from bayes_core.config import ModelMetadata
from bayes_core.errors import InvalidParametersError
from ui.forms import render_fields
from ui.text import MESSAGE_CHARS, safe_text


def labels(meta: ModelMetadata) -> dict[str, str]:
    return {spec.name: spec.display_label for spec in meta.model_options}


def inputs(meta: ModelMetadata, key_prefix: str, names: Iterable[str] | None = None,
           heading: str = "**Model options**") -> tuple[dict[str, Any], dict[str, str]]:
    """Widgets for the model's options (only ``names`` when given): ``(values, errors)`` as
    ``render_fields`` returns them. Never put them in a form: a change must rerun the page."""
    wanted = None if names is None else set(names)
    specs = [s for s in meta.model_options if wanted is None or s.name in wanted]
    if not specs:
        return {}, {}
    if heading:
        st.markdown(heading)
    return render_fields(specs, key_prefix=key_prefix)


def with_options(model, values: dict[str, Any], errors: dict[str, str]):
    """The model with these options (what data is checked with and a job trains); None, with the
    reason shown, while they cannot be used (a field's own error is already under the field)."""
    if errors:
        return None
    try:
        return model.with_options(values)
    except InvalidParametersError as exc:  # checks across options (e.g. windows in order)
        names = labels(model.metadata)
        for name, message in exc.errors.items():
            st.error(f"{safe_text(names.get(name, name))}: {safe_text(message, MESSAGE_CHARS)}", icon=":material/error:")
        return None


def dependence_note(model, where: str = "below") -> tuple[str, ...]:
    """Say which options the data depends on (nothing for a model whose schema declares none);
    returns their names."""
    depends = model.data_schema().depends_on_options
    if depends:
        names = labels(model.metadata)
        st.caption(f":material/tune: What the data must hold depends on the model options {where} "
                   f"({', '.join(names.get(n, n) for n in depends)}): it is checked with their current values.")
    return depends


def in_use(model, names: Iterable[str]) -> str:
    """``Target column = sales, Feature columns = price,ads``: the values data was checked with."""
    shown = labels(model.metadata)
    parts = [f"{shown.get(n, n)} = {model.options[n]}" for n in names if model.options.get(n) not in (None, "")]
    return safe_text(", ".join(parts), MESSAGE_CHARS)
