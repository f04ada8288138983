"""Pure flatteners for Klaviyo JSON:API records -> ``raw_klaviyo`` rows (contract section 2)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingestion.validation import (
    JSON_OBJECT,
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

RESOURCE_KEYS = ("type", "id", "attributes", "relationships", "links")
EVENT_ATTRIBUTES = ("timestamp", "datetime", "uuid", "event_properties")
EVENT_PROPERTIES = (
    "$message",
    "$flow",
    "Campaign Name",
    "Subject",
    "$ab_test_phase",
    "machine_open",
    "URL",
    "Bounce Type",
    "$value",
    "OrderId",
    "$currency_code",
    "Items",
    "$event_id",
)
_RESOURCE_KEY_SET = frozenset(RESOURCE_KEYS)  # events are millions: no set built per record
_EVENT_ATTRIBUTE_SET = frozenset(EVENT_ATTRIBUTES)
_EVENT_PROPERTY_SET = frozenset(EVENT_PROPERTIES)
PROFILE_ATTRIBUTES = (
    "email",
    "first_name",
    "last_name",
    "created",
    "updated",
    "location",
    "properties",
    "subscriptions",
)

METRIC_COLUMNS = columns(
    metric_id="text",
    metric_name="text",
    integration_name="text",
    created_at="timestamp",
    updated_at="timestamp",
)
EVENT_COLUMNS = columns(
    event_id="text",
    metric_id="text",
    profile_id="text",
    occurred_at="timestamp",
    event_uuid="text",
    message_id="text",
    flow_id="text",
    campaign_name="text",
    subject="text",
    ab_test_phase="text",
    is_machine_open="bool",
    url="text",
    bounce_type="text",
    value="double",
    currency="text",
    order_id="text",
    item_count="bigint",
    unexpected_fields="text",
)
PROFILE_COLUMNS = columns(
    profile_id="text",
    email="text",
    timezone="text",
    consent="text",
    consent_at="timestamp",
    holdout_group="text",
    created_at="timestamp",
    updated_at="timestamp",
    unexpected_fields="text",
)
CAMPAIGN_COLUMNS = columns(
    campaign_id="text",
    campaign_name="text",
    status="text",
    send_time="timestamp",
    ab_test_share="double",
    ab_test_duration_hours="double",
    ab_winner_metric="text",
    ab_winner_message_id="text",
    created_at="timestamp",
    updated_at="timestamp",
)
CAMPAIGN_MESSAGE_COLUMNS = columns(
    message_id="text",
    campaign_id="text",
    variant_label="text",
    subject="text",
    preview_text="text",
    created_at="timestamp",
    updated_at="timestamp",
)
FLOW_COLUMNS = columns(
    flow_id="text",
    flow_name="text",
    status="text",
    trigger_type="text",
    created_at="timestamp",
    updated_at="timestamp",
)
FLOW_ACTION_COLUMNS = columns(
    flow_action_id="text",
    flow_id="text",
    action_type="text",
    step_position="bigint",
    delay_days="bigint",
    status="text",
    created_at="timestamp",
    updated_at="timestamp",
)
FLOW_MESSAGE_COLUMNS = columns(
    message_id="text",
    flow_action_id="text",
    flow_id="text",
    message_name="text",
    variant_label="text",
    subject="text",
    created_at="timestamp",
    updated_at="timestamp",
)


def _get(mapping: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(mapping, JSON_OBJECT):
            return None
        mapping = mapping.get(key)
    return mapping


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _attributes(record: Mapping[str, Any]) -> Mapping[str, Any]:
    attributes = record.get("attributes")
    return attributes if isinstance(attributes, JSON_OBJECT) else {}


def flatten_metric(record: Mapping[str, Any]) -> dict[str, Any]:
    attributes = _attributes(record)
    return {
        "metric_id": require_id(record.get("id"), "id"),
        "metric_name": _text(attributes.get("name")),
        "integration_name": _text(_get(attributes, "integration", "name")),
        "created_at": parse_timestamp(attributes.get("created"), "created"),
        "updated_at": parse_timestamp(attributes.get("updated"), "updated"),
    }


def flatten_event(record: Mapping[str, Any]) -> dict[str, Any]:
    event_id = require_id(record.get("id"), "id")
    attributes = _attributes(record)
    occurred_at = parse_timestamp(attributes.get("datetime"), "datetime", required=True)
    parse_timestamp(attributes.get("timestamp"), "timestamp")
    profile_id = _get(record, "relationships", "profile", "data", "id")
    if not profile_id:
        raise InvalidRecord("missing profile relationship", event_id)
    metric_id = _get(record, "relationships", "metric", "data", "id")
    if not metric_id:
        raise InvalidRecord("missing metric relationship", event_id)
    properties = attributes.get("event_properties")
    properties = properties if isinstance(properties, JSON_OBJECT) else {}
    items = properties.get("Items")
    try:
        value = parse_float(properties.get("$value"), "$value")
    except InvalidRecord as error:
        raise InvalidRecord(error.reason, event_id) from None
    unexpected = (
        unexpected_keys(record, _RESOURCE_KEY_SET)
        + unexpected_keys(attributes, _EVENT_ATTRIBUTE_SET, "attributes.")
        + unexpected_keys(properties, _EVENT_PROPERTY_SET, "event_properties.")
    )
    return {
        "event_id": event_id,
        "metric_id": str(metric_id),
        "profile_id": str(profile_id),
        "occurred_at": occurred_at,
        "event_uuid": _text(attributes.get("uuid")),
        "message_id": _text(properties.get("$message")),
        "flow_id": _text(properties.get("$flow")),
        "campaign_name": _text(properties.get("Campaign Name")),
        "subject": _text(properties.get("Subject")),
        "ab_test_phase": _text(properties.get("$ab_test_phase")),
        "is_machine_open": parse_bool(properties.get("machine_open")),
        "url": _text(properties.get("URL")),
        "bounce_type": _text(properties.get("Bounce Type")),
        "value": value,
        "currency": _text(properties.get("$currency_code")),
        "order_id": _text(properties.get("OrderId")),
        "item_count": len(items) if isinstance(items, list) else None,
        "unexpected_fields": unexpected_json(unexpected),
    }


def flatten_profile(record: Mapping[str, Any]) -> dict[str, Any]:
    profile_id = require_id(record.get("id"), "id")
    attributes = _attributes(record)
    try:
        email = check_email(attributes.get("email"))
    except InvalidRecord as error:
        raise InvalidRecord(error.reason, profile_id) from None
    marketing = _get(attributes, "subscriptions", "email", "marketing") or {}
    unexpected = unexpected_keys(record, RESOURCE_KEYS) + unexpected_keys(
        attributes, PROFILE_ATTRIBUTES, "attributes."
    )
    return {
        "profile_id": profile_id,
        "email": email,
        "timezone": _text(_get(attributes, "location", "timezone")),
        "consent": _text(_get(marketing, "consent")),
        "consent_at": parse_timestamp(_get(marketing, "consent_timestamp"), "consent_timestamp"),
        "holdout_group": _text(_get(attributes, "properties", "holdout_group")),
        "created_at": parse_timestamp(attributes.get("created"), "created"),
        "updated_at": parse_timestamp(attributes.get("updated"), "updated"),
        "unexpected_fields": unexpected_json(unexpected),
    }


def flatten_campaign(record: Mapping[str, Any]) -> dict[str, Any]:
    attributes = _attributes(record)
    ab_test = attributes.get("ab_test") if isinstance(attributes.get("ab_test"), Mapping) else {}
    send_time = attributes.get("send_time") or _get(attributes, "send_strategy", "options_static", "datetime")
    return {
        "campaign_id": require_id(record.get("id"), "id"),
        "campaign_name": _text(attributes.get("name")),
        "status": _text(attributes.get("status")),
        "send_time": parse_timestamp(send_time, "send_time"),
        "ab_test_share": parse_float(ab_test.get("test_share"), "ab_test.test_share"),
        "ab_test_duration_hours": parse_float(
            ab_test.get("test_duration_hours"), "ab_test.test_duration_hours"
        ),
        "ab_winner_metric": _text(ab_test.get("winner_metric")),
        "ab_winner_message_id": _text(ab_test.get("winner_message_id")),
        "created_at": parse_timestamp(attributes.get("created_at"), "created_at"),
        "updated_at": parse_timestamp(attributes.get("updated_at"), "updated_at"),
    }


def flatten_campaign_message(record: Mapping[str, Any], campaign_id: str) -> dict[str, Any]:
    attributes = _attributes(record)
    return {
        "message_id": require_id(record.get("id"), "id"),
        "campaign_id": str(_get(record, "relationships", "campaign", "data", "id") or campaign_id),
        "variant_label": _text(attributes.get("label")),
        "subject": _text(_get(attributes, "content", "subject")),
        "preview_text": _text(_get(attributes, "content", "preview_text")),
        "created_at": parse_timestamp(attributes.get("created_at"), "created_at"),
        "updated_at": parse_timestamp(attributes.get("updated_at"), "updated_at"),
    }


def flatten_flow(record: Mapping[str, Any]) -> dict[str, Any]:
    attributes = _attributes(record)
    return {
        "flow_id": require_id(record.get("id"), "id"),
        "flow_name": _text(attributes.get("name")),
        "status": _text(attributes.get("status")),
        "trigger_type": _text(attributes.get("trigger_type")),
        "created_at": parse_timestamp(attributes.get("created"), "created"),
        "updated_at": parse_timestamp(attributes.get("updated"), "updated"),
    }


def flatten_flow_action(record: Mapping[str, Any], flow_id: str) -> dict[str, Any]:
    attributes = _attributes(record)
    settings = attributes.get("settings") if isinstance(attributes.get("settings"), Mapping) else {}
    return {
        "flow_action_id": require_id(record.get("id"), "id"),
        "flow_id": flow_id,
        "action_type": _text(attributes.get("action_type")),
        "step_position": parse_int(settings.get("step"), "settings.step"),
        "delay_days": parse_int(settings.get("delay_days"), "settings.delay_days"),
        "status": _text(attributes.get("status")),
        "created_at": parse_timestamp(attributes.get("created"), "created"),
        "updated_at": parse_timestamp(attributes.get("updated"), "updated"),
    }


def flatten_flow_message(record: Mapping[str, Any], flow_action_id: str, flow_id: str) -> dict[str, Any]:
    attributes = _attributes(record)
    return {
        "message_id": require_id(record.get("id"), "id"),
        "flow_action_id": flow_action_id,
        "flow_id": flow_id,
        "message_name": _text(attributes.get("name")),
        "variant_label": _text(attributes.get("label")),
        "subject": _text(_get(attributes, "content", "subject")),
        "created_at": parse_timestamp(attributes.get("created"), "created"),
        "updated_at": parse_timestamp(attributes.get("updated"), "updated"),
    }
