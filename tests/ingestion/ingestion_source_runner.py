"""Run one source in a separate process (for the kill-and-rerun convergence tests).

Usage: ``python source_runner.py '<json>'`` with keys name, duckdb_path, pipelines_dir,
settings (``settings_to_json`` output) and mode: ``run`` (plain ``run_source``),
``kill-after-normalize`` (extract + normalize, then SIGKILL itself before loading) or
``kill-during-load`` (SIGKILL itself when the load step runs its ``statements``-th SQL
statement against DuckDB: deterministic, in the middle of the load jobs).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
from datetime import date
from typing import Any

from ingestion.config import RetryPolicy, SourceSettings


def settings_to_json(settings: SourceSettings) -> dict[str, Any]:
    data = dataclasses.asdict(settings)
    for key in ("start_date", "end_date", "observed_on"):
        if data[key] is not None:
            data[key] = data[key].isoformat()
    return data


def settings_from_json(data: dict[str, Any]) -> SourceSettings:
    data = dict(data)
    for key in ("start_date", "end_date", "observed_on"):
        if data[key] is not None:
            data[key] = date.fromisoformat(data[key])
    data["retry"] = RetryPolicy(**data["retry"])
    return SourceSettings(**data)


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main(arguments: dict[str, Any]) -> None:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    from ingestion.pipelines import make_pipeline, run_source, source_factory

    settings = settings_from_json(arguments["settings"])
    name, mode = arguments["name"], arguments.get("mode", "run")
    if mode == "run":
        run_source(name, arguments["duckdb_path"], settings, pipelines_dir=arguments["pipelines_dir"])
        return
    pipeline = make_pipeline(name, arguments["duckdb_path"], arguments["pipelines_dir"])
    pipeline.extract(source_factory(name)(settings))
    pipeline.normalize()
    if mode == "kill-after-normalize":
        _kill_self()
    _kill_at_statement(int(arguments.get("statements", 20)))
    pipeline.load()
    _kill_self()


def _kill_at_statement(limit: int) -> None:
    from dlt.destinations.impl.duckdb.sql_client import DuckDbSqlClient

    original = DuckDbSqlClient.execute_sql
    calls = {"n": 0}

    def counting(self: Any, sql: Any, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] >= limit:
            _kill_self()
        return original(self, sql, *args, **kwargs)

    DuckDbSqlClient.execute_sql = counting  # type: ignore[method-assign]


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
