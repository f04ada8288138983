"""The UI's view of the code location: code references on every asset, freshness on marts and
results, checks on the decision and BI assets; each check run on a constructed bad warehouse."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from decision_engine.store import write_results
from orchestration.resources import LoopwisePathsResource, WarehouseResource

DECISION_CHECKS = {
    ("results", "budget_recommendations"): "budgets_add_up_to_the_total",
    ("results", "experiment_decisions"): "decisions_name_known_experiments",
    ("results", "anomaly_alerts"): "alerts_name_known_entities",
    ("results", "actions"): "approved_actions_within_policy",
    ("results", "action_log"): "executed_actions_within_policy",
    ("bi", "bi_snapshot"): "snapshot_opens_and_matches_the_warehouse",
}
STAMP = datetime(2026, 5, 2, 6, tzinfo=UTC)


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    from orchestration.definitions import build_defs

    return build_defs()


@pytest.fixture(scope="module")
def asset_graph(defs):
    return defs.resolve_asset_graph()


def test_every_asset_links_to_its_code(asset_graph) -> None:
    repo = Path(__file__).resolve().parents[2]
    for key in asset_graph.get_all_asset_keys():
        references = asset_graph.get(key).metadata.get("dagster/code_references")
        assert references is not None and references.code_references, key
        for reference in references.code_references:
            path = Path(reference.file_path)
            assert path.is_file() and repo in path.parents, (key, path)
    model = asset_graph.get(dg.AssetKey(["marts", "fct_orders"])).metadata["dagster/code_references"]
    assert any(
        reference.file_path.endswith("dbt_project/models/marts/core/fct_orders.sql")
        for reference in model.code_references
    )


def test_every_mart_and_result_has_a_freshness_policy_sized_to_its_schedule(asset_graph) -> None:
    keys = [key for key in asset_graph.get_all_asset_keys() if key.path[0] in ("marts", "results")]
    assert len(keys) > 20
    for key in keys:
        policy = asset_graph.get(key).freshness_policy
        assert policy is not None and policy.warn_window is not None, key
        hours = policy.fail_window.to_timedelta().total_seconds() / 3600
        expected = 2 if key.path == ["results", "anomaly_alerts"] else 26
        assert hours == expected, key
        assert policy.warn_window.to_timedelta() < policy.fail_window.to_timedelta(), key
    raw = asset_graph.get(dg.AssetKey(["raw_klaviyo", "events"]))
    assert raw.freshness_policy is None  # the sources' own freshness checks cover ingestion


def test_decision_and_bi_assets_carry_blocking_checks(defs, asset_graph) -> None:
    checks = {spec.key: spec for checks_def in defs.asset_checks or [] for spec in checks_def.check_specs}
    for path, name in DECISION_CHECKS.items():
        key = dg.AssetCheckKey(dg.AssetKey(list(path)), name)
        assert key in checks, key
        assert checks[key].blocking == (name != "executed_actions_within_policy"), key


def _check(defs: dg.Definitions, path: tuple[str, ...]) -> dg.AssetChecksDefinition:
    key = dg.AssetCheckKey(dg.AssetKey(list(path)), DECISION_CHECKS[path])
    return next(c for c in defs.asset_checks or [] if key in c.check_keys)


def _passed(result) -> bool:
    results = list(result) if not isinstance(result, dg.AssetCheckResult) else [result]
    return results[0].passed


def test_bi_snapshot_check_fails_on_a_missing_or_stale_snapshot(defs, tmp_path) -> None:
    from core.bi_snapshot import publish_bi_snapshot

    warehouse_path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse_path)) as con:
        con.execute(
            "create schema marts; create table marts.fct_orders as select range as order_id from range(5)"
        )
    paths = LoopwisePathsResource(home=str(tmp_path))
    check = _check(defs, ("bi", "bi_snapshot"))
    resources = {"warehouse": WarehouseResource(path=str(warehouse_path)), "loopwise_paths": paths}
    missing = check(**resources)
    assert not missing.passed and missing.metadata["opened"].value is False
    publish_bi_snapshot(warehouse_path, paths.paths().bi_snapshot)
    assert check(**resources).passed
    with duckdb.connect(str(warehouse_path)) as con:  # the warehouse moves on after the copy
        con.execute("insert into marts.fct_orders values (99)")
    stale = check(**resources)
    assert not stale.passed
    assert stale.metadata["mismatches"].value == {"marts.fct_orders": {"snapshot": 5, "warehouse": 6}}


def test_alert_check_fails_on_an_alert_about_an_unknown_ad(defs, tmp_path) -> None:
    warehouse_path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse_path)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.fct_monitoring_ads_daily as select 'meta_ads' as platform, 'ad1' as ad_id"
        )
        con.execute("create table marts.fct_monitoring_email_daily as select 'campaign' as email_stream")
        alerts = pd.DataFrame({"incident_id": ["i1", "i2"], "entity": ["ad:meta_ads:ad1", "ad:meta_ads:ghost"],
                               "analysis_timestamp": [STAMP] * 2, "analysis_date": [STAMP.date()] * 2})  # fmt: skip
        write_results(con, "anomaly_alerts", alerts)
    result = _check(defs, ("results", "anomaly_alerts"))(
        warehouse=WarehouseResource(path=str(warehouse_path))
    )
    assert not result.passed and result.metadata["examples"].value == ["ad:meta_ads:ghost"]


def test_budget_check_compares_with_the_total_the_run_allocated(defs, tmp_path) -> None:
    warehouse_path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse_path)) as con:
        frame = pd.DataFrame({"platform": ["meta_ads", "google_ads"], "ad_id": ["a1", "g1"],
                              "current_daily_spend": [100.0, 100.0], "recommended_daily_budget": [150.0, 100.0],
                              "currency": ["USD"] * 2, "analysis_timestamp": [STAMP] * 2,
                              "analysis_date": [STAMP.date()] * 2})  # fmt: skip
        write_results(con, "budget_recommendations", frame)
    check = _check(defs, ("results", "budget_recommendations"))
    key = dg.AssetKey(["results", "budget_recommendations"])
    warehouse = WarehouseResource(path=str(warehouse_path))
    with dg.instance_for_test() as instance:
        # the run was told to allocate 250 a day: 150 + 100 is right
        instance.report_runless_asset_event(
            dg.AssetMaterialization(key, metadata={"total_daily_budget": 250.0})
        )
        assert check(dg.build_asset_check_context(instance=instance), warehouse=warehouse).passed
        # a run that allocated today's spend (200) but wrote 250 is wrong
        instance.report_runless_asset_event(
            dg.AssetMaterialization(key, metadata={"total_daily_budget": 200.0})
        )
        result = check(dg.build_asset_check_context(instance=instance), warehouse=warehouse)
        assert not result.passed and result.metadata["difference"].value == pytest.approx(50.0)


def test_a_real_run_passes_every_decision_check_and_shows_previews(pipeline_home) -> None:
    run = pipeline_home.first_run
    for path, name in DECISION_CHECKS.items():
        assert run.check_results.get(f"{'/'.join(path)}:{name}") is True, (path, name)
    for key in ("results/budget_recommendations", "results/experiment_decisions", "results/anomaly_alerts",
                "results/actions", "results/customer_value"):  # fmt: skip
        preview = run.asset_metadata[key]["preview"]
        assert preview.startswith("| ") or preview.startswith("_No rows"), key
    charts = run.asset_metadata["results/budget_recommendations"]["charts"]
    assert "(http://127.0.0.1:3001/budget/budget_curves.html)" in charts
    assert (pipeline_home.paths.reports_dir / "budget" / "plotly.min.js").is_file()
