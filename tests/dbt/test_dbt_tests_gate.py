"""Mart keys, not-nulls and accepted values are dbt tests (the GX mart suites no longer restate
them): they are error severity, dagster-dbt turns them into blocking asset checks, and a planted
violation fails them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest
from dbt_build_result import DbtBuild

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
MOVED_KINDS = {"unique", "not_null", "accepted_values", "unique_combination_of_columns"}


def _mart_rule_tests(manifest: dict) -> dict[str, dict]:
    """unique_id -> test node, for the key / not-null / accepted-values tests on mart models."""
    tests = {}
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] != "test" or node.get("test_metadata", {}).get("name") not in MOVED_KINDS:
            continue
        attached = manifest["nodes"].get(node.get("attached_node") or "", {})
        if attached.get("config", {}).get("schema") == "marts":
            tests[unique_id] = node
    return tests


@pytest.fixture(scope="module")
def manifest(dbt_build: DbtBuild) -> dict:
    assert dbt_build.target_path is not None
    return json.loads((dbt_build.target_path / "manifest.json").read_text())


def test_mart_rule_tests_are_error_severity(manifest: dict) -> None:
    tests = _mart_rule_tests(manifest)
    attached = {manifest["nodes"][node["attached_node"]]["name"] for node in tests.values()}
    marts = {
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"].get("schema") == "marts"
    }
    assert len(marts) >= 8 and attached == marts  # every mart
    assert len(tests) >= 40
    assert {node["config"]["severity"].lower() for node in tests.values()} == {"error"}


def test_mart_rule_tests_are_blocking_dagster_checks(manifest: dict, dbt_build: DbtBuild) -> None:
    """The gate the GX mart suites used to provide for keys: dagster-dbt makes each error-severity
    dbt test a blocking asset check (and `dbt build` fails its step on an error)."""
    from dataclasses import replace

    import dagster as dg
    from dagster_dbt import dbt_assets

    from orchestration.defs.transform.definitions import DBT_TRANSLATOR, LoopwiseDbtTranslator

    # the project's translator, without code references (they need the DbtProject, not a bare manifest)
    translator = LoopwiseDbtTranslator(
        settings=replace(DBT_TRANSLATOR.settings, enable_code_references=False)
    )

    @dbt_assets(manifest=dbt_build.target_path / "manifest.json", dagster_dbt_translator=translator)
    def _models(context):  # never run: only its check specs are read
        return None

    specs = {(spec.asset_key, spec.name): spec for spec in _models.check_specs}
    tests = _mart_rule_tests(manifest)
    for node in tests.values():
        mart = manifest["nodes"][node["attached_node"]]["name"]
        spec = specs[(dg.AssetKey(["marts", mart]), node["name"])]
        assert spec.blocking, node["name"]


def test_planted_duplicate_mart_key_fails_dbt_test(dbt_build: DbtBuild, tmp_path: Path) -> None:
    from dbt.cli.main import dbtRunner

    planted = tmp_path / "planted.duckdb"
    # dbt-duckdb keeps the build's in-process instance open: copy through a shared connection.
    connection = duckdb.connect(str(dbt_build.database_path))
    try:
        (source,) = connection.execute("select current_database()").fetchone()
        connection.execute(f"attach '{planted}' as planted")
        connection.execute(f"copy from database {source} to planted")
        connection.execute("detach planted")
    finally:
        connection.close()
    with duckdb.connect(str(planted)) as con:
        con.execute("insert into marts.fct_deals select * from marts.fct_deals where deal_id = 'd1'")
        con.execute("update marts.fct_deals set outcome = 'WON' where deal_id = 'd2'")

    previous = os.environ.get("LOOPWISE_WAREHOUSE_PATH")
    os.environ["LOOPWISE_WAREHOUSE_PATH"] = str(planted)
    try:
        result = dbtRunner().invoke(
            [
                "test",
                "--quiet",
                "--select",
                "fct_deals",
                "--exclude",
                "test_type:unit",
                "--project-dir",
                str(DBT_PROJECT_DIR),
                "--profiles-dir",
                str(DBT_PROJECT_DIR),
                "--target-path",
                str(tmp_path / "target"),
                "--log-path",
                str(tmp_path / "logs"),
            ]
        )
    finally:
        if previous is None:
            os.environ.pop("LOOPWISE_WAREHOUSE_PATH", None)
        else:
            os.environ["LOOPWISE_WAREHOUSE_PATH"] = previous
    assert not result.success
    failed = {r.node.name for r in result.result if str(r.status) == "fail"}
    assert failed == {"unique_fct_deals_deal_id", "accepted_values_fct_deals_outcome__won__lost__open"}


def test_meta_ads_staging_builds_with_or_without_the_old_ad_budget_column(
    dbt_build: DbtBuild, tmp_path: Path
) -> None:
    """Meta ads have no budget. The session build's raw ads table has no daily_budget (the current
    loader); a warehouse an older loader filled still has one: staging builds on both and never
    exposes it."""
    from dbt.cli.main import dbtRunner

    assert dbt_build.success
    (columns,) = dbt_build.query(
        "select list(column_name) from information_schema.columns "
        "where table_schema = 'staging' and table_name = 'stg_meta_ads__ads'"
    )[0]
    assert "daily_budget" not in columns and "adset_id" in columns

    old = tmp_path / "old.duckdb"
    connection = duckdb.connect(str(dbt_build.database_path))
    try:
        (source,) = connection.execute("select current_database()").fetchone()
        connection.execute(f"attach '{old}' as old")
        connection.execute(f"copy from database {source} to old")
        connection.execute("detach old")
    finally:
        connection.close()
    with duckdb.connect(str(old)) as con:
        con.execute("alter table raw_meta_ads.ads add column daily_budget double")
        con.execute("update raw_meta_ads.ads set daily_budget = 50.0")
        con.execute("drop view staging.stg_meta_ads__ads")

    previous = os.environ.get("LOOPWISE_WAREHOUSE_PATH")
    os.environ["LOOPWISE_WAREHOUSE_PATH"] = str(old)
    try:
        result = dbtRunner().invoke(
            ["build", "--quiet", "--select", "stg_meta_ads__ads",
             "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
             "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")]
        )  # fmt: skip
    finally:
        if previous is None:
            os.environ.pop("LOOPWISE_WAREHOUSE_PATH", None)
        else:
            os.environ["LOOPWISE_WAREHOUSE_PATH"] = previous
    assert result.success
    with duckdb.connect(str(old)) as con:  # dbt-duckdb keeps its instance open: same configuration
        rows = con.execute("select * from staging.stg_meta_ads__ads").fetchdf()
    assert list(rows["ad_id"]) == ["ma1"] and "daily_budget" not in rows.columns
