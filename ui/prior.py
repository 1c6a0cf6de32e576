"""Prior predictive section: prior hyper-parameter inputs, cached sampling, plots and statistics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from bayes_core import compiled
from bayes_core import ppc as checks
from bayes_core.config import ModelMetadata
from bayes_core.draws import stack_chains
from ui import charts, resources
from ui.forms import grid, step_format


MOVED = "moved_priors_{model_id}"  # session key: the priors moved here, offered to the Training page


def moved_priors(meta: ModelMetadata) -> dict[str, float]:
    """The hyper-parameters the analyst moved on the Prior predictive page (those left at their config
    value are not listed, nor those the config no longer has); the Training page offers them for the job."""
    moved = st.session_state.get(MOVED.format(model_id=meta.model_id)) or {}
    return {name: value for name, value in moved.items() if name in meta.priors}


def prior_inputs(meta: ModelMetadata) -> dict[str, float]:
    """One slider per config prior, its config value as default (range around it, same sign); the
    moved ones are kept for the Training page (``moved_priors``)."""
    values = {}
    places = grid(len(meta.priors), min(4, max(1, len(meta.priors))))
    for place, (name, default) in zip(places, meta.priors.items()):
        if default > 0:
            lo, hi, step = default / 20, default * 5, default / 20
        else:
            span = max(abs(default) * 5, 1.0)
            lo, hi, step = -span, span, span / 100
        values[name] = place.slider(
            name, min_value=float(lo), max_value=float(hi), value=float(default), step=float(step),
            format=step_format(step, lo, hi, default), key=f"prior_{meta.model_id}_{name}",
            help=f"Config value: {default:g}")
    st.session_state[MOVED.format(model_id=meta.model_id)] = {
        name: value for name, value in values.items() if value != float(meta.priors[name])}
    return values


@st.cache_data(max_entries=16, show_spinner=False)
def sample(model_id: str, config_hash: str | None, priors: tuple[tuple[str, float], ...],
           options: tuple[tuple[str, Any], ...], data_csv: bytes | None, draws: int, seed: int) -> dict[str, Any]:
    """Prior and prior predictive draws as plain arrays (cached by every input). The app keeps
    compiled functions (``bayes_core.compiled``): a slider step binds the new hyper-parameters to the
    kept prior predictive function of a model whose priors are data containers, instead of compiling."""
    compiled.enable()
    model = resources.model(model_id, dict(priors)).with_options(dict(options))
    data = model.load_data(data_csv)
    tree = model.sample_prior_predictive(data, draws=draws, seed=seed)
    prior = tree["prior"].to_dataset()
    predictive = tree["prior_predictive"].to_dataset()
    observed = tree["observed_data"].to_dataset() if "observed_data" in tree.children else None
    return {
        "prior": {n: stack_chains(prior[n].values) for n in prior.data_vars if prior[n].ndim == 2},  # scalars only
        "predictive": {n: stack_chains(predictive[n].values) for n in predictive.data_vars},
        "observed": {n: observed[n].values for n in observed.data_vars} if observed is not None else {},
    }


def summary_statistics(observed: np.ndarray | None, replicated: np.ndarray, outcome_kind: str) -> pd.DataFrame:
    """Statistics that fit the outcome (``bayes_core.ppc.summary_rows``): pooled predictive draws vs observed."""
    rows = {"predictive (all draws)": checks.summary_rows(replicated, outcome_kind)}
    if observed is not None:
        rows["observed"] = checks.summary_rows(observed, outcome_kind)
    return pd.DataFrame(rows).T


def render(result: dict[str, Any], headline: list[str], outcome_kind: str) -> None:
    for name, replicated in result["predictive"].items():
        observed = result["observed"].get(name)
        left, right = st.columns(2)
        left.plotly_chart(charts.predictive_vs_observed(observed, replicated, f"Prior predictive vs observed: {name}",
                                                        replicated_name="Prior predictive",
                                                        discrete=outcome_kind != checks.CONTINUOUS), width="stretch")
        right.plotly_chart(charts.ecdf_overlay(observed, replicated, f"ECDF: {name}",
                                               replicated_name="Prior predictive"), width="stretch")
        st.markdown(f"**Summary statistics: {name}**")
        st.dataframe(summary_statistics(observed, replicated, outcome_kind).style.format("{:.3g}"), width="stretch")
    names = [n for n in headline if n in result["prior"]] + [n for n in result["prior"] if n not in headline]
    st.subheader("Marginal priors")
    if not names:  # e.g. pairs trading: one slope, intercept and variance per window, no scalar prior
        st.caption("This model has no scalar parameters: its priors are per window or per entity, and their "
                   "effect shows in the prior predictive above.")
        return
    cols = st.columns(min(3, max(1, len(names))))
    for i, name in enumerate(names):
        cols[i % len(cols)].plotly_chart(charts.marginal(result["prior"][name], name, colour=charts.OBSERVED),
                                         width="stretch")
