"""Meta Marketing API source: daily ad-level insights, the ads catalog and the budget entities.

Insights are requested with ``level=ad&time_increment=1`` and paged with
``paging.cursors.after`` (dlt ``JSONResponseCursorPaginator``, stopping when Meta sends no
``paging.next``). A range longer than one 31-day window (the first load's history) goes to an
asynchronous report job, Meta's path for large reports: ``POST /act_<id>/insights`` starts it,
``GET /<report_run_id>`` is read until ``async_status`` is "Job Completed", then
``GET /<report_run_id>/insights`` pages the rows. A job that fails or is skipped falls back to
synchronous 31-day windows; one still running after ``meta_report_timeout_seconds`` fails the load.
Daily runs (the last 7 days) stay synchronous. Conversions keep arriving for 7 days, so every run re-pulls
the last 7 days (dlt incremental ``lag``) and merges on ``(ad_id, date_start)``; the
conversions as read on each day also go to ``ad_conversion_snapshots`` (merged on
``(ad_id, date_start, observed_on)``), which keeps how each day's numbers grew.
The token travels in the ``Authorization`` header, never in the URL.

Budgets live on ad sets, or on the campaign under campaign budget optimisation (CBO): ad sets
and campaigns are listed whole every run (merge on id), with the account's currency (``accounts``)
that says how many minor units make one major unit.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import date, timedelta
from typing import Any

import dlt
from dlt.sources import DltResource
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator
from requests import Response

from ingestion import ads_records as records
from ingestion.config import SourceSettings
from ingestion.http import VendorAPIError, make_client
from ingestion.required_fields import required
from ingestion.validation import (
    FROZEN_CONTRACT,
    INCREMENTAL_ARGUMENT,
    LOADER_FILE_FORMAT,
    add_table_variant,
    rows_before_quarantine,
    split_valid,
    whole_table_resource,
    with_quarantine,
)

logger = logging.getLogger("ingestion.meta_ads")

PAGE_LIMIT = 500
WINDOW_DAYS = 31


class MetaCursorPaginator(JSONResponseCursorPaginator):
    """``paging.cursors.after``, but stop when the page has no ``paging.next`` link."""

    def __init__(self) -> None:
        super().__init__(cursor_path="paging.cursors.after", cursor_param="after")

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        super().update_state(response, data)
        paging = response.json().get("paging") or {}
        if not paging.get("next") or not data:
            self._has_next_page = False


def meta_client(settings: SourceSettings) -> RESTClient:
    return make_client(
        "meta_ads",
        f"{settings.meta_base_url.rstrip('/')}/{settings.meta_api_version}",
        {"Authorization": f"Bearer {settings.meta_access_token}"},
        settings.retry,
        data_selector="data",
    )


def date_windows(since: date, until: date, days: int = WINDOW_DAYS) -> Iterator[tuple[date, date]]:
    """Inclusive windows of at most ``days`` days covering ``since``..``until``."""
    start = since
    while start <= until:
        end = min(until, start + timedelta(days=days - 1))
        yield start, end
        start = end + timedelta(days=1)


def ad_insights_daily(
    client: RESTClient,
    settings: SourceSettings,
    date_start: dlt.sources.incremental[date] = INCREMENTAL_ARGUMENT,
) -> Iterator[Any]:
    since = date_start.start_value or settings.start_date
    observed_on = settings.observation_day()
    for item in rows_before_quarantine(_insight_items(client, settings, since, settings.ads_end_date())):
        yield item
        if isinstance(item, list):  # valid rows: also their conversions as seen today
            yield records.conversion_snapshots(item, observed_on, records.META_SNAPSHOT_FIELDS)


def _insight_items(client: RESTClient, settings: SourceSettings, since: date, until: date) -> Iterator[Any]:
    for page in _insight_pages(client, settings, since, until):
        yield from split_valid(
            "ad_insights_daily",
            page,
            records.flatten_meta_insight,
            id_key="ad_id",
            required=required("meta_ads", "ad_insights_daily"),
        )


def _insight_query(since: date, until: date) -> dict[str, Any]:
    return {
        "level": "ad",
        "time_increment": 1,
        "time_range": json.dumps({"since": since.isoformat(), "until": until.isoformat()}),
        "fields": ",".join(records.META_INSIGHT_FIELDS),
    }


def _insight_pages(client: RESTClient, settings: SourceSettings, since: date, until: date) -> Iterator[Any]:
    """Pages of insight rows: from one report job when the range is longer than a window, else
    (or when the job fails) from synchronous windows."""
    if (until - since).days + 1 > WINDOW_DAYS:
        report = run_report_job(client, settings, since, until)
        if report is not None:
            yield from client.paginate(
                f"/{report}/insights", params={"limit": PAGE_LIMIT}, paginator=MetaCursorPaginator()
            )
            return
    for window_start, window_end in date_windows(since, until):
        params = {**_insight_query(window_start, window_end), "limit": PAGE_LIMIT}
        yield from client.paginate(
            f"/act_{settings.meta_account_id}/insights", params=params, paginator=MetaCursorPaginator()
        )


REPORT_DONE = "Job Completed"
REPORT_GIVEN_UP = frozenset({"Job Failed", "Job Skipped"})


def run_report_job(
    client: RESTClient,
    settings: SourceSettings,
    since: date,
    until: date,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> str | None:
    """Start an insights report job for ``since``..``until`` and wait for it: its report run id, or
    ``None`` when Meta failed or skipped it (the caller reads synchronous windows instead)."""
    started = time.monotonic()
    answer = client.post(
        f"/act_{settings.meta_account_id}/insights", data=_insight_query(since, until)
    ).json()
    report = str(answer["report_run_id"])
    while True:
        status = client.get(f"/{report}").json()
        state = status.get("async_status")
        if state == REPORT_DONE and int(status.get("async_percent_completion", 100)) >= 100:
            return report
        if state in REPORT_GIVEN_UP:
            logger.warning(
                "meta_ads: insights report %s for %s..%s ended %r; reading 31-day windows instead",
                report,
                since,
                until,
                state,
            )
            return None
        if time.monotonic() - started > settings.meta_report_timeout_seconds:
            raise VendorAPIError(
                "meta_ads",
                "GET",
                "/<report_run_id>",
                200,
                f"insights report {report} still {state!r} ({status.get('async_percent_completion')}%) after "
                f"{settings.meta_report_timeout_seconds:.0f} s",
                failed=False,
            )
        sleep(settings.meta_report_poll_seconds)


def ads(client: RESTClient, settings: SourceSettings) -> Iterator[Any]:
    params = {"fields": ",".join(records.META_AD_FIELDS), "limit": PAGE_LIMIT}
    for page in client.paginate(
        f"/act_{settings.meta_account_id}/ads", params=params, paginator=MetaCursorPaginator()
    ):
        yield from split_valid("ads", page, records.flatten_meta_ad, required=required("meta_ads", "ads"))


def adsets(client: RESTClient, settings: SourceSettings) -> Iterator[Any]:
    yield from _entity_items(
        client, settings, "adsets", records.META_ADSET_FIELDS, records.flatten_meta_adset
    )


def campaigns(client: RESTClient, settings: SourceSettings) -> Iterator[Any]:
    yield from _entity_items(
        client, settings, "campaigns", records.META_CAMPAIGN_FIELDS, records.flatten_meta_campaign
    )


def _entity_items(
    client: RESTClient,
    settings: SourceSettings,
    resource: str,
    fields: tuple[str, ...],
    flatten: Callable[[Mapping[str, Any], str], dict[str, Any]],
) -> Iterator[Any]:
    account_id = settings.meta_account_id
    params = {"fields": ",".join(fields), "limit": PAGE_LIMIT}
    for page in client.paginate(
        f"/act_{account_id}/{resource}", params=params, paginator=MetaCursorPaginator()
    ):
        yield from split_valid(
            resource,
            page,
            lambda record: flatten(record, account_id),
            required=required("meta_ads", resource),
        )


def accounts(client: RESTClient, settings: SourceSettings) -> Iterator[Any]:
    """The ad account itself: one object, not a list (``GET /act_{id}?fields=account_id,currency``)."""
    response = client.get(
        f"/act_{settings.meta_account_id}", params={"fields": ",".join(records.META_ACCOUNT_FIELDS)}
    )
    yield from split_valid(
        "accounts", [response.json()], records.flatten_meta_account, required=required("meta_ads", "accounts")
    )


@dlt.source(name="meta_ads", max_table_nesting=0)
def meta_ads_source(settings: SourceSettings) -> list[DltResource]:
    """Meta resources; tables land in the pipeline's dataset (``raw_meta_ads``)."""
    client = meta_client(settings)
    insights = dlt.resource(
        ad_insights_daily,
        name="ad_insights_daily",
        write_disposition="merge",
        primary_key=["ad_id", "date_start"],
        columns=records.META_INSIGHT_COLUMNS,
        schema_contract=FROZEN_CONTRACT,
        file_format=LOADER_FILE_FORMAT,
    )(
        client,
        settings,
        dlt.sources.incremental(
            "date_start",
            initial_value=settings.start_date,
            lag=settings.ads_lookback_days,
            primary_key=(),
            on_cursor_value_missing="include",
        ),
    )
    add_table_variant(
        insights, records.AD_CONVERSION_SNAPSHOTS, records.META_SNAPSHOT_COLUMNS, records.META_SNAPSHOT_KEY
    )
    catalogs = [
        whole_table_resource(ads, "ad_id", records.META_AD_COLUMNS),
        whole_table_resource(adsets, "adset_id", records.META_ADSET_COLUMNS),
        whole_table_resource(campaigns, "campaign_id", records.META_CAMPAIGN_COLUMNS),
        whole_table_resource(accounts, "account_id", records.META_ACCOUNT_COLUMNS),
    ]
    return [with_quarantine(insights), *(with_quarantine(catalog(client, settings)) for catalog in catalogs)]
