"""Predictive-check statistics fit the outcome's type; a statistic no data set can move is no alarm."""

from __future__ import annotations

import numpy as np
import pytest

from bayes_core import ppc
from bayes_core.registry import get_registry, resolve_model_class


def test_every_registered_model_declares_its_outcome_kind():
    registry = get_registry(refresh=True)
    for model_id, meta in registry.get_all_models().items():
        assert resolve_model_class(meta.model_class).outcome_kind in ppc.OUTCOME_KINDS, model_id


def test_count_statistics_and_p_values():
    observed = np.array([0, 0, 1, 2, 7])
    replicated = np.array([[0, 1, 1, 2, 3], [0, 0, 0, 1, 9], [1, 1, 1, 1, 1]])
    table, per_draw = ppc.check_statistics(observed, replicated, ppc.COUNT)
    rows = table.set_index("statistic")
    assert list(rows.index) == ["mean", "sd", "share of zeros", "max"]
    assert rows.loc["mean", "observed"] == 2.0
    assert rows.loc["mean", "p-value"] == pytest.approx(1 / 3)  # only the second data set has mean ≥ 2
    assert rows.loc["share of zeros", "observed"] == 0.4
    assert rows.loc["share of zeros", "p-value"] == pytest.approx(1 / 3)
    assert rows.loc["max", "p-value"] == pytest.approx(1 / 3)
    assert per_draw["max"].tolist() == [3, 9, 1]
    assert rows["informative"].all()


def test_continuous_returns_get_no_share_of_zeros_and_no_false_alarm():
    rng = np.random.default_rng(0)
    observed = 0.0005 + 0.01 * rng.standard_t(5, size=500)
    replicated = 0.0005 + 0.01 * rng.standard_t(5, size=(200, 500))
    table, _ = ppc.check_statistics(observed, replicated, ppc.CONTINUOUS)
    assert "share of zeros" not in set(table["statistic"])
    assert {"mean", "sd", "skewness"} <= set(table["statistic"])
    assert table["informative"].all()
    assert ((table["p-value"] > 0) & (table["p-value"] < 1)).all(), "no statistic pinned at p = 0 or 1"


def test_a_statistic_equal_on_every_side_is_not_informative_and_never_a_misfit():
    observed = np.array([0.1, -0.2, 0.3])
    replicated = np.array([[0.2, -0.1, 0.4], [0.05, 0.5, -0.3]])
    table, _ = ppc.check_statistics(observed, replicated, ppc.COUNT)  # counts statistics on continuous data
    zeros = table.set_index("statistic").loc["share of zeros"]
    assert zeros["p-value"] == 1.0 and not zeros["informative"]  # the old false alarm
    assert "share of zeros" not in ppc.misfits(table)


def test_a_constant_replicated_statistic_that_misses_the_data_is_still_a_misfit():
    observed = np.array([0, 0, 3, 4])
    replicated = np.array([[1, 2, 3, 4], [2, 2, 5, 1]])  # the model never produces a zero
    table, _ = ppc.check_statistics(observed, replicated, ppc.COUNT)
    assert "share of zeros" in ppc.misfits(table)


def test_binary_and_unknown_kinds():
    table, _ = ppc.check_statistics(np.array([0, 1, 1]), np.array([[1, 1, 0], [0, 0, 1]]), ppc.BINARY)
    assert list(table["statistic"]) == ["share of ones"]
    with pytest.raises(ValueError, match="unknown outcome kind"):
        ppc.statistics_for("ordinal")
    assert "share of zeros" in ppc.summary_rows(np.array([0, 1, 2]), ppc.COUNT)
    assert "share of zeros" not in ppc.summary_rows(np.array([0.1, 0.2]), ppc.CONTINUOUS)
