"""Pure unit tests for the vendor flatteners."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from ingestion import ads_records, hubspot_records, klaviyo_records
from ingestion.validation import InvalidRecord


def _event(**attributes: object) -> dict:
    base = {
        "type": "event",
        "id": "EV1",
        "attributes": {
            "timestamp": 1767607200,
            "datetime": "2026-01-05T05:00:00-05:00",
            "uuid": "u-1",
            "event_properties": {
                "$value": "19.5",
                "Items": ["a", "b"],
                "$currency_code": "USD",
                "OrderId": "O1",
            },
        },
        "relationships": {
            "profile": {"data": {"type": "profile", "id": "P1"}},
            "metric": {"data": {"type": "metric", "id": "M1"}},
        },
    }
    base["attributes"].update(attributes)  # type: ignore[union-attr]
    return base


def test_flatten_event() -> None:
    row = klaviyo_records.flatten_event(_event())
    assert row["event_id"] == "EV1" and row["profile_id"] == "P1" and row["metric_id"] == "M1"
    assert row["occurred_at"] == datetime(2026, 1, 5, 10, tzinfo=UTC)
    assert row["value"] == 19.5 and row["item_count"] == 2 and row["order_id"] == "O1"
    assert row["unexpected_fields"] is None
    assert set(row) == set(klaviyo_records.EVENT_COLUMNS)


def test_flatten_event_records_unknown_fields() -> None:
    record = _event(new_attr=1)
    record["attributes"]["event_properties"]["Shiny"] = True  # type: ignore[index]
    row = klaviyo_records.flatten_event(record)
    assert json.loads(row["unexpected_fields"]) == ["attributes.new_attr", "event_properties.Shiny"]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda r: r.pop("id"), "missing id"),
        (lambda r: r["attributes"].update(datetime="last tuesday"), "unparseable timestamp"),
        (lambda r: r["relationships"].pop("profile"), "missing profile relationship"),
        (lambda r: r["attributes"]["event_properties"].update({"$value": "12.x"}), r"non-numeric \$value"),
    ],
)
def test_flatten_event_rejects(mutate, reason: str) -> None:  # type: ignore[no-untyped-def]
    record = _event()
    mutate(record)
    with pytest.raises(InvalidRecord, match=reason):
        klaviyo_records.flatten_event(record)


def test_flatten_profile() -> None:
    record = {
        "type": "profile",
        "id": "P1",
        "attributes": {
            "email": " Ada@Example.com",
            "created": "2026-01-01T00:00:00+00:00",
            "updated": "2026-01-02T00:00:00+00:00",
            "location": {"timezone": "Europe/Berlin"},
            "properties": {"holdout_group": "global_holdout"},
            "subscriptions": {
                "email": {"marketing": {"consent": "SUBSCRIBED", "consent_timestamp": "2026-01-01T00:00:00Z"}}
            },
        },
    }
    row = klaviyo_records.flatten_profile(record)
    assert row["consent"] == "SUBSCRIBED" and row["holdout_group"] == "global_holdout"
    assert row["timezone"] == "Europe/Berlin" and row["email"] == " Ada@Example.com"
    record["attributes"]["email"] = "not-an-email"  # type: ignore[index]
    with pytest.raises(InvalidRecord, match="invalid email") as caught:
        klaviyo_records.flatten_profile(record)
    assert caught.value.record_id == "P1"


def test_flatten_flow_children() -> None:
    action = {
        "id": "A1",
        "attributes": {"action_type": "SEND_EMAIL", "settings": {"step": 2, "delay_days": 3}},
    }
    row = klaviyo_records.flatten_flow_action(action, "F1")
    assert (row["flow_id"], row["step_position"], row["delay_days"]) == ("F1", 2, 3)
    message = {"id": "M1", "attributes": {"name": "n", "label": "Variant B", "content": {"subject": "s"}}}
    row = klaviyo_records.flatten_flow_message(message, "A1", "F1")
    assert (row["message_id"], row["flow_action_id"], row["variant_label"]) == ("M1", "A1", "Variant B")


def test_flatten_campaign_ab_test() -> None:
    record = {
        "id": "C1",
        "attributes": {
            "name": "n",
            "status": "Sent",
            "send_strategy": {
                "method": "static",
                "options_static": {"datetime": "2026-01-05T10:00:00+00:00"},
            },
            "ab_test": {"test_share": 0.2, "test_duration_hours": 4, "winner_metric": "open_rate"},
        },
    }
    row = klaviyo_records.flatten_campaign(record)
    assert row["send_time"] == datetime(2026, 1, 5, 10, tzinfo=UTC)
    assert row["ab_test_share"] == 0.2 and row["ab_winner_message_id"] is None


def test_flatten_hubspot_contact_and_deal() -> None:
    contact = {
        "id": "101",
        "properties": {
            "email": "a@b.co",
            "lifecyclestage": "lead",
            "lastmodifieddate": "2026-01-05T10:00:00.000Z",
            "hs_lifecyclestage_lead_date": "2026-01-04T10:00:00.000Z",
            "hs_object_id": "101",
            "surprise": "x",
        },
        "createdAt": "2026-01-01T00:00:00.000Z",
        "updatedAt": "2026-01-05T10:00:00.000Z",
        "archived": False,
    }
    row = hubspot_records.flatten_contact(contact)
    assert row["lead_at"] == datetime(2026, 1, 4, 10, tzinfo=UTC) and row["subscriber_at"] is None
    assert row["created_at"] == datetime(2026, 1, 1, tzinfo=UTC)
    assert json.loads(row["unexpected_fields"]) == ["properties.surprise"]
    deal = {
        "id": "9",
        "properties": {
            "amount": "1200.50",
            "dealstage": "closedwon",
            "hs_lastmodifieddate": "2026-01-05T10:00:00.000Z",
            "hs_date_entered_closedwon": "2026-01-05T10:00:00.000Z",
            "hs_date_entered_contractsent": None,
        },
    }
    assert hubspot_records.flatten_deal(deal)["amount"] == 1200.5
    assert hubspot_records.flatten_deal_stage_entries(deal) == [
        {"deal_id": "9", "stage_id": "closedwon", "entered_at": datetime(2026, 1, 5, 10, tzinfo=UTC)}
    ]
    links = hubspot_records.flatten_associations({"from": {"id": "9"}, "to": [{"toObjectId": 101}]})
    assert links == [{"deal_id": "9", "contact_id": "101"}]


def test_flatten_pipeline() -> None:
    pipeline = {
        "id": "default",
        "label": "Sales",
        "stages": [
            {
                "id": "closedwon",
                "label": "Won",
                "displayOrder": 3,
                "metadata": {"isClosed": "true", "probability": "1.0"},
            }
        ],
    }
    (row,) = hubspot_records.flatten_pipeline(pipeline)
    assert row["is_closed"] is True and row["probability"] == 1.0 and row["display_order"] == 3


def test_flatten_meta_insight() -> None:
    record = {
        "ad_id": "A1",
        "date_start": "2026-01-05",
        "date_stop": "2026-01-05",
        "spend": "12.34",
        "impressions": "1000",
        "clicks": "20",
        "actions": [
            {"action_type": "link_click", "value": "15"},
            {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "3"},
        ],
        "action_values": [{"action_type": "offsite_conversion.fb_pixel_purchase", "value": "123.40"}],
        "new_metric": "1",
    }
    row = ads_records.flatten_meta_insight(record)
    assert row["date_start"] == date(2026, 1, 5) and row["spend"] == 12.34 and row["link_clicks"] == 15
    assert row["purchases"] == 3.0 and row["purchase_value"] == 123.4
    assert json.loads(row["unexpected_fields"]) == ["new_metric"]
    with pytest.raises(InvalidRecord, match="negative spend"):
        ads_records.flatten_meta_insight({**record, "spend": "-5"})
    with pytest.raises(InvalidRecord, match="non-numeric impressions"):
        ads_records.flatten_meta_insight({**record, "impressions": "1k"})


def test_flatten_meta_ad_has_no_budget() -> None:
    """Meta ads carry no budget (the ad set or CBO campaign does): none is read, none is stored."""
    row = ads_records.flatten_meta_ad(
        {"id": "A1", "adset_id": "S1", "status": "ACTIVE", "created_time": "2026-01-01T00:00:00+0000"}
    )
    assert row["created_at"] == datetime(2026, 1, 1, tzinfo=UTC) and row["adset_id"] == "S1"
    assert "daily_budget" not in row
    assert "daily_budget" not in ads_records.META_AD_FIELDS
    assert "daily_budget" not in ads_records.META_AD_COLUMNS


def test_flatten_google_row() -> None:
    result = {
        "campaign": {"id": "1", "name": "c"},
        "adGroup": {"id": "2", "name": "g"},
        "adGroupAd": {"status": "ENABLED", "ad": {"id": "3", "name": "a"}},
        "metrics": {
            "costMicros": "1500000",
            "clicks": "4",
            "impressions": "100",
            "conversions": 1.0,
            "conversionsValue": 12.5,
        },
        "segments": {"date": "2026-01-05"},
        "customer": {"currencyCode": "USD"},
    }
    row = ads_records.flatten_google_row(result, "111")
    assert row["cost_micros"] == 1_500_000 and row["date"] == date(2026, 1, 5) and row["ad_id"] == "3"
    assert set(row) == set(ads_records.GOOGLE_AD_COLUMNS)
    result["metrics"]["costMicros"] = "-10"  # type: ignore[index]
    with pytest.raises(InvalidRecord, match="negative spend"):
        ads_records.flatten_google_row(result, "111")
    assert (
        "segments.date >= '2026-01-01' AND segments.date <= '2026-01-07'"
        in ads_records.GOOGLE_AD_GROUP_AD_QUERY.format(since="2026-01-01", until="2026-01-07")
    )
