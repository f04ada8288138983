"""Daily-run benchmark: a full build of the `medium` world, then one daily run on top.

The check to run often (`make bench-daily`, a few minutes): the sandbox world (served by its own
process) through every dlt source, `dbt build`, every GX gate and the decisions (a Dagster run of
the decision, action and BI snapshot assets), then the sandbox advanced one day and the same
again, with the same functions as `make bench` (`run_foundation.run_phase`).
Writes benchmarks/results/bench_daily_<preset>.md and .json and prints one JSON object as the
last line of output:

    {"preset", "ingest_rows", "ingest_s", "ingest_rows_per_s", "dbt_full_s", "dbt_daily_s",
     "gates_full_s", "gates_daily_s", "peak_rss_mb"}

`ingest_*` are the full load (every source); `peak_rss_mb` is the largest resident set, in MiB,
of this process or of any `dbt build` or Dagster run it started (the sandbox server's own process
not counted). The decisions' times are in the .md and .json, not in that line.

    python benchmarks/bench_daily.py [--preset medium] [--home /tmp/loopwise_bench_daily]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run_foundation import ROOT, fresh_home, machine, machine_line, peak_rss_mib, run_phase, start_world  # noqa: E402


def summary(report: dict) -> dict:
    """The one-line result: ingest of the full load, dbt and gates full and daily, peak RSS."""
    full, daily = report["full_history"], report["daily_incremental"]
    ingest_rows = sum(source["rows_loaded"] for source in full["sources"].values())
    ingest_s = round(sum(source["seconds"] for source in full["sources"].values()), 1)
    return {
        "preset": report["preset"],
        "ingest_rows": ingest_rows,
        "ingest_s": ingest_s,
        "ingest_rows_per_s": round(ingest_rows / ingest_s) if ingest_s else None,
        "dbt_full_s": full["dbt"]["seconds"],
        "dbt_daily_s": daily["dbt"]["seconds"],
        "gates_full_s": full["checks"]["seconds"],
        "gates_daily_s": daily["checks"]["seconds"],
        "peak_rss_mb": report["peak_rss_mb"],
    }


def render(report: dict) -> str:
    result = report["summary"]
    full, daily = report["full_history"], report["daily_incremental"]

    def share(daily_s: float, full_s: float) -> str:
        return f"{100 * daily_s / full_s:.0f} %" if full_s else "n/a"

    world = report["world"]
    lines = [
        f"# Daily-run benchmark: `{report['preset']}` world",
        "",
        f"{world['contacts']:,} contacts, {world['days']} days, seed {world['seed']}. "
        f"Machine: {machine_line(report['machine'])}. Started {report['started']}; "
        f"{report['total_seconds']} s end to end (world build, full run, daily run).",
        "",
        "| step | full | daily | daily / full |",
        "|---|---:|---:|---:|",
    ]
    daily_ingest_s = round(sum(source["seconds"] for source in daily["sources"].values()), 1)
    daily_rows = sum(source["rows_loaded"] for source in daily["sources"].values())
    lines += [
        f"| ingest (all sources), s | {result['ingest_s']} | {daily_ingest_s} | "
        f"{share(daily_ingest_s, result['ingest_s'])} |",
        f"| rows loaded | {result['ingest_rows']:,} | {daily_rows:,} | |",
        f"| dbt build, s | {result['dbt_full_s']} | {result['dbt_daily_s']} | "
        f"{share(result['dbt_daily_s'], result['dbt_full_s'])} |",
        f"| GX gates (all suites), s | {result['gates_full_s']} | {result['gates_daily_s']} | "
        f"{share(result['gates_daily_s'], result['gates_full_s'])} |",
        f"| decisions, actions, BI snapshot (a Dagster run), s | {full['decisions']['seconds']} | "
        f"{daily['decisions']['seconds']} | {share(daily['decisions']['seconds'], full['decisions']['seconds'])} |",
        "",
        f"Ingest of the full load: {result['ingest_rows_per_s']:,} rows/s. "
        f"Peak RSS (this process, a dbt build or the decisions' Dagster run): {result['peak_rss_mb']:,.0f} MiB.",
        "",
        "| source | full rows | full s | full rows/s | daily rows | daily s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, source in full["sources"].items():
        day = daily["sources"][name]
        lines.append(
            f"| {name} | {source['rows_loaded']:,} | {source['seconds']} | {source['rows_per_second']:,.0f} | "
            f"{day['rows_loaded']:,} | {day['seconds']} |"
        )
    lines += ["", "Slowest gates (seconds, rows validated):", ""]
    for phase_name, phase in (("full", full), ("daily", daily)):
        slowest = sorted(phase["checks"]["tables"].items(), key=lambda item: -item[1]["seconds"])[:4]
        lines.append(
            f"- {phase_name}: "
            + ", ".join(f"{table} {t['seconds']} s ({t['validated_rows']:,})" for table, t in slowest)
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--home", default="/tmp/loopwise_bench_daily")
    args = parser.parse_args()

    home = fresh_home(args.home)
    warehouse = home / "warehouse.duckdb"
    pipelines_dir = home / "dlt_pipelines"
    report: dict = {"preset": args.preset, "machine": machine(), "started": datetime.now(UTC).isoformat()}
    started = time.perf_counter()
    world, server, report["world_build_seconds"] = start_world(home, args.preset, {})
    report["world"] = {"contacts": world.spec.n_contacts, "days": world.spec.days, "seed": world.spec.seed}
    try:
        after_load_ids: dict[str, str | None] = {}
        report["full_history"] = run_phase(server, world, warehouse, pipelines_dir, after_load_ids, {})
        server.advance(1)
        world.advance(days=1)
        report["daily_incremental"] = run_phase(server, world, warehouse, pipelines_dir, after_load_ids, {})
        # before the server stops: once waited for, its RSS would count among the children's
        rss = peak_rss_mib()
        report["peak_rss_mb"] = max(rss["self_mib"], rss["children_mib"])
    finally:
        server.close()
    report["warehouse_bytes"] = warehouse.stat().st_size
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    report["summary"] = summary(report)
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"bench_daily_{args.preset}.json").write_text(json.dumps(report, indent=2, default=str))
    (out_dir / f"bench_daily_{args.preset}.md").write_text(render(report))
    print(json.dumps(report["summary"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
