"""Budget engine against sandbox worlds with known curves (the budget engine's acceptance check).

The engine gets what production gets: the sandbox's Meta and Google APIs over HTTP, the real
dlt ingestion, and ``marts.fct_ad_performance_daily`` built by dbt. Scores use the true Hill curves (with fatigue)
and an independent optimiser, under the engine's constraints (same total, max change 30%).

Scenarios per seed of the ``demo`` preset (20 ads, 90 days):

- ``as generated``: recommend once, per budget entity as the budget asset does (Meta ad sets and
  CBO campaigns, Google campaign budgets; each ad spends a fixed share of its entity's budget);
  apply the proposed actions; true revenue/day vs doing nothing and vs the best entity budgets in
  the same band (capture ratio). Also the engine's forecast
  of daily revenue at the current budgets against the truth over the next 7 days (the week a
  recommendation governs, and the window the decision log measures a budget move over).
- ``already optimal``: write the best entity budgets (at the evaluation day), advance 28 days,
  recommend: any move should be (almost) free.
- ``closed loop``: each week recommend, write the actions through the vendors' write APIs,
  advance 7 days; compare true expected (and realised) revenue over the weeks with the static
  world and with two oracles that know the curves (the same 30%/week guardrail, and none).

Run from the repository root:
    python -m benchmarks.budget_sandbox_eval [--seeds 1,2,3,4,5] [--large-seeds 1] [--write]
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results" / "budget_sandbox_eval.md"
OPTIMAL_HOLD_DAYS = 28
MAX_CHANGE = 0.3
WORSE_TOLERANCE = 1e-3  # "within noise": a loss under 0.1% of daily revenue


@dataclass
class OneShot:
    world: str
    scenario: str
    nothing: float
    recommended: float
    optimum: float
    capture: float
    actions: int
    kept_current: bool
    gain_probability: float
    total_drift: float
    forecast_ratio: float  # the engine's expected daily revenue at the current budgets / the truth's
    seconds: float

    @property
    def change(self) -> float:
        return self.recommended / self.nothing - 1.0

    @property
    def gap(self) -> float:
        return self.optimum / self.nothing - 1.0


@dataclass
class Loop:
    world: str
    weeks: int
    expected: dict[str, float] = field(default_factory=dict)  # arm -> true expected revenue over the weeks
    realised: dict[str, float] = field(
        default_factory=dict
    )  # arm -> simulated conversion value over the weeks
    spend: dict[str, float] = field(default_factory=dict)
    actions: list[int] = field(default_factory=list)


def _make_world(preset: str, seed: int) -> Any:
    from sandbox import World, WorldSpec

    # large: keep its 200 ads and 365 days but few contacts (email and CRM play no part here)
    overrides = {"n_contacts": 2000} if preset == "large" else {}
    return World(WorldSpec.preset(preset, seed=seed, **overrides))


def _recommend(pipeline: Any) -> Any:
    """Refresh the warehouse and recommend as the budget asset does: per budget entity."""
    from decision_engine.budget import BudgetSettings, recommend_budgets

    pipeline.refresh()
    history, entities = pipeline.production_inputs()
    return recommend_budgets(history, BudgetSettings(max_change=MAX_CHANGE), budget_entities=entities)


def one_shot(preset: str, seed: int, already_optimal: bool) -> OneShot:
    from decision_engine.budget import proposed_actions
    from sandbox.world.ads import DOW_FACTOR
    from tests.budget.sandbox_harness import (
        SandboxAdsPipeline,
        TrueCurves,
        applied_budgets,
        score_budgets,
        set_ad_targets,
        world_budgets,
    )

    started = time.perf_counter()
    world = _make_world(preset, seed)
    curves = TrueCurves.of(world)
    if already_optimal:
        current = curves.entity_budgets(world_budgets(world, curves.keys))
        day = world.clock_day + OPTIMAL_HOLD_DAYS
        best = curves.entity_optimum(
            np.zeros_like(current), np.full_like(current, current.sum()), float(current.sum()), day
        )
        set_ad_targets(world, {key: float(budget) for key, budget in zip(curves.keys, best, strict=True)})
        world.advance(OPTIMAL_HOLD_DAYS)
    with SandboxAdsPipeline(world) as pipeline:
        result = _recommend(pipeline)
    actions = proposed_actions(result)
    current = world_budgets(world, curves.keys)
    # a full week holds each weekday once: the truth's weekday factor averages to its mean
    truth_week = np.mean([curves.revenue(current, world.clock_day + d).sum() for d in range(7)])
    truth_week *= float(np.mean(DOW_FACTOR))
    score = score_budgets(
        curves,
        current,
        applied_budgets(current, curves.keys, actions, curves),
        world.clock_day,
        MAX_CHANGE,
        per_entity=True,
    )
    return OneShot(
        world=f"{preset} seed {seed}",
        scenario="already optimal" if already_optimal else "as generated",
        nothing=score.nothing,
        recommended=score.recommended,
        optimum=score.optimum,
        capture=score.capture,
        actions=len(actions),
        kept_current=result.kept_current,
        gain_probability=result.gain_probability,
        total_drift=score.total_drift,
        forecast_ratio=float(result.expected_daily_revenue_current) / float(truth_week),
        seconds=time.perf_counter() - started,
    )


def _period_value(world: Any, curves: Any, first_day: int, days: int) -> tuple[float, float, float]:
    """(true expected revenue, realised conversion value, realised spend) over ``days`` from ``first_day``."""
    from tests.budget.sandbox_harness import world_budgets

    expected = realised = spend = 0.0
    for day in range(first_day, first_day + days):
        expected += float(curves.revenue(world_budgets(world, curves.keys, day), day).sum())
        for platform in world.ads.by_platform:
            delivered = world.ad_day(platform, day)
            realised += float(delivered.value.sum())
            spend += float(delivered.spend.sum())
    return expected, realised, spend


def closed_loop(seed: int, weeks: int, days_per_round: int = 7) -> Loop:
    from decision_engine.budget import proposed_actions
    from tests.budget.sandbox_harness import (
        SandboxAdsPipeline,
        TrueCurves,
        ad_groups_of,
        applied_budgets,
        set_ad_targets,
        world_budgets,
    )

    loop = Loop(world=f"demo seed {seed}", weeks=weeks)
    world = _make_world("demo", seed)
    curves = TrueCurves.of(world)
    start = world.clock_day
    groups = ad_groups_of(world)
    with SandboxAdsPipeline(world) as pipeline:
        for _ in range(weeks):
            actions = proposed_actions(_recommend(pipeline))
            current = world_budgets(world, curves.keys)
            applied = applied_budgets(current, curves.keys, actions, curves)
            moved = np.flatnonzero(applied != current)  # the ads of the entities an action moved
            pipeline.write_budgets({curves.keys[i]: float(applied[i]) for i in moved}, groups)
            loop.actions.append(len(actions))
            world.advance(days_per_round)
    arms = {"engine": world}
    for arm in ("static", "oracle (30%/week)", "oracle (free)"):
        other = _make_world("demo", seed)
        for _ in range(weeks):
            ads = world_budgets(other, curves.keys)
            current = curves.entity_budgets(ads)
            mid_week = other.clock_day + days_per_round // 2
            total = float(current.sum())
            if arm == "oracle (30%/week)":
                target = curves.entity_optimum(
                    current * (1 - MAX_CHANGE), current * (1 + MAX_CHANGE), total, mid_week
                )
            elif arm == "oracle (free)":
                target = curves.entity_optimum(
                    np.zeros_like(current), np.full_like(current, total), total, mid_week
                )
            else:
                target = ads
            if arm != "static":
                set_ad_targets(other, {key: float(b) for key, b in zip(curves.keys, target, strict=True)})
            other.advance(days_per_round)
        arms[arm] = other
    for arm, arm_world in arms.items():
        loop.expected[arm], loop.realised[arm], loop.spend[arm] = _period_value(
            arm_world, curves, start, weeks * days_per_round
        )
    return loop


def _pct(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:+.2%}"


def render(shots: list[OneShot], loops: list[Loop], seconds: float) -> str:
    lines = [
        "# Budget engine on sandbox worlds with known curves",
        "",
        "History comes through the sandbox's HTTP APIs, the real dlt ingestion and "
        + "the dbt models (`dbt run --select +fct_ad_performance_daily +dim_budget_entities`)"
        + "; the engine runs with production defaults (max change 30%, total = current spend) and"
        " recommends per budget entity, as the budget asset does (Meta ad sets and CBO campaigns, Google"
        " campaign budgets; each ad spends a fixed share of its entity's budget), and the proposed"
        " actions (moves >= 0.5%) are what gets applied. Revenue is the true expected revenue per day"
        " from the sandbox's Hill curves with fatigue, at the next simulated day; the optimum is the best"
        " set of entity budgets for the same total and the same 30% band per entity (independent"
        " bisection optimiser: a world cannot give two ads of one entity other shares). Applied"
        " budgets are rescaled to the current total before scoring (`total drift` is the size of that"
        " correction: the engine's total is the observed spend, not the budgets). `forecast / truth` is the"
        " engine's expected daily revenue at the current budgets over the true expected revenue of the"
        " next 7 days at those budgets.",
        "",
        "## One recommendation",
        "",
        "| world | scenario | gap to optimum | change vs doing nothing | capture | actions | kept current | P(gain) | total drift | forecast / truth |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for s in shots:
        lines.append(
            f"| {s.world} | {s.scenario} | {_pct(s.gap)} | {_pct(s.change)} | "
            f"{'n/a' if not math.isfinite(s.capture) or s.gap < 1e-3 else f'{s.capture:.2f}'} | {s.actions} | "
            f"{s.kept_current} | {s.gain_probability:.2f} | {s.total_drift:+.3f} | {s.forecast_ratio:.3f} |"
        )
    generated = [s for s in shots if s.scenario == "as generated"]
    optimal = [s for s in shots if s.scenario == "already optimal"]
    for label, group in (
        ("demo", [s for s in generated if s.world.startswith("demo")]),
        ("large", [s for s in generated if s.world.startswith("large")]),
    ):
        if group:
            captures = np.array([s.capture for s in group])
            lines += [
                "" if label == "demo" else None,
                f"- {label}, as generated: capture mean **{captures.mean():.2f}** (min {captures.min():.2f},"
                f" max {captures.max():.2f}) over {len(group)} seed{'s' if len(group) > 1 else ''}",
            ]
    ratios = np.array([s.forecast_ratio for s in shots])
    lines.append(
        f"- forecast / truth at the current budgets: mean **{ratios.mean():.3f}** (min {ratios.min():.3f},"
        f" max {ratios.max():.3f}) over {len(shots)} recommendations"
    )
    worse = [s for s in shots if s.change < 0]
    worse_noise = [s for s in shots if s.change < -WORSE_TOLERANCE]
    lines.append(
        f"- worse than doing nothing: **{len(worse)} of {len(shots)}** recommendations"
        f" ({len(worse_noise)} by more than {WORSE_TOLERANCE:.1%} of daily revenue)"
    )
    if optimal:
        changes = [s.change for s in optimal]
        lines.append(
            f"- already optimal: change vs doing nothing mean {_pct(float(np.mean(changes)))},"
            f" worst {_pct(min(changes))}"
        )
    if loops:
        lines += [
            "",
            f"## Closed loop ({loops[0].weeks} weekly rounds: recommend, write budgets via the vendor APIs, advance 7 days)",
            "",
            "True expected revenue over the weeks, relative to the static world (budgets never touched);"
            " `oracle (30%/week)` knows the curves and obeys the same guardrail, `oracle (free)` jumps to the"
            " optimum at once. Capture = (engine - static) / (oracle 30%/week - static). Realised = the"
            " simulated conversion value: noisy (about one conversion per ad-day), shown for completeness.",
            "",
            "| world | engine | oracle (30%/week) | oracle (free) | capture | realised: engine | realised: oracle (30%/week) | spend engine / static | actions per week |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for loop in loops:
            e, r, sp = loop.expected, loop.realised, loop.spend
            rel = lambda values, arm: values[arm] / values["static"] - 1.0  # noqa: E731
            capture = (e["engine"] - e["static"]) / (e["oracle (30%/week)"] - e["static"])
            lines.append(
                f"| {loop.world} | {_pct(rel(e, 'engine'))} | {_pct(rel(e, 'oracle (30%/week)'))} | "
                f"{_pct(rel(e, 'oracle (free)'))} | {capture:.2f} | {_pct(rel(r, 'engine'))} | "
                f"{_pct(rel(r, 'oracle (30%/week)'))} | {sp['engine'] / sp['static']:.3f} | "
                f"{', '.join(str(a) for a in loop.actions)} |"
            )
    lines = [line for line in lines if line is not None]
    lines += [
        "",
        f"Wall time {seconds / 60:.1f} min on 2 shared cores. Command: `python -m benchmarks.budget_sandbox_eval"
        " --write`.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", default="1,2,3,4,5", help="demo preset seeds (comma-separated)")
    parser.add_argument(
        "--large-seeds", default="", help="large preset seeds (200 ads, 365 days), as generated only"
    )
    parser.add_argument("--weeks", type=int, default=4, help="closed-loop rounds (0: skip)")
    parser.add_argument(
        "--write", action="store_true", help="write benchmarks/results/budget_sandbox_eval.md"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    seeds = [int(s) for s in args.seeds.split(",") if s]
    large = [int(s) for s in args.large_seeds.split(",") if s]
    shots: list[OneShot] = []
    loops: list[Loop] = []
    for seed in seeds:
        for already_optimal in (False, True):
            shots.append(one_shot("demo", seed, already_optimal))
            s = shots[-1]
            print(
                f"{s.world} {s.scenario}: gap {_pct(s.gap)} change {_pct(s.change)} capture {s.capture:.2f}"
                f" forecast/truth {s.forecast_ratio:.3f} ({s.seconds:.0f} s)",
                flush=True,
            )
    for seed in large:
        shots.append(one_shot("large", seed, False))
        s = shots[-1]
        print(
            f"{s.world} {s.scenario}: gap {_pct(s.gap)} change {_pct(s.change)} capture {s.capture:.2f} ({s.seconds:.0f} s)",
            flush=True,
        )
    if args.weeks > 0:
        for seed in seeds:
            loops.append(closed_loop(seed, args.weeks))
            e = loops[-1].expected
            print(
                f"loop seed {seed}: " + ", ".join(f"{k} {_pct(v / e['static'] - 1)}" for k, v in e.items()),
                flush=True,
            )
    text = render(shots, loops, time.perf_counter() - started)
    print(text)
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
