"""Scores: customer value, churn risk and lead scores from the marts, with range and calibration checks."""

from datetime import UTC, datetime

import dagster as dg

from orchestration.asset_metadata import table_metadata
from orchestration.constants import DECISIONS, WAREHOUSE_WRITER_POOL
from orchestration.previews import preview
from orchestration.resources import WarehouseResource

CUSTOMER_VALUE_KEY = dg.AssetKey(["results", "customer_value"])
CHURN_RISK_KEY = dg.AssetKey(["results", "churn_risk"])
LEAD_SCORES_KEY = dg.AssetKey(["results", "lead_scores"])
SCORE_MODELS_KEY = dg.AssetKey(["results", "score_models"])
SCORE_KEYS = {
    "customer_value": CUSTOMER_VALUE_KEY,
    "churn_risk": CHURN_RISK_KEY,
    "lead_scores": LEAD_SCORES_KEY,
}
INPUT_MARTS = ("fct_orders", "fct_crm_funnel", "fct_email_sends", "fct_deals")


class ScoresConfig(dg.Config):
    horizon_days: int = 90
    holdout_days: int = 90


def build_definitions(mart_keys: list[dg.AssetKey]) -> dg.Definitions:
    deps = [key for key in mart_keys if key.path[-1] in INPUT_MARTS]

    def spec(key: dg.AssetKey, description: str, upstream: list[dg.AssetKey]) -> dg.AssetSpec:
        return dg.AssetSpec(
            key,
            deps=upstream,
            group_name=DECISIONS,
            tags={"domain": "scores"},
            kinds={"python", "duckdb"},
            description=description,
        )

    @dg.multi_asset(
        specs=[
            spec(
                CUSTOMER_VALUE_KEY,
                "Per customer: BG/NBD expected purchases and probability alive, "
                "Gamma-Gamma expected value over the horizon.",
                deps,
            ),  # fmt: skip
            spec(
                CHURN_RISK_KEY,
                "Per customer: churn risk from probability alive and email engagement decay, "
                "tier and segment (at_risk + lapsed is the win-back target).",
                [CUSTOMER_VALUE_KEY],
            ),  # fmt: skip
            spec(
                LEAD_SCORES_KEY,
                "Per open CRM contact: calibrated probability of a deal within 90 days "
                "(gradient boosting + isotonic), HubSpot-style tier.",
                deps,
            ),  # fmt: skip
            spec(
                SCORE_MODELS_KEY,
                "One row per score and run: parameters, excluded rows by reason, validation "
                "on the latest matured window beside naive baselines.",
                [CUSTOMER_VALUE_KEY, LEAD_SCORES_KEY],
            ),  # fmt: skip
        ],
        pool=WAREHOUSE_WRITER_POOL,
    )
    def scores(context: dg.AssetExecutionContext, config: ScoresConfig, warehouse: WarehouseResource):
        from decision_engine.scores.run import ScoreSettings, run_scores

        settings = ScoreSettings(horizon_days=config.horizon_days, holdout_days=config.holdout_days)
        with warehouse.connect() as con:
            run = run_scores(con, settings, datetime.now(UTC))
            tables = {key: table_metadata(con, key) for key in [*SCORE_KEYS.values(), SCORE_MODELS_KEY]}
            previews = {key: preview(con, key.path[-1]) for key in [*SCORE_KEYS.values(), SCORE_MODELS_KEY]}
        context.log.info(run.headline)
        models = {row["score"]: row for row in run.models.to_dict("records")}
        for name, key in SCORE_KEYS.items():
            row = models.get(name, {})
            yield dg.MaterializeResult(
                asset_key=key,
                metadata={
                    **tables[key],
                    "preview": previews[key],
                    "status": str(row.get("status")),
                    "rows": int(row.get("scored") or 0),
                    "note": str(row.get("note") or ""),
                },  # fmt: skip
            )
        yield dg.MaterializeResult(
            asset_key=SCORE_MODELS_KEY,
            metadata={
                **tables[SCORE_MODELS_KEY],
                "headline": run.headline,
                "preview": previews[SCORE_MODELS_KEY],
            },
        )

    def range_check(table: str, key: dg.AssetKey) -> dg.AssetChecksDefinition:
        @dg.asset_check(asset=key, name="score_ranges", description=f"Probabilities in [0, 1], no negative "
                        f"expectations, known tiers in the latest run of results.{table}.")  # fmt: skip
        def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
            from decision_engine.scores.checks import check_score_ranges

            with warehouse.connect(read_only=True) as con:
                outcome = check_score_ranges(con, table)
            return dg.AssetCheckResult(passed=outcome.passed, metadata=outcome.metadata)

        return _check

    @dg.asset_check(
        asset=SCORE_MODELS_KEY,
        name="calibration_on_latest_matured_window",
        description="Customer value: holdout total within 50% and error per customer no worse than the better "
        "naive baseline by more than 10%; lead scores: calibration error at most 0.05.",
    )
    def calibration_check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        from decision_engine.scores.checks import check_calibration

        with warehouse.connect(read_only=True) as con:
            outcome = check_calibration(con)
        return dg.AssetCheckResult(
            passed=outcome.passed, severity=dg.AssetCheckSeverity.WARN, metadata=outcome.metadata
        )

    checks = [range_check(table, key) for table, key in SCORE_KEYS.items()] + [calibration_check]
    return dg.Definitions(assets=[scores], asset_checks=checks)
