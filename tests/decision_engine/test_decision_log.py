"""results.decision_log on real DuckDB files: predictions, measurement windows, verdicts, calibration."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from queue_helpers import DAY, LATER, POLICY, STAMP, budget_action, queue, rollout_action
from scipy import stats

from decision_engine.actions import ProposedAction
from decision_engine.decision_log import MIN_JUDGED, calibration, write_decision_log
from decision_engine.queue import WriteRecord, govern, record_write, reject
from decision_engine.store import ensure_results_table

EVIDENCE = {
    "expected_daily_revenue_current": 1000.0,
    "expected_daily_revenue_recommended": 1030.0,
    "expected_daily_revenue_current_interval": [950.0, 1052.0],
    "expected_revenue_change_interval": [0.02, 0.04],
    "revenue_interval_level": 0.9,
    "revenue_measure": "platform_revenue",
}
WINDOW = [1050.0, 980.0, 1100.0, 1020.0, 1075.0, 990.0, 1040.0]  # the 7 days after the write
TEST_ID = "lw-quick_read-20260501"


def _budget(target: str = "adset1", new: float = 105.0, current: float = 100.0, **evidence) -> ProposedAction:
    return replace(budget_action(target, new, current), evidence={**EVIDENCE, **evidence})


def _execute(con, action_id: str, at: datetime, value: float = 105.0) -> None:
    write = WriteRecord(
        mode="execute",
        status="executed",
        entity_type="adset",
        entity_id="adset1",
        field="daily_budget",
        value_requested=value,
        value_before=100.0,
        value_after=value,
    )
    record_write(con, action_id, write, at, POLICY)


def _table(con, name: str, frame: pd.DataFrame) -> None:
    con.register("source_frame", frame)
    con.execute(f"create or replace table {name} as select * from source_frame")
    con.unregister("source_frame")


def _ad_mart(con, revenue_by_day: dict[date, float], loaded_through: date) -> None:
    """marts.fct_ad_performance_daily with adset1's revenue split over two ads, and another entity
    loaded through ``loaded_through``."""
    rows = []
    for day, revenue in revenue_by_day.items():
        rows += [
            ("meta_ads", "adset1", day, 0.4 * revenue, False),
            ("meta_ads", "adset1", day, 0.6 * revenue, False),
        ]
    rows.append(("meta_ads", "adset9", loaded_through, 5.0, False))
    con.execute("create schema if not exists marts")
    frame = pd.DataFrame(
        rows, columns=["platform", "budget_entity_id", "date_day", "conversions_value", "is_quarantined"]
    )
    _table(con, "marts.fct_ad_performance_daily", frame)


def _window(start: date, values: list[float]) -> dict[date, float]:
    return {start + timedelta(days=i): v for i, v in enumerate(values)}


def _log(con) -> pd.DataFrame:
    return con.execute("select * from results.decision_log").df().set_index("action_id")


def _reference_realized(
    observed: list[float], forecast: float, low: float, high: float
) -> tuple[float, float, float]:
    """The counterfactual estimate written out independently: log ratio, Student t on Welch-Satterthwaite."""
    values = np.array(observed)
    z = stats.norm.ppf(0.95)
    observed_var = (values.std(ddof=1) / values.mean()) ** 2 / len(values)
    forecast_var = (np.log(high / low) / (2 * z)) ** 2
    freedom = (observed_var + forecast_var) ** 2 / (observed_var**2 / (len(values) - 1))
    log_ratio = np.log(values.mean() / forecast)
    half = stats.t.ppf(0.95, freedom) * math.sqrt(observed_var + forecast_var)
    return math.expm1(log_ratio), math.expm1(log_ratio - half), math.expm1(log_ratio + half)


def test_a_budget_move_is_pending_until_its_window_matures_then_judged(con):
    (action_id,) = queue(con, _budget())
    govern(con, POLICY, LATER)
    _execute(con, action_id, LATER)
    start = LATER.date()
    _ad_mart(
        con,
        _window(start - timedelta(days=7), [990.0] * 7) | _window(start, WINDOW),
        start + timedelta(days=13),
    )

    write_decision_log(con, LATER + timedelta(days=8))
    row = _log(con).loc[action_id]
    assert row["evaluation_method"] == "model_counterfactual" and row["horizon_days"] == 7
    assert row["predicted_metric"] == "daily_revenue"
    assert row["predicted_impact"] == pytest.approx(0.03)
    assert [row["predicted_impact_low"], row["predicted_impact_high"]] == [0.02, 0.04]
    assert row["predicted_daily_revenue_change"] == pytest.approx(30.0)
    assert row["evaluate_after"] == pd.Timestamp(start + timedelta(days=14), tz=UTC)
    assert row["verdict"] == "pending" and pd.isna(row["realized_impact"])
    assert "measured after " + (start + timedelta(days=14)).isoformat() in row["impact_summary"]

    write_decision_log(con, LATER + timedelta(days=15))
    row = _log(con).loc[action_id]
    point, low, high = _reference_realized(WINDOW, 1000.0, 950.0, 1052.0)
    assert row["realized_impact"] == pytest.approx(point, rel=1e-9)
    assert [row["realized_impact_low"], row["realized_impact_high"]] == pytest.approx([low, high], rel=1e-9)
    assert row["realized_daily_revenue_change"] == pytest.approx(np.mean(WINDOW) - 1000.0)
    # +3.7% measured to within about +-7%: noisier than the +3% predicted, so no verdict; it still
    # lands inside the predictive interval (+3% widened by the measurement's noise) for the calibration
    assert row["verdict"] == "inconclusive" and row["inside_predicted_interval"] == True  # noqa: E712
    assert "too noisy to judge" in row["impact_summary"]
    result = calibration(con)
    assert (result["matured"], result["judged"], result["conclusive"], result["inside_90"]) == (1, 1, 0, 1)


def test_a_noisy_measurement_far_from_its_prediction_counts_as_a_miss(con):
    # the week earned 30% less than the forecast at the old budget, known to +-5%, against +3% predicted
    (action_id,) = queue(con, _budget())
    govern(con, POLICY, LATER)
    _execute(con, action_id, LATER)
    _ad_mart(con, _window(LATER.date(), [0.7 * v for v in WINDOW]), LATER.date() + timedelta(days=20))
    write_decision_log(con, LATER + timedelta(days=15))
    row = _log(con).loc[action_id]
    assert (
        row["verdict"] == "inconclusive" and row["realized_impact_high"] - row["realized_impact_low"] > 0.06
    )
    assert row["inside_predicted_interval"] == False  # noqa: E712
    assert calibration(con)["inside_90"] == 0


def test_a_window_the_mart_has_not_loaded_stays_pending(con):
    (action_id,) = queue(con, _budget())
    govern(con, POLICY, LATER)
    _execute(con, action_id, LATER)
    _ad_mart(con, _window(LATER.date(), WINDOW[:4]), LATER.date() + timedelta(days=3))
    write_decision_log(con, LATER + timedelta(days=30))
    assert _log(con).loc[action_id, "verdict"] == "pending"


def test_a_quarantined_day_is_left_out_and_a_day_without_rows_earned_nothing(con):
    (action_id,) = queue(con, _budget())
    govern(con, POLICY, LATER)
    _execute(con, action_id, LATER)
    start = LATER.date()
    window = _window(start, WINDOW)
    del window[start + timedelta(days=5)]  # no rows that day
    _ad_mart(con, window, start + timedelta(days=13))
    con.execute(
        "update marts.fct_ad_performance_daily set is_quarantined = true, conversions_value = null "
        "where budget_entity_id = 'adset1' and date_day = ? and conversions_value < 0.5 * ?",
        [start + timedelta(days=2), WINDOW[2]],
    )
    write_decision_log(con, LATER + timedelta(days=15))
    expected = [WINDOW[0], WINDOW[1], WINDOW[3], WINDOW[4], 0.0, WINDOW[6]]
    point, *_ = _reference_realized(expected, 1000.0, 950.0, 1052.0)
    assert _log(con).loc[action_id, "realized_impact"] == pytest.approx(point, rel=1e-9)


def test_a_precise_measurement_is_judged_against_the_predicted_interval(con):
    steady = [1300.0, 1302.0, 1298.0, 1301.0, 1299.0, 1300.0, 1300.0]  # +30% on a forecast known to +-0.1%
    (action_id,) = queue(con, _budget(expected_daily_revenue_current_interval=[999.0, 1001.0]))
    govern(con, POLICY, LATER)
    _execute(con, action_id, LATER)
    _ad_mart(con, _window(LATER.date(), steady), LATER.date() + timedelta(days=20))
    write_decision_log(con, LATER + timedelta(days=15))
    row = _log(con).loc[action_id]
    assert row["realized_impact"] == pytest.approx(0.3, abs=1e-3)
    assert row["verdict"] == "better" and not row["inside_predicted_interval"]

    result = calibration(con)
    assert result["matured"] == 1 and result["judged"] == 1 and result["inside_90"] == 0
    assert result["conclusive"] == 1 and result["calibration_conclusive"] is None
    assert result["calibration"] is None  # one judged change says nothing yet
    assert result["realized_vs_predicted"] == pytest.approx(row["realized_impact"] / 0.03, rel=1e-3)
    assert result["by_verdict"]["better"] == 1


def test_the_next_change_to_the_same_budget_cuts_the_window_short(con):
    (first,) = queue(con, _budget())
    govern(con, POLICY, LATER)
    _execute(con, first, LATER)
    later_day, later_at = DAY + timedelta(days=3), LATER + timedelta(days=3)
    (second,) = queue(con, _budget(new=108.0, current=105.0), day=later_day, stamp=STAMP + timedelta(days=3))
    govern(con, POLICY, later_at)
    _execute(con, second, later_at, value=108.0)
    _ad_mart(con, _window(LATER.date(), WINDOW * 2), LATER.date() + timedelta(days=13))
    write_decision_log(con, LATER + timedelta(days=30))
    log = _log(con)
    assert log.loc[first, "horizon_days"] == 3 and log.loc[second, "horizon_days"] == 7
    assert log.loc[first, "evaluate_after"] == pd.Timestamp(LATER.date() + timedelta(days=3 + 7), tz=UTC)
    first_point, *_ = _reference_realized(WINDOW[:3], 1000.0, 950.0, 1052.0)
    assert log.loc[first, "realized_impact"] == pytest.approx(first_point, rel=1e-9)


def test_decisions_that_changed_nothing_keep_one_row_and_no_measurement(con):
    executed, rejected = queue(con, _budget(), _budget("adset2"))
    govern(con, POLICY, LATER)
    _execute(con, executed, LATER)
    reject(con, rejected, "ana", "not now", LATER)
    assert write_decision_log(con, LATER + timedelta(days=1)) == 2
    row = _log(con).loc[rejected]
    assert row["status"] == "rejected" and row["predicted_impact"] == pytest.approx(0.03)
    assert pd.isna(row["evaluation_method"]) and pd.isna(row["verdict"]) and pd.isna(row["executed_at"])


def test_curves_in_other_units_than_platform_revenue_are_not_measured(con):
    (action_id,) = queue(con, _budget(revenue_measure="customer_value"))
    govern(con, POLICY, LATER)
    _execute(con, action_id, LATER)
    write_decision_log(con, LATER + timedelta(days=30))
    row = _log(con).loc[action_id]
    assert pd.isna(row["evaluation_method"]) and "customer_value units" in row["impact_summary"]


# ---- rollouts ---------------------------------------------------------------------------------


def _decision(con, lift: float = 0.12, low: float = 0.02, high: float = 0.23) -> None:
    ensure_results_table(con, "experiment_decisions")
    con.execute(
        "insert into results.experiment_decisions (analysis_timestamp, analysis_date, experiment_id, decision, "
        "target_variant, primary_metric, relative_lift, relative_ci_lower, relative_ci_upper) "
        "values (?, ?, ?, 'ship', 'variant', 'click_rate', ?, ?, ?)",
        [STAMP, DAY, f"loopwise:{TEST_ID}", lift, low, high],
    )


def _assignments_and_sends(con, shipped_at: datetime, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """600 contacts: 50/50 before the ship, then 5% held back; campaign sends before and after it."""
    contacts = np.arange(600)
    holdback = contacts % 20 == 0
    assigned = [(TEST_ID, f"c{c}", f"p{c}", "variant" if c % 2 else "control", shipped_at - timedelta(days=30))
                for c in contacts]  # fmt: skip
    assigned += [
        (TEST_ID, f"c{c}", f"p{c}", "holdback" if holdback[c] else "variant", shipped_at) for c in contacts
    ]
    assignments = pd.DataFrame(
        assigned, columns=["experiment_id", "contact_id", "klaviyo_profile_id", "arm", "assigned_at"]
    )
    _table(con, "results.experiment_assignments", assignments)
    sends, clicks, delivered = [], np.zeros(600), np.zeros(600)
    for week in range(-2, 4):
        sent_at = shipped_at + timedelta(days=7 * week + 1)
        for c in contacts:
            is_delivered = rng.random() < 0.97
            clicked = is_delivered and rng.random() < (0.03 if holdback[c] else 0.04)
            sends.append((f"c{c}", "campaign", sent_at, is_delivered, clicked))
            if week >= 0:
                clicks[c] += clicked
                delivered[c] += is_delivered
    con.execute("create schema if not exists marts")
    frame = pd.DataFrame(sends, columns=["contact_id", "send_type", "sent_at", "is_delivered", "is_clicked"])
    _table(con, "marts.fct_email_sends", frame)
    return holdback, clicks, delivered


def test_a_rollout_with_a_holdback_is_measured_on_its_arms_after_the_ship(con):
    _decision(con)
    rollout = rollout_action(f"loopwise:{TEST_ID}")
    (action_id,) = queue(con, rollout)
    govern(con, POLICY, LATER)
    record_write(
        con,
        action_id,
        WriteRecord("execute", "executed", "profile_property", TEST_ID, "lw_arm", "variant"),
        LATER,
        POLICY,
    )
    holdback, clicks, delivered = _assignments_and_sends(con, LATER, np.random.default_rng(4))

    write_decision_log(con, LATER + timedelta(days=20))
    row = _log(con).loc[action_id]
    assert row["evaluation_method"] == "ship_holdback" and row["horizon_days"] == 28
    assert row["predicted_metric"] == "click_rate" and row["predicted_impact"] == pytest.approx(0.12)
    z95, z90 = stats.norm.ppf(0.975), stats.norm.ppf(0.95)
    expected_low = math.expm1(math.log1p(0.12) - z90 / z95 * (math.log1p(0.12) - math.log1p(0.02)))
    assert row["predicted_impact_low"] == pytest.approx(expected_low)
    assert row["verdict"] == "pending"

    write_decision_log(con, LATER + timedelta(days=40))
    row = _log(con).loc[action_id]
    ratio = (clicks[~holdback].sum() / delivered[~holdback].sum()) / (
        clicks[holdback].sum() / delivered[holdback].sum()
    )
    assert row["realized_impact"] == pytest.approx(ratio - 1, rel=1e-9)  # only sends after the ship, by arm
    assert row["realized_impact_low"] < row["realized_impact"] < row["realized_impact_high"]
    assert row["verdict"] in ("inconclusive", "as_predicted", "better", "worse")
    assert "holdback" in row["impact_summary"]


def test_a_rollout_without_a_holdback_says_it_cannot_be_measured(con):
    _decision(con)
    (action_id,) = queue(con, rollout_action(f"loopwise:{TEST_ID}"))
    govern(con, POLICY, LATER)
    record_write(
        con,
        action_id,
        WriteRecord("execute", "executed", "campaign", "cmp1", "winner_message_id", "m2"),
        LATER,
        POLICY,
    )
    write_decision_log(con, LATER + timedelta(days=60))
    row = _log(con).loc[action_id]
    assert row["predicted_impact"] == pytest.approx(0.12)
    assert pd.isna(row["evaluation_method"]) and pd.isna(row["verdict"])
    assert "no holdback" in row["impact_summary"]


# ---- calibration --------------------------------------------------------------------------------


def test_calibration_counts_judged_changes_and_needs_a_minimum(con):
    ensure_results_table(con, "decision_log")
    verdicts = ["as_predicted"] * 9 + ["worse", "inconclusive", "pending", None]
    predicted = [0.05] * 9 + [-0.04, 0.02, 0.03, None]
    realized = [0.04] * 9 + [-0.10, 0.01, None, None]
    for i, (verdict, p, r) in enumerate(zip(verdicts, predicted, realized, strict=True)):
        con.execute(
            "insert into results.decision_log (action_id, verdict, predicted_impact, realized_impact) values (?, ?, ?, ?)",
            [f"a{i}", verdict, p, r],
        )
    result = calibration(con)
    assert result["matured"] == 11 and result["judged"] == 10 and result["inside_90"] == 9
    assert MIN_JUDGED == 10 and result["calibration"] == pytest.approx(0.9)
    # sign(predicted) * realized over |predicted|: (9 * 0.04 + 0.10 + 0.01) / (9 * 0.05 + 0.04 + 0.02)
    assert result["realized_vs_predicted"] == pytest.approx(0.47 / 0.51, abs=1e-4)
    assert result["by_verdict"]["pending"] == 1
    con.execute("delete from results.decision_log where action_id = 'a0'")
    assert calibration(con)["calibration"] is None


def test_calibration_counts_inconclusive_measurements_by_their_flag(con):
    ensure_results_table(con, "decision_log")
    rows = (
        [("inconclusive", True)] * 8
        + [("inconclusive", False), ("worse", False)]
        + [("as_predicted", None)] * 10
    )
    for i, (verdict, inside) in enumerate(rows):
        con.execute(
            "insert into results.decision_log (action_id, verdict, predicted_impact, realized_impact, "
            "inside_predicted_interval) values (?, ?, 0.05, 0.05, ?)",
            [f"a{i}", verdict, inside],
        )
    result = calibration(con)
    assert (result["matured"], result["judged"], result["conclusive"], result["inside_90"]) == (
        20,
        20,
        11,
        18,
    )
    assert result["calibration"] == pytest.approx(0.9)
    assert result["calibration_conclusive"] == pytest.approx(
        10 / 11, abs=1e-4
    )  # as_predicted read off the verdict


def test_calibration_of_an_empty_warehouse_is_all_null(con):
    result = calibration(con)
    assert (
        result["matured"] == 0 and result["calibration"] is None and result["realized_vs_predicted"] is None
    )
