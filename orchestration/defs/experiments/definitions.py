"""Experiments: results, decisions and bandit allocations for every A/B(/n) test, flow split
and the global holdout in ``marts.fct_experiment_exposures``."""

from datetime import UTC, datetime

import dagster as dg

from orchestration.constants import WAREHOUSE_WRITER_POOL
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
                group_name="experiments",
                kinds={"python", "duckdb"},
                description="One row per experiment x variant x metric x analysis date: lifts with fixed-horizon "
                "and sequential (safe-to-peek daily) CIs, SRM, CUPED, chance to beat control, adjusted p-values.",
            ),
            dg.AssetSpec(
                EXPERIMENT_DECISIONS_KEY,
                deps=[EXPERIMENT_RESULTS_KEY],
                group_name="experiments",
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
        from decision_engine.actions import ProposedAction, write_actions
        from decision_engine.experiments import (
            AnalysisConfig,
            BanditConfig,
            allocations_from_statistics,
            analyze_experiments,
            build_lift_chart,
            compute_sufficient_statistics,
            decide_experiments,
            default_plans,
        )
        from decision_engine.store import write_results

        analysis_timestamp = datetime.now(UTC)
        analysis = AnalysisConfig(alpha=config.alpha)
        with warehouse.connect() as con:
            types = dict(
                con.execute(
                    "select distinct experiment_id, experiment_type from marts.fct_experiment_exposures"
                ).fetchall()
            )
            holdout_share = con.execute(
                "select avg(case when is_in_global_holdout then 1.0 else 0.0 end) from marts.dim_contacts "
                "where is_subscribed"
            ).fetchone()[0]
            plans = default_plans(types, holdout_share=float(holdout_share) if holdout_share else None)
            sufficient = compute_sufficient_statistics(con, winsorize_percentile=config.winsorize_percentile)
            results = analyze_experiments(
                sufficient.stats,
                plans=plans,
                config=analysis,
                contamination=sufficient.contamination,
                analysis_timestamp=analysis_timestamp,
            )
            decisions, proposals = decide_experiments(results, plans, analysis)
            allocations = allocations_from_statistics(sufficient.stats, "click_rate", BanditConfig())
            write_results(con, "experiment_results", results, replace_where=("analysis_date",))
            write_results(con, "experiment_decisions", decisions, replace_where=("analysis_date",))
            if len(allocations):
                write_results(con, "experiment_allocations", allocations, replace_where=())
            actions = [
                ProposedAction(
                    source="experiments",
                    action_type=proposal.action_type,
                    platform="klaviyo",
                    target_id=proposal.experiment_id,
                    payload={"winner_variant": proposal.target_variant},
                    reason=str(proposal.evidence.get("explanation", "")),
                    auto_apply_allowed=False,
                    evidence=proposal.evidence,
                )
                for proposal in proposals
            ]
            write_actions(con, actions, analysis_timestamp, analysis_timestamp.date())
        reports = loopwise_paths.paths().report_dir("experiments")
        charts = []
        decided = (
            decisions[decisions["decision"].isin(["ship", "stop_for_harm"])] if len(decisions) else decisions
        )
        for row in decided.head(10).itertuples(index=False):
            path = reports / f"lift_{row.experiment_id}.html"
            build_lift_chart(results, row.experiment_id, row.primary_metric, html_path=str(path))
            charts.append(str(path))
        counts = decisions["decision"].value_counts().to_dict() if len(decisions) else {}
        headline = f"{len(decisions)} experiments: " + ", ".join(
            f"{n} {d}" for d, n in sorted(counts.items())
        )
        context.log.info(headline)
        examples = decided["explanation"].head(3).tolist() if len(decided) else []
        yield dg.MaterializeResult(
            asset_key=EXPERIMENT_RESULTS_KEY,
            metadata={
                "rows": len(results),
                "experiments": len(types),
                "contaminated_units": int(sufficient.contamination["contaminated_units"].sum())
                if len(sufficient.contamination)
                else 0,
            },
        )
        yield dg.MaterializeResult(
            asset_key=EXPERIMENT_DECISIONS_KEY,
            metadata={
                "headline": headline,
                "decisions": dg.MetadataValue.json({str(k): int(v) for k, v in counts.items()}),
                "proposed_actions": len(actions),
                "examples": dg.MetadataValue.json(examples),
                "charts": dg.MetadataValue.json(charts),
            },
        )

    return dg.Definitions(assets=[experiment_analysis])
