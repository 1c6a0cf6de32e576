"""Run references: what a caller may say instead of a run id.

Today a reference is a run id or ``"latest"`` (None means ``"latest"`` too). Every lookup goes
through ``resolve``, so new kinds of reference (aliases, latest-converged, a model version) are
added here and nowhere else.
"""

from __future__ import annotations

from bayes_core.errors import NotTrainedError

LATEST = "latest"


def resolve(model_id: str, ref: str | None = LATEST) -> str:
    """The run id ``ref`` names for ``model_id``; ``NotTrainedError`` when "latest" has no run."""
    from bayes_core.runs import store

    if ref is None or ref == LATEST:
        run_id = store.latest_run_id(model_id)
        if run_id is None:
            raise NotTrainedError(
                f"Model {model_id!r} has no trained run yet. Train it from the training page or with "
                f"`python -m bayes_core train {model_id}`."
            )
        return run_id
    return store.check_run_id(ref)
