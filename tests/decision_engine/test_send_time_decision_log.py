"""results.decision_log for executed schedule_send_times actions: predicted vs the campaign's
randomized control (evaluation method randomized_holdout), on real DuckDB files."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import pandas as pd
import pytest
from queue_helpers import DAY, STAMP, executed, queue

from decision_engine.actions import ProposedAction
from decision_engine.decision_log import write_decision_log
from decision_engine.impact import LEVEL
from decision_engine.impact_measurement import payload_prediction
from decision_engine.personalization.send_time_lift import arm_lift, load_arm_sends
from tests.personalization.send_time_world import FIRST_SEND, World, simulate, write_world

EXECUTED = FIRST_SEND - timedelta(hours=20)
CAMPAIGN = "camp0"


def _action(payload: dict | None = None) -> ProposedAction:
    return ProposedAction(
        source="personalization",
        action_type="schedule_send_times",
        platform="klaviyo",
        target_id=CAMPAIGN,
        payload=payload
        if payload is not None
        else {
            "campaign_name": "Spring launch",
            "predicted_relative_lift": 0.10,
            "predicted_interval": [0.03, 0.18],
        },
        reason="Send at each contact's best local hour",
        auto_apply_allowed=True,
    )


def _executed(con, action: ProposedAction) -> str:
    return executed(con, action, EXECUTED)


def _row(con, action_id: str) -> pd.Series:
    return con.execute("select * from results.decision_log").df().set_index("action_id").loc[action_id]


def test_a_send_time_schedule_is_judged_by_its_randomized_control(con):
    world = World(contacts=4000, campaigns=1, lift={"personalized": 0.12})
    sends, assignments = simulate(world, seed=9)
    # a second campaign's sends must not count towards this one
    other_sends, other = simulate(World(contacts=500, campaigns=1, lift={"personalized": -0.5}), seed=1)
    other = other.assign(
        parent_campaign_id="camp9", campaign_id=other.campaign_id.str.replace("camp0", "camp9")
    )
    other_sends = other_sends.assign(campaign_id=other_sends.campaign_id.str.replace("camp0", "camp9"),
                                     email_send_id="o" + other_sends.email_send_id)  # fmt: skip
    newest = FIRST_SEND + timedelta(hours=2)  # the data date is the send day: nothing matured yet
    write_world(con, pd.concat([sends, other_sends]), pd.concat([assignments, other]), newest=newest)
    action_id = _executed(con, _action())

    write_decision_log(con, FIRST_SEND + timedelta(days=1))
    row = _row(con, action_id)
    assert row["evaluation_method"] == "randomized_holdout"
    assert row["predicted_metric"] == "human_open_rate"
    assert (row["predicted_impact"], row["predicted_impact_low"], row["predicted_impact_high"]) == (
        0.10,
        0.03,
        0.18,
    )
    assert row["verdict"] == "pending" and pd.isna(row["realized_impact"])
    last = assignments["scheduled_at"].max()
    assert pd.Timestamp(row["evaluate_after"]) == last.floor("D") + pd.Timedelta(days=3)
    assert "measured after" in row["impact_summary"]

    # the window has passed but the marts stop at the send day: still pending
    write_decision_log(con, FIRST_SEND + timedelta(days=10))
    assert _row(con, action_id)["verdict"] == "pending"

    # the marts reach three days after the sends: measured
    write_world(con, pd.concat([sends, other_sends]), pd.concat([assignments, other]),
                newest=FIRST_SEND + timedelta(days=3))  # fmt: skip
    write_decision_log(con, FIRST_SEND + timedelta(days=10))
    row = _row(con, action_id)
    only = load_arm_sends(con, datetime(2026, 6, 1), parent_campaign_id=CAMPAIGN)
    expected = arm_lift(only, "human_open_rate", "personalized", level=LEVEL)
    assert set(only.parent_campaign_id) == {CAMPAIGN}
    delivered = sends[sends.is_delivered].merge(assignments, on=["campaign_id", "contact_id"])
    rates = delivered.groupby("arm").is_human_opened.mean()
    assert row["realized_impact"] == pytest.approx(rates["personalized"] / rates["control"] - 1, rel=1e-9)
    assert (row["realized_impact_low"], row["realized_impact_high"]) == pytest.approx(
        (expected.low, expected.high)
    )
    # the decision log's intervals are 90%: narrower than the 95% interval of the same sends
    wide = arm_lift(only, "human_open_rate", "personalized", level=0.95)
    assert wide.low < row["realized_impact_low"] < row["realized_impact_high"] < wide.high
    assert row["verdict"] in ("as_predicted", "better", "worse", "inconclusive")
    assert row["horizon_days"] == 2
    summary = row["impact_summary"]
    assert '"Spring launch" at each contact\'s best local hour against its randomized control' in summary
    assert "sends" in summary and "realized" in summary


def test_without_assignments_it_says_there_is_no_control(con):
    sends, _ = simulate(World(contacts=100, campaigns=1), seed=2)
    write_world(con, sends, pd.DataFrame(columns=list(_.columns)), newest=FIRST_SEND + timedelta(days=5))
    action_id = _executed(con, _action())
    write_decision_log(con, FIRST_SEND + timedelta(days=10))
    row = _row(con, action_id)
    assert pd.isna(row["verdict"]) and row["predicted_impact"] == pytest.approx(0.10)
    assert "no randomized control" in row["impact_summary"]


def test_a_proposal_that_never_ran_has_its_prediction_only(con):
    (action_id,) = queue(con, _action())
    con.execute("update results.actions set status = 'rejected', status_at = ? where action_id = ?",
                [STAMP, action_id])  # fmt: skip
    write_decision_log(con, STAMP + timedelta(days=30))
    row = _row(con, action_id)
    assert row["predicted_impact"] == pytest.approx(0.10) and pd.isna(row["evaluation_method"])
    assert json.loads(con.execute("select payload from results.actions").fetchone()[0])["campaign_name"]
    assert row["analysis_date"].date() == DAY


def test_a_95_percent_predicted_interval_is_rescaled_to_90():
    estimate = payload_prediction(
        {"predicted_relative_lift": 0.1, "predicted_interval": [0.0, 0.21], "predicted_interval_level": 0.95}
    )
    factor = 1.6448536 / 1.9599640
    assert estimate.low == pytest.approx(math.expm1(math.log1p(0.1) - factor * math.log1p(0.1)), rel=1e-5)
    assert 0.0 < estimate.low < 0.1 < estimate.high < 0.21
    assert payload_prediction({"predicted_relative_lift": 0.1}).has_interval is False
    assert payload_prediction({}) is None
