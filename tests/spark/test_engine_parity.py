"""``LOOPWISE_ENGINE=spark``: the demo end to end on a local Spark session, and every mart Spark
built compared with a DuckDB build of the same raw data (the lake Spark read).

Same row counts, same rows, numbers equal within 1e-9 relative (core/parity.py). The comparison
is written to ``artifacts/spark/parity.txt``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from core.lake import lake_tables, load_lake_into_duckdb, spark_model_tables
from core.parity import compare_warehouses, report

pytestmark = [pytest.mark.spark, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("LOOPWISE_SPARK_ARTIFACTS", ROOT / "artifacts" / "spark"))


def _child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOPWISE_", "DAGSTER_", "PYSPARK_"))}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


@pytest.fixture(scope="module")
def spark_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``loopwise demo`` with ``LOOPWISE_ENGINE=spark`` in a home of its own: (home, its output)."""
    home = tmp_path_factory.mktemp("spark_demo")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        [sys.executable, "-m", "loopwise.cli", "demo", "--home", str(home), "--preset", "demo"],
        cwd=ROOT,
        env=_child_env(LOOPWISE_ENGINE="spark"),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    (ARTIFACTS / "demo.log").write_text(completed.stdout + completed.stderr)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return home, completed.stdout


def _mart_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    names = con.execute(
        "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
    ).fetchall()
    return {name: con.execute(f'select count(*) from marts."{name}"').fetchone()[0] for (name,) in names}


def test_the_demo_runs_on_spark_and_reads_the_marts_spark_built(spark_demo):
    home, output = spark_demo
    assert "Marts (dbt on Spark, target spark)" in output
    spark_marts = spark_model_tables(home / "spark_warehouse", schemas=("marts",))
    assert len(spark_marts) >= 18  # every mart of the project, as Parquet tables Spark wrote

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        kinds = dict(
            con.execute(
                "select table_name, table_type from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        )
        warehouse_counts = _mart_counts(con)
        decisions = con.execute("select count(*) from results.experiment_decisions").fetchone()[0]
    assert set(kinds.values()) == {"VIEW"} and {f"marts.{k}" for k in kinds} == set(spark_marts)
    assert decisions > 0  # the decision assets ran on the marts Spark built

    with duckdb.connect() as con:
        parquet_counts = {
            name.split(".", 1)[1]: con.execute(
                f"select count(*) from read_parquet('{path}/*.parquet')"
            ).fetchone()[0]
            for name, path in spark_marts.items()
        }
    with duckdb.connect(str(home / "bi" / "loopwise_bi.duckdb"), read_only=True) as con:
        snapshot_counts = _mart_counts(con)
    assert warehouse_counts == parquet_counts == snapshot_counts
    printed = {
        match["name"]: int(match["count"].replace(",", ""))
        for match in re.finditer(r"^\s*(?P<count>[\d,]+)\s+marts\.(?P<name>\w+)$", output, re.MULTILINE)
    }
    assert printed == parquet_counts  # the summary prints the counts of the marts Spark built


def test_every_mart_equals_a_duckdb_build_of_the_same_raw_data(spark_demo, tmp_path):
    home, _ = spark_demo
    lake = home / "lake"
    assert any(name.startswith("raw_klaviyo.") for name in lake_tables(lake))
    duckdb_warehouse = tmp_path / "duckdb_build.duckdb"
    load_lake_into_duckdb(lake, duckdb_warehouse)
    completed = subprocess.run(
        [
            str(Path(sys.executable).with_name("dbt")),
            "build",
            "--profiles-dir",
            ".",
            "--target-path",
            str(tmp_path / "target"),
        ],
        cwd=ROOT / "dbt_project",
        env=_child_env(LOOPWISE_WAREHOUSE_PATH=str(duckdb_warehouse), LOOPWISE_DBT_TARGET="local"),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stdout[-3000:]

    results = compare_warehouses(duckdb_warehouse, home / "spark_warehouse")
    (ARTIFACTS / "parity.txt").write_text(report(results) + "\n")
    (ARTIFACTS / "parity.json").write_text(
        json.dumps(
            [{"table": r.name, "rows": r.duckdb_rows, "problems": r.problems} for r in results], indent=1
        )
    )
    assert len(results) >= 18
    assert all(r.duckdb_rows > 0 for r in results), report(results)
    assert [r for r in results if not r.equal] == [], report(results)
