"""Choosing a client per platform, applying through it, and settings from the environment."""

from __future__ import annotations

import pytest
from writeback_vendors import meta_settings

from activation.writeback.base import WriteError, WriteRequest
from activation.writeback.executor import apply, writer_for
from activation.writeback.google_ads import GoogleAdsBudgetWriter
from activation.writeback.meta import MetaBudgetWriter
from activation.writeback.settings import WritebackSettings


def test_writer_for_each_platform():
    settings = WritebackSettings()
    assert isinstance(writer_for("meta_ads", settings), MetaBudgetWriter)
    assert isinstance(writer_for("google_ads", settings), GoogleAdsBudgetWriter)
    with pytest.raises(WriteError, match="no write client for platform 'tiktok'"):
        writer_for("tiktok", settings)


def test_apply_writes_through_the_client(meta):
    writer = writer_for("meta_ads", meta_settings(meta))
    request = WriteRequest("a-1", "meta_ads", "adset", "1001", "daily_budget", 30.0, "USD")
    result = apply(writer, request, dry_run=False)
    assert result.status == "executed" and meta.entities["1001"]["daily_budget"] == "3000"


def test_apply_refuses_a_request_for_another_platform(meta):
    writer = writer_for("meta_ads", meta_settings(meta))
    request = WriteRequest("a-1", "google_ads", "campaign_budget", "501", "daily_budget", 30.0, "USD")
    with pytest.raises(WriteError, match="google_ads request given to the meta_ads client"):
        apply(writer, request, dry_run=False)
    assert not meta.requests


def test_settings_from_env_with_vendor_fallbacks_and_hidden_secrets():
    settings = WritebackSettings.from_env(
        {
            "LOOPWISE_META_ACCESS_TOKEN": "meta-secret",
            "LOOPWISE_META_ACCOUNT_ID": "42",
            "GOOGLE_ADS_DEVELOPER_TOKEN": "dev-secret",
            "LOOPWISE_GOOGLE_REFRESH_TOKEN": "refresh-secret",
            "GOOGLE_ADS_REFRESH_TOKEN": "ignored-because-ours-wins",
            "GOOGLE_ADS_CLIENT_SECRET": "client-secret",
            "LOOPWISE_KLAVIYO_API_KEY": "pk_secret",
            "LOOPWISE_WRITEBACK_MAX_ATTEMPTS": "5",
        }
    )
    assert settings.meta_account_id == "42" and settings.google_refresh_token == "refresh-secret"
    assert settings.google_ads_developer_token == "dev-secret" and settings.max_attempts == 5
    assert (settings.meta_api_version, settings.google_ads_api_version, settings.klaviyo_revision) == (
        "v27.0",
        "v26",
        "2026-10-15",
    )
    assert len(settings.secrets()) == 5
    for secret in settings.secrets():
        assert secret not in repr(settings)
