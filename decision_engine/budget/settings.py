"""Knobs of the budget engine (:class:`BudgetSettings`); every default is safe for an unattended daily run."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import get_args

from decision_engine.budget.curves import CURVE_FAMILIES
from decision_engine.budget.inputs import BudgetInputError
from decision_engine.policy import BudgetObjective


@dataclass(frozen=True)
class BudgetSettings:
    """Knobs of the budget engine; every default is safe for an unattended daily run."""

    total_daily_budget: float | None = None  # default: sum of current daily spend
    max_change: float = 0.3  # per existing ad, relative to its current daily spend
    min_daily_budget: float = 0.0
    max_daily_budget: float = math.inf
    exploration_share: float = 0.05  # Thompson-sampled share of the move, and cap on cold-start budget
    cold_start_fraction: float = (
        0.5  # a new ad's exploration budget, as a share of its campaign's median spend
    )
    margin: float | None = None  # with a margin the objective is profit = margin * revenue - spend
    allow_underspend: bool = False  # with a margin: leave budget unspent when it loses money
    curve: str = "hill"
    # older days count half every 3 weeks: fatigue and the latest budgets dominate (56 days lost up to
    # 0.3% of revenue on sandbox worlds whose allocation was already optimal)
    half_life_days: float = 21.0
    credible_level: float = 0.9
    min_gain_probability: float = 0.7  # posterior chance the move beats the current allocation
    # a move must beat the cutoff by this many posterior sds of the ad's marginal return; 1.0 keeps the
    # already-optimal worlds of tests/budget within 0.02% and captures ~3/4 of the sandbox gap
    # (tuned with benchmarks/budget_sandbox_eval.py and tests/budget/budget_worlds.py)
    risk_aversion: float = 1.0
    # the same, where budgets are set per ad set / campaign budget: an entity pools several ads' evidence
    # and moves at most the policy's cap a day, so the per-ad caution held back most good moves (one-week
    # capture of the oracle's gain 0.76 at 1.0, 0.98 at 0.25 on the demo world with tuning seeds 7-9,
    # never the benchmark seeds of benchmarks/simulate_benchmark.py)
    entity_risk_aversion: float = 0.25
    n_draws: int = 200
    completeness: tuple[float, ...] | None = None  # ages 0..6; None = estimate from the data
    exchange_rates: Mapping[str, float] | None = None
    base_currency: str | None = None
    auto_apply_max_change: float | None = None  # default: max_change
    # moves a human may approve beyond max_change, up to this (the policy's hard cap): where the
    # allocation with this wider cap moves an entity further than max_change, a second proposal
    # (extend_daily_budget) waits for approval; None proposes nothing beyond max_change
    approval_max_change: float | None = None
    # explicitly shared Google budgets move several campaigns at once; False keeps them as they are
    allow_shared_budgets: bool = True
    seed: int = 0
    # what the revenue series measure (the objective the run used, after any fallback); the reasons
    # name it. Re-weighting the series is decision_engine.budget.objective's job, not this knob's.
    objective: BudgetObjective = "platform_revenue"

    def check(self) -> None:
        problems = []
        if self.total_daily_budget is not None and not (
            math.isfinite(self.total_daily_budget) and self.total_daily_budget >= 0
        ):
            problems.append("the total daily budget must be a non-negative number")
        if not (0.0 <= self.max_change <= 10.0):
            problems.append("max change must be between 0 and 10 (0.3 means 30%)")
        if self.approval_max_change is not None and not (0.0 <= self.approval_max_change <= 10.0):
            problems.append("approval max change must be between 0 and 10 (0.2 means 20%)")
        if not (0.0 <= self.exploration_share < 1.0):
            problems.append("exploration share must be in [0, 1)")
        if self.min_daily_budget < 0 or self.max_daily_budget < self.min_daily_budget:
            problems.append("need 0 <= min daily budget <= max daily budget")
        if self.margin is not None and not self.margin > 0:
            problems.append("margin must be positive")
        if self.curve not in CURVE_FAMILIES:
            problems.append(f"curve must be one of {', '.join(CURVE_FAMILIES)}")
        if not (0.0 < self.credible_level < 1.0) or self.n_draws < 20:
            problems.append("credible level must be in (0, 1) and n_draws at least 20")
        if self.objective not in get_args(BudgetObjective):
            problems.append(f"objective must be one of {', '.join(get_args(BudgetObjective))}")
        if problems:
            raise BudgetInputError("; ".join(problems))
