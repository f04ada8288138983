"""Loopwise ingestion: dlt sources for Klaviyo, HubSpot, Meta Ads and Google Ads -> DuckDB.

``run_source(name, duckdb_path, settings)`` runs one source into dataset ``raw_<name>``;
the dlt source functions live in ``ingestion.klaviyo``, ``ingestion.hubspot``,
``ingestion.meta_ads`` and ``ingestion.google_ads`` (contract: docs/contracts.md §2).
"""

from ingestion import google_ads, hubspot, klaviyo, meta_ads
from ingestion.config import SourceSettings
from ingestion.pipelines import SOURCES, finish_pending, make_pipeline, run_source
from ingestion.stats import LoadStats, load_stats

__all__ = [
    "google_ads",
    "hubspot",
    "klaviyo",
    "meta_ads",
    "SOURCES",
    "LoadStats",
    "SourceSettings",
    "finish_pending",
    "load_stats",
    "make_pipeline",
    "run_source",
]
