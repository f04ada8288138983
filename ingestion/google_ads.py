"""Google Ads source: daily ``ad_group_ad`` performance and campaign budgets, via ``googleAds:searchStream``.

searchStream is a single POST answering a JSON array of batches (no pagination). Every
run re-pulls the last 7 days (conversions arrive late; dlt incremental ``lag``) and
merges on ``(ad_id, date)``; the conversions as read on each day also go to
``ad_conversion_snapshots`` (merged on ``(ad_id, date, observed_on)``). Budgets live on campaign budgets, which several campaigns may
share: ``campaign_budgets`` and ``campaigns`` (each campaign's budget) are read whole every run
and merged on id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import date
from typing import Any

import dlt
import requests
from dlt.sources import DltResource
from dlt.sources.helpers.rest_client import RESTClient
from requests.auth import AuthBase

from core.google_oauth import GoogleOAuth
from ingestion import ads_records as records
from ingestion.config import SourceSettings
from ingestion.http import make_client
from ingestion.required_fields import required
from ingestion.validation import (
    FROZEN_CONTRACT,
    INCREMENTAL_ARGUMENT,
    LOADER_FILE_FORMAT,
    InvalidRecord,
    add_table_variant,
    check_present,
    rows_before_quarantine,
    split_valid,
    to_quarantine,
    whole_table_resource,
    with_quarantine,
)

REQUIRED = required("google_ads", "ad_group_ad_daily")


class GoogleAdsAuth(AuthBase):
    """The current OAuth access token and the developer token, added at send time (never logged)."""

    def __init__(self, oauth: GoogleOAuth, developer_token: str) -> None:
        self.oauth = oauth
        self._developer_token = developer_token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.oauth.access_token()}"
        request.headers["developer-token"] = self._developer_token
        return request

    def reauthenticate(self, request: requests.PreparedRequest) -> None:
        """The API said 401 (token expired or revoked early): fetch a new token for this request."""
        self.oauth.invalidate()
        self(request)

    def __repr__(self) -> str:
        return "GoogleAdsAuth()"


def google_ads_client(settings: SourceSettings) -> RESTClient:
    oauth = GoogleOAuth(
        settings.google_ads_token_url,
        settings.google_ads_client_id,
        settings.google_ads_client_secret,
        settings.google_ads_refresh_token,
    )
    auth = GoogleAdsAuth(oauth, settings.google_ads_developer_token)
    secrets = {
        "developer-token": settings.google_ads_developer_token,
        "refresh-token": settings.google_ads_refresh_token,
        "client-secret": settings.google_ads_client_secret,
    }
    headers = {}
    if settings.google_ads_login_customer_id:
        headers["login-customer-id"] = settings.google_ads_login_customer_id
    return make_client(
        "google_ads",
        f"{settings.google_ads_base_url.rstrip('/')}/{settings.google_ads_api_version}",
        secrets,
        settings.retry,
        headers=headers,
        auth=auth,
        reauthenticate=auth.reauthenticate,
    )


def gaql_query(since: date, until: date) -> str:
    return records.GOOGLE_AD_GROUP_AD_QUERY.format(since=since.isoformat(), until=until.isoformat())


def ad_group_ad_daily(
    client: RESTClient,
    settings: SourceSettings,
    day: dlt.sources.incremental[date] = INCREMENTAL_ARGUMENT,
) -> Iterator[Any]:
    since = day.start_value or settings.start_date
    until = settings.ads_end_date()
    observed_on = settings.observation_day()
    if since <= until:
        for item in rows_before_quarantine(_stream_items(client, settings, since, until)):
            yield item
            if isinstance(item, list):  # valid rows: also their conversions as seen today
                yield records.conversion_snapshots(item, observed_on, records.GOOGLE_SNAPSHOT_FIELDS)


def _search_batches(client: RESTClient, settings: SourceSettings, query: str) -> list[Any]:
    response = client.post(
        f"/customers/{settings.google_ads_customer_id}/googleAds:searchStream", json={"query": query}
    )
    batches = response.json()
    if isinstance(batches, dict):  # a single batch object instead of an array
        batches = [batches]
    return [batch or {} for batch in batches]


def _stream_items(client: RESTClient, settings: SourceSettings, since: date, until: date) -> Iterator[Any]:
    customer_id = settings.google_ads_customer_id
    for batch in _search_batches(client, settings, gaql_query(since, until)):
        rows: list[dict[str, Any]] = []
        for result in batch.get("results") or []:
            try:
                row = records.flatten_google_row(result, customer_id)
                check_present(result, REQUIRED)
                rows.append(row)
            except InvalidRecord as error:
                yield to_quarantine("ad_group_ad_daily", result, error, records.google_ad_id(result))
        if rows:
            yield rows


def campaign_budgets(client: RESTClient, settings: SourceSettings) -> Iterator[Any]:
    yield from _entity_items(
        client,
        settings,
        "campaign_budgets",
        records.GOOGLE_CAMPAIGN_BUDGET_QUERY,
        records.flatten_google_campaign_budget,
    )


def campaigns(client: RESTClient, settings: SourceSettings) -> Iterator[Any]:
    yield from _entity_items(
        client, settings, "campaigns", records.GOOGLE_CAMPAIGN_QUERY, records.flatten_google_campaign
    )


def _entity_items(
    client: RESTClient,
    settings: SourceSettings,
    resource: str,
    query: str,
    flatten: Callable[[Mapping[str, Any], str], dict[str, Any]],
) -> Iterator[Any]:
    customer_id = settings.google_ads_customer_id
    for batch in _search_batches(client, settings, query):
        yield from split_valid(
            resource,
            batch.get("results") or [],
            lambda row: flatten(row, customer_id),
            required=required("google_ads", resource),
        )


@dlt.source(name="google_ads", max_table_nesting=0)
def google_ads_source(settings: SourceSettings) -> list[DltResource]:
    """Google Ads resources; tables land in the pipeline's dataset (``raw_google_ads``)."""
    client = google_ads_client(settings)
    resource = dlt.resource(
        ad_group_ad_daily,
        name="ad_group_ad_daily",
        write_disposition="merge",
        primary_key=["ad_id", "date"],
        columns=records.GOOGLE_AD_COLUMNS,
        schema_contract=FROZEN_CONTRACT,
        file_format=LOADER_FILE_FORMAT,
    )(
        client,
        settings,
        dlt.sources.incremental(
            "date",
            initial_value=settings.start_date,
            lag=settings.ads_lookback_days,
            primary_key=(),
            on_cursor_value_missing="include",
        ),
    )
    add_table_variant(
        resource,
        records.AD_CONVERSION_SNAPSHOTS,
        records.GOOGLE_SNAPSHOT_COLUMNS,
        records.GOOGLE_SNAPSHOT_KEY,
    )
    entities = [
        whole_table_resource(campaign_budgets, "campaign_budget_id", records.GOOGLE_CAMPAIGN_BUDGET_COLUMNS),
        whole_table_resource(campaigns, "campaign_id", records.GOOGLE_CAMPAIGN_COLUMNS),
    ]
    return [with_quarantine(resource), *(with_quarantine(entity(client, settings)) for entity in entities)]
