"""Data schemas that depend on model options say so (issue #12.1), and say which option to set.

The probe below changes each option of every registered model to other valid values and watches
what the data must hold — the schema (columns, fewest rows) and what loading the example data
gives. An option that changes either must be declared in ``depends_on_options``: the Training page
re-validates the data only for declared options, so an undeclared one would let a page guess.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from bayes_core.data import Column, DataSchema, OptionRef
from bayes_core.errors import DataValidationError, InvalidParametersError
from bayes_core.registry import get_registry

MODEL_IDS = get_registry(refresh=True).model_ids()


def _probe_values(spec, example: pd.DataFrame, date_columns: list[str]) -> list:
    """Other valid-looking values of one option, drawn from its type and the example data (its
    numeric column names, the middle of its dates)."""
    if spec.type == "boolean":
        return [not bool(spec.default)]
    if spec.type == "select":
        return [o for o in spec.options or [] if o != spec.default]
    if spec.type in ("integer", "float"):
        cast = int if spec.type == "integer" else float
        default = spec.default if spec.default is not None else 1
        values = [spec.min_value, spec.max_value, default * 2, default + 1]
        return [cast(v) for v in values if v is not None and v != spec.default]
    numeric = [str(c) for c in example.columns if pd.api.types.is_numeric_dtype(example[c])]
    middle = [pd.to_datetime(example[c]).sort_values().iloc[len(example) // 2].strftime("%Y-%m-%d")
              for c in date_columns if c in example.columns]
    return [*numeric, ",".join(numeric[:2]), *middle]


def _what_the_data_must_hold(model, example: pd.DataFrame) -> tuple:
    schema = model.data_schema()
    columns = tuple((c.name, c.kind, c.required) for c in schema.columns)
    try:
        frame = model.load_data(example)
        loaded = ("ok", hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest())
    except DataValidationError as exc:
        loaded = ("refused", tuple(exc.problems))
    return columns, schema.min_rows, loaded


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_every_option_that_changes_what_the_data_must_hold_is_declared(model_id):
    registry = get_registry()
    default = registry.load_model_instance(model_id)
    example = default.example_data()
    baseline = _what_the_data_must_hold(default, example)
    declared = default.data_schema().depends_on_options
    dates = [c.name for c in default.data_schema().columns if c.kind == "date"]
    options = {spec.name: spec for spec in default.metadata.model_options}
    assert set(declared) <= set(options), f"declared options that the model does not have: {declared}"
    for name, spec in options.items():
        changed = probed = False
        for value in _probe_values(spec, example, dates):
            try:
                model = registry.load_model_instance(model_id, options={name: value})
            except InvalidParametersError:
                continue
            probed = True
            if _what_the_data_must_hold(model, example) != baseline:
                changed = True
                break
        if changed:
            assert name in declared, f"{model_id}: option {name}={value!r} changes the data's requirements: declare it"
        elif probed:
            assert name not in declared, f"{model_id}: {name} is declared but no value changed the data's requirements"


def test_declared_dependence_of_the_models_named_in_the_issue(registry):
    """Linear regression's columns, pairs trading's window (fewest rows), player props' features and
    windows depend on options; the Sharpe models' periods per year and risk-free rate do not."""
    def declared(model_id):
        return set(registry.load_model_instance(model_id).data_schema().depends_on_options)

    assert declared("bayesian_linear_regression") == {"target", "features"}
    assert declared("pairs_trading") == {"window"}
    assert declared("player_props") == {"features", "train_start", "train_end", "val_end"}
    assert declared("bayesian_sharpe") == declared("strategy_comparison") == declared("hierarchical_negbinom") == set()


def _schema(*columns: Column, **kw) -> DataSchema:
    return DataSchema(columns=columns, depends_on_options=("target", "features"), **kw)


TARGET = OptionRef("target", "Target column")
FEATURES = OptionRef("features", "Feature columns", many=True)
SALES = pd.DataFrame({"sales": [1.0, 2, 4], "price": [3.0, 1, 2], "ads": [0.0, 1, 1], "region": ["n", "s", "n"]})


def test_a_missing_column_named_by_an_option_says_which_option_to_set_and_to_what():
    with pytest.raises(DataValidationError) as info:
        _schema(Column("y", "float", option=TARGET)).validate(SALES)
    assert info.value.problems == ["no column 'y': set the Target column option (target) to one of sales, price, ads"]


def test_an_option_listing_columns_offers_the_files_columns_without_another_role():
    schema = _schema(Column("sales", "float", option=TARGET), Column("price", "float", option=FEATURES),
                     Column("tv", "float", option=FEATURES))
    with pytest.raises(DataValidationError) as info:
        schema.validate(SALES)
    assert info.value.problems == ["no column 'tv': the Feature columns option (features) lists it; "
                                   "list only numeric columns of this file: price, ads"]


def test_fixed_columns_keep_the_plain_message_and_a_file_without_candidates_says_so():
    schema = _schema(Column("date", "date"), Column("y", "float", option=TARGET))
    with pytest.raises(DataValidationError) as info:
        schema.validate(pd.DataFrame({"region": ["n", "s"]}))
    assert info.value.problems == [
        "missing column(s): date (expected: date, y)",
        "no column 'y' (the Target column option (target) names it), and this file has no numeric columns "
        "to name instead"]


def test_a_column_named_by_an_undeclared_option_is_a_programming_error():
    with pytest.raises(ValueError, match="need them in depends_on_options"):
        DataSchema(columns=(Column("y", "float", option=TARGET),))


def test_fewest_rows_set_by_an_option_say_why():
    schema = DataSchema(columns=(Column("x", "float"),), min_rows=5, depends_on_options=("window",),
                        min_rows_reason="the window option sets it")
    with pytest.raises(DataValidationError) as info:
        schema.validate(pd.DataFrame({"x": [1.0, 2.0]}))
    assert info.value.problems == ["needs at least 5 rows (the window option sets it), got 2"]


def test_pairs_trading_data_too_short_for_the_window_names_the_option(registry):
    model = registry.load_model_instance("pairs_trading", options={"window": 100})
    with pytest.raises(DataValidationError) as info:
        model.load_data(model.example_data().head(50))
    assert info.value.problems == ["needs at least 101 rows (two rolling windows of 100 days: lower the "
                                   "Window (days) option (window) or add rows), got 50"]


def test_several_missing_columns_of_one_option_are_one_problem():
    schema = _schema(Column("sales", "float", option=TARGET), Column("tv", "float", option=FEATURES),
                     Column("radio", "float", option=FEATURES))
    with pytest.raises(DataValidationError) as info:
        schema.validate(SALES)
    assert info.value.problems == ["no columns 'tv', 'radio': the Feature columns option (features) lists them; "
                                   "list only numeric columns of this file: price, ads"]
