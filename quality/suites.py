"""One suite per warehouse table (docs/contracts.md sections 2 and 3), declared as data.

Each column rule is written once:
- Raw tables (loaded by dlt; dbt does not test them) keep their whole suite here: keys,
  not-nulls, ranges, vendor enumerations, patterns, freshness, row-count change.
- Marts (built by dbt): keys (unique, not null), not-nulls and accepted values live in the dbt
  YAML (`dbt_project/models/marts/**/_*__models.yml`), run by `dbt build` as blocking Dagster
  asset checks. The mart suites here keep only what dbt does not express: hash and currency
  patterns, value ranges (non-negative, rates in [0, 1]), freshness and row-count change.
- An enumeration that dbt also tests is a dbt project var (`dbt_project.yml`), referenced here
  as `DbtVar(...)` and read when the suite runs.

Severity policy:
- ERROR (blocks downstream): keys (not null, unique), values the pipeline itself guarantees
  (non-negative money and counts, rates in [0, 1], hashed identifiers), a row count that
  fell by more than half since the last good run, and (raw tables) more than 5% of a load's
  records quarantined (`quarantine_share`).
- WARN (reported only): vendor-defined enumerations in raw tables (a vendor may add a value;
  that should not stop the pipeline), freshness, row-count growth, soft business rules.
"""

from __future__ import annotations

from quality.checks import (
    CURRENCY_CODE,
    MD5_HEX,
    SHA256_HEX,
    WARN,
    Check,
    TableSuite,
    between,
    freshness,
    in_set,
    non_negative,
    not_null,
    primary_key,
    quarantine_share,
    rates,
    regex,
    row_count_change,
)
from quality.dbt_vars import DbtVar

# Shared with dbt accepted_values tests: the lists live in dbt_project.yml `vars:`.
KLAVIYO_CONSENT = DbtVar("klaviyo_consent")
HOLDOUT_GROUPS = DbtVar("holdout_groups")
LIFECYCLE_STAGES = DbtVar("funnel_stages", "non_funnel_lifecycle_stages")
AB_TEST_PHASES = DbtVar("ab_test_phases")
# Raw-only enumerations (no dbt model tests these columns).
DEAL_STAGES = ("appointmentscheduled", "qualifiedtobuy", "contractsent", "closedwon", "closedlost")


def _suite(table: str, *groups: Check | list[Check]) -> TableSuite:
    checks: list[Check] = []
    for group in groups:
        checks.extend(group if isinstance(group, list) else [group])
    return TableSuite(table, tuple(checks))


RAW_SUITES: tuple[TableSuite, ...] = (
    # --- Klaviyo ------------------------------------------------------------------------------
    _suite("raw_klaviyo.metrics", primary_key("metric_id"), not_null("metric_name")),
    _suite(
        "raw_klaviyo.events",
        primary_key("event_id"),
        not_null("metric_id", "profile_id", "occurred_at"),
        non_negative("value", "item_count"),
        in_set("ab_test_phase", AB_TEST_PHASES, severity=WARN),
        in_set("bounce_type", ("hard", "soft"), severity=WARN),
        regex("currency", CURRENCY_CODE, severity=WARN),
        freshness("occurred_at", max_age_hours=48),
        row_count_change(),
    ),
    _suite(
        "raw_klaviyo.profiles",
        primary_key("profile_id"),
        in_set("consent", KLAVIYO_CONSENT, severity=WARN),
        in_set("holdout_group", HOLDOUT_GROUPS, severity=WARN),
        freshness("updated_at", max_age_hours=7 * 24),
        row_count_change(),
    ),
    _suite(
        "raw_klaviyo.campaigns",
        primary_key("campaign_id"),
        rates("ab_test_share"),
        non_negative("ab_test_duration_hours"),
        in_set("status", ("Sent", "Scheduled"), severity=WARN),
        in_set("ab_winner_metric", ("open_rate",), severity=WARN),
        freshness("updated_at", max_age_hours=14 * 24),
        row_count_change(),
    ),
    _suite("raw_klaviyo.campaign_messages", primary_key("message_id"), not_null("campaign_id")),
    _suite("raw_klaviyo.flows", primary_key("flow_id")),
    _suite(
        "raw_klaviyo.flow_actions",
        primary_key("flow_action_id"),
        not_null("flow_id"),
        between("step_position", 1),
        non_negative("delay_days"),
        in_set("action_type", ("SEND_EMAIL",), severity=WARN),
    ),
    _suite("raw_klaviyo.flow_messages", primary_key("message_id"), not_null("flow_action_id", "flow_id")),
    # --- HubSpot ------------------------------------------------------------------------------
    _suite(
        "raw_hubspot.contacts",
        primary_key("contact_id"),
        in_set("lifecycle_stage", LIFECYCLE_STAGES, severity=WARN),
        freshness("updated_at", max_age_hours=72),
        row_count_change(),
    ),
    _suite(
        "raw_hubspot.deals",
        primary_key("deal_id"),
        non_negative("amount"),
        in_set("deal_stage_id", DEAL_STAGES, severity=WARN),
        freshness("updated_at", max_age_hours=7 * 24),
        row_count_change(),
    ),
    _suite("raw_hubspot.deal_stage_entries", primary_key("deal_id", "stage_id"), not_null("entered_at")),
    _suite("raw_hubspot.deal_contacts", primary_key("deal_id", "contact_id")),
    _suite(
        "raw_hubspot.pipeline_stages",
        primary_key("pipeline_id", "stage_id"),
        rates("probability"),
        between("display_order", 0),
    ),
    # --- Meta and Google Ads ------------------------------------------------------------------
    _suite("raw_meta_ads.ads", primary_key("ad_id")),  # no budget on an ad: the ad set or campaign holds it
    _suite("raw_meta_ads.adsets", primary_key("adset_id"), non_negative("daily_budget_minor")),
    _suite("raw_meta_ads.campaigns", primary_key("campaign_id"), non_negative("daily_budget_minor")),
    _suite(
        "raw_meta_ads.accounts", primary_key("account_id"), regex("currency", CURRENCY_CODE, severity=WARN)
    ),
    _suite(
        "raw_meta_ads.ad_insights_daily",
        primary_key("ad_id", "date_start"),
        non_negative("spend", "impressions", "clicks", "link_clicks", "purchases", "purchase_value"),
        regex("currency", CURRENCY_CODE, severity=WARN),
        freshness("date_start", max_age_hours=72),
        row_count_change(),
    ),
    _suite(
        "raw_google_ads.ad_group_ad_daily",
        primary_key("ad_id", "date"),
        non_negative("cost_micros", "clicks", "impressions", "conversions", "conversions_value"),
        in_set("ad_status", ("ENABLED", "PAUSED", "REMOVED"), severity=WARN),
        regex("currency", CURRENCY_CODE, severity=WARN),
        freshness("date", max_age_hours=72),
        row_count_change(),
    ),
    _suite(
        "raw_google_ads.campaign_budgets",
        primary_key("campaign_budget_id"),
        non_negative("amount_micros", "reference_count"),
    ),
    _suite("raw_google_ads.campaigns", primary_key("campaign_id"), not_null("campaign_budget_id")),
)

# Every raw table also gates on the share of its resource's records quarantined in the latest load
# (ERROR above `QUARANTINE_MAX_SHARE`, 5%): a vendor that stops sending a required field makes its
# records go to quarantine instead of overwriting good rows with NULLs, and this stops the run.
RAW_SUITES = tuple(TableSuite(suite.table, (*suite.checks, quarantine_share())) for suite in RAW_SUITES)

_EMAIL_COUNTS = ("recipients", "delivered", "opens", "human_opens", "clicks", "conversions", "revenue")

MART_SUITES: tuple[TableSuite, ...] = (
    _suite(
        "marts.dim_contacts",
        regex("contact_id", SHA256_HEX),
        regex("email_sha256", SHA256_HEX),
        row_count_change(),
    ),
    _suite(
        "marts.fct_email_sends",
        regex("email_send_id", MD5_HEX),
        regex("contact_id", SHA256_HEX),
        non_negative("attributed_order_count", "attributed_revenue"),
        freshness("sent_at", max_age_hours=48),
        row_count_change(),
    ),
    _suite(
        "marts.fct_email_campaign_variant_daily",
        non_negative(*_EMAIL_COUNTS, "unsubscribes", "bounces", "spam_complaints"),
        rates(
            "open_rate",
            "human_open_rate",
            "click_rate",
            "conversion_rate",
            "unsubscribe_rate",
            "bounce_rate",
            "spam_rate",
        ),
        freshness("send_date", max_age_hours=8 * 24),
        row_count_change(),
    ),
    _suite(
        "marts.fct_flow_step_funnel",
        between("step_position", 1),
        non_negative(*_EMAIL_COUNTS),
        rates("step_retention_rate", "conversion_rate"),
    ),
    _suite(
        "marts.fct_ad_performance_daily",
        non_negative(
            "spend", "impressions", "clicks", "conversions", "conversions_value", "cpc", "roas", "cpa"
        ),
        rates("ctr"),
        regex("currency", CURRENCY_CODE, severity=WARN),
        freshness("date_day", max_age_hours=72),
        row_count_change(),
    ),
    _suite(
        "marts.dim_budget_entities",
        non_negative("daily_budget"),
        regex("currency", CURRENCY_CODE, severity=WARN),
    ),
    _suite(
        "marts.fct_crm_funnel",
        regex("contact_id", SHA256_HEX),
        between("stage_order", 0),
        non_negative("days_in_previous_stage", severity=WARN),
        freshness("transitioned_at", max_age_hours=7 * 24),
        row_count_change(),
    ),
    _suite(
        "marts.fct_deals",
        non_negative("amount", "won_revenue"),
        non_negative("days_to_close", severity=WARN),
        row_count_change(),
    ),
    _suite(
        "marts.fct_experiment_exposures",
        regex("unit_id", SHA256_HEX),
        between("arm_count", 1),
        non_negative("revenue", "won_revenue"),
        freshness("exposed_at", max_age_hours=8 * 24),
        row_count_change(),
    ),
)

SUITES: dict[str, TableSuite] = {suite.table: suite for suite in (*RAW_SUITES, *MART_SUITES)}
