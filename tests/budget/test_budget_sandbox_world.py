"""Evaluation against the sandbox world's planted Hill curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def _sandbox_history(world) -> pd.DataFrame:
    rows = []
    clock = world.clock_day
    for platform, ads in world.ads.by_platform.items():
        for day in range(clock):
            delivered = world.ad_day(platform, day)
            conversions, value = delivered.visible(clock - day)
            date = (pd.Timestamp(world.start_ts, unit="s") + pd.Timedelta(days=day)).strftime("%Y-%m-%d")
            for i, ad in enumerate(ads):
                if delivered.active[i]:
                    rows.append(
                        (
                            date,
                            platform,
                            ad.campaign_id,
                            ad.ad_id,
                            float(delivered.spend[i]),
                            int(conversions[i]),
                            float(value[i]),
                        )
                    )
    return pd.DataFrame(
        rows, columns=["date", "platform", "campaign_id", "ad_id", "spend", "conversions", "revenue"]
    )


def test_sandbox_world_recommendation_does_not_lose_revenue():
    from sandbox import World, WorldSpec
    from sandbox.truth import build_truth, expected_revenue

    world = World(WorldSpec.preset("tiny", seed=7, days=60))
    curves = {(c["platform"], c["ad_id"]): c for c in build_truth(world, include_records=False)["ad_curves"]}
    history = _sandbox_history(world)
    from decision_engine.budget import recommend_budgets

    result = recommend_budgets(history)
    frame = result.recommendations
    day = world.clock_day

    def value(column: str) -> float:
        return float(
            sum(
                expected_revenue(curves[(p, a)], s, day)
                for p, a, s in zip(frame["platform"], frame["ad_id"], frame[column], strict=True)
            )
        )

    current, recommended = value("current_daily_spend"), value("recommended_daily_budget")
    assert recommended >= current * (1 - 1e-3), (current, recommended)
    assert np.isclose(frame["recommended_daily_budget"].sum(), result.total_daily_budget)


def test_the_entity_oracle_is_the_best_the_world_can_set():
    """The benchmarks' oracle sets entity budgets (each ad spends its fixed share): within the
    bounds and the total, no other entity allocation earns more, and an entity's ads keep their
    shares."""
    from sandbox_harness import TrueCurves, world_budgets

    import sandbox

    world = sandbox.World(sandbox.WorldSpec.preset("demo", seed=3))
    curves = TrueCurves.of(world)
    day = world.clock_day
    current = curves.entity_budgets(world_budgets(world, curves.keys))
    lower, upper, total = current * 0.7, current * 1.3, float(current.sum())
    best = curves.entity_optimum(lower, upper, total, day)
    best_entities = curves.entity_budgets(best)
    assert best_entities.sum() == pytest.approx(total)
    assert np.all(best_entities >= lower - 1e-6) and np.all(best_entities <= upper + 1e-6)
    np.testing.assert_allclose(best, curves.share * best_entities[curves.entity])
    value = lambda entities: curves.revenue(curves.share * entities[curves.entity], day).sum()  # noqa: E731
    rng = np.random.default_rng(0)
    for _ in range(300):  # random feasible moves: shift budget between two entities within the bounds
        i, j = rng.choice(len(current), 2, replace=False)
        step = rng.uniform(0, min(best_entities[i] - lower[i], upper[j] - best_entities[j]))
        other = best_entities.copy()
        other[i] -= step
        other[j] += step
        assert value(other) <= value(best_entities) + 1e-6
    assert value(best_entities) > value(current)  # the demo world starts off its optimum
