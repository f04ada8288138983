"""Experiments: results, decisions and bandit allocations for every A/B(/n) test, flow split
and the global holdout in ``marts.fct_experiment_exposures``; the learnings pooled across
concluded tests, the ranked backlog of tests to run next, and where each flow loses people."""

from collections.abc import Sequence
from datetime import UTC, datetime

import dagster as dg

from orchestration.asset_metadata import table_metadata
from orchestration.constants import DECISIONS, WAREHOUSE_WRITER_POOL
from orchestration.previews import chart_links, preview
from orchestration.resources import LoopwisePathsResource, VendorSourcesResource, WarehouseResource

EXPERIMENT_RESULTS_KEY = dg.AssetKey(["results", "experiment_results"])
EXPERIMENT_DECISIONS_KEY = dg.AssetKey(["results", "experiment_decisions"])
LEARNINGS_KEY = dg.AssetKey(["results", "learnings"])
HYPOTHESES_KEY = dg.AssetKey(["results", "hypotheses"])
FLOW_DROPOFF_KEY = dg.AssetKey(["results", "flow_dropoff_findings"])
# The analysis reads dbt's sufficient statistics; the exposures and contacts too (Loopwise's own
# tests, customer value per recipient, segment breakdowns).
EXPERIMENT_MARTS = (
    "fct_experiment_sufficient_stats",
    "fct_experiment_contamination",
    "fct_experiment_exposures",
    "dim_contacts",
)
LEARNINGS_MARTS = ("fct_experiment_exposures", "dim_contacts", "dim_email_messages")
HYPOTHESES_MARTS = ("fct_email_sends", "fct_flow_step_funnel", "fct_flow_journeys", "dim_email_messages")
FLOW_DROPOFF_MARTS = ("fct_flow_journeys", "fct_flow_step_funnel")


def _policy():
    from decision_engine.policy import load_policy

    return load_policy()


class ExperimentsConfig(dg.Config):
    alpha: float = 0.05
    winsorize_percentile: float = 0.99


def build_definitions(
    mart_keys: list[dg.AssetKey],
    score_keys: Sequence[dg.AssetKey] = (),
    personalization_keys: Sequence[dg.AssetKey] = (),
) -> dg.Definitions:
    """``score_keys``: the score assets; ``results.customer_value`` is a dependency (customer value
    per recipient reads it when it exists). ``personalization_keys``: ``results.content_affinity``
    is a dependency of the backlog (its content sequence ideas read it when it exists)."""
    deps = [key for key in mart_keys if key.path[-1] in EXPERIMENT_MARTS]
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

    @dg.asset(
        key=LEARNINGS_KEY,
        deps=[EXPERIMENT_DECISIONS_KEY, *(key for key in mart_keys if key.path[-1] in LEARNINGS_MARTS)],
        group_name=DECISIONS,
        tags={"domain": "experiments"},
        kinds={"python", "duckdb"},
        pool=WAREHOUSE_WRITER_POOL,
        description="What works for us: per factor, level and metric, the random-effects (DerSimonian-Laird) "
        "pooled effect of every concluded test with its interval, tau^2, number of tests and whether it "
        "holds in each lifecycle segment. The prior of the next test's plan.",
    )
    def learnings(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, vendor_sources: VendorSourcesResource
    ) -> dg.MaterializeResult:
        from decision_engine.experiments.factors import library_entries
        from decision_engine.experiments.learnings import run_learnings

        with warehouse.connect() as con:
            run = run_learnings(con, vendor_sources.loop_now(), library_entries(_policy()))
            table = table_metadata(con, LEARNINGS_KEY)
            rows_preview = preview(con, "learnings")
        for note in run.notes:
            context.log.info(note)
        return dg.MaterializeResult(
            metadata={
                **table,
                "preview": rows_preview,
                "levels": int(run.learnings[["factor", "level"]].drop_duplicates().shape[0]),
                "tests_pooled": int(run.comparisons["experiment_id"].nunique())
                if len(run.comparisons)
                else 0,
                "notes": dg.MetadataValue.json(run.notes),
            }
        )

    @dg.asset(
        key=HYPOTHESES_KEY,
        deps=[
            LEARNINGS_KEY,
            *(key for key in mart_keys if key.path[-1] in HYPOTHESES_MARTS),
            *(key for key in personalization_keys if key.path == ["results", "content_affinity"]),
        ],
        group_name=DECISIONS,
        tags={"domain": "experiments"},
        kinds={"python", "duckdb"},
        pool=WAREHOUSE_WRITER_POOL,
        description="The backlog of tests to run: each library entry of policy.yaml (Loopwise may launch it) "
        "and each data-mined idea that needs a human (send hour, weekday, topic, the flow drop-off proposals, "
        "a sequence of a content angle for the segment that engages with it), "
        "with the "
        "expected lift, the sample the planner needs on the warehouse's own variance, weeks to a decision "
        "and expected value per week, ranked.",
    )
    def hypotheses(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, vendor_sources: VendorSourcesResource
    ) -> dg.MaterializeResult:
        from decision_engine.experiments.hypotheses import run_hypotheses

        with warehouse.connect() as con:
            backlog = run_hypotheses(con, _policy(), vendor_sources.loop_now())
            table = table_metadata(con, HYPOTHESES_KEY)
            rows_preview = preview(con, "hypotheses")
        top = backlog.iloc[0]["description"] if len(backlog) else "no hypotheses"
        context.log.info(f"Top hypothesis: {top}")
        return dg.MaterializeResult(
            metadata={
                **table,
                "preview": rows_preview,
                "library_candidates": int(
                    ((~backlog["needs_human"]) & (backlog["status"] == "candidate")).sum()
                ),
                "needs_human": int(backlog["needs_human"].sum()),
                "top": top,
            }
        )

    @dg.asset_check(
        asset=HYPOTHESES_KEY,
        name="hypotheses_plans_consistent",
        description="Every hypothesis of the latest backlog with a plan reaches required_units_per_arm "
        "in weeks_to_decision (to the tenth of a week) at half of weekly_units x test share, ranks 1..n "
        "without gaps, and only "
        "library entries (no needs_human row) carry a library_id.",
    )
    def hypotheses_plans_consistent(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        from decision_engine.result_checks import check_hypotheses

        with warehouse.connect(read_only=True) as con:
            outcome = check_hypotheses(con, _policy())
        return dg.AssetCheckResult(passed=outcome.passed, metadata=outcome.metadata)

    @dg.asset(
        key=FLOW_DROPOFF_KEY,
        deps=[key for key in mart_keys if key.path[-1] in FLOW_DROPOFF_MARTS],
        group_name=DECISIONS,
        tags={"domain": "experiments"},
        kinds={"python", "duckdb"},
        pool=WAREHOUSE_WRITER_POOL,
        description="Per flow step: the share of journeys (and of entries) that go on to the next step in the "
        "last 4 weeks against the 8 before (Fisher, Benjamini-Hochberg), contacts still waiting censored; "
        "each flow's worst step diagnosed in plain English with proposals for the backlog.",
    )
    def flow_dropoff_findings(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, vendor_sources: VendorSourcesResource
    ) -> dg.MaterializeResult:
        from decision_engine.experiments.flow_dropoff import run_flow_dropoff

        with warehouse.connect() as con:
            findings = run_flow_dropoff(con, vendor_sources.loop_now())
            table = table_metadata(con, FLOW_DROPOFF_KEY)
            rows_preview = preview(con, "flow_dropoff_findings")
        diagnoses = findings["diagnosis"].dropna().tolist() if len(findings) else []
        for diagnosis in diagnoses:
            context.log.info(diagnosis)
        return dg.MaterializeResult(
            metadata={
                **table,
                "preview": rows_preview,
                "steps_flagged": int(findings["is_flagged"].sum()) if len(findings) else 0,
                "diagnoses": dg.MetadataValue.json(diagnoses),
            }
        )

    return dg.Definitions(
        assets=[experiment_analysis, learnings, hypotheses, flow_dropoff_findings],
        asset_checks=[decisions_name_known_experiments, hypotheses_plans_consistent],
    )
