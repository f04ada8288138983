"""Machine-readable codes beside the English text of the scores.

Every transaction row left out of a customer-value fit has an :class:`ExclusionReason`; counts
by reason are printed by the command and stored in ``results.score_models``. Tiers are codes
too. Codes are added, never renamed.
"""

from __future__ import annotations

from enum import StrEnum


class ExclusionReason(StrEnum):
    """Why a transaction row did not enter the purchase model."""

    AFTER_CALIBRATION_END = "after_calibration_end"  # dated after the calibration end: ignored by design
    MISSING_CUSTOMER = "missing_customer"  # no customer id
    MISSING_DATE = "missing_date"  # no date
    MISSING_VALUE = "missing_value"  # --value-col given and the cell is empty
    NEGATIVE_VALUE = "negative_value"  # a refund or correction, not a purchase


EXCLUSION_TEXT: dict[ExclusionReason, str] = {
    ExclusionReason.AFTER_CALIBRATION_END: "dated after the calibration end (ignored)",
    ExclusionReason.MISSING_CUSTOMER: "no customer id",
    ExclusionReason.MISSING_DATE: "no date",
    ExclusionReason.MISSING_VALUE: "no value",
    ExclusionReason.NEGATIVE_VALUE: "negative value (refund or correction)",
}


class ScoreTier(StrEnum):
    """HubSpot-style tiers shared by lead scores and churn risk (A is the highest score)."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"


class ChurnTier(StrEnum):
    """Churn risk tiers (``results.churn_risk.churn_tier``)."""

    HIGH = "high"  # churn_risk >= 0.7
    MEDIUM = "medium"  # churn_risk >= 0.4
    LOW = "low"


class Segment(StrEnum):
    """Purchase-lifecycle segment (``results.churn_risk.segment``): the win-back target is at_risk + lapsed."""

    ACTIVE = "active"
    AT_RISK = "at_risk"  # churn_risk >= 0.5 and not lapsed
    LAPSED = "lapsed"  # p_alive < 0.3: probably gone already


class ScoreStatus(StrEnum):
    """Whether a score was produced this run (``results.score_models.status``)."""

    SCORED = "scored"
    NOT_SCORED = "not_scored"  # too little or unusable data; ``note`` says why


class ModelNote(StrEnum):
    """Notes on a fitted model (``results.score_models.note_codes``)."""

    PARAMETER_AT_BOUND = "parameter_at_bound"  # the data cannot pin a parameter down (e.g. no heterogeneity)
    NOT_CONVERGED = "not_converged"  # the optimiser stopped before convergence
    NO_FINITE_MEAN_SPEND = "no_finite_mean_spend"  # Gamma-Gamma q <= 1: expected value undefined
    NO_VALUES = "no_values"  # no value column: expected_value is null


NOTE_TEXT: dict[ModelNote, str] = {
    ModelNote.PARAMETER_AT_BOUND: "a model parameter ended on its bound; the data cannot pin it down",
    ModelNote.NOT_CONVERGED: "the likelihood optimiser did not report convergence",
    ModelNote.NO_FINITE_MEAN_SPEND: "the spend model has no finite mean (q <= 1); expected value is null",
    ModelNote.NO_VALUES: "no value column; expected value is null",
}
