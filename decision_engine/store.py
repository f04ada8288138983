"""Write decision outputs to the warehouse's ``results`` schema (the BI contract).

``results`` tables keep history: every row carries its ``analysis_timestamp``. Writing the
same analysis again replaces the rows of that key (for example one analysis date), so a
re-run converges instead of duplicating. Tables are created from the declared columns in
``core.results_schema``: every column has its declared type from the first write.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import pandas as pd
import pyarrow as pa

from core.results_schema import table_columns

RESULTS_SCHEMA = "results"


def ensure_results_table(con: Any, table: str) -> str:
    """Create ``results.<table>`` with its declared columns, or bring an existing one to them.

    Declared columns it lacks are added. A column whose type differs from the declared one (a
    column left typed ``NULL`` by an older release's all-null first write, or an
    ``analysis_date`` that older releases stored as a timestamp) is converted to it.
    """
    columns = table_columns(table)
    qualified = f'{RESULTS_SCHEMA}."{table}"'
    con.execute(f"create schema if not exists {RESULTS_SCHEMA}")
    present = dict(
        con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ?",
            [RESULTS_SCHEMA, table],
        ).fetchall()
    )
    if not present:
        definition = ", ".join(f'"{column.name}" {column.type}' for column in columns)
        con.execute(f"create table {qualified} ({definition})")
        return qualified
    for column in columns:
        if column.name not in present:
            con.execute(f'alter table {qualified} add column "{column.name}" {column.type}')
        elif present[column.name] != _canonical_type(con, column.type):
            con.execute(f'alter table {qualified} alter column "{column.name}" set data type {column.type}')
    return qualified


def append_results(con: Any, table: str, frame: pd.DataFrame) -> int:
    """Append ``frame``'s rows to ``results.<table>`` (created with its declared columns if missing),
    inside whatever transaction the caller has open; the rows appended."""
    ensure_results_table(con, table)
    if frame.empty:
        return 0
    con.register("_loopwise_append", frame)
    try:
        names = ", ".join(f'"{name}"' for name in frame.columns)
        con.execute(f'insert into {RESULTS_SCHEMA}."{table}" ({names}) select {names} from _loopwise_append')
    finally:
        con.unregister("_loopwise_append")
    return len(frame)


def table_exists(con: Any, schema: str, table: str) -> bool:
    """Whether ``<schema>.<table>`` exists yet (a fresh warehouse has neither marts nor results)."""
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()[0][0]
    return bool(found)


def _canonical_type(con: Any, declared: str) -> str:
    """How ``information_schema`` spells ``declared`` (``TIMESTAMPTZ`` is ``TIMESTAMP WITH TIME ZONE``)."""
    return con.execute(f"select typeof(cast(null as {declared}))").fetchall()[0][0]


def write_results(
    con: Any,
    table: str,
    frame: pd.DataFrame | pa.Table,
    *,
    replace_where: Sequence[str] = (),
) -> int:
    """Append ``frame`` to ``results.<table>`` after deleting rows that match it on ``replace_where``.

    ``replace_where`` names columns whose values in ``frame`` identify the rows a re-run
    replaces (e.g. ``("analysis_date",)``); empty means replace the whole table. ``frame``
    may hold any subset of the declared columns (the rest are null); a column the contract
    does not declare is an error, so nothing reaches BI undocumented. An Arrow table is accepted
    too (wide list columns such as 24 hourly scores per row load without Python objects).
    """
    declared = {column.name: column.type for column in table_columns(table)}
    frame_columns = list(getattr(frame, "column_names", None) or frame.columns)  # pandas or Arrow
    undeclared = [column for column in frame_columns if column not in declared]
    if undeclared:
        raise ValueError(
            f"results.{table}: columns {undeclared} are not in the results contract (core/results_schema.py)"
        )
    qualified = ensure_results_table(con, table)
    if not frame_columns:  # nothing to insert; an empty write still replaces the table
        if not replace_where:
            con.execute(f"delete from {qualified}")
        return 0
    con.register("_loopwise_results_frame", frame)
    try:
        con.execute("begin transaction")
        if replace_where and len(frame):
            # a missing key (e.g. no analysis date for a score that could not be scored) is a value too:
            # the re-run replaces that row instead of adding another beside it
            casts = ", ".join(
                f'cast("{column}" as {declared[column]}) as "{column}"' for column in replace_where
            )
            same = " and ".join(
                f'old."{column}" is not distinct from new."{column}"' for column in replace_where
            )
            con.execute(
                f"delete from {qualified} as old where exists (select 1 from "
                f"(select distinct {casts} from _loopwise_results_frame) as new where {same})"
            )
        elif not replace_where:
            con.execute(f"delete from {qualified}")
        names = ", ".join(f'"{column}"' for column in frame_columns)
        values = ", ".join(f'cast("{column}" as {declared[column]})' for column in frame_columns)
        con.execute(f"insert into {qualified} ({names}) select {values} from _loopwise_results_frame")
        con.execute("commit")
    except BaseException:
        with contextlib.suppress(Exception):  # no transaction open
            con.execute("rollback")
        raise
    finally:
        con.unregister("_loopwise_results_frame")
    return len(frame)
