"""``python -m bayes_core``: human output by default, exactly one JSON object with --json."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bayes_core.errors import DataValidationError

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


@pytest.mark.slow
def test_train_json_prints_one_object_and_writes_a_run():
    out = cli("train", "hierarchical_negbinom", "--draws", "40", "--tune", "40", "--chains", "1",
              "--seed", "3", "--non-centered", "true", "--json")
    assert out.returncode in (0, 3), out.stderr  # 3 = trained but not converged (tiny draws)
    payload = json.loads(out.stdout)
    assert set(payload) == {"run_id", "model_id", "run_dir", "diagnostics", "evaluation"}
    meta = json.loads((Path(payload["run_dir"]) / "metadata.json").read_text())
    assert meta["options"] == {"non_centered": True, "likelihood": "negative_binomial"}
    assert meta["settings"]["chains"] == 1
    assert (Path(payload["run_dir"]) / "evaluation.json").is_file()  # evaluated once, right after training


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


# -- argument parsing: no abbreviations, every model option reaches its model ----------------------------
def _option_cases() -> list[tuple[str, str]]:
    from bayes_core.registry import get_registry

    registry = get_registry()
    return [(model_id, spec.name) for model_id in registry.model_ids()
            for spec in registry.get_model_metadata(model_id).model_options]


OPTION_CASES = _option_cases()
SUBMITTING = [("train",), ("jobs", "submit")]


def test_the_registry_has_model_options_to_check():
    assert len(OPTION_CASES) >= 5 and any(name == "target" for _, name in OPTION_CASES)


@pytest.mark.parametrize("command", SUBMITTING, ids=" ".join)
@pytest.mark.parametrize("model_id, option", OPTION_CASES, ids=[f"{m}.{o}" for m, o in OPTION_CASES])
def test_every_model_option_is_parsed_as_that_option(command, model_id, option):
    """A model option's flag must never be read as a sampler flag (``--target`` used to be taken for
    ``--target-accept``): parsed through the real parser, it lands in the model's options only."""
    from bayes_core.cli import parse
    from bayes_core.cli_args import option_flag, parse_model_options, training_settings

    args, extra = parse([*command, model_id, option_flag(option), "7", "--json"])
    assert training_settings(args) == {} and args.model_id == model_id
    assert parse_model_options(model_id, extra) == {option: "7"}


def test_jobs_submit_builds_the_request_with_options_and_data(tmp_path):
    from bayes_core.cli import parse
    from bayes_core.jobs.cli import submit_request

    csv = tmp_path / "lr.csv"
    csv.write_bytes(b"sales,price\n1,2\n")
    args, extra = parse(["jobs", "submit", "bayesian_linear_regression", "--target", "sales", "--draws", "50",
                         "--data", str(csv)])
    request = submit_request(args, extra)
    assert request.options == {"target": "sales"} and request.settings == {"draws": 50}
    assert request.data == {"kind": "upload", "content": b"sales,price\n1,2\n", "filename": "lr.csv"}


def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    from bayes_core.cli import main

    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("argv, message", [
    (("train", "--json"), "the following arguments are required: model_id"),
    (("train", "hierarchical_negbinom", "--draws", "x", "--json"), "invalid int value: 'x'"),
    (("train", "hierarchical_negbinom", "--sampler", "stan", "--json"), "invalid choice: 'stan'"),
    (("train", "hierarchical_negbinom", "--gpu", "--cpu", "--json"), "not allowed with argument"),
    (("jobs", "--json"), "the following arguments are required"),
    (("jobs", "status", "--json"), "the following arguments are required: job_id"),
    (("jobs", "list", "--limit", "many", "--json"), "invalid whole number: 'many'"),
    (("predict", "hierarchical_negbinom", "--json"), "the following arguments are required: --out"),
    (("bogus", "--json"), "invalid choice: 'bogus'"),
    (("train", "hierarchical_negbinom", "--target-acc", "0.9", "--json"), "Unknown argument(s) --target-acc"),
    (("train", "hierarchical_negbinom", "--dra", "10", "--json"), "Unknown argument(s) --dra"),
])
def test_argument_errors_under_json_are_one_json_object(capsys, argv, message):
    code, out, err = run_main(capsys, *argv)
    assert code == 2 and err == ""
    assert message in json.loads(out)["error"]


def test_argument_errors_without_json_show_the_usage(capsys):
    code, out, err = run_main(capsys, "train", "hierarchical_negbinom", "--draws", "x")
    assert code == 2 and out == ""
    assert err.startswith("usage: python -m bayes_core train") and "invalid int value: 'x'" in err


# -- paths ----------------------------------------------------------------------------------------------
@pytest.fixture
def paths(tmp_path):
    folder = tmp_path / "a_folder"
    folder.mkdir()
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    return folder, blocker


@pytest.mark.parametrize("argv, message", [
    (("train", "hierarchical_negbinom", "--data", "{folder}"), "--data {folder} is a folder: give a CSV file"),
    (("jobs", "submit", "hierarchical_negbinom", "--data", "{folder}"), "--data {folder} is a folder"),
    (("predict", "hierarchical_negbinom", "--input", "{folder}", "--out", "{folder}/p.csv"), "--input {folder} is a folder"),
    (("predict", "hierarchical_negbinom", "--param", "entity=E1", "--out", "{folder}"), "--out {folder} is a folder"),
    (("predict", "hierarchical_negbinom", "--param", "entity=E1", "--out", "{blocker}/sub/p.csv"),
     "{blocker} is a file, not a folder"),
])
def test_path_problems_are_clear_messages(capsys, paths, argv, message):
    folder, blocker = paths
    fill = {"folder": folder, "blocker": blocker}
    code, out, err = run_main(capsys, *(a.format(**fill) for a in argv), "--json")
    assert code == 2 and "Traceback" not in err
    assert message.format(**fill) in json.loads(out)["error"]


def test_missing_output_folder_is_not_created_for_a_command_that_fails(capsys, tmp_path):
    target = tmp_path / "new" / "deeper" / "p.csv"
    code, out, _ = run_main(capsys, "predict", "no_such_model", "--param", "x=1", "--out", str(target), "--json")
    assert code == 2 and "Unknown model" in json.loads(out)["error"]
    assert not (tmp_path / "new").exists()


def test_unreadable_file_is_a_clear_message(tmp_path, monkeypatch):
    from bayes_core.cli_args import readable_file
    from bayes_core.errors import BayesCoreError

    csv = tmp_path / "locked.csv"
    csv.write_text("a\n1\n")

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", denied)
    with pytest.raises(BayesCoreError, match=r"--data .*locked\.csv cannot be read \(Permission denied\)"):
        readable_file(csv, "--data")


def test_artifacts_path_that_is_a_file_is_a_clear_message(capsys, tmp_path, monkeypatch):
    blocker = tmp_path / "artifacts"
    blocker.write_text("not a folder")
    for root in (blocker, blocker / "below"):
        monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(root))
        code, out, _ = run_main(capsys, "list", "--json")
        assert code == 2 and f"{blocker} is a file, not a folder" in json.loads(out)["error"]


# -- unexpected faults --------------------------------------------------------------------------------
def test_unexpected_exception_is_one_line_with_the_traceback_in_a_log(capsys, tmp_path, monkeypatch):
    from bayes_core import cli

    def broken(args, extra):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "cmd_list", broken)
    monkeypatch.setattr(cli, "ERROR_LOG", tmp_path / "errors.log")
    monkeypatch.delenv("BAYES_DEBUG", raising=False)
    code, out, err = run_main(capsys, "list", "--json")
    assert code == 2 and err == ""
    error = json.loads(out)["error"]
    assert "unexpected error (RuntimeError: boom)" in error and str(tmp_path / "errors.log") in error
    assert 'raise RuntimeError("boom")' in (tmp_path / "errors.log").read_text()
    code, out, err = run_main(capsys, "list")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    monkeypatch.setenv("BAYES_DEBUG", "1")
    code, out, err = run_main(capsys, "list")
    assert code == 2 and "Traceback" in err and "RuntimeError: boom" in err


def test_jobs_submit_accepts_a_csv_whose_columns_the_options_name(tmp_path, monkeypatch):
    """Issue #12.1, CLI side: `--target sales` reaches the model, and the upload is validated with it."""
    from bayes_core.cli import parse
    from bayes_core.jobs import LocalJobRunner
    from bayes_core.jobs.cli import submit_request
    from tests.conftest import lr_sales_csv

    csv = tmp_path / "lr.csv"
    csv.write_bytes(lr_sales_csv())
    args, extra = parse(["jobs", "submit", "bayesian_linear_regression", "--target", "sales",
                         "--features", "price,ads", "--data", str(csv)])
    runner = LocalJobRunner(tmp_path / "artifacts")
    monkeypatch.setattr(runner, "sweep", lambda: None)  # queued only: no worker is started
    job = runner.submit(submit_request(args, extra))
    assert job.state == "queued" and job.data_ref["filename"] == "lr.csv"
    assert job.options == {"target": "sales", "features": "price,ads"}
    args, extra = parse(["jobs", "submit", "bayesian_linear_regression", "--data", str(csv)])  # default target y
    with pytest.raises(DataValidationError) as info:
        runner.submit(submit_request(args, extra))
    assert info.value.problems == ["no column 'y': set the Target column option (target) to one of sales, price, ads"]


@pytest.mark.slow
def test_train_on_the_walk_through_csv_with_target_and_features(tmp_path):
    """The same lr.csv trains through `train --target sales --features price,ads`; the run says so."""
    from tests.conftest import TINY, lr_sales_csv

    csv = tmp_path / "lr.csv"
    csv.write_bytes(lr_sales_csv())
    settings = [arg for name, value in TINY.items() for arg in (f"--{name}", str(value))]
    out = cli("train", "bayesian_linear_regression", "--target", "sales", "--features", "price,ads",
              "--data", str(csv), *settings, "--json")
    assert out.returncode in (0, 3), out.stdout + out.stderr
    run_dir = Path(json.loads(out.stdout)["run_dir"])
    meta = json.loads((run_dir / "metadata.json").read_text())
    assert meta["options"] == {"target": "sales", "features": "price,ads"} and meta["settings"]["draws"] == TINY["draws"]
    assert list(pd.read_csv(run_dir / "data.csv").columns) == ["price", "ads", "sales"]
    out = cli("train", "bayesian_linear_regression", "--data", str(csv), "--json")
    assert out.returncode == 2 and "set the Target column option (target) to one of" in json.loads(out.stdout)["error"]
