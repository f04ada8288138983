"""The Meta budget writer against a local server speaking Meta's shapes."""

from __future__ import annotations

import pytest
from writeback_vendors import meta_settings

from activation.writeback.base import WriteError, WriteRequest
from activation.writeback.meta import MetaBudgetWriter


def _request(entity_id: str = "1001", value: float = 35.5, **overrides) -> WriteRequest:
    values = {
        "action_id": "a-1",
        "platform": "meta_ads",
        "entity_type": "adset",
        "entity_id": entity_id,
        "field": "daily_budget",
        "value": value,
        "currency": "USD",
    }
    values.update(overrides)
    return WriteRequest(**values)


def _writer(meta, sleeps, **overrides) -> MetaBudgetWriter:
    settings = meta_settings(meta)
    if overrides:
        settings = type(settings)(**{**settings.__dict__, **overrides})
    return MetaBudgetWriter(settings, sleep=sleeps)


def test_write_reads_writes_and_reads_back(meta, sleeps):
    result = _writer(meta, sleeps).write(_request(), dry_run=False)
    assert (result.status, result.before, result.after) == ("executed", 20.0, 35.5)
    assert meta.entities["1001"]["daily_budget"] == "3550"
    assert result.request["body"] == {"daily_budget": "3550"}
    assert result.request["method"] == "POST" and result.request["url"].endswith("/v27.0/1001")
    assert result.vendor_request_id and result.vendor_request_id.startswith("trace-")
    assert meta.write_attempts() == 1 and not sleeps


def test_campaign_budget_and_account_currency(meta, sleeps):
    meta.currency = "JPY"
    meta.entities["2002"]["daily_budget"] = "5000"
    request = _request("2002", 7000, entity_type="campaign", currency=None)
    writer = _writer(meta, sleeps)
    assert writer.read(request) == 5000.0
    result = writer.write(request, dry_run=False)
    assert result.status == "executed" and meta.entities["2002"]["daily_budget"] == "7000"


def test_already_at_target_is_a_noop_without_a_write(meta, sleeps):
    result = _writer(meta, sleeps).write(_request(value=20.0), dry_run=False)
    assert result.status == "noop" and result.before == result.after == 20.0
    assert meta.write_attempts() == 0 and result.request == {}


def test_dry_run_validates_and_changes_nothing(meta, sleeps):
    result = _writer(meta, sleeps).write(_request(), dry_run=True)
    assert result.status == "validated" and result.before == result.after == 20.0
    assert result.request["body"]["execution_options"] == '["validate_only"]'
    assert meta.entities["1001"]["daily_budget"] == "2000" and meta.writes_applied == 0


def test_429_honours_retry_after_and_writes_once(meta, sleeps):
    throttled = {"error": {"message": "Too many calls", "type": "OAuthException", "code": 4}}
    meta.fail_next_write(429, throttled, {"Retry-After": "3"})
    result = _writer(meta, sleeps).write(_request(), dry_run=False)
    assert result.status == "executed" and sleeps == [3.0]
    assert meta.write_attempts() == 2 and meta.writes_applied == 1


def test_5xx_backs_off_then_gives_up_as_retryable(meta, sleeps):
    meta.fail_next_write(503, {"error": {"message": "Service temporarily unavailable", "code": 2}}, times=5)
    result = _writer(meta, sleeps).write(_request(), dry_run=False)
    assert result.status == "failed" and result.retryable
    assert result.error == "Meta: Service temporarily unavailable (code 2)"
    assert sleeps == [1.0, 2.0] and meta.write_attempts() == 3
    assert meta.entities["1001"]["daily_budget"] == "2000"


def test_every_resend_is_preceded_by_a_read(meta, sleeps):
    meta.fail_next_write(500, {"error": {"message": "boom", "code": 1}}, times=2)
    _writer(meta, sleeps).write(_request(), dry_run=False)
    methods = [r.method for r in meta.requests]
    assert methods == ["GET", "POST", "GET", "POST", "GET", "POST", "GET"]


def test_retry_after_is_capped(meta, sleeps):
    meta.fail_next_write(429, {"error": {"message": "slow down", "code": 4}}, {"Retry-After": "3600"})
    _writer(meta, sleeps).write(_request(), dry_run=False)
    assert sleeps == [10.0]


def test_lost_response_is_recovered_by_reading_not_by_writing_again(meta, sleeps):
    meta.drop_next_write()  # applies, then closes the connection without answering
    result = _writer(meta, sleeps).write(_request(), dry_run=False)
    assert result.status == "executed" and result.before == 20.0 and result.after == 35.5
    assert meta.write_attempts() == 1 and meta.writes_applied == 1


def test_fifth_change_in_a_day_is_throttled_code_17(meta, sleeps):
    writer = _writer(meta, sleeps)
    for value in (21, 22, 23, 24):
        assert writer.write(_request(value=value), dry_run=False).status == "executed"
    result = writer.write(_request(value=25), dry_run=False)
    assert result.status == "failed" and result.retryable
    assert result.error == "Meta: User request limit reached (code 17/2446079)"
    assert result.vendor_request_id and result.response["status_code"] == 400
    assert meta.entities["1001"]["daily_budget"] == "2400"
    assert len(sleeps) == 2  # backed off twice within the call, then left it to the policy


def test_vendor_refusal_is_a_failed_result_not_retryable(meta, sleeps):
    result = _writer(meta, sleeps).write(_request("2003", 10), dry_run=False)
    assert result.status == "failed" and not result.retryable and result.before is None
    assert "not allowed under campaign budget optimisation (code 100)" in result.error
    assert meta.write_attempts() == 1 and not sleeps


def test_unknown_entity_fails_on_read(meta, sleeps):
    result = _writer(meta, sleeps).write(_request("999"), dry_run=False)
    assert result.status == "failed" and "does not exist" in result.error and meta.write_attempts() == 0


def test_wrong_request_shapes_are_write_errors(meta, sleeps):
    writer = _writer(meta, sleeps)
    with pytest.raises(WriteError):
        writer.write(_request(entity_type="ad"), dry_run=False)
    with pytest.raises(WriteError, match="digits"):
        writer.write(_request("1001/../act_777"), dry_run=False)
    with pytest.raises(WriteError, match="unknown currency"):
        writer.write(_request(currency="XXX"), dry_run=False)


def test_token_travels_only_in_the_header(meta, sleeps):
    writer = _writer(meta, sleeps)
    meta.drop_next_write()
    result = writer.write(_request(), dry_run=False)
    assert all(meta.token not in r.path and meta.token not in r.body for r in meta.requests)
    assert all(r.headers["authorization"] == f"Bearer {meta.token}" for r in meta.requests)
    shown = repr(result) + repr(writer) + repr(writer.settings)
    assert meta.token not in shown


def test_lost_response_on_the_last_attempt_is_still_settled_by_reading(meta, sleeps):
    meta.fail_next_write(500, {"error": {"message": "boom", "code": 1}}, times=2)
    meta.drop_next_write()
    result = _writer(meta, sleeps).write(_request(), dry_run=False)
    assert result.status == "executed" and result.after == 35.5
    assert meta.write_attempts() == 3 and meta.writes_applied == 1
