"""Calibration metrics against small cases computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bayes_core.calibration import (bin_index, brier_score, calibration_metrics, expected_calibration_error,
                                    log_loss, reliability_table)

# Six forecasts in three of the ten bins:
#   bin 1 [0.1, 0.2): p = 0.1, 0.1 with y = 0, 1  → mean p 0.10, freq 0.5,  gap 0.40, weight 2/6
#   bin 6 [0.6, 0.7): p = 0.6       with y = 1     → mean p 0.60, freq 1.0,  gap 0.40, weight 1/6
#   bin 9 [0.9, 1.0]: p = 0.9, 0.9, 1.0, y = 1,1,0 → mean p 0.9333, freq 2/3, gap 0.2667, weight 3/6
P = [0.1, 0.1, 0.6, 0.9, 0.9, 1.0]
Y = [0, 1, 1, 1, 1, 0]


def test_ece_matches_hand_computation():
    expected = (2 / 6) * 0.4 + (1 / 6) * 0.4 + (3 / 6) * abs(2.8 / 3 - 2 / 3)
    assert expected_calibration_error(P, Y) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(0.333333333, abs=1e-6)


def test_bins_are_equal_width_and_one_falls_in_the_last_bin():
    assert bin_index(np.array([0.0, 0.0999, 0.1, 0.55, 0.9999, 1.0])).tolist() == [0, 0, 1, 5, 9, 9]


def test_reliability_table_counts_and_frequencies():
    table = reliability_table(P, Y)
    assert [row["count"] for row in table] == [0, 2, 0, 0, 0, 0, 1, 0, 0, 3]
    assert table[0]["mean_predicted"] is None and table[0]["observed_frequency"] is None
    assert table[9]["mean_predicted"] == pytest.approx(2.8 / 3)
    assert table[9]["observed_frequency"] == pytest.approx(2 / 3)
    assert table[1]["bin_low"] == pytest.approx(0.1) and table[1]["bin_high"] == pytest.approx(0.2)


def test_brier_and_log_loss_by_hand():
    assert brier_score(P, Y) == pytest.approx((0.01 + 0.81 + 0.16 + 0.01 + 0.01 + 1.0) / 6)
    p, y = [0.8, 0.25], [1, 0]
    assert log_loss(p, y) == pytest.approx(-(math.log(0.8) + math.log(0.75)) / 2)
    # A confident miss is large but finite (clipped at 1e-15).
    assert math.isfinite(log_loss([1.0], [0])) and log_loss([1.0], [0]) == pytest.approx(-math.log(1e-15), rel=1e-3)


def test_perfect_calibration_has_zero_ece():
    p = np.repeat([0.25, 0.75], 4)
    y = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    assert expected_calibration_error(p, y) == pytest.approx(0.0)
    metrics = calibration_metrics(p, y)
    assert metrics["n"] == 8 and metrics["base_rate"] == pytest.approx(0.5) and metrics["ece"] == pytest.approx(0.0)


@pytest.mark.parametrize("p, y, message", [
    ([0.2, 1.2], [0, 1], r"\[0, 1\]"),
    ([0.2], [2], "0 or 1"),
    ([0.2, 0.3], [1], "length"),
    ([], [], "no forecasts"),
])
def test_bad_inputs_are_refused(p, y, message):
    with pytest.raises(ValueError, match=message):
        expected_calibration_error(p, y)
