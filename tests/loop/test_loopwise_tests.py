"""Loopwise's own tests through the queue: launch, campaign subjects, rollout with holdback.

A small warehouse holds the tables the launch reads (contacts, campaign sends, upcoming
campaigns); a fake vendor port stands for Klaviyo's bulk property import and campaign-message
PATCH (the real client calls are tested against the sandbox in tests/sandbox and
tests/activation).
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from decision_engine.actions import write_actions
from decision_engine.execution import (
    CAMPAIGN_MESSAGE,
    PROFILE_PROPERTY_BULK,
    CannotWrite,
    WriteTarget,
    execute_approved,
)
from decision_engine.experiments.assignment import assign_test_arm, current_arms
from decision_engine.experiments.design import MAX_TEST_WEEKS
from decision_engine.experiments.factors import marketer_subject
from decision_engine.experiments.hypotheses import build_hypotheses
from decision_engine.experiments.launch import (
    conditional_subject,
    loopwise_tests,
    propose_and_govern,
    propose_test_actions,
    upcoming_campaigns,
)
from decision_engine.experiments.loopwise_analysis import rollout_actions
from decision_engine.policy import Policy, parse_policy
from decision_engine.queue import WriteRecord, govern, list_actions
from decision_engine.store import ensure_results_table
from tests.decision_engine.queue_helpers import warehouse

NOW = datetime(2026, 5, 4, 6, tzinfo=UTC)
CONTACTS = 400
# equal default priors: the backlog ranks ties by id, so quick_read launches before you_asked
LIBRARY = """
experiments:
  max_running_tests: 1
  library:
    - {id: quick_read, factor: subject_style, level: quick_read, subject_template: "Quick read: {subject}"}
    - {id: you_asked, factor: subject_style, level: you_asked, subject_template: "You asked: {subject}"}
"""


class FakeKlaviyo:
    """Profile properties and campaign subjects, written and read like the Klaviyo client does."""

    def __init__(self, subjects: dict[str, str], fail: bool = False) -> None:
        self.properties: dict[str, dict[str, str]] = {}
        self.subjects = dict(subjects)
        self.fail = fail
        self.writes: list[WriteTarget] = []

    def read(self, target: WriteTarget) -> Any:
        if target.entity_type == PROFILE_PROPERTY_BULK:
            values = self.properties.get(target.entity_id, {})
            return dict(sorted(Counter(values.values()).items())) or None
        if target.entity_type == CAMPAIGN_MESSAGE:
            return self.subjects[target.entity_id]
        raise AssertionError(target.entity_type)

    def write(self, target: WriteTarget, *, dry_run: bool) -> WriteRecord:
        before = self.read(target)
        record = dict(mode="execute", entity_type=target.entity_type, entity_id=target.entity_id,
                      field=target.field, value_requested=target.value, value_before=before)  # fmt: skip
        if self.fail:
            return WriteRecord(status="failed", error="bulk import job failed", **record)  # type: ignore[arg-type]
        self.writes.append(target)
        if target.entity_type == PROFILE_PROPERTY_BULK:
            assigned = {p: entry["arm"] for p, entry in target.context["assignments"].items()}
            self.properties.setdefault(target.entity_id, {}).update(assigned)
        else:
            self.subjects[target.entity_id] = target.value
        return WriteRecord(status="executed", value_after=self.read(target), **record)  # type: ignore[arg-type]


def _warehouse(path: Path) -> Any:
    con = warehouse(path)
    con.execute("create schema marts; create schema staging")
    con.execute(
        "create table marts.dim_contacts as select 'c' || i as contact_id, 'P' || lpad(i::varchar, 5, '0') "
        "as klaviyo_profile_id, i % 10 <> 0 as is_subscribed, i % 25 = 1 as is_in_global_holdout "
        f"from range({CONTACTS}) t(i)"
    )
    con.execute(
        "create table marts.fct_email_sends as select 'c' || (i % ?) as contact_id, 'campaign' as send_type, "
        "'past' || (i // ?) as campaign_id, "
        "?::timestamptz - to_days(cast(i // ? as integer) * 2 + 1) as sent_at, true as is_delivered, "
        "hash(i) % 40 = 0 as is_clicked, hash(i) % 300 = 0 as is_converted, "
        "case when hash(i) % 300 = 0 then 60.0 else 0.0 end as attributed_revenue from range(?) t(i)",
        [CONTACTS, CONTACTS, NOW, CONTACTS, CONTACTS * 24],
    )
    # what the backlog's ideas read (no flows here)
    con.execute(
        "create table marts.dim_email_messages as select 'past' || i as campaign_id, 'campaign' as send_type, "
        "'Update ' || i as subject from range(24) t(i)"
    )
    con.execute(
        "create table marts.fct_flow_step_funnel (flow_id varchar, flow_name varchar, step_position integer, "
        "recipients bigint, clicks bigint)"
    )
    con.execute(
        "create table staging.stg_klaviyo__campaigns as select * from (values "
        "('cmp_past', 'Spring sale', 'Sent', ?::timestamptz - interval 1 day), "
        "('cmp_next', 'New arrivals', 'Scheduled', ?::timestamptz + interval 2 day), "
        "('cmp_later', 'Summer guide', 'Scheduled', ?::timestamptz + interval 5 day), "
        "('cmp_ab', 'Their own test', 'Scheduled', ?::timestamptz + interval 3 day)) "
        "t(campaign_id, campaign_name, campaign_status, send_time)",
        [NOW, NOW, NOW, NOW],
    )
    con.execute(
        "create table staging.stg_klaviyo__campaign_messages as select * from (values "
        "('cmp_past', 'm_past', 'Spring sale ends'), ('cmp_next', 'm_next', 'New in: linen'), "
        "('cmp_later', 'm_later', 'Your summer guide'), ('cmp_ab', 'm_ab1', 'A'), ('cmp_ab', 'm_ab2', 'B')) "
        "t(campaign_id, message_id, subject)"
    )
    return con


def _subjects(con: Any) -> dict[str, str]:
    return dict(
        con.execute("select message_id, subject from staging.stg_klaviyo__campaign_messages").fetchall()
    )


def _run(con: Any, policy: Policy, now: datetime, port: FakeKlaviyo) -> list[Any]:
    """One loop run: propose, govern, execute; the vendor's subjects are ingested back."""
    proposals, _summary = propose_and_govern(con, policy, now)
    execute_approved(con, policy, now, port)
    for message_id, subject in port.subjects.items():
        con.execute(
            "update staging.stg_klaviyo__campaign_messages set subject = ? where message_id = ?",
            [subject, message_id],
        )
    return proposals.actions


@pytest.fixture()
def con(tmp_path: Path) -> Any:
    return _warehouse(tmp_path / "w.duckdb")


def test_a_launch_assigns_enrolled_contacts_by_hash_and_records_them_after_the_write(con) -> None:
    policy = parse_policy(LIBRARY)
    port = FakeKlaviyo(_subjects(con))
    launch, *subjects = _run(con, policy, NOW, port)
    assert (launch.action_type, launch.target_id) == ("launch_experiment", "lw-quick_read-20260504")
    assert launch.payload["primary_metric"] == "click_rate"
    assert launch.payload["planned_units_per_arm"] > 0
    # the launch was approved in this run, so its campaign subjects went out with it (each message
    # of the marketer's A/B test its own write)
    assert sorted(a.target_id for a in subjects if a.action_type == "apply_test_subject") == [
        "cmp_later",
        "cmp_next",
        "m_ab1",
        "m_ab2",
    ]
    (record,) = [r for r in list_actions(con) if r["action_type"] == "launch_experiment"]
    assert (record["status"], record["approved_by"]) == ("executed", "policy")
    rows = con.execute(
        "select klaviyo_profile_id, arm, action_id from results.experiment_assignments order by 1"
    ).fetchall()
    subscribed = con.execute(
        "select klaviyo_profile_id from marts.dim_contacts where is_subscribed and not is_in_global_holdout"
    ).fetchall()
    assert len(rows) == len(subscribed)  # test_share 1.0: everyone subscribed outside the holdout
    assert all(arm == assign_test_arm(launch.target_id, profile) for profile, arm, _ in rows)
    assert {action for *_, action in rows} == {record["action_id"]}
    arms = Counter(arm for _, arm, _ in rows)
    assert abs(arms["variant"] - arms["control"]) < 0.2 * len(rows)
    assert port.properties["lw_arm_quick_read_20260504"] == {profile: arm for profile, arm, _ in rows}
    # the next run: the test is running, so nothing launches (max_running_tests 1) and no row repeats
    _run(con, policy, NOW + timedelta(days=1), port)
    assert [t.status for t in loopwise_tests(con)] == ["running"]
    assert con.execute("select count(*) from results.experiment_assignments").fetchone()[0] == len(rows)


def test_tests_with_room_launch_together_assigned_independently_and_shown_together(con) -> None:
    policy = parse_policy(LIBRARY.replace("max_running_tests: 1", "max_running_tests: 4"))
    port = FakeKlaviyo(_subjects(con))
    actions = _run(con, policy, NOW, port)
    launched = sorted(a.target_id for a in actions if a.action_type == "launch_experiment")
    assert launched == ["lw-quick_read-20260504", "lw-you_asked-20260504"]  # the whole library
    assert sorted(t.status for t in loopwise_tests(con)) == ["running", "running"]
    quick, asked = (port.properties[f"lw_arm_{entry}_20260504"] for entry in ("quick_read", "you_asked"))
    assert quick.keys() == asked.keys()  # the same enrolled audience
    # a factorial design: one test's arm says nothing about the other's (each hashes its own test id)
    cells = Counter((quick[p], asked[p]) for p in quick)
    for arm in ("control", "variant"):
        share = cells[(arm, "variant")] / (cells[(arm, "variant")] + cells[(arm, "control")])
        assert 0.4 < share < 0.6, cells
    # every upcoming campaign shows both styles to the contacts in both variants
    for message_id in ("m_next", "m_later"):
        subject = port.subjects[message_id]
        assert "lw_arm_quick_read_20260504" in subject and "lw_arm_you_asked_20260504" in subject


def test_a_launch_plans_what_the_backlog_row_of_its_entry_says(con) -> None:
    policy = parse_policy(LIBRARY + "  test_share: 0.5\n")
    backlog = build_hypotheses(con, policy, NOW).set_index("library_id")
    (launch,) = [
        a for a in propose_test_actions(con, policy, NOW).actions if a.action_type == "launch_experiment"
    ]
    row = backlog.loc[launch.payload["library_id"]]
    assert launch.payload["planned_units_per_arm"] == row["required_units_per_arm"]
    assert launch.payload["weeks_to_decision"] == round(row["weeks_to_decision"], 1)
    assert launch.payload["primary_metric"] == row["primary_metric"]
    assert launch.payload["baseline_rate"] == pytest.approx(row["baseline_rate"], abs=1e-6)
    assert launch.payload["primary_metric_note"] in row["description"]
    # a thin warehouse: the plan is capped at 8 weeks of half the volume, and says what that detects
    capped = math.ceil(row["weekly_units"] * 0.5 / 2 * MAX_TEST_WEEKS)
    assert row["required_units_per_arm"] == capped < launch.payload["required_units_per_arm"]
    assert row["weeks_to_decision"] == MAX_TEST_WEEKS and "8-week maximum" in row["plan_note"]


def test_a_failed_bulk_write_records_no_assignment(con) -> None:
    port = FakeKlaviyo(_subjects(con), fail=True)
    _run(con, parse_policy(LIBRARY + "execution: {max_attempts: 1}\n"), NOW, port)
    assert con.execute("select count(*) from results.experiment_assignments").fetchone()[0] == 0
    assert {r["action_type"]: r["status"] for r in list_actions(con)}["launch_experiment"] == "failed"
    # a failed launch leaves its entry spent (not proposed daily); the next entry may launch
    (launch,) = propose_test_actions(con, parse_policy(LIBRARY), NOW + timedelta(days=1)).actions
    assert launch.payload["library_id"] == "you_asked"


def test_a_held_launch_waits_and_counts_as_the_running_test(con) -> None:
    held = parse_policy(LIBRARY + "  auto_launch: false\n")
    _run(con, held, NOW, FakeKlaviyo(_subjects(con)))
    (record,) = list_actions(con)
    assert (record["status"], record["policy_reason_code"]) == ("pending_approval", "auto_launch_off")
    assert [t.status for t in loopwise_tests(con)] == ["pending"]
    assert propose_test_actions(con, held, NOW + timedelta(days=1)).actions == []  # one test at a time


def _rendered(template: str, properties: dict[str, str]) -> str:
    """What the sandbox's Klaviyo sends a profile holding ``properties`` (the template tags it renders)."""
    import numpy as np

    from sandbox.world.subjects import parse_subject, properties_read, render

    segments = parse_subject(template)
    values = {name: np.array([properties.get(name)], dtype=object) for name in properties_read(segments)}
    (subject,), _ = render(segments, values, 1)
    return subject


def test_upcoming_campaigns_get_the_conditional_subject_once(con) -> None:
    policy = parse_policy(LIBRARY)
    port = FakeKlaviyo(_subjects(con))
    proposed = _run(con, policy, NOW, port)
    # not sent; a marketer's A/B test gets the template on each of its messages
    assert sorted(a.target_id for a in proposed[1:]) == ["cmp_later", "cmp_next", "m_ab1", "m_ab2"]
    (test,) = loopwise_tests(con)
    expected = (
        "{% if person|lookup:'lw_arm_quick_read_20260504' == 'variant' %}Quick read: {% endif %}New in: linen"
    )
    assert port.subjects["m_next"] == expected == conditional_subject("New in: linen", [test])
    for message_id, own in (("m_ab1", "A"), ("m_ab2", "B")):
        assert port.subjects[message_id] == conditional_subject(own, [test])
        assert (
            marketer_subject(port.subjects[message_id]) == own
        )  # the A/B test's arms as the marketer wrote them
        assert _rendered(port.subjects[message_id], {test.property: "variant"}) == f"Quick read: {own}"
        assert _rendered(port.subjects[message_id], {test.property: "control"}) == own
    by_target = {a.target_id: a.payload for a in proposed[1:]}
    assert by_target["m_ab1"]["campaign_id"] == by_target["m_ab2"]["campaign_id"] == "cmp_ab"
    assert by_target["cmp_next"]["campaign_id"] == "cmp_next"
    statuses = {
        r["target_id"]: r["status"] for r in list_actions(con) if r["action_type"] == "apply_test_subject"
    }
    assert statuses == dict.fromkeys(["cmp_next", "cmp_later", "m_ab1", "m_ab2"], "executed")
    # the templated subject comes back through ingestion: the marketer's own subject is recovered, nothing repeats
    assert _run(con, policy, NOW + timedelta(days=1), port) == []
    # send times and content personalization still leave the marketer's A/B test alone
    assert [row[0] for row in upcoming_campaigns(con, NOW)] == ["cmp_next", "cmp_later"]


def test_a_shipped_test_rolls_out_with_a_holdback_and_keeps_showing(con) -> None:
    policy = parse_policy(LIBRARY)
    port = FakeKlaviyo(_subjects(con))
    _run(con, policy, NOW, port)
    (test,) = loopwise_tests(con)
    decisions = _decision(test.test_id, "ship")
    results = _result(test.test_id)
    plans = {f"loopwise:{test.test_id}": _plan()}
    (rollout,) = rollout_actions(decisions, results, plans, {test.test_id: test}, policy)
    later = NOW + timedelta(days=20)
    write_actions(con, [rollout], later, later.date())
    govern(con, policy, later)
    before = current_arms(con, test.test_id)
    execute_approved(con, policy, later, port)
    after = current_arms(con, test.test_id)
    assert [t.status for t in loopwise_tests(con)] == ["shipped"]
    assert Counter(after.values())["holdback"] == pytest.approx(0.05 * len(after), abs=8)
    assert not [p for p, arm in after.items() if before.get(p) == "variant" and arm != "variant"]
    _schedule(con, "cmp_fall", "m_fall", "Fall edit", later + timedelta(days=3))
    port.subjects["m_fall"] = "Fall edit"
    # a second test may launch now; a shipped test keeps its conditional subject (the holdback measures)
    proposed = _run(con, policy, later + timedelta(days=1), port)
    assert [(a.action_type, a.target_id) for a in proposed] == [
        ("launch_experiment", "lw-you_asked-20260525"),
        ("apply_test_subject", "cmp_fall"),
    ]
    shipped, second = loopwise_tests(con)
    assert (shipped.status, second.status) == ("shipped", "running")
    # both tests show on the campaign: a contact in both variants sees both styles
    template = port.subjects["m_fall"]
    assert template == conditional_subject("Fall edit", [shipped, second])
    assert _rendered(template, {shipped.property: "variant", second.property: "variant"}) == (
        "You asked: Quick read: Fall edit"
    )
    assert (
        _rendered(template, {shipped.property: "holdback", second.property: "variant"})
        == "You asked: Fall edit"
    )
    assert (
        _rendered(template, {shipped.property: "variant", second.property: "control"})
        == "Quick read: Fall edit"
    )
    assert _rendered(template, {}) == "Fall edit"  # a profile holding neither property


def test_a_shipped_test_keeps_its_ship_decision_whatever_later_looks_say(con) -> None:
    import pandas as pd

    from decision_engine.experiments.loopwise_analysis import _keep_endings

    policy = parse_policy(LIBRARY)
    port = FakeKlaviyo(_subjects(con))
    _run(con, policy, NOW, port)
    (test,) = loopwise_tests(con)
    name = f"loopwise:{test.test_id}"
    ensure_results_table(con, "experiment_decisions")
    looks = [(NOW + timedelta(days=12), "continue", None, "Underpowered so far."),
             (NOW + timedelta(days=19), "ship", "variant", "Variant lifted clicks 20%; ships to everyone."),
             (NOW + timedelta(days=26), "ship", "variant", "Variant lifted clicks 22%; ships to everyone.")]  # fmt: skip
    for at, decision, target, why in looks:
        con.execute(
            "insert into results.experiment_decisions (analysis_timestamp, analysis_date, experiment_id, decision, "
            "target_variant, explanation, reason_code) values (?, ?, ?, ?, ?, ?, 'primary_better')",
            [at, at.date(), name, decision, target, why],
        )
    assert loopwise_tests(con)[0].ending is None  # running: a ship is not an ending until it is carried out
    (rollout,) = rollout_actions(_decision(test.test_id, "ship"), _result(test.test_id),
                                 {name: _plan()}, {test.test_id: test}, policy)  # fmt: skip
    later = NOW + timedelta(days=20)
    write_actions(con, [rollout], later, later.date())
    govern(con, policy, later)
    execute_approved(con, policy, later, port)
    (shipped,) = loopwise_tests(con)
    assert shipped.status == "shipped" and shipped.ending["decision"] == "ship"
    # a later look (the test phase's sends as they stood at the rollout) cannot reopen or reverse it
    look = pd.DataFrame([{"experiment_id": name, "decision": "stop_for_harm", "target_variant": None,
                          "explanation": "Variant raised bounces 85%.", "reason_code": "guardrail_harm"}])  # fmt: skip
    (kept,) = _keep_endings(look, {test.test_id: shipped}).to_dict("records")
    assert (kept["decision"], kept["target_variant"], kept["reason_code"]) == (
        "ship",
        "variant",
        "primary_better",
    )
    ended_on = (NOW + timedelta(days=19)).date().isoformat()
    assert kept["explanation"] == f"Ended on {ended_on}: Variant lifted clicks 20%; ships to everyone."
    assert rollout_actions(look.assign(decision="ship", target_variant="variant"), _result(test.test_id),
                           {name: _plan()}, {test.test_id: shipped}, policy) == []  # fmt: skip


def test_an_ended_test_stops_showing_and_the_next_entry_launches(con) -> None:
    policy = parse_policy(LIBRARY)
    port = FakeKlaviyo(_subjects(con))
    _run(con, policy, NOW, port)
    (test,) = loopwise_tests(con)
    ensure_results_table(con, "experiment_decisions")
    con.execute(
        "insert into results.experiment_decisions (analysis_timestamp, analysis_date, experiment_id, decision) "
        "values (?, ?, ?, 'keep_control')",
        [NOW, NOW.date(), f"loopwise:{test.test_id}"],
    )
    proposed = _run(con, policy, NOW + timedelta(days=1), port)
    assert [t.status for t in loopwise_tests(con)][0] == "ended"
    launch, *subjects = proposed
    assert launch.payload["library_id"] == "you_asked"
    # the campaigns now show only the new test: the ended one's style is gone
    new_test = loopwise_tests(con)[1]
    assert all(a.payload["test_ids"] == [new_test.test_id] for a in subjects) and len(subjects) == 4
    assert port.subjects["m_next"] == conditional_subject("New in: linen", [new_test])
    assert port.subjects["m_ab2"] == conditional_subject("B", [new_test])  # its A/B arm's own subject kept


def _schedule(con: Any, campaign_id: str, message_id: str, subject: str, at: datetime) -> None:
    con.execute(
        "insert into staging.stg_klaviyo__campaigns values (?, ?, 'Scheduled', ?)", [campaign_id, subject, at]
    )
    con.execute(
        "insert into staging.stg_klaviyo__campaign_messages values (?, ?, ?)",
        [campaign_id, message_id, subject],
    )


def _decision(test_id: str, decision: str) -> Any:
    import pandas as pd

    return pd.DataFrame(
        [{"experiment_id": f"loopwise:{test_id}", "decision": decision, "target_variant": "variant",
          "explanation": "Variant lifted clicks 20%.", "reason_code": "primary_better"}]
    )  # fmt: skip


def _result(test_id: str) -> Any:
    import pandas as pd

    return pd.DataFrame(
        [{"experiment_id": f"loopwise:{test_id}", "metric": "click_rate", "analysis_date": NOW.date(),
          "n_control": 1500, "n_variant": 1490, "mean_control": 0.024, "mean_variant": 0.029,
          "relative_lift": 0.2, "sequential_relative_ci_lower": 0.05, "sequential_relative_ci_upper": 0.35,
          "sequential_p_value": 0.01, "chance_to_beat_control": 0.99, "cuped_applied": True,
          "variance_reduction": 0.2}]
    )  # fmt: skip


def _plan() -> Any:
    from decision_engine.experiments.plans import ExperimentPlan

    return ExperimentPlan("x", primary_metric="click_rate")


def _exposures_from_assignments(con: Any, sends: int) -> None:
    """Exposures shaped like the mart's loopwise_test rows: ``sends`` campaign sends per contact,
    clicks drawn by a hash (the same rate in both arms), plus one marketer A/B test."""
    con.execute(
        "create or replace table marts.fct_experiment_exposures as "
        "select 'loopwise:' || experiment_id as experiment_id, 'loopwise_test' as experiment_type, arm as variant, "
        "arm = 'control' as is_control, contact_id as unit_id, assigned_at + interval 1 day as exposed_at, "
        "1 as arm_count, true as is_delivered, clicks > 0 as is_opened, clicks > 0 as is_human_opened, "
        "clicks > 0 as is_clicked, false as is_converted, 0.0 as revenue, false as is_unsubscribed, "
        "false as is_spam_complaint, false as is_bounced, ? as delivered_sends, clicks as clicked_sends, "
        "0 as converted_sends, (hash(contact_id) % 7) / 50.0 as pre_click_rate, false as became_mql, "
        "false as deal_created, 0.0 as won_revenue "
        "from (select *, (hash(contact_id || 'x') % 100 < 12)::int + (hash(contact_id || 'y') % 100 < 3)::int "
        "as clicks from results.experiment_assignments) "
        "union all select 'campaign_ab:c9', 'campaign_ab', v, v = 'Variant A', 'u' || i, ?::timestamptz, 1, true, "
        "i % 4 = 0, i % 4 = 0, i % 9 = 0, false, 0.0, false, false, false, 1, (i % 9 = 0)::int, 0, null, "
        "false, false, 0.0 from range(200) t(i), (values ('Variant A'), ('Variant B')) s(v)",
        [sends, NOW],
    )


def test_the_experiments_run_decides_loopwise_tests_per_contact_with_cuped(con) -> None:
    from decision_engine.experiments.run import ExperimentRunConfig, analyze_exposures

    policy = parse_policy(LIBRARY)
    _run(con, policy, NOW, FakeKlaviyo(_subjects(con)))
    (test,) = loopwise_tests(con)
    _exposures_from_assignments(con, sends=6)
    analysed = analyze_exposures(con, ExperimentRunConfig(policy=policy), NOW + timedelta(days=14))
    decisions = {row["experiment_id"]: row for row in analysed.decisions.to_dict("records")}
    assert set(decisions) == {"campaign_ab:c9", f"loopwise:{test.test_id}"}  # both paths, once each
    own = decisions[f"loopwise:{test.test_id}"]
    planned = test.payload["planned_units_per_arm"]
    assert (own["decision"], own["reason_code"], own["primary_metric"]) == (
        "continue",
        "underpowered",
        "click_rate",
    )
    sent_per_arm = 6 * len(current_arms(con, test.test_id)) / 2
    assert own["information_fraction"] == pytest.approx(sent_per_arm / planned, rel=0.02)
    assert f"needs about {round(planned - sent_per_arm):,} more recipients per arm" in own["explanation"]
    assert "Primary metric: clicks per delivered email" in own["explanation"]
    clicks = analysed.results[
        (analysed.results["experiment_id"] == f"loopwise:{test.test_id}")
        & (analysed.results["metric"] == "click_rate")
    ].iloc[0]
    assert bool(clicks["cuped_applied"]) and int(clicks["n_control"]) + int(clicks["n_variant"]) == len(
        current_arms(con, test.test_id)
    )
    assert analysed.actions == []  # no ship: nothing to roll out
    # once ended, the test's decision stands every run (later data must not reopen it)
    ensure_results_table(con, "experiment_decisions")
    con.execute(
        "insert into results.experiment_decisions (analysis_timestamp, analysis_date, experiment_id, decision, "
        "reason_code, explanation) values (?, ?, ?, 'keep_control', 'planned_sample_reached', 'No lift.')",
        [NOW, NOW.date(), f"loopwise:{test.test_id}"],
    )
    _exposures_from_assignments(con, sends=600)  # far past the plan: a fresh look might now say ship
    again = analyze_exposures(con, ExperimentRunConfig(policy=policy), NOW + timedelta(days=21))
    ended = again.decisions[again.decisions["experiment_id"] == f"loopwise:{test.test_id}"].iloc[0]
    assert (ended["decision"], ended["reason_code"]) == ("keep_control", "planned_sample_reached")
    assert ended["explanation"] == f"Ended on {NOW.date()}: No lift."
    assert again.actions == []


class UnsupportedKlaviyo(FakeKlaviyo):
    """A Klaviyo client without the test writes (what a client older than them does)."""

    def read(self, target: WriteTarget) -> Any:
        raise CannotWrite(f"the klaviyo client cannot write this: unknown entity type {target.entity_type}")


def test_a_write_the_client_cannot_attempt_is_refused_not_retried(con) -> None:
    policy = parse_policy(LIBRARY)
    _run(con, policy, NOW, UnsupportedKlaviyo(_subjects(con)))
    records = list_actions(con)
    assert {r["status"] for r in records} == {"rejected"}
    assert all(r["status_reason"].startswith("cannot be written: the klaviyo client") for r in records)
    assert con.execute("select count(*) from results.action_log").fetchone()[0] == 0
    assert con.execute("select count(*) from results.experiment_assignments").fetchone()[0] == 0


def test_weeks_still_needed_are_at_the_pace_the_test_has_had() -> None:
    from decision_engine.experiments.launch import LoopwiseTest
    from decision_engine.experiments.loopwise_analysis import ArmVolume, loopwise_plans

    payload = {"planned_units_per_arm": 8000, "weekly_units_per_arm": 1000.0, "primary_metric": "click_rate"}
    test = LoopwiseTest("lw-quick_read-20260504", "quick_read", "lw_arm_quick_read_20260504",
                        "Quick read: {subject}", "running", NOW, payload)  # fmt: skip
    name = f"loopwise:{test.test_id}"

    def plan(days: float, sends: int) -> Any:
        plans = loopwise_plans({name: "loopwise_test"}, {test.test_id: test}, {name: ArmVolume(400, sends)},
                               parse_policy(LIBRARY), NOW + timedelta(days=days))  # fmt: skip
        return plans[name]

    # two weeks at half the planned pace (500 a week per arm): 7,000 more take 14 weeks, not 7
    slow = plan(14, 2000)
    assert slow.more_recipients_per_arm == 7000
    assert slow.weeks_to_planned_sample == pytest.approx(14.0)
    # in its first week the test is too young to have a pace of its own: the plan's
    young = plan(3, 600)
    assert young.weeks_to_planned_sample == pytest.approx(7700 / 1000)
