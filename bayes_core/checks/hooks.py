"""What simulation-based calibration (SBC) asks of a model: ``SBCHooks``, a base of
``BaseBayesianModel`` with generic defaults that a model overrides minimally.

- ``sbc_simulate(data, n, seed)``   n prior draws and one simulated data set per draw, from the
                                    model's own prior predictive on ``data``'s shape (entities,
                                    covariates and rows of the template are kept; the outcome is new)
- ``sbc_parameters(prior)``         the variables whose ranks are checked (default: the headline
                                    variables, else every scalar free variable)
- ``sbc_data_from(template, sim)``  the template with its observed columns replaced by one
                                    simulated data set (``sbc_observed_columns`` / ``sbc_column``
                                    name the columns)
- ``sbc_fit(data, settings, progress)`` the posterior draws of one simulated data set by the
                                    model's own sampled model (``build_model``: the reduced
                                    likelihood where the model has one) and its convergence verdict
- ``sbc_pooled_dims``               dimensions whose elements are ranked together (independent parts)
- ``sbc_unavailable``               why the model cannot be checked this way (None: it can)
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

import numpy as np
import pandas as pd

from bayes_core.errors import BayesCoreError


class SBCHooks:
    #: Why SBC cannot check this model (None: it can); ``run_sbc`` refuses with this reason.
    sbc_unavailable: ClassVar[str | None] = None
    #: Dimensions whose elements are ranked as one pooled parameter (e.g. pairs trading's independent
    #: windows: their ranks within a simulation are independent, so pooling gains power and avoids one
    #: test per element); empty: every element is its own parameter.
    sbc_pooled_dims: ClassVar[tuple[str, ...]] = ()
    #: Observed variable of the predictive model → the data column it simulates (default: same name).
    sbc_observed_columns: ClassVar[dict[str, str]] = {}

    def sbc_simulate(self, data: pd.DataFrame, n: int, seed: int) -> tuple[Any, Any]:
        """``(prior, simulated)``: datasets with a leading ``sim`` dimension — n prior draws and the
        observed variables each draw simulates from the prior predictive at ``data``'s size."""
        draws = self.sample_prior_predictive(data, draws=n, seed=seed)

        def by_sim(group: str):
            return draws[group].to_dataset().isel(chain=0).rename({"draw": "sim"})

        return by_sim("prior"), by_sim("prior_predictive")

    def sbc_parameters(self, prior) -> list[str]:
        """Variables ranked by SBC: the headline variables the prior has, else its scalar variables."""
        named = [name for name in self.headline_vars if name in prior.data_vars]
        return named or [name for name, da in prior.data_vars.items() if da.dims == ("sim",)]

    def sbc_column(self, observed: str) -> str:
        """The data column the observed variable ``observed`` simulates."""
        return self.sbc_observed_columns.get(observed, observed)

    def sbc_data_from(self, template: pd.DataFrame, simulated: Mapping[str, np.ndarray]) -> pd.DataFrame:
        """``template`` with each observed column replaced by its simulated values."""
        data = template.copy()
        for name, values in simulated.items():
            column = self.sbc_column(name)
            values = np.asarray(values)
            if column not in data.columns or values.shape != (len(data),):
                raise BayesCoreError(
                    f"{type(self).__name__}: SBC cannot place the simulated {name!r} (shape {values.shape}) in the "
                    f"data's column {column!r} ({len(data)} rows); the model must say where it goes "
                    "(sbc_observed_columns, or override sbc_data_from).")
            data[column] = values.astype(data[column].dtype) if data[column].dtype.kind in "iu" else values
        return data

    def sbc_fit(self, data: pd.DataFrame, settings, progress) -> tuple[Any, str]:
        """``(posterior, verdict)`` of one simulated data set: the model's sampled model — what
        ``fit`` samples, without its fallback and posterior predictive, which SBC does not judge."""
        from bayes_core import diagnostics, samplers

        data = self.load_data(data)
        idata, _ = samplers.sample(self.build_model(data), settings, progress, cache_key=self.compile_context())
        verdict = diagnostics.compute_diagnostics(idata, diagnostics.summary_table(idata))["verdict"]
        return idata["posterior"].to_dataset(), verdict
