"""Row-count history, freshness, chunking, increments and connection handling."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
from quality_synthetic import REFERENCE_TIME

from quality import HISTORY_TABLE, WARN, accept_row_count, run_suite

SENDS = "marts.fct_email_sends"


def _run(path: Path | duckdb.DuckDBPyConnection, table: str = SENDS, **options: object):
    options.setdefault("reference_time", REFERENCE_TIME)
    return run_suite(path, table, **options)


def test_row_count_drop_is_flagged_until_accepted(warehouse: Path) -> None:
    first = _run(warehouse)
    assert first.success and first.row_count_recorded and first.previous_row_count is None
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"delete from {SENDS} where sent_at < ? - interval 3 hour", [REFERENCE_TIME])
    dropped = _run(warehouse)
    assert not dropped.success
    assert [f.name for f in dropped.failures] == ["row_count_drop"]
    assert dropped.previous_row_count == 5000 and dropped.row_count < 2500
    assert "fell from 5,000" in dropped.describe()
    # A failed run never becomes the baseline: the drop stays flagged...
    assert not _run(warehouse).success
    # ...until someone accepts the new size.
    with duckdb.connect(str(warehouse)) as con:
        accepted = accept_row_count(con, SENDS)
        history = con.execute(
            f"select count(*) from {HISTORY_TABLE} where table_name = ?", [SENDS]
        ).fetchone()
    assert history == (4,)
    after = _run(warehouse)
    assert after.success and after.previous_row_count == accepted


def test_previous_row_count_argument_and_growth_warns(clean_warehouse_file: Path) -> None:
    grown = _run(clean_warehouse_file, previous_row_count=1000, record_history=False)
    assert grown.success and grown.passed_warn_only
    assert [(f.name, f.severity) for f in grown.failures] == [("row_count_growth", WARN)]
    shrunk = _run(clean_warehouse_file, previous_row_count=20_000, record_history=False)
    assert not shrunk.success and shrunk.outcome("row_count_drop").unexpected_count == 15_000


def test_stale_table_warns_without_blocking(clean_warehouse_file: Path) -> None:
    later = REFERENCE_TIME + timedelta(days=10)
    result = _run(clean_warehouse_file, reference_time=later, record_history=False)
    assert result.success and result.passed_warn_only
    (failure,) = result.failures
    assert failure.name == "freshness:sent_at" and failure.severity is WARN
    assert failure.details["age_hours"] == 240.0
    assert "h old" in result.describe()


def test_chunked_equals_single_chunk(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"update {SENDS} set attributed_revenue = -1 where message_id in ('cm1', 'cm2')")
        con.execute(f"update {SENDS} set contact_id = 'not-a-hash' where message_id = 'cm3'")
        con.execute(f"update {SENDS} set contact_id = null where message_id = 'cm5'")
        con.execute(f"insert into {SENDS} select * from {SENDS} where message_id = 'cm7'")

    def summary(chunk_rows: int):
        result = _run(warehouse, chunk_rows=chunk_rows, record_history=False)
        outcomes = [(o.name, o.success, o.unexpected_count) for o in result.results]
        return result, outcomes

    chunked, chunked_outcomes = summary(2048)
    whole, whole_outcomes = summary(1_000_000)
    assert chunked.chunks >= 3 and whole.chunks == 1
    assert chunked.max_chunk_rows <= 2048
    assert chunked_outcomes == whole_outcomes
    assert chunked.validated_rows == whole.validated_rows == whole.row_count == 5125
    failing = {name: count for name, ok, count in whole_outcomes if not ok}
    # The duplicated cm7 sends break the mart's key, which dbt tests (unique), not this suite.
    assert failing == {
        "regex:contact_id": 125,
        "between:attributed_revenue": 250,
    }


def test_increment_validates_only_new_loads(warehouse: Path) -> None:
    table = "raw_klaviyo.events"
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"update {table} set value = -3 where event_id = 'e1'")  # old load, already validated
        con.execute(f"update {table} set _dlt_load_id = '1700000100.2' where event_id in ('e2', 'e3')")
    everything = _run(warehouse, table, record_history=False)
    assert [f.name for f in everything.failures] == ["between:value"]
    increment = _run(
        warehouse, table, after_load_id=everything.max_load_id.replace("100.2", "000.1"), record_history=False
    )
    assert increment.success and increment.validated_rows == 2 and increment.row_count == 3000
    assert increment.max_load_id == "1700000100.2"


def test_increment_key_check_finds_a_new_row_that_repeats_an_old_key(warehouse: Path) -> None:
    table = "raw_klaviyo.events"
    with duckdb.connect(str(warehouse)) as con:
        loaded = con.execute(f"select max(_dlt_load_id) from {table}").fetchone()[0]
        newer = "1800000000.1"
        # the newer load repeats two old keys, one of them twice, and adds a key of its own
        con.execute(
            f"insert into {table} select * replace (? as _dlt_load_id) from {table} "
            "where event_id in ('e1', 'e2', 'e2')",
            [newer],
        )
        con.execute(
            f"insert into {table} select * replace (? as _dlt_load_id) from {table} where event_id = 'e2' limit 1",
            [newer],
        )
        con.execute(
            f"insert into {table} select * replace (? as _dlt_load_id, 'e-new' as event_id) from {table} "
            "where event_id = 'e3'",
            [newer],
        )
    whole = _run(warehouse, table, record_history=False)
    increment = _run(warehouse, table, after_load_id=loaded, record_history=False)
    for result in (whole, increment):
        key = result.outcome("unique:event_id")
        assert not key.success and key.details["duplicate_keys"] == 2 and key.unexpected_count == 3
    assert increment.outcome("unique:event_id").details["keys_of_rows_loaded_after"] == loaded

    with duckdb.connect(str(warehouse)) as con:  # the repeats were a newer load: gone, the new key stays
        con.execute(f"delete from {table} where _dlt_load_id = ? and event_id != 'e-new'", [newer])
    assert (
        _run(warehouse, table, after_load_id=loaded, record_history=False).outcome("unique:event_id").success
    )


def test_read_only_path_and_passed_connection(clean_warehouse_file: Path) -> None:
    read_only = _run(clean_warehouse_file, record_history=False)
    assert read_only.success and not read_only.row_count_recorded
    with duckdb.connect(str(clean_warehouse_file), read_only=True) as con:
        result = _run(con)  # history requested but the connection cannot write: reported, not raised
        assert result.success and not result.row_count_recorded
        assert con.execute("select 1").fetchone() == (1,)  # caller's connection left usable


def test_marts_validate_only_the_rows_changed_since_the_last_passing_run(warehouse: Path) -> None:
    first = _run(warehouse, changed_rows_only=True)
    assert first.success and first.validated_rows == first.row_count == 5000
    unchanged = _run(warehouse, changed_rows_only=True)
    assert unchanged.success and unchanged.validated_rows == 0 and unchanged.row_count == 5000

    with duckdb.connect(str(warehouse)) as con:  # a rebuild rewrote two sends' revenue, one of them badly
        con.execute(f"update {SENDS} set attributed_revenue = 12.5 where message_id = 'cm1'")
        con.execute(f"update {SENDS} set attributed_revenue = -1 where message_id = 'cm2'")
        changed = con.execute(f"select count(*) from {SENDS} where message_id in ('cm1', 'cm2')").fetchone()[
            0
        ]
        # a column no row-level check reads changes nothing to validate
        con.execute(f"update {SENDS} set sent_at = sent_at + interval 1 second where message_id = 'cm3'")
    failed = _run(warehouse, changed_rows_only=True)
    assert not failed.success and failed.validated_rows == changed
    assert [f.name for f in failed.failures] == ["between:attributed_revenue"]
    # a failed run records nothing: the bad rows are validated again until fixed
    assert not _run(warehouse, changed_rows_only=True).success
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"update {SENDS} set attributed_revenue = 0 where message_id = 'cm2'")
    fixed = _run(warehouse, changed_rows_only=True)
    assert fixed.success and 0 < fixed.validated_rows <= changed
    assert _run(warehouse, changed_rows_only=True).validated_rows == 0

    # values that passed stay remembered: a row changed away and back is validated once
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"update {SENDS} set attributed_revenue = 7 where message_id = 'cm2'")
    away = _run(warehouse, changed_rows_only=True)
    assert away.success and 0 < away.validated_rows <= changed
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"update {SENDS} set attributed_revenue = 0 where message_id = 'cm2'")
    assert _run(warehouse, changed_rows_only=True).validated_rows == 0

    # the same failure the whole table shows: a changed check validates every row again
    from quality import SUITES
    from quality.checks import TableSuite, regex

    suite = SUITES[SENDS]
    stricter = TableSuite(SENDS, (*suite.checks, regex("message_id", "^cm[0-9]$")))
    result = run_suite(warehouse, stricter, reference_time=REFERENCE_TIME, changed_rows_only=True)
    assert result.validated_rows == result.row_count == 5000
    assert not result.success and [f.name for f in result.failures] == ["regex:message_id"]


def test_a_mart_with_build_stamps_hashes_only_the_rows_written_since_the_last_pass(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            f"alter table {SENDS} add column dbt_built_at timestamp default timestamp '2026-03-01 00:00'"
        )
    first = _run(warehouse, changed_rows_only=True)
    assert first.success and first.validated_rows == first.row_count == 5000

    with duckdb.connect(str(warehouse)) as con:
        assert con.execute("select built_through from quality.validated_through").fetchall() == [
            (datetime(2026, 3, 1),)
        ]
        # not rewritten since (same stamp): never a candidate, whatever it holds
        con.execute(f"update {SENDS} set attributed_revenue = -5 where message_id = 'cm1'")
        # rewritten by a later build: a candidate; its bad value fails the suite
        con.execute(
            f"update {SENDS} set attributed_revenue = -1, dbt_built_at = timestamp '2026-03-02 00:00' "
            "where message_id = 'cm2'"
        )
        rewritten = con.execute(f"select count(*) from {SENDS} where message_id = 'cm2'").fetchone()[0]
    for _ in range(2):  # a failed run records nothing: the same rows are candidates again
        failed = _run(warehouse, changed_rows_only=True)
        assert not failed.success and failed.validated_rows == rewritten
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            f"update {SENDS} set attributed_revenue = 0, dbt_built_at = timestamp '2026-03-03 00:00' "
            "where message_id = 'cm2'"
        )
    fixed = _run(warehouse, changed_rows_only=True)
    assert fixed.success and 0 < fixed.validated_rows <= rewritten
    with duckdb.connect(str(warehouse)) as con:
        assert con.execute("select built_through from quality.validated_through").fetchall() == [
            (datetime(2026, 3, 3),)
        ]
    assert _run(warehouse, changed_rows_only=True).validated_rows == 0
