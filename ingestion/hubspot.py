"""HubSpot source: contacts, deals, deal stage entries, deal->contact links, pipeline stages.

Contacts and deals come from the CRM search endpoint filtered on ``lastmodifieddate`` /
``hs_lastmodifieddate`` (>= the last seen value), sorted ascending and paged with
``paging.next.after`` (dlt ``JSONResponseCursorPaginator`` writing ``after`` into the
body). A search query cannot page past 10,000 results, so the walk restarts from the last
seen timestamp before it would hit the cap.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dlt
from dlt.sources import DltResource
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator, SinglePagePaginator

from ingestion import hubspot_records as records
from ingestion.config import SourceSettings
from ingestion.http import make_client
from ingestion.required_fields import required
from ingestion.validation import (
    FROZEN_CONTRACT,
    INCREMENTAL_ARGUMENT,
    LOADER_FILE_FORMAT,
    InvalidRecord,
    parse_timestamp,
    rows_before_quarantine,
    split_valid,
    to_quarantine,
    with_quarantine,
)

logger = logging.getLogger("ingestion.hubspot")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SEARCH_LIMIT = 200
SEARCH_RESULT_CAP = 10_000
ASSOCIATION_BATCH = 100


@dataclass(frozen=True)
class SearchPaging:
    limit: int = SEARCH_LIMIT
    cap: int = SEARCH_RESULT_CAP


class SearchCapError(RuntimeError):
    """More records share one modification timestamp than one search query can return."""


def hubspot_client(settings: SourceSettings) -> RESTClient:
    return make_client(
        "hubspot",
        settings.hubspot_base_url,
        {"Authorization": f"Bearer {settings.hubspot_access_token}"},
        settings.retry,
    )


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def search(
    client: RESTClient,
    object_type: str,
    cursor_property: str,
    properties: list[str],
    since: datetime,
    *,
    limit: int = SEARCH_LIMIT,
    cap: int = SEARCH_RESULT_CAP,
) -> Iterator[list[Any]]:
    """Pages of search results modified at or after ``since``, past the 10,000-result cap."""
    since_ms = _ms(since)
    while True:
        body = {
            "filterGroups": [
                {"filters": [{"propertyName": cursor_property, "operator": "GTE", "value": str(since_ms)}]}
            ],
            "sorts": [{"propertyName": cursor_property, "direction": "ASCENDING"}],
            "properties": properties,
            "limit": limit,
        }
        paginator = JSONResponseCursorPaginator(cursor_path="paging.next.after", cursor_body_path="after")
        fetched = 0
        last_seen_ms = since_ms
        restart = False
        for page in client.paginate(
            f"/crm/v3/objects/{object_type}/search",
            method="POST",
            json=body,
            paginator=paginator,
            data_selector="results",
        ):
            results = list(page)
            fetched += len(results)
            for record in results:
                modified = _modified_ms(record, cursor_property)
                if modified is not None:
                    last_seen_ms = max(last_seen_ms, modified)
            yield results
            if paginator.has_next_page and fetched + limit > cap:
                restart = True
                break
        if not restart:
            return
        if last_seen_ms <= since_ms:
            raise SearchCapError(
                f"hubspot {object_type}: over {cap} records modified at {since_ms} ms; cannot page past the cap"
            )
        logger.info(
            "hubspot %s: restarting search at %s after %d results", object_type, last_seen_ms, fetched
        )
        since_ms = last_seen_ms


def _modified_ms(record: Any, cursor_property: str) -> int | None:
    if not isinstance(record, dict):
        return None
    value = (record.get("properties") or {}).get(cursor_property) or record.get("updatedAt")
    try:
        parsed = parse_timestamp(value, cursor_property)
    except InvalidRecord:
        return None
    return _ms(parsed) if parsed else None


def _stage_properties(client: RESTClient) -> list[str]:
    response = client.get("/crm/v3/pipelines/deals")
    stage_ids = {
        str(stage.get("id"))
        for pipeline in response.json().get("results") or []
        for stage in pipeline.get("stages") or []
        if stage.get("id")
    }
    return [f"{records.STAGE_ENTERED_PREFIX}{stage_id}" for stage_id in sorted(stage_ids)]


def _search_resource(
    client: RESTClient, paging: SearchPaging, object_type: str, since: datetime, flatten: Any
) -> Iterator[Any]:
    cursor_property, properties = (
        ("lastmodifieddate", records.CONTACT_PROPERTIES)
        if object_type == "contacts"
        else ("hs_lastmodifieddate", records.DEAL_PROPERTIES)
    )
    pages = search(
        client, object_type, cursor_property, properties, since, limit=paging.limit, cap=paging.cap
    )
    yield from rows_before_quarantine(
        item
        for page in pages
        for item in split_valid(object_type, page, flatten, required=required("hubspot", object_type))
    )


def contacts(
    client: RESTClient,
    paging: SearchPaging,
    updated_at: dlt.sources.incremental[datetime] = INCREMENTAL_ARGUMENT,
) -> Iterator[Any]:
    yield from _search_resource(
        client, paging, "contacts", updated_at.start_value or EPOCH, records.flatten_contact
    )


def deals(
    client: RESTClient,
    paging: SearchPaging,
    updated_at: dlt.sources.incremental[datetime] = INCREMENTAL_ARGUMENT,
) -> Iterator[Any]:
    yield from _search_resource(
        client, paging, "deals", updated_at.start_value or EPOCH, records.flatten_deal
    )


def _deal_pages_since_state(
    client: RESTClient, properties: list[str], paging: SearchPaging
) -> Iterator[list[Any]]:
    """Deal search pages for resources whose rows carry no cursor: progress in resource state."""
    state = dlt.current.resource_state()
    since = datetime.fromisoformat(state["modified_since"]) if state.get("modified_since") else EPOCH
    newest = since
    for page in search(
        client, "deals", "hs_lastmodifieddate", properties, since, limit=paging.limit, cap=paging.cap
    ):
        for record in page:
            modified = records.deal_modified_at(record) if isinstance(record, dict) else None
            if modified and modified > newest:
                newest = modified
        yield page
    state["modified_since"] = newest.isoformat()


def deal_stage_entries(client: RESTClient, paging: SearchPaging) -> Iterator[Any]:
    properties = ["hs_lastmodifieddate", *_stage_properties(client)]
    for page in _deal_pages_since_state(client, properties, paging):
        rows: list[dict[str, Any]] = []
        for record in page:
            try:
                rows.extend(records.flatten_deal_stage_entries(record))
            except InvalidRecord as error:
                yield to_quarantine("deal_stage_entries", record, error, record.get("id"))
        if rows:
            yield rows


def deal_contacts(client: RESTClient, paging: SearchPaging) -> Iterator[Any]:
    for page in _deal_pages_since_state(client, ["hs_lastmodifieddate"], paging):
        deal_ids = [str(record["id"]) for record in page if isinstance(record, dict) and record.get("id")]
        for start in range(0, len(deal_ids), ASSOCIATION_BATCH):
            batch = deal_ids[start : start + ASSOCIATION_BATCH]
            response = client.post(
                "/crm/v4/associations/deals/contacts/batch/read", json={"inputs": [{"id": i} for i in batch]}
            )
            rows: list[dict[str, Any]] = []
            for result in response.json().get("results") or []:
                try:
                    rows.extend(records.flatten_associations(result))
                except InvalidRecord as error:
                    yield to_quarantine("deal_contacts", result, error)
            if rows:
                yield rows


def pipeline_stages(client: RESTClient) -> Iterator[Any]:
    for page in client.paginate(
        "/crm/v3/pipelines/deals", paginator=SinglePagePaginator(), data_selector="results"
    ):
        for pipeline in page:
            try:
                yield records.flatten_pipeline(pipeline)
            except InvalidRecord as error:
                yield to_quarantine("pipeline_stages", pipeline, error, pipeline.get("id"))


def _resource(name: str, primary_key: str | list[str], cols: Any) -> Any:
    return dlt.resource(
        name=name,
        write_disposition="merge",
        primary_key=primary_key,
        columns=cols,
        schema_contract=FROZEN_CONTRACT,
        file_format=LOADER_FILE_FORMAT,
    )


def _modified(initial: datetime) -> dlt.sources.incremental[datetime]:
    return dlt.sources.incremental(
        "updated_at", initial_value=initial, primary_key=(), on_cursor_value_missing="include"
    )


@dlt.source(name="hubspot", max_table_nesting=0)
def hubspot_source(settings: SourceSettings) -> list[DltResource]:
    """All HubSpot resources; tables land in the pipeline's dataset (``raw_hubspot``)."""
    client = hubspot_client(settings)
    paging = SearchPaging(
        min(settings.hubspot_page_size, settings.hubspot_search_cap), settings.hubspot_search_cap
    )
    built = [
        _resource("contacts", "contact_id", records.CONTACT_COLUMNS)(contacts)(
            client, paging, _modified(EPOCH)
        ),
        _resource("deals", "deal_id", records.DEAL_COLUMNS)(deals)(client, paging, _modified(EPOCH)),
        _resource("deal_stage_entries", ["deal_id", "stage_id"], records.DEAL_STAGE_ENTRY_COLUMNS)(
            deal_stage_entries
        )(client, paging),
        _resource("deal_contacts", ["deal_id", "contact_id"], records.DEAL_CONTACT_COLUMNS)(deal_contacts)(
            client, paging
        ),
        _resource("pipeline_stages", ["pipeline_id", "stage_id"], records.PIPELINE_STAGE_COLUMNS)(
            pipeline_stages
        )(client),
    ]
    return [with_quarantine(resource) for resource in built]
