"""Where Loopwise keeps its files, read from the environment in one place.

Every path derives from ``LOOPWISE_HOME`` (default ``./data``), so one setting moves the
warehouse, the BI snapshot, the sandbox world and Dagster's instance storage together.
Nothing here reads the environment at import time: call :func:`load_paths`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LoopwisePaths:
    home: Path

    @property
    def warehouse(self) -> Path:
        """The pipeline's read-write DuckDB file. BI never opens it."""
        return Path(os.environ.get("LOOPWISE_WAREHOUSE_PATH", self.home / "warehouse.duckdb"))

    @property
    def bi_snapshot(self) -> Path:
        """Read-only snapshot for BI, replaced atomically after each successful run."""
        return Path(os.environ.get("LOOPWISE_BI_SNAPSHOT_PATH", self.home / "bi" / "loopwise_bi.duckdb"))

    @property
    def sandbox_dir(self) -> Path:
        return self.home / "sandbox"

    @property
    def truth_dir(self) -> Path:
        """Ground truth of the sandbox world: for tests and benchmarks, never the pipeline."""
        return self.home / "sandbox_truth"

    @property
    def dagster_home(self) -> Path:
        return Path(os.environ.get("DAGSTER_HOME", self.home / "dagster_home"))

    @property
    def dlt_pipelines_dir(self) -> Path:
        """dlt's working state (pending load packages, incremental cursors)."""
        return self.home / "dlt_pipelines"

    @property
    def lake(self) -> Path:
        """The Spark engine's raw lake: one Parquet directory per raw table (``<lake>/raw_klaviyo/events``)."""
        return Path(os.environ.get("LOOPWISE_LAKE_PATH", self.home / "lake"))

    @property
    def spark_warehouse(self) -> Path:
        """Where the Spark engine's dbt models live as Parquet tables (``spark.sql.warehouse.dir``)."""
        return Path(os.environ.get("LOOPWISE_SPARK_WAREHOUSE", self.home / "spark_warehouse"))

    @property
    def spark_metastore(self) -> Path:
        """The local Spark session's catalog (a Derby database): which tables exist and where."""
        return Path(os.environ.get("LOOPWISE_SPARK_METASTORE", self.home / "spark_metastore"))

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    def report_dir(self, domain: str) -> Path:
        """Where a decision domain writes its charts (created on first use)."""
        directory = self.reports_dir / domain
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    @property
    def outbox_dir(self) -> Path:
        """Local outbox for notifications in the demo (nothing leaves the machine)."""
        return self.home / "outbox"


def load_paths(home: str | os.PathLike[str] | None = None) -> LoopwisePaths:
    root = Path(home) if home is not None else Path(os.environ.get("LOOPWISE_HOME", "data"))
    return LoopwisePaths(home=root.resolve())


# The repository root: where the default policy.yaml lives.
REPO_ROOT = Path(__file__).resolve().parents[1]


def policy_path() -> Path:
    """The policy file the loop runs under: ``LOOPWISE_POLICY`` if set, else ``<repo root>/policy.yaml``."""
    return Path(os.environ.get("LOOPWISE_POLICY", REPO_ROOT / "policy.yaml"))


@contextlib.contextmanager
def policy_in_force(path: str | os.PathLike[str]) -> Iterator[None]:
    """Runs started inside the block read ``path`` as their policy; the previous setting comes back after."""
    before = os.environ.get("LOOPWISE_POLICY")
    os.environ["LOOPWISE_POLICY"] = str(path)
    try:
        yield
    finally:
        if before is None:
            del os.environ["LOOPWISE_POLICY"]
        else:
            os.environ["LOOPWISE_POLICY"] = before


# Where ``loopwise dev`` serves the decision charts (core/chart_server.py); the UI links there.
CHARTS_HOST = "127.0.0.1"
CHARTS_PORT = 3001
CHARTS_URL_ENV = "LOOPWISE_CHARTS_URL"


def charts_url() -> str:
    """Base URL of the chart server: ``LOOPWISE_CHARTS_URL``, else ``http://127.0.0.1:3001``."""
    return os.environ.get(CHARTS_URL_ENV, f"http://{CHARTS_HOST}:{CHARTS_PORT}").rstrip("/")


ACCOUNT_TIMEZONE_ENV = "LOOPWISE_ACCOUNT_TIMEZONE"


def account_timezone() -> str:
    """The account's time zone (IANA name): ``LOOPWISE_ACCOUNT_TIMEZONE``, default ``UTC``. The weekly
    digest runs on Monday 07:00 there and reports its days in it. An unknown name is an error."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = os.environ.get(ACCOUNT_TIMEZONE_ENV, "").strip() or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(
            f"{ACCOUNT_TIMEZONE_ENV}={name!r} is not a known time zone (e.g. Europe/Berlin)"
        ) from error
    return name


def sources_target() -> str:
    """Where the vendor sources read from: ``sandbox`` (the embedded default) or ``vendors``."""
    return os.environ.get("LOOPWISE_SOURCES_TARGET", "sandbox")


def export_paths(paths: LoopwisePaths) -> Path:
    """Point child components (Dagster, dbt, runs started later) at ``paths``.

    Sets ``LOOPWISE_HOME`` and, unless the user set one, ``DAGSTER_HOME``; returns the
    Dagster instance directory in use.
    """
    os.environ["LOOPWISE_HOME"] = str(paths.home)
    return Path(os.environ.setdefault("DAGSTER_HOME", str(paths.dagster_home)))


def prepend_to_path(directory: str | os.PathLike[str]) -> None:
    """Put ``directory`` first on ``PATH``, as an activated virtualenv does."""
    os.environ["PATH"] = f"{directory}{os.pathsep}{os.environ.get('PATH', '')}"


def disable_gx_analytics() -> None:
    """Great Expectations sends usage analytics unless told not to; a user's explicit setting wins."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


# Set by the dbt asset for its dbt child: the pid that starts dbt (orchestration/.../dbt_launcher.py).
DBT_PARENT_PID_ENV = "LOOPWISE_DBT_PARENT_PID"


def dbt_parent_pid() -> int | None:
    """The pid that started this dbt process, as the dbt asset recorded it (see ``dbt_launcher``)."""
    value = os.environ.get(DBT_PARENT_PID_ENV, "")
    return int(value) if value.isdigit() else None


ENGINE_ENV = "LOOPWISE_ENGINE"
ENGINES = ("duckdb", "spark")
DBT_TARGETS = {"duckdb": "local", "spark": "spark"}
"""The dbt target each engine builds with unless ``LOOPWISE_DBT_TARGET`` names another of
``dbt_project/profiles.yml`` (``spark_thrift``, ``databricks``: a cluster instead of a local session)."""


DUCKDB_MEMORY_ENV = "LOOPWISE_DUCKDB_MEMORY_LIMIT"
DEFAULT_DUCKDB_MEMORY = "1GB"


def duckdb_memory_limit() -> str:
    """DuckDB's memory on a run's warehouse connections: ``LOOPWISE_DUCKDB_MEMORY_LIMIT``, default 1GB.

    Unset, DuckDB takes 80 % of the machine and keeps what it read cached: the decisions on the
    large world peaked at 6.3 GB with no cap."""
    return os.environ.get(DUCKDB_MEMORY_ENV, "").strip() or DEFAULT_DUCKDB_MEMORY


def engine() -> str:
    """The engine dbt builds the models on: ``LOOPWISE_ENGINE``, ``duckdb`` (default) or ``spark``."""
    name = os.environ.get(ENGINE_ENV, "").strip().lower() or "duckdb"
    if name not in ENGINES:
        raise ValueError(
            f"{ENGINE_ENV}={name!r} is not an engine Loopwise runs on: use one of {', '.join(ENGINES)}"
        )
    return name


SPARK_CLUSTER_TARGETS = ("spark_thrift", "databricks")


def dbt_target() -> str:
    """The dbt target for :func:`engine`: ``LOOPWISE_DBT_TARGET`` if set, else the engine's own. A
    target of the other engine is an error: the run would build on one and read from the other."""
    name = engine()
    target = os.environ.get("LOOPWISE_DBT_TARGET", "").strip() or DBT_TARGETS[name]
    spark_targets = (DBT_TARGETS["spark"], *SPARK_CLUSTER_TARGETS)
    if (name == "duckdb" and target in spark_targets) or (
        name == "spark" and target == DBT_TARGETS["duckdb"]
    ):
        raise ValueError(
            f"LOOPWISE_DBT_TARGET={target!r} does not build on {ENGINE_ENV}={name!r}: "
            f"set {ENGINE_ENV}={'spark' if name == 'duckdb' else 'duckdb'} or another target"
        )
    return target


def on_local_spark_session() -> bool:
    """The models build on the local Spark session (not a cluster): Loopwise then publishes the raw
    lake before the build and registers it in the session's catalog (docs/scaling_out.md)."""
    return engine() == "spark" and dbt_target() == DBT_TARGETS["spark"]


@contextlib.contextmanager
def temporary_environ(values: dict[str, str]) -> Iterator[None]:
    """``values`` in the environment inside the block (for the dbt child a run starts), the previous
    values back after it: a process that runs more than one home or engine is not pinned to the first."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def dbt_engine_env(paths: LoopwisePaths) -> dict[str, str]:
    """Environment a dbt run needs for the engine in use: the target and, on Spark, where the
    session keeps its tables and catalog."""
    env = {"LOOPWISE_DBT_TARGET": dbt_target()}
    if engine() == "spark":
        env |= {
            "LOOPWISE_LAKE_PATH": str(paths.lake),
            "LOOPWISE_SPARK_WAREHOUSE": str(paths.spark_warehouse),
            "LOOPWISE_SPARK_METASTORE": str(paths.spark_metastore),
            "PYSPARK_SUBMIT_ARGS": os.environ.get("PYSPARK_SUBMIT_ARGS") or spark_submit_args(paths),
        }
    return env


SPARK_LOG4J = REPO_ROOT / "deploy" / "spark" / "log4j2.properties"


def spark_submit_args(paths: LoopwisePaths) -> str:
    """How dbt's local Spark session starts its JVM (set only on the command line, before it starts):
    the driver's heap (``LOOPWISE_SPARK_DRIVER_MEMORY``, default 4g), errors-only logging, and
    Derby's log beside the metastore instead of in the working directory."""
    memory = os.environ.get("LOOPWISE_SPARK_DRIVER_MEMORY", "4g")
    java_options = (
        f"-Dlog4j2.configurationFile=file:{SPARK_LOG4J} -Dderby.system.home={paths.spark_metastore.parent}"
    )
    return f'--driver-memory {memory} --driver-java-options "{java_options}" pyspark-shell'
