"""The run's DuckDB connections are capped (LOOPWISE_DUCKDB_MEMORY_LIMIT, default 1GB): unset,
DuckDB takes 80 % of the machine, and the decisions on a large warehouse peaked at 6.3 GB."""

from __future__ import annotations

import duckdb

from core.settings import DUCKDB_MEMORY_ENV
from orchestration.resources import WarehouseResource


def _limit(con) -> str:
    return con.execute("select current_setting('memory_limit')").fetchall()[0][0]


def test_every_connection_is_capped_and_the_cap_comes_from_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(DUCKDB_MEMORY_ENV, raising=False)
    path = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(path)).close()
    default = duckdb.connect(":memory:")
    default.execute("SET memory_limit = '1GB'")
    resource = WarehouseResource(path=str(path))
    with resource.connect() as con:
        assert _limit(con) == _limit(default)
    monkeypatch.setenv(DUCKDB_MEMORY_ENV, "512MB")
    default.execute("SET memory_limit = '512MB'")
    with resource.connect(read_only=True) as con:
        assert _limit(con) == _limit(default)
    # the resource's own setting wins over the environment
    default.execute("SET memory_limit = '300MB'")
    with WarehouseResource(path=str(path), memory_limit="300MB").connect() as con:
        assert _limit(con) == _limit(default)
