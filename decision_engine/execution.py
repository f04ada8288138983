"""Execute approved actions under the policy's hard limits, then verify them on later runs.

The vendor side is a :class:`VendorPort` the caller provides (orchestration wraps the
``activation.writeback`` clients in one), so this module decides *what* to write and
*whether* it may be written, and never talks HTTP itself:

1. :func:`decision_engine.queue.executable` lists what is approved and still valid.
2. For each, the port reads the vendor's current value; the hard limits are checked again
   against it (the budget at the start of the day comes from today's write log, so two moves
   in one day cannot add up past the cap). A violation rejects the action (actor ``policy``)
   and nothing is sent.
3. The port writes the absolute target (``dry_run`` under ``mode: dry_run``: the vendor
   validates, nothing changes) and :func:`decision_engine.queue.record_write` logs the
   attempt and moves the action.
4. :func:`verify_executed` reads back what earlier runs executed: equal -> ``verified``.

A run killed between a vendor write and its record leaves the action approved; the next
run's read finds the target already in place and the port reports ``noop`` (executed, no
second write).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from decision_engine.experiments.assignment import (
    current_arms,
    enrollable_contacts,
    launch_assignments,
    record_assignments,
    rollout_assignments,
)
from decision_engine.governance import (
    BUDGET_KIND,
    CONTENT_CHOICE_KIND,
    EXTENSION_KIND,
    LAUNCH_KIND,
    ROLLBACK_KIND,
    ROLLOUT_KIND,
    SEND_TIME_KIND,
    TEST_SUBJECT_KIND,
    ActionRow,
    ExecutionContext,
    hard_limit_violations,
)
from decision_engine.policy import Policy
from decision_engine.queue import (
    WriteRecord,
    action_row,
    block,
    executable,
    list_actions,
    record_write,
    verify,
)
from decision_engine.store import RESULTS_SCHEMA

BUDGET_KINDS = (BUDGET_KIND, EXTENSION_KIND, ROLLBACK_KIND)
# What a Loopwise test writes (the vendor port maps them to the Klaviyo calls): one profile
# property on many profiles in bulk import jobs, and a campaign message's subject.
PROFILE_PROPERTY_BULK = "profile_property_bulk"
CAMPAIGN_MESSAGE = "campaign_message"
# What send-time personalization writes: a campaign's recipients moved to hourly clones
# (decision_engine.personalization.send_time_schedule; the Klaviyo client's hourly child sends).
CAMPAIGN_SEND_TIMES = "campaign_send_times"
SPLIT = "split"  # the value a campaign's send times read as once Loopwise moved its recipients
# What content choice writes: each recipient's angle in a profile property and the message's preview
# text as a template reading it (decision_engine.personalization.content_choice).
CAMPAIGN_CONTENT = "campaign_content"


class CannotWrite(ValueError):
    """The vendor client can never attempt this write (a target it does not know): refused, not retried."""


@dataclass(frozen=True)
class WriteTarget:
    """What one action sets at the vendor: an absolute value for one field of one entity."""

    action_id: str
    platform: str
    entity_type: str
    entity_id: str
    field: str
    value: Any
    currency: str | None = None
    context: dict[str, Any] = field(default_factory=dict)


class VendorPort(Protocol):
    def read(self, target: WriteTarget) -> Any:
        """The entity's current value of ``target.field`` (raises when the vendor cannot say; raises
        :class:`CannotWrite` when the write can never be attempted, e.g. a target the client does not know)."""

    def write(self, target: WriteTarget, *, dry_run: bool) -> WriteRecord:
        """Read, write (or validate) and read back; vendor refusals come back as ``failed``."""


@dataclass
class ExecutionSummary:
    executed: int = 0
    validated: int = 0
    failed: int = 0
    retry_later: int = 0
    blocked: int = 0
    verified: int = 0
    lines: list[str] = field(default_factory=list)

    def as_metadata(self) -> dict[str, int]:
        return {
            "executed": self.executed,
            "validated": self.validated,
            "failed": self.failed,
            "retry_later": self.retry_later,
            "blocked_by_policy": self.blocked,
            "verified": self.verified,
        }


def write_target(con: Any, action: ActionRow, policy: Policy, now: datetime | None = None) -> WriteTarget:
    """The vendor write an approved action stands for (raises ``ValueError`` if it has none).

    ``now``: the moment of writing; without it (a later read-back) a send-time write target
    carries no recipients.
    """
    payload = action.payload
    if action.action_type == SEND_TIME_KIND:
        return _send_time_target(con, action, now)
    if action.action_type == CONTENT_CHOICE_KIND:
        return _content_target(con, action, policy, now)
    if action.action_type in BUDGET_KINDS:
        if "entity_type" not in payload:
            raise ValueError(
                f"{action.target_id} has no budget entity: {action.platform} keeps budgets on ad sets, "
                "campaigns or campaign budgets, never on an ad"
            )
        return WriteTarget(
            action.action_id,
            action.platform,
            str(payload["entity_type"]),
            action.target_id,
            "daily_budget",
            round(float(payload["daily_budget"]), 2),
            payload.get("currency"),
            {"allow_shared": policy.budget.allow_shared_budgets},
        )
    if action.action_type == LAUNCH_KIND:
        assignments = launch_assignments(
            str(payload["test_id"]), enrollable_contacts(con), float(payload.get("test_share", 1.0))
        )
        return _property_target(action, payload, assignments)
    if action.action_type == ROLLOUT_KIND and "test_id" in payload:
        test_id = str(payload["test_id"])
        assignments = rollout_assignments(
            test_id, enrollable_contacts(con), current_arms(con, test_id), policy.experiments.holdback_share
        )
        return _property_target(action, payload, assignments)
    if action.action_type == TEST_SUBJECT_KIND:
        campaign_id = payload.get("campaign_id") or action.target_id  # older payloads: the target
        context = {"campaign_id": campaign_id, "base_subject": payload.get("base_subject")}
        return WriteTarget(action.action_id, "klaviyo", CAMPAIGN_MESSAGE, str(payload["message_id"]), "subject",
                           str(payload["subject"]), None, context)  # fmt: skip
    if action.action_type == ROLLOUT_KIND:
        return _rollout_target(con, action)
    raise ValueError(f"no vendor write is defined for {action.action_type!r} actions")


def _property_target(
    action: ActionRow, payload: dict[str, Any], assignments: dict[str, dict[str, str]]
) -> WriteTarget:
    """A bulk write of the test's property: ``value`` is the profiles per arm (what a read-back
    of the property across the profiles must show); ``context["assignments"]`` maps each Klaviyo
    profile id to ``{"contact_id", "arm"}``."""
    if not assignments:
        raise ValueError(f"test {payload['test_id']} has no subscribed contact to assign")
    counts = dict(sorted(Counter(entry["arm"] for entry in assignments.values()).items()))
    context = {"test_id": str(payload["test_id"]), "assignments": assignments}
    return WriteTarget(action.action_id, "klaviyo", PROFILE_PROPERTY_BULK, str(payload["property"]),
                       str(payload["property"]), counts, None, context)  # fmt: skip


def _send_time_target(con: Any, action: ActionRow, now: datetime | None) -> WriteTarget:
    """A campaign's recipients at their hours: ``context["groups"]`` maps each local hour to its
    profile ids, ``context["recipients"]`` holds every moved recipient's arm and moment."""
    from decision_engine.personalization.send_time_schedule import (
        arm_counts,
        hour_groups,
        recipients_context,
        schedule_recipients,
    )

    context: dict[str, Any] = {
        "campaign_name": action.payload.get("campaign_name"),
        "send_day": action.payload.get("send_day"),
    }
    if now is not None:
        recipients, too_late = schedule_recipients(con, action.target_id, action.payload, now)
        if not recipients:
            raise ValueError(f"no recipient's send moment is still ahead ({too_late} left with the campaign)")
        groups = hour_groups(recipients)
        context |= {
            "groups": {str(hour): profiles for hour, profiles in groups.items()},
            "recipients": recipients_context(recipients),
            "arms": arm_counts(recipients),
            "left_with_campaign": too_late,
        }
    return WriteTarget(action.action_id, "klaviyo", CAMPAIGN_SEND_TIMES, action.target_id, "send_times",
                       SPLIT, None, context)  # fmt: skip


def _content_target(con: Any, action: ActionRow, policy: Policy, now: datetime | None) -> WriteTarget:
    """A campaign message's preview text as the angle template; ``context["assignments"]`` maps
    each recipient's Klaviyo profile id to its arm and angle (computed only when writing)."""
    from decision_engine.personalization.content_choice import (
        arm_counts,
        content_recipients,
        content_template,
    )

    payload = action.payload
    template = content_template(
        action.target_id, policy.content_choice, str(payload["topic"]), payload.get("own_preview_text")
    )
    context: dict[str, Any] = {
        "campaign_id": action.target_id,
        "campaign_name": payload.get("campaign_name"),
        "property": str(payload["property"]),
    }
    if now is not None:
        assignments = content_recipients(con, action.target_id, payload)
        if not assignments:
            raise ValueError("no subscribed recipient to choose content for")
        context |= {"assignments": assignments, "arms": arm_counts(assignments)}
    return WriteTarget(action.action_id, "klaviyo", CAMPAIGN_CONTENT, str(payload["message_id"]), "preview_text",
                       template, None, context)  # fmt: skip


def record_after_write(
    target: WriteTarget, now: datetime, write: WriteRecord | None = None
) -> Callable[[Any], None] | None:
    """What an executed write records besides the action log: a test's assignments, or the
    recipients a send-time write moved (with the clone each went under, from the write's response)."""
    if target.entity_type == CAMPAIGN_SEND_TIMES:
        from decision_engine.personalization.send_time_schedule import record_send_time_assignments

        clones = (write.response or {}).get("clones") if write is not None else None
        if not clones or "recipients" not in target.context:
            return None
        recipients = target.context["recipients"]
        return lambda con: record_send_time_assignments(
            con, target.action_id, target.entity_id, recipients, clones, now
        )
    if target.entity_type == CAMPAIGN_CONTENT:
        from decision_engine.personalization.content_choice import record_content_assignments

        if "assignments" not in target.context:
            return None
        context = target.context
        return lambda con: record_content_assignments(
            con, target.action_id, context["campaign_id"], target.entity_id, context["property"],
            context["assignments"], now,
        )  # fmt: skip
    if target.entity_type != PROFILE_PROPERTY_BULK:
        return None
    test_id, assignments = target.context["test_id"], target.context["assignments"]
    return lambda con: record_assignments(con, test_id, assignments, now, target.action_id)


def _rollout_target(con: Any, action: ActionRow) -> WriteTarget:
    """A Klaviyo campaign A/B test's winner, with the winning message's content for the send."""
    campaign_id = action.target_id.split(":", 1)[-1]
    label = str(action.payload.get("winner_variant"))
    found = con.execute(
        "select message_id, subject, preview_text from staging.stg_klaviyo__campaign_messages "
        "where campaign_id = ? and variant_label = ?",
        [campaign_id, label],
    ).fetchall()
    if not found:
        raise ValueError(f"campaign {campaign_id} has no message labelled {label!r}")
    message_id, subject, preview_text = found[0]
    context = {
        "subject": subject,
        "preview_text": preview_text or "",
        "label": label,
        "from_email": action.payload.get("from_email") or "marketing@example.com",
        "from_label": action.payload.get("from_label") or "Marketing",
    }
    return WriteTarget(action.action_id, "klaviyo", "campaign", campaign_id, "winner_message_id",
                       message_id, None, context)  # fmt: skip


def _today_writes(con: Any, now: datetime) -> list[tuple[str, str, str, str]]:
    """(platform, entity_id, value_before, value_after) of today's executed writes, oldest first."""
    return con.execute(
        f"select platform, entity_id, value_before, value_after from {RESULTS_SCHEMA}.action_log "
        "where mode = 'execute' and status = 'executed' and cast(\"at\" as date) = ? "
        'order by "at", log_id',
        [now.date()],
    ).fetchall()


def _logged_number(text: str | None) -> float | None:
    """A number the action log stored as JSON text (None when it holds anything else)."""
    try:
        return _as_float(json.loads(text)) if text is not None else None
    except ValueError:
        return None


def _account_total(con: Any, platform: str) -> float | None:
    """The platform account's summed daily budget as ingested this run (None without the mart)."""
    try:
        found = con.execute(
            "select sum(daily_budget) from marts.dim_budget_entities where platform = ?", [platform]
        ).fetchall()
    except Exception:  # noqa: BLE001 - an old warehouse without the mart: the total is unknown
        return None
    return float(found[0][0]) if found and found[0][0] is not None else None


def budget_context(con: Any, action: ActionRow, current: float | None, now: datetime) -> ExecutionContext:
    """The world as the hard limits see it for one budget action, right before its write."""
    writes = _today_writes(con, now)
    first_before = next(
        (_logged_number(b) for p, e, b, _a in writes if p == action.platform and e == action.target_id), None
    )
    total = _account_total(con, action.platform)
    if total is not None:
        # the mart holds the budgets ingested before today's writes; add what changed since
        for platform, _entity, before, after in writes:
            old, new = _logged_number(before), _logged_number(after)
            if platform == action.platform and old is not None and new is not None:
                total += new - old
    return ExecutionContext(
        today=now.date(),
        day_start_budget=first_before if first_before is not None else current,
        current_budget=current,
        account_total=total,
    )


def execute_approved(
    con: Any,
    policy: Policy,
    now: datetime,
    port: VendorPort,
    *,
    log: Callable[[str], None] = lambda _line: None,
) -> ExecutionSummary:
    """Write every executable action through ``port``; see the module docstring."""
    summary = ExecutionSummary()
    dry_run = policy.mode == "dry_run"
    # send times last: a campaign's hourly clones copy its subject and preview text, so a test's subject
    # and the content choice go first
    for action in sorted(executable(con, policy, now), key=lambda row: row.action_type == SEND_TIME_KIND):
        try:
            target = write_target(con, action, policy, now)
        except (ValueError, KeyError, TypeError) as error:
            block(con, action.action_id, [f"cannot be written: {error}"], now)
            summary.blocked += 1
            continue
        try:
            current = port.read(target)
        except CannotWrite as error:  # the client can never attempt this write: refuse, do not retry
            block(con, action.action_id, [f"cannot be written: {error}"], now)
            summary.blocked += 1
            continue
        except Exception as error:  # noqa: BLE001 - the vendor could not say; try again next run
            record = WriteRecord(mode="dry_run" if dry_run else "execute", status="failed",
                                 entity_type=target.entity_type, entity_id=target.entity_id,
                                 field=target.field, value_requested=target.value,
                                 error=f"read before write failed: {error}", retryable=True)  # fmt: skip
            _record(con, action, record, now, policy, summary, log)
            continue
        if action.action_type in BUDGET_KINDS:
            context = budget_context(con, action, _as_float(current), now)
        else:
            context = ExecutionContext(today=now.date())
        violations = hard_limit_violations(action, policy, context)
        if violations:
            block(con, action.action_id, violations, now)
            summary.blocked += 1
            log(f"{action.action_id} blocked by policy: {'; '.join(violations)}")
            continue
        write = port.write(target, dry_run=dry_run)
        _record(con, action, write, now, policy, summary, log, record_after_write(target, now, write))
    return summary


def _as_float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _record(
    con: Any,
    action: ActionRow,
    write: WriteRecord,
    now: datetime,
    policy: Policy,
    summary: ExecutionSummary,
    log: Callable[[str], None],
    on_executed: Callable[[Any], None] | None = None,
) -> None:
    after = record_write(con, action.action_id, write, now, policy, on_executed)
    if write.status == "validated":
        summary.validated += 1
    elif after["status"] == "executed":
        summary.executed += 1
    elif after["status"] == "failed":
        summary.failed += 1
    else:
        summary.retry_later += 1
    detail = f" ({write.error})" if write.error else ""
    log(f"{action.action_id} {action.platform} {action.target_id}: {write.status}{detail}")


def verify_executed(con: Any, policy: Policy, now: datetime, port: VendorPort) -> int:
    """Read back what earlier runs executed; count those the vendor confirms (``verified``)."""
    confirmed = 0
    for record in list_actions(con, status="executed"):
        if record["executed_at"] is not None and record["executed_at"] >= now:
            continue  # written in this run: the vendor's read-back is already in the log
        action = action_row(record)
        try:
            observed = port.read(write_target(con, action, policy))
        except Exception:  # noqa: BLE001 - unreadable now; the next run reads again
            continue
        confirmed += bool(verify(con, action.action_id, observed, now))
    return confirmed
