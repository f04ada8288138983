"""Great Expectations gates as Dagster asset checks: a blocking one and a warning one per table.

Each suite in ``quality.SUITES`` runs once per table and reports two checks on the asset of the
same table, so the UI tells the truth about severity:

- ``great_expectations_blocking`` (blocking): the suite's ERROR expectations. A failure fails the
  check with ERROR severity, and assets downstream of that table do not materialize in the run.
- ``great_expectations_warnings`` (not blocking): the WARN expectations (freshness, growth,
  vendor enumerations). A failure shows as a WARN and blocks nothing.

Mart keys, not-nulls and accepted values are not here: they are dbt tests, which dagster-dbt
turns into blocking asset checks of their own (error severity), and an erroring test also
fails the ``dbt build`` step, so downstream assets do not run either way.
Raw tables are validated incrementally: only rows loaded since the last run in which the whole
suite passed (``_dlt_load_id`` greater than that run's ``max_load_id``). Marts likewise: only rows
whose checked values differ from every row of the last run in which the whole suite passed
(``quality.validated_rows``, hashes of those values), i.e. the rows the build changed. Keys, freshness and row
counts are always checked over the whole table in SQL, and the share of the latest load's
records that went to quarantine (``quarantine_share``: more than 5% fails with ERROR, so a
vendor that stops sending a required field stops the run before marts, decisions and the BI
snapshot).
"""

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import dagster as dg

from orchestration.constants import WAREHOUSE_WRITER_POOL
from orchestration.resources import VendorSourcesResource, WarehouseResource

if TYPE_CHECKING:
    from quality import SuiteResult

BLOCKING_CHECK_NAME = "great_expectations_blocking"
WARNING_CHECK_NAME = "great_expectations_warnings"


def _previous_max_load_id(context: dg.AssetCheckExecutionContext, check_key: dg.AssetCheckKey) -> str | None:
    """``max_load_id`` of the last run of the blocking check whose whole suite passed (warnings too),
    from Dagster's event log: rows that raised a warning are validated again until they are fixed."""
    storage = context.instance.event_log_storage
    for record in storage.get_asset_check_execution_history(check_key, limit=5):
        evaluation = getattr(record.event, "asset_check_evaluation", None) if record.event else None
        if evaluation is None or not evaluation.passed:
            continue
        suite_passed = evaluation.metadata.get("suite_passed")
        if suite_passed is None or not suite_passed.value:
            continue
        value = evaluation.metadata.get("max_load_id")
        return value.value if value is not None else None
    return None


def _check_result(
    result: "SuiteResult", asset_key: dg.AssetKey, check_name: str, extra: dict[str, Any]
) -> dg.AssetCheckResult:
    """The result of one severity's part of a suite run: passed, or failed with that severity."""
    from quality import ERROR, WARN

    severity = ERROR if check_name == BLOCKING_CHECK_NAME else WARN
    part = result.for_severity(severity)
    metadata: dict[str, Any] = {**part.to_metadata(), **extra}
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=check_name,
        passed=not part.failures,
        severity=dg.AssetCheckSeverity.ERROR if severity is ERROR else dg.AssetCheckSeverity.WARN,
        metadata=metadata,
    )


def _build_checks(table: str, *, incremental: bool) -> dg.AssetChecksDefinition:
    schema, name = table.split(".", 1)
    asset_key = dg.AssetKey([schema, name])
    blocking_key = dg.AssetCheckKey(asset_key, BLOCKING_CHECK_NAME)

    @dg.multi_asset_check(
        name=f"great_expectations_{schema}_{name}",
        specs=[
            dg.AssetCheckSpec(
                BLOCKING_CHECK_NAME,
                asset=asset_key,
                blocking=True,
                description=f"Great Expectations ERROR expectations for `{table}` (raw: keys, nulls, "
                "ranges, accepted values, quarantine share; marts: patterns and ranges, keys being dbt "
                "tests; row-count drop). A failure blocks downstream assets.",
            ),
            dg.AssetCheckSpec(
                WARNING_CHECK_NAME,
                asset=asset_key,
                blocking=False,
                description=f"Great Expectations WARN expectations for `{table}` (freshness, row-count "
                "growth, vendor-defined enumerations). A failure is reported as a warning and blocks "
                "nothing.",
            ),
        ],
        pool=WAREHOUSE_WRITER_POOL,
    )
    def _checks(
        context: dg.AssetCheckExecutionContext,
        warehouse: WarehouseResource,
        vendor_sources: VendorSourcesResource,
    ) -> Iterator[dg.AssetCheckResult]:
        from quality import run_suite

        after_load_id = _previous_max_load_id(context, blocking_key) if incremental else None
        with warehouse.connect() as con:
            result = run_suite(
                con,
                table,
                reference_time=vendor_sources.reference_time(),
                after_load_id=after_load_id,
                changed_rows_only=not incremental,  # marts: the rows this build changed
            )
        extra: dict[str, Any] = {}
        if after_load_id:
            extra["validated_after_load_id"] = after_load_id
        if result.max_load_id is not None:
            extra["max_load_id"] = str(result.max_load_id)
        if not result.success:
            context.log.error(result.describe())
        elif result.passed_warn_only:
            context.log.warning(result.describe())
        # The warning check first: a failing blocking check stops the step once both are reported.
        yield _check_result(result, asset_key, WARNING_CHECK_NAME, extra)
        suite_passed = result.success and not result.passed_warn_only
        yield _check_result(result, asset_key, BLOCKING_CHECK_NAME, {**extra, "suite_passed": suite_passed})

    return _checks


def gate_check_keys(quality_defs: dg.Definitions) -> list[dg.AssetCheckKey]:
    """The blocking checks: what the incident pager watches (warnings do not page)."""
    return [
        key
        for checks_def in quality_defs.asset_checks or []
        for key in checks_def.check_keys
        if key.name == BLOCKING_CHECK_NAME
    ]


def build_definitions(*upstream: dg.Definitions) -> dg.Definitions:
    from quality import SUITES

    known_keys = {
        key for definitions in upstream for assets_def in definitions.assets or [] for key in assets_def.keys
    }
    checks = [
        _build_checks(table, incremental=table.startswith("raw_"))
        for table in SUITES
        if dg.AssetKey(table.split(".", 1)) in known_keys
    ]
    return dg.Definitions(asset_checks=checks)
