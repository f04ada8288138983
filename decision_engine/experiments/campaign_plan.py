"""How much a campaign test needs, on the warehouse's own rates and variance (for the backlog).

A standing test shows one level to the variant arm on every campaign, so its data are campaign
sends pooled over weeks, clustered by contact (the same people get every campaign and some click
far more than others). The variance per send is therefore measured the way the analysis will see
it: the delta-method variance of the ratio ``sum(events) / sum(sends)`` over contacts, expressed
per send (:func:`clustered_unit_variance`; it equals ``p (1 - p)`` when contacts do not differ and
grows with their spread). The sample comes from :func:`planning.required_sample_size` at the
expected lift, in recipients (sends) per arm.

The primary metric is the first of :data:`PRIMARY_METRIC_PREFERENCE` (revenue per recipient,
orders per recipient, clicks per recipient) whose planned sample fits in
:data:`MAX_WEEKS_TO_DECISION` weeks of the account's campaign volume; clicks otherwise.

Expected value per week = expected relative lift x baseline rate x weekly recipients x value per
event: the extra revenue per week once the level is rolled out to every campaign recipient, with
value per event = attributed revenue per click (clicks), per order (orders), or 1 (revenue per
recipient is already money). It assumes the extra events are worth what the average one is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from decision_engine.experiments.planning import required_sample_size

CLICK_RATE = "click_rate"
ORDER_RATE = "order_rate"
REVENUE_PER_RECIPIENT = "revenue_per_recipient"
PRIMARY_METRIC_PREFERENCE = (REVENUE_PER_RECIPIENT, ORDER_RATE, CLICK_RATE)
#: the ``results.learnings`` metric each plan metric reads its prior from
LEARNINGS_METRIC = {
    CLICK_RATE: "click_rate",
    ORDER_RATE: "conversion_rate",
    REVENUE_PER_RECIPIENT: "revenue_per_recipient",
}
METRIC_WORDS = {
    CLICK_RATE: "clicks per recipient",
    ORDER_RATE: "orders per recipient",
    REVENUE_PER_RECIPIENT: "revenue per recipient",
}
BASELINE_DAYS = 56  # campaign sends the baseline, variance and weekly volume are measured on
MAX_WEEKS_TO_DECISION = 8  # a business metric leads only when its test fits in this many weeks
MIN_PLANNED_RELATIVE_LIFT = 0.01  # plans never size for a smaller effect (an expected lift near 0)
ALPHA = 0.05
POWER = 0.8


@dataclass(frozen=True)
class MetricBaseline:
    """One metric of recent campaign sends: its rate per recipient, variance per send, event value."""

    metric: str
    rate: float
    unit_variance: float  # per send, contact clustering included
    value_per_event: float


@dataclass(frozen=True)
class CampaignBaseline:
    metrics: Mapping[str, MetricBaseline]
    weekly_units: float  # campaign recipients (sends) per week
    contacts: int
    days: int


def clustered_unit_variance(events: np.ndarray, sends: np.ndarray) -> float:
    """Per-send variance of the rate ``sum(events) / sum(sends)`` with contacts as clusters:
    ``var(rate) = unit_variance / sum(sends)``."""
    events = np.asarray(events, dtype=float)
    sends = np.asarray(sends, dtype=float)
    if len(sends) < 2 or sends.sum() <= 0:
        return 0.0
    rate = events.sum() / sends.sum()
    residual = events - rate * sends
    return float(np.sum(residual**2) / (len(sends) - 1) / sends.mean())


def read_campaign_baseline(con: Any, now: datetime, days: int = BASELINE_DAYS) -> CampaignBaseline:
    """Per-contact campaign sends, clicks, orders and revenue of the ``days`` before ``now``."""
    rows = con.execute(
        "select count(*), count(*) filter (where is_clicked), count(*) filter (where is_converted), "
        "coalesce(sum(attributed_revenue), 0) from marts.fct_email_sends "
        "where send_type = 'campaign' and contact_id is not null and sent_at >= ? and sent_at < ? "
        "group by contact_id",
        [now - timedelta(days=days), now],
    ).fetchall()
    counts = np.array(rows, dtype=float).reshape(-1, 4)
    sends, clicks, orders, revenue = counts.T
    total = float(sends.sum())
    revenue_total = float(revenue.sum())

    def baseline(metric: str, events: np.ndarray, value: float) -> MetricBaseline:
        rate = float(events.sum()) / total if total else 0.0
        return MetricBaseline(metric, rate, clustered_unit_variance(events, sends), value)

    per_click = revenue_total / clicks.sum() if clicks.sum() else 0.0
    per_order = revenue_total / orders.sum() if orders.sum() else 0.0
    return CampaignBaseline(
        metrics={
            CLICK_RATE: baseline(CLICK_RATE, clicks, per_click),
            ORDER_RATE: baseline(ORDER_RATE, orders, per_order),
            REVENUE_PER_RECIPIENT: baseline(REVENUE_PER_RECIPIENT, revenue, 1.0),
        },
        weekly_units=total * 7 / days,
        contacts=len(counts),
        days=days,
    )


@dataclass(frozen=True)
class TestPlan:
    """The plan of one candidate test and what it is worth."""

    primary_metric: str
    baseline_rate: float
    expected_relative_lift: float
    required_units_per_arm: int | None  # None when the metric has no events or variance
    weekly_units: float
    weeks_to_decision: float | None
    value_per_event: float
    expected_value_per_week: float
    note: str


def _required(baseline: MetricBaseline, lift: float) -> int | None:
    if baseline.rate <= 0 or baseline.unit_variance <= 0:
        return None
    mde = baseline.rate * max(abs(lift), MIN_PLANNED_RELATIVE_LIFT)
    return required_sample_size(mde, baseline.unit_variance, ALPHA, POWER)


def plan_test(
    baseline: CampaignBaseline,
    lifts: Mapping[str, float],
    test_share: float = 1.0,
    metrics: tuple[str, ...] = PRIMARY_METRIC_PREFERENCE,
) -> TestPlan:
    """The plan on the first of ``metrics`` that fits in MAX_WEEKS_TO_DECISION (``lifts``: the
    expected relative lift per metric; ``test_share``: share of recipients enrolled, split 50/50)."""
    enrolled = baseline.weekly_units * test_share
    plans = []
    for metric in metrics:
        metric_baseline = baseline.metrics.get(metric)
        if metric_baseline is None:
            continue
        lift = lifts[metric]
        required = _required(metric_baseline, lift)
        weeks = 2 * required / enrolled if required is not None and enrolled > 0 else None
        plans.append((metric, metric_baseline, lift, required, weeks))
    if not plans:
        raise ValueError(f"no baseline for any of {metrics}")
    fits = [plan for plan in plans if plan[4] is not None and plan[4] <= MAX_WEEKS_TO_DECISION]
    metric, metric_baseline, lift, required, weeks = fits[0] if fits else plans[-1]
    chosen = [plan[0] for plan in plans].index(metric)
    skipped = [METRIC_WORDS.get(plan[0], plan[0]) for plan in plans[:chosen]]
    why = f"{METRIC_WORDS.get(metric, metric)}" + (
        f" ({' and '.join(skipped)} would need more than {MAX_WEEKS_TO_DECISION} weeks)" if skipped else ""
    )
    if required is None or weeks is None:
        note = f"Primary metric: {why}; no events or variance yet to plan on."
    else:
        note = (
            f"Primary metric: {why}: about {required:,} recipients per arm (~{weeks:.1f} weeks) "
            f"detect a {max(abs(lift), MIN_PLANNED_RELATIVE_LIFT):.0%} lift."
        )
    value = lift * metric_baseline.rate * baseline.weekly_units * metric_baseline.value_per_event
    return TestPlan(
        primary_metric=metric,
        baseline_rate=metric_baseline.rate,
        expected_relative_lift=lift,
        required_units_per_arm=required,
        weekly_units=baseline.weekly_units,
        weeks_to_decision=None if weeks is None or math.isinf(weeks) else weeks,
        value_per_event=metric_baseline.value_per_event,
        expected_value_per_week=value,
        note=note,
    )
