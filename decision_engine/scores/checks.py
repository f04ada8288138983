"""Checks on the written scores, for the orchestration's asset checks (no Dagster here).

- Ranges: every probability in [0, 1], expected purchases and value not negative, tiers and
  segments among their codes, in the latest run of each score table.
- Calibration on the latest matured window (``results.score_models``): customer value's holdout
  total within ``MAX_TOTAL_ERROR`` of what happened and its per-customer error no worse than the
  better naive baseline by more than ``MAX_MAE_EXCESS``; lead scores' calibration error at most
  ``MAX_CALIBRATION_ERROR``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from decision_engine.scores.codes import ChurnTier, ScoreStatus, ScoreTier, Segment

MAX_TOTAL_ERROR = 0.5
MAX_MAE_EXCESS = 0.10
MAX_CALIBRATION_ERROR = 0.05


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    metadata: dict[str, Any] = field(default_factory=dict)


def _codes(enum: Any) -> str:
    return ", ".join(f"'{member.value}'" for member in enum)


RANGE_RULES: dict[str, dict[str, str]] = {
    "customer_value": {
        "p_alive_outside_0_1": "p_alive is null or p_alive not between 0 and 1",
        "negative_expected_purchases": "expected_purchases is null or expected_purchases < 0",
        "negative_expected_value": "expected_value < 0",
    },
    "churn_risk": {
        "churn_risk_outside_0_1": "churn_risk is null or churn_risk not between 0 and 1",
        "unknown_tier": f"churn_tier not in ({_codes(ChurnTier)})",
        "unknown_segment": f"segment not in ({_codes(Segment)})",
    },
    "lead_scores": {
        "probability_outside_0_1": "probability is null or probability not between 0 and 1",
        "unknown_tier": f"tier not in ({_codes(ScoreTier)})",
    },
}


def check_score_ranges(con: Any, table: str) -> CheckOutcome:
    """Rows of the latest run of ``results.<table>`` breaking each range rule (all zero to pass)."""
    rules = RANGE_RULES[table]
    counts = ", ".join(f"count(*) filter (where {rule}) as {name}" for name, rule in rules.items())
    row = con.execute(
        f"select count(*) as rows_checked, {counts} from results.{table} "
        f"where analysis_timestamp = (select max(analysis_timestamp) from results.{table})"
    ).fetchone()
    metadata = dict(zip(["rows_checked", *rules], (int(value) for value in row), strict=True))
    return CheckOutcome(passed=all(metadata[name] == 0 for name in rules), metadata=metadata)


def check_calibration(con: Any) -> CheckOutcome:
    """The latest run's validation on its matured window, per score (not-scored scores pass with a note)."""
    models = con.execute(
        "select * from results.score_models "
        "where analysis_timestamp = (select max(analysis_timestamp) from results.score_models)"
    ).df()
    metadata: dict[str, Any] = {}
    passed = True
    for row in models.to_dict("records"):
        score = row["score"]
        if row["status"] != ScoreStatus.SCORED.value:
            metadata[f"{score}_not_scored"] = row["note"]
            continue
        if score == "customer_value":
            total_error = row["validation_predicted_total"] / max(row["validation_actual_total"], 1.0) - 1.0
            best_baseline = min(row["baseline_past_rate_mae"], row["baseline_population_mae"])
            excess = row["validation_mae"] / best_baseline - 1.0 if best_baseline > 0 else 0.0
            metadata.update(
                customer_value_total_error=round(float(total_error), 4),
                customer_value_mae=round(float(row["validation_mae"]), 4),
                customer_value_mae_vs_best_baseline=round(float(excess), 4),
            )
            passed &= abs(total_error) <= MAX_TOTAL_ERROR and excess <= MAX_MAE_EXCESS
        elif score == "lead_scores":
            metadata.update(
                lead_calibration_error=round(float(row["calibration_error"]), 4),
                lead_auc=round(float(row["auc"]), 4),
            )
            passed &= row["calibration_error"] <= MAX_CALIBRATION_ERROR
    return CheckOutcome(passed=bool(passed), metadata=metadata)
