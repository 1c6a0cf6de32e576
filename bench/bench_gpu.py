"""GPU against CPU on a model that cannot be reduced (issues 4, 7 and 16, the GPU items).

The player-props model on a 50,000-row league (1,000 players × 50 weekly rounds; quick: 5,000
rows): every row enters the likelihood — there is no sufficient statistic to shrink it to — so the
work grows with the data, which is where a GPU can pay. Each path trains in a fresh interpreter
(compile included, as a user's first training) with the config's defaults (4 chains × 1,000 warm-up
+ 1,000 draws):

* ``numpyro gpu``: NumPyro on JAX's CUDA backend, chains vectorised on the one GPU (where JAX sees one);
* ``numpyro cpu``: the same sampler on this machine's CPU, so the ratio compares devices, not samplers;
* ``nutpie cpu``: the CPU default (where nutpie is installed).

Figures per path: wall, sampling, min ESS bulk and ESS/s; ratios only between paths of this run.
Without a GPU nothing runs unless ``BENCH_GPU_PATHS`` names the paths (e.g. ``nutpie cpu``). A path
that does not finish within ``BENCH_GPU_PATH_TIMEOUT_S`` (default 900 s) is reported so;
``BENCH_GPU_SETTINGS`` (e.g. ``draws=300,tune=300``) shortens every path alike for a short lease.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from bench.common import Figure, time_in_fresh_interpreter

_CHILD = r"""
import json, sys, time
sampler, device, players, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
settings = json.loads(sys.argv[5])
from bayes_core.registry import get_registry
model = get_registry(refresh=True).load_model_instance("player_props")
data = model.example_data(n_teams=20, n_players=players, n_rounds=rounds)
import pymc  # imports are not part of training time
t0 = time.perf_counter()
fit = model.fit(data, sampler=sampler, device=device, **settings)
wall = time.perf_counter() - t0
d = fit.diagnostics
devices = ""
if sampler == "numpyro":
    import jax
    devices = ", ".join(sorted({dev.device_kind for dev in jax.devices(device)}))
print(json.dumps({"wall_s": wall, "timings": fit.info["timings"], "sampler": fit.info["sampler"],
                  "device": fit.info.get("device", device), "device_kind": devices, "rows": int(len(data)),
                  "settings": fit.settings.to_dict(), "ess_bulk_min": d["ess_bulk_min"],
                  "r_hat_max": d["r_hat_max"], "divergences": d.get("divergences"), "verdict": d["verdict"]}))
"""

DEFAULT_SETTINGS = {"chains": 4, "tune": 1000, "draws": 1000}  # the config's (player props)
PATHS = {"numpyro gpu": ("numpyro", "gpu"), "numpyro cpu": ("numpyro", "cpu"), "nutpie cpu": ("nutpie", "cpu")}


def _settings(text: str) -> dict[str, int]:
    """``"draws=300,tune=300"`` → ``{"draws": 300, "tune": 300}``: shorter runs for a short lease."""
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    if all(len(p) == 2 and p[0].strip() in DEFAULT_SETTINGS and p[1].strip().isdigit() for p in pairs):
        return {k.strip(): int(v) for k, v in pairs}
    raise ValueError(f"BENCH_GPU_SETTINGS={text!r}: expected e.g. 'draws=300,tune=300' (keys: "
                     f"{', '.join(DEFAULT_SETTINGS)}; whole numbers)")


NO_GPU = "not measured: JAX sees no GPU on this machine"


def _unavailable(sampler: str, device: str, chosen: bool) -> str | None:
    """Why a path cannot run here, or None. Without a GPU the CPU paths, this bench's comparison for
    it, run only when ``BENCH_GPU_PATHS`` names them (``make bench`` would spend an hour on them)."""
    from bayes_core import samplers

    if not samplers.gpu_available() and (device == "gpu" or not chosen):
        return NO_GPU
    if sampler == "nutpie":
        try:
            import nutpie  # noqa: F401
        except ImportError:
            return "not measured: nutpie is not installed on this machine"
    return None


def gpu_kind() -> str | None:
    """The GPU JAX sees here (e.g. 'NVIDIA H200'), or None; asked without starting JAX in this
    process, which would hold most of the GPU's memory while the paths run."""
    from bayes_core import samplers

    return ", ".join(sorted(set(samplers.jax_gpus()))) if samplers.gpu_available() else None


def run(quick: bool) -> dict[str, Any]:
    players, rounds = (250, 20) if quick else (1000, 50)
    timeout = int(os.environ.get("BENCH_GPU_PATH_TIMEOUT_S", "900"))
    settings = {**DEFAULT_SETTINGS, **_settings(os.environ.get("BENCH_GPU_SETTINGS", ""))}
    chosen = bool(os.environ.get("BENCH_GPU_PATHS", "").strip())
    only = [p.strip() for p in os.environ.get("BENCH_GPU_PATHS", ",".join(PATHS)).split(",") if p.strip()]
    if set(only) - set(PATHS):
        raise ValueError(f"BENCH_GPU_PATHS names {', '.join(sorted(set(only) - set(PATHS)))}; the paths are "
                         f"{', '.join(PATHS)}")
    paths: dict[str, Any] = {}
    figures: list[Figure] = []
    for name in only:
        sampler, device = PATHS[name]
        reason = _unavailable(sampler, device, chosen)
        if reason is None:
            try:
                paths[name] = r = time_in_fresh_interpreter(_CHILD, sampler, device, players, rounds,
                                                            json.dumps(settings), timeout=timeout)
            except subprocess.TimeoutExpired:
                reason = f"did not finish within {timeout} s"
        if reason is not None:
            paths[name] = {"not_measured": reason}
            figures.append(Figure(f"{name}: training wall", reason))
            continue
        r["ess_per_s"] = r["ess_bulk_min"] / r["wall_s"]
        label = f"{name}" + (f" ({r['device_kind']})" if r["device_kind"] else "")
        figures += [Figure(f"{label}: training wall, compile included", round(r["wall_s"], 1), "s"),
                    Figure(f"{name}: of which sampling", round(r["timings"].get("sampling_s", float("nan")), 1), "s"),
                    Figure(f"{name}: min ESS bulk", round(r["ess_bulk_min"]), "draws"),
                    Figure(f"{name}: min ESS bulk per second of wall", round(r["ess_per_s"], 1), "1/s"),
                    Figure(f"{name}: max R-hat", round(r["r_hat_max"], 3), "")]
    measured = {n: p for n, p in paths.items() if "wall_s" in p}
    if "numpyro gpu" in measured:
        gpu = measured["numpyro gpu"]
        for other in ("numpyro cpu", "nutpie cpu"):
            if other in measured:
                figures += [Figure(f"wall, {other} ÷ numpyro gpu", round(measured[other]["wall_s"] / gpu["wall_s"], 2), "×"),
                            Figure(f"ESS/s, numpyro gpu ÷ {other}",
                                   round(gpu["ess_per_s"] / measured[other]["ess_per_s"], 2), "×")]
    rows = next((p["rows"] for p in measured.values()), players * rounds)
    kind = gpu_kind()
    return {"sizes": {"players": players, "rounds": rounds, "rows": rows, **settings},
            "gpu": f"{kind} (NumPyro on JAX's CUDA backend)" if kind else None,
            "paths": paths, "figures": [f.to_dict() for f in figures]}
