"""The page-at-once event flattener gives exactly the rows and quarantine reasons of the record-by-record one.

``flatten_event_page`` reads events as Klaviyo normally sends them with a few type checks and parses
their timestamps with Arrow; anything unusual takes ``flatten_event`` and the required-field check.
Each test compares the two on the same page: real pages served by a messy sandbox world, and pages
with one unusual record of every kind the fast path must hand over.
"""

from __future__ import annotations

import copy
import gc
import math
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import orjson
import pyarrow as pa
import pytest
import requests

from ingestion import klaviyo_records
from ingestion.required_fields import klaviyo_event_required, klaviyo_event_required_properties
from ingestion.validation import QUARANTINE_TABLE, batched_tables, fewer_gc_passes, split_valid

METRIC_NAMES = {"M-RECEIVED": "Received Email", "M-ORDER": "Placed Order", "M-OTHER": "Viewed Page"}


def _record_by_record(page: list[Any], metric_names: dict[str, str]) -> tuple[pa.Table | None, list[tuple]]:
    required = klaviyo_event_required(metric_names)
    rows: list[dict] = []
    rejects: list[tuple] = []
    for item in split_valid("events", page, klaviyo_records.flatten_event, required=required):
        if isinstance(item, list):
            rows += item
        else:
            rejects.append(_quarantine_key(item))
    table = pa.Table.from_pylist(rows, schema=klaviyo_records.EVENT_SCHEMA) if rows else None
    return table, rejects


def _page_at_once(page: list[Any], metric_names: dict[str, str]) -> tuple[pa.Table | None, list[tuple]]:
    items = list(
        klaviyo_records.flatten_event_page(
            page, klaviyo_event_required(metric_names), klaviyo_event_required_properties(metric_names)
        )
    )
    tables = [item for item in items if isinstance(item, pa.Table)]
    assert len(tables) <= 1 and (not tables or items[-1] is tables[0]), "one table, after the rejects"
    rejects = [_quarantine_key(item) for item in items if not isinstance(item, pa.Table)]
    return (tables[0] if tables else None), rejects


def _quarantine_key(item: Any) -> tuple:
    row = item.data if hasattr(item, "data") else item
    assert item.meta.table_name == QUARANTINE_TABLE
    return row["quarantine_id"], row["record_id"], row["reason"], row["payload"]


def _assert_same(page: list[Any], metric_names: dict[str, str] = METRIC_NAMES) -> pa.Table | None:
    expected_table, expected_rejects = _record_by_record(copy.deepcopy(page), metric_names)
    table, rejects = _page_at_once(page, metric_names)
    assert rejects == expected_rejects
    if expected_table is None:
        assert table is None
    else:
        assert table is not None and table.schema == klaviyo_records.EVENT_SCHEMA
        assert table.to_pylist() == expected_table.to_pylist()
    return table


def _email_event(event_id: str = "EV1", **properties: Any) -> dict:
    return {
        "type": "event",
        "id": event_id,
        "attributes": {
            "timestamp": 1767720688,
            "datetime": "2026-01-06T12:31:28-05:00",
            "uuid": "f4973313-5509-4287-a722-4611f4982c61",
            "event_properties": {"$message": "MSG1", "Subject": "Hello", "Campaign Name": "C1", **properties},
        },
        "relationships": {
            "profile": {"data": {"type": "profile", "id": "P1"}},
            "metric": {"data": {"type": "metric", "id": "M-RECEIVED"}},
        },
    }


def _order_event(event_id: str = "EV2") -> dict:
    record = _email_event(event_id)
    record["attributes"]["event_properties"] = {
        "$value": 42.5,
        "OrderId": "O1",
        "$currency_code": "USD",
        "Items": ["a", "b", "c"],
    }
    record["relationships"]["metric"]["data"]["id"] = "M-ORDER"
    return record


def _set(path: str, value: Any) -> Callable[[dict], None]:
    def mutate(record: dict) -> None:
        *parents, last = path.split(".")
        node = record
        for part in parents:
            node = node[part]
        node[last] = value

    return mutate


def _drop(path: str) -> Callable[[dict], None]:
    def mutate(record: dict) -> None:
        *parents, last = path.split(".")
        node = record
        for part in parents:
            node = node[part]
        del node[last]

    return mutate


PROPS = "attributes.event_properties"
UNUSUAL = {
    "no id": _drop("id"),
    "blank id": _set("id", "  "),
    "numeric id": _set("id", 12345),
    "datetime in Z": _set("attributes.datetime", "2026-01-06T17:31:28Z"),
    "datetime with fraction": _set("attributes.datetime", "2026-01-06T17:31:28.250000+00:00"),
    "datetime as epoch text": _set("attributes.datetime", "1767720688"),
    "datetime as number": _set("attributes.datetime", 1767720688),
    "impossible datetime of the usual length": _set("attributes.datetime", "2026-13-45T25:61:00+00:00"),
    "garbage datetime": _set("attributes.datetime", "2026-13-45T25:61:00"),
    "no datetime": _drop("attributes.datetime"),
    "timestamp as text": _set("attributes.timestamp", "1767720688"),
    "timestamp in ms": _set("attributes.timestamp", 1767720688000),
    "timestamp a boolean": _set("attributes.timestamp", True),
    "unknown top-level field": _set("extra", 1),
    "unknown attribute": _set("attributes.locale", "en-US"),
    "unknown property": _set(f"{PROPS}.Shiny", True),
    "properties null": _set(PROPS, None),
    "no properties": _drop(PROPS),
    "no $message on an email event": _drop(f"{PROPS}.$message"),
    "no profile": _drop("relationships.profile"),
    "profile data null": _set("relationships.profile.data", None),
    "numeric profile id": _set("relationships.profile.data.id", 7),
    "relationships a list": _set("relationships", []),
    "metric data a list": _set("relationships.metric.data", ["x"]),
    "unknown metric": _set("relationships.metric.data.id", "M-UNKNOWN"),
    "numeric subject": _set(f"{PROPS}.Subject", 5),
    "uuid a number": _set("attributes.uuid", 99),
    "value as text": _set(f"{PROPS}.$value", "19.5"),
    "value as N/A": _set(f"{PROPS}.$value", "N/A"),
    "value an integer": _set(f"{PROPS}.$value", 20),
    "value a boolean": _set(f"{PROPS}.$value", True),
    "value infinite": _set(f"{PROPS}.$value", math.inf),
    "machine_open as text": _set(f"{PROPS}.machine_open", "true"),
    "machine_open a boolean": _set(f"{PROPS}.machine_open", False),
    "items not a list": _set(f"{PROPS}.Items", "a,b"),
}


@pytest.mark.parametrize("case", sorted(UNUSUAL))
def test_an_unusual_record_gives_the_record_by_record_result(case: str) -> None:
    unusual = _email_event("EV-U")
    UNUSUAL[case](unusual)
    page = [_email_event("EV0"), unusual, _order_event("EV3"), _email_event("EV4")]
    table = _assert_same(page)
    assert table is not None and {"EV0", "EV3", "EV4"} <= set(table.column("event_id").to_pylist())


def test_records_that_are_not_objects_and_empty_pages() -> None:
    _assert_same([_email_event(), "not an object", None, [1, 2]])
    _assert_same(["only garbage"])
    _assert_same([])


def test_usual_events_are_all_read_on_the_fast_path() -> None:
    """The common shapes never reach the slow path (that is where the time went)."""
    opened = _email_event("EV5", machine_open=True, **{"$ab_test_phase": "test"})
    clicked = _email_event("EV6", URL="https://example.com/x")
    flow = _email_event("EV7", **{"$flow": "F1"})
    del flow["attributes"]["event_properties"]["Campaign Name"]
    page = [_email_event(), _order_event(), opened, clicked, flow]
    required = klaviyo_event_required(METRIC_NAMES)
    properties = klaviyo_event_required_properties(METRIC_NAMES)
    assert all(klaviyo_records._plain_event(record, properties) is not None for record in page)
    table = next(klaviyo_records.flatten_event_page(page, required, properties))
    assert table.column("occurred_at").to_pylist()[0].isoformat() == "2026-01-06T17:31:28+00:00"
    _assert_same(page)


def test_pages_served_by_a_messy_sandbox_world(sandbox: Any) -> None:
    """Every page of a world with 3% malformed, 3% duplicated and 5% unexpected-field events."""
    from ingestion_test_helpers import sandbox_settings

    spec = sandbox.WorldSpec.preset(
        "tiny", malformed_rate=0.03, duplicate_rate=0.03, unexpected_field_rate=0.05
    )
    world = sandbox.World(spec)
    with sandbox.SandboxServer(world) as server:
        settings = sandbox_settings(server, spec)
        headers = {
            "Authorization": f"Klaviyo-API-Key {settings.klaviyo_api_key}",
            "revision": settings.klaviyo_revision,
        }
        base = settings.klaviyo_base_url
        metrics = requests.get(f"{base}/api/metrics", headers=headers, timeout=30).json()["data"]
        names = {metric["id"]: metric["attributes"]["name"] for metric in metrics}
        url: str | None = f"{base}/api/events?page[size]=1000&sort=datetime"
        pages = rejected = 0
        while url:
            body = orjson.loads(requests.get(url, headers=headers, timeout=30).content)
            _, rejects = _page_at_once(copy.deepcopy(body["data"]), names)
            rejected += len(rejects)
            _assert_same(body["data"], names)
            url, pages = body["links"]["next"], pages + 1
    assert pages > 3 and rejected > 10


def test_batched_tables_joins_tables_and_passes_other_items_through() -> None:
    def table(start: int, rows: int) -> pa.Table:
        return pa.table({"n": list(range(start, start + rows))})

    items = [table(0, 3), "q1", table(3, 3), table(6, 3), "q2", table(9, 1)]
    out = list(batched_tables(items, min_rows=5))
    assert out[0] == "q1" and out[2] == "q2"
    assert [item.column("n").to_pylist() for item in out if isinstance(item, pa.Table)] == [
        [0, 1, 2, 3, 4, 5],
        [6, 7, 8, 9],
    ]
    assert list(batched_tables(["only quarantine"], min_rows=5)) == ["only quarantine"]


def test_fewer_gc_passes_restores_the_thresholds_even_on_error() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), fewer_gc_passes(12_345):
        assert gc.get_threshold()[0] == max(12_345, before[0])
        raise RuntimeError("boom")
    assert gc.get_threshold() == before


def test_events_are_read_with_fewer_gc_passes_on_every_path(shared_server: Any, tiny_spec: Any) -> None:
    """The setting lives in the events resource, so the Dagster asset (dagster-dlt) gets it too."""
    from ingestion_test_helpers import sandbox_settings

    from ingestion.klaviyo import events
    from ingestion.validation import GC_YOUNG_THRESHOLD

    settings = sandbox_settings(shared_server, tiny_spec)
    cursor = SimpleNamespace(start_value=settings.start_datetime)  # the world's start, not 1970
    before = gc.get_threshold()
    reader = events(settings, cursor)
    next(reader)
    assert gc.get_threshold()[0] == max(GC_YOUNG_THRESHOLD, before[0])
    reader.close()
    assert gc.get_threshold() == before
