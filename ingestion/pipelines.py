"""dlt pipelines for the four sources: one dataset per source, in the DuckDB file or, on the Spark
engine, in the raw lake (dlt's filesystem destination: Parquet files, one directory per table).

:func:`run_source` first finishes load packages a killed run left behind (dlt keeps
them), then extracts, normalizes and loads new data. Merge keys make both steps
idempotent, so an interrupted run followed by a re-run converges to the same warehouse
as an uninterrupted one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import dlt
from dlt.common.pipeline import LoadInfo
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.extract.source import DltSource

from ingestion.config import SourceSettings
from ingestion.stats import LoadStats, load_stats

logger = logging.getLogger("ingestion.pipelines")

SOURCES: tuple[str, ...] = ("klaviyo", "hubspot", "meta_ads", "google_ads")

DUCKDB_MEMORY_LIMIT = "1GB"
"""DuckDB runs inside the pipeline's process. Unlimited it takes up to 80% of RAM, and the
merge (dlt's ``ROW_NUMBER()`` dedup of the staging table) held the whole load in memory:
peak RSS grew with the rows of one load (3.2 GB for 5.7M events). With a limit it spills
to ``<warehouse>.duckdb.tmp`` and the peak stays about the limit + ~200 MB of Python; below
~1 GB the dedup spills so much that the load step took 2-3x longer
(benchmarks/results/ingestion_memory.md)."""
DUCKDB_SETTINGS: dict[str, str | bool] = {
    # lets DuckDB stream INSERT ... SELECT without buffering for row order (less spilling);
    # row order in a table is meaningless to the merge and to every reader.
    "preserve_insertion_order": False,
}


PARQUET_NORMALIZER = {"add_dlt_load_id": True, "add_dlt_id": False}
"""Rows a resource yields as Arrow tables (Klaviyo events) skip dlt's per-row normalisation. They
get the same ``_dlt_load_id`` / ``_dlt_id`` columns as rows yielded as dicts, so every table keeps
one shape (the raw GX gates select a load's rows by ``_dlt_load_id``): dlt adds the load id when it
extracts them, and the resource sets ``_dlt_id`` itself (``ingestion.validation.with_row_ids``).
Letting dlt add ``_dlt_id`` made it rewrite every extracted file in the normalize step with a random
id per row: 41 s of the large world's year (23M events); now the files are imported as written."""


def configure_arrow_loads() -> None:
    """Set :data:`PARQUET_NORMALIZER` in dlt's in-memory config (once per process, idempotent)."""
    for option, value in PARQUET_NORMALIZER.items():
        dlt.config[f"normalize.parquet_normalizer.{option}"] = value


class _ExpectedAppendFallback(logging.Filter):
    """Drops dlt's "Falling back to `append`" warning (three per table per load into the lake):
    appending is how the lake works (:func:`make_pipeline`), said once per pipeline instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Falling back to `append`" not in record.getMessage()


_APPEND_FALLBACK_FILTER = _ExpectedAppendFallback()


def dataset_name(name: str) -> str:
    return f"raw_{name}"


def pipeline_name(name: str, lake: bool = False) -> str:
    """``loopwise_<name>``; ``loopwise_<name>_lake`` for the lake, whose incremental state (what
    was loaded) is its own: a home that changes engine loads the lake from the start."""
    return f"loopwise_{name}_lake" if lake else f"loopwise_{name}"


def source_factory(name: str) -> Callable[[SourceSettings], DltSource]:
    """The dlt source function for ``name`` (imported lazily)."""
    if name == "klaviyo":
        from ingestion.klaviyo import klaviyo_source

        return klaviyo_source
    if name == "hubspot":
        from ingestion.hubspot import hubspot_source

        return hubspot_source
    if name == "meta_ads":
        from ingestion.meta_ads import meta_ads_source

        return meta_ads_source
    if name == "google_ads":
        from ingestion.google_ads import google_ads_source

        return google_ads_source
    raise ValueError(f"unknown source {name!r}; expected one of {', '.join(SOURCES)}")


def duckdb_credentials(
    duckdb_path: str | os.PathLike[str], memory_limit: str | None = DUCKDB_MEMORY_LIMIT
) -> DuckDbCredentials:
    """Credentials for the warehouse file with bounded DuckDB memory (``None``: DuckDB's default)."""
    settings: dict[str, str | bool] = dict(DUCKDB_SETTINGS)
    if memory_limit:
        settings["memory_limit"] = memory_limit
    return DuckDbCredentials(str(duckdb_path), global_config=settings)


def make_pipeline(
    name: str,
    duckdb_path: str | os.PathLike[str],
    pipelines_dir: str | os.PathLike[str] | None = None,
    *,
    duckdb_memory_limit: str | None = DUCKDB_MEMORY_LIMIT,
    lake: str | os.PathLike[str] | None = None,
) -> dlt.Pipeline:
    """Pipeline ``loopwise_<name>`` loading dataset ``raw_<name>`` into ``duckdb_path``.

    ``pipelines_dir`` keeps dlt's working state (pending packages, incremental state);
    ``None`` uses dlt's default. ``duckdb_memory_limit`` caps DuckDB's memory in this
    process (it spills to disk beyond it), which bounds the load step's peak memory.

    ``lake``: load into dlt's filesystem destination there instead (the Spark engine's raw
    lake, ``<lake>/raw_<name>/<table>/<load id>.<file id>.parquet``). Parquet files cannot be
    merged into, so dlt appends each load ("Falling back to `append`"); readers take the newest
    row per primary key (the staging models, and ``core.lake.attach_lake_tables``' views).
    """
    if name not in SOURCES:
        raise ValueError(f"unknown source {name!r}; expected one of {', '.join(SOURCES)}")
    configure_arrow_loads()
    if lake is not None:
        Path(lake).mkdir(parents=True, exist_ok=True)
        destination = dlt.destinations.filesystem(bucket_url=Path(lake).resolve().as_uri())
        logging.getLogger("dlt").addFilter(_APPEND_FALLBACK_FILTER)  # a set: adding twice is a no-op
        logger.info("%s: loading into the lake at %s; each load is appended", pipeline_name(name, True), lake)
    else:
        Path(duckdb_path).parent.mkdir(parents=True, exist_ok=True)
        destination = dlt.destinations.duckdb(duckdb_credentials(duckdb_path, duckdb_memory_limit))
    return dlt.pipeline(
        pipeline_name=pipeline_name(name, lake=lake is not None),
        destination=destination,
        dataset_name=dataset_name(name),
        pipelines_dir=None if pipelines_dir is None else str(pipelines_dir),
    )


def primary_keys(pipeline: dlt.Pipeline) -> dict[str, list[str]]:
    """Table -> its primary key columns, as the pipeline's schema declares them (tables with one)."""
    keys: dict[str, list[str]] = {}
    for table, schema in pipeline.default_schema.tables.items():
        columns = [name for name, column in schema.get("columns", {}).items() if column.get("primary_key")]
        if columns:
            keys[table] = columns
    return keys


def run_source(
    name: str,
    duckdb_path: str | os.PathLike[str],
    settings: SourceSettings,
    *,
    pipelines_dir: str | os.PathLike[str] | None = None,
    resources: Sequence[str] | None = None,
    lake: str | os.PathLike[str] | None = None,
) -> tuple[LoadInfo, LoadStats]:
    """Run one source end to end; returns dlt's ``LoadInfo`` and :func:`load_stats`.

    ``resources`` optionally limits the run to some of the source's resources; ``lake`` loads
    into the raw lake instead of ``duckdb_path`` (:func:`make_pipeline`).
    """
    source = source_factory(name)(settings)
    if resources:
        source = source.with_resources(*resources)
    pipeline = make_pipeline(name, duckdb_path, pipelines_dir, lake=lake)
    infos: list[LoadInfo] = []
    pending = finish_pending(pipeline)
    if pending is not None:
        infos.append(pending)
    load_info = pipeline.run(source)
    infos.append(load_info)
    stats = load_stats(pipeline, infos)
    logger.info(
        "%s: rows %s, quarantined %s, unexpected fields %s",
        pipeline.pipeline_name,
        stats.row_counts,
        stats.quarantined_by_reason,
        stats.unexpected_by_table,
    )
    return load_info, stats


def finish_pending(pipeline: dlt.Pipeline) -> LoadInfo | None:
    """Normalize and load packages an interrupted run left behind; ``None`` if there were none.

    Call before ``pipeline.run(source)``: with pending packages dlt's ``run`` loads them
    and returns without extracting the new data.
    """
    if not pipeline.has_pending_data:
        return None
    logger.warning("%s: finishing load packages left by an interrupted run", pipeline.pipeline_name)
    return pipeline.run()
