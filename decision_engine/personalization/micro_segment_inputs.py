"""What micro-segments read from the warehouse: per-contact engagement from
``marts.fct_email_sends`` (DuckDB does the sums), the latest ``results.content_affinity`` and
``results.customer_value`` (each None when its table does not exist)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from decision_engine.store import table_exists

_ENGAGEMENT_SQL = """
with sends as (
    select
        contact_id,
        is_clicked,
        is_human_opened or is_clicked as is_engaged,
        greatest(
            coalesce(case when is_human_opened then first_opened_at end, first_clicked_at),
            coalesce(first_clicked_at, case when is_human_opened then first_opened_at end)
        ) as engaged_at,
        exp(-$decay * date_diff('second', sent_at::timestamp, $as_of) / 86400.0) as weight
    from marts.fct_email_sends
    where is_delivered
        and contact_id is not null
        and sent_at::timestamp < $as_of
        and sent_at::timestamp >= $as_of - to_days($lookback)
)
select
    contact_id,
    count(*) as n_sends,
    count(*) filter (where is_clicked) as n_clicks,
    count(*) filter (where is_engaged) as n_engaged,
    sum(weight) as exposure,
    coalesce(sum(weight) filter (where is_clicked), 0) as clicked,
    max(engaged_at) filter (where is_engaged) as last_engaged_at
from sends
group by contact_id
order by contact_id
"""


def load_engagement(con: Any, as_of: datetime, half_life_days: float, lookback_days: int) -> pd.DataFrame:
    """Per contact with a delivered send in the lookback: counts, recency-weighted clicks and sends
    (weights rescaled to sum to the contact's sends) and days since the last engagement."""
    params = {
        "as_of": as_of.replace(tzinfo=None),
        "lookback": lookback_days,
        "decay": float(np.log(2) / half_life_days),
    }
    frame = con.execute(_ENGAGEMENT_SQL, params).df()
    scale = frame["n_sends"] / frame["exposure"].clip(lower=1e-12)
    frame["exposure"] *= scale
    frame["clicked"] *= scale
    last = pd.to_datetime(frame["last_engaged_at"])
    frame["days_since_engagement"] = (
        pd.Timestamp(as_of.replace(tzinfo=None)) - last
    ).dt.total_seconds() / 86400
    return frame.drop(columns=["last_engaged_at"])


def load_angle_probability(con: Any) -> pd.DataFrame | None:
    """contact_id x angle: probability_best of the latest content affinity; None without the table."""
    if not table_exists(con, "results", "content_affinity"):
        return None
    rows = con.execute(
        "select contact_id, angle, probability_best from results.content_affinity "
        "where analysis_date = (select max(analysis_date) from results.content_affinity)"
    ).df()
    return rows.pivot(index="contact_id", columns="angle", values="probability_best")


def load_expected_value(con: Any) -> pd.Series | None:
    """Expected value per customer of the latest customer value run (expected purchases where the
    spend model has no finite mean); None without the table."""
    if not table_exists(con, "results", "customer_value"):
        return None
    rows = con.execute(
        "select contact_id, coalesce(expected_value, expected_purchases) as value from results.customer_value "
        "where analysis_date = (select max(analysis_date) from results.customer_value)"
    ).df()
    return rows.set_index("contact_id")["value"]
