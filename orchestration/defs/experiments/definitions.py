"""Experiments: results, decisions and bandit allocations for every A/B(/n) test, flow split
and the global holdout in ``marts.fct_experiment_exposures``."""

from collections.abc import Sequence
from datetime import UTC, datetime

import dagster as dg

from orchestration.asset_metadata import table_metadata
from orchestration.constants import DECISIONS, WAREHOUSE_WRITER_POOL
from orchestration.previews import chart_links, preview
from orchestration.resources import LoopwisePathsResource, WarehouseResource

EXPERIMENT_RESULTS_KEY = dg.AssetKey(["results", "experiment_results"])
EXPERIMENT_DECISIONS_KEY = dg.AssetKey(["results", "experiment_decisions"])


class ExperimentsConfig(dg.Config):
    alpha: float = 0.05
    winsorize_percentile: float = 0.99


def build_definitions(mart_keys: list[dg.AssetKey], score_keys: Sequence[dg.AssetKey] = ()) -> dg.Definitions:
    """``score_keys``: the score assets; ``results.customer_value`` is a dependency (customer value
    per recipient reads it when it exists)."""
    deps = [key for key in mart_keys if key.path[-1] in ("fct_experiment_exposures", "dim_contacts")]
    deps += [key for key in score_keys if key.path == ["results", "customer_value"]]

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
        from decision_engine.policy import load_policy

        settings = ExperimentRunConfig(
            alpha=config.alpha, winsorize_percentile=config.winsorize_percentile, policy=load_policy()
        )
        reports = loopwise_paths.paths().report_dir("experiments")
        with warehouse.connect() as con:
            run = run_experiment_analysis(con, settings, datetime.now(UTC), report_dir=reports)
            results_table = table_metadata(con, EXPERIMENT_RESULTS_KEY)
            decisions_table = table_metadata(con, EXPERIMENT_DECISIONS_KEY)
            decisions_preview = preview(con, "experiment_decisions")
        context.log.info(run.headline)
        for note in run.notes:
            context.log.info(note)
        yield dg.MaterializeResult(
            asset_key=EXPERIMENT_RESULTS_KEY,
            metadata={
                **results_table,
                "rows": len(run.results),
                "experiments": run.experiments,
                "contaminated_units": run.contaminated_units,
                "notes": dg.MetadataValue.json(run.notes),
            },
        )
        yield dg.MaterializeResult(
            asset_key=EXPERIMENT_DECISIONS_KEY,
            metadata={
                **decisions_table,
                "headline": run.headline,
                "preview": decisions_preview,
                "decisions": dg.MetadataValue.json(run.decision_counts),
                "proposed_actions": len(run.actions),
                "examples": dg.MetadataValue.json(run.examples),
                "charts": chart_links(run.charts, loopwise_paths.paths().reports_dir),
            },
        )

    @dg.asset_check(
        asset=EXPERIMENT_DECISIONS_KEY,
        name="decisions_name_known_experiments",
        blocking=True,
        description="Every decision of the latest analysis names an experiment in "
        "marts.fct_experiment_exposures (a ship decision becomes a vendor write).",
    )
    def decisions_name_known_experiments(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        from decision_engine.result_checks import check_experiment_decisions

        with warehouse.connect(read_only=True) as con:
            outcome = check_experiment_decisions(con)
        return dg.AssetCheckResult(passed=outcome.passed, metadata=outcome.metadata)

    return dg.Definitions(assets=[experiment_analysis], asset_checks=[decisions_name_known_experiments])
