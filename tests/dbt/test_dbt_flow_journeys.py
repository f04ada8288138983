"""fct_flow_journeys on the hand-crafted raw tables: one journey per entry and its exit reason.

Flow f1 (dbt_raw_data.py): step 1 at the trigger, step 2 two days later, step 3 thirty days
later (no message yet). Three profiles entered on 2026-03-01 08:00; the newest event is an order
on 2026-03-09 12:00, so step 2 was due for all of them and step 3 for none.
"""

from __future__ import annotations

from datetime import datetime

from dbt_build_result import DbtBuild


def _journeys(dbt_build: DbtBuild) -> dict[str, dict]:
    rows = dbt_build.query_dicts("select * from marts.fct_flow_journeys where flow_id = 'f1'")
    return {row["klaviyo_profile_id"]: row for row in rows}


def _utc(text: str) -> datetime:
    """The marts hold UTC timestamps without a zone."""
    return datetime.fromisoformat(text)


def test_one_journey_per_entry_with_its_steps(dbt_build: DbtBuild) -> None:
    journeys = _journeys(dbt_build)
    assert set(journeys) == {"kp1", "kp3", "kp5"}
    for journey in journeys.values():
        assert journey["entry_ts"] == _utc("2026-03-01 08:00:00")
        assert journey["delay_source"] == "flow_definition"
    assert {p: j["last_step"] for p, j in journeys.items()} == {"kp1": 1, "kp3": 2, "kp5": 2}
    assert journeys["kp3"]["steps_received"] == 2
    assert journeys["kp3"]["steps_human_opened"] == 1
    assert journeys["kp3"]["next_step"] == 3
    assert journeys["kp3"]["next_step_due_ts"] == _utc("2026-03-31 08:00:00")


def test_exit_reasons_follow_the_rules(dbt_build: DbtBuild) -> None:
    journeys = _journeys(dbt_build)
    # kp3 unsubscribed (09:30) after step 2 (08:00) and before step 3 was due: unsubscribed,
    # although it also complained a minute later (the earliest terminal event wins)
    assert journeys["kp3"]["exit_reason"] == "unsubscribed"
    assert journeys["kp3"]["exit_ts"] == _utc("2026-03-03 09:30:00")
    # kp5's hard bounce (a campaign, 2026-03-02) came before step 2: it does not end the journey,
    # and step 3 is not due by the data's end: censored, no exit time
    assert journeys["kp5"]["exit_reason"] == "still_waiting"
    assert journeys["kp5"]["exit_ts"] is None
    # kp1 got step 1 only; step 2 was due on 2026-03-03 and nothing explains the missing send
    assert journeys["kp1"]["exit_reason"] == "filtered_out"
    assert journeys["kp1"]["exit_ts"] == _utc("2026-03-03 08:00:00")


def test_journeys_reconcile_with_the_step_funnel(dbt_build: DbtBuild) -> None:
    """Each step's recipients in the funnel equal the journeys that reached it."""
    funnel = dict(
        dbt_build.query(
            "select step_position, sum(recipients) from marts.fct_flow_step_funnel "
            "where flow_id = 'f1' group by step_position"
        )
    )
    reached = dict(
        dbt_build.query(
            "select step.position, count(*) from marts.fct_flow_journeys as journeys "
            "cross join (select unnest([1, 2]) as position) as step "
            "where journeys.flow_id = 'f1' and journeys.last_step >= step.position "
            "group by step.position"
        )
    )
    assert reached == funnel
