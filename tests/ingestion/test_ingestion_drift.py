"""Schema drift is a contract: a record without a required field is quarantined with the reason,
never merged over a good row; more than 5% of a load quarantined fails the raw table's gate.
Damaged (truncated) response bodies are retried like a 5xx."""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests
from ingestion_test_helpers import sandbox_settings, table_snapshot

from ingestion import hubspot_records, run_source
from ingestion.config import RetryPolicy
from ingestion.http import DamagedBodyError, RetryingSession
from ingestion.required_fields import REQUIRED_FIELDS, klaviyo_event_required
from ingestion.validation import missing_fields, split_valid
from quality import run_suite

INSIGHTS = "raw_meta_ads.ad_insights_daily"


def test_absent_field_is_missing_but_a_present_null_is_not() -> None:
    record = {"id": "1", "properties": {"email": None, "closedate": None}}
    assert missing_fields(record, ["id", "properties.email", "properties.closedate"]) == []
    assert missing_fields(record, ["properties.lifecyclestage", "spend"]) == [
        "properties.lifecyclestage",
        "spend",
    ]
    assert (
        missing_fields({"relationships": {"profile": {"data": None}}}, ["relationships.profile.data.id"])
        == []
    )


def test_split_valid_quarantines_a_record_without_a_required_field() -> None:
    contact = {
        "id": "101",
        "properties": {
            "email": None,  # HubSpot sends requested properties, null when unset: loads as before
            "lifecyclestage": "lead",
            "createdate": "2026-01-01T00:00:00.000Z",
            "lastmodifieddate": "2026-01-05T10:00:00.000Z",
            **{f"hs_lifecyclestage_{s}_date": None for s in hubspot_records.LIFECYCLE_STAGES},
        },
    }
    dropped = json.loads(json.dumps(contact))
    del dropped["properties"]["email"]
    items = list(
        split_valid(
            "contacts",
            [contact, dropped],
            hubspot_records.flatten_contact,
            required=REQUIRED_FIELDS[("hubspot", "contacts")],
        )
    )
    rows = [item for item in items if isinstance(item, list)]
    rejects = [item for item in items if not isinstance(item, list)]
    assert len(rows) == 1 and rows[0][0]["email"] is None
    assert len(rejects) == 1
    assert rejects[0].data["reason"] == "missing required field properties.email"
    assert rejects[0].data["record_id"] == "101"


def test_klaviyo_event_requires_message_only_for_email_metrics() -> None:
    paths = klaviyo_event_required({"M1": "Opened Email", "M2": "Placed Order"})
    email_event = {"relationships": {"metric": {"data": {"id": "M1"}}}}
    order_event = {"relationships": {"metric": {"data": {"id": "M2"}}}}
    assert "attributes.event_properties.$message" in paths(email_event)
    assert "attributes.event_properties.$message" not in paths(order_event)
    assert "attributes.event_properties.$value" in paths(order_event)


def _insights(path: Path) -> dict[tuple[str, Any], float | None]:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(f"select ad_id, date_start, spend from {INSIGHTS}").fetchall()
    return {(ad_id, day): spend for ad_id, day, spend in rows}


def test_dropped_spend_never_overwrites_stored_spend_and_blocks_the_gate(
    sandbox: Any, tiny_spec: Any, tmp_path: Path
) -> None:
    world = sandbox.World(tiny_spec)
    db, dlt_dir = tmp_path / "w.duckdb", tmp_path / "dlt"
    with sandbox.SandboxServer(world) as server:
        settings = sandbox_settings(server, tiny_spec)
        run_source("meta_ads", db, settings, pipelines_dir=dlt_dir)
        first = run_suite(db, INSIGHTS, reference_time=world.clock)
        assert first.outcome("quarantine_share").success, first.describe()
        before = _insights(db)
        assert before and all(spend is not None for spend in before.values())

        world.advance(days=1)
        world.spec.dropped_fields = {"meta.insights": ["spend"]}  # the vendor stops sending spend
        _, stats = run_source("meta_ads", db, settings, pipelines_dir=dlt_dir)

    after = _insights(db)
    assert {key: after[key] for key in before} == before  # not one stored spend replaced by NULL
    assert all(spend is not None for spend in after.values())
    assert stats.quarantined_by_reason.get("missing required field spend", 0) >= 7 * 4
    with duckdb.connect(str(db), read_only=True) as con:
        (quarantined,) = con.execute(
            "select count(*) from raw_meta_ads.quarantine where resource = 'ad_insights_daily' "
            "and reason = 'missing required field spend'"
        ).fetchone()
    assert quarantined >= 7 * 4  # the 7-day re-pull of every ad, plus the new day

    gate = run_suite(db, INSIGHTS, reference_time=world.clock)
    outcome = gate.outcome("quarantine_share")
    assert not gate.success and not outcome.success and outcome.severity == "ERROR"
    assert outcome.details["loaded"] == 0 and outcome.details["quarantined"] == quarantined
    assert "missing required field spend" in gate.describe()
    # a lower share passes; the threshold is a parameter of the run
    assert (
        run_suite(db, INSIGHTS, reference_time=world.clock, quarantine_max_share=1.0)
        .outcome("quarantine_share")
        .success
    )


def test_gate_passes_again_once_the_vendor_sends_the_field(
    sandbox: Any, tiny_spec: Any, tmp_path: Path
) -> None:
    world = sandbox.World(tiny_spec)
    db, dlt_dir = tmp_path / "w.duckdb", tmp_path / "dlt"
    with sandbox.SandboxServer(world) as server:
        settings = sandbox_settings(server, tiny_spec)
        run_source("meta_ads", db, settings, pipelines_dir=dlt_dir)
        world.advance(days=1)
        world.spec.dropped_fields = {"meta.insights": ["spend"]}
        run_source("meta_ads", db, settings, pipelines_dir=dlt_dir)
        assert not run_suite(db, INSIGHTS, reference_time=world.clock).success
        world.spec.dropped_fields = {}
        run_source("meta_ads", db, settings, pipelines_dir=dlt_dir)
        assert run_suite(db, INSIGHTS, reference_time=world.clock).outcome("quarantine_share").success


@pytest.mark.parametrize(("source", "dataset"), [("meta_ads", "raw_meta_ads"), ("hubspot", "raw_hubspot")])
def test_truncated_bodies_are_retried_and_load_identical_data(
    sandbox: Any,
    tiny_spec: Any,
    clean_load: dict[str, Any],
    tmp_path: Path,
    source: str,
    dataset: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="ingestion.http")
    faults = sandbox.FaultConfig(truncate_rate=0.3, seed=3)
    with sandbox.SandboxServer(sandbox.World(tiny_spec), faults=faults) as server:
        settings = sandbox_settings(server, tiny_spec)
        _, stats = run_source(source, tmp_path / "w.duckdb", settings, pipelines_dir=tmp_path / "dlt")
    assert "response body is not valid JSON" in caplog.text  # bodies were cut, and retried
    assert stats.row_counts == clean_load["results"][source][1].row_counts
    assert table_snapshot(tmp_path / "w.duckdb", dataset) == clean_load["snapshots"][dataset]


def test_a_body_that_stays_damaged_names_vendor_endpoint_and_cause() -> None:
    class Truncating(requests.adapters.BaseAdapter):
        calls = 0

        def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
            Truncating.calls += 1
            response = requests.Response()
            response.status_code = 200
            response._content = b'{"data": [{"ad_id": "1", "spend": "12.'
            response.url, response.request = request.url, request
            return response

        def close(self) -> None:
            pass

    session = RetryingSession(
        "meta_ads",
        RetryPolicy(max_attempts=8, backoff_base_seconds=0.01, backoff_max_seconds=0.01),
        sleep=lambda _: None,
        rng=random.Random(0),
    )
    session.mount("http://", Truncating())
    with pytest.raises(DamagedBodyError) as caught:
        session.get("http://vendor/v21.0/act_123/insights?access_token=secret")
    text = str(caught.value)
    assert text.startswith(
        "meta_ads GET /v21.0/act_123/insights: response body is not valid JSON after 8 attempts ("
    )
    # the decoder's own words (orjson: "unexpected end of data: line 1 column 39 (char 38)")
    assert "line 1 column 39" in text and "secret" not in text
    assert Truncating.calls == 8
