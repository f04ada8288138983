"""The delivery ledger: a small SQLite file remembering what was sent where.

It gives dedup (one page per incident however many ticks see it), cooldown, resolve-once,
and a visible queue of pending / failed deliveries that are retried on later ticks.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from activation.notify.message import NotificationMessage

_SCHEMA = """
create table if not exists incidents (
    incident_id text primary key,
    incident_type text not null,
    scope text,
    severity text not null,
    status text not null,
    data_incident integer not null,
    first_seen_at text not null,
    last_seen_at text not null
);
create table if not exists deliveries (
    incident_id text not null,
    channel text not null,
    action text not null,          -- trigger | resolve
    status text not null,          -- pending | sent | failed | cancelled
    attempts integer not null default 0,
    next_attempt_at text,
    last_attempt_at text,
    sent_at text,
    last_error text,
    message text not null,
    primary key (incident_id, channel, action)
);
"""


@dataclass(frozen=True)
class DeliveryRecord:
    incident_id: str
    channel: str
    action: str
    status: str
    attempts: int
    next_attempt_at: str | None
    last_attempt_at: str | None
    sent_at: str | None
    last_error: str | None
    message: NotificationMessage


class DeliveryLedger:
    """Use ``":memory:"`` for tests; otherwise a file path (parents are created)."""

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path))
        self._db.executescript(_SCHEMA)

    @classmethod
    def in_memory_copy(cls, path: str | Path | None) -> DeliveryLedger:
        """A private in-memory copy of the ledger at ``path`` (empty if there is none yet).

        Opening the file read-only means planning never creates, migrates or writes it.
        """
        ledger = cls(":memory:")
        if path is not None and Path(path).is_file():
            source = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
            try:
                source.backup(ledger._db)
            finally:
                source.close()
            ledger._db.executescript(_SCHEMA)
        return ledger

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> DeliveryLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record_incident(
        self,
        incident_id: str,
        incident_type: str,
        scope: str | None,
        severity: str,
        status: str,
        data_incident: bool,
        now: datetime,
    ) -> bool:
        """Upserts the incident; returns True if it was already known."""
        known = self._db.execute("select 1 from incidents where incident_id = ?", (incident_id,)).fetchone()
        self._db.execute(
            """insert into incidents values (?, ?, ?, ?, ?, ?, ?, ?)
               on conflict (incident_id) do update set severity = excluded.severity,
               status = excluded.status, last_seen_at = excluded.last_seen_at""",
            (
                incident_id,
                incident_type,
                scope,
                severity,
                status,
                int(data_incident),
                now.isoformat(),
                now.isoformat(),
            ),
        )
        self._db.commit()
        return known is not None

    def delivery(self, incident_id: str, channel: str, action: str) -> DeliveryRecord | None:
        rows = self._select(
            "where incident_id = ? and channel = ? and action = ?", (incident_id, channel, action)
        )
        return rows[0] if rows else None

    def deliveries(
        self, status: tuple[str, ...] | None = None, incident_id: str | None = None
    ) -> list[DeliveryRecord]:
        """E.g. ``deliveries(status=("pending", "failed"))``: what has not gone out yet."""
        clauses, params = [], []
        if status:
            clauses.append(f"status in ({', '.join('?' * len(status))})")
            params += list(status)
        if incident_id:
            clauses.append("incident_id = ?")
            params.append(incident_id)
        return self._select(("where " + " and ".join(clauses)) if clauses else "", tuple(params))

    def status_counts(self) -> dict[str, int]:
        return dict(self._db.execute("select status, count(*) from deliveries group by status").fetchall())

    def last_trigger_sent(
        self, incident_type: str, scope: str | None, channel: str, excluding: str
    ) -> datetime | None:
        row = self._db.execute(
            """select max(d.sent_at) from deliveries d join incidents i using (incident_id)
               where i.incident_type = ? and i.scope is ? and d.channel = ? and d.action = 'trigger'
               and d.status = 'sent' and d.incident_id != ?""",
            (incident_type, scope, channel, excluding),
        ).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def save(
        self,
        incident_id: str,
        channel: str,
        action: str,
        status: str,
        message: NotificationMessage,
        *,
        attempts: int = 0,
        next_attempt_at: datetime | None = None,
        last_attempt_at: datetime | None = None,
        sent_at: datetime | None = None,
        last_error: str | None = None,
    ) -> None:
        self._db.execute(
            """insert into deliveries values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               on conflict (incident_id, channel, action) do update set status = excluded.status,
               attempts = excluded.attempts, next_attempt_at = excluded.next_attempt_at,
               last_attempt_at = excluded.last_attempt_at, sent_at = excluded.sent_at,
               last_error = excluded.last_error, message = excluded.message""",
            (
                incident_id,
                channel,
                action,
                status,
                attempts,
                _iso(next_attempt_at),
                _iso(last_attempt_at),
                _iso(sent_at),
                last_error,
                json.dumps(message.to_dict(), default=str),
            ),
        )
        self._db.commit()

    def _select(self, where: str, params: tuple) -> list[DeliveryRecord]:
        rows = self._db.execute(
            "select incident_id, channel, action, status, attempts, next_attempt_at, last_attempt_at, sent_at, "
            f"last_error, message from deliveries {where} order by incident_id, channel, action",
            params,
        ).fetchall()
        return [DeliveryRecord(*row[:9], NotificationMessage.from_dict(json.loads(row[9]))) for row in rows]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
