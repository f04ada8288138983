"""How big a Loopwise test must be, on the warehouse's own rates and variance.

A standing test shows one library style to the variant arm on every campaign, so its data are
campaign sends pooled over weeks, clustered by contact: the same people receive every campaign
and some click far more than others. The planner (:func:`design_experiment`) therefore sizes the
test in delivered sends per arm, inflated by the design effect ``1 + (m - 1) * ICC`` of ``m``
sends per contact, with the intra-contact correlation (ICC) measured on the last 8 weeks of
campaign sends (:func:`read_baseline`). CUPED on the pre-period click rate reduces the variance
further at analysis time; the plan does not count on it, so it errs long.

The primary metric is orders per delivered email when the planned sample for orders fits in
``MAX_TEST_WEEKS``, else clicks per delivered email (the usual case: orders are ~0.3% of sends);
the plan states which and why (:attr:`ExperimentDesign.note`). A test capped at ``MAX_TEST_WEEKS``
states the lift its capped sample detects (:attr:`ExperimentDesign.detectable_relative_lift`).

This is the one planner: the launcher (:mod:`.launch`) plans a test with it and the hypothesis
backlog (:mod:`.campaign_plan`, :mod:`.hypotheses`) shows the same plan for the same library entry,
both on the window :func:`baseline_end` closes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from decision_engine.experiments.planning import required_sample_size_for_proportion

DETECTABLE_LIFT_STEPS = 60  # bisection steps for the lift a capped sample detects

#: Prior relative lift of a library style nobody has tested here yet (no learnings): a subject
#: line change that matters moves clicks by about a tenth. Learnings replace it when they exist.
DEFAULT_EXPECTED_LIFT = 0.10
#: Longest a test may run; a test that cannot reach its sample by then is planned at this length
#: (and says which lift it can detect).
MAX_TEST_WEEKS = 8
PRE_PERIOD_DAYS = 56  # the window the baseline, the ICC and the CUPED covariate are measured on
ALPHA = 0.05
POWER = 0.8

CLICK_RATE = "click_rate"
ORDER_RATE = "order_rate"
METRIC_WORDS = {CLICK_RATE: "clicks per delivered email", ORDER_RATE: "orders per delivered email"}


@dataclass(frozen=True)
class MetricBaseline:
    rate: float  # events per delivered send
    icc: float  # intra-contact correlation of the per-send outcome


@dataclass(frozen=True)
class Baseline:
    """Campaign sends of the pre-period, as the planner needs them."""

    clicks: MetricBaseline
    orders: MetricBaseline
    contacts: int  # contacts delivered at least one campaign send
    weekly_sends: float  # delivered campaign sends per week
    days: int = PRE_PERIOD_DAYS

    @property
    def sends_per_contact_week(self) -> float:
        return self.weekly_sends / self.contacts if self.contacts else 0.0


@dataclass(frozen=True)
class ExperimentDesign:
    """The plan of one test: what it decides on, how much it needs, how long that takes."""

    primary_metric: str
    baseline_rate: float
    expected_relative_lift: float
    required_units_per_arm: int  # delivered sends per arm for the planned power (design effect included)
    planned_units_per_arm: int  # required, capped at MAX_TEST_WEEKS of volume
    weekly_units_per_arm: float
    weeks_to_decision: float
    design_effect: float
    detectable_relative_lift: float | None  # the lift planned_units_per_arm detects (None: no events)
    note: str  # plain English: the primary metric and why


def icc_from_counts(delivered: np.ndarray, events: np.ndarray) -> MetricBaseline:
    """Rate and intra-contact correlation from per-contact delivered sends and events (method of
    moments: the spread of per-contact rates beyond what binomial noise explains)."""
    delivered = np.asarray(delivered, dtype=float)
    events = np.asarray(events, dtype=float)
    keep = delivered > 0
    delivered, events = delivered[keep], events[keep]
    if delivered.sum() == 0:
        return MetricBaseline(0.0, 0.0)
    rate = float(events.sum() / delivered.sum())
    if not 0 < rate < 1 or len(delivered) < 2:
        return MetricBaseline(rate, 0.0)
    per_contact = events / delivered
    noise = float(np.mean(rate * (1 - rate) / delivered))
    between = max(0.0, float(np.var(per_contact, ddof=1)) - noise)
    return MetricBaseline(rate, min(1.0, between / (rate * (1 - rate))))


def baseline_end(con: Any, now: datetime) -> datetime:
    """Where the pre-period ends: just after the newest send at or before ``now`` (a replayed or
    late-loaded warehouse lags the wall clock), naive UTC like the marts' send times."""
    clock = naive_utc(now)
    (newest,) = con.execute(
        "select max(sent_at) from marts.fct_email_sends where sent_at <= ?", [clock]
    ).fetchone()
    return min(naive_utc(newest) + timedelta(seconds=1), clock) if newest is not None else clock


def naive_utc(moment: datetime) -> datetime:
    """``moment`` as a naive UTC datetime (the marts' convention); a naive one is taken as UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def read_baseline(con: Any, now: datetime, days: int = PRE_PERIOD_DAYS) -> Baseline:
    """Per-contact sends, clicks and orders of campaigns (every message: a test reaches each arm
    of a marketer's A/B test too) over the ``days`` before :func:`baseline_end`."""
    end = baseline_end(con, now)
    rows = con.execute(
        "select count(*) filter (where is_delivered), count(*) filter (where is_delivered and is_clicked), "
        "count(*) filter (where is_delivered and is_converted) from marts.fct_email_sends "
        "where send_type = 'campaign' and contact_id is not null and sent_at >= ? and sent_at < ? "
        "group by contact_id having count(*) filter (where is_delivered) > 0",
        [end - timedelta(days=days), end],
    ).fetchall()
    counts = np.array(rows, dtype=float).reshape(-1, 3)
    delivered, clicks, orders = counts[:, 0], counts[:, 1], counts[:, 2]
    return Baseline(
        clicks=icc_from_counts(delivered, clicks),
        orders=icc_from_counts(delivered, orders),
        contacts=len(counts),
        weekly_sends=float(delivered.sum()) * 7 / days,
        days=days,
    )


def _weeks_needed(
    metric: MetricBaseline, lift: float, weekly_per_arm: float, sends_per_contact_week: float
) -> tuple[int, float, float]:
    """(required sends per arm, weeks, design effect there); weeks is inf beyond MAX_TEST_WEEKS."""
    if metric.rate <= 0 or weekly_per_arm <= 0 or lift <= 0:
        return 0, math.inf, 1.0
    independent = required_sample_size_for_proportion(metric.rate, lift, ALPHA, POWER)
    effect = 1.0
    for tenth in range(1, MAX_TEST_WEEKS * 10 + 1):
        weeks = tenth / 10
        effect = 1 + max(0.0, weeks * sends_per_contact_week - 1) * metric.icc
        if weekly_per_arm * weeks >= independent * effect:
            return math.ceil(independent * effect), weeks, effect
    return math.ceil(independent * effect), math.inf, effect


def detectable_lift(metric: MetricBaseline, units_per_arm: int, design_effect: float) -> float | None:
    """The smallest relative lift ``units_per_arm`` sends per arm detect at ALPHA and POWER, with
    the design effect at the planned length (the inverse of :func:`_weeks_needed`'s sizing)."""
    if metric.rate <= 0 or units_per_arm <= 0:
        return None

    def enough(lift: float) -> bool:
        return (
            required_sample_size_for_proportion(metric.rate, lift, ALPHA, POWER) * design_effect
            <= units_per_arm
        )

    low, high = 0.0, 1.0
    while not enough(high):
        high *= 2
        if high > 1e6:
            return None
    for _ in range(DETECTABLE_LIFT_STEPS):
        low, high = (low, (low + high) / 2) if enough((low + high) / 2) else ((low + high) / 2, high)
    return high


def design_experiment(
    baseline: Baseline, expected_relative_lift: float | None = None, test_share: float = 1.0
) -> ExperimentDesign:
    """The plan for a test enrolling ``test_share`` of the contacts, split 50/50."""
    lift = (
        expected_relative_lift
        if expected_relative_lift and expected_relative_lift > 0
        else DEFAULT_EXPECTED_LIFT
    )
    weekly_per_arm = baseline.weekly_sends * test_share / 2
    per_contact = baseline.sends_per_contact_week
    order_need, order_weeks, order_effect = _weeks_needed(baseline.orders, lift, weekly_per_arm, per_contact)
    click_need, click_weeks, click_effect = _weeks_needed(baseline.clicks, lift, weekly_per_arm, per_contact)
    cap = max(1, math.ceil(weekly_per_arm * MAX_TEST_WEEKS))
    if math.isfinite(order_weeks):
        metric, need, weeks, effect, rate = (
            ORDER_RATE,
            order_need,
            order_weeks,
            order_effect,
            baseline.orders.rate,
        )
        note = (
            f"Primary metric: {METRIC_WORDS[ORDER_RATE]}: at {rate:.2%} of sends, about {order_need:,} "
            f"recipients per arm (~{order_weeks:.1f} weeks) detect a {lift:.0%} lift."
        )
        metric_baseline = baseline.orders
    else:
        metric, need, weeks, effect, rate = (
            CLICK_RATE,
            click_need,
            click_weeks,
            click_effect,
            baseline.clicks.rate,
        )
        orders = (
            f"orders ({baseline.orders.rate:.2%} of sends) would need about {order_need:,} recipients per arm, "
            f"more than {MAX_TEST_WEEKS} weeks of volume"
            if order_need
            else "there are too few orders to plan on"
        )
        note = f"Primary metric: {METRIC_WORDS[CLICK_RATE]}, because {orders}."
        metric_baseline = baseline.clicks
    planned = min(need, cap) if need else cap
    detectable = detectable_lift(metric_baseline, planned, effect)
    if math.isfinite(weeks):
        if metric == CLICK_RATE:
            note += f" About {need:,} recipients per arm (~{weeks:.1f} weeks) detect a {lift:.0%} lift."
    elif detectable is None:
        note += f" There are no {METRIC_WORDS[metric]} yet to plan on."
    else:
        note += (
            f" A {lift:.0%} lift in {METRIC_WORDS[metric]} needs about {need:,} recipients per arm; the test is "
            f"planned at its {MAX_TEST_WEEKS}-week maximum ({planned:,} per arm), which detects a lift of "
            f"about {detectable:.0%} or more at {POWER:.0%} power (before CUPED)."
        )
    return ExperimentDesign(
        primary_metric=metric,
        baseline_rate=rate,
        expected_relative_lift=lift,
        required_units_per_arm=need,
        planned_units_per_arm=planned,
        weekly_units_per_arm=weekly_per_arm,
        weeks_to_decision=min(weeks, float(MAX_TEST_WEEKS)),
        design_effect=effect,
        detectable_relative_lift=detectable,
        note=note,
    )
