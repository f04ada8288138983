"""The outcome of the session's dbt build, with read-only queries on its warehouse."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb


@dataclass(frozen=True)
class DbtBuild:
    database_path: Path
    success: bool
    failures: list[str]
    target_path: Path | None = None  # holds the build's manifest.json

    # dbt-duckdb keeps its in-process DuckDB instance open after the build; a connection with the
    # same (default) configuration shares it, a read_only one would be refused.

    def query(self, sql: str, parameters: list | None = None) -> list[tuple]:
        connection = duckdb.connect(str(self.database_path))
        try:
            return connection.execute(sql, parameters or []).fetchall()
        finally:
            connection.close()

    def query_dicts(self, sql: str, parameters: list | None = None) -> list[dict]:
        connection = duckdb.connect(str(self.database_path))
        try:
            cursor = connection.execute(sql, parameters or [])
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        finally:
            connection.close()
