"""Pure unit tests: parsers, validators, quarantine rows, settings."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from ingestion.config import DEFAULT_BASE_URLS, SourceSettings, env_name
from ingestion.stats import reason_kind
from ingestion.validation import (
    InvalidRecord,
    check_email,
    parse_date,
    parse_float,
    parse_int,
    parse_timestamp,
    quarantine_row,
    require_id,
    unexpected_keys,
)


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-05T10:00:00+00:00",
        "2026-01-05T10:00:00Z",
        "2026-01-05T10:00:00.000Z",
        "2026-01-05T05:00:00-05:00",
        "2026-01-05T10:00:00+0000",
        1767607200,
        1767607200000,
        "1767607200000",
    ],
)
def test_parse_timestamp_normalises_to_utc(value: object) -> None:
    assert parse_timestamp(value, "t") == datetime(2026, 1, 5, 10, tzinfo=UTC)


@pytest.mark.parametrize("value", ["yesterday", "2026-13-45T00:00:00Z", "not-a-date", True])
def test_parse_timestamp_rejects_garbage(value: object) -> None:
    with pytest.raises(InvalidRecord, match="unparseable timestamp"):
        parse_timestamp(value, "t")


def test_parse_timestamp_missing() -> None:
    assert parse_timestamp(None, "t") is None
    with pytest.raises(InvalidRecord, match="missing timestamp"):
        parse_timestamp("", "t", required=True)


def test_numbers() -> None:
    assert parse_float("12.34", "spend") == 12.34
    assert parse_float(None, "spend") is None
    assert parse_int("1000", "impressions") == 1000
    with pytest.raises(InvalidRecord, match="non-numeric spend"):
        parse_float("12,3x", "spend")
    with pytest.raises(InvalidRecord, match="non-numeric spend"):
        parse_float("nan", "spend")
    with pytest.raises(InvalidRecord, match="negative spend"):
        parse_float("-1", "spend", non_negative=True)
    with pytest.raises(InvalidRecord, match="non-integer"):
        parse_int("1.5", "clicks")


def test_dates_and_ids() -> None:
    assert parse_date("2026-01-05", "d") == date(2026, 1, 5)
    with pytest.raises(InvalidRecord, match="unparseable date"):
        parse_date("05/01/2026", "d")
    assert require_id(123) == "123"
    with pytest.raises(InvalidRecord, match="missing id"):
        require_id("  ")


def test_email() -> None:
    assert check_email("  Ada@Example.COM ") == "  Ada@Example.COM "
    assert check_email(None) is None
    for bad in ("ada.example.com", "ada@", "a b@example.com", "ada@example"):
        with pytest.raises(InvalidRecord, match="invalid email"):
            check_email(bad)


def test_unexpected_keys() -> None:
    assert unexpected_keys({"id": 1, "x": 2}, ["id"], "attributes.") == ["attributes.x"]
    assert unexpected_keys(None, ["id"]) == []


def test_quarantine_id_is_stable_and_payload_canonical() -> None:
    a = quarantine_row("events", {"b": 1, "a": [1, 2]}, "missing id")
    b = quarantine_row("events", {"a": [1, 2], "b": 1}, "missing id")
    c = quarantine_row("profiles", {"a": [1, 2], "b": 1}, "missing id")
    assert a["quarantine_id"] == b["quarantine_id"] != c["quarantine_id"]
    assert json.loads(a["payload"]) == {"a": [1, 2], "b": 1}
    assert a["quarantined_at"].tzinfo is not None


def test_reason_kind() -> None:
    assert reason_kind("non-numeric spend: 'abc'") == "non-numeric spend"
    assert reason_kind("missing id") == "missing id"


def test_settings_from_env_and_defaults() -> None:
    settings = SourceSettings()
    assert settings.klaviyo_base_url == DEFAULT_BASE_URLS["klaviyo"] == "https://a.klaviyo.com"
    assert settings.google_ads_base_url == "https://googleads.googleapis.com"
    env = {
        "SOURCES__KLAVIYO__API_KEY": "k-secret",
        "SOURCES__KLAVIYO__BASE_URL": "http://127.0.0.1:1/klaviyo",
        "SOURCES__META_ADS__ACCOUNT_ID": "42",
        "SOURCES__START_DATE": "2026-01-05",
        "SOURCES__HTTP__MAX_ATTEMPTS": "3",
        "SOURCES__HTTP__TIMEOUT_SECONDS": "2.5",
    }
    settings = SourceSettings.from_env(env)
    assert settings.klaviyo_api_key == "k-secret"
    assert settings.klaviyo_base_url == "http://127.0.0.1:1/klaviyo"
    assert settings.meta_account_id == "42"
    assert settings.start_date == date(2026, 1, 5)
    assert settings.retry.max_attempts == 3 and settings.retry.timeout_seconds == 2.5
    assert "k-secret" not in repr(settings)
    assert env_name("sources.google_ads.developer_token") == "SOURCES__GOOGLE_ADS__DEVELOPER_TOKEN"


def test_rows_before_quarantine_holds_marked_items_until_rows_passed() -> None:
    from ingestion.validation import rows_before_quarantine

    assert list(rows_before_quarantine(["q1", "q2", [1], "q3", [2]])) == [[1], "q1", "q2", "q3", [2]]
    assert list(rows_before_quarantine(["q1"])) == ["q1"]


def test_settings_from_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__HUBSPOT__ACCESS_TOKEN", "hub-secret")
    monkeypatch.setenv("SOURCES__GOOGLE_ADS__CUSTOMER_ID", "999")
    settings = SourceSettings.from_env()
    assert settings.hubspot_access_token == "hub-secret" and settings.google_ads_customer_id == "999"
    assert "hub-secret" in settings.secrets() and "hub-secret" not in repr(settings)


def test_ingestion_imports_neither_dagster_nor_sandbox() -> None:
    import subprocess
    import sys

    code = "import sys, ingestion; assert not {'dagster', 'sandbox'} & set(sys.modules), sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
