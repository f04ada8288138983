"""All four sources against a tiny sandbox world: contract shapes, keys, pagination,
quarantine vs ground truth, schema drift, idempotent re-run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
from ingestion_test_helpers import table_snapshot

from ingestion import SOURCES, run_source

DUCKDB_TYPES = {
    "": "VARCHAR",
    "ts": "TIMESTAMP WITH TIME ZONE",
    "double": "DOUBLE",
    "bigint": "BIGINT",
    "bool": "BOOLEAN",
    "date": "DATE",
}


def _cols(spec: str) -> list[tuple[str, str]]:
    """``"a, b:ts, c:double"`` -> [(a, VARCHAR), (b, TIMESTAMPTZ), (c, DOUBLE)]."""
    out = []
    for part in spec.split(","):
        name, _, kind = part.strip().partition(":")
        out.append((name, DUCKDB_TYPES[kind]))
    return out


_STAMPS = "created_at:ts, updated_at:ts"
CONTRACT: dict[str, dict[str, list[tuple[str, str]]]] = {
    "raw_klaviyo": {
        "metrics": _cols(f"metric_id, metric_name, integration_name, {_STAMPS}"),
        "events": _cols(
            "event_id, metric_id, profile_id, occurred_at:ts, event_uuid, message_id, flow_id, campaign_name,"
            " subject, ab_test_phase, is_machine_open:bool, url, bounce_type, value:double, currency, order_id,"
            " item_count:bigint, unexpected_fields"
        ),
        "profiles": _cols(
            f"profile_id, email, timezone, consent, consent_at:ts, holdout_group, {_STAMPS}, unexpected_fields"
        ),
        "campaigns": _cols(
            "campaign_id, campaign_name, status, send_time:ts, ab_test_share:double, ab_test_duration_hours:double,"
            f" ab_winner_metric, ab_winner_message_id, {_STAMPS}"
        ),
        "campaign_messages": _cols(
            f"message_id, campaign_id, variant_label, subject, preview_text, {_STAMPS}"
        ),
        "flows": _cols(f"flow_id, flow_name, status, trigger_type, {_STAMPS}"),
        "flow_actions": _cols(
            f"flow_action_id, flow_id, action_type, step_position:bigint, delay_days:bigint, status, {_STAMPS}"
        ),
        "flow_messages": _cols(
            f"message_id, flow_action_id, flow_id, message_name, variant_label, subject, {_STAMPS}"
        ),
    },
    "raw_hubspot": {
        "contacts": _cols(
            f"contact_id, email, lifecycle_stage, analytics_source, {_STAMPS}, subscriber_at:ts, lead_at:ts,"
            " marketing_qualified_lead_at:ts, sales_qualified_lead_at:ts, opportunity_at:ts, customer_at:ts,"
            " unexpected_fields"
        ),
        "deals": _cols(
            "deal_id, deal_name, pipeline_id, deal_stage_id, amount:double, analytics_source, created_at:ts,"
            " closed_at:ts, updated_at:ts, unexpected_fields"
        ),
        "deal_stage_entries": _cols("deal_id, stage_id, entered_at:ts"),
        "deal_contacts": _cols("deal_id, contact_id"),
        "pipeline_stages": _cols(
            "pipeline_id, pipeline_label, stage_id, stage_label, display_order:bigint, is_closed:bool,"
            " probability:double"
        ),
    },
    "raw_meta_ads": {
        "ads": _cols(f"ad_id, ad_name, adset_id, campaign_id, status, effective_status, {_STAMPS}"),
        "ad_insights_daily": _cols(
            "account_id, campaign_id, campaign_name, adset_id, adset_name, ad_id, ad_name, date_start:date,"
            " spend:double, impressions:bigint, clicks:bigint, link_clicks:bigint, purchases:double,"
            " purchase_value:double, currency, unexpected_fields"
        ),
        "adsets": _cols("account_id, adset_id, adset_name, campaign_id, daily_budget_minor:bigint, status"),
        "campaigns": _cols("account_id, campaign_id, campaign_name, daily_budget_minor:bigint, status"),
        "accounts": _cols("account_id, currency"),
        "ad_conversion_snapshots": _cols(
            "ad_id, date_start:date, observed_on:date, purchases:double, purchase_value:double"
        ),
    },
    "raw_google_ads": {
        "ad_group_ad_daily": _cols(
            "customer_id, campaign_id, campaign_name, ad_group_id, ad_group_name, ad_id, ad_name, ad_status,"
            " date:date, cost_micros:bigint, clicks:bigint, impressions:bigint, conversions:double,"
            " conversions_value:double, currency"
        ),
        "campaign_budgets": _cols(
            "customer_id, campaign_budget_id, campaign_budget_name, amount_micros:bigint, explicitly_shared:bool,"
            " reference_count:bigint, status"
        ),
        "campaigns": _cols("customer_id, campaign_id, campaign_name, status, campaign_budget_id"),
        "ad_conversion_snapshots": _cols(
            "ad_id, date:date, observed_on:date, conversions:double, conversions_value:double"
        ),
    },
}
KEYS = {
    "metrics": ["metric_id"],
    "events": ["event_id"],
    "profiles": ["profile_id"],
    "campaigns": ["campaign_id"],
    "campaign_messages": ["message_id"],
    "flows": ["flow_id"],
    "flow_actions": ["flow_action_id"],
    "flow_messages": ["message_id"],
    "contacts": ["contact_id"],
    "deals": ["deal_id"],
    "deal_stage_entries": ["deal_id", "stage_id"],
    "deal_contacts": ["deal_id", "contact_id"],
    "pipeline_stages": ["pipeline_id", "stage_id"],
    "ads": ["ad_id"],
    "adsets": ["adset_id"],
    "accounts": ["account_id"],
    "campaign_budgets": ["campaign_budget_id"],
    "ad_insights_daily": ["ad_id", "date_start"],
    "ad_group_ad_daily": ["ad_id", "date"],
    "quarantine": ["quarantine_id"],
    "raw_meta_ads.ad_conversion_snapshots": ["ad_id", "date_start", "observed_on"],
    "raw_google_ads.ad_conversion_snapshots": ["ad_id", "date", "observed_on"],
}
QUARANTINE = _cols("quarantine_id, resource, record_id, reason, payload, quarantined_at:ts")


@pytest.fixture(scope="module")
def full_load(clean_load: dict[str, Any]) -> dict[str, Any]:
    return clean_load


def _columns(path: Path, dataset: str, table: str) -> list[tuple[str, str]]:
    with duckdb.connect(str(path), read_only=True) as connection:
        rows = connection.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [dataset, table],
        ).fetchall()
    return [(name, kind) for name, kind in rows if not name.startswith("_dlt")]


def _query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def test_tables_match_the_contract(full_load: dict[str, Any]) -> None:
    for dataset, tables in CONTRACT.items():
        for table, expected in tables.items():
            assert _columns(full_load["path"], dataset, table) == expected, f"{dataset}.{table}"
            (count,) = _query(full_load["path"], f"SELECT count(*) FROM {dataset}.{table}")[0]
            assert count > 0, f"{dataset}.{table} is empty"
    for dataset in CONTRACT:
        columns = _columns(full_load["path"], dataset, "quarantine")
        assert columns in ([], QUARANTINE), dataset  # a dataset gets the table once something is quarantined
    assert _columns(full_load["path"], "raw_klaviyo", "quarantine") == QUARANTINE


def test_primary_keys_are_unique_and_not_null(full_load: dict[str, Any]) -> None:
    for dataset in CONTRACT:
        for table in [*CONTRACT[dataset], "quarantine"]:
            if not _query(
                full_load["path"],
                f"SELECT 1 FROM information_schema.tables WHERE table_schema='{dataset}' AND table_name='{table}'",
            ):
                continue
            key = KEYS.get(f"{dataset}.{table}", KEYS.get(table))
            keys = ", ".join(key)
            nulls = " OR ".join(f"{k} IS NULL" for k in key)
            total, distinct, null_keys = _query(
                full_load["path"],
                f"SELECT count(*), count(DISTINCT ({keys})), count(*) FILTER (WHERE {nulls}) FROM {dataset}.{table}",
            )[0]
            assert (total, null_keys) == (distinct, 0), f"{dataset}.{table}"


def test_timestamps_are_utc_and_within_the_world(full_load: dict[str, Any], tiny_spec: Any) -> None:
    lo, hi = _query(full_load["path"], "SELECT min(occurred_at), max(occurred_at) FROM raw_klaviyo.events")[0]
    assert lo.date() >= tiny_spec.start_date and lo.utcoffset().total_seconds() == 0
    (days,) = _query(
        full_load["path"], "SELECT count(DISTINCT date_start) FROM raw_meta_ads.ad_insights_daily"
    )[0]
    assert days >= tiny_spec.days - 1


def test_paginated_endpoints_were_walked(full_load: dict[str, Any], shared_server: Any) -> None:
    paths = [path for _, path, _ in shared_server.request_log]
    (events,) = _query(full_load["path"], "SELECT count(*) FROM raw_klaviyo.events")[0]
    event_pages = sum(1 for p in paths if p.split("?")[0].endswith("/api/events"))
    assert event_pages >= max(2, events // 1000)
    assert sum(1 for p in paths if p.split("?")[0].endswith("/api/profiles")) >= 2


def test_stats_report_rows_quarantine_and_unexpected_fields(full_load: dict[str, Any]) -> None:
    _, stats = full_load["results"]["klaviyo"]
    assert stats.row_counts["events"] > 0 and stats.dataset == "raw_klaviyo"
    assert stats.quarantined_total == sum(stats.quarantined_by_reason.values()) > 0
    assert stats.unexpected_total > 0
    assert set(stats.unexpected_fields["events"]) <= {
        "attributes.source_channel",
        "attributes.attribution_model",
        "event_properties.source_channel",
        "event_properties.attribution_model",
        "source_channel",
        "attribution_model",
    }


def test_unexpected_fields_are_recorded_not_dropped(full_load: dict[str, Any]) -> None:
    rows = _query(
        full_load["path"],
        "SELECT unexpected_fields FROM raw_klaviyo.events WHERE unexpected_fields IS NOT NULL",
    )
    assert rows and all(json.loads(fields) for (fields,) in rows)
    rows = _query(
        full_load["path"],
        "SELECT unexpected_fields FROM raw_meta_ads.ad_insights_daily WHERE unexpected_fields IS NOT NULL",
    )
    names = {name for (fields,) in rows for name in json.loads(fields)}
    assert names and names <= {"attribution_setting", "quality_ranking"}


def test_rerun_is_idempotent(full_load: dict[str, Any], tmp_path: Path) -> None:
    """A second run (on a copy of the reference warehouse and dlt state) changes nothing."""
    path, pipelines_dir = tmp_path / "warehouse.duckdb", tmp_path / "dlt"
    shutil.copyfile(full_load["path"], path)
    shutil.copytree(full_load["pipelines_dir"], pipelines_dir)
    before = full_load["snapshots"]
    for name in SOURCES:
        run_source(name, path, full_load["settings"], pipelines_dir=pipelines_dir)
    after = {dataset: table_snapshot(path, dataset) for dataset in CONTRACT}
    assert {d: {t: len(r) for t, r in ts.items()} for d, ts in after.items()} == {
        d: {t: len(r) for t, r in ts.items()} for d, ts in before.items()
    }
    assert after == before


TRUTH_RESOURCES = {
    ("klaviyo", "events"): ("raw_klaviyo", "events"),
    ("klaviyo", "profiles"): ("raw_klaviyo", "profiles"),
    ("hubspot", "contacts"): ("raw_hubspot", "contacts"),
    ("hubspot", "deals"): ("raw_hubspot", "deals"),
    ("meta", "insights"): ("raw_meta_ads", "ad_insights_daily"),
    ("google_ads", "ad_group_ad"): ("raw_google_ads", "ad_group_ad_daily"),
}
TRUTH_REASONS = {
    "missing_id": "missing id",
    "unparseable_timestamp": "unparseable timestamp",
    "missing_profile_relationship": "missing profile relationship",
    "non_numeric_metric_string": "non-numeric",
    "negative_spend": "negative spend",
    "invalid_email": "invalid email",
}


def _payload_key(payload: dict[str, Any], id_field: str) -> str | None:
    """The value the truth uses to name a record: a dotted path, or ``a:b`` for composite keys."""
    flat_google = {"ad_id": ("adGroupAd", "ad", "id"), "date": ("segments", "date")}

    def lookup(path: str) -> Any:
        node: Any = payload
        for part in flat_google.get(path, tuple(path.split("."))):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None and path == "date":
            node = payload.get("date_start")
        if node is None and path == "ad_id":
            node = payload.get("ad_id")
        return node

    values = [lookup(part) for part in id_field.split(":")]
    return None if any(v is None for v in values) else ":".join(str(v) for v in values)


def test_quarantine_matches_the_worlds_malformed_records(
    full_load: dict[str, Any], shared_server: Any
) -> None:
    from sandbox.truth import build_truth

    truth = build_truth(shared_server.world)
    expected = {
        (TRUTH_RESOURCES[(m["vendor"], m["resource"])], str(m["record_id"]), TRUTH_REASONS[m["kind"]])
        for m in truth["malformed"]
    }
    id_fields = {TRUTH_RESOURCES[(m["vendor"], m["resource"])]: m["id_field"] for m in truth["malformed"]}
    found = set()
    for dataset in CONTRACT:
        if not _columns(full_load["path"], dataset, "quarantine"):
            continue
        for resource, reason, payload in _query(
            full_load["path"], f"SELECT resource, reason, payload FROM {dataset}.quarantine"
        ):
            record = json.loads(payload)
            id_field = id_fields.get((dataset, resource), "id")
            if id_field == "id" and "id" not in record:
                id_field = "attributes.uuid"
            kind = next(v for v in TRUTH_REASONS.values() if reason.startswith(v))
            found.add(((dataset, resource), _payload_key(record, id_field), kind))
    assert found == expected
    # nothing disappears: loaded + quarantined rows = the records the vendor served
    counts = truth["record_counts"]
    for (vendor, resource), (dataset, table) in TRUTH_RESOURCES.items():
        (loaded,) = _query(full_load["path"], f"SELECT count(*) FROM {dataset}.{table}")[0]
        quarantined = 0
        if _columns(full_load["path"], dataset, "quarantine"):
            (quarantined,) = _query(
                full_load["path"], f"SELECT count(*) FROM {dataset}.quarantine WHERE resource = '{table}'"
            )[0]
        assert loaded + quarantined == counts[f"{vendor}.{resource}"], f"{dataset}.{table}"
