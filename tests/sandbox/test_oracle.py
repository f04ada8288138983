"""The oracle: expected revenue responds to budgets, and its allocation beats a static world within the caps."""

from __future__ import annotations

import pytest

from sandbox import World, WorldSpec
from sandbox.oracle import (
    email_order_revenue,
    expected_ad_revenue,
    oracle_budgets,
    oracle_winner,
    variant_conversion_rates,
)
from sandbox.world.ads import PLATFORMS

SEED = 77  # tests only; the simulate benchmark's seeds are never used here


def _world() -> World:
    return World(WorldSpec.preset("tiny", seed=SEED))


def _current(world: World) -> dict[tuple[str, str], float]:
    return {(p, e): b for p in PLATFORMS for e, b in world.entity_budgets(p, world.clock_day).items()}


def test_static_revenue_is_reproducible() -> None:
    a, b = _world(), _world()
    day = a.clock_day
    assert expected_ad_revenue(a, day, day + 14) == expected_ad_revenue(b, day, day + 14) > 0
    assert email_order_revenue(a, day, day + 14) == email_order_revenue(b, day, day + 14)


def _best_and_worst(world: World) -> tuple[tuple[str, str], tuple[str, str]]:
    """Of one platform's entities, the one with the most and the least revenue per extra dollar."""
    day = world.clock_day
    budgets = oracle_budgets(world, day, max_change=0.2, min_budget=5.0)
    current = _current(world)
    meta = [k for k in budgets if k[0] == "meta"]
    ranked = sorted(meta, key=lambda k: budgets[k] - current[k])
    return ranked[-1], ranked[0]


def test_moving_budget_to_the_better_entity_raises_expected_revenue() -> None:
    world = _world()
    day = world.clock_day
    base = expected_ad_revenue(world, day, day + 7)
    best, worst = _best_and_worst(world)
    current = _current(world)
    shift = 0.1 * current[worst]
    world.set_entity_budget(*worst, current[worst] - shift)
    world.set_entity_budget(*best, current[best] + shift)
    assert expected_ad_revenue(world, day, day + 7) > base
    reverse = _world()
    reverse.set_entity_budget(*worst, current[worst] + shift)
    reverse.set_entity_budget(*best, current[best] - shift)
    assert expected_ad_revenue(reverse, day, day + 7) < base


@pytest.mark.parametrize("max_change", [0.1, 0.2])
def test_oracle_respects_caps_sum_and_floor_and_beats_static(max_change: float) -> None:
    world, static = _world(), _world()
    day = world.clock_day
    current = _current(world)
    budgets = oracle_budgets(world, day, max_change=max_change, min_budget=5.0)
    assert set(budgets) == set(current)
    for key, budget in budgets.items():
        assert abs(budget - current[key]) <= current[key] * max_change + 0.01
        assert budget >= 5.0
    assert sum(budgets.values()) == pytest.approx(sum(current.values()), abs=0.05 * len(budgets))
    assert any(abs(budgets[k] - current[k]) > 1 for k in budgets)  # it does move something
    for (platform, entity_id), budget in budgets.items():
        world.set_entity_budget(platform, entity_id, budget)
    assert expected_ad_revenue(world, day, day + 7) > expected_ad_revenue(static, day, day + 7)


def test_oracle_keeps_frozen_entities_and_a_lower_total() -> None:
    world = _world()
    day = world.clock_day
    current = _current(world)
    frozen_key = next(iter(current))
    total = 0.95 * sum(current.values())
    budgets = oracle_budgets(world, day, max_change=0.2, min_budget=5.0, total=total, frozen={frozen_key[1]})
    assert budgets[frozen_key] == current[frozen_key]
    assert sum(budgets.values()) == pytest.approx(total, abs=0.05 * len(budgets))
    platform_frozen = oracle_budgets(world, day, max_change=0.2, min_budget=5.0, frozen={"google_ads"})
    assert all(platform_frozen[k] == current[k] for k in current if k[0] == "google_ads")


def test_oracle_winner_is_the_variant_with_the_highest_true_conversion_rate() -> None:
    world = _world()
    camp = next(c for c in world.plan.campaigns if c.is_ab and not c.is_aa)
    rates = variant_conversion_rates(world, camp)
    assert len(rates) >= 2
    assert rates[oracle_winner(world, camp.campaign_id)] == max(rates.values())
