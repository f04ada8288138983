"""The ``results`` schema: the public contract BI reads (DESIGN.md section 3).

Every table and column the decision assets write, with its meaning. ``docs/results_tables.md``
is generated from this module (``python -m core.results_schema > docs/results_tables.md``)
and a test checks both that the doc is current and that a real run writes these columns.
Add columns freely; never rename or drop one.
"""

from __future__ import annotations

BUDGET_COLUMNS = {
    "platform": "Ad platform: meta_ads or google_ads.",
    "campaign_id": "Platform campaign id.",
    "ad_id": "Platform ad id.",
    "current_daily_spend": "Mean daily spend over the last 7 days, in the ad's currency.",
    "recommended_daily_budget": "Recommended daily budget, in the ad's currency.",
    "change_pct": "Relative change from current spend (0.1 = +10%).",
    "expected_daily_revenue": "Posterior mean daily revenue at the recommended budget.",
    "expected_roas": "Expected revenue / recommended budget.",
    "roas_ci_low": "Lower end of the ROAS credible interval (90% by default).",
    "roas_ci_high": "Upper end of the ROAS credible interval.",
    "reason": "Why, in plain English.",
    "auto_apply_allowed": "Whether policy lets this change apply without a human (within max change, approved ad).",
    "analysis_timestamp": "When this analysis ran (UTC).",
    "ad_group_id": "Ad set (Meta) or ad group (Google) id.",
    "currency": "The ad account's currency.",
    "is_approved": "Whether the ad is approved for automatic reallocation.",
    "is_cold_start": "No usable history: an exploration budget, flagged.",
    "marginal_roas_current": "Revenue from the next unit of spend at the current budget.",
    "marginal_roas_recommended": "Revenue from the next unit of spend at the recommended budget.",
    "lower_bound": "Lowest budget the guardrails allowed for this ad.",
    "upper_bound": "Highest budget the guardrails allowed for this ad.",
    "analysis_date": "Day of the analysis; a re-run the same day replaces that day's rows.",
}

ANOMALY_ALERT_COLUMNS = {
    "incident_id": "Stable id of the incident (hash of type, scope and start).",
    "incident_type": "esp_tracking, deliverability, runaway_spend, conversion_tracking, traffic_drop, "
    "crm_sync_stall, data_source_health or metric_anomaly.",
    "metric": "Metric of the affected series.",
    "entity": "Affected campaign, flow, ad, platform or source.",
    "window_start": "First anomalous period of this series in the incident.",
    "window_end": "Last anomalous period of this series in the incident.",
    "observed": "Observed value at the latest anomalous point.",
    "expected": "Seasonal robust baseline at that point (from data before it only).",
    "lower": "Lower bound of the expected range.",
    "upper": "Upper bound of the expected range.",
    "severity": "info, warning or critical (the incident's severity).",
    "status": "open or resolved.",
    "explanation": "What was seen, the likely cause and the options, in plain English.",
    "analysis_timestamp": "When this scan ran (UTC).",
}

ACTION_COLUMNS = {
    "action_id": "Stable id: what the action does and the analysis date.",
    "analysis_timestamp": "When the analysis that proposed it ran (UTC).",
    "analysis_date": "Day of that analysis.",
    "source": "Which engine proposed it: budget or experiments.",
    "action_type": "set_daily_budget or rollout_winner.",
    "platform": "Where it would be applied: meta_ads, google_ads or klaviyo.",
    "target_id": "Ad id or experiment id.",
    "payload": 'JSON: the change (e.g. {"daily_budget": 120.0, "currency": "USD"}).',
    "evidence": "JSON: the numbers behind it.",
    "reason": "Why, in plain English.",
    "auto_apply_allowed": "Whether policy lets it apply without approval.",
    "status": "proposed -> approved / auto-approved / rejected -> executed -> verified.",
}


def results_tables() -> dict[str, dict[str, str]]:
    from decision_engine.experiments import EXPERIMENT_DECISIONS_COLUMNS, EXPERIMENT_RESULTS_COLUMNS

    return {
        "experiment_results": dict(EXPERIMENT_RESULTS_COLUMNS),
        "experiment_decisions": dict(EXPERIMENT_DECISIONS_COLUMNS),
        "budget_recommendations": BUDGET_COLUMNS,
        "anomaly_alerts": ANOMALY_ALERT_COLUMNS,
        "actions": ACTION_COLUMNS,
    }


def render_markdown() -> str:
    lines = [
        "# The `results` schema (BI contract)",
        "",
        "Generated from `core/results_schema.py`; do not edit by hand. BI reads these tables from the",
        "snapshot (`$LOOPWISE_HOME/bi/loopwise_bi.duckdb`), never from the warehouse. Columns are added,",
        "never renamed or dropped. Every row carries its `analysis_timestamp`.",
        "",
    ]
    for table, columns in results_tables().items():
        lines += [f"## `results.{table}`", "", "| column | meaning |", "|---|---|"]
        lines += [f"| `{column}` | {meaning} |" for column, meaning in columns.items()]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_markdown(), end="")
