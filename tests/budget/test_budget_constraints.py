"""Property tests: the allocation never breaks a constraint, whatever the input."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decision_engine.budget import BudgetSettings, allocate_concave, recommend_budgets


@st.composite
def concave_problems(draw):
    n = draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    scale = rng.uniform(0.1, 10.0, n)
    half = rng.uniform(1.0, 200.0, n)
    lower = rng.uniform(0.0, 100.0, n) * (rng.random(n) > 0.2)
    upper = lower + rng.uniform(0.0, 100.0, n) * (rng.random(n) > 0.2)
    share = draw(st.floats(0.0, 1.0))
    total = float(lower.sum() + share * (upper.sum() - lower.sum()))
    return scale, half, lower, upper, total


@settings(max_examples=200, deadline=None)
@given(concave_problems())
def test_allocation_respects_bounds_and_total_and_beats_feasible_points(problem):
    scale, half, lower, upper, total = problem

    def value(grid: np.ndarray) -> np.ndarray:
        return scale[:, None] * np.log1p(grid / half[:, None])

    result = allocate_concave(value, lower, upper, total)
    assert np.all(result.spend >= lower - 1e-9)
    assert np.all(result.spend <= upper + 1e-9)
    assert abs(result.spend.sum() - total) <= 1e-6
    achieved = float(value(result.spend[:, None]).sum())
    rng = np.random.default_rng(0)
    for _ in range(20):  # random feasible allocations never beat it (beyond grid precision)
        weights = rng.random(len(lower))
        room = upper - lower
        extra = weights * room
        if extra.sum() > 0:
            extra *= (total - lower.sum()) / extra.sum()
        candidate = lower + extra
        if np.all(candidate <= upper + 1e-9):
            assert achieved >= float(value(candidate[:, None]).sum()) - 1e-4 * max(1.0, abs(achieved))


def _history(seed: int, n_ads: int, days: int, cold_ads: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2026-03-01", periods=days, freq="D")
    rows = []
    for ad in range(n_ads):
        base = rng.uniform(5.0, 300.0)
        roas = rng.uniform(0.5, 6.0)
        for day, date in enumerate(dates):
            spend = 0.0 if ad < cold_ads else base * rng.lognormal(0.0, 0.3)
            if ad < cold_ads and day < days - 8 and rng.random() < 0.3:
                spend = base  # paused for the last week, or never started
            revenue = rng.poisson(max(roas * spend**0.7, 0.0) / 10.0) * 10.0
            rows.append(
                (
                    date,
                    "meta" if ad % 2 else "google",
                    f"c{ad % 3}",
                    f"ad{ad}",
                    spend,
                    0,
                    0,
                    revenue / 50,
                    revenue,
                )
            )
    return pd.DataFrame(
        rows,
        columns=[
            "date",
            "platform",
            "campaign_id",
            "ad_id",
            "spend",
            "impressions",
            "clicks",
            "conversions",
            "revenue",
        ],
    )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n_ads=st.integers(1, 7),
    days=st.integers(1, 40),
    cold_ads=st.integers(0, 2),
    max_change=st.sampled_from([0.0, 0.1, 0.3, 0.5, 1.0]),
    budget_factor=st.floats(0.8, 1.2),
    approved_share=st.floats(0.0, 1.0),
    exploration=st.sampled_from([0.0, 0.05, 0.2]),
)
def test_recommendations_never_break_constraints(
    seed, n_ads, days, cold_ads, max_change, budget_factor, approved_share, exploration
):
    history = _history(seed, n_ads, days, min(cold_ads, n_ads))
    rng = np.random.default_rng(seed + 1)
    approved = [f"ad{i}" for i in range(n_ads) if rng.random() < approved_share]
    base = recommend_budgets(history, BudgetSettings(max_change=max_change), approved_ad_ids=approved)
    current = base.recommendations["current_daily_spend"].to_numpy()
    total = float(current.sum() * budget_factor)
    config = BudgetSettings(
        max_change=max_change, total_daily_budget=total, exploration_share=exploration, seed=seed
    )
    try:
        result = recommend_budgets(history, config, approved_ad_ids=approved)
    except ValueError as error:  # infeasible totals must be refused clearly, never half-applied
        assert "cannot be reached" in str(error)
        return
    frame = result.recommendations
    recommended = frame["recommended_daily_budget"].to_numpy()
    assert np.all(np.isfinite(recommended)) and np.all(recommended >= 0)
    assert abs(recommended.sum() - total) <= 1e-6
    tolerance = 1e-9 * np.maximum(1.0, current)
    assert np.all(recommended >= frame["lower_bound"].to_numpy() - tolerance) or result.kept_current
    assert np.all(recommended <= frame["upper_bound"].to_numpy() + tolerance) or result.kept_current
    existing = frame["is_approved"].to_numpy() & (current > 0)
    assert np.all(
        np.abs(recommended[existing] - current[existing])
        <= max_change * current[existing] + tolerance[existing]
    )
    unapproved = ~frame["is_approved"].to_numpy()
    if abs(total - current.sum()) <= 1e-9 * max(1.0, total) or not result.kept_current:
        assert np.all(recommended[unapproved] == current[unapproved])
    cold = frame["is_cold_start"].to_numpy()
    assert recommended[cold].sum() <= exploration * total + 1e-6


def test_ad_limits_are_respected_when_consistent_with_max_change():
    history = _history(7, 5, 30, 0)
    current = recommend_budgets(history).recommendations.set_index("ad_id")["current_daily_spend"]
    limits = pd.DataFrame(
        {
            "ad_id": current.index,
            "min_daily_budget": current.to_numpy() * 0.9,
            "max_daily_budget": current.to_numpy() * 1.05,
        }
    )
    result = recommend_budgets(history, BudgetSettings(max_change=0.3), ad_limits=limits)
    frame = result.recommendations.set_index("ad_id").loc[current.index]
    assert np.all(frame["recommended_daily_budget"] >= limits["min_daily_budget"].to_numpy() - 1e-9)
    assert np.all(frame["recommended_daily_budget"] <= limits["max_daily_budget"].to_numpy() + 1e-9)
