"""An artifacts root that cannot be used (#11.5) — a file where the folder belongs, a model's runs
folder that is a file, a folder this user may not read — on every page: a message naming the path
and what to do where runs or jobs are needed, the models still listed, no traceback."""

from __future__ import annotations

import os
import re

import pytest

from bayes_core import artifacts
from bayes_core.errors import RunStoreError
from tests.hostile.conftest import GOOD_MODELS, NB
from tests.hostile.test_deep_links import PAGES, open_page, shown_texts


def file_as_root(tmp_path, monkeypatch) -> str:
    root = tmp_path / "artifacts"
    root.write_text("not a folder")
    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(root))
    return f"{root} is a file where a folder belongs"


def file_as_runs_folder(tmp_path, monkeypatch) -> str:
    root = tmp_path / "artifacts"
    (root / NB).mkdir(parents=True)
    (root / NB / "runs").write_text("not a folder")
    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(root))
    return f"{root / NB / 'runs'} is a file where a folder belongs"


def unreadable_root(tmp_path, monkeypatch) -> str:
    """As for a folder of another user (simulated: the tests may run as root, who may read anything)."""
    root = tmp_path / "artifacts"
    (root / NB / "runs").mkdir(parents=True)
    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(root))
    real_scandir = os.scandir

    def scandir(path="."):
        if str(path).startswith(str(root)):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(artifacts.runs_dir.__globals__["os"], "scandir", scandir)
    return "(Permission denied): make the folder readable by this user, or set BAYES_ARTIFACTS_DIR"


ROOTS = [file_as_root, file_as_runs_folder, unreadable_root]


def unescaped(at) -> list[str]:
    return [re.sub(r"\\(.)", r"\1", t) for t in shown_texts(at)]


@pytest.mark.parametrize("make_root", ROOTS, ids=lambda f: f.__name__)
def test_listing_runs_names_the_path_and_what_to_do(make_root, tmp_path, monkeypatch):
    says = make_root(tmp_path, monkeypatch)
    with pytest.raises(RunStoreError) as caught:
        artifacts.run_summaries(NB)
    assert says in str(caught.value)


RUN_PAGES = ["pages/catalogue.py", "pages/diagnostics.py"]  # (every page shares the listing of file_as_root)
CASES = [(page, file_as_root) for page in PAGES] + [(page, root) for root in ROOTS[1:] for page in RUN_PAGES]


@pytest.mark.parametrize("page, make_root", CASES, ids=lambda v: getattr(v, "__name__", v))
def test_every_page_keeps_serving_and_says_what_is_wrong(app, page, make_root, tmp_path, monkeypatch):
    says = make_root(tmp_path, monkeypatch)
    at = open_page(app, page, model=NB)
    assert not at.exception, [e.value for e in at.exception]
    texts = unescaped(at)
    if page in ("pages/diagnostics.py", "pages/predictions.py", "pages/catalogue.py"):
        assert any(says in t for t in texts), texts
    if page == "pages/catalogue.py":
        assert sum("#### " in t for t in texts) >= len(GOOD_MODELS) - 1, "every model keeps its card"


@pytest.mark.parametrize("make_root", ROOTS[:2], ids=lambda f: f.__name__)
def test_cli_list_names_the_problem_for_each_model(make_root, tmp_path, monkeypatch, capsys):
    import json

    from bayes_core.cli import main

    says = make_root(tmp_path, monkeypatch)
    code = main(["list", "--json"])
    out, err = capsys.readouterr()
    if make_root is file_as_root:  # the CLI refuses the whole root up front
        assert code == 2 and "is a file, not a folder" in json.loads(out)["error"]
        return
    assert code == 0 and "Traceback" not in err
    nb = next(m for m in json.loads(out)["models"] if m["model_id"] == NB)
    assert nb["last_status"] == "unreadable" and says in nb["last_problem"]
