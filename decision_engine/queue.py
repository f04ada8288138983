"""The action lifecycle: ``results.actions`` (current state), ``results.action_events`` (every
status change) and ``results.action_log`` (every vendor write attempt).

::

    proposed -> auto_approved | pending_approval -> approved | rejected | expired
             -> executed | failed -> verified            (+ superseded, rolled_back)

Engines propose (:func:`merge_proposals`, via ``write_actions``); :func:`govern` gives each
proposal the policy's verdict, supersedes older proposals for the same entity and expires
stale approvals; humans :func:`approve` or :func:`reject`; the executor asks for
:func:`executable` actions, checks the hard limits again, writes, and calls
:func:`record_write`. An action stays approved until its write is recorded, so a run killed
between the vendor write and its record re-executes it; the writer reads first, finds the
value already set, and records ``noop``, which counts as executed.

Every function takes the connection and an explicit ``now``, and changes the three tables in
one transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from core.results_schema import table_columns
from decision_engine.governance import (
    BUDGET_KIND,
    EXTENSION_KIND,
    ActionRow,
    ExecutionContext,
    hard_limit_violations,
    verdict,
)
from decision_engine.policy import Policy
from decision_engine.store import RESULTS_SCHEMA, ensure_results_table

LIFECYCLE_TABLES = ("actions", "action_events", "action_log")
ASSIGNMENTS_TABLE = "experiment_assignments"  # Loopwise's test arms, written after each bulk write
APPROVED = ("auto_approved", "approved")
LIVE = ("proposed", "pending_approval", *APPROVED)  # not yet executed and still able to run
DONE = ("executed", "verified", "rolled_back")  # the vendor was changed: history, never reset
# Money is written in cents; a read-back within half a cent is the target.
VERIFY_TOLERANCE = 0.005

ContextFor = Callable[[ActionRow], ExecutionContext]


class QueueError(ValueError):
    """A lifecycle step that cannot happen (unknown id, wrong status, missing approver); one line."""


@dataclass(frozen=True)
class GovernSummary:
    auto_approved: int = 0
    pending_approval: int = 0
    rejected: int = 0
    superseded: int = 0
    expired: int = 0


@dataclass(frozen=True)
class WriteRecord:
    """One vendor write attempt as the executor saw it (the fields of a writeback ``WriteResult``)."""

    mode: Literal["dry_run", "execute"]
    status: Literal["executed", "validated", "noop", "failed"]
    entity_type: str
    entity_id: str
    field: str
    value_requested: Any
    value_before: Any = None
    value_after: Any = None
    error: str | None = None
    request: dict[str, Any] = field(default_factory=dict)
    response: dict[str, Any] = field(default_factory=dict)
    vendor_request_id: str | None = None
    retryable: bool = False


def payload_hash(payload_json: str) -> str:
    """Short sha256 of a payload's canonical JSON (sorted keys), so equal payloads hash equal."""
    canonical = json.dumps(json.loads(payload_json), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def ensure_lifecycle_tables(con: Any) -> None:
    """Create (or bring up to the contract) the three lifecycle tables, so BI always finds them,
    and ``results.experiment_assignments``, which dbt reads back (``fct_experiment_exposures``)."""
    for table in (*LIFECYCLE_TABLES, ASSIGNMENTS_TABLE):
        ensure_results_table(con, table)


def _ensure_tables(con: Any) -> None:
    """Create the lifecycle tables (or add declared columns) only when some are missing.

    A full check costs a query per column; this one query keeps each lifecycle step cheap.
    ``merge_proposals`` still runs the full check (types included) on every engine write.
    """
    present = dict(
        con.execute(
            "select table_name, count(*) from information_schema.columns "
            "where table_schema = ? and table_name in (select unnest(?)) group by table_name",
            [RESULTS_SCHEMA, list(LIFECYCLE_TABLES)],
        ).fetchall()
    )
    if any(present.get(table, 0) < len(table_columns(table)) for table in LIFECYCLE_TABLES):
        ensure_lifecycle_tables(con)


@contextlib.contextmanager
def _transaction(con: Any) -> Iterator[None]:
    con.execute("begin transaction")
    try:
        yield
        con.execute("commit")
    except BaseException:
        with contextlib.suppress(Exception):
            con.execute("rollback")
        raise


def _insert(con: Any, table: str, row: dict[str, Any]) -> None:
    names = ", ".join(f'"{name}"' for name in row)
    marks = ", ".join("?" for _ in row)
    con.execute(f'insert into {RESULTS_SCHEMA}."{table}" ({names}) values ({marks})', list(row.values()))


def _update(con: Any, action_id: str, changes: dict[str, Any]) -> None:
    assignments = ", ".join(f'"{name}" = ?' for name in changes)
    con.execute(
        f"update {RESULTS_SCHEMA}.actions set {assignments} where action_id = ?",
        [*changes.values(), action_id],
    )


def _event(
    con: Any,
    action_id: str,
    from_status: str | None,
    to_status: str,
    actor: str,
    reason: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    _insert(
        con,
        "action_events",
        {
            "event_id": uuid.uuid4().hex,
            "action_id": action_id,
            "from_status": from_status,
            "to_status": to_status,
            "at": now,
            "actor": actor,
            "reason": reason,
            "detail": json.dumps(detail or {}, sort_keys=True, default=str),
        },
    )


def _move(
    con: Any,
    row: dict[str, Any],
    to_status: str,
    actor: str,
    reason: str,
    now: datetime,
    *,
    detail: dict[str, Any] | None = None,
    **columns: Any,
) -> None:
    """Change an action's status (and ``columns``) and append the event that says so."""
    changes = {"status": to_status, "status_at": now, "status_by": actor, "status_reason": reason, **columns}
    _update(con, row["action_id"], changes)
    _event(con, row["action_id"], row["status"], to_status, actor, reason, now, detail)


def _records(con: Any, where: str = "true", params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    cursor = con.execute(
        f"select * from {RESULTS_SCHEMA}.actions where {where} order by analysis_date, analysis_timestamp, action_id",
        list(params),
    )
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def _record(con: Any, action_id: str) -> dict[str, Any]:
    found = _records(con, "action_id = ?", [action_id])
    if not found:
        raise QueueError(f"no action with id {action_id!r}")
    return found[0]


def action_row(record: dict[str, Any]) -> ActionRow:
    """The policy's view of a ``results.actions`` record."""
    return ActionRow(
        action_id=record["action_id"],
        action_type=record["action_type"],
        platform=record["platform"],
        target_id=record["target_id"],
        payload=json.loads(record["payload"] or "{}"),
        auto_apply_allowed=bool(record["auto_apply_allowed"]),
        status=record["status"],
        source=record["source"] or "",
        evidence=json.loads(record["evidence"] or "{}"),
        payload_hash=record["payload_hash"],
        approved_payload_hash=record["approved_payload_hash"],
        attempts=int(record["attempts"] or 0),
    )


def merge_proposals(con: Any, proposals: Sequence[dict[str, Any]], now: datetime) -> int:
    """Queue engine proposals (``results.actions`` rows) without clobbering lifecycle state.

    A new id is inserted as ``proposed``. A known id with the same payload keeps its status (a
    re-run of the same analysis changes nothing). A known id whose payload changed is reset
    to ``proposed`` (a prior approval no longer applies) unless the vendor was already
    changed, which stays history.
    """
    ensure_lifecycle_tables(con)
    with _transaction(con):
        for proposal in proposals:
            _merge_one(con, proposal, now)
    return len(proposals)


def _merge_one(con: Any, proposal: dict[str, Any], now: datetime) -> None:
    digest = payload_hash(proposal["payload"])
    lifecycle = {
        "status": "proposed",
        "entity_key": f"{proposal['platform']}:{proposal['target_id']}",
        "payload_hash": digest,
        "status_at": now,
        "status_by": proposal["source"],
        "status_reason": "proposed by the engine",
        "attempts": 0,
    }
    existing = _records(con, "action_id = ?", [proposal["action_id"]])
    if not existing:
        _insert(con, "actions", {**_engine_fields(proposal), **lifecycle})
        _event(
            con, proposal["action_id"], None, "proposed", proposal["source"], "proposed by the engine", now
        )
        return
    old = existing[0]
    if old["payload_hash"] == digest or old["status"] in DONE or _acted_on_entity(con, old):
        return
    reason = "the engine changed the payload: a prior verdict or approval no longer applies"
    cleared = dict.fromkeys(
        ("policy_verdict", "policy_reasons", "policy_reason_code", "approved_by", "approved_at",
         "approved_payload_hash", "expires_at", "superseded_by", "executed_at"),
    )  # fmt: skip
    _update(
        con, old["action_id"], {**_engine_fields(proposal), **lifecycle, **cleared, "status_reason": reason}
    )
    detail = {"old_payload_hash": old["payload_hash"], "new_payload_hash": digest}
    _event(con, old["action_id"], old["status"], "proposed", proposal["source"], reason, now, detail)


def _acted_on_entity(con: Any, record: dict[str, Any]) -> bool:
    """Whether the same analysis (data date) already changed this entity at the vendor.

    Its re-run then reads the entity's budget as our own write left it, not new data: a
    proposal it left waiting (an extension) keeps the payload a human was shown.
    """
    found = _records(
        con,
        f"entity_key = ? and analysis_date = ? and action_id <> ? and status in {DONE}",
        [record["entity_key"], record["analysis_date"], record["action_id"]],
    )
    return bool(found)


def _engine_fields(proposal: dict[str, Any]) -> dict[str, Any]:
    names = ("action_id", "analysis_timestamp", "analysis_date", "source", "action_type", "platform",
             "target_id", "payload", "evidence", "reason", "reason_code", "auto_apply_allowed")  # fmt: skip
    return {name: proposal[name] for name in names}


def _default_context(now: datetime) -> ContextFor:
    return lambda _row: ExecutionContext(today=now.date())


def govern(con: Any, policy: Policy, now: datetime, context_for: ContextFor | None = None) -> GovernSummary:
    """Expire stale approvals, supersede older proposals per entity, give each proposal a verdict.

    ``context_for`` gives the world's state for an action (budgets now and at the start of the
    day); without it only what the action itself carries is known.
    """
    context_for = context_for or _default_context(now)
    _ensure_tables(con)
    with _transaction(con):
        expired = _expire(con, policy, now)
        superseded = _supersede(con, now)
        counts = {"auto_approved": 0, "pending_approval": 0, "rejected": 0}
        for record in _records(con, "status = 'proposed'"):
            status = _give_verdict(con, record, policy, now, context_for)
            counts[status] += 1
    return GovernSummary(superseded=superseded, expired=expired, **counts)


def _approval_lapsed(record: dict[str, Any], policy: Policy, now: datetime) -> bool:
    if record["status"] == "pending_approval":
        return record["expires_at"] is not None and record["expires_at"] <= now
    lapse = timedelta(days=policy.approval_expires_after_days)
    return record["approved_at"] is not None and record["approved_at"] + lapse <= now


def _expire(con: Any, policy: Policy, now: datetime) -> int:
    waiting = _records(con, "status in ('pending_approval', 'auto_approved', 'approved')")
    lapsed = [record for record in waiting if _approval_lapsed(record, policy, now)]
    for record in lapsed:
        reason = f"not executed within {policy.approval_expires_after_days} days of its approval or proposal"
        _move(con, record, "expired", "policy", reason, now)
    return len(lapsed)


def _supersede(con: Any, now: datetime) -> int:
    """Per entity, the newest analysis's live proposals replace the older analyses' live ones.

    One analysis may leave two live proposals for an entity: the move that applies on its own
    and its extension for a human (``extend_daily_budget``); a newer analysis replaces both.
    """
    live = _records(con, f"status in {LIVE}")  # oldest analysis first
    newest: dict[str, list[dict[str, Any]]] = {}
    for record in live:
        current = newest.get(record["entity_key"])
        if current is None or _analysis(record) != _analysis(current[0]):
            newest[record["entity_key"]] = [record]
        else:
            current.append(record)
    replaced = 0
    for record in live:
        winners = newest[record["entity_key"]]
        if _analysis(record) == _analysis(winners[0]):
            continue
        same_kind = [w for w in winners if w["action_type"] == record["action_type"]]
        winner = (same_kind or winners)[0]
        reason = f"replaced by the newer proposal {winner['action_id']} for the same entity"
        _move(con, record, "superseded", "policy", reason, now, superseded_by=winner["action_id"])
        replaced += 1
    return replaced


def _analysis(record: dict[str, Any]) -> tuple[Any, Any]:
    return record["analysis_date"], record["analysis_timestamp"]


def _give_verdict(
    con: Any, record: dict[str, Any], policy: Policy, now: datetime, context_for: ContextFor
) -> str:
    row = action_row(record)
    judged = verdict(row, policy, context_for(row))
    columns: dict[str, Any] = {
        "policy_verdict": judged.status,
        "policy_reasons": json.dumps(judged.reasons),
        "policy_reason_code": judged.reason_code,
    }
    if judged.status == "auto_approved":
        columns |= {"approved_by": "policy", "approved_at": now, "approved_payload_hash": row.payload_hash}
    if judged.status == "pending_approval":
        columns["expires_at"] = now + timedelta(days=policy.approval_expires_after_days)
    detail = {"reasons": judged.reasons, "reason_code": judged.reason_code}
    _move(con, record, judged.status, "policy", "; ".join(judged.reasons), now, detail=detail, **columns)
    return judged.status


def block(con: Any, action_id: str, reasons: Sequence[str], now: datetime) -> dict[str, Any]:
    """Refuse an approved action at write time: a hard limit (checked against the vendor's
    current value) or a missing write definition stops it however it was approved."""
    ensure_lifecycle_tables(con)
    with _transaction(con):
        record = _record(con, action_id)
        if record["status"] not in APPROVED:
            raise QueueError(f"action {action_id} is {record['status']}: only approved actions are blocked")
        reason = "; ".join(reasons) or "blocked by policy"
        _move(
            con,
            record,
            "rejected",
            "policy",
            reason,
            now,
            detail={"at_write_time": True, "reasons": list(reasons)},
        )
    return _record(con, action_id)


def _check_actor(by: str) -> str:
    name = (by or "").strip()
    if not name:
        raise QueueError("say who decides: --by NAME must not be empty")
    return name


def approve(con: Any, action_id: str, by: str, reason: str | None, now: datetime) -> dict[str, Any]:
    """A human approves a waiting action; the approval holds for its current payload only."""
    name = _check_actor(by)
    _ensure_tables(con)
    with _transaction(con):
        record = _record(con, action_id)
        _check_decidable(record, "approve", now)
        _move(
            con,
            record,
            "approved",
            name,
            (reason or "").strip() or "approved",
            now,
            detail={"payload_hash": record["payload_hash"]},
            approved_by=name,
            approved_at=now,
            approved_payload_hash=record["payload_hash"],
        )
    return _record(con, action_id)


def reject(con: Any, action_id: str, by: str, reason: str, now: datetime) -> dict[str, Any]:
    """A human refuses an action; the reason is required so the engine's owner can learn from it."""
    name = _check_actor(by)
    if not (reason or "").strip():
        raise QueueError("say why: --reason TEXT is required to reject")
    _ensure_tables(con)
    with _transaction(con):
        record = _record(con, action_id)
        _check_decidable(record, "reject", now)
        _move(con, record, "rejected", name, reason.strip(), now)
    return _record(con, action_id)


def _check_decidable(record: dict[str, Any], verb: str, now: datetime) -> None:
    status = record["status"]
    if status == "superseded":
        raise QueueError(
            f"action {record['action_id']} is superseded by {record['superseded_by']}: {verb} that one instead"
        )
    if status not in ("proposed", "pending_approval", "auto_approved") or (
        status == "pending_approval" and record["expires_at"] is not None and record["expires_at"] <= now
    ):
        shown = "expired" if status == "pending_approval" else status
        raise QueueError(f"action {record['action_id']} is {shown}: it cannot be {verb}d any more")


def executable(
    con: Any, policy: Policy, now: datetime, context_for: ContextFor | None = None
) -> list[ActionRow]:
    """Approved actions that may be written now, oldest first.

    Approved by a human for the payload they saw, or auto-approved under the policy in force
    now (a policy tightened since the verdict holds them back); not lapsed; fewer attempts
    than ``execution.max_attempts``; and no hard limit violated in ``context_for``'s world.
    The executor still calls :func:`hard_limit_violations` right before each write. An
    extension (``extend_daily_budget``) goes after its entity's move of the same analysis, and
    waits while that move is live but cannot go now (its budget includes that move).
    """
    if policy.autonomy == "off":
        return []
    context_for = context_for or _default_context(now)
    _ensure_tables(con)
    ready, extensions = [], []
    for record in _records(con, f"status in {APPROVED} and executed_at is null"):
        row = action_row(record)
        context = context_for(row)
        if _approval_lapsed(record, policy, now) or row.attempts >= policy.execution.max_attempts:
            continue
        if row.status == "approved" and row.approved_payload_hash != row.payload_hash:
            continue
        if row.status == "auto_approved" and verdict(row, policy, context).status != "auto_approved":
            continue
        if hard_limit_violations(row, policy, context):
            continue
        if row.action_type == EXTENSION_KIND:
            extensions.append((record, row))
        else:
            ready.append(row)
    going = {row.action_id for row in ready}
    blocked_by = {
        (record["entity_key"], _analysis(record))
        for record in _records(con, f"status in {LIVE} and action_type = ?", [BUDGET_KIND])
        if record["action_id"] not in going
    }
    return ready + [
        row for record, row in extensions if (record["entity_key"], _analysis(record)) not in blocked_by
    ]


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def record_write(
    con: Any,
    action_id: str,
    write: WriteRecord,
    now: datetime,
    policy: Policy,
    on_executed: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """Log one vendor write attempt and move the action accordingly.

    ``executed`` and ``noop`` (the vendor already had the value: a resumed run) make it
    executed. A dry run's ``validated`` (or failed validation) is logged and changes nothing
    else. A failure counts an attempt: a retryable one stays approved until
    ``execution.max_attempts``, anything else ends ``failed``. ``on_executed(con)`` runs in the
    same transaction when the action becomes executed (what the write set, recorded with it).
    """
    _check_write(write)
    _ensure_tables(con)
    with _transaction(con):
        record = _record(con, action_id)
        if record["status"] not in APPROVED:
            raise QueueError(f"action {action_id} is {record['status']}: only approved actions are written")
        attempt = int(record["attempts"] or 0) + 1
        _log(con, record, write, attempt, now, policy)
        if write.mode == "execute":
            _after_write(con, record, write, attempt, now, policy)
            if on_executed is not None and write.status in ("executed", "noop"):
                on_executed(con)
    return _record(con, action_id)


def _check_write(write: WriteRecord) -> None:
    allowed = {"dry_run": ("validated", "failed"), "execute": ("executed", "noop", "failed")}
    if write.mode not in allowed or write.status not in allowed[write.mode]:
        raise QueueError(f"a {write.mode} write cannot end {write.status}")


def _log(
    con: Any, record: dict[str, Any], write: WriteRecord, attempt: int, now: datetime, policy: Policy
) -> None:
    _insert(
        con,
        "action_log",
        {
            "log_id": uuid.uuid4().hex,
            "action_id": record["action_id"],
            "attempt": attempt,
            "at": now,
            "mode": write.mode,
            "platform": record["platform"],
            "entity_type": write.entity_type,
            "entity_id": write.entity_id,
            "field": write.field,
            "value_before": _json(write.value_before),
            "value_requested": _json(write.value_requested),
            "value_after": _json(write.value_after),
            "status": write.status,
            "error": write.error,
            "request": _json(write.request),
            "response": _json(write.response),
            "vendor_request_id": write.vendor_request_id,
            "payload_hash": record["payload_hash"],
            "policy_hash": policy.hash(),
        },
    )


def _after_write(
    con: Any, record: dict[str, Any], write: WriteRecord, attempt: int, now: datetime, policy: Policy
) -> None:
    if write.status in ("executed", "noop"):
        reason = "written" if write.status == "executed" else "the vendor already had the target value"
        _move(con, record, "executed", "loopwise", reason, now, executed_at=now, attempts=attempt)
    elif write.retryable and attempt < policy.execution.max_attempts:
        _update(con, record["action_id"], {"attempts": attempt})
    else:
        reason = f"write failed after {attempt} attempt(s): {write.error or 'no reason given'}"
        _move(con, record, "failed", "loopwise", reason, now, attempts=attempt, detail={"error": write.error})


def _same_value(observed: Any, target: Any) -> bool:
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (observed, target))
    if numbers:
        return math.isfinite(observed) and abs(observed - target) <= VERIFY_TOLERANCE
    return observed == target


def verify(con: Any, action_id: str, observed_value: Any, now: datetime) -> bool:
    """Mark an executed action verified when the vendor's value, read back later, equals its target.

    The target is the value its successful write requested. Returns whether it was verified; a
    different value leaves it executed (vendors can lag) for the next run to check again.
    """
    _ensure_tables(con)
    with _transaction(con):
        record = _record(con, action_id)
        if record["status"] != "executed":
            raise QueueError(f"action {action_id} is {record['status']}: only executed actions are verified")
        requested = con.execute(
            f"select value_requested from {RESULTS_SCHEMA}.action_log where action_id = ? "
            "and mode = 'execute' and status in ('executed', 'noop') order by rowid desc limit 1",
            [action_id],
        ).fetchone()
        if requested is None or not _same_value(observed_value, json.loads(requested[0])):
            return False
        _move(con, record, "verified", "loopwise", "the vendor reports the target value", now,
              detail={"observed": observed_value})  # fmt: skip
    return True


def mark_rolled_back(con: Any, action_id: str, by: str, reason: str, now: datetime) -> dict[str, Any]:
    """Record that an executed change was reversed (by a ``reverse_change`` action or by hand)."""
    name = _check_actor(by)
    _ensure_tables(con)
    with _transaction(con):
        record = _record(con, action_id)
        if record["status"] not in ("executed", "verified"):
            raise QueueError(
                f"action {action_id} is {record['status']}: only executed changes are rolled back"
            )
        _move(con, record, "rolled_back", name, (reason or "").strip() or "rolled back", now)
    return _record(con, action_id)


def list_actions(con: Any, status: str | None = None) -> list[dict[str, Any]]:
    """``results.actions`` records, oldest first; only those in ``status`` when given."""
    _ensure_tables(con)
    if status is None:
        return _records(con)
    return _records(con, "status = ?", [status])


def show_action(con: Any, action_id: str) -> dict[str, Any]:
    """One action's record with its events and its write log, in the order they happened."""
    _ensure_tables(con)
    record = _record(con, action_id)
    return {
        "action": record,
        "events": _rows_of(con, "action_events", action_id),
        "log": _rows_of(con, "action_log", action_id),
    }


def _rows_of(con: Any, table: str, action_id: str) -> list[dict[str, Any]]:
    """Rows of an append-only table in the order they were written."""
    cursor = con.execute(
        f"select * from {RESULTS_SCHEMA}.{table} where action_id = ? order by rowid", [action_id]
    )
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
