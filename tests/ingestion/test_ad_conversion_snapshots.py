"""Ad conversion snapshots: each read of the ad insights keeps the conversions as seen that day,
so a day's growth under late attribution is on record; reading twice on one day changes nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
from ingestion_test_helpers import sandbox_settings

from ingestion import run_source

SNAPSHOT_QUERIES = {
    "meta_ads": "select ad_id, date_start as day, observed_on, coalesce(purchases, 0) as conversions "
    "from raw_meta_ads.ad_conversion_snapshots",
    "google_ads": "select ad_id, date as day, observed_on, coalesce(conversions, 0) as conversions "
    "from raw_google_ads.ad_conversion_snapshots",
}


def _snapshots(path: Path, name: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return sorted(connection.execute(SNAPSHOT_QUERIES[name]).fetchall())


def test_snapshots_capture_growth_and_are_idempotent(sandbox: Any, tiny_spec: Any, tmp_path: Path) -> None:
    world = sandbox.World(tiny_spec)
    path, pipelines_dir = tmp_path / "warehouse.duckdb", tmp_path / "dlt"
    with sandbox.SandboxServer(world) as server:

        def load(name: str) -> None:
            settings = sandbox_settings(
                server,
                tiny_spec,
                end_date=(world.clock - timedelta(days=1)).date(),
                observed_on=world.clock.date(),
            )
            run_source(name, path, settings, pipelines_dir=pipelines_dir)

        first_clock = world.clock.date()
        for name in SNAPSHOT_QUERIES:
            load(name)
        once = {name: _snapshots(path, name) for name in SNAPSHOT_QUERIES}
        for name in SNAPSHOT_QUERIES:
            load(name)  # the same read again: replaced, not counted twice
        assert {name: _snapshots(path, name) for name in SNAPSHOT_QUERIES} == once
        world.advance(days=3)
        for name in SNAPSHOT_QUERIES:
            load(name)
    for name in SNAPSHOT_QUERIES:
        rows = _snapshots(path, name)
        assert {row[2] for row in once[name]} == {first_clock}, name
        first = {(ad, day): conv for ad, day, seen, conv in rows if seen == first_clock}
        later = {(ad, day): conv for ad, day, seen, conv in rows if seen > first_clock}
        assert first and later, name
        # the second read re-pulled the newest days (the platforms' lookback) and only those
        assert min(day for _, day in later) >= first_clock - timedelta(days=8), name
        both = [key for key in later if key in first]
        assert both, name
        # late attribution: no day lost conversions, and the youngest days gained some
        assert all(later[key] >= first[key] for key in both), name
        young = [key for key in both if key[1] >= first_clock - timedelta(days=2)]
        assert sum(later[key] for key in young) > sum(first[key] for key in young), name
        # the insight table itself holds only the newest numbers, which match the latest snapshot
        newest = {(ad, day): conv for ad, day, seen, conv in rows if seen == max(r[2] for r in rows)}
        table = "ad_insights_daily" if name == "meta_ads" else "ad_group_ad_daily"
        day_column, conv_column = (
            ("date_start", "purchases") if name == "meta_ads" else ("date", "conversions")
        )
        with duckdb.connect(str(path), read_only=True) as connection:
            current = dict(
                ((ad, day), conv)
                for ad, day, conv in connection.execute(
                    f"select ad_id, {day_column}, coalesce({conv_column}, 0) from raw_{name}.{table}"
                ).fetchall()
            )
        assert all(current[key] == conv for key, conv in newest.items()), name
