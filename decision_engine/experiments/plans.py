"""What was decided before an experiment started, and how the analysis runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from decision_engine.experiments.metrics import CUSTOMER_VALUE_PER_RECIPIENT, DEFAULT_PRIMARY_METRIC
from decision_engine.experiments.sequential import SequentialDesign

#: Primary metric per ``experiment_type`` of ``marts.fct_experiment_exposures``. The global
#: holdout arm receives no email, so per-delivered rates are undefined there.
DEFAULT_PRIMARY_BY_EXPERIMENT_TYPE = {
    "campaign_ab": "click_rate",
    "flow_split": "click_rate",
    "global_holdout": "revenue_per_recipient",
}


@dataclass(frozen=True)
class ExperimentPlan:
    """What was decided before the experiment started (all optional)."""

    experiment_id: str
    primary_metric: str = DEFAULT_PRIMARY_METRIC
    guardrail_metrics: tuple[str, ...] | None = None  # None: metrics flagged is_guardrail
    control_variant: str | None = None  # None: the is_control flag in the data
    planned_split: Mapping[str, float] | None = None  # None: equal split
    planned_units_per_arm: int | None = None  # None: units per arm at the latest look
    minimum_units_per_arm: int = 1000
    test_share: float | None = None  # share of the audience in the test (for the rollout text)
    variant_descriptions: Mapping[str, str] = field(default_factory=dict)
    check_sample_ratio: bool = True  # False when the split is unknown (e.g. a holdout share)
    # "global_holdout" measures the email program against a held-out group: decision
    # "report", never a rollout; anything else is an A/B(/n) test
    experiment_type: str | None = None
    # why the primary metric is not the experiment type's default; the decision text repeats it
    primary_metric_note: str = ""
    # Loopwise tests: how far the planned sample is, in recipients (delivered sends) per arm and
    # weeks at the current volume; a test short of it without a winner is "underpowered"
    more_recipients_per_arm: int | None = None
    weeks_to_planned_sample: float | None = None


@dataclass(frozen=True)
class AnalysisConfig:
    alpha: float = 0.05
    multiple_testing: str = "holm"  # or "bh"
    sequential: SequentialDesign = SequentialDesign()
    srm_threshold: float = 0.001
    control_variant: str | None = None  # default control name when no plan / flag says
    use_cuped: bool = True
    decision_basis: str = "sequential"  # or "fixed" (only for a single, final look)
    # a count metric (clicks, conversions) needs this many events in each arm before its lift
    # is estimated and decided on; below it the normal approximation is unreliable
    minimum_events_per_arm: int = 5


def default_plans(
    experiment_types: Mapping[str, str],
    holdout_share: float | None = None,
    value_primary: Mapping[str, str] | None = None,
) -> dict[str, ExperimentPlan]:
    """Plans for experiments nobody planned explicitly: the primary metric by experiment
    type, equal splits, and for the global holdout the holdout share (no SRM check when
    it is unknown). ``value_primary`` maps the experiments whose volume allows deciding on
    customer value per recipient to the sentence that says so
    (:mod:`decision_engine.experiments.customer_value`)."""
    plans = {}
    value_primary = value_primary or {}
    for experiment_id, experiment_type in experiment_types.items():
        primary = DEFAULT_PRIMARY_BY_EXPERIMENT_TYPE.get(experiment_type, DEFAULT_PRIMARY_METRIC)
        note = value_primary.get(str(experiment_id), "")
        if note:
            primary = CUSTOMER_VALUE_PER_RECIPIENT.name
        if experiment_type == "global_holdout":
            split = {"holdout": holdout_share, "treatment": 1 - holdout_share} if holdout_share else None
            # The holdout receives no email: email guardrails (bounces, unsubscribes, spam)
            # are zero there by construction, so comparing them would always "find harm".
            plans[experiment_id] = ExperimentPlan(
                experiment_id,
                primary_metric=primary,
                guardrail_metrics=(),
                planned_split=split,
                check_sample_ratio=split is not None,
                experiment_type=experiment_type,
                primary_metric_note=note,
            )
        else:
            plans[experiment_id] = ExperimentPlan(
                experiment_id,
                primary_metric=primary,
                experiment_type=experiment_type,
                primary_metric_note=note,
            )
    return plans
