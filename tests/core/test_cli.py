"""``python -m bayes_core``: human output by default, exactly one JSON object with --json."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "bayes_core", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)


def test_list_json(nb_run):
    out = cli("list", "--json")
    assert out.returncode == 0, out.stderr
    payload = json.loads(out.stdout)
    nb = next(m for m in payload["models"] if m["model_id"] == "hierarchical_negbinom")
    assert nb["is_trained"] and nb["last_run_id"] is not None
    assert payload["errors"] == []


def test_train_json_prints_one_object_and_writes_a_run():
    out = cli("train", "hierarchical_negbinom", "--draws", "40", "--tune", "40", "--chains", "1",
              "--seed", "3", "--non-centered", "true", "--json")
    assert out.returncode in (0, 3), out.stderr  # 3 = trained but not converged (tiny draws)
    payload = json.loads(out.stdout)
    assert set(payload) == {"run_id", "model_id", "run_dir", "diagnostics"}
    meta = json.loads((Path(payload["run_dir"]) / "metadata.json").read_text())
    assert meta["options"] == {"non_centered": True} and meta["settings"]["chains"] == 1


@pytest.mark.parametrize("args, message", [
    (("train", "nope", "--json"), "Unknown model 'nope'"),
    (("train", "hierarchical_negbinom", "--draws", "0", "--json"), "draws: must be a whole number"),
    (("train", "hierarchical_negbinom", "--gpu", "--json"), "JAX sees no GPU"),
    (("train", "hierarchical_negbinom", "--data", "missing.csv", "--json"), "file not found"),
    (("train", "hierarchical_negbinom", "--bogus", "1", "--json"), "Unknown argument(s) --bogus"),
])
def test_bad_input_gives_a_json_error_and_non_zero_exit(args, message):
    out = cli(*args)
    assert out.returncode != 0
    assert message in json.loads(out.stdout)["error"]


def test_predict_single_and_batch(nb_run, tmp_path):
    out_file = tmp_path / "one.csv"
    out = cli("predict", "hierarchical_negbinom", "--run", nb_run.run_id, "--param", "entity=E002",
              "--param", "windows=2", "--out", str(out_file), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"out": str(out_file), "rows": 1}
    row = pd.read_csv(out_file).iloc[0]
    assert row["entity"] == "E002" and row["windows"] == 2 and row["run_id"] == nb_run.run_id

    batch = tmp_path / "requests.csv"
    pd.DataFrame({"entity": ["E001", "E004", "new"], "threshold": [1, 2, 3]}).to_csv(batch, index=False)
    out = cli("predict", "hierarchical_negbinom", "--input", str(batch), "--out", str(tmp_path / "b.csv"), "--json")
    assert out.returncode == 0, out.stderr
    table = pd.read_csv(tmp_path / "b.csv", keep_default_na=False)
    assert list(table["entity"]) == ["E001", "E004", "new"]
    assert table["warning"].iloc[2].startswith("unknown entity")


def test_predict_with_an_invalid_row_fails_naming_it(nb_run, tmp_path):
    batch = tmp_path / "requests.csv"
    pd.DataFrame({"entity": ["E001"], "windows": [0]}).to_csv(batch, index=False)
    out = cli("predict", "hierarchical_negbinom", "--input", str(batch), "--out", str(tmp_path / "b.csv"), "--json")
    assert out.returncode != 0
    assert "row 2 windows: must be ≥ 1 (got 0)" in json.loads(out.stdout)["error"]
