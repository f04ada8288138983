"""Ingestion memory benchmark: peak RSS per dlt step (extract, normalize, load, stats) vs rows.

Serves the `large` sandbox world (200k contacts) for a few history lengths in a separate
process and runs one source through ``make_pipeline`` step by step in a fresh child
process per case, so each peak belongs to that case alone. The peak of each step is read
from ``VmHWM`` after resetting it (``/proc/self/clear_refs``) before the step; a sampler
thread (50 ms) backs it up where the reset is not allowed.

    python benchmarks/ingestion_memory.py --days 10 20 [--source klaviyo] [--resources events]

Appends the cases under ``--label`` to ``--json`` (default /tmp/ingestion_memory.json) and
prints a markdown table (results: benchmarks/results/ingestion_memory.md). Bounded memory means the peaks stay flat as the days (rows) grow.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
STEPS = ("extract", "normalize", "load", "stats")


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class PeakRss:
    """Peak RSS of this process between :meth:`reset` and :meth:`peak_mib`."""

    def __init__(self) -> None:
        self._sampled = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self._sampled = max(self._sampled, _status_kib("VmRSS"))

    def reset(self) -> None:
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self._hwm_ok = True
        except OSError:
            self._hwm_ok = False
        self._sampled = _status_kib("VmRSS")

    def peak_mib(self) -> float:
        peak = max(self._sampled, _status_kib("VmRSS"))
        if self._hwm_ok:
            peak = max(peak, _status_kib("VmHWM"))
        return round(peak / 1024, 1)


def child(args: argparse.Namespace) -> None:
    """One case: run the source step by step and print a JSON line with the numbers."""
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    from ingestion.config import SourceSettings
    from ingestion.pipelines import make_pipeline, source_factory
    from ingestion.stats import load_stats

    values = json.loads(args.settings)
    for name in ("start_date", "end_date"):
        values[name] = date.fromisoformat(values[name]) if values[name] else None
    settings = SourceSettings(**values)
    home = Path(args.home)
    source = source_factory(args.source)(settings)
    if args.resources:
        source = source.with_resources(*args.resources.split(","))
    pipeline = make_pipeline(args.source, home / "warehouse.duckdb", home / "dlt")
    rss = PeakRss()
    out: dict = {"rss_before_mib": round(_status_kib("VmRSS") / 1024, 1), "steps": {}}
    infos = []
    started_all = time.perf_counter()
    for step in STEPS:
        rss.reset()
        started = time.perf_counter()
        if step == "extract":
            pipeline.extract(source)
        elif step == "normalize":
            info = pipeline.normalize()
            out["rows"] = {t: n for t, n in info.row_counts.items() if not t.startswith("_dlt")}
            if args.keep:  # the normalized package, to replay the load step
                shutil.copytree(home / "dlt", home / "dlt_normalized")
        elif step == "load":
            infos.append(pipeline.load())
        else:
            load_stats(pipeline, infos)
        out["steps"][step] = {
            "seconds": round(time.perf_counter() - started, 1),
            "peak_rss_mib": rss.peak_mib(),
        }
    out["seconds"] = round(time.perf_counter() - started_all, 1)
    out["total_rows"] = sum(out["rows"].values())
    out["rows_per_second"] = round(out["total_rows"] / out["seconds"])
    out["peak_rss_mib"] = max(s["peak_rss_mib"] for s in out["steps"].values())
    print("RESULT " + json.dumps(out), flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def settings_json(spec_path: Path, urls: dict[str, str]) -> str:
    from ingestion.config import sandbox_source_settings
    from sandbox import World, WorldSpec

    class Server:  # what sandbox_source_settings needs from a server
        vendor_base_urls = urls

    settings = sandbox_source_settings(Server(), World(WorldSpec.from_yaml(spec_path)))
    values = {f: getattr(settings, f) for f in settings.__dataclass_fields__ if f != "retry"}
    return json.dumps(values, default=str)


def run_case(days: int, args: argparse.Namespace) -> dict:
    import requests
    import yaml

    with contextlib.ExitStack() as stack:
        if args.keep:
            home = Path(args.keep) / f"days{days}"
            shutil.rmtree(home, ignore_errors=True)
            home.mkdir(parents=True)
        else:
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ingestion_memory_")))
        spec = home / "world.yaml"
        spec.write_text(yaml.safe_dump({"preset": args.preset, "days": days}))
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "sandbox", "serve", "--spec", str(spec), "--port", str(port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    requests.get(f"{base}/_sandbox/clock", timeout=2)
                    break
                except requests.RequestException:
                    time.sleep(0.5)
            urls = {
                "klaviyo": base + "/klaviyo",
                "hubspot": base + "/hubspot",
                "meta": base + "/meta",
                "google_ads": base + "/google-ads",
            }
            command = [
                sys.executable,
                __file__,
                "_child",
                "--settings",
                settings_json(spec, urls),
                "--home",
                str(home),
                "--source",
                args.source,
            ]
            if args.resources:
                command += ["--resources", args.resources]
            if args.keep:
                command += ["--keep"]
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
            result_lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            if done.returncode != 0 or not result_lines:
                raise RuntimeError(f"case days={days} failed:\n{done.stderr[-3000:]}")
            result = json.loads(result_lines[-1][len("RESULT ") :])
        finally:
            server.terminate()
            server.wait(timeout=30)
    result["days"] = days
    return result


def render(label: str, cases: list[dict]) -> str:
    lines = [
        f"### {label}",
        "",
        "| days | rows | seconds | rows/s | peak RSS MiB: extract | normalize | load | stats |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for case in cases:
        steps = case["steps"]
        lines.append(
            f"| {case['days']} | {case['total_rows']:,} | {case['seconds']} | {case['rows_per_second']:,} | "
            + " | ".join(str(steps[s]["peak_rss_mib"]) for s in STEPS)
            + " |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    if sys.argv[1:2] == ["_child"]:
        kid = argparse.ArgumentParser()
        for name in ("--settings", "--home", "--source"):
            kid.add_argument(name, required=True)
        kid.add_argument("--resources", default="")
        kid.add_argument("--keep", action="store_true")
        child(kid.parse_args(sys.argv[2:]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--preset", default="large")
    parser.add_argument("--source", default="klaviyo")
    parser.add_argument("--resources", default="", help="comma-separated subset of the source's resources")
    parser.add_argument("--label", default="current")
    parser.add_argument("--json", default="/tmp/ingestion_memory.json")
    parser.add_argument("--keep", default="", help="keep each case's working dir under this dir")
    args = parser.parse_args()
    cases = []
    for days in args.days:
        case = run_case(days, args)
        print(json.dumps(case), flush=True)
        cases.append(case)
    results = Path(args.json)
    saved = json.loads(results.read_text()) if results.exists() else {}
    saved[args.label] = {"source": args.source, "resources": args.resources, "cases": cases}
    results.write_text(json.dumps(saved, indent=2) + "\n")
    print(render(args.label, cases))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
