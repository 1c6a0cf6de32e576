"""nutpie's numba C callbacks, kept in pytensor's on-disk numba cache.

``nutpie.compile_pymc_model`` wraps pytensor's numba functions (which pytensor caches on disk) in
``numba.cfunc``s that numba cannot cache: they close over the data arrays and name them with random
keys. Compiling that glue (type inference of ``carray``, ``reshape``, the copy into nutpie's buffers)
is most of the ~10 s a fresh process spends on the count model, again in every process.

Here the same two callbacks are written out as source, per model structure, reading each data
container through nutpie's own ``user_data`` record under stable keys; pytensor's cache locator
keeps them under a key made of that source and the cache keys of the pytensor functions they call.
A fresh process that has seen the structure loads them in well under a second. The result is nutpie's
``CompiledPyMCModel``, so binding new data (``with_data``) and sampling are nutpie's own. Where
pytensor has no cache key for a function (an operation it cannot cache), nutpie compiles as usual.
"""

from __future__ import annotations

import hashlib
import warnings
from typing import Any

import numpy as np

#: Part of every cache key: bump when the generated source's shape changes.
GLUE_VERSION = "bayes_core-cfuncs-3"

LOGP_SIG = "int64(uint64, CPointer(float64), CPointer(float64), CPointer(float64), voidptr)"
EXPAND_SIG = "int64(uint64, uint64, CPointer(float64), CPointer(float64), voidptr)"

_LOGP_BODY = """
def logp_cfunc(dim, x_, out_, logp_, user_data_):
    try:
        x = numba.carray(x_, (dim,))
        out = numba.carray(out_, (dim,))
        logp = numba.carray(logp_, ())
        shared = numba.carray(user_data_, (), RECORD)["shared"]
{extract}
        logp_val, grad = INNER(x{args})
        logp[()] = logp_val
        out[...] = grad
        if not np.all(np.isfinite(out)):
            return 3
        if not np.isfinite(logp_val):
            return 4
    except Exception:
        return 1
    return 0
"""

_EXPAND_BODY = """
def expand_cfunc(dim, expanded, x_, out_, user_data_):
    try:
        x = numba.carray(x_, (dim,))
        out = numba.carray(out_, (expanded,))
        shared = numba.carray(user_data_, (), RECORD)["shared"]
{extract}
        (values,) = INNER(x{args})
        out[...] = values
    except Exception:
        return -2
    return 0
"""


def pytensor_functions(model, join_expanded: bool) -> tuple:
    """nutpie's ``_make_functions`` in pytensor's NUMBA mode, with the initial points
    ``nutpie.compile_pymc_model`` uses by default (support points, jittered): ``(n_dim, n_expanded,
    logp function, expand function, initial point function, shape info, reparameterized names)``."""
    from nutpie import compile_pymc as nutpie_pymc
    from pymc.initial_point import make_initial_point_fn

    initial_point = make_initial_point_fn(model=model, default_strategy="support_point",
                                          jitter_rvs=set(model.free_RVs), return_transformed=True)
    return nutpie_pymc._make_functions(model, mode="NUMBA", compute_grad=True, join_expanded=join_expanded,
                                       pymc_initial_point_fn=nutpie_pymc._wrap_with_lock(initial_point))


def compile_pymc_model(model) -> Any:
    """``nutpie.compile_pymc_model(model, backend="numba")``, its C callbacks through the disk cache."""
    from nutpie import compile_pymc as nutpie_pymc

    n_dim, n_expanded, logp_pt, expand_pt, initial_point_fn, shape_info, reparameterized = pytensor_functions(
        model, join_expanded=True)
    inner_keys = [_pytensor_cache_key(fn.vm.jit_fn) for fn in (logp_pt, expand_pt)]
    if None in inner_keys:
        import nutpie

        return nutpie.compile_pymc_model(model, backend="numba")

    keys: dict[Any, str] = {}  # shared variable → its stable key in nutpie's user_data record
    shared_data: dict[str, np.ndarray] = {}
    for var in dict.fromkeys([*logp_pt.get_shared(), *expand_pt.get_shared()]):
        keys[var] = f"s{len(keys)}"
        value = np.array(var.get_value(), order="C", copy=True)
        value.flags.writeable = False
        shared_data[keys[var]] = value
    user_data = nutpie_pymc.make_user_data(keys, shared_data)

    logp = _cfunc(_LOGP_BODY, "logp_cfunc", LOGP_SIG, logp_pt, keys, shared_data, user_data.dtype, inner_keys[0])
    expand = _cfunc(_EXPAND_BODY, "expand_cfunc", EXPAND_SIG, expand_pt, keys, shared_data, user_data.dtype,
                    inner_keys[1])
    dims, coords = nutpie_pymc._prepare_dims_and_coords(model, shape_info, reparameterized)
    return nutpie_pymc.CompiledPyMCModel(
        _n_dim=n_dim, dims=dims, _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info)},
        compiled_logp_func=logp, compiled_expand_func=expand, initial_point_func=initial_point_fn,
        shared_data=shared_data, shared_var_keys=keys, user_data=user_data, n_expanded=n_expanded,
        shape_info=shape_info, logp_func=logp_pt, expand_func=expand_pt, reparameterized_names=reparameterized)


def _pytensor_cache_key(jit_fn) -> str | None:
    """The key under which pytensor caches ``jit_fn`` on disk; None where it does not."""
    from pytensor.configdefaults import config
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    py_func = getattr(jit_fn, "py_func", None)
    return CACHED_SRC_FUNCTIONS.get(py_func) if config.numba__cache and py_func is not None else None


def _cfunc(body: str, name: str, signature: str, function, keys: dict, shared_data: dict, record, inner_key: str):
    """One callback: each of ``function``'s data containers read from the record (a view of nutpie's
    buffer, reshaped to the shape stored beside it), then ``function`` called on them."""
    import numba
    from nutpie.compile_pymc import address_as_void_pointer
    from pytensor.link.numba.cache import compile_numba_function_src

    # __name__: numba imports the function's module when it loads the callback from its cache
    env = {"__name__": __name__, "numba": numba, "np": np, "RECORD": record, "INNER": function.vm.jit_fn,
           "address_as_void_pointer": address_as_void_pointer}
    lines, args, dtypes = [], "", []
    for var in function.get_shared():
        key, value = keys[var], shared_data[keys[var]]
        env[f"DTYPE_{key}"] = value.dtype
        dtypes.append(str(value.dtype))
        shape = ", ".join(f"int(shared['shape']['{key}'][{i}])" for i in range(value.ndim))
        lines += [f"        {key} = numba.carray(address_as_void_pointer(shared['data']['{key}'][()]), "
                  f"int(shared['size']['{key}'][()]), DTYPE_{key}).reshape(({shape}{',' if value.ndim == 1 else ''}))"]
        args += f", {key}"
    source = body.format(extract="\n".join(lines), args=args)
    described = repr((GLUE_VERSION, source, str(record), dtypes, inner_key, numba.__version__))
    py_func = compile_numba_function_src(source, name, env, cache_key=hashlib.sha256(described.encode()).hexdigest())
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=numba.NumbaWarning)
        return numba.cfunc(signature, cache=True)(py_func)
