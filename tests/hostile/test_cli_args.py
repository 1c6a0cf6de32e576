"""Hostile command lines (#11.3): sizes, seeds, flags, paths, model ids and run or job ids that cannot
be used are refused before any work — one JSON ``{"error"}`` and exit code 2 under ``--json``, the
usage and the error on stderr without it, never a traceback, nothing staged, no job queued. In-process
(``bayes_core.cli.main``), on a private artifacts root."""

from __future__ import annotations

import json

import pytest

from bayes_core import artifacts
from bayes_core.cli import main
from tests.hostile.conftest import NB

TWO_TO_70 = str(2**70)
SIZES = [  # (flags, what the message must contain)
    (["--draws", "0"], "draws: must be a whole number from 1 to 100000 (got 0)"),
    (["--draws", "-5"], "draws: must be a whole number from 1 to 100000 (got -5)"),
    (["--draws", "100001"], "(got 100001)"),
    (["--draws", "10000000000"], "(got 10000000000)"),
    (["--draws", TWO_TO_70], f"(got {TWO_TO_70})"),
    (["--draws", "1e308"], "argument --draws: invalid int value: '1e308'"),
    (["--draws", "nan"], "invalid int value: 'nan'"),
    (["--draws", "inf"], "invalid int value: 'inf'"),
    (["--draws", "true"], "invalid int value: 'true'"),
    (["--draws", "10.5"], "invalid int value: '10.5'"),
    (["--draws", ""], "invalid int value: ''"),
    (["--draws", "0x10"], "invalid int value: '0x10'"),
    (["--tune", "-1"], "tune: must be a whole number from 0 to 100000 (got -1)"),
    (["--tune", "100001"], "tune: must be a whole number from 0 to 100000"),
    (["--chains", "0"], "chains: must be a whole number from 1 to 64 (got 0)"),
    (["--chains", "65"], "chains: must be a whole number from 1 to 64 (got 65)"),
    (["--chains", "100000"], "(got 100000)"),
    (["--seed", "-1"], "seed: must be a whole number from 0 to 4294967295 (got -1)"),
    (["--seed", "4294967296"], "(got 4294967296)"),
    (["--seed", TWO_TO_70], f"(got {TWO_TO_70})"),
    (["--seed", "1e308"], "argument --seed: invalid int value: '1e308'"),
    (["--seed", "nan"], "invalid int value: 'nan'"),
    (["--target-accept", "nan"], "target_accept: must be between 0.5 and 1 (exclusive), got nan"),
    (["--target-accept", "inf"], "got inf"),
    (["--target-accept=-inf"], "got -inf"),
    (["--target-accept", "-inf"], "argument --target-accept: expected one argument"),  # "-inf" reads as a flag
    (["--target-accept", "1e308"], "got 1e+308"),
    (["--target-accept", "0.5"], "target_accept: must be between 0.5 and 1 (exclusive)"),
    (["--target-accept", "1"], "target_accept: must be between 0.5 and 1 (exclusive)"),
    (["--target-accept", "-0"], "got -0.0"),
    (["--target-accept", "high"], "argument --target-accept: invalid float value: 'high'"),
    (["--draws", "0", "--chains", "0", "--seed", "-1"], "chains: must be a whole number"),
]
FLAGS = [  # argparse's errors, as one JSON object
    (["--dra", "10"], "Unknown argument(s) --dra"),
    (["--target-acc", "0.9"], "Unknown argument(s) --target-acc"),
    (["--cha", "2"], "Unknown argument(s) --cha"),
    (["--draws-per-chain", "10"], "Unknown argument(s) --draws-per-chain"),
    (["--non-centred", "true"], "Unknown argument(s) --non-centred"),
    (["-d", "10"], "Unknown argument(s) -d"),
    (["--draws"], "argument --draws: expected one argument"),
    (["--seed"], "argument --seed: expected one argument"),
    (["--data"], "argument --data: expected one argument"),
    (["--draws", "--chains", "2"], "argument --draws: expected one argument"),
    (["--gpu", "--cpu"], "argument --cpu: not allowed with argument --gpu"),
    (["--sampler", "stan"], "argument --sampler: invalid choice: 'stan'"),
    (["--sampler", ""], "argument --sampler: invalid choice: ''"),
    (["--non-centered"], "argument --non-centered: expected one argument"),
    (["--non-centered", "maybe"], "non_centered: 'maybe' is not true/false"),
    (["--non-centered", "1" * 10_000], "non_centered:"),
]
MODEL_IDS = ["../x", "a/b", "../../etc/passwd", "/etc", ".", "..", "", "x" * 10_000, "ñandú", "\u202eledom_live",
             "hierarchical\u200b_negbinom", "HIERARCHICAL_NEGBINOM", f"{NB} ", "hierarchical_negbinom/../bayesian_sharpe",
             "%2e%2e%2fx", "nul\x00byte"]
COMMANDS = {"train": ["train", "{model}"], "jobs submit": ["jobs", "submit", "{model}"]}


@pytest.fixture
def root(tmp_path, monkeypatch):
    path = tmp_path / "art"
    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(path))
    return path


def refused(capsys, argv: list[str], says: str, json_mode: bool = True) -> str:
    code = main([*argv, "--json"] if json_mode else argv)
    out, err = capsys.readouterr()
    assert code == 2, (code, out, err)
    assert "Traceback" not in out + err
    if json_mode:
        assert err == "" and len(out.strip().splitlines()) == 1, (out, err)
        message = json.loads(out)["error"]
    else:
        assert out == ""
        message = err
    assert says in message, message
    return message


def nothing_done(root) -> None:
    """No run, no staging folder and no job: the refusal came before any work."""
    assert not list(root.rglob(".tmp-*")) and not list(root.rglob("runs/*"))
    if (root / "jobs.sqlite3").exists():
        from bayes_core.jobs import get_runner

        assert get_runner().list() == []


def command(name: str, model: str = NB) -> list[str]:
    return [part.format(model=model) for part in COMMANDS[name]]


# -- sizes and seeds -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", COMMANDS)
@pytest.mark.parametrize("flags, says", SIZES, ids=lambda v: "_".join(v) if isinstance(v, list) else None)
def test_a_size_or_seed_that_cannot_be_used_is_refused_before_any_work(root, capsys, name, flags, says):
    refused(capsys, [*command(name), *flags], says)
    nothing_done(root)


@pytest.mark.parametrize("name", COMMANDS)
def test_a_trace_too_large_for_memory_is_refused_before_sampling(root, capsys, monkeypatch, name):
    monkeypatch.setenv("BAYES_MAX_TRACE_MB", "10")  # 64 chains x 100,000 draws x 33 values x 8 bytes, and more
    message = refused(capsys, [*command(name), "--draws", "100000", "--chains", "64"], "the trace would need about")
    assert "(64 chains × 100,000 draws × 33 values per draw" in message and "over the limit of 10 MB" in message
    nothing_done(root)


@pytest.mark.parametrize("name", COMMANDS)
@pytest.mark.parametrize("flags, says", FLAGS, ids=lambda v: "_".join(v)[:40] if isinstance(v, list) else None)
def test_a_flag_that_cannot_be_used_is_one_json_error(root, capsys, name, flags, says):
    refused(capsys, [*command(name), *flags], says)
    nothing_done(root)


@pytest.mark.parametrize("argv, says", [
    (["train", NB, "--dra", "10"], "Unknown argument(s) --dra"),
    (["train", NB, "--draws", "x"], "invalid int value: 'x'"),
    (["list", "--js"], "unrecognized arguments: --js"),
    (["jobs", "list", "--limit", "-1"], "argument --limit: '-1' is not from 1 to 100000"),
])
def test_without_json_the_error_and_no_traceback_go_to_stderr(root, capsys, argv, says):
    refused(capsys, argv, says, json_mode=False)


# -- other commands' arguments ------------------------------------------------------------------------
@pytest.mark.parametrize("argv, says", [
    (["list", "--js"], "unrecognized arguments: --js"),
    (["list", "-j"], "unrecognized arguments: -j"),
    (["list", "--models"], "unrecognized arguments: --models"),
    (["list", "extra"], "unrecognized arguments: extra"),
    (["jobs", "list", "--limit", TWO_TO_70], f"argument --limit: '{TWO_TO_70}' is not from 1 to 100000"),
    (["jobs", "list", "--limit", "-1"], "is not from 1 to 100000"),
    (["jobs", "list", "--limit", "0"], "is not from 1 to 100000"),
    (["jobs", "list", "--limit", "ten"], "argument --limit: invalid whole number: 'ten'"),
    (["jobs", "list", "--lim", "3"], "unrecognized arguments: --lim"),
    (["jobs", "logs", "20200101-000000-00000000", "--tail", "-5"], "argument --tail: '-5' is not from 0 to 1000000"),
    (["jobs", "logs", "20200101-000000-00000000", "--tail", "1e308"], "invalid whole number: '1e308'"),
    (["jobs", "status", "../x"], "'../x' is not a valid job id"),
    (["jobs", "status", ""], "'' is not a valid job id"),
    (["jobs", "cancel", "x" * 10_000], "is not a valid job id"),
    (["jobs", "status", "20200101-000000-00000000"], "No job 20200101-000000-00000000"),
    (["jobs", "logs", "20200101-000000-00000000"], "No job 20200101-000000-00000000"),
    (["jobs", "status"], "the following arguments are required: job_id"),
    (["jobs", "frobnicate"], "invalid choice: 'frobnicate'"),
    (["jobs"], "the following arguments are required"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    ([], "the following arguments are required: command"),
    (["list", "--json=1"], "argument --json: ignored explicit argument '1'"),
    (["predict", NB, "--param", "entity=E001"], "the following arguments are required: --out"),
    (["predict", NB, "--out"], "argument --out: expected one argument"),
    (["jobs", "submit", NB, "--data", "x.csv", "--data-run", "20200101-000000-000000-abcdef"],
     "Give either --data or --data-run, not both"),
])
def test_other_commands_refuse_what_they_cannot_use(root, capsys, argv, says):
    refused(capsys, argv, says)
    nothing_done(root)


@pytest.mark.parametrize("argv, usage", [
    (["list", "extra"], "usage: python -m bayes_core list [-h] [--json]"),
    (["jobs", "list", "--lim", "3"], "usage: python -m bayes_core jobs list"),
    (["check", "sensitivity", NB, "20200101-000000-000000-abcdef"], "[--run REF]"),  # the run is --run REF
])
def test_a_leftover_argument_names_the_sub_commands_usage(root, capsys, argv, usage):
    """Leftovers are refused after parsing, away from the parser: the message still points at the
    sub-command's own help, and without --json its usage line is printed above the error."""
    command = " ".join(argv[:2] if argv[0] != "list" else argv[:1])
    assert f"Run `python -m bayes_core {command} --help` for the usage." in refused(capsys, argv, "unrecognized")
    assert usage in refused(capsys, argv, "unrecognized", json_mode=False)


@pytest.mark.parametrize("argv", [["--json", "list"], ["list", "--json"], ["--json", "jobs", "list"],
                                  ["jobs", "list", "--json"], ["--json", "runs", "list", NB]])
def test_json_before_or_after_the_command_prints_one_json_object(root, capsys, argv):
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert len(out.strip().splitlines()) == 1 and isinstance(json.loads(out), dict), out


def test_help_under_json_is_one_json_object(root, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["train", "--help", "--json"])
    out, _ = capsys.readouterr()
    assert caught.value.code == 0 and json.loads(out)["help"].startswith("usage: python -m bayes_core train")


# -- model ids -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [*COMMANDS, "predict"])
@pytest.mark.parametrize("model", MODEL_IDS, ids=lambda m: repr(m)[:30])
def test_an_unknown_or_path_like_model_id_is_refused_naming_the_known_ones(root, capsys, tmp_path, name, model):
    argv = ["predict", model, "--param", "entity=E001", "--out", str(tmp_path / "p.csv")] if name == "predict" \
        else command(name, model)
    message = refused(capsys, argv, "Unknown model")
    assert NB in message and len(message) < 1_000, "the known models are named; a long id is cut"
    nothing_done(root)
    assert not (tmp_path / "p.csv").exists() and not (root / "etc").exists()


# -- paths ---------------------------------------------------------------------------------------------------
@pytest.fixture
def places(tmp_path):
    folder = tmp_path / "a_folder"
    folder.mkdir()
    blocker = tmp_path / "a_file.csv"
    blocker.write_text("entity,count\nA,1\n")
    return {"folder": str(folder), "blocker": str(blocker), "missing": str(tmp_path / "missing.csv"),
            "below": str(blocker / "x.csv"), "device": "/dev/zero", "fifo": _fifo(tmp_path)}


def _fifo(tmp_path) -> str:
    import os

    path = tmp_path / "pipe.csv"
    os.mkfifo(path)
    return str(path)


PATHS = [  # (argv with {placeholders}, what the message must contain)
    (["train", NB, "--data", "{folder}"], "--data {folder} is a folder: give a CSV file"),
    (["train", NB, "--data", "{missing}"], "file not found: {missing}"),
    (["train", NB, "--data", "{below}"], "file not found: {below}"),
    (["train", NB, "--data", "{device}"], "--data /dev/zero is not a regular file (a device or a pipe)"),
    (["train", NB, "--data", "{fifo}"], "--data {fifo} is not a regular file"),
    (["train", NB, "--data", ""], "--data . is a folder"),
    (["jobs", "submit", NB, "--data", "{folder}"], "--data {folder} is a folder"),
    (["jobs", "submit", NB, "--data", "{missing}"], "file not found: {missing}"),
    (["jobs", "submit", NB, "--data", "{fifo}"], "is not a regular file"),
    (["jobs", "submit", NB, "--data", "{device}"], "is not a regular file"),
    (["jobs", "submit", NB, "--data-run", "../../etc"], "'../../etc' is not a valid run id"),
    (["jobs", "submit", NB, "--data-run", "20990101-000000-000000-abcdef"], "No run 20990101-000000-000000-abcdef"),
    (["jobs", "submit", NB, "--data-run", "x" * 5_000], "is not a valid run id"),
    (["predict", NB, "--input", "{folder}", "--out", "{folder}/p.csv"], "--input {folder} is a folder"),
    (["predict", NB, "--input", "{missing}", "--out", "{folder}/p.csv"], "file not found: {missing}"),
    (["predict", NB, "--input", "{fifo}", "--out", "{folder}/p.csv"], "is not a regular file"),
    (["predict", NB, "--param", "entity=E1", "--out", "{folder}"], "--out {folder} is a folder"),
    (["predict", NB, "--param", "entity=E1", "--out", "{below}"], "{blocker} is a file, not a folder"),
    (["predict", NB, "--param", "entity=E1", "--out", ""], "--out . is a folder"),
    (["predict", NB, "--param", "entity=E1", "--out", "{folder}/p.csv", "--run", "../x"], "'../x' is not a valid run id"),
    (["predict", NB, "--param", "entity=E1", "--out", "{folder}/p.csv", "--run", "20990101-000000-000000-abcdef"],
     "No run 20990101-000000-000000-abcdef"),
    (["predict", NB, "--param", "entity=E1", "--out", "{folder}/p.csv", "--run", "v1.0.0"], "has no run trained from version 1.0.0"),
    (["predict", NB, "--param", "entity=E1", "--out", "{folder}/p.csv", "--run", "v1/../x"], "is not a valid run id"),
    (["predict", NB, "--param", "entity=E1", "--out", "{folder}/p.csv"], "has no trained run yet"),
    (["predict", NB, "--param", "entity", "--out", "{folder}/p.csv"], "--param expects name=value, got 'entity'"),
    (["predict", NB, "--param", "=3", "--out", "{folder}/p.csv"], "--param expects name=value, got '=3'"),
]


@pytest.mark.parametrize("argv, says", PATHS, ids=lambda v: "_".join(v)[:50] if isinstance(v, list) else None)
def test_a_path_or_id_that_cannot_be_used_is_refused(root, capsys, places, argv, says):
    refused(capsys, [a.format(**places) for a in argv], says.format(**places))
    nothing_done(root)
    assert not list(artifacts.artifacts_root().glob("uploads/*"))
