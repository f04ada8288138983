"""``loopwise simulate``'s send-time scores, against the sandbox's planted preferred hours.

- *measured*: the pipeline's own lift of personalized over the randomized control in human opens
  (``results.send_time_lift``, the newest analysis), with its 95% interval;
- *true*: what the hours Loopwise chose were worth by the sandbox's truth, on the same
  recipients: the expected human open probability at each personalized recipient's hour over the
  same recipient at the control's hour (the account's best single local hour);
- *oracle*: the same ratio with every personalized recipient at its true preferred hour;
  ``oracle_share_captured`` = true / oracle;
- *recovery*: the share of contacts with 10 or more human opens whose chosen hour (the newest
  ``results.send_time_profiles``) is within 2 hours (circular) of the planted post-drift hour.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sandbox import World
from sandbox.world.events import hour_factor

MIN_OPENS = 10
WITHIN_HOURS = 2


def warehouse_frame(warehouse: Path, sql: str) -> pd.DataFrame:
    """The query's rows, or an empty frame when the warehouse or a table it reads is missing."""
    import duckdb

    if not warehouse.exists():
        return pd.DataFrame()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        try:
            return con.execute(sql).df()
        except duckdb.CatalogException:
            return pd.DataFrame()


def circular_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)) % 24
    return np.minimum(d, 24 - d)


def _preferred_hours(world: World, contacts: np.ndarray, days: np.ndarray) -> np.ndarray:
    """The planted preferred local hour of each contact on each world day (the drift point moves it)."""
    c = world.contacts
    late = world.start_ts + days.astype(np.int64) * 86_400 >= world.email_ctx.drift_ts
    return np.where(late, c.pref_hour_late[contacts], c.pref_hour[contacts])


def true_lifts(world: World, assignments: pd.DataFrame) -> dict[str, float | None]:
    """Expected human-open lift of the personalized hours, and of the oracle's, over the control's
    hour, on the personalized recipients (sandbox truth; module docstring)."""
    control_hour = (
        assignments[assignments.arm == "control"].groupby("parent_campaign_id").scheduled_local_hour.first()
    )
    mine = assignments[
        (assignments.arm == "personalized") & assignments.parent_campaign_id.isin(control_hour.index)
    ]
    if mine.empty:
        return {"true_lift": None, "oracle_lift": None, "oracle_share_captured": None}
    contacts = np.array([world.profile_index(pid) for pid in mine.klaviyo_profile_id], dtype=np.int64)
    days = np.array([world.day_of(pd.Timestamp(ts).timestamp()) for ts in mine.scheduled_at], dtype=np.int64)
    pref = _preferred_hours(world, contacts, days)
    base = world.contacts.open_base[contacts]
    at_control = (
        base * hour_factor(mine.parent_campaign_id.map(control_hour).to_numpy(dtype=float), pref)
    ).sum()
    at_chosen = (base * hour_factor(mine.scheduled_local_hour.to_numpy(dtype=float), pref)).sum()
    at_truth = (base * hour_factor(pref, pref)).sum()
    true_lift, oracle_lift = at_chosen / at_control - 1, at_truth / at_control - 1
    return {
        "true_lift": round(float(true_lift), 4),
        "oracle_lift": round(float(oracle_lift), 4),
        "oracle_share_captured": round(float(true_lift / oracle_lift), 4) if oracle_lift > 0 else None,
    }


def recovery(world: World, warehouse: Path) -> dict[str, Any]:
    """Chosen hours within 2 hours of the planted (post-drift) hour, contacts with 10+ human opens."""
    profiles = warehouse_frame(
        warehouse,
        "select contact_id, chosen_local_hour, n_opens, account_best_local_hour from results.send_time_profiles "
        "where analysis_date = (select max(analysis_date) from results.send_time_profiles)",
    )
    if profiles.empty:
        return {"contacts": 0, "within_2h": None, "account_hour_within_2h": None}
    c = world.contacts
    index = {hashlib.sha256(c.email(i).encode()).hexdigest(): i for i in range(c.n)}
    profiles = profiles[(profiles.n_opens >= MIN_OPENS) & profiles.contact_id.isin(index)]
    if profiles.empty:
        return {"contacts": 0, "within_2h": None, "account_hour_within_2h": None}
    who = profiles.contact_id.map(index).to_numpy()
    truth = c.pref_hour_late[who]
    within = circular_distance(profiles.chosen_local_hour, truth) <= WITHIN_HOURS
    account = circular_distance(profiles.account_best_local_hour.fillna(-99), truth) <= WITHIN_HOURS
    return {
        "contacts": len(profiles),
        "within_2h": round(float(within.mean()), 4),
        "account_hour_within_2h": round(float(account.mean()), 4),
    }


def measured_lift(
    warehouse: Path, table: str = "send_time_lift", metric: str = "human_open_rate"
) -> dict[str, Any]:
    """The pipeline's newest measured lift of personalized over control in ``metric`` (a lift
    table shaped as ``results.send_time_lift``: one row per analysis date, metric and arm)."""
    rows = warehouse_frame(
        warehouse,
        f"select * from results.{table} where analysis_date = (select max(analysis_date) from results.{table})",
    )
    if rows.empty:
        return {"measured_lift": None, "measured_ci95": None, "sends": None}
    mine = rows[(rows.arm == "personalized") & (rows.metric == metric)]
    if mine.empty:
        return {"measured_lift": None, "measured_ci95": None, "sends": None}
    row = mine.iloc[0]
    return {
        "measured_lift": _number(row["relative_lift"]),
        "measured_ci95": [_number(row["ci_lower"]), _number(row["ci_upper"])],
        "sends": int(row["sends"]),
    }


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), 4)


def send_time_report(world: World, warehouse: Path) -> dict[str, Any]:
    """The simulation's ``send_time`` object (fields null when nothing was scheduled)."""
    assignments = warehouse_frame(
        warehouse,
        "select klaviyo_profile_id, parent_campaign_id, arm, scheduled_local_hour, scheduled_at "
        "from results.send_time_assignments",
    )
    arms = assignments.arm.value_counts().to_dict() if not assignments.empty else {}
    campaigns = int(assignments.parent_campaign_id.nunique()) if not assignments.empty else 0
    truth = (
        true_lifts(world, assignments)
        if not assignments.empty
        else {"true_lift": None, "oracle_lift": None, "oracle_share_captured": None}
    )
    return {
        "campaigns": campaigns,
        "recipients_by_arm": {str(k): int(v) for k, v in sorted(arms.items())},
        **measured_lift(warehouse),
        **truth,
        "recovery": recovery(world, warehouse),
    }
