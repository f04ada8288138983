"""Great Expectations gates as blocking Dagster asset checks.

One check per suite in ``quality.SUITES`` on the asset of the same table. A failed ERROR
expectation fails the check with ERROR severity, and because the checks are blocking,
assets downstream of that table do not materialize in the same run. WARN expectations
(freshness, growth) fail with WARN severity and block nothing.
Mart keys, not-nulls and accepted values are not here: they are dbt tests, which dagster-dbt
turns into blocking asset checks of their own (error severity), and an erroring test also
fails the ``dbt build`` step, so downstream assets do not run either way.
Raw tables are validated incrementally: only rows loaded since the last passing check
(``_dlt_load_id`` greater than that check's ``max_load_id``); keys, freshness and row
counts are always checked over the whole table in SQL, and the share of the latest load's
records that went to quarantine (``quarantine_share``: more than 5% fails with ERROR, so a
vendor that stops sending a required field stops the run before marts, decisions and the BI
snapshot).
"""

from typing import Any

import dagster as dg

from orchestration.constants import WAREHOUSE_WRITER_POOL
from orchestration.resources import VendorSourcesResource, WarehouseResource

CHECK_NAME = "great_expectations_suite"


def _previous_max_load_id(context: dg.AssetCheckExecutionContext, check_key: dg.AssetCheckKey) -> str | None:
    """``max_load_id`` of the last passing run of this check, from Dagster's event log."""
    storage = context.instance.event_log_storage
    for record in storage.get_asset_check_execution_history(check_key, limit=5):
        evaluation = getattr(record.event, "asset_check_evaluation", None) if record.event else None
        if evaluation is None or not evaluation.passed:
            continue
        value = evaluation.metadata.get("max_load_id")
        return value.value if value is not None else None
    return None


def _build_check(table: str, *, incremental: bool) -> dg.AssetChecksDefinition:
    schema, name = table.split(".", 1)
    asset_key = dg.AssetKey([schema, name])

    @dg.asset_check(
        asset=asset_key,
        name=CHECK_NAME,
        blocking=True,
        pool=WAREHOUSE_WRITER_POOL,
        description=f"Great Expectations suite for `{table}` (raw: keys, nulls, ranges, accepted "
        "values; marts: patterns and ranges, keys being dbt tests; freshness, row-count change). "
        "ERROR failures block downstream assets.",
    )
    def _check(
        context: dg.AssetCheckExecutionContext,
        warehouse: WarehouseResource,
        vendor_sources: VendorSourcesResource,
    ) -> dg.AssetCheckResult:
        from quality import run_suite

        after_load_id = None
        if incremental:
            after_load_id = _previous_max_load_id(context, dg.AssetCheckKey(asset_key, CHECK_NAME))
        with warehouse.connect() as con:
            result = run_suite(
                con,
                table,
                reference_time=vendor_sources.reference_time(),
                after_load_id=after_load_id,
            )
        metadata: dict[str, Any] = dict(result.to_metadata())
        metadata["summary"] = result.describe()
        if after_load_id:
            metadata["validated_after_load_id"] = after_load_id
        if result.max_load_id is not None:
            metadata["max_load_id"] = str(result.max_load_id)
        if not result.success:
            context.log.error(result.describe())
            return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata)
        if result.passed_warn_only:
            context.log.warning(result.describe())
            return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN, metadata=metadata)
        return dg.AssetCheckResult(passed=True, metadata=metadata)

    return _check


def build_definitions(*upstream: dg.Definitions) -> dg.Definitions:
    from quality import SUITES

    known_keys = {
        key for definitions in upstream for assets_def in definitions.assets or [] for key in assets_def.keys
    }
    checks = [
        _build_check(table, incremental=table.startswith("raw_"))
        for table in SUITES
        if dg.AssetKey(table.split(".", 1)) in known_keys
    ]
    return dg.Definitions(asset_checks=checks)
