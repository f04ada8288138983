"""Lead scores: probability that a CRM contact gets a deal (becomes an opportunity) within 90 days.

Gradient boosting (scikit-learn ``HistGradientBoostingClassifier``) on the features of
:mod:`lead_features`, calibrated by isotonic regression, shown as HubSpot-style tiers. Splits
are by time only and no label window crosses the date it is judged at:

- validation at ``t_val`` = the latest date whose 90-day outcome has matured;
- isotonic calibration at ``t_val - window`` (its outcomes end on ``t_val``);
- boosting on snapshots every ``snapshot_every_days`` up to ``t_val - 2 * window``.

The scoring model is the same recipe one window later (calibrated at ``as_of - window``),
so the reported metrics describe a model built exactly the way the scoring model is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from decision_engine.scores.codes import ScoreTier
from decision_engine.scores.lead_features import CrmHistory, features_as_of, outcomes
from decision_engine.scores.transactions import ScoreInputError

TIER_SHARES = ((ScoreTier.A, 0.10), (ScoreTier.B, 0.20), (ScoreTier.C, 0.30), (ScoreTier.D, 0.40))
"""Tiers by rank of the probability: A the top 10%, B the next 20%, C the next 30%, D the rest."""


@dataclass(frozen=True)
class LeadScoreSettings:
    window_days: int = 90
    snapshot_every_days: int = 14
    min_positives: int = 20  # fewest deals in training (and in calibration) to fit at all
    seed: int = 0


@dataclass(frozen=True)
class LeadModelReport:
    validated_at: datetime
    contacts: int
    positives: int
    auc: float
    calibration_error: float  # expected calibration error, 10 equal-count bins
    top_decile_lift: float
    training_snapshots: int
    expected_positives: float  # sum of the predicted probabilities


@dataclass
class LeadScores:
    as_of: datetime
    scores: pd.DataFrame  # contact_id (index), probability, tier, plus the features
    report: LeadModelReport


@dataclass
class LeadModel:
    booster: object
    calibrator: object

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        raw = self.booster.predict_proba(features.to_numpy(dtype=float))[:, 1]
        return np.clip(self.calibrator.predict(raw), 0.0, 1.0)


def _snapshots(history: CrmHistory, until: datetime, every_days: int) -> list[datetime]:
    first = pd.Timestamp(history.transitions["transitioned_at"].min()) + timedelta(days=30)
    dates = []
    day = pd.Timestamp(until)
    while day >= first:
        dates.append(day.to_pydatetime())
        day -= timedelta(days=every_days)
    return sorted(dates)


def _labelled(history: CrmHistory, as_of: datetime, window_days: int) -> tuple[pd.DataFrame, np.ndarray]:
    features = features_as_of(history, as_of)
    return features, outcomes(history, features.index, as_of, window_days)


def fit_lead_model(
    history: CrmHistory, calibrate_at: datetime, settings: LeadScoreSettings
) -> tuple[LeadModel, int]:
    """Boost on snapshots whose outcomes end by ``calibrate_at``; calibrate on ``calibrate_at``."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.isotonic import IsotonicRegression

    window = timedelta(days=settings.window_days)
    dates = _snapshots(history, calibrate_at - window, settings.snapshot_every_days)
    parts = [_labelled(history, day, settings.window_days) for day in dates]
    if not parts:
        raise ScoreInputError(
            f"lead scores need CRM history from before {(calibrate_at - window).date()} (two {settings.window_days}-day "
            "windows before the scoring date)"
        )
    x = pd.concat([features for features, _ in parts])
    y = np.concatenate([labels for _, labels in parts])
    calibration_x, calibration_y = _labelled(history, calibrate_at, settings.window_days)
    if y.sum() < settings.min_positives or calibration_y.sum() < settings.min_positives:
        raise ScoreInputError(
            f"too few deals to learn from ({int(y.sum())} in training, {int(calibration_y.sum())} in calibration; "
            f"at least {settings.min_positives} each)"
        )
    booster = HistGradientBoostingClassifier(
        max_iter=200, learning_rate=0.05, max_leaf_nodes=15, l2_regularization=1.0, random_state=settings.seed
    )
    booster.fit(x.to_numpy(dtype=float), y)
    raw = booster.predict_proba(calibration_x.to_numpy(dtype=float))[:, 1]
    calibrator = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, calibration_y)
    return LeadModel(booster=booster, calibrator=calibrator), len(dates)


def expected_calibration_error(probability: np.ndarray, outcome: np.ndarray, bins: int = 10) -> float:
    """Weighted mean |mean predicted - observed rate| over equal-count bins of the prediction."""
    order = np.argsort(probability, kind="stable")
    error = 0.0
    for chunk in np.array_split(order, bins):
        if len(chunk):
            error += len(chunk) * abs(probability[chunk].mean() - outcome[chunk].mean())
    return float(error / len(probability))


def top_decile_lift(score: np.ndarray, outcome: np.ndarray) -> float:
    """Outcome rate among the top 10% by score over the overall rate."""
    top = np.argsort(-score, kind="stable")[: max(1, len(score) // 10)]
    base = outcome.mean()
    return float(outcome[top].mean() / base) if base > 0 else float("nan")


def area_under_curve(score: np.ndarray, outcome: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(outcome, score)) if 0 < outcome.sum() < len(outcome) else float("nan")


def tiers(probability: np.ndarray) -> np.ndarray:
    """A/B/C/D by rank (ties share the lower tier, so a block of equal scores never fills a better tier)."""
    rank = pd.Series(probability).rank(method="max", ascending=False).to_numpy()  # 1 = best
    out = np.full(len(probability), TIER_SHARES[-1][0].value, dtype=object)
    shares = np.cumsum([int(round(share * 100)) for _, share in TIER_SHARES])  # whole percent
    for (tier, _), upper in zip(reversed(TIER_SHARES), reversed(shares), strict=True):
        out[rank * 100 <= upper * len(probability)] = tier.value
    return out


def validate_lead_model(history: CrmHistory, as_of: datetime, settings: LeadScoreSettings) -> LeadModelReport:
    """Metrics of the recipe at the latest matured date before ``as_of``."""
    window = timedelta(days=settings.window_days)
    validated_at = as_of - window
    model, snapshots = fit_lead_model(history, validated_at - window, settings)
    features, outcome = _labelled(history, validated_at, settings.window_days)
    probability = model.predict(features)
    return LeadModelReport(
        validated_at=validated_at,
        contacts=len(outcome),
        positives=int(outcome.sum()),
        auc=area_under_curve(probability, outcome),
        calibration_error=expected_calibration_error(probability, outcome),
        top_decile_lift=top_decile_lift(probability, outcome),
        training_snapshots=snapshots,
        expected_positives=float(probability.sum()),
    )


def score_leads(
    history: CrmHistory, as_of: datetime, settings: LeadScoreSettings | None = None
) -> LeadScores:
    """Probability of a deal within the window after ``as_of`` for every open CRM contact, with tiers."""
    settings = settings or LeadScoreSettings()
    report = validate_lead_model(history, as_of, settings)
    model, _ = fit_lead_model(history, as_of - timedelta(days=settings.window_days), settings)
    features = features_as_of(history, as_of)
    probability = model.predict(features) if len(features) else np.array([])
    scores = features.assign(probability=probability, tier=tiers(probability))
    return LeadScores(as_of=as_of, scores=scores, report=report)
