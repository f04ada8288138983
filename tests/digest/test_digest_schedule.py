"""The digest's Dagster definitions: one asset under reports/, its own job, a schedule on Monday 07:00
in the account's time zone; daily_refresh leaves it out."""

from __future__ import annotations

import dagster as dg
import pytest
from digest_warehouse import digest_warehouse

from core.settings import account_timezone
from orchestration.defs.digest.definitions import DIGEST_KEY, WEEKLY_DIGEST_JOB, build_definitions
from orchestration.resources import LoopwisePathsResource, WarehouseResource

UPSTREAM = [dg.AssetKey(["results", "actions"]), dg.AssetKey(["results", "experiment_decisions"])]


def _schedule(defs: dg.Definitions) -> dg.ScheduleDefinition:
    (schedule,) = defs.schedules
    return schedule


def test_monday_seven_in_the_account_time_zone(monkeypatch) -> None:
    monkeypatch.setenv("LOOPWISE_ACCOUNT_TIMEZONE", "America/New_York")
    schedule = _schedule(build_definitions(UPSTREAM))
    assert schedule.cron_schedule == "0 7 * * 1"
    assert schedule.execution_timezone == "America/New_York"
    assert schedule.job_name == WEEKLY_DIGEST_JOB
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    monkeypatch.delenv("LOOPWISE_ACCOUNT_TIMEZONE")
    assert _schedule(build_definitions(UPSTREAM)).execution_timezone == "UTC" == account_timezone()


def test_an_unknown_time_zone_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setenv("LOOPWISE_ACCOUNT_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValueError, match="LOOPWISE_ACCOUNT_TIMEZONE='Mars/Olympus' is not a known time zone"):
        account_timezone()


def _resources(home) -> dict:
    return {
        "warehouse": WarehouseResource(path=str(home / "warehouse.duckdb")),
        "loopwise_paths": LoopwisePathsResource(home=str(home)),
    }


def test_the_asset_depends_on_the_results_it_reads_and_the_job_selects_only_it(tmp_path) -> None:
    defs = build_definitions(UPSTREAM)
    (asset,) = defs.assets
    assert asset.key == DIGEST_KEY == dg.AssetKey(["reports", "weekly_digest"])
    assert set(asset.asset_deps[DIGEST_KEY]) == set(UPSTREAM)
    assert asset.group_names_by_key[DIGEST_KEY] == "reports"
    job = dg.Definitions(assets=[asset], jobs=defs.jobs, resources=_resources(tmp_path)).resolve_job_def(
        WEEKLY_DIGEST_JOB
    )
    assert set(job.asset_layer.selected_asset_keys) == {DIGEST_KEY}


def test_materializing_the_asset_writes_the_report_and_sends_it_once(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LOOPWISE_HOME", str(tmp_path))  # the notifier's outbox and ledger
    digest_warehouse(tmp_path / "warehouse.duckdb")[0].close()
    (asset,) = build_definitions(UPSTREAM).assets
    for attempt in ("first", "again"):
        result = dg.materialize([asset], resources=_resources(tmp_path), selection=[DIGEST_KEY])
        assert result.success, attempt
    metadata = result.asset_materializations_for_node("reports__weekly_digest")[0].metadata
    html = metadata["path"].value
    assert html.startswith(str(tmp_path / "reports" / "digest")) and html.endswith(".html")
    assert metadata["pending_approvals"].value == 2 and metadata["summary"].value == "none"
    assert metadata["sent"].value == [{"channel": "outbox", "result": "deduplicated"}]  # the second run
    assert len(list((tmp_path / "outbox").glob("digest-*_digest.json"))) == 1
