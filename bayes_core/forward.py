"""Forward computations over many draws in one vectorised call: posterior predictive, pointwise
log-likelihood, prior predictive.

PyMC's ``sample_posterior_predictive`` and ``compute_log_likelihood`` compile a function of one draw
and call it once per draw: 500 predictive draws cost about 0.3 s of Python and numba call overhead
on a small model, more than the arithmetic. Here the model's graph is vectorised over a leading
draw axis (``pytensor.graph.replace.vectorize_graph``: the free variables become batched inputs,
every node downstream gains the batch dimension) and evaluated once for all draws.

The results are PyMC's own: the same values, and the same random draws for the same seed (one
generator stream filled in the same order; tests compare them for every model). The prior
predictive draws every root variable ``draws`` times at once, in another order than PyMC's loop:
the same distribution (tested), other values for a seed.

Each function returns None where PyMC's per-draw path is the better one or the only one: an Op
with no batched form (a multivariate Student-t, a random walk with a fixed size), a posterior
lacking a free variable the outputs need, or many observed values per draw, where the arithmetic
outweighs the per-call overhead and vectorising a large graph costs more than it saves (player
props: 23,000 values a draw, 1.9 s against PyMC's 0.9 s). Callers then take PyMC's path.

A process that keeps compiled models (``bayes_core.compiled``) remembers a structure that cannot be
vectorised, and is not asked again; a compile that fails (memory, a broken compiler) is not the
structure's doing, so that call takes PyMC's path and the next one tries again.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger("bayes_core.forward")

SAMPLE_DIMS = ("chain", "draw")
MAX_VALUES_PER_DRAW = 20_000  # above this the per-draw path is as fast (see the module's note)
CHUNK_VALUES = 2**21  # output values per call (16 MB of float64): bounds the vectorised temporaries


@functools.cache
def forward_mode():
    """How every function here is compiled: pytensor's full rewrites (numerically stable log-likelihoods)
    run by its Python linker, without loop fusion (a fused loop is fast only when compiled). Each function
    is one call over all draws, so numpy does the arithmetic in whole arrays and the compile is most of
    the cost: ~0.1 s where numba takes seconds (a minute for player props before numba's disk cache holds
    it). Measured on player props, 2,000 draws: predictive 0.5 s against numba's 6 s on a first call,
    0.38 s against 0.27 s on later calls. The prior predictive is compiled again at every step of a prior
    slider (a prior written as a constant)."""
    from pytensor.compile.mode import Mode
    from pytensor.graph.rewriting.db import RewriteDatabaseQuery
    from pytensor.link.vm import VMLinker

    # no C either (the Python-only variants of the rewrites): C's first use reads compiler settings that
    # pytensor initialises lazily and not thread-safely, and the app builds these from session threads
    return Mode(VMLinker(use_cloop=False, c_thunks=False),
                RewriteDatabaseQuery(include=["fast_run", "py_only"], exclude=["fusion", "cxx_only"]))


@dataclass
class Vectorised:
    """A compiled function of a batch of draws: ``inputs`` (name, dtype) are the free variables it
    reads, each (draws, *shape); it returns one (draws, *shape) array per output. A kept function is
    shared (the app serves many sessions from threads), so binding a model's data and calling it is
    one step under ``lock``."""

    fn: Any
    inputs: list[tuple[str, str]]
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def evaluate(self, model, args: list[np.ndarray], values_per_draw: int,
                 random_seed: int | None = None) -> list[np.ndarray]:
        """The outputs for ``args`` (flattened draws first), with ``model``'s data containers, computed
        in chunks of draws so the temporaries stay near ``CHUNK_VALUES`` values."""
        from pymc.pytensorf import reseed_rngs
        from pytensor.tensor.random.type import RandomGeneratorType

        from bayes_core.compiled import bind_function

        n = args[0].shape[0] if args else 1
        step = max(1, CHUNK_VALUES // max(values_per_draw, 1))
        with self.lock:
            bind_function(self.fn, model)
            reseed_rngs([v for v in self.fn.get_shared() if isinstance(v.type, RandomGeneratorType)], random_seed)
            parts = [self.fn(*[a[i:i + step] for a in args]) for i in range(0, n, step)]
        return [np.concatenate([np.asarray(p[k]) for p in parts]) for k in range(len(parts[0]))]

    def __call__(self, model, posterior, values_per_draw: int,
                 random_seed: int | None = None) -> list[np.ndarray] | None:
        """The outputs at every (chain, draw) of ``posterior``, shaped (chain, draw, ...); None when the
        posterior lacks an input."""
        if any(name not in posterior for name, _ in self.inputs):
            return None
        chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
        args = [np.asarray(posterior[name].values, dtype=dtype).reshape(chains * draws, *posterior[name].shape[2:])
                for name, dtype in self.inputs]
        outputs = self.evaluate(model, args, values_per_draw, random_seed)
        return [v.reshape(chains, draws, *v.shape[1:]) for v in outputs]


def vectorise(outputs: list, inputs: list) -> Vectorised | None:
    """``outputs`` as a compiled function of a leading draw axis on each of ``inputs`` they depend on
    (None: an Op with no batched form, or no such input)."""
    import pymc as pm
    import pytensor.tensor as pt
    from pytensor.graph.replace import vectorize_graph
    from pytensor.graph.traversal import ancestors

    needed = [var for var in inputs if var in set(ancestors(outputs, blockers=inputs))]
    if not needed:
        return None
    batch = {var: pt.tensor(dtype=var.dtype, shape=(None, *var.type.shape), name=var.name) for var in needed}
    try:
        batched = vectorize_graph(outputs, replace=batch)
    except Exception as exc:  # noqa: BLE001 - any Op pytensor cannot batch; PyMC's own path follows
        log.info("forward: cannot vectorise %s over draws (%s); using PyMC's per-draw path",
                 [o.name for o in outputs], exc)
        return None
    fn = pm.compile(list(batch.values()), batched, on_unused_input="ignore", mode=forward_mode())
    return Vectorised(fn, [(var.name, var.dtype) for var in needed])


def _observed_values(model) -> int | None:
    """Observed values per draw, or None when the model has none or too many to vectorise."""
    from pymc.backends.arviz import find_observations

    per_draw = sum(np.size(v) for v in find_observations(model).values())
    return per_draw if model.observed_RVs and per_draw <= MAX_VALUES_PER_DRAW else None


def _predictive_function(model) -> Vectorised | None:
    return vectorise(list(model.observed_RVs), list(model.free_RVs))


def _log_likelihood_function(model) -> Vectorised | None:
    from pymc.model.transform.conditioning import remove_value_transforms

    plain = remove_value_transforms(model)  # the trace holds constrained values
    # In the model's order of observed variables, by name: the copy lists them in an order of its own
    # (player props' goals and cards came back swapped).
    terms = [plain.logp(vars=[plain[rv.name]], sum=False)[0] for rv in model.observed_RVs]
    return vectorise(terms, [plain.rvs_to_values[rv] for rv in plain.free_RVs])


def _function(model, kind: str, build) -> Vectorised | None:
    """``build(model)``, or in a process that keeps compiled models (a warm worker, the app) the
    function built for a model of the same structure (calling it binds ``model``'s data)."""
    from bayes_core import compiled

    cache = compiled.active()
    try:
        return build(model) if cache is None else cache.function(model, kind, build)
    except Exception as exc:  # noqa: BLE001 - a failed compile; kept functions keep no failure (module note)
        log.warning("forward: could not compile the %s function (%s: %s); using PyMC's per-draw path this time",
                    kind, type(exc).__name__, exc)
        return None


def posterior_predictive(model, posterior, random_seed: int | None = None):
    """``DataTree`` with ``posterior_predictive`` and ``observed_data`` groups, as PyMC's
    ``sample_posterior_predictive`` gives, from one call over every draw of ``posterior`` (an
    ``xarray.Dataset`` with chain and draw); None when the model cannot be vectorised."""
    per_draw = _observed_values(model)
    function = None if per_draw is None else _function(model, "posterior_predictive", _predictive_function)
    values = None if function is None else function(model, posterior, per_draw, random_seed)
    if values is None:
        return None
    return _tree(model, {"posterior_predictive": {rv.name: v for rv, v in zip(model.observed_RVs, values)}},
                 posterior["chain"].values, posterior["draw"].values)


def log_likelihood(model, posterior) -> dict[str, np.ndarray] | None:
    """Elementwise log-likelihood of each observed variable under every draw of ``posterior``,
    (chain, draw, *observed shape), as PyMC's ``compute_log_likelihood`` gives; None when the model
    cannot be vectorised."""
    per_draw = _observed_values(model)
    function = None if per_draw is None else _function(model, "log_likelihood", _log_likelihood_function)
    values = None if function is None else function(model, posterior, per_draw)
    return None if values is None else {rv.name: v for rv, v in zip(model.observed_RVs, values)}


def _tree(model, groups: dict[str, dict[str, np.ndarray]], chain, draw):
    """A ``DataTree`` of ``groups`` (arrays with chain and draw first) with the model's dims and
    coordinates, as PyMC writes it, and the model's observed data."""
    from arviz_base import from_dict
    from pymc.backends.arviz import coords_and_dims_for_inferencedata, find_observations

    coords, dims = coords_and_dims_for_inferencedata(model)
    coords.update(chain=chain, draw=draw)
    observed = {name: np.asarray(v) for name, v in find_observations(model).items()}
    return from_dict({**groups, "observed_data": observed}, coords=coords, dims=dims, sample_dims=SAMPLE_DIMS)


def _prior_outputs(model) -> list:
    """What the prior predictive draws, in this order: free variables, deterministics, observed."""
    return [*model.free_RVs, *model.deterministics, *model.observed_RVs]


def _prior_function(draws: int):
    def build(model) -> Vectorised | None:
        import pymc as pm
        from pymc.distributions.shape_utils import change_dist_size
        from pymc.pytensorf import rvs_in_graph
        from pytensor.graph.replace import vectorize_graph
        from pytensor.graph.traversal import ancestors

        outputs = _prior_outputs(model)
        rvs = rvs_in_graph(outputs)
        # every root random variable (one that depends on no other) drawn `draws` times; everything
        # downstream gains the batch dimension through vectorize_graph
        try:
            roots = {rv: change_dist_size(rv, new_size=(draws,), expand=True) for rv in rvs
                     if not any(a in rvs for a in ancestors(rv.owner.inputs))}
            batched = vectorize_graph(outputs, replace=roots)
        except Exception as exc:  # noqa: BLE001 - any Op pytensor cannot batch; PyMC's own path follows
            log.info("forward: cannot vectorise the prior predictive (%s); using PyMC's per-draw path", exc)
            return None
        return Vectorised(pm.compile([], batched, on_unused_input="ignore", mode=forward_mode()), [])
    return build


def prior_predictive(model, draws: int, random_seed: int | None = None):
    """``DataTree`` with ``prior``, ``prior_predictive`` and ``observed_data`` groups, as PyMC's
    ``sample_prior_predictive`` gives (the same distribution; other values for a seed, as the draws
    come in another order), from one call; None when the model cannot be vectorised. A process that
    keeps compiled models keeps the function, so a prior slider's step only binds new hyper-parameters."""
    function = _function(model, f"prior_predictive:{draws}", _prior_function(draws))
    if function is None:
        return None
    outputs = function.evaluate(model, [], 1, random_seed)
    values = {var.name: v[None] for var, v in zip(_prior_outputs(model), outputs)}  # one chain
    observed = {rv.name for rv in model.observed_RVs}
    groups = {"prior": {k: v for k, v in values.items() if k not in observed},
              "prior_predictive": {k: v for k, v in values.items() if k in observed}}
    return _tree(model, groups, [0], np.arange(draws))


# -- PyMC's results, vectorised where the model allows ---------------------------------------------------
# Callers take these: the functions above where they apply, else PyMC's per-draw loop (the same values;
# the same draws for a seed, save the prior predictive's order). The predictive loops compile as the
# vectorised functions do (player props, stochastic volatility, strategy comparison: 500 draws in
# 0.2-0.9 s against numba's 2-2.6 s with its disk cache warm); the log-likelihood loop stays on numba,
# where it is faster (player props: 2.2 s against 5.1 s).
def sample_prior_predictive(model, draws: int, random_seed: int | None = None):
    """PyMC's ``sample_prior_predictive`` of ``model`` (a ``DataTree``)."""
    import pymc as pm

    tree = prior_predictive(model, draws, random_seed)
    return tree if tree is not None else pm.sample_prior_predictive(
        draws=draws, model=model, random_seed=random_seed, compile_kwargs={"mode": forward_mode()})


def sample_posterior_predictive(model, posterior, random_seed: int | None = None):
    """PyMC's ``sample_posterior_predictive`` of ``model`` at every draw of ``posterior`` (an
    ``xarray.Dataset`` with chain and draw): a ``DataTree`` with ``posterior_predictive`` and
    ``observed_data``."""
    import pymc as pm

    tree = posterior_predictive(model, posterior, random_seed)
    if tree is not None:
        return tree
    # The posterior's draws are what is predicted from, also where a prior is a data container (PyMC
    # would otherwise warn that they depend on data it cannot compare with the trace's).
    frozen = [rv.name for rv in model.free_RVs if rv.name in posterior]
    return pm.sample_posterior_predictive(posterior, model=model, random_seed=random_seed, progressbar=False,
                                          freeze_vars=frozen, compile_kwargs={"mode": forward_mode()})


def compute_log_likelihood(model, posterior) -> dict[str, np.ndarray]:
    """PyMC's ``compute_log_likelihood``: each observed variable's elementwise log-likelihood under
    every draw of ``posterior``, (chain, draw, *observed shape), by name."""
    import pymc as pm

    result = log_likelihood(model, posterior)
    if result is not None:
        return result
    result = pm.compute_log_likelihood({"posterior": posterior}, model=model, extend_inferencedata=False,
                                       progressbar=False)
    return {str(name): np.asarray(result[name].values) for name in result.data_vars}
