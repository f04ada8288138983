"""The whole data loop on a tiny sandbox world: lineage, idempotence, gates, BI snapshot."""

from __future__ import annotations

import math
import os

import duckdb
import pytest

RAW_SCHEMAS = ("raw_klaviyo", "raw_hubspot", "raw_meta_ads", "raw_google_ads")

PRIMARY_KEYS = {
    "raw_klaviyo.events": ["event_id"],
    "raw_klaviyo.profiles": ["profile_id"],
    "raw_hubspot.contacts": ["contact_id"],
    "raw_hubspot.deals": ["deal_id"],
    "raw_meta_ads.ad_insights_daily": ["ad_id", "date_start"],
    "raw_google_ads.ad_group_ad_daily": ["ad_id", "date"],
    "marts.dim_contacts": ["contact_id"],
    "marts.fct_email_sends": ["email_send_id"],
    "marts.fct_ad_performance_daily": ["platform", "ad_id", "date_day"],
    "marts.fct_experiment_exposures": ["experiment_id", "unit_id", "variant"],
    "marts.fct_deals": ["deal_id"],
}


def _counts(path) -> dict[str, int]:
    from loopwise.summary import table_row_counts

    return table_row_counts(str(path))


def _duplicate_keys(path, table: str, columns: list[str]) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        cols = ", ".join(columns)
        return con.execute(
            f"select count(*) from (select {cols} from {table} group by {cols} having count(*) > 1)"
        ).fetchone()[0]
    finally:
        con.close()


def test_first_run_materializes_everything_and_checks_pass(pipeline_home):
    run = pipeline_home.first_run
    assert run.success, run.failed_steps
    materialized = set(run.materialized)
    for key in (
        "raw_klaviyo/events",
        "raw_hubspot/deals",
        "raw_meta_ads/ad_insights_daily",
        "raw_google_ads/ad_group_ad_daily",
        "marts/fct_email_sends",
        "marts/dim_contacts",
        "marts/fct_ad_performance_daily",
        "marts/fct_experiment_exposures",
        "bi/bi_snapshot",
    ):
        assert key in materialized
    failed_error_checks = [name for name, passed in run.check_results.items() if not passed]
    assert "great_expectations_blocking" in " ".join(run.check_results)
    assert "great_expectations_warnings" in " ".join(run.check_results)
    # WARN-only failures are allowed (freshness); none of the checks may block the run.
    assert run.success and "bi/bi_snapshot" in materialized, failed_error_checks
    counts = _counts(pipeline_home.paths.warehouse)
    assert counts["raw_klaviyo.events"] > 1000
    assert counts["marts.fct_email_sends"] > 100
    assert counts["marts.fct_ad_performance_daily"] > 50


def test_the_run_leaves_the_process_environment_as_it_was(pipeline_home):
    """The run was in this process: the dbt asset points its dbt child at the home's warehouse
    (LOOPWISE_WAREHOUSE_PATH) for the build only. Left set, the next home run in the same process
    (a test after this one, `loopwise simulate`'s) would build and read this home's warehouse."""
    assert os.environ.get("LOOPWISE_WAREHOUSE_PATH") != str(pipeline_home.paths.warehouse)


def test_table_materializations_carry_row_counts_and_table_names(pipeline_home):
    """Raw (dlt), dbt and results materializations: the table's row count and `schema.table` name;
    dbt models also the column types DuckDB reports."""
    from orchestration.asset_metadata import table_name

    counts = _counts(pipeline_home.paths.warehouse)
    metadata = pipeline_home.first_run.asset_metadata
    tables = {key: table_name(dg_key(*key.split("/"))) for key in metadata}
    tables = {key: table for key, table in tables.items() if table and table in counts}
    for prefix in ("raw_", "marts/", "results/"):
        assert any(key.startswith(prefix) for key in tables), prefix
    assert metadata["staging/stg_klaviyo__events"]["dagster/row_count"] > 0  # views are counted too
    for key, table in tables.items():
        assert metadata[key]["dagster/table_name"] == table, key
        assert isinstance(metadata[key]["dagster/row_count"], int), key
        if key.startswith(("raw_", "marts/")):  # not written again later in the run
            assert metadata[key]["dagster/row_count"] == counts[table], key
    schema = metadata["marts/fct_crm_funnel"]["dagster/column_schema"]
    types = {column.name: column.type for column in schema.columns}
    assert types["days_in_previous_stage"] == "DOUBLE"
    # the decision log says how its predictions held up; one run: nothing matured yet
    assert metadata["results/decision_log"]["matured_changes"] == 0
    assert "calibration" not in metadata["results/decision_log"]


def test_lineage_is_one_graph_from_dlt_to_bi():
    from orchestration.definitions import build_defs

    defs = build_defs()
    graph = defs.resolve_asset_graph()
    raw_events = graph.get(dg_key("raw_klaviyo", "events"))
    assert raw_events.is_materializable  # the dlt asset itself, not an external stand-in
    upstream = graph.get(dg_key("bi", "bi_snapshot")).parent_keys
    assert dg_key("marts", "fct_email_sends") in upstream
    ancestors = _ancestors(graph, dg_key("marts", "fct_ad_performance_daily"))
    assert dg_key("raw_meta_ads", "ad_insights_daily") in ancestors
    assert dg_key("raw_google_ads", "ad_group_ad_daily") in ancestors
    # the conversion snapshots are written by the insight resources and read by the anomaly scan
    snapshots = dg_key("marts", "fct_ad_conversion_snapshots")
    assert {dg_key("raw_meta_ads", "ad_insights_daily"), dg_key("raw_google_ads", "ad_group_ad_daily")} <= (
        _ancestors(graph, snapshots)
    )
    assert snapshots in graph.get(dg_key("results", "anomaly_alerts")).parent_keys
    groups = {graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == {
        "ingestion",
        "staging",
        "intermediate",
        "marts",
        "decisions",
        "actions",
        "bi",
        "reports",
    }


def dg_key(*parts):
    import dagster as dg

    return dg.AssetKey(list(parts))


def _ancestors(graph, key):
    seen, stack = set(), [key]
    while stack:
        for parent in graph.get(stack.pop()).parent_keys:
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return seen


def test_rerun_converges_to_the_same_warehouse(pipeline_home, tmp_path, isolated_env):
    from pipeline_helpers import clone_home

    from loopwise.runner import run_job

    paths, instance = clone_home(pipeline_home.paths.home, tmp_path / "home", isolated_env)
    before = _counts(paths.warehouse)
    try:
        second = run_job("daily_refresh", instance=instance)
    finally:
        instance.dispose()
    assert second.success, second.failed_steps
    after = _counts(paths.warehouse)
    compared = {k: v for k, v in before.items() if not k.startswith("quality.")}
    assert {k: after[k] for k in compared} == compared
    for table, columns in PRIMARY_KEYS.items():
        assert _duplicate_keys(paths.warehouse, table, columns) == 0, table


def test_campaigns_scheduled_after_the_daily_run_join_the_running_tests(
    pipeline_home, tmp_path, isolated_env
):
    from pipeline_helpers import clone_home

    from decision_engine.experiments.launch import TEMPLATE_MARK
    from loopwise.runner import run_job
    from orchestration.defs.jobs.definitions import TEST_SUBJECTS_JOB
    from sandbox import STATE_FILE, World

    paths, instance = clone_home(pipeline_home.paths.home, tmp_path / "home", isolated_env)
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        launched = con.execute(
            "select count(*) from results.actions where action_type = 'launch_experiment' and status = 'executed'"
        ).fetchone()[0]
    assert launched >= 1  # the first daily run launched a test of the shipped policy's library
    state = paths.sandbox_dir / STATE_FILE
    world = World.load_state(state)
    known = {c.campaign_id for c in world.plan.campaigns if c.created_ts <= world.clock_ts}
    # to the day after the next one-message campaign is scheduled (the marketer schedules 1-7
    # days ahead), as the hourly schedule would find it
    created = min(
        c.created_ts for c in world.plan.campaigns if c.created_ts > world.clock_ts and len(c.messages) == 1
    )
    world.advance(math.ceil((created - world.clock_ts) / 86400))
    world.save_state(state)

    def upcoming_new(w: World) -> list:
        return [
            c
            for c in w.plan.campaigns
            if c.campaign_id not in known and c.created_ts <= w.clock_ts < c.send_ts and len(c.messages) == 1
        ]

    new = upcoming_new(world)
    assert new
    assert not any(TEMPLATE_MARK in world.message_subject(world.plan.messages[c.messages[0]]) for c in new)
    try:
        run = run_job(TEST_SUBJECTS_JOB, instance=instance)
    finally:
        instance.dispose()
    assert run.success, run.failed_steps
    world = World.load_state(state)
    for camp in upcoming_new(world):
        assert TEMPLATE_MARK in world.message_subject(world.plan.messages[camp.messages[0]]), camp.name
        # and content choice reached them: the job rebuilt their topic (marts.dim_message_content)
        assert "lw_angle_" in world.message_preview_text(world.plan.messages[camp.messages[0]]), camp.name


def test_full_refresh_rerun_rebuilds_the_incremental_models_to_the_same_warehouse(
    pipeline_home, tmp_path, isolated_env
):
    from pipeline_helpers import clone_home

    from loopwise.runner import run_job

    paths, instance = clone_home(pipeline_home.paths.home, tmp_path / "home", isolated_env)
    before = _counts(paths.warehouse)
    try:
        rerun = run_job(
            "daily_refresh",
            instance=instance,
            run_config={"ops": {"loopwise_dbt_models": {"config": {"full_refresh": True}}}},
        )
        dbt_commands = [
            entry.user_message
            for entry in instance.all_logs(rerun.run_id)
            if "Running dbt command" in (entry.user_message or "")
        ]
    finally:
        instance.dispose()
    assert rerun.success, rerun.failed_steps
    assert len(dbt_commands) == 1 and "build --full-refresh" in dbt_commands[0], dbt_commands
    # unit tests run in CI (tests/dbt), not in scheduled builds
    assert "--exclude-resource-type unit_test" in dbt_commands[0]
    after = _counts(paths.warehouse)
    compared = {k: v for k, v in before.items() if k.startswith(("intermediate.", "marts."))}
    assert {k: after[k] for k in compared} == compared


def test_bi_snapshot_holds_marts_only_and_no_raw_email(pipeline_home):
    snapshot = pipeline_home.paths.bi_snapshot
    assert snapshot.exists()
    con = duckdb.connect(str(snapshot), read_only=True)
    try:
        schemas = {
            row[0]
            for row in con.execute("select distinct table_schema from information_schema.tables").fetchall()
        }
        assert schemas <= {"marts", "results"}
        assert "marts" in schemas
        text_columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where data_type = 'VARCHAR'"
        ).fetchall()
        for schema, table, column in text_columns:
            leaked = con.execute(
                f'select count(*) from "{schema}"."{table}" where "{column}" like \'%@%\''
            ).fetchone()[0]
            assert leaked == 0, f"{schema}.{table}.{column} holds an email address"
    finally:
        con.close()


def test_failing_blocking_check_stops_downstream_assets(pipeline_home, tmp_path, isolated_env):
    """A load that brings a negative spend into raw Meta insights fails an ERROR expectation: dbt and
    BI do not run. (The row carries a newer load id than any before it, as a real load would: raw
    gates validate each load's new rows.)"""
    from pipeline_helpers import clone_home

    from loopwise.runner import run_job

    paths, instance = clone_home(pipeline_home.paths.home, tmp_path / "home", isolated_env)
    con = duckdb.connect(str(paths.warehouse))
    try:
        con.execute(
            "insert into raw_meta_ads.ad_insights_daily by name "
            "select * replace (-50.0 as spend, 'corrupt-ad' as ad_id, '9999999999.000001' as _dlt_load_id) "
            "from raw_meta_ads.ad_insights_daily order by date_start limit 1"
        )
    finally:
        con.close()
    snapshot_mtime = paths.bi_snapshot.stat().st_mtime_ns
    try:
        run = run_job("daily_refresh", instance=instance)
    finally:
        instance.dispose()
    assert not run.success
    assert run.check_results["raw_meta_ads/ad_insights_daily:great_expectations_blocking"] is False
    assert "marts/fct_ad_performance_daily" not in run.materialized
    assert "bi/bi_snapshot" not in run.materialized
    assert paths.bi_snapshot.stat().st_mtime_ns == snapshot_mtime
    # Sources unaffected by the bad table still loaded.
    assert "raw_klaviyo/events" in run.materialized


@pytest.mark.parametrize("table", ["marts.fct_email_sends", "marts.fct_ad_performance_daily"])
def test_marts_have_unique_keys(pipeline_home, table):
    assert _duplicate_keys(pipeline_home.paths.warehouse, table, PRIMARY_KEYS[table]) == 0


def test_results_tables_match_the_documented_contract(pipeline_home):
    """Every table in ``results`` is in the contract, with exactly its declared columns and types."""
    from core.results_schema import RESULTS_TABLES

    con = duckdb.connect(str(pipeline_home.paths.warehouse), read_only=True)
    try:
        present: dict[str, list[tuple[str, str]]] = {}
        for table, column, data_type in con.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_schema = 'results' order by table_name, ordinal_position"
        ).fetchall():
            present.setdefault(table, []).append((column, data_type))
    finally:
        con.close()
    assert set(present) == set(RESULTS_TABLES)
    for table, columns in RESULTS_TABLES.items():
        declared = [(c.name, c.type.replace("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE")) for c in columns]
        assert present[table] == declared, table
