"""Experiment-analysis benchmark.

1. 1,000 experiments x 10 metrics x 3 variants analysed from sufficient statistics
   (one look, and 28 daily looks replayed).
2. The full path from 10M exposures: synthetic DuckDB table -> SQL sufficient statistics
   (cumulative by day) -> results -> decisions.

Usage: .venv/bin/python benchmarks/experiments_benchmark.py [--rows 10000000] [--markdown PATH]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from decision_engine.experiments import (
    DEFAULT_METRICS,
    AnalysisConfig,
    analyze_experiments,
    compute_sufficient_statistics,
    decide_experiments,
    power_retention,
)
from decision_engine.experiments.sequential import SequentialDesign
from decision_engine.experiments.simulation import create_synthetic_exposures_table

METRICS = [m for m in DEFAULT_METRICS if m.name != "human_open_rate"]  # 10 metrics


def timed(label: str, func: Callable[[], Any], timings: dict[str, float]) -> Any:
    start = time.perf_counter()
    result = func()
    timings[label] = time.perf_counter() - start
    print(f"{label}: {timings[label]:.2f} s", flush=True)
    return result


def synthetic_statistics(
    experiments: int, variants: int, looks: int, units_per_arm_day: int, seed: int = 0
) -> pd.DataFrame:
    """Sufficient statistics drawn directly (no units): binomial counts per arm and day."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2026-01-01", periods=looks)
    frames = []
    for metric in METRICS:
        base = 0.2 if metric.kind == "ratio" else 0.02
        shape = (experiments, variants, looks)
        n = np.full(shape, units_per_arm_day, dtype=float).cumsum(axis=2)
        if metric.kind == "mean":
            sum_y = rng.gamma(units_per_arm_day * 0.02, 60.0, shape).cumsum(axis=2)
            sum_yy = sum_y * 120.0
            sum_x = sum_xx = sum_xy = np.full(shape, np.nan)
        else:
            sum_y = rng.binomial(units_per_arm_day, base, shape).cumsum(axis=2).astype(float)
            sum_yy = sum_y
            if metric.kind == "ratio":
                sum_x = rng.binomial(units_per_arm_day, 0.97, shape).cumsum(axis=2).astype(float)
                sum_xx, sum_xy = sum_x, sum_y
            else:
                sum_x = sum_xx = sum_xy = np.full(shape, np.nan)
        frames.append(
            pd.DataFrame(
                {
                    "experiment_id": np.repeat([f"exp_{i}" for i in range(experiments)], variants * looks),
                    "variant": np.tile(np.repeat([chr(65 + v) for v in range(variants)], looks), experiments),
                    "is_control": np.tile(np.repeat(np.arange(variants) == 0, looks), experiments),
                    "metric": metric.name,
                    "analysis_date": np.tile(dates, experiments * variants),
                    "n_units": n.ravel().astype("int64"),
                    "n": n.ravel().astype("int64"),
                    "sum_y": sum_y.ravel(),
                    "sum_yy": sum_yy.ravel(),
                    "sum_x": sum_x.ravel(),
                    "sum_xx": sum_xx.ravel(),
                    "sum_xy": sum_xy.ravel(),
                    "winsor_cap": np.nan,
                    "max_raw": np.nan,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--experiments", type=int, default=1000)
    parser.add_argument("--markdown", help="append a results table to this file")
    args = parser.parse_args()
    timings: dict[str, float] = {}
    config = AnalysisConfig()

    one_look = synthetic_statistics(args.experiments, 3, 1, 5000)
    print(f"sufficient-statistics rows, one look: {len(one_look):,}")
    results = timed(
        "1k x 10 x 3, one look: analyze",
        lambda: analyze_experiments(one_look, METRICS, config=config),
        timings,
    )
    timed("1k x 10 x 3, one look: decide", lambda: decide_experiments(results, config=config), timings)
    daily = synthetic_statistics(args.experiments, 3, 28, 200)
    print(f"sufficient-statistics rows, 28 daily looks: {len(daily):,}")
    results_daily = timed(
        "1k x 10 x 3, 28 daily looks: analyze",
        lambda: analyze_experiments(daily, METRICS, config=config),
        timings,
    )
    timed(
        "1k x 10 x 3, 28 daily looks: decide",
        lambda: decide_experiments(results_daily, config=config),
        timings,
    )

    con = duckdb.connect()
    timed(
        f"generate {args.rows:,} exposures in DuckDB",
        lambda: create_synthetic_exposures_table(con, "exposures", args.rows, args.experiments),
        timings,
    )
    stats_daily = timed(
        "SQL sufficient statistics, cumulative by day",
        lambda: compute_sufficient_statistics(con, "exposures", METRICS),
        timings,
    )
    stats_total = timed(
        "SQL sufficient statistics, totals only",
        lambda: compute_sufficient_statistics(con, "exposures", METRICS, by_analysis_date=False),
        timings,
    )
    print(f"summary rows: daily {len(stats_daily.stats):,}, totals {len(stats_total.stats):,}")
    full = timed(
        "analyze (daily replay) from SQL statistics",
        lambda: analyze_experiments(
            stats_daily.stats, METRICS, config=config, contamination=stats_daily.contamination
        ),
        timings,
    )
    decisions, _ = timed("decide", lambda: decide_experiments(full, config=config), timings)
    print(decisions["decision"].value_counts().to_string())
    end_to_end = sum(
        timings[k]
        for k in (
            "SQL sufficient statistics, cumulative by day",
            "analyze (daily replay) from SQL statistics",
            "decide",
        )
    )
    timings["10M exposures end to end (SQL + analyze + decide)"] = end_to_end
    retention = {m: power_retention(0.8, SequentialDesign(mode=m)) for m in ("calibrated", "always_valid")}
    for mode, r in retention.items():
        print(f"{mode}: power {r.sequential_power:.3f} of fixed {r.fixed_power:.3f} ({r.retained_share:.0%}), "
              f"n inflation for same power {r.sample_size_inflation_for_same_power:.2f}x, boundary level {r.boundary_level:.3f}")  # fmt: skip

    if args.markdown:
        lines = [
            f"\n## Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n",
            f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"DuckDB {duckdb.__version__}; load average at end {os.getloadavg()[0]:.1f}.\n",
            "| step | seconds |",
            "|---|---|",
            *[f"| {k} | {v:.2f} |" for k, v in timings.items()],
            "",
            f"Rows: one-look statistics {len(one_look):,}; daily statistics {len(daily):,}; "
            f"results (daily, 1k x 10 x 3) {len(results_daily):,}; SQL summary rows {len(stats_daily.stats):,}; "
            f"results from 10M exposures {len(full):,}.",
            "",
        ]
        with open(args.markdown, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines))


if __name__ == "__main__":
    main()
