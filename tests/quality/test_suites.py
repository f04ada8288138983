"""Suites pass on clean data; every ERROR kind fails on a planted violation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from quality_synthetic import REFERENCE_TIME, TABLES

from quality import ERROR, MART_SUITES, RAW_SUITES, SUITES, Severity, run_suite, run_suites


def test_import_quality_does_not_import_great_expectations() -> None:
    code = "import sys, quality; assert 'great_expectations' not in sys.modules, 'GX imported eagerly'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_suite_has_a_synthetic_table_and_keys_are_error() -> None:
    assert set(SUITES) == set(TABLES)
    for suite in RAW_SUITES:
        kinds = {check.kind for check in suite.checks}
        assert {"not_null", "unique"} <= kinds, suite.table
        assert all(check.severity is ERROR for check in suite.checks if check.kind in ("not_null", "unique"))


def test_mart_suites_leave_keys_nulls_and_enumerations_to_dbt() -> None:
    assert {suite.table.split(".")[0] for suite in MART_SUITES} == {"marts"}
    for suite in MART_SUITES:
        kinds = {check.kind for check in suite.checks}
        assert not kinds & {"not_null", "unique", "in_set"}, suite.table
        assert kinds, suite.table


def test_all_suites_pass_on_clean_warehouse(clean_warehouse_file: Path) -> None:
    results = run_suites(clean_warehouse_file, reference_time=REFERENCE_TIME, record_history=False)
    assert set(results) == set(SUITES)
    failures = {table: result.describe() for table, result in results.items() if result.failures}
    assert failures == {}
    events = results["raw_klaviyo.events"]
    assert events.success and not events.passed_warn_only
    assert events.row_count == events.validated_rows == 3000
    assert events.max_load_id == "1700000000.1"


def _single_failure(path: Path, table: str, **options: object) -> tuple[str, int, Severity]:
    result = run_suite(path, table, reference_time=REFERENCE_TIME, record_history=False, **options)
    assert len(result.failures) == 1, result.describe()
    (failure,) = result.failures
    assert result.success is (failure.severity is not ERROR)
    return failure.name, failure.unexpected_count, failure.severity


VIOLATIONS = {
    # name: (table, SQL planting the violation, expected failing check, expected unexpected rows)
    # Raw keys are GX's (dlt loads raw tables; dbt does not test them). Mart keys, not-nulls and
    # accepted values are dbt tests (tests/dbt/test_dbt_tests_gate.py).
    "duplicate key across chunks": (
        "raw_klaviyo.events",
        "insert into raw_klaviyo.events select * from raw_klaviyo.events where event_id = 'e0'",
        "unique:event_id",
        1,
    ),
    "duplicate composite key": (
        "raw_meta_ads.ad_insights_daily",
        "insert into raw_meta_ads.ad_insights_daily select * from raw_meta_ads.ad_insights_daily limit 2",
        "unique:ad_id,date_start",
        2,
    ),
    "null key": (
        "raw_klaviyo.events",
        "update raw_klaviyo.events set event_id = null where event_id = 'e2999'",
        "not_null:event_id",
        1,
    ),
    "rate above one": (
        "marts.fct_email_campaign_variant_daily",
        "update marts.fct_email_campaign_variant_daily set open_rate = 1.3 where send_date = date '2026-08-15' "
        "and campaign_id = 'c0'",
        "between:open_rate",
        2,
    ),
    "negative spend": (
        "marts.fct_ad_performance_daily",
        "update marts.fct_ad_performance_daily set spend = -5 where ad_id = 'a7'",
        "between:spend",
        20,
    ),
    "negative raw spend": (
        "raw_meta_ads.ad_insights_daily",
        "update raw_meta_ads.ad_insights_daily set spend = -0.01 where ad_id = 'a3' and date_start = date '2026-08-15'",
        "between:spend",
        1,
    ),
    "send id not an md5": (
        "marts.fct_email_sends",
        "update marts.fct_email_sends set email_send_id = 'x' || email_send_id where email_send_id = md5('7')",
        "regex:email_send_id",
        1,
    ),
    "arm count zero": (
        "marts.fct_experiment_exposures",
        "update marts.fct_experiment_exposures set arm_count = 0 where experiment_id = 'exp1'",
        "between:arm_count",
        250,
    ),
    "email hash not 64 hex": (
        "marts.dim_contacts",
        "update marts.dim_contacts set email_sha256 = upper(email_sha256) where klaviyo_profile_id = 'p5'",
        "regex:email_sha256",
        1,
    ),
}


@pytest.mark.parametrize("violation", list(VIOLATIONS))
def test_planted_error_violation_blocks(warehouse: Path, violation: str) -> None:
    table, sql, expected_check, expected_count = VIOLATIONS[violation]
    with duckdb.connect(str(warehouse)) as con:
        con.execute(sql)
    name, count, severity = _single_failure(warehouse, table, chunk_rows=2048)
    assert (name, count, severity) == (expected_check, expected_count, ERROR)


def test_missing_column_and_missing_table_are_errors(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute("alter table marts.fct_deals drop column amount")
        con.execute("drop table marts.fct_flow_step_funnel")
    deals = run_suite(warehouse, "marts.fct_deals", reference_time=REFERENCE_TIME, record_history=False)
    assert not deals.success
    assert [failure.name for failure in deals.failures] == ["missing_column:amount"]
    funnel = run_suite(warehouse, "marts.fct_flow_step_funnel", record_history=False)
    assert not funnel.success and funnel.failures[0].name == "table_exists"


def test_metadata_is_flat_json_and_describe_explains(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update marts.fct_ad_performance_daily set ctr = 1.5 where ad_id = 'a1'")
    result = run_suite(
        warehouse, "marts.fct_ad_performance_daily", reference_time=REFERENCE_TIME, record_history=False
    )
    metadata = result.to_metadata()
    assert all(value is None or isinstance(value, str | int | float | bool) for value in metadata.values())
    json.dumps(metadata)
    assert metadata["success"] is False and metadata["error_failures"] == 1
    assert metadata["unexpected_count.between:ctr"] == 20
    text = result.describe()
    assert "ctr" in text and "[0, 1]" in text and "blocked" in text and "1.5" in text
