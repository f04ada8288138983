"""The BI snapshot: a read-only DuckDB file BI tools open instead of the warehouse."""

import dagster as dg

from orchestration.constants import BI, WAREHOUSE_WRITER_POOL
from orchestration.resources import LoopwisePathsResource, WarehouseResource

BI_SNAPSHOT_KEY = dg.AssetKey(["bi", "bi_snapshot"])


def build_definitions(upstream_keys: list[dg.AssetKey]) -> dg.Definitions:
    @dg.asset(
        key=BI_SNAPSHOT_KEY,
        deps=upstream_keys,
        group_name=BI,
        pool=WAREHOUSE_WRITER_POOL,
        kinds={"duckdb"},
        description=(
            "Read-only copy of the `marts` and `results` schemas for BI, replaced atomically "
            "after every successful run. Connect BI tools to this file, never to the warehouse."
        ),
    )
    def bi_snapshot(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, loopwise_paths: LoopwisePathsResource
    ) -> dg.MaterializeResult:
        from core.bi_snapshot import publish_bi_snapshot

        report = publish_bi_snapshot(warehouse.database_path(), loopwise_paths.paths().bi_snapshot)
        context.log.info(f"Published BI snapshot with {len(report.tables)} tables to {report.path}")
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(report.path)),
                "tables": dg.MetadataValue.json(report.tables),
                "size_bytes": dg.MetadataValue.int(report.bytes),
                "publish_seconds": dg.MetadataValue.float(round(report.elapsed_s, 3)),
            }
        )

    @dg.asset_check(
        asset=BI_SNAPSHOT_KEY,
        name="snapshot_opens_and_matches_the_warehouse",
        blocking=True,
        description="The snapshot opens read-only, as a BI tool opens it, and holds the warehouse's "
        "marts and results tables with the same row counts.",
    )
    def snapshot_matches_warehouse(
        warehouse: WarehouseResource, loopwise_paths: LoopwisePathsResource
    ) -> dg.AssetCheckResult:
        from core.bi_snapshot import compare_snapshot

        comparison = compare_snapshot(loopwise_paths.paths().bi_snapshot, warehouse.database_path())
        metadata = {
            "opened": comparison.opened,
            "tables": comparison.tables,
            "mismatched_tables": len(comparison.mismatches),
        }
        if comparison.error is not None:
            metadata["error"] = comparison.error
        if comparison.mismatches:
            metadata["mismatches"] = dg.MetadataValue.json(comparison.mismatches)
        return dg.AssetCheckResult(passed=comparison.matches, metadata=metadata)

    return dg.Definitions(assets=[bi_snapshot], asset_checks=[snapshot_matches_warehouse])
