"""Content choice per recipient: the randomized arms, the template the sandbox renders, which
campaigns are proposed, the recipients' angles and the assignments recorded after a write (a real
DuckDB file shaped like the marts)."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

import duckdb
import numpy as np
import pytest
from scipy.stats import chisquare

from decision_engine.actions import write_actions
from decision_engine.personalization.content_choice import (
    assign_content_arm,
    assigned_send_angles_sql,
    content_recipients,
    content_template,
    propose_content_actions,
    read_preferred_angles,
    record_content_assignments,
)
from decision_engine.policy import Policy, load_policy
from decision_engine.store import ensure_results_table
from sandbox.world.subjects import parse_subject, render

NOW = datetime(2026, 3, 2, 6, 0)
ANGLES = ("case_study", "how_to", "comparison", "promotion")


def test_arms_take_the_holdout_share_and_control_angles_are_uniform():
    draws = [assign_content_arm("camp-1", f"profile-{i}", 0.2, ANGLES) for i in range(40_000)]
    control = [angle for arm, angle in draws if arm == "control"]
    sd = np.sqrt(0.2 * 0.8 / 40_000)
    assert abs(len(control) / 40_000 - 0.2) < 4 * sd
    assert chisquare(list(Counter(control).values())).pvalue > 0.001
    assert len(Counter(control)) == 4
    assert draws[5] == assign_content_arm("camp-1", "profile-5", 0.2, ANGLES)
    other = [assign_content_arm("camp-2", f"profile-{i}", 0.2, ANGLES)[0] for i in range(4000)]
    assert sum(a != b for a, (b, _) in zip(other, draws[:4000], strict=False)) > 800


def test_the_template_shows_each_recipient_its_angle_as_the_sandbox_renders_it():
    policy = load_policy()
    template = content_template("c9", policy.content_choice, "Pricing", "case study | Onboarding")
    segments = parse_subject(template)  # the sandbox's parser of Klaviyo's conditional tags
    values = np.array(["how_to", "promotion", None, "comparison", "case_study", "other"], dtype=object)
    texts, code = render(segments, {"lw_angle_c9": values}, len(values))
    shown = [texts[k] for k in code]
    assert shown == [
        "how to | Pricing",
        "promo | Pricing",
        "case study | Onboarding",  # no property: the message's own text
        "comparison | Pricing",
        "case study | Pricing",
        "case study | Onboarding",
    ]


def _warehouse(path, contacts: int = 300):
    con = duckdb.connect(str(path))
    con.execute("create schema marts; create schema staging; create schema results")
    con.execute(
        "create table marts.dim_contacts (contact_id varchar, klaviyo_profile_id varchar, timezone varchar, "
        "is_subscribed boolean, is_in_global_holdout boolean)"
    )
    con.executemany(
        "insert into marts.dim_contacts values (?, ?, 'UTC', ?, false)",
        [(f"c{i}", f"p{i}", i % 10 != 0) for i in range(contacts)],
    )
    ensure_results_table(con, "content_affinity")
    g = np.random.default_rng(3)
    rows = []
    for i in range(200):  # contacts 200+ have no affinity row
        liked = i % 4
        for k, angle in enumerate(ANGLES):
            score = 0.3 if k == liked else 0.1 + 0.05 * g.random()
            rows.append((date(2026, 3, 1), f"c{i}", angle, score, score / 3, [0.1, 0.2, 0.15, 0.12][k]))
    con.executemany(
        "insert into results.content_affinity (analysis_date, contact_id, angle, engagement_score, click_rate, "
        "account_engagement_score) values (?, ?, ?, ?, ?, ?)",
        rows,
    )
    con.execute(
        "create table staging.stg_klaviyo__campaigns (campaign_id varchar, campaign_name varchar, "
        "send_time timestamp, campaign_status varchar)"
    )
    con.execute(
        "create table staging.stg_klaviyo__campaign_messages (campaign_id varchar, message_id varchar, "
        "subject varchar, preview_text varchar)"
    )
    con.execute("create table marts.dim_message_content (message_id varchar, topic varchar, angle varchar)")
    campaigns = [
        ("later", "Spring news", datetime(2026, 3, 4, 15), 1, "case study | Onboarding", "Onboarding"),
        ("untagged", "Note", datetime(2026, 3, 4, 16), 1, "Just a note", None),
        ("ab", "A/B test", datetime(2026, 3, 5, 15), 2, "how to | Pricing", "Pricing"),
        ("soon", "Flash", datetime(2026, 3, 2, 6, 30), 1, "promo | Sale", "Sale"),
    ]
    for campaign_id, name, send_time, messages, preview, topic in campaigns:
        con.execute(
            "insert into staging.stg_klaviyo__campaigns values (?, ?, ?, 'Scheduled')",
            [campaign_id, name, send_time],
        )
        for m in range(messages):
            message_id = f"{campaign_id}-m{m}"
            con.execute(
                "insert into staging.stg_klaviyo__campaign_messages values (?, ?, 'Hi', ?)",
                [campaign_id, message_id, preview],
            )
            con.execute(
                "insert into marts.dim_message_content values (?, ?, 'case_study')", [message_id, topic]
            )
    return con


def test_preferred_angles_and_the_runs_predicted_lift(tmp_path):
    con = _warehouse(tmp_path / "w.duckdb")
    model = read_preferred_angles(con, ANGLES)
    assert model is not None
    assert model.preferred["c5"] == "how_to" and model.preferred["c7"] == "promotion"
    assert model.account_best == "how_to"  # the highest account_engagement_score
    assert model.predicted_lift is None and model.predicted_interval is None  # a run without one
    con.execute(
        "update results.content_affinity set predicted_lift = 0.12, predicted_lift_low = 0.05, "
        "predicted_lift_high = 0.2"
    )
    model = read_preferred_angles(con, ANGLES)
    assert model.predicted_lift == 0.12 and model.predicted_interval == (0.05, 0.2)
    # a library without an angle never chooses it
    narrow = read_preferred_angles(con, ("case_study", "comparison"))
    assert set(narrow.preferred.values()) <= {"case_study", "comparison"}


def test_proposes_each_tagged_upcoming_campaign_once(tmp_path):
    con = _warehouse(tmp_path / "w.duckdb")
    policy = load_policy()
    proposals = propose_content_actions(con, policy, NOW)
    assert [a.target_id for a in proposals.actions] == ["later"]
    action = proposals.actions[0]
    assert action.payload["property"] == "lw_angle_later" and action.payload["topic"] == "Onboarding"
    assert "Spring news" in action.reason
    assert any("Note" in note and "topic" in note for note in proposals.notes)
    assert any("Flash" in note for note in proposals.notes)
    write_actions(con, proposals.actions, NOW, NOW.date())
    assert propose_content_actions(con, policy, NOW).actions == []  # claimed by the queued one
    assert propose_content_actions(con, Policy(), NOW).actions == []  # no library: nothing
    # once send time split a campaign into clones, a template on it would not reach them
    con.execute("delete from results.actions")
    con.execute(
        "insert into results.actions (action_id, action_type, target_id, status) "
        "values ('st-1', 'schedule_send_times', 'later', 'executed')"
    )
    split = propose_content_actions(con, policy, NOW)
    assert split.actions == [] and any("send-time clones" in note for note in split.notes)
    with pytest.raises(ValueError, match="send-time clones"):
        content_recipients(con, "later", action.payload)
    con.execute(
        "update staging.stg_klaviyo__campaign_messages set preview_text = '{% if x %}' || preview_text"
    )
    con.execute("delete from results.actions")
    assert propose_content_actions(con, policy, NOW).actions == []  # already a template


def test_recipients_get_their_preferred_angle_or_a_random_one_in_control(tmp_path):
    con = _warehouse(tmp_path / "w.duckdb", contacts=3000)
    policy = load_policy()
    payload = propose_content_actions(con, policy, NOW).actions[0].payload
    assignments = content_recipients(con, "later", payload)
    assert len(assignments) == 2700  # the subscribed
    model = read_preferred_angles(con, ANGLES)
    for profile, entry in assignments.items():
        arm, random_angle = assign_content_arm("later", profile, 0.2, ANGLES)
        assert entry["arm"] == arm
        own = model.preferred.get(entry["contact_id"])
        assert entry["angle"] == (random_angle if arm == "control" else own or model.account_best)
    assert Counter(e["arm"] for e in assignments.values())["control"] in range(470, 611)

    ensure_results_table(con, "send_time_assignments")
    record_content_assignments(con, "act-1", "later", "later-m0", "lw_angle_later", assignments, NOW)
    assert (
        record_content_assignments(con, "act-1", "later", "later-m0", "lw_angle_later", assignments, NOW) == 0
    )
    stored = con.execute("select count(*), count(distinct arm) from results.content_assignments").fetchone()
    assert stored == (2700, 2)
    # a recipient moved to a send-time clone: its clone's sends carry its angle too
    con.execute(
        "insert into results.send_time_assignments (contact_id, campaign_id, parent_campaign_id, arm) "
        "values ('c1', 'clone-9', 'later', 'personalized'), ('c1', 'clone-8', 'other', 'control')"
    )
    mapped = con.execute(
        f"select send_campaign_id, angle from ({assigned_send_angles_sql(con)}) where contact_id = 'c1'"
    )
    assert sorted(r[0] for r in mapped.fetchall()) == ["clone-9", "later"]
