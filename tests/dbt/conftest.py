"""One dbt build per test session on a hand-crafted raw warehouse (see dbt_raw_data.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dbt_build_result import DbtBuild, dbt_failures, invoke_dbt
from dbt_raw_data import create_raw_tables


@pytest.fixture(scope="session")
def dbt_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DbtBuild]:
    work_dir = tmp_path_factory.mktemp("dbt_build")
    database_path = work_dir / "warehouse.duckdb"
    create_raw_tables(str(database_path))

    result = invoke_dbt(database_path, work_dir, ["build"])
    yield DbtBuild(
        database_path=database_path,
        success=result.success,
        failures=dbt_failures(result),
        target_path=work_dir / "target",
    )
