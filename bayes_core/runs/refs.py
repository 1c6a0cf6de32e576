"""Run references: what a caller may say instead of a run id.

- a run id (``20260101-120000-000000-a1b2c3``): that run;
- ``latest`` (or None): the newest run;
- ``latest-converged``: the newest *converged* run (``is_converged``);
- ``v<model version>`` (``v1.0.0``): the newest run trained from that config version;
- an alias set by the analyst (``production``, ``candidate``; ``runs.labels``).

Every lookup goes through ``resolve`` (Python, CLI, pages, jobs using a run's data), so a new kind
of reference is added here and nowhere else. "Newest" is by run id, which starts with the UTC
time the run was created.

Converged, everywhere a run is picked by it: the run's diagnostics verdict is ``good`` or
``warning`` (not ``problem`` — the same line ``diagnostics.json``'s ``converged`` and the CLI's
exit code draw) and its draws are the model's own posterior, sampled by MCMC or in closed form —
not a fallback estimate nor an approximation.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bayes_core.errors import BayesCoreError, NotTrainedError, RunNotFoundError

if TYPE_CHECKING:
    from bayes_core.runs.store import Run

LATEST = "latest"
LATEST_CONVERGED = "latest-converged"
KEYWORDS = (LATEST, LATEST_CONVERGED)
VERSION_PATTERN = re.compile(r"^v(\d[0-9A-Za-z.+-]{0,63})$")
CONVERGED_VERDICTS = ("good", "warning")
CONVERGED_PATHS = ("mcmc", "closed_form")


def is_converged(run: "Run") -> bool:
    """Verdict good or warning, and the draws from MCMC or a closed form (see the module docstring)."""
    try:
        return run.verdict in CONVERGED_VERDICTS and run.metadata.get("fit_path", "mcmc") in CONVERGED_PATHS
    except BayesCoreError:  # an unreadable run is not a converged one
        return False


def _newest(model_id: str, keep) -> str | None:
    from bayes_core.runs import store

    for run_id in reversed(store.list_run_ids(model_id)):
        try:
            run = store.Run(model_id, run_id)
            if keep(run):
                return run_id
        except BayesCoreError:
            continue
    return None


def _no_runs(model_id: str) -> NotTrainedError:
    return NotTrainedError(f"Model {model_id!r} has no trained run yet. Train it from the training page or with "
                           f"`python -m bayes_core train {model_id}`.")


def resolve(model_id: str, ref: str | None = LATEST) -> str:
    """The run id ``ref`` names for ``model_id``. ``NotTrainedError`` when the model has no run;
    ``RunNotFoundError`` (listing the references that exist) when ``ref`` names none."""
    from bayes_core.runs import labels, store

    store.check_model_id(model_id)
    ref = LATEST if ref is None else ref
    if not isinstance(ref, str) or not ref.strip():
        raise RunNotFoundError(f"{ref!r} is not a run reference. {known_refs(model_id)}")
    ref = ref.strip()
    if ref in KEYWORDS and not store.list_run_ids(model_id):
        raise _no_runs(model_id)
    if ref == LATEST:
        return store.latest_run_id(model_id)
    if ref == LATEST_CONVERGED:
        found = _newest(model_id, is_converged)
        if found is None:
            raise RunNotFoundError(f"Model {model_id!r} has no converged run (verdict good or warning, sampled by "
                                   f"MCMC). {known_refs(model_id)}")
        return found
    if store.RUN_ID_PATTERN.match(ref):
        try:  # says "No run <id>" (what callers match), or what stands in the run's place
            store.Run(model_id, ref)
        except RunNotFoundError as exc:
            raise RunNotFoundError(f"{exc} {known_refs(model_id)}") from None
        return ref
    version = VERSION_PATTERN.match(ref)
    if version:
        found = _newest(model_id, lambda run: str(run.metadata.get("model_version")) == version.group(1))
        if found is None:
            raise RunNotFoundError(f"Model {model_id!r} has no run trained from version {version.group(1)}. "
                                   f"{known_refs(model_id)}")
        return found
    if labels.ALIAS_PATTERN.match(ref):
        run_id = labels.read(model_id).aliases.get(ref)  # RegistryDamagedError says how to recover
        if run_id is not None:
            if not store.run_path(model_id, run_id).is_dir():
                raise RunNotFoundError(f"The alias {ref!r} of {model_id} points at run {run_id}, which no longer "
                                       f"exists; move it with `python -m bayes_core runs alias {model_id} RUN {ref}`.")
            return run_id
        raise RunNotFoundError(f"{ref!r} names no run of {model_id!r}. {known_refs(model_id)}")
    raise RunNotFoundError(f"{ref[:80]!r} is not a valid run id or run reference (a run id such as "
                           f"20260101-120000-000000-a1b2c3, {LATEST}, {LATEST_CONVERGED}, a version such as v1.0.0, "
                           f"or an alias). {known_refs(model_id)}")


DEFAULT_ALIAS = "production"


def default_run(model_id: str) -> tuple[str, str]:
    """The run a picker shows first, and why: the alias ``production`` if set, else the newest
    converged run, else the newest run (runs the listing finds unreadable are passed over, so a
    damaged newest run never hides a good one). ``NotTrainedError`` when the model has none."""
    from bayes_core.runs import labels, store

    if not store.list_run_ids(model_id):
        raise _no_runs(model_id)
    found, _ = labels.read_or_error(model_id)  # a damaged registry falls through to the next rule
    run_id = found.aliases.get(DEFAULT_ALIAS)
    if run_id and store.run_path(model_id, run_id).is_dir():
        return run_id, f"the alias {DEFAULT_ALIAS!r}"
    from bayes_core.runs import listing

    def readable(run: "Run") -> bool:  # the listing's cheap checks (cached): a damaged run is never the default
        return listing.run_summary(model_id, run.run_id)["status"] == listing.READABLE

    converged = _newest(model_id, lambda run: is_converged(run) and readable(run))
    if converged:
        return converged, "the newest converged run (verdict good or warning; no run is aliased 'production')"
    newest, latest = _newest(model_id, readable), store.latest_run_id(model_id)
    if newest and newest != latest:
        return newest, "the newest readable run (none has converged and none is aliased 'production')"
    return latest, "the newest run (none has converged and none is aliased 'production')"


def known_refs(model_id: str) -> str:
    """A sentence listing the references that name a run of the model now."""
    from bayes_core.runs import labels, store

    ids = store.list_run_ids(model_id)
    if not ids:
        return f"Model {model_id!r} has no runs yet."
    parts = [f"{LATEST} ({ids[-1]})"]
    converged = _newest(model_id, is_converged)
    parts.append(f"{LATEST_CONVERGED} ({converged})" if converged else f"{LATEST_CONVERGED} (none yet)")
    found, damage = labels.read_or_error(model_id)
    if damage:
        parts.append("aliases unavailable (the registry file is damaged)")
    elif found.aliases:
        parts.append("aliases " + ", ".join(f"{a} ({r})" for a, r in sorted(found.aliases.items())))
    versions = sorted({str(store.Run(model_id, r).metadata.get("model_version")) for r in ids
                       if _readable_metadata(model_id, r)})
    if versions:
        parts.append("versions " + ", ".join(f"v{v}" for v in versions))
    parts.append(f"or one of its {len(ids)} run id(s) (`python -m bayes_core runs list {model_id}`)")
    return "Known references: " + "; ".join(parts) + "."


def _readable_metadata(model_id: str, run_id: str) -> bool:
    from bayes_core.runs import store

    try:
        store.Run(model_id, run_id).metadata  # noqa: B018
        return True
    except BayesCoreError:
        return False
