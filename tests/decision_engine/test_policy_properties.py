"""Generated actions, policies and worlds: the queue never hands out a write the policy forbids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decision_engine.actions import ProposedAction, write_actions
from decision_engine.governance import (
    HUMAN_ONLY_KINDS,
    KNOWN_KINDS,
    ActionRow,
    ExecutionContext,
    hard_limit_violations,
    verdict,
)
from decision_engine.policy import BudgetPolicy, ExperimentsPolicy, Policy
from decision_engine.queue import approve, ensure_lifecycle_tables, executable, govern

NOW = datetime(2026, 5, 2, 6, tzinfo=UTC)
TODAY = NOW.date()
PROPERTIES = settings(
    max_examples=500, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

money = st.floats(min_value=0, max_value=2000, allow_nan=False)
maybe_money = st.none() | money


@st.composite
def policies(draw) -> Policy:
    cap = draw(st.floats(0, 100))
    budget = BudgetPolicy(
        max_change_pct=cap,
        auto_approve_max_change_pct=draw(st.floats(0, cap)),
        min_daily_budget=draw(st.floats(0, 50)),
        max_total_daily_budget=draw(st.none() | st.floats(50, 5000)),
        frozen=tuple(
            draw(st.lists(st.sampled_from(["meta_ads", "google_ads", "klaviyo", "t1", "t2"]), max_size=2))
        ),
        allow_shared_budgets=draw(st.booleans()),
    )
    experiments = ExperimentsPolicy(
        auto_ship=draw(st.booleans()),
        min_units_per_arm=draw(st.integers(1, 5000)),
        min_chance_to_beat_control=draw(st.floats(0, 1)),
    )
    return Policy(
        autonomy=draw(st.sampled_from(["off", "recommend", "auto"])),
        budget=budget,
        experiments=experiments,
        blackout_dates=tuple(draw(st.lists(st.sampled_from([TODAY, TODAY + timedelta(days=1)]), max_size=1))),
    )


@st.composite
def proposals(draw) -> ProposedAction:
    kind = draw(st.sampled_from(sorted(KNOWN_KINDS | {"mystery"})))
    platform = draw(st.sampled_from(["meta_ads", "google_ads", "klaviyo"]))
    payload: dict = {}
    if kind in ("set_daily_budget", "reverse_change"):
        payload = {
            "daily_budget": draw(money),
            "current_daily_budget": draw(money),
            "currency": "USD",
            "entity_type": "adset",
            "explicitly_shared": draw(st.booleans()),
        }
    elif kind == "rollout_winner":
        payload = {
            "winner": "B",
            "n_per_arm": draw(st.integers(0, 10000)),
            "chance_to_beat_control": draw(st.floats(0, 1)),
        }
    return ProposedAction(
        source="budget",
        action_type=kind,  # type: ignore[arg-type]
        platform=platform,
        target_id=draw(st.sampled_from(["t1", "t2", "t3", "t4"])),
        payload=payload,
        reason="generated",
        auto_apply_allowed=draw(st.booleans()),
    )


@st.composite
def contexts(draw) -> ExecutionContext:
    return ExecutionContext(
        today=TODAY,
        day_start_budget=draw(maybe_money),
        current_budget=draw(maybe_money),
        account_total=draw(st.none() | st.floats(0, 10000)),
    )


def _row(action: ProposedAction) -> ActionRow:
    return ActionRow(
        action_id=action.action_id(TODAY),
        action_type=action.action_type,
        platform=action.platform,
        target_id=action.target_id,
        payload=action.payload,
        auto_apply_allowed=action.auto_apply_allowed,
    )


@PROPERTIES
@given(action=proposals(), policy=policies(), context=contexts())
def test_verdicts_never_auto_approve_what_a_human_or_a_limit_must_stop(action, policy, context):
    row = _row(action)
    judged = verdict(row, policy, context)
    violations = hard_limit_violations(row, policy, context)
    if judged.status == "auto_approved":
        assert not violations or all("blackout" in v for v in violations)
        assert policy.autonomy == "auto"
        assert row.action_type not in HUMAN_ONLY_KINDS
        assert row.auto_apply_allowed
    if policy.autonomy == "off":
        assert violations  # the kill switch is a hard limit at write time
    assert judged.reasons and judged.reason_code


_SHARED: list[duckdb.DuckDBPyConnection] = []


def _empty_queue() -> duckdb.DuckDBPyConnection:
    """One in-memory warehouse for all examples (a fresh one each costs most of the run), emptied."""
    if not _SHARED:
        _SHARED.append(duckdb.connect())
        ensure_lifecycle_tables(_SHARED[0])
    con = _SHARED[0]
    for table in ("actions", "action_events", "action_log"):
        con.execute(f"delete from results.{table}")
    return con


@PROPERTIES
@given(
    actions=st.lists(proposals(), min_size=1, max_size=6),
    policy=policies(),
    context=contexts(),
    human_approves=st.booleans(),
)
def test_executable_never_returns_an_action_with_a_violation(actions, policy, context, human_approves):
    con = _empty_queue()
    write_actions(con, actions, NOW, TODAY)
    govern(con, policy, NOW, lambda row: context)
    if human_approves:
        waiting = con.execute(
            "select action_id from results.actions where status in ('proposed', 'pending_approval')"
        ).fetchall()
        for (action_id,) in waiting:
            approve(con, action_id, "ana", None, NOW)
    ready = executable(con, policy, NOW, lambda row: context)
    if policy.autonomy == "off":
        assert ready == []
    for row in ready:
        assert hard_limit_violations(row, policy, context) == []
        if row.status == "auto_approved":
            assert row.action_type not in HUMAN_ONLY_KINDS
            assert policy.autonomy == "auto"
        else:
            assert row.status == "approved" and row.approved_payload_hash == row.payload_hash
