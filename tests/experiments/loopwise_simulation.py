"""Simulated Loopwise tests through the real plan -> hash assignment -> sequential decide path.

A synthetic audience like the demo world's: contacts with their own open and click propensity
(Beta(2, 6) x Beta(2, 14), scaled to ~2.4% clicks per delivered email), three campaigns a week,
an 8-week pre-period that feeds the plan (``design.read_baseline``'s statistics) and the CUPED
covariate. Every test is planned by ``design_experiment``, its contacts split by
``assignment.assign_test_arm`` (the test id and the profile id), and once a week (a look) all
still-running tests are analysed together by ``analyze_loopwise_tests`` on exposures shaped
like ``marts.fct_experiment_exposures``' loopwise_test rows. A test stops at its first ship,
keep_control or stop_for_harm; the rest run to the planned sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import pandas as pd

from decision_engine.experiments.assignment import assign_test_arm
from decision_engine.experiments.design import Baseline, design_experiment, icc_from_counts
from decision_engine.experiments.launch import LoopwiseTest, experiment_id
from decision_engine.experiments.loopwise_analysis import analyze_loopwise_tests
from decision_engine.policy import Policy

START = datetime(2026, 3, 2, 9, tzinfo=UTC)
SENDS_PER_WEEK = 3
PRE_WEEKS = 8
CLICK_SCALE = 0.77  # Beta(2,6) x Beta(2,14) has mean 0.031; scaled to ~2.4% clicks per send
ORDER_SHARE_OF_CLICKS = 0.14  # ~0.33% orders per send


@dataclass
class SimulatedTests:
    planned_units_per_arm: int
    primary_metric: str
    weeks: int
    decisions: dict[str, str] = field(default_factory=dict)  # test id -> final decision
    decided_at_fraction: dict[str, float] = field(default_factory=dict)
    looks: int = 0

    def share(self, decision: str) -> float:
        return sum(d == decision for d in self.decisions.values()) / len(self.decisions)

    def count(self, decision: str) -> int:
        return sum(d == decision for d in self.decisions.values())


def simulate_tests(
    n_tests: int, relative_effect: float, contacts: int = 3200, seed: int = 0, max_weeks: int = 12
) -> SimulatedTests:
    """Run ``n_tests`` independent tests whose variant multiplies each contact's click (and
    order) probability by ``1 + relative_effect`` (0: an A/A test)."""
    rng = np.random.default_rng(seed)
    shape = (n_tests, contacts)
    p_click = rng.beta(2.0, 6.0, shape) * rng.beta(2.0, 14.0, shape) * CLICK_SCALE
    p_order = p_click * ORDER_SHARE_OF_CLICKS
    pre_sends = PRE_WEEKS * SENDS_PER_WEEK
    pre_clicks = rng.binomial(pre_sends, p_click)
    pre_orders = rng.binomial(pre_sends, p_order)
    # the plan, from the first test's pre-period (every test's audience is alike)
    baseline = Baseline(
        clicks=icc_from_counts(np.full(contacts, pre_sends), pre_clicks[0]),
        orders=icc_from_counts(np.full(contacts, pre_sends), pre_orders[0]),
        contacts=contacts,
        weekly_sends=contacts * SENDS_PER_WEEK,
    )
    plan = design_experiment(baseline, None, test_share=1.0)
    test_ids = [f"lw-sim{seed}-{i:04d}" for i in range(n_tests)]
    profiles = [f"01PROFILE{j:06d}" for j in range(contacts)]
    is_variant = np.array(
        [[assign_test_arm(test_id, profile) == "variant" for profile in profiles] for test_id in test_ids]
    )
    lift = np.where(is_variant, 1 + relative_effect, 1.0)
    payload = {
        "primary_metric": plan.primary_metric,
        "planned_units_per_arm": plan.planned_units_per_arm,
        "weekly_units_per_arm": plan.weekly_units_per_arm,
        "min_units_per_arm": 1000,
        "level": "simulated",
    }
    tests = [
        LoopwiseTest(test_id, "simulated", f"lw_arm_{i}", "{subject}!", "running", START, payload)
        for i, test_id in enumerate(test_ids)
    ]
    outcome = SimulatedTests(plan.planned_units_per_arm, plan.primary_metric, 0)
    delivered = np.zeros(shape, dtype=np.int64)
    clicks = np.zeros(shape, dtype=np.int64)
    orders = np.zeros(shape, dtype=np.int64)
    running = np.ones(n_tests, dtype=bool)
    policy = Policy()
    con = duckdb.connect()
    for week in range(1, max_weeks + 1):
        delivered += SENDS_PER_WEEK
        clicks += rng.binomial(SENDS_PER_WEEK, np.clip(p_click * lift, 0, 1))
        orders += rng.binomial(SENDS_PER_WEEK, np.clip(p_order * lift, 0, 1))
        now = START + timedelta(weeks=week)
        frame = _exposures(test_ids, profiles, is_variant, delivered, clicks, orders, pre_clicks / pre_sends,
                           running)  # fmt: skip
        con.register("simulated_exposures", frame)
        analysis = analyze_loopwise_tests(
            con, policy, now, exposures_table="simulated_exposures", tests=[t for t, r in zip(tests, running, strict=True) if r],
        )  # fmt: skip
        con.unregister("simulated_exposures")
        outcome.looks += 1
        outcome.weeks = week
        for row in analysis.decisions.to_dict("records"):
            index = test_ids.index(row["experiment_id"].removeprefix("loopwise:"))
            outcome.decisions[test_ids[index]] = row["decision"]
            if row["decision"] in ("ship", "keep_control", "stop_for_harm"):
                running[index] = False
                outcome.decided_at_fraction[test_ids[index]] = float(row["information_fraction"])
        if not running.any():
            break
    return outcome


def _exposures(
    test_ids: list[str],
    profiles: list[str],
    is_variant: np.ndarray,
    delivered: np.ndarray,
    clicks: np.ndarray,
    orders: np.ndarray,
    pre_click_rate: np.ndarray,
    running: np.ndarray,
) -> pd.DataFrame:
    """Rows shaped like fct_experiment_exposures' loopwise_test rows, for the running tests."""
    rows = np.flatnonzero(running)
    n = len(profiles)
    take = lambda array: array[rows].ravel()  # noqa: E731
    variant = np.where(take(is_variant), "variant", "control")
    return pd.DataFrame(
        {
            "experiment_id": np.repeat([experiment_id(test_ids[i]) for i in rows], n),
            "experiment_type": "loopwise_test",
            "variant": variant,
            "is_control": variant == "control",
            "unit_id": np.tile(profiles, len(rows)),
            "exposed_at": START,
            "arm_count": 1,
            "is_delivered": True,
            "is_opened": take(clicks) > 0,
            "is_human_opened": take(clicks) > 0,
            "is_clicked": take(clicks) > 0,
            "is_converted": take(orders) > 0,
            "revenue": take(orders) * 70.0,
            "is_unsubscribed": False,
            "is_spam_complaint": False,
            "is_bounced": False,
            "delivered_sends": take(delivered),
            "clicked_sends": take(clicks),
            "converted_sends": take(orders),
            "pre_click_rate": take(pre_click_rate),
        }
    )
