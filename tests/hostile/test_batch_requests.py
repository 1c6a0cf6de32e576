"""Hostile prediction requests (#11.4): batch CSVs, single requests and ``predict`` on the CLI.

A batch that cannot be used at all (no rows, a column named twice, a column no inference
parameter has) is refused whole with DataValidationError; a bad cell is a problem of its row and
field, as every other row error. Uses the session's tiny NB run (no sampling here)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bayes_core.data import read_csv
from bayes_core.errors import DataValidationError, InvalidParametersError

GOOD_ROW = "E000,2,5,0.9\n"
HEADER = "entity,windows,threshold,credible_level\n"

# (id, CSV text, text one of the problems must contain)
WHOLE_BATCH = [
    ("header_only", HEADER, "no rows: the file has a header but no requests"),
    ("header_only_one_column", "entity\n", "no rows"),
    ("unknown_column", "entity,windowz\nE000,2\n", "unknown column(s) 'windowz': the columns are the inference "
                                                  "parameters (entity, windows, threshold, credible_level)"),
    ("predictions_uploaded_back", HEADER.strip() + ",run_id,model_id\nE000,2,5,0.9,x,y\n", "unknown column(s) 'run_id', 'model_id'"),
    ("index_column", "," + HEADER + "0," + GOOD_ROW, "unknown column(s) 'Unnamed: 0'"),
    ("duplicate_header", "entity,windows,windows\nE000,1,3\n", "the header names column(s) 'windows' more than once"),
    ("empty_file", "", "cannot read the CSV"),
]

# (id, the cell given for `field` in row 3 (row 2 is good), field, message part)
ROW_PROBLEMS = [
    ("windows_blank", "", "windows", "empty, and a default would be used silently"),
    ("windows_nan_text", "nan", "windows", "empty, and a default would be used silently"),
    ("threshold_blank", "", "threshold", "leave the column out to use the default (5) everywhere"),
    ("credible_level_blank", "", "credible_level", "empty, and a default would be used silently"),
    ("entity_blank", "", "entity", "is required"),
    ("windows_1e308", "1e308", "windows", "is too large (at most ±9,007,199,254,740,992)"),
    ("windows_2e19", "20000000000000000000", "windows", "is too large"),
    ("windows_negative", "-1", "windows", "must be ≥ 1 (got -1)"),
    ("windows_fraction", "1.5", "windows", "1.5 is not a whole number"),
    ("windows_text", "two", "windows", "'two' is not a whole number"),
    ("windows_inf", "inf", "windows", "is not a whole number"),
    ("windows_100k_digits", "9" * 100_000, "windows", "is not a whole number"),
    ("threshold_above_max", "100001", "threshold", "must be ≤ 100000"),
    ("credible_level_inf", "inf", "credible_level", "must be a finite number"),
    ("credible_level_1e308", "1e308", "credible_level", "is too large"),
    ("credible_level_too_wide", "1", "credible_level", "must be ≤ 0.99"),
    ("credible_level_text", "=1+1", "credible_level", "'=1+1' is not a number"),
]
COLUMNS = ["entity", "windows", "threshold", "credible_level"]


@pytest.mark.parametrize(("csv", "expected"), [c[1:] for c in WHOLE_BATCH], ids=[c[0] for c in WHOLE_BATCH])
def test_unusable_batch_is_refused_whole(nb_model, nb_run, csv, expected):
    with pytest.raises(DataValidationError) as info:
        nb_model.predict_batch(read_csv(csv.encode()), nb_run)
    assert any(expected in p for p in info.value.problems), info.value.problems


@pytest.mark.parametrize(("cell", "field", "expected"), [c[1:] for c in ROW_PROBLEMS], ids=[c[0] for c in ROW_PROBLEMS])
def test_bad_cell_is_a_problem_of_its_row_and_field(nb_model, nb_run, cell, field, expected):
    bad = dict(zip(COLUMNS, GOOD_ROW.strip().split(",")), **{field: cell})
    csv = HEADER + GOOD_ROW + ",".join(bad[c] for c in COLUMNS) + "\n"
    results, problems = nb_model.predict_batch(read_csv(csv.encode()), nb_run)
    assert len(results) == 1, "the good row is still predicted"
    (problem,) = [p for p in problems if p["field"] == field]
    assert problem["row"] == 3 and expected in problem["message"], problem
    assert len(problem["message"]) < 300, "a huge cell is not echoed whole"


def test_a_column_left_out_uses_its_default(nb_model, nb_run):
    results, problems = nb_model.predict_batch(read_csv(b"entity\nE000\nE001\n"), nb_run)
    assert problems == [] and len(results) == 2


def test_a_blank_where_the_default_is_blank_is_not_a_problem(registry):
    from bayes_core.forms import blank_cells

    meta = registry.get_model_metadata("player_props")
    row = {"player": "P001", "opponent": "T01", "features": float("nan"), "minutes": float("nan")}
    assert set(blank_cells(row, meta.inference_params)) == {"minutes"}


@pytest.mark.parametrize(("params", "field", "message"), [
    ({"entity": "E000", "windowz": 3}, "windowz", "unknown parameter (known: entity, windows, threshold, credible_level)"),
    ({"entity": "E000", "x" * 100_000: 1}, "x" * 63 + "…", "unknown parameter"),
    ({"entity": "E000", "windows": float("inf")}, "windows", "is not a whole number"),
    ({"entity": "E000", "credible_level": 1e308}, "credible_level", "is too large"),
    ({"entity": "E000", "windows": True}, "windows", "True is not a whole number"),
])
def test_bad_single_request_names_the_field(nb_model, nb_run, params, field, message):
    with pytest.raises(InvalidParametersError) as info:
        nb_model.predict(params, nb_run)
    assert message in info.value.errors[field]


@pytest.mark.parametrize(("options", "message"), [
    ({"non_centred": True}, "non_centred: unknown parameter (known: non_centered, likelihood)"),
    ({"non_centered": "maybe"}, "non_centered: 'maybe' is not true/false"),
])
def test_unknown_or_bad_model_option_is_refused(registry, options, message):
    with pytest.raises(InvalidParametersError, match=message.replace("(", r"\(").replace(")", r"\)")):
        registry.load_model_instance("hierarchical_negbinom", options=options)


# -- the CLI: {"error": ...} and exit code 2, nothing written ------------------------------------------
@pytest.mark.parametrize(("csv", "params", "expected"), [
    (HEADER, [], "no rows"),
    (HEADER + GOOD_ROW + "E001,,5,0.9\n", [], "row 3 windows: empty"),
    ("entity,count,count\nE000,1,1\n", [], "more than once"),
    (None, ["entity=E000", "windowz=3"], "windowz: unknown parameter"),
    (None, ["entity=E000", "windows=1e308"], "windows: '1e308' is too large"),
    (HEADER + GOOD_ROW, ["colour=red"], "unknown column(s) 'colour'"),
], ids=["header_only", "blank_cell", "duplicate_header", "unknown_param", "huge_param", "unknown_param_column"])
def test_cli_predict_refuses_with_json_error_and_writes_nothing(nb_run, tmp_path, capsys, csv, params, expected):
    from bayes_core.cli import main

    out = tmp_path / "pred.csv"
    argv = ["predict", "hierarchical_negbinom", "--run", nb_run.run_id, "--out", str(out), "--json"]
    if csv is not None:
        (tmp_path / "in.csv").write_text(csv)
        argv += ["--input", str(tmp_path / "in.csv")]
    for p in params:
        argv += ["--param", p]
    assert main(argv) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert expected in error and "Traceback" not in error
    assert not out.exists()


def test_cli_predict_escapes_formula_cells_in_its_csv(nb_run, tmp_path, capsys):
    from bayes_core.cli import main

    out = tmp_path / "pred.csv"
    payload = "=HYPERLINK(\"https://evil.example\",\"x\")"
    assert main(["predict", "hierarchical_negbinom", "--run", nb_run.run_id, "--param", f"entity={payload}",
                 "--out", str(out), "--json"]) == 0
    table = pd.read_csv(out)
    assert table.loc[0, "entity"] == "'" + payload
    assert pd.api.types.is_float_dtype(table["rate_mean"]) and (table["rate_mean"] > 0).all()  # numbers stay numbers
