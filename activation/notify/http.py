"""POST JSON with a timeout, and retries with backoff on 429/5xx honouring ``Retry-After``.

Retrying a POST is safe for PagerDuty (``dedup_key`` makes it idempotent). For Slack a
retried 5xx can at worst duplicate a message, which beats losing an alert.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

log = logging.getLogger(__name__)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class DeliveryError(Exception):
    """A notification could not be delivered (it will be retried on the next tick)."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    backoff_seconds: float = 1.0
    max_wait_seconds: float = 30.0


def _retry_after(response: requests.Response, default: float, cap: float) -> float:
    header = response.headers.get("Retry-After")
    try:
        wait = float(header) if header is not None else default
    except ValueError:
        wait = default
    return min(max(wait, 0.0), cap)


def post_json(
    url: str,
    payload: dict[str, Any],
    *,
    channel: str,
    timeout: float,
    retry: RetryPolicy,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> requests.Response:
    """The URL may be a secret (Slack webhooks): it is never logged or put in errors."""
    http = session or requests.Session()
    last_error = "no attempt made"
    for attempt in range(1, retry.attempts + 1):
        wait = retry.backoff_seconds * 2 ** (attempt - 1)
        try:
            response = http.post(url, json=payload, timeout=timeout)
        except requests.RequestException as error:
            last_error = f"{type(error).__name__}"
        else:
            if response.status_code < 300:
                return response
            last_error = f"HTTP {response.status_code}"
            if response.status_code not in RETRY_STATUSES:
                break
            wait = _retry_after(response, wait, retry.max_wait_seconds)
        log.warning("%s delivery attempt %d/%d failed: %s", channel, attempt, retry.attempts, last_error)
        if attempt < retry.attempts:
            sleep(min(wait, retry.max_wait_seconds))
    raise DeliveryError(f"{channel}: {last_error}")
