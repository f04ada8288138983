"""DuckDB runs in the pipeline's process: its memory is capped so peak RSS does not grow with rows.

Unlimited, dlt's merge (ROW_NUMBER() dedup over the staging table) held a whole load in
memory (3.2 GB for 5.7M events; benchmarks/results/ingestion_memory.md).
"""

from __future__ import annotations

import dlt
import pyarrow as pa

from ingestion.pipelines import DUCKDB_MEMORY_LIMIT, make_pipeline
from ingestion.validation import LOADER_FILE_FORMAT


def _settings(pipeline: dlt.Pipeline) -> tuple[str, bool]:
    with pipeline.sql_client() as client:
        rows = client.execute_sql(
            "SELECT current_setting('memory_limit'), current_setting('preserve_insertion_order')"
        )
    assert rows
    return rows[0][0], rows[0][1]


def test_pipeline_caps_duckdb_memory(tmp_path):
    pipeline = make_pipeline("klaviyo", tmp_path / "w.duckdb", tmp_path / "dlt")
    limit, preserve_order = _settings(pipeline)
    assert DUCKDB_MEMORY_LIMIT == "1GB"
    assert limit == "953.6 MiB"  # DuckDB reports 1GB (10^9 bytes) in MiB
    assert preserve_order is False


def test_merge_load_spills_under_a_small_memory_limit(tmp_path):
    """The merge dedup still completes (spilling to disk) when the load exceeds the limit."""
    n = 400_000
    ids = [f"e{i % (n - 1000):08d}" for i in range(n)]  # 1,000 duplicate keys to dedup
    table = pa.table({"event_id": ids, "payload": [f"{i:064d}" for i in range(n)]})

    @dlt.resource(
        name="events", write_disposition="merge", primary_key="event_id", file_format=LOADER_FILE_FORMAT
    )
    def events():
        yield table

    # ~42 MB of rows with the _dlt_id / _dlt_load_id columns dlt adds to Arrow rows (PARQUET_NORMALIZER),
    # over a 32 MB limit; at 24 MB DuckDB could no longer allocate the merge's fixed buffers.
    pipeline = make_pipeline("klaviyo", tmp_path / "w.duckdb", tmp_path / "dlt", duckdb_memory_limit="32MB")
    assert _settings(pipeline)[0] == "30.5 MiB"
    pipeline.run(events(), dataset_name="raw_test")
    with pipeline.sql_client() as client:
        rows = client.execute_sql("SELECT count(*), count(DISTINCT event_id) FROM events")
    assert rows and tuple(rows[0]) == (n - 1000, n - 1000)
