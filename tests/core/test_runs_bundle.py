"""Reproducible bundles: what an export holds (hashes, config snapshot, lock list, README) and every
refusal of a bundle that is tampered with, climbs out of its folder, links, or expands too far —
before anything is trained. The round trip (export → reproduce → identical draws) is in
test_runs_cli.py, through the command line."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import zipfile

import pytest

from bayes_core import artifacts
from bayes_core.runs import bundle


@pytest.fixture
def run(nb_run, tmp_path, monkeypatch):
    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(tmp_path / "art"))
    shutil.copytree(nb_run.path, tmp_path / "art" / nb_run.model_id / "runs" / nb_run.run_id)
    return artifacts.Run(nb_run.model_id, nb_run.run_id)


@pytest.fixture
def exported(run, tmp_path):
    return bundle.export(run.model_id, run.run_id, tmp_path / "out" / "run.zip")


def members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def rewrite(path, files: dict[str, bytes], extra: list[tuple[zipfile.ZipInfo, bytes]] = ()) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        for info, data in extra:
            zf.writestr(info, data)


def assert_refused(path, tmp_path, match: str) -> None:
    before = artifacts.list_run_ids("hierarchical_negbinom")
    with pytest.raises(bundle.BundleError, match=match):
        bundle.reproduce(path)
    assert artifacts.list_run_ids("hierarchical_negbinom") == before  # nothing trained


def test_an_export_holds_every_file_with_its_hash(run, exported):
    files = members(exported["path"])
    for name in ("trace.nc", "summary.csv", "diagnostics.json", "metadata.json", "data.csv", "evaluation.json",
                 "loo_pointwise.npz", "config.yaml", "requirements.lock", "README.md", "model.dot", "train.log",
                 "manifest.json"):
        assert name in files, name
    manifest = json.loads(files["manifest.json"])
    assert manifest["run_id"] == run.run_id and set(manifest["files"]) == set(files) - {"manifest.json"}
    for name, entry in manifest["files"].items():
        assert hashlib.sha256(files[name]).hexdigest() == entry["sha256"] and len(files[name]) == entry["bytes"]
    assert files["config.yaml"] == (run.path / "config.yaml").read_bytes()  # the snapshot written at train time
    assert b"numpy==" in files["requirements.lock"] and b"pymc==" in files["requirements.lock"]
    assert b"python -m bayes_core runs reproduce run.zip" in files["README.md"]
    assert manifest["config_snapshot"] == "the run's own snapshot"


def test_export_bytes_serve_a_download(run):
    name, data = bundle.export_bytes(run.model_id, "latest")
    assert name == f"{run.model_id}-{run.run_id}.zip" and data[:2] == b"PK"
    assert f"runs reproduce {name}".encode() in members_of_bytes(data)["README.md"]


def members_of_bytes(data: bytes) -> dict[str, bytes]:
    import io

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def test_a_run_older_than_snapshots_takes_the_current_config_when_its_hash_matches(run, tmp_path):
    (run.path / artifacts.CONFIG_FILE).unlink()
    (run.path / artifacts.LOCK_FILE).unlink()
    result = bundle.export(run.model_id, "latest", tmp_path / "old.zip")
    assert result["config_snapshot"] == "the current config (its hash is the run's)"
    assert result["package_versions"].startswith("the exporting environment")
    assert "config.yaml" in members(result["path"])


def test_a_changed_byte_is_refused_naming_the_file(exported, tmp_path):
    files = members(exported["path"])
    data = bytearray(files["data.csv"])
    data[-2] = ord("9") if data[-2] != ord("9") else ord("8")
    files["data.csv"] = bytes(data)
    rewrite(exported["path"], files)
    assert_refused(exported["path"], tmp_path, "data.csv does not match its recorded SHA-256")


@pytest.mark.parametrize("name, message", [
    ("../evil.txt", "leaves its folder"),
    ("reports/../../evil.txt", "leaves its folder"),
    ("/etc/evil.txt", "absolute file name"),
    ("C:/evil.txt", "absolute file name"),
    ("a\\..\\evil.txt", "with a backslash"),
    ("deep/er/evil.txt", "unexpected file name"),
])
def test_names_that_leave_the_folder_are_refused(exported, tmp_path, name, message):
    files = members(exported["path"])
    files[name] = b"x"
    rewrite(exported["path"], files)
    assert_refused(exported["path"], tmp_path, message)
    assert not (tmp_path / "evil.txt").exists()


def test_a_link_is_refused(exported, tmp_path):
    info = zipfile.ZipInfo("link.txt")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    rewrite(exported["path"], members(exported["path"]), [(info, b"/etc/passwd")])
    assert_refused(exported["path"], tmp_path, "holds a link")


def test_a_zip_bomb_is_refused(exported, tmp_path, monkeypatch):
    files = members(exported["path"])
    rewrite(exported["path"], {**files, "bomb.bin": bytes(40 * 2**20)})  # 40 MB of zeros, ~40 KB zipped
    assert_refused(exported["path"], tmp_path, "would expand .*-fold")
    rewrite(exported["path"], files)
    monkeypatch.setenv(bundle.MAX_MB_ENV, "0.01")
    assert_refused(exported["path"], tmp_path, "expands beyond 0 MB")


def test_a_file_outside_the_manifest_or_missing_from_the_zip_is_refused(exported, tmp_path):
    files = members(exported["path"])
    rewrite(exported["path"], {**files, "extra.txt": b"hello"})
    assert_refused(exported["path"], tmp_path, "extra.txt is not in the manifest")
    rewrite(exported["path"], {k: v for k, v in files.items() if k != "summary.csv"})
    assert_refused(exported["path"], tmp_path, "summary.csv is missing from the bundle")
    rewrite(exported["path"], {k: v for k, v in files.items() if k != "manifest.json"})
    assert_refused(exported["path"], tmp_path, "has no manifest.json")
    (tmp_path / "not.zip").write_text("plain text")
    assert_refused(tmp_path / "not.zip", tmp_path, "is not a zip file")
