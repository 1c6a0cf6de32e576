"""Compiled models kept and reused in a long-lived process (``bayes_core.compiled``).

A reused compile must give exactly the posterior a fresh compile gives on the new data and priors
(never the old one), and any structural change must compile afresh.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bayes_core import compiled
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow  # trains or compiles models: `make test` runs it, `make test-fast` does not


@pytest.fixture
def cache():
    with compiled.scoped(compiled.CompiledModels(4)) as own:  # counts start at zero
        yield own


def _nb(**kwargs):
    from bayes_core.models.hierarchical_negbinom import HierarchicalNegBinomModel

    return HierarchicalNegBinomModel(**kwargs)


def _sharpe(**kwargs):
    from bayes_core.models.sharpe import BayesianSharpeModel

    return BayesianSharpeModel(**kwargs)


def _key(model, data):
    return compiled.cache_key(model.build_model(data), model.compile_context())


# -- the key: structure in, values out ----------------------------------------------------------------
def test_count_model_key_ignores_data_and_prior_values_but_not_structure():
    model = _nb()
    data = model.load_data(None)
    permuted = data.assign(count=np.random.default_rng(5).permutation(data["count"].to_numpy()))
    assert not permuted.equals(data)
    assert _key(model, permuted) == _key(model, data)  # same entities and distinct counts: only values differ
    assert _key(_nb(priors={"mu_rate": 3.0, "phi_sigma": 0.5}), data) == _key(model, data)
    fewer_entities = data[data["entity"] != data["entity"].iloc[0]]
    assert _key(model, fewer_entities) != _key(model, data)
    other_counts = data.assign(count=data["count"] + 1000 * (data.index == 0))  # one more distinct count
    assert _key(model, other_counts) != _key(model, data)
    assert _key(_nb(options={"non_centered": True}), data) != _key(model, data)


def test_key_includes_the_callers_context():
    model = _nb()
    pm_model = model.build_model(model.load_data(None))
    assert compiled.cache_key(pm_model, ("a", "hash1")) != compiled.cache_key(pm_model, ("a", "hash2"))
    assert model.compile_context() != _nb(options={"non_centered": True}).compile_context()
    assert model.compile_context()[:2] == (model.model_id, model.metadata.config_hash)


def test_a_constant_is_structure_a_data_container_is_not():
    """A prior written as a number is compiled into the graph: another value is another model."""
    import pymc as pm

    def build(sigma, container):
        with pm.Model() as m:
            s = pm.Data("s", sigma) if container else sigma
            pm.Normal("x", 0.0, s)
        return m

    assert compiled.cache_key(build(1.0, False)) != compiled.cache_key(build(2.0, False))
    assert compiled.cache_key(build(1.0, True)) == compiled.cache_key(build(2.0, True))


def test_least_recently_used_entry_is_dropped(monkeypatch):
    import pymc as pm

    monkeypatch.setattr(compiled, "compile_nutpie", lambda model, short=False: object())
    cache = compiled.CompiledModels(max_entries=2)

    def model(mu):
        with pm.Model() as m:
            pm.Normal("x", mu, 1.0)
        return m

    for mu in (1.0, 2.0, 3.0, 1.0):  # the fourth misses: 1.0 was dropped for 3.0
        assert not cache.nutpie_model(model(mu)).reused
    assert cache.stats() == {"entries": 2, "hits": 0, "compiles": 4, "max_entries": 2}


def test_off_unless_enabled():
    """A one-off process (a job, the CLI) compiles afresh: nothing turns the cache on at import."""
    code = "import bayes_core, bayes_core.base; from bayes_core import compiled; print(compiled.active())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "None"


# -- reuse with real compiles (Bayesian Sharpe: the cheapest model to compile) -------------------------------
def _posterior(fit, var="sharpe"):
    return fit.idata["posterior"][var].values


def test_reused_compile_gives_the_posterior_of_a_fresh_compile(cache):
    first_data = _sharpe().example_data(seed=1)
    new_data = _sharpe().example_data(seed=2)
    first = _sharpe().fit(first_data, **TINY)
    assert cache.stats()["compiles"] == 1 and "compile_s" in first.info["timings"]

    warm = _sharpe(priors={"sharpe_sd": 0.3}).fit(new_data, **TINY)  # new returns and a new prior
    assert cache.stats()["hits"] == 1 and cache.stats()["compiles"] == 1
    assert "bind_s" in warm.info["timings"] and "compile_s" not in warm.info["timings"]

    with compiled.scoped(None):  # the reference: a fresh compile of the new model, as a one-off process does
        fresh = _sharpe(priors={"sharpe_sd": 0.3}).fit(new_data, **TINY)
    for var in ("sharpe", "nu", "scale", "annual_volatility"):
        np.testing.assert_allclose(_posterior(warm, var), _posterior(fresh, var), rtol=1e-7, atol=1e-10)
    assert not np.allclose(_posterior(warm), _posterior(first))  # not the old posterior
    observed = warm.idata["observed_data"]["returns"].values
    np.testing.assert_array_equal(observed, new_data["return"].to_numpy())


def test_a_short_run_takes_python_callbacks_unless_c_callbacks_are_kept_and_both_draw_alike(cache):
    """A run of at most SHORT_RUN_DRAWS draws compiles nutpie's model as Python callbacks (loaded from
    pytensor's on-disk cache in a fresh process), a longer one as numba C callbacks; a short run after
    a long one binds the kept C callbacks. For one seed the two forms give the same draws, bit for bit."""
    import nutpie

    from bayes_core import samplers

    nb = _nb()
    data = nb.load_data(None)
    first_short = nb.fit(data, **TINY)
    long = _nb().fit(data, draws=600, tune=500, chains=2, seed=5)
    assert (600 + 500) * 2 > samplers.SHORT_RUN_DRAWS >= (TINY["draws"] + TINY["tune"]) * TINY["chains"]
    later_short = _nb().fit(data, **dict(TINY, seed=2))
    assert first_short.info["nutpie_compiled_as"] == "python callbacks"
    assert long.info["nutpie_compiled_as"] == later_short.info["nutpie_compiled_as"] == "numba C callbacks"
    assert cache.stats()["compiles"] == 2 and cache.stats()["hits"] == 1
    model = nb.build_model(data)
    c_callbacks = cache.nutpie_model(model, nb.compile_context(), short=True)
    assert c_callbacks.reused and c_callbacks.form == "numba C callbacks"
    assert hasattr(c_callbacks.compiled, "shared_var_keys")
    py_callbacks = compiled.compile_nutpie(model, short=True)
    assert not hasattr(py_callbacks, "shared_var_keys")
    draws = [nutpie.sample(m, draws=50, tune=50, chains=2, seed=9, progress_bar=False).posterior
             for m in (c_callbacks.compiled, py_callbacks)]
    for var in ("mu", "alpha", "phi", "theta"):
        np.testing.assert_array_equal(draws[0][var].values, draws[1][var].values)


def test_short_runs_on_small_data_take_callbacks_unless_the_cache_is_for_many_fits():
    import pymc as pm

    from bayes_core import samplers
    from bayes_core.settings import SamplerSettings

    def model(n):
        with pm.Model() as m:
            pm.Normal("y", pm.Normal("mu"), 1.0, observed=np.zeros(n))
        return m

    tiny, long = SamplerSettings(**TINY), SamplerSettings(draws=1000, tune=1001, chains=1)
    for cache in (None, compiled.CompiledModels()):  # a one-off process (the CLI, a job's own); a warm worker
        with compiled.scoped(cache):
            assert samplers.short_run(model(samplers.SHORT_RUN_VALUES), tiny)
            assert not samplers.short_run(model(samplers.SHORT_RUN_VALUES + 1), tiny)  # large data: C callbacks
            assert not samplers.short_run(model(50), long)
    with compiled.scoped(compiled.CompiledModels(short_runs_as_callbacks=False)):  # SBC's many fits
        assert not samplers.short_run(model(50), tiny)


def test_structure_change_compiles_afresh(cache):
    _sharpe().fit(_sharpe().example_data(n=300, seed=1), **TINY)
    _sharpe().fit(_sharpe().example_data(n=301, seed=1), **TINY)  # one more return: another shape
    assert cache.stats()["compiles"] == 2 and cache.stats()["hits"] == 0
    _sharpe(options={"risk_free_rate": 0.03}).fit(_sharpe().example_data(n=300, seed=1), **TINY)
    assert cache.stats()["compiles"] == 3  # another option: never reused across it


def test_c_callbacks_load_from_the_disk_cache_and_draw_what_nutpies_own_draw():
    """bayes_core.cfuncs writes nutpie's C callbacks out per structure and keeps them in pytensor's
    on-disk numba cache: a second compile of the structure loads them (in a fresh process: ~1-2 s
    instead of ~10 s for the count model), and they draw what nutpie.compile_pymc_model's draw, also
    after new data are bound: bit for bit when both use the same kernels, and to ~1e-8 when one of them
    links a fast-math kernel loaded from numba's cache and the other one compiled in this process
    (their last bits differ, and NUTS carries that through 100 draws; seen in full runs)."""
    import nutpie

    from bayes_core import cfuncs

    sharpe = _sharpe()
    model = sharpe.build_model(sharpe.example_data(n=300, seed=1))
    first, again = cfuncs.compile_pymc_model(model), cfuncs.compile_pymc_model(model)
    assert again.compiled_logp_func._cache_hits == again.compiled_expand_func._cache_hits == 1
    assert list(first.shared_var_keys.values()) == list(again.shared_var_keys.values())  # stable, not random
    reference = nutpie.compile_pymc_model(model, backend="numba")
    # New values for every data container (the returns, 1-d; the priors, 0-d), as a warm job binds them.
    scaled = {var.name: np.asarray(var.get_value()) * 1.1 for var in reference.shared_var_keys}
    assert {np.ndim(v) for v in scaled.values()} >= {0, 1}
    for ours, theirs in ((again, reference), (again.with_data(**scaled), reference.with_data(**scaled))):
        draws = [nutpie.sample(m, draws=50, tune=50, chains=2, seed=4, progress_bar=False).posterior
                 for m in (ours, theirs)]
        for var in draws[1].data_vars:
            np.testing.assert_allclose(draws[0][var].values, draws[1][var].values, rtol=1e-6, atol=1e-6)
