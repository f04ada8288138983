"""The same daily `dbt build` from two checkouts, on copies of one warehouse (issue 15).

A full build's time varies by a quarter from run to run, so a change to the daily build is
measured here on identical input instead:

1. for each checkout, a copy of a finished `run_foundation.py` home (``--home``) gets one
   untimed `dbt build` from that checkout (it creates the checkout's new models, incrementally
   for the others), then the world's day ``--day`` is ingested into it (the sandbox is
   deterministic: both copies receive the same rows);
2. then, alternating the checkouts ``--runs`` times, a fresh copy of that warehouse gets the timed
   `dbt build`, as the dbt asset runs it (``WITHOUT_UNIT_TESTS``, the profile's two threads).

Reports dbt's own elapsed time, the wall time (with dbt's start-up and parsing), the nodes'
times summed and the slowest nodes, per run, in benchmarks/results/dbt_daily_compare.md and
.json. Each copy of the large warehouse takes about 12 GB of disk; they are removed as it goes.

    python benchmarks/dbt_daily_compare.py --home /tmp/loopwise_bench \\
        --checkout before=/path/to/old/checkout --checkout after=. [--day 2] [--runs 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run_foundation import ROOT, dbt_build, machine, machine_line, run_sources, start_world  # noqa: E402

WAREHOUSE_FILES = ("warehouse.duckdb", "warehouse.duckdb.wal")


def copy_warehouse(source: Path, target: Path, with_dlt_state: bool = True) -> None:
    """`source`'s warehouse (and its world and dlt state, for an ingest) into an empty `target`."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in WAREHOUSE_FILES:
        if (source / name).exists():
            shutil.copy2(source / name, target / name)
    if (source / "world.yaml").exists():
        shutil.copy2(source / "world.yaml", target / "world.yaml")
    if with_dlt_state and (source / "dlt_pipelines").exists():
        shutil.copytree(source / "dlt_pipelines", target / "dlt_pipelines")


def timed_build(checkout: Path, home: Path) -> dict:
    """`dbt build` of `checkout`'s project on `home`'s warehouse, as the dbt asset runs it."""
    completed, wall = dbt_build(home / "warehouse.duckdb", checkout / "dbt_project")
    if completed.returncode != 0:
        raise SystemExit(f"dbt build failed in {checkout}:\n{completed.stdout[-3000:]}")
    results = json.loads((home / "dbt_target" / "run_results.json").read_text())
    nodes = {r["unique_id"]: r["execution_time"] for r in results["results"]}
    slowest = sorted(nodes.items(), key=lambda item: -item[1])[:8]
    return {
        "wall_s": round(wall, 1),
        "elapsed_s": round(results["elapsed_time"], 1),
        "nodes": len(nodes),
        "nodes_summed_s": round(sum(nodes.values()), 1),
        "tests_summed_s": round(sum(t for n, t in nodes.items() if n.startswith("test.")), 1),
        "slowest": [(name.split(".")[-1], round(seconds, 2)) for name, seconds in slowest],
    }


def ingest_day(home: Path, day: int) -> int:
    """Every source, the world advanced `day` days past its end (as run_foundation --again)."""
    import yaml

    spec = yaml.safe_load((home / "world.yaml").read_text())
    overrides = {key: value for key, value in spec.items() if key != "preset"}
    world, server, _ = start_world(home, spec["preset"], overrides)
    try:
        server.advance(day)
        world.advance(days=day)
        sources = run_sources(server, world, home / "warehouse.duckdb", home / "dlt_pipelines")
    finally:
        server.close()
    return int(sum(source["rows_loaded"] for source in sources.values()))


def render(report: dict) -> str:
    lines = [
        "# The same daily dbt build from two checkouts",
        "",
        f"Machine: {machine_line(report['machine'])}. Started {report['started']}.",
        f"Input: `{report['home']}` (a finished `run_foundation.py` home) with day {report['day']} "
        f"ingested: {report['ingested_rows']:,} rows. Checkouts: "
        + ", ".join(f"`{name}` = {info['commit']}" for name, info in report["checkouts"].items())
        + ".",
        "",
        "| run | checkout | dbt elapsed, s | wall, s | nodes summed, s | tests summed, s | slowest nodes, s |",
        "|---:|---|---:|---:|---:|---:|---|",
    ]
    for index, run in enumerate(report["runs"], 1):
        slowest = ", ".join(f"{name} {seconds}" for name, seconds in run["slowest"][:5])
        lines.append(
            f"| {index} | {run['checkout']} | {run['elapsed_s']} | {run['wall_s']} | {run['nodes_summed_s']} "
            f"| {run['tests_summed_s']} | {slowest} |"
        )
    lines += [
        "",
        "Mean dbt elapsed per checkout: "
        + ", ".join(f"{name} {value} s" for name, value in report["mean_elapsed_s"].items())
        + ".",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="a finished run_foundation.py home (not modified)")
    parser.add_argument("--checkout", action="append", required=True, metavar="NAME=PATH")
    parser.add_argument(
        "--day", type=int, default=2, help="the day to ingest (the home's own daily run is day 1)"
    )
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--work", default="/tmp/loopwise_dbt_compare")
    args = parser.parse_args()

    home, work = Path(args.home), Path(args.work)
    checkouts = {name: Path(path).resolve() for name, path in (item.split("=", 1) for item in args.checkout)}
    report: dict = {
        "home": str(home),
        "day": args.day,
        "machine": machine(),
        "started": datetime.now(UTC).isoformat(),
        "checkouts": {
            name: {
                "path": str(path),
                "commit": subprocess.run(
                    ["git", "-C", str(path), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
                ).stdout.strip(),
            }
            for name, path in checkouts.items()
        },
        "runs": [],
    }
    prepared = {}
    for name, path in checkouts.items():
        prepared[name] = work / f"prepared-{name}"
        copy_warehouse(home, prepared[name])
        timed_build(path, prepared[name])  # the checkout's own tables, as its previous daily build left them
        report["ingested_rows"] = ingest_day(prepared[name], args.day)
        print(name, "prepared", flush=True)
    for _ in range(args.runs):
        for name, path in checkouts.items():
            run_home = work / "run"
            copy_warehouse(prepared[name], run_home, with_dlt_state=False)
            run = {"checkout": name, **timed_build(path, run_home)}
            report["runs"].append(run)
            print(json.dumps(run), flush=True)
            shutil.rmtree(run_home)
    report["mean_elapsed_s"] = {
        name: round(sum(r["elapsed_s"] for r in report["runs"] if r["checkout"] == name) / args.runs, 1)
        for name in checkouts
    }
    for directory in prepared.values():
        shutil.rmtree(directory)
    out = ROOT / "benchmarks" / "results"
    (out / "dbt_daily_compare.json").write_text(json.dumps(report, indent=2))
    (out / "dbt_daily_compare.md").write_text(render(report))
    print(render(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
