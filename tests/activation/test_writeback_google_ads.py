"""The Google Ads budget writer against a local server speaking Google's shapes (and OAuth)."""

from __future__ import annotations

import json

import pytest
from writeback_vendors import google_settings

from activation.writeback.base import WriteError, WriteRequest
from activation.writeback.google_ads import GoogleAdsBudgetWriter


def _request(budget_id: str = "501", value: float = 20.0, **overrides) -> WriteRequest:
    values = {
        "action_id": f"a-{budget_id}",
        "platform": "google_ads",
        "entity_type": "campaign_budget",
        "entity_id": budget_id,
        "field": "daily_budget",
        "value": value,
        "currency": "USD",
    }
    values.update(overrides)
    return WriteRequest(**values)


def _writer(google, sleeps, **overrides) -> GoogleAdsBudgetWriter:
    return GoogleAdsBudgetWriter(google_settings(google, **overrides), sleep=sleeps)


def _mutates(google) -> list[dict]:
    return [json.loads(r.body) for r in google.requests if google.is_write_path(r.path)]


def test_write_uses_update_mask_and_reads_back(google, sleeps):
    result = _writer(google, sleeps).write(_request(), dry_run=False)
    assert (result.status, result.before, result.after) == ("executed", 50.0, 20.0)
    assert google.micros("501") == 20_000_000
    operation = {
        "update": {"resourceName": "customers/1112223333/campaignBudgets/501", "amountMicros": "20000000"},
        "updateMask": "amount_micros",
    }
    assert _mutates(google) == [{"operations": [operation], "partialFailure": True, "validateOnly": False}]
    assert result.vendor_request_id and result.vendor_request_id.startswith("req-")
    mutate = next(r for r in google.requests if google.is_write_path(r.path))
    assert mutate.headers["developer-token"] == google.developer_token
    assert mutate.headers["login-customer-id"] == "9998887777"


def test_noop_when_already_at_target(google, sleeps):
    result = _writer(google, sleeps).write(_request(value=50.0), dry_run=False)
    assert result.status == "noop" and result.before == result.after == 50.0 and not _mutates(google)


def test_dry_run_validates_only(google, sleeps):
    result = _writer(google, sleeps).write(_request(), dry_run=True)
    assert result.status == "validated" and result.before == result.after == 50.0
    assert _mutates(google)[0]["validateOnly"] is True and google.micros("501") == 50_000_000


def test_shared_budget_is_refused_unless_allowed(google, sleeps):
    writer = _writer(google, sleeps)
    refused = writer.write(_request("503", 12.0), dry_run=False)
    assert refused.status == "failed" and not refused.retryable
    assert "shared by 3 campaigns" in refused.error and not _mutates(google)
    allowed = writer.write(_request("503", 12.0, context={"allow_shared": True}), dry_run=False)
    assert allowed.status == "executed" and google.micros("503") == 12_000_000


def test_partial_failure_applies_the_valid_operations(google, sleeps):
    requests = [_request("501", 25.0), _request("502", 0.0), _request("502", 31.0), _request("404", 5.0)]
    results = _writer(google, sleeps).write_many(requests, dry_run=False)
    assert [r.status for r in results] == ["executed", "failed", "executed", "failed"]
    assert results[1].error == "Google Ads: The budget amount must be positive." and not results[1].retryable
    assert "not found" in results[3].error
    assert google.micros("501") == 25_000_000 and google.micros("502") == 31_000_000
    assert len(_mutates(google)) == 1 and len(_mutates(google)[0]["operations"]) == 3
    assert [r.request["operation_index"] for r in results[:3]] == [0, 1, 2]


def test_without_partial_failure_one_invalid_operation_fails_all(google, sleeps):
    requests = [_request("501", 25.0), _request("502", 0.0)]
    results = _writer(google, sleeps).write_many(requests, dry_run=False, partial_failure=False)
    assert [r.status for r in results] == ["failed", "failed"]
    assert results[1].error == "Google Ads: The budget amount must be positive."
    assert results[0].error.startswith("not applied: another operation in the batch failed")
    assert google.micros("501") == 50_000_000 and google.writes_applied == 0


def test_429_honours_retry_after_and_writes_once(google, sleeps):
    exhausted = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "Too many requests."}}
    google.fail_next_write(429, exhausted, {"Retry-After": "2"})
    result = _writer(google, sleeps).write(_request(), dry_run=False)
    assert result.status == "executed" and sleeps == [2.0] and google.writes_applied == 1


def test_5xx_exhausts_attempts_as_retryable(google, sleeps):
    google.fail_next_write(
        500, {"error": {"code": 500, "status": "INTERNAL", "message": "Internal error."}}, times=3
    )
    result = _writer(google, sleeps).write(_request(), dry_run=False)
    assert result.status == "failed" and result.retryable
    assert result.error == "Google Ads: Internal error. (INTERNAL)" and google.micros("501") == 50_000_000
    assert len(_mutates(google)) == 3 and sleeps == [1.0, 2.0]


def test_lost_response_is_recovered_by_reading(google, sleeps):
    google.drop_next_write()
    results = _writer(google, sleeps).write_many(
        [_request("501", 25.0), _request("502", 35.0)], dry_run=False
    )
    assert [r.status for r in results] == ["executed", "executed"]
    assert [r.after for r in results] == [25.0, 35.0]
    assert len(_mutates(google)) == 1 and google.writes_applied == 2


def test_expired_access_token_is_refreshed_once(google, sleeps):
    writer = _writer(google, sleeps)
    writer.write(_request("501", 21.0), dry_run=False)
    assert google.grants == 1
    google.expire_tokens()
    result = writer.write(_request("501", 22.0), dry_run=False)
    assert result.status == "executed" and google.grants == 2
    with_first_token = [
        r for r in google.requests if r.headers.get("authorization") == "Bearer ya29.access-1"
    ]
    assert len(with_first_token) == 4  # read, write, read back; then the one call answered 401


def test_a_second_401_is_not_refreshed_again(google, sleeps):
    result = _writer(google, sleeps, google_ads_developer_token="wrong").write(_request(), dry_run=False)
    assert result.status == "failed" and not result.retryable and "UNAUTHENTICATED" in result.error
    assert google.grants == 2 and google.writes_applied == 0


def test_refused_refresh_token_fails_without_a_call(google, sleeps):
    result = _writer(google, sleeps, google_refresh_token="revoked").write(_request(), dry_run=False)
    assert result.status == "failed" and not result.retryable
    assert result.error == "Google OAuth refused the refresh token: invalid_grant (Bad Request)"
    assert all(r.path == "/token" for r in google.requests)


def test_jpy_amounts_round_to_the_billable_unit(google, sleeps):
    google.currency = "JPY"
    google.add_budget("601", 2_000_000_000)
    result = _writer(google, sleeps).write(_request("601", 2500.4, currency="JPY"), dry_run=False)
    assert result.status == "executed" and google.micros("601") == 2_500_000_000


def test_requests_without_currency_or_with_a_bad_id_are_write_errors(google, sleeps):
    writer = _writer(google, sleeps)
    with pytest.raises(WriteError, match="currency"):
        writer.write(_request(currency=None), dry_run=False)
    with pytest.raises(WriteError, match="digits"):
        writer.write(_request("501 OR 1=1"), dry_run=False)


def test_secrets_never_reach_urls_bodies_results_or_reprs(google, sleeps):
    writer = _writer(google, sleeps)
    google.drop_next_write()
    results = writer.write_many([_request("501", 25.0), _request("502", 0.0)], dry_run=False)
    secrets = [google.developer_token, google.client_secret, google.refresh_token, *google.valid_tokens]
    shown = repr(results) + repr(writer) + repr(writer.settings) + json.dumps([r.request for r in results])
    api_calls = [r for r in google.requests if r.path != "/token"]
    for secret in secrets:
        assert secret not in shown
        assert all(secret not in r.path and secret not in r.body for r in api_calls)


def test_lost_response_on_the_last_attempt_is_still_settled_by_reading(google, sleeps):
    google.fail_next_write(
        503, {"error": {"code": 503, "status": "UNAVAILABLE", "message": "Try again."}}, times=2
    )
    google.drop_next_write()
    result = _writer(google, sleeps).write(_request(), dry_run=False)
    assert result.status == "executed" and result.after == 20.0
    assert len(_mutates(google)) == 3 and google.writes_applied == 1


def test_a_retried_batch_resends_only_what_is_not_yet_at_target(google, sleeps):
    google.fail_next_write(500, {"error": {"code": 500, "status": "INTERNAL", "message": "Internal error."}})

    def someone_sets_502_while_we_wait(seconds: float) -> None:
        sleeps(seconds)
        google.budgets["502"]["amountMicros"] = "36000000"

    writer = GoogleAdsBudgetWriter(google_settings(google), sleep=someone_sets_502_while_we_wait)
    results = writer.write_many([_request("501", 25.0), _request("502", 36.0)], dry_run=False)
    assert [r.status for r in results] == ["executed", "executed"]
    assert [len(body["operations"]) for body in _mutates(google)] == [2, 1]
    resent = _mutates(google)[1]["operations"][0]["update"]["resourceName"]
    assert resent.endswith("/501") and google.writes_applied == 1
    paths = [r.path.rsplit(":", 1)[-1] for r in google.requests if r.path != "/token"]
    assert paths == ["searchStream"] * 2 + ["mutate"] + ["searchStream"] * 2 + ["mutate"] + ["searchStream"]
