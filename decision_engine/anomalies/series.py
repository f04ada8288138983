"""Daily series to monitor, built from the marts with SQL (column names per docs/contracts.md).

Output is the long frame :func:`detect` takes: ``series_id, source, entity_type, entity_id,
metric, timestamp, value, denominator, maturity`` (``maturity`` only on ad conversions still
being attributed, else missing). Counts are zero-filled over a date spine (a day
without orders is a zero, not a gap); rates are missing on days without a denominator.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from decision_engine.anomalies.maturity import (
    MATURE_AGE_DAYS,
    MIN_MATURITY,
    assumed_maturity,
    learn_conversion_maturity,
)

AD_CONVERSION_LAG_DAYS = MATURE_AGE_DAYS  # ad platforms attribute conversions up to a week after the click
_AD_METRICS = ["spend", "impressions", "clicks", "conversions", "conversions_value"]

# The daily aggregates are dbt models (dbt_project/models/marts/monitoring); only the parts
# that depend on the run's time (the spine, the judged days, click-cohort maturity) are here.
_EMAIL = """
select date_day as day, send_type, email_stream as stream, recipients, delivered, bounces, opens,
    machine_opens, clicks, unsubscribes, spam_complaints, orders, revenue
from marts.fct_monitoring_email_daily
"""

# Orders per email click, by click day. A broken landing page or checkout shows here on the day
# itself (orders by send day spread the loss over the days of the sends whose clicks stopped
# converting). The newest clicks have not had time to order yet: each click counts as the share
# of a click that has converted by now in the past (the delay from click to first order, learned
# from clicks old enough to have finished ordering), so a half-day-old cohort is judged against
# half a day's worth of orders.
ORDER_DELAY_HORIZON_HOURS = 72  # clicks older than this count in full
MIN_CLICKS_PER_DAY = 30  # fewer say little about the landing page and only make the baseline noisy
_ORDER_DELAY_SAMPLE_DAYS = 28
_EMAIL_CLICK_DAYS = "select date_day as day, clicks, orders from marts.fct_monitoring_email_click_daily"
_EMAIL_RECENT_CLICKS = """
select first_clicked_at, first_ordered_at, is_converted and first_ordered_at is not null as is_converted
from marts.fct_email_sends
where is_clicked and first_clicked_at >= ? - to_days(?)
"""

_ADS = """
select date_day as day, platform, ad_id, spend, impressions, clicks, conversions, conversions_value, is_quarantined
from marts.fct_monitoring_ads_daily
"""

# Conversions per ad-day as read on each ingestion day (marts.fct_ad_conversion_snapshots): the
# platforms' own restatements, from which the maturity of a young day's conversions is learned.
_AD_SNAPSHOT_DAYS = 56  # ad-days this far back teach the curve (attribution habits drift)
_AD_SNAPSHOTS = """
select platform, ad_id, date_day, observed_on, age_days, conversions
from marts.fct_ad_conversion_snapshots
where date_day >= ? - to_days(?) and (cast(? as date) is null or observed_on <= ?)
"""

_CRM = """
select date_day as day, crm_stage_changes, crm_leads, deals_created, deals_won, newest
from marts.fct_monitoring_crm_daily
"""


def _long(
    frame: pd.DataFrame,
    source: str,
    entity_type: str,
    entity_id: pd.Series | str,
    metric: str,
    value: pd.Series,
    denominator: pd.Series | None = None,
) -> pd.DataFrame:
    entity = entity_id if isinstance(entity_id, pd.Series) else pd.Series(entity_id, index=frame.index)
    out = pd.DataFrame(
        {
            "series_id": entity_type + ":" + entity.astype(str) + ":" + metric,
            "source": source,
            "entity_type": entity_type,
            "entity_id": entity.astype(str),
            "metric": metric,
            "timestamp": pd.to_datetime(frame["day"]),
            "value": value.astype(float),
            "denominator": denominator.astype(float) if denominator is not None else float("nan"),
        }
    )
    if denominator is not None:
        out = out[denominator.to_numpy() > 0]
    return out


def _spine(frame: pd.DataFrame, keys: list[str], through: pd.Timestamp | None = None) -> pd.DataFrame:
    """Zero-fill every key over every day from the first day in ``frame`` to ``through`` (default:
    its last day), so a source that went silent shows zeros rather than simply ending."""
    if frame.empty:
        return frame
    last = pd.to_datetime(frame["day"]).max()
    days = pd.date_range(pd.to_datetime(frame["day"]).min(), max(last, through or last), freq="D")
    grid = pd.MultiIndex.from_product([days, *[frame[k].unique() for k in keys]], names=["day", *keys])
    frame = frame.assign(day=pd.to_datetime(frame["day"])).groupby(["day", *keys]).sum(numeric_only=True)
    return frame.reindex(grid, fill_value=0).reset_index()


def _last_day(*frames: pd.DataFrame) -> pd.Timestamp | None:
    days = [pd.to_datetime(f["day"]).max() for f in frames if not f.empty]
    return max(days) if days else None


def build_series(connection: Any, now: pd.Timestamp | datetime | None = None) -> pd.DataFrame:
    """Monitored series from a DuckDB connection with the ``marts`` schema.

    Every source's series run to the newest day seen in any mart (the data's own clock, not
    the wall clock), or, given ``now`` (the run's time), to the last day that ended by then and
    before data last arrived (:func:`data_as_of`): a run at 06:00 judges yesterday with
    everything that arrived by 06:00, not the first six hours of today as if they were a whole
    day, and an hourly scan between loads does not judge the load day. Ad conversions of the
    newest ``AD_CONVERSION_LAG_DAYS`` days are still being attributed by the platforms: each
    carries its ``maturity`` (the share of its final conversions reported at its age, learned
    from the conversion snapshots, :mod:`decision_engine.anomalies.maturity`), which the
    detector judges it by; days below ``MIN_MATURITY`` and ROAS of every young day are left out.
    """
    parts: list[pd.DataFrame] = []
    email_raw, ads_raw, crm = (connection.execute(q).df() for q in (_EMAIL, _ADS, _CRM))
    through = _last_day(email_raw, ads_raw, crm)
    if now is not None and through is not None:
        loaded = data_as_of(connection)
        now = _naive_utc(pd.Timestamp(now))
        now = now if loaded is None else min(now, loaded)
        through = min(through, now.floor("D") - pd.Timedelta(days=1))
    email = _spine(email_raw.drop(columns="send_type"), ["stream"], through)
    if not email.empty:
        stream = email["stream"]
        for metric, num, den in (
            ("delivered_rate", "delivered", "recipients"),
            ("bounce_rate", "bounces", "recipients"),
            ("open_rate", "opens", "delivered"),
            ("machine_open_rate", "machine_opens", "delivered"),
            ("click_rate", "clicks", "delivered"),
            ("unsubscribe_rate", "unsubscribes", "delivered"),
            ("spam_rate", "spam_complaints", "delivered"),
        ):
            parts.append(
                _long(
                    email,
                    "email",
                    "email_stream",
                    stream,
                    metric,
                    email[num] / email[den].where(email[den] > 0),
                    email[den],
                )
            )
        sent = email[email["recipients"] > 0]
        for metric in ("orders", "revenue"):
            parts.append(_long(sent, "email", "email_stream", sent["stream"], metric, sent[metric]))
        totals = email.groupby("day", as_index=False)["recipients"].sum()
        parts.append(_long(totals, "email", "source", "email", "events", totals["recipients"]))
        funnel = _email_click_cohorts(connection, through)
        funnel = funnel[funnel["clicks"] >= MIN_CLICKS_PER_DAY] if not funnel.empty else funnel
        if not funnel.empty:
            parts.append(
                _long(
                    funnel,
                    "email",
                    "email_channel",
                    "all",
                    "orders_per_click",
                    funnel["orders"] / funnel["clicks"].where(funnel["clicks"] > 0),
                    funnel["clicks"],
                )
            )
    quarantined = _quarantined(ads_raw)
    ads = _spine(ads_raw.drop(columns="is_quarantined", errors="ignore"), ["platform", "ad_id"], through)
    if not ads.empty:
        # A quarantined ad-day is unknown, not zero: missing in the ad's series and its platform's.
        ad_day = pd.MultiIndex.from_frame(ads[["day", "platform", "ad_id"]])
        unknown = ad_day.isin(pd.MultiIndex.from_frame(quarantined)) if len(quarantined) else None
        if unknown is not None and unknown.any():
            ads[_AD_METRICS] = ads[_AD_METRICS].astype(float)
            ads.loc[unknown, _AD_METRICS] = np.nan
        ads[["conversions", "conversions_value"]] = ads[["conversions", "conversions_value"]].astype(float)
        ads["maturity"] = _ad_conversion_maturity(connection, ads, through, now)
        ads.loc[ads["maturity"] < MIN_MATURITY, "conversions"] = np.nan
        ads.loc[ads["maturity"] < 1.0, "conversions_value"] = np.nan  # ROAS waits for the final value
        ads["maturity"] = ads["maturity"].where(ads["maturity"].between(MIN_MATURITY, 1.0, inclusive="left"))
        ad = ads["platform"].astype(str) + ":" + ads["ad_id"].astype(str)
        source = "ads:" + ads["platform"].astype(str)
        for metric, value, den in (
            ("spend", ads["spend"], None),
            ("conversions", ads["conversions"], None),
            ("cpc", ads["spend"] / ads["clicks"].where(ads["clicks"] > 0), ads["clicks"]),
            (
                "cpm",
                1000 * ads["spend"] / ads["impressions"].where(ads["impressions"] > 0),
                ads["impressions"],
            ),
            ("ctr", ads["clicks"] / ads["impressions"].where(ads["impressions"] > 0), ads["impressions"]),
            ("roas", ads["conversions_value"] / ads["spend"].where(ads["spend"] > 0), ads["spend"]),
        ):
            part = _long(ads, "", "ad", ad, metric, value, den)
            if metric == "conversions":
                part = part.assign(maturity=ads.loc[part.index, "maturity"])
            parts.append(part.assign(source=source.loc[part.index]))
        platform = ads.groupby(["day", "platform"], as_index=False)[["clicks", "conversions", "spend"]].sum(
            min_count=1
        )
        # every ad of a platform-day has the same age, so the same maturity
        platform["maturity"] = ads.groupby(["day", "platform"])["maturity"].first().to_numpy()
        if len(quarantined):
            platform_day = pd.MultiIndex.from_frame(platform[["day", "platform"]])
            partial = platform_day.isin(pd.MultiIndex.from_frame(quarantined[["day", "platform"]]))
            platform.loc[partial, ["clicks", "conversions", "spend"]] = np.nan
        for metric in ("clicks", "conversions", "spend"):
            part = _long(platform, "", "ad_platform", platform["platform"], metric, platform[metric])
            if metric == "conversions":
                part = part.assign(maturity=platform.loc[part.index, "maturity"])
            parts.append(part.assign(source="ads:" + platform["platform"].astype(str)))
        rows = (
            ads.assign(rows=(ads["impressions"] > 0).astype(int))
            .groupby(["day", "platform"], as_index=False)["rows"]
            .sum()
        )
        part = _long(rows, "", "source", "ads:" + rows["platform"].astype(str), "events", rows["rows"])
        parts.append(part.assign(source="ads:" + rows["platform"].astype(str)))
    if not crm.empty:
        newest = crm[["day", "newest"]]
        crm = _spine(crm.drop(columns="newest").assign(system="hubspot"), ["system"], through)
        for metric in ("crm_leads", "crm_stage_changes", "deals_created", "deals_won"):
            parts.append(_long(crm, "crm", "crm", "hubspot", metric, crm[metric]))
        parts.append(
            _long(crm, "crm", "source", "crm", "events", crm["crm_stage_changes"] + crm["deals_created"])
        )
        parts.append(_freshness(newest, crm["day"]))
    parts = [part[part["timestamp"] <= through] for part in parts]
    if not parts:
        return pd.DataFrame(
            columns=[
                "series_id",
                "source",
                "entity_type",
                "entity_id",
                "metric",
                "timestamp",
                "value",
                "denominator",
                "maturity",
            ]
        )
    return pd.concat(parts, ignore_index=True)


def _ad_conversion_maturity(
    connection: Any, ads: pd.DataFrame, through: pd.Timestamp, now: pd.Timestamp | None
) -> pd.Series:
    """Per ad-day row the maturity of its conversions: 1 once ``MATURE_AGE_DAYS`` old, else the
    platform's learned share at its age (days from the day to the platform's newest read; without
    snapshots, to the day after ``through``)."""
    day = pd.to_datetime(ads["day"])
    read_until = None if now is None else now.floor("D")
    snapshots = ad_conversion_snapshots(connection, through, read_until)
    maturity = learn_conversion_maturity(snapshots) if len(snapshots) else assumed_maturity()
    newest_read: dict[str, pd.Timestamp] = {}
    if len(snapshots):
        reads = pd.to_datetime(snapshots["observed_on"]).groupby(snapshots["platform"].astype(str)).max()
        newest_read = reads.to_dict()
    default_read = through + pd.Timedelta(days=1)
    read_day = pd.to_datetime([newest_read.get(p, default_read) for p in ads["platform"].astype(str)])
    age = pd.Series((read_day - pd.DatetimeIndex(day)).days, index=ads.index).clip(lower=0)
    return pd.Series(maturity.share(ads["platform"].astype(str), age.to_numpy()), index=ads.index)


def ad_conversion_snapshots(
    connection: Any, through: pd.Timestamp, read_until: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Conversion snapshots of the ad-days of the last ``_AD_SNAPSHOT_DAYS`` before ``through``,
    read by ``read_until`` when given; empty in a warehouse without the table."""
    exists = connection.execute(
        "select 1 from information_schema.tables "
        "where table_schema = 'marts' and table_name = 'fct_ad_conversion_snapshots'"
    ).fetchall()
    if not exists:
        return pd.DataFrame(
            columns=["platform", "ad_id", "date_day", "observed_on", "age_days", "conversions"]
        )
    until = None if read_until is None else read_until.date()
    return connection.execute(_AD_SNAPSHOTS, [through.date(), _AD_SNAPSHOT_DAYS, until, until]).df()


def _quarantined(ads_raw: pd.DataFrame) -> pd.DataFrame:
    """``day, platform, ad_id`` of the quarantined ad-days in the monitoring model's rows."""
    if "is_quarantined" not in ads_raw.columns:
        return pd.DataFrame(columns=["day", "platform", "ad_id"])
    rows = ads_raw.loc[ads_raw["is_quarantined"].fillna(False).astype(bool), ["day", "platform", "ad_id"]]
    return rows.assign(day=pd.to_datetime(rows["day"])).reset_index(drop=True)


def quarantined_ad_days(connection: Any, through: pd.Timestamp | None = None) -> pd.DataFrame:
    """``day, platform, ad_id`` of every ad-day whose latest vendor record was quarantined
    (``fct_ad_performance_daily.is_quarantined``), up to ``through`` when given."""
    rows = _quarantined(connection.execute(_ADS).df())
    return rows if through is None else rows[rows["day"] <= through].reset_index(drop=True)


def data_as_of(connection: Any) -> pd.Timestamp | None:
    """When data last arrived: the newest successful dlt load (``_dlt_loads.inserted_at``, status
    0) over the ``raw_*`` datasets, UTC. Between loads (an hourly scan at 00:15 after a 06:00 load)
    the day the load happened in is still partial, whatever the wall clock says, so
    :func:`build_series` judges no day that ended after it. None without dlt loads."""
    schemas = [
        row[0]
        for row in connection.execute(
            "select table_schema from information_schema.tables "
            "where table_name = '_dlt_loads' and table_schema like 'raw\\_%' escape '\\'"
        ).fetchall()
    ]
    if not schemas:
        return None
    union = " union all ".join(
        f'select max(inserted_at) as loaded from "{schema}"._dlt_loads where status = 0' for schema in schemas
    )
    newest = connection.execute(f"select max(loaded) from ({union})").fetchone()[0]
    return None if newest is None else _naive_utc(pd.Timestamp(newest))


def _email_click_cohorts(connection: Any, through: pd.Timestamp | None) -> pd.DataFrame:
    """Clicks and orders per click day; clicks of the last ``ORDER_DELAY_HORIZON_HOURS`` count as
    the share of their eventual orders that past clicks of the same age had already placed."""
    days = connection.execute(_EMAIL_CLICK_DAYS).df()
    if days.empty:
        return days
    days["clicks"] = days["clicks"].astype(float)
    horizon = pd.Timedelta(hours=ORDER_DELAY_HORIZON_HOURS)
    newest = connection.execute("select max(first_clicked_at) from marts.fct_email_sends").fetchone()[0]
    now = _naive_utc(pd.Timestamp(newest))
    recent = connection.execute(
        _EMAIL_RECENT_CLICKS, [newest, _ORDER_DELAY_SAMPLE_DAYS + ORDER_DELAY_HORIZON_HOURS // 24]
    ).df()
    clicked = _naive_utc(recent["first_clicked_at"])
    ordered = _naive_utc(recent["first_ordered_at"])
    settled = recent["is_converted"].astype(bool) & (clicked <= now - horizon)
    delays = np.sort(((ordered - clicked)[settled]).dt.total_seconds().to_numpy())
    fresh = clicked > now - horizon
    if fresh.any() and len(delays):
        age = (now - clicked[fresh]).dt.total_seconds().to_numpy()
        matured = np.searchsorted(delays, age, side="right") / len(delays)
        weight = pd.Series(matured, index=clicked[fresh].index).groupby(clicked[fresh].dt.normalize()).sum()
        count = clicked[fresh].groupby(clicked[fresh].dt.normalize()).size()
        day = pd.to_datetime(days["day"])
        adjust = (weight - count).reindex(day).fillna(0.0).to_numpy()
        days["clicks"] = days["clicks"] + adjust
    return _spine(days.assign(channel="email"), ["channel"], through)


def _naive_utc(values: pd.Series | pd.Timestamp) -> pd.Series | pd.Timestamp:
    if isinstance(values, pd.Timestamp):
        return values.tz_convert("UTC").tz_localize(None) if values.tzinfo else values
    values = pd.to_datetime(values)
    return values.dt.tz_convert("UTC").dt.tz_localize(None) if values.dt.tz is not None else values


def _freshness(newest: pd.DataFrame, days: pd.Series) -> pd.DataFrame:
    """Hours between the end of each day and the newest CRM record seen by then."""
    latest = pd.to_datetime(newest.set_index(pd.to_datetime(newest["day"]))["newest"]).groupby(level=0).max()
    index = pd.DatetimeIndex(sorted(pd.to_datetime(days).unique()))
    running = latest.reindex(index).ffill().cummax()
    if running.dt.tz is not None:
        running = running.dt.tz_convert("UTC").dt.tz_localize(None)
    lag = ((index + pd.Timedelta(days=1)) - running.to_numpy()).total_seconds() / 3600
    frame = pd.DataFrame({"day": index})
    return _long(frame, "crm", "source", "crm", "freshness_lag_hours", pd.Series(lag, index=frame.index))
