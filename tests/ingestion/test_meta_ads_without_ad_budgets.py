"""A warehouse loaded when Meta ads still carried a per-ad daily_budget keeps loading after the change.

Meta ads have no budget (the ad set or the CBO campaign holds it). An older Loopwise stored a
``daily_budget`` column on ``raw_meta_ads.ads``; the current source neither asks for nor stores
it. Re-running into that warehouse must succeed (dlt never drops a column), converge (every
re-listed ad replaces its stored row whole, so the stale per-ad budget becomes null) and lose
no other data.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pytest
from ingestion_test_helpers import sandbox_settings

from ingestion import ads_records, run_source


def _ads(path: Any) -> dict[str, tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as connection:
        rows = connection.execute(
            "select ad_id, adset_id, campaign_id, status, daily_budget from raw_meta_ads.ads"
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


def test_old_warehouse_with_ad_budgets_converges(
    tmp_path: Any, shared_server: Any, tiny_spec: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, pipelines_dir = tmp_path / "warehouse.duckdb", tmp_path / "dlt"
    settings = sandbox_settings(shared_server, tiny_spec)
    current_flatten = ads_records.flatten_meta_ad

    with monkeypatch.context() as old:  # the loader as it was: a per-ad budget column
        old.setattr(
            ads_records,
            "META_AD_COLUMNS",
            {**ads_records.META_AD_COLUMNS, "daily_budget": {"data_type": "double", "nullable": True}},
        )
        old.setattr(
            ads_records, "flatten_meta_ad", lambda record: {**current_flatten(record), "daily_budget": 25.0}
        )
        run_source("meta_ads", path, settings, pipelines_dir=pipelines_dir, resources=["ads"])
    before = _ads(path)
    assert before and all(row[3] == 25.0 for row in before.values())

    run_source("meta_ads", path, settings, pipelines_dir=pipelines_dir, resources=["ads"])
    after = _ads(path)
    assert after.keys() == before.keys()
    assert all(after[ad][:3] == before[ad][:3] for ad in after)  # nothing else changed or got lost
    assert all(row[3] is None for row in after.values())  # the stale per-ad budget is gone

    run_source("meta_ads", path, settings, pipelines_dir=pipelines_dir, resources=["ads"])
    assert _ads(path) == after  # a re-run converges
