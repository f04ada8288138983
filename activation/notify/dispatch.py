"""One notification tick: what the Dagster sensor calls with the current incidents.

``dispatch`` is idempotent across ticks: each (incident, channel, action) is delivered at
most once; failures are recorded and retried with backoff on later ticks; an incident that
resolves gets one resolve on each channel its trigger reached; an incident that resolves
before its trigger went out is cancelled quietly; incidents already resolved the first
time they are seen (history) send nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from activation.notify.channels import Notifier
from activation.notify.ledger import DeliveryLedger, DeliveryRecord
from activation.notify.message import IncidentLike, NotificationMessage
from core.severity import SEVERITY_RANK

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DispatchPolicy:
    min_severity: str = "warning"  # below this nothing is sent
    cooldown: timedelta = timedelta(hours=6)  # same type and scope re-notifies at most this often
    retry_backoff: timedelta = timedelta(minutes=5)
    max_retry_backoff: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class DeliveryOutcome:
    incident_id: str
    channel: str
    action: str
    result: str  # sent | failed | deduplicated | deferred | cancelled | ignored
    error: str | None = None


@dataclass
class DispatchReport:
    outcomes: list[DeliveryOutcome] = field(default_factory=list)

    def _with(self, result: str) -> list[DeliveryOutcome]:
        return [o for o in self.outcomes if o.result == result]

    @property
    def sent(self) -> list[DeliveryOutcome]:
        return self._with("sent")

    @property
    def failed(self) -> list[DeliveryOutcome]:
        return self._with("failed")

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.result] = counts.get(outcome.result, 0) + 1
        return counts


def dispatch(
    incidents: Sequence[IncidentLike],
    ledger: DeliveryLedger,
    notifiers: Sequence[Notifier],
    now: datetime,
    policy: DispatchPolicy | None = None,
) -> DispatchReport:
    policy = policy or DispatchPolicy()
    report = DispatchReport()
    seen: set[str] = set()
    channels = {n.name: n for n in notifiers}
    for incident in incidents:
        if SEVERITY_RANK.get(incident.severity, 0) < SEVERITY_RANK[policy.min_severity]:
            continue
        seen.add(incident.incident_id)
        known = ledger.record_incident(
            incident.incident_id,
            incident.incident_type,
            getattr(incident, "scope", None),
            incident.severity,
            incident.status,
            incident.is_data_incident,
            now,
        )
        if incident.status == "open":
            _trigger(incident, ledger, notifiers, now, policy, report)
        elif not known:
            report.outcomes.append(DeliveryOutcome(incident.incident_id, "*", "trigger", "ignored"))
        else:
            _resolve(incident, ledger, channels, now, policy, report)
    # Retries due for incidents this tick did not mention (the data window moved on).
    for record in ledger.deliveries(status=("failed",)):
        if record.incident_id not in seen and record.channel in channels and _due(record, now):
            _attempt(channels[record.channel], record.message, ledger, now, policy, report, record.attempts)
    return report


def _trigger(
    incident: IncidentLike,
    ledger: DeliveryLedger,
    notifiers: Sequence[Notifier],
    now: datetime,
    policy: DispatchPolicy,
    report: DispatchReport,
) -> None:
    message = NotificationMessage.from_incident(incident, "trigger")
    for notifier in notifiers:
        if not notifier.accepts(message):
            continue
        record = ledger.delivery(incident.incident_id, notifier.name, "trigger")
        if record is None:
            last = ledger.last_trigger_sent(
                incident.incident_type,
                getattr(incident, "scope", None),
                notifier.name,
                excluding=incident.incident_id,
            )
            if last is not None and last + policy.cooldown > now:
                ledger.save(
                    incident.incident_id,
                    notifier.name,
                    "trigger",
                    "pending",
                    message,
                    next_attempt_at=last + policy.cooldown,
                )
                report.outcomes.append(
                    DeliveryOutcome(incident.incident_id, notifier.name, "trigger", "deferred")
                )
                continue
            _attempt(notifier, message, ledger, now, policy, report, attempts=0)
        elif record.status in ("pending", "failed") and _due(record, now):
            _attempt(notifier, message, ledger, now, policy, report, attempts=record.attempts)
        else:
            result = "deduplicated" if record.status == "sent" else "deferred"
            report.outcomes.append(DeliveryOutcome(incident.incident_id, notifier.name, "trigger", result))


def _resolve(
    incident: IncidentLike,
    ledger: DeliveryLedger,
    channels: dict[str, Notifier],
    now: datetime,
    policy: DispatchPolicy,
    report: DispatchReport,
) -> None:
    message = NotificationMessage.from_incident(incident, "resolve")
    for trigger in ledger.deliveries(incident_id=incident.incident_id):
        if trigger.action != "trigger":
            continue
        if trigger.status in ("pending", "failed"):
            ledger.save(
                trigger.incident_id,
                trigger.channel,
                "trigger",
                "cancelled",
                trigger.message,
                attempts=trigger.attempts,
                last_error=trigger.last_error,
            )
            report.outcomes.append(
                DeliveryOutcome(incident.incident_id, trigger.channel, "trigger", "cancelled")
            )
            continue
        if trigger.status != "sent" or trigger.channel not in channels:
            continue
        record = ledger.delivery(incident.incident_id, trigger.channel, "resolve")
        if record is None or (record.status == "failed" and _due(record, now)):
            _attempt(
                channels[trigger.channel],
                message,
                ledger,
                now,
                policy,
                report,
                attempts=0 if record is None else record.attempts,
            )
        else:
            report.outcomes.append(
                DeliveryOutcome(incident.incident_id, trigger.channel, "resolve", "deduplicated")
            )


def deliver_once(
    message: NotificationMessage,
    ledger: DeliveryLedger,
    notifiers: Sequence[Notifier],
    now: datetime,
    policy: DispatchPolicy,
) -> DispatchReport:
    """Send a message that is not an incident (the weekly digest) on each channel that accepts it,
    once: a delivery already sent is deduplicated, a failed one is retried when due."""
    report = DispatchReport()
    for notifier in notifiers:
        if not notifier.accepts(message):
            continue
        record = ledger.delivery(message.incident_id, notifier.name, message.action)
        if record is None:
            _attempt(notifier, message, ledger, now, policy, report, attempts=0)
        elif record.status == "failed" and _due(record, now):
            _attempt(notifier, message, ledger, now, policy, report, attempts=record.attempts)
        else:
            result = "deduplicated" if record.status == "sent" else "deferred"
            report.outcomes.append(
                DeliveryOutcome(message.incident_id, notifier.name, message.action, result)
            )
    return report


def _due(record: DeliveryRecord, now: datetime) -> bool:
    return record.next_attempt_at is None or datetime.fromisoformat(record.next_attempt_at) <= now


def _attempt(
    notifier: Notifier,
    message: NotificationMessage,
    ledger: DeliveryLedger,
    now: datetime,
    policy: DispatchPolicy,
    report: DispatchReport,
    attempts: int,
) -> None:
    try:
        notifier.send(message)
    except Exception as error:  # a broken channel must not stop the others or lose the alert
        attempts += 1
        wait = min(policy.retry_backoff * 2 ** (attempts - 1), policy.max_retry_backoff)
        reason = str(error) or type(error).__name__
        ledger.save(
            message.incident_id,
            notifier.name,
            message.action,
            "failed",
            message,
            attempts=attempts,
            next_attempt_at=now + wait,
            last_attempt_at=now,
            last_error=reason,
        )
        log.warning(
            "notification %s/%s for %s failed (%s); retry after %s",
            notifier.name,
            message.action,
            message.incident_id,
            reason,
            now + wait,
        )
        report.outcomes.append(
            DeliveryOutcome(message.incident_id, notifier.name, message.action, "failed", reason)
        )
        return
    ledger.save(
        message.incident_id,
        notifier.name,
        message.action,
        "sent",
        message,
        attempts=attempts + 1,
        last_attempt_at=now,
        sent_at=now,
    )
    report.outcomes.append(DeliveryOutcome(message.incident_id, notifier.name, message.action, "sent"))
