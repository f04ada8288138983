"""Calibration/holdout validation of the purchase model beside two naive baselines.

Fit on the transactions up to the calibration end, predict each customer's repeat purchase days
in the holdout window, and compare with what they did: mean absolute error per customer and
the total. Baselines: the customer's own past repeat rate (repeat days / age, times the
horizon) and the population mean (all repeat days / all customer-days, times the horizon).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from decision_engine.scores.customer_value import CustomerValueScores, score_customer_value
from decision_engine.scores.transactions import TransactionColumns, parse_days, summarize_transactions


@dataclass(frozen=True)
class PredictionError:
    name: str
    mean_absolute_error: float
    predicted_total: float


@dataclass(frozen=True)
class HoldoutReport:
    calibration_end: date
    holdout_days: int
    customers: int
    actual_total: int
    model: PredictionError
    past_rate: PredictionError
    population_mean: PredictionError
    scores: CustomerValueScores

    @property
    def rows(self) -> list[PredictionError]:
        return [self.model, self.past_rate, self.population_mean]


def holdout_purchases(
    frame: pd.DataFrame, columns: TransactionColumns, customers: np.ndarray, start: date, days: int
) -> np.ndarray:
    """Purchase days per customer in (start, start + days], aligned with ``customers``."""
    day = parse_days(frame[columns.date], columns.date)
    customer = frame[columns.customer].astype("string").str.strip()
    inside = ((day > pd.Timestamp(start)) & (day <= pd.Timestamp(start + timedelta(days=days)))).fillna(False)
    window = pd.DataFrame({"customer": customer[inside.to_numpy()], "day": day[inside.to_numpy()]})
    counts = window.drop_duplicates().groupby("customer").size()
    return counts.reindex(pd.Index(customers)).fillna(0).to_numpy(dtype=float)


def _error(name: str, predicted: np.ndarray, actual: np.ndarray) -> PredictionError:
    return PredictionError(name, float(np.mean(np.abs(predicted - actual))), float(predicted.sum()))


def evaluate_holdout(
    frame: pd.DataFrame, columns: TransactionColumns, calibration_end: date, holdout_days: int
) -> HoldoutReport:
    """Fit up to ``calibration_end``; score the ``holdout_days`` after it against the model and baselines."""
    summary = summarize_transactions(frame, columns, calibration_end)
    scores = score_customer_value(summary, holdout_days)
    actual = holdout_purchases(frame, columns, summary.customers, calibration_end, holdout_days)
    age = summary.age_days
    with np.errstate(invalid="ignore", divide="ignore"):
        own_rate = np.where(age > 0, summary.frequency / age, 0.0)
    population_rate = summary.frequency.sum() / max(age.sum(), 1.0)
    return HoldoutReport(
        calibration_end=calibration_end,
        holdout_days=holdout_days,
        customers=len(summary),
        actual_total=int(actual.sum()),
        model=_error("BG/NBD", scores.expected_purchases, actual),
        past_rate=_error("customer's past rate", own_rate * holdout_days, actual),
        population_mean=_error(
            "population mean", np.full(len(actual), population_rate * holdout_days), actual
        ),
        scores=scores,
    )
