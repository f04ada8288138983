from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
from monitoring_models import create_monitoring_views

from decision_engine.anomalies import build_series, detect, group_incidents


def _marts(days: int = 40) -> duckdb.DuckDBPyConnection:
    rng = np.random.default_rng(0)
    con = duckdb.connect()
    con.execute("create schema marts")
    dates = pd.date_range("2024-01-01", periods=days, freq="D")
    sends = []
    for day in dates:
        for i in range(200):
            opened = rng.random() < 0.3
            clicked = opened and rng.random() < 0.6
            converted = clicked and rng.random() < 0.3
            sent_at = day + pd.Timedelta(hours=9)
            sends.append(
                {
                    "email_send_id": f"{day:%j}-{i}",
                    "send_type": "flow",
                    "flow_id": "welcome",
                    "campaign_id": None,
                    "sent_at": sent_at,
                    "is_delivered": True,
                    "is_bounced": False,
                    "is_opened": opened,
                    "is_machine_open_only": opened and i % 5 == 0,
                    "is_clicked": clicked,
                    "first_clicked_at": sent_at + pd.Timedelta(hours=1) if clicked else pd.NaT,
                    "is_unsubscribed": False,
                    "is_spam_complaint": False,
                    "is_converted": converted,
                    "attributed_order_count": int(converted),
                    "attributed_revenue": 70.0 * converted,
                    "first_ordered_at": sent_at + pd.Timedelta(hours=3) if converted else pd.NaT,
                }
            )
    con.register("sends_df", pd.DataFrame(sends))
    con.execute("create table marts.fct_email_sends as select * from sends_df")
    campaign = pd.DataFrame(
        {
            "campaign_id": "c1",
            "message_id": "m1",
            "variant_label": "A",
            "send_date": dates[::3].date,
            "recipients": 1000,
            "delivered": 990,
            "opens": 300,
            "human_opens": 250,
            "clicks": 40,
            "conversions": 3,
            "revenue": 150.0,
            "unsubscribes": 2,
            "bounces": 10,
            "spam_complaints": 0,
        }
    )
    con.register("campaign_df", campaign)
    con.execute("create table marts.fct_email_campaign_variant_daily as select * from campaign_df")
    ads = pd.DataFrame(
        [
            {
                "platform": p,
                "ad_id": f"{p}1",
                "date_day": d.date(),
                "spend": 100.0,
                "impressions": 10000,
                "clicks": 120,
                "conversions": 4.0,
                "conversions_value": 300.0,
                "is_quarantined": False,
            }
            for p in ("meta", "google")
            for d in dates
            if not (p == "google" and d == dates[20])
        ]
    )  # a missing day is zero-filled
    con.register("ads_df", ads)
    con.execute("create table marts.fct_ad_performance_daily as select * from ads_df")
    funnel = pd.DataFrame(
        {
            "contact_id": [f"c{i}" for i in range(days * 5)],
            "to_stage": ["lead", "marketingqualifiedlead"] * (days * 5 // 2),
            "transitioned_at": np.repeat(dates, 5) + pd.Timedelta(hours=12),
        }
    )
    con.register("funnel_df", funnel)
    con.execute("create table marts.fct_crm_funnel as select * from funnel_df")
    deals = pd.DataFrame(
        {
            "deal_id": [f"d{i}" for i in range(days)],
            "outcome": ["won", "open"] * (days // 2),
            "created_at": dates + pd.Timedelta(hours=10),
            "closed_at": [d + pd.Timedelta(days=3) if i % 2 == 0 else pd.NaT for i, d in enumerate(dates)],
        }
    )
    con.register("deals_df", deals)
    con.execute("create table marts.fct_deals as select * from deals_df")
    create_monitoring_views(con)
    return con


def test_series_from_marts_cover_the_catalogue() -> None:
    series = build_series(_marts())
    expected_metrics = {
        "delivered_rate",
        "bounce_rate",
        "open_rate",
        "click_rate",
        "unsubscribe_rate",
        "spam_rate",
        "orders",
        "revenue",
        "spend",
        "cpc",
        "cpm",
        "ctr",
        "roas",
        "conversions",
        "clicks",
        "crm_leads",
        "crm_stage_changes",
        "deals_created",
        "deals_won",
        "events",
        "freshness_lag_hours",
        "machine_open_rate",
        "orders_per_click",
    }
    assert expected_metrics <= set(series["metric"])
    assert set(series["entity_type"]) == {
        "email_stream",
        "email_channel",
        "ad",
        "ad_platform",
        "crm",
        "source",
    }
    open_rate = series[(series["metric"] == "open_rate") & (series["entity_id"] == "welcome")]
    assert open_rate["denominator"].eq(200).all() and open_rate["value"].between(0, 1).all()
    google_spend = series[(series["series_id"] == "ad:google:google1:spend")].set_index("timestamp")["value"]
    assert google_spend[pd.Timestamp("2024-01-21")] == 0.0
    assert series.groupby("series_id")["timestamp"].apply(lambda t: t.is_unique).all()
    lag = series[series["metric"] == "freshness_lag_hours"].set_index("timestamp")["value"]
    assert lag[:"2024-02-09"].eq(12.0).all()  # newest record at noon every day
    assert lag.max() > 24  # only a few deal closes after the funnel stops: data goes stale


def test_marts_series_run_through_detection() -> None:
    verdicts = detect(build_series(_marts(60)))
    assert len(verdicts) > 0
    incidents = group_incidents(verdicts)
    google_gap = [i for i in incidents if "google" in i.scope]
    assert google_gap, "a day with no google ads data should be flagged"
