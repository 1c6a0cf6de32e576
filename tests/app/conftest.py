"""AppTest fixtures: the app driven from its entry point, and a fixture tree of model configs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
NB = "hierarchical_negbinom"
DEPRECATED = "old_negbinom"
BROKEN = "broken_model"


@pytest.fixture
def app(nb_run):
    """A fresh AppTest of the entry point (the NB run is trained first).

    AppTest re-detects Streamlit's legacy ``pages/`` folder mode before every run, as on a cold
    server: a page opened with ``switch_page`` then runs bare, without the router. Pages draw their
    own frame (``ui.nav.frame``), so they behave the same either way and need no patching here.
    """
    return new_app()


def new_app():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=180)


@pytest.fixture
def config_tree(tmp_path, monkeypatch):
    """Copies of the real configs plus a deprecated model (never trained) and a broken config."""
    from bayes_core.registry import DEFAULT_CONFIG_DIR, get_registry

    root = tmp_path / "model_configs"
    shutil.copytree(DEFAULT_CONFIG_DIR, root)
    nb = yaml.safe_load((root / NB / "config.yaml").read_text())
    (root / DEPRECATED).mkdir()
    (root / DEPRECATED / "config.yaml").write_text(
        yaml.safe_dump({**nb, "name": "Old event-rate model", "status": "deprecated"}))
    (root / BROKEN).mkdir()
    (root / BROKEN / "config.yaml").write_text(
        yaml.safe_dump({"name": "Broken", "model_class": nb["model_class"], "verison": "1"}))
    monkeypatch.setenv("BAYES_MODEL_CONFIGS", str(root))
    get_registry()
    yield root
    monkeypatch.undo()
    get_registry(refresh=True)


@pytest.fixture
def captured_downloads(monkeypatch):
    """Bytes handed to download buttons, by file name (AppTest keeps no media after a run)."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    files: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def capture(self, path_or_data, mimetype, kind, filename=None):
        if filename and isinstance(path_or_data, bytes):
            files[filename] = path_or_data
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", capture)
    return files
