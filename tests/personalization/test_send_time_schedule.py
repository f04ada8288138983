"""Send-time delivery: the randomized arms, the local moments, which campaigns are proposed, and
the assignments recorded after a write (a real DuckDB file shaped like the marts)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pytest
from scipy.stats import chisquare

from decision_engine.actions import write_actions
from decision_engine.personalization.send_time_schedule import (
    CLONE_MARK,
    assign_arm,
    hour_groups,
    local_moment,
    propose_send_time_actions,
    read_profile_hours,
    recipients_context,
    record_send_time_assignments,
    schedule_recipients,
)
from decision_engine.policy import Policy
from decision_engine.store import ensure_results_table

NOW = datetime(2026, 3, 2, 6, 0)  # a Monday morning, UTC
ZONES = ["America/New_York", "Europe/Berlin", "Asia/Tokyo", "America/Los_Angeles"]


def test_arms_take_their_policy_shares_and_explore_hours_are_uniform():
    draws = [assign_arm("camp-1", f"profile-{i}", 0.10, 0.15) for i in range(40_000)]
    counts = Counter(arm for arm, _ in draws)
    for arm, share in (("control", 0.15), ("explore", 0.10), ("personalized", 0.75)):
        sd = np.sqrt(share * (1 - share) / 40_000)
        assert abs(counts[arm] / 40_000 - share) < 4 * sd, (arm, counts[arm])
    hours = np.bincount([hour for arm, hour in draws if arm == "explore"], minlength=24)
    assert chisquare(hours).pvalue > 0.001
    # the same campaign and profile always draw the same; another campaign draws afresh
    assert draws[7] == assign_arm("camp-1", "profile-7", 0.10, 0.15)
    other = [assign_arm("camp-2", f"profile-{i}", 0.10, 0.15)[0] for i in range(2000)]
    assert sum(a != b for a, (b, _) in zip(other, draws[:2000], strict=False)) > 400


def test_local_moments_follow_each_zone_with_daylight_saving():
    assert local_moment(date(2026, 7, 1), 9, ZoneInfo("America/New_York")) == datetime(2026, 7, 1, 13)
    assert local_moment(date(2026, 1, 15), 9, ZoneInfo("America/New_York")) == datetime(2026, 1, 15, 14)
    assert local_moment(date(2026, 1, 15), 9, ZoneInfo("Asia/Kolkata")) == datetime(2026, 1, 15, 3, 30)
    assert local_moment(date(2026, 1, 15), 6, ZoneInfo("Asia/Tokyo")) == datetime(2026, 1, 14, 21)


def _warehouse(path, contacts: int = 400, profiled: int = 300, best: int = 10):
    con = duckdb.connect(str(path))
    con.execute("create schema marts; create schema staging; create schema results")
    con.execute(
        "create table marts.dim_contacts (contact_id varchar, klaviyo_profile_id varchar, timezone varchar, "
        "is_subscribed boolean, is_in_global_holdout boolean)"
    )
    rows = [
        (f"c{i}", f"p{i}", ZONES[i % len(ZONES)], i % 10 != 0, i % 50 == 1)  # 10% unsubscribed, 2% held out
        for i in range(contacts)
    ]
    con.executemany("insert into marts.dim_contacts values (?, ?, ?, ?, ?)", rows)
    ensure_results_table(con, "send_time_profiles")
    g = np.random.default_rng(4)
    for i in range(profiled):
        scores = (0.1 + 0.05 * g.random(24)).round(4).tolist()
        chosen = int(np.argmax(scores))
        con.execute(
            "insert into results.send_time_profiles (analysis_date, contact_id, time_zone, chosen_local_hour, "
            "source, hourly_scores, hourly_scores_sd, account_best_local_hour, predicted_lift, predicted_lift_low, "
            "predicted_lift_high) values (?, ?, ?, ?, ?, ?, ?, ?, 0.06, 0.01, 0.11)",
            [date(2026, 3, 1), f"c{i}", ZONES[i % len(ZONES)], chosen, "contact", scores, [0.01] * 24, best],
        )
    con.execute(
        "create table staging.stg_klaviyo__campaigns (campaign_id varchar, campaign_name varchar, "
        "send_time timestamp, campaign_status varchar)"
    )
    con.execute(
        "create table staging.stg_klaviyo__campaign_messages (campaign_id varchar, message_id varchar, subject varchar)"
    )
    campaigns = [
        ("soon", "Flash", datetime(2026, 3, 2, 15), "Scheduled", 1),  # its day has begun in Tokyo
        ("later", "Spring news", datetime(2026, 3, 4, 15), "Scheduled", 1),
        ("ab", "A/B test", datetime(2026, 3, 5, 15), "Scheduled", 2),  # the marketer's own test
        ("clone", f"Spring news · {CLONE_MARK} 09:00", datetime(2026, 3, 4, 14), "Scheduled", 1),
        ("past", "Sent one", datetime(2026, 2, 27, 15), "Sent", 1),
    ]
    for campaign_id, name, send_time, status, messages in campaigns:
        con.execute(
            "insert into staging.stg_klaviyo__campaigns values (?, ?, ?, ?)",
            [campaign_id, name, send_time, status],
        )
        for m in range(messages):
            con.execute(
                "insert into staging.stg_klaviyo__campaign_messages values (?, ?, ?)",
                [campaign_id, f"{campaign_id}-m{m}", "Hi"],
            )
    return con


def test_proposes_each_upcoming_campaign_once(tmp_path):
    con = _warehouse(tmp_path / "w.duckdb")
    proposals = propose_send_time_actions(con, Policy(), NOW)
    assert [a.target_id for a in proposals.actions] == ["later"]
    action = proposals.actions[0]
    assert action.action_type == "schedule_send_times" and action.payload["send_day"] == "2026-03-04"
    assert action.payload["account_best_local_hour"] == 10
    assert any("Flash" in note for note in proposals.notes)
    # the run's held-out prediction as stored with the profiles (send_time.held_out_lift)
    assert action.payload["predicted_relative_lift"] == pytest.approx(0.06)
    assert action.payload["predicted_interval"] == pytest.approx([0.01, 0.11])
    assert "drew +6% engagement" in action.reason
    write_actions(con, proposals.actions, NOW, NOW.date())
    assert propose_send_time_actions(con, Policy(), NOW).actions == []  # claimed by the queued one
    for status, again in (("rejected", False), ("expired", True), ("failed", True)):
        con.execute("update results.actions set status = ?", [status])
        proposed = propose_send_time_actions(con, Policy(), NOW).actions
        assert bool(proposed) is again, status  # a human's no stands; a lapse or a failure may retry
    aware = NOW.replace(tzinfo=UTC)  # the loop's clock is aware: the same answer
    con.execute("delete from results.actions")
    assert [a.target_id for a in propose_send_time_actions(con, Policy(), aware).actions] == ["later"]
    recipients, _ = schedule_recipients(con, "later", action.payload, aware)
    assert recipients and all(r.scheduled_at.tzinfo is None for r in recipients)


def test_profiles_without_a_prediction_propose_without_one(tmp_path):
    """Profiles of a run that could not predict (too few sends), or of a release before the
    prediction existed: the action is still proposed, and states no expected lift."""
    con = _warehouse(tmp_path / "w.duckdb")
    con.execute("update results.send_time_profiles set predicted_lift = null, predicted_lift_low = null, "
                "predicted_lift_high = null")  # fmt: skip
    action = propose_send_time_actions(con, Policy(), NOW).actions[0]
    assert action.payload["predicted_relative_lift"] is None and action.payload["predicted_interval"] is None
    assert "drew" not in action.reason


def test_no_profiles_no_proposals(tmp_path):
    con = _warehouse(tmp_path / "w.duckdb", profiled=0)
    assert read_profile_hours(con) is None
    assert propose_send_time_actions(con, Policy(), NOW).actions == []


def test_recipients_get_their_arms_hour_in_their_own_zone(tmp_path):
    con = _warehouse(tmp_path / "w.duckdb")
    payload = propose_send_time_actions(con, Policy(), NOW).actions[0].payload
    recipients, too_late = schedule_recipients(con, "later", payload, NOW)
    assert too_late == 0
    subscribed = {f"c{i}" for i in range(400) if i % 10 != 0 and i % 50 != 1}
    assert {r.contact_id for r in recipients} == subscribed
    chosen = dict(
        con.execute("select contact_id, chosen_local_hour from results.send_time_profiles").fetchall()
    )
    for r in recipients:
        arm, explore_hour = assign_arm("later", r.klaviyo_profile_id, 0.10, 0.10)
        expected = {"control": 10, "explore": explore_hour, "personalized": chosen.get(r.contact_id, 10)}[arm]
        assert (r.arm, r.local_hour) == (arm, expected)
        assert r.scheduled_at == local_moment(date(2026, 3, 4), r.local_hour, ZoneInfo(r.time_zone))
    groups = hour_groups(recipients)
    assert sum(len(v) for v in groups.values()) == len(recipients)
    # executed late (the day has begun in Tokyo): the moments already past stay with the campaign
    late_now = datetime(2026, 3, 4, 1, 0)
    later, too_late = schedule_recipients(con, "later", payload, late_now)
    assert too_late > 0 and len(later) + too_late == len(recipients)
    assert all(r.scheduled_at >= datetime(2026, 3, 4, 2, 0) for r in later)


def test_assignments_are_recorded_once_with_their_clone(tmp_path):
    con = _warehouse(tmp_path / "w.duckdb")
    payload = propose_send_time_actions(con, Policy(), NOW).actions[0].payload
    recipients, _ = schedule_recipients(con, "later", payload, NOW)
    clones = {str(hour): f"clone-{hour}" for hour in hour_groups(recipients)}
    context = recipients_context(recipients)
    assert record_send_time_assignments(con, "a1", "later", context, clones, NOW) == len(recipients)
    assert record_send_time_assignments(con, "a1", "later", context, clones, NOW) == 0  # a resumed write
    rows = con.execute(
        "select campaign_id, scheduled_local_hour, arm, parent_campaign_id from results.send_time_assignments"
    ).fetchall()
    assert all(campaign == f"clone-{hour}" and parent == "later" for campaign, hour, _, parent in rows)
    assert {arm for *_, arm, _ in rows} == {"control", "explore", "personalized"}


@pytest.mark.parametrize("share", [0.0, 0.5])
def test_shares_at_the_edges(share):
    arms = Counter(assign_arm("c", f"p{i}", share, 0.0)[0] for i in range(4000))
    assert arms["control"] == 0
    assert (arms["explore"] == 0) if share == 0 else (1800 < arms["explore"] < 2200)
