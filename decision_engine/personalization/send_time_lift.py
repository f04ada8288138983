"""What per-contact send time earns: the randomized arms of ``results.send_time_assignments``
compared on the sends they produced.

Each recipient of a campaign Loopwise governs is randomised into an arm: ``personalized`` (its
own best local hour, ``results.send_time_profiles``), ``control`` (the account's best local
hour: a concurrent randomized control, ``send_time.holdout_share``) or ``explore`` (a random
local hour, ``send_time.explore_share``). The assignments join the delivered sends of
``marts.fct_email_sends`` on ``campaign_id`` (the hourly clone the send went out under) and
``contact_id``. Only *matured* sends are read: sent before the end of the data date (the newest
delivered send day) minus ``MATURITY_DAYS``, so their opens and clicks have arrived.

The metric of an arm is a ratio of totals, events / delivered sends (human opens: machine
opens never count; clicks). The unit of randomisation is the recipient of one campaign, but the
same contact receives many sends, in any arm, and a contact's sends are correlated (some people
open everything). The interval therefore treats the *contact* as the independent unit: the
delta method on ``log(rate_arm / rate_control)`` with a cluster-robust (sandwich) variance
summed over contacts (:func:`clustered_ratio_lift`). It is the same estimate and variance as an
OLS of the per-send outcome on arm dummies with ``cov_type='cluster'`` by contact followed by the
delta method (the tests check it against statsmodels), and it accounts for a contact sitting in
both arms (a covariance an arm-by-arm variance would leave out).

Campaigns are pooled: each arm's rate is over all its matured sends. Every campaign is split
with the same policy shares, so each campaign weighs the same in every arm; a change of the
shares between campaigns would weigh them differently (see ``docs/architecture.md``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from scipy import stats

from decision_engine.experiments.design import naive_utc
from decision_engine.personalization.data_date import end_of, newest_send_day
from decision_engine.store import RESULTS_SCHEMA, ensure_results_table, table_exists, write_results

TABLE = "send_time_lift"
ASSIGNMENTS = "send_time_assignments"
MATURITY_DAYS = 2  # opens and clicks of a send arrive within two days
LEVEL = 0.95
ARMS = ("personalized", "control", "explore")
CONTROL = "control"
METRICS = {"human_open_rate": "human_opens", "click_rate": "clicks"}


@dataclass(frozen=True)
class Lift:
    """Relative lift of a variant arm over the control, with its interval (at ``level``)."""

    point: float
    low: float
    high: float
    p_value: float
    log_ratio_se: float
    level: float
    clusters: int


def clustered_ratio_lift(
    variant_events: np.ndarray,
    variant_sends: np.ndarray,
    control_events: np.ndarray,
    control_sends: np.ndarray,
    level: float = LEVEL,
) -> Lift | None:
    """``R_v / R_c - 1`` with ``R_a = sum(events_a) / sum(sends_a)``; arrays are per contact (the
    clusters; zeros where a contact had no send in that arm).

    Linearisation of the log ratio per contact ``i``:
    ``u_i = (y_vi - R_v x_vi) / Y_v - (y_ci - R_c x_ci) / Y_c``; its cluster-robust variance is
    ``G / (G - 1) * sum(u_i^2)`` over the ``G`` contacts with a send in either arm (the CR1
    small-sample factor statsmodels uses for clusters). Interval ``exp(log ratio +- z se) - 1``,
    p-value the two-sided Wald z of the log ratio. None when an arm has no sends or no events,
    fewer than two contacts, or no variance.
    """
    y_v, x_v = np.asarray(variant_events, float), np.asarray(variant_sends, float)
    y_c, x_c = np.asarray(control_events, float), np.asarray(control_sends, float)
    keep = (x_v > 0) | (x_c > 0)
    y_v, x_v, y_c, x_c = y_v[keep], x_v[keep], y_c[keep], x_c[keep]
    clusters = int(keep.sum())
    total_yv, total_xv, total_yc, total_xc = y_v.sum(), x_v.sum(), y_c.sum(), x_c.sum()
    if clusters < 2 or min(total_yv, total_xv, total_yc, total_xc) <= 0:
        return None
    rate_v, rate_c = total_yv / total_xv, total_yc / total_xc
    u = (y_v - rate_v * x_v) / total_yv - (y_c - rate_c * x_c) / total_yc
    variance = clusters / (clusters - 1) * float(np.sum(u * u))
    if not variance > 0:
        return None
    se = math.sqrt(variance)
    log_ratio = math.log(rate_v / rate_c)
    z = float(stats.norm.ppf(0.5 + level / 2))
    return Lift(
        point=math.expm1(log_ratio),
        low=math.expm1(log_ratio - z * se),
        high=math.expm1(log_ratio + z * se),
        p_value=float(2 * stats.norm.sf(abs(log_ratio) / se)),
        log_ratio_se=se,
        level=level,
        clusters=clusters,
    )


def matured_before(analysis_date: date) -> datetime:
    """Sends before this moment have matured: the end of the data date minus ``MATURITY_DAYS``."""
    return end_of(analysis_date) - timedelta(days=MATURITY_DAYS)


def load_arm_sends(con: Any, before: datetime, parent_campaign_id: str | None = None) -> pd.DataFrame:
    """Per contact, arm and marketer campaign: matured delivered sends, human opens and clicks.

    One assignment per campaign and contact (the latest ``assigned_at`` when a row was written
    twice). ``before`` is naive UTC (as ``newest_send_day`` reads ``sent_at``). Empty when either
    table is missing.
    """
    columns = ["contact_id", "arm", "parent_campaign_id", "sends", "human_opens", "clicks"]
    if not (table_exists(con, RESULTS_SCHEMA, ASSIGNMENTS) and table_exists(con, "marts", "fct_email_sends")):
        return pd.DataFrame(columns=columns)
    return con.execute(
        f"""
        with assignments as (
            select campaign_id, contact_id, parent_campaign_id, arm
            from {RESULTS_SCHEMA}.{ASSIGNMENTS}
            where arm in (select unnest(?)) and (? is null or parent_campaign_id = ?)
            qualify row_number() over (
                partition by campaign_id, contact_id order by assigned_at desc nulls last
            ) = 1
        )
        select
            a.contact_id, a.arm, a.parent_campaign_id,
            count(*) as sends,
            count(*) filter (where coalesce(s.is_human_opened, false)) as human_opens,
            count(*) filter (where coalesce(s.is_clicked, false)) as clicks
        from assignments as a
        join marts.fct_email_sends as s on s.campaign_id = a.campaign_id and s.contact_id = a.contact_id
        where s.is_delivered and s.sent_at::timestamp < ?
        group by all
        order by all
        """,
        [list(ARMS), parent_campaign_id, parent_campaign_id, naive_utc(before)],
    ).df()


def arm_lift(frame: pd.DataFrame, metric: str, variant: str, level: float = LEVEL) -> Lift | None:
    """``variant`` over the control on ``metric`` (a key of ``METRICS``) from :func:`load_arm_sends`
    rows, clustered by contact."""
    events = METRICS[metric]
    per_contact = frame.pivot_table(
        index="contact_id", columns="arm", values=[events, "sends"], aggfunc="sum", fill_value=0
    )
    if (events, variant) not in per_contact or (events, CONTROL) not in per_contact:
        return None
    return clustered_ratio_lift(
        per_contact[(events, variant)].to_numpy(float),
        per_contact[("sends", variant)].to_numpy(float),
        per_contact[(events, CONTROL)].to_numpy(float),
        per_contact[("sends", CONTROL)].to_numpy(float),
        level,
    )


@dataclass
class LiftRun:
    """What a run of a randomized lift wrote (:func:`run_lift`): its rows, the data date, the matured
    sends per arm, the marketer campaigns and the lifts by (metric, arm)."""

    rows: int
    analysis_date: date | None
    sends: dict[str, int] = field(default_factory=dict)
    campaigns: int = 0
    lifts: dict[tuple[str, str], Lift | None] = field(default_factory=dict)


RunT = TypeVar("RunT", bound=LiftRun)


@dataclass
class SendTimeLiftRun(LiftRun):
    @property
    def headline(self) -> str:
        if self.analysis_date is None:
            return "Send-time lift: no delivered email sends yet."
        if not self.rows:
            return (
                "Send-time lift: no matured sends with a send-time assignment yet "
                f"(results.{ASSIGNMENTS}; sends count {MATURITY_DAYS} days after they go out)."
            )
        lift = self.lifts.get(("human_open_rate", "personalized"))
        counts = ", ".join(f"{self.sends.get(arm, 0):,} {arm}" for arm in ARMS)
        text = f"Send-time lift over {self.campaigns} campaign(s) ({counts} sends): "
        if lift is None:
            return text + "not enough sends in both the personalized and the control arm to compare yet."
        return (
            text + f"personalized vs control human open rate {lift.point:+.1%} "
            f"({lift.level:.0%} interval {lift.low:+.1%} to {lift.high:+.1%}, p = {lift.p_value:.3g})."
        )


def lift_table(
    frame: pd.DataFrame,
    analysis_date: date,
    before: datetime,
    now: datetime,
    campaign_column: str = "parent_campaign_id",
) -> tuple[pd.DataFrame, dict]:
    """``results.send_time_lift`` rows (one per metric and arm present) and the lifts computed;
    ``results.content_lift`` has the same shape. ``campaign_column``: the frame's marketer campaign."""
    total_sends = float(frame["sends"].sum())
    by_arm = frame.groupby("arm").agg(
        campaigns=(campaign_column, "nunique"),
        sends=("sends", "sum"),
        contacts=("contact_id", "nunique"),
        human_opens=("human_opens", "sum"),
        clicks=("clicks", "sum"),
    )
    rows, lifts = [], {}
    for metric, events in METRICS.items():
        control_rate = (
            by_arm.loc[CONTROL, events] / by_arm.loc[CONTROL, "sends"] if CONTROL in by_arm.index else None
        )
        for arm in ARMS:
            if arm not in by_arm.index:
                continue
            counts = by_arm.loc[arm]
            lift = arm_lift(frame, metric, arm) if arm != CONTROL else None
            if arm != CONTROL:
                lifts[(metric, arm)] = lift
            rows.append(
                {
                    "analysis_timestamp": pd.Timestamp(now),
                    "analysis_date": pd.Timestamp(analysis_date),
                    "matured_before": pd.Timestamp(before).tz_localize("UTC"),
                    "metric": metric,
                    "arm": arm,
                    "campaigns": int(counts["campaigns"]),
                    "sends": int(counts["sends"]),
                    "contacts": int(counts["contacts"]),
                    "share_of_sends": float(counts["sends"]) / total_sends,
                    "human_opens": int(counts["human_opens"]),
                    "clicks": int(counts["clicks"]),
                    "rate": float(counts[events]) / float(counts["sends"]),
                    "control_rate": float(control_rate) if control_rate is not None else None,
                    "relative_lift": lift.point if lift else None,
                    "ci_lower": lift.low if lift else None,
                    "ci_upper": lift.high if lift else None,
                    "p_value": lift.p_value if lift else None,
                    "log_ratio_se": lift.log_ratio_se if lift else None,
                    "clusters": lift.clusters if lift else None,
                }
            )
    return pd.DataFrame(rows), lifts


def run_lift(
    con: Any,
    now: datetime,
    table: str,
    load: Callable[[Any, datetime], pd.DataFrame],
    run_type: type[RunT],
    campaign_column: str = "parent_campaign_id",
) -> RunT:
    """Compute and write a randomized lift ``table`` for the newest data date from the matured sends
    ``load(con, before)`` returns (per contact, arm and marketer campaign); a re-run for the same
    date replaces its rows. Without matured assigned sends nothing is written (the table is still
    created, so BI finds it) and the run's headline says so."""
    ensure_results_table(con, table)
    analysis_date = newest_send_day(con) if table_exists(con, "marts", "fct_email_sends") else None
    if analysis_date is None:
        return run_type(rows=0, analysis_date=None)
    before = matured_before(analysis_date)
    frame = load(con, before)
    if frame.empty:
        return run_type(rows=0, analysis_date=analysis_date)
    rows, lifts = lift_table(frame, analysis_date, before, now, campaign_column)
    write_results(con, table, rows, replace_where=("analysis_date",))
    return run_type(
        rows=len(rows),
        analysis_date=analysis_date,
        sends={str(arm): int(n) for arm, n in frame.groupby("arm")["sends"].sum().items()},
        campaigns=int(frame[campaign_column].nunique()),
        lifts=lifts,
    )


def run_send_time_lift(con: Any, now: datetime) -> SendTimeLiftRun:
    """Compute and write ``results.send_time_lift`` for the newest data date (:func:`run_lift`);
    ``results.send_time_assignments`` is created empty when missing."""
    ensure_results_table(con, ASSIGNMENTS)
    return run_lift(con, now, TABLE, load_arm_sends, SendTimeLiftRun)
