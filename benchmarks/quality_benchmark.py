"""Time and peak memory of the `marts.fct_email_sends` suite on a synthetic multi-million-row table.

    .venv/bin/python benchmarks/quality_benchmark.py --rows 5000000 --chunk-rows 250000 1000000

Builds the table once in a temporary DuckDB file (in a child process, so its memory is not
counted), then validates it once per `--chunk-rows` value, each in a fresh child process, and
prints one JSON line per run: wall time, time inside Great Expectations, chunks, and peak RSS
(resource.getrusage) above the process's baseline after importing GX. `--tracemalloc` adds the
peak of Python-tracked allocations (pandas/numpy buffers included; slows the run down).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REFERENCE_TIME = datetime(2026, 8, 15, 12, 0, tzinfo=UTC)

CREATE_SENDS = """
create schema if not exists marts;
create or replace table marts.fct_email_sends as
select
    md5(cast(i as varchar)) as email_send_id,
    'msg' || (i % 500) as message_id,
    case when i % 4 = 0 then 'flow' else 'campaign' end as send_type,
    'c' || (i % 200) as campaign_id,
    case when i % 4 = 0 then 'f' || (i % 3) end as flow_id,
    case when i % 4 = 0 then 'fa' || (i % 9) end as flow_action_id,
    case when i % 2 = 0 then 'Variant A' else 'Variant B' end as variant_label,
    case when i % 5 = 0 then 'test' when i % 5 = 1 then 'winner' end as ab_test_phase,
    sha256(cast(i % 1000000 as varchar)) as contact_id,
    'p' || (i % 1000000) as klaviyo_profile_id,
    timestamptz '2026-08-15 12:00:00+00' - to_seconds(i % 7776000) as sent_at,
    i % 50 <> 0 as is_delivered,
    i % 50 = 0 as is_bounced,
    i % 3 = 0 as is_opened,
    i % 17 = 0 as is_machine_open_only,
    i % 3 = 0 and i % 17 <> 0 as is_human_opened,
    case when i % 3 = 0 then timestamptz '2026-08-15 12:00:00+00' - to_seconds(i % 7776000) end as first_opened_at,
    i % 11 = 0 as is_clicked,
    cast(null as timestamptz) as first_clicked_at,
    i % 500 = 0 as is_unsubscribed,
    i % 5000 = 0 as is_spam_complaint,
    i % 97 = 0 as is_converted,
    cast(i % 97 = 0 as bigint) as attributed_order_count,
    case when i % 97 = 0 then 20.0 + i % 180 else 0 end as attributed_revenue
from range({rows}) as r(i);
"""


def generate(path: Path, rows: int) -> None:
    import duckdb

    with duckdb.connect(str(path), config={"threads": 2}) as con:
        con.execute(CREATE_SENDS.format(rows=rows))


def measure(path: Path, chunk_rows: int, use_tracemalloc: bool) -> dict[str, object]:
    import duckdb

    from quality import run_suite
    from quality.gx_validation import _context

    import_started = time.perf_counter()
    _context()  # import GX and build the context before the baseline
    gx_import_s = time.perf_counter() - import_started
    baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if use_tracemalloc:
        import tracemalloc

        tracemalloc.start()
    with duckdb.connect(str(path), read_only=True, config={"threads": 2}) as con:
        result = run_suite(
            con,
            "marts.fct_email_sends",
            reference_time=REFERENCE_TIME,
            chunk_rows=chunk_rows,
            record_history=False,
        )
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report: dict[str, object] = {
        "rows": result.row_count,
        "chunk_rows": chunk_rows,
        "chunks": result.chunks,
        "max_chunk_rows": result.max_chunk_rows,
        "success": result.success,
        "elapsed_s": round(result.elapsed_s, 2),
        "gx_elapsed_s": round(result.gx_elapsed_s, 2),
        "sql_checks_s": round(result.elapsed_s - result.gx_elapsed_s, 2),
        "gx_import_and_context_s": round(gx_import_s, 2),
        "rss_baseline_mib": round(baseline_kib / 1024, 1),
        "rss_peak_mib": round(peak_kib / 1024, 1),
        "rss_growth_mib": round((peak_kib - baseline_kib) / 1024, 1),
    }
    if use_tracemalloc:
        report["tracemalloc_peak_mib"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
        tracemalloc.stop()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--chunk-rows", type=int, nargs="+", default=[250_000])
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument(
        "--database", type=Path, help="reuse (or create) this DuckDB file instead of a temp one"
    )
    parser.add_argument("--child", choices=["generate", "measure"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child == "generate":
        generate(args.database, args.rows)
        return
    if args.child == "measure":
        print(json.dumps(measure(args.database, args.chunk_rows[0], args.tracemalloc)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        database = args.database or Path(tmp) / "quality_benchmark.duckdb"
        if not database.exists():
            started = time.perf_counter()
            _child(["--child", "generate", "--database", str(database), "--rows", str(args.rows)])
            print(
                json.dumps(
                    {"generated_rows": args.rows, "generate_s": round(time.perf_counter() - started, 1)}
                )
            )
        for chunk_rows in args.chunk_rows:
            command = ["--child", "measure", "--database", str(database), "--chunk-rows", str(chunk_rows)]
            _child(command + (["--tracemalloc"] if args.tracemalloc else []))


def _child(arguments: list[str]) -> None:
    subprocess.run([sys.executable, __file__, *arguments], check=True)


if __name__ == "__main__":
    main()
