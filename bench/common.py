"""Shared helpers for benchmarks: machine description, timing, result records."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

PACKAGES = ("pymc", "pytensor", "nutpie", "numpyro", "jax", "arviz", "numpy", "streamlit")


def machine() -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {"cpu_count": os.cpu_count(), "platform": platform.platform(), "processor": platform.machine(),
            "python": platform.python_version(), "packages": versions}


@contextlib.contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        yield out
    finally:
        out["s"] = time.perf_counter() - t0


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
