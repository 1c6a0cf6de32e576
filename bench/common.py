"""Shared helpers for benchmarks: machine description, timing, result records."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def machine() -> dict[str, Any]:
    from bayes_core.artifacts import package_versions  # the same versions every run records

    try:  # the app bench's; a GPU machine running only the GPU bench may have no streamlit
        streamlit = importlib.metadata.version("streamlit")
    except importlib.metadata.PackageNotFoundError:
        streamlit = None
    packages = {**package_versions(), "streamlit": streamlit}
    return {"cpu_count": os.cpu_count(), "platform": platform.platform(), "processor": platform.machine(),
            "python": platform.python_version(), "packages": packages}


def time_in_fresh_interpreter(script: str, *args: Any, timeout: int = 900) -> dict[str, Any]:
    """Run ``script`` (Python source printing one JSON object last) in a new interpreter from the
    repository root, so compilation is paid as on a user's first training; returns that object."""
    proc = subprocess.run([sys.executable, "-c", script, *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed: {proc.stderr[-1500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def latency(fn: Callable[[], Any], calls: int, warmup: int = 5) -> dict[str, float]:
    """p50/p95/p99 of single calls, in milliseconds."""
    for _ in range(warmup):
        fn()
    samples = np.empty(calls)
    for i in range(calls):
        t0 = time.perf_counter()
        fn()
        samples[i] = time.perf_counter() - t0
    p50, p95, p99 = np.percentile(samples * 1e3, [50, 95, 99])
    return {"p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99), "calls": calls}


def median_time(fn: Callable[[], Any], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def figure(value: Any, unit: str, goal: str = "", met: bool | None = None) -> dict[str, Any]:
    """One reported number keyed by its name in a bench's result: value, unit, goal, met or not."""
    return {"value": value, "unit": unit, "goal": goal, "met": met}


@dataclass
class Figure:
    """One reported number with its unit, and the goal it is judged against (if any)."""

    name: str
    value: Any
    unit: str = ""
    goal: str = ""
    met: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "unit": self.unit, "goal": self.goal, "met": self.met}
