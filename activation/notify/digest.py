"""The weekly digest through the same channels and ledger as incident pages.

A digest is a :class:`NotificationMessage` with action ``digest`` and severity ``info`` (so
PagerDuty, which pages for critical incidents only, never receives it; Slack, email and the outbox
do). The delivery ledger records it under ``digest-<YYYY-Www>``: each week's digest goes to each
channel once, however often the digest asset runs that week; a failed delivery is retried by a
later notify run like any page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from activation.notify.channels import build_notifiers
from activation.notify.dispatch import DispatchPolicy, DispatchReport, deliver_once
from activation.notify.ledger import DeliveryLedger
from activation.notify.message import NotificationMessage
from activation.notify.settings import NotifySettings

DIGEST_ACTION = "digest"
DIGEST_TYPE = "weekly_digest"


@dataclass(frozen=True)
class DigestNotice:
    """What the notifier needs of a digest: plain data, no import of the decision engine."""

    week: str  # 2026-W14
    title: str
    text: str  # the Markdown
    links: tuple[str, ...] = ()  # where the full report lives (the HTML and Markdown files)

    @property
    def notification_id(self) -> str:
        return f"digest-{self.week}"


def digest_message(notice: DigestNotice) -> NotificationMessage:
    return NotificationMessage(
        incident_id=notice.notification_id,
        action=DIGEST_ACTION,
        incident_type=DIGEST_TYPE,
        title=notice.title,
        severity="info",
        summary=notice.text,
        likely_cause="",
        options=list(notice.links),
    )


def send_digest(
    notice: DigestNotice, settings: NotifySettings, now: datetime, policy: DispatchPolicy | None = None
) -> DispatchReport:
    """Deliver the digest on every channel that accepts it, once per week and channel (the ledger)."""
    message = digest_message(notice)
    with DeliveryLedger(settings.ledger_path or ":memory:") as ledger:
        return deliver_once(message, ledger, build_notifiers(settings), now, policy or DispatchPolicy())
