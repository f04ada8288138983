"""Settings for the vendor sources: base URLs, credentials, start date and HTTP policy.

Values come from dlt's config convention (environment variables such as
``SOURCES__KLAVIYO__API_KEY``, or ``.dlt/secrets.toml``) through
:meth:`SourceSettings.from_env`, or from explicit construction in tests. Nothing is read
at import time. Secrets are excluded from ``repr`` so a logged settings object never
leaks a key.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

DEFAULT_BASE_URLS = {
    "klaviyo": "https://a.klaviyo.com",
    "hubspot": "https://api.hubapi.com",
    "meta_ads": "https://graph.facebook.com",
    "google_ads": "https://googleads.googleapis.com",
}
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"


@dataclass(frozen=True)
class RetryPolicy:
    """How the HTTP layer retries throttled and failed calls.

    ``max_total_backoff_seconds`` bounds the summed sleep of one call; when the next
    sleep would exceed it the call fails with a clear error instead of hanging a run.
    """

    timeout_seconds: float = 30.0
    max_attempts: int = 8
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    max_total_backoff_seconds: float = 120.0


@dataclass(frozen=True)
class SourceSettings:
    """Everything the four sources need. Pointing at the sandbox is a base URL + key change."""

    klaviyo_api_key: str = field(default="", repr=False)
    klaviyo_base_url: str = DEFAULT_BASE_URLS["klaviyo"]
    klaviyo_revision: str = "2026-10-15"
    hubspot_access_token: str = field(default="", repr=False)
    hubspot_base_url: str = DEFAULT_BASE_URLS["hubspot"]
    hubspot_search_cap: int = 10_000
    """Results one HubSpot search query can page through (the vendor's cap)."""
    hubspot_page_size: int = 200
    meta_access_token: str = field(default="", repr=False)
    meta_account_id: str = "1234567890"
    meta_base_url: str = DEFAULT_BASE_URLS["meta_ads"]
    meta_api_version: str = "v27.0"
    google_ads_refresh_token: str = field(default="", repr=False)
    google_ads_client_id: str = ""
    google_ads_client_secret: str = field(default="", repr=False)
    google_ads_token_url: str = GOOGLE_TOKEN_URL
    """Google Ads takes only short-lived access tokens, traded for the refresh token here."""
    google_ads_developer_token: str = field(default="", repr=False)
    google_ads_customer_id: str = "1112223333"
    google_ads_login_customer_id: str | None = None
    google_ads_base_url: str = DEFAULT_BASE_URLS["google_ads"]
    google_ads_api_version: str = "v26"
    start_date: date = field(default_factory=lambda: datetime.now(UTC).date() - timedelta(days=90))
    end_date: date | None = None
    """Last day requested from the ad platforms; ``None`` means today (UTC)."""
    observed_on: date | None = None
    """The vendors' today: the day their numbers are read, which dates each ad conversion snapshot
    (``ad_conversion_snapshots``); ``None`` means today (UTC). The sandbox's is its world clock."""
    klaviyo_events_lookback_days: int = 3
    klaviyo_events_workers: int = 4
    """Threads fetching Klaviyo events, each paging its own one-day window of the incremental range
    (1 = one serial listing). They share one backoff: a 429 or 5xx pauses every worker."""
    ads_lookback_days: int = 7
    meta_report_poll_seconds: float = 5.0
    """Seconds between reads of a Meta insights report job's status (long ranges; ``meta_ads``)."""
    meta_report_timeout_seconds: float = 1800.0
    """A report job not complete after this long fails the load (Meta's jobs take minutes)."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def start_datetime(self) -> datetime:
        return datetime(self.start_date.year, self.start_date.month, self.start_date.day, tzinfo=UTC)

    def ads_end_date(self) -> date:
        return self.end_date or datetime.now(UTC).date()

    def observation_day(self) -> date:
        return self.observed_on or datetime.now(UTC).date()

    def secrets(self) -> tuple[str, ...]:
        """Every secret value, for redaction of log and error text."""
        values = (
            self.klaviyo_api_key,
            self.hubspot_access_token,
            self.meta_access_token,
            self.google_ads_refresh_token,
            self.google_ads_client_secret,
            self.google_ads_developer_token,
        )
        return tuple(v for v in values if v)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SourceSettings:
        """Read settings with dlt's names (``SOURCES__KLAVIYO__API_KEY`` ...).

        With ``environ`` given only that mapping is consulted; otherwise the process
        environment, then dlt's config/secrets providers (``.dlt/*.toml``).
        """
        lookup = _mapping_lookup(environ) if environ is not None else _dlt_lookup
        kwargs: dict[str, object] = {}
        for attribute, key in _KEYS.items():
            value = lookup(key)
            if value not in (None, ""):
                kwargs[attribute] = str(value)
        plain_env = os.environ if environ is None else environ
        for attribute, name in _GOOGLE_OAUTH_ENV.items():  # Google's own variable names
            if attribute not in kwargs and plain_env.get(name):
                kwargs[attribute] = str(plain_env[name])
        for attribute in ("start_date", "end_date"):
            if attribute in kwargs:
                kwargs[attribute] = date.fromisoformat(str(kwargs[attribute])[:10])
        if "klaviyo_events_workers" in kwargs:
            kwargs["klaviyo_events_workers"] = max(1, int(str(kwargs["klaviyo_events_workers"])))
        retry_kwargs: dict[str, float | int] = {}
        for attribute, key in _RETRY_KEYS.items():
            value = lookup(key)
            if value not in (None, ""):
                retry_kwargs[attribute] = int(value) if attribute == "max_attempts" else float(value)
        if retry_kwargs:
            kwargs["retry"] = RetryPolicy(**retry_kwargs)  # type: ignore[arg-type]
        return cls(**kwargs)  # type: ignore[arg-type]


def sandbox_source_settings(server: Any, world: Any, **overrides: Any) -> SourceSettings:
    """``SourceSettings`` pointing every source at a sandbox server, with the world's keys and clock.

    Duck-typed, so ingestion never imports the sandbox: it reads ``server.vendor_base_urls``,
    ``world.spec`` (``api_keys``, ``meta_account_id``, ``google_customer_id``, ``start_date``;
    Google's OAuth client and refresh token with the server's token endpoint)
    and ``world.clock``.
    """
    spec = world.spec
    urls = server.vendor_base_urls
    keys = spec.api_keys
    values: dict[str, Any] = {
        "klaviyo_api_key": keys["klaviyo"],
        "klaviyo_base_url": urls["klaviyo"],
        "hubspot_access_token": keys["hubspot"],
        "hubspot_base_url": urls["hubspot"],
        "meta_access_token": keys["meta"],
        "meta_account_id": str(spec.meta_account_id),
        "meta_base_url": urls["meta"],
        "google_ads_refresh_token": keys["google_refresh_token"],
        "google_ads_client_id": keys["google_client_id"],
        "google_ads_client_secret": keys["google_client_secret"],
        "google_ads_token_url": f"{urls['google_oauth']}/token",
        "google_ads_developer_token": keys["google_ads"],
        "google_ads_customer_id": str(spec.google_customer_id),
        "google_ads_base_url": urls["google_ads"],
        "start_date": spec.start_date,
        # The world serves data strictly before its clock: the last complete day is the one before.
        "end_date": (world.clock - timedelta(days=1)).date(),
        "observed_on": world.clock.date(),
        "meta_report_poll_seconds": 0.05,  # the sandbox's report jobs are ready on the second read
    }
    values.update(overrides)
    return SourceSettings(**values)


_KEYS = {
    "klaviyo_api_key": "sources.klaviyo.api_key",
    "klaviyo_base_url": "sources.klaviyo.base_url",
    "hubspot_access_token": "sources.hubspot.access_token",
    "hubspot_base_url": "sources.hubspot.base_url",
    "meta_access_token": "sources.meta_ads.access_token",
    "meta_account_id": "sources.meta_ads.account_id",
    "meta_base_url": "sources.meta_ads.base_url",
    "google_ads_refresh_token": "sources.google_ads.refresh_token",
    "google_ads_client_id": "sources.google_ads.client_id",
    "google_ads_client_secret": "sources.google_ads.client_secret",
    "google_ads_token_url": "sources.google_ads.token_url",
    "google_ads_developer_token": "sources.google_ads.developer_token",
    "google_ads_customer_id": "sources.google_ads.customer_id",
    "google_ads_login_customer_id": "sources.google_ads.login_customer_id",
    "google_ads_base_url": "sources.google_ads.base_url",
    "start_date": "sources.start_date",
    "end_date": "sources.end_date",
    "klaviyo_events_workers": "sources.klaviyo.events_workers",
}
_GOOGLE_OAUTH_ENV = {
    "google_ads_refresh_token": "GOOGLE_ADS_REFRESH_TOKEN",
    "google_ads_client_id": "GOOGLE_ADS_CLIENT_ID",
    "google_ads_client_secret": "GOOGLE_ADS_CLIENT_SECRET",
    "google_ads_token_url": "GOOGLE_ADS_TOKEN_URL",
}
_RETRY_KEYS = {
    "timeout_seconds": "sources.http.timeout_seconds",
    "max_attempts": "sources.http.max_attempts",
    "backoff_base_seconds": "sources.http.backoff_base_seconds",
    "backoff_max_seconds": "sources.http.backoff_max_seconds",
    "max_total_backoff_seconds": "sources.http.max_total_backoff_seconds",
}


def env_name(key: str) -> str:
    """``sources.klaviyo.api_key`` -> ``SOURCES__KLAVIYO__API_KEY`` (dlt's convention)."""
    return key.replace(".", "__").upper()


def _mapping_lookup(environ: Mapping[str, str]) -> Callable[[str], str | None]:
    return lambda key: environ.get(env_name(key))


def _dlt_lookup(key: str) -> str | None:
    value = os.environ.get(env_name(key))
    if value is not None:
        return value
    import dlt  # local import: keeps `ingestion.config` importable without dlt's config machinery

    found = dlt.secrets.get(key)
    if found is None:
        found = dlt.config.get(key)
    return None if found is None else str(found)
