"""Column descriptions of the public ``results`` tables (for Dagster metadata / dbt sources)."""

from __future__ import annotations

EXPERIMENT_RESULTS_COLUMNS: dict[str, str] = {
    "analysis_timestamp": "When this analysis ran (UTC); one per row.",
    "analysis_date": "Exposure day up to which units are included (cumulative); null for one-look input.",
    "experiment_id": "Experiment id.",
    "metric": "Metric name (see decision_engine.experiments.metrics).",
    "metric_kind": "proportion, mean or ratio (ratio = delta method).",
    "is_primary": "The experiment's primary metric (decides ship / keep control).",
    "is_guardrail": "A guardrail metric (a significant worsening stops the experiment).",
    "higher_is_better": "Direction of improvement.",
    "variant": "Variant compared with the control.",
    "control": "Control arm.",
    "n_control": "Units in the control arm with a value for this metric.",
    "n_variant": "Units in the variant arm with a value for this metric.",
    "mean_control": "Control estimate (CUPED-adjusted when cuped_applied).",
    "mean_variant": "Variant estimate (CUPED-adjusted when cuped_applied).",
    "absolute_lift": "mean_variant - mean_control.",
    "absolute_ci_lower": "Fixed-horizon CI of the absolute lift, two-sided at 1 - alpha (Welch t or z).",
    "absolute_ci_upper": "Upper end of the fixed-horizon CI of the absolute lift.",
    "relative_lift": "mean_variant / mean_control - 1.",
    "relative_ci_lower": "Fixed-horizon CI of the relative lift: delta method on the log ratio (never below "
    "-100%); symmetric delta method when a mean is not positive; null when an arm has no variance (no events).",
    "relative_ci_upper": "Upper end of the fixed-horizon relative CI.",
    "test_statistic": "Welch t (mean metrics) or z (proportions, ratios).",
    "degrees_of_freedom": "Welch-Satterthwaite df; infinite for z tests.",
    "p_value": "Fixed-horizon two-sided p-value (valid for one look at the planned sample).",
    "p_value_adjusted": "p_value adjusted across metrics x variants of the experiment at this date (Holm or BH).",
    "sequential_ci_lower": "Sequential (safe to look at daily) CI of the absolute lift; running intersection.",
    "sequential_ci_upper": "Upper end of the sequential CI of the absolute lift.",
    "sequential_relative_ci_lower": "Sequential CI of the relative lift (log ratio, as relative_ci_lower); running "
    "intersection over looks with enough events.",
    "sequential_relative_ci_upper": "Upper end of the sequential relative CI.",
    "sequential_p_value": "Sequential p-value from the running maximum of the mixture likelihood ratio.",
    "sequential_p_value_adjusted": "Holm-adjusted sequential p: per metric across variants; guardrails as one family.",
    "information_fraction": "Units so far / planned units (latest units when no plan).",
    "chance_to_beat_control": "Posterior probability (normal approximation, flat prior) that the variant is better.",
    "expected_loss": "Expected loss of shipping the variant, in metric units.",
    "cuped_applied": "Whether a pre-exposure covariate adjusted this comparison.",
    "variance_reduction": "Share of variance removed by CUPED.",
    "srm_p_value": "Chi-square p-value of arm sizes against the planned split.",
    "srm_flag": "Sample ratio mismatch (srm_p_value < 0.001).",
    "contaminated_units": "Units seen in more than one arm, excluded from the analysis.",
    "winsor_cap": "Cap applied to revenue-like metrics (percentile of non-zero values); null when none.",
    "verdict": "better / worse / inconclusive / not_analysable (decision basis, adjusted).",
    "note": "Plain-English data-quality notes (single arm, no events, too few events, zero variance, outliers, SRM, ...).",
    "numerator_control": "Control sum of the metric's numerator: events (clicks, conversions) for ratio and "
    "proportion metrics, the total for mean metrics (before CUPED, after winsorising).",
    "numerator_variant": "Variant sum of the metric's numerator.",
    "denominator_control": "Control denominator: delivered for ratio metrics, units otherwise.",
    "denominator_variant": "Variant denominator.",
    "too_few_events": "An arm has fewer than AnalysisConfig.minimum_events_per_arm (default 5) events (Kish "
    "effective count sum(y)^2/sum(y^2) for mean metrics): no lift is decided on, and the look is left out "
    "of the sequential CI intersection.",
}

EXPERIMENT_DECISIONS_COLUMNS: dict[str, str] = {
    "analysis_timestamp": "When this decision was made (UTC).",
    "analysis_date": "Latest exposure day included.",
    "experiment_id": "Experiment id.",
    "decision": "ship / keep_control / continue / stop_for_harm for A/B(/n) tests; report for the global holdout "
    "(the email program's measured effect; never a rollout).",
    "target_variant": "Variant to roll out (ship) or to stop (stop_for_harm); null otherwise.",
    "primary_metric": "Primary metric the decision rests on.",
    "relative_lift": "Relative lift of the row the decision cites.",
    "relative_ci_lower": "Sequential relative CI, lower end.",
    "relative_ci_upper": "Sequential relative CI, upper end.",
    "p_value": "Fixed-horizon p-value of the cited row.",
    "sequential_p_value": "Sequential p-value of the cited row.",
    "information_fraction": "Units so far / planned units.",
    "srm_flag": "Sample ratio mismatch detected.",
    "contaminated_units": "Units excluded for being in more than one arm.",
    "explanation": "Plain-English explanation of the decision.",
}
