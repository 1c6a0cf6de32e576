"""Hostile-input battery (issue #11): every case must end in a clear message, no traceback.

Fixtures shared by the battery's modules. The AppTest fixtures are the app suite's own
(re-exported here); the tiny NB run is the session's ``nb_run`` (tests/conftest.py), trained once.
"""

from __future__ import annotations

import shutil
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
