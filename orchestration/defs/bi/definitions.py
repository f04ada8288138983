"""The BI snapshot: a read-only DuckDB file BI tools open instead of the warehouse."""

import dagster as dg

from orchestration.constants import BI, WAREHOUSE_WRITER_POOL
from orchestration.resources import LoopwisePathsResource, WarehouseResource


def build_definitions(upstream_keys: list[dg.AssetKey]) -> dg.Definitions:
    @dg.asset(
        key=dg.AssetKey(["bi", "bi_snapshot"]),
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

    return dg.Definitions(assets=[bi_snapshot])
