"""A marts-shaped warehouse of email sends with a planted preferred content angle per contact,
generated in DuckDB SQL (no Python loops), for the content-affinity benchmark.

The rules copy the sandbox's (``sandbox/world/contacts.py``, and the factors of
``benchmarks/content_affinity_sandbox_eval.py``): each contact likes one of the four angles
(uniform); a send of the liked angle multiplies the open and the click probability by 1.35, any
other angle by 0.85. A contact's base open rate is 0.05 + 0.45 u^1.6 (as in
``send_time_synthetic.py``), a click given an open 0.2 x the factor; 1% of sends bounce.

Contact ids are ``c00000001`` or, with ``sha256_ids``, 64 hex characters as the marts make them
(sha256 of the normalised email). Campaigns (``campaigns_per_week``) go to every contact; campaign ``k`` is message ``camp_k`` with
angle ``k mod 4``, so the angles are evenly spread. Flow emails (``flow_sends_per_week`` per
contact at random times) are messages ``flow_f`` tagged ``lifecycle``, which the model leaves out.

Tables: ``marts.fct_email_sends`` (the columns the model reads: contact_id, message_id, sent_at,
is_delivered, is_human_opened, is_clicked), ``marts.dim_message_content`` (message_id, angle) and
``truth.contacts`` (contact_id, liked_angle, open_base).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from decision_engine.personalization.content_affinity import CONTENT_ANGLES

START = datetime(2026, 1, 5)
LIKED, DISLIKED = 1.35, 0.85  # the sandbox's factors on the open and the click probability
CLICK_GIVEN_OPEN = 0.2


@dataclass(frozen=True)
class AffinitySpec:
    contacts: int = 2000
    days: int = 365
    campaigns_per_week: int = 3
    flow_sends_per_week: float = 0.5
    seed: int = 1
    sha256_ids: bool = False  # contact_id as the marts make it (64 hex characters), else c00000001


def _uniform(*parts: str) -> str:
    """A uniform (0, 1) from a hash of the given SQL expressions (deterministic, no RNG state)."""
    return f"((hash({', '.join(parts)}) % 1000003)::double + 0.5) / 1000003"


def create_synthetic_affinity(con: Any, spec: AffinitySpec) -> None:
    s = str(spec.seed)
    angles = "[" + ", ".join(f"'{a}'" for a in CONTENT_ANGLES) + "]"
    n_angles = len(CONTENT_ANGLES)
    n_campaigns = spec.days * spec.campaigns_per_week // 7
    flows = max(1, round(spec.days / 7 * spec.flow_sends_per_week))
    con.execute("create schema if not exists marts")
    con.execute("create schema if not exists truth")
    con.execute(f"""
        create or replace table truth.contacts as
        select
            i,
            {"sha256('contact' || i)" if spec.sha256_ids else "'c' || lpad(i::varchar, 8, '0')"} as contact_id,
            (hash(i, 'liked', {s}) % {n_angles})::int as liked_index,
            list_extract({angles}, 1 + (hash(i, 'liked', {s}) % {n_angles})::int) as liked_angle,
            0.05 + 0.45 * pow({_uniform("i", "'open'", s)}, 1.6) as open_base
        from range({spec.contacts}) as r(i)
    """)
    con.execute(f"""
        create or replace table marts.dim_message_content as
        select 'camp_' || k as message_id, list_extract({angles}, 1 + (k % {n_angles})::int) as angle
        from range({n_campaigns}) as c(k)
        union all
        select 'flow_' || f as message_id, 'lifecycle' as angle
        from range({flows}) as f(f)
    """)
    con.execute(f"""
        create or replace table marts.fct_email_sends as
        with planned as (
            select
                contacts.i,
                contacts.contact_id,
                contacts.open_base,
                'camp_' || k as message_id,
                timestamp '{START:%Y-%m-%d}'
                    + to_days((k * 7 / {spec.campaigns_per_week})::int)
                    + to_hours((9 + hash(k, 'hour', {s}) % 8)::int)
                    + to_seconds((hash(contacts.i, k, 'jitter', {s}) % 600)::int) as sent_at,
                case when k % {n_angles} = contacts.liked_index then {LIKED} else {DISLIKED} end as factor,
                k as send_key
            from truth.contacts as contacts
            cross join range({n_campaigns}) as c(k)
            union all
            select
                contacts.i,
                contacts.contact_id,
                contacts.open_base,
                'flow_' || f as message_id,
                timestamp '{START:%Y-%m-%d}'
                    + to_seconds((hash(contacts.i, f, 'flow', {s}) % {spec.days * 86400})::bigint) as sent_at,
                1.0 as factor,
                100000 + f as send_key
            from truth.contacts as contacts
            cross join range({flows}) as f(f)
        ),
        outcomes as (
            select
                *,
                {_uniform("i", "send_key", "'open'", s)} < open_base * factor as opens,
                {_uniform("i", "send_key", "'click'", s)} < {CLICK_GIVEN_OPEN} * factor as clicks_if_opened,
                {_uniform("i", "send_key", "'bounce'", s)} < 0.01 as is_bounced
            from planned
        )
        select
            contact_id,
            message_id,
            sent_at,
            not is_bounced as is_delivered,
            not is_bounced and opens as is_human_opened,
            not is_bounced and opens and clicks_if_opened as is_clicked
        from outcomes
    """)
