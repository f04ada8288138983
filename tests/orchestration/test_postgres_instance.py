"""The documented Postgres instance (deploy/dagster-postgres.yaml) against a real PostgreSQL
server started for the test: a job runs with the multiprocess executor, its run, event log and
materializations land in Postgres, and the warehouse writer pool keeps the two DuckDB writers
apart while a step outside the pool runs beside them."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import dagster as dg
import psycopg2
import pytest

from core.settings import REPO_ROOT
from orchestration.constants import WAREHOUSE_WRITER_POOL

INSTANCE_CONFIG = REPO_ROOT / "deploy" / "dagster-postgres.yaml"
WRITERS = ("orders_written", "sessions_written")
UNPOOLED = "report_rendered"
# A step process that dies holding the pool's only slot leaves the rest of the run waiting for it
# for ever (Dagster 1.13). Past this deadline the test sends itself SIGTERM: the multiprocess
# executor then fails the run, so the test fails instead of hanging `make test`.
RUN_DEADLINE_S = 300


def _load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[object]:
    throwaway = _load_script("throwaway_postgres")
    with throwaway.throwaway_postgres() as server:
        yield server


@pytest.fixture
def postgres_instance(
    postgres_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dg.DagsterInstance]:
    for name, value in postgres_server.environment().items():
        monkeypatch.setenv(name, value)
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(INSTANCE_CONFIG, dagster_home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    with dg.DagsterInstance.get() as instance:
        yield instance


def _query(server, sql: str, *params: object) -> list[tuple]:
    connection = psycopg2.connect(
        host=server.host,
        port=server.port,
        user=server.username,
        password=server.password,
        dbname=server.db_name,
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    finally:
        connection.close()


def test_the_documented_config_reads_its_connection_from_the_environment():
    text = INSTANCE_CONFIG.read_text()
    for name in ("DAGSTER_PG_HOST", "DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"):
        assert f"env: {name}" in text


def test_a_multiprocess_run_on_postgres_keeps_the_warehouse_writers_apart(
    postgres_server, postgres_instance: dg.DagsterInstance, tmp_path: Path
):
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

    instance = postgres_instance
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)

    shared = tmp_path / "shared"
    shared.mkdir()
    # Each step process imports the job module from this directory.
    job = dg.build_reconstructable_job(
        "warehouse_writers_job",
        "warehouse_writers_job",
        reconstructor_working_directory=str(Path(__file__).parent),
    )
    watchdog = threading.Timer(RUN_DEADLINE_S, os.kill, (os.getpid(), signal.SIGTERM))
    watchdog.start()
    try:
        with dg.execute_job(
            job,
            instance=instance,
            run_config={"resources": {"shared": {"config": {"path": str(shared)}}}},
        ) as result:
            assert result.success, [event.message for event in result.all_events if event.is_failure]
            run_id = result.run_id
    finally:
        watchdog.cancel()

    # The run, its event log and the materializations are rows in Postgres.
    assert _query(postgres_server, "select status from runs where run_id = %s", run_id) == [("SUCCESS",)]
    materialized = {
        row[0]
        for row in _query(
            postgres_server,
            "select asset_key from event_logs where run_id = %s and dagster_event_type = 'ASSET_MATERIALIZATION'",
            run_id,
        )
    }
    assert materialized == {dg.AssetKey(name).to_string() for name in (*WRITERS, UNPOOLED)}

    # Each step ran in its own process, none in this one.
    metadata = {}
    for name in (*WRITERS, UNPOOLED):
        event = instance.get_latest_materialization_event(dg.AssetKey(name))
        assert event is not None and event.run_id == run_id
        metadata[name] = {key: value.value for key, value in event.asset_materialization.metadata.items()}
    pids = {values["pid"] for values in metadata.values()}
    assert len(pids) == 3 and os.getpid() not in pids

    # The pool: one slot, and the two writers never overlapped.
    assert instance.event_log_storage.get_concurrency_info(WAREHOUSE_WRITER_POOL).slot_count == 1
    first, second = sorted((metadata[name] for name in WRITERS), key=lambda values: values["started_at"])
    assert first["finished_at"] <= second["started_at"]
