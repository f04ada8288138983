"""Hand-crafted raw tables (docs/contracts.md section 2) for the dbt project tests.

The story, with the numbers the tests expect:

- Alice has two Klaviyo profiles (" Alice@Example.com " and "alice@example.com") and one HubSpot
  contact ("alice@EXAMPLE.com  "): one person. Her first profile gets campaign c1 Variant A and
  opens it as a human; the second gets Variant B and only machine-opens it, so Alice is in both
  arms of the c1 A/B test (contamination). She orders 100.00 two days after the human open
  (inside the 5-day window): credited to her Variant A send.
- Bob gets Variant A and clicks; his 40.00 order comes 7 days later (outside the window).
  He also unsubscribes from campaign c2 and marks it as spam. He has two HubSpot contacts;
  the more recently updated one represents him.
- Carol is in the global holdout, gets no email and orders 60.00.
- Dave's Variant A send bounces (received, then bounced: not delivered).
- Erin only exists in HubSpot. Frank's Klaviyo email is unusable ("not-an-email").
- Flow f1: step 1 (fm1) to Alice, Bob, Dave; step 2 is a split: fm2a to Bob, fm2b to Dave.
- Ads: one Meta ad with a zero day and an older duplicate load; one Google ad in micros.
"""

from __future__ import annotations

import json

import duckdb

LOAD_OLD = "1767225600.000001"
LOAD = "1772323200.000001"

TABLES: dict[str, dict[str, str]] = {
    "raw_klaviyo.metrics": {
        "metric_id": "varchar",
        "metric_name": "varchar",
        "integration_name": "varchar",
        "created_at": "timestamptz",
        "updated_at": "timestamptz",
    },
    "raw_klaviyo.events": {
        "event_id": "varchar",
        "metric_id": "varchar",
        "profile_id": "varchar",
        "occurred_at": "timestamptz",
        "event_uuid": "varchar",
        "message_id": "varchar",
        "flow_id": "varchar",
        "campaign_name": "varchar",
        "subject": "varchar",
        "ab_test_phase": "varchar",
        "is_machine_open": "boolean",
        "url": "varchar",
        "bounce_type": "varchar",
        "value": "double",
        "currency": "varchar",
        "order_id": "varchar",
        "item_count": "bigint",
        "unexpected_fields": "varchar",
    },
    "raw_klaviyo.profiles": {
        "profile_id": "varchar",
        "email": "varchar",
        "timezone": "varchar",
        "consent": "varchar",
        "consent_at": "timestamptz",
        "holdout_group": "varchar",
        "created_at": "timestamptz",
        "updated_at": "timestamptz",
        "unexpected_fields": "varchar",
    },
    "raw_klaviyo.campaigns": {
        "campaign_id": "varchar",
        "campaign_name": "varchar",
        "status": "varchar",
        "send_time": "timestamptz",
        "ab_test_share": "double",
        "ab_test_duration_hours": "double",
        "ab_winner_metric": "varchar",
        "ab_winner_message_id": "varchar",
        "created_at": "timestamptz",
        "updated_at": "timestamptz",
    },
    "raw_klaviyo.campaign_messages": {
        "message_id": "varchar",
        "campaign_id": "varchar",
        "variant_label": "varchar",
        "subject": "varchar",
        "preview_text": "varchar",
        "created_at": "timestamptz",
        "updated_at": "timestamptz",
    },
    "raw_klaviyo.flows": {
        "flow_id": "varchar",
        "flow_name": "varchar",
        "status": "varchar",
        "trigger_type": "varchar",
        "created_at": "timestamptz",
        "updated_at": "timestamptz",
    },
    "raw_klaviyo.flow_actions": {
        "flow_action_id": "varchar",
        "flow_id": "varchar",
        "action_type": "varchar",
        "step_position": "bigint",
        "delay_days": "bigint",
        "status": "varchar",
        "created_at": "timestamptz",
        "updated_at": "timestamptz",
    },
    "raw_klaviyo.flow_messages": {
        "message_id": "varchar",
        "flow_action_id": "varchar",
        "flow_id": "varchar",
        "message_name": "varchar",
        "variant_label": "varchar",
        "subject": "varchar",
        "created_at": "timestamptz",
        "updated_at": "timestamptz",
    },
    "raw_hubspot.contacts": {
        "contact_id": "varchar",
        "email": "varchar",
        "lifecycle_stage": "varchar",
        "analytics_source": "varchar",
        "created_at": "timestamptz",
        "updated_at": "timestamptz",
        "subscriber_at": "timestamptz",
        "lead_at": "timestamptz",
        "marketing_qualified_lead_at": "timestamptz",
        "sales_qualified_lead_at": "timestamptz",
        "opportunity_at": "timestamptz",
        "customer_at": "timestamptz",
        "unexpected_fields": "varchar",
    },
    "raw_hubspot.deals": {
        "deal_id": "varchar",
        "deal_name": "varchar",
        "pipeline_id": "varchar",
        "deal_stage_id": "varchar",
        "amount": "double",
        "analytics_source": "varchar",
        "created_at": "timestamptz",
        "closed_at": "timestamptz",
        "updated_at": "timestamptz",
        "unexpected_fields": "varchar",
    },
    "raw_hubspot.deal_stage_entries": {
        "deal_id": "varchar",
        "stage_id": "varchar",
        "entered_at": "timestamptz",
    },
    "raw_hubspot.deal_contacts": {"deal_id": "varchar", "contact_id": "varchar"},
    "raw_hubspot.pipeline_stages": {
        "pipeline_id": "varchar",
        "pipeline_label": "varchar",
        "stage_id": "varchar",
        "stage_label": "varchar",
        "display_order": "bigint",
        "is_closed": "boolean",
        "probability": "double",
    },
    "raw_meta_ads.ads": {
        "ad_id": "varchar",
        "ad_name": "varchar",
        "adset_id": "varchar",
        "campaign_id": "varchar",
        "status": "varchar",
        "effective_status": "varchar",
        "created_at": "timestamptz",
        "updated_at": "timestamptz",
    },
    "raw_meta_ads.ad_insights_daily": {
        "account_id": "varchar",
        "campaign_id": "varchar",
        "campaign_name": "varchar",
        "adset_id": "varchar",
        "adset_name": "varchar",
        "ad_id": "varchar",
        "ad_name": "varchar",
        "date_start": "date",
        "spend": "double",
        "impressions": "bigint",
        "clicks": "bigint",
        "link_clicks": "bigint",
        "purchases": "double",
        "purchase_value": "double",
        "currency": "varchar",
        "unexpected_fields": "varchar",
    },
    # Conversions as read on each observation day (a table variant of the insights resource).
    "raw_meta_ads.ad_conversion_snapshots": {
        "ad_id": "varchar",
        "date_start": "date",
        "observed_on": "date",
        "purchases": "double",
        "purchase_value": "double",
    },
    "raw_google_ads.ad_conversion_snapshots": {
        "ad_id": "varchar",
        "date": "date",
        "observed_on": "date",
        "conversions": "double",
        "conversions_value": "double",
    },
    # Rejected records; dlt creates it with the first one (raw_meta_ads has none here).
    "raw_google_ads.quarantine": {
        "quarantine_id": "varchar",
        "resource": "varchar",
        "record_id": "varchar",
        "reason": "varchar",
        "payload": "varchar",
        "quarantined_at": "timestamptz",
    },
    "raw_google_ads.ad_group_ad_daily": {
        "customer_id": "varchar",
        "campaign_id": "varchar",
        "campaign_name": "varchar",
        "ad_group_id": "varchar",
        "ad_group_name": "varchar",
        "ad_id": "varchar",
        "ad_name": "varchar",
        "ad_status": "varchar",
        "date": "date",
        "cost_micros": "bigint",
        "clicks": "bigint",
        "impressions": "bigint",
        "conversions": "double",
        "conversions_value": "double",
        "currency": "varchar",
    },
}

T0 = "2026-01-01 00:00:00+00"


def _events() -> list[dict]:
    rows: list[dict] = []

    def add(event_id, metric_id, profile_id, occurred_at, message_id=None, **extra):
        rows.append(
            {
                "event_id": event_id,
                "metric_id": metric_id,
                "profile_id": profile_id,
                "occurred_at": occurred_at,
                "message_id": message_id,
                **extra,
            }
        )

    test = {"ab_test_phase": "test", "campaign_name": "Spring launch"}
    # campaign c1, A/B test phase
    add("e01", "m_recv", "kp1", "2026-03-02 10:00:00+00", "cm_a", **test)
    add("e02", "m_open", "kp1", "2026-03-02 11:00:00+00", "cm_a", is_machine_open=False, **test)
    add("e03", "m_recv", "kp2", "2026-03-02 10:00:00+00", "cm_b", **test)
    add("e04", "m_open", "kp2", "2026-03-02 10:01:00+00", "cm_b", is_machine_open=True, **test)
    add("e05", "m_recv", "kp3", "2026-03-02 10:00:00+00", "cm_a", **test)
    add("e06", "m_click", "kp3", "2026-03-02 12:00:00+00", "cm_a", url="https://shop.example/x", **test)
    add("e07", "m_recv", "kp5", "2026-03-02 10:00:00+00", "cm_b", **test)
    add("e08", "m_bounce", "kp5", "2026-03-02 10:00:05+00", "cm_b", bounce_type="hard", **test)
    # campaign c2, no test
    add("e09", "m_recv", "kp3", "2026-03-03 09:00:00+00", "cm_c")
    add("e10", "m_unsub", "kp3", "2026-03-03 09:30:00+00", "cm_c")
    add("e11", "m_spam", "kp3", "2026-03-03 09:31:00+00", "cm_c")
    add("e12", "m_recv", "kp6", "2026-03-03 09:00:00+00", "cm_c")
    # flow f1
    for event_id, profile_id in (("e13", "kp3"), ("e14", "kp5"), ("e15", "kp1")):
        add(event_id, "m_recv", profile_id, "2026-03-01 08:00:00+00", "fm1", flow_id="f1")
    add("e16", "m_recv", "kp3", "2026-03-03 08:00:00+00", "fm2a", flow_id="f1")
    add("e17", "m_open", "kp3", "2026-03-03 09:00:00+00", "fm2a", flow_id="f1", is_machine_open=False)
    add("e18", "m_recv", "kp5", "2026-03-03 08:00:00+00", "fm2b", flow_id="f1")
    # orders: Alice's at 12:00+02 is 10:00 UTC, two days after her human open
    order = {"currency": "USD", "item_count": 1}
    add("e19", "m_order", "kp1", "2026-03-04 12:00:00+02", value=100.0, order_id="o1", **order)
    add("e20", "m_order", "kp3", "2026-03-09 12:00:00+00", value=40.0, order_id="o2", **order)
    add("e21", "m_order", "kp4", "2026-03-05 12:00:00+00", value=60.0, order_id="o3", **order)
    return rows


ROWS: dict[str, list[dict]] = {
    "raw_klaviyo.metrics": [
        {
            "metric_id": metric_id,
            "metric_name": name,
            "integration_name": "Klaviyo",
            "created_at": T0,
            "updated_at": T0,
        }
        for metric_id, name in (
            ("m_recv", "Received Email"),
            ("m_open", "Opened Email"),
            ("m_click", "Clicked Email"),
            ("m_bounce", "Bounced Email"),
            ("m_spam", "Marked Email as Spam"),
            ("m_unsub", "Unsubscribed"),
            ("m_order", "Placed Order"),
        )
    ],
    "raw_klaviyo.events": _events(),
    "raw_klaviyo.profiles": [
        {
            "profile_id": "kp1",
            "email": " Alice@Example.com ",
            "timezone": "Europe/Berlin",
            "consent": "SUBSCRIBED",
            "created_at": "2026-01-01 00:00:00+00",
            "updated_at": "2026-02-01 00:00:00+00",
        },
        {
            "profile_id": "kp2",
            "email": "alice@example.com",
            "timezone": "America/New_York",
            "consent": "SUBSCRIBED",
            "created_at": "2026-02-01 00:00:00+00",
            "updated_at": "2026-02-15 00:00:00+00",
        },
        {
            "profile_id": "kp3",
            "email": "bob@example.com",
            "timezone": "Europe/London",
            "consent": "UNSUBSCRIBED",
            "created_at": "2026-01-05 00:00:00+00",
            "updated_at": "2026-03-03 09:30:00+00",
        },
        {
            "profile_id": "kp4",
            "email": "CAROL@example.com",
            "timezone": "Europe/Paris",
            "consent": "SUBSCRIBED",
            "holdout_group": "global_holdout",
            "created_at": "2026-01-15 00:00:00+00",
            "updated_at": "2026-01-15 00:00:00+00",
        },
        {
            "profile_id": "kp5",
            "email": "dave@example.com",
            "timezone": "UTC",
            "consent": "NEVER_SUBSCRIBED",
            "created_at": "2026-01-20 00:00:00+00",
            "updated_at": "2026-01-20 00:00:00+00",
        },
        {
            "profile_id": "kp6",
            "email": "not-an-email",
            "timezone": "UTC",
            "consent": "SUBSCRIBED",
            "created_at": "2026-01-20 00:00:00+00",
            "updated_at": "2026-01-20 00:00:00+00",
        },
    ],
    "raw_klaviyo.campaigns": [
        {
            "campaign_id": "c1",
            "campaign_name": "Spring launch",
            "status": "Sent",
            "send_time": "2026-03-02 10:00:00+00",
            "ab_test_share": 0.2,
            "ab_test_duration_hours": 4.0,
            "ab_winner_metric": "open_rate",
            "created_at": T0,
            "updated_at": T0,
        },
        {
            "campaign_id": "c2",
            "campaign_name": "Newsletter",
            "status": "Sent",
            "send_time": "2026-03-03 09:00:00+00",
            "created_at": T0,
            "updated_at": T0,
        },
    ],
    "raw_klaviyo.campaign_messages": [
        {
            "message_id": "cm_a",
            "campaign_id": "c1",
            "variant_label": "Variant A",
            "subject": "Hi",
            "preview_text": "how to | Build your first dashboard",
            "created_at": T0,
            "updated_at": T0,
        },
        {
            "message_id": "cm_b",
            "campaign_id": "c1",
            "variant_label": "Variant B",
            "subject": "Hey",
            "preview_text": "how to | Build your first dashboard",
            "created_at": T0,
            "updated_at": T0,
        },
        {
            "message_id": "cm_c",
            "campaign_id": "c2",
            "variant_label": "Variant A",
            "subject": "News",
            "preview_text": "promo | 20% off annual plans",
            "created_at": T0,
            "updated_at": T0,
        },
    ],
    "raw_klaviyo.flows": [
        {
            "flow_id": "f1",
            "flow_name": "Welcome",
            "status": "live",
            "trigger_type": "List",
            "created_at": T0,
            "updated_at": T0,
        },
    ],
    "raw_klaviyo.flow_actions": [
        {
            "flow_action_id": "fa1",
            "flow_id": "f1",
            "action_type": "SEND_EMAIL",
            "step_position": 1,
            "delay_days": 0,
            "status": "live",
            "created_at": T0,
            "updated_at": T0,
        },
        {
            "flow_action_id": "fa2",
            "flow_id": "f1",
            "action_type": "SEND_EMAIL",
            "step_position": 2,
            "delay_days": 2,
            "status": "live",
            "created_at": T0,
            "updated_at": T0,
        },
        {
            # a last step 30 days out, no message yet: journeys at step 2 are still waiting
            "flow_action_id": "fa3",
            "flow_id": "f1",
            "action_type": "SEND_EMAIL",
            "step_position": 3,
            "delay_days": 30,
            "status": "live",
            "created_at": T0,
            "updated_at": T0,
        },
    ],
    "raw_klaviyo.flow_messages": [
        {
            "message_id": "fm1",
            "flow_action_id": "fa1",
            "flow_id": "f1",
            "message_name": "Welcome 1",
            "created_at": T0,
            "updated_at": T0,
        },
        {
            "message_id": "fm2a",
            "flow_action_id": "fa2",
            "flow_id": "f1",
            "message_name": "Welcome 2 A",
            "variant_label": "Variant A",
            "created_at": T0,
            "updated_at": T0,
        },
        {
            "message_id": "fm2b",
            "flow_action_id": "fa2",
            "flow_id": "f1",
            "message_name": "Welcome 2 B",
            "variant_label": "Variant B",
            "created_at": T0,
            "updated_at": T0,
        },
    ],
    "raw_hubspot.contacts": [
        {
            "contact_id": "101",
            "email": "alice@EXAMPLE.com  ",
            "lifecycle_stage": "customer",
            "analytics_source": "EMAIL_MARKETING",
            "created_at": "2026-01-01 00:00:00+00",
            "updated_at": "2026-03-10 12:00:00+00",
            "subscriber_at": "2026-01-01 00:00:00+00",
            "marketing_qualified_lead_at": "2026-03-05 12:00:00+00",
            "customer_at": "2026-03-10 12:00:00+00",
        },
        {
            "contact_id": "102",
            "email": "bob@example.com",
            "lifecycle_stage": "lead",
            "analytics_source": "ORGANIC_SEARCH",
            "created_at": "2026-02-01 00:00:00+00",
            "updated_at": "2026-02-04 00:00:00+00",
            "subscriber_at": "2026-02-01 00:00:00+00",
            "lead_at": "2026-02-04 00:00:00+00",
        },
        {
            "contact_id": "103",
            "email": "erin@example.com",
            "lifecycle_stage": "subscriber",
            "analytics_source": "DIRECT_TRAFFIC",
            "created_at": "2026-03-01 00:00:00+00",
            "updated_at": "2026-03-01 00:00:00+00",
            "subscriber_at": "2026-03-01 00:00:00+00",
        },
        {
            "contact_id": "104",
            "email": "BOB@example.com ",
            "lifecycle_stage": "subscriber",
            "analytics_source": "OFFLINE",
            "created_at": "2025-12-01 00:00:00+00",
            "updated_at": "2025-12-01 00:00:00+00",
            "subscriber_at": "2025-12-01 00:00:00+00",
        },
    ],
    "raw_hubspot.deals": [
        {
            "deal_id": "d1",
            "deal_name": "Alice annual",
            "pipeline_id": "default",
            "deal_stage_id": "closedwon",
            "amount": 500.0,
            "created_at": "2026-03-06 00:00:00+00",
            "closed_at": "2026-03-11 00:00:00+00",
            "updated_at": "2026-03-11 00:00:00+00",
        },
        {
            "deal_id": "d2",
            "deal_name": "Bob pilot",
            "pipeline_id": "default",
            "deal_stage_id": "closedlost",
            "amount": 200.0,
            "created_at": "2026-02-10 00:00:00+00",
            "closed_at": "2026-02-20 00:00:00+00",
            "updated_at": "2026-02-20 00:00:00+00",
        },
        {
            "deal_id": "d3",
            "deal_name": "Erin trial",
            "pipeline_id": "default",
            "deal_stage_id": "qualifiedtobuy",
            "amount": 300.0,
            "created_at": "2026-03-02 00:00:00+00",
            "closed_at": "2026-04-30 00:00:00+00",
            "updated_at": "2026-03-02 00:00:00+00",
        },
    ],
    "raw_hubspot.deal_stage_entries": [
        {"deal_id": "d1", "stage_id": "appointmentscheduled", "entered_at": "2026-03-06 00:00:00+00"},
        {"deal_id": "d1", "stage_id": "closedwon", "entered_at": "2026-03-11 00:00:00+00"},
    ],
    "raw_hubspot.deal_contacts": [
        {"deal_id": "d1", "contact_id": "103"},
        {"deal_id": "d1", "contact_id": "101"},
        {"deal_id": "d2", "contact_id": "102"},
        {"deal_id": "d3", "contact_id": "103"},
    ],
    "raw_hubspot.pipeline_stages": [
        {
            "pipeline_id": "default",
            "pipeline_label": "Sales",
            "stage_id": stage_id,
            "stage_label": label,
            "display_order": order,
            "is_closed": closed,
            "probability": probability,
        }
        for order, (stage_id, label, closed, probability) in enumerate(
            (
                ("appointmentscheduled", "Appointment scheduled", False, 0.2),
                ("qualifiedtobuy", "Qualified to buy", False, 0.4),
                ("contractsent", "Contract sent", False, 0.9),
                ("closedwon", "Closed won", True, 1.0),
                ("closedlost", "Closed lost", True, 0.0),
            )
        )
    ],
    "raw_meta_ads.ads": [
        {
            "ad_id": "ma1",
            "ad_name": "Spring carousel",
            "adset_id": "as1",
            "campaign_id": "mc1",
            "status": "ACTIVE",
            "effective_status": "ACTIVE",
            "created_at": T0,
            "updated_at": T0,
        },
    ],
    "raw_meta_ads.ad_insights_daily": [
        {
            "account_id": "1234567890",
            "campaign_id": "mc1",
            "campaign_name": "Spring",
            "adset_id": "as1",
            "adset_name": "Broad",
            "ad_id": "ma1",
            "ad_name": "Spring carousel",
            "date_start": "2026-03-01",
            "spend": 10.0,
            "impressions": 1000,
            "clicks": 20,
            "link_clicks": 15,
            "purchases": 2.0,
            "purchase_value": 50.0,
            "currency": "USD",
        },
        {
            "account_id": "1234567890",
            "campaign_id": "mc1",
            "campaign_name": "Spring",
            "adset_id": "as1",
            "adset_name": "Broad",
            "ad_id": "ma1",
            "ad_name": "Spring carousel",
            "date_start": "2026-03-02",
            "spend": 0.0,
            "impressions": 0,
            "clicks": 0,
            "link_clicks": 0,
            "purchases": 0.0,
            "purchase_value": 0.0,
            "currency": "USD",
        },
    ],
    "raw_google_ads.ad_group_ad_daily": [
        {
            "customer_id": "1112223333",
            "campaign_id": "gc1",
            "campaign_name": "Search brand",
            "ad_group_id": "ag1",
            "ad_group_name": "Brand",
            "ad_id": "ga1",
            "ad_name": "Brand RSA",
            "ad_status": "ENABLED",
            "date": "2026-03-01",
            "cost_micros": 12_500_000,
            "clicks": 5,
            "impressions": 500,
            "conversions": 1.0,
            "conversions_value": 30.0,
            "currency": "USD",
        },
    ],
}


# ma1's 2026-03-01 read the day after and a week later; ga1's read twice on one day (the newest load wins).
ROWS["raw_meta_ads.ad_conversion_snapshots"] = [
    {"ad_id": "ma1", "date_start": "2026-03-01", "observed_on": "2026-03-02", "purchases": 1.0},
    {
        "ad_id": "ma1",
        "date_start": "2026-03-01",
        "observed_on": "2026-03-08",
        "purchases": 2.0,
        "purchase_value": 50.0,
    },
]
ROWS["raw_google_ads.ad_conversion_snapshots"] = [
    {
        "ad_id": "ga1",
        "date": "2026-03-01",
        "observed_on": "2026-03-03",
        "conversions": 1.0,
        "conversions_value": 12.0,
    },
]


def _google_payload(day: str, cost_micros: str) -> str:
    return json.dumps(
        {
            "segments": {"date": day},
            "campaign": {"id": "gc1", "name": "Search brand"},
            "adGroup": {"id": "ag1", "name": "Brand"},
            "adGroupAd": {"ad": {"id": "ga1", "name": "Brand RSA"}, "status": "ENABLED"},
            "customer": {"currencyCode": "USD"},
            "metrics": {"costMicros": cost_micros, "clicks": "5", "impressions": "500"},
        }
    )


# ga1 on 2026-03-02 was quarantined in the latest load: the mart keeps the day with null metrics.
ROWS["raw_google_ads.quarantine"] = [
    {
        "quarantine_id": "q-ga1-0302",
        "resource": "ad_group_ad_daily",
        "record_id": "ga1",
        "reason": "spend (costMicros) must not be negative",
        "payload": _google_payload("2026-03-02", "-100"),
        "quarantined_at": "2026-03-03 06:00:00+00",
    }
]

# An older load of the same Meta day with another spend: staging keeps the latest load. An older
# quarantine of ga1 on 2026-03-01 is superseded by the valid record of the latest load.
OLDER_LOAD_ROWS: dict[str, list[dict]] = {
    "raw_meta_ads.ad_insights_daily": [{**ROWS["raw_meta_ads.ad_insights_daily"][0], "spend": 8.0}],
    "raw_google_ads.ad_conversion_snapshots": [
        {
            "ad_id": "ga1",
            "date": "2026-03-01",
            "observed_on": "2026-03-03",
            "conversions": 0.0,
            "conversions_value": 0.0,
        }
    ],
    "raw_google_ads.quarantine": [
        {
            **ROWS["raw_google_ads.quarantine"][0],
            "quarantine_id": "q-ga1-0301",
            "payload": _google_payload("2026-03-01", "-5"),
        }
    ],
}


def create_raw_tables(database_path: str) -> None:
    """Create every raw table of contracts section 2 and fill it with the rows above."""
    connection = duckdb.connect(database_path)
    try:
        for schema in sorted({name.split(".")[0] for name in TABLES}):
            connection.execute(f"create schema if not exists {schema}")
        for table, columns in TABLES.items():
            column_sql = ", ".join(f'"{name}" {kind}' for name, kind in columns.items())
            connection.execute(
                f"create table {table} ({column_sql}, _dlt_load_id varchar not null, _dlt_id varchar not null)"
            )
            insert_raw_rows(connection, table, OLDER_LOAD_ROWS.get(table, []), LOAD_OLD)
            insert_raw_rows(connection, table, ROWS.get(table, []), LOAD)
    finally:
        connection.close()


MERGED_ON = {"raw_klaviyo.events": "event_id"}


def insert_raw_rows(
    connection: duckdb.DuckDBPyConnection, table: str, rows: list[dict], load_id: str
) -> None:
    """Add rows to a raw table as one dlt load (a row re-sent with a newer load id corrects it).

    Klaviyo events are merged on their key, as dlt's merge into DuckDB does (their staging model
    relies on it); the other tables are appended, as in a lake, and their staging models keep the
    newest row per key.
    """
    columns = TABLES[table]
    merge_key = MERGED_ON.get(table)
    if merge_key:
        keys = [row[merge_key] for row in rows]
        connection.execute(f"delete from {table} where {merge_key} in (select unnest(?))", [keys])
    names = [*columns, "_dlt_load_id", "_dlt_id"]
    placeholders = ", ".join("?" for _ in names)
    quoted = ", ".join(f'"{name}"' for name in names)
    for index, row in enumerate(rows):
        unknown = set(row) - set(columns)
        if unknown:
            raise KeyError(f"{table}: unknown columns {sorted(unknown)}")
        values = [row.get(name) for name in columns] + [load_id, f"{load_id}-{index}"]
        connection.execute(f"insert into {table} ({quoted}) values ({placeholders})", values)
