"""Helpers shared by the ingestion source tests (settings for a sandbox server, table snapshots)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb

from ingestion.config import RetryPolicy, SourceSettings

FAST_RETRY = RetryPolicy(
    timeout_seconds=5.0,
    max_attempts=8,
    backoff_base_seconds=0.05,
    backoff_max_seconds=1.0,
    max_total_backoff_seconds=30.0,
)


def sandbox_settings(server: Any, spec: Any, **overrides: Any) -> SourceSettings:
    """Settings pointing every source at ``server`` (base URL + key change only)."""
    urls = server.vendor_base_urls
    keys = spec.api_keys
    settings = SourceSettings(
        klaviyo_api_key=keys["klaviyo"],
        klaviyo_base_url=urls["klaviyo"],
        hubspot_access_token=keys["hubspot"],
        hubspot_base_url=urls["hubspot"],
        meta_access_token=keys["meta"],
        meta_account_id=str(spec.meta_account_id),
        meta_base_url=urls["meta"],
        google_ads_refresh_token=keys["google_refresh_token"],
        google_ads_client_id=keys["google_client_id"],
        google_ads_client_secret=keys["google_client_secret"],
        google_ads_token_url=f"{urls['google_oauth']}/token",
        google_ads_developer_token=keys["google_ads"],
        google_ads_customer_id=str(spec.google_customer_id),
        google_ads_base_url=urls["google_ads"],
        start_date=spec.start_date,
        retry=FAST_RETRY,
        meta_report_poll_seconds=0.01,
    )
    return replace(settings, **overrides)


def table_snapshot(duckdb_path: Path, dataset: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every data table of ``dataset`` as sorted rows without dlt's bookkeeping columns."""
    snapshot: dict[str, list[tuple[Any, ...]]] = {}
    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1",
                [dataset],
            ).fetchall()
            if not row[0].startswith("_dlt")
        ]
        for table in tables:
            cols = [
                row[0]
                for row in connection.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?"
                    " ORDER BY ordinal_position",
                    [dataset, table],
                ).fetchall()
                if not row[0].startswith("_dlt") and row[0] != "quarantined_at"
            ]
            select = ", ".join(f'"{c}"' for c in cols)
            rows = connection.execute(f'SELECT {select} FROM {dataset}."{table}"').fetchall()
            snapshot[table] = sorted(rows, key=repr)
    return snapshot
