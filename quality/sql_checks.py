"""Table-level checks in DuckDB SQL: key uniqueness, freshness, row count against history.

These look at the whole table at once (DuckDB streams the aggregation; nothing is pulled into
pandas), which is what makes them correct across chunk boundaries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb

from core.parity import BUILD_STAMP_COLUMN
from quality.checks import Check
from quality.results import ExpectationOutcome

HISTORY_SCHEMA = "quality"
HISTORY_TABLE = f"{HISTORY_SCHEMA}.table_row_counts"


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_table(table: str) -> str:
    return ".".join(quote_identifier(part) for part in table.split("."))


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str] | None:
    """Column name -> DuckDB type, or None when the table does not exist."""
    schema, _, name = table.rpartition(".")
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema or "main", name],
    ).fetchall()
    return {column: data_type for column, data_type in rows} or None


def _outcome(check: Check, success: bool, unexpected_count: int = 0, **details: Any) -> ExpectationOutcome:
    return ExpectationOutcome(
        name=check.name,
        column=check.column,
        severity=check.severity,
        success=success,
        unexpected_count=unexpected_count,
        details={"engine": "duckdb", **details},
    )


def check_unique(
    con: duckdb.DuckDBPyConnection,
    table: str,
    check: Check,
    *,
    after_load_id: str | None = None,
    load_id_column: str = "_dlt_load_id",
) -> ExpectationOutcome:
    """Rows whose (non-null) key already appeared: total rows minus distinct keys.

    Two passes keep DuckDB's hash table small on large tables: group 8-byte key hashes first, then
    group the real keys only among rows whose hash repeats (hash collisions are then discarded).

    With ``after_load_id`` (a raw table whose rows up to that load passed this check before) only
    the keys of the newer rows are grouped, against every row of the table: a key repeated only
    among older rows would have failed then, so each duplicate has a newer row. A daily load of a
    table of millions groups thousands of keys instead of millions.
    """
    columns = ", ".join(quote_identifier(column) for column in check.columns)
    not_null = " and ".join(f"{quote_identifier(column)} is not null" for column in check.columns)
    source = quote_table(table)
    parameters: list[Any] = []
    scope = ""
    if after_load_id is not None:
        scope = (
            f"and hash({columns}) in (select hash({columns}) from {source} "
            f"where {quote_identifier(load_id_column)} > ? and {not_null}) "
        )
        parameters = [after_load_id]
    duplicates = (
        f"with candidates as (select hash({columns}) as key_hash from {source} where {not_null} "
        f"{scope}group by key_hash having count(*) > 1), "
        f"duplicates as (select {columns}, count(*) as n from {source} where {not_null} "
        f"and hash({columns}) in (select key_hash from candidates) group by {columns} having count(*) > 1)"
    )
    duplicate_keys, extra_rows = con.execute(
        f"{duplicates} select count(*), coalesce(sum(n - 1), 0) from duplicates", parameters
    ).fetchone() or (0, 0)
    details: dict[str, Any] = {"duplicate_keys": int(duplicate_keys)}
    if after_load_id is not None:
        details["keys_of_rows_loaded_after"] = after_load_id
    if duplicate_keys:
        rows = con.execute(
            f"{duplicates} select {columns} from duplicates order by n desc limit 3", parameters
        ).fetchall()
        details["sample_unexpected"] = [", ".join(str(value) for value in row) for row in rows]
    return _outcome(check, duplicate_keys == 0, int(extra_rows), **details)


def check_freshness(
    con: duckdb.DuckDBPyConnection, table: str, check: Check, reference_time: datetime
) -> ExpectationOutcome:
    """Hours between the newest value of the column and the reference time (dates count from 00:00 UTC)."""
    column = quote_identifier(check.columns[0])
    newest_epoch = (
        con.execute(f"select epoch(max({column})) from {quote_table(table)}").fetchone() or (None,)
    )[0]
    max_age_hours = float(check.options["max_age_hours"])
    details: dict[str, Any] = {"max_age_hours": max_age_hours, "reference_time": reference_time.isoformat()}
    if newest_epoch is None:
        return _outcome(check, False, 0, age_hours=None, **details)
    age_hours = (reference_time.timestamp() - float(newest_epoch)) / 3600
    newest = datetime.fromtimestamp(float(newest_epoch), tz=reference_time.tzinfo)
    details.update(age_hours=round(age_hours, 3), newest=newest.isoformat())
    return _outcome(check, age_hours <= max_age_hours, 0, **details)


def check_row_count(check: Check, row_count: int, previous_row_count: int | None) -> ExpectationOutcome:
    """Compare with the previous run; with no previous count (first run) the check passes."""
    details: dict[str, Any] = {
        "row_count": row_count,
        "previous_row_count": previous_row_count,
        **check.options,
    }
    if previous_row_count is None or previous_row_count <= 0:
        return _outcome(check, True, 0, note="no previous row count to compare with", **details)
    ratio = row_count / previous_row_count
    details["ratio"] = round(ratio, 4)
    if check.kind == "row_count_drop":
        success = ratio >= 1 - float(check.options["max_drop_share"])
        return _outcome(check, success, 0 if success else previous_row_count - row_count, **details)
    success = ratio <= float(check.options["max_growth_factor"])
    return _outcome(check, success, 0 if success else row_count - previous_row_count, **details)


def check_quarantine_share(
    con: duckdb.DuckDBPyConnection, table: str, check: Check, max_share: float | None = None
) -> ExpectationOutcome:
    """Share of the table's resource's records quarantined in its latest load (loaded + quarantined).

    The resource is the table's name; its rejects sit in `<schema>.quarantine` with the same
    `_dlt_load_id`. Only the latest load counts: a load that re-pulled good records after a bad
    one has repaired the table (the bad records never reached it), and the gate passes again.
    """
    schema, _, resource = table.rpartition(".")
    quarantine = f"{schema}.quarantine"
    limit = float(check.options["max_share"] if max_share is None else max_share)
    min_quarantined = int(check.options["min_quarantined"])
    details: dict[str, Any] = {"max_share": limit, "min_quarantined": min_quarantined, "resource": resource}
    quarantine_columns = table_columns(con, quarantine)
    if quarantine_columns is None or "_dlt_load_id" not in quarantine_columns:
        return _outcome(check, True, 0, note=f"no {quarantine} table", **details)
    if "_dlt_load_id" not in (table_columns(con, table) or {}):
        return _outcome(check, True, 0, note=f"{table} has no _dlt_load_id", **details)
    source, rejects = quote_table(table), quote_table(quarantine)
    (load_id,) = con.execute(
        f"select max(load_id) from (select max(_dlt_load_id) as load_id from {source} "
        f"union all select max(_dlt_load_id) from {rejects} where resource = ?)",
        [resource],
    ).fetchone() or (None,)
    if load_id is None:
        return _outcome(check, True, 0, note="no loads yet", **details)
    (loaded,) = con.execute(
        f"select count(*) from {source} where _dlt_load_id = ?", [load_id]
    ).fetchone() or (0,)
    reasons = con.execute(
        f"select reason, count(*) as n from {rejects} where resource = ? and _dlt_load_id = ? "
        "group by reason order by n desc, reason",
        [resource, load_id],
    ).fetchall()
    quarantined = sum(int(n) for _, n in reasons)
    total = int(loaded) + quarantined
    share = quarantined / total if total else 0.0
    details.update(
        load_id=str(load_id),
        loaded=int(loaded),
        quarantined=quarantined,
        share=round(share, 4),
        reasons={str(reason): int(n) for reason, n in reasons[:5]},
    )
    if reasons:
        details["sample_unexpected"] = [f"{reason} ({int(n):,})" for reason, n in reasons[:3]]
    success = not (share > limit and quarantined >= min_quarantined)
    return _outcome(check, success, quarantined if not success else 0, **details)


# --- row-count history in the warehouse ---------------------------------------------------------


def previous_row_count(con: duckdb.DuckDBPyConnection, table: str) -> int | None:
    """Row count of the latest run of `table` whose suite passed (None if none, or no history table).

    Failed runs are recorded but never become the baseline: a table that lost half its rows
    stays flagged until it recovers or someone accepts the new size (`accept_row_count`).
    """
    if table_columns(con, HISTORY_TABLE) is None:
        return None
    row = con.execute(
        f"select row_count from {HISTORY_TABLE} where table_name = ? and suite_success "
        "order by checked_at desc limit 1",
        [table],
    ).fetchone()
    return None if row is None else int(row[0])


def record_row_count(
    con: duckdb.DuckDBPyConnection, table: str, checked_at: datetime, row_count: int, suite_success: bool
) -> bool:
    """Append to `quality.table_row_counts`; False when the connection is read-only."""
    try:
        con.execute(f"create schema if not exists {HISTORY_SCHEMA}")
        con.execute(
            f"create table if not exists {HISTORY_TABLE} ("
            "table_name varchar not null, checked_at timestamp with time zone not null, "
            "row_count bigint not null, suite_success boolean not null)"
        )
        con.execute(
            f"insert into {HISTORY_TABLE} values (?, ?, ?, ?)", [table, checked_at, row_count, suite_success]
        )
    except (duckdb.InvalidInputException, duckdb.PermissionException, duckdb.CatalogException):
        return False
    return True


def accept_row_count(con: duckdb.DuckDBPyConnection, table: str, checked_at: datetime | None = None) -> int:
    """Accept the table's current size as the new baseline (after a deliberate shrink); returns it."""
    from datetime import UTC

    (row_count,) = con.execute(f"select count(*) from {quote_table(table)}").fetchone() or (0,)
    record_row_count(con, table, checked_at or datetime.now(UTC), int(row_count), True)
    return int(row_count)


# --- rows already validated (marts: GX sees only the rows a build changed) ------------------------

VALIDATED_ROWS_TABLE = f"{HISTORY_SCHEMA}.validated_rows"


def checks_signature(checks: tuple[Check, ...]) -> str:
    """What the row-level checks ask (kinds, columns, severities, parameters with value sets
    resolved): a changed check invalidates every row validated under the old one."""
    import hashlib

    described = [
        (
            check.kind,
            check.columns,
            str(check.severity),
            sorted((k, repr(v)) for k, v in check.options.items()),
        )
        for check in checks
    ]
    return hashlib.sha256(repr(described).encode()).hexdigest()[:16]


def row_hash_sql(columns: tuple[str, ...]) -> str:
    """A 64-bit hash of a row's values in ``columns`` (the ones the row-level checks read)."""
    return f"hash({', '.join(quote_identifier(column) for column in columns)})"


STAGED_ROWS_TABLE = "lw_unvalidated_rows"
"""The temporary table `stage_unvalidated_rows` fills (one per connection)."""
STAGED_HASH_COLUMN = "lw_row_hash"


VALIDATED_THROUGH_TABLE = f"{HISTORY_SCHEMA}.validated_through"


def validated_through(con: duckdb.DuckDBPyConnection, table: str, signature: str) -> Any:
    """The newest ``BUILD_STAMP_COLUMN`` of ``table`` at its last passing validation under
    ``signature``; None when not recorded."""
    if table_columns(con, VALIDATED_THROUGH_TABLE) is None:
        return None
    return con.execute(
        f"select max(built_through) from {VALIDATED_THROUGH_TABLE} where table_name = ? and signature = ?",
        [table, signature],
    ).fetchone()[0]


def stage_unvalidated_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: tuple[str, ...],
    signature: str,
    built_after: Any = None,
) -> str | None:
    """Copy into a temporary table the rows of ``table`` whose checked values (``columns``) are not
    among those of the last passing validation under ``signature``, with their hash
    (``STAGED_HASH_COLUMN``); returns the table's name, or None when nothing was validated under
    ``signature`` (every row is validated). ``built_after``: only rows whose
    ``BUILD_STAMP_COLUMN`` is newer are candidates (the others were there, unchanged, when it passed).

    The candidates are copied first, then those whose hash is known are deleted from the copy: the
    known hashes are probed against the candidates' hashes, not loaded into a hash table of their
    own (an anti-join built one of every known row: 0.5 s a day for the large world's 16 million
    sends, with no new row). The rows are validated from the copy and, if the suite passes, their
    hashes recorded from it (``record_validated_rows``), without hashing the table twice.
    """
    if table_columns(con, VALIDATED_ROWS_TABLE) is None:
        return None
    known = con.execute(
        f"select count(*) from {VALIDATED_ROWS_TABLE} where table_name = ? and signature = ?",
        [table, signature],
    ).fetchone()[0]
    if not known:
        return None
    select = ", ".join(quote_identifier(column) for column in columns)
    newer = f" where {quote_identifier(BUILD_STAMP_COLUMN)} > ?" if built_after is not None else ""
    con.execute(
        f"create or replace temp table {STAGED_ROWS_TABLE} as "
        f"select {select}, {row_hash_sql(columns)} as {STAGED_HASH_COLUMN} from {quote_table(table)}{newer}",
        [built_after] if built_after is not None else None,
    )
    staged = f"temp.main.{STAGED_ROWS_TABLE}"
    con.execute(
        f"delete from {staged} where {STAGED_HASH_COLUMN} in ("
        f"select known.row_hash from {VALIDATED_ROWS_TABLE} as known "
        f"where known.table_name = ? and known.signature = ? "
        f"and known.row_hash in (select {STAGED_HASH_COLUMN} from {staged}))",
        [table, signature],
    )
    return STAGED_ROWS_TABLE


def drop_staged_rows(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"drop table if exists temp.main.{STAGED_ROWS_TABLE}")


def record_validated_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: tuple[str, ...],
    signature: str,
    staged: str | None = None,
    built_through: Any = None,
) -> bool:
    """Remember the checked values of the rows of ``table`` just validated, after its whole suite
    passed; False when the connection is read-only.

    ``staged`` is the table of the rows the run validated (``stage_unvalidated_rows``): only their
    values are added, so a daily run writes the values it saw, not every row's. Values no row
    holds any more stay remembered: they passed these checks (same signature), so a row holding them
    again would pass again. Without it (a first run, or the checks changed) the table's values
    under other signatures are forgotten and every row's are written. ``built_through``: the
    table's newest ``BUILD_STAMP_COLUMN`` when it was validated (``validated_through``).
    """
    try:
        con.execute(f"create schema if not exists {HISTORY_SCHEMA}")
        con.execute(
            f"create table if not exists {VALIDATED_ROWS_TABLE} ("
            "table_name varchar not null, signature varchar not null, row_hash ubigint not null)"
        )
        con.execute("begin transaction")
        try:
            if staged is None:
                con.execute(f"delete from {VALIDATED_ROWS_TABLE} where table_name = ?", [table])
                con.execute(
                    f"insert into {VALIDATED_ROWS_TABLE} select distinct ?, ?, {row_hash_sql(columns)} "
                    f"from {quote_table(table)}",
                    [table, signature],
                )
            else:
                con.execute(
                    f"insert into {VALIDATED_ROWS_TABLE} select distinct ?, ?, {STAGED_HASH_COLUMN} "
                    f"from {quote_identifier(staged)}",
                    [table, signature],
                )
            if built_through is not None:
                con.execute(
                    f"create table if not exists {VALIDATED_THROUGH_TABLE} ("
                    "table_name varchar not null, signature varchar not null, built_through timestamp not null)"
                )
                con.execute(f"delete from {VALIDATED_THROUGH_TABLE} where table_name = ?", [table])
                con.execute(
                    f"insert into {VALIDATED_THROUGH_TABLE} values (?, ?, ?)",
                    [table, signature, built_through],
                )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    except (duckdb.InvalidInputException, duckdb.PermissionException, duckdb.CatalogException):
        return False
    return True
