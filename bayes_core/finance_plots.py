"""Plotly figures shared by the finance models' notebook APIs (no Streamlit here)."""

from __future__ import annotations

import numpy as np

from bayes_core.errors import InvalidParametersError
from bayes_core.finance import hdi


def posterior_draws(idata, name: str) -> dict[str, np.ndarray]:
    """``{label: draws}`` for a variable (every element of a vector) or one element ``beta[x1]``."""
    posterior = idata["posterior"].to_dataset()
    var, _, element = name.partition("[")
    if var not in posterior.data_vars:
        raise InvalidParametersError({"name": f"unknown variable {name!r}; known: {', '.join(posterior.data_vars)}"})
    da = posterior[var].stack(sample=("chain", "draw"))
    extra = [d for d in da.dims if d != "sample"]
    if not extra:
        return {var: np.asarray(da.values)}
    dim = extra[0]
    labels = [str(v) for v in da[dim].values]
    if element:
        label = element.rstrip("]")
        if label not in labels:
            raise InvalidParametersError({"name": f"{var} has no element {label!r}; known: {', '.join(labels)}"})
        labels = [label]
    return {f"{var}[{lab}]": np.asarray(da.sel({dim: lab}).values) for lab in labels}


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
