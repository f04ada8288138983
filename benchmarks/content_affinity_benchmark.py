"""Content-affinity model at scale: N contacts x 1 year of synthetic email sends with a planted
preferred angle (generated in DuckDB SQL by benchmarks/content_affinity_synthetic.py into a DuckDB
file), the model run from the marts-shaped tables in a child process: wall time, CPU seconds and
peak RSS of that process.

    python -m benchmarks.content_affinity_benchmark --contacts 1000000 --dir /tmp/affinity_bench [--write]

Generation is not timed as part of the model. ``cpu_seconds`` is beside the wall time because
the machine may be shared (``load_average_after`` says how busy it was). The model reads
``marts.fct_email_sends`` and ``marts.dim_message_content`` and writes
``results.content_affinity`` (one row per contact and angle). ``--stages`` times the model's steps
(load, fit, table, write) in the child instead of calling ``run_content_affinity`` whole.

After the run the parent checks that the synthetic data mean something: how often the preferred
angle is the planted one, by the contact's clicks (a sanity check, not a tuning target).
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

from benchmarks.content_affinity_synthetic import AffinitySpec, create_synthetic_affinity

RESULTS = Path(__file__).parent / "results" / "content_affinity.md"
CLICK_BINS = ((0, 0, "0"), (1, 2, "1-2"), (3, 5, "3-5"), (6, 10, "6-10"), (11, 1_000_000, "11+"))


def generate(path: Path, contacts: int, days: int, sha256_ids: bool) -> dict:
    started = time.perf_counter()
    con = duckdb.connect(str(path))
    create_synthetic_affinity(con, AffinitySpec(contacts=contacts, days=days, seed=1, sha256_ids=sha256_ids))
    (rows,) = con.execute("select count(*) from marts.fct_email_sends").fetchone()
    con.close()
    return {"sends": int(rows), "generate_seconds": round(time.perf_counter() - started, 1)}


def run_model(path: str, threads: int, memory_limit: str, stages: bool) -> None:
    """Child process: the model alone, so its peak RSS is its own."""
    from datetime import UTC, datetime

    from decision_engine.personalization.content_affinity import (
        ContentAffinitySettings,
        affinity_table,
        fit_affinity,
        load_angle_engagement,
        run_content_affinity,
    )
    from decision_engine.personalization.data_date import end_of, newest_send_day
    from decision_engine.store import write_results

    def rss() -> int:
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

    started = time.perf_counter()
    config = {"threads": threads} | ({} if memory_limit == "none" else {"memory_limit": memory_limit})
    con = duckdb.connect(path, config=config)
    settings = ContentAffinitySettings()
    out: dict = {}
    if stages:
        steps = {}
        clock = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            steps[name] = {"s": round(now - clock, 1), "peak_rss_mib": rss()}
            clock = now

        day = newest_send_day(con)
        lap("newest_send_day")
        data = load_angle_engagement(con, end_of(day), settings)
        lap("load (DuckDB aggregate + pivot)")
        affinity = fit_affinity(data, settings)
        lap("fit (numpy)")
        table = affinity_table(data, affinity, day, datetime.now(UTC), settings)
        lap("table (Arrow)")
        write_results(con, "content_affinity", table, replace_where=("analysis_date",))
        lap("write")
        out = {"rows": table.num_rows, "contacts": len(data.contact_id), "stages": steps}
    else:
        run = run_content_affinity(con, settings, datetime.now(UTC))
        out = {"rows": run.rows, "contacts": run.contacts, "preferred": run.preferred,
               "prior_strength": run.params["prior_strength"]}  # fmt: skip
    con.close()
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"model_seconds": round(seconds, 1), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
                      "peak_rss_mib": round(usage.ru_maxrss / 1024), **out}))  # fmt: skip


def recovery(path: Path) -> dict:
    """Share of contacts whose preferred angle is the planted one, by the contact's clicks."""
    con = duckdb.connect(str(path), read_only=True)
    rows = con.execute("""
        with per_contact as (
            select contact_id, any_value(preferred_angle) as preferred_angle, sum(n_clicks) as clicks
            from results.content_affinity
            group by contact_id
        )
        select clicks, count(*) as contacts, count(*) filter (where preferred_angle = liked_angle) as right
        from per_contact
        join truth.contacts using (contact_id)
        group by clicks
    """).fetchall()
    con.close()
    out = {}
    for low, high, label in CLICK_BINS:
        n = sum(c for clicks, c, _ in rows if low <= clicks <= high)
        right = sum(r for clicks, _, r in rows if low <= clicks <= high)
        out[label] = {"contacts": n, "right": round(right / n, 3) if n else None}
    n = sum(c for _, c, _ in rows)
    out["all"] = {"contacts": n, "right": round(sum(r for *_, r in rows) / n, 3) if n else None}
    return out


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/affinity_bench"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-limit", default="2GB", help="DuckDB's memory_limit; none: its default")
    parser.add_argument("--stages", action="store_true")
    parser.add_argument("--sha256-ids", action="store_true", help="64-character contact ids, as in the marts")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--label", default="")
    parser.add_argument("--model-only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.model_only:
        run_model(args.model_only, args.threads, args.memory_limit, args.stages)
        return
    args.dir.mkdir(parents=True, exist_ok=True)
    ids = "_sha256" if args.sha256_ids else ""
    path = args.dir / f"affinity_{args.contacts}_{args.days}d{ids}.duckdb"
    generated = {"sends": None, "generate_seconds": None}
    if not path.exists():
        generated = generate(path, args.contacts, args.days, args.sha256_ids)
    print(generated, flush=True)
    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, "-m", "benchmarks.content_affinity_benchmark", "--model-only", str(path),
         "--threads", str(args.threads), "--memory-limit", args.memory_limit]
        + (["--stages"] if args.stages else []),
        check=True, capture_output=True, text=True, env={**os.environ},
    )  # fmt: skip
    wall = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {"contacts_generated": args.contacts, "days": args.days, "sha256_ids": args.sha256_ids, **generated,
              **json.loads(child.stdout.strip().splitlines()[-1])}  # fmt: skip
    result["child_wall_seconds"] = round(wall, 1)  # with interpreter start and imports
    result["children_cpu_seconds"] = round(children.ru_utime + children.ru_stime, 1)
    result["children_peak_rss_mib"] = round(children.ru_maxrss / 1024)
    result["threads"], result["memory_limit"] = args.threads, args.memory_limit
    result["machine"] = f"{cpu_model()}, {os.cpu_count()} cores visible ({platform.machine()})"
    result["load_average_after"] = [round(x, 1) for x in os.getloadavg()]
    result["recovery_by_clicks"] = recovery(path)
    print(json.dumps(result))
    if args.write:
        with RESULTS.open("a") as out:
            label = f" ({args.label})" if args.label else ""
            out.write(f"\n<!-- benchmark {args.contacts} contacts x {args.days} days{label} -->\n")
            out.write("```json\n" + json.dumps(result) + "\n```\n")


if __name__ == "__main__":
    main()
