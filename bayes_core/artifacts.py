"""The public face of saved runs: ``<artifacts>/<model_id>/runs/<run_id>/``.

A thin facade kept for callers (pages, CLI, jobs, notebooks, tests): the work is done in
``bayes_core.runs.store`` (naming and reading runs lazily), ``bayes_core.runs.writer`` (writing
atomically, deleting whole),
``bayes_core.runs.listing`` (every listing of runs, each readable or unreadable with why) and
``bayes_core.runs.refs`` (what a run id, "latest", "latest-converged", an alias or "v1.0.0" names).
"""

from __future__ import annotations

from bayes_core.runs.refs import LATEST, LATEST_CONVERGED, is_converged, resolve as resolve_ref  # noqa: F401
from bayes_core.runs.store import (  # noqa: F401
    CONFIG_FILE, DAG_DOT_FILE, DAG_SVG_FILE, DATA_FILE, DIAGNOSTICS_FILE, LOCK_FILE, LOG_FILE, METADATA_FILE,
    REPORTS_DIR, RUN_ID_PATTERN, STAGING_PREFIX, SUMMARY_FILE, TRACE_ATTRS, TRACE_FILE, Run, artifacts_root,
    check_model_id, check_run_id, delete_command, delete_hint, ensure_runs_dir, latest_run_id, list_run_ids,
    list_runs, load_run, model_dir, new_run_id, run_path, runs_dir, write_json,
)
from bayes_core.runs.writer import StagedRun, delete_run, package_versions, staged_run, write_run  # noqa: F401
from bayes_core.runs.listing import (  # noqa: F401
    READABLE, UNREADABLE, newest_readable, run_created_at, run_summaries, run_summary,
)
