"""Sparse series warm up by age, pooled rates are judged by their exact tail, and the email
funnel series (orders per click, machine opens) behave on real mart shapes."""

from __future__ import annotations

import numpy as np
import pandas as pd
from monitoring_models import create_monitoring_views
from scipy import stats

from decision_engine.anomalies import build_series, data_as_of, detect, group_incidents
from decision_engine.anomalies.detector import DetectorConfig
from decision_engine.anomalies.metrics import metric_spec


def _campaign_days(days: int, weekdays: tuple[int, ...] = (0, 2, 4)) -> pd.DatetimeIndex:
    calendar = pd.date_range("2024-01-01", periods=days, freq="D")
    return calendar[calendar.day_of_week.isin(weekdays)]


def test_a_sparse_series_is_judged_from_its_third_week_not_its_fifth() -> None:
    rng = np.random.default_rng(1)
    days = _campaign_days(40)  # three sends a week
    n = np.full(len(days), 3000.0)
    bounces = rng.binomial(3000, 0.01, len(days)).astype(float)
    spike = int(np.searchsorted(days, pd.Timestamp("2024-01-24")))  # day 23, the 10th send
    bounces[spike] = 450  # 15 % against 1 %
    frame = pd.DataFrame(
        {"series_id": "s", "timestamp": days, "value": bounces / n, "denominator": n, "metric": "bounce_rate"}
    )
    out = detect(frame)
    assert out.loc[spike, "history_points"] < 14  # the old rule (14 points) would still be warming up
    assert out.loc[spike, "severity"] == "critical"
    # before two weeks of age nothing is judged, however many points
    assert not out.loc[days < pd.Timestamp("2024-01-15"), "is_anomaly"].any()
    # a series two weeks old with too few points stays quiet
    thin = frame.iloc[[0, 6, 12, spike]].assign(series_id="thin")
    assert not detect(thin)["is_anomaly"].any()


def test_dense_series_keep_the_fourteen_point_warm_up() -> None:
    config = DetectorConfig()
    from decision_engine.anomalies.detector import DAILY

    points = np.array([7, 8, 13, 14])
    age = np.array([14, 14, 13, 14])
    assert config.warmed_up(DAILY, points, age).tolist() == [False, True, False, True]


def _pooled(days: int, rate: float, seed: int, clicks: tuple[int, int] = (40, 160)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    trials = rng.integers(*clicks, days).astype(float)
    events = rng.binomial(trials.astype(int), rate).astype(float)
    return pd.DataFrame(
        {
            "series_id": f"pooled-{seed}",
            "timestamp": pd.date_range("2024-01-01", periods=days, freq="D"),
            "value": events / trials,
            "denominator": trials,
            "metric": "orders_per_click",
        }
    )


def test_pooled_rate_a_a_false_pages_stay_near_alpha() -> None:
    """Simulation: 200 series x 120 days of a constant 6% conversion per click."""
    frame = pd.concat([_pooled(120, 0.06, seed) for seed in range(200)], ignore_index=True)
    out = detect(frame)
    judged = out[out["history_points"] >= 14]
    critical = (judged["severity"] == "critical") & (judged["direction"] == "drop")
    rate = critical.mean()
    assert len(judged) > 20_000
    assert rate < metric_spec("orders_per_click").pooled_alpha
    # and the baseline is the pooled rate, not a median biased low by small counts
    assert abs(judged["expected"].median() - 0.06) < 0.004


def test_pooled_rate_matches_the_exact_binomial_tail_and_catches_a_broken_checkout() -> None:
    frame = _pooled(60, 0.07, seed=11, clicks=(90, 110))
    frame.loc[59, ["value", "denominator"]] = [0.0, 100.0]  # no orders from 100 clicks
    out = detect(frame)
    row = out.loc[59]
    p = row["expected"]
    mid_p = 0.5 * stats.binom.pmf(0, 100, p)
    exact = stats.norm.ppf(mid_p)
    assert exact - 1e-9 <= row["z"] <= exact / np.sqrt(2.0)  # dispersion can only shrink it, a little here
    assert row["severity"] == "critical" and row["direction"] == "drop"


def test_pooled_rate_power_against_a_broken_checkout() -> None:
    """Simulation: conversion per click falls to a tenth for one day; 300 worlds per volume.
    Paged within the day about 94% of the time at ~10 expected orders a day (about 69% at 7)."""
    rng = np.random.default_rng(9)
    caught = {}
    for clicks in (100, 150):
        frames = []
        for seed in range(300):
            frame = _pooled(60, 0.07, 1000 + seed, (clicks - 10, clicks + 10))
            frame.loc[59, ["value", "denominator"]] = [rng.binomial(clicks, 0.007) / clicks, clicks]
            frames.append(frame)
        out = detect(pd.concat(frames, ignore_index=True))
        last = out[out["timestamp"] == out["timestamp"].max()]
        caught[clicks] = (last["severity"] == "critical").mean()
    assert 0.5 < caught[100] < caught[150]
    assert caught[150] > 0.85


def _email_marts(broken_day: int | None = None, tracking_day: int | None = None, days: int = 45):
    """fct_email_sends with a campaign of 8,000 sends every other day and a daily flow of 300,
    machine opens on delivery and orders a few hours after a click."""
    import duckdb

    rng = np.random.default_rng(5)
    start = pd.Timestamp("2024-01-01")
    frames = []
    for day in range(days):
        # a campaign every other day (evening and morning sends alternate) and a daily welcome flow
        hour = 20 if day % 4 == 0 else 9
        for send_type, size, at in (("campaign", 8000 * (day % 2 == 0), hour), ("flow", 300, 12)):
            sent = (
                start
                + pd.Timedelta(days=day, hours=at)
                + pd.to_timedelta(rng.integers(0, 600, size), unit="s")
            )
            machine = rng.random(size) < 0.15
            human = rng.random(size) < 0.2
            clicked = human & (rng.random(size) < 0.15)
            click_at = sent + pd.to_timedelta(rng.exponential(3600, size), unit="s")
            order_at = click_at + pd.to_timedelta(rng.exponential(4 * 3600, size), unit="s")
            p_order = 0.0 if day == broken_day else 0.07
            converted = clicked & (rng.random(size) < p_order)
            if day == tracking_day and send_type == "campaign":  # the outage spans the campaign send
                machine[:] = False
                human &= rng.random(size) < 0.3
                clicked &= rng.random(size) < 0.7
            frames.append(
                pd.DataFrame(
                    {
                        "email_send_id": [f"{send_type}-{day}-{i}" for i in range(size)],
                        "send_type": send_type,
                        "campaign_id": f"c{day}" if send_type == "campaign" else None,
                        "flow_id": "welcome" if send_type == "flow" else None,
                        "sent_at": sent,
                        "is_delivered": True,
                        "is_bounced": False,
                        "is_opened": machine | human,
                        "is_machine_open_only": machine & ~human,
                        "is_human_opened": human,
                        "is_clicked": clicked,
                        "first_clicked_at": np.where(clicked, click_at, pd.NaT),
                        "is_unsubscribed": False,
                        "is_spam_complaint": False,
                        "is_converted": converted,
                        "attributed_order_count": converted.astype(int),
                        "attributed_revenue": 70.0 * converted,
                        "first_ordered_at": np.where(converted, order_at, pd.NaT),
                    }
                )
            )
    sends = pd.concat(frames, ignore_index=True)
    sends["first_clicked_at"] = pd.to_datetime(sends["first_clicked_at"])
    sends["first_ordered_at"] = pd.to_datetime(sends["first_ordered_at"])
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute("create schema marts")
    con.register("sends_df", sends)
    con.execute("create table marts.fct_email_sends as select * from sends_df")
    con.execute("""
        create table marts.fct_email_campaign_variant_daily as
        select campaign_id, campaign_id as message_id, 'A' as variant_label, cast(sent_at as date) as send_date,
            count(*) as recipients, count_if(is_delivered) as delivered, count_if(is_opened) as opens,
            count_if(is_human_opened) as human_opens, count_if(is_clicked) as clicks,
            count_if(is_converted) as conversions, sum(attributed_revenue) as revenue,
            count_if(is_unsubscribed) as unsubscribes, count_if(is_bounced) as bounces, 0 as spam_complaints
        from marts.fct_email_sends where send_type = 'campaign' group by all
    """)
    for ddl in (
        "create table marts.fct_ad_performance_daily (date_day date, platform varchar, ad_id varchar, "
        "spend double, impressions bigint, clicks bigint, conversions double, conversions_value double, "
        "is_quarantined boolean)",
        "create table marts.fct_crm_funnel (contact_id varchar, to_stage varchar, transitioned_at timestamp)",
        "create table marts.fct_deals (deal_id varchar, outcome varchar, created_at timestamp, closed_at timestamp)",
    ):
        con.execute(ddl)
    create_monitoring_views(con)
    return con, start


def _as_of(con, cutoff: pd.Timestamp) -> None:
    """Hide what had not happened by ``cutoff`` (the marts as a run at that time saw them)."""
    t = f"timestamp '{cutoff:%Y-%m-%d %H:%M:%S}'"
    con.execute("create schema if not exists seen")
    con.execute(f"""
        create or replace view seen.fct_email_sends as select * replace (
            is_converted and first_ordered_at < {t} as is_converted,
            case when first_ordered_at < {t} then first_ordered_at end as first_ordered_at,
            is_clicked and first_clicked_at < {t} as is_clicked,
            case when first_clicked_at < {t} then first_clicked_at end as first_clicked_at
        ) from marts.fct_email_sends where sent_at < {t}
    """)


def test_newest_click_cohort_is_weighted_by_time_to_order_not_read_as_a_drop() -> None:
    con, start = _email_marts(days=45)
    # the scan at 00:30 after an evening send: many of that day's clicks have not ordered yet
    cutoff = start + pd.Timedelta(days=45, minutes=30)
    _as_of(con, cutoff)
    con.execute("create schema run")
    for table in ("fct_email_sends",):
        con.execute(f"create view run.{table} as select * from seen.{table}")
    create_monitoring_views(con, "run", refs={"fct_email_sends": "run.fct_email_sends"})
    series = build_series(_Marts(con, "run"), now=cutoff)
    opc = series[series["metric"] == "orders_per_click"].set_index("timestamp")
    newest = opc.index.max()
    assert newest == pd.Timestamp("2024-02-14")  # day 44 ended; 2024-02-15 has only begun
    verdicts = detect(series)
    row = verdicts[(verdicts["metric"] == "orders_per_click") & (verdicts["timestamp"] == newest)].iloc[0]
    raw_clicks = con.execute(
        "select count(*) from seen.fct_email_sends where cast(first_clicked_at as date) = ?", [newest.date()]
    ).fetchone()[0]
    orders = row["value"] * row["denominator"]
    assert row["denominator"] < 0.8 * raw_clicks  # young clicks count as part of a click
    assert orders / raw_clicks < 0.8 * row["expected"]  # unweighted, the cohort would read as a drop
    assert not (row["is_anomaly"] and row["direction"] == "drop")
    assert abs(row["relative_change"]) < 0.4


def test_a_broken_checkout_pages_as_conversion_tracking_the_next_morning() -> None:
    con, start = _email_marts(broken_day=40, days=41)
    cutoff = start + pd.Timedelta(days=41, hours=6)
    incidents = group_incidents(detect(build_series(con, now=cutoff)))
    pages = [i for i in incidents if i.severity == "critical" and i.status == "open"]
    assert [(i.incident_type, i.scope) for i in pages] == [("conversion_tracking", "email")]
    assert "orders_per_click" in pages[0].metrics


def test_lost_machine_opens_mean_tracking_even_when_clicks_only_dip() -> None:
    con, start = _email_marts(tracking_day=40, days=41)
    incidents = group_incidents(detect(build_series(con, now=start + pd.Timedelta(days=41, hours=6))))
    pages = [i for i in incidents if i.severity == "critical" and i.status == "open"]
    assert {i.incident_type for i in pages} == {"esp_tracking"}
    assert "machine_open_rate" in pages[0].metrics


class _Marts:
    """A connection whose ``marts.`` schema is another schema (what a run at some time saw)."""

    def __init__(self, con, schema: str) -> None:
        self._con, self._schema = con, schema

    def execute(self, query: str, parameters=None):
        for table in ("fct_email_sends", "fct_monitoring_"):
            query = query.replace(f"marts.{table}", f"{self._schema}.{table}")
        return self._con.execute(query, parameters) if parameters is not None else self._con.execute(query)


def test_data_as_of_is_the_newest_successful_load_and_ends_the_judged_days() -> None:
    con, start = _email_marts(days=41)
    assert data_as_of(con) is None  # no dlt loads: callers fall back to the wall clock
    for schema, loaded, status in (
        ("raw_klaviyo", "2024-02-10 06:05:00+00", 0),
        ("raw_hubspot", "2024-02-09 06:03:00+00", 0),  # a source that stopped loading
        ("raw_meta_ads", "2024-02-11 06:00:00+00", 1),  # a load that did not finish
        ("staging", "2024-03-01 00:00:00+00", 0),  # not a raw dataset
    ):
        con.execute(f"create schema if not exists {schema}")
        con.execute(
            f"create table if not exists {schema}._dlt_loads (inserted_at timestamptz, status bigint)"
        )
        con.execute(f"insert into {schema}._dlt_loads values (?, ?)", [loaded, status])
    assert data_as_of(con) == pd.Timestamp("2024-02-10 06:05:00")
    # an hourly scan after midnight, before the next load, still judges 02-09 as the newest day
    series = build_series(con, now=pd.Timestamp("2024-02-11 00:15:00"))
    assert series["timestamp"].max() == pd.Timestamp("2024-02-09")
