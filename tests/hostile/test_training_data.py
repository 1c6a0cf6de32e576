"""Hostile training CSVs (#11.4): each ends in a DataValidationError naming the column and rows
(or the file's problem), before any model is built or sampled."""

from __future__ import annotations

import pytest

from bayes_core.errors import DataValidationError

NB_ROWS = "entity,count\nA,1\nB,2\nC,3\n"
PROPS_HEADER = "date,player_id,opponent_id,was_home,minutes,goals,shots,cards\n"
PROPS_ROW = "2025-08-02,P001,T01,true,90,{goals},{shots},{cards}\n"


def props(goals="0", shots="1", cards="0") -> str:
    return PROPS_HEADER + PROPS_ROW.format(goals=goals, shots=shots, cards=cards) * 2


def returns(value: str, n: int = 60) -> str:
    return "return\n" + "0.01\n-0.02\n" * (n // 2) + f"{value}\n"


# (id, model id, CSV text, text the message must contain)
CASES = [
    ("count_1e308", "hierarchical_negbinom", NB_ROWS + "D,1e308\n", "column 'count': value beyond ±9.01e+15 in row 5"),
    ("count_2e19", "hierarchical_negbinom", NB_ROWS + "D,20000000000000000000\n", "column 'count': value beyond ±9.01e+15"),
    ("count_below_int64", "hierarchical_negbinom", NB_ROWS + "D,-9223372036854775809\n", "column 'count': value beyond"),
    ("count_above_model_max", "hierarchical_negbinom", NB_ROWS + "D,10000000000\n", "column 'count': value above 1e+09 in row 5"),
    ("count_negative", "hierarchical_negbinom", NB_ROWS + "D,-1\n", "column 'count': negative value in row 5"),
    ("count_fraction", "hierarchical_negbinom", NB_ROWS + "D,1.5\n", "column 'count': not a whole number in row 5"),
    ("count_inf", "hierarchical_negbinom", NB_ROWS + "D,inf\n", "column 'count': infinite value in row 5"),
    ("count_nan", "hierarchical_negbinom", NB_ROWS + "D,nan\n", "column 'count': empty value in row 5"),
    ("count_blank", "hierarchical_negbinom", NB_ROWS + "D,\n", "column 'count': empty value in row 5"),
    ("count_text", "hierarchical_negbinom", NB_ROWS + "D,lots\n", "column 'count': not a number in row 5"),
    ("entity_blank", "hierarchical_negbinom", NB_ROWS + ",4\n", "column 'entity': empty value in row 5"),
    ("duplicate_header", "hierarchical_negbinom", "entity,count,count\nA,1,100\nB,2,200\n",
     "the header names column(s) 'count' more than once; keep one column per name"),
    ("duplicate_header_spaces", "hierarchical_negbinom", "entity, count,count \nA,1,100\nB,2,200\n",
     "the header names column(s) 'count' more than once"),
    ("duplicate_header_twice", "hierarchical_negbinom", "entity,entity,count,count\nA,A,1,1\nB,B,2,2\n",
     "column(s) 'entity', 'count' more than once"),
    ("header_only", "hierarchical_negbinom", "entity,count\n", "needs at least 2 rows, got 0"),
    ("empty_file", "hierarchical_negbinom", "", "cannot read the CSV: the file is empty (no header line)"),
    ("blank_lines_only", "hierarchical_negbinom", "\n\n", "cannot read the CSV: the file is empty"),
    ("missing_column", "hierarchical_negbinom", "entity,counts\nA,1\nB,2\n", "missing column(s): count"),
    ("ragged_rows", "hierarchical_negbinom", "entity,count\nA,1\nB,2,3,4\n", "cannot read the CSV"),
    ("huge_field_in_header", "hierarchical_negbinom", "entity," + "c" * 200_000 + "\nA,1\n", "cannot read the CSV header"),
    ("goals_above_max", "player_props", props(goals="31"), "column 'goals': value above 30 in rows 2, 3"),
    ("shots_1e308", "player_props", props(shots="1e308"), "column 'shots': value beyond ±9.01e+15"),
    ("cards_above_max", "player_props", props(cards="6"), "column 'cards': value above 5"),
    ("return_1e308", "bayesian_sharpe", returns("1e308"), "column 'return': value beyond ±100 in row 62"),
    ("return_as_price", "bayesian_sharpe", returns("4150.25"), "column 'return': value beyond ±100"),
    ("return_minus_inf", "stochastic_volatility", returns("-inf"), "column 'return': infinite value in row 62"),
    ("sv_return_huge", "stochastic_volatility", returns("-1e200"), "column 'return': value beyond ±100"),
    ("lr_target_1e308", "bayesian_linear_regression", "y,x1\n1,2\n2,3\n3,5\n1e308,1\n",
     "column 'y': value beyond ±1e+15 in row 5"),
    ("lr_feature_1e300", "bayesian_linear_regression", "y,x1\n1,2\n2,3\n3,5\n4,1e300\n", "value beyond ±1e+15"),
    ("pairs_price_1e308", "pairs_trading", "y,x\n" + "1,2\n" * 3 + "1e308,2\n", "column 'y': value beyond ±1e+15"),
    ("strategy_1e300", "strategy_comparison", "a,b\n" + "0.01,0.02\n-0.01,0.0\n" * 30 + "1e300,0.01\n",
     "strategy 'a': value beyond ±1e+15"),
]


@pytest.mark.parametrize(("model_id", "csv", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_training_csv_is_refused_with_its_column_and_rows(registry, model_id, csv, expected):
    model = registry.load_model_instance(model_id)
    with pytest.raises(DataValidationError) as info:
        model.load_data(csv.encode())
    assert any(expected in p for p in info.value.problems), info.value.problems


@pytest.mark.parametrize("kind", ["folder", "missing"])
def test_a_path_that_is_not_a_csv_file(registry, tmp_path, kind):
    from bayes_core.data import read_csv

    path = tmp_path / "data.csv"
    if kind == "folder":
        path.mkdir()
    with pytest.raises(DataValidationError, match="is a folder" if kind == "folder" else "file not found"):
        read_csv(path)


def test_a_duplicated_column_in_a_dataframe_is_refused(registry):
    import pandas as pd

    frame = pd.DataFrame([["A", 1, 100], ["B", 2, 200]], columns=["entity", "count", "count"])
    with pytest.raises(DataValidationError, match="'count' more than once"):
        registry.load_model_instance("hierarchical_negbinom").load_data(frame)


def test_every_problem_of_a_file_is_listed_at_once(registry):
    csv = "entity,count\nA,1e308\n,2\nC,-1\nD,1.5\n"
    with pytest.raises(DataValidationError) as info:
        registry.load_model_instance("hierarchical_negbinom").load_data(csv.encode())
    text = "\n".join(info.value.problems)
    for part in ("empty value in row 3", "value beyond", "row 2", "negative value in row 4", "not a whole number in row 5"):
        assert part in text
