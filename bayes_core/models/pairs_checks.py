"""Simulation-based calibration and prior sensitivity of the pairs-trading model.

Its sampled model is a product of independent per-window regressions, Π_t p(θ_t) p(y^(t) | θ_t, x^(t)),
θ_t = (c_t, β_t, σ²_t). Windows overlap in the price series, so no one series can be simulated from
one prior draw; but the joint model the sampler targets can: draw each window's θ_t from its prior
and simulate that window's y^(t) on its own. SBC does exactly that on ``SBC_WINDOWS`` separate
windows of the template (their x kept), and fits them with the same per-window model under the
template's data-scaled prior — computed once from the template, never from the simulated data,
which would make the prior depend on the data and break SBC. The windows' ranks are pooled per
parameter (``sbc_pooled_dims``): within one simulation they are independent, so 8 windows give 8
ranks a simulation and three tests in all, instead of one underpowered test per window element.

Prior sensitivity power-scales each window's prior and likelihood on its own: the posterior factorises
over windows, so scaling window t alone moves exactly window t's marginal, while one joint power
over hundreds of windows would reweight each by all the others' and show only Monte Carlo noise.
``SENSITIVITY_WINDOWS`` windows, evenly spaced and the last included, are examined.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_core.rolling_regression import DataScale, NIGPrior, WindowStats

SBC_WINDOWS = 8
SENSITIVITY_WINDOWS = 40
PARAMETERS = ["hedge_ratio", "intercept_centered", "sigma2"]


class PairsChecks:
    """SBC and sensitivity hooks of ``BayesianPairsTrading`` (see the module docstring)."""

    sbc_pooled_dims = ("window",)

    # -- SBC ---------------------------------------------------------------------------------------
    def _sbc_blocks(self, template: pd.DataFrame) -> np.ndarray:
        """Row indices (windows, days) of up to ``SBC_WINDOWS`` non-overlapping windows, evenly spread."""
        w = self.window
        starts = np.arange(0, len(template) - w + 1, w)
        starts = starts[np.linspace(0, len(starts) - 1, min(SBC_WINDOWS, len(starts))).round().astype(int)]
        return starts[:, None] + np.arange(w)[None, :]

    def sbc_simulate(self, data: pd.DataFrame, n: int, seed: int):
        import pymc as pm
        import xarray as xr

        blocks = self._sbc_blocks(data)
        x = data["x"].to_numpy(float)[blocks]
        labels = self._block_labels(data, blocks)
        with pm.Model(coords={"window": labels}):
            c, beta, sigma2 = self._window_priors(self._prior(data))
            drawn = pm.draw([c, beta, sigma2], draws=n, random_seed=seed)
        c, beta, sigma2 = (np.asarray(v).reshape(n, len(labels)) for v in drawn)
        noise = np.random.default_rng([seed, 1]).standard_normal((n, *x.shape))
        x_centred = x - x.mean(axis=1, keepdims=True)
        y = c[..., None] + beta[..., None] * x_centred[None] + np.sqrt(sigma2)[..., None] * noise
        prior = xr.Dataset({name: (("sim", "window"), v) for name, v in
                            (("hedge_ratio", beta), ("intercept_centered", c), ("sigma2", sigma2))},
                           coords={"window": labels})
        return prior, xr.Dataset({"y": (("sim", "row"), y.reshape(n, -1))})

    def sbc_parameters(self, prior) -> list[str]:
        return list(PARAMETERS)

    def sbc_data_from(self, template: pd.DataFrame, simulated) -> pd.DataFrame:
        """The separate windows as rows (window label, x, simulated y), carrying the template's scale."""
        blocks = self._sbc_blocks(template)
        labels = self._block_labels(template, blocks)
        frame = pd.DataFrame({"window": np.repeat(labels, blocks.shape[1]),
                              "x": template["x"].to_numpy(float)[blocks].ravel(),
                              "y": np.asarray(simulated["y"], float)})
        frame.attrs["scale"] = DataScale.of(template["y"].to_numpy(float), template["x"].to_numpy(float),
                                            self.window)
        return frame

    def sbc_fit(self, data: pd.DataFrame, settings, progress):
        """The simulated windows fitted by the sampled per-window model, under the template's prior."""
        from bayes_core import diagnostics, samplers

        labels = list(dict.fromkeys(data["window"]))
        shape = (len(labels), self.window)
        stats = WindowStats.of_windows(np.arange(len(labels)), data["y"].to_numpy(float).reshape(shape),
                                       data["x"].to_numpy(float).reshape(shape))
        model = self.window_model(stats, NIGPrior.from_scale(data.attrs["scale"], self.priors), {"window": labels})
        idata, _ = samplers.sample(model, settings, progress, cache_key=self.compile_context())
        verdict = diagnostics.compute_diagnostics(idata, diagnostics.summary_table(idata))["verdict"]
        return idata["posterior"].to_dataset(), verdict

    def _block_labels(self, data: pd.DataFrame, blocks: np.ndarray) -> list[str]:
        """Each window named by its last day, as the trained model names its windows."""
        labels = self._labels(data)[blocks[:, -1]]
        return [d.strftime("%Y-%m-%d") for d in labels] if isinstance(labels, pd.DatetimeIndex) \
            else [f"t{int(i)}" for i in labels]

    # -- prior sensitivity ------------------------------------------------------------------------------
    def power_scaling_groups(self, posterior, data: pd.DataFrame):
        from bayes_core.checks.sensitivity import ScalingGroup, SeparateScaling

        data = self.load_data(data)
        stats = WindowStats.of(data["y"].to_numpy(float), data["x"].to_numpy(float), self.window)
        prior = self._prior(data)
        total = posterior.sizes["window"]
        chosen = np.unique(np.linspace(0, total - 1, min(SENSITIVITY_WINDOWS, total)).round().astype(int))
        draws = posterior[PARAMETERS].isel(window=chosen)
        c, beta, sigma2 = (draws[name].values for name in ("intercept_centered", "hedge_ratio", "sigma2"))
        # (chain, draw, window): every chosen window's densities at once, then one group per window
        log_prior, log_lik = prior.log_density(c, beta, sigma2), stats.at(chosen).log_likelihood(c, beta, sigma2)
        groups = []
        for j, label in enumerate(str(w) for w in draws["window"].values):
            names = {name: f"{name}[{label}]" for name in PARAMETERS}
            one = draws.isel(window=j).rename(names).drop_vars("window", errors="ignore")
            groups.append(ScalingGroup(one, list(names.values()), log_prior[..., j], log_lik[..., j]))
        scope = (f"Each window's prior and likelihood are power-scaled on their own (the windows are independent "
                 f"regressions): {len(chosen)} of {total} windows, evenly spaced, the last included.")
        return SeparateScaling(groups, list(PARAMETERS), scope)

