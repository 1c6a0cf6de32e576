"""A run as one reproducible zip, and a new run reproduced from such a zip.

``export(model_id, ref, out)`` writes every file of the run (trace, summary, diagnostics, metadata,
data snapshot, DAG, log, reports), its evaluation (computed first if missing), the config it was
trained from (``config.yaml``: the run's snapshot; for a run older than snapshots, the current
config if its hash is the run's, else none — the manifest says which), the exact package
versions (``requirements.lock``), a README with the one command that reproduces it, and
``manifest.json`` with the SHA-256 and size of every other file.

``reproduce(zip)`` refuses, before anything is trained, a zip with a name that is absolute, climbs
out (``..``), is a link or is unexpected, more or larger files than the caps (a zip bomb), or a file
whose hash is not the recorded one (named). It then trains a NEW run from the bundle's config
snapshot, data, settings (the sampler and device the run actually used), seed, options and priors,
and reports whether the draws are identical or — when they differ, e.g. other package versions —
whether every parameter's mean agrees within 4 MCSE (``max_z``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from bayes_core.errors import BayesCoreError
from bayes_core.runs import evaluation, store, writer

FORMAT, FORMAT_VERSION = "bayes-run-bundle", 1
MANIFEST = "manifest.json"
README = "README.md"
MAX_FILES = 200
MAX_MB_ENV = "BAYES_MAX_BUNDLE_MB"
DEFAULT_MAX_MB = 4096
MAX_RATIO = 1000  # uncompressed / compressed size of one member beyond which it is refused (with > 1 MB)
AGREE_Z = 4.0
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)?$")
_REQUIRED = (store.METADATA_FILE, store.TRACE_FILE, store.DATA_FILE, store.SUMMARY_FILE)


class BundleError(BayesCoreError):
    """A bundle that is refused: the message names the file or the limit."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _max_bytes() -> int:
    raw = os.environ.get(MAX_MB_ENV) or str(DEFAULT_MAX_MB)
    try:
        mb = float(raw)
    except ValueError:
        mb = -1.0
    if not mb > 0:
        raise BayesCoreError(f"{MAX_MB_ENV}={raw!r} is not a positive number of megabytes; unset it "
                             f"(default {DEFAULT_MAX_MB}).")
    return int(mb * 2**20)


# -- export --------------------------------------------------------------------------------------
def _config_text(run: store.Run) -> tuple[str | None, str]:
    """(config text, where it came from) for the bundle."""
    snapshot = run.path / store.CONFIG_FILE
    if snapshot.is_file():
        return snapshot.read_text(encoding="utf-8"), "the run's own snapshot"
    from bayes_core.config import load_config_of

    try:
        current = load_config_of(run.model_id)
    except BayesCoreError as exc:
        return None, f"missing: the run predates config snapshots and the current config cannot be read ({exc})"
    text = writer.config_snapshot(current)
    if text is not None and current.config_hash == run.metadata.get("config_hash"):
        return text, "the current config (its hash is the run's)"
    return None, ("missing: the run predates config snapshots and the current config has changed since "
                  f"(hash {current.config_hash}, the run's {run.metadata.get('config_hash')})")


def _readme(run: store.Run, name: str, config_source: str, lock_source: str) -> str:
    meta = run.metadata
    settings = ", ".join(f"{k}={v}" for k, v in (meta.get("settings") or {}).items())
    return f"""# Run {run.run_id} of {run.model_id}

Model {meta.get('model_name')} version {meta.get('model_version')} (config hash {meta.get('config_hash')}),
trained {meta.get('created_at')} on {meta.get('data_rows')} rows (data hash {meta.get('data_hash')}) with
{meta.get('sampler')} on {meta.get('device')}: {settings}. Options: {json.dumps(meta.get('options') or {})}.
Convergence verdict: {meta.get('verdict')}.

## Reproduce

    python -m bayes_core runs reproduce {name}

trains a new run from `config.yaml`, `data.csv` and the settings, seed, options and priors in
`metadata.json`, then reports whether its draws are identical to `trace.nc` (same seed, sampler
and package versions) or, if not, whether every parameter's mean agrees within 4 MCSE.
Install the exact environment first with `pip install -r requirements.lock`.

## Files

`manifest.json` lists the SHA-256 of every file; a tampered file is refused by name.
Config: {config_source}. Package versions: {lock_source}.
"""


def export(model_id: str, ref: str | None, out: str | Path) -> dict[str, Any]:
    """Write the run ``ref`` names as a zip at ``out``; returns ``{path, run_id, files, bytes, ...}``."""
    run = store.load_run(model_id, ref)
    evaluation.evaluate(run)  # the bundle carries the evaluation (computed now for older runs)
    out = Path(out)
    config_text, config_source = _config_text(run)
    lock_file = run.path / store.LOCK_FILE
    lock_source = "the training environment" if lock_file.is_file() else \
        "the exporting environment (the run predates lock lists)"
    extra = {README: _readme(run, out.name, config_source, lock_source)}
    if config_text is not None and not (run.path / store.CONFIG_FILE).is_file():
        extra[store.CONFIG_FILE] = config_text
    if not lock_file.is_file():
        extra[store.LOCK_FILE] = writer.environment_lock()
    files: dict[str, Path | str] = {}
    for path in sorted(run.path.rglob("*")):
        rel = path.relative_to(run.path).as_posix()
        if path.is_file() and not path.is_symlink() and _NAME.match(rel) and not path.name.startswith("."):
            files[rel] = path
    files.update(extra)
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "model_id": model_id, "run_id": run.run_id,
                "exported_at": datetime.now(timezone.utc).isoformat(), "config_snapshot": config_source,
                "package_versions": lock_source, "files": {}}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, source in files.items():
                if isinstance(source, Path):
                    zf.write(source, name)
                    digest, size = _sha256(source), source.stat().st_size
                else:
                    data = source.encode("utf-8")
                    zf.writestr(name, data)
                    digest, size = hashlib.sha256(data).hexdigest(), len(data)
                manifest["files"][name] = {"sha256": digest, "bytes": size}
            zf.writestr(MANIFEST, json.dumps(manifest, indent=2))
        os.replace(tmp, out)
    except OSError as exc:
        raise BayesCoreError(f"Cannot write the bundle {out} ({exc.strerror or exc}).") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return {"path": str(out), "model_id": model_id, "run_id": run.run_id, "files": sorted(manifest["files"]),
            "bytes": out.stat().st_size, "config_snapshot": config_source, "package_versions": lock_source}


def export_bytes(model_id: str, ref: str | None) -> tuple[str, bytes]:
    """``(file name, zip bytes)`` of the run ``ref`` names: what a download button serves."""
    run = store.load_run(model_id, ref)
    name = f"{model_id}-{run.run_id}.zip"
    with tempfile.TemporaryDirectory(prefix="bayes-export-") as tmp:
        return name, Path(export(model_id, run.run_id, Path(tmp) / name)["path"]).read_bytes()


# -- reading a bundle safely -----------------------------------------------------------------------
def _check_member(info: zipfile.ZipInfo) -> None:
    name = info.filename
    mode = info.external_attr >> 16
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise BundleError(f"Refused: the bundle holds an absolute file name ({name!r}).")
    if "\\" in name:
        raise BundleError(f"Refused: the bundle holds a file name with a backslash ({name!r}).")
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise BundleError(f"Refused: the bundle holds a file name that leaves its folder ({name!r}).")
    if stat.S_ISLNK(mode):
        raise BundleError(f"Refused: the bundle holds a link ({name!r}).")
    if not _NAME.match(name):
        raise BundleError(f"Refused: unexpected file name {name!r} in the bundle.")
    if info.file_size > (1 << 20) and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise BundleError(f"Refused: {name} would expand {info.file_size / max(info.compress_size, 1):,.0f}-fold "
                          "(a zip bomb?).")


def open_bundle(path: str | Path, into: Path) -> dict[str, Any]:
    """Check the zip at ``path`` and extract it into ``into``; returns its manifest. Every refusal is
    a ``BundleError`` naming the file or the limit."""
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise BundleError(f"{path} is not a zip file (export a run with `runs export`).")
    limit = _max_bytes()
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        if len(infos) > MAX_FILES:
            raise BundleError(f"Refused: the bundle holds {len(infos)} files (at most {MAX_FILES}).")
        names = [i.filename for i in infos]
        if len(set(names)) != len(names):
            raise BundleError("Refused: the bundle names a file twice.")
        for info in infos:
            _check_member(info)
        if sum(i.file_size for i in infos) > limit:
            raise BundleError(f"Refused: the bundle expands beyond {limit / 2**20:,.0f} MB ({MAX_MB_ENV}).")
        if MANIFEST not in names:
            raise BundleError(f"Refused: the bundle has no {MANIFEST} (it was not written by `runs export`).")
        try:
            manifest = json.loads(zf.read(MANIFEST))
            listed = dict(manifest["files"])
        except (ValueError, KeyError, TypeError) as exc:
            raise BundleError(f"Refused: {MANIFEST} cannot be read ({exc}).") from exc
        if manifest.get("format") != FORMAT:
            raise BundleError(f"Refused: {MANIFEST} is not a {FORMAT} manifest.")
        present = set(names) - {MANIFEST}
        if present - set(listed):
            raise BundleError(f"Refused: {', '.join(sorted(present - set(listed)))} is not in the manifest.")
        if set(listed) - present:
            raise BundleError(f"Refused: {', '.join(sorted(set(listed) - present))} is missing from the bundle.")
        written = 0
        for info in infos:
            if info.filename == MANIFEST:
                continue
            target = into / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            with zf.open(info) as src, open(target, "wb") as dst:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    written += len(chunk)
                    if written > limit:  # never trust the sizes in the zip's headers
                        raise BundleError(f"Refused: the bundle expands beyond {limit / 2**20:,.0f} MB ({MAX_MB_ENV}).")
                    digest.update(chunk)
                    dst.write(chunk)
            if digest.hexdigest() != str(listed[info.filename].get("sha256")):
                raise BundleError(f"Refused: {info.filename} does not match its recorded SHA-256 (the bundle was "
                                  "changed after export); nothing was trained.")
    missing = [n for n in _REQUIRED if not (into / n).is_file()]
    if missing:
        raise BundleError(f"Refused: the bundle lacks {', '.join(missing)}.")
    return manifest


# -- reproducing -----------------------------------------------------------------------------------
def _model_from_snapshot(folder: Path, meta: dict[str, Any], scratch: Path):
    from bayes_core.config import load_model_config
    from bayes_core.registry import resolve_model_class

    model_id = store.check_model_id(meta.get("model_id"))
    snapshot = folder / store.CONFIG_FILE
    if not snapshot.is_file():
        raise BundleError("The bundle has no config snapshot (the run predates snapshots and its config had "
                          "changed when it was exported), so it cannot be reproduced exactly.")
    config_dir = scratch / model_id  # the registry names a config by its folder
    config_dir.mkdir(parents=True)
    shutil.copyfile(snapshot, config_dir / "config.yaml")
    config = load_model_config(config_dir / "config.yaml")
    if config.config_hash != meta.get("config_hash"):
        raise BundleError(f"The bundle's config snapshot (hash {config.config_hash}) is not the config the run "
                          f"was trained from (hash {meta.get('config_hash')}).")
    return resolve_model_class(config.model_class)(config, options=meta.get("options") or {},
                                                     priors=meta.get("priors") or None)


def _settings(meta: dict[str, Any]) -> dict[str, Any]:
    """The run's settings with the sampler and device it actually used."""
    from bayes_core.settings import DEVICES, SAMPLERS

    settings = dict(meta.get("settings") or {})
    if meta.get("sampler") in SAMPLERS:
        settings["sampler"] = meta["sampler"]
    if meta.get("device") in DEVICES:
        settings["device"] = meta["device"]
    return settings


def _agreement(original: Path, new: store.Run) -> tuple[bool, float | None]:
    """(identical draws, max z of mean differences over the summaries' rows)."""
    import pandas as pd
    import xarray as xr

    with xr.open_datatree(original) as tree:
        before = tree["posterior"].to_dataset().load()
    after = new.idata["posterior"].to_dataset()
    identical = set(before.data_vars) == set(after.data_vars) and all(
        before[v].shape == after[v].shape and np.array_equal(before[v].values, after[v].values) for v in before.data_vars)
    old = pd.read_csv(original.parent / store.SUMMARY_FILE, index_col=0)
    rows = old.index.intersection(new.summary.index)
    se = np.hypot(old.loc[rows, "mcse_mean"], new.summary.loc[rows, "mcse_mean"])
    z = (old.loc[rows, "mean"] - new.summary.loc[rows, "mean"]).abs() / se.where(se > 0)
    if identical:
        return True, 0.0
    z = z[np.isfinite(z)]
    return False, float(z.max()) if len(z) else None


def reproduce(path: str | Path, progress=None) -> dict[str, Any]:
    """Train a new run from a bundle; ``{run_id, identical, agrees, max_z, ...}``."""
    from bayes_core.runs import labels

    with tempfile.TemporaryDirectory(prefix="bayes-bundle-") as tmp:
        folder = Path(tmp) / "bundle"
        manifest = open_bundle(path, folder)
        meta = json.loads((folder / store.METADATA_FILE).read_text())
        model = _model_from_snapshot(folder, meta, Path(tmp) / "config")
        run = model.train(folder / store.DATA_FILE, progress=progress, **_settings(meta))
        identical, max_z = _agreement(folder / store.TRACE_FILE, run)
        lock = folder / store.LOCK_FILE
        versions_match = lock.is_file() and lock.read_text() == writer.environment_lock()
    labels.set_tag(run.model_id, run.run_id, "reproduced_from", str(manifest.get("run_id")))
    evaluation.ensure_after_training(run, model)
    agrees = identical or (max_z is not None and max_z <= AGREE_Z)
    return {"run_id": run.run_id, "model_id": run.model_id, "source_run_id": manifest.get("run_id"),
            "identical": identical, "agrees": agrees, "max_z": max_z, "versions_match": versions_match,
            "verdict": run.verdict,
            "statement": ("The draws are identical to the bundle's." if identical else
                          f"The draws differ{'' if versions_match else ' (other package versions)'}; every "
                          f"parameter mean agrees within {AGREE_Z:g} MCSE (max z {max_z:.2f})." if agrees else
                          f"The draws differ and some parameter means disagree (max z {max_z} > {AGREE_Z:g} MCSE).")}
