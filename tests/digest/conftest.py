"""Fixtures of the digest tests: a small warehouse (digest_warehouse.py) and the digest built on it."""

from __future__ import annotations

import pytest
from digest_warehouse import NOW, digest_warehouse

from decision_engine.digest import run_weekly_digest


@pytest.fixture
def warehouse(tmp_path):
    con, ids = digest_warehouse(tmp_path / "warehouse.duckdb")
    yield con, ids
    con.close()


@pytest.fixture
def digest_run(warehouse, tmp_path):
    con, _ids = warehouse
    return run_weekly_digest(con, NOW, tmp_path / "reports" / "digest")
