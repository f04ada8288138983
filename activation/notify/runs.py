"""Paging as an effect of a run: a plan the pager sensor can make safely, and the run that sends.

:func:`plan_notifications` rehearses :func:`dispatch` on a private in-memory copy of the
ledger with channels that only record, so it sends nothing and writes nothing: the sensor
(and a preview of it in the UI) only decides whether a ``notify`` run is due and what it
will send. :func:`send_notifications` is that run: the real dispatch, the only writer of
the ledger. Both use the same dispatch rules, so the plan is what the run does unless the
ledger changed in between (then the run's dispatch, which deduplicates, wins).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from activation.notify.channels import Notifier, build_notifiers
from activation.notify.dispatch import DispatchPolicy, DispatchReport, dispatch
from activation.notify.ledger import DeliveryLedger
from activation.notify.message import IncidentRecord, NotificationMessage
from activation.notify.settings import NotifySettings

# Outcomes that change the ledger, so a run is needed for them.
RUN_OUTCOMES = ("sent", "cancelled")


@dataclass(frozen=True)
class PlannedDelivery:
    incident_id: str
    channel: str
    action: str  # trigger | resolve | cancel (a trigger never sent because the incident resolved)

    def describe(self) -> str:
        return f"{self.action} {self.incident_id} -> {self.channel}"


@dataclass(frozen=True)
class NotificationPlan:
    """What a ``notify`` run would do now: the incidents to hand it and the deliveries due."""

    incidents: list[IncidentRecord] = field(default_factory=list)
    deliveries: list[PlannedDelivery] = field(default_factory=list)

    @property
    def due(self) -> bool:
        return bool(self.deliveries)

    def describe(self) -> str:
        if not self.deliveries:
            return "nothing to send"
        counts: dict[str, int] = {}
        for delivery in self.deliveries:
            counts[delivery.action] = counts.get(delivery.action, 0) + 1
        return ", ".join(f"{count} {action}" for action, count in sorted(counts.items()))


@dataclass
class _Rehearsal:
    """A channel that routes like ``notifier`` but sends nothing."""

    notifier: Notifier

    @property
    def name(self) -> str:
        return self.notifier.name

    def accepts(self, message: NotificationMessage) -> bool:
        return self.notifier.accepts(message)

    def send(self, message: NotificationMessage) -> None:
        return None


def plan_notifications(
    incidents: Sequence[IncidentRecord],
    settings: NotifySettings,
    now: datetime,
    policy: DispatchPolicy | None = None,
) -> NotificationPlan:
    """What :func:`send_notifications` would send now; sends and writes nothing."""
    notifiers = [_Rehearsal(notifier) for notifier in build_notifiers(settings)]
    with DeliveryLedger.in_memory_copy(settings.ledger_path) as ledger:
        report = dispatch(incidents, ledger, notifiers, now=now, policy=policy)
    changes = [outcome for outcome in report.outcomes if outcome.result in RUN_OUTCOMES]
    involved = {outcome.incident_id for outcome in changes}
    return NotificationPlan(
        incidents=[incident for incident in incidents if incident.incident_id in involved],
        deliveries=[
            PlannedDelivery(
                outcome.incident_id,
                outcome.channel,
                "cancel" if outcome.result == "cancelled" else outcome.action,
            )
            for outcome in changes
        ],
    )


@dataclass(frozen=True)
class NotifyRunResult:
    report: DispatchReport
    pending_or_failed: int  # deliveries the ledger still has to retry

    def describe(self) -> str:
        sent = [f"{o.action} {o.incident_id} -> {o.channel}" for o in self.report.sent]
        failed = [f"{o.action} {o.incident_id} -> {o.channel} ({o.error})" for o in self.report.failed]
        parts = [f"sent {len(sent)}"]
        if failed:
            parts.append(f"failed {len(failed)} (retried by a later notify run)")
        parts.append(f"pending or failed in the ledger: {self.pending_or_failed}")
        return "; ".join(parts)


def send_notifications(
    incidents: Sequence[IncidentRecord],
    settings: NotifySettings,
    now: datetime,
    policy: DispatchPolicy | None = None,
) -> NotifyRunResult:
    """Deliver: the real dispatch on the ledger file (the only place that writes it)."""
    with DeliveryLedger(settings.ledger_path or ":memory:") as ledger:
        report = dispatch(incidents, ledger, build_notifiers(settings), now=now, policy=policy)
        pending = ledger.deliveries(status=("pending", "failed"))
    return NotifyRunResult(report, len(pending))


def incident_to_config(incident: IncidentRecord) -> dict[str, Any]:
    """An incident as run config (Dagster config maps cannot hold nulls; those fields default)."""
    return {name: value for name, value in incident.to_dict().items() if value is not None}
