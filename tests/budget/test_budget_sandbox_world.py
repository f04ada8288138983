"""Evaluation against the sandbox world's planted Hill curves."""

from __future__ import annotations

import numpy as np
import pandas as pd


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
