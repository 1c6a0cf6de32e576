"""Compiled models kept for reuse in a long-lived process (a warm job worker, a Ray actor).

Compiling a PyMC model for nutpie (numba) takes seconds; sampling a small model takes a fraction
of that. A process that trains the same model again — new data, new priors — keeps the compiled
model and binds the new values instead (nutpie's ``CompiledPyMCModel.with_data``). That is exact
only for values held in PyMC data containers (``pm.Data``): everything else is part of the compiled
graph. So the cache key is a fingerprint of the whole graph: every operation, every constant's
value, every data container's name, type and shape (not its values), the coordinates' lengths and
the transforms, plus what the caller adds (model id, config hash, options). Anything else that
differs — a changed config, another option, another number of entities or distinct counts, a prior
written as a constant — gives another key, and the model is compiled afresh. A cached model is
never reused across a structural change.

A model is compiled in one of two forms (``compile_nutpie``): numba C callbacks (``bayes_core.cfuncs``,
kept on disk per structure), or for a short run Python callbacks around pytensor's disk-cached numba
functions (``samplers.short_run``); the key keeps the two apart.

The cache is off unless a process turns it on (``enable``): a one-off process behaves as before,
compiling once. The warm worker turns it on; a Ray actor holding compiled models can do the same.

A caller that fits one model to many data sets of one structure (simulation-based calibration) keeps
its own cache for the block (``scoped``) with ``data_shapes=False``: the data containers' lengths
are then left out of the key (a reduced likelihood's number of distinct counts changes from one
simulated data set to the next). That is exact for nutpie's numba backend, where a container's
length is an argument of the compiled function; a container with a static shape has it in its type,
which stays in the key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterator

import numpy as np

log = logging.getLogger("bayes_core.compiled")
DEFAULT_MAX_ENTRIES = 4
FORMS = {False: "numba C callbacks", True: "python callbacks"}  # the compiled forms, by "for a short run"
FUNCTIONS_PER_ENTRY = 2  # forward functions kept per compiled model (posterior predictive, log-likelihood)


@dataclass
class _Entry:
    compiled: Any  # nutpie CompiledPyMCModel, as first compiled (its initial-point function reads `model`)
    model: Any  # the PyMC model it was compiled from: its data containers are set to each job's values


@dataclass(frozen=True)
class Prepared:
    """A compiled model bound to one PyMC model's data, and whether compiling was skipped."""

    compiled: Any
    reused: bool
    compile_s: float
    form: str  # FORMS[short]: how nutpie calls the model


class CompiledModels:
    """An LRU of compiled nutpie models keyed by graph fingerprint; counts hits and compiles."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES, data_shapes: bool = True,
                 short_runs_as_callbacks: bool = True):
        self.max_entries = max(1, int(max_entries))
        self.data_shapes = data_shapes  # False: data containers' lengths are bound, not part of the key
        # Short runs take the Python callbacks (samplers.short_run) unless this says otherwise: for a cache
        # whose structure is fitted many times over (SBC's simulations), the C callbacks' compile pays off.
        self.short_runs_as_callbacks = short_runs_as_callbacks
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._functions: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()  # one job at a time binds the shared values of an entry
        self.hits = 0
        self.compiles = 0

    def __len__(self) -> int:
        return len(self._entries)

    def stats(self) -> dict[str, int]:
        return {"entries": len(self._entries), "hits": self.hits, "compiles": self.compiles,
                "max_entries": self.max_entries}

    def nutpie_model(self, model, context: Hashable = (), short: bool = False) -> Prepared:
        """The compiled model for ``model`` with its current data; compiled only on a miss. A short run
        binds the C callbacks when they are kept (an earlier long run compiled them): they sample faster."""
        structure = fingerprint(model, self.data_shapes)
        key = _keyed(structure, (context, "cfunc"))
        with self._lock:
            as_callbacks = short and key not in self._entries
            if as_callbacks:
                key = _keyed(structure, (context, "callbacks"))
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                t0 = time.perf_counter()
                bound = bind(entry, model)
                self.hits += 1
                log.info("compiled model reused (key %s): only the data and priors were bound", key[:12])
                return Prepared(bound, True, time.perf_counter() - t0, FORMS[as_callbacks])
        t0 = time.perf_counter()
        compiled = compile_nutpie(model, as_callbacks)
        elapsed = time.perf_counter() - t0
        with self._lock:
            self.compiles += 1
            self._entries[key] = _Entry(compiled, model)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        log.info("model compiled for nutpie in %.1f s (key %s, kept for reuse)", elapsed, key[:12])
        return Prepared(compiled, False, elapsed, FORMS[as_callbacks])

    def function(self, model, kind: str, build: Callable[[Any], Any]) -> Any:
        """A compiled function of ``model`` other than its sampler (``kind``: e.g. the vectorised
        posterior predictive, ``bayes_core.forward``): ``build(model)`` on a miss, kept under the same
        structural key. The caller binds ``model``'s data before each call (``bind_function``, under
        the function's own lock). None results are kept too (a model that cannot be vectorised is
        not tried again); a build that raises keeps nothing, so the next call builds again."""
        key = f"{kind}:{cache_key(model, data_shapes=self.data_shapes)}"
        with self._lock:
            if key in self._functions:
                self._functions.move_to_end(key)
                return self._functions[key]
        function = build(model)
        with self._lock:
            self._functions[key] = function
            while len(self._functions) > FUNCTIONS_PER_ENTRY * self.max_entries:
                self._functions.popitem(last=False)
        return function

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._functions.clear()


_cache: CompiledModels | None = None


def enable(max_entries: int = DEFAULT_MAX_ENTRIES) -> CompiledModels:
    """Keep compiled models in this process from now on (idempotent); returns the cache."""
    global _cache
    if _cache is None:
        _cache = CompiledModels(max_entries)
    return _cache


def disable() -> None:
    global _cache
    _cache = None


def active() -> CompiledModels | None:
    return _cache


@contextmanager
def scoped(cache: CompiledModels | None) -> Iterator[CompiledModels | None]:
    """Compile through ``cache`` inside the block (e.g. one SBC's fits; None: afresh every time, as a
    one-off process does), then restore the process's."""
    global _cache
    previous, _cache = _cache, cache
    try:
        yield cache
    finally:
        _cache = previous


def nutpie_model(model, context: Hashable = (), short: bool = False) -> Prepared:
    """Compile ``model`` for nutpie, through the cache when this process keeps one; ``short``: for a
    short run (see ``SHORT_RUN_DRAWS``)."""
    if _cache is not None:
        return _cache.nutpie_model(model, context, short)
    t0 = time.perf_counter()
    compiled = compile_nutpie(model, short)
    return Prepared(compiled, False, time.perf_counter() - t0, FORMS[short])


def compile_nutpie(model, short: bool = False):
    """nutpie's compiled model: numba C callbacks, or for a short run Python callbacks (see
    ``SHORT_RUN_DRAWS``)."""
    if short:
        return compile_nutpie_callbacks(model)
    from bayes_core import cfuncs

    return cfuncs.compile_pymc_model(model)


def compile_nutpie_callbacks(model):
    """The model for nutpie as Python callbacks around pytensor's numba functions.

    pytensor keeps its numba functions in an on-disk cache, so a fresh process loads a model it has
    compiled before in about a second, and a structure it has not seen costs pytensor's compile alone:
    the C callbacks' glue (``bayes_core.cfuncs``) adds ~5-8 s the first time a structure is compiled
    on a machine. Each gradient then costs ~0.1 ms more than through the C callbacks. The recipe is
    nutpie's own for its JAX backend (``from_pyfunc`` over ``_make_functions``; nutpie is pinned in
    requirements.txt), with pytensor's NUMBA mode: the same log density, gradient and initial points
    as the C callbacks."""
    from nutpie import compile_pymc as nutpie_pymc
    from nutpie.compiled_pyfunc import from_pyfunc

    from bayes_core.cfuncs import pytensor_functions

    n_dim, _, logp_pt, expand_pt, flat_initial_point, shape_info, reparameterized = pytensor_functions(
        model, join_expanded=False)
    logp_fn, expand_fn = logp_pt.vm.jit_fn, expand_pt.vm.jit_fn
    logp_data = [var.name for var in logp_pt.get_shared()]
    expand_data = [var.name for var in expand_pt.get_shared()]
    shared = {var.name: var.get_value() for var in [*logp_pt.get_shared(), *expand_pt.get_shared()]}
    names, _, shapes = shape_info

    def make_logp():
        def logp(x, **data):
            value, grad = logp_fn(x, *[data[name] for name in logp_data])
            return float(value), np.asarray(grad, dtype="float64", order="C")
        return logp

    def make_expand(_seed1, _seed2, _chain):
        def expand(x, **data):
            values = expand_fn(x, *[data[name] for name in expand_data])
            return {name: np.asarray(value, dtype="float64", order="C").reshape(shape)
                    for name, value, shape in zip(names, values, shapes, strict=True)}
        return expand

    dims, coords = nutpie_pymc._prepare_dims_and_coords(model, shape_info, reparameterized)
    return from_pyfunc(ndim=n_dim, make_logp_fn=make_logp, make_expand_fn=make_expand,
                       make_initial_point_fn=flat_initial_point, expanded_dtypes=[np.dtype("float64")] * len(names),
                       expanded_shapes=shapes, expanded_names=names, shared_data=shared, dims=dims, coords=coords,
                       reparameterized_names=reparameterized)


def data_names(compiled) -> set[str]:
    """The data containers a compiled model reads, by name: the C callbacks key them by a uuid, the
    Python callbacks (nutpie's ``PyFuncModel``, pinned version) by name in its ``_shared_data``."""
    if hasattr(compiled, "shared_var_keys"):
        return {var.name for var in compiled.shared_var_keys}
    return set(compiled._shared_data)


# -- binding a new model's values to a cached compile ------------------------------------------------
def bind(entry: _Entry, model):
    """``entry``'s compiled model with ``model``'s data-container values and coordinates.

    nutpie's logp and expand functions take the new values through ``with_data``; the initial point
    function was compiled from the cached PyMC model, so its containers are set too (a prior's
    support point, e.g. 1/λ of an Exponential, starts the chains)."""
    import pandas as pd

    compiled = entry.compiled
    values = {name: np.asarray(model[name].get_value()) for name in data_names(compiled)}
    for name, value in values.items():
        entry.model[name].set_value(value)
    bound = compiled.with_data(**values)
    coords = dict(compiled.coords or {})
    for name, labels in model.coords.items():
        if labels is not None:
            coords[name] = pd.Index(labels)
    return dataclasses.replace(bound, _coords=coords)


def bind_function(fn, model) -> None:
    """Set the data containers a compiled pytensor function reads to ``model``'s values (by name)."""
    for var in fn.get_shared():
        if var.name in model.named_vars and hasattr(model[var.name], "get_value"):
            var.set_value(model[var.name].get_value())


# -- the key ---------------------------------------------------------------------------------------------
def cache_key(model, context: Hashable = (), data_shapes: bool = True) -> str:
    """A hash of what determines the compiled graph (see the module docstring) and ``context``."""
    return _keyed(fingerprint(model, data_shapes), context)


def _keyed(structure: str, context: Hashable) -> str:
    digest = hashlib.sha256(repr(context).encode())
    digest.update(structure.encode())
    return digest.hexdigest()


def fingerprint(model, data_shapes: bool = True) -> str:
    """The structure of a PyMC model's graph as text: operations, constants with their values, data
    containers by name, type and shape (values left out: they are bound, not compiled), named
    outputs, transforms, dims and coordinate lengths."""
    from pytensor.graph.traversal import toposort

    outputs = [*model.basic_RVs, *model.potentials, *model.deterministics, *model.rvs_to_values.values()]
    names: dict[Any, str] = {}
    lines: list[str] = []

    def ref(var) -> str:
        if var not in names:  # a root of the graph: described once, then referred to by number
            names[var] = f"v{len(names)}"
            lines.append(f"{names[var]} = {_describe_root(var, data_shapes)}")
        return names[var]

    for node in toposort(outputs):
        args = ", ".join(ref(i) for i in node.inputs)
        outs = []
        for out in node.outputs:
            names[out] = f"v{len(names)}"
            outs.append(f"{names[out]}:{out.type}")
        lines.append(f"{', '.join(outs)} = {_describe_op(node.op)}({args})")
    for var in outputs:
        lines.append(f"out {var.name} = {ref(var)}")
    transforms = {rv.name: repr(t) for rv, t in model.rvs_to_transforms.items()}
    lines.append(f"transforms {sorted(transforms.items())}")
    lines.append(f"dims {sorted((k, tuple(v)) for k, v in model.named_vars_to_dims.items())}")
    lines.append(f"coords {sorted((k, None if v is None else len(v)) for k, v in model.coords.items())}")
    lines.append(f"initvals {sorted((rv.name, repr(v)) for rv, v in model.rvs_to_initial_values.items())}")
    return "\n".join(lines)


def _describe_op(op) -> str:
    props = getattr(op, "__props__", None)
    if props:
        return f"{type(op).__module__}.{type(op).__qualname__}{{{', '.join(f'{p}={getattr(op, p)!r}' for p in props)}}}"
    return f"{type(op).__module__}.{type(op).__qualname__}<{op}>"


def _describe_root(var, data_shapes: bool = True) -> str:
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.basic import Constant

    if isinstance(var, SharedVariable):
        value = var.get_value(borrow=True)
        shape = getattr(value, "shape", None)
        if shape is None:  # a random generator: its state is not part of the structure
            return f"shared {var.name} {var.type}"
        return f"data {var.name} {var.type}" + (f" shape={tuple(shape)}" if data_shapes else "")
    if isinstance(var, Constant):
        data = np.asarray(var.data)
        content = repr(var.data).encode() if data.dtype == object else data.tobytes()
        return f"const {var.type} shape={data.shape} {hashlib.sha256(content).hexdigest()[:16]}"
    return f"input {var.name} {var.type}"
