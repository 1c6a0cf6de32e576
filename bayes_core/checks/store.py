"""Stored checks: ``<artifacts>/<model_id>/checks/<kind>/<check_id>/result.json``, beside the model's
runs. A check is written into a hidden ``.tmp-<check_id>`` folder and renamed into place, so it
exists whole or not at all (as a run does, ``runs.store``). Check ids have the run id's pattern and
are validated before any path is built from them; the kind is one of ``KINDS``. A check that
cannot be read is listed as unreadable, with why, and never hides its neighbours.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from bayes_core.errors import BayesCoreError, RunStoreError
from bayes_core.runs import store

RESULT_FILE = "result.json"
STAGING_PREFIX = store.STAGING_PREFIX
#: Kinds of checks a model can have; a new check adds its name here.
KINDS: tuple[str, ...] = ("sbc",)
READABLE, UNREADABLE = "readable", "unreadable"


class CheckNotFoundError(BayesCoreError):
    """No such check (or an id that is not one)."""


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise BayesCoreError(f"Unknown kind of check {kind!r} (known: {', '.join(KINDS)}).")
    return kind


def check_check_id(check_id: str) -> str:
    if not isinstance(check_id, str) or not store.RUN_ID_PATTERN.match(check_id):
        raise CheckNotFoundError(f"{check_id!r} is not a check id (expected e.g. 20260101-120000-000000-a1b2c3); "
                                 "`python -m bayes_core check list MODEL` lists them.")
    return check_id


def checks_dir(model_id: str, kind: str) -> Path:
    return store.model_dir(model_id) / "checks" / check_kind(kind)


def check_path(model_id: str, kind: str, check_id: str) -> Path:
    return checks_dir(model_id, kind) / check_check_id(check_id)


def new_check_id() -> str:
    return store.new_run_id()


def staging_path(model_id: str, kind: str, check_id: str) -> Path:
    return checks_dir(model_id, kind) / f"{STAGING_PREFIX}{check_check_id(check_id)}"


def write_check(model_id: str, kind: str, result: dict[str, Any], check_id: str | None = None) -> dict[str, Any]:
    """Save ``result`` as a new check (atomically); returns it with its ``check_id``."""
    check_id = check_check_id(check_id) if check_id else new_check_id()
    final, tmp = check_path(model_id, kind, check_id), staging_path(model_id, kind, check_id)
    saved = {**result, "check_id": check_id, "kind": kind, "model_id": model_id}
    try:
        tmp.mkdir(parents=True)
        store.write_json(tmp / RESULT_FILE, saved)
        os.replace(tmp, final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RunStoreError(f"The {kind} check of {model_id!r} could not be saved in {final.parent} "
                            f"({exc.strerror or exc}): free disk space or make the folder writable, then run it "
                            "again.") from exc
    return saved


def load_check(model_id: str, kind: str, check_id: str) -> dict[str, Any]:
    path = check_path(model_id, kind, check_id) / RESULT_FILE
    if not path.parent.exists():
        raise CheckNotFoundError(f"No {kind} check {check_id} of {model_id!r}; `python -m bayes_core check list "
                                 f"{model_id}` lists them.")
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BayesCoreError(f"The {kind} check {check_id} of {model_id!r} cannot be read ({exc}): delete it "
                             f"(`rm -r {path.parent}`) and run the check again.") from exc
    if not isinstance(result, dict) or not isinstance(result.get("parameters"), list):
        raise BayesCoreError(f"The {kind} check {check_id} of {model_id!r} is damaged (no parameters): delete it "
                             f"(`rm -r {path.parent}`) and run the check again.")
    return result


def list_checks(model_id: str, kind: str | None = None) -> list[dict[str, Any]]:
    """Every check of a model (of ``kind``, or all kinds), newest first: a summary row each, or an
    unreadable row with why."""
    rows = []
    for k in (check_kind(kind),) if kind else KINDS:
        folder = checks_dir(model_id, k)
        try:
            names = sorted((p.name for p in folder.iterdir() if store.RUN_ID_PATTERN.match(p.name)), reverse=True)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise RunStoreError(f"The checks of {model_id!r} in {folder} cannot be listed ({exc.strerror or exc}): "
                                "make the folder readable, or set BAYES_ARTIFACTS_DIR to another folder.") from exc
        for check_id in names:
            try:
                rows.append({"status": READABLE, **summary(load_check(model_id, k, check_id))})
            except BayesCoreError as exc:
                rows.append({"status": UNREADABLE, "check_id": check_id, "kind": k, "problem": str(exc)})
    return sorted(rows, key=lambda r: r["check_id"], reverse=True)


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """A check's row in a listing."""
    return {key: result.get(key) for key in ("check_id", "kind", "created_at", "n_sims", "n_ranked", "fits_failed",
                                             "verdict", "settings", "fit_priors")}


def discard_staging(model_id: str, kind: str, check_id: str | None) -> None:
    """Remove the staging folder of a check that will never be finished (a stopped job)."""
    if not check_id:
        return
    try:
        shutil.rmtree(staging_path(model_id, kind, check_id), ignore_errors=True)
    except BayesCoreError:
        return
