"""A field first set after DuckDB's JSON sample (20k rows) must still load (found at 40k contacts)."""

from __future__ import annotations

import dlt
import duckdb

from ingestion.validation import LOADER_FILE_FORMAT


def test_field_first_seen_late_in_a_large_file_loads(tmp_path):
    late_from = 25_000

    @dlt.resource(
        name="events",
        write_disposition="merge",
        primary_key="event_id",
        file_format=LOADER_FILE_FORMAT,
        columns={"event_id": {"data_type": "text"}, "ab_test_phase": {"data_type": "text", "nullable": True}},
    )
    def events():
        yield [
            {"event_id": f"e{i}", "ab_test_phase": "winner" if i >= late_from else None}
            for i in range(30_000)
        ]

    pipeline = dlt.pipeline(
        pipeline_name="late_key",
        destination=dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
        dataset_name="raw_test",
        pipelines_dir=str(tmp_path / "dlt"),
    )
    pipeline.run(events())
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    try:
        total, late = con.execute("select count(*), count(ab_test_phase) from raw_test.events").fetchone()
    finally:
        con.close()
    assert (total, late) == (30_000, 30_000 - late_from)
