"""Pure flatteners for Meta insights/ads/budget entities and Google Ads rows (contract section 2).

Budget amounts stay in the vendor's units here (Meta minor units, Google micros): converting
Meta's minor units needs the account currency's offset, which dbt applies once
(``meta_currency_offset``) where the currency and the amount meet.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

import dlt

from ingestion.validation import (
    InvalidRecord,
    columns,
    parse_bool,
    parse_date,
    parse_float,
    parse_int,
    parse_timestamp,
    require_id,
    unexpected_json,
    unexpected_keys,
)

META_PURCHASE = "offsite_conversion.fb_pixel_purchase"
META_LINK_CLICK = "link_click"
META_INSIGHT_FIELDS = (
    "account_id",
    "campaign_id",
    "campaign_name",
    "adset_id",
    "adset_name",
    "ad_id",
    "ad_name",
    "spend",
    "impressions",
    "clicks",
    "account_currency",
    "actions",
    "action_values",
)
META_INSIGHT_KEYS = (*META_INSIGHT_FIELDS, "date_start", "date_stop")
META_AD_FIELDS = (
    "id",
    "name",
    "adset_id",
    "campaign_id",
    "status",
    "effective_status",
    "created_time",
    "updated_time",
)
META_ADSET_FIELDS = ("id", "name", "campaign_id", "daily_budget", "status")
META_CAMPAIGN_FIELDS = ("id", "name", "daily_budget", "status")
META_ACCOUNT_FIELDS = ("account_id", "currency")

META_AD_COLUMNS = columns(
    ad_id="text",
    ad_name="text",
    adset_id="text",
    campaign_id="text",
    status="text",
    effective_status="text",
    created_at="timestamp",
    updated_at="timestamp",
)
META_INSIGHT_COLUMNS = columns(
    account_id="text",
    campaign_id="text",
    campaign_name="text",
    adset_id="text",
    adset_name="text",
    ad_id="text",
    ad_name="text",
    date_start="date",
    spend="double",
    impressions="bigint",
    clicks="bigint",
    link_clicks="bigint",
    purchases="double",
    purchase_value="double",
    currency="text",
    unexpected_fields="text",
)
META_ADSET_COLUMNS = columns(
    account_id="text",
    adset_id="text",
    adset_name="text",
    campaign_id="text",
    daily_budget_minor="bigint",
    status="text",
)
META_CAMPAIGN_COLUMNS = columns(
    account_id="text",
    campaign_id="text",
    campaign_name="text",
    daily_budget_minor="bigint",
    status="text",
)
META_ACCOUNT_COLUMNS = columns(account_id="text", currency="text")
GOOGLE_AD_COLUMNS = columns(
    customer_id="text",
    campaign_id="text",
    campaign_name="text",
    ad_group_id="text",
    ad_group_name="text",
    ad_id="text",
    ad_name="text",
    ad_status="text",
    date="date",
    cost_micros="bigint",
    clicks="bigint",
    impressions="bigint",
    conversions="double",
    conversions_value="double",
    currency="text",
)
# Conversions per ad-day as seen on each day the insights are read: the platforms keep
# attributing conversions to a day for a week after it (7-day click window), so the insight
# tables (merged on ad and day) hold only the newest numbers, and these snapshots keep how
# they grew. One row per ad, day and observation day: a second read on the same day replaces it.
AD_CONVERSION_SNAPSHOTS = "ad_conversion_snapshots"
META_SNAPSHOT_COLUMNS = columns(
    ad_id="text", date_start="date", observed_on="date", purchases="double", purchase_value="double"
)
META_SNAPSHOT_KEY = ["ad_id", "date_start", "observed_on"]
GOOGLE_SNAPSHOT_COLUMNS = columns(
    ad_id="text", date="date", observed_on="date", conversions="double", conversions_value="double"
)
GOOGLE_SNAPSHOT_KEY = ["ad_id", "date", "observed_on"]
GOOGLE_CAMPAIGN_BUDGET_COLUMNS = columns(
    customer_id="text",
    campaign_budget_id="text",
    campaign_budget_name="text",
    amount_micros="bigint",
    explicitly_shared="bool",
    reference_count="bigint",
    status="text",
)
GOOGLE_CAMPAIGN_COLUMNS = columns(
    customer_id="text",
    campaign_id="text",
    campaign_name="text",
    status="text",
    campaign_budget_id="text",
)
GOOGLE_AD_GROUP_AD_QUERY = (
    "SELECT campaign.id, campaign.name, ad_group.id, ad_group.name, ad_group_ad.status, "
    "ad_group_ad.ad.id, ad_group_ad.ad.name, metrics.cost_micros, metrics.clicks, metrics.impressions, "
    "metrics.conversions, metrics.conversions_value, segments.date, customer.currency_code "
    "FROM ad_group_ad WHERE segments.date >= '{since}' AND segments.date <= '{until}'"
)
GOOGLE_CAMPAIGN_BUDGET_QUERY = (
    "SELECT campaign_budget.id, campaign_budget.name, campaign_budget.amount_micros, "
    "campaign_budget.explicitly_shared, campaign_budget.reference_count, campaign_budget.status "
    "FROM campaign_budget"
)
GOOGLE_CAMPAIGN_QUERY = (
    "SELECT campaign.id, campaign.name, campaign.status, campaign.campaign_budget FROM campaign"
)
_CAMPAIGN_BUDGET_NAME = re.compile(r"customers/\d+/campaignBudgets/(\d+)")


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _get(mapping: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def _action_value(actions: Any, action_type: str, field: str) -> float | None:
    if actions is None:
        return None
    if not isinstance(actions, list):
        raise InvalidRecord(f"non-list {field}")
    total = None
    for action in actions:
        if isinstance(action, Mapping) and action.get("action_type") == action_type:
            value = parse_float(action.get("value"), f"{field}[{action_type}]")
            total = (total or 0.0) + (value or 0.0)
    return total


def flatten_meta_insight(record: Mapping[str, Any]) -> dict[str, Any]:
    ad_id = require_id(record.get("ad_id"), "ad_id")
    try:
        link_clicks = _action_value(record.get("actions"), META_LINK_CLICK, "actions")
        row = {
            "account_id": _text(record.get("account_id")),
            "campaign_id": _text(record.get("campaign_id")),
            "campaign_name": _text(record.get("campaign_name")),
            "adset_id": _text(record.get("adset_id")),
            "adset_name": _text(record.get("adset_name")),
            "ad_id": ad_id,
            "ad_name": _text(record.get("ad_name")),
            "date_start": parse_date(record.get("date_start"), "date_start"),
            "spend": parse_float(record.get("spend"), "spend", non_negative=True),
            "impressions": parse_int(record.get("impressions"), "impressions", non_negative=True),
            "clicks": parse_int(record.get("clicks"), "clicks", non_negative=True),
            "link_clicks": None if link_clicks is None else int(link_clicks),
            "purchases": _action_value(record.get("actions"), META_PURCHASE, "actions"),
            "purchase_value": _action_value(record.get("action_values"), META_PURCHASE, "action_values"),
            "currency": _text(record.get("account_currency")),
        }
    except InvalidRecord as error:
        raise InvalidRecord(error.reason, ad_id) from None
    row["unexpected_fields"] = unexpected_json(unexpected_keys(record, META_INSIGHT_KEYS))
    return row


def conversion_snapshots(rows: list[dict[str, Any]], observed_on: date, fields: tuple[str, ...]) -> Any:
    """The ``ad_conversion_snapshots`` rows of a batch of insight rows (``fields``: the ad, day,
    conversions and value columns), read on ``observed_on``; routed to that table."""
    snapshots = [{**{field: row[field] for field in fields}, "observed_on": observed_on} for row in rows]
    return dlt.mark.with_table_name(snapshots, AD_CONVERSION_SNAPSHOTS)


META_SNAPSHOT_FIELDS = ("ad_id", "date_start", "purchases", "purchase_value")
GOOGLE_SNAPSHOT_FIELDS = ("ad_id", "date", "conversions", "conversions_value")


def flatten_meta_ad(record: Mapping[str, Any]) -> dict[str, Any]:
    """An ad: no budget (Meta keeps budgets on the ad set or the CBO campaign, see the entities)."""
    ad_id = require_id(record.get("id"), "id")
    try:
        return {
            "ad_id": ad_id,
            "ad_name": _text(record.get("name")),
            "adset_id": _text(record.get("adset_id")),
            "campaign_id": _text(record.get("campaign_id")),
            "status": _text(record.get("status")),
            "effective_status": _text(record.get("effective_status")),
            "created_at": parse_timestamp(record.get("created_time"), "created_time"),
            "updated_at": parse_timestamp(record.get("updated_time"), "updated_time"),
        }
    except InvalidRecord as error:
        raise InvalidRecord(error.reason, ad_id) from None


def flatten_meta_adset(record: Mapping[str, Any], account_id: str) -> dict[str, Any]:
    """An ad set; ``daily_budget`` is absent under campaign budget optimisation (the campaign holds it)."""
    adset_id = require_id(record.get("id"), "id")
    try:
        return {
            "account_id": account_id,
            "adset_id": adset_id,
            "adset_name": _text(record.get("name")),
            "campaign_id": _text(record.get("campaign_id")),
            "daily_budget_minor": parse_int(record.get("daily_budget"), "daily_budget", non_negative=True),
            "status": _text(record.get("status")),
        }
    except InvalidRecord as error:
        raise InvalidRecord(error.reason, adset_id) from None


def flatten_meta_campaign(record: Mapping[str, Any], account_id: str) -> dict[str, Any]:
    """A campaign; ``daily_budget`` only under campaign budget optimisation."""
    campaign_id = require_id(record.get("id"), "id")
    try:
        return {
            "account_id": account_id,
            "campaign_id": campaign_id,
            "campaign_name": _text(record.get("name")),
            "daily_budget_minor": parse_int(record.get("daily_budget"), "daily_budget", non_negative=True),
            "status": _text(record.get("status")),
        }
    except InvalidRecord as error:
        raise InvalidRecord(error.reason, campaign_id) from None


def flatten_meta_account(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "account_id": require_id(record.get("account_id"), "account_id"),
        "currency": _text(record.get("currency")),
    }


def flatten_google_campaign_budget(row: Mapping[str, Any], customer_id: str) -> dict[str, Any]:
    budget_id = require_id(_get(row, "campaignBudget", "id"), "campaign budget id")
    try:
        return {
            "customer_id": customer_id,
            "campaign_budget_id": budget_id,
            "campaign_budget_name": _text(_get(row, "campaignBudget", "name")),
            "amount_micros": parse_int(
                _get(row, "campaignBudget", "amountMicros"), "amountMicros", non_negative=True
            ),
            "explicitly_shared": parse_bool(_get(row, "campaignBudget", "explicitlyShared")),
            "reference_count": parse_int(
                _get(row, "campaignBudget", "referenceCount"), "referenceCount", non_negative=True
            ),
            "status": _text(_get(row, "campaignBudget", "status")),
        }
    except InvalidRecord as error:
        raise InvalidRecord(error.reason, budget_id) from None


def flatten_google_campaign(row: Mapping[str, Any], customer_id: str) -> dict[str, Any]:
    """A campaign and the id of its campaign budget (from the budget's resource name)."""
    campaign_id = require_id(_get(row, "campaign", "id"), "campaign id")
    budget_name = _get(row, "campaign", "campaignBudget")
    match = _CAMPAIGN_BUDGET_NAME.fullmatch(str(budget_name)) if budget_name is not None else None
    if budget_name is not None and match is None:
        raise InvalidRecord(f"unparseable campaign.campaignBudget: {str(budget_name)[:60]!r}", campaign_id)
    return {
        "customer_id": customer_id,
        "campaign_id": campaign_id,
        "campaign_name": _text(_get(row, "campaign", "name")),
        "status": _text(_get(row, "campaign", "status")),
        "campaign_budget_id": match.group(1) if match else None,
    }


def google_ad_id(row: Mapping[str, Any]) -> Any:
    return _get(row, "adGroupAd", "ad", "id")


def flatten_google_row(row: Mapping[str, Any], customer_id: str) -> dict[str, Any]:
    ad_id = require_id(google_ad_id(row), "ad id")
    metrics = row.get("metrics") if isinstance(row.get("metrics"), Mapping) else {}
    try:
        cost = parse_float(metrics.get("costMicros"), "spend (costMicros)", non_negative=True)
        return {
            "customer_id": customer_id,
            "campaign_id": _text(_get(row, "campaign", "id")),
            "campaign_name": _text(_get(row, "campaign", "name")),
            "ad_group_id": _text(_get(row, "adGroup", "id")),
            "ad_group_name": _text(_get(row, "adGroup", "name")),
            "ad_id": ad_id,
            "ad_name": _text(_get(row, "adGroupAd", "ad", "name")),
            "ad_status": _text(_get(row, "adGroupAd", "status")),
            "date": parse_date(_get(row, "segments", "date"), "segments.date"),
            "cost_micros": None if cost is None else int(cost),
            "clicks": parse_int(metrics.get("clicks"), "clicks", non_negative=True),
            "impressions": parse_int(metrics.get("impressions"), "impressions", non_negative=True),
            "conversions": parse_float(metrics.get("conversions"), "conversions", non_negative=True),
            "conversions_value": parse_float(
                metrics.get("conversionsValue"), "conversionsValue", non_negative=True
            ),
            "currency": _text(_get(row, "customer", "currencyCode")),
        }
    except InvalidRecord as error:
        raise InvalidRecord(error.reason, ad_id) from None
