"""Aliases, tags and notes of a model's runs: one small JSON file beside them.

``<artifacts>/<model_id>/registry.json``::

    {"schema": 1,
     "aliases": {"production": "<run_id>", ...},          one run per alias
     "alias_history": [{"alias", "run_id", "previous", "action": "set|moved|removed", "at", "reason"}],
     "tags": {"<run_id>": {"key": "value"}},
     "notes": {"<run_id>": "free text"}}

Every change re-reads the file under an exclusive ``fcntl.flock`` on ``registry.json.lock``,
modifies it and replaces it atomically (temporary file + ``os.replace``; the previous version is
kept as ``registry.json.bak``), so concurrent writers never lose each other's changes and a reader
never sees half a file. A damaged file raises ``RegistryDamagedError`` naming the file and how to
recover; ``read_or_error`` lets listings carry on without labels.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from bayes_core.errors import BayesCoreError, InvalidParametersError
from bayes_core.runs import store

REGISTRY_FILE = "registry.json"
SCHEMA = 1
ALIAS_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
TAG_KEY_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
MAX_TAG_VALUE = 200
MAX_NOTE = 4000
MAX_TAGS = 50
HISTORY_KEPT = 1000  # alias moves remembered per model (oldest dropped first)


class RegistryDamagedError(BayesCoreError):
    """The registry file cannot be read: its runs stay readable, its labels are unavailable."""


@dataclass
class Labels:
    """A model's aliases, their history, tags and notes (as read; change them through this module)."""

    aliases: dict[str, str] = field(default_factory=dict)
    alias_history: list[dict[str, Any]] = field(default_factory=list)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def aliases_of(self, run_id: str) -> list[str]:
        return sorted(a for a, r in self.aliases.items() if r == run_id)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "aliases": dict(sorted(self.aliases.items())), "alias_history": self.alias_history,
                "tags": self.tags, "notes": self.notes}


def registry_path(model_id: str) -> Path:
    return store.model_dir(model_id) / REGISTRY_FILE


def _damaged(path: Path, why: str) -> RegistryDamagedError:
    backup = path.with_name(REGISTRY_FILE + ".bak")
    restore = (f"restore the last good copy ({backup.name}: `cp {backup} {path}`), or " if backup.is_file() else "")
    return RegistryDamagedError(
        f"The run registry {path} is damaged ({why}): aliases, tags and notes of this model are unavailable "
        f"(its runs are untouched and still listed). To recover, {restore}fix the JSON by hand, or move the file "
        "aside to start with no aliases, tags or notes.")


def _parse(path: Path, text: str) -> Labels:
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise _damaged(path, f"not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise _damaged(path, "the file must hold a JSON object")
    aliases, history = raw.get("aliases", {}), raw.get("alias_history", [])
    tags, notes = raw.get("tags", {}), raw.get("notes", {})
    checks = [
        (isinstance(aliases, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in aliases.items()),
         "'aliases' must map alias names to run ids"),
        (isinstance(history, list) and all(isinstance(h, dict) for h in history), "'alias_history' must be a list"),
        (isinstance(tags, dict) and all(isinstance(v, dict) and all(isinstance(x, str) for x in v.values())
                                        for v in tags.values()), "'tags' must map run ids to {key: value}"),
        (isinstance(notes, dict) and all(isinstance(v, str) for v in notes.values()), "'notes' must map run ids to text"),
    ]
    problems = [why for ok, why in checks if not ok]
    if problems:
        raise _damaged(path, "; ".join(problems))
    return Labels(aliases=dict(aliases), alias_history=list(history), tags={k: dict(v) for k, v in tags.items()},
                  notes=dict(notes))


def read(model_id: str) -> Labels:
    """The model's labels (empty when it has none yet); ``RegistryDamagedError`` when unreadable."""
    path = registry_path(model_id)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Labels()
    except (OSError, UnicodeDecodeError) as exc:
        raise _damaged(path, f"cannot be read: {getattr(exc, 'strerror', None) or exc}") from exc
    return _parse(path, text)


def read_or_error(model_id: str) -> tuple[Labels, str | None]:
    """``(labels, None)``, or empty labels and the damage message (listings keep working)."""
    try:
        return read(model_id), None
    except RegistryDamagedError as exc:
        return Labels(), str(exc)


@contextmanager
def _locked(model_id: str) -> Iterator[Labels]:
    """Read-modify-write under an exclusive lock; the yielded labels are written back atomically."""
    import fcntl

    path = registry_path(model_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(REGISTRY_FILE + ".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            labels = read(model_id)
            yield labels
            _write(path, labels)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write(path: Path, labels: Labels) -> None:
    tmp = path.with_name(f".{REGISTRY_FILE}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(labels.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
        if path.is_file():
            shutil.copyfile(path, path.with_name(REGISTRY_FILE + ".bak"))
        os.replace(tmp, path)
    except OSError as exc:
        raise BayesCoreError(f"Cannot write the run registry {path} ({exc.strerror or exc}): make the artifacts "
                             "folder writable and try again.") from exc
    finally:
        tmp.unlink(missing_ok=True)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def check_alias(name: str) -> str:
    from bayes_core.runs import refs

    if not isinstance(name, str) or not ALIAS_PATTERN.match(name):
        raise InvalidParametersError({"alias": f"{name!r} is not an alias name: a lower-case letter, then up to 31 "
                                               "lower-case letters, digits, '_' or '-' (e.g. production)"})
    if name in refs.KEYWORDS or refs.VERSION_PATTERN.match(name):
        raise InvalidParametersError({"alias": f"{name!r} is a reserved reference ({', '.join(refs.KEYWORDS)}, "
                                               "v<version>); choose another name"})
    return name


def _history(labels: Labels, **entry: Any) -> None:
    labels.alias_history.append({**entry, "at": _now()})
    del labels.alias_history[:-HISTORY_KEPT]


def set_alias(model_id: str, name: str, run_id: str) -> dict[str, Any]:
    """Point ``name`` at ``run_id`` (moving it from another run is recorded); returns the history entry."""
    check_alias(name)
    store.Run(model_id, run_id)  # RunNotFoundError for a run that does not exist
    with _locked(model_id) as labels:
        previous = labels.aliases.get(name)
        labels.aliases[name] = run_id
        _history(labels, alias=name, run_id=run_id, previous=previous,
                 action="set" if previous is None else "unchanged" if previous == run_id else "moved")
        return labels.alias_history[-1]


def remove_alias(model_id: str, name: str, reason: str = "") -> dict[str, Any]:
    check_alias(name)
    with _locked(model_id) as labels:
        if name not in labels.aliases:
            known = ", ".join(sorted(labels.aliases)) or "none"
            raise InvalidParametersError({"alias": f"{model_id} has no alias {name!r} (its aliases: {known})"})
        previous = labels.aliases.pop(name)
        _history(labels, alias=name, run_id=None, previous=previous, action="removed", reason=reason)
        return labels.alias_history[-1]


def set_tag(model_id: str, run_id: str, key: str, value: str) -> dict[str, str]:
    """Set a ``key=value`` tag on a run (an empty value removes the key); returns the run's tags."""
    if not isinstance(key, str) or not TAG_KEY_PATTERN.match(key):
        raise InvalidParametersError({"tag": f"{key!r} is not a tag key: a letter, then up to 63 letters, digits, "
                                             "'_', '.' or '-'"})
    value = _clean_text(value, MAX_TAG_VALUE, "tag value", single_line=True)
    store.Run(model_id, run_id)
    with _locked(model_id) as labels:
        tags = labels.tags.setdefault(run_id, {})
        if value:
            if key not in tags and len(tags) >= MAX_TAGS:
                raise InvalidParametersError({"tag": f"a run has at most {MAX_TAGS} tags; remove one first (KEY=)"})
            tags[key] = value
        else:
            tags.pop(key, None)
        if not tags:
            labels.tags.pop(run_id, None)
        return dict(labels.tags.get(run_id, {}))


def set_note(model_id: str, run_id: str, text: str) -> str:
    """Set the run's note (empty text removes it)."""
    text = _clean_text(text, MAX_NOTE, "note")
    store.Run(model_id, run_id)
    with _locked(model_id) as labels:
        if text:
            labels.notes[run_id] = text
        else:
            labels.notes.pop(run_id, None)
        return text


def forget_run(model_id: str, run_id: str, reason: str) -> list[str]:
    """Drop a (deleted) run's aliases (recorded in the history), tags and note; returns the aliases."""
    with _locked(model_id) as labels:
        dropped = labels.aliases_of(run_id)
        for name in dropped:
            del labels.aliases[name]
            _history(labels, alias=name, run_id=None, previous=run_id, action="removed", reason=reason)
        labels.tags.pop(run_id, None)
        labels.notes.pop(run_id, None)
        return dropped


def _clean_text(text: Any, limit: int, what: str, single_line: bool = False) -> str:
    if not isinstance(text, str):
        raise InvalidParametersError({what: f"must be text, not {type(text).__name__}"})
    text = text.strip()
    bad = [c for c in text if (ord(c) < 32 and c not in ("" if single_line else "\n\t")) or ord(c) == 127]
    if bad:
        raise InvalidParametersError({what: "must not contain control characters"
                                            + (" or line breaks" if single_line else "")})
    if len(text) > limit:
        raise InvalidParametersError({what: f"is {len(text)} characters long; at most {limit}"})
    return text
