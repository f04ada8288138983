"""Budget reallocation: daily budget recommendations across approved ads."""

from collections.abc import Sequence
from datetime import UTC, datetime

import dagster as dg

from orchestration.asset_metadata import table_metadata
from orchestration.constants import DECISIONS, WAREHOUSE_WRITER_POOL
from orchestration.previews import chart_links, preview
from orchestration.resources import LoopwisePathsResource, WarehouseResource

BUDGET_RECOMMENDATIONS_KEY = dg.AssetKey(["results", "budget_recommendations"])


class BudgetConfig(dg.Config):
    """Overrides for one run. The guardrails themselves come from policy.yaml (budget section):
    the per-entity cap, the minimum budget and the frozen list; these can only tighten them."""

    max_change: float | None = None  # default: the policy's budget.max_change_pct
    exploration_share: float = 0.05
    total_daily_budget: float | None = None  # default: today's total spend
    min_daily_budget: float | None = None  # per budget entity (per ad without one); default: BudgetSettings
    frozen: list[str] = []  # platform names or entity/ad ids whose budget never changes


def build_definitions(mart_keys: list[dg.AssetKey], score_keys: Sequence[dg.AssetKey] = ()) -> dg.Definitions:
    """``score_keys``: the score assets; ``results.customer_value`` is always a dependency (the
    policy's ``budget.objective: customer_value`` reads it), so the lineage does not change with the
    policy file."""
    deps = [key for key in mart_keys if key.path[-1] in ("fct_ad_performance_daily", "dim_budget_entities")]
    deps += [key for key in score_keys if key.path == ["results", "customer_value"]]

    @dg.asset(
        key=BUDGET_RECOMMENDATIONS_KEY,
        deps=deps,
        group_name=DECISIONS,
        tags={"domain": "budget"},
        pool=WAREHOUSE_WRITER_POOL,
        kinds={"python", "duckdb"},
        description=(
            "Recommended daily budget per budget entity (Meta ad set or CBO campaign, Google campaign "
            "budget; per approved ad where unknown) from fitted per-ad spend->revenue curves (Bayesian, "
            "pooled, lag-corrected), within the total budget, the bounds and the max daily change. "
            "The objective (platform-attributed revenue, expected customer value or CRM won revenue) comes from the "
            "policy's budget.objective. Proposed changes go to results.actions."
        ),
    )
    def budget_recommendations(
        context: dg.AssetExecutionContext,
        config: BudgetConfig,
        warehouse: WarehouseResource,
        loopwise_paths: LoopwisePathsResource,
    ) -> dg.MaterializeResult:
        from decision_engine.budget import BudgetSettings
        from decision_engine.budget.run import run_budget_recommendations
        from decision_engine.policy import load_policy

        policy = load_policy()
        limits = policy.budget
        cap = policy.budget_proposal_cap()
        # a run's max_change narrows what waits for approval too (never past the policy's hard cap)
        wider = policy.budget_approval_cap()
        if wider is not None and config.max_change is not None:
            wider = min(wider, config.max_change)
        settings = BudgetSettings(
            max_change=min(cap, config.max_change) if config.max_change is not None else cap,
            exploration_share=config.exploration_share,
            total_daily_budget=config.total_daily_budget,
            allow_shared_budgets=limits.allow_shared_budgets,
            approval_max_change=wider,
        )
        report_dir = loopwise_paths.paths().report_dir("budget")
        with warehouse.connect() as con:
            run = run_budget_recommendations(
                con,
                settings,
                datetime.now(UTC),
                report_dir=report_dir,
                min_daily_budget=max(limits.min_daily_budget, config.min_daily_budget or 0.0),
                frozen=[*limits.frozen, *config.frozen],
                objective=limits.objective,
            )
            table = table_metadata(con, BUDGET_RECOMMENDATIONS_KEY)
            headline_rows = preview(con, "budget_recommendations")
        context.log.info(run.headline)
        metadata = {
            **run.metadata,
            **table,
            "headline": run.headline,
            "preview": headline_rows,
            "issues": dg.MetadataValue.json(run.metadata["issues"]),
        }
        if run.chart_path is not None:
            metadata["charts"] = chart_links([run.chart_path], loopwise_paths.paths().reports_dir)
        return dg.MaterializeResult(metadata=metadata)

    @dg.asset_check(
        asset=BUDGET_RECOMMENDATIONS_KEY,
        name="budgets_add_up_to_the_total",
        blocking=True,
        description="The recommended budgets add up to the daily total the run allocated (the account's "
        "budget across platforms), within a cent per budget; per-platform sums in the metadata.",
    )
    def budgets_add_up_to_the_total(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> dg.AssetCheckResult:
        from decision_engine.result_checks import check_budget_total

        with warehouse.connect(read_only=True) as con:
            outcome = check_budget_total(con, _allocated_total(context))
        return dg.AssetCheckResult(passed=outcome.passed, metadata=outcome.metadata)

    return dg.Definitions(assets=[budget_recommendations], asset_checks=[budgets_add_up_to_the_total])


def _allocated_total(context: dg.AssetCheckExecutionContext) -> float | None:
    """The total the latest materialization allocated (its ``total_daily_budget``); None without one."""
    event = context.instance.get_latest_materialization_event(BUDGET_RECOMMENDATIONS_KEY)
    materialization = event.asset_materialization if event is not None else None
    entry = materialization.metadata.get("total_daily_budget") if materialization is not None else None
    return float(entry.value) if entry is not None else None
