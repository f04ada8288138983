"""Budget reallocation: daily budget recommendations across approved ads."""

from datetime import UTC, datetime

import dagster as dg

from orchestration.constants import WAREHOUSE_WRITER_POOL
from orchestration.resources import LoopwisePathsResource, WarehouseResource

BUDGET_RECOMMENDATIONS_KEY = dg.AssetKey(["results", "budget_recommendations"])


class BudgetConfig(dg.Config):
    """Guardrails (a human sets these; defaults are conservative)."""

    max_change: float = 0.3
    exploration_share: float = 0.05
    total_daily_budget: float | None = None  # default: today's total spend


def build_definitions(mart_keys: list[dg.AssetKey]) -> dg.Definitions:
    deps = [key for key in mart_keys if key.path[-1] == "fct_ad_performance_daily"]

    @dg.asset(
        key=BUDGET_RECOMMENDATIONS_KEY,
        deps=deps,
        group_name="budget",
        pool=WAREHOUSE_WRITER_POOL,
        kinds={"python", "duckdb"},
        description=(
            "Recommended daily budget per approved ad from fitted spend->revenue curves (Bayesian, "
            "pooled, lag-corrected), within the total budget, per-ad bounds and the max daily change. "
            "Proposed changes go to results.actions."
        ),
    )
    def budget_recommendations(
        context: dg.AssetExecutionContext,
        config: BudgetConfig,
        warehouse: WarehouseResource,
        loopwise_paths: LoopwisePathsResource,
    ) -> dg.MaterializeResult:
        from decision_engine.actions import write_actions
        from decision_engine.budget import (
            BudgetSettings,
            curves_figure,
            proposed_actions,
            recommend_budgets,
        )
        from decision_engine.store import write_results

        analysis_timestamp = datetime.now(UTC)
        with warehouse.connect() as con:
            history = con.execute("select * from marts.fct_ad_performance_daily").df()
            result = recommend_budgets(
                history,
                BudgetSettings(
                    max_change=config.max_change,
                    exploration_share=config.exploration_share,
                    total_daily_budget=config.total_daily_budget,
                ),
                analysis_timestamp=analysis_timestamp,
            )
            frame = result.recommendations.copy()
            frame["analysis_date"] = analysis_timestamp.date()
            write_results(con, "budget_recommendations", frame, replace_where=("analysis_date",))
            actions = proposed_actions(result)
            write_actions(con, actions, analysis_timestamp, analysis_timestamp.date())
        reports = loopwise_paths.paths().report_dir("budget")
        chart = reports / "budget_curves.html"
        curves_figure(result, html_path=str(chart))
        context.log.info(result.summary)
        return dg.MaterializeResult(
            metadata={
                "headline": result.summary,
                "ads": len(frame),
                "total_daily_budget": float(result.total_daily_budget),
                "expected_daily_revenue_current": float(result.expected_daily_revenue_current),
                "expected_daily_revenue_recommended": float(result.expected_daily_revenue_recommended),
                "kept_current": bool(result.kept_current),
                "proposed_actions": len(actions),
                "issues": dg.MetadataValue.json(list(result.issues)),
                "chart": dg.MetadataValue.path(str(chart)),
            }
        )

    return dg.Definitions(assets=[budget_recommendations])
