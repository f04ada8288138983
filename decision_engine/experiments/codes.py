"""Machine-readable codes beside the English text of results and decisions.

Like gbstats' message constants: every data-quality note on a ``results.experiment_results``
row has a :class:`NoteCode` (``note_codes``, aligned with the note's parts) and every decision
in ``results.experiment_decisions`` a :class:`DecisionReason` (``reason_code``). Code that
filters or counts reads the codes, never the English. Codes are added, never renamed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class NoteCode(StrEnum):
    """Why a result row is incomplete or needs care (``results.experiment_results.note_codes``)."""

    SINGLE_ARM = "single_arm"  # only one arm for this metric and date; nothing to compare
    NO_CONTROL = "no_control"  # no control arm among the arms
    NO_VARIANT = "no_variant"  # only the control arm
    EMPTY_ARM = "empty_arm"  # an arm has no units with a value for the metric
    NO_EVENTS = "no_events"  # no events in either arm
    ZERO_VARIANCE = "zero_variance"  # zero variance or too few units for a test
    TOO_FEW_EVENTS = "too_few_events"  # primary metric: too few events in an arm to estimate a lift
    OUTLIERS_CAPPED = "outliers_capped"  # extreme values winsorised
    UNPLANNED_VARIANT = "unplanned_variant"  # variant or control not in the planned split; SRM not tested
    SRM = "srm"  # sample ratio mismatch
    MISSING_VALUES = "missing_values"  # units with a missing value left out
    CONTAMINATED = "contaminated"  # units seen in more than one arm excluded


class DecisionReason(StrEnum):
    """Why ``decide_experiments`` decided what it did (``results.experiment_decisions.reason_code``);
    one code per path of the decision rules."""

    NOT_ANALYSABLE = "not_analysable"  # no usable primary p-value (no pair, no events, ...): cannot decide
    SRM = "srm"  # sample ratio mismatch: continue, check assignment and delivery
    GUARDRAIL_HARM = "guardrail_harm"  # a guardrail significantly worse: stop_for_harm
    PRIMARY_HARM = "primary_harm"  # the primary metric significantly worse: stop_for_harm
    TOO_FEW_EVENTS = "too_few_events"  # too few events in an arm to estimate the primary lift: continue
    PRIMARY_BETTER = "primary_better"  # primary significantly better, minimum sample met: ship
    BELOW_MINIMUM_SAMPLE = "below_minimum_sample"  # ahead, but below the minimum sample for a rollout
    PLANNED_SAMPLE_REACHED = "planned_sample_reached"  # planned sample reached (or none planned), no winner
    CONTINUE_COLLECTING = "continue_collecting"  # not conclusive yet
    PROGRAM_EFFECT = "program_effect"  # global holdout: the email program's measured effect, reported
    PROGRAM_TOO_LITTLE_DATA = "program_too_little_data"  # global holdout: too little data to measure it
    UNDERPOWERED = (
        "underpowered"  # no winner yet and the planned sample not reached: continue, with how much more
    )
    HOLDBACK_EFFECT = "holdback_effect"  # a rolled-out Loopwise test measured against its holdback, reported


@dataclass(frozen=True)
class Note:
    """One data-quality note: its code and its English text."""

    code: NoteCode
    text: str
