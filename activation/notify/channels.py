"""Notification channels: Slack incoming webhook, PagerDuty Events API v2, SMTP email, and
a local outbox (JSON files; the demo default, nothing leaves the machine).

Each channel has ``name``, ``accepts(message)`` (routing, decided when an incident is
triggered) and ``send(message)``, which raises :class:`DeliveryError` on failure.
"""

from __future__ import annotations

import json
import os
import smtplib
import tempfile
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any, Protocol

import requests

from activation.notify.http import DeliveryError, RetryPolicy, post_json
from activation.notify.message import NotificationMessage
from activation.notify.settings import PAGERDUTY_EVENTS_URL, NotifySettings
from core.severity import SEVERITY_RANK

PAGERDUTY_SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}


def slack_escape(text: object, limit: int | None = None) -> str:
    """``text`` safe for Slack mrkdwn: ``&``, ``<`` and ``>`` as HTML entities (Slack's
    "Formatting text for app surfaces"), so data can never mention ``<!channel>`` or forge a
    ``<url|link>``. Cut to ``limit`` characters without splitting an entity.
    """
    escaped = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped if limit is None else slack_escape_cut(escaped, limit)


def slack_escape_cut(escaped: str, limit: int) -> str:
    """Cut already escaped mrkdwn to ``limit`` characters without splitting an entity."""
    if len(escaped) <= limit:
        return escaped
    cut = escaped[:limit]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut


class Notifier(Protocol):
    name: str

    def accepts(self, message: NotificationMessage) -> bool: ...

    def send(self, message: NotificationMessage) -> None: ...


@dataclass
class SlackNotifier:
    webhook_url: str = field(repr=False)
    timeout: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    session: requests.Session | None = None
    name: str = "slack"

    def accepts(self, message: NotificationMessage) -> bool:
        return True

    def payload(self, message: NotificationMessage) -> dict[str, Any]:
        # Every data-derived string is escaped: the top-level text (the notification fallback)
        # and every text object (Slack decodes the three entities in plain_text too).
        esc = slack_escape
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": esc(message.headline, 150)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": esc(message.summary, 3000)}},
        ]
        if message.action == "trigger":
            window = f"{message.window_start} to {message.window_end}"
            blocks.append(
                {
                    "type": "section",
                    "fields": [
                        {"type": "mrkdwn", "text": f"*Severity*\n{esc(message.severity)}"},
                        {"type": "mrkdwn", "text": f"*Window*\n{esc(window)}"},
                        {"type": "mrkdwn", "text": f"*Metrics*\n{esc(', '.join(message.metrics), 1900)}"},
                        {"type": "mrkdwn", "text": f"*Entities*\n{esc(', '.join(message.entities), 1900)}"},
                    ],
                }
            )
            options = "\n".join(f"• {esc(o)}" for o in message.options)
            text = f"*Likely cause:* {esc(message.likely_cause)}\n*Options:*\n{options}"
            blocks.append(
                {"type": "section", "text": {"type": "mrkdwn", "text": slack_escape_cut(text, 3000)}}
            )
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": "Loopwise weekly digest"
                        if message.action == "digest"
                        else f"Loopwise incident `{esc(message.incident_id)}`",
                    }
                ],
            }
        )
        return {"text": esc(message.headline), "blocks": blocks}

    def send(self, message: NotificationMessage) -> None:
        post_json(
            self.webhook_url,
            self.payload(message),
            channel=self.name,
            timeout=self.timeout,
            retry=self.retry,
            session=self.session,
        )


@dataclass
class PagerDutyNotifier:
    """Pages for critical marketing incidents only; data incidents never page marketing."""

    routing_key: str = field(repr=False)
    url: str = PAGERDUTY_EVENTS_URL
    min_severity: str = "critical"
    timeout: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    session: requests.Session | None = None
    name: str = "pagerduty"

    def accepts(self, message: NotificationMessage) -> bool:
        return (
            not message.data_incident and SEVERITY_RANK[message.severity] >= SEVERITY_RANK[self.min_severity]
        )

    def payload(self, message: NotificationMessage) -> dict[str, Any]:
        event: dict[str, Any] = {
            "routing_key": self.routing_key,
            "event_action": message.action,
            "dedup_key": message.incident_id,
        }
        if message.action == "trigger":
            event["payload"] = {
                "summary": message.title[:1024],
                "source": "loopwise",
                "severity": PAGERDUTY_SEVERITY[message.severity],
                "component": ",".join(message.entities)[:255] or None,
                "group": message.incident_type,
                "class": "marketing_anomaly",
                "custom_details": {
                    "summary": message.summary,
                    "likely_cause": message.likely_cause,
                    "options": message.options,
                    "metrics": message.metrics,
                    "window_start": message.window_start,
                    "window_end": message.window_end,
                },
            }
        return event

    def send(self, message: NotificationMessage) -> None:
        post_json(
            self.url,
            self.payload(message),
            channel=self.name,
            timeout=self.timeout,
            retry=self.retry,
            session=self.session,
        )


@dataclass
class EmailNotifier:
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    timeout: float = 10.0
    name: str = "email"

    def accepts(self, message: NotificationMessage) -> bool:
        return True

    def build(self, message: NotificationMessage) -> EmailMessage:
        email = EmailMessage()
        email["Subject"] = f"[Loopwise] {message.headline}"[:250]
        email["From"] = self.sender
        email["To"] = ", ".join(self.recipients)
        email["Message-ID"] = make_msgid(domain="loopwise.local")
        email["X-Loopwise-Incident"] = message.incident_id
        email.set_content(message.text())
        return email

    def send(self, message: NotificationMessage) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls()
                    smtp.ehlo()
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(self.build(message))
        except (OSError, smtplib.SMTPException) as error:
            raise DeliveryError(f"{self.name}: {type(error).__name__}") from error


@dataclass
class OutboxNotifier:
    directory: Path
    name: str = "outbox"

    def accepts(self, message: NotificationMessage) -> bool:
        return True

    def path_for(self, incident_id: str, action: str) -> Path:
        """The file a message lands in (one per incident and action)."""
        return self.directory / f"{incident_id}_{action}.json"

    def send(self, message: NotificationMessage) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            target = self.path_for(message.incident_id, message.action)
            body = json.dumps(
                {"headline": message.headline, "text": message.text(), **message.to_dict()},
                indent=2,
                default=str,
            )
            handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(handle, "w") as file:
                file.write(body)
            os.replace(temporary, target)
        except OSError as error:
            raise DeliveryError(f"{self.name}: {error}") from error


def build_notifiers(settings: NotifySettings, retry: RetryPolicy | None = None) -> list[Notifier]:
    """Configured channels; with none configured, the local outbox (the demo default)."""
    retry = retry or RetryPolicy()
    notifiers: list[Notifier] = []
    if settings.slack_webhook_url:
        notifiers.append(SlackNotifier(settings.slack_webhook_url, settings.http_timeout_seconds, retry))
    if settings.pagerduty_routing_key:
        notifiers.append(
            PagerDutyNotifier(
                settings.pagerduty_routing_key,
                settings.pagerduty_url,
                timeout=settings.http_timeout_seconds,
                retry=retry,
            )
        )
    if settings.smtp_host and settings.smtp_to:
        notifiers.append(
            EmailNotifier(
                settings.smtp_host,
                settings.smtp_port,
                settings.smtp_from or "loopwise@localhost",
                settings.smtp_to,
                settings.smtp_user,
                settings.smtp_password,
                settings.smtp_starttls,
                settings.http_timeout_seconds,
            )
        )
    if settings.outbox_dir is not None or not notifiers:
        notifiers.append(OutboxNotifier(settings.outbox_dir or settings.default_outbox_dir))
    return notifiers
