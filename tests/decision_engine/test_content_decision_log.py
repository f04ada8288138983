"""results.decision_log for executed personalize_content actions: predicted vs the campaign's
randomized control on click rate (evaluation method randomized_holdout), on real DuckDB files."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from queue_helpers import executed

from decision_engine.actions import ProposedAction
from decision_engine.decision_log import write_decision_log
from decision_engine.governance import CONTENT_CHOICE_KIND
from decision_engine.impact import LEVEL
from decision_engine.personalization.content_lift import load_content_sends
from decision_engine.personalization.send_time_lift import arm_lift, matured_before
from tests.personalization.content_world import content_world, simulate_content, write_content_world
from tests.personalization.send_time_world import FIRST_SEND

EXECUTED = FIRST_SEND - timedelta(hours=20)
PREDICTION = {"predicted_relative_lift": 0.10, "predicted_interval": [0.02, 0.19]}


def _action(campaign: str, **payload) -> ProposedAction:
    return ProposedAction(
        source="personalization",
        action_type=CONTENT_CHOICE_KIND,  # type: ignore[arg-type]
        platform="klaviyo",
        target_id=campaign,
        payload={"campaign_name": "Spring launch", "holdout_share": 0.2, **PREDICTION, **payload},
        reason="Each recipient's preferred content angle",
        auto_apply_allowed=True,
    )


def _row(con, action_id: str) -> pd.Series:
    return con.execute("select * from results.decision_log").df().set_index("action_id").loc[action_id]


def test_a_content_choice_is_judged_by_its_randomized_control_on_clicks(con):
    """camp1 went out under send-time clones (their sends count for it); camp0's must not count."""
    sends, content, send_time = simulate_content(content_world(contacts=4000, campaigns=2, lift={"personalized": 0.3}), seed=9)  # fmt: skip
    sent = FIRST_SEND + timedelta(days=3)  # camp1's day
    write_content_world(con, sends, content, send_time, newest=sent + timedelta(hours=2))
    action_id = executed(con, _action("camp1"), EXECUTED)

    write_decision_log(con, sent + timedelta(days=1))
    row = _row(con, action_id)
    assert row["evaluation_method"] == "randomized_holdout" and row["predicted_metric"] == "click_rate"
    assert (row["predicted_impact"], row["predicted_impact_low"], row["predicted_impact_high"]) == (0.10, 0.02, 0.19)  # fmt: skip
    assert row["verdict"] == "pending" and pd.isna(row["realized_impact"])
    last = send_time.loc[send_time.parent_campaign_id == "camp1", "scheduled_at"].max()
    assert pd.Timestamp(row["evaluate_after"]) == last.floor("D") + pd.Timedelta(days=3)

    newest = sent + timedelta(days=3)  # the marts reach past the sends' maturity: measured
    write_content_world(con, sends, content, send_time, newest=newest)
    write_decision_log(con, sent + timedelta(days=7))
    row = _row(con, action_id)
    parents = send_time[["campaign_id", "contact_id", "parent_campaign_id"]]
    own = sends[sends.is_delivered].merge(
        parents, on=["campaign_id", "contact_id"]
    )  # camp1 sent by clones only
    arms = own.merge(content[content.campaign_id == "camp1"][["contact_id", "arm"]], on="contact_id")
    rates = arms.groupby("arm").is_clicked.mean()
    assert row["realized_impact"] == pytest.approx(rates["personalized"] / rates["control"] - 1, rel=1e-9)
    expected = arm_lift(load_content_sends(con, matured_before(newest.date()), campaign_id="camp1"), "click_rate", "personalized", level=LEVEL)  # fmt: skip
    assert (row["realized_impact_low"], row["realized_impact_high"]) == pytest.approx(
        (expected.low, expected.high)
    )
    assert row["verdict"] in ("as_predicted", "better", "worse", "inconclusive")
    assert row["horizon_days"] == 2
    summary = row["impact_summary"]
    assert (
        '"Spring launch" with each contact\'s preferred content angle against its randomized control'
        in summary
    )
    assert f"{len(arms):,} sends" in summary and "click rate" in summary


def test_without_clones_the_campaigns_own_send_time_dates_it(con):
    sends, content, send_time = simulate_content(content_world(contacts=300, campaigns=1), seed=2)
    write_content_world(con, sends, content, send_time, newest=FIRST_SEND + timedelta(hours=3))
    action_id = executed(con, _action("camp0"), EXECUTED)
    write_decision_log(con, FIRST_SEND + timedelta(days=1))
    row = _row(con, action_id)
    assert row["verdict"] == "pending" and pd.isna(row["evaluate_after"])
    assert "measured once" in row["impact_summary"]
    con.execute("create schema staging")
    con.execute("create table staging.stg_klaviyo__campaigns as select 'camp0' as campaign_id, ?::timestamptz as send_time", [FIRST_SEND])  # fmt: skip
    write_decision_log(con, FIRST_SEND + timedelta(days=1))
    row = _row(con, action_id)
    assert pd.Timestamp(row["evaluate_after"]) == pd.Timestamp(FIRST_SEND).floor("D") + pd.Timedelta(days=3)


def test_no_assignment_or_no_prediction(con):
    sends, content, send_time = simulate_content(content_world(contacts=100, campaigns=1), seed=3)
    write_content_world(con, sends, content.iloc[:0], send_time, newest=FIRST_SEND + timedelta(days=5))
    action_id = executed(con, _action("camp0"), EXECUTED)
    unpredicted = executed(
        con, _action("camp2", predicted_relative_lift=None, predicted_interval=None), EXECUTED
    )
    write_decision_log(con, FIRST_SEND + timedelta(days=10))
    row = _row(con, action_id)
    assert pd.isna(row["verdict"]) and row["predicted_impact"] == pytest.approx(0.10)
    assert "no randomized control" in row["impact_summary"]
    row = _row(con, unpredicted)
    assert pd.isna(row["predicted_impact"]) and pd.isna(row["verdict"]) and pd.isna(row["evaluation_method"])
