"""One dbt build per test session on a hand-crafted raw warehouse (see dbt_raw_data.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbt_build_result import DbtBuild
from dbt_raw_data import create_raw_tables

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"


@pytest.fixture(scope="session")
def dbt_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DbtBuild]:
    from dbt.cli.main import dbtRunner

    work_dir = tmp_path_factory.mktemp("dbt_build")
    database_path = work_dir / "warehouse.duckdb"
    create_raw_tables(str(database_path))

    previous = os.environ.get("LOOPWISE_WAREHOUSE_PATH")
    os.environ["LOOPWISE_WAREHOUSE_PATH"] = str(database_path)
    try:
        result = dbtRunner().invoke(
            [
                "build",
                "--quiet",
                "--project-dir",
                str(DBT_PROJECT_DIR),
                "--profiles-dir",
                str(DBT_PROJECT_DIR),
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

    failures = []
    if result.result is not None:
        failures = [
            f"{node_result.node.unique_id}: {node_result.status} {node_result.message}"
            for node_result in result.result
            if str(node_result.status) not in {"success", "pass"}
        ]
    elif result.exception is not None:
        failures = [repr(result.exception)]
    yield DbtBuild(
        database_path=database_path,
        success=result.success,
        failures=failures,
        target_path=work_dir / "target",
    )
