"""Engine benchmark: the same raw data built by dbt on DuckDB and on a local Spark session.

Loads a sandbox world's raw data once (dlt, as the daily job does; or reuses ``--raw`` from an
earlier run), publishes it to the lake Spark reads (core/lake.py), copies the lake into a fresh
DuckDB file so both engines read exactly the same rows, then times a full ``dbt build`` on each
and compares every mart (core/parity.py). Peak RSS is each build's process tree (dbt, and the
Spark driver JVM dbt starts), sampled from /proc. Writes benchmarks/results/engines_<preset>[_<days>d].md and .json.

    python benchmarks/bench_engines.py [--preset large] [--days 60] [--home /tmp/loopwise_engines]

One machine shows Spark's overhead (a JVM, a task per partition, Parquet files between models),
not what it gains by spreading a build over a cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from run_foundation import fresh_home, machine, machine_line, run_sources, start_world  # noqa: E402


def _tree_rss_kib(root: int) -> int:
    """Resident memory of ``root`` and all its descendants (from /proc), in KiB."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        parents[int(entry.name)] = int(fields.get("PPid", "0").strip() or 0)
        rss[int(entry.name)] = int(fields.get("VmRSS", "0 kB").split()[0]) if "VmRSS" in fields else 0
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(rss.get(pid, 0) for pid in tree)


def dbt_build(env: dict[str, str], target_path: Path) -> dict:
    """A full ``dbt build`` in a child process: its wall time and the peak resident memory of its
    process tree (dbt, and on Spark the driver JVM it starts), sampled every half second."""
    import threading

    from orchestration.defs.transform.project import DBT_EXECUTABLE, DBT_PROJECT_DIR

    started = time.perf_counter()
    process = subprocess.Popen(
        [DBT_EXECUTABLE, "build", "--full-refresh", "--profiles-dir", str(DBT_PROJECT_DIR)]
        + ["--project-dir", str(DBT_PROJECT_DIR), "--target-path", str(target_path)],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    peak = [0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], _tree_rss_kib(process.pid))
            time.sleep(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate()
    sampler.join()
    result = {
        "success": process.returncode == 0,
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mib": round(peak[0] / 1024, 1),
    }
    if process.returncode != 0:
        result["tail"] = output[-3000:]
    print("dbt", env.get("LOOPWISE_DBT_TARGET"), result, flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="large")
    parser.add_argument("--days", type=int, default=None, help="days of history (default: the preset's)")
    parser.add_argument("--home", default="/tmp/loopwise_engines")
    parser.add_argument("--raw", default=None, help="a DuckDB warehouse with raw tables already loaded")
    args = parser.parse_args()

    from core.lake import load_lake_into_duckdb, publish_raw_lake
    from core.parity import as_rows, compare_warehouses, report
    from core.settings import load_paths, spark_submit_args

    home = fresh_home(args.home)
    paths = load_paths(home)
    name = args.preset + (f"_{args.days}d" if args.days else "")
    out = ROOT / "benchmarks" / "results"
    result: dict = {
        "preset": args.preset,
        "days": args.days,
        "machine": machine(),
        "started": datetime.now(UTC).isoformat(),
    }

    def save() -> None:
        (out / f"engines_{name}.json").write_text(json.dumps(result, indent=2, default=str))
        (out / f"engines_{name}.md").write_text(render(result))

    if args.raw:
        raw = Path(args.raw)
        result["raw"] = {"reused": str(raw)}
    else:
        raw = home / "raw.duckdb"
        world, server, _ = start_world(home, args.preset, {"days": args.days} if args.days else {})
        try:
            started = time.perf_counter()
            sources = run_sources(server, world, raw, home / "dlt_pipelines")
            result["raw"] = {
                "ingest_seconds": round(time.perf_counter() - started, 1),
                "rows": {k: v["rows_loaded"] for k, v in sources.items()},
                "world": {
                    "contacts": world.spec.n_contacts,
                    "days": world.spec.days,
                    "seed": world.spec.seed,
                },
            }
        finally:
            server.close()
    save()

    started = time.perf_counter()
    published = publish_raw_lake(raw, paths.lake)
    result["lake"] = {
        "tables": len(published),
        "seconds": round(time.perf_counter() - started, 1),
        "mib": round(sum(f.stat().st_size for f in paths.lake.rglob("*.parquet")) / 2**20, 1),
    }
    duckdb_warehouse = home / "duckdb_build.duckdb"
    load_lake_into_duckdb(paths.lake, duckdb_warehouse)
    save()

    result["duckdb"] = dbt_build(
        {"LOOPWISE_DBT_TARGET": "local", "LOOPWISE_WAREHOUSE_PATH": str(duckdb_warehouse)},
        home / "target_duckdb",
    )
    save()
    from core.lake import lake_env

    result["spark"] = dbt_build(
        {
            "LOOPWISE_DBT_TARGET": "spark",
            "LOOPWISE_LAKE_PATH": str(paths.lake),
            "LOOPWISE_SPARK_WAREHOUSE": str(paths.spark_warehouse),
            "LOOPWISE_SPARK_METASTORE": str(paths.spark_metastore),
            "PYSPARK_SUBMIT_ARGS": spark_submit_args(paths),
            **lake_env(paths.lake),
        },
        home / "target_spark",
    )
    save()
    if result["duckdb"]["success"] and result["spark"]["success"]:
        parity = compare_warehouses(duckdb_warehouse, paths.spark_warehouse)
        result["parity"] = as_rows(parity)
        result["parity_equal"] = all(not row["problems"] for row in result["parity"])
        print(report(parity), flush=True)
    result["spark_warehouse_mib"] = round(
        sum(f.stat().st_size for f in paths.spark_warehouse.rglob("*.parquet")) / 2**20, 1
    )
    save()
    shutil.rmtree(home / "target_spark", ignore_errors=True)
    print(render(result))
    return 0 if result.get("parity_equal") else 1


def render(result: dict) -> str:
    lines = [
        f"# Engine benchmark: dbt build on DuckDB and on local Spark, `{result['preset']}` world"
        + (f", {result['days']} days" if result.get("days") else ""),
        "",
        f"Machine: {machine_line(result['machine'])}. Started {result['started']}.",
        "Command: `python benchmarks/bench_engines.py --preset "
        + result["preset"]
        + (f" --days {result['days']}" if result.get("days") else "")
        + "`",
        "",
    ]
    raw = result.get("raw", {})
    if "rows" in raw:
        total = sum(raw["rows"].values())
        lines.append(f"Raw data: {total:,} rows loaded by dlt in {raw['ingest_seconds']} s ({raw['rows']}).")
    lake = result.get("lake")
    if lake:
        lines.append(
            f"Lake: {lake['tables']} tables, {lake['mib']} MiB of Parquet, published in {lake['seconds']} s."
        )
    lines += [
        "",
        "| engine | dbt build (s) | success | peak RSS (MiB) |",
        "|---|---:|---|---:|",
    ]
    for engine in ("duckdb", "spark"):
        run = result.get(engine)
        if run:
            lines.append(f"| {engine} | {run['seconds']} | {run['success']} | {run['peak_rss_mib']} |")
    if "parity" in result:
        differing = [row for row in result["parity"] if row["problems"]]
        lines += [
            "",
            f"Parity: {len(result['parity'])} marts compared, {len(differing)} differ "
            "(same rows; numbers within 1e-9 relative).",
            "",
            "| mart | rows | result |",
            "|---|---:|---|",
        ]
        for row in result["parity"]:
            lines.append(
                f"| {row['table']} | {row['duckdb_rows']:,} | {'; '.join(row['problems']) or 'equal'} |"
            )
    lines += [
        "",
        "Peak RSS: the resident memory of each build's process tree, sampled every 0.5 s (dbt; on Spark",
        "also the driver JVM it starts, heap capped at 4 GB by `LOOPWISE_SPARK_DRIVER_MEMORY`; DuckDB's",
        "memory is capped in profiles.yml: 4 GB when this ran, 3 GB since).",
        "One machine shows Spark's overhead (JVM start, a task per partition, Parquet between",
        "models), not the scale-out a cluster gives.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
