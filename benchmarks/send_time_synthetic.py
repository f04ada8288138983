"""A marts-shaped warehouse of email sends with a planted preferred local hour per contact,
generated in DuckDB SQL (no Python loops), for the send-time tests and benchmark.

The rules copy the sandbox's (``sandbox/world/contacts.py`` and ``events.py``): a preferred local
hour from a mixture around 8:00, 12:30 and 19:30 (sd 1.2 h); for 30% of contacts it moves by -4,
+4 or +9 hours halfway through; the chance to open a send is base x (0.6 + 0.8 exp(-dh^2 / 8)) x a
weekday factor, dh the circular hours between the send's local time and the preference.
Campaigns go to everyone at one of a few UTC hours; flow emails arrive at random times of day.
Time zones have fixed offsets all year (no daylight saving) so the truth is exact.

Tables: ``marts.dim_contacts`` (contact_id, timezone), ``marts.fct_email_sends`` (the columns
the model reads) and ``truth.contacts`` (pref_hour, pref_hour_late, drifts, open_base).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

# (IANA zone without daylight saving, UTC offset in minutes, share)
ZONES = [
    ("America/Bogota", -300, 0.28),
    ("America/Mexico_City", -360, 0.12),
    ("America/Phoenix", -420, 0.16),
    ("UTC", 0, 0.14),
    ("Africa/Lagos", 60, 0.12),
    ("Asia/Kolkata", 330, 0.06),
    ("Asia/Tokyo", 540, 0.06),
    ("Australia/Brisbane", 600, 0.06),
]
SEND_HOURS_UTC = [9, 10, 13, 14, 15, 16, 17]
WEEKDAY_FACTOR = [1.0, 1.05, 1.05, 1.0, 0.95, 0.8, 0.85]  # Monday first
START = datetime(2026, 1, 5)


@dataclass(frozen=True)
class SyntheticSpec:
    contacts: int = 2000
    days: int = 90
    campaigns_per_week: int = 3
    flow_sends_per_week: float = 0.5
    drift_at: float = 0.5
    seed: int = 7

    @property
    def end(self) -> datetime:
        return START + timedelta(days=self.days)

    @property
    def drift_ts(self) -> datetime:
        return START + timedelta(days=self.days * self.drift_at)


def _uniform(*parts: str) -> str:
    """A uniform (0, 1) from a hash of the given SQL expressions (deterministic, no RNG state)."""
    return f"((hash({', '.join(parts)}) % 1000003)::double + 0.5) / 1000003"


def create_synthetic_sends(con: Any, spec: SyntheticSpec) -> None:
    s = str(spec.seed)
    zones = ", ".join(f"({i}, '{name}', {offset}, {share})" for i, (name, offset, share) in enumerate(ZONES))
    con.execute("create schema if not exists marts")
    con.execute("create schema if not exists truth")
    con.execute(f"""
        create or replace table truth.zones as
        select *, sum(share) over (order by zone_index) as upto
        from (values {zones}) as z(zone_index, zone, offset_minutes, share)
    """)
    u = lambda tag: _uniform("i", f"'{tag}'", s)  # noqa: E731
    con.execute(f"""
        create or replace table truth.contacts as
        with base as (
            select
                i,
                {u("zone")} as u_zone,
                {u("class")} as u_class,
                sqrt(-2 * ln({u("n1")})) * cos(2 * pi() * {u("n2")}) as z,
                {u("drift")} as u_drift,
                {u("shift")} as u_shift,
                {u("open")} as u_open,
                {u("mpp")} as u_mpp
            from range({spec.contacts}) as r(i)
        ),
        traits as (
            select
                i,
                'c' || lpad(i::varchar, 8, '0') as contact_id,
                (select min(zone_index) from truth.zones where upto >= u_zone * 0.99999) as zone_index,
                (case when u_class < 0.45 then 8.0 when u_class < 0.70 then 12.5 else 19.5 end
                    + 1.2 * z + 48) % 24 as pref_hour,
                u_drift < 0.3 as drifts,
                case when u_shift < 1 / 3 then -4.0 when u_shift < 2 / 3 then 4.0 else 9.0 end as shift,
                0.05 + 0.45 * pow(u_open, 1.6) as open_base,
                u_mpp < 0.2 as is_mpp
            from base
        )
        select
            traits.*,
            zones.zone as timezone,
            zones.offset_minutes,
            case when drifts then (pref_hour + shift + 24) % 24 else pref_hour end as pref_hour_late
        from traits
        join truth.zones as zones using (zone_index)
    """)
    con.execute("""
        create or replace table marts.dim_contacts as
        select contact_id, timezone from truth.contacts
    """)
    n_campaigns = spec.days * spec.campaigns_per_week // 7
    hours = "[" + ", ".join(map(str, SEND_HOURS_UTC)) + "]"
    flows = max(1, round(spec.days / 7 * spec.flow_sends_per_week))
    con.execute(f"""
        create or replace view truth.sends_planned as
        select
            contacts.contact_id,
            contacts.i,
            contacts.offset_minutes,
            contacts.pref_hour,
            contacts.pref_hour_late,
            contacts.open_base,
            contacts.is_mpp,
            timestamp '{START:%Y-%m-%d}'
                + to_days((k * 7 / {spec.campaigns_per_week})::int)
                + to_hours(list_extract({hours}, 1 + (hash(k, 'hour', {s}) % {len(SEND_HOURS_UTC)})::int))
                + to_seconds((hash(contacts.i, k, 'jitter', {s}) % 600)::int) as sent_at,
            k as send_key
        from truth.contacts as contacts
        cross join range({n_campaigns}) as c(k)
        union all
        select
            contacts.contact_id,
            contacts.i,
            contacts.offset_minutes,
            contacts.pref_hour,
            contacts.pref_hour_late,
            contacts.open_base,
            contacts.is_mpp,
            timestamp '{START:%Y-%m-%d}'
                + to_seconds((hash(contacts.i, f, 'flow', {s}) % {spec.days * 86400})::bigint) as sent_at,
            100000 + f as send_key
        from truth.contacts as contacts
        cross join range({flows}) as f(f)
    """)
    con.execute(f"""
        create or replace table marts.fct_email_sends as
        with local as (
            select
                *,
                sent_at + to_minutes(offset_minutes) as local_at,
                case when sent_at >= timestamp '{spec.drift_ts:%Y-%m-%d %H:%M:%S}'
                    then pref_hour_late else pref_hour end as pref
            from truth.sends_planned
        ),
        probabilities as (
            select
                *,
                abs(hour(local_at) + minute(local_at) / 60.0 + second(local_at) / 3600.0 - pref) as dh_raw,
                list_extract({WEEKDAY_FACTOR}, isodow(local_at)) as weekday_factor
            from local
        ),
        outcomes as (
            select
                *,
                {_uniform("i", "send_key", "'open'", s)}
                    < open_base * (0.6 + 0.8 * exp(-pow(least(dh_raw, 24 - dh_raw), 2) / 8)) * weekday_factor
                    as is_human_opened,
                {_uniform("i", "send_key", "'click'", s)} < 0.15 as clicks_if_opened,
                {_uniform("i", "send_key", "'bounce'", s)} < 0.01 as is_bounced
            from probabilities
        )
        select
            contact_id,
            sent_at,
            not is_bounced as is_delivered,
            not is_bounced and is_human_opened as is_human_opened,
            not is_bounced and is_human_opened and clicks_if_opened as is_clicked,
            not is_bounced and is_mpp and not is_human_opened as is_machine_open_only
        from outcomes
    """)
    con.execute("drop view truth.sends_planned")
