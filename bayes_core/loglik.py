"""Log likelihood (and log prior) of a model's data under stored posterior draws.

``PointwiseLogLik`` is what PSIS-LOO, LOO-PIT and prior-sensitivity checks read: the
log-likelihood of each *cell* under each draw, shaped (chain, draw, n_cells), with each cell's
multiplicity (``weights``) and the cell of every observation (``obs_cell``). A cell is one
observation in the plain case; a model whose likelihood reduces exactly groups identical
observations into one cell — identical observations have identical leave-one-out terms, so
LOO over distinct cells weighted by multiplicity equals per-observation LOO exactly, at a cost
that grows with the distinct cells, not with the raw number of observations.

Values come in blocks of cells (``block(start, stop)``) so that a caller can bound its memory;
``values()`` materialises them all. A model with discrete observations may also give
``cdf_below(start, stop)``: P(Y < y) per draw (P(Y ≤ y) adds exp(log-likelihood)), from which the
LOO-PIT is exact and needs no posterior predictive draws.

``plain_log_likelihood`` is the default (``BaseBayesianModel.pointwise_log_likelihood``): PyMC's
``compute_log_likelihood`` on the model's plain per-observation model, one cell per observation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterator

import numpy as np

from bayes_core import forward
from bayes_core.errors import BayesCoreError, NotEvaluableError

Block = Callable[[int, int], np.ndarray]
#: Bytes of log-likelihood values a caller holds at once by default when it walks the blocks.
BLOCK_BYTES = 32 * 2**20


@dataclass
class PointwiseLogLik:
    """Pointwise log-likelihood by cell under (chain, draw) posterior draws.

    ``block(start, stop)`` returns the values of cells ``start..stop-1`` as (chain, draw, k) float64;
    ``weights[k]`` is how many observations cell k stands for; ``obs_cell[j]`` is observation j's cell
    (in the order of the data). ``cells`` describes the cells in words ("one per observation", "distinct
    (entity, count) pairs"); ``observed`` names the observed variables the values come from.
    """

    chains: int
    draws: int
    weights: np.ndarray
    obs_cell: np.ndarray
    block: Block
    observed: list[str] = field(default_factory=list)
    cells: str = "one cell per observation"
    cdf_below: Block | None = None  # discrete outcomes: P(Y < y) per draw, same shape as block
    cell_table: Any = None  # optional DataFrame describing each cell (e.g. its entity and count)

    def __post_init__(self) -> None:
        self.weights = np.asarray(self.weights, dtype=float)
        self.obs_cell = np.asarray(self.obs_cell, dtype=np.int64)
        if self.weights.ndim != 1 or (self.obs_cell.size and self.obs_cell.max() >= self.weights.size):
            raise BayesCoreError("PointwiseLogLik: weights must be one per cell and obs_cell must index them.")

    @property
    def n_cells(self) -> int:
        return int(self.weights.size)

    @property
    def n_obs(self) -> int:
        return int(self.obs_cell.size)

    @property
    def n_samples(self) -> int:
        return self.chains * self.draws

    @property
    def is_reduced(self) -> bool:
        """True when cells group several observations (the weights are not all one)."""
        return self.n_cells != self.n_obs

    def block_size(self, max_bytes: int = BLOCK_BYTES) -> int:
        """Cells per block so one block of values holds at most ``max_bytes``."""
        return max(1, int(max_bytes // (8 * max(self.n_samples, 1))))

    def blocks(self, max_bytes: int = BLOCK_BYTES) -> Iterator[tuple[int, int, np.ndarray]]:
        """``(start, stop, values)`` for consecutive blocks of cells."""
        step = self.block_size(max_bytes)
        for start in range(0, self.n_cells, step):
            stop = min(start + step, self.n_cells)
            yield start, stop, self.block(start, stop)

    def values(self) -> np.ndarray:
        """Every cell's values at once, (chain, draw, n_cells)."""
        return self.block(0, self.n_cells)

    def observation_values(self) -> np.ndarray:
        """Values expanded to observations, (chain, draw, n_obs): the plain form (small data only)."""
        return self.values()[:, :, self.obs_cell]

    def total(self, max_bytes: int = BLOCK_BYTES) -> np.ndarray:
        """The whole data's log-likelihood per draw, (chain, draw): Σ_k weights_k · value_k."""
        out = np.zeros((self.chains, self.draws))
        for start, stop, values in self.blocks(max_bytes):
            out += values @ self.weights[start:stop]
        return out

    @classmethod
    def from_values(cls, values: np.ndarray, observed: list[str] | None = None,
                    cells: str = "one cell per observation") -> "PointwiseLogLik":
        """One cell per observation from a (chain, draw, n) array held in memory."""
        values = np.asarray(values, dtype=float)
        if values.ndim != 3:
            raise BayesCoreError(f"pointwise log-likelihood must be (chain, draw, n), got shape {values.shape}")
        n = values.shape[2]
        return cls(chains=values.shape[0], draws=values.shape[1], weights=np.ones(n), obs_cell=np.arange(n),
                   block=lambda a, b: values[:, :, a:b], observed=list(observed or []), cells=cells)


def posterior_dataset(posterior: Any):
    """An ``xarray.Dataset`` with (chain, draw) from a DataTree, its posterior node or a Dataset."""
    if hasattr(posterior, "children") and "posterior" in posterior.children:
        posterior = posterior["posterior"]
    return posterior.to_dataset() if hasattr(posterior, "to_dataset") else posterior


def _check_free_variables(model, dataset) -> None:
    missing = [rv.name for rv in model.free_RVs if rv.name not in dataset.data_vars]
    if missing:
        raise NotEvaluableError(
            f"The posterior lacks the free variable(s) {', '.join(missing)} the model's log density needs "
            "(not stored in the trace); the model must supply them (override pointwise_log_likelihood).")


def plain_log_likelihood(model, posterior: Any) -> PointwiseLogLik:
    """PyMC's elementwise log-likelihood of every observed variable of ``model`` (a plain
    per-observation ``pm.Model``) under ``posterior``'s draws: one cell per observation. Several
    observed variables of the same length (e.g. three props per game) are summed per observation —
    one LOO term per observation unit; of different lengths they are concatenated."""
    dataset = posterior_dataset(posterior)
    _check_free_variables(model, dataset)
    if not model.observed_RVs:
        raise NotEvaluableError("The model has no observed variables: there is no log-likelihood to evaluate.")
    chains, draws = dataset.sizes["chain"], dataset.sizes["draw"]
    result = forward.compute_log_likelihood(model, dataset)  # vectorised, else PyMC's per-draw loop
    names = [str(n) for n in result.keys()]
    arrays = [np.asarray(result[n], dtype=float).reshape(chains, draws, -1) for n in names]
    if len({a.shape[2] for a in arrays}) == 1:
        values = arrays[0] if len(arrays) == 1 else np.sum(arrays, axis=0)
        cells = "one cell per observation" + (f" (the log-likelihoods of {', '.join(names)} summed)"
                                               if len(names) > 1 else "")
    else:
        values = np.concatenate(arrays, axis=2)
        cells = f"one cell per observed value of {', '.join(names)}"
    return PointwiseLogLik.from_values(values, observed=names, cells=cells)


class LikelihoodHooks:
    """The evaluation hooks of ``BaseBayesianModel`` (it inherits them): what LOO, LOO-PIT and
    prior-sensitivity checks ask a model. Defaults work for any model whose plain predictive model
    (``build_predictive_model``) has observed variables."""

    #: True when ``pointwise_log_likelihood`` groups observations into weighted cells and bounds its
    #: own memory (evaluation then keeps every draw instead of thinning to a memory budget).
    reduced_log_likelihood: ClassVar[bool] = False
    #: Free variables that are group-level effects in non-centred form (standard normal z's scaled by
    #: a free standard deviation): their prior is fixed but they are no prior the analyst sets, so a
    #: prior-sensitivity check does not power-scale them (``power_scaled_priors``).
    group_level_priors: ClassVar[tuple[str, ...]] = ()
    #: Why power-scaling sensitivity cannot be read for this model (None: it can); the check refuses
    #: with this reason (``bayes_core.checks.sensitivity``).
    sensitivity_unavailable: ClassVar[str | None] = None

    def complete_posterior(self, posterior):
        """The posterior ``xarray.Dataset`` with every free variable the model's log density needs.
        Default: as stored. A model whose trace leaves a free variable out (e.g. a packed Cholesky
        factor kept only as its matrix) rebuilds it here."""
        return posterior

    def pointwise_log_likelihood(self, posterior, data) -> PointwiseLogLik:
        """The data's log-likelihood by cell under ``posterior``'s (chain, draw) draws. Default:
        PyMC's elementwise log-likelihood of the plain predictive model, one cell per observation
        (memory chains × draws × observations: callers thin the draws)."""
        data = self._loaded(data)
        return plain_log_likelihood(self.build_predictive_model(data),
                                    self.complete_posterior(posterior_dataset(posterior)))

    def log_prior(self, posterior, data, var_names: list[str] | None = None) -> np.ndarray:
        """The joint log prior density of each draw, (chain, draw) (free variables, constrained scale);
        ``var_names``: only the prior terms of these free variables."""
        data = self._loaded(data)
        return log_prior(self.build_model(data), self.complete_posterior(posterior_dataset(posterior)), var_names)

    def power_scaling_groups(self, posterior, data):
        """Parameters a prior-sensitivity check power-scales one group at a time
        (``checks.sensitivity.SeparateScaling``), or None: the whole model at once (the default). A
        model of many independent parts (e.g. one regression per window) scales each part's prior and
        likelihood on its own, since one joint power would reweight every part by all the others'."""
        return None

    def power_scaled_priors(self, data) -> list[str]:
        """The free variables whose priors a prior-sensitivity check power-scales: those the analyst
        sets (``set_priors``), as priorsense does. A group-level term — θ_i ~ Gamma(μα, α), or its
        standardised form in ``group_level_priors`` — is the model's structure, informed by the data
        through its hyper-parameters; power-scaling it would measure something else."""
        return [name for name in set_priors(self.build_model(self._loaded(data)))
                if name not in self.group_level_priors]

    def held_out_metrics(self, run) -> dict[str, Any] | None:
        """The model's own scores on data it was not trained on (a validation split), for the run's
        evaluation; None when it has none."""
        return None


def log_prior(model, posterior: Any, var_names: list[str] | None = None) -> np.ndarray:
    """The joint log prior density of each draw, (chain, draw): PyMC's ``compute_log_prior`` of the
    free variables (on their constrained scale, no Jacobian), summed per draw; ``var_names``: only
    these free variables' terms."""
    import pymc as pm

    dataset = posterior_dataset(posterior)
    _check_free_variables(model, dataset)
    chains, draws = dataset.sizes["chain"], dataset.sizes["draw"]
    result = pm.compute_log_prior({"posterior": dataset}, model=model, var_names=var_names,
                                  extend_inferencedata=False, progressbar=False)
    total = np.zeros((chains, draws))
    for name in result.data_vars:
        total += np.asarray(result[name].values, dtype=float).reshape(chains, draws, -1).sum(axis=2)
    return total


def set_priors(model) -> list[str]:
    """Names of the free variables whose prior is not hierarchical: it depends on no free variable of
    smaller size (θ_i ~ Gamma(μα, α) depends on the scalars μ and α: hierarchical, left out; a
    window's slope whose prior scale is the same window's σ² is a conditional prior, kept)."""
    from pytensor.graph.traversal import ancestors

    point = model.initial_point()
    size = {rv: int(np.size(point[model.rvs_to_values[rv].name])) for rv in model.free_RVs}
    return [rv.name for rv in model.free_RVs
            if not any(node in size and node is not rv and size[node] < size[rv] for node in ancestors(rv.owner.inputs))]
