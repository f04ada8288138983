"""The ``results`` schema: the public contract BI reads, in one place.

Every table and column the decision assets write, with its DuckDB type and its meaning.
``decision_engine.store.write_results`` creates each table from these declarations, so
every column has its declared type from the first write (a column that is null on the
first run is not typed ``NULL``). ``docs/results_tables.md`` is generated from this module
(``python -m core.results_schema > docs/results_tables.md``); tests check that the doc is
current and that a real run writes exactly these tables and columns.
Add columns freely; never rename or drop one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB type
    description: str


def _table(*columns: tuple[str, str, str]) -> tuple[Column, ...]:
    return tuple(Column(*column) for column in columns)


EXPERIMENT_RESULTS = _table(
    ("analysis_timestamp", "TIMESTAMPTZ", "When this analysis ran (UTC); one per row."),
    (
        "analysis_date",
        "DATE",
        "Exposure day up to which units are included (cumulative); null for one-look input.",
    ),
    ("experiment_id", "VARCHAR", "Experiment id."),
    ("metric", "VARCHAR", "Metric name (see decision_engine.experiments.metrics)."),
    ("metric_kind", "VARCHAR", "proportion, mean or ratio (ratio = delta method)."),
    ("is_primary", "BOOLEAN", "The experiment's primary metric (decides ship / keep control)."),
    ("is_guardrail", "BOOLEAN", "A guardrail metric (a significant worsening stops the experiment)."),
    ("higher_is_better", "BOOLEAN", "Direction of improvement."),
    ("variant", "VARCHAR", "Variant compared with the control."),
    ("control", "VARCHAR", "Control arm."),
    ("n_control", "BIGINT", "Units in the control arm with a value for this metric."),
    ("n_variant", "BIGINT", "Units in the variant arm with a value for this metric."),
    ("mean_control", "DOUBLE", "Control estimate (CUPED-adjusted when cuped_applied)."),
    ("mean_variant", "DOUBLE", "Variant estimate (CUPED-adjusted when cuped_applied)."),
    ("absolute_lift", "DOUBLE", "mean_variant - mean_control."),
    (
        "absolute_ci_lower",
        "DOUBLE",
        "Fixed-horizon CI of the absolute lift, two-sided at 1 - alpha (Welch t or z).",
    ),
    ("absolute_ci_upper", "DOUBLE", "Upper end of the fixed-horizon CI of the absolute lift."),
    ("relative_lift", "DOUBLE", "mean_variant / mean_control - 1."),
    (
        "relative_ci_lower",
        "DOUBLE",
        "Fixed-horizon CI of the relative lift: delta method on the log ratio (never below -100%); symmetric delta method when a mean is not positive; null when an arm has no variance (no events).",
    ),
    ("relative_ci_upper", "DOUBLE", "Upper end of the fixed-horizon relative CI."),
    ("test_statistic", "DOUBLE", "Welch t (mean metrics) or z (proportions, ratios)."),
    ("degrees_of_freedom", "DOUBLE", "Welch-Satterthwaite df; infinite for z tests."),
    ("p_value", "DOUBLE", "Fixed-horizon two-sided p-value (valid for one look at the planned sample)."),
    (
        "p_value_adjusted",
        "DOUBLE",
        "p_value adjusted across metrics x variants of the experiment at this date (Holm or BH).",
    ),
    (
        "sequential_ci_lower",
        "DOUBLE",
        "Sequential (safe to look at daily) CI of the absolute lift; running intersection.",
    ),
    ("sequential_ci_upper", "DOUBLE", "Upper end of the sequential CI of the absolute lift."),
    (
        "sequential_relative_ci_lower",
        "DOUBLE",
        "Sequential CI of the relative lift (log ratio, as relative_ci_lower); running intersection over looks with enough events.",
    ),
    ("sequential_relative_ci_upper", "DOUBLE", "Upper end of the sequential relative CI."),
    (
        "sequential_p_value",
        "DOUBLE",
        "Sequential p-value from the running maximum of the mixture likelihood ratio.",
    ),
    (
        "sequential_p_value_adjusted",
        "DOUBLE",
        "Holm-adjusted sequential p: per metric across variants; guardrails as one family.",
    ),
    ("information_fraction", "DOUBLE", "Units so far / planned units (latest units when no plan)."),
    (
        "chance_to_beat_control",
        "DOUBLE",
        "Posterior probability (normal approximation, flat prior) that the variant is better.",
    ),
    ("expected_loss", "DOUBLE", "Expected loss of shipping the variant, in metric units."),
    ("cuped_applied", "BOOLEAN", "Whether a pre-exposure covariate adjusted this comparison."),
    ("variance_reduction", "DOUBLE", "Share of variance removed by CUPED."),
    ("srm_p_value", "DOUBLE", "Chi-square p-value of arm sizes against the planned split."),
    ("srm_flag", "BOOLEAN", "Sample ratio mismatch (srm_p_value < 0.001)."),
    ("contaminated_units", "BIGINT", "Units seen in more than one arm, excluded from the analysis."),
    (
        "winsor_cap",
        "DOUBLE",
        "Cap applied to revenue-like metrics (percentile of non-zero values); null when none.",
    ),
    ("verdict", "VARCHAR", "better / worse / inconclusive / not_analysable (decision basis, adjusted)."),
    (
        "note",
        "VARCHAR",
        "Plain-English data-quality notes (single arm, no events, too few events, zero variance, outliers, SRM, ...).",
    ),
    (
        "numerator_control",
        "DOUBLE",
        "Control sum of the metric's numerator: events (clicks, conversions) for ratio and proportion metrics, the total for mean metrics (before CUPED, after winsorising).",
    ),
    ("numerator_variant", "DOUBLE", "Variant sum of the metric's numerator."),
    ("denominator_control", "DOUBLE", "Control denominator: delivered for ratio metrics, units otherwise."),
    ("denominator_variant", "DOUBLE", "Variant denominator."),
    (
        "too_few_events",
        "BOOLEAN",
        "An arm has fewer than AnalysisConfig.minimum_events_per_arm (default 5) events (Kish effective count sum(y)^2/sum(y^2) for mean metrics): no lift is decided on, and the look is left out of the sequential CI intersection.",
    ),
    (
        "note_codes",
        "VARCHAR[]",
        "Machine-readable codes of the notes, one per note part in order (decision_engine.experiments.codes.NoteCode): single_arm, no_control, no_variant, empty_arm, no_events, zero_variance, too_few_events, outliers_capped, unplanned_variant, srm, missing_values, contaminated; empty when there is no note.",
    ),
)

EXPERIMENT_DECISIONS = _table(
    ("analysis_timestamp", "TIMESTAMPTZ", "When this decision was made (UTC)."),
    ("analysis_date", "DATE", "Latest exposure day included."),
    ("experiment_id", "VARCHAR", "Experiment id."),
    (
        "decision",
        "VARCHAR",
        "ship / keep_control / continue / stop_for_harm for A/B(/n) tests and Loopwise's own tests (loopwise:<test id>); report for the global holdout (the email program's measured effect; never a rollout) and a rolled-out Loopwise test's holdback (loopwise:<test id>:holdback).",
    ),
    ("target_variant", "VARCHAR", "Variant to roll out (ship) or to stop (stop_for_harm); null otherwise."),
    ("primary_metric", "VARCHAR", "Primary metric the decision rests on."),
    ("relative_lift", "DOUBLE", "Relative lift of the row the decision cites."),
    ("relative_ci_lower", "DOUBLE", "Sequential relative CI, lower end."),
    ("relative_ci_upper", "DOUBLE", "Sequential relative CI, upper end."),
    ("p_value", "DOUBLE", "Fixed-horizon p-value of the cited row."),
    ("sequential_p_value", "DOUBLE", "Sequential p-value of the cited row."),
    (
        "information_fraction",
        "DOUBLE",
        "Units so far / planned units (Loopwise tests: delivered sends so far / planned sends).",
    ),
    ("srm_flag", "BOOLEAN", "Sample ratio mismatch detected."),
    ("contaminated_units", "BIGINT", "Units excluded for being in more than one arm."),
    ("explanation", "VARCHAR", "Plain-English explanation of the decision."),
    (
        "reason_code",
        "VARCHAR",
        "Machine-readable reason beside the explanation (decision_engine.experiments.codes.DecisionReason): not_analysable, srm, guardrail_harm, primary_harm, too_few_events, primary_better, below_minimum_sample, planned_sample_reached, continue_collecting, program_effect, program_too_little_data, underpowered or holdback_effect.",
    ),
)

EXPERIMENT_ALLOCATIONS = _table(
    ("experiment_id", "VARCHAR", "Experiment id."),
    ("analysis_date", "DATE", "Exposure day up to which the counts are cumulative (the data date)."),
    ("variant", "VARCHAR", "Arm."),
    ("successes", "DOUBLE", "Clicks so far (the click_rate numerator)."),
    ("trials", "DOUBLE", "Delivered messages so far (the click_rate denominator)."),
    ("probability_best", "DOUBLE", "Posterior probability (Beta) that this arm has the highest click rate."),
    (
        "weight",
        "DOUBLE",
        "Thompson-sampling share of the next send for this arm (a floor keeps every arm alive).",
    ),
)

BUDGET_RECOMMENDATIONS = _table(
    ("platform", "VARCHAR", "Ad platform: meta_ads or google_ads."),
    ("campaign_id", "VARCHAR", "Platform campaign id."),
    ("ad_id", "VARCHAR", "Platform ad id."),
    ("current_daily_spend", "DOUBLE", "Mean daily spend over the last 7 days, in the ad's currency."),
    ("recommended_daily_budget", "DOUBLE", "Recommended daily budget, in the ad's currency."),
    ("change_pct", "DOUBLE", "Relative change from current spend (0.1 = +10%)."),
    ("expected_daily_revenue", "DOUBLE", "Posterior mean daily revenue at the recommended budget."),
    ("expected_roas", "DOUBLE", "Expected revenue / recommended budget."),
    ("roas_ci_low", "DOUBLE", "Lower end of the ROAS credible interval (90% by default)."),
    ("roas_ci_high", "DOUBLE", "Upper end of the ROAS credible interval."),
    ("reason", "VARCHAR", "Why, in plain English."),
    (
        "auto_apply_allowed",
        "BOOLEAN",
        "Whether policy lets this change apply without a human (within max change, approved ad).",
    ),
    ("analysis_timestamp", "TIMESTAMPTZ", "When this analysis ran (UTC)."),
    ("ad_group_id", "VARCHAR", "Ad set (Meta) or ad group (Google) id."),
    ("currency", "VARCHAR", "The ad account's currency."),
    ("is_approved", "BOOLEAN", "Whether the ad is approved for automatic reallocation."),
    ("is_cold_start", "BOOLEAN", "No usable history: an exploration budget, flagged."),
    ("marginal_roas_current", "DOUBLE", "Revenue from the next unit of spend at the current budget."),
    ("marginal_roas_recommended", "DOUBLE", "Revenue from the next unit of spend at the recommended budget."),
    ("lower_bound", "DOUBLE", "Lowest budget the guardrails allowed for this ad."),
    ("upper_bound", "DOUBLE", "Highest budget the guardrails allowed for this ad."),
    (
        "analysis_date",
        "DATE",
        "Data date: the last day of ad data the analysis used; a re-run for that day replaces its rows.",
    ),
    (
        "reason_code",
        "VARCHAR",
        "Machine-readable decision behind reason: increase_high_marginal_return, decrease_low_marginal_return, "
        "hold_near_optimum, hold_within_uncertainty, kept_current_low_confidence, cold_start_exploration, "
        "cold_start_no_budget, no_recent_spend (a budget entity whose ads spent nothing in 7 days), "
        "frozen_by_policy or not_approved.",
    ),
    (
        "reason_flags",
        "VARCHAR[]",
        "Qualifier codes the reason also mentions (empty if none): capped_by_max_change, "
        "capped_by_max_budget, held_at_min_budget, exploratory_move, no_revenue_yet, little_own_data, "
        "quarantined_days_excluded, awaits_approval.",
    ),
    (
        "budget_entity_type",
        "VARCHAR",
        "Where the ad's budget is set: adset or campaign (Meta, campaign budget optimisation), "
        "campaign_budget (Google); null when unknown (then the row is a per-ad recommendation).",
    ),
    ("budget_entity_id", "VARCHAR", "Id of that ad set, campaign or campaign budget; null when unknown."),
    (
        "entity_recommended_daily_budget",
        "DOUBLE",
        "Recommended daily budget of the ad's budget entity (the number that is set); null when unknown. "
        "With an entity, recommended_daily_budget is the ad's expected part of it (its share of the "
        "entity's spend over the last 7 days).",
    ),
)

BUDGET_ENTITY_RECOMMENDATIONS = _table(
    ("analysis_timestamp", "TIMESTAMPTZ", "When this analysis ran (UTC)."),
    (
        "analysis_date",
        "DATE",
        "Data date: the last day of ad data the analysis used; a re-run for that day replaces its rows.",
    ),
    ("platform", "VARCHAR", "Ad platform: meta_ads or google_ads."),
    (
        "budget_entity_type",
        "VARCHAR",
        "adset or campaign (Meta, campaign budget optimisation), campaign_budget (Google).",
    ),
    ("budget_entity_id", "VARCHAR", "Platform id of the ad set, campaign or campaign budget."),
    ("budget_entity_name", "VARCHAR", "Its name as the vendor reports it (null when unknown)."),
    ("currency", "VARCHAR", "Currency of its budget."),
    (
        "current_daily_budget",
        "DOUBLE",
        "Daily budget the vendor reports now (not spend, which may run above it); the sum of its ads' "
        "current daily spend when no budget is known.",
    ),
    ("recommended_daily_budget", "DOUBLE", "Recommended daily budget (absolute)."),
    ("change_pct", "DOUBLE", "Relative change from the current budget (0.1 = +10%)."),
    (
        "expected_daily_revenue_current",
        "DOUBLE",
        "Posterior mean daily revenue at the current budget: the sum of its ads' curves, each at its "
        "share of the budget (its share of the entity's spend over the last 7 days).",
    ),
    ("expected_daily_revenue_recommended", "DOUBLE", "The same at the recommended budget."),
    ("explicitly_shared", "BOOLEAN", "A Google campaign budget shared by several campaigns."),
    ("ads", "INTEGER", "Ads whose spend comes from this budget."),
    ("reason", "VARCHAR", "Why, in plain English, naming the entity and its ads."),
    (
        "reason_code",
        "VARCHAR",
        "Machine-readable decision behind reason (the codes of budget_recommendations).",
    ),
    ("reason_flags", "VARCHAR[]", "Qualifier codes the reason also mentions (as in budget_recommendations)."),
    (
        "auto_apply_allowed",
        "BOOLEAN",
        "The engine's own confidence: within the auto-apply change, approved, with spend and enough data.",
    ),
)

ANOMALY_ALERTS = _table(
    ("incident_id", "VARCHAR", "Stable id of the incident (hash of type, scope and start)."),
    (
        "incident_type",
        "VARCHAR",
        "esp_tracking, deliverability, runaway_spend, conversion_tracking, traffic_drop, crm_sync_stall, data_source_health, "
        "data_quarantine (ad-days whose vendor records were quarantined) or metric_anomaly.",
    ),
    ("metric", "VARCHAR", "Metric of the affected series."),
    ("entity", "VARCHAR", "Affected campaign, flow, ad, platform or source."),
    ("window_start", "TIMESTAMP", "First anomalous period of this series in the incident."),
    ("window_end", "TIMESTAMP", "Last anomalous period of this series in the incident."),
    ("observed", "DOUBLE", "Observed value at the latest anomalous point."),
    ("expected", "DOUBLE", "Seasonal robust baseline at that point (from data before it only)."),
    ("lower", "DOUBLE", "Lower bound of the expected range."),
    ("upper", "DOUBLE", "Upper bound of the expected range."),
    ("severity", "VARCHAR", "info, warning or critical (the incident's severity)."),
    ("status", "VARCHAR", "open or resolved."),
    (
        "explanation",
        "VARCHAR",
        "What was seen and the likely cause, in plain English (the options: `options`).",
    ),
    ("analysis_timestamp", "TIMESTAMPTZ", "When this scan ran (UTC)."),
    ("analysis_date", "DATE", "Data date: the last day the scan judged (days end before data last arrived)."),
    (
        "options",
        "VARCHAR",
        'JSON list: the options the incident\'s page shows, in order (e.g. ["pause the ad", ...]); the page '
        "also offers reversing a Loopwise change when the action queue proposes one (`results.actions`).",
    ),
)

ACTIONS = _table(
    ("action_id", "VARCHAR", "Stable id: what the action does and the analysis date."),
    ("analysis_timestamp", "TIMESTAMPTZ", "When the analysis that proposed it ran (UTC)."),
    ("analysis_date", "DATE", "Data date of that analysis (its results table carries the same date)."),
    ("source", "VARCHAR", "Which engine proposed it: budget, experiments, anomalies or personalization."),
    (
        "action_type",
        "VARCHAR",
        "set_daily_budget, extend_daily_budget (the part of a move beyond the auto limit; always a human decision), rollout_winner (a campaign A/B test's winner or a Loopwise test's variant with its holdback), reverse_change, launch_experiment (start a Loopwise test of library content), apply_test_subject (an upcoming campaign message's subject shows a running test's style to its variant arm), schedule_send_times (an upcoming campaign sent at each contact's best local hour, with a randomized control at the account's best hour: results.send_time_assignments) or personalize_content (an upcoming campaign showing each recipient its preferred approved content angle, with a randomized control at a random approved angle: results.content_assignments).",
    ),
    ("platform", "VARCHAR", "Where it would be applied: meta_ads, google_ads or klaviyo."),
    (
        "target_id",
        "VARCHAR",
        "Budget entity id (ad set, campaign or campaign budget), ad id (an ad without a known entity), experiment id (loopwise:<test id> for a Loopwise test's rollout), test id (launch_experiment), campaign id (apply_test_subject on a one-message campaign; the marketer's campaign for schedule_send_times and personalize_content) or campaign message id (apply_test_subject on each message of a marketer's A/B test).",
    ),
    (
        "payload",
        "VARCHAR",
        'JSON: the change, an absolute target (e.g. {"daily_budget": 120.0, "currency": "USD", '
        '"entity_type": "adset", "current_daily_budget": 100.0, "explicitly_shared": false}).',
    ),
    ("evidence", "VARCHAR", "JSON: the numbers behind it."),
    ("reason", "VARCHAR", "Why, in plain English."),
    (
        "reason_code",
        "VARCHAR",
        "Machine-readable reason beside the English text (the engine's code: e.g. primary_better for a rollout_winner).",
    ),
    ("auto_apply_allowed", "BOOLEAN", "Whether policy lets it apply without approval."),
    (
        "status",
        "VARCHAR",
        "Current state: proposed -> auto_approved | pending_approval -> approved | rejected | expired -> "
        "executed | failed -> verified; also superseded (a newer proposal for the same entity replaced it "
        "before it ran) and rolled_back. History: results.action_events.",
    ),
    (
        "entity_key",
        "VARCHAR",
        "platform:target_id: the entity the action changes (a newer analysis supersedes its live proposals).",
    ),
    (
        "payload_hash",
        "VARCHAR",
        "Short sha256 of the payload; an approval holds only for the payload it saw.",
    ),
    ("status_at", "TIMESTAMPTZ", "When the action entered its current status."),
    (
        "status_by",
        "VARCHAR",
        "Who moved it there: the engine (budget, experiments), policy, loopwise (the executor) or the approver's name.",
    ),
    ("status_reason", "VARCHAR", "Why it is in its current status, in plain English."),
    ("policy_verdict", "VARCHAR", "The policy's verdict: auto_approved, pending_approval or rejected."),
    ("policy_reasons", "VARCHAR", "JSON list: the verdict's reasons in plain English."),
    (
        "policy_reason_code",
        "VARCHAR",
        "Machine-readable code of the verdict's first reason (decision_engine.governance), e.g. within_policy, "
        "above_auto_approve, human_only, max_change.",
    ),
    ("approved_by", "VARCHAR", "policy (automatic) or the approver's name; null until approved."),
    (
        "approved_at",
        "TIMESTAMPTZ",
        "When it was approved; the approval lapses approval_expires_after_days later.",
    ),
    ("approved_payload_hash", "VARCHAR", "payload_hash at approval; a changed payload needs approval again."),
    ("expires_at", "TIMESTAMPTZ", "When a proposal waiting for a human lapses (status expired)."),
    ("superseded_by", "VARCHAR", "action_id of the newer proposal that replaced it."),
    ("executed_at", "TIMESTAMPTZ", "When the vendor write succeeded (or found the value already set)."),
    ("attempts", "INTEGER", "Vendor write attempts so far (dry runs not counted); see results.action_log."),
)

ACTION_EVENTS = _table(
    ("event_id", "VARCHAR", "Unique id of the event."),
    ("action_id", "VARCHAR", "The action (results.actions)."),
    ("from_status", "VARCHAR", "Status before; null when the action was first proposed."),
    ("to_status", "VARCHAR", "Status after."),
    ("at", "TIMESTAMPTZ", "When it happened (UTC)."),
    ("actor", "VARCHAR", "Engine name, policy, loopwise or the approver's name."),
    ("reason", "VARCHAR", "Why, in plain English."),
    (
        "detail",
        "VARCHAR",
        "JSON: extra facts (the verdict's reasons, the payload hashes, the write's error).",
    ),
)

ACTION_LOG = _table(
    ("log_id", "VARCHAR", "Unique id of the write attempt."),
    ("action_id", "VARCHAR", "The action (results.actions)."),
    (
        "attempt",
        "INTEGER",
        "Attempt number (1 for the first write; dry runs carry the next attempt's number).",
    ),
    ("at", "TIMESTAMPTZ", "When the write was attempted (UTC)."),
    ("mode", "VARCHAR", "dry_run or execute (the policy's mode at the time)."),
    ("platform", "VARCHAR", "meta_ads, google_ads or klaviyo."),
    ("entity_type", "VARCHAR", "Vendor entity type (adset, campaign, campaign_budget, ...)."),
    ("entity_id", "VARCHAR", "Vendor entity id."),
    ("field", "VARCHAR", "Field written (daily_budget, winner_message_id, ...)."),
    ("value_before", "VARCHAR", "JSON: the vendor's value read before the write."),
    ("value_requested", "VARCHAR", "JSON: the target value sent."),
    ("value_after", "VARCHAR", "JSON: the vendor's value read back after the write."),
    ("status", "VARCHAR", "executed, validated (dry run), noop (already at the target) or failed."),
    ("error", "VARCHAR", "The vendor's reason, one line, when failed."),
    ("request", "VARCHAR", "JSON: method, url and body sent (never secrets)."),
    (
        "response",
        "VARCHAR",
        "JSON: the vendor's status code and body (Klaviyo's with email addresses withheld).",
    ),
    ("vendor_request_id", "VARCHAR", "fbtrace_id, Google request-id or Klaviyo request id."),
    ("payload_hash", "VARCHAR", "The action's payload_hash when written."),
    ("policy_hash", "VARCHAR", "Policy.hash() of the policy in force."),
)


DECISION_LOG = _table(
    (
        "action_id",
        "VARCHAR",
        "The action this decision is about (results.actions); one row per action that left the queue.",
    ),
    ("analysis_timestamp", "TIMESTAMPTZ", "When the decision log was rebuilt (the run's loop clock)."),
    ("analysis_date", "DATE", "Data date of the analysis that proposed the action."),
    ("decided_at", "TIMESTAMPTZ", "When the action reached its current status."),
    ("source", "VARCHAR", "Engine that proposed it (budget, experiments, anomalies, personalization)."),
    ("action_type", "VARCHAR", "set_daily_budget, rollout_winner, reverse_change, ..."),
    ("platform", "VARCHAR", "meta_ads, google_ads or klaviyo."),
    ("target_id", "VARCHAR", "The entity changed (budget entity id, experiment id, campaign id)."),
    ("status", "VARCHAR", "executed, verified, failed, rejected, expired, superseded or rolled_back."),
    ("decided_by", "VARCHAR", "Who moved it last: policy, loopwise or the approver's name."),
    ("approved_by", "VARCHAR", "Who approved it (policy for auto-approval); null if never approved."),
    ("reason", "VARCHAR", "Why it was proposed, in plain English (the engine's reason)."),
    ("status_reason", "VARCHAR", "Why it has its current status (the policy's or the vendor's words)."),
    (
        "value_before",
        "VARCHAR",
        "The vendor's value before the last executed write (JSON); null if never written.",
    ),
    ("value_after", "VARCHAR", "The vendor's value read back after that write (JSON)."),
    ("writes", "INTEGER", "Vendor write attempts logged for it (results.action_log)."),
    (
        "predicted_daily_revenue_change",
        "DOUBLE",
        "The engine's expected change in daily revenue, where it gave one; null otherwise.",
    ),
    (
        "realized_daily_revenue_change",
        "DOUBLE",
        "Budget moves: mean daily revenue over the matured window minus the curve's forecast at the old budget (entity currency); null otherwise.",
    ),
    ("executed_at", "TIMESTAMPTZ", "When the vendor write succeeded; null if it never did."),
    (
        "predicted_metric",
        "VARCHAR",
        "What the impact is a relative change of: daily_revenue (budget moves), the experiment's primary metric (rollouts) or human_open_rate (send-time schedules).",
    ),
    (
        "predicted_impact",
        "DOUBLE",
        "Predicted relative change of predicted_metric (0.04 = +4%): the curve's revenue at the new budget over the old; the experiment's lift.",
    ),
    (
        "predicted_impact_low",
        "DOUBLE",
        "Lower end of the predicted 90% interval (posterior draws of the curves; the decision's CI rescaled to 90%).",
    ),
    ("predicted_impact_high", "DOUBLE", "Upper end of the predicted 90% interval."),
    (
        "evaluation_method",
        "VARCHAR",
        "How the realized impact is measured: model_counterfactual (budget), ship_holdback (rollout) or randomized_holdout (send-time schedule: the campaign's personalized against its randomized control sends); null when it cannot be.",
    ),
    (
        "horizon_days",
        "INTEGER",
        "Days measured: 7 for a budget move (fewer when the next change to the entity came sooner); 28 for a rollout; 2 for a send-time schedule (days after its last send that opens are counted).",
    ),
    (
        "evaluate_after",
        "TIMESTAMPTZ",
        "When the window's conversions have arrived and the realized impact is read.",
    ),
    ("realized_impact", "DOUBLE", "Measured relative change of predicted_metric; null until evaluate_after."),
    ("realized_impact_low", "DOUBLE", "Lower end of the realized 90% interval."),
    ("realized_impact_high", "DOUBLE", "Upper end of the realized 90% interval."),
    (
        "verdict",
        "VARCHAR",
        "pending (window not matured); inconclusive (measurement noisier than the prediction); "
        "as_predicted / better / worse (realized inside / above / below the predicted 90% interval widened by the measurement's noise).",
    ),
    (
        "inside_predicted_interval",
        "BOOLEAN",
        "Whether the realized estimate landed inside the predicted 90% interval widened by the measurement's noise: "
        "true for as_predicted, false for better / worse, and the same test for an inconclusive measurement; "
        "null while pending or unmeasured (the calibration's count).",
    ),
    ("impact_summary", "VARCHAR", "The prediction and the measurement in one plain-English sentence."),
)

CUSTOMER_VALUE = _table(
    ("analysis_timestamp", "TIMESTAMPTZ", "When this scoring ran (UTC); one per row."),
    ("analysis_date", "DATE", "Calibration end: the last order day the purchase model saw."),
    (
        "contact_id",
        "VARCHAR",
        "Person (marts.dim_contacts.contact_id) with an order on or before analysis_date.",
    ),
    ("model", "VARCHAR", "bg_nbd+gamma_gamma (BG/NBD purchases, Gamma-Gamma spend) or bg_nbd."),
    (
        "frequency",
        "BIGINT",
        "Repeat purchase days up to analysis_date (same-day orders are one; the first is not a repeat).",
    ),
    ("recency_days", "BIGINT", "Days from the first to the last purchase day."),
    ("age_days", "BIGINT", "Days from the first purchase day to analysis_date."),
    ("average_order_value", "DOUBLE", "Mean value of the repeat purchase days; null without repeats."),
    ("p_alive", "DOUBLE", "Probability the customer is still active at analysis_date (0..1)."),
    ("horizon_days", "INTEGER", "Days after analysis_date that expected_purchases and expected_value cover."),
    ("expected_purchases", "DOUBLE", "Expected repeat purchase days in the horizon."),
    (
        "expected_value",
        "DOUBLE",
        "expected_purchases x the Gamma-Gamma expected value of a purchase (undiscounted); null when the spend model has no finite mean.",
    ),
)

CHURN_RISK = _table(
    ("analysis_timestamp", "TIMESTAMPTZ", "When this scoring ran (UTC); one per row."),
    ("analysis_date", "DATE", "Calibration end of the purchase model (as results.customer_value)."),
    ("contact_id", "VARCHAR", "Person with an order on or before analysis_date."),
    ("p_alive", "DOUBLE", "The purchase model's probability alive."),
    ("days_since_last_engagement", "DOUBLE", "Days since the last human open or click; null if never."),
    (
        "engagement_factor",
        "DOUBLE",
        "1 within 30 days of engaging, halving every 60 days of silence after; 0.5 if never engaged.",
    ),
    ("churn_risk", "DOUBLE", "1 - p_alive x engagement_factor (0..1)."),
    ("churn_tier", "VARCHAR", "high (>= 0.7), medium (>= 0.4) or low."),
    (
        "segment",
        "VARCHAR",
        "lapsed (p_alive < 0.3), at_risk (churn_risk >= 0.5) or active: lapsed + at_risk is the win-back target.",
    ),
)

LEAD_SCORES = _table(
    ("analysis_timestamp", "TIMESTAMPTZ", "When this scoring ran (UTC); one per row."),
    ("analysis_date", "DATE", "Prediction date: features use only what happened before it."),
    (
        "contact_id",
        "VARCHAR",
        "Person (or 'hubspot:<id>' for a CRM contact without a usable email) without a deal by analysis_date.",
    ),
    (
        "probability",
        "DOUBLE",
        "Calibrated probability of a deal (opportunity) within window_days after analysis_date.",
    ),
    (
        "tier",
        "VARCHAR",
        "A (top 10% by probability), B (next 20%), C (next 30%), D (rest); ties share the lower tier.",
    ),
    ("window_days", "INTEGER", "Outcome window in days."),
    (
        "lifecycle_stage_order",
        "INTEGER",
        "Lifecycle stage at analysis_date: 1 subscriber, 2 lead, 3 MQL, 4 SQL.",
    ),
    ("days_in_stage", "DOUBLE", "Days in that stage at analysis_date."),
    ("emails_clicked_30d", "DOUBLE", "Emails clicked in the 30 days before analysis_date."),
)

SCORE_MODELS = _table(
    ("analysis_timestamp", "TIMESTAMPTZ", "When this scoring ran (UTC)."),
    (
        "analysis_date",
        "DATE",
        "The score table's analysis_date (for not_scored: the UTC day of the run); a re-run for the same date replaces the row.",
    ),
    ("score", "VARCHAR", "customer_value, churn_risk or lead_scores."),
    ("status", "VARCHAR", "scored or not_scored (note says why)."),
    ("model", "VARCHAR", "Model name (bg_nbd+gamma_gamma, gradient_boosting+isotonic, ...)."),
    ("params", "VARCHAR", "Fitted parameters (JSON); BG/NBD alpha in days."),
    ("rows_read", "BIGINT", "Input rows read (orders for customer_value)."),
    ("excluded", "VARCHAR", "Rows left out by reason (JSON: reason code -> count)."),
    ("scored", "BIGINT", "Rows written to the score table."),
    (
        "validation_date",
        "DATE",
        "Latest matured window: customer_value's holdout calibration end, lead_scores' validation date.",
    ),
    ("validation_days", "INTEGER", "Length of the validation outcome window in days."),
    (
        "validation_mae",
        "DOUBLE",
        "customer_value: holdout mean absolute error of predicted purchases per customer.",
    ),
    ("baseline_past_rate_mae", "DOUBLE", "customer_value: the same for the customer's past rate."),
    ("baseline_population_mae", "DOUBLE", "customer_value: the same for the population mean rate."),
    (
        "validation_predicted_total",
        "DOUBLE",
        "customer_value: predicted holdout purchases in total; lead_scores: expected deals.",
    ),
    (
        "validation_actual_total",
        "DOUBLE",
        "customer_value: actual holdout purchases; lead_scores: actual deals.",
    ),
    ("auc", "DOUBLE", "lead_scores: validation AUC."),
    (
        "calibration_error",
        "DOUBLE",
        "lead_scores: expected calibration error (10 equal-count bins) on the validation window.",
    ),
    ("top_decile_lift", "DOUBLE", "lead_scores: deal rate in the top 10% over the base rate."),
    ("note_codes", "VARCHAR", "Machine-readable notes, comma-separated (ModelNote codes)."),
    ("note", "VARCHAR", "Plain-English notes, or why a score was not produced."),
)


LEARNINGS = _table(
    ("analysis_timestamp", "TIMESTAMPTZ", "When the learnings were pooled (UTC)."),
    (
        "analysis_date",
        "DATE",
        "Newest exposure day of the experiments mart; a re-run for the same date replaces the rows.",
    ),
    (
        "factor",
        "VARCHAR",
        "What the tests varied: subject_style (from the arms' subjects or the library entry), ...",
    ),
    ("level", "VARCHAR", "The level pooled (e.g. quick_read)."),
    (
        "reference_level",
        "VARCHAR",
        "What it was compared with: plain (the subject as the marketer wrote it; Loopwise tests' control) or another level when two styled subjects were tested against each other.",
    ),
    (
        "metric",
        "VARCHAR",
        "Metric of results.experiment_results pooled (human_open_rate, click_rate, conversion_rate, revenue_per_recipient, unsubscribe_rate).",
    ),
    ("tests", "BIGINT", "Concluded tests pooled (one comparison each)."),
    ("experiment_ids", "VARCHAR", "JSON list of the experiment ids pooled."),
    (
        "pooled_relative_effect",
        "DOUBLE",
        "Random-effects (DerSimonian-Laird) pooled relative effect of level over reference_level: exp(mu) - 1 of the pooled log ratio.",
    ),
    ("ci_lower", "DOUBLE", "Lower end of its 95% interval (relative)."),
    ("ci_upper", "DOUBLE", "Upper end of its 95% interval (relative)."),
    (
        "prediction_lower",
        "DOUBLE",
        "95% prediction interval of the next test's true effect (t with tests - 2 df); null below 3 tests.",
    ),
    ("prediction_upper", "DOUBLE", "Upper end of the prediction interval."),
    ("tau2", "DOUBLE", "Between-test variance of the log effect (DerSimonian-Laird)."),
    ("i2", "DOUBLE", "Share of the spread between tests beyond their noise (I^2; 0 for one test)."),
    (
        "segments",
        "BIGINT",
        "Lifecycle-stage segments (no_crm_stage / subscriber_or_lead / qualified_or_later) with an estimate.",
    ),
    (
        "segments_agreeing",
        "BIGINT",
        "Segments whose pooled effect has the overall effect's sign; null below 2 segments.",
    ),
    (
        "holds_by_segment",
        "BOOLEAN",
        "Every segment's pooled effect has the overall sign; null below 2 segments.",
    ),
    ("segment_difference_p_value", "DOUBLE", "Cochran's Q test that the segments' pooled effects are equal."),
    ("segment_effects", "VARCHAR", "JSON: segment -> relative_effect with ci_lower / ci_upper and tests."),
    ("description", "VARCHAR", "The learning in plain English."),
)

HYPOTHESES = _table(
    ("hypothesis_id", "VARCHAR", "library:<library id> or <factor>:<level> for a data-mined idea."),
    ("analysis_timestamp", "TIMESTAMPTZ", "When the backlog was built (UTC)."),
    (
        "analysis_date",
        "DATE",
        "Newest campaign send day the plan read; a re-run for the same date replaces the rows.",
    ),
    (
        "factor",
        "VARCHAR",
        "subject_style / send_hour / send_weekday / topic / flow_timing / flow_step_content / flow_step_removal.",
    ),
    (
        "level",
        "VARCHAR",
        "The level to test (a library level / an hour / a weekday / a topic / a flow step).",
    ),
    (
        "library_id",
        "VARCHAR",
        "The policy library entry Loopwise may launch; null for ideas that need a human.",
    ),
    ("description", "VARCHAR", "The hypothesis and its plan in plain English."),
    ("needs_human", "BOOLEAN", "A data-mined idea outside the library: only a human can act on it."),
    (
        "status",
        "VARCHAR",
        "candidate / running (its launch is live) / concluded (a final decision or the launch ended).",
    ),
    ("test_id", "VARCHAR", "The Loopwise test of a running or concluded library entry."),
    (
        "primary_metric",
        "VARCHAR",
        "order_rate when its test fits in 8 weeks else click_rate (the launcher's plan: decision_engine/experiments/design.py).",
    ),
    (
        "baseline_rate",
        "DOUBLE",
        "The primary metric per delivered campaign send over the last 56 days of campaign sends.",
    ),
    (
        "expected_relative_lift",
        "DOUBLE",
        "The prior: learnings' posterior mean (default 10% updated with the pooled effect vs plain) / the default 10% / an idea's observed difference halved.",
    ),
    ("prior_source", "VARCHAR", "learnings / default / observed."),
    ("learnings_tests", "BIGINT", "Concluded tests behind the learnings prior (0 when none)."),
    (
        "required_units_per_arm",
        "BIGINT",
        "Delivered sends per arm the launcher plans: 80% power at alpha 0.05 at the expected lift with the contact design effect; capped at 8 weeks of volume (plan_note then says what it detects).",
    ),
    (
        "weekly_units",
        "DOUBLE",
        "Sends per week the test draws on (delivered campaign sends; a flow step's recipients for flow timing).",
    ),
    (
        "weeks_to_decision",
        "DOUBLE",
        "Weeks (in tenths; at most 8) until half of weekly_units x test_share reaches required_units_per_arm.",
    ),
    ("value_per_event", "DOUBLE", "Attributed revenue per click / per order."),
    (
        "expected_value_per_week",
        "DOUBLE",
        "expected_relative_lift x baseline_rate x weekly_units x value_per_event (revenue per week once rolled out).",
    ),
    ("rank", "BIGINT", "1 = most expected value per week (ties: fewer weeks to a decision)."),
    (
        "plan_note",
        "VARCHAR",
        "Why this primary metric and what the sample detects (a capped plan: the lift it detects).",
    ),
    ("evidence", "VARCHAR", "JSON: the library template or the numbers an idea rests on."),
)

EXPERIMENT_ASSIGNMENTS = _table(
    (
        "experiment_id",
        "VARCHAR",
        "The Loopwise test (lw-<library id>-<yyyymmdd>); its exposures are experiment_id loopwise:<test>.",
    ),
    ("contact_id", "VARCHAR", "The contact assigned (marts.dim_contacts)."),
    ("klaviyo_profile_id", "VARCHAR", "The Klaviyo profile whose lw_arm_ property was written."),
    (
        "arm",
        "VARCHAR",
        "control or variant at launch; variant or holdback after a rollout (the arm in force from assigned_at).",
    ),
    (
        "assigned_at",
        "TIMESTAMPTZ",
        "When the write that set this arm succeeded; a later row for the contact and test replaces it.",
    ),
    ("action_id", "VARCHAR", "The executed action whose vendor write set it (results.actions)."),
)

SEND_TIME_PROFILES = _table(
    ("analysis_timestamp", "TIMESTAMPTZ", "When the send-time model ran (UTC); one per row."),
    (
        "analysis_date",
        "DATE",
        "Newest delivered send day the model read; a re-run for the same date replaces the rows.",
    ),
    (
        "contact_id",
        "VARCHAR",
        "The contact (marts.dim_contacts) with at least one delivered send in the lookback.",
    ),
    (
        "time_zone",
        "VARCHAR",
        "IANA time zone the local hours are in (the contact's; the account's most common one when unknown).",
    ),
    (
        "chosen_local_hour",
        "INTEGER",
        "Local hour (0-23) to send at: the highest hourly score (source contact) / the timing segment's best hour (segment) / the account's best hour (account).",
    ),
    (
        "source",
        "VARCHAR",
        "contact (at least 3 engaged sends) / segment (1-2) / account (none: cold start).",
    ),
    (
        "hourly_scores",
        "DOUBLE[]",
        "24 values: posterior mean probability that a send arriving at local hour h (0 first) is engaged with (human open or click) on an average weekday.",
    ),
    ("hourly_scores_sd", "DOUBLE[]", "24 values: posterior standard deviation of each hourly score."),
    ("chosen_score", "DOUBLE", "hourly_scores at chosen_local_hour."),
    (
        "timing_segment",
        "INTEGER",
        "The contact's most likely timing segment (0-based; fitted by EM each run).",
    ),
    ("timing_segment_probability", "DOUBLE", "Posterior probability of that timing segment."),
    ("n_sends", "BIGINT", "Delivered sends read (lookback 365 days; recency-weighted in the scores)."),
    ("n_opens", "BIGINT", "Of them: human opens (machine opens excluded)."),
    ("n_clicks", "BIGINT", "Of them: clicked."),
    ("half_life_days", "DOUBLE", "Recency half-life of the sends' weights."),
    (
        "account_best_local_hour",
        "INTEGER",
        "The account's best local hour this run: the cold-start choice and the hour the randomized control of results.send_time_assignments is sent at.",
    ),
    (
        "predicted_lift",
        "DOUBLE",
        "This run's prediction (the same on each of its rows): the relative lift in engagement of each contact's chosen hour over the account's best hour, measured on sends the choice did not see (two-fold cross-fitting); null when the sends are too few.",
    ),
    ("predicted_lift_low", "DOUBLE", "5th percentile of predicted_lift (bootstrap over contacts)."),
    ("predicted_lift_high", "DOUBLE", "95th percentile of predicted_lift (bootstrap over contacts)."),
)


SEND_TIME_ASSIGNMENTS = _table(
    ("contact_id", "VARCHAR", "The contact randomised (marts.dim_contacts)."),
    ("klaviyo_profile_id", "VARCHAR", "The contact's Klaviyo profile the send went to."),
    (
        "campaign_id",
        "VARCHAR",
        "The campaign the send appears under in marts.fct_email_sends (the clone Loopwise created for one local hour).",
    ),
    (
        "parent_campaign_id",
        "VARCHAR",
        "The marketer's campaign the clone was split from (the schedule_send_times action's target_id).",
    ),
    (
        "arm",
        "VARCHAR",
        "personalized (the contact's chosen local hour from results.send_time_profiles), control (the account's best local hour; send_time.holdout_share) or explore (a random local hour; send_time.explore_share).",
    ),
    ("scheduled_local_hour", "INTEGER", "Local hour (0-23) in time_zone the send was scheduled at."),
    ("time_zone", "VARCHAR", "IANA time zone of scheduled_local_hour."),
    ("scheduled_at", "TIMESTAMPTZ", "The UTC moment the send was scheduled for."),
    (
        "assigned_at",
        "TIMESTAMPTZ",
        "When the write that scheduled it succeeded (the arm drawn then; the latest row per campaign and contact counts).",
    ),
    ("action_id", "VARCHAR", "The executed schedule_send_times action (results.actions)."),
)

CONTENT_ASSIGNMENTS = _table(
    ("contact_id", "VARCHAR", "The contact randomised (marts.dim_contacts)."),
    ("klaviyo_profile_id", "VARCHAR", "The contact's Klaviyo profile."),
    (
        "campaign_id",
        "VARCHAR",
        "The marketer's campaign whose content was chosen per recipient (the personalize_content action's target_id). Its sends appear in marts.fct_email_sends under this id, or under a send-time clone of it (results.send_time_assignments.parent_campaign_id).",
    ),
    ("message_id", "VARCHAR", "The campaign's message whose preview text / body reads property_name."),
    (
        "arm",
        "VARCHAR",
        "personalized (the contact's preferred angle from results.content_affinity) or control (an angle drawn uniformly from the library; content_choice.holdout_share).",
    ),
    (
        "angle",
        "VARCHAR",
        "The content angle the recipient was assigned (case_study, how_to, comparison, promotion).",
    ),
    (
        "preferred_angle",
        "VARCHAR",
        "The model's preferred angle for the contact at assignment (the same as angle in the personalized arm; null for a contact without an affinity row).",
    ),
    (
        "property_name",
        "VARCHAR",
        "The Klaviyo profile property that carries the angle for this campaign (lw_angle_<campaign_id>).",
    ),
    ("assigned_at", "TIMESTAMPTZ", "When the write that assigned it succeeded."),
    ("action_id", "VARCHAR", "The executed personalize_content action (results.actions)."),
)


CONTENT_LIFT = _table(
    ("analysis_timestamp", "TIMESTAMPTZ", "When the lift was computed (UTC); one per row."),
    (
        "analysis_date",
        "DATE",
        "Newest delivered send day in marts.fct_email_sends (the data date); a re-run for the same date replaces its rows.",
    ),
    (
        "matured_before",
        "TIMESTAMPTZ",
        "Sends before this moment were read (the end of analysis_date minus 2 days, so their opens and clicks have arrived).",
    ),
    (
        "metric",
        "VARCHAR",
        "click_rate (clicks per delivered send; the primary metric) or human_open_rate (human opens per delivered send).",
    ),
    ("arm", "VARCHAR", "personalized or control (results.content_assignments); one row per arm and metric."),
    ("campaigns", "BIGINT", "Marketer campaigns with a matured send in this arm."),
    ("sends", "BIGINT", "Delivered matured sends in this arm."),
    ("contacts", "BIGINT", "Distinct contacts with such a send in this arm."),
    ("share_of_sends", "DOUBLE", "sends / the matured sends of both arms."),
    ("human_opens", "BIGINT", "Of the sends: opened by a human (machine opens excluded)."),
    ("clicks", "BIGINT", "Of the sends: clicked."),
    ("rate", "DOUBLE", "The metric in this arm: clicks / sends or human_opens / sends."),
    ("control_rate", "DOUBLE", "The metric in the control arm."),
    (
        "relative_lift",
        "DOUBLE",
        "rate / control_rate - 1 (null for the control row and when the control has no events).",
    ),
    (
        "ci_lower",
        "DOUBLE",
        "Lower end of the 95% interval of relative_lift: delta method on the log ratio, variance clustered by contact.",
    ),
    ("ci_upper", "DOUBLE", "Upper end of the 95% interval of relative_lift."),
    ("p_value", "DOUBLE", "Two-sided p-value of relative_lift = 0 (Wald z on the log ratio)."),
    ("log_ratio_se", "DOUBLE", "Contact-clustered standard error of log(rate / control_rate)."),
    (
        "clusters",
        "BIGINT",
        "Contacts in the comparison (with a send in this arm or the control): the clusters.",
    ),
)


SEND_TIME_LIFT = _table(
    ("analysis_timestamp", "TIMESTAMPTZ", "When the lift was computed (UTC); one per row."),
    (
        "analysis_date",
        "DATE",
        "Newest delivered send day in marts.fct_email_sends (the data date); a re-run for the same date replaces its rows.",
    ),
    (
        "matured_before",
        "TIMESTAMPTZ",
        "Sends before this moment were read (the end of analysis_date minus 2 days, so their opens and clicks have arrived).",
    ),
    (
        "metric",
        "VARCHAR",
        "human_open_rate (human opens per delivered send) or click_rate (clicks per delivered send).",
    ),
    (
        "arm",
        "VARCHAR",
        "personalized, control or explore (results.send_time_assignments); one row per arm and metric.",
    ),
    ("campaigns", "BIGINT", "Marketer campaigns (parent_campaign_id) with a matured send in this arm."),
    ("sends", "BIGINT", "Delivered matured sends in this arm."),
    ("contacts", "BIGINT", "Distinct contacts with such a send in this arm."),
    ("share_of_sends", "DOUBLE", "sends / the matured sends of every arm."),
    ("human_opens", "BIGINT", "Of the sends: opened by a human (machine opens excluded)."),
    ("clicks", "BIGINT", "Of the sends: clicked."),
    ("rate", "DOUBLE", "The metric in this arm: human_opens / sends or clicks / sends."),
    ("control_rate", "DOUBLE", "The metric in the control arm."),
    (
        "relative_lift",
        "DOUBLE",
        "rate / control_rate - 1 (null for the control row and when the control has no events).",
    ),
    (
        "ci_lower",
        "DOUBLE",
        "Lower end of the 95% interval of relative_lift: delta method on the log ratio of the two rates, with the variance clustered by contact (one contact gets many sends, in either arm).",
    ),
    ("ci_upper", "DOUBLE", "Upper end of the 95% interval of relative_lift."),
    (
        "p_value",
        "DOUBLE",
        "Two-sided p-value of no lift (Wald z on the log ratio, contact-clustered variance).",
    ),
    ("log_ratio_se", "DOUBLE", "Contact-clustered standard error of log(rate / control_rate)."),
    (
        "clusters",
        "BIGINT",
        "Contacts in the comparison (with a send in this arm or the control): the clusters.",
    ),
)


FLOW_DROPOFF_FINDINGS = _table(
    ("analysis_timestamp", "TIMESTAMPTZ", "When this analysis ran (UTC)."),
    (
        "analysis_date",
        "DATE",
        "Day of the newest Klaviyo event the journeys were built at; a re-run for the same date replaces the rows.",
    ),
    ("flow_id", "VARCHAR", "Flow (marts.fct_flow_journeys)."),
    ("flow_name", "VARCHAR", "Flow name."),
    ("step_position", "BIGINT", "Step k: the row is about getting from step k to the next step."),
    ("next_step", "BIGINT", "Step k + 1."),
    (
        "recent_start",
        "TIMESTAMPTZ",
        "Start of the recent window (4 weeks of entries up to the data's end); recent counts are journeys entered since.",
    ),
    (
        "baseline_start",
        "TIMESTAMPTZ",
        "Start of the baseline window: the 8 weeks of entries before recent_start.",
    ),
    ("journeys_at_step", "BIGINT", "Recent journeys that got step k."),
    (
        "still_waiting",
        "BIGINT",
        "Of those: still waiting for the next step (its delay has not elapsed): censored, never counted as dropped.",
    ),
    (
        "journeys_judged",
        "BIGINT",
        "Of those: the ones whose next step was due by the data's end (still waiting and exits before the due date are not judged).",
    ),
    ("journeys_proceeded", "BIGINT", "Of the judged: got the next step."),
    ("step_rate", "DOUBLE", "Per step: journeys_proceeded / journeys_judged (recent)."),
    (
        "entry_rate",
        "DOUBLE",
        "Per entry: of the recent entries (journeys from step 1) whose journey was judged up to the next step, the share that got it.",
    ),
    ("baseline_journeys_judged", "BIGINT", "journeys_judged in the baseline window."),
    ("baseline_journeys_proceeded", "BIGINT", "journeys_proceeded in the baseline window."),
    ("baseline_step_rate", "DOUBLE", "step_rate in the baseline window."),
    ("baseline_entry_rate", "DOUBLE", "entry_rate in the baseline window."),
    ("step_rate_change", "DOUBLE", "step_rate - baseline_step_rate."),
    (
        "p_value",
        "DOUBLE",
        "Fisher's exact test of recent against baseline step_rate; null when a window has fewer than 20 judged journeys.",
    ),
    ("q_value", "DOUBLE", "Benjamini-Hochberg adjusted p_value across every step tested in the run."),
    ("is_flagged", "BOOLEAN", "step_rate fell with q_value below 0.05."),
    ("exits_unsubscribed", "BIGINT", "Recent judged journeys that stopped at step k: unsubscribed."),
    ("exits_spam_complaint", "BIGINT", "... stopped by a spam complaint."),
    ("exits_bounced", "BIGINT", "... stopped by a hard bounce."),
    (
        "exits_filtered_out",
        "BIGINT",
        "... not sent the next step although its delay elapsed and nothing else explains it.",
    ),
    ("exits_converted", "BIGINT", "... bought (an order credited to the journey) and got no next step."),
    (
        "main_exit_reason",
        "VARCHAR",
        "The exit reason with the most exits: of the extra exits beyond the baseline's rate when flagged; of all exits otherwise.",
    ),
    ("main_exit_share", "DOUBLE", "Its share of those exits."),
    (
        "is_worst_step",
        "BOOLEAN",
        "The flow's worst step: the flagged step that lost the most; without one the lowest step_rate.",
    ),
    (
        "diagnosis_code",
        "VARCHAR",
        "Worst step only: unsubscribes / bounces / filtered_out / conversions / no_exits (decision_engine/experiments/flow_dropoff.py).",
    ),
    (
        "proposals",
        "VARCHAR",
        "Worst step only: comma-separated flow_timing / flow_step_content / flow_step_removal (backlog factors; each needs a human).",
    ),
    (
        "diagnosis",
        "VARCHAR",
        "Worst step only: the finding and proposals in plain English (associations only).",
    ),
)


CONTENT_AFFINITY = _table(
    ("analysis_timestamp", "TIMESTAMPTZ", "When the content affinity model ran (UTC); one per row."),
    (
        "analysis_date",
        "DATE",
        "Newest delivered send day the model read; a re-run for the same date replaces the rows.",
    ),
    (
        "contact_id",
        "VARCHAR",
        "The contact (marts.dim_contacts) with at least one delivered send of a tagged message in the lookback.",
    ),
    (
        "angle",
        "VARCHAR",
        "Content angle (marts.dim_message_content): case_study / how_to / comparison / promotion; one row per contact and angle.",
    ),
    ("n_sends", "BIGINT", "Delivered sends of this angle read (lookback 365 days)."),
    ("n_human_opens", "BIGINT", "Of them: opened by a human (machine opens excluded)."),
    ("n_clicks", "BIGINT", "Of them: clicked."),
    (
        "weighted_sends",
        "DOUBLE",
        "Recency-weighted sends (half-life half_life_days; a contact's weights sum to its sends).",
    ),
    (
        "engagement_score",
        "DOUBLE",
        "Posterior mean engagement per send of this angle: 0.5 x human_open_rate + 0.5 x click_rate (a click counts 1 and an open without a click 0.5).",
    ),
    ("engagement_score_sd", "DOUBLE", "Posterior standard deviation of engagement_score."),
    (
        "human_open_rate",
        "DOUBLE",
        "Posterior mean human opens per delivered send of this angle; shrunk towards the contact's level x the account's rate for the angle.",
    ),
    ("click_rate", "DOUBLE", "Posterior mean clicks per delivered send of this angle; shrunk likewise."),
    (
        "account_engagement_score",
        "DOUBLE",
        "The account's engagement per send of this angle (the prior's angle mix).",
    ),
    (
        "probability_best",
        "DOUBLE",
        "Posterior probability that this angle has the contact's highest engagement (normal approximation of each score's posterior).",
    ),
    ("is_preferred", "BOOLEAN", "This angle is the contact's preferred_angle."),
    ("preferred_angle", "VARCHAR", "The contact's angle with the highest engagement_score."),
    ("preferred_probability", "DOUBLE", "probability_best of the preferred angle (its certainty)."),
    (
        "source",
        "VARCHAR",
        "contact (at least 3 engaged sends of tagged messages) / account (fewer: mostly the account's angle mix).",
    ),
    ("half_life_days", "DOUBLE", "Recency half-life of the sends in days."),
    (
        "predicted_lift",
        "DOUBLE",
        "This run's prediction (the same on each of its rows): the relative lift in clicks per send of each contact's preferred angle over a uniformly random angle, from the contacts' posterior click rates; null without contacts.",
    ),
    ("predicted_lift_low", "DOUBLE", "5th percentile of predicted_lift (joint draws of the posteriors)."),
    ("predicted_lift_high", "DOUBLE", "95th percentile of predicted_lift (joint draws of the posteriors)."),
)


MICRO_SEGMENTS = _table(
    ("analysis_timestamp", "TIMESTAMPTZ", "When this segmentation ran (UTC); one per row."),
    (
        "analysis_date",
        "DATE",
        "Day of the newest delivered send read; a re-run for the same date replaces its rows.",
    ),
    ("contact_id", "VARCHAR", "Person with a delivered send in the last 365 days (marts.fct_email_sends)."),
    (
        "segment_id",
        "VARCHAR",
        "recency/click_level/value/angle of the contact's cell; 'other' where the cell was too small and gave that band up (angle first; then value; then click level); everyone_else when even the coarsest cell was too small.",
    ),
    (
        "segment_name",
        "VARCHAR",
        "The segment in plain English (e.g. Recent heavy clickers, customers, prefer how to).",
    ),
    (
        "recency",
        "VARCHAR",
        "recent (last human open or click under 30 days ago), lapsing (30-89) or dormant (90+ or never).",
    ),
    (
        "click_level",
        "VARCHAR",
        "heavy (shrunk click rate 1.5x the account's or more), average, light (under 0.67x).",
    ),
    (
        "value",
        "VARCHAR",
        "high_value (top 20% of customers by results.customer_value expected value), customer, prospect (no order); any when scores have not run.",
    ),
    (
        "angle",
        "VARCHAR",
        "Preferred content angle when its probability_best (results.content_affinity) is 0.5 or more; mixed below; any when content affinity has not run.",
    ),
    (
        "days_since_engagement",
        "DOUBLE",
        "Days from the last human open or click to the end of analysis_date; null if never.",
    ),
    ("n_sends", "BIGINT", "Delivered sends read."),
    ("n_clicks", "BIGINT", "Of them: clicked."),
    (
        "click_rate",
        "DOUBLE",
        "Clicks per delivered send (recency-weighted; half-life 30 days) shrunk towards the account's rate (beta-binomial).",
    ),
    ("click_rate_vs_account", "DOUBLE", "click_rate / the account's click rate."),
    ("preferred_angle", "VARCHAR", "results.content_affinity's preferred angle; null without it."),
    ("preferred_probability", "DOUBLE", "Its probability_best."),
    (
        "expected_value",
        "DOUBLE",
        "results.customer_value expected value (expected purchases when it has no finite mean); null for a non-customer.",
    ),
    (
        "previous_segment_id",
        "VARCHAR",
        "The contact's segment in the previous run (null if none): bands change only past an edge by a margin (hysteresis).",
    ),
)

MICRO_SEGMENT_PROFILES = _table(
    ("analysis_timestamp", "TIMESTAMPTZ", "When this segmentation ran (UTC); one per row."),
    ("analysis_date", "DATE", "As results.micro_segments."),
    ("segment_id", "VARCHAR", "As results.micro_segments.segment_id."),
    ("segment_name", "VARCHAR", "The segment in plain English."),
    (
        "description",
        "VARCHAR",
        "One sentence from the numbers: size; click rate against the account; recency; content preference; value.",
    ),
    ("contacts", "BIGINT", "Contacts in the segment."),
    ("share_of_contacts", "DOUBLE", "contacts / all segmented contacts."),
    (
        "median_sends",
        "DOUBLE",
        "Median delivered sends of its contacts (how much of the click level is their own evidence).",
    ),
    ("click_rate", "DOUBLE", "Mean shrunk click rate of its contacts."),
    ("click_rate_vs_account", "DOUBLE", "click_rate / the account's click rate."),
    (
        "median_days_since_engagement",
        "DOUBLE",
        "Median days since the last human open or click (contacts who engaged).",
    ),
    (
        "top_angle",
        "VARCHAR",
        "The preferred angle most of its contacts have (null without content affinity).",
    ),
    ("top_angle_share", "DOUBLE", "Share of its contacts whose preferred angle is top_angle."),
    ("customer_share", "DOUBLE", "Share of its contacts with a results.customer_value row."),
    ("mean_expected_value", "DOUBLE", "Mean expected value of its customers."),
    ("contacts_moved_in", "BIGINT", "Contacts in it now that were in another segment in the previous run."),
)


RESULTS_TABLES: dict[str, tuple[Column, ...]] = {
    "experiment_results": EXPERIMENT_RESULTS,
    "experiment_decisions": EXPERIMENT_DECISIONS,
    "experiment_allocations": EXPERIMENT_ALLOCATIONS,
    "budget_recommendations": BUDGET_RECOMMENDATIONS,
    "budget_entity_recommendations": BUDGET_ENTITY_RECOMMENDATIONS,
    "anomaly_alerts": ANOMALY_ALERTS,
    "actions": ACTIONS,
    "action_events": ACTION_EVENTS,
    "action_log": ACTION_LOG,
    "decision_log": DECISION_LOG,
    "customer_value": CUSTOMER_VALUE,
    "churn_risk": CHURN_RISK,
    "lead_scores": LEAD_SCORES,
    "score_models": SCORE_MODELS,
    "learnings": LEARNINGS,
    "hypotheses": HYPOTHESES,
    "experiment_assignments": EXPERIMENT_ASSIGNMENTS,
    "flow_dropoff_findings": FLOW_DROPOFF_FINDINGS,
    "send_time_profiles": SEND_TIME_PROFILES,
    "send_time_assignments": SEND_TIME_ASSIGNMENTS,
    "send_time_lift": SEND_TIME_LIFT,
    "content_assignments": CONTENT_ASSIGNMENTS,
    "content_lift": CONTENT_LIFT,
    "content_affinity": CONTENT_AFFINITY,
    "micro_segments": MICRO_SEGMENTS,
    "micro_segment_profiles": MICRO_SEGMENT_PROFILES,
}


def table_columns(table: str) -> tuple[Column, ...]:
    """The declared columns of ``results.<table>``; a clear error for an undeclared table."""
    try:
        return RESULTS_TABLES[table]
    except KeyError:
        raise KeyError(
            f"results.{table} is not in the results contract (core/results_schema.py); declare it there first"
        ) from None


def column_names(table: str) -> list[str]:
    return [column.name for column in table_columns(table)]


def render_markdown() -> str:
    lines = [
        "# The `results` schema (BI contract)",
        "",
        "Generated from `core/results_schema.py`; do not edit by hand. BI reads these tables from the",
        "snapshot (`$LOOPWISE_HOME/bi/loopwise_bi.duckdb`), never from the warehouse. Columns are added,",
        "never renamed or dropped. Every row carries its `analysis_timestamp` (when the analysis ran) and,",
        "where the table has one, its `analysis_date` (the data date the analysis looked at; the same",
        "meaning in every table, so tables join on it).",
        "",
    ]
    for table, columns in RESULTS_TABLES.items():
        lines += [f"## `results.{table}`", "", "| column | type | meaning |", "|---|---|---|"]
        lines += [f"| `{c.name}` | `{c.type}` | {c.description} |" for c in columns]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_markdown(), end="")
