"""The HTTP pieces the write clients share: one call, its reply, waits and what gets recorded.

A call that got no answer (connection dropped, timeout) is a :class:`Reply` with no status,
not an exception: for a write it means "may have applied", which the writer settles by
reading the entity again before deciding to re-send. Only reads are retried here (they are
safe to repeat); writes are retried by the writers, after a fresh read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from activation.writeback.base import WriteResult
from activation.writeback.settings import WritebackSettings

Sleep = Callable[[float], None]


@dataclass(frozen=True)
class Reply:
    status: int | None  # None: no answer arrived (a write may or may not have applied)
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    transport_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def recorded(self) -> dict[str, Any]:
        if self.status is None:
            return {"status_code": None, "error": self.transport_error}
        return {"status_code": self.status, "body": self.body}


class VendorCallError(Exception):
    """A read (or token refresh) that failed after its retries; becomes a ``failed`` result."""

    def __init__(
        self, message: str, *, retryable: bool, reply: Reply | None = None, request_id: str | None = None
    ):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.reply = reply
        self.request_id = request_id

    def result(self, before: Any = None) -> WriteResult:
        return WriteResult(
            status="failed",
            before=before,
            response=self.reply.recorded() if self.reply else {},
            error=self.message,
            vendor_request_id=self.request_id,
            retryable=self.retryable,
        )


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    timeout: float,
    **kwargs: Any,
) -> Reply:
    """One HTTP call; transport errors are named by type only (their text can hold the URL)."""
    try:
        response = session.request(method, url, headers=dict(headers), timeout=timeout, **kwargs)
    except requests.RequestException as error:
        return Reply(status=None, transport_error=type(error).__name__)
    try:
        body = response.json()
    except ValueError:
        body = response.text[:500]
    return Reply(status=response.status_code, body=body, headers=response.headers)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The vendor's ``Retry-After`` in seconds, when it sent a readable one."""
    header = headers.get("Retry-After")
    if header is not None:
        with contextlib.suppress(ValueError):
            return float(header)
    return None


def capped_wait(
    retry_after: float | None, attempt: int, backoff_seconds: float, max_wait_seconds: float
) -> float:
    """``Retry-After`` when the vendor sent one, else exponential backoff; never above the cap."""
    wait = retry_after if retry_after is not None else backoff_seconds * 2 ** (attempt - 1)
    return min(max(wait, 0.0), max_wait_seconds)


def wait_seconds(reply: Reply, attempt: int, settings: WritebackSettings) -> float:
    return capped_wait(
        retry_after_seconds(reply.headers), attempt, settings.backoff_seconds, settings.max_wait_seconds
    )


def read_with_retries(
    call: Callable[[], Reply],
    *,
    transient: Callable[[Reply], bool],
    settings: WritebackSettings,
    sleep: Sleep,
) -> Reply:
    """Repeat an idempotent call while it fails transiently; the last reply when attempts run out."""
    reply = call()
    for attempt in range(1, settings.max_attempts):
        if reply.ok or not transient(reply):
            break
        sleep(wait_seconds(reply, attempt, settings))
        reply = call()
    return reply


def recorded_request(method: str, url: str, body: Any) -> dict[str, Any]:
    """What was sent, for the decision log: never headers (they carry the credentials)."""
    return {"method": method, "url": url, "body": body}


def one_line(text: Any) -> str:
    return " ".join(str(text).split())
