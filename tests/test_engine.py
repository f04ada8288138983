"""The engine switch and the Spark engine's files, without Spark: the lake Loopwise publishes, the
views it makes over Spark's Parquet models, and the cross-engine comparison (tests/spark runs
the real Spark build)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from core.bi_snapshot import publish_bi_snapshot
from core.lake import (
    attach_spark_models,
    lake_env,
    lake_tables,
    load_lake_into_duckdb,
    publish_raw_lake,
    repair_lake,
)
from core.parity import compare_frames, compare_warehouses
from core.settings import dbt_engine_env, dbt_target, engine, load_paths, temporary_environ


def _raw_warehouse(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema raw_klaviyo")
        con.execute(
            "create table raw_klaviyo.events as select i as id, 'e' || i as name, "
            "timestamptz '2026-01-01 10:00:00+00' + to_hours(i) as occurred_at from range(5) t(i)"
        )
        con.execute("create schema raw_klaviyo_staging")  # dlt's merge staging: not published
        con.execute("create table raw_klaviyo_staging.events as select 1 as id")
        con.execute("create schema results")
        con.execute("create table results.experiment_assignments as select 'lw-1' as experiment_id")
        con.execute("create table results.other as select 1 as x")  # not a dbt source: not published


def test_engine_defaults_to_duckdb_and_rejects_unknown_names(monkeypatch):
    monkeypatch.delenv("LOOPWISE_ENGINE", raising=False)
    monkeypatch.delenv("LOOPWISE_DBT_TARGET", raising=False)
    assert engine() == "duckdb" and dbt_target() == "local"
    monkeypatch.setenv("LOOPWISE_ENGINE", "Spark")
    assert engine() == "spark" and dbt_target() == "spark"
    monkeypatch.setenv("LOOPWISE_DBT_TARGET", "databricks")
    assert dbt_target() == "databricks"
    monkeypatch.setenv("LOOPWISE_ENGINE", "snowflake")
    with pytest.raises(ValueError, match="LOOPWISE_ENGINE='snowflake'.*duckdb, spark"):
        engine()


def test_spark_runs_get_the_lake_and_warehouse_paths_duckdb_runs_do_not(monkeypatch, tmp_path):
    for name in ("LOOPWISE_ENGINE", "LOOPWISE_DBT_TARGET", "LOOPWISE_LAKE_PATH", "PYSPARK_SUBMIT_ARGS"):
        monkeypatch.delenv(name, raising=False)
    paths = load_paths(tmp_path)
    assert dbt_engine_env(paths) == {"LOOPWISE_DBT_TARGET": "local"}
    monkeypatch.setenv("LOOPWISE_ENGINE", "spark")
    env = dbt_engine_env(paths)
    assert env["LOOPWISE_LAKE_PATH"] == str(tmp_path.resolve() / "lake")
    assert env["LOOPWISE_SPARK_WAREHOUSE"] == str(tmp_path.resolve() / "spark_warehouse")
    assert env["PYSPARK_SUBMIT_ARGS"].startswith("--driver-memory 4g --driver-java-options")
    monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", "--driver-memory 16g pyspark-shell")  # the user's wins
    assert dbt_engine_env(paths)["PYSPARK_SUBMIT_ARGS"] == "--driver-memory 16g pyspark-shell"


def test_the_lake_holds_the_raw_tables_and_the_results_dbt_reads(tmp_path):
    warehouse, lake = tmp_path / "w.duckdb", tmp_path / "lake"
    _raw_warehouse(warehouse)
    assert publish_raw_lake(warehouse, lake) == ["raw_klaviyo.events", "results.experiment_assignments"]
    assert lake_tables(lake) == ["raw_klaviyo.events", "results.experiment_assignments"]
    assert json.loads(lake_env(lake)["LOOPWISE_LAKE_TABLES"]) == lake_tables(lake)

    # published again: the directory is replaced whole, no leftovers beside it
    with duckdb.connect(str(warehouse)) as con:
        con.execute("insert into raw_klaviyo.events values (9, 'e9', timestamptz '2026-02-01 00:00:00+00')")
    publish_raw_lake(warehouse, lake)
    assert sorted(p.name for p in (lake / "raw_klaviyo").iterdir()) == ["events"]

    copy = tmp_path / "copy.duckdb"
    load_lake_into_duckdb(lake, copy)
    with duckdb.connect(str(copy)) as con:
        assert con.execute("select count(*), max(id) from raw_klaviyo.events").fetchone() == (6, 9)
        kind = con.execute("select typeof(occurred_at) from raw_klaviyo.events limit 1").fetchone()[0]
    assert kind == "TIMESTAMP WITH TIME ZONE"


def _spark_model(spark_warehouse: Path, schema: str, model: str, sql: str) -> None:
    directory = spark_warehouse / f"{schema}.db" / model
    directory.mkdir(parents=True)
    with duckdb.connect() as con:
        con.execute("set timezone = 'Europe/Berlin'")  # the reader's zone must not matter
        con.execute(f"copy ({sql}) to '{directory / 'part-00000.parquet'}' (format parquet)")


def test_spark_models_become_views_with_naive_utc_timestamps_and_reach_the_bi_snapshot(tmp_path):
    spark_warehouse, warehouse = tmp_path / "spark_warehouse", tmp_path / "w.duckdb"
    _spark_model(
        spark_warehouse,
        "marts",
        "fct_orders",
        "select 1 as order_id, timestamptz '2026-03-01 12:00:00+00' as ordered_at, 9.5 as revenue",
    )
    _spark_model(spark_warehouse, "staging", "stg_x", "select 'a' as x")
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.fct_orders as select 0 as order_id")  # an earlier DuckDB build
        assert attach_spark_models(con, spark_warehouse) == ["staging.stg_x", "marts.fct_orders"]
        row = con.execute("select order_id, ordered_at, typeof(ordered_at) from marts.fct_orders").fetchone()
        kinds = dict(con.execute("select table_name, table_type from information_schema.tables").fetchall())
    assert row[0] == 1 and str(row[1]) == "2026-03-01 12:00:00" and row[2] == "TIMESTAMP"
    assert kinds == {"fct_orders": "VIEW", "stg_x": "VIEW"}

    snapshot = tmp_path / "bi.duckdb"
    publish_bi_snapshot(warehouse, snapshot)
    with duckdb.connect(str(snapshot), read_only=True) as con:
        assert con.execute("select revenue from marts.fct_orders").fetchone()[0] == pytest.approx(9.5)


def test_parity_tolerates_summation_noise_and_order_but_not_a_changed_value():
    duckdb_frame = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "n": [1, 2, 3],
            "x": [0.1 + 0.2, 1e6 / 3, 0.0],
            "day": pd.to_datetime(["2026-01-01"] * 3),
        }
    )
    spark_frame = duckdb_frame.iloc[::-1].copy()  # another row order
    spark_frame["x"] = [1e-17, 1e6 / 3 * (1 + 1e-12), 0.3]  # the last bits of a sum in another order
    spark_frame["day"] = spark_frame["day"].dt.tz_localize("UTC")  # Spark's instants
    assert compare_frames("t", duckdb_frame, spark_frame).equal

    changed = spark_frame.copy()
    changed.loc[changed["id"] == "b", "x"] = 1e6 / 3 * (1 + 1e-7)
    assert compare_frames("t", duckdb_frame, changed).problems == [
        "x: 1 of 3 rows differ (e.g. 333333.3333333333 vs 333333.36666666664)"
    ]
    assert "row counts differ" in compare_frames("t", duckdb_frame, spark_frame.iloc[:2]).problems[0]
    off_by_one = duckdb_frame.assign(n=[1, 2, 3 + 10**10]), duckdb_frame.assign(n=[1, 2, 4 + 10**10])
    assert compare_frames("t", *off_by_one).problems == [
        "n: 1 of 3 rows differ (e.g. 10000000003 vs 10000000004)"
    ]
    renamed = spark_frame.rename(columns={"n": "m"})
    assert "columns differ" in compare_frames("t", duckdb_frame, renamed).problems[0]


def test_parity_names_a_mart_one_engine_did_not_build(tmp_path):
    warehouse, spark_warehouse = tmp_path / "w.duckdb", tmp_path / "spark_warehouse"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.a as select 1 as k")
        con.execute("create table marts.b as select 1 as k")
    _spark_model(spark_warehouse, "marts", "a", "select 1 as k")
    results = {r.name: r for r in compare_warehouses(warehouse, spark_warehouse)}
    assert results["marts.a"].equal
    assert results["marts.b"].problems == ["missing on Spark"]


def test_a_target_of_the_other_engine_is_an_error(monkeypatch):
    monkeypatch.setenv("LOOPWISE_ENGINE", "duckdb")
    monkeypatch.setenv("LOOPWISE_DBT_TARGET", "spark_thrift")
    with pytest.raises(ValueError, match="does not build on LOOPWISE_ENGINE='duckdb'"):
        dbt_target()
    monkeypatch.setenv("LOOPWISE_ENGINE", "spark")
    monkeypatch.setenv("LOOPWISE_DBT_TARGET", "local")
    with pytest.raises(ValueError, match="set LOOPWISE_ENGINE=duckdb"):
        dbt_target()


def test_a_runs_engine_settings_do_not_outlive_it(monkeypatch):
    monkeypatch.delenv("LOOPWISE_DBT_TARGET", raising=False)
    monkeypatch.setenv("LOOPWISE_LAKE_PATH", "/mine")
    with temporary_environ({"LOOPWISE_DBT_TARGET": "spark", "LOOPWISE_LAKE_PATH": "/run"}):
        assert os.environ["LOOPWISE_LAKE_PATH"] == "/run"
    assert "LOOPWISE_DBT_TARGET" not in os.environ and os.environ["LOOPWISE_LAKE_PATH"] == "/mine"


def test_a_publish_killed_between_its_renames_is_repaired_by_the_next(tmp_path):
    warehouse, lake = tmp_path / "w.duckdb", tmp_path / "lake"
    _raw_warehouse(warehouse)
    publish_raw_lake(warehouse, lake)
    # killed after renaming the old directory away, before the new one took its place,
    # and another publish killed while writing
    (lake / "raw_klaviyo" / "events").rename(lake / "raw_klaviyo" / ".events.retired.abc")
    (lake / "raw_klaviyo" / ".events.staging.def").mkdir()
    assert "raw_klaviyo.events" not in lake_tables(lake)

    assert repair_lake(lake) == ["raw_klaviyo.events"]
    assert "raw_klaviyo.events" in lake_tables(lake)
    assert sorted(p.name for p in (lake / "raw_klaviyo").iterdir()) == ["events"]


def test_the_lake_dlt_appends_to_reads_as_the_merged_table_duckdb_would_hold(tmp_path):
    """The Spark engine's raw lake: dlt's filesystem destination appends a file per load; the
    warehouse's views keep the newest row per primary key, as dlt's merge into DuckDB does."""
    import dlt

    from core.lake import attach_lake_tables

    lake = tmp_path / "lake"

    @dlt.resource(name="contacts", write_disposition="merge", primary_key="id", file_format="parquet")
    def contacts(rows):
        yield from rows

    pipeline = dlt.pipeline(
        "lake_test",
        destination=dlt.destinations.filesystem(lake.resolve().as_uri()),
        dataset_name="raw_test",
        pipelines_dir=str(tmp_path / "dlt"),
    )
    pipeline.run(contacts([{"id": 1, "email": "a@x.io"}, {"id": 2, "email": "b@x.io"}]))
    pipeline.run(contacts([{"id": 2, "email": "b2@x.io", "phone": "+1"}]))  # an update, and a new column
    assert len(list((lake / "raw_test" / "contacts").glob("*.parquet"))) == 2  # appended, not merged

    from ingestion.pipelines import primary_keys

    assert primary_keys(pipeline)["contacts"] == ["id"]
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        made = attach_lake_tables(con, lake, "raw_test", primary_keys(pipeline))
        assert made == ["raw_test._dlt_loads", "raw_test.contacts"]
        rows = con.execute("select id, email, phone from raw_test.contacts order by id").fetchall()
        loads = con.execute("select count(*), min(status) from raw_test._dlt_loads").fetchone()
        assert rows == [(1, "a@x.io", None), (2, "b2@x.io", "+1")]
        assert loads == (2, 0)

        con.execute("create schema raw_other")
        con.execute("create table raw_other.contacts as select 1 as id")  # loaded on DuckDB earlier
    (lake / "raw_other").mkdir()
    (lake / "raw_test" / "contacts").rename(lake / "raw_other" / "contacts")
    with duckdb.connect(str(warehouse)) as con, pytest.raises(RuntimeError, match="was loaded on DuckDB"):
        attach_lake_tables(con, lake, "raw_other", {})


def test_on_spark_raw_loads_and_dbt_leave_the_duckdb_writer_pool(monkeypatch):
    from orchestration.constants import WAREHOUSE_WRITER_POOL, dbt_build_pool, raw_load_pool
    from orchestration.defs.ingestion.definitions import build_definitions

    monkeypatch.delenv("LOOPWISE_ENGINE", raising=False)
    assert raw_load_pool("klaviyo") == dbt_build_pool() == WAREHOUSE_WRITER_POOL
    assert {assets.op.pool for assets in build_definitions().assets} == {WAREHOUSE_WRITER_POOL}
    monkeypatch.setenv("LOOPWISE_ENGINE", "spark")
    assert dbt_build_pool() == "dbt_build"
    pools = {assets.op.name: assets.op.pool for assets in build_definitions().assets}
    assert pools["klaviyo_raw_tables"] == "lake_klaviyo" and pools["hubspot_raw_tables"] == "lake_hubspot"
    assert WAREHOUSE_WRITER_POOL not in pools.values()


def test_on_spark_a_writing_connection_attaches_the_lake_and_models_and_publishes_changed_results(
    monkeypatch, tmp_path
):
    from core.lake import write_primary_keys
    from orchestration.resources import WarehouseResource

    for name in ("LOOPWISE_WAREHOUSE_PATH", "LOOPWISE_LAKE_PATH", "LOOPWISE_SPARK_WAREHOUSE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOOPWISE_HOME", str(tmp_path))
    monkeypatch.setenv("LOOPWISE_ENGINE", "spark")
    paths = load_paths()
    events = paths.lake / "raw_klaviyo" / "events"
    events.mkdir(parents=True)
    with duckdb.connect() as con:  # two loads of one key, appended: the newer wins
        con.execute(
            "copy (select 1 as id, 'old' as name, '1' as _dlt_load_id union all "
            f"select 1, 'new', '2') to '{events / 'load.parquet'}' (format parquet)"
        )
    write_primary_keys(paths.lake, "raw_klaviyo", {"events": ["id"]})
    _spark_model(paths.spark_warehouse, "marts", "fct_orders", "select 7 as order_id")

    resource = WarehouseResource()
    with resource.connect() as con:
        assert con.execute("select name from raw_klaviyo.events").fetchall() == [("new",)]
        assert con.execute("select order_id from marts.fct_orders").fetchall() == [(7,)]
        con.execute("create schema results")
        con.execute("create table results.experiment_assignments as select 'lw-1' as experiment_id")
    published = paths.lake / "results" / "experiment_assignments"
    assert lake_tables(paths.lake) == ["raw_klaviyo.events", "results.experiment_assignments"]
    (published / "_marker").touch()  # gone if the directory is published again
    with resource.connect():
        pass  # unchanged: the lake's copy stays
    assert (published / "_marker").exists()
    with resource.connect() as con:
        con.execute("insert into results.experiment_assignments values ('lw-2')")
    assert not (published / "_marker").exists()
    with duckdb.connect() as con:
        assert con.execute(f"select count(*) from '{published / '*.parquet'}'").fetchone()[0] == 2

    # a step that failed publishes nothing; a read-only connection neither attaches nor publishes
    with pytest.raises(RuntimeError), resource.connect() as con:
        con.execute("insert into results.experiment_assignments values ('lw-3')")
        raise RuntimeError("the step failed")
    with duckdb.connect() as con:
        assert con.execute(f"select count(*) from '{published / '*.parquet'}'").fetchone()[0] == 2
    _spark_model(paths.spark_warehouse, "marts", "fct_new", "select 1 as x")
    with resource.connect(read_only=True) as con:
        assert (
            con.execute(
                "select count(*) from information_schema.tables where table_name = 'fct_new'"
            ).fetchone()[0]
            == 0
        )
