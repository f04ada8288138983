"""Per contact and local hour: recency-weighted, weekday-adjusted exposure and engagements,
aggregated from the marts in DuckDB (the input of ``decision_engine.personalization.send_time``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from decision_engine.personalization.send_time import SendTimeSettings

HOURS = 24


@dataclass
class HourlyEngagement:
    """Per contact (rows) and local hour (columns): recency-weighted, weekday-adjusted exposure
    and engagements, plus raw counts over the lookback."""

    contact_id: np.ndarray
    time_zone: np.ndarray
    exposure: np.ndarray  # float64 [contacts, 24]
    engaged: np.ndarray  # float64 [contacts, 24]
    n_sends: np.ndarray
    n_opens: np.ndarray
    n_clicks: np.ndarray
    n_engaged: np.ndarray
    weekday_factor: np.ndarray  # [7], Monday first; mean 1 over sends
    analysis_date: date | None = None


# Local time through a small table of UTC offsets per time zone and UTC hour (daylight saving
# changes on the hour): a hash join, about three times faster than converting every send with ICU.
# A time zone DuckDB does not know counts as unknown (the account's).
def _sends_sql(sampled: bool) -> str:
    """The CTEs up to ``weighted`` (one row per delivered send with its local hour, weekday and
    recency weight); ``sampled``: only contacts whose id hashes to 0 modulo $sample_modulus."""
    sample = "where hash(dim_contacts.contact_id) % $sample_modulus = 0" if sampled else ""
    contacts_join = "inner join" if sampled else "left join"
    return f"""
known_zones as (
    select name as time_zone from pg_timezone_names()
),
contacts as (
    select
        dim_contacts.contact_id,
        coalesce(known_zones.time_zone, $account_tz) as time_zone
    from marts.dim_contacts as dim_contacts
    left join known_zones
        on dim_contacts.timezone = known_zones.time_zone
    {sample}
),
utc_hours as (
    select unnest(range(
        date_trunc('hour', $as_of - to_days($lookback)), $as_of + interval 1 hour, interval 1 hour
    )) as utc_hour
),
offsets as (
    select
        zones.time_zone,
        utc_hours.utc_hour,
        timezone(zones.time_zone, timezone('UTC', utc_hours.utc_hour)) - utc_hours.utc_hour as utc_offset
    from (select distinct time_zone from contacts union select $account_tz) as zones
    cross join utc_hours
),
sends as (
    select
        sends.contact_id,
        coalesce(contacts.time_zone, $account_tz) as time_zone,
        sends.sent_at::timestamp as sent_at,
        sends.is_human_opened or sends.is_clicked as is_engaged,
        sends.is_human_opened,
        sends.is_clicked
    from marts.fct_email_sends as sends
    {contacts_join} contacts
        on sends.contact_id = contacts.contact_id
    where sends.is_delivered
        and sends.contact_id is not null
        and sends.sent_at::timestamp < $as_of
        and sends.sent_at::timestamp >= $as_of - to_days($lookback)
),
weighted as (
    select
        sends.*,
        hour(sends.sent_at + offsets.utc_offset) as local_hour,
        isodow(sends.sent_at + offsets.utc_offset) as local_weekday,
        exp(-$decay * date_diff('second', sends.sent_at, $as_of) / 86400.0) as weight
    from sends
    inner join offsets
        on sends.time_zone = offsets.time_zone
        and date_trunc('hour', sends.sent_at) = offsets.utc_hour
)"""


_WEEKDAY_SQL = f"""
with {_sends_sql(sampled=True)}
select local_weekday, sum(weight * is_engaged::int) / sum(weight) as rate, sum(weight) as exposure
from weighted
group by local_weekday
"""


def _hourly_sql(fold: tuple[int, int] | None = None, contact_modulus: int = 1) -> str:
    kept = [f"hash(contact_id, sent_at) % {fold[1]} = {fold[0]}"] if fold else []
    kept += [f"hash(contact_id) % {contact_modulus} = 0"] if contact_modulus > 1 else []
    sums = ",\n".join(
        f"    sum(exposure) filter (where local_hour = {h}) as x{h}, "
        f"sum(engaged) filter (where local_hour = {h}) as e{h}"
        for h in range(HOURS)
    )
    return f"""
with {_sends_sql(sampled=False)},
cells as (
    select
        contact_id,
        any_value(time_zone) as time_zone,
        local_hour,
        sum(weight * list_extract($weekday_factor, local_weekday)) as exposure,
        sum(weight * is_engaged::int) as engaged,
        sum(weight) as total_weight,
        count(*) as n_sends,
        count(*) filter (where is_human_opened) as n_opens,
        count(*) filter (where is_clicked) as n_clicks,
        count(*) filter (where is_engaged) as n_engaged
    from weighted
    {"where " + " and ".join(kept) if kept else ""}
    group by contact_id, local_hour
)
select
    contact_id,
    any_value(time_zone) as time_zone,
    sum(n_sends) as n_sends,
    sum(total_weight) as total_weight,
    sum(n_opens) as n_opens,
    sum(n_clicks) as n_clicks,
    sum(n_engaged) as n_engaged,
{sums}
from cells
group by contact_id
order by contact_id
"""


def account_time_zone(con: Any) -> str:
    """The most common contact time zone (UTC when none is known)."""
    row = con.execute(
        "select timezone from marts.dim_contacts where timezone is not null "
        "group by timezone order by count(*) desc, timezone limit 1"
    ).fetchone()
    return row[0] if row else "UTC"


def load_hourly_engagement(
    con: Any,
    as_of: datetime,
    settings: SendTimeSettings,
    fold: tuple[int, int] | None = None,
    contact_modulus: int = 1,
) -> HourlyEngagement:
    """Aggregate the marts in DuckDB to one row per contact with 24 exposure and engagement sums.

    Two passes: the account's weekday factors (recency-weighted engagement rate by local weekday
    over the overall rate), then the per-contact, per-hour sums with weekday-adjusted exposure.
    ``fold=(k, n)`` keeps the k-th of n disjoint random parts of the sends (by a hash of contact
    and send time; the weekday factors still come from all of them), for checks on held-out sends
    (``send_time.held_out_lift``); ``contact_modulus`` keeps only the contacts whose id hashes to 0
    modulo it."""
    params: dict[str, Any] = {
        "account_tz": settings.account_time_zone or account_time_zone(con),
        "as_of": as_of.replace(tzinfo=None),
        "lookback": settings.lookback_days,
        "decay": float(np.log(2) / settings.half_life_days),
    }
    # the weekday factors are account-level: read from about 20,000 contacts (every contact below that)
    (contacts,) = con.execute("select count(*) from marts.dim_contacts").fetchone()
    factor = np.ones(7)
    weekdays = con.execute(
        _WEEKDAY_SQL, {**params, "sample_modulus": max(1, int(contacts) // 20_000)}
    ).fetchall()
    total = sum(exposure for _, _, exposure in weekdays)
    overall = sum(rate * exposure for _, rate, exposure in weekdays) / total if total else 0.0
    for day, rate, _ in weekdays:
        factor[int(day) - 1] = rate / overall if overall > 0 else 1.0
    data = con.execute(
        _hourly_sql(fold, contact_modulus), {**params, "weekday_factor": factor.tolist()}
    ).fetchnumpy()

    def grid(prefix: str) -> np.ndarray:
        if not len(data["contact_id"]):
            return np.zeros((0, HOURS))
        # float32: a million contacts x 24 hours is 96 MB per array instead of 192
        columns = [np.asarray(data[f"{prefix}{h}"], dtype=np.float32) for h in range(HOURS)]
        return np.nan_to_num(np.column_stack(columns))

    # weights keep their ratios but sum to the contact's sends: recency moves the evidence in time
    # without pretending a contact with many old sends has seen fewer
    n_sends = np.asarray(data["n_sends"], dtype=np.float64)
    scale = (n_sends / np.maximum(np.asarray(data["total_weight"], dtype=np.float64), 1e-12))[:, None].astype(
        np.float32
    )
    return HourlyEngagement(
        contact_id=np.asarray(data["contact_id"], dtype=object),
        time_zone=np.asarray(data["time_zone"], dtype=object),
        exposure=grid("x") * scale,
        engaged=grid("e") * scale,
        n_sends=np.asarray(data["n_sends"], dtype=np.int64),
        n_opens=np.asarray(data["n_opens"], dtype=np.int64),
        n_clicks=np.asarray(data["n_clicks"], dtype=np.int64),
        n_engaged=np.asarray(data["n_engaged"], dtype=np.int64),
        weekday_factor=factor,
    )
