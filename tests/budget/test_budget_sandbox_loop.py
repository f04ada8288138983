"""The budget engine on a tiny sandbox world, through the production path (HTTP APIs -> dlt -> mart).

Scores the proposed actions with the world's true Hill curves (fatigue included) against doing
nothing and against the exact optimum under the same total and 30% band. Thresholds can fail:
before the half-life / risk-aversion retune the engine captured 0.51 and 0.47 here (mean 0.49).

This is the per-ad path (a file without budget entities, as ``loopwise budget recommend`` takes),
scored as if each ad had its own budget. The sandbox world spends per entity (an ad spends a
fixed share of its ad set's or campaign budget's): ``benchmarks/budget_sandbox_eval.py``
recommends and scores per entity, as the budget asset runs.
"""

from __future__ import annotations

import numpy as np
import pytest
from sandbox_harness import SandboxAdsPipeline, TrueCurves, applied_budgets, score_budgets, world_budgets

import sandbox
from decision_engine.budget import BudgetSettings, proposed_actions, recommend_budgets

WORSE_TOLERANCE = 1e-3  # "within noise": a loss under 0.1% of daily revenue


@pytest.fixture(scope="module")
def scores(tmp_path_factory):
    out = []
    for seed in (7, 8):
        world = sandbox.World(sandbox.WorldSpec.preset("tiny", seed=seed, days=60))
        curves = TrueCurves.of(world)
        with SandboxAdsPipeline(world, tmp_path_factory.mktemp(f"tiny{seed}")) as pipeline:
            mart = pipeline.refresh()
        result = recommend_budgets(mart, BudgetSettings(max_change=0.3))
        current = world_budgets(world, curves.keys)
        applied = applied_budgets(current, curves.keys, proposed_actions(result))
        out.append(score_budgets(curves, current, applied, world.clock_day))
    return out


def test_sandbox_recommendation_is_not_worse_than_doing_nothing(scores):
    for score in scores:
        assert score.gain >= -WORSE_TOLERANCE * score.nothing, score


def test_sandbox_recommendation_captures_the_gap(scores):
    captures = np.array([score.capture for score in scores])
    assert all(score.gap > 0.01 * score.nothing for score in scores), scores  # there is a real gap to capture
    assert captures.mean() >= 0.55, captures
    assert captures.min() >= 0.35, captures
