"""Sampler and device choice, and progress reporting while sampling.

``auto`` uses nutpie (PyMC's default NUTS) on the CPU, or NumPyro when a GPU is visible to JAX and
the device setting allows it; ``numpyro`` runs NUTS through JAX (GPU when visible and allowed);
``pymc`` is PyMC's own NUTS. The sampler and device actually used are returned with the trace.

The ``approximate`` method is no sampler but a quick look: PyMC's ADVI (mean-field Gaussian on the
unconstrained space, Adam, stopped when the ELBO stops improving), then ``chains × draws``
independent draws from the approximation. It runs on the CPU in seconds; its draws are typically
too narrow and ignore posterior correlations, so a run made this way is marked ``approximate``
everywhere and never counts as converged.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from bayes_core.errors import DeviceUnavailableError, SamplerError
from bayes_core.settings import SamplerSettings  # noqa: F401 - the settings type samplers take

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """A snapshot of sampling progress, reported to the ``progress`` callback."""

    phase: str  # compiling | tuning | sampling | posterior predictive | saving | evaluating
    draws_done: int = 0
    draws_total: int = 0
    chain_draws: list[int] = field(default_factory=list)
    divergences: int = 0
    message: str = ""

    @property
    def fraction(self) -> float:
        return self.draws_done / self.draws_total if self.draws_total else 0.0


ProgressCallback = Callable[[Progress], None]
#: The name an approximate fit records as its sampler.
ADVI = "advi"
#: ADVI's iteration budget and stopping rule: the mean loss (negative ELBO) of the last
#: ``ADVI_WINDOW`` iterations improves on the window before by less than ``ADVI_TOLERANCE`` (relative).
ADVI_MAX_ITERATIONS = 20_000
ADVI_WINDOW = 250
ADVI_TOLERANCE = 1e-3
ADVI_LEARNING_RATE = 0.05
#: How often a running sampler's draws are reported (and a cancel is noticed), in seconds.
POLL_S = 0.5
#: A short nutpie run — at most SHORT_RUN_DRAWS draws (warm-up and all chains included) on at most
#: SHORT_RUN_VALUES observed values — compiles its model as Python callbacks around pytensor's
#: disk-cached numba functions instead of numba C callbacks, whose glue (bayes_core.cfuncs) costs
#: ~5-8 s more the first time a structure is compiled on a machine (loaded from disk after). A
#: gradient through the callbacks costs ~0.1 ms more and the chains take turns holding the GIL:
#: seconds saved on a short run on small data, lost on a long run or on large data (player props'
#: full league). A process that keeps compiled models binds the C callbacks for a
#: short run when an earlier long run left them (compiled.CompiledModels.nutpie_model), and a cache
#: for many fits of one structure (SBC's simulations) takes them throughout (``short_runs_as_callbacks``).
SHORT_RUN_DRAWS = 2_000
#: How long the check for a GPU (a child process importing JAX) may take before "no GPU" is the answer.
GPU_PROBE_TIMEOUT_S = 60
SHORT_RUN_VALUES = 5_000


class Cancelled(SystemExit):
    """Raised by a progress callback whose job was cancelled: it unwinds sampling (nutpie's sampler
    is aborted, PyMC's chains stopped) and every ``finally`` on the way. A ``SystemExit`` like the
    one a SIGTERM raises in a worker, so neither a fallback nor an error handler takes it for a
    failure; not a ``KeyboardInterrupt``, which PyMC turns into a partial result."""

    def __init__(self) -> None:
        super().__init__("cancelled")


def _noop(_: Progress) -> None:
    pass


def cuda_plugin_installed() -> bool:
    """Cheap check, without importing jax: is a CUDA build of jaxlib installed at all?"""
    for name in ("jax_cuda13_plugin", "jax_cuda12_plugin", "jax_plugins.xla_cuda13", "jax_plugins.xla_cuda12"):
        try:
            if importlib.util.find_spec(name) is not None:
                return True
        except ModuleNotFoundError:  # the parent package (jax_plugins) is absent
            continue
    return False


def gpu_available() -> bool:
    if os.environ.get("BAYES_FORCE_NO_GPU") or not cuda_plugin_installed():
        return False
    return bool(jax_gpus())


@functools.lru_cache(maxsize=1)
def jax_gpus() -> tuple[str, ...]:
    """The GPUs JAX sees (their kinds, e.g. 'NVIDIA H200'), asked in a short child process: a JAX GPU
    client takes 75 % of the GPU's memory when it starts (JAX's preallocation), so a process that
    only asks — the app or the CLI submitting a job — must not start one, or the job's own process,
    which trains on that GPU, would be left the rest. Empty when JAX has no GPU backend or fails."""
    probe = "import jax; print('\\n'.join(d.device_kind for d in jax.devices('gpu')))"
    try:
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                             timeout=GPU_PROBE_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return tuple(line for line in out.stdout.splitlines() if line.strip()) if out.returncode == 0 else ()


def resolve(settings: SamplerSettings, gpu: bool | None = None) -> tuple[str, str]:
    """(sampler, device) actually used; raises DeviceUnavailableError before any sampling.

    ``gpu``: can the job have a GPU where it runs (a cluster runner knows its nodes); default: does
    JAX see one here."""
    if settings.method == "approximate":
        if settings.device == "gpu":
            raise SamplerError("The approximate method (ADVI) runs on the CPU only; choose device 'cpu' or 'auto', "
                               "or method 'mcmc' for NUTS on the GPU.")
        return ADVI, "cpu"
    sampler, device = settings.sampler, settings.device
    have_gpu = gpu_available if gpu is None else (lambda: gpu)
    if device == "gpu":
        if sampler in ("nutpie", "pymc"):
            raise SamplerError(
                f"The {sampler} sampler runs on the CPU only; choose sampler 'numpyro' (or 'auto') for the GPU."
            )
        if not have_gpu():
            raise DeviceUnavailableError(
                "device 'gpu' was requested but JAX sees no GPU. Install the CUDA build of JAX "
                "(see the README, 'GPU training') or choose device 'cpu'/'auto'."
            )
        return "numpyro", "gpu"
    if sampler == "auto":
        if device == "auto" and have_gpu():
            return "numpyro", "gpu"
        return "nutpie", "cpu"
    if sampler == "numpyro":
        return "numpyro", ("gpu" if device == "auto" and have_gpu() else "cpu")
    return sampler, "cpu"


def sample(model, settings: SamplerSettings, progress: ProgressCallback | None = None, *,
           cache_key: tuple = ()):
    """Run NUTS on ``model``; returns ``(idata, info)`` where info records sampler, device, timings.

    ``cache_key``: what identifies the model beyond its graph (model id, config hash, options); a
    process that keeps compiled models (``bayes_core.compiled``) reuses one only for the same key
    and graph structure. ``progress`` may raise ``Cancelled`` to stop sampling."""
    progress = progress or _noop
    sampler, device = resolve(settings)
    t0 = time.perf_counter()
    extra: dict = {}
    try:
        if sampler == ADVI:
            idata, timings, extra["approximation"] = _fit_advi(model, settings, progress)
        elif sampler == "nutpie":
            idata, timings, extra["nutpie_compiled_as"] = _sample_nutpie(model, settings, progress, device, cache_key)
        else:
            runner = {"pymc": _sample_pymc, "numpyro": _sample_numpyro}[sampler]
            idata, timings = runner(model, settings, progress, device)
    except (SamplerError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise SamplerError(f"Sampling with {sampler} failed: {type(exc).__name__}: {exc}") from exc
    timings["total_s"] = time.perf_counter() - t0
    return idata, {"sampler": sampler, "device": device, "timings": timings, **extra}


def short_run(model, s: SamplerSettings) -> bool:
    """Is this a short run (``SHORT_RUN_DRAWS``), whose model is compiled as Python callbacks?"""
    import numpy as np
    from pymc.backends.arviz import find_observations

    from bayes_core import compiled

    cache = compiled.active()
    if cache is not None and not cache.short_runs_as_callbacks:
        return False
    values = sum(np.size(v) for v in find_observations(model).values())
    return (s.draws + s.tune) * s.chains <= SHORT_RUN_DRAWS and values <= SHORT_RUN_VALUES


def _sample_nutpie(model, s: SamplerSettings, progress: ProgressCallback, device: str, cache_key: tuple = ()):
    """nutpie's sampler in the background, polled every ``POLL_S``: the draws done are reported from
    this thread (so a ``Cancelled`` raised by ``progress`` aborts the sampler at once), and the
    compiled model comes from the process's cache when it keeps one. Returns ``(idata, timings,
    the form the model was compiled in)``."""
    import nutpie
    from pymc.sampling.mcmc import patch_nutpie_idata

    from bayes_core import compiled as compiled_models

    progress(Progress("compiling", 0, (s.draws + s.tune) * s.chains))
    prepared = compiled_models.nutpie_model(model, cache_key, short=short_run(model, s))
    form = prepared.form
    log.info("nutpie model %s as %s in %.1f s", "bound" if prepared.reused else "compiled", form, prepared.compile_s)
    if prepared.reused:
        progress(Progress("compiling", 0, (s.draws + s.tune) * s.chains, message="compiled model reused"))
    latest: list = [None]  # the sampler thread's last report (a list of nutpie ChainProgress)

    def on_progress(chains) -> None:
        latest[0] = chains

    t1 = time.perf_counter()
    sampler = nutpie.sample(
        prepared.compiled, draws=s.draws, tune=max(s.tune, 1), chains=s.chains,
        cores=min(s.chains, os.cpu_count() or 1), seed=s.seed, target_accept=s.target_accept, save_warmup=False,
        progress_bar=False, progress_callback=on_progress, progress_rate=int(POLL_S * 500), blocking=False,
    )
    try:
        while True:
            try:
                idata = sampler.wait(timeout=POLL_S)
                break
            except TimeoutError:
                if latest[0] is not None:
                    progress(_chain_progress(latest[0]))
    except BaseException:
        _abort(sampler)
        raise
    t_sample = time.perf_counter() - t1
    if latest[0] is not None:
        progress(_chain_progress(latest[0], finished=True))
    patch_nutpie_idata(idata, model, sampling_time=t_sample)
    timings = {"sampling_s": t_sample}
    timings["bind_s" if prepared.reused else "compile_s"] = prepared.compile_s
    return idata, timings, form


def _chain_progress(chains, finished: bool = False) -> Progress:
    """A ``Progress`` from nutpie's chain reports (all draws done once the sampler has finished: its
    last report may predate the last draws)."""
    done = [int(c.total_draws if finished else c.finished_draws) for c in chains]
    return Progress("sampling" if finished or not any(c.tuning for c in chains) else "tuning", sum(done),
                    sum(int(c.total_draws) for c in chains), done, sum(int(c.divergences) for c in chains))


def _abort(sampler) -> None:
    try:
        sampler.cancel()
    except Exception as exc:  # already finished or failed: nothing left to stop
        log.debug("nutpie sampler not aborted: %s", exc)


def _sample_pymc(model, s: SamplerSettings, progress: ProgressCallback, device: str):
    import pymc as pm

    total = (s.draws + s.tune) * s.chains
    counts: dict[int, int] = {}
    divergences = [0]
    last = [0.0]

    def on_draw(trace, draw) -> None:
        counts[draw.chain] = counts.get(draw.chain, 0) + 1
        stats = draw.stats[0] if draw.stats else {}
        if not draw.tuning and stats.get("diverging"):
            divergences[0] += 1
        now = time.monotonic()
        if now - last[0] >= 0.5:
            last[0] = now
            progress(Progress("tuning" if draw.tuning else "sampling", sum(counts.values()), total,
                              [counts.get(c, 0) for c in range(s.chains)], divergences[0]))

    progress(Progress("compiling", 0, total))
    t0 = time.perf_counter()
    with model:
        idata = pm.sample(draws=s.draws, tune=s.tune, chains=s.chains, cores=min(s.chains, os.cpu_count() or 1),
                          random_seed=s.seed, target_accept=s.target_accept, nuts_sampler="pymc",
                          progressbar=False, callback=on_draw, compute_convergence_checks=False)
    return idata, {"sampling_s": time.perf_counter() - t0}


def _sample_numpyro(model, s: SamplerSettings, progress: ProgressCallback, device: str):
    """NumPyro NUTS through PyMC's JAX bridge; chains vectorised on the GPU, sequential on CPU.

    NumPyro reports no per-draw progress through PyMC, so a heartbeat thread reports the phase and
    elapsed time every second while it runs.
    """
    import jax
    import pymc as pm

    total = (s.draws + s.tune) * s.chains
    stop = threading.Event()
    t0 = time.perf_counter()

    def heartbeat() -> None:
        while not stop.wait(1.0):
            progress(Progress("sampling", 0, total, message=f"NumPyro on {device}: {time.perf_counter() - t0:.0f}s elapsed"))

    progress(Progress("compiling", 0, total, message=f"NumPyro on {device}"))
    thread = threading.Thread(target=heartbeat, daemon=True)
    thread.start()
    try:
        target = jax.devices("gpu" if device == "gpu" else "cpu")[0]
        with jax.default_device(target), model:
            idata = pm.sample(draws=s.draws, tune=s.tune, chains=s.chains, random_seed=s.seed,
                              target_accept=s.target_accept, nuts_sampler="numpyro", progressbar=False,
                              nuts={"chain_method": "vectorized" if device == "gpu" else "sequential"},
                              compute_convergence_checks=False)
    finally:
        stop.set()
        thread.join()
    return idata, {"sampling_s": time.perf_counter() - t0}


class _ElboStop:
    """ADVI callback: reports progress (so a cancel stops the fit) and ends the fit once the loss
    has levelled off (``ADVI_WINDOW``, ``ADVI_TOLERANCE``) by raising ``StopIteration``, which
    ``pm.fit`` takes as "stop here"."""

    def __init__(self, progress: ProgressCallback, total: int):
        self.progress, self.total, self.converged, self.last = progress, total, False, 0.0

    def __call__(self, _approx, losses, i: int) -> None:
        now = time.monotonic()
        if now - self.last >= POLL_S:
            self.last = now
            self.progress(Progress("fitting", i, self.total, message=f"ADVI, loss {losses[-1]:,.1f}"))
        if i % ADVI_WINDOW or i < 4 * ADVI_WINDOW:
            return
        recent, before = losses[-ADVI_WINDOW:].mean(), losses[-2 * ADVI_WINDOW:-ADVI_WINDOW].mean()
        if abs(before - recent) <= ADVI_TOLERANCE * max(abs(before), 1.0):
            self.converged = True
            raise StopIteration


def _fit_advi(model, s: SamplerSettings, progress: ProgressCallback):
    """Mean-field ADVI, then ``chains × draws`` independent draws from the approximation, split into
    ``chains`` pseudo-chains so that every reader of a trace finds the shape it expects (their R-hat
    and ESS describe the approximation's own draws, not how well it fits: the verdict says
    'approximate'). Returns the trace, timings and what the approximation was (iterations, loss)."""
    import numpy as np
    import pymc as pm

    progress(Progress("compiling", 0, ADVI_MAX_ITERATIONS, message="ADVI"))
    stop = _ElboStop(progress, ADVI_MAX_ITERATIONS)
    t0 = time.perf_counter()
    with model:
        approx = pm.fit(n=ADVI_MAX_ITERATIONS, method="advi", random_seed=s.seed, progressbar=False,
                        callbacks=[stop], obj_optimizer=pm.adam(learning_rate=ADVI_LEARNING_RATE))
    t_fit = time.perf_counter() - t0
    losses = np.asarray(approx.hist, dtype=float)
    if losses.size == 0 or not np.isfinite(losses[-ADVI_WINDOW:]).any():
        raise SamplerError("ADVI diverged (its loss is not finite); try method 'mcmc', or check the priors.")
    progress(Progress("sampling", message="draws from the approximation"))
    t1 = time.perf_counter()
    idata = approx.sample(s.chains * s.draws, random_seed=s.seed)
    posterior = idata["posterior"].to_dataset()
    # one chain of chains × draws independent draws → (chains, draws): the draws are exchangeable
    split = posterior.isel(chain=0, drop=True).coarsen(draw=s.draws).construct(draw=("chain", "draw"))
    idata["posterior"] = split.assign_coords(chain=np.arange(s.chains), draw=np.arange(s.draws))
    if "sample_stats" in idata.children:
        del idata["sample_stats"]  # nothing NUTS would record; an empty group would only mislead
    tail = losses[-ADVI_WINDOW:]
    return idata, {"sampling_s": time.perf_counter() - t1, "fit_s": t_fit}, {
        "method": "ADVI (mean-field)", "iterations": int(losses.size), "max_iterations": ADVI_MAX_ITERATIONS,
        "loss_levelled_off": stop.converged, "final_loss": float(np.nanmean(tail))}


def value_counts(model) -> tuple[int, int]:
    """``(values per draw, observed values)`` of a PyMC model, from its shapes, without sampling.

    Values per draw are what a trace stores for each draw: every free variable and deterministic.
    The shapes come from one small function compiled in FAST_COMPILE mode (no NUTS compile).
    """
    import numpy as np
    import pytensor
    import pytensor.tensor as pt

    stored = [*model.free_RVs, *model.deterministics]
    observed = [model.rvs_to_values[rv] for rv in model.observed_RVs]
    shapes = pytensor.function(
        [], [pt.as_tensor(v.shape) for v in (*stored, *observed)],
        givens=[(rv, model.rvs_to_values[rv]) for rv in model.observed_RVs],
        mode=pytensor.compile.mode.FAST_COMPILE, on_unused_input="ignore")() if stored or observed else []
    sizes = [int(np.prod(s)) for s in shapes]
    return sum(sizes[:len(stored)]), sum(sizes[len(stored):])
