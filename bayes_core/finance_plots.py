"""Plotly figures shared by the finance models' notebook APIs (no Streamlit here)."""

from __future__ import annotations

import numpy as np

from bayes_core.draws import hdi, stack_chains
from bayes_core.errors import InvalidParametersError


def posterior_draws(idata, name: str) -> dict[str, np.ndarray]:
    """``{label: draws}`` for a variable (every element of a vector) or one element ``beta[x1]``."""
    posterior = idata["posterior"].to_dataset()
    var, _, element = name.partition("[")
    if var not in posterior.data_vars:
        raise InvalidParametersError({"name": f"unknown variable {name!r}; known: {', '.join(posterior.data_vars)}"})
    da = posterior[var].transpose("chain", "draw", ...)
    values = stack_chains(da.values)  # (draws, *element dims)
    if values.ndim == 1:
        return {var: values}
    column = {str(v): i for i, v in enumerate(da[da.dims[2]].values)}
    labels = list(column)
    if element:
        label = element.rstrip("]")
        if label not in labels:
            raise InvalidParametersError({"name": f"{var} has no element {label!r}; known: {', '.join(labels)}"})
        labels = [label]
    return {f"{var}[{lab}]": values[:, column[lab]] for lab in labels}


def posterior_histograms(idata, name: str, title: str, hdi_prob: float = 0.94):
    """Overlaid posterior histograms with the HDI of each element marked."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for label, draws in posterior_draws(idata, name).items():
        lo, hi = hdi(draws, hdi_prob)
        fig.add_trace(go.Histogram(x=draws, name=f"{label}  ({hdi_prob:.0%} HDI {float(lo):.3g} … {float(hi):.3g})",
                                   histnorm="probability density", opacity=0.6, nbinsx=60))
    fig.update_layout(title=title, barmode="overlay", xaxis_title=name, yaxis_title="density")
    return fig
