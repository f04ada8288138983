"""Execution of approved actions against the sandbox over real HTTP, under the policy's hard limits.

Each test checks that the queue, the action log and the vendor (the sandbox world's write
log) agree afterwards.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from activation.writeback.settings import sandbox_writeback_settings
from decision_engine.execution import execute_approved, verify_executed
from decision_engine.policy import parse_policy
from decision_engine.queue import govern
from orchestration.defs.loop.vendor_port import WritebackPort
from sandbox import SandboxServer, World, WorldSpec
from tests.decision_engine.queue_helpers import budget_action, queue, status, warehouse

DAY = date(2026, 5, 1)


@pytest.fixture()
def world() -> World:
    return World(WorldSpec.preset("tiny", clean=True, meta_cbo_campaigns=0))


def _adset(world: World) -> tuple[str, float]:
    entity = next(e for e in world.budget_entities("meta") if e.entity_type == "adset")
    return entity.entity_id, world.entity_budgets("meta", world.clock_day)[entity.entity_id]


def _now(world: World) -> datetime:
    return world.clock.astimezone(UTC)


def _budget_writes(world: World) -> list[dict]:
    return [w for w in world.writes if w["action"] == "set_budget"]


def _queued(con, target: str, current: float, new: float, now: datetime, policy_text: str = "") -> str:
    (action_id,) = queue(con, budget_action(target, new, current), day=DAY, stamp=now)
    govern(con, parse_policy(policy_text or "version: 1\n", "policy.yaml"), now)
    return action_id


def test_an_auto_approved_move_is_written_once_and_verified_on_the_next_run(
    world: World, tmp_path: Path
) -> None:
    policy = parse_policy("version: 1\n", "policy.yaml")
    con = warehouse(tmp_path / "w.duckdb")
    target, current = _adset(world)
    now = _now(world)
    action_id = _queued(con, target, current, round(current * 1.08, 2), now)
    assert status(con, action_id) == "auto_approved"
    with SandboxServer(world) as server:
        port = WritebackPort(sandbox_writeback_settings(server, world))
        first = execute_approved(con, policy, now, port)
        again = execute_approved(con, policy, now, port)  # a re-run of the same day writes nothing
        assert (first.executed, again.executed) == (1, 0)
        assert verify_executed(con, policy, now + timedelta(days=1), port) == 1
    writes = _budget_writes(world)
    assert [(w["target"], w["value"]) for w in writes] == [(target, round(current * 1.08, 2))]
    assert status(con, action_id) == "verified"
    log = con.execute("select status, value_before, value_after from results.action_log").fetchall()
    assert log == [("executed", str(current), str(round(current * 1.08, 2)))]


def test_a_run_killed_after_the_write_records_it_without_writing_again(world: World, tmp_path: Path) -> None:
    policy = parse_policy("version: 1\n", "policy.yaml")
    con = warehouse(tmp_path / "w.duckdb")
    target, current = _adset(world)
    now = _now(world)
    target_value = round(current * 0.95, 2)
    action_id = _queued(con, target, current, target_value, now)
    world.set_entity_budget("meta", target, target_value)  # the write landed; its record did not
    with SandboxServer(world) as server:
        execute_approved(con, policy, now, WritebackPort(sandbox_writeback_settings(server, world)))
    assert len(_budget_writes(world)) == 1
    assert status(con, action_id) == "executed"
    assert con.execute("select status from results.action_log").fetchall() == [("noop",)]


def test_hard_limits_are_checked_against_the_vendors_value_at_write_time(
    world: World, tmp_path: Path
) -> None:
    policy = parse_policy("version: 1\n", "policy.yaml")
    con = warehouse(tmp_path / "w.duckdb")
    target, current = _adset(world)
    now = _now(world)
    action_id = _queued(con, target, current, round(current * 1.08, 2), now)
    # someone halved the budget in the vendor's UI since the proposal: +116% now, over the 20% cap
    world.set_entity_budget("meta", target, round(current / 2, 2))
    with SandboxServer(world) as server:
        summary = execute_approved(con, policy, now, WritebackPort(sandbox_writeback_settings(server, world)))
    assert summary.blocked == 1
    assert len(_budget_writes(world)) == 1  # only the human's change
    assert status(con, action_id) == "rejected"
    reason = con.execute("select status_reason from results.actions").fetchall()[0][0]
    assert "hard cap 20%" in reason


def test_dry_run_validates_with_the_vendor_and_changes_nothing(world: World, tmp_path: Path) -> None:
    policy = parse_policy("version: 1\nmode: dry_run\n", "policy.yaml")
    con = warehouse(tmp_path / "w.duckdb")
    target, current = _adset(world)
    now = _now(world)
    action_id = _queued(con, target, current, round(current * 1.05, 2), now, "version: 1\nmode: dry_run\n")
    with SandboxServer(world) as server:
        summary = execute_approved(con, policy, now, WritebackPort(sandbox_writeback_settings(server, world)))
    assert summary.validated == 1 and not _budget_writes(world)
    assert status(con, action_id) == "auto_approved"
    assert con.execute("select mode, status from results.action_log").fetchall() == [("dry_run", "validated")]


def test_the_kill_switch_stops_approved_actions(world: World, tmp_path: Path) -> None:
    con = warehouse(tmp_path / "w.duckdb")
    target, current = _adset(world)
    now = _now(world)
    action_id = _queued(con, target, current, round(current * 1.05, 2), now)
    off = parse_policy("version: 1\nautonomy: 'off'\n", "policy.yaml")
    with SandboxServer(world) as server:
        summary = execute_approved(con, off, now, WritebackPort(sandbox_writeback_settings(server, world)))
    assert summary.executed == 0 and not _budget_writes(world)
    assert status(con, action_id) == "auto_approved"


def test_a_vendor_refusal_ends_failed_with_the_vendors_reason(world: World, tmp_path: Path) -> None:
    policy = parse_policy("version: 1\nexecution:\n  max_attempts: 1\n", "policy.yaml")
    con = warehouse(tmp_path / "w.duckdb")
    target, current = _adset(world)
    now = _now(world)
    action_id = _queued(con, target, current, round(current * 1.05, 2), now)
    # an ad set id the vendor does not know (deleted since the proposal)
    con.execute("update results.actions set target_id = '120219999999999999'")
    with SandboxServer(world) as server:
        summary = execute_approved(con, policy, now, WritebackPort(sandbox_writeback_settings(server, world)))
    assert summary.failed + summary.blocked == 1 and not _budget_writes(world)
    assert status(con, action_id) in ("failed", "rejected")
    assert con.execute("select status_reason from results.actions").fetchall()[0][0]


def test_an_incident_on_a_changed_entity_proposes_the_reverse_change(world: World, tmp_path: Path) -> None:
    from decision_engine.rollback import propose_rollbacks

    policy = parse_policy("version: 1\n", "policy.yaml")
    con = warehouse(tmp_path / "w.duckdb")
    target, current = _adset(world)
    now = _now(world)
    _queued(con, target, current, round(current * 1.08, 2), now)
    with SandboxServer(world) as server:
        execute_approved(con, policy, now, WritebackPort(sandbox_writeback_settings(server, world)))
    con.execute(
        "create table results.anomaly_alerts as select 'inc1' as incident_id, 'runaway_spend' as incident_type, "
        "'ad_platform:meta_ads' as entity, 'critical' as severity, 'open' as status, "
        "?::timestamptz as analysis_timestamp",
        [now + timedelta(days=1)],
    )
    (rollback,) = propose_rollbacks(con, policy, now + timedelta(days=1))
    assert rollback.action_type == "reverse_change" and rollback.payload["daily_budget"] == current
    assert "inc1" in rollback.reason and not rollback.auto_apply_allowed
    govern(con, policy, now + timedelta(days=1))
    assert con.execute(
        "select status from results.actions where action_type = 'reverse_change'"
    ).fetchall() == [("pending_approval",)]
    assert replace(rollback).target_id == target
