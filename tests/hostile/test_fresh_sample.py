"""A fresh sample of hostile cases (#11, "done when"): things the first battery did not list, found
by trying as an attacker — files that are not CSV text, invisible characters in names, absurd widths,
misconfigured environment, concurrent submits, links inside the artifacts. Each ends cleanly; the
class behind each was fixed where it did not (see the README's "What bad input gets")."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import threading
import time
import zipfile

import pandas as pd
import pytest

from bayes_core import artifacts
from bayes_core.cli import main
from bayes_core.errors import DataValidationError
from tests.hostile.conftest import GOOD_MODELS, NB


def xlsx_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as book:
        book.writestr("[Content_Types].xml", "<Types/>")
        book.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


NB_CSV = "entity,count\nA,1\nB,2\nC,3\n"
SAVE_AS = "save it as CSV UTF-8 (in Excel: Save As → CSV UTF-8)"
NOT_CSV = [  # (id, bytes, what the message must say)
    ("excel_xlsx_renamed", xlsx_bytes(), f"a ZIP archive or an Excel workbook (.xlsx), not CSV text: {SAVE_AS}"),
    ("excel_xls_renamed", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504), "an Excel 97–2003 workbook (.xls)"),
    ("gzip", gzip.compress(NB_CSV.encode()), "the file is gzip-compressed, not CSV text: decompress it first"),
    ("utf16", NB_CSV.encode("utf-16"), f"the file is UTF-16 text, not CSV text: {SAVE_AS}"),
    ("latin1", "entity,count\nA,1\nJos\xe9,1\nB,2\n".encode("latin-1"), f"not UTF-8 text (byte 0xe9 on line 3): {SAVE_AS}"),
    ("pdf", b"%PDF-1.7\n%\xe2\xe3", "a PDF document"),
    ("png", b"\x89PNG\r\n\x1a\n" + bytes(64), "a PNG image"),
    ("ten_mb_single_line", ("entity,count," + "x," * 5_000_000 + "\n").encode(), "names column(s) 'x' more than once"),
    ("hundred_thousand_columns", (",".join(["entity", "count"] + [f"c{i}" for i in range(100_000)]) + "\nA,1"
                                  + ",0" * 100_000 + "\n").encode(), "the header has 100,002 columns, more than the 10,000"),
]
INVISIBLE = "invisible or control character"
BAD_NAMES = [  # (id, entity text, what the message must say)
    ("nul_byte", "A\x00", INVISIBLE),
    ("rtl_override", "\u202eA", INVISIBLE),
    ("zero_width_space", "A\u200b", INVISIBLE),
    ("bom_inside", "A\ufeff", INVISIBLE),
    ("soft_hyphen", "A\u00adB", INVISIBLE),
    ("line_break", '"A\nB"', INVISIBLE),
    ("escape_sequence", "A\x1b[31m", INVISIBLE),
    ("one_megabyte", "E" * 1_000_000, "text longer than 1,000 characters"),
]


@pytest.mark.parametrize("case, payload, says", NOT_CSV, ids=[c[0] for c in NOT_CSV])
def test_a_file_that_is_not_csv_text_says_what_it_is_and_what_to_do(nb_model, case, payload, says):
    started = time.monotonic()
    with pytest.raises(DataValidationError) as caught:
        nb_model.load_data(payload)
    assert says in str(caught.value)
    assert time.monotonic() - started < 20, "refused without working through the whole file"


@pytest.mark.parametrize("case, name, says", BAD_NAMES, ids=[c[0] for c in BAD_NAMES])
def test_a_name_with_invisible_characters_or_of_a_megabyte_is_refused(nb_model, case, name, says):
    with pytest.raises(DataValidationError) as caught:
        nb_model.load_data(f"entity,count\n{name},1\nB,2\n".encode())
    assert f"column 'entity': {says}" in str(caught.value) and "row 2" in str(caught.value)


@pytest.mark.parametrize("case, name, says", BAD_NAMES[:4], ids=[c[0] for c in BAD_NAMES[:4]])
def test_a_request_with_invisible_characters_is_a_problem_of_its_row(nb_model, nb_run, case, name, says):
    requests = pd.DataFrame({"entity": ["E001", name], "windows": [2, 2]})
    table, problems = nb_model.predict_batch(requests, nb_run)
    assert len(table) == 1 and [(p["row"], p["field"]) for p in problems] == [(3, "entity")]
    assert INVISIBLE in problems[0]["message"]


@pytest.mark.parametrize("payload, expected", [
    ("\ufeff" + NB_CSV, ["A", "B", "C"]),  # a BOM, as Excel writes
    (NB_CSV.replace("\n", "\r"), ["A", "B", "C"]),  # old Mac line endings
    (NB_CSV.replace("\n", "\r\n"), ["A", "B", "C"]),
    ("entity,count\nA,1\n A,2\nA ,3\na,4\n", ["A", "a"]),  # spaces do not make a new entity; case does
    ("entity,count\nA,-0\nB,+2\n", ["A", "B"]),  # negative zero is 0
    ("entity,count\nJosé,1\n👩‍🔬,2\nनमस्ते,3\n", ["José", "👩‍🔬", "नमस्ते"]),  # joiners stay: scripts need them
])
def test_text_that_is_only_unusual_is_read(nb_model, payload, expected):
    frame = nb_model.load_data(payload.encode())
    assert sorted(frame["entity"].unique()) == sorted(expected) and frame["count"].min() >= 0


@pytest.mark.parametrize("value, says", [("inf", "infinite value in row 2"), ("Infinity", "infinite value in row 2"),
                                         ("-inf", "infinite value"), ("True", "not a number in row 2"),
                                         ('"1,000"', "not a number in row 2")])
def test_counts_spelled_as_words_are_refused(nb_model, value, says):
    with pytest.raises(DataValidationError, match=says):
        nb_model.load_data(f"entity,count\nA,{value}\nB,2\n".encode())


def test_a_date_with_a_time_zone_is_refused_naming_the_format():
    from bayes_core.registry import get_registry

    props = get_registry().load_model_instance("player_props")
    header = "date,player_id,opponent_id,was_home,minutes,goals,shots,cards\n"
    with pytest.raises(DataValidationError, match="column 'date': not a YYYY-MM-DD date in row 2"):
        props.load_data((header + "2025-08-02T00:00:00+05:00,P1,T1,true,90,0,1,0\n"
                         + "2025-08-03,P1,T1,true,90,0,1,0\n").encode())


# -- through the CLI -------------------------------------------------------------------------------------
def cli(capsys, *argv: str) -> tuple[int, dict]:
    code = main([*argv, "--json"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and len(out.strip().splitlines()) == 1
    return code, json.loads(out)


@pytest.mark.parametrize("option, value, says", [
    ("--target", "y" * 100_000, "is longer than 1,000 characters"),
    ("--target", "y\u202e", "holds an invisible or control character (U+202E)"),
    ("--features", "x1\x00", "holds an invisible or control character (U+0000)"),
])
def test_an_absurd_model_option_is_refused_before_any_work(tmp_path, monkeypatch, capsys, option, value, says):
    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(tmp_path / "art"))
    code, payload = cli(capsys, "jobs", "submit", "bayesian_linear_regression", option, value)
    assert code == 2 and says in payload["error"] and len(payload["error"]) < 2_000
    assert not (tmp_path / "art" / "uploads").exists()


def test_an_excel_file_given_as_data_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(tmp_path / "art"))
    book = tmp_path / "counts.csv"
    book.write_bytes(xlsx_bytes())
    for command in (["train", NB], ["jobs", "submit", NB]):
        code, payload = cli(capsys, *command, "--data", str(book))
        assert code == 2 and "an Excel workbook (.xlsx), not CSV text" in payload["error"]
    assert not list((tmp_path / "art").rglob(".tmp-*"))


@pytest.mark.parametrize("value, says", [("{tmp}/no_such_folder", "does not exist"), ("{tmp}/a_file", "is a file")])
def test_a_mistyped_configs_folder_is_named_not_shown_as_no_models(tmp_path, monkeypatch, capsys, value, says):
    from bayes_core.registry import get_registry

    (tmp_path / "a_file").write_text("x")
    monkeypatch.setenv("BAYES_MODEL_CONFIGS", value.format(tmp=tmp_path))
    try:
        code, payload = cli(capsys, "list")
        assert code == 0 and payload["models"] == []
        assert says in payload["errors"][0]["messages"][0] and "BAYES_MODEL_CONFIGS" in payload["errors"][0]["messages"][0]
    finally:
        monkeypatch.undo()
        get_registry(refresh=True)


def test_an_empty_configs_setting_means_the_default(monkeypatch, capsys):
    monkeypatch.setenv("BAYES_MODEL_CONFIGS", "")
    code, payload = cli(capsys, "list")
    assert code == 0 and {m["model_id"] for m in payload["models"]} >= set(GOOD_MODELS)


def test_an_artifacts_folder_with_spaces_and_unicode_works_and_is_quoted(tmp_path, monkeypatch, capsys, nb_run):
    root = tmp_path / "my runs ünïcode $(x)"
    shutil.copytree(nb_run.path, root / NB / "runs" / nb_run.run_id)
    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(root))
    code, payload = cli(capsys, "list")
    assert code == 0 and next(m for m in payload["models"] if m["model_id"] == NB)["last_status"] == "readable"
    (root / NB / "runs" / nb_run.run_id / "diagnostics.json").write_text("[1]")
    code, payload = cli(capsys, "predict", NB, "--param", "entity=E001", "--out", str(tmp_path / "p.csv"))
    assert code == 2 and f"runs delete {NB} {nb_run.run_id}" in payload["error"], payload["error"]


def test_a_runs_folder_linked_elsewhere_is_read(run_root):
    """Keeping runs on another disk through a link is a setup, not damage."""
    elsewhere = run_root.root.parent / "other-disk"
    shutil.move(run_root.root / NB / "runs", elsewhere)
    (run_root.root / NB / "runs").symlink_to(elsewhere, target_is_directory=True)
    assert [r["status"] for r in artifacts.run_summaries(NB)] == ["readable", "readable"]
    assert artifacts.load_run(NB, run_root.neighbour_id).check().verdict


SHAPE = "must be 'bayes_core.models.<module>:<Class>'"


@pytest.mark.parametrize("spec, says", [
    ("bayes_core.models.hierarchical_negbinom.os:system", SHAPE),
    ("bayes_core.models..hierarchical_negbinom:HierarchicalNegBinomModel", SHAPE),
    ("bayes_core.models.hierarchical_negbinom:HierarchicalNegBinomModel.__init__", SHAPE),
    ("bayes_core.models:BaseBayesianModel", SHAPE),
    ("bayes_core.models.hierarchical_negbinom:__class__", "__class__ is not a BaseBayesianModel"),
    ("bayes_core.models.__init__:BaseBayesianModel", SHAPE),  # would run the package's code again
    ("bayes_core.models.__main__:Model", SHAPE),
    ("bayes_core.models.no_such_module:Model", "cannot import bayes_core.models.no_such_module"),
    ("bayes_core.models.hierarchical_negbinom:" + "A" * 10_000, "is not a BaseBayesianModel"),
])
def test_a_model_class_that_reaches_for_other_code_is_a_broken_config(config_tree, spec, says):
    import re

    from bayes_core.registry import get_registry
    from tests.hostile.conftest import BROKEN, NB_CONFIG

    config = re.sub(r"(?m)^model_class: .*$", f"model_class: {spec}", NB_CONFIG)
    assert f"model_class: {spec}" in config
    (config_tree / BROKEN / "config.yaml").write_text(config)
    registry = get_registry(refresh=True)
    problem = next(e for e in registry.errors if BROKEN in e.path)
    assert any(says in m for m in problem.messages), problem.messages
    assert set(GOOD_MODELS) <= set(registry.model_ids())


# -- concurrency -------------------------------------------------------------------------------------------
def test_concurrent_submits_each_get_a_job_and_none_is_lost(tmp_path, monkeypatch):
    from bayes_core.jobs import Job, JobRequest, get_runner
    from bayes_core.jobs.store import now_iso

    monkeypatch.setenv("BAYES_ARTIFACTS_DIR", str(tmp_path / "art"))
    monkeypatch.setenv("BAYES_MAX_JOBS", "1")
    runner = get_runner()
    runner.store.insert(Job(job_id="20200101-000000-00000f0f", model_id=NB, state="running", settings={}, options={},
                            data_ref={"kind": "example"}, created_at=now_iso(), started_at=now_iso(),
                            heartbeat_at=now_iso(), pid=999_999, host="another-host"))  # holds the one slot
    ids, errors = [], []

    def submit(seed: int) -> None:
        try:
            ids.append(runner.submit(JobRequest("bayesian_sharpe", {"draws": 10, "tune": 10, "chains": 1,
                                                                    "seed": seed})).job_id)
        except Exception as exc:  # noqa: BLE001 - any failure of a concurrent submit is the finding
            errors.append(repr(exc))

    threads = [threading.Thread(target=submit, args=(seed,)) for seed in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and len(set(ids)) == 12
    queued = [job for job in runner.list(limit=100) if job.job_id in ids]
    assert len(queued) == 12 and {job.state for job in queued} == {"queued"}, "the limit held: none started"
