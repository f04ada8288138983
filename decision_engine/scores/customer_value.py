"""Customer value: BG/NBD expected purchases and probability alive, Gamma-Gamma expected value.

``score_customer_value`` fits both models on a :class:`CustomerSummary` and scores every
customer in it. ``expected_purchases`` counts repeat purchases (purchase days) in the
``horizon_days`` after the calibration end; ``expected_value`` is expected purchases times the
expected value of one purchase (undiscounted), null without values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from decision_engine.scores import bgnbd, gamma_gamma
from decision_engine.scores.codes import NOTE_TEXT, ModelNote
from decision_engine.scores.transactions import CustomerSummary, ScoreInputError

MIN_CUSTOMERS = 10
"""Fewest customers the purchase model is fitted on (four parameters describe a population)."""

MIN_SPEND_CUSTOMERS = 10
"""Fewest customers with a repeat purchase of positive value the spend model is fitted on."""

MAX_HORIZON_DAYS = 36500


@dataclass
class CustomerValueScores:
    summary: CustomerSummary
    horizon_days: int
    purchase_fit: bgnbd.BgNbdFit
    spend_fit: gamma_gamma.GammaGammaFit | None
    p_alive: np.ndarray
    expected_purchases: np.ndarray
    expected_value: np.ndarray | None
    notes: list[ModelNote] = field(default_factory=list)

    @property
    def model(self) -> str:
        return "bg_nbd+gamma_gamma" if self.spend_fit else "bg_nbd"

    def params(self) -> dict[str, float]:
        params = self.purchase_fit.params.as_dict()
        if self.spend_fit:
            params.update(self.spend_fit.params.as_dict())
        return params

    def note_text(self) -> list[str]:
        return [NOTE_TEXT[note] for note in self.notes]


def score_customer_value(summary: CustomerSummary, horizon_days: int) -> CustomerValueScores:
    """Fit BG/NBD (and Gamma-Gamma when the summary has values) and score every customer."""
    if not 0 < horizon_days <= MAX_HORIZON_DAYS:
        raise ScoreInputError(f"horizon must be between 1 and {MAX_HORIZON_DAYS} days, got {horizon_days}")
    n = len(summary)
    if n < MIN_CUSTOMERS:
        raise ScoreInputError(
            f"{n} customer(s) with a purchase on or before {summary.calibration_end}; the purchase model "
            f"needs at least {MIN_CUSTOMERS} (it describes a population, not one customer)"
        )
    if not (summary.frequency > 0).any():
        raise ScoreInputError(
            f"none of the {n} customers bought again on a later day by {summary.calibration_end}: "
            "repeat purchasing cannot be estimated (move the calibration end later)"
        )
    fit = bgnbd.fit(summary.frequency, summary.recency_days, summary.age_days)
    notes: list[ModelNote] = []
    spend_fit = None
    expected_value = None
    args = (fit.params, summary.frequency, summary.recency_days, summary.age_days)
    p_alive = bgnbd.probability_alive(*args)
    purchases = bgnbd.expected_purchases(*args, horizon=float(horizon_days))
    if summary.average_value is None:
        notes.append(ModelNote.NO_VALUES)
    else:
        spenders = (summary.frequency > 0) & (summary.average_value > 0)
        if spenders.sum() < MIN_SPEND_CUSTOMERS:
            raise ScoreInputError(
                f"{int(spenders.sum())} customer(s) with a repeat purchase of positive value; the value model "
                f"needs at least {MIN_SPEND_CUSTOMERS} (leave out --value-col to score purchases only)"
            )
        spend_fit = gamma_gamma.fit(summary.frequency[spenders], summary.average_value[spenders])
        if spend_fit.params.q <= 1:
            notes.append(ModelNote.NO_FINITE_MEAN_SPEND)
        else:
            average = gamma_gamma.expected_average_value(
                spend_fit.params, summary.frequency, summary.average_value
            )
            expected_value = purchases * average
    fits = [fit, *([spend_fit] if spend_fit else [])]
    if any(f.at_bound for f in fits):
        notes.append(ModelNote.PARAMETER_AT_BOUND)
    if not all(f.converged for f in fits):
        notes.append(ModelNote.NOT_CONVERGED)
    return CustomerValueScores(
        summary=summary,
        horizon_days=horizon_days,
        purchase_fit=fit,
        spend_fit=spend_fit,
        p_alive=p_alive,
        expected_purchases=purchases,
        expected_value=expected_value,
        notes=notes,
    )


def _number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def to_json_dict(scores: CustomerValueScores) -> dict[str, Any]:
    """The ``loopwise scores clv --format json`` document (docs/architecture.md, "Scores")."""
    s = scores.summary
    value = scores.expected_value
    customers = [
        {
            "customer": str(s.customers[i]),
            "frequency": int(s.frequency[i]),
            "recency_days": int(s.recency_days[i]),
            "age_days": int(s.age_days[i]),
            "p_alive": _number(scores.p_alive[i]),
            "expected_purchases": _number(scores.expected_purchases[i]),
            "expected_value": None if value is None else _number(value[i]),
        }
        for i in range(len(s))
    ]
    return {
        "model": scores.model,
        "params": scores.params(),
        "excluded": dict(s.excluded),
        "calibration_end": s.calibration_end.isoformat(),
        "horizon_days": scores.horizon_days,
        "time_unit": "day",
        "rows_read": s.rows_read,
        "same_day_rows_merged": s.same_day_rows_merged,
        "log_likelihood": scores.purchase_fit.log_likelihood,
        "notes": [note.value for note in scores.notes],
        "customers": customers,
    }
