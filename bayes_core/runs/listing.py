"""Runs of a model as every listing shows them: newest first, each readable or unreadable (and why).

The CLI's ``list``, the catalogue's cards, the run pickers, the Training page's "Data of an earlier run"
and the jobs table all list runs through ``run_summaries`` / ``run_summary``, so a damaged run shows as
unreadable everywhere, with the same words, and its neighbours as usual. The checks are the cheap ones
(``Run.check_files``: every file present and plausible, the JSON files in shape, the trace as long as its
header says); opening a run (``Run.check``) reads each file whole.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bayes_core.errors import CorruptRunError
from bayes_core.runs.store import REQUIRED_FILES, Run, list_run_ids, run_path

READABLE, UNREADABLE = "readable", "unreadable"


def run_summary(model_id: str, run_id: str) -> dict[str, Any]:
    """One row of a run listing: ``status`` readable | unreadable and the ``problem`` when unreadable,
    with what the listing shows (created_at, verdict, model_version, sampler, device). Cheap: reads
    the two JSON files and file headers, never the trace itself; and a run whose files have not changed
    since it was last summarised costs a few ``stat`` calls (pickers list every run on every rerun)."""
    path = run_path(model_id, run_id)
    signature = _signature(path)
    cached = _SUMMARIES.get(path)
    if signature is not None and cached is not None and cached[0] == signature:
        return dict(cached[1])
    row: dict[str, Any] = {"run_id": run_id, "status": UNREADABLE, "problem": None, "created_at": None,
                           "verdict": None, "model_version": None, "sampler": None, "device": None}
    try:
        run = Run(model_id, run_id)
        run.check_files()
        meta = run.metadata
        row.update(created_at=meta["created_at"], model_version=meta.get("model_version"),
                   sampler=meta.get("sampler"), device=meta.get("device"), verdict=run.verdict, status=READABLE)
    except CorruptRunError as exc:
        row["problem"] = exc.problem
    if signature is not None:
        if len(_SUMMARIES) > _MAX_CACHED:
            _SUMMARIES.clear()
        _SUMMARIES[path] = (signature, row)
    return dict(row)


_SUMMARIES: dict[Path, tuple[tuple, dict[str, Any]]] = {}
_MAX_CACHED = 20_000


def _signature(path: Path) -> tuple | None:
    """What changes when any file a summary reads changes (inode, size, time); None when it cannot be had."""
    parts = []
    for item in (path, *(path / name for name in REQUIRED_FILES)):
        try:
            info = os.stat(item)
        except OSError:
            return None  # a missing or unreadable file: summarised afresh each time (and found damaged)
        parts.append((info.st_ino, info.st_size, info.st_mtime_ns))
    return tuple(parts)


def run_summaries(model_id: str) -> list[dict[str, Any]]:
    """Every run of a model, newest first, each with its status (see ``run_summary``): the one listing
    used by the CLI and every page, so a damaged run shows as unreadable and its neighbours as usual."""
    return [run_summary(model_id, run_id) for run_id in reversed(list_run_ids(model_id))]


def newest_readable(summaries: list[dict[str, Any]]) -> str | None:
    """The newest readable run of a listing (newest first); the newest run when none is readable."""
    readable = [row["run_id"] for row in summaries if row["status"] == READABLE]
    return (readable or [row["run_id"] for row in summaries] or [None])[0]


def run_created_at(model_id: str, run_id: str) -> str | None:
    """When the run was created (from its metadata); None when the run is unreadable."""
    return run_summary(model_id, run_id)["created_at"]
