"""Klaviyo source: metrics, events, profiles, campaigns (+ messages), flows (+ actions, messages).

JSON:API lists are paged with ``links.next`` (dlt ``JSONLinkPaginator``). Events load
incrementally on ``occurred_at`` and re-read the last 3 days every run (late events);
profiles incrementally on ``updated_at``; the small catalog resources are re-read and
merged. Child lists (campaign messages, flow actions, flow messages) are separate
resources that walk their parents themselves, so each resource writes exactly one table
(plus ``quarantine``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import dlt
from dlt.sources import DltResource
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.paginators import JSONLinkPaginator

from ingestion import klaviyo_records as records
from ingestion.config import SourceSettings
from ingestion.http import SharedBackoff, make_client
from ingestion.required_fields import klaviyo_event_required, klaviyo_event_required_properties, required
from ingestion.validation import (
    FROZEN_CONTRACT,
    INCREMENTAL_ARGUMENT,
    LOADER_FILE_FORMAT,
    InvalidRecord,
    batched_tables,
    check_present,
    fewer_gc_passes,
    first_of_each_key,
    rows_before_quarantine,
    split_valid,
    to_quarantine,
    with_quarantine,
    with_row_ids,
)
from ingestion.windows import Window, day_windows, fetch_windows

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EVENTS_PAGE_SIZE = 1000
EVENTS_BATCH_ROWS = 20_000
"""Events are handed to dlt as Arrow tables of about this many rows (``batched_tables``)."""
PROFILES_PAGE_SIZE = 100
EMAIL_CAMPAIGNS = "equals(messages.channel,'email')"


def klaviyo_client(settings: SourceSettings, backoff: SharedBackoff | None = None) -> RESTClient:
    return make_client(
        "klaviyo",
        settings.klaviyo_base_url,
        {"Authorization": f"Klaviyo-API-Key {settings.klaviyo_api_key}"},
        settings.retry,
        headers={"revision": settings.klaviyo_revision, "accept": "application/vnd.api+json"},
        paginator=JSONLinkPaginator(next_url_path="links.next"),
        data_selector="data",
        backoff=backoff,
    )


def iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _pages(client: RESTClient, path: str, params: dict[str, Any] | None = None) -> Iterator[list[Any]]:
    for page in client.paginate(path, params=params):
        yield list(page)


def _records(client: RESTClient, path: str, params: dict[str, Any] | None = None) -> Iterator[Any]:
    for page in _pages(client, path, params):
        yield from page


def _resource(name: str, primary_key: str, cols: Any) -> Any:
    return dlt.resource(
        name=name,
        write_disposition="merge",
        primary_key=primary_key,
        columns=cols,
        schema_contract=FROZEN_CONTRACT,
        file_format=LOADER_FILE_FORMAT,
    )


def metrics(client: RESTClient) -> Iterator[Any]:
    for page in _pages(client, "/api/metrics"):
        yield from split_valid(
            "metrics", page, records.flatten_metric, required=required("klaviyo", "metrics")
        )


def event_windows(since: datetime, settings: SourceSettings) -> list[Window]:
    """One-day windows from ``since`` to the vendor's today, then everything after (open-ended);
    one open-ended window when read serially (``day_windows_in_use``)."""
    if not day_windows_in_use(settings):
        return [Window(since)]
    today = settings.observation_day()
    return day_windows(since, datetime(today.year, today.month, today.day, tzinfo=UTC))


def day_windows_in_use(settings: SourceSettings) -> bool:
    return settings.klaviyo_events_workers > 1


def events_hints(settings: SourceSettings) -> dict[str, Any]:
    """The events table's extra dlt hints: with day windows its rows arrive without a repeated
    ``event_id`` (``events`` drops repeats within a window, and an event's one timestamp puts it
    in one window), so dlt's merge skips its own ``ROW_NUMBER()`` pass over the staged rows.
    That pass took 135 of the 167 s of loading the large world's year (23M events; the same rows
    insert in 35 s without it). A serial run's one window can span a year, too many ids to hold:
    there dlt keeps deduplicating (the hint is set either way: a pipeline's schema keeps it)."""
    return {"x-stage-data-deduplicated": day_windows_in_use(settings)}


def event_filter(window: Window) -> str:
    condition = f"greater-or-equal(datetime,{iso_utc(window.start)})"
    if window.end is None:
        return condition
    return f"and({condition},less-than(datetime,{iso_utc(window.end)}))"


def events(
    settings: SourceSettings,
    occurred_at: dlt.sources.incremental[datetime] = INCREMENTAL_ARGUMENT,
) -> Iterator[Any]:
    """Events since the cursor (minus the lookback), windows fetched in parallel (``windows.py``)."""
    since = occurred_at.start_value or EPOCH
    backoff = SharedBackoff()
    # Which fields an event must carry depends on its metric ($message on email events).
    metric_names = {
        str(metric.get("id")): str((metric.get("attributes") or {}).get("name"))
        for metric in _records(klaviyo_client(settings, backoff), "/api/metrics")
        if isinstance(metric, dict)
    }
    event_required = klaviyo_event_required(metric_names)
    required_properties = klaviyo_event_required_properties(metric_names)

    def fetch(window: Window) -> Iterator[Any]:
        params = {"filter": event_filter(window), "sort": "datetime", "page[size]": EVENTS_PAGE_SIZE}
        pages = _pages(klaviyo_client(settings, backoff), "/api/events", params)
        items = (
            item
            for page in pages
            for item in records.flatten_event_page(page, event_required, required_properties)
        )
        if day_windows_in_use(settings):
            items = first_of_each_key(items, "event_id")  # what `events_hints` promises dlt
        yield from with_row_ids(batched_tables(items, EVENTS_BATCH_ROWS), "event_id")

    windows = event_windows(since, settings)
    with fewer_gc_passes():
        yield from rows_before_quarantine(fetch_windows(windows, fetch, settings.klaviyo_events_workers))


def profiles(
    client: RESTClient, updated_at: dlt.sources.incremental[datetime] = INCREMENTAL_ARGUMENT
) -> Iterator[Any]:
    since = updated_at.start_value or EPOCH
    params = {
        "filter": f"greater-or-equal(updated,{iso_utc(since)})",
        "sort": "updated",
        "page[size]": PROFILES_PAGE_SIZE,
        "additional-fields[profile]": "subscriptions",
    }
    pages = _pages(client, "/api/profiles", params)
    yield from rows_before_quarantine(
        item
        for page in pages
        for item in split_valid(
            "profiles", page, records.flatten_profile, required=required("klaviyo", "profiles")
        )
    )


def _campaigns_raw(client: RESTClient) -> Iterator[Any]:
    return _records(client, "/api/campaigns", {"filter": EMAIL_CAMPAIGNS})


def campaigns(client: RESTClient) -> Iterator[Any]:
    for page in _pages(client, "/api/campaigns", {"filter": EMAIL_CAMPAIGNS}):
        yield from split_valid(
            "campaigns", page, records.flatten_campaign, required=required("klaviyo", "campaigns")
        )


def campaign_messages(client: RESTClient) -> Iterator[Any]:
    for campaign in _campaigns_raw(client):
        campaign_id = campaign.get("id") if isinstance(campaign, dict) else None
        if not campaign_id:
            continue  # quarantined by the campaigns resource
        for page in _pages(client, f"/api/campaigns/{campaign_id}/campaign-messages"):
            yield from split_valid(
                "campaign_messages",
                page,
                lambda r, c=str(campaign_id): records.flatten_campaign_message(r, c),
                required=required("klaviyo", "campaign_messages"),
            )


def _flow_ids(client: RESTClient) -> Iterator[str]:
    for flow in _records(client, "/api/flows"):
        flow_id = flow.get("id") if isinstance(flow, dict) else None
        if flow_id:
            yield str(flow_id)


def flows(client: RESTClient) -> Iterator[Any]:
    for page in _pages(client, "/api/flows"):
        yield from split_valid("flows", page, records.flatten_flow, required=required("klaviyo", "flows"))


def _flow_actions_raw(client: RESTClient) -> Iterator[tuple[str, Any]]:
    for flow_id in _flow_ids(client):
        for action in _records(client, f"/api/flows/{flow_id}/flow-actions"):
            yield flow_id, action


def flow_actions(client: RESTClient) -> Iterator[Any]:
    rows: list[dict[str, Any]] = []
    for flow_id, action in _flow_actions_raw(client):
        try:
            row = records.flatten_flow_action(action, flow_id)
            check_present(action, required("klaviyo", "flow_actions"))
            rows.append(row)
        except InvalidRecord as error:
            yield to_quarantine("flow_actions", action, error, action.get("id"))
    if rows:
        yield rows


def flow_messages(client: RESTClient) -> Iterator[Any]:
    for flow_id, action in _flow_actions_raw(client):
        action_id = action.get("id") if isinstance(action, dict) else None
        if not action_id:
            continue  # quarantined by the flow_actions resource
        for page in _pages(client, f"/api/flow-actions/{action_id}/flow-messages"):
            yield from split_valid(
                "flow_messages",
                page,
                lambda r, a=str(action_id), f=flow_id: records.flatten_flow_message(r, a, f),
                required=required("klaviyo", "flow_messages"),
            )


@dlt.source(name="klaviyo", max_table_nesting=0)
def klaviyo_source(settings: SourceSettings) -> list[DltResource]:
    """All Klaviyo resources; tables land in the pipeline's dataset (``raw_klaviyo``)."""
    client = klaviyo_client(settings)
    lookback_seconds = settings.klaviyo_events_lookback_days * 86400
    built = [
        _resource("metrics", "metric_id", records.METRIC_COLUMNS)(metrics)(client),
        _resource("events", "event_id", records.EVENT_COLUMNS)(events)(
            settings,
            dlt.sources.incremental(
                "occurred_at",
                initial_value=settings.start_datetime,
                lag=lookback_seconds,
                primary_key=(),
                on_cursor_value_missing="include",
            ),
        ).apply_hints(additional_table_hints=events_hints(settings)),
        _resource("profiles", "profile_id", records.PROFILE_COLUMNS)(profiles)(
            client,
            dlt.sources.incremental(
                "updated_at", initial_value=EPOCH, primary_key=(), on_cursor_value_missing="include"
            ),
        ),
        _resource("campaigns", "campaign_id", records.CAMPAIGN_COLUMNS)(campaigns)(client),
        _resource("campaign_messages", "message_id", records.CAMPAIGN_MESSAGE_COLUMNS)(campaign_messages)(
            client
        ),
        _resource("flows", "flow_id", records.FLOW_COLUMNS)(flows)(client),
        _resource("flow_actions", "flow_action_id", records.FLOW_ACTION_COLUMNS)(flow_actions)(client),
        _resource("flow_messages", "message_id", records.FLOW_MESSAGE_COLUMNS)(flow_messages)(client),
    ]
    return [with_quarantine(resource) for resource in built]
