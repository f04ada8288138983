"""`run_suite`: validate one warehouse table against its suite, in bounded memory.

Row-level checks run through Great Expectations on pandas chunks of at most `chunk_rows` rows,
reading only the columns those checks need;
table-level checks run in DuckDB SQL over the whole table. Nothing here imports Dagster; an
asset check calls `run_suite(...)` and turns `SuiteResult.success` / `to_metadata()` into an
`AssetCheckResult`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from core.parity import BUILD_STAMP_COLUMN
from quality.checks import ERROR, Check, TableSuite
from quality.results import ExpectationOutcome, SuiteResult
from quality.sql_checks import (
    check_freshness,
    check_quarantine_share,
    check_row_count,
    check_unique,
    checks_signature,
    drop_staged_rows,
    quote_identifier,
    quote_table,
    record_row_count,
    record_validated_rows,
    stage_unvalidated_rows,
    table_columns,
    validated_through,
)
from quality.sql_checks import previous_row_count as history_row_count
from quality.suites import SUITES

DEFAULT_CHUNK_ROWS = 250_000
LOAD_ID_COLUMN = "_dlt_load_id"
# Arrow's integers as pandas' nullable integers (a null would otherwise turn a column into floats)
_PANDAS_TYPES = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.UInt8Dtype(),
    pa.uint16(): pd.UInt16Dtype(),
    pa.uint32(): pd.UInt32Dtype(),
    pa.uint64(): pd.UInt64Dtype(),
}

Connectable = duckdb.DuckDBPyConnection | str | Path


@contextmanager
def _connection(con_or_path: Connectable, *, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
    if isinstance(con_or_path, duckdb.DuckDBPyConnection):
        yield con_or_path
        return
    con = duckdb.connect(str(con_or_path), read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def _structural_failure(name: str, column: str | None, message: str) -> ExpectationOutcome:
    return ExpectationOutcome(name, column, ERROR, False, 0, {"engine": "duckdb", "error": message})


def _resolve_suite(table: str | TableSuite) -> TableSuite:
    if isinstance(table, TableSuite):
        return table
    try:
        return SUITES[table]
    except KeyError:
        raise KeyError(f"no quality suite for {table!r}; known: {sorted(SUITES)}") from None


def iter_chunks(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: Iterable[str],
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    after_load_id: str | None = None,
    temporary: bool = False,
) -> Iterator[Any]:
    """Yield pandas DataFrames of the selected columns, at most `chunk_rows` rows at a time:
    every row, or those loaded after `after_load_id`.

    The rows come out of DuckDB as Arrow record batches and become pandas frames with the types
    DuckDB's own pandas conversion gives (nullable integers, dates as timestamps), about five times
    cheaper than `fetch_df_chunk` on the large world's events. Streams from a cursor of its own, so
    the caller's connection stays free for other queries; `temporary`: `table` is a temporary table
    of `con`, which another cursor cannot see, so it is streamed on `con` itself.
    """
    select = ", ".join(quote_identifier(column) for column in columns)
    sql = f"select {select} from {quote_table(table)}"
    parameters: list[Any] = []
    if after_load_id is not None:
        sql += f" where {quote_identifier(LOAD_ID_COLUMN)} > ?"
        parameters.append(after_load_id)
    chunk_rows = max(1, chunk_rows)
    cursor = con if temporary else con.cursor()
    try:
        relation = cursor.sql(sql, params=parameters or None)
        open_reader = getattr(relation, "to_arrow_reader", None) or relation.fetch_arrow_reader
        reader = open_reader(chunk_rows)
        # DuckDB's batches end at its own boundaries (often well short of `chunk_rows`): gather them
        # into chunks of exactly `chunk_rows` rows, the last one shorter
        pending = pa.Table.from_batches([], schema=reader.schema)
        for batch in reader:
            pending = pa.concat_tables([pending, pa.Table.from_batches([batch])])
            while pending.num_rows >= chunk_rows:
                yield _pandas(pending.slice(0, chunk_rows))
                pending = pending.slice(chunk_rows)
        if pending.num_rows:
            yield _pandas(pending)
    finally:
        if not temporary:
            cursor.close()


def _pandas(rows: pa.Table) -> Any:
    return rows.to_pandas(types_mapper=_PANDAS_TYPES.get, date_as_object=False)


def run_suite(
    con_or_path: Connectable,
    table: str | TableSuite,
    *,
    reference_time: datetime | None = None,
    previous_row_count: int | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    after_load_id: str | None = None,
    record_history: bool = True,
    quarantine_max_share: float | None = None,
    changed_rows_only: bool = False,
) -> SuiteResult:
    """Validate `table` (a key of `SUITES`, e.g. "marts.fct_email_sends", or a `TableSuite`).

    - `reference_time`: "now" for freshness (default: the wall clock; pass the world clock in the sandbox).
    - `previous_row_count`: the count from the previous run (e.g. from Dagster's last check metadata);
      when None it is read from `quality.table_row_counts` (last run whose suite passed).
    - `after_load_id`: validate row-level checks only on rows with `_dlt_load_id` greater than this
      (raw tables; pass the `max_load_id` of the last result that passed). Table-level checks see
      every row; the key check groups only the keys of those newer rows (against every row).
    - `record_history`: append this run's count to `quality.table_row_counts`. With a path the file is
      then opened read-write; pass False (and `previous_row_count`) to open it read-only.
    - `quarantine_max_share`: overrides `quality.checks.QUARANTINE_MAX_SHARE` (default 0.05) for the
      raw tables' `quarantine_share` gate.
    - `changed_rows_only` (tables without `_dlt_load_id`: the marts): validate row-level checks only
      on rows whose checked values differ from every row of the last run whose whole suite passed
      (`quality.validated_rows`: a 64-bit hash of those values per row, under a signature of the
      checks, so a changed check validates every row again). The checks are row-level (null, range,
      set, pattern), so an unchanged row would pass again. Table-level checks always see every row.
      A table with `dbt_built_at` (the incremental dbt models) hashes only the rows written since
      the last passing run (`quality.validated_through`).
    """
    started = time.perf_counter()
    suite = _resolve_suite(table)
    reference = reference_time or datetime.now(UTC)
    if reference.tzinfo is None:
        reference = reference.replace(tzinfo=UTC)
    with _connection(con_or_path, read_only=not record_history) as con:
        if record_history:
            # The suite writes a few history rows. Checkpointing the whole file when the connection
            # closes cost about 40 ms per suite on the large world's 9.5 GB warehouse: the rows stay
            # in the write-ahead log (durable) until the next writer's checkpoint.
            con.execute("pragma disable_checkpoint_on_shutdown")
        columns = table_columns(con, suite.table)
        if columns is None:
            missing = _structural_failure("table_exists", None, f"table {suite.table} does not exist")
            return SuiteResult.from_outcomes(
                suite.table, [missing], row_count=0, elapsed_s=time.perf_counter() - started
            )
        outcomes: dict[str, ExpectationOutcome] = {}
        runnable: list[Check] = []
        for check in suite.checks:
            absent = [column for column in check.columns if column not in columns]
            if absent:
                name = f"missing_column:{absent[0]}"
                outcomes.setdefault(
                    name, _structural_failure(name, absent[0], f"column {absent[0]} is not in {suite.table}")
                )
            else:
                runnable.append(check)

        (row_count,) = con.execute(f"select count(*) from {quote_table(suite.table)}").fetchone() or (0,)
        if previous_row_count is None:
            previous_row_count = history_row_count(con, suite.table)
        use_increment = after_load_id if LOAD_ID_COLUMN in columns else None
        for check in runnable:
            if check.kind == "unique":
                outcomes[check.name] = check_unique(
                    con, suite.table, check, after_load_id=use_increment, load_id_column=LOAD_ID_COLUMN
                )
            elif check.kind == "freshness":
                outcomes[check.name] = check_freshness(con, suite.table, check, reference)
            elif check.kind == "quarantine_share":
                outcomes[check.name] = check_quarantine_share(con, suite.table, check, quarantine_max_share)
            elif check.kind in ("row_count_drop", "row_count_growth"):
                outcomes[check.name] = check_row_count(check, int(row_count), previous_row_count)

        max_load_id = None
        if LOAD_ID_COLUMN in columns:
            max_load_id = (
                con.execute(f"select max({LOAD_ID_COLUMN}) from {quote_table(suite.table)}").fetchone()
            )[0]
        gx_checks = tuple(check for check in runnable if check.runs_in_gx)
        gx_columns = _check_columns(gx_checks)
        signature = checks_signature(gx_checks)
        tracks_rows = changed_rows_only and LOAD_ID_COLUMN not in columns and bool(gx_checks)
        built_after = built_through = None
        if tracks_rows and BUILD_STAMP_COLUMN in columns:
            built_after = validated_through(con, suite.table, signature)
            built_through = con.execute(
                f"select max({quote_identifier(BUILD_STAMP_COLUMN)}) from {quote_table(suite.table)}"
            ).fetchone()[0]
        staged = (
            stage_unvalidated_rows(con, suite.table, gx_columns, signature, built_after)
            if tracks_rows
            else None
        )
        try:
            gx_outcomes, validated_rows, chunks, max_chunk_rows, gx_elapsed = _validate_rows(
                con, suite, gx_checks, chunk_rows, use_increment, staged
            )
            outcomes.update(gx_outcomes)

            ordered = [outcome for name, outcome in outcomes.items() if name.startswith("missing_column:")]
            ordered += [outcomes[check.name] for check in runnable]
            result = SuiteResult.from_outcomes(
                suite.table,
                ordered,
                row_count=int(row_count),
                elapsed_s=0.0,
                validated_rows=validated_rows,
                chunks=chunks,
                max_chunk_rows=max_chunk_rows,
                gx_elapsed_s=gx_elapsed,
                previous_row_count=previous_row_count,
                max_load_id=max_load_id,
            )
            if record_history:
                result.row_count_recorded = record_row_count(
                    con, suite.table, datetime.now(UTC), result.row_count, result.success
                )
                # rows that raised a warning are validated again, as on raw tables
                suite_passed = result.success and not result.passed_warn_only
                if tracks_rows and suite_passed:
                    record_validated_rows(con, suite.table, gx_columns, signature, staged, built_through)
        finally:
            if staged is not None:
                drop_staged_rows(con)
    result.elapsed_s = time.perf_counter() - started
    return result


def _check_columns(checks: tuple[Check, ...]) -> tuple[str, ...]:
    """The columns `checks` read, in first-use order."""
    return tuple(dict.fromkeys(column for check in checks for column in check.columns))


def _validate_rows(
    con: duckdb.DuckDBPyConnection,
    suite: TableSuite,
    checks: tuple[Check, ...],
    chunk_rows: int,
    after_load_id: str | None,
    staged: str | None = None,
) -> tuple[dict[str, ExpectationOutcome], int, int, int, float]:
    """GX over every chunk (of the table, or of `staged`, its rows to validate): outcomes by name,
    rows validated, chunk count, largest chunk, seconds in GX."""
    if not checks:
        return {}, 0, 0, 0, 0.0
    from quality.gx_validation import ChunkAggregator

    gx_started = time.perf_counter()
    aggregator = ChunkAggregator(suite, checks)
    rows = chunks = largest = 0
    for frame in iter_chunks(
        con,
        staged or suite.table,
        _check_columns(checks),
        chunk_rows=chunk_rows,
        after_load_id=after_load_id,
        temporary=staged is not None,
    ):
        aggregator.validate(frame)
        rows += len(frame)
        chunks += 1
        largest = max(largest, len(frame))
    outcomes = {outcome.name: outcome for outcome in aggregator.outcomes()}
    return outcomes, rows, chunks, largest, time.perf_counter() - gx_started


def run_suites(
    con_or_path: Connectable, tables: Iterable[str] | None = None, **options: Any
) -> dict[str, SuiteResult]:
    """`run_suite` for several tables (default: every suite whose table exists) on one connection."""
    record_history = options.get("record_history", True)
    with _connection(con_or_path, read_only=not record_history) as con:
        names = (
            list(tables) if tables is not None else [t for t in SUITES if table_columns(con, t) is not None]
        )
        return {name: run_suite(con, name, **options) for name in names}
