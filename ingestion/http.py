"""HTTP for the vendor sources: timeouts, bounded retries with backoff, redaction.

:class:`RetryingSession` is a ``requests.Session`` handed to dlt's ``RESTClient``; it
retries 429/5xx, timeouts and connection errors (and Meta's HTTP-400 throttling codes)
with exponential backoff + jitter, honours ``Retry-After``, and turns anything else into
a :class:`VendorAPIError` naming vendor, endpoint and status but never a secret.
A successful response whose body is damaged (truncated, cut mid-stream, not JSON) is
transient too: it is retried like a 5xx, and when retries run out the error says
``<vendor> <METHOD> <endpoint>: response body is not valid JSON after N attempts (...)``.
Every successful body is parsed once here and ``response.json()`` returns that parse.
Sessions fetching in parallel share a :class:`SharedBackoff`: a retryable answer seen by one
pauses every session for its delay (a vendor's rate limit is per account, not per connection).
Bodies are parsed with orjson when it is installed (the standard library otherwise).
Credentials travel in :class:`HeaderAuth`, applied at send time, so dlt's request
logging (which prints ``Request.headers`` at DEBUG) never sees them.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests.auth import AuthBase
from requests.hooks import dispatch_hook

from ingestion.config import RetryPolicy

try:
    from orjson import loads as _json_loads  # about 3x faster on event pages; rejects NaN as JSON does
except ImportError:  # pragma: no cover - orjson comes with the project's dependencies
    _json_loads = json.loads

logger = logging.getLogger("ingestion.http")

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
META_THROTTLE_CODES = frozenset({4, 17, 613, *range(80000, 80007)})
_TOKEN_PARAM = re.compile(r"(access_token|api_key|key|token)=[^&\s\"']+", re.IGNORECASE)


class VendorAPIError(RuntimeError):
    """A vendor call failed for good. The message is safe to log (no secrets, no query)."""

    def __init__(
        self,
        vendor: str,
        method: str,
        endpoint: str,
        status: int | None,
        detail: str,
        *,
        failed: bool = True,
    ) -> None:
        self.vendor = vendor
        self.method = method
        self.endpoint = endpoint
        self.status = status
        self.detail = detail
        if not failed:  # the call answered, but with nothing usable: the detail is the cause
            super().__init__(f"{vendor} {method} {endpoint}: {detail}")
            return
        status_text = f"HTTP {status}" if status is not None else "no response"
        super().__init__(f"{vendor} {method} {endpoint} failed ({status_text}): {detail}")


class DamagedBodyError(VendorAPIError):
    """Every attempt answered with a body that was cut off or is not valid JSON."""

    def __init__(self, vendor: str, method: str, endpoint: str, status: int | None, detail: str) -> None:
        super().__init__(vendor, method, endpoint, status, detail, failed=False)


def parse_body(response: requests.Response) -> Any:
    """The JSON body, parsed once; raises ``ValueError`` with the decoder's message when damaged."""
    content = response.content
    if not content:
        return None
    return _json_loads(content)


def _cache_json(response: requests.Response, parsed: Any) -> None:
    """Make ``response.json()`` return ``parsed`` (dlt and the paginators call it several times)."""
    response.json = lambda **_: parsed  # type: ignore[method-assign]


def redact(text: str, secrets: Iterable[str]) -> str:
    """Remove secret values and ``access_token=...``-style query parameters from ``text``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _TOKEN_PARAM.sub(lambda m: f"{m.group(1)}=***", text)


class HeaderAuth(AuthBase):
    """Adds credential headers at send time; its repr never shows them."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.update(self._headers)
        return request

    def __repr__(self) -> str:
        return f"HeaderAuth(headers={sorted(self._headers)})"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def is_meta_throttle(response: requests.Response) -> bool:
    """Meta throttles with HTTP 400 and an error code (4, 17, 613, 80000-80006) or is_transient."""
    if response.status_code not in (400, 403):
        return False
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return False
    if not isinstance(error, dict):
        return False
    code = error.get("code")
    return bool(error.get("is_transient")) or (isinstance(code, int) and code in META_THROTTLE_CODES)


def backoff_delay(attempt: int, policy: RetryPolicy, retry_after: float | None, rng: random.Random) -> float:
    """Exponential backoff with jitter (50-100% of the step); never below ``Retry-After``."""
    step = min(policy.backoff_max_seconds, policy.backoff_base_seconds * (2 ** (attempt - 1)))
    delay = step * (0.5 + rng.random() / 2)
    if retry_after is not None:
        delay = max(delay, retry_after + rng.random() * min(0.1, policy.backoff_base_seconds))
    return delay


class SharedBackoff:
    """A pause shared by the sessions of parallel workers: one 429 backs them all off.

    :meth:`hold` moves the resume time forward (never back); :meth:`wait` sleeps until it.
    """

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._resume_at = 0.0
        self.waited_seconds = 0.0

    def hold(self, seconds: float) -> None:
        with self._lock:
            self._resume_at = max(self._resume_at, self._clock() + seconds)

    def wait(self) -> float:
        """Sleep until the shared pause is over; returns the seconds slept."""
        slept = 0.0
        while True:
            with self._lock:
                remaining = self._resume_at - self._clock()
            if remaining <= 0:
                break
            self._sleep(remaining)
            slept += remaining
        if slept:
            with self._lock:
                self.waited_seconds += slept
        return slept


class RetryingSession(requests.Session):
    """``requests.Session`` with a default timeout and bounded, jittered retries."""

    def __init__(
        self,
        vendor: str,
        policy: RetryPolicy,
        secrets: Iterable[str] = (),
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        reauthenticate: Callable[[requests.PreparedRequest], None] | None = None,
        backoff: SharedBackoff | None = None,
    ) -> None:
        super().__init__()
        self.backoff = backoff  # shared with the other workers of a parallel extraction
        self.reauthenticate = reauthenticate  # refresh the request's credentials once after a 401
        self.vendor = vendor
        self.policy = policy
        self.secrets = tuple(s for s in secrets if s)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.retries = 0
        self.slept_seconds = 0.0

    def _retryable(self, response: requests.Response) -> bool:
        if response.status_code in RETRYABLE_STATUSES:
            return True
        return self.vendor == "meta_ads" and is_meta_throttle(response)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.policy.timeout_seconds
        hooks = request.hooks
        request.hooks = {"response": []}
        endpoint = urlsplit(request.url or "").path
        method = request.method or "GET"
        slept = 0.0
        attempt = 0
        reauthenticated = False
        while True:
            attempt += 1
            retry_after: float | None = None
            damaged: str | None = None
            if self.backoff is not None:
                self.backoff.wait()
            try:
                response = super().send(request, **kwargs)
            except (requests.Timeout, requests.ConnectionError) as exc:
                problem = type(exc).__name__
            except (
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ) as exc:
                damaged = f"response body was cut off ({_first_line(exc)})"
                problem = damaged
            else:
                if response.status_code < 400:
                    try:
                        parsed = parse_body(response)
                    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
                        damaged = f"response body is not valid JSON ({_first_line(exc)})"
                        problem = damaged
                        response.close()
                    else:
                        if parsed is not None:
                            _cache_json(response, parsed)
                        request.hooks = hooks
                        return dispatch_hook("response", hooks, response, **kwargs)
                elif response.status_code == 401 and self.reauthenticate and not reauthenticated:
                    response.close()
                    self.reauthenticate(request)
                    reauthenticated = True
                    attempt -= 1  # a refreshed token is not a retry
                    continue
                elif not self._retryable(response):
                    raise VendorAPIError(
                        self.vendor, method, endpoint, response.status_code, self._body_excerpt(response)
                    )
                else:
                    problem = f"HTTP {response.status_code}"
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    response.close()
            delay = backoff_delay(attempt, self.policy, retry_after, self._rng)
            if attempt >= self.policy.max_attempts or slept + delay > self.policy.max_total_backoff_seconds:
                if damaged is not None:
                    cause, _, excerpt = damaged.partition(" (")
                    raise DamagedBodyError(
                        self.vendor,
                        method,
                        endpoint,
                        None,
                        redact(f"{cause} after {attempt} attempts ({excerpt}", self.secrets),
                    ) from None
                raise VendorAPIError(
                    self.vendor,
                    method,
                    endpoint,
                    None if problem.startswith(("Timeout", "Connect", "Read")) else _status_of(problem),
                    f"gave up after {attempt} attempts and {slept:.1f}s of backoff (last: {problem})",
                ) from None
            logger.warning(
                "%s %s %s: %s, retry %d/%d in %.2fs",
                self.vendor,
                method,
                endpoint,
                problem,
                attempt,
                self.policy.max_attempts - 1,
                delay,
            )
            if self.backoff is not None:
                self.backoff.hold(delay)
            self._sleep(delay)
            slept += delay
            self.retries += 1
            self.slept_seconds += delay

    def _body_excerpt(self, response: requests.Response) -> str:
        try:
            body: Any = response.json()
            text = json.dumps(body, sort_keys=True)
        except ValueError:
            text = response.text or response.reason or ""
        return redact(text[:500], self.secrets)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _status_of(problem: str) -> int | None:
    parts = problem.split()
    return int(parts[1]) if len(parts) == 2 and parts[1].isdigit() else None


def make_client(
    vendor: str,
    base_url: str,
    credentials: Mapping[str, str],
    policy: RetryPolicy,
    *,
    headers: Mapping[str, str] | None = None,
    paginator: BasePaginator | None = None,
    data_selector: str | None = None,
    auth: AuthBase | None = None,
    reauthenticate: Callable[[requests.PreparedRequest], None] | None = None,
    backoff: SharedBackoff | None = None,
) -> RESTClient:
    """A dlt ``RESTClient`` whose session retries and whose credentials are never logged.

    ``auth`` replaces the static credential headers (tokens that expire); ``reauthenticate``
    refreshes a request's credentials once when the vendor answers 401; ``backoff`` is shared
    with the other workers of a parallel extraction.
    """
    session = RetryingSession(
        vendor, policy, secrets=credentials.values(), reauthenticate=reauthenticate, backoff=backoff
    )
    return RESTClient(
        base_url=base_url.rstrip("/"),
        headers=dict(headers or {}),
        auth=auth or HeaderAuth(credentials),
        paginator=paginator,
        data_selector=data_selector,
        session=session,
    )
