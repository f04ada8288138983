"""Budget recommendations: fit curves, allocate the daily budget, guard against regressions.

``recommend_budgets`` is the one entry point the CLI and the Dagster asset call. It takes
daily ad history (CLI CSV shape or the ``marts.fct_ad_performance_daily`` mart) and returns
a :class:`BudgetRecommendation` with the ``results.budget_recommendations`` frame, proposed
``set_daily_budget`` actions, totals, and the fitted model for plotting.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from decision_engine.budget.allocate import Allocation, allocate_budgets, guardrails
from decision_engine.budget.inputs import AdHistory, prepare_ad_history
from decision_engine.budget.lag import SeasonalFactors, estimate_seasonal_factors
from decision_engine.budget.model import CurveDraws, ResponseModel, fit_response_model
from decision_engine.budget.reasons import explain_ads
from decision_engine.budget.settings import BudgetSettings

__all__ = ["BudgetRecommendation", "BudgetSettings", "recommend_budgets"]


@dataclass
class BudgetRecommendation:
    """Everything one run produces. Money in ``recommendations`` is in each ad's currency; totals in the base currency."""

    recommendations: pd.DataFrame
    total_daily_budget: float
    expected_daily_revenue_current: float
    expected_daily_revenue_recommended: float
    gain_probability: float
    kept_current: bool
    summary: str
    issues: list[str]
    analysis_timestamp: datetime
    settings: BudgetSettings
    history: AdHistory
    factors: SeasonalFactors
    model: ResponseModel
    draws: CurveDraws
    spend_base: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def analysis_date(self) -> date:
        """The data date: the last day of ad history used (not the wall-clock date)."""
        return self.history.last_date.date()


def _summary(
    allocation: Allocation, expected_current: float, expected_recommended: float, min_gain: float
) -> str:
    probability = allocation.gain_probability
    if allocation.kept_current:
        summary = (
            "Keep the current allocation: no reallocation is expected to beat it with enough confidence"
            f" (chance of gain {probability:.0%}, needed {min_gain:.0%})."
            if probability == probability
            else "Keep the current allocation."
        )
    else:
        lift = expected_recommended - expected_current
        summary = f"Reallocate: expected daily revenue {expected_recommended:,.2f} vs {expected_current:,.2f} now ({lift:+,.2f})."
        if probability == probability:
            summary += f" Chance the move beats the current allocation: {probability:.0%}."
    if allocation.note:
        summary += " Note: " + allocation.note + "."
    return summary


def recommend_budgets(
    frame: pd.DataFrame,
    settings: BudgetSettings | None = None,
    *,
    approved_ad_ids: Collection | None = None,
    ad_limits: pd.DataFrame | None = None,
    analysis_timestamp: datetime | None = None,
) -> BudgetRecommendation:
    """Recommend tomorrow's daily budget for every ad in ``frame`` (one row per ad per day).

    ``approved_ad_ids`` (ad ids or ``(platform, ad_id)`` pairs; default: the ``approved``
    column, else every ad) may move; others keep their spend. ``ad_limits`` has ``ad_id``
    (optionally ``platform``), ``min_daily_budget`` and ``max_daily_budget`` in the ad's currency.
    Raises :class:`BudgetInputError` for input it cannot use.
    """
    settings = settings or BudgetSettings()
    settings.check()
    timestamp = analysis_timestamp or datetime.now(UTC)
    history = prepare_ad_history(
        frame, exchange_rates=settings.exchange_rates, base_currency=settings.base_currency
    )
    factors = estimate_seasonal_factors(
        history.daily, history.ads["platform"].to_numpy(str), settings.completeness
    )
    model = fit_response_model(history, factors, curve=settings.curve, half_life_days=settings.half_life_days)
    draws = model.draw(settings.n_draws + 1, np.random.default_rng(settings.seed))
    rails = guardrails(history, settings, approved_ad_ids, ad_limits)
    has_revenue = bool(history.ads["total_revenue"].sum() > 0)
    allocation = allocate_budgets(model, draws, rails, settings, has_revenue=has_revenue)
    expected_current = float(model.expected_revenue(rails.current).sum())
    expected_recommended = float(model.expected_revenue(allocation.chosen).sum())
    return BudgetRecommendation(
        recommendations=explain_ads(history, model, allocation, settings, timestamp),
        total_daily_budget=rails.total,
        expected_daily_revenue_current=expected_current,
        expected_daily_revenue_recommended=expected_recommended,
        gain_probability=allocation.gain_probability,
        kept_current=allocation.kept_current,
        summary=_summary(allocation, expected_current, expected_recommended, settings.min_gain_probability),
        issues=list(history.issues),
        analysis_timestamp=timestamp,
        settings=settings,
        history=history,
        factors=factors,
        model=model,
        draws=allocation.draws,
        spend_base={
            "current": rails.current,
            "recommended": allocation.chosen,
            "lower": rails.lower,
            "upper": rails.upper,
        },
    )
