"""The headline rows of each decision table: what its asset page previews (no Dagster here).

Each preview reads the latest analysis of a ``results`` table, the rows a marketer would look at
first: the biggest budget moves, every experiment's decision, the worst open incidents, the
actions still live, the highest scores. ``orchestration/previews.py`` renders them as Markdown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PREVIEW_ROWS = 10


@dataclass(frozen=True)
class HeadlineRows:
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    total: int  # rows the preview chose from


# What each decision table previews: the columns shown, and which rows come first.
PREVIEWS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "send_time_profiles": (
        ("contact_id", "time_zone", "chosen_local_hour", "source", "chosen_score", "n_sends", "n_opens"),
        "true",
        "n_opens desc, contact_id",
    ),
    "send_time_lift": (
        ("metric", "arm", "sends", "contacts", "rate", "relative_lift", "ci_lower", "ci_upper", "p_value"),
        "true",
        "metric desc, arm desc",
    ),
    "content_lift": (
        ("metric", "arm", "sends", "contacts", "rate", "relative_lift", "ci_lower", "ci_upper", "p_value"),
        "true",
        "metric, arm desc",  # click_rate (the primary metric) first, personalized before control
    ),
    "content_affinity": (
        ("contact_id", "preferred_angle", "preferred_probability", "source", "engagement_score", "n_sends",
         "n_clicks"),
        "is_preferred",
        "preferred_probability desc, contact_id",
    ),
    "micro_segment_profiles": (
        ("segment_id", "contacts", "click_rate_vs_account", "median_days_since_engagement", "customer_share",
         "description"),
        "true",
        "contacts desc, segment_id",
    ),
    "micro_segments": (
        ("contact_id", "segment_id", "recency", "click_level", "value", "angle", "previous_segment_id"),
        "true",
        "segment_id, contact_id",
    ),
    "budget_recommendations": (
        ("platform", "budget_entity_id", "ad_id", "current_daily_spend", "recommended_daily_budget",
         "change_pct", "expected_roas", "reason_code"),
        "true",
        "abs(recommended_daily_budget - current_daily_spend) desc, platform, ad_id",
    ),
    "experiment_decisions": (
        ("experiment_id", "decision", "target_variant", "primary_metric", "relative_lift",
         "relative_ci_lower", "relative_ci_upper", "reason_code"),
        "true",
        "experiment_id",
    ),
    "anomaly_alerts": (
        ("severity", "status", "incident_type", "metric", "entity", "window_end", "observed", "expected"),
        "status = 'open'",
        "case severity when 'critical' then 0 when 'high' then 1 when 'medium' then 2 else 3 end, "
        "window_end desc, incident_id",
    ),
    "actions": (
        ("action_id", "status", "action_type", "platform", "target_id", "policy_verdict", "reason_code"),
        "status in ('proposed', 'pending_approval', 'auto_approved', 'approved')",
        "status_at desc, action_id",
    ),
    "customer_value": (
        ("contact_id", "expected_value", "expected_purchases", "p_alive", "frequency"),
        "true",
        "expected_value desc nulls last, contact_id",
    ),
    "churn_risk": (
        ("contact_id", "churn_risk", "churn_tier", "segment", "days_since_last_engagement"),
        "true",
        "churn_risk desc nulls last, contact_id",
    ),
    "lead_scores": (
        ("contact_id", "probability", "tier", "days_in_stage", "emails_clicked_30d"),
        "true",
        "probability desc nulls last, contact_id",
    ),
    "learnings": (
        ("factor", "level", "reference_level", "metric", "tests", "pooled_relative_effect", "ci_lower",
         "ci_upper", "holds_by_segment"),
        "true",
        "metric, factor, level, reference_level",
    ),
    "hypotheses": (
        ("rank", "hypothesis_id", "status", "needs_human", "primary_metric", "expected_relative_lift",
         "required_units_per_arm", "weeks_to_decision", "expected_value_per_week"),
        "true",
        "rank",
    ),
    "flow_dropoff_findings": (
        ("flow_name", "step_position", "step_rate", "baseline_step_rate", "step_rate_change", "q_value",
         "is_flagged", "is_worst_step", "main_exit_reason", "diagnosis_code"),
        "true",
        "is_worst_step desc, is_flagged desc, step_rate_change nulls last, flow_name, step_position",
    ),
    "score_models": (
        ("score", "status", "model", "scored", "validation_mae", "auc", "calibration_error", "note"),
        "true",
        "score",
    ),
}  # fmt: skip


def headline_rows(con: Any, table: str, limit: int = PREVIEW_ROWS) -> HeadlineRows:
    """The first ``limit`` rows of the latest analysis of ``results.<table>`` in preview order. The
    action queue has no single analysis: it previews the actions still live, newest first."""
    columns, where, order = PREVIEWS[table]
    if table != "actions":
        latest = f"analysis_timestamp = (select max(analysis_timestamp) from results.{table})"
        where = f"({where}) and {latest}"
    (total,) = con.execute(f"select count(*) from results.{table} where {where}").fetchone()
    rows = con.execute(
        f"select {', '.join(columns)} from results.{table} where {where} order by {order} limit {int(limit)}"
    ).fetchall()
    return HeadlineRows(columns=columns, rows=rows, total=int(total))
