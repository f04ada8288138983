"""What dlt's merge of the Klaviyo events costs with and without its ROW_NUMBER() dedup pass.

Replays, in a scratch DuckDB file with the ingestion's memory limit, the statements dlt's
DuckDB merge runs for the events table on a load package's Parquet file: copy it into a staging
table, then insert into the destination through `ROW_NUMBER() OVER (PARTITION BY event_id)`
(what dlt generates unless the table is declared deduplicated) or straight.

    python benchmarks/dlt_merge_dedup.py <completed_jobs dir of a loaded package> [--memory-limit 1GB]

The directory is `<pipelines dir>/loopwise_klaviyo/load/loaded/<load id>/completed_jobs` of a
finished load (dlt keeps completed jobs' files); the numbers go into
`results/klaviyo_extraction.md` by hand, with the machine noted.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jobs", type=Path)
    parser.add_argument("--memory-limit", default="1GB")
    args = parser.parse_args()
    parquet = next(args.jobs.glob("events.*.parquet"))
    with tempfile.TemporaryDirectory() as scratch:
        con = duckdb.connect(str(Path(scratch) / "merge.duckdb"), config={"memory_limit": args.memory_limit})

        def timed(label: str, sql: str) -> None:
            started = time.perf_counter()
            con.execute(sql)
            print(f"{label}: {time.perf_counter() - started:.1f} s", flush=True)

        timed(
            "staging table from Parquet", f"create table staging as select * from read_parquet('{parquet}')"
        )
        columns = ", ".join(f'"{c[0]}"' for c in con.execute("select * from staging limit 0").description)
        con.execute("create table events as select * from staging limit 0")
        timed(
            "insert through ROW_NUMBER() dedup",
            f"insert into events ({columns}) select {columns} from (select row_number() over "
            f"(partition by event_id order by (select null)) as rn, {columns} from staging) where rn = 1",
        )
        con.execute("delete from events")
        con.execute("checkpoint")
        timed("insert without dedup", f"insert into events ({columns}) select {columns} from staging")
        rows, repeated = con.execute(
            "select count(*), count(*) - count(distinct event_id) from staging"
        ).fetchone()
        print(f"staged rows {rows:,}, repeated event ids {repeated:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
