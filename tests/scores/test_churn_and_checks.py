"""Churn risk from p_alive and engagement decay; holdout baselines; the score checks catch bad rows."""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
import numpy as np
import pandas as pd
import pytest

from decision_engine.scores import TransactionColumns
from decision_engine.scores.checks import check_calibration, check_score_ranges
from decision_engine.scores.churn import churn_risk, engagement_factor
from decision_engine.scores.holdout import holdout_purchases
from decision_engine.store import write_results

NOW = datetime(2026, 4, 1, tzinfo=UTC)


def test_engagement_factor_holds_then_halves_every_sixty_days():
    factor = engagement_factor(np.array([0.0, 30.0, 90.0, 150.0, np.nan]))
    assert factor == pytest.approx([1.0, 1.0, 0.5, 0.25, 0.5])


def test_churn_risk_tiers_and_segments():
    p_alive = pd.Series([0.95, 0.95, 0.2, 0.9], index=["recent", "silent", "gone", "never"])
    engaged = pd.Series([datetime(2026, 3, 30), datetime(2025, 10, 3)], index=["recent", "silent"])
    got = churn_risk(p_alive, engaged, datetime(2026, 4, 1))
    assert got.loc["recent", "churn_risk"] == pytest.approx(0.05)
    assert got.loc["silent", "churn_risk"] == pytest.approx(1 - 0.95 * 0.5 ** (150 / 60))
    assert list(got["churn_tier"]) == ["low", "high", "high", "medium"]
    assert list(got["segment"]) == ["active", "at_risk", "lapsed", "at_risk"]
    assert np.isnan(got.loc["never", "days_since_last_engagement"])


def test_holdout_purchases_count_days_inside_the_window_only():
    frame = pd.DataFrame(
        {
            "c": ["a", "a", "a", "a", "b", "b"],
            "d": ["2024-01-31", "2024-02-01", "2024-02-01", "2024-03-02", "2024-03-01", "2024-03-02"],
        }
    )
    got = holdout_purchases(
        frame, TransactionColumns("c", "d"), np.array(["a", "b", "z"]), date(2024, 1, 31), 30
    )
    # a: 1 Feb (twice = one day) inside; 31 Jan is the calibration end; 2 Mar is day 31. b: 1 Mar is day 30.
    assert list(got) == [1.0, 1.0, 0.0]


def _warehouse(tmp_path, p_alive: float, calibration_error: float) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    write_results(
        con, "customer_value",
        pd.DataFrame({"analysis_timestamp": [NOW], "analysis_date": [date(2026, 3, 31)], "contact_id": ["a"],
                      "p_alive": [p_alive], "expected_purchases": [0.4], "expected_value": [12.0]}),
    )  # fmt: skip
    write_results(
        con, "score_models",
        pd.DataFrame([
            {"analysis_timestamp": NOW, "score": "customer_value", "status": "scored", "validation_mae": 0.30,
             "baseline_past_rate_mae": 0.31, "baseline_population_mae": 0.35, "validation_predicted_total": 110.0,
             "validation_actual_total": 100.0},
            {"analysis_timestamp": NOW, "score": "lead_scores", "status": "scored", "auc": 0.8,
             "calibration_error": calibration_error},
        ]),
    )  # fmt: skip
    return con


def test_range_check_catches_a_probability_outside_zero_one(tmp_path):
    (tmp_path / "ok").mkdir()
    (tmp_path / "bad").mkdir()
    assert check_score_ranges(_warehouse(tmp_path / "ok", 0.7, 0.01), "customer_value").passed
    outcome = check_score_ranges(_warehouse(tmp_path / "bad", 1.2, 0.01), "customer_value")
    assert not outcome.passed and outcome.metadata["p_alive_outside_0_1"] == 1


def test_calibration_check_fails_on_a_badly_calibrated_lead_model(tmp_path):
    (tmp_path / "ok").mkdir()
    (tmp_path / "bad").mkdir()
    assert check_calibration(_warehouse(tmp_path / "ok", 0.7, 0.01)).passed
    outcome = check_calibration(_warehouse(tmp_path / "bad", 0.7, 0.2))
    assert not outcome.passed and outcome.metadata["lead_calibration_error"] == 0.2
