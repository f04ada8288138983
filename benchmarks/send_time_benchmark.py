"""Send-time model at scale: N contacts x 1 year of synthetic email sends (generated in DuckDB SQL
by benchmarks/send_time_synthetic.py into a DuckDB file), the model run from the marts-shaped
table in a child process: wall time and peak RSS of that process.

    python -m benchmarks.send_time_benchmark --contacts 1000000 --dir /tmp/send_time_bench [--write]

Generation is not timed as part of the model. ``cpu_seconds`` is beside the wall time because
the machine may be shared (``load_average_after`` says how busy it was). The model reads ``marts.fct_email_sends`` and
``marts.dim_contacts`` and writes ``results.send_time_profiles`` (one row per contact).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from benchmarks.send_time_synthetic import SyntheticSpec, create_synthetic_sends

RESULTS = Path(__file__).parent / "results" / "send_time.md"


def generate(path: Path, contacts: int, days: int) -> dict:
    started = time.perf_counter()
    con = duckdb.connect(str(path))
    create_synthetic_sends(con, SyntheticSpec(contacts=contacts, days=days, seed=1))
    (rows,) = con.execute("select count(*) from marts.fct_email_sends").fetchone()
    con.close()
    return {"sends": int(rows), "generate_seconds": round(time.perf_counter() - started, 1)}


def run_model(path: str, threads: int, memory_limit: str) -> None:
    """Child process: the model alone, so its peak RSS is its own."""
    from datetime import UTC, datetime

    from decision_engine.personalization.send_time import SendTimeSettings, run_send_time

    started = time.perf_counter()
    con = duckdb.connect(path, config={"threads": threads, "memory_limit": memory_limit})
    run = run_send_time(con, SendTimeSettings(), datetime.now(UTC))
    con.close()
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"model_seconds": round(seconds, 1), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
                      "peak_rss_mib": round(usage.ru_maxrss / 1024), "rows": run.rows,
                      "sources": run.sources, "hour_prior_strength": run.params["hour_prior_strength"]}))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/send_time_bench"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-limit", default="2GB")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--model-only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.model_only:
        run_model(args.model_only, args.threads, args.memory_limit)
        return
    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / f"sends_{args.contacts}_{args.days}d.duckdb"
    generated = {"sends": None, "generate_seconds": None}
    if not path.exists():
        generated = generate(path, args.contacts, args.days)
    print(generated, flush=True)
    child = subprocess.run(
        [sys.executable, "-m", "benchmarks.send_time_benchmark", "--model-only", str(path),
         "--threads", str(args.threads), "--memory-limit", args.memory_limit],
        check=True, capture_output=True, text=True, env={**os.environ},
    )  # fmt: skip
    result = {**generated, **json.loads(child.stdout.strip().splitlines()[-1])}
    result["machine"] = f"{platform.machine()}, {os.cpu_count()} cores visible, threads={args.threads}"
    result["load_average_after"] = [round(x, 1) for x in os.getloadavg()]
    print(json.dumps(result))
    if args.write:
        with RESULTS.open("a") as out:
            out.write(f"\n<!-- benchmark {args.contacts} contacts x {args.days} days -->\n")
            out.write("```json\n" + json.dumps(result, indent=1) + "\n```\n")


if __name__ == "__main__":
    main()
