"""dlt assets: one multi-asset per vendor source, one asset per raw table.

Asset keys are ``[dataset, table]`` (``raw_klaviyo/events``), which is what the dbt sources
name in ``meta.dagster.asset_key``, so dlt -> dbt lineage is one unbroken graph.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

from orchestration.asset_metadata import table_metadata
from orchestration.constants import INGESTION, raw_load_pool
from orchestration.resources import LoopwisePathsResource, VendorSourcesResource, WarehouseResource


class RawTableTranslator(DagsterDltTranslator):
    """``raw_<source>/<table>`` keys in the ``ingestion`` group, with the dlt source as kind."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        default = super().get_asset_spec(data)
        dataset = data.pipeline.dataset_name if data.pipeline else data.resource.source_name
        table = data.resource.table_name if isinstance(data.resource.table_name, str) else data.resource.name
        return default.replace_attributes(
            key=dg.AssetKey([dataset, table]),
            group_name=INGESTION,
            deps=[],
            description=f"Raw `{table}` from {data.resource.source_name}, loaded by dlt into `{dataset}`.",
            kinds={"dlt", "duckdb"},
        )


def _definition_pipeline(source_name: str):
    """A pipeline object used only to name assets; runs build their own with real paths."""
    import dlt

    from ingestion.pipelines import dataset_name, pipeline_name

    return dlt.pipeline(
        pipeline_name=pipeline_name(source_name),
        destination="duckdb",
        dataset_name=dataset_name(source_name),
    )


def _build_source_assets(source_name: str) -> dg.AssetsDefinition:
    from ingestion.config import SourceSettings
    from ingestion.pipelines import dataset_name, source_factory

    factory = source_factory(source_name)

    @dlt_assets(
        dlt_source=factory(SourceSettings()),
        dlt_pipeline=_definition_pipeline(source_name),
        name=f"{source_name}_raw_tables",
        dagster_dlt_translator=RawTableTranslator(),
        pool=raw_load_pool(source_name),
    )
    def _assets(
        context: dg.AssetExecutionContext,
        dlt: DagsterDltResource,
        vendor_sources: VendorSourcesResource,
        warehouse: WarehouseResource,
        loopwise_paths: LoopwisePathsResource,
    ) -> Iterator[Any]:
        import duckdb

        from core.lake import attach_lake_tables, lake_views, write_primary_keys
        from core.settings import engine
        from ingestion.pipelines import make_pipeline, primary_keys
        from ingestion.stats import load_stats

        paths = loopwise_paths.paths()
        dataset = dataset_name(source_name)
        # On Spark, raw data goes to the lake (dlt's filesystem destination), which the warehouse
        # resource shows as views to the steps that open the DuckDB file; this step never opens it.
        # On DuckDB into the warehouse's tables. A home holds one or the other.
        lake = paths.lake if engine() == "spark" else None
        if lake is None:
            with warehouse.connect() as con:
                if lake_views(con, dataset):
                    raise dg.Failure(
                        f"{dataset} in this warehouse is views over the Spark engine's lake ({paths.lake}): "
                        "run it with LOOPWISE_ENGINE=spark, or use a LOOPWISE_HOME of its own for DuckDB."
                    )
        settings = vendor_sources.source_settings()
        pipeline = make_pipeline(
            source_name, warehouse.database_path(), pipelines_dir=paths.dlt_pipelines_dir, lake=lake
        )
        results = list(dlt.run(context=context, dlt_source=factory(settings), dlt_pipeline=pipeline))
        keys = primary_keys(pipeline)
        if lake is not None:
            write_primary_keys(lake, dataset, keys)
        stats = load_stats(pipeline)
        if stats.quarantined_total:
            context.log.warning(
                f"{source_name}: {stats.quarantined_total} record(s) quarantined in "
                f"{dataset_name(source_name)}.quarantine: {stats.quarantined_by_reason}"
            )
        # on Spark the lake's tables as the warehouse will show them, in a DuckDB of this step's own
        with warehouse.connect() if lake is None else duckdb.connect() as con:
            if lake is not None:
                attach_lake_tables(con, lake, dataset, keys)
            tables = {result.asset_key: table_metadata(con, result.asset_key) for result in results}
        for result in results:
            table = result.asset_key.path[-1]
            metadata = {
                **(result.metadata or {}),
                # the whole table's row count, and its name as the warehouse spells it (not dlt's
                # `duckdb.<dataset>.<table>`)
                **tables[result.asset_key],
                "rows_loaded_this_run": dg.MetadataValue.int(int(stats.row_counts.get(table, 0))),
                "quarantined_records": dg.MetadataValue.int(int(stats.quarantined_by_table.get(table, 0))),
                "records_with_unexpected_fields": dg.MetadataValue.int(
                    int(stats.unexpected_by_table.get(table, 0))
                ),
            }
            if table in stats.unexpected_fields:
                metadata["unexpected_fields"] = dg.MetadataValue.json(stats.unexpected_fields[table])
            if table == "quarantine":
                metadata["quarantined_by_reason"] = dg.MetadataValue.json(stats.quarantined_by_reason)
            yield dg.MaterializeResult(asset_key=result.asset_key, metadata=metadata)

    return _assets


def build_definitions() -> dg.Definitions:
    from ingestion.pipelines import SOURCES

    return dg.Definitions(
        assets=[_build_source_assets(name) for name in SOURCES],
        resources={"dlt": DagsterDltResource()},
    )
