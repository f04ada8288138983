"""Required vendor fields per record type: schema drift is a contract, not a surprise.

A vendor that stops sending a field must not silently turn stored values into NULLs (every
resource is a ``merge``: the row a record produces replaces the stored row whole). So each
record type declares the fields its vendor always sends; a record without one of them is
quarantined with the reason ``missing required field <path>`` instead of being loaded.

*Absent* and *null* are different things. A key that is present with a null value is data
(HubSpot sends every requested property, null when unset: ``closedate`` before a deal closes,
``hs_lifecyclestage_*_date`` for stages not reached, ``email`` for a contact without one;
Klaviyo sends ``email: null`` for a profile without one): those records load as before. Only a
missing key means the vendor stopped sending the field. Fields a vendor legitimately omits
(Meta ``actions`` / ``action_values`` without actions, ``daily_budget`` on an ad set or campaign
that holds no budget, Klaviyo ``$flow`` on campaign messages,
``$ab_test_phase`` outside A/B tests, flow-message ``label`` outside split steps) are not
required.

Paths are dotted, relative to one vendor record as served (``attributes.event_properties.$message``).
Keys are ``(source, resource)`` with the dlt resource (= raw table) names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ingestion.validation import JSON_OBJECT, InvalidRecord, missing_fields, missing_reason

_KLAVIYO_EVENT = (
    "id",
    "attributes.datetime",
    "attributes.event_properties",
    "relationships.profile.data.id",
    "relationships.metric.data.id",
)

REQUIRED_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    # --- Klaviyo (JSON:API records) ---
    ("klaviyo", "metrics"): ("id", "attributes.name"),
    ("klaviyo", "events"): _KLAVIYO_EVENT,
    ("klaviyo", "profiles"): (
        "id",
        "attributes.email",
        "attributes.created",
        "attributes.updated",
        "attributes.subscriptions.email.marketing.consent",
    ),
    ("klaviyo", "campaigns"): ("id", "attributes.name", "attributes.status"),
    ("klaviyo", "campaign_messages"): ("id", "attributes.label", "attributes.content.subject"),
    ("klaviyo", "flows"): ("id", "attributes.name", "attributes.status"),
    ("klaviyo", "flow_actions"): ("id", "attributes.action_type", "attributes.settings.step"),
    ("klaviyo", "flow_messages"): ("id", "attributes.content.subject"),
    # --- HubSpot (CRM v3 objects: requested properties come back, null when unset) ---
    ("hubspot", "contacts"): (
        "id",
        "properties.email",
        "properties.lifecyclestage",
        "properties.createdate",
        "properties.lastmodifieddate",
        *(
            f"properties.hs_lifecyclestage_{stage}_date"
            for stage in (
                "subscriber",
                "lead",
                "marketingqualifiedlead",
                "salesqualifiedlead",
                "opportunity",
                "customer",
            )
        ),
    ),
    ("hubspot", "deals"): (
        "id",
        "properties.amount",
        "properties.dealstage",
        "properties.pipeline",
        "properties.createdate",
        "properties.closedate",
        "properties.hs_lastmodifieddate",
    ),
    # --- Meta Marketing API insights / ads ---
    ("meta_ads", "ad_insights_daily"): (
        "account_id",
        "campaign_id",
        "adset_id",
        "ad_id",
        "date_start",
        "spend",
        "impressions",
        "clicks",
        "account_currency",
    ),
    ("meta_ads", "ads"): ("id", "adset_id", "campaign_id", "status", "effective_status"),
    # budget entities: daily_budget is absent where the entity holds no budget (an ad set under
    # campaign budget optimisation, a campaign whose ad sets hold the budgets), so not required
    ("meta_ads", "adsets"): ("id", "name", "campaign_id", "status"),
    ("meta_ads", "campaigns"): ("id", "name", "status"),
    ("meta_ads", "accounts"): ("account_id", "currency"),
    # --- Google Ads searchStream rows (fields selected by the query) ---
    ("google_ads", "ad_group_ad_daily"): (
        "campaign.id",
        "adGroup.id",
        "adGroupAd.ad.id",
        "adGroupAd.status",
        "segments.date",
        "metrics.costMicros",
        "metrics.clicks",
        "metrics.impressions",
        "metrics.conversions",
        "metrics.conversionsValue",
        "customer.currencyCode",
    ),
    ("google_ads", "campaign_budgets"): (
        "campaignBudget.id",
        "campaignBudget.name",
        "campaignBudget.amountMicros",
        "campaignBudget.explicitlyShared",
        "campaignBudget.status",
    ),
    ("google_ads", "campaigns"): ("campaign.id", "campaign.name", "campaign.campaignBudget"),
}

# Klaviyo events: fields required by the event's metric (what the marts join and count on).
KLAVIYO_EMAIL_METRICS = (
    "Received Email",
    "Opened Email",
    "Clicked Email",
    "Bounced Email",
    "Marked Email as Spam",
    "Unsubscribed",
)
KLAVIYO_EVENT_FIELDS_BY_METRIC: dict[str, tuple[str, ...]] = {
    **{name: ("attributes.event_properties.$message",) for name in KLAVIYO_EMAIL_METRICS},
    "Placed Order": ("attributes.event_properties.$value",),
}


def check_required(
    record: Mapping[str, Any],
    source: str,
    resource: str,
    record_id: Any = None,
    *,
    extra: Iterable[str] = (),
) -> None:
    """Raise :class:`InvalidRecord` naming every required field ``record`` lacks."""
    missing = missing_fields(record, (*REQUIRED_FIELDS[(source, resource)], *extra))
    if missing:
        rid = None if record_id in (None, "") else str(record_id)
        raise InvalidRecord(missing_reason(missing), rid)


def required(source: str, resource: str) -> tuple[str, ...]:
    return REQUIRED_FIELDS[(source, resource)]


def klaviyo_event_required_properties(metric_names: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """The event properties each metric id requires (``$message`` on email events), for the fast path."""
    prefix = "attributes.event_properties."
    return {
        metric_id: tuple(path.removeprefix(prefix) for path in KLAVIYO_EVENT_FIELDS_BY_METRIC.get(name, ()))
        for metric_id, name in metric_names.items()
    }


def klaviyo_event_required(metric_names: Mapping[str, str]) -> Callable[[Mapping[str, Any]], tuple[str, ...]]:
    """Required paths of one Klaviyo event: the common ones plus those of its metric (by name)."""
    common = REQUIRED_FIELDS[("klaviyo", "events")]

    def paths(record: Mapping[str, Any]) -> tuple[str, ...]:
        metric = record.get("relationships", {}).get("metric", {}) if isinstance(record, JSON_OBJECT) else {}
        metric_id = (metric.get("data") or {}).get("id") if isinstance(metric, JSON_OBJECT) else None
        name = metric_names.get(str(metric_id), "")
        return (*common, *KLAVIYO_EVENT_FIELDS_BY_METRIC.get(name, ()))

    return paths
