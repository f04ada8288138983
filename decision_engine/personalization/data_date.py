"""The day a personalization model's run covers: the newest delivered send in the marts."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any


def newest_send_day(con: Any) -> date | None:
    """The day of the newest delivered email send (the run's analysis date); None before any."""
    newest = con.execute(
        "select max(sent_at)::timestamp from marts.fct_email_sends where is_delivered"
    ).fetchone()[0]
    return newest.date() if newest is not None else None


def end_of(day: date) -> datetime:
    """Midnight after ``day``: the run reads sends before it."""
    return datetime.combine(day + timedelta(days=1), time())
