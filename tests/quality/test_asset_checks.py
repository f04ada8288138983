"""The Dagster asset checks of a suite: a blocking check for ERROR expectations and a warning check
for WARN ones, so a warning never shows a blocking check as failed, and only ERROR failures stop
downstream assets."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
from quality_synthetic import REFERENCE_TIME

from orchestration.defs.quality.definitions import (
    BLOCKING_CHECK_NAME,
    WARNING_CHECK_NAME,
    build_definitions,
    gate_check_keys,
)
from orchestration.resources import VendorSourcesResource, WarehouseResource
from quality import ERROR, WARN, SuiteResult, run_suite

SENDS_KEY = dg.AssetKey(["marts", "fct_email_sends"])
DOWNSTREAM_KEY = dg.AssetKey(["results", "downstream_of_sends"])


class FixedClockSources(VendorSourcesResource):
    """The sources resource without a sandbox: only the freshness clock is needed."""

    reference: str = REFERENCE_TIME.isoformat()

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[FixedClockSources]:
        yield self

    def reference_time(self) -> datetime:
        return datetime.fromisoformat(self.reference)


@dg.asset(key=SENDS_KEY)
def fct_email_sends() -> None:
    """Stands in for the dbt model: the table is already in the warehouse."""


@dg.asset(key=DOWNSTREAM_KEY, deps=[SENDS_KEY])
def downstream_of_sends() -> None:
    """Anything that reads the mart."""


def _run(warehouse: Path, reference: datetime = REFERENCE_TIME) -> dg.ExecuteInProcessResult:
    checks = build_definitions(dg.Definitions(assets=[fct_email_sends])).asset_checks or []
    return dg.materialize(
        [fct_email_sends, downstream_of_sends, *checks],
        resources={
            "warehouse": WarehouseResource(path=str(warehouse)),
            "vendor_sources": FixedClockSources(reference=reference.isoformat()),
        },
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def _evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {
        evaluation.check_name: evaluation
        for evaluation in result.get_asset_check_evaluations()
        if evaluation.asset_key == SENDS_KEY
    }


def test_each_suite_is_a_blocking_and_a_warning_check() -> None:
    checks_defs = build_definitions(dg.Definitions(assets=[fct_email_sends])).asset_checks or []
    specs = {spec.name: spec for checks_def in checks_defs for spec in checks_def.check_specs}
    assert set(specs) == {BLOCKING_CHECK_NAME, WARNING_CHECK_NAME}
    assert specs[BLOCKING_CHECK_NAME].blocking
    assert not specs[WARNING_CHECK_NAME].blocking
    assert gate_check_keys(dg.Definitions(asset_checks=checks_defs)) == [
        dg.AssetCheckKey(SENDS_KEY, BLOCKING_CHECK_NAME)
    ]


def test_warning_only_failure_shows_as_warn_and_blocks_nothing(warehouse: Path) -> None:
    stale = REFERENCE_TIME + timedelta(days=10)  # freshness of sent_at is a WARN expectation
    result = _run(warehouse, reference=stale)
    evaluations = _evaluations(result)
    assert evaluations[BLOCKING_CHECK_NAME].passed
    warning = evaluations[WARNING_CHECK_NAME]
    assert not warning.passed and warning.severity == dg.AssetCheckSeverity.WARN
    assert "freshness:sent_at" in warning.metadata["failed_checks"].value
    assert result.success
    assert DOWNSTREAM_KEY in {event.asset_key for event in result.get_asset_materialization_events()}


def test_error_failure_fails_the_blocking_check_and_stops_downstream(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update marts.fct_email_sends set attributed_revenue = -1 where attributed_revenue > 0")
    result = _run(warehouse)
    evaluations = _evaluations(result)
    blocking = evaluations[BLOCKING_CHECK_NAME]
    assert not blocking.passed and blocking.severity == dg.AssetCheckSeverity.ERROR
    assert "between:attributed_revenue" in blocking.metadata["failed_checks"].value
    assert evaluations[WARNING_CHECK_NAME].passed
    assert not result.success
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert DOWNSTREAM_KEY not in materialized


def test_suite_result_splits_by_severity(clean_warehouse_file: Path) -> None:
    stale = REFERENCE_TIME + timedelta(days=10)
    result: SuiteResult = run_suite(
        clean_warehouse_file, "marts.fct_email_sends", reference_time=stale, record_history=False
    )
    errors, warnings = result.for_severity(ERROR), result.for_severity(WARN)
    assert len(errors.results) + len(warnings.results) == len(result.results)
    assert errors.success and not errors.failures
    assert warnings.success and warnings.passed_warn_only
    assert [failure.name for failure in warnings.failures] == ["freshness:sent_at"]
    assert errors.row_count == warnings.row_count == result.row_count
