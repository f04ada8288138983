"""Klaviyo events extraction: rows/s through the dlt pipeline, beside a plain HTTP client.

The sandbox serves a world from its own process (``python -m sandbox serve``), so its CPU is
not counted in this process, but both share the machine's cores. Measured for each worker
count asked for:

- ``plain``: a ``requests`` client fetching the same event pages (same filter, page size and
  time windows) and parsing them with orjson, without dlt: the limit for this server.
- ``dlt``: ``run_source("klaviyo", resources=["events"])`` into a fresh DuckDB file
  (extract, flatten and validate, normalize, load with merge), as a scheduled run does.

    python benchmarks/klaviyo_extraction.py [--preset large] [--days 20] [--workers 1 4]

Writes benchmarks/results/klaviyo_extraction.json (and prints it); the Markdown results
file is written by hand from it with the machine's load noted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run_foundation import ExternalSandbox, machine, peak_rss_mib  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of this process (all threads) or of process ``pid``."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(run, server_pid: int) -> dict:
    """``run()``'s result with the CPU seconds this process and the sandbox spent on it.

    On a shared machine wall time depends on the neighbours; CPU seconds much less. ``rows / the
    larger of the two`` is the rate with each side on its own core (no contention), an estimate.
    """
    own, server = cpu_seconds(), cpu_seconds(server_pid)
    result = run()
    own, server = cpu_seconds() - own, cpu_seconds(server_pid) - server
    rows = result["rows"]
    result.update(
        {
            "client_cpu_seconds": round(own, 1),
            "server_cpu_seconds": round(server, 1),
            "client_rows_per_cpu_second": round(rows / own) if own else None,
            "server_rows_per_cpu_second": round(rows / server) if server else None,
            "rows_per_second_one_core_each": round(rows / max(own, server, 1e-9)),
        }
    )
    return result


def plain_fetch(settings, workers: int) -> dict:
    """Every event page of the run's range with a bare ``requests`` session per worker."""
    import orjson
    import requests

    from ingestion.klaviyo import EVENTS_PAGE_SIZE, event_filter, event_windows

    windows = event_windows(settings.start_datetime, replace(settings, klaviyo_events_workers=workers))
    headers = {
        "Authorization": f"Klaviyo-API-Key {settings.klaviyo_api_key}",
        "revision": settings.klaviyo_revision,
        "accept": "application/vnd.api+json",
    }

    def fetch(window) -> tuple[int, int]:
        params: dict | None = {
            "filter": event_filter(window),
            "sort": "datetime",
            "page[size]": EVENTS_PAGE_SIZE,
        }
        url: str | None = f"{settings.klaviyo_base_url}/api/events"
        rows = pages = 0
        with requests.Session() as session:
            while url:
                response = session.get(url, params=params, headers=headers, timeout=60)
                response.raise_for_status()
                body = orjson.loads(response.content)
                rows += len(body["data"])
                pages += 1
                url, params = body["links"]["next"], None
        return rows, pages

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(fetch, windows))
    elapsed = time.perf_counter() - started
    rows = sum(r for r, _ in results)
    return {
        "rows": rows,
        "pages": sum(p for _, p in results),
        "seconds": round(elapsed, 1),
        "rows_per_second": round(rows / elapsed),
    }


def dlt_extract(settings, workers: int, home: Path) -> dict:
    from ingestion import run_source

    run_home = Path(tempfile.mkdtemp(prefix=f"dlt_{workers}_", dir=home))
    if hasattr(settings, "klaviyo_events_workers"):  # absent before parallel windows (the baseline)
        settings = replace(settings, klaviyo_events_workers=workers)
    started = time.perf_counter()
    _, stats = run_source(
        "klaviyo",
        run_home / "warehouse.duckdb",
        settings,
        pipelines_dir=run_home / "dlt",
        resources=["events"],
    )
    elapsed = time.perf_counter() - started
    rows = int(stats.row_counts.get("events", 0))
    shutil.rmtree(run_home, ignore_errors=True)
    return {
        "rows": rows,
        "quarantined": int(stats.quarantined_total),
        "seconds": round(elapsed, 1),
        "rows_per_second": round(rows / elapsed),
        "peak_rss": peak_rss_mib(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="large")
    parser.add_argument("--days", type=int, default=20, help="days of history (large = 365 by default)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--skip", choices=["plain", "dlt"], action="append", default=[])
    parser.add_argument("--home", default=None, help="scratch directory (default: a temp dir)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "klaviyo_extraction.json"))
    args = parser.parse_args()

    import yaml

    from ingestion.config import sandbox_source_settings
    from sandbox import World, WorldSpec

    home = Path(args.home or tempfile.mkdtemp(prefix="klaviyo_extraction_"))
    home.mkdir(parents=True, exist_ok=True)
    spec_path = home / "world.yaml"
    spec_path.write_text(yaml.safe_dump({"preset": args.preset, "days": args.days}))
    world = World(WorldSpec.from_yaml(spec_path))  # for the settings (keys, start date, clock) only
    report: dict = {
        "preset": args.preset,
        "days": args.days,
        "contacts": world.spec.n_contacts,
        "machine": machine(),
        "load_average_before": os.getloadavg(),
        "started": datetime.now(UTC).isoformat(),
        "runs": [],
    }
    server = ExternalSandbox(spec_path, free_port())
    settings = sandbox_source_settings(server, world)
    try:
        for workers in args.workers:
            for kind in ("plain", "dlt"):
                if kind in args.skip:
                    continue
                load_before = os.getloadavg()[0]
                if kind == "plain":
                    run = partial(plain_fetch, settings, workers)
                else:
                    run = partial(dlt_extract, settings, workers, home)
                result = measured(run, server.process.pid)
                result.update({"kind": kind, "workers": workers, "load_average_1m_before": load_before})
                report["runs"].append(result)
                print(json.dumps(result), flush=True)
    finally:
        server.close()
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
