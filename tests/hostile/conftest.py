"""Hostile-input battery (issue #11): every case must end in a clear message, no traceback.

Fixtures shared by the battery's modules. The AppTest fixtures are the app suite's own
(re-exported here); the tiny NB run is the session's ``nb_run`` (tests/conftest.py), trained once.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.app.conftest import app  # noqa: F401  (re-exported fixture)

REAL_CONFIGS = Path(__file__).resolve().parents[2] / "model_configs"
GOOD_MODELS = sorted(p.parent.name for p in REAL_CONFIGS.glob("*/config.yaml"))
NB = "hierarchical_negbinom"
NB_CONFIG = (REAL_CONFIGS / NB / "config.yaml").read_text()
BROKEN = "broken_model"


@pytest.fixture
def config_tree(tmp_path, monkeypatch):
    """A copy of the shipped configs with room for one broken config (``<root>/broken_model/``);
    ``BAYES_MODEL_CONFIGS`` points at it, so the CLI and the process registry read it too."""
    from bayes_core.registry import get_registry

    root = tmp_path / "model_configs"
    shutil.copytree(REAL_CONFIGS, root)
    (root / BROKEN).mkdir()
    monkeypatch.setenv("BAYES_MODEL_CONFIGS", str(root))
    yield root
    monkeypatch.undo()
    get_registry(refresh=True)


NEIGHBOUR = "20000101-000000-000000-0a0a0a"  # an older, readable run beside the one a case damages


@dataclass(frozen=True)
class RunRoot:
    """A private artifacts root: ``damaged`` (the newest run, for the case to damage) and ``neighbour``."""

    root: Path
    damaged_id: str
    neighbour_id: str = NEIGHBOUR

    @property
    def damaged(self) -> Path:
        return self.root / NB / "runs" / self.damaged_id

    @property
    def neighbour(self) -> Path:
        return self.root / NB / "runs" / self.neighbour_id


@pytest.fixture(scope="session")
def run_template(nb_run, tmp_path_factory) -> Path:
    """The session's tiny NB run and a readable older neighbour: the same run restamped with the
    neighbour's id (metadata and trace attributes), so that both are whole, distinct runs."""
    import xarray as xr

    from bayes_core.runs.store import file_sha256

    root = tmp_path_factory.mktemp("run_template")
    runs = root / NB / "runs"
    shutil.copytree(nb_run.path, runs / nb_run.run_id)
    neighbour = runs / NEIGHBOUR
    shutil.copytree(nb_run.path, neighbour)
    created = "2000-01-01T00:00:00+00:00"
    with xr.open_datatree(neighbour / "trace.nc") as tree:
        loaded = tree.load()
    loaded.attrs.update(run_id=NEIGHBOUR, created_at=created)
    (neighbour / "trace.nc").unlink()
    loaded.to_netcdf(neighbour / "trace.nc")
    meta = json.loads((neighbour / "metadata.json").read_text())
    (neighbour / "metadata.json").write_text(json.dumps({**meta, "run_id": NEIGHBOUR, "created_at": created,
                                                         "trace_sha256": file_sha256(neighbour / "trace.nc")}))
    return root


def clear_run_caches() -> None:
    """Streamlit's caches are keyed by model and run id, and every case reuses the same ids."""
    import streamlit as st

    from bayes_core import predictor

    st.cache_data.clear()
    st.cache_resource.clear()
    predictor.clear_cache()


@pytest.fixture
def run_root(run_template, nb_run, tmp_path, monkeypatch) -> RunRoot:
    """A copy of ``run_template`` per case (``BAYES_ARTIFACTS_DIR`` points at it), caches cleared."""
    root = tmp_path / "art"
    shutil.copytree(run_template, root, symlinks=True)
    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(root))
    clear_run_caches()
    yield RunRoot(root, nb_run.run_id)
    clear_run_caches()
