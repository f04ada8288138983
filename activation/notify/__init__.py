"""Notifiers: Slack, PagerDuty, SMTP email and a local outbox, with a delivery ledger.

The Dagster sensor calls :func:`dispatch` each tick::

    settings = NotifySettings.from_env()
    with DeliveryLedger(settings.ledger_path) as ledger:
        report = dispatch(incidents, ledger, build_notifiers(settings), now=datetime.now(UTC))
"""

from activation.notify.channels import (
    EmailNotifier,
    Notifier,
    OutboxNotifier,
    PagerDutyNotifier,
    SlackNotifier,
    build_notifiers,
)
from activation.notify.dispatch import DeliveryOutcome, DispatchPolicy, DispatchReport, dispatch
from activation.notify.http import DeliveryError, RetryPolicy
from activation.notify.ledger import DeliveryLedger, DeliveryRecord
from activation.notify.message import IncidentRecord, NotificationMessage
from activation.notify.settings import NotifySettings

__all__ = [
    "DeliveryError",
    "DeliveryLedger",
    "DeliveryOutcome",
    "DeliveryRecord",
    "DispatchPolicy",
    "DispatchReport",
    "EmailNotifier",
    "IncidentRecord",
    "NotificationMessage",
    "Notifier",
    "NotifySettings",
    "OutboxNotifier",
    "PagerDutyNotifier",
    "RetryPolicy",
    "SlackNotifier",
    "build_notifiers",
    "dispatch",
]
