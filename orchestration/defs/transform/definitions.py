"""dbt assets: staging -> intermediate -> marts, built with ``dbt build`` (models and tests).

One translator derives keys and groups from each model's folder: the group is the layer
(``staging``, ``intermediate``, ``marts``) and a mart's domain (``marts/email``) is its
``domain`` tag. dbt sources resolve to the dlt assets through ``meta.dagster.asset_key``;
dbt tests become asset checks.

The email send models are incremental (docs/architecture.md, "Incremental email models"): a run
rebuilds only the sends whose inputs can still change. A run with the op config
``{"ops": {"loopwise_dbt_models": {"config": {"full_refresh": true}}}}`` passes
``--full-refresh`` and rebuilds them whole.
"""

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets
from pydantic import Field

from core.settings import (
    DBT_PARENT_PID_ENV,
    LoopwisePaths,
    dbt_engine_env,
    engine,
    load_paths,
    on_local_spark_session,
    temporary_environ,
)
from orchestration.asset_metadata import table_metadata
from orchestration.constants import INTERMEDIATE, MARTS, STAGING, dbt_build_pool
from orchestration.defs.transform.dbt_launcher import launcher_path
from orchestration.defs.transform.project import (
    DBT_EXECUTABLE,
    WITHOUT_UNIT_TESTS,
    dbt_project,
    manifest_problem,
    prepare_manifest,
    prune_target,
)
from orchestration.resources import WarehouseResource


class LoopwiseDbtTranslator(DagsterDbtTranslator):
    """Keys ``<schema>/<model>``; the group is the model's layer (its first folder under
    ``models/``; seeds are ``staging``) and a mart's domain (``marts/<domain>``) is its ``domain`` tag."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        schema = dbt_resource_props.get("config", {}).get("schema") or dbt_resource_props["schema"]
        return dg.AssetKey([schema, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return STAGING  # reference data the team maintains, loaded beside the staging views
        folders = _model_folders(dbt_resource_props)
        return folders[0] if folders and folders[0] in (STAGING, INTERMEDIATE) else MARTS

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        folders = _model_folders(dbt_resource_props)
        tags = dict(super().get_tags(dbt_resource_props))
        if len(folders) > 1 and folders[0] == MARTS:
            tags["domain"] = folders[1]
        return tags


def _model_folders(dbt_resource_props: Mapping[str, Any]) -> list[str]:
    """The folders between ``models/`` and the model (``["marts", "email"]``)."""
    return list(dbt_resource_props.get("fqn", [])[1:-1])


# Code references: each model's asset links to its SQL file in dbt_project/models.
DBT_TRANSLATOR = LoopwiseDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_code_references=True)
)


class DbtBuildConfig(dg.Config):
    full_refresh: bool = Field(
        default=False,
        description="Rebuild the incremental models whole (dbt build --full-refresh): after a model's "
        "columns change, or to take in events that arrived later than the rebuild window.",
    )


def _dbt_env(warehouse: WarehouseResource) -> dict[str, str]:
    import os

    # The launcher checks this pid to know its parent was alive when it armed PR_SET_PDEATHSIG.
    return {"LOOPWISE_WAREHOUSE_PATH": str(warehouse.database_path()), DBT_PARENT_PID_ENV: str(os.getpid())}


def _engine_env(context: dg.AssetExecutionContext, paths: LoopwisePaths) -> dict[str, str]:
    """What this build's dbt child needs for the engine: the target and, on the local Spark session,
    the lake's tables (the raw loads, and the results the warehouse resource published) for dbt's
    ``register_lake_tables`` hook."""
    env = dbt_engine_env(paths)
    if on_local_spark_session():
        from core.lake import lake_env, lake_tables, repair_lake

        repair_lake(paths.lake)  # a publish of the results killed between its renames
        context.log.info(
            f"Spark engine: dbt reads {len(lake_tables(paths.lake))} tables of the lake at {paths.lake}"
        )
        env |= lake_env(paths.lake)
    return env


def _attach_spark_models(
    context: dg.AssetExecutionContext, con: Any, outputs: list[dg.Output], paths: LoopwisePaths
) -> list[str]:
    """Make the models Spark wrote views in the warehouse; returns the built models it found no
    Parquet for (on a cluster: its warehouse is not mounted at ``LOOPWISE_SPARK_WAREHOUSE``)."""
    from core.lake import attach_spark_models

    attached = set(attach_spark_models(con, paths.spark_warehouse))
    context.log.info(f"Spark engine: Spark wrote Parquet for {len(attached)} models")
    built = [".".join(context.asset_key_for_output(output.output_name).path) for output in outputs]
    return [name for name in built if name not in attached]


def _table_metadata(context: dg.AssetExecutionContext, con: Any, output: dg.Output) -> dict[str, Any]:
    """Row count, table name and column types (with dbt's column descriptions) of a built model."""
    key = context.asset_key_for_output(output.output_name)
    documented = context.assets_def.specs_by_key[key].metadata.get("dagster/column_schema")
    descriptions = {column.name: column.description for column in documented.columns} if documented else {}
    return table_metadata(con, key, descriptions=descriptions)


def build_definitions() -> dg.Definitions:
    if not dbt_project.manifest_path.exists():
        # Happens only outside `dagster dev`, `loopwise demo` and the tests, which all parse
        # first. Say what to do instead of failing with a missing-file trace.
        raise dg.DagsterInvariantViolationError(
            f"dbt manifest missing at {dbt_project.manifest_path}: run `loopwise prepare` "
            "(or `make dev` / `make demo`, which parse the project first)."
        )
    if manifest_problem() is not None:
        # Truncated or corrupt (a parse killed mid-write): parse again instead of failing on load.
        prepare_manifest()
        if manifest_problem() is not None:
            raise dg.DagsterInvariantViolationError(
                f"dbt manifest at {dbt_project.manifest_path} is unreadable even after `dbt parse`: "
                "run `loopwise prepare` and read dbt's error."
            )

    @dbt_assets(
        manifest=dbt_project.manifest_path,
        project=dbt_project,
        dagster_dbt_translator=DBT_TRANSLATOR,
        pool=dbt_build_pool(),
    )
    def loopwise_dbt_models(
        context: dg.AssetExecutionContext,
        dbt: DbtCliResource,
        warehouse: WarehouseResource,
        config: DbtBuildConfig,
    ) -> Iterator[Any]:
        import duckdb

        # the warehouse for this build's dbt child, then the environment as it was: a process that
        # runs more than one home (tests, `loopwise simulate`) must not keep the first one's file
        with temporary_environ(_dbt_env(warehouse)):
            paths = load_paths()
            on_spark = engine() == "spark"
            outputs = []
            with temporary_environ(_engine_env(context, paths)):
                # Older invocations' target directories go (one build at a time: dbt_build_pool()).
                prune_target()
                command = ["build", *(["--full-refresh"] if config.full_refresh else []), *WITHOUT_UNIT_TESTS]
                invocation = dbt.cli(command, context=context, raise_on_error=False)
                # dbt holds the DuckDB file until it exits, so the models' outputs wait for the build to end
                # and then carry their row counts and column types; test results pass straight through.
                for event in invocation.stream():
                    if isinstance(event, dg.Output):
                        outputs.append(event)
                    else:
                        yield event
            unread: list[str] = []
            # On Spark the models' metadata comes from views over their Parquet in a DuckDB of this
            # step's own: dbt on Spark never opens the warehouse file (its resource attaches the views).
            with duckdb.connect() if on_spark else warehouse.connect() as con:
                if on_spark:
                    unread = _attach_spark_models(context, con, outputs, paths)
                for output in outputs:
                    if ".".join(context.asset_key_for_output(output.output_name).path) in unread:
                        continue
                    yield output.with_metadata({**output.metadata, **_table_metadata(context, con, output)})
            if not invocation.is_successful():
                raise invocation.get_error() or dg.Failure("dbt build failed")
            if unread:
                raise dg.Failure(
                    f"Spark built {', '.join(unread)} but no Parquet for them is under {paths.spark_warehouse}: "
                    "the decision assets would read stale marts. On a cluster, mount its warehouse directory "
                    "there (LOOPWISE_SPARK_WAREHOUSE)."
                )

    return dg.Definitions(
        assets=[loopwise_dbt_models],
        resources={
            "dbt": DbtCliResource(
                project_dir=dbt_project,
                # dbt dies with the run's process (PR_SET_PDEATHSIG), never left writing the warehouse.
                dbt_executable=launcher_path(dbt_project.manifest_path.parent, DBT_EXECUTABLE),
            )
        },
    )
