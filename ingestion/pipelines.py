"""dlt pipelines for the four sources: one DuckDB file, one dataset per source.

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
from dlt.extract.source import DltSource

from ingestion.config import SourceSettings
from ingestion.stats import LoadStats, load_stats

logger = logging.getLogger("ingestion.pipelines")

SOURCES: tuple[str, ...] = ("klaviyo", "hubspot", "meta_ads", "google_ads")


def dataset_name(name: str) -> str:
    return f"raw_{name}"


def pipeline_name(name: str) -> str:
    return f"loopwise_{name}"


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


def make_pipeline(
    name: str, duckdb_path: str | os.PathLike[str], pipelines_dir: str | os.PathLike[str] | None = None
) -> dlt.Pipeline:
    """Pipeline ``loopwise_<name>`` loading dataset ``raw_<name>`` into ``duckdb_path``.

    ``pipelines_dir`` keeps dlt's working state (pending packages, incremental state);
    ``None`` uses dlt's default.
    """
    if name not in SOURCES:
        raise ValueError(f"unknown source {name!r}; expected one of {', '.join(SOURCES)}")
    Path(duckdb_path).parent.mkdir(parents=True, exist_ok=True)
    return dlt.pipeline(
        pipeline_name=pipeline_name(name),
        destination=dlt.destinations.duckdb(str(duckdb_path)),
        dataset_name=dataset_name(name),
        pipelines_dir=None if pipelines_dir is None else str(pipelines_dir),
    )


def run_source(
    name: str,
    duckdb_path: str | os.PathLike[str],
    settings: SourceSettings,
    *,
    pipelines_dir: str | os.PathLike[str] | None = None,
    resources: Sequence[str] | None = None,
) -> tuple[LoadInfo, LoadStats]:
    """Run one source end to end; returns dlt's ``LoadInfo`` and :func:`load_stats`.

    ``resources`` optionally limits the run to some of the source's resources.
    """
    source = source_factory(name)(settings)
    if resources:
        source = source.with_resources(*resources)
    pipeline = make_pipeline(name, duckdb_path, pipelines_dir)
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
