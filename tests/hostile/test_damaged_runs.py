"""Damaged runs (#11.5): a run whose files are wrong in shape, type, bytes or kind shows as
"unreadable" (with why) wherever runs are listed, refuses to open with why and what to do, and never
takes down its neighbour or the other models. One shared tiny run is copied per case (``run_root``)."""

from __future__ import annotations

import json
import re

import pytest

from bayes_core import artifacts
from bayes_core.cli import main
from bayes_core.errors import CorruptRunError
from tests.app.conftest import new_app
from tests.hostile.conftest import GOOD_MODELS, NB
from tests.hostile.damage import DAMAGES, DELETE, GRAPH_ONLY, RUN_DAMAGES, pick
from tests.hostile.test_deep_links import open_page, shown_texts

LISTED = [d for d in RUN_DAMAGES if d.listed]
# The pages share one code path for every damage the store finds (``Run.check``): one case per file
# and kind of fault is enough there; the store and CLI cases above cover every damage.
ON_PAGES = pick("meta_list", "meta_created_at_5", "meta_fifo", "diag_list", "trace_truncated_third",
                "trace_scrambled_inside", "trace_of_another_run", "summary_text_in_numbers", "run_is_a_file")
PREDICTION_PAGE = pick("meta_created_at_5", "trace_without_posterior", "run_broken_link")
GRAPH_ON_PAGE = pick("dot_url", "dot_html_label", "dot_not_dot")
LISTING_PAGES = pick("meta_created_at_5", "diag_list", "trace_truncated_third", "data_missing")
NEIGHBOUR_CHECKED = pick("meta_list", "meta_fifo", "diag_list", "trace_truncated_third", "trace_of_another_run",
                         "summary_garbage", "run_is_a_file", "run_broken_link")
PREDICT_ARGS = ["--param", "entity=E001", "--param", "windows=2"]


def unescaped(texts: list[str]) -> list[str]:
    return [re.sub(r"\\(.)", r"\1", t) for t in texts]


def cli(capsys, *argv: str) -> tuple[int, dict, str]:
    code = main([*argv, "--json"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, json.loads(out), err


# -- the store ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("damage", DAMAGES, ids=str)
def test_listing_shows_the_damaged_run_as_unreadable_beside_its_readable_neighbour(run_root, damage):
    damage.apply(run_root.damaged)
    rows = artifacts.run_summaries(NB)
    by_id = {row["run_id"]: row for row in rows}
    assert [row["run_id"] for row in rows] == [run_root.damaged_id, run_root.neighbour_id], "newest first"
    assert by_id[run_root.neighbour_id]["status"] == "readable"
    damaged = by_id[run_root.damaged_id]
    if damage.listed:
        assert damaged["status"] == "unreadable" and damage.says in damaged["problem"], damaged
        assert artifacts.newest_readable(rows) == run_root.neighbour_id, "a picker's default passes over it"
    else:
        assert damaged["status"] == "readable" and damaged["problem"] is None


@pytest.mark.parametrize("damage", RUN_DAMAGES, ids=str)
def test_opening_the_damaged_run_says_why_and_how_to_delete_it(run_root, damage):
    damage.apply(run_root.damaged)
    with pytest.raises(CorruptRunError) as caught:
        run = artifacts.load_run(NB, run_root.damaged_id)
        run.metadata, run.diagnostics, run.summary, run.idata  # noqa: B018
    message = str(caught.value)
    assert damage.says in message and f"runs delete {NB} {run_root.damaged_id}" in message, message
    artifacts.load_run(NB, run_root.neighbour_id).idata  # noqa: B018 - the neighbour opens whole


@pytest.mark.parametrize("damage", GRAPH_ONLY, ids=str)
def test_a_damaged_model_graph_is_refused_and_the_run_stays_usable(run_root, damage):
    damage.apply(run_root.damaged)
    run = artifacts.load_run(NB, run_root.damaged_id)
    assert run.verdict in ("good", "warning", "problem") and len(run.summary) and run.idata is not None
    with pytest.raises(CorruptRunError, match=re.escape(damage.says)):
        run.dag_dot  # noqa: B018


# -- the CLI -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("damage", LISTED, ids=str)
def test_cli_list_names_the_damaged_run_and_lists_every_model(run_root, damage, capsys):
    damage.apply(run_root.damaged)
    code, payload, _ = cli(capsys, "list")
    assert code == 0
    models = {m["model_id"]: m for m in payload["models"]}
    assert set(GOOD_MODELS) <= set(models)
    nb = models[NB]
    assert (nb["last_run_id"], nb["last_status"], nb["last_verdict"]) == (run_root.damaged_id, "unreadable", None)
    assert damage.says in nb["last_problem"]


@pytest.mark.parametrize("damage", RUN_DAMAGES, ids=str)
def test_cli_predict_refuses_the_damaged_run_and_serves_its_neighbour(run_root, damage, capsys, tmp_path):
    damage.apply(run_root.damaged)
    out = tmp_path / "out" / "predictions.csv"
    code, payload, _ = cli(capsys, "predict", NB, "--run", run_root.damaged_id, *PREDICT_ARGS, "--out", str(out))
    assert code == 2 and damage.says in payload["error"] and DELETE in payload["error"], payload
    assert not out.exists()
    if damage in NEIGHBOUR_CHECKED:
        code, payload, _ = cli(capsys, "predict", NB, "--run", run_root.neighbour_id, *PREDICT_ARGS, "--out", str(out))
        assert code == 0 and payload["rows"] == 1


@pytest.mark.parametrize("damage", RUN_DAMAGES, ids=str)
def test_the_suggested_delete_command_removes_the_damaged_run_and_nothing_else(run_root, damage, capsys):
    damage.apply(run_root.damaged)
    with pytest.raises(CorruptRunError) as caught:
        run = artifacts.load_run(NB, run_root.damaged_id)
        run.metadata, run.diagnostics, run.summary, run.idata  # noqa: B018
    suggested = f"{DELETE} {NB} {run_root.damaged_id}"
    assert suggested in str(caught.value)
    code, payload, _ = cli(capsys, *suggested.split()[3:])
    assert code == 0 and payload["deleted"] is True, payload
    assert not (run_root.damaged.exists() or run_root.damaged.is_symlink())
    artifacts.load_run(NB, run_root.neighbour_id).idata  # noqa: B018 - the neighbour stays whole


def test_cli_list_as_text_says_unreadable_and_why(run_root, capsys):
    pick("meta_created_at_5")[0].apply(run_root.damaged)
    assert main(["list"]) == 0
    out, err = capsys.readouterr()
    line = next(line for line in out.splitlines() if line.startswith(NB))
    assert f"{run_root.damaged_id} (unreadable: metadata.json 'created_at' is 5, not text)" in line
    assert all(model in out for model in GOOD_MODELS) and "Traceback" not in err


def test_cli_predict_latest_names_the_damaged_latest_run(run_root, capsys, tmp_path):
    pick("diag_list")[0].apply(run_root.damaged)
    code, payload, _ = cli(capsys, "predict", NB, *PREDICT_ARGS, "--out", str(tmp_path / "p.csv"))
    assert code == 2 and run_root.damaged_id in payload["error"] and "diagnostics.json holds [1]" in payload["error"]


# -- the pages ---------------------------------------------------------------------------------------
def assert_clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


@pytest.mark.parametrize("damage", ON_PAGES, ids=str)
def test_diagnostics_deep_link_to_a_damaged_run_says_why_and_keeps_serving(app, run_root, damage):
    damage.apply(run_root.damaged)
    at = open_page(app, "pages/diagnostics.py", model=NB, run=run_root.damaged_id)
    assert_clean(at)
    errors = unescaped([e.value for e in at.error])
    assert any(damage.says in e and "cannot be shown" in e for e in errors), errors
    assert any(c.value == f"{DELETE} {NB} {run_root.damaged_id}" for c in at.code), "the delete command, ready to copy"
    picker = at.selectbox[1]
    assert picker.value == run_root.damaged_id and len(picker.options) == 2, "both runs stay selectable"
    if damage.listed:
        assert "unreadable" in picker.options[0] and "unreadable" not in picker.options[1]


@pytest.mark.parametrize("damage", pick("meta_list", "run_is_a_file"), ids=str)
def test_diagnostics_without_a_run_shows_the_readable_neighbour(app, run_root, damage):
    damage.apply(run_root.damaged)
    at = open_page(app, "pages/diagnostics.py", model=NB)
    assert_clean(at)
    assert at.selectbox[1].value == run_root.neighbour_id
    assert not any("cannot be shown" in e.value for e in at.error)  # (the verdict banner may be red)
    assert at.dataframe, "the neighbour's summary is shown"


@pytest.mark.parametrize("damage", GRAPH_ON_PAGE, ids=str)
def test_diagnostics_refuses_a_damaged_model_graph_and_shows_the_rest(app, run_root, damage):
    damage.apply(run_root.damaged)
    at = open_page(app, "pages/diagnostics.py", model=NB, run=run_root.damaged_id, tab="Model graph")
    assert_clean(at)
    errors = unescaped([e.value for e in at.error])
    assert any("model graph cannot be shown" in e and damage.says in e for e in errors), errors
    assert at.metric, "the run's metrics are shown"
    for text in shown_texts(at):
        assert "](http" not in text and "javascript:" not in text.replace("\\", "")
    at = open_page(new_app(), "pages/diagnostics.py", model=NB, run=run_root.damaged_id)  # the default tab
    assert_clean(at)
    assert at.dataframe, "the run's summary is shown"


@pytest.mark.parametrize("damage", PREDICTION_PAGE, ids=str)
def test_predictions_deep_link_to_a_damaged_run_says_why(app, run_root, damage):
    damage.apply(run_root.damaged)
    at = open_page(app, "pages/predictions.py", model=NB, run=run_root.damaged_id)
    assert_clean(at)
    errors = unescaped([e.value for e in at.error])
    assert any(damage.says in e for e in errors), errors
    assert not at.button, "no prediction form for a run that cannot be used"


@pytest.mark.parametrize("damage", LISTING_PAGES, ids=str)
def test_catalogue_card_shows_the_last_run_unreadable_and_every_model(app, run_root, damage):
    from bayes_core.registry import get_registry

    damage.apply(run_root.damaged)
    at = open_page(app, "pages/catalogue.py")
    assert_clean(at)
    markdown = unescaped([m.value for m in at.markdown])
    assert any("Unreadable" in m and run_root.damaged_id in m and damage.says in m for m in markdown), markdown
    names = [meta.name for mid, meta in get_registry().get_all_models().items() if meta.status != "deprecated"]
    assert all(any(f"#### {name}" in m for m in markdown) for name in names)


@pytest.mark.parametrize("damage", LISTING_PAGES, ids=str)
def test_training_earlier_run_picker_marks_the_damaged_run(app, run_root, damage):
    damage.apply(run_root.damaged)
    at = open_page(app, "pages/training.py", model=NB)
    at.radio(key=f"train_{NB}_data").set_value("Data of an earlier run").run()
    picker = at.selectbox(key=f"train_{NB}_data_run")
    assert picker.value == run_root.neighbour_id, "the default is the readable run"
    assert any("unreadable" in o and damage.says in o for o in picker.options), picker.options
    picker.set_value(run_root.damaged_id).run()
    assert_clean(at)
    errors = unescaped([e.value for e in at.error])
    assert any(f"Run {run_root.damaged_id} cannot be used" in e and damage.says in e for e in errors), errors


REPORT = "reports/calibration.json"


@pytest.mark.parametrize("payload, says", [
    (b"[1]", f"{REPORT} holds [1] instead of an object of fields"),
    (b'"text"', f"{REPORT} holds 'text' instead of an object"),
    (b'{"window": ', f"{REPORT} is not valid JSON"),
    (b"\xff\xfe", f"{REPORT} is not UTF-8"),
    (b"[" * 100_000, f"{REPORT} is nested too deeply"),
    (b"{" + b" " * (17 * 2**20) + b"}", f"{REPORT} is 17 MB, larger than any run writes"),
    (None, f"{REPORT} is a folder, not a file"),
], ids=["list", "text", "truncated", "not_utf8", "deep", "huge", "folder"])
def test_a_damaged_report_is_refused_naming_it(run_root, payload, says):
    """A model's own report (player props' calibration, the regression's fit) read through the same
    checks: the model's view then says why instead of failing on a missing key."""
    target = run_root.damaged / REPORT
    target.parent.mkdir()
    if payload is None:
        target.mkdir()
    else:
        target.write_bytes(payload)
    run = artifacts.load_run(NB, run_root.damaged_id)
    with pytest.raises(CorruptRunError, match=re.escape(says)):
        run.report("calibration")
    assert run.report("no_such_report") is None and run.report("../metadata") is None
    assert run.check().verdict, "the run itself stays usable"
