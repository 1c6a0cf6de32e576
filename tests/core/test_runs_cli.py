"""``python -m bayes_core runs ...``: every command prints one JSON object with --json, errors are
``{"error"}`` with exit 2; ``predict --run`` and ``jobs submit --data-run`` take any reference; the
bundle round trip (export → reproduce → identical draws) through the command line."""

from __future__ import annotations

import json
import shutil

import pytest

from bayes_core import artifacts

MODEL = "hierarchical_negbinom"


@pytest.fixture(scope="module")
def root(nb_run, poisson_run, tmp_path_factory):
    """A private artifacts root holding copies of the session's NB and Poisson runs."""
    path = tmp_path_factory.mktemp("runs-cli")
    for run in (nb_run, poisson_run):
        shutil.copytree(run.path, path / MODEL / "runs" / run.run_id)
    return path


@pytest.fixture
def runs(root, monkeypatch, nb_run, poisson_run):
    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(root))
    return nb_run.run_id, poisson_run.run_id


def run_cli(capsys, *argv: str) -> tuple[int, dict]:
    from bayes_core.cli import main

    code = main([*argv, "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out  # exactly one JSON object
    return code, json.loads(out[0])


def ok(capsys, *argv: str) -> dict:
    code, payload = run_cli(capsys, *argv)
    assert code == 0, payload
    return payload


def test_labels_list_and_show(capsys, runs):
    nb, poisson = runs
    assert ok(capsys, "runs", "alias", MODEL, nb, "production")["action"] == "set"
    moved = ok(capsys, "runs", "alias", MODEL, "latest", "production")
    assert moved["action"] == "moved" and moved["run_id"] == poisson and moved["previous"] == nb
    assert ok(capsys, "runs", "alias", MODEL, nb, "candidate")["run_id"] == nb
    assert ok(capsys, "runs", "unalias", MODEL, "production")["previous"] == poisson
    assert ok(capsys, "runs", "note", MODEL, "candidate", "NB on the example data")["note"] == "NB on the example data"
    assert ok(capsys, "runs", "tag", MODEL, nb, "purpose=baseline")["tags"] == {"purpose": "baseline"}
    listing = ok(capsys, "runs", "list", MODEL)
    assert [r["run_id"] for r in listing["runs"]] == [poisson, nb]
    row = listing["runs"][1]
    assert row["aliases"] == ["candidate"] and row["tags"] == {"purpose": "baseline"} and row["note"]
    for key in ("run_id", "created_at", "model_version", "verdict", "sampler", "device", "draws", "chains",
                "duration_s", "data_hash", "aliases", "tags", "note", "fit_path", "evaluation"):
        assert key in row, key
    shown = ok(capsys, "runs", "show", MODEL, "candidate")
    assert shown["run_id"] == nb and shown["metadata"]["options"]["likelihood"] == "negative_binomial"


def test_evaluate_and_compare(capsys, runs):
    nb, poisson = runs
    evaluated = ok(capsys, "runs", "evaluate", MODEL, nb)
    assert evaluated["run_id"] == nb and evaluated["loo"]["n_observations"] > 0
    result = ok(capsys, "runs", "compare", MODEL, nb, poisson)
    assert {"runs", "settings_diff", "parameters", "elpd", "elpd_reason"} <= set(result)
    rows = result["elpd"]
    assert [r["run_id"] for r in rows] == [nb, poisson]
    for key in ("run_id", "elpd_loo", "se", "p_loo", "elpd_diff", "dse", "weight", "pareto_k_max", "warning"):
        assert key in rows[0], key
    assert sum(r["weight"] for r in rows) == pytest.approx(1.0) and result["elpd_reason"] is None
    code, payload = run_cli(capsys, "runs", "compare", MODEL, nb)
    assert code == 2 and "at least two runs" in payload["error"]


def test_human_output(capsys, runs):
    from bayes_core.cli import main

    nb, poisson = runs
    for argv, expected in ((("runs", "compare", MODEL, nb, poisson), "is clearly better than"),
                           (("runs", "list", MODEL), "VERDICT"), (("runs", "show", MODEL, nb), f"run_id: {nb}"),
                           (("runs", "evaluate", MODEL, nb), "elpd_loo")):
        assert main(list(argv)) == 0
        assert expected in capsys.readouterr().out, argv


def test_predict_and_jobs_take_any_reference(capsys, runs, tmp_path):
    from bayes_core.cli import parse
    from bayes_core.jobs.cli import submit_request

    nb, _ = runs
    ok(capsys, "runs", "alias", MODEL, nb, "champion")
    out = tmp_path / "p.csv"
    assert ok(capsys, "predict", MODEL, "--run", "champion", "--param", "entity=E001", "--out", str(out))["rows"] == 1
    assert nb in out.read_text()
    request = submit_request(*parse(["jobs", "submit", MODEL, "--data-run", "champion"]))
    assert request.data == {"kind": "run", "run_id": nb}  # resolved when asked: a later alias move changes nothing
    code, payload = run_cli(capsys, "predict", MODEL, "--run", "champion-typo", "--out", str(out))
    assert code == 2 and "names no run" in payload["error"] and "champion" in payload["error"]


def test_bad_labels_are_json_errors(capsys, runs):
    nb, _ = runs
    for argv, message in ((("runs", "alias", MODEL, nb, "latest"), "reserved reference"),
                          (("runs", "tag", MODEL, nb, "novalue"), "KEY=VALUE"),
                          (("runs", "unalias", MODEL, "nothing"), "has no alias 'nothing'"),
                          (("runs", "show", MODEL, "v7"), "no run trained from version 7"),
                          (("runs", "list", "no_such_model"), "Unknown model 'no_such_model'")):
        code, payload = run_cli(capsys, *argv)
        assert code == 2 and message in payload.get("error", "!"), (argv, payload)


@pytest.mark.slow
def test_export_reproduce_round_trip_then_delete(capsys, runs, tmp_path):
    """The same seed, sampler and package versions give identical draws in a new run."""
    nb, _ = runs
    zip_path = tmp_path / "bundle" / "nb.zip"
    exported = ok(capsys, "runs", "export", MODEL, nb, "--out", str(zip_path))
    assert exported["run_id"] == nb and zip_path.is_file()
    result = ok(capsys, "runs", "reproduce", str(zip_path))
    assert result["identical"] is True and result["agrees"] is True and result["max_z"] == 0.0
    assert result["versions_match"] is True and result["source_run_id"] == nb and result["run_id"] != nb
    new = artifacts.Run(MODEL, result["run_id"])
    assert new.metadata["seed"] == 1 and new.metadata["data_hash"] == artifacts.Run(MODEL, nb).metadata["data_hash"]
    assert ok(capsys, "runs", "show", MODEL, result["run_id"])["tags"] == {"reproduced_from": nb}
    code, payload = run_cli(capsys, "runs", "delete", MODEL, nb)  # holds 'candidate'/'champion' from above
    assert code == 2 and "holds the alias" in payload["error"]
    deleted = ok(capsys, "runs", "delete", MODEL, result["run_id"])
    assert deleted["deleted"] and not new.path.exists()
    forced = ok(capsys, "runs", "delete", MODEL, nb, "--force")
    assert forced["forced"] and set(forced["aliases_removed"]) >= {"candidate"}
