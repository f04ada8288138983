"""Write decision outputs to the warehouse's ``results`` schema (the BI contract).

``results`` tables keep history: every row carries its ``analysis_timestamp``. Writing the
same analysis again replaces the rows of that key (for example one analysis date), so a
re-run converges instead of duplicating.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import pandas as pd

RESULTS_SCHEMA = "results"


def write_results(
    con: Any,
    table: str,
    frame: pd.DataFrame,
    *,
    replace_where: Sequence[str] = (),
) -> int:
    """Append ``frame`` to ``results.<table>`` after deleting rows that match it on ``replace_where``.

    ``replace_where`` names columns whose values in ``frame`` identify the rows a re-run
    replaces (e.g. ``("analysis_date",)``); empty means replace the whole table.
    Creates the schema and table on first use; new columns are added (never dropped).
    """
    con.execute(f"create schema if not exists {RESULTS_SCHEMA}")
    qualified = f'{RESULTS_SCHEMA}."{table}"'
    con.register("_loopwise_results_frame", frame)
    try:
        exists = con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [RESULTS_SCHEMA, table],
        ).fetchone()[0]
        if not exists:
            con.execute(f"create table {qualified} as select * from _loopwise_results_frame limit 0")
        else:
            present = {
                row[0]
                for row in con.execute(
                    "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
                    [RESULTS_SCHEMA, table],
                ).fetchall()
            }
            types = dict(
                con.execute(
                    "select column_name, column_type from (describe select * from _loopwise_results_frame)"
                ).fetchall()
            )
            for column, data_type in types.items():
                if column not in present:
                    con.execute(f'alter table {qualified} add column "{column}" {data_type}')
        con.execute("begin transaction")
        if replace_where and len(frame):
            keys = ", ".join(f'"{column}"' for column in replace_where)
            con.execute(
                f"delete from {qualified} where ({keys}) in (select distinct {keys} from _loopwise_results_frame)"
            )
        elif not replace_where:
            con.execute(f"delete from {qualified}")
        con.execute(f"insert into {qualified} by name select * from _loopwise_results_frame")
        con.execute("commit")
    except BaseException:
        with contextlib.suppress(Exception):  # no transaction open
            con.execute("rollback")
        raise
    finally:
        con.unregister("_loopwise_results_frame")
    return len(frame)
