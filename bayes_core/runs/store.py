"""Run directories: ``<artifacts>/<model_id>/runs/<run_id>/``, written atomically, read lazily.

The model builds results (a ``FitResult``, its DAG, its reports); this module writes them. A run is
written into a hidden staging directory (``.tmp-<run_id>``) beside its final place and renamed into
place when complete, so it exists whole or not at all; a deleted run is first renamed aside
(``.del-<run_id>-…``), so it never shows half-deleted. Ids are validated by pattern before any path
is built from them. The trace's attributes say what it is (model id and version, config hash, run
id, creation time) and are checked when it is loaded.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import re
import secrets
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import pandas as pd

from bayes_core import draws as draws_mod
from bayes_core.config import MODEL_ID_PATTERN
from bayes_core.errors import BayesCoreError, CorruptRunError, RunNotFoundError, SamplerError
from bayes_core.runs import refs

if TYPE_CHECKING:
    from bayes_core.base import BaseBayesianModel, FitResult

log = logging.getLogger("bayes_core.runs")

RUN_ID_PATTERN = re.compile(r"^\d{8}-\d{6}-\d{6}-[0-9a-f]{6}$")

TRACE_FILE = "trace.nc"
SUMMARY_FILE = "summary.csv"
DIAGNOSTICS_FILE = "diagnostics.json"
METADATA_FILE = "metadata.json"
DATA_FILE = "data.csv"
DAG_DOT_FILE = "model.dot"
DAG_SVG_FILE = "model.svg"
LOG_FILE = "train.log"
CONFIG_FILE = "config.yaml"  # the config the run was trained from, byte for byte
LOCK_FILE = "requirements.lock"  # every installed package, pinned (name==version)
REPORTS_DIR = "reports"
STAGING_PREFIX = ".tmp-"
DELETING_PREFIX = ".del-"

#: Attributes stamped into every trace (root of ``trace.nc``), as pymc-extras' ModelBuilder does.
TRACE_ATTRS = ("model_id", "model_version", "config_hash", "run_id", "created_at")
#: Loggers whose records go into a run's ``train.log`` while it is being trained.
LOGGED = ("bayes_core", "pymc", "nutpie")

_VERSIONED_PACKAGES = ("pymc", "pytensor", "nutpie", "numpyro", "jax", "arviz", "arviz-stats",
                       "numpy", "pandas", "xarray", "scipy")


# -- ids and paths ---------------------------------------------------------------------------------
def artifacts_root() -> Path:
    """``BAYES_ARTIFACTS_DIR`` names the artifacts root; ``./artifacts`` otherwise."""
    return Path(os.environ.get("BAYES_ARTIFACTS_DIR") or Path.cwd() / "artifacts")


def check_model_id(model_id: str) -> str:
    if not isinstance(model_id, str) or not MODEL_ID_PATTERN.match(model_id):
        raise BayesCoreError(f"{model_id!r} is not a valid model id ({MODEL_ID_PATTERN.pattern}).")
    return model_id


def check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id):
        raise RunNotFoundError(f"{run_id!r} is not a valid run id (expected e.g. 20260101-120000-000000-a1b2c3).")
    return run_id


def model_dir(model_id: str) -> Path:
    return artifacts_root() / check_model_id(model_id)


def runs_dir(model_id: str) -> Path:
    return model_dir(model_id) / "runs"


def run_path(model_id: str, run_id: str) -> Path:
    return runs_dir(model_id) / check_run_id(run_id)


def ensure_runs_dir(model_id: str) -> Path:
    path = runs_dir(model_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%d-%H%M%S-%f}-{secrets.token_hex(3)}"


def list_run_ids(model_id: str) -> list[str]:
    """Run ids of a model, oldest first; staging, deleting and foreign directories are ignored."""
    root = runs_dir(model_id)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and RUN_ID_PATTERN.match(p.name))


def latest_run_id(model_id: str) -> str | None:
    ids = list_run_ids(model_id)
    return ids[-1] if ids else None


def run_created_at(model_id: str, run_id: str) -> str | None:
    try:
        return json.loads((run_path(model_id, run_id) / METADATA_FILE).read_text())["created_at"]
    except (OSError, ValueError, KeyError):
        return None


# -- writing -----------------------------------------------------------------------------------------
def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (datetime, pd.Timestamp)):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=2, default=_json_default, allow_nan=True))


def package_versions() -> dict[str, str | None]:
    out = {}
    for name in _VERSIONED_PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


@lru_cache(maxsize=1)
def environment_lock() -> str:
    """Every installed distribution as ``name==version``, one a line (pip freeze-like, from
    ``importlib.metadata``); computed once per process."""
    pins = {f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions() if d.metadata["Name"]}
    return "\n".join(sorted(pins, key=str.lower)) + "\n"


def config_snapshot(meta: Any) -> str | None:
    """The text of the config ``meta`` was loaded from, if the file still has the hash it had
    (else None: the file changed since, and the run's config can no longer be told for sure)."""
    path = getattr(meta, "config_path", None)
    if not path:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return text if hashlib.sha256(text.encode()).hexdigest()[:16] == meta.config_hash else None


@dataclass(frozen=True)
class StagedRun:
    """A run being written: its id and hidden directory (renamed into place when complete)."""

    model_id: str
    run_id: str
    path: Path

    def run(self) -> "Run":
        """The run once it has been renamed into place."""
        return Run(self.model_id, self.run_id)


@contextmanager
def staged_run(model_id: str, run_id: str | None = None) -> Iterator[StagedRun]:
    """A hidden ``.tmp-<run_id>`` directory whose ``train.log`` records the core's, PyMC's and
    nutpie's log while the block runs. On success it is renamed into place; on any error (or a
    signal that unwinds the block) it is removed."""
    run_id = check_run_id(run_id) if run_id else new_run_id()
    final = run_path(model_id, run_id)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f"{STAGING_PREFIX}{run_id}"
    tmp.mkdir()
    handler = logging.FileHandler(tmp / LOG_FILE)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    watched = [logging.getLogger(name) for name in LOGGED]
    for logger in watched:
        logger.addHandler(handler)
    logging.getLogger("bayes_core").setLevel(logging.INFO)
    try:
        try:
            yield StagedRun(model_id, run_id, tmp)
        finally:
            for logger in watched:
                logger.removeHandler(handler)
            handler.close()
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def require_trace(fit: "FitResult") -> None:
    """A run needs a trace: a fit without one (a fallback with no posterior draws) is refused."""
    if fit.idata is None:
        reason = fit.fallback.reason or "the fit has no posterior draws"
        raise SamplerError(f"{reason}. No run was written (a run needs a trace); the {fit.method} estimate "
                           "has no posterior draws and is available in memory only (e.g. from the notebook API).")


def stamp_trace(idata: Any, stamp: dict[str, Any]) -> None:
    """Write the run's identity into the trace's root attributes (None values are left out)."""
    idata.attrs.update({k: str(v) for k, v in stamp.items() if k in TRACE_ATTRS and v is not None})


def write_run_files(folder: Path, model: "BaseBayesianModel", fit: "FitResult", run_id: str) -> None:
    """Every file of a run from a fit and what the model returns for it (graph, reports)."""
    require_trace(fit)
    t0 = time.perf_counter()
    created_at = fit.created_at.isoformat()
    meta = model.metadata
    stamp_trace(fit.idata, {"model_id": model.model_id, "model_version": meta.version,
                            "config_hash": meta.config_hash, "run_id": run_id, "created_at": created_at})
    fit.idata.to_netcdf(folder / TRACE_FILE)
    fit.summary.to_csv(folder / SUMMARY_FILE)
    write_json(folder / DIAGNOSTICS_FILE, fit.diagnostics)
    snapshot = fit.data.to_csv(index=False, date_format="%Y-%m-%d")
    (folder / DATA_FILE).write_text(snapshot)
    _write_graph(folder, model.graph(fit.data))
    config_text = config_snapshot(meta)
    if config_text is None:
        log.warning("the config of %s changed since it was loaded: run %s keeps no config snapshot", model.model_id,
                    run_id)
    else:
        (folder / CONFIG_FILE).write_text(config_text, encoding="utf-8")
    (folder / LOCK_FILE).write_text(environment_lock())
    reports = model.build_reports(fit)
    if reports:
        (folder / REPORTS_DIR).mkdir()
        for name, payload in reports.items():
            write_json(folder / REPORTS_DIR / f"{name}.json", payload)
    fit.info["timings"]["save_s"] = time.perf_counter() - t0
    write_json(folder / METADATA_FILE, {
        "run_id": run_id,
        "model_id": model.model_id,
        "model_name": meta.name,
        "model_version": meta.version,
        "config_hash": meta.config_hash,
        "data_hash": hashlib.sha256(snapshot.encode()).hexdigest()[:16],
        "data_rows": int(len(fit.data)),
        "settings": fit.settings.to_dict(),
        "seed": fit.settings.seed,
        "sampler": fit.info["sampler"],
        "device": fit.info["device"],
        "fit_path": fit.path,
        "fit_method": fit.method,
        "options": fit.options,
        "priors": fit.priors,
        "timings": fit.info["timings"],
        "package_versions": package_versions(),
        "python_version": platform.python_version(),
        "created_at": created_at,
        "verdict": fit.diagnostics["verdict"],
    })


def _write_graph(folder: Path, graph: Any) -> None:
    (folder / DAG_DOT_FILE).write_text(graph.source)
    if shutil.which("dot"):
        try:
            (folder / DAG_SVG_FILE).write_bytes(graph.pipe(format="svg"))
        except Exception as exc:  # SVG is a convenience; the DOT source is the record
            log.warning("could not render the DAG as SVG: %s", exc)


def write_run(model: "BaseBayesianModel", fit: "FitResult", run_id: str | None = None) -> "Run":
    """Write ``fit`` (e.g. from ``model.fit`` in a notebook) as a new run, atomically; returns it."""
    require_trace(fit)  # before a staging directory exists
    with staged_run(model.model_id, run_id) as staged:
        write_run_files(staged.path, model, fit, staged.run_id)
    return staged.run()


def delete_run(model_id: str, run_id: str) -> None:
    """Remove a run whole: renamed aside first (it disappears at once), then deleted."""
    path = run_path(model_id, run_id)
    if not path.is_dir():
        raise RunNotFoundError(f"No run {run_id} for model {model_id!r}; nothing to delete.")
    aside = path.parent / f"{DELETING_PREFIX}{run_id}-{secrets.token_hex(3)}"
    os.replace(path, aside)
    shutil.rmtree(aside, ignore_errors=True)
    if aside.exists():
        log.warning("run %s of %s was removed from the list, but %s could not be deleted entirely; "
                    "delete it by hand", run_id, model_id, aside)


# -- reading -------------------------------------------------------------------------------------------
class Run:
    """A saved run, loaded lazily. Everything it exposes is read from the run directory."""

    def __init__(self, model_id: str, run_id: str):
        self.model_id = check_model_id(model_id)
        self.run_id = check_run_id(run_id)
        self.path = run_path(model_id, run_id)
        if not self.path.is_dir():
            raise RunNotFoundError(
                f"No run {run_id} for model {model_id!r} under {runs_dir(model_id)}. "
                "List runs with `python -m bayes_core list` or train the model first."
            )

    @classmethod
    def from_path(cls, run_dir: str | Path) -> "Run":
        """Open a run from its directory (``.../<model_id>/runs/<run_id>``), wherever it lives."""
        run_dir = Path(run_dir).resolve()
        run = cls.__new__(cls)
        run.run_id = check_run_id(run_dir.name)
        run.model_id = check_model_id(run_dir.parent.parent.name)
        run.path = run_dir
        if not (run_dir / METADATA_FILE).is_file():
            raise RunNotFoundError(f"{run_dir} is not a run directory (no {METADATA_FILE}).")
        return run

    def __repr__(self) -> str:
        return f"Run({self.model_id!r}, {self.run_id!r})"

    def _read_json(self, name: str) -> dict[str, Any]:
        try:
            return json.loads((self.path / name).read_text())
        except FileNotFoundError:
            raise CorruptRunError(f"Run {self.run_id} is missing {name}; train again.") from None
        except ValueError as exc:
            raise CorruptRunError(f"Run {self.run_id}: {name} is not valid JSON ({exc}); train again.") from exc

    @cached_property
    def metadata(self) -> dict[str, Any]:
        return self._read_json(METADATA_FILE)

    @cached_property
    def diagnostics(self) -> dict[str, Any]:
        return self._read_json(DIAGNOSTICS_FILE)

    @property
    def verdict(self) -> str:
        return self.diagnostics.get("verdict", "unknown")

    @cached_property
    def summary(self) -> pd.DataFrame:
        try:
            return pd.read_csv(self.path / SUMMARY_FILE, index_col=0)
        except (OSError, ValueError) as exc:
            raise CorruptRunError(f"Run {self.run_id}: cannot read {SUMMARY_FILE} ({exc}).") from exc

    @cached_property
    def data(self) -> pd.DataFrame:
        try:
            return pd.read_csv(self.path / DATA_FILE, keep_default_na=False, na_values=[""])
        except (OSError, ValueError) as exc:
            raise CorruptRunError(f"Run {self.run_id}: cannot read the data snapshot ({exc}).") from exc

    @cached_property
    def idata(self):
        """The trace as an ``xarray.DataTree`` (loaded into memory, file closed), its stamp checked."""
        import xarray as xr

        path = self.path / TRACE_FILE
        if not path.is_file():
            raise CorruptRunError(f"Run {self.run_id} has no trace file ({TRACE_FILE}); train again.")
        try:
            with xr.open_datatree(path) as tree:
                loaded = tree.load()
        except Exception as exc:  # netCDF/HDF5 raise many types for a truncated file
            raise CorruptRunError(
                f"Run {self.run_id}: the trace {path.name} is corrupt or truncated ({type(exc).__name__}: {exc}). "
                "Delete the run and train again."
            ) from exc
        self.check_stamp(loaded.attrs)
        return loaded

    def check_stamp(self, attrs: dict[str, Any]) -> None:
        """A trace stamped for another model or run (copied or moved here) is refused; traces
        written before stamping (no attributes) load as they are."""
        expected = {"model_id": self.model_id, "run_id": self.run_id}
        try:
            meta = self.metadata
            expected.update(model_version=meta.get("model_version"), config_hash=meta.get("config_hash"))
        except CorruptRunError:
            pass  # the metadata's own problem is reported when it is read
        wrong = {k: attrs[k] for k, v in expected.items() if k in attrs and v is not None and str(attrs[k]) != str(v)}
        if wrong:
            found = ", ".join(f"{k} {v!r}" for k, v in wrong.items())
            raise CorruptRunError(
                f"Run {self.run_id} of model {self.model_id!r}: its trace {TRACE_FILE} was written for another run "
                f"({found}); it was copied or moved here. Put the right trace back, or delete the run and train again.")

    def posterior_arrays(self, var_names: list[str] | None = None, max_draws: int | None = None,
                         seed: int = 0) -> dict[str, np.ndarray]:
        """Posterior draws as plain numpy arrays, chains stacked: ``{name: (draws, *shape)}``.

        With ``max_draws`` an evenly spaced subset is kept (deterministic, so cached copies agree).
        """
        return draws_mod.group_draws(self.idata["posterior"], var_names, max_draws)

    def report(self, name: str) -> dict[str, Any] | None:
        path = self.path / REPORTS_DIR / f"{name}.json"
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or not path.is_file():
            return None
        return json.loads(path.read_text())

    def report_names(self) -> list[str]:
        folder = self.path / REPORTS_DIR
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

    @property
    def dag_dot(self) -> str | None:
        path = self.path / DAG_DOT_FILE
        return path.read_text() if path.is_file() else None

    @property
    def log_path(self) -> Path:
        return self.path / LOG_FILE


def list_runs(model_id: str) -> list[Run]:
    return [Run(model_id, rid) for rid in list_run_ids(model_id)]


def load_run(model_id: str, ref: str | None = refs.LATEST) -> Run:
    """The run ``ref`` names (``runs.refs``: a run id, "latest" (None), "latest-converged", an alias,
    "v<model version>"); NotTrainedError when the model has no run, RunNotFoundError listing the
    known references when ``ref`` names none."""
    return Run(model_id, refs.resolve(model_id, ref))
