"""Unit tests for the retrying session, with a canned transport (no network)."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator

import pytest
import requests
from requests.adapters import BaseAdapter

from ingestion.config import RetryPolicy
from ingestion.http import (
    RetryingSession,
    VendorAPIError,
    backoff_delay,
    is_meta_throttle,
    make_client,
    parse_retry_after,
    redact,
)

SECRET = "canary-secret-123"


class CannedAdapter(BaseAdapter):
    """Answers from a list of (status, headers, body) or exceptions, recording requests."""

    def __init__(self, answers: list[object]) -> None:
        super().__init__()
        self.answers: Iterator[object] = iter(answers)
        self.requests: list[requests.PreparedRequest] = []
        self.timeouts: list[object] = []

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):  # type: ignore[no-untyped-def]
        self.requests.append(request)
        self.timeouts.append(timeout)
        answer = next(self.answers)
        if isinstance(answer, Exception):
            raise answer
        status, headers, body = answer  # type: ignore[misc]
        response = requests.Response()
        response.status_code = status
        response.headers.update(headers)
        response._content = json.dumps(body).encode()
        response.url = request.url
        response.request = request
        return response

    def close(self) -> None:
        pass


def _session(
    vendor: str, answers: list[object], **policy: float
) -> tuple[RetryingSession, CannedAdapter, list[float]]:
    sleeps: list[float] = []
    session = RetryingSession(
        vendor,
        RetryPolicy(**{"timeout_seconds": 3.0, "max_attempts": 4, "backoff_base_seconds": 0.1, **policy}),  # type: ignore[arg-type]
        secrets=[SECRET],
        sleep=sleeps.append,
        rng=random.Random(1),
    )
    adapter = CannedAdapter(answers)
    session.mount("http://", adapter)
    return session, adapter, sleeps


def test_retries_429_honouring_retry_after_then_succeeds() -> None:
    session, adapter, sleeps = _session(
        "klaviyo", [(429, {"Retry-After": "2"}, {}), (503, {}, {}), (200, {}, {"data": []})]
    )
    response = session.get("http://vendor/api/events")
    assert response.status_code == 200
    assert len(adapter.requests) == 3
    assert sleeps[0] >= 2.0 and sleeps[1] < 1.0
    assert adapter.timeouts == [3.0, 3.0, 3.0]


def test_timeouts_and_connection_errors_are_retried() -> None:
    session, adapter, sleeps = _session(
        "hubspot", [requests.ReadTimeout("slow"), requests.ConnectionError("reset"), (200, {}, {})]
    )
    assert session.get("http://vendor/x").status_code == 200
    assert len(sleeps) == 2


def test_meta_throttle_400_is_retried_but_other_400_is_not() -> None:
    throttle = {"error": {"code": 17, "error_subcode": 2446079, "is_transient": True, "message": "limit"}}
    session, adapter, sleeps = _session("meta_ads", [(400, {}, throttle), (200, {}, {"data": []})])
    assert session.get("http://vendor/v21.0/act_1/insights").status_code == 200
    assert len(sleeps) == 1
    session, adapter, sleeps = _session(
        "meta_ads", [(400, {}, {"error": {"code": 100, "message": "bad field"}})]
    )
    with pytest.raises(VendorAPIError) as caught:
        session.get("http://vendor/v21.0/act_1/insights")
    assert caught.value.status == 400 and "meta_ads GET /v21.0/act_1/insights" in str(caught.value)
    assert sleeps == []


def test_non_retryable_error_names_vendor_endpoint_status_without_secret() -> None:
    body = {"message": f"bad key {SECRET}"}
    session, _, _ = _session("google_ads", [(401, {}, body)])
    with pytest.raises(VendorAPIError) as caught:
        session.get(f"http://vendor/v17/customers/1/googleAds:searchStream?access_token={SECRET}")
    text = str(caught.value)
    assert "google_ads" in text and "HTTP 401" in text and "/v17/customers/1/googleAds:searchStream" in text
    assert SECRET not in text


def test_gives_up_within_the_backoff_budget(caplog: pytest.LogCaptureFixture) -> None:
    session, adapter, sleeps = _session(
        "klaviyo", [(429, {"Retry-After": "5"}, {})] * 10, max_total_backoff_seconds=8.0
    )
    with caplog.at_level(logging.WARNING), pytest.raises(VendorAPIError, match="gave up after 2 attempts"):
        session.get("http://vendor/api/events")
    assert sum(sleeps) <= 8.0 and len(adapter.requests) == 2


def test_max_attempts_bound() -> None:
    session, adapter, _ = _session("hubspot", [(500, {}, {})] * 10)
    with pytest.raises(VendorAPIError, match="gave up after 4 attempts"):
        session.get("http://vendor/x")
    assert len(adapter.requests) == 4


def test_helpers() -> None:
    assert parse_retry_after("1") == 1.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert redact(f"url?access_token={SECRET}&x=1 {SECRET}", [SECRET]) == "url?access_token=***&x=1 ***"
    policy = RetryPolicy(backoff_base_seconds=1.0, backoff_max_seconds=4.0)
    rng = random.Random(0)
    delays = [backoff_delay(n, policy, None, rng) for n in range(1, 6)]
    assert all(0.5 <= d <= 4.0 for d in delays) and delays[-1] >= 2.0
    response = requests.Response()
    response.status_code = 400
    response._content = b'{"error": {"code": 80004}}'
    assert is_meta_throttle(response)


def test_credentials_are_not_in_request_headers_logged_by_dlt() -> None:
    client = make_client(
        "klaviyo", "http://vendor", {"Authorization": f"Klaviyo-API-Key {SECRET}"}, RetryPolicy()
    )
    assert SECRET not in repr(client.auth) and SECRET not in json.dumps(client.headers)
    adapter = CannedAdapter([(200, {}, {"data": [{"id": 1}], "links": {"next": None}})])
    client.session.mount("http://", adapter)
    assert client.get("/api/metrics").json()["data"] == [{"id": 1}]
    assert adapter.requests[0].headers["Authorization"] == f"Klaviyo-API-Key {SECRET}"
