"""A tiny job for the Postgres instance test (test_postgres_instance.py), run with the
multiprocess executor: two assets write one DuckDB file in the warehouse writer pool, and one
asset outside the pool must run beside a writer.

The side-by-side run is proven by a rendezvous, not by timing: the unpooled asset and the first
writer each leave a marker in the shared directory and wait for the other's. Run one after the
other, they would wait until the timeout and fail.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.constants import WAREHOUSE_WRITER_POOL

RENDEZVOUS_TIMEOUT_S = 120
WRITER_STARTED = "writer_started"
UNPOOLED_STARTED = "unpooled_started"


class SharedDirectory(dg.ConfigurableResource):
    """Where the DuckDB file and the rendezvous markers are; shared by the step processes."""

    path: str

    @property
    def warehouse(self) -> Path:
        return Path(self.path) / "warehouse.duckdb"

    def mark(self, name: str) -> None:
        (Path(self.path) / name).touch()

    def wait_for(self, name: str) -> None:
        deadline = time.monotonic() + RENDEZVOUS_TIMEOUT_S
        while not (Path(self.path) / name).exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} never appeared: the steps did not run side by side")
            time.sleep(0.05)


def _write_table(shared: SharedDirectory, table: str) -> dg.MaterializeResult:
    started = time.time()
    shared.mark(WRITER_STARTED)
    shared.wait_for(UNPOOLED_STARTED)
    # A second process opening the file read-write now would fail on DuckDB's lock.
    with duckdb.connect(str(shared.warehouse)) as connection:
        connection.execute(f"create or replace table {table} as select range as id from range(100)")
        time.sleep(0.5)
    return dg.MaterializeResult(
        metadata={"pid": os.getpid(), "started_at": started, "finished_at": time.time()}
    )


@dg.asset(pool=WAREHOUSE_WRITER_POOL)
def orders_written(shared: SharedDirectory) -> dg.MaterializeResult:
    return _write_table(shared, "orders")


@dg.asset(pool=WAREHOUSE_WRITER_POOL)
def sessions_written(shared: SharedDirectory) -> dg.MaterializeResult:
    return _write_table(shared, "sessions")


@dg.asset
def report_rendered(shared: SharedDirectory) -> dg.MaterializeResult:
    started = time.time()
    shared.mark(UNPOOLED_STARTED)
    shared.wait_for(WRITER_STARTED)
    return dg.MaterializeResult(
        metadata={"pid": os.getpid(), "started_at": started, "finished_at": time.time()}
    )


ASSETS = [orders_written, sessions_written, report_rendered]


def warehouse_writers_job() -> dg.JobDefinition:
    """The job, built in whichever process loads it (the test's and each step's)."""
    definitions = dg.Definitions(
        assets=ASSETS,
        jobs=[dg.define_asset_job("warehouse_writers", selection=ASSETS)],
        resources={"shared": SharedDirectory.configure_at_launch()},
        executor=dg.multiprocess_executor.configured({"max_concurrent": 3}),
    )
    return definitions.resolve_job_def("warehouse_writers")
