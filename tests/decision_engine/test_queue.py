"""The action lifecycle on real DuckDB files: verdicts, supersession, expiry, approvals, writes."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from queue_helpers import LATER, POLICY, budget_action, queue, rollout_action, status

from decision_engine.governance import ExecutionContext
from decision_engine.policy import parse_policy
from decision_engine.queue import (
    QueueError,
    WriteRecord,
    approve,
    executable,
    govern,
    list_actions,
    mark_rolled_back,
    record_write,
    reject,
    show_action,
    verify,
)


def _events(con, action_id):
    return [(e["from_status"], e["to_status"], e["actor"]) for e in show_action(con, action_id)["events"]]


def _write(status="executed", mode="execute", retryable=False, value=105.0):
    return WriteRecord(
        mode=mode,
        status=status,
        entity_type="adset",
        entity_id="adset1",
        field="daily_budget",
        value_requested=value,
        value_before=100.0,
        value_after=value if status == "executed" else 100.0,
        error="throttled" if status == "failed" else None,
        retryable=retryable,
    )


def test_govern_gives_each_proposal_its_verdict(con):
    small, large, too_large = queue(
        con,
        budget_action("a", 105.0),  # +5%: within auto-approval
        budget_action("b", 115.0),  # +15%: needs a human
        budget_action("c", 130.0),  # +30%: beyond the hard cap
    )
    summary = govern(con, POLICY, LATER)
    assert (summary.auto_approved, summary.pending_approval, summary.rejected) == (1, 1, 1)
    assert [status(con, i) for i in (small, large, too_large)] == [
        "auto_approved",
        "pending_approval",
        "rejected",
    ]
    pending = show_action(con, large)["action"]
    assert pending["policy_reason_code"] == "above_auto_approve"
    assert pending["expires_at"] == LATER + timedelta(days=3)
    assert "hard cap 20%" in json.loads(show_action(con, too_large)["action"]["policy_reasons"])[0]
    assert _events(con, small) == [(None, "proposed", "budget"), ("proposed", "auto_approved", "policy")]


def test_a_rerun_with_the_same_payload_keeps_the_lifecycle_state(con):
    (action_id,) = queue(con, budget_action())
    govern(con, POLICY, LATER)
    queue(con, budget_action())
    assert status(con, action_id) == "auto_approved"
    assert len(_events(con, action_id)) == 2


def test_a_changed_payload_needs_approval_again(con):
    (action_id,) = queue(con, budget_action(new=115.0))
    govern(con, POLICY, LATER)
    approve(con, action_id, "ana", "looks right", LATER)
    assert [row.action_id for row in executable(con, POLICY, LATER)] == [action_id]
    queue(con, budget_action(new=118.0))  # the engine re-ran and changed its mind
    assert status(con, action_id) == "proposed"
    assert executable(con, POLICY, LATER) == []
    assert _events(con, action_id)[-1] == ("approved", "proposed", "budget")
    record = show_action(con, action_id)["action"]
    assert record["approved_by"] is None and record["approved_payload_hash"] is None


def test_an_executed_action_is_never_reset(con):
    (action_id,) = queue(con, budget_action())
    govern(con, POLICY, LATER)
    record_write(con, action_id, _write(), LATER, POLICY)
    queue(con, budget_action(new=108.0))
    assert status(con, action_id) == "executed"


def test_a_newer_proposal_supersedes_an_unexecuted_older_one(con):
    (old,) = queue(con, budget_action(new=115.0), day=date(2026, 5, 1))
    govern(con, POLICY, LATER)
    (new,) = queue(con, budget_action(new=104.0), day=date(2026, 5, 2))
    summary = govern(con, POLICY, LATER)
    assert summary.superseded == 1
    assert status(con, old) == "superseded" and status(con, new) == "auto_approved"
    assert show_action(con, old)["action"]["superseded_by"] == new
    with pytest.raises(QueueError, match=f"superseded by {new}"):
        approve(con, old, "ana", None, LATER)


def test_approvals_and_waiting_proposals_expire(con):
    approved, waiting = queue(con, budget_action("a", 105.0), budget_action("b", 115.0))
    govern(con, POLICY, LATER)
    assert govern(con, POLICY, LATER + timedelta(days=2)).expired == 0
    summary = govern(con, POLICY, LATER + timedelta(days=3))
    assert summary.expired == 2
    assert status(con, approved) == "expired" and status(con, waiting) == "expired"
    with pytest.raises(QueueError, match="is expired"):
        approve(con, waiting, "ana", None, LATER + timedelta(days=3))


def test_a_pending_approval_past_its_expiry_cannot_be_approved_before_govern_runs(con):
    (waiting,) = queue(con, budget_action(new=115.0))
    govern(con, POLICY, LATER)
    with pytest.raises(QueueError, match="is expired"):
        approve(con, waiting, "ana", None, LATER + timedelta(days=4))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda con, i: approve(con, "nope", "ana", None, LATER), "no action with id 'nope'"),
        (lambda con, i: approve(con, i, "  ", None, LATER), "--by NAME must not be empty"),
        (lambda con, i: reject(con, i, "ana", "", LATER), "--reason TEXT is required"),
    ],
)
def test_bad_decisions_are_one_line_errors(con, call, message):
    (action_id,) = queue(con, budget_action(new=115.0))
    govern(con, POLICY, LATER)
    with pytest.raises(QueueError, match=message) as raised:
        call(con, action_id)
    assert "\n" not in str(raised.value)
    assert status(con, action_id) == "pending_approval"


def test_a_rejected_or_executed_action_cannot_be_decided_again(con):
    rejected, executed = queue(con, budget_action("a", 115.0), budget_action("b", 105.0))
    govern(con, POLICY, LATER)
    reject(con, rejected, "ana", "not during the sale", LATER)
    record_write(con, executed, _write(), LATER, POLICY)
    with pytest.raises(QueueError, match="is rejected"):
        approve(con, rejected, "ana", None, LATER)
    with pytest.raises(QueueError, match="is executed"):
        reject(con, executed, "ana", "too late", LATER)
    assert show_action(con, rejected)["action"]["status_reason"] == "not during the sale"


def test_executable_respects_the_kill_switch_the_autonomy_and_attempts(con):
    auto, human = queue(con, budget_action("a", 105.0), budget_action("b", 115.0))
    govern(con, POLICY, LATER)
    approve(con, human, "ana", None, LATER)
    assert {row.action_id for row in executable(con, POLICY, LATER)} == {auto, human}
    assert executable(con, parse_policy("autonomy: off"), LATER) == []
    # Tightened to recommend after the verdict: the automatic approval no longer stands.
    assert [r.action_id for r in executable(con, parse_policy("autonomy: recommend"), LATER)] == [human]
    blackout = parse_policy(f"blackout_dates: ['{LATER.date().isoformat()}']")
    assert executable(con, blackout, LATER) == []
    # Another move today already changed the budget: against the day's start the cap is exceeded.
    moved = executable(con, POLICY, LATER, lambda row: ExecutionContext(LATER.date(), day_start_budget=80.0))
    assert moved == []


def test_retryable_failures_stay_approved_until_max_attempts(con):
    (action_id,) = queue(con, budget_action())
    govern(con, POLICY, LATER)
    for attempt in (1, 2):
        record_write(con, action_id, _write("failed", retryable=True), LATER, POLICY)
        assert status(con, action_id) == "auto_approved"
        assert executable(con, POLICY, LATER)[0].attempts == attempt
    record_write(con, action_id, _write("failed", retryable=True), LATER, POLICY)
    assert status(con, action_id) == "failed"
    assert [entry["attempt"] for entry in show_action(con, action_id)["log"]] == [1, 2, 3]


def test_a_permanent_failure_ends_failed_at_once(con):
    (action_id,) = queue(con, budget_action())
    govern(con, POLICY, LATER)
    record_write(con, action_id, _write("failed", retryable=False), LATER, POLICY)
    assert status(con, action_id) == "failed"
    assert "throttled" in show_action(con, action_id)["action"]["status_reason"]


def test_a_dry_run_is_logged_and_changes_no_status(con):
    (action_id,) = queue(con, budget_action())
    govern(con, POLICY, LATER)
    dry = parse_policy("mode: dry_run")
    record_write(con, action_id, _write("validated", mode="dry_run"), LATER, dry)
    assert status(con, action_id) == "auto_approved"
    (entry,) = show_action(con, action_id)["log"]
    assert (entry["mode"], entry["status"], entry["policy_hash"]) == ("dry_run", "validated", dry.hash())
    with pytest.raises(QueueError, match="cannot end executed"):
        record_write(con, action_id, _write("executed", mode="dry_run"), LATER, dry)


def test_a_run_killed_after_the_vendor_write_recovers_as_noop(con):
    """The write happened but was never recorded: the action is still executable, and the
    writer's read-before-write finds the target, so the record is a noop that counts as executed."""
    (action_id,) = queue(con, budget_action())
    govern(con, POLICY, LATER)
    # ... vendor written, process killed before record_write ...
    assert [row.action_id for row in executable(con, POLICY, LATER)] == [action_id]
    noop = WriteRecord("execute", "noop", "adset", "adset1", "daily_budget", 105.0, value_before=105.0)
    record_write(con, action_id, noop, LATER, POLICY)
    assert status(con, action_id) == "executed"
    assert executable(con, POLICY, LATER) == []


def test_verify_needs_the_vendor_to_report_the_target(con):
    (action_id,) = queue(con, budget_action())
    govern(con, POLICY, LATER)
    with pytest.raises(QueueError, match="only executed actions"):
        verify(con, action_id, 105.0, LATER)
    record_write(con, action_id, _write(), LATER, POLICY)
    assert verify(con, action_id, 100.0, LATER) is False
    assert status(con, action_id) == "executed"
    assert verify(con, action_id, 105.001, LATER) is True
    assert status(con, action_id) == "verified"
    mark_rolled_back(con, action_id, "loopwise", "incident on the ad set", LATER)
    assert status(con, action_id) == "rolled_back"
    assert [a["action_id"] for a in list_actions(con, "rolled_back")] == [action_id]


def test_rollout_winner_ships_on_its_own_only_with_enough_evidence(con):
    strong, thin = queue(con, rollout_action("e1"), rollout_action("e2", n_per_arm=200))
    govern(con, POLICY, LATER)
    assert status(con, strong) == "auto_approved"
    assert status(con, thin) == "pending_approval"
    assert show_action(con, thin)["action"]["policy_reason_code"] == "too_few_units"


def _extension(new: float, target: str = "adset1") -> object:
    return budget_action(target, new, auto=False, kind="extend_daily_budget")


def test_a_move_beyond_the_auto_limit_waits_beside_the_move_that_applies(con):
    applies, extension = queue(con, budget_action(new=110.0), _extension(118.0))
    summary = govern(con, POLICY, LATER)
    assert summary.superseded == 0, "one analysis may leave both proposals for an entity"
    assert status(con, applies) == "auto_approved" and status(con, extension) == "pending_approval"
    reasons = show_action(con, extension)["action"]["policy_reasons"]
    assert "always a human decision" in reasons
    # even a small extension is never automatic
    (small,) = queue(con, _extension(103.0, "adset2"))
    govern(con, POLICY, LATER)
    assert status(con, small) == "pending_approval"
    # a newer analysis replaces both of the entity's proposals
    (newer,) = queue(con, budget_action(new=95.0), day=date(2026, 5, 2))
    govern(con, POLICY, LATER)
    assert status(con, applies) == "superseded" and status(con, extension) == "superseded"
    assert show_action(con, extension)["action"]["superseded_by"] == newer
    assert status(con, newer) == "auto_approved"


def test_an_approved_extension_goes_after_its_entitys_move_and_waits_for_it(con):
    # the extension's id sorts first or last depending on the hash: the order must not depend on it
    applies, extension = queue(con, budget_action(new=110.0), _extension(118.0))
    govern(con, POLICY, LATER)
    approve(con, extension, "ana", None, LATER)
    assert [row.action_id for row in executable(con, POLICY, LATER)] == [applies, extension]
    # the move it builds on cannot go now (the policy was tightened): the extension waits too
    recommend = parse_policy("autonomy: recommend")
    assert [row.action_id for row in executable(con, recommend, LATER)] == []


def test_a_rerun_after_its_own_write_keeps_the_waiting_extension(con):
    applies, extension = queue(con, budget_action(new=110.0), _extension(118.0))
    govern(con, POLICY, LATER)
    record_write(con, applies, _write(value=110.0), LATER, POLICY)
    assert status(con, applies) == "executed"
    before = show_action(con, extension)
    # the same analysis re-run reads the budget our write left (110) and sizes the rest anew
    queue(con, budget_action(new=121.0, current=110.0), _extension(121.0))
    govern(con, POLICY, LATER)
    after = show_action(con, extension)
    assert after["action"]["payload"] == before["action"]["payload"]
    assert after["events"] == before["events"] and status(con, extension) == "pending_approval"
    # without a write the same re-run would have re-planned it
    (other,) = queue(con, _extension(118.0, "adset2"))
    queue(con, _extension(125.0, "adset2"))
    assert json.loads(show_action(con, other)["action"]["payload"])["daily_budget"] == 125.0
