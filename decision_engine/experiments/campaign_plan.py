"""The backlog's plan of a candidate test: the launcher's plan, and what the test is worth.

A library entry's row in ``results.hypotheses`` must promise what the launcher will run, so the
plan is :func:`design.design_experiment` on :func:`design.read_baseline` (the same window, the
same design effect, the same 8-week cap): ``required_units_per_arm`` is the launch's
``planned_units_per_arm`` and ``weeks_to_decision`` its ``weeks_to_decision``. A test capped at
8 weeks says in its note what its capped sample detects.

The plan is sized at one lift and decides on orders when their test fits in 8 weeks, else on
clicks (:mod:`.design`). With a prior per metric (learnings), the plan tries the orders prior
first and keeps it when orders fit, else plans at the clicks prior; the row's
``expected_relative_lift`` is the prior the plan was sized at, so the launcher, which plans at
that lift, gets the same plan.

Expected value per week = expected relative lift x baseline rate x weekly delivered sends x value
per event: the extra revenue per week once the level is rolled out to every campaign recipient,
with value per event = attributed revenue per click (clicks) or per order (orders). It assumes
the extra events are worth what the average one is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from decision_engine.experiments.design import (
    CLICK_RATE,
    ORDER_RATE,
    PRE_PERIOD_DAYS,
    Baseline,
    ExperimentDesign,
    baseline_end,
    design_experiment,
    read_baseline,
)

PLAN_METRICS = (ORDER_RATE, CLICK_RATE)  # the metrics a plan may decide on, business metric first
#: the ``results.learnings`` metric each plan metric reads its prior from
LEARNINGS_METRIC = {CLICK_RATE: "click_rate", ORDER_RATE: "conversion_rate"}


@dataclass(frozen=True)
class CampaignBaseline:
    """The launcher's baseline and the attributed revenue per event of the same sends."""

    design: Baseline
    value_per_event: Mapping[str, float]

    @property
    def weekly_units(self) -> float:
        return self.design.weekly_sends


def read_campaign_baseline(con: Any, now: datetime, days: int = PRE_PERIOD_DAYS) -> CampaignBaseline:
    """:func:`design.read_baseline` and the revenue per click and per order of the same window."""
    end = baseline_end(con, now)
    clicks, orders, revenue = con.execute(
        "select count(*) filter (where is_clicked), count(*) filter (where is_converted), "
        "coalesce(sum(attributed_revenue), 0) from marts.fct_email_sends "
        "where send_type = 'campaign' and contact_id is not null and is_delivered and sent_at >= ? and sent_at < ?",
        [end - timedelta(days=days), end],
    ).fetchone()
    return CampaignBaseline(
        design=read_baseline(con, end, days),
        value_per_event={
            CLICK_RATE: float(revenue) / clicks if clicks else 0.0,
            ORDER_RATE: float(revenue) / orders if orders else 0.0,
        },
    )


@dataclass(frozen=True)
class TestPlan:
    """The plan of one candidate test and what it is worth."""

    primary_metric: str
    baseline_rate: float
    expected_relative_lift: float  # the prior the plan is sized at (the launcher's lift)
    required_units_per_arm: int | None  # the launcher's planned sends per arm; None without events
    weekly_units: float
    weeks_to_decision: float | None
    value_per_event: float
    expected_value_per_week: float
    note: str
    design: ExperimentDesign


def plan_test(baseline: CampaignBaseline, lifts: Mapping[str, float], test_share: float = 1.0) -> TestPlan:
    """The launcher's plan for a test enrolling ``test_share`` of the contacts (``lifts``: the
    expected relative lift per metric of :data:`PLAN_METRICS`)."""
    lift = lifts[ORDER_RATE]
    design = design_experiment(baseline.design, lift, test_share)
    if design.primary_metric != ORDER_RATE:
        lift = lifts[CLICK_RATE]
        design = design_experiment(baseline.design, lift, test_share)
    planned = design.baseline_rate > 0
    value = baseline.value_per_event.get(design.primary_metric, 0.0)
    return TestPlan(
        primary_metric=design.primary_metric,
        baseline_rate=design.baseline_rate,
        expected_relative_lift=lift,
        required_units_per_arm=design.planned_units_per_arm if planned else None,
        weekly_units=baseline.weekly_units,
        weeks_to_decision=design.weeks_to_decision if planned else None,
        value_per_event=value,
        expected_value_per_week=lift * design.baseline_rate * baseline.weekly_units * value,
        note=design.note,
        design=design,
    )
