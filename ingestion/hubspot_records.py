"""Pure flatteners for HubSpot CRM records -> ``raw_hubspot`` rows (contract section 2)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ingestion.validation import (
    InvalidRecord,
    check_email,
    columns,
    parse_bool,
    parse_float,
    parse_int,
    parse_timestamp,
    require_id,
    unexpected_json,
    unexpected_keys,
)

LIFECYCLE_STAGES = {
    "subscriber": "subscriber_at",
    "lead": "lead_at",
    "marketingqualifiedlead": "marketing_qualified_lead_at",
    "salesqualifiedlead": "sales_qualified_lead_at",
    "opportunity": "opportunity_at",
    "customer": "customer_at",
}
CONTACT_PROPERTIES = [
    "email",
    "firstname",
    "lastname",
    "lifecyclestage",
    "createdate",
    "lastmodifieddate",
    "hs_analytics_source",
    *(f"hs_lifecyclestage_{stage}_date" for stage in LIFECYCLE_STAGES),
]
DEAL_PROPERTIES = [
    "dealname",
    "amount",
    "dealstage",
    "pipeline",
    "createdate",
    "closedate",
    "hs_lastmodifieddate",
    "hs_analytics_source",
]
STAGE_ENTERED_PREFIX = "hs_date_entered_"
OBJECT_KEYS = ("id", "properties", "createdAt", "updatedAt", "archived", "archivedAt")
ALWAYS_RETURNED = ("hs_object_id", "createdate", "lastmodifieddate", "hs_lastmodifieddate")

CONTACT_COLUMNS = columns(
    contact_id="text",
    email="text",
    lifecycle_stage="text",
    analytics_source="text",
    created_at="timestamp",
    updated_at="timestamp",
    **{column: "timestamp" for column in LIFECYCLE_STAGES.values()},
    unexpected_fields="text",
)
DEAL_COLUMNS = columns(
    deal_id="text",
    deal_name="text",
    pipeline_id="text",
    deal_stage_id="text",
    amount="double",
    analytics_source="text",
    created_at="timestamp",
    closed_at="timestamp",
    updated_at="timestamp",
    unexpected_fields="text",
)
DEAL_STAGE_ENTRY_COLUMNS = columns(deal_id="text", stage_id="text", entered_at="timestamp")
DEAL_CONTACT_COLUMNS = columns(deal_id="text", contact_id="text")
PIPELINE_STAGE_COLUMNS = columns(
    pipeline_id="text",
    pipeline_label="text",
    stage_id="text",
    stage_label="text",
    display_order="bigint",
    is_closed="bool",
    probability="double",
)


def _properties(record: Mapping[str, Any]) -> Mapping[str, Any]:
    properties = record.get("properties")
    return properties if isinstance(properties, Mapping) else {}


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _unexpected(record: Mapping[str, Any], requested: list[str]) -> list[str]:
    return unexpected_keys(record, OBJECT_KEYS) + unexpected_keys(
        _properties(record), [*requested, *ALWAYS_RETURNED], "properties."
    )


def _with_id(record_id: str, error: InvalidRecord) -> InvalidRecord:
    return InvalidRecord(error.reason, record_id)


def flatten_contact(record: Mapping[str, Any]) -> dict[str, Any]:
    contact_id = require_id(record.get("id"), "id")
    properties = _properties(record)
    try:
        row: dict[str, Any] = {
            "contact_id": contact_id,
            "email": check_email(properties.get("email")),
            "lifecycle_stage": _text(properties.get("lifecyclestage")),
            "analytics_source": _text(properties.get("hs_analytics_source")),
            "created_at": parse_timestamp(
                properties.get("createdate") or record.get("createdAt"), "createdate"
            ),
            "updated_at": parse_timestamp(
                properties.get("lastmodifieddate") or record.get("updatedAt"), "lastmodifieddate"
            ),
        }
        for stage, column in LIFECYCLE_STAGES.items():
            name = f"hs_lifecyclestage_{stage}_date"
            row[column] = parse_timestamp(properties.get(name), name)
    except InvalidRecord as error:
        raise _with_id(contact_id, error) from None
    row["unexpected_fields"] = unexpected_json(_unexpected(record, CONTACT_PROPERTIES))
    return row


def flatten_deal(record: Mapping[str, Any], stage_properties: list[str] | None = None) -> dict[str, Any]:
    deal_id = require_id(record.get("id"), "id")
    properties = _properties(record)
    try:
        row = {
            "deal_id": deal_id,
            "deal_name": _text(properties.get("dealname")),
            "pipeline_id": _text(properties.get("pipeline")),
            "deal_stage_id": _text(properties.get("dealstage")),
            "amount": parse_float(properties.get("amount"), "amount"),
            "analytics_source": _text(properties.get("hs_analytics_source")),
            "created_at": parse_timestamp(
                properties.get("createdate") or record.get("createdAt"), "createdate"
            ),
            "closed_at": parse_timestamp(properties.get("closedate"), "closedate"),
            "updated_at": parse_timestamp(
                properties.get("hs_lastmodifieddate") or record.get("updatedAt"), "hs_lastmodifieddate"
            ),
        }
    except InvalidRecord as error:
        raise _with_id(deal_id, error) from None
    requested = [*DEAL_PROPERTIES, *(stage_properties or [])]
    row["unexpected_fields"] = unexpected_json(
        [
            name
            for name in _unexpected(record, requested)
            if not name.startswith("properties." + STAGE_ENTERED_PREFIX)
        ]
    )
    return row


def flatten_deal_stage_entries(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per ``hs_date_entered_<stage_id>`` property with a value."""
    deal_id = require_id(record.get("id"), "id")
    rows = []
    for name, value in _properties(record).items():
        if not name.startswith(STAGE_ENTERED_PREFIX) or value in (None, ""):
            continue
        try:
            entered_at = parse_timestamp(value, name)
        except InvalidRecord as error:
            raise _with_id(deal_id, error) from None
        rows.append(
            {"deal_id": deal_id, "stage_id": name[len(STAGE_ENTERED_PREFIX) :], "entered_at": entered_at}
        )
    return rows


def deal_modified_at(record: Mapping[str, Any]) -> datetime | None:
    properties = _properties(record)
    try:
        return parse_timestamp(
            properties.get("hs_lastmodifieddate") or record.get("updatedAt"), "hs_lastmodifieddate"
        )
    except InvalidRecord:
        return None


def flatten_associations(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``{from:{id}, to:[{toObjectId}]}`` -> (deal_id, contact_id) rows."""
    deal_id = require_id((result.get("from") or {}).get("id"), "from.id")
    rows = []
    for target in result.get("to") or []:
        contact_id = target.get("toObjectId") if isinstance(target, Mapping) else None
        if contact_id in (None, ""):
            raise InvalidRecord("missing toObjectId in association", deal_id)
        rows.append({"deal_id": deal_id, "contact_id": str(contact_id)})
    return rows


def flatten_pipeline(pipeline: Mapping[str, Any]) -> list[dict[str, Any]]:
    pipeline_id = require_id(pipeline.get("id"), "pipeline id")
    rows = []
    for stage in pipeline.get("stages") or []:
        metadata = stage.get("metadata") if isinstance(stage.get("metadata"), Mapping) else {}
        rows.append(
            {
                "pipeline_id": pipeline_id,
                "pipeline_label": _text(pipeline.get("label")),
                "stage_id": require_id(stage.get("id"), "stage id"),
                "stage_label": _text(stage.get("label")),
                "display_order": parse_int(stage.get("displayOrder"), "displayOrder"),
                "is_closed": parse_bool(metadata.get("isClosed")),
                "probability": parse_float(metadata.get("probability"), "probability"),
            }
        )
    return rows
