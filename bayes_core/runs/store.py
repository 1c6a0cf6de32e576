"""Run directories: ``<artifacts>/<model_id>/runs/<run_id>/``, named and read lazily.

Ids are validated by pattern before any path is built from them. A ``Run`` reads its files on first
use and checks them (``runs.integrity``); the trace's attributes say what it is (model id and
version, config hash, run id, creation time) and are checked when it is loaded. Writing and deleting
runs is ``runs.writer``'s.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import secrets
import shlex
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_core import draws as draws_mod
from bayes_core.config import MODEL_ID_PATTERN
from bayes_core.errors import BayesCoreError, CorruptRunError, RunNotFoundError
from bayes_core.runs import integrity, refs
from bayes_core.runs.faults import runs_folder_error
from bayes_core.runs.integrity import RunFileError

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


# -- files -------------------------------------------------------------------------------------------
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


def file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


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
