"""Notifier configuration, read from the environment in one place (never at import)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"


@dataclass(frozen=True)
class NotifySettings:
    """Secrets (webhook URL, routing key, SMTP password) are excluded from ``repr`` so they
    never end up in logs."""

    slack_webhook_url: str | None = field(default=None, repr=False)
    pagerduty_routing_key: str | None = field(default=None, repr=False)
    pagerduty_url: str = PAGERDUTY_EVENTS_URL
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_from: str | None = None
    smtp_to: tuple[str, ...] = ()
    smtp_starttls: bool = True
    outbox_dir: Path | None = None  # set: always write the outbox too
    default_outbox_dir: Path = Path("data/outbox")  # used when no channel is configured
    ledger_path: Path | None = None
    http_timeout_seconds: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> NotifySettings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        port = int(get("LOOPWISE_SMTP_PORT") or 587)
        starttls = get("LOOPWISE_SMTP_STARTTLS")
        outbox = get("LOOPWISE_OUTBOX_DIR")
        ledger = get("LOOPWISE_NOTIFY_LEDGER_PATH")
        home = Path(get("LOOPWISE_HOME") or "data")
        return cls(
            slack_webhook_url=get("LOOPWISE_SLACK_WEBHOOK_URL"),
            pagerduty_routing_key=get("LOOPWISE_PAGERDUTY_ROUTING_KEY"),
            pagerduty_url=get("LOOPWISE_PAGERDUTY_URL") or PAGERDUTY_EVENTS_URL,
            smtp_host=get("LOOPWISE_SMTP_HOST"),
            smtp_port=port,
            smtp_user=get("LOOPWISE_SMTP_USER"),
            smtp_password=get("LOOPWISE_SMTP_PASSWORD"),
            smtp_from=get("LOOPWISE_SMTP_FROM"),
            smtp_to=tuple(a.strip() for a in (get("LOOPWISE_SMTP_TO") or "").split(",") if a.strip()),
            smtp_starttls=(starttls.lower() in ("1", "true", "yes")) if starttls else port == 587,
            outbox_dir=Path(outbox) if outbox else None,
            default_outbox_dir=home / "outbox",
            ledger_path=Path(ledger) if ledger else home / "notify_ledger.sqlite",
            http_timeout_seconds=float(get("LOOPWISE_NOTIFY_TIMEOUT_SECONDS") or 10.0),
        )
