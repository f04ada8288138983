"""Benchmark the budget engine on 5,000 ads x 365 days (time and peak memory).

Run from the repository root:  python -m benchmarks.budget_benchmark [--ads 5000] [--days 365] [--write]
With ``--write`` the numbers go to benchmarks/results/budget.md. Also prints the capture
ratio on the benchmark world (its curves are known).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
import tracemalloc
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "budget.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ads", type=int, default=5000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--write", action="store_true", help="write benchmarks/results/budget.md")
    args = parser.parse_args()

    from decision_engine.budget import BudgetSettings, recommend_budgets
    from tests.budget.budget_worlds import make_world, true_optimum

    campaigns = max(1, args.ads // 20)
    started = time.perf_counter()
    world = make_world(2026, n_campaigns=campaigns, ads_per_campaign=args.ads // campaigns, days=args.days)
    generate_seconds = time.perf_counter() - started
    rows = len(world.history)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    started = time.perf_counter()
    result = recommend_budgets(world.history, BudgetSettings())
    run_seconds = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    tracemalloc.start()
    started = time.perf_counter()
    recommend_budgets(world.history, BudgetSettings())
    traced_seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    frame = result.recommendations.set_index(["platform", "ad_id"])
    keys = world.ads.set_index(["platform", "ad_id"]).index
    current = frame.loc[keys, "current_daily_spend"].to_numpy()
    recommended = frame.loc[keys, "recommended_daily_budget"].to_numpy()
    optimum = true_optimum(world, current * 0.7, current * 1.3, float(current.sum()))
    value_now, value_rec, value_opt = (float(world.revenue(x).sum()) for x in (current, recommended, optimum))
    capture = (value_rec - value_now) / (value_opt - value_now)

    lines = [
        "# Budget engine benchmark",
        "",
        f"- input: {len(world.ads):,} ads x {args.days} days = {rows:,} rows (simulated world, mixed curve shapes)",
        f"- machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; "
        "24 GiB RAM, shared with other work while measured",
        f"- world generation (not part of the engine): {generate_seconds:.1f} s",
        f"- `recommend_budgets` wall time: **{run_seconds:.1f} s** (second run under tracemalloc: {traced_seconds:.1f} s)",
        f"- peak Python-traced memory during `recommend_budgets`: **{peak / 2**20:,.0f} MiB**",
        f"- process max RSS: {rss_before:,.0f} MiB after generating the input, {rss_after:,.0f} MiB after the run",
        f"- capture ratio on this world (max change 30%): {capture:.3f} "
        f"(true revenue/day {value_now:,.0f} now, {value_rec:,.0f} recommended, {value_opt:,.0f} optimum)",
        f"- kept current: {result.kept_current}; chance of gain {result.gain_probability:.2f}",
        "",
        "Command: `python -m benchmarks.budget_benchmark --write` (one run).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
