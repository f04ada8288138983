"""Foundation benchmark: the `large` sandbox world through dlt, dbt, the GX gates and the decisions.

Measures, for a full load of a year of history and then for one daily incremental run on
top of it: rows/s per source through dlt (HTTP extract + normalize + load), dbt build time,
GX check time, the decisions, actions and BI snapshot (a Dagster run of those assets), and peak
memory (RSS of this process and its children: dbt and the Dagster run are subprocesses); then one
more `dbt build` with no new data, the daily build's fixed cost. Writes
benchmarks/results/foundation_<preset>.md and .json.

    python benchmarks/run_foundation.py [--preset large] [--home /tmp/loopwise_bench]

Ingestion, dbt and the gates run the same functions their Dagster assets call (no Dagster run
overhead in those numbers); the decisions run as Dagster runs them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def peak_rss_mib() -> dict[str, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"self_mib": round(own, 1), "children_mib": round(children, 1)}


def machine() -> dict[str, str]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    mem = ""
    with contextlib.suppress(OSError):
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    return {"cpu": cpu, "cores": str(os.cpu_count()), "memory": mem, "python": platform.python_version()}


def machine_line(facts: dict[str, str]) -> str:
    """``machine()`` as a sentence: "2 cores (Intel(R) Xeon(R) Processor), 23.5 GiB, Python 3.11.7"."""
    kib = facts.get("memory", "").removesuffix(" kB")
    memory = f"{int(kib) / 2**20:.1f} GiB" if kib.isdigit() else facts.get("memory", "")
    cpu = facts.get("cpu") or "CPU not reported"
    return f"{facts.get('cores')} cores ({cpu}), {memory}, Python {facts.get('python')}"


class ExternalSandbox:
    """The sandbox served by its own process, so its CPU and memory are not counted as ours."""

    def __init__(self, spec_path: Path, port: int) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sandbox", "serve", "--spec", str(spec_path), "--port", str(port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import requests

        for _ in range(600):
            try:
                requests.get(f"{self.base_url}/_sandbox/clock", timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.5)

    @property
    def vendor_base_urls(self) -> dict[str, str]:
        from sandbox.server import PREFIXES

        return {vendor: self.base_url + prefix for vendor, prefix in PREFIXES.items()}

    def advance(self, days: int) -> None:
        import requests

        requests.post(f"{self.base_url}/_sandbox/advance", json={"days": days}, timeout=60).raise_for_status()

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def run_sources(server: ExternalSandbox, world, warehouse: Path, pipelines_dir: Path) -> dict[str, dict]:
    from ingestion import SOURCES, run_source
    from ingestion.config import sandbox_source_settings

    out: dict[str, dict] = {}
    settings = sandbox_source_settings(server, world)
    for name in SOURCES:
        started = time.perf_counter()
        _, stats = run_source(name, warehouse, settings, pipelines_dir=pipelines_dir)
        elapsed = time.perf_counter() - started
        rows = int(sum(stats.row_counts.values()))
        out[name] = {
            "rows_loaded": rows,
            "seconds": round(elapsed, 1),
            "rows_per_second": round(rows / elapsed, 0) if elapsed else None,
            "quarantined": int(stats.quarantined_total),
            "peak_rss": peak_rss_mib(),
            "steps": dlt_steps(name, pipelines_dir),
        }
        print(name, out[name], flush=True)
    return out


def dlt_steps(name: str, pipelines_dir: Path) -> dict[str, float]:
    """Seconds of each step of the source's last dlt run (extract, normalize, load), from its trace."""
    import dlt

    from ingestion.pipelines import pipeline_name

    trace = dlt.attach(pipeline_name(name), pipelines_dir=str(pipelines_dir)).last_trace
    steps: dict[str, float] = {}
    for step in trace.steps if trace else []:
        if step.step in ("extract", "normalize", "load") and step.finished_at:
            seconds = (step.finished_at - step.started_at).total_seconds()
            steps[step.step] = round(steps.get(step.step, 0.0) + seconds, 1)
    return steps


def dbt_build(warehouse: Path, project_dir: Path | None = None) -> tuple[subprocess.CompletedProcess, float]:
    """`dbt build` of `project_dir` (default: this checkout's project) on `warehouse`, as the dbt
    asset builds (no unit tests), its target and logs beside the warehouse. Returns the completed
    process and its wall time."""
    from orchestration.defs.transform.project import DBT_EXECUTABLE, DBT_PROJECT_DIR, WITHOUT_UNIT_TESTS

    project = project_dir or DBT_PROJECT_DIR
    started = time.perf_counter()
    completed = subprocess.run(
        [
            DBT_EXECUTABLE,
            "build",
            *WITHOUT_UNIT_TESTS,
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--target-path",
            str(warehouse.parent / "dbt_target"),
            "--log-path",
            str(warehouse.parent / "dbt_logs"),
        ],
        env={**os.environ, "LOOPWISE_WAREHOUSE_PATH": str(warehouse)},
        capture_output=True,
        text=True,
    )
    return completed, time.perf_counter() - started


def run_dbt(warehouse: Path) -> dict:
    completed, seconds = dbt_build(warehouse)
    result = {
        "success": completed.returncode == 0,
        "seconds": round(seconds, 1),
        "peak_rss": peak_rss_mib(),
    }
    if completed.returncode != 0:
        result["tail"] = completed.stdout[-2000:]
    result["slowest_nodes"] = slowest_nodes(warehouse.parent / "dbt_target" / "run_results.json")
    print("dbt", result, flush=True)
    return result


def slowest_nodes(run_results: Path, count: int = 10) -> dict[str, float]:
    """The build's `count` slowest models and tests (name -> seconds), from dbt's run_results.json."""
    if not run_results.exists():
        return {}
    results = json.loads(run_results.read_text()).get("results", [])
    timed = sorted(results, key=lambda r: -float(r.get("execution_time") or 0))[:count]
    return {r["unique_id"].split(".", 2)[-1]: round(float(r["execution_time"]), 1) for r in timed}


def run_checks(warehouse: Path, reference_time: datetime, after_load_ids: dict[str, str | None]) -> dict:
    from orchestration.resources import WarehouseResource
    from quality import SUITES, run_suite

    started = time.perf_counter()
    tables = {}
    for table in SUITES:
        # raw tables from the last load on, marts the rows changed since the last pass, each on a
        # connection of the warehouse resource (its DuckDB memory limit): like the asset checks
        with WarehouseResource(path=str(warehouse)).connect() as con:
            result = run_suite(
                con,
                table,
                reference_time=reference_time,
                after_load_id=after_load_ids.get(table),
                changed_rows_only=not table.startswith("raw_"),
            )
        tables[table] = {
            "success": result.success,
            "rows": result.row_count,
            "validated_rows": result.validated_rows,
            "seconds": round(result.elapsed_s, 2),
        }
        if table.startswith("raw_") and result.success and not result.passed_warn_only:
            after_load_ids[table] = result.max_load_id  # as the asset checks: the last suite that passed
    out = {"seconds": round(time.perf_counter() - started, 1), "tables": tables, "peak_rss": peak_rss_mib()}
    print("checks", out["seconds"], "s", flush=True)
    return out


# The daily job's steps after the gates: Dagster's asset groups of the decisions, the actions
# (queue, write-back, decision log) and the BI snapshot. Ingestion, dbt and the gates are timed above.
DECISION_GROUPS = ("decisions", "actions", "bi")


def run_decisions(home: Path, world) -> dict:
    """The daily job's decisions, actions and BI snapshot on the built warehouse: `dagster asset
    materialize` of `DECISION_GROUPS` in a child process (its peak RSS its own), as the job runs them
    (in-process executor, the code location's resources, the asset checks on these assets).

    The vendor APIs the write-back calls are the world saved to `home`/sandbox and served by the
    run itself, as in the demo. Writes made there are not sent to the world served to ingestion,
    so a later daily phase's data does not reflect them (the volumes are the same)."""
    from core.settings import load_paths
    from loopwise.runner import prepare_environment
    from sandbox.state import STATE_FILE

    paths = load_paths(home)
    paths.sandbox_dir.mkdir(parents=True, exist_ok=True)
    world.save_state(paths.sandbox_dir / STATE_FILE)
    prepare_environment(paths)
    selection = " or ".join(f"group:{group}" for group in DECISION_GROUPS)
    log = home / "decisions.log"
    started = time.perf_counter()
    with log.open("w") as output:
        child = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster"), "asset", "materialize",
             "-m", "orchestration.definitions", "--select", selection],
            cwd=ROOT,
            env={**os.environ, "LOOPWISE_HOME": str(home), "DAGSTER_HOME": str(paths.dagster_home)},
            stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        peak_mib = high_water_mib(child)
    out = {
        "success": child.returncode == 0,
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mib": peak_mib,
        "steps": step_seconds(paths.dagster_home),
        "log": str(log),
    }
    if child.returncode != 0:
        out["tail"] = log.read_text()[-2000:]
    print("decisions", {k: v for k, v in out.items() if k not in ("tail", "steps")}, flush=True)
    return out


def high_water_mib(child: subprocess.Popen, every_s: float = 0.5) -> float:
    """Wait for `child`; its peak resident set (MiB), read from its VmHWM while it runs.

    Not its rusage: Linux carries the RSS a process had before `exec` into its `ru_maxrss`, so a
    child forked from this process (gigabytes after the gates) would report this process's peak."""
    peak = 0.0
    while child.poll() is None:
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{child.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        time.sleep(every_s)
    return round(peak, 1)


def step_seconds(dagster_home: Path) -> dict[str, float]:
    """The latest run's steps (step key -> seconds), slowest first, from the instance's event log."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        (run,) = instance.get_runs(limit=1)
        stats = instance.get_run_step_stats(run.run_id)
    timed = [
        (stat.step_key, stat.end_time - stat.start_time)
        for stat in stats
        if stat.end_time and stat.start_time
    ]
    return {key: round(seconds, 2) for key, seconds in sorted(timed, key=lambda item: -item[1])}


def fresh_home(path: str | Path) -> Path:
    """An empty benchmark directory (removed first if it exists)."""
    import shutil

    home = Path(path)
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    return home


def start_world(home: Path, preset: str, overrides: dict):
    """The world from `preset` + `overrides` in this process (for its clock and settings) and served
    by its own process on a free port. Returns (world, server, seconds to build the world here)."""
    import socket

    import yaml

    from sandbox import World, WorldSpec

    spec_path = home / "world.yaml"
    spec_path.write_text(yaml.safe_dump({"preset": preset, **overrides}))
    started = time.perf_counter()
    world = World(WorldSpec.from_yaml(spec_path))
    build_seconds = round(time.perf_counter() - started, 1)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return world, ExternalSandbox(spec_path, port), build_seconds


def run_phase(
    server: ExternalSandbox,
    world,
    warehouse: Path,
    pipelines_dir: Path,
    after_load_ids: dict[str, str | None],
    phase: dict,
    save=lambda: None,
) -> dict:
    """One pipeline run as the daily job does it: every source through dlt, `dbt build`, every GX
    suite (raw tables validated from `after_load_ids` on, which it advances), then the decisions,
    actions and BI snapshot (a Dagster run). Fills `phase` step by step, calling `save` after each,
    and returns it."""
    phase["sources"] = run_sources(server, world, warehouse, pipelines_dir)
    save()
    phase["dbt"] = run_dbt(warehouse)
    save()
    phase["checks"] = run_checks(warehouse, world.clock, after_load_ids)
    save()
    phase["decisions"] = run_decisions(warehouse.parent, world)
    save()
    return phase


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="large")
    parser.add_argument("--home", default="/tmp/loopwise_bench")
    parser.add_argument(
        "--days", type=int, default=None, help="days of history (default: the preset's; large = 365)"
    )
    parser.add_argument(
        "--again",
        type=int,
        metavar="DAY",
        help="keep the warehouse and dlt state in --home (a finished run) and run one more daily phase, "
        "DAY days after the world's end (a run's own daily phase is day 1); writes "
        "foundation_<preset>_day<DAY>.json/.md",
    )
    args = parser.parse_args()
    if args.again:
        return run_again(Path(args.home), args.preset, args.again)

    home = fresh_home(args.home)
    overrides = {"days": args.days} if args.days else {}
    name = args.preset + (f"_{args.days}d" if args.days else "")

    def full_then_daily(report: dict, server, world, save) -> None:
        warehouse, pipelines_dir = home / "warehouse.duckdb", home / "dlt_pipelines"
        after_load_ids: dict[str, str | None] = {}
        report["full_history"] = {}
        run_phase(server, world, warehouse, pipelines_dir, after_load_ids, report["full_history"], save)
        server.advance(1)
        world.advance(days=1)
        report["daily_incremental"] = {}
        run_phase(server, world, warehouse, pipelines_dir, after_load_ids, report["daily_incremental"], save)
        report["dbt_without_new_data"] = run_dbt(warehouse)
        save()

    return run_report(home, args.preset, overrides, name, full_then_daily)


def run_again(home: Path, preset: str, day: int) -> int:
    """One more daily phase on a finished run's warehouse: the world advanced `day` days past its
    end. The raw tables' gates start after their newest load so far (what the last run validated)."""
    import duckdb
    import yaml

    from quality import SUITES
    from quality.sql_checks import table_columns

    warehouse = home / "warehouse.duckdb"
    overrides = {k: v for k, v in yaml.safe_load((home / "world.yaml").read_text()).items() if k != "preset"}
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        after_load_ids = {
            table: con.execute(f"select max(_dlt_load_id) from {table}").fetchone()[0]
            for table in SUITES
            if table.startswith("raw_") and "_dlt_load_id" in (table_columns(con, table) or {})
        }
    finally:
        con.close()

    def one_more_day(report: dict, server, world, save) -> None:
        server.advance(day)
        world.advance(days=day)
        report["daily_incremental"] = {}
        pipelines_dir = home / "dlt_pipelines"
        run_phase(server, world, warehouse, pipelines_dir, after_load_ids, report["daily_incremental"], save)

    return run_report(home, preset, overrides, f"{preset}_day{day}", one_more_day)


def run_report(home: Path, preset: str, overrides: dict, name: str, phases) -> int:
    """Start the world from `home`, run `phases(report, server, world, save)` and write the report
    as benchmarks/results/foundation_<name>.json and .md (after every step, and at the end)."""
    report: dict = {
        "preset": preset,
        "overrides": overrides,
        "machine": machine(),
        "started": datetime.now(UTC).isoformat(),
    }
    started = time.perf_counter()
    world, server, report["world_build_seconds"] = start_world(home, preset, overrides)
    report["world"] = {"contacts": world.spec.n_contacts, "days": world.spec.days, "seed": world.spec.seed}
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        (out_dir / f"foundation_{name}.json").write_text(json.dumps(report, indent=2, default=str))
        (out_dir / f"foundation_{name}.md").write_text(render(report))

    try:
        phases(report, server, world, save)
    finally:
        server.close()
    report["warehouse_bytes"] = (home / "warehouse.duckdb").stat().st_size
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    save()
    print(render(report))
    return 0


def render(report: dict) -> str:
    lines = [
        f"# Foundation benchmark: `{report['preset']}` world {report.get('overrides') or ''}",
        "",
        f"Machine: {machine_line(report['machine'])}. Started {report['started']}.",
        f"World build: {report['world_build_seconds']} s. Warehouse: {report.get('warehouse_bytes', 0) / 2**20:.0f} MiB.",
        "",
    ]
    for phase in ("full_history", "daily_incremental"):
        data = report.get(phase)
        if not data:
            continue
        lines += [
            f"## {phase.replace('_', ' ')}",
            "",
            "| source | rows | seconds | rows/s | dlt extract / normalize / load s | quarantined | peak RSS MiB |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, s in data["sources"].items():
            steps = s.get("steps") or {}
            phases = " / ".join(str(steps.get(step, "")) for step in ("extract", "normalize", "load"))
            lines.append(
                f"| {name} | {s['rows_loaded']:,} | {s['seconds']} | {s['rows_per_second']:,.0f} | {phases} | "
                f"{s['quarantined']:,} | {s['peak_rss']['self_mib']} |"
            )
        if "dbt" not in data:
            continue
        lines += [
            "",
            f"- dbt build: {data['dbt']['seconds']} s (success: {data['dbt']['success']}), "
            f"peak RSS of dbt (largest child process so far): {data['dbt']['peak_rss']['children_mib']} MiB",
        ]
        if data["dbt"].get("slowest_nodes"):
            lines.append(
                "  slowest nodes: "
                + ", ".join(
                    f"{name} {seconds} s" for name, seconds in list(data["dbt"]["slowest_nodes"].items())[:5]
                )
            )
        if "checks" in data:
            lines.append(
                f"- GX checks (all {len(data['checks']['tables'])} suites): {data['checks']['seconds']} s, "
                f"peak RSS of this process so far {data['checks']['peak_rss']['self_mib']} MiB"
            )
            slowest = sorted(data["checks"]["tables"].items(), key=lambda item: -item[1]["seconds"])[:5]
            lines.append(
                "  slowest: "
                + ", ".join(
                    f"{table} {t['seconds']} s ({t['validated_rows']:,} rows validated)"
                    for table, t in slowest
                )
            )
        if "decisions" in data:
            decisions = data["decisions"]
            lines.append(
                f"- decisions, actions and BI snapshot (Dagster asset groups {', '.join(DECISION_GROUPS)}; "
                f"one `dagster asset materialize` process): {decisions['seconds']} s "
                f"(success: {decisions['success']}), peak RSS {decisions['peak_rss_mib']} MiB"
            )
            lines.append(
                "  slowest steps: "
                + ", ".join(f"{step} {seconds} s" for step, seconds in list(decisions["steps"].items())[:6])
            )
        totals = phase_seconds(data)
        if totals:
            lines.append(
                f"- **{' + '.join(totals)}: {sum(totals.values()):,.1f} s "
                f"({sum(totals.values()) / 60:.1f} min)**"
            )
        lines.append("")
    idle = report.get("dbt_without_new_data")
    if idle:
        lines += [
            "## dbt build with no new data",
            "",
            f"`dbt build` once more right after the daily run, nothing loaded in between: {idle['seconds']} s "
            f"(success: {idle['success']}). What a daily build costs whatever the day's data: dbt's start, "
            "every node and test, and the incremental models' passes over history.",
        ]
        if idle.get("slowest_nodes"):
            lines.append(
                "  slowest nodes: "
                + ", ".join(
                    f"{name} {seconds} s" for name, seconds in list(idle["slowest_nodes"].items())[:5]
                )
            )
        lines.append("")
    return "\n".join(lines) + "\n"


def phase_seconds(data: dict) -> dict[str, float]:
    """A phase's wall time per step (ingest, dbt, gates, decisions): what it has measured so far."""
    out = {"ingest": sum(source["seconds"] for source in data.get("sources", {}).values())}
    for step, key in (("dbt", "dbt"), ("gates", "checks"), ("decisions", "decisions")):
        if key in data:
            out[step] = data[key]["seconds"]
    return out


if __name__ == "__main__":
    raise SystemExit(main())
