"""Write-client configuration, read from the environment in one place (never at import).

Orchestration builds :class:`WritebackSettings` directly for the sandbox (its URLs and keys);
:meth:`WritebackSettings.from_env` is for a real account. Secrets are excluded from ``repr``
so a logged settings object never leaks a token.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

META_BASE_URL = "https://graph.facebook.com"
GOOGLE_ADS_BASE_URL = "https://googleads.googleapis.com"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
KLAVIYO_BASE_URL = "https://a.klaviyo.com"


@dataclass(frozen=True)
class WritebackSettings:
    meta_base_url: str = META_BASE_URL
    meta_api_version: str = "v27.0"
    meta_access_token: str = field(default="", repr=False)
    meta_account_id: str = ""
    google_ads_base_url: str = GOOGLE_ADS_BASE_URL
    google_ads_api_version: str = "v26"
    google_ads_customer_id: str = ""
    google_ads_login_customer_id: str | None = None
    google_ads_developer_token: str = field(default="", repr=False)
    google_token_url: str = GOOGLE_TOKEN_URL
    google_client_id: str = ""
    google_client_secret: str = field(default="", repr=False)
    google_refresh_token: str = field(default="", repr=False)
    klaviyo_base_url: str = KLAVIYO_BASE_URL
    klaviyo_api_key: str = field(default="", repr=False)
    klaviyo_revision: str = "2026-10-15"
    timeout_seconds: float = 30.0
    max_attempts: int = 3
    """Calls per read or write before giving up; a write is re-read before every re-send."""
    backoff_seconds: float = 1.0
    max_wait_seconds: float = 10.0
    """Cap on one wait, whatever ``Retry-After`` says: a longer throttle is left to the next run."""

    def secrets(self) -> tuple[str, ...]:
        """Every secret value, for tests and redaction."""
        values = (
            self.meta_access_token,
            self.google_ads_developer_token,
            self.google_client_secret,
            self.google_refresh_token,
            self.klaviyo_api_key,
        )
        return tuple(value for value in values if value)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WritebackSettings:
        """Read ``LOOPWISE_*`` names, falling back to the vendors' own names where they have one.

        Meta: ``LOOPWISE_META_BASE_URL``, ``LOOPWISE_META_API_VERSION``,
        ``LOOPWISE_META_ACCESS_TOKEN``, ``LOOPWISE_META_ACCOUNT_ID`` (digits, without ``act_``).
        Google Ads (the google-ads client library's names in brackets):
        ``LOOPWISE_GOOGLE_ADS_BASE_URL``, ``LOOPWISE_GOOGLE_ADS_API_VERSION``,
        ``LOOPWISE_GOOGLE_ADS_CUSTOMER_ID``,
        ``LOOPWISE_GOOGLE_ADS_LOGIN_CUSTOMER_ID`` (``GOOGLE_ADS_LOGIN_CUSTOMER_ID``),
        ``LOOPWISE_GOOGLE_ADS_DEVELOPER_TOKEN`` (``GOOGLE_ADS_DEVELOPER_TOKEN``),
        ``LOOPWISE_GOOGLE_TOKEN_URL``, ``LOOPWISE_GOOGLE_CLIENT_ID`` (``GOOGLE_ADS_CLIENT_ID``),
        ``LOOPWISE_GOOGLE_CLIENT_SECRET`` (``GOOGLE_ADS_CLIENT_SECRET``),
        ``LOOPWISE_GOOGLE_REFRESH_TOKEN`` (``GOOGLE_ADS_REFRESH_TOKEN``).
        Klaviyo: ``LOOPWISE_KLAVIYO_BASE_URL``, ``LOOPWISE_KLAVIYO_API_KEY``,
        ``LOOPWISE_KLAVIYO_REVISION``. HTTP: ``LOOPWISE_WRITEBACK_TIMEOUT_SECONDS``,
        ``LOOPWISE_WRITEBACK_MAX_ATTEMPTS``, ``LOOPWISE_WRITEBACK_BACKOFF_SECONDS``,
        ``LOOPWISE_WRITEBACK_MAX_WAIT_SECONDS``. Unset names keep the defaults.
        """
        env = os.environ if environ is None else environ

        def get(*names: str) -> str | None:
            for name in names:
                value = env.get(name, "").strip()
                if value:
                    return value
            return None

        defaults = cls()
        return cls(
            meta_base_url=get("LOOPWISE_META_BASE_URL") or defaults.meta_base_url,
            meta_api_version=get("LOOPWISE_META_API_VERSION") or defaults.meta_api_version,
            meta_access_token=get("LOOPWISE_META_ACCESS_TOKEN") or "",
            meta_account_id=get("LOOPWISE_META_ACCOUNT_ID") or "",
            google_ads_base_url=get("LOOPWISE_GOOGLE_ADS_BASE_URL") or defaults.google_ads_base_url,
            google_ads_api_version=get("LOOPWISE_GOOGLE_ADS_API_VERSION") or defaults.google_ads_api_version,
            google_ads_customer_id=get("LOOPWISE_GOOGLE_ADS_CUSTOMER_ID") or "",
            google_ads_login_customer_id=get(
                "LOOPWISE_GOOGLE_ADS_LOGIN_CUSTOMER_ID", "GOOGLE_ADS_LOGIN_CUSTOMER_ID"
            ),
            google_ads_developer_token=get(
                "LOOPWISE_GOOGLE_ADS_DEVELOPER_TOKEN", "GOOGLE_ADS_DEVELOPER_TOKEN"
            )
            or "",
            google_token_url=get("LOOPWISE_GOOGLE_TOKEN_URL") or defaults.google_token_url,
            google_client_id=get("LOOPWISE_GOOGLE_CLIENT_ID", "GOOGLE_ADS_CLIENT_ID") or "",
            google_client_secret=get("LOOPWISE_GOOGLE_CLIENT_SECRET", "GOOGLE_ADS_CLIENT_SECRET") or "",
            google_refresh_token=get("LOOPWISE_GOOGLE_REFRESH_TOKEN", "GOOGLE_ADS_REFRESH_TOKEN") or "",
            klaviyo_base_url=get("LOOPWISE_KLAVIYO_BASE_URL") or defaults.klaviyo_base_url,
            klaviyo_api_key=get("LOOPWISE_KLAVIYO_API_KEY") or "",
            klaviyo_revision=get("LOOPWISE_KLAVIYO_REVISION") or defaults.klaviyo_revision,
            timeout_seconds=float(get("LOOPWISE_WRITEBACK_TIMEOUT_SECONDS") or defaults.timeout_seconds),
            max_attempts=int(get("LOOPWISE_WRITEBACK_MAX_ATTEMPTS") or defaults.max_attempts),
            backoff_seconds=float(get("LOOPWISE_WRITEBACK_BACKOFF_SECONDS") or defaults.backoff_seconds),
            max_wait_seconds=float(get("LOOPWISE_WRITEBACK_MAX_WAIT_SECONDS") or defaults.max_wait_seconds),
        )


def sandbox_writeback_settings(server: Any, world: Any, **overrides: Any) -> WritebackSettings:
    """``WritebackSettings`` pointing every write client at a sandbox server, with the world's keys.

    Duck-typed like ``ingestion.config.sandbox_source_settings``, so activation never imports
    the sandbox: it reads ``server.vendor_base_urls`` and ``world.spec``. Retries wait at most
    a second: the sandbox's throttles are short and a longer one is left to the next run.
    """
    spec = world.spec
    urls = server.vendor_base_urls
    keys = spec.api_keys
    values: dict[str, Any] = {
        "meta_base_url": urls["meta"],
        "meta_access_token": keys["meta"],
        "meta_account_id": str(spec.meta_account_id),
        "google_ads_base_url": urls["google_ads"],
        "google_ads_customer_id": str(spec.google_customer_id),
        "google_ads_developer_token": keys["google_ads"],
        "google_token_url": f"{urls['google_oauth']}/token",
        "google_client_id": keys["google_client_id"],
        "google_client_secret": keys["google_client_secret"],
        "google_refresh_token": keys["google_refresh_token"],
        "klaviyo_base_url": urls["klaviyo"],
        "klaviyo_api_key": keys["klaviyo"],
        "backoff_seconds": 0.2,
        "max_wait_seconds": 1.0,
    }
    values.update(overrides)
    return WritebackSettings(**values)
