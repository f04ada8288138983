"""Dagster resources: the warehouse and where the sources read from.

Configuration comes from the environment in one place (``core.settings`` for paths,
dlt's config for vendor secrets), resolved when a run starts, never at import.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import PrivateAttr

from core.settings import LoopwisePaths, load_paths, sources_target


def loop_clock(paths: LoopwisePaths | None = None) -> Any:
    """ "Now" for the action queue outside a run (approvals from the CLI or the UI): the saved
    world's clock when the sources are the sandbox, the wall clock otherwise. The same clock the
    loop assets use, so an approval in a simulated week is judged in that week."""
    from datetime import UTC, datetime

    if sources_target() == "sandbox":
        from sandbox.state import world_clock

        clock = world_clock((paths or load_paths()).sandbox_dir)
        if clock is not None:
            return clock
    return datetime.now(UTC)


class LoopwisePathsResource(dg.ConfigurableResource):
    """Where the warehouse, the BI snapshot and reports live (``LOOPWISE_HOME``, default ``./data``)."""

    home: str | None = None

    def paths(self) -> LoopwisePaths:
        return load_paths(self.home)


class WarehouseResource(dg.ConfigurableResource):
    """The pipeline's DuckDB file. Every writer runs in the warehouse writer pool.

    On Spark (``LOOPWISE_ENGINE=spark``) a connection for writing first makes the lake's raw tables
    and the models Spark wrote views of the file (``core.lake.attach_engine_views``), and when the
    step is done publishes to the lake the results tables dbt reads back, if they changed
    (``core.lake.publish_results_sources``): the raw loads and dbt never open the file.
    """

    path: str | None = None  # default: LOOPWISE_WAREHOUSE_PATH or $LOOPWISE_HOME/warehouse.duckdb
    # DuckDB's memory in the run's process (it spills to disk beyond it; unset, DuckDB takes 80 % of
    # the machine and keeps what it read cached): default LOOPWISE_DUCKDB_MEMORY_LIMIT or 1GB
    memory_limit: str | None = None

    def database_path(self) -> Path:
        resolved = Path(self.path) if self.path else load_paths().warehouse
        resolved.parent.mkdir(parents=True, exist_ok=True)
        return resolved

    def duckdb_memory_limit(self) -> str:
        from core.settings import duckdb_memory_limit

        return self.memory_limit or duckdb_memory_limit()

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[Any]:
        import duckdb

        from core.settings import engine

        con = duckdb.connect(str(self.database_path()), read_only=read_only)
        try:
            # a setting of the database, not of the connection: a config at connect would refuse a
            # second connection to the file with another (dlt's loads run in this process too)
            con.execute("SET memory_limit = ?", [self.duckdb_memory_limit()])
            if read_only or engine() != "spark":
                yield con
                return
            from core.lake import attach_engine_views, publish_results_sources

            paths = load_paths()
            attach_engine_views(con, paths.lake, paths.spark_warehouse)
            yield con
            publish_results_sources(con, paths.lake)
        finally:
            con.close()


class VendorSourcesResource(dg.ConfigurableResource):
    """Where the dlt sources read from.

    ``target="sandbox"`` (the embedded default) serves the simulated world saved under
    ``$LOOPWISE_HOME/sandbox`` from a local HTTP server for the length of the run; the
    sources then run their production HTTP path against it. ``target="vendors"`` reads base
    URLs and secrets from dlt's configuration (``SOURCES__KLAVIYO__API_KEY`` ...), so
    pointing at the real Klaviyo, HubSpot, Meta and Google Ads is configuration only.
    """

    target: str | None = None  # default: $LOOPWISE_SOURCES_TARGET or "sandbox"
    sandbox_state_dir: str | None = None
    sandbox_preset: str = "demo"

    _settings: Any = PrivateAttr(default=None)
    _writeback: Any = PrivateAttr(default=None)
    _clock: Any = PrivateAttr(default=None)
    _target: str = PrivateAttr(default="sandbox")

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[VendorSourcesResource]:
        self._target = self.target or sources_target()
        if self._target == "vendors":
            from activation.writeback.settings import WritebackSettings
            from ingestion.config import SourceSettings

            self._settings = SourceSettings.from_env()
            self._writeback = WritebackSettings.from_env()
            yield self
            return
        if self._target != "sandbox":
            raise dg.DagsterInvariantViolationError(
                f"VendorSourcesResource.target must be 'sandbox' or 'vendors', not {self._target!r}"
            )
        from activation.writeback.settings import sandbox_writeback_settings
        from ingestion.config import sandbox_source_settings
        from sandbox import SandboxServer, open_sandbox_world
        from sandbox.state import STATE_FILE

        state_dir = Path(self.sandbox_state_dir) if self.sandbox_state_dir else load_paths().sandbox_dir
        world = open_sandbox_world(state_dir, preset=self.sandbox_preset)
        # writes received during the run (budget changes, winners) must outlive the run
        with SandboxServer(world, on_change=lambda w: w.save_state(state_dir / STATE_FILE)) as server:
            if context.log:
                context.log.info(f"Serving the sandbox world from {state_dir} at {server.base_url}")
            self._settings = sandbox_source_settings(server, world)
            self._writeback = sandbox_writeback_settings(server, world)
            self._clock = world.clock
            yield self

    def reference_time(self) -> Any:
        """ "Now" for freshness checks: the world clock in the sandbox, the wall clock otherwise."""
        from datetime import UTC, datetime, time

        settings = self.source_settings()
        if self._target == "sandbox" and settings.end_date is not None:
            return datetime.combine(settings.end_date, time.max, tzinfo=UTC)
        return datetime.now(UTC)

    def loop_now(self) -> Any:
        """ "Now" for the action queue (expiry, the day's budget changes, blackout dates): the
        world clock in the sandbox, so simulated weeks behave like real ones; the wall clock otherwise."""
        from datetime import UTC, datetime

        if self._settings is None:
            raise dg.DagsterInvariantViolationError("VendorSourcesResource used outside a run")
        return self._clock if self._target == "sandbox" and self._clock is not None else datetime.now(UTC)

    def writeback_settings(self) -> Any:
        """The ``activation.writeback.settings.WritebackSettings`` for this run."""
        if self._writeback is None:
            raise dg.DagsterInvariantViolationError("VendorSourcesResource used outside a run")
        return self._writeback

    def source_settings(self) -> Any:
        """The ``ingestion.config.SourceSettings`` for this run."""
        if self._settings is None:
            raise dg.DagsterInvariantViolationError("VendorSourcesResource used outside a run")
        return self._settings
