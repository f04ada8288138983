"""The outcome of the session's dbt build, with read-only queries on its warehouse."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"


def invoke_dbt(
    database_path: Path, work_dir: Path, arguments: list[str], profiles_dir: Path | None = None
) -> Any:
    """Run dbt in-process (``["build"]``, ``["build", "--full-refresh"]``, ...) on a warehouse file,
    with the project's profiles unless `profiles_dir` has others; returns dbt's ``dbtRunnerResult``."""
    from dbt.cli.main import dbtRunner

    previous = os.environ.get("LOOPWISE_WAREHOUSE_PATH")
    os.environ["LOOPWISE_WAREHOUSE_PATH"] = str(database_path)
    try:
        return dbtRunner().invoke(
            [
                *arguments,
                "--quiet",
                "--project-dir",
                str(DBT_PROJECT_DIR),
                "--profiles-dir",
                str(profiles_dir or DBT_PROJECT_DIR),
                "--target-path",
                str(work_dir / "target"),
                "--log-path",
                str(work_dir / "logs"),
                "--no-partial-parse",
            ]
        )
    finally:
        if previous is None:
            os.environ.pop("LOOPWISE_WAREHOUSE_PATH", None)
        else:
            os.environ["LOOPWISE_WAREHOUSE_PATH"] = previous


def profiles_with_settings(directory: Path, **settings: str) -> Path:
    """A profiles directory like the project's whose local DuckDB target also sets `settings`
    (DuckDB configuration, e.g. ``TimeZone``)."""
    import yaml

    profiles = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())
    profiles["loopwise"]["outputs"]["local"]["settings"].update(settings)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "profiles.yml").write_text(yaml.safe_dump(profiles))
    return directory


def dbt_failures(result: Any) -> list[str]:
    """The nodes of a dbt invocation that did not succeed or pass (or its exception)."""
    if result.result is not None:
        return [
            f"{node_result.node.unique_id}: {node_result.status} {node_result.message}"
            for node_result in result.result
            if str(node_result.status) not in {"success", "pass"}
        ]
    return [repr(result.exception)] if result.exception is not None else []


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
