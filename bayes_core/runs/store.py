"""Run directories: ``<artifacts>/<model_id>/runs/<run_id>/``, written atomically, read lazily.

The model builds results (a ``FitResult``, its DAG, its reports); this module writes them. A run is
written into a hidden staging directory (``.tmp-<run_id>``) beside its final place and renamed into
place when complete, so it exists whole or not at all; a deleted run is first renamed aside
(``.del-<run_id>-…``), so it never shows half-deleted. Ids are validated by pattern before any path
is built from them. The trace's attributes say what it is (model id and version, config hash, run
id, creation time) and are checked when it is loaded.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.metadata
import io
import json
import logging
import os
import platform
import re
import secrets
import shlex
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
from bayes_core.runs import integrity, refs
from bayes_core.runs.faults import runs_folder_error, staging_error, written_there
from bayes_core.runs.integrity import RunFileError

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
#: Files every run has (a run is written whole): one missing means the run is damaged.
REQUIRED_FILES = (METADATA_FILE, DIAGNOSTICS_FILE, SUMMARY_FILE, TRACE_FILE, DATA_FILE)

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
    """Run ids of a model, oldest first; staging, deleting and foreign names are ignored. A damaged
    entry with a run id's name (a file, a broken link) is listed: opening it says what is wrong."""
    root = runs_dir(model_id)
    try:
        with os.scandir(root) as entries:
            names = [entry.name for entry in entries]
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise runs_folder_error(model_id, root, exc) from exc
    return sorted(name for name in names if RUN_ID_PATTERN.match(name))


def latest_run_id(model_id: str) -> str | None:
    ids = list_run_ids(model_id)
    return ids[-1] if ids else None


def delete_command(model_id: str, run_id: str) -> str:
    """The command that deletes a (damaged) run: the one place that names it. The CLI's delete, not
    ``rm -r``: it removes the run whole (renamed aside first) and drops its aliases, tags and note."""
    return f"python -m bayes_core runs delete {shlex.quote(model_id)} {shlex.quote(run_id)}"


def delete_hint(model_id: str, run_id: str) -> str:
    """What to do with a damaged run."""
    return f"delete it (`{delete_command(model_id, run_id)}`) and train again"


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


def file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


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


# -- reading -------------------------------------------------------------------------------------------
class Run:
    """A saved run, loaded lazily. Everything it exposes is read from the run directory and checked
    (``runs.integrity``): a damaged file raises ``CorruptRunError`` naming the file, the problem and
    what to do, never a raw parsing error."""

    def __init__(self, model_id: str, run_id: str):
        self.model_id = check_model_id(model_id)
        self.run_id = check_run_id(run_id)
        self.path = run_path(model_id, run_id)
        try:
            is_folder = self.path.is_dir()
            present = is_folder or self.path.exists() or self.path.is_symlink()
        except OSError as exc:
            raise runs_folder_error(model_id, self.path.parent, exc) from exc
        if not present:
            raise RunNotFoundError(
                f"No run {run_id} for model {model_id!r} under {runs_dir(model_id)}. "
                "List runs with `python -m bayes_core list` or train the model first."
            )
        if not is_folder:
            what = "is a broken link" if not self.path.exists() else "is a file, not a folder"
            raise self._corrupt(f"runs/{run_id}", what)

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

    # -- checked reading ---------------------------------------------------------------------------
    def _corrupt(self, name: str, problem: str) -> CorruptRunError:
        problem = f"{name} {problem}"
        return CorruptRunError(f"Run {self.run_id} of model {self.model_id!r} cannot be used: {problem}. "
                               f"To recover, {delete_hint(self.model_id, self.run_id)}.", problem=problem)

    def _file(self, name: str, limit: int | None = None) -> Path:
        """The path of one of the run's files, once it is known to be a regular file inside the run."""
        try:
            integrity.check_file(self.path / name, self.path, limit)
        except FileNotFoundError:
            raise self._corrupt(name, "is missing") from None
        except RunFileError as exc:
            raise self._corrupt(name, str(exc)) from None
        return self.path / name

    def _bytes(self, name: str, limit: int | None) -> bytes:
        try:
            return integrity.read_bytes(self._file(name, limit), self.path, limit)
        except RunFileError as exc:  # unreadable between the check and the read
            raise self._corrupt(name, str(exc)) from None

    def _read_json(self, name: str) -> Any:
        try:
            return integrity.parse_json(self._bytes(name, integrity.MAX_JSON_BYTES))
        except RunFileError as exc:
            raise self._corrupt(name, str(exc)) from None

    def _checked(self, name: str, check, *args: Any) -> Any:
        try:
            return check(self._read_json(name), *args)
        except RunFileError as exc:
            raise self._corrupt(name, str(exc)) from None

    def check_files(self) -> None:
        """The cheap checks of a listing: every file a run has is there and plausible, the JSON files
        have their shape, the trace is as long as its header says and the summary has its columns."""
        for name in REQUIRED_FILES:
            self._file(name)
        self.metadata  # noqa: B018 - shape-checked on first read
        self.diagnostics  # noqa: B018
        with open(self.path / SUMMARY_FILE, "rb") as fh:
            summary = integrity.summary_header_problem(fh.read(4096))
        if summary:
            raise self._corrupt(SUMMARY_FILE, summary)
        trace = integrity.trace_problem(self.path / TRACE_FILE)
        if trace:
            raise self._corrupt(TRACE_FILE, trace)

    def check(self) -> "Run":
        """Every check, each file read whole (the trace included): what a page or command that opens
        the run calls, so that it fails here, with why, rather than half-way through."""
        self.check_files()
        self.metadata, self.diagnostics, self.summary, self.idata  # noqa: B018 - each checked on first read
        return self

    @cached_property
    def metadata(self) -> dict[str, Any]:
        return self._checked(METADATA_FILE, integrity.check_metadata, self.model_id, self.run_id)

    @cached_property
    def diagnostics(self) -> dict[str, Any]:
        return self._checked(DIAGNOSTICS_FILE, integrity.check_diagnostics)

    @property
    def verdict(self) -> str:
        return self.diagnostics["verdict"]

    @cached_property
    def summary(self) -> pd.DataFrame:
        raw = self._bytes(SUMMARY_FILE, integrity.MAX_SUMMARY_BYTES)
        try:
            return integrity.check_summary(pd.read_csv(io.BytesIO(raw), index_col=0))
        except RunFileError as exc:
            raise self._corrupt(SUMMARY_FILE, str(exc)) from None
        except ValueError as exc:  # pandas' parser errors are ValueErrors
            raise self._corrupt(SUMMARY_FILE, f"cannot be read ({integrity.short(exc)})") from None

    @cached_property
    def data(self) -> pd.DataFrame:
        raw = self._bytes(DATA_FILE, None)
        try:
            return pd.read_csv(io.BytesIO(raw), keep_default_na=False, na_values=[""])
        except ValueError as exc:
            raise self._corrupt(DATA_FILE, f"(the training data snapshot) cannot be read: {integrity.short(exc)}") \
                from None

    @cached_property
    def idata(self):
        """The trace as an ``xarray.DataTree`` (loaded into memory, file closed), its stamp checked."""
        import xarray as xr

        path = self._file(TRACE_FILE)
        try:
            with xr.open_datatree(path) as tree:
                loaded = tree.load()
        except Exception as exc:  # netCDF/HDF5 raise many types for a truncated file
            raise self._corrupt(TRACE_FILE, f"is corrupt or truncated ({type(exc).__name__}: "
                                            f"{integrity.short(exc)})") from exc
        self.check_stamp(loaded.attrs)  # the most telling problems first: another run's trace, no draws
        posterior = loaded.children.get("posterior")
        if posterior is None or not posterior.data_vars or not {"chain", "draw"} <= set(posterior.dims):
            raise self._corrupt(TRACE_FILE, "has no posterior draws (no posterior group with chains and draws)")
        self._check_trace_checksum(path)
        return loaded

    def _check_trace_checksum(self, path: Path) -> None:
        """The trace's bytes against the checksum recorded when the run was written (runs written before
        checksums have none): damage inside the file that keeps it loadable would give wrong draws."""
        try:
            recorded = self.metadata.get("trace_sha256")
        except CorruptRunError:
            return  # the metadata's own problem is reported when it is read
        if recorded and file_sha256(path) != recorded:
            raise self._corrupt(TRACE_FILE, "is corrupt or truncated: its bytes do not match the checksum recorded "
                                            "when the run was written (it was changed or damaged since)")

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
                f"({found}); it was copied or moved here. Put the right trace back, or "
                f"{delete_hint(self.model_id, self.run_id)}.",
                problem=f"{TRACE_FILE} was written for another run ({found})")

    def posterior_arrays(self, var_names: list[str] | None = None, max_draws: int | None = None,
                         seed: int = 0) -> dict[str, np.ndarray]:
        """Posterior draws as plain numpy arrays, chains stacked: ``{name: (draws, *shape)}``.

        With ``max_draws`` an evenly spaced subset is kept (deterministic, so cached copies agree).
        """
        return draws_mod.group_draws(self.idata["posterior"], var_names, max_draws)

    def report(self, name: str) -> dict[str, Any] | None:
        """A report the model wrote with the run (``reports/<name>.json``); None when it has none."""
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or not (self.path / REPORTS_DIR / f"{name}.json").exists():
            return None
        file = f"{REPORTS_DIR}/{name}.json"
        payload = self._read_json(file)
        if not isinstance(payload, dict):
            raise self._corrupt(file, f"holds {integrity.shown(payload)} instead of an object of fields")
        return payload

    def report_names(self) -> list[str]:
        folder = self.path / REPORTS_DIR
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

    @property
    def dag_dot(self) -> str | None:
        """The model graph's DOT source (None when the run has none), checked: only the attributes a
        model graph has (no links, images or HTML that the browser would render)."""
        if not (self.path / DAG_DOT_FILE).exists():
            return None
        try:
            return integrity.check_dot(integrity.decode(self._bytes(DAG_DOT_FILE, integrity.MAX_DOT_BYTES)))
        except RunFileError as exc:
            raise self._corrupt(DAG_DOT_FILE, str(exc)) from None

    @property
    def log_path(self) -> Path:
        return self.path / LOG_FILE


def list_runs(model_id: str) -> list[Run]:
    """The runs of a model as lazy ``Run`` objects, oldest first; an entry that is not a folder (a file or
    a broken link with a run id's name) cannot be one and is left out: ``listing.run_summaries`` lists
    it as unreadable."""
    return [Run(model_id, rid) for rid in list_run_ids(model_id) if (runs_dir(model_id) / rid).is_dir()]


def load_run(model_id: str, ref: str | None = refs.LATEST) -> Run:
    """The run ``ref`` names (``runs.refs``: a run id, "latest" (None), "latest-converged", an alias,
    "v<model version>"); NotTrainedError when the model has no run, RunNotFoundError listing the
    known references when ``ref`` names none, CorruptRunError (why, and what to do) when it is one
    that listings show as unreadable."""
    run = Run(model_id, refs.resolve(model_id, ref))
    run.check_files()
    return run
