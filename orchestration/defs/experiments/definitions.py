"""Experiments: results, decisions and bandit allocations for every A/B(/n) test, flow split
and the global holdout in ``marts.fct_experiment_exposures``."""

from datetime import UTC, datetime

import dagster as dg

from orchestration.asset_metadata import table_metadata
from orchestration.constants import DECISIONS, WAREHOUSE_WRITER_POOL
from orchestration.resources import LoopwisePathsResource, WarehouseResource

EXPERIMENT_RESULTS_KEY = dg.AssetKey(["results", "experiment_results"])
EXPERIMENT_DECISIONS_KEY = dg.AssetKey(["results", "experiment_decisions"])


class ExperimentsConfig(dg.Config):
    alpha: float = 0.05
    winsorize_percentile: float = 0.99


def build_definitions(mart_keys: list[dg.AssetKey]) -> dg.Definitions:
    deps = [key for key in mart_keys if key.path[-1] in ("fct_experiment_exposures", "dim_contacts")]

    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                EXPERIMENT_RESULTS_KEY,
                deps=deps,
                group_name=DECISIONS,
                tags={"domain": "experiments"},
                kinds={"python", "duckdb"},
                description="One row per experiment x variant x metric x analysis date: lifts with fixed-horizon "
                "and sequential (safe-to-peek daily) CIs, SRM, CUPED, chance to beat control, adjusted p-values.",
            ),
            dg.AssetSpec(
                EXPERIMENT_DECISIONS_KEY,
                deps=[EXPERIMENT_RESULTS_KEY],
                group_name=DECISIONS,
                tags={"domain": "experiments"},
                kinds={"python", "duckdb"},
                description="Ship / keep control / continue / stop for harm per experiment, with a plain-English "
                "explanation. Ship decisions become proposed actions in results.actions.",
            ),
        ],
        pool=WAREHOUSE_WRITER_POOL,
    )
    def experiment_analysis(
        context: dg.AssetExecutionContext,
        config: ExperimentsConfig,
        warehouse: WarehouseResource,
        loopwise_paths: LoopwisePathsResource,
    ):
        from decision_engine.experiments import ExperimentRunConfig, run_experiment_analysis

        settings = ExperimentRunConfig(alpha=config.alpha, winsorize_percentile=config.winsorize_percentile)
        reports = loopwise_paths.paths().report_dir("experiments")
        with warehouse.connect() as con:
            run = run_experiment_analysis(con, settings, datetime.now(UTC), report_dir=reports)
            results_table = table_metadata(con, EXPERIMENT_RESULTS_KEY)
            decisions_table = table_metadata(con, EXPERIMENT_DECISIONS_KEY)
        context.log.info(run.headline)
        yield dg.MaterializeResult(
            asset_key=EXPERIMENT_RESULTS_KEY,
            metadata={
                **results_table,
                "rows": len(run.results),
                "experiments": run.experiments,
                "contaminated_units": run.contaminated_units,
            },
        )
        yield dg.MaterializeResult(
            asset_key=EXPERIMENT_DECISIONS_KEY,
            metadata={
                **decisions_table,
                "headline": run.headline,
                "decisions": dg.MetadataValue.json(run.decision_counts),
                "proposed_actions": len(run.actions),
                "examples": dg.MetadataValue.json(run.examples),
                "charts": dg.MetadataValue.json(run.charts),
            },
        )

    return dg.Definitions(assets=[experiment_analysis])
