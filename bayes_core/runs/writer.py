"""Writing and deleting runs: the model builds results (a ``FitResult``, its DAG, its reports); this
module writes them.

A run is written into a hidden staging directory (``.tmp-<run_id>``) beside its final place and
renamed into place when complete, so it exists whole or not at all; a deleted run is first renamed
aside (``.del-<run_id>-…``), so it never shows half-deleted. The trace is stamped with what it is
(``TRACE_ATTRS``) and its hash recorded, so ``store.Run`` can check both when it is loaded.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.metadata
import logging
import os
import platform
import secrets
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from bayes_core.errors import RunNotFoundError, SamplerError
from bayes_core.runs.faults import runs_folder_error, staging_error, written_there
from bayes_core.runs.store import (
    CONFIG_FILE, DAG_DOT_FILE, DAG_SVG_FILE, DATA_FILE, DELETING_PREFIX, DIAGNOSTICS_FILE, LOCK_FILE, LOG_FILE,
    METADATA_FILE, REPORTS_DIR, STAGING_PREFIX, SUMMARY_FILE, TRACE_ATTRS, TRACE_FILE, Run, check_run_id, file_sha256,
    new_run_id, run_path, write_json,
)

if TYPE_CHECKING:
    from bayes_core.base import BaseBayesianModel, FitResult

log = logging.getLogger("bayes_core.runs")

#: Loggers whose records go into a run's ``train.log`` while it is being trained.
LOGGED = ("bayes_core", "pymc", "nutpie")

_VERSIONED_PACKAGES = ("pymc", "pytensor", "nutpie", "numpyro", "jax", "arviz", "arviz-stats",
                       "numpy", "pandas", "xarray", "scipy")


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
    tmp = final.parent / f"{STAGING_PREFIX}{run_id}"
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
    except OSError as exc:
        error = runs_folder_error(model_id, final.parent, exc) if exc.errno == errno.ENOTDIR \
            else staging_error(model_id, tmp, exc, gone=False)
        raise error from exc
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
    except BaseException as exc:
        gone = not tmp.is_dir()
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, Exception) and (gone or written_there(exc, tmp)):
            raise staging_error(model_id, tmp, exc, gone) from exc
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
    trace_sha256 = file_sha256(folder / TRACE_FILE)  # checked on load: a trace changed since is refused
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
        "trace_sha256": trace_sha256,
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
    if not (path.exists() or path.is_symlink()):
        raise RunNotFoundError(f"No run {run_id} for model {model_id!r}; nothing to delete.")
    aside = path.parent / f"{DELETING_PREFIX}{run_id}-{secrets.token_hex(3)}"
    os.replace(path, aside)
    if aside.is_dir() and not aside.is_symlink():
        shutil.rmtree(aside, ignore_errors=True)
    else:  # a damaged entry: a file or a link where the run folder belongs
        aside.unlink(missing_ok=True)
    if aside.exists():
        log.warning("run %s of %s was removed from the list, but %s could not be deleted entirely; "
                    "delete it by hand", run_id, model_id, aside)
