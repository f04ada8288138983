"""A small, clean synthetic warehouse following docs/contracts.md (sections 2 and 3).

Every column gets a type-based default expression over the row number `i`; keys, hashes and
enumerations are overridden per table so that every suite passes on the clean data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb

REFERENCE_TIME = datetime(2026, 8, 15, 12, 0, tzinfo=UTC)
REF_TS = "timestamptz '2026-08-15 12:00:00+00'"
REF_DATE = "date '2026-08-15'"

DEFAULTS = {
    "varchar": "'v' || i",
    "timestamptz": f"{REF_TS} - to_hours(i % 24)",
    "date": f"{REF_DATE} - cast(i % 3 as integer)",
    "double": "(i % 10) / 10.0",
    "bigint": "i % 100",
    "boolean": "i % 2 = 0",
}
SHA = "sha256(cast(i as varchar))"
LOAD_ID = "_dlt_load_id varchar = '1700000000.1'"

# table: (row count, "column type = override" lines; a missing override uses DEFAULTS[type])
TABLES: dict[str, tuple[int, list[str]]] = {
    "raw_klaviyo.metrics": (
        7,
        [
            "metric_id varchar = 'm' || i",
            "metric_name varchar",
            "integration_name varchar",
            "created_at timestamptz",
            "updated_at timestamptz",
        ],
    ),
    "raw_klaviyo.events": (
        3000,
        [
            "event_id varchar = 'e' || i",
            "metric_id varchar = 'm' || (i % 7)",
            "profile_id varchar = 'p' || (i % 400)",
            "occurred_at timestamptz",
            "event_uuid varchar",
            "message_id varchar",
            "flow_id varchar",
            "campaign_name varchar",
            "subject varchar",
            "ab_test_phase varchar = case when i % 3 = 0 then 'test' when i % 3 = 1 then 'winner' end",
            "is_machine_open boolean",
            "url varchar",
            "bounce_type varchar = case when i % 2 = 0 then 'hard' else 'soft' end",
            "value double",
            "currency varchar = 'USD'",
            "order_id varchar",
            "item_count bigint",
            "unexpected_fields varchar = '[]'",
            LOAD_ID,
            "_dlt_id varchar",
        ],
    ),
    "raw_klaviyo.profiles": (
        400,
        [
            "profile_id varchar = 'p' || i",
            "email varchar = 'u' || i || '@x.com'",
            "timezone varchar = 'UTC'",
            "consent varchar = case when i % 2 = 0 then 'SUBSCRIBED' else 'UNSUBSCRIBED' end",
            "consent_at timestamptz",
            "holdout_group varchar = case when i % 10 = 0 then 'global_holdout' end",
            "created_at timestamptz",
            "updated_at timestamptz",
            "unexpected_fields varchar = '[]'",
            LOAD_ID,
            "_dlt_id varchar",
        ],
    ),
    "raw_klaviyo.campaigns": (
        20,
        [
            "campaign_id varchar = 'c' || i",
            "campaign_name varchar",
            "status varchar = 'Sent'",
            "send_time timestamptz",
            "ab_test_share double",
            "ab_test_duration_hours double = 4.0",
            "ab_winner_metric varchar = 'open_rate'",
            "ab_winner_message_id varchar",
            "created_at timestamptz",
            "updated_at timestamptz",
            LOAD_ID,
            "_dlt_id varchar",
        ],
    ),
    "raw_klaviyo.campaign_messages": (
        40,
        [
            "message_id varchar = 'cm' || i",
            "campaign_id varchar = 'c' || (i % 20)",
            "variant_label varchar",
            "subject varchar",
            "preview_text varchar",
            "created_at timestamptz",
            "updated_at timestamptz",
        ],
    ),
    "raw_klaviyo.flows": (
        2,
        [
            "flow_id varchar = 'f' || i",
            "flow_name varchar",
            "status varchar = 'live'",
            "trigger_type varchar",
            "created_at timestamptz",
            "updated_at timestamptz",
        ],
    ),
    "raw_klaviyo.flow_actions": (
        6,
        [
            "flow_action_id varchar = 'fa' || i",
            "flow_id varchar = 'f' || (i % 2)",
            "action_type varchar = 'SEND_EMAIL'",
            "step_position bigint = 1 + i // 2",
            "delay_days bigint = i",
            "status varchar = 'live'",
            "created_at timestamptz",
            "updated_at timestamptz",
        ],
    ),
    "raw_klaviyo.flow_messages": (
        8,
        [
            "message_id varchar = 'fm' || i",
            "flow_action_id varchar = 'fa' || (i % 6)",
            "flow_id varchar = 'f' || (i % 2)",
            "message_name varchar",
            "variant_label varchar",
            "subject varchar",
            "created_at timestamptz",
            "updated_at timestamptz",
        ],
    ),
    "raw_hubspot.contacts": (
        300,
        [
            "contact_id varchar = cast(i as varchar)",
            "email varchar = 'u' || i || '@x.com'",
            "lifecycle_stage varchar = 'lead'",
            "analytics_source varchar",
            "created_at timestamptz",
            "updated_at timestamptz",
            "subscriber_at timestamptz",
            "lead_at timestamptz",
            "marketing_qualified_lead_at timestamptz",
            "sales_qualified_lead_at timestamptz",
            "opportunity_at timestamptz",
            "customer_at timestamptz",
            "unexpected_fields varchar = '[]'",
            LOAD_ID,
        ],
    ),
    "raw_hubspot.deals": (
        50,
        [
            "deal_id varchar = cast(i as varchar)",
            "deal_name varchar",
            "pipeline_id varchar = 'default'",
            "deal_stage_id varchar = 'closedwon'",
            "amount double = 100.0 * i",
            "analytics_source varchar",
            "created_at timestamptz",
            "closed_at timestamptz",
            "updated_at timestamptz",
            "unexpected_fields varchar = '[]'",
            LOAD_ID,
        ],
    ),
    "raw_hubspot.deal_stage_entries": (
        100,
        [
            "deal_id varchar = cast(i % 50 as varchar)",
            "stage_id varchar = 's' || (i // 50)",
            "entered_at timestamptz",
        ],
    ),
    "raw_hubspot.deal_contacts": (50, ["deal_id varchar = cast(i as varchar)", "contact_id varchar"]),
    "raw_hubspot.pipeline_stages": (
        5,
        [
            "pipeline_id varchar = 'default'",
            "pipeline_label varchar",
            "stage_id varchar = 's' || i",
            "stage_label varchar",
            "display_order bigint = i",
            "is_closed boolean",
            "probability double = i / 4.0",
        ],
    ),
    "raw_meta_ads.ads": (
        30,
        [
            "ad_id varchar = 'a' || i",
            "ad_name varchar",
            "adset_id varchar",
            "campaign_id varchar",
            "status varchar = 'ACTIVE'",
            "effective_status varchar = 'ACTIVE'",
            "created_at timestamptz",
            "updated_at timestamptz",
        ],
    ),
    "raw_meta_ads.adsets": (
        20,
        [
            "account_id varchar = '1234567890'",
            "adset_id varchar = 's' || i",
            "adset_name varchar",
            "campaign_id varchar = 'c' || (i % 4)",
            "daily_budget_minor bigint = case when i % 4 = 0 then null else 2000 end",
            "status varchar = 'ACTIVE'",
        ],
    ),
    "raw_meta_ads.campaigns": (
        4,
        [
            "account_id varchar = '1234567890'",
            "campaign_id varchar = 'c' || i",
            "campaign_name varchar",
            "daily_budget_minor bigint = case when i = 0 then 5000 end",
            "status varchar = 'ACTIVE'",
        ],
    ),
    "raw_meta_ads.accounts": (1, ["account_id varchar = '1234567890'", "currency varchar = 'USD'"]),
    "raw_meta_ads.ad_insights_daily": (
        600,
        [
            "account_id varchar = '1234567890'",
            "campaign_id varchar",
            "campaign_name varchar",
            "adset_id varchar",
            "adset_name varchar",
            "ad_id varchar = 'a' || (i % 30)",
            "ad_name varchar",
            f"date_start date = {REF_DATE} - cast(i // 30 as integer)",
            "spend double = 10.0 + i % 7",
            "impressions bigint",
            "clicks bigint",
            "link_clicks bigint",
            "purchases double",
            "purchase_value double",
            "currency varchar = 'USD'",
            "unexpected_fields varchar = '[]'",
            LOAD_ID,
        ],
    ),
    "raw_google_ads.ad_group_ad_daily": (
        600,
        [
            "customer_id varchar = '1112223333'",
            "campaign_id varchar",
            "campaign_name varchar",
            "ad_group_id varchar",
            "ad_group_name varchar",
            "ad_id varchar = 'g' || (i % 30)",
            "ad_name varchar",
            "ad_status varchar = 'ENABLED'",
            f"date date = {REF_DATE} - cast(i // 30 as integer)",
            "cost_micros bigint = 1000000 * (i % 9)",
            "clicks bigint",
            "impressions bigint",
            "conversions double",
            "conversions_value double",
            "currency varchar = 'USD'",
            LOAD_ID,
        ],
    ),
    "raw_google_ads.campaign_budgets": (
        3,
        [
            "customer_id varchar = '1112223333'",
            "campaign_budget_id varchar = 'b' || i",
            "campaign_budget_name varchar",
            "amount_micros bigint = 50000000",
            "explicitly_shared boolean = false",
            "reference_count bigint = 1",
            "status varchar = 'ENABLED'",
        ],
    ),
    "raw_google_ads.campaigns": (
        3,
        [
            "customer_id varchar = '1112223333'",
            "campaign_id varchar = 'gc' || i",
            "campaign_name varchar",
            "status varchar = 'ENABLED'",
            "campaign_budget_id varchar = 'b' || i",
        ],
    ),
    "marts.dim_contacts": (
        400,
        [
            f"contact_id varchar = {SHA}",
            f"email_sha256 varchar = {SHA}",
            "klaviyo_profile_id varchar = 'p' || i",
            "hubspot_contact_id varchar",
            "timezone varchar = 'UTC'",
            "email_consent varchar",
            "is_subscribed boolean",
            "holdout_group varchar",
            "is_in_global_holdout boolean",
            "lifecycle_stage varchar = 'subscriber'",
            "created_at timestamptz",
        ],
    ),
    "marts.fct_email_sends": (
        5000,
        [
            "email_send_id varchar = md5(cast(i as varchar))",
            "message_id varchar = 'cm' || (i % 40)",
            "send_type varchar = case when i % 4 = 0 then 'flow' else 'campaign' end",
            "campaign_id varchar",
            "flow_id varchar",
            "flow_action_id varchar",
            "variant_label varchar",
            "ab_test_phase varchar = case when i % 5 = 0 then 'test' end",
            f"contact_id varchar = {SHA}",
            "klaviyo_profile_id varchar",
            "sent_at timestamptz",
            "is_delivered boolean",
            "is_bounced boolean",
            "is_opened boolean",
            "is_machine_open_only boolean",
            "is_human_opened boolean",
            "first_opened_at timestamptz",
            "is_clicked boolean",
            "first_clicked_at timestamptz",
            "is_unsubscribed boolean",
            "is_spam_complaint boolean",
            "is_converted boolean",
            "attributed_order_count bigint = i % 2",
            "attributed_revenue double",
            "first_ordered_at timestamptz",
        ],
    ),
    "marts.fct_email_campaign_variant_daily": (
        200,
        [
            "campaign_id varchar = 'c' || (i % 20)",
            "message_id varchar = 'cm' || (i % 40)",
            "variant_label varchar",
            f"send_date date = {REF_DATE} - cast(i // 40 as integer)",
            *[
                f"{c} bigint"
                for c in ("recipients", "delivered", "opens", "human_opens", "clicks", "conversions")
            ],
            "revenue double",
            *[f"{c} bigint" for c in ("unsubscribes", "bounces", "spam_complaints")],
            *[
                f"{c} double"
                for c in (
                    "open_rate",
                    "human_open_rate",
                    "click_rate",
                    "conversion_rate",
                    "unsubscribe_rate",
                    "bounce_rate",
                    "spam_rate",
                )
            ],
        ],
    ),
    "marts.fct_flow_step_funnel": (
        8,
        [
            "flow_id varchar = 'f' || (i % 2)",
            "flow_name varchar",
            "flow_action_id varchar = 'fa' || (i % 6)",
            "step_position bigint = 1 + i % 3",
            "message_id varchar = 'fm' || i",
            "variant_label varchar",
            *[
                f"{c} bigint"
                for c in ("recipients", "delivered", "opens", "human_opens", "clicks", "conversions")
            ],
            "revenue double",
            "step_retention_rate double",
            "conversion_rate double",
        ],
    ),
    "marts.fct_ad_performance_daily": (
        1200,
        [
            "platform varchar = case when i % 2 = 0 then 'meta_ads' else 'google_ads' end",
            "account_id varchar",
            "campaign_id varchar",
            "campaign_name varchar",
            "ad_group_id varchar",
            "ad_group_name varchar",
            "ad_id varchar = 'a' || (i % 60)",
            "ad_name varchar",
            f"date_day date = {REF_DATE} - cast(i // 60 as integer)",
            "currency varchar = 'USD'",
            "spend double = 5.0 + i % 11",
            "impressions bigint",
            "clicks bigint",
            "conversions double",
            "conversions_value double",
            "ctr double",
            "cpc double",
            "roas double",
            "cpa double",
        ],
    ),
    "marts.dim_budget_entities": (
        20,
        [
            "platform varchar = case when i < 16 then 'meta_ads' else 'google_ads' end",
            "budget_entity_type varchar = case when i < 15 then 'adset' when i = 15 then 'campaign' "
            "else 'campaign_budget' end",
            "budget_entity_id varchar = 'e' || i",
            "budget_entity_name varchar",
            "daily_budget double = 20.0 + i",
            "currency varchar = 'USD'",
            "explicitly_shared boolean = false",
            "status varchar = 'ACTIVE'",
        ],
    ),
    "marts.fct_crm_funnel": (
        300,
        [
            "contact_id varchar = sha256(cast(i % 100 as varchar))",
            "hubspot_contact_id varchar",
            "from_stage varchar = case when i // 100 = 0 then null when i // 100 = 1 "
            "then 'subscriber' else 'lead' end",
            "to_stage varchar = case when i // 100 = 0 then 'subscriber' when i // 100 = 1 "
            "then 'lead' else 'marketingqualifiedlead' end",
            "stage_order bigint = i // 100",
            "transitioned_at timestamptz",
            "days_in_previous_stage double",
            "analytics_source varchar",
        ],
    ),
    "marts.fct_deals": (
        50,
        [
            "deal_id varchar = cast(i as varchar)",
            f"contact_id varchar = {SHA}",
            "hubspot_contact_id varchar",
            "pipeline_id varchar = 'default'",
            "deal_stage_id varchar = 'closedwon'",
            "outcome varchar = case i % 3 when 0 then 'won' when 1 then 'lost' else 'open' end",
            "amount double = 10.0 * i",
            "won_revenue double",
            "created_at timestamptz",
            "closed_at timestamptz",
            "days_to_close double",
            "analytics_source varchar",
        ],
    ),
    "marts.fct_experiment_exposures": (
        1000,
        [
            "experiment_id varchar = 'exp' || (i % 4)",
            "experiment_type varchar = case i % 4 when 0 then 'global_holdout' when 1 then 'flow_split' else 'campaign_ab' end",
            "variant varchar = case when i % 8 < 4 then 'A' else 'B' end",
            "is_control boolean = i % 8 < 4",
            f"unit_id varchar = {SHA}",
            "exposed_at timestamptz",
            "arm_count bigint = 1",
            *[
                f"{c} boolean"
                for c in ("is_delivered", "is_opened", "is_human_opened", "is_clicked", "is_converted")
            ],
            "revenue double",
            *[
                f"{c} boolean"
                for c in ("is_unsubscribed", "is_spam_complaint", "is_bounced", "became_mql", "deal_created")
            ],
            "won_revenue double",
        ],
    ),
}


def _parse(line: str) -> tuple[str, str, str]:
    declaration, _, override = line.partition("=")
    name, column_type = declaration.split()
    expression = override.strip() or DEFAULTS[column_type]
    return name, column_type, expression


def create_table(con: duckdb.DuckDBPyConnection, table: str, rows: int | None = None) -> None:
    default_rows, lines = TABLES[table]
    schema = table.split(".")[0]
    con.execute(f"create schema if not exists {schema}")
    selects = [f"cast({expr} as {ctype}) as {name}" for name, ctype, expr in map(_parse, lines)]
    con.execute(
        f"create or replace table {table} as select {', '.join(selects)} "
        f"from range({rows if rows is not None else default_rows}) as r(i)"
    )


def build_warehouse(path: Path) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("set TimeZone = 'UTC'")
        for table in TABLES:
            create_table(con, table)
    return path
