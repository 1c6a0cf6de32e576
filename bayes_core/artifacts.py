"""Run directories: ``<artifacts>/<model_id>/runs/<run_id>/``, written atomically, loaded safely.

A run is written into a hidden temporary directory beside its final place and renamed into place
when complete, so a run either exists whole or not at all. Ids are validated by pattern before any
path is built from them.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from bayes_core.config import MODEL_ID_PATTERN
from bayes_core.errors import BayesCoreError, CorruptRunError, RunNotFoundError

RUN_ID_PATTERN = re.compile(r"^\d{8}-\d{6}-\d{6}-[0-9a-f]{6}$")

TRACE_FILE = "trace.nc"
SUMMARY_FILE = "summary.csv"
DIAGNOSTICS_FILE = "diagnostics.json"
METADATA_FILE = "metadata.json"
DATA_FILE = "data.csv"
DAG_DOT_FILE = "model.dot"
DAG_SVG_FILE = "model.svg"
LOG_FILE = "train.log"
REPORTS_DIR = "reports"


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


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%d-%H%M%S-%f}-{secrets.token_hex(3)}"


def list_run_ids(model_id: str) -> list[str]:
    """Run ids of a model, oldest first; temporary and foreign directories are ignored."""
    root = runs_dir(model_id)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and RUN_ID_PATTERN.match(p.name))


def latest_run_id(model_id: str) -> str | None:
    ids = list_run_ids(model_id)
    return ids[-1] if ids else None


def run_path(model_id: str, run_id: str) -> Path:
    return runs_dir(model_id) / check_run_id(run_id)


def run_created_at(model_id: str, run_id: str) -> str | None:
    try:
        return json.loads((run_path(model_id, run_id) / METADATA_FILE).read_text())["created_at"]
    except (OSError, ValueError, KeyError):
        return None


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


@contextmanager
def staged_run_dir(model_id: str, run_id: str | None = None) -> Iterator[tuple[str, Path]]:
    """Yield ``(run_id, tmp_dir)``; on success the directory is renamed into place, on error removed."""
    run_id = check_run_id(run_id) if run_id else new_run_id()
    final = run_path(model_id, run_id)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{run_id}"
    tmp.mkdir()
    try:
        yield run_id, tmp
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def stacked_draws(values: Any, max_draws: int | None = None) -> np.ndarray:
    """(chain, draw, ...) values → (draws, ...) with the chains stacked; with ``max_draws`` an
    evenly spaced subset (deterministic, so every cached copy of a run agrees)."""
    arr = np.asarray(values)
    arr = arr.reshape((-1, *arr.shape[2:]))
    if max_draws is not None and arr.shape[0] > max_draws:
        arr = arr[np.linspace(0, arr.shape[0] - 1, max_draws).round().astype(int)]
    return arr


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
        """The trace as an ``xarray.DataTree`` (loaded into memory, file closed)."""
        import xarray as xr

        path = self.path / TRACE_FILE
        if not path.is_file():
            raise CorruptRunError(f"Run {self.run_id} has no trace file ({TRACE_FILE}); train again.")
        try:
            with xr.open_datatree(path) as tree:
                return tree.load()
        except Exception as exc:  # netCDF/HDF5 raise many types for a truncated file
            raise CorruptRunError(
                f"Run {self.run_id}: the trace {path.name} is corrupt or truncated ({type(exc).__name__}: {exc}). "
                "Delete the run and train again."
            ) from exc

    def posterior_arrays(self, var_names: list[str] | None = None, max_draws: int | None = None,
                         seed: int = 0) -> dict[str, np.ndarray]:
        """Posterior draws as plain numpy arrays, chains stacked: ``{name: (draws, *shape)}``.

        With ``max_draws`` an evenly spaced subset is kept (deterministic, so cached copies agree).
        """
        posterior = self.idata["posterior"].to_dataset()
        return {name: stacked_draws(posterior[name].values, max_draws) for name in var_names or posterior.data_vars}

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


def load_run(model_id: str, run_id: str | None = None) -> Run:
    """The named run, or the latest one; raises NotTrainedError when the model has none."""
    from bayes_core.errors import NotTrainedError

    if run_id is None:
        run_id = latest_run_id(model_id)
        if run_id is None:
            raise NotTrainedError(
                f"Model {model_id!r} has no trained run yet. Train it from the training page or with "
                f"`python -m bayes_core train {model_id}`."
            )
    return Run(model_id, run_id)


def delete_run(model_id: str, run_id: str) -> None:
    shutil.rmtree(run_path(model_id, run_id))
