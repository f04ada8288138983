"""Budget recommendations: fit curves, allocate the daily budget, guard against regressions.

``recommend_budgets`` is the one entry point the CLI and the Dagster asset call. It takes
daily ad history (CLI CSV shape or the ``marts.fct_ad_performance_daily`` mart) and returns
a :class:`BudgetRecommendation` with the ``results.budget_recommendations`` frame, proposed
``set_daily_budget`` actions, totals, and the fitted model for plotting.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from decision_engine.budget.allocate import (
    Allocation,
    Guardrails,
    allocate_budgets,
    approved_mask,
    guardrails,
    hold_units,
)
from decision_engine.budget.entities import (
    BudgetUnits,
    EntityDraws,
    EntityResponse,
    build_units,
    entity_guardrails,
    has_entities,
)
from decision_engine.budget.entity_rows import explain_entities, lacks_evidence, revenue_intervals
from decision_engine.budget.inputs import AdHistory, prepare_ad_history
from decision_engine.budget.lag import SeasonalFactors, estimate_seasonal_factors
from decision_engine.budget.model import CurveDraws, ResponseModel, fit_response_model
from decision_engine.budget.reasons import explain_ads
from decision_engine.budget.settings import BudgetSettings
from decision_engine.impact import LEVEL as PREDICTION_LEVEL

__all__ = ["BudgetRecommendation", "BudgetSettings", "recommend_budgets"]

CENT = 0.01  # smallest budget move, in the base currency


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
    # per budget entity (results.budget_entity_recommendations columns plus ``ad_ids``); None when per ad
    entities: pd.DataFrame | None = None

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


@dataclass(frozen=True)
class _Options:
    """The caller's constraints, passed through to whichever path allocates."""

    approved_ad_ids: Collection | None
    ad_limits: pd.DataFrame | None
    budget_entities: pd.DataFrame | None
    frozen: Collection[str]


@dataclass(frozen=True)
class _Outcome:
    """What one allocation path (per ad or per entity) hands to :class:`BudgetRecommendation`."""

    allocation: Allocation
    recommendations: pd.DataFrame
    entities: pd.DataFrame | None
    expected_current: float
    expected_recommended: float
    draws: CurveDraws
    spend_base: dict[str, np.ndarray]
    issues: list[str]


def _per_ad(
    history: AdHistory,
    model: ResponseModel,
    draws: CurveDraws,
    settings: BudgetSettings,
    options: _Options,
    timestamp: datetime,
) -> _Outcome:
    rails = guardrails(history, settings, options.approved_ad_ids, options.ad_limits, options.frozen)
    has_revenue = bool(history.ads["total_revenue"].sum() > 0)
    allocation = allocate_budgets(model, draws, rails, settings, has_revenue=has_revenue)
    return _Outcome(
        allocation=allocation,
        recommendations=explain_ads(history, model, allocation, settings, timestamp),
        entities=None,
        expected_current=float(model.expected_revenue(rails.current).sum()),
        expected_recommended=float(model.expected_revenue(allocation.chosen).sum()),
        draws=allocation.draws,
        spend_base={
            "current": rails.current,
            "recommended": allocation.chosen,
            "lower": rails.lower,
            "upper": rails.upper,
        },
        issues=[],
    )


def _balance_without_waiting(
    allocation: Allocation,
    lacks_evidence: np.ndarray,
    response: EntityResponse,
    draws: EntityDraws,
    settings: BudgetSettings,
    has_revenue: bool,
) -> tuple[Allocation, np.ndarray]:
    """Keep the moves that apply on their own balanced when some must wait for a human.

    A unit with too little evidence never moves without approval. Were the others to apply
    their share of one joint allocation alone, the account total would drift by whatever
    waits (cuts apply, the matching increase waits). So the others are allocated again with the
    waiting units held at their budget; the waiting units keep their proposed move, for a human.
    Returns the allocation to report and the mask of waiting units.
    """
    rails = allocation.rails
    moved = np.abs(allocation.chosen - rails.current) >= CENT
    waiting = rails.movable & lacks_evidence & moved
    if not waiting.any():
        return allocation, waiting
    balanced = allocate_budgets(
        response, draws, hold_units(rails, waiting), settings, has_revenue=has_revenue
    )
    if balanced.kept_current:  # nothing applies on its own: nothing to balance, and no move is proposed
        return replace(balanced, rails=rails), np.zeros_like(waiting)
    merged = replace(
        balanced,
        rails=rails,
        chosen=np.where(waiting, allocation.chosen, balanced.chosen),
        planned=np.where(waiting, allocation.planned, balanced.planned),
    )
    return merged, waiting


def _beyond_auto_limit(
    units: BudgetUnits,
    ads_approved: np.ndarray,
    frozen: Collection[str],
    allocation: Allocation,
    waiting: np.ndarray,
    response: EntityResponse,
    draws: EntityDraws,
    settings: BudgetSettings,
    has_revenue: bool,
) -> np.ndarray | None:
    """Per unit, the budget to propose for approval beyond what applies on its own (NaN: none);
    None without a wider cap (``approval_max_change``) or when the wider allocation holds.

    The account is allocated again with the wider cap. A unit gets a proposal where that
    allocation moves it further than the move that applies on its own, in the same direction
    (or from a unit that does not move), and further than ``settings.max_change`` allows. Units
    already waiting for a human (too little evidence) get none: their whole move waits already.
    """
    limit = settings.approval_max_change
    if limit is None or limit <= settings.max_change:
        return None
    wider = replace(settings, max_change=limit)
    rails = entity_guardrails(units, ads_approved, wider, frozen)
    full = allocate_budgets(response, draws, rails, wider, has_revenue=has_revenue)
    if full.kept_current:
        return None
    current = rails.current
    applied, wanted = allocation.chosen - current, full.chosen - current
    same_way = (np.sign(wanted) == np.sign(applied)) | (np.abs(applied) < CENT)
    further = np.abs(wanted) >= np.abs(applied) + CENT
    beyond_cap = np.abs(wanted) > settings.max_change * current + CENT
    return np.where(rails.movable & ~waiting & same_way & further & beyond_cap, full.chosen, np.nan)


def _per_entity(
    history: AdHistory,
    model: ResponseModel,
    draws: CurveDraws,
    settings: BudgetSettings,
    options: _Options,
    timestamp: datetime,
) -> _Outcome:
    settings = replace(settings, risk_aversion=settings.entity_risk_aversion)
    units, issues = build_units(history, options.budget_entities)
    if options.ad_limits is not None and not options.ad_limits.empty:
        issues.append("per-ad limits do not apply where budgets are set per ad set or campaign budget")
    response = EntityResponse(model, units)
    ads_approved = approved_mask(history.ads, options.approved_ad_ids)
    rails = entity_guardrails(units, ads_approved, settings, options.frozen)
    has_revenue = bool(history.ads["total_revenue"].sum() > 0)
    entity_draws = EntityDraws(draws, response)
    allocation = allocate_budgets(response, entity_draws, rails, settings, has_revenue=has_revenue)
    allocation, waiting = _balance_without_waiting(
        allocation, lacks_evidence(history, model, units), response, entity_draws, settings, has_revenue
    )
    rows = explain_entities(history, model, units, response, allocation, settings, timestamp, waiting)
    extended = _beyond_auto_limit(
        units,
        ads_approved,
        options.frozen,
        allocation,
        waiting,
        response,
        entity_draws,
        settings,
        has_revenue,
    )
    if extended is not None:
        local = extended / units.table["rate_to_base"].to_numpy(float)
        rows = replace(
            rows,
            entities=rows.entities.assign(
                extended_daily_budget=local[units.table["is_entity"].to_numpy(bool)]
            ),
        )
    rows = replace(
        rows,
        entities=_with_revenue_intervals(rows.entities, units, entity_draws, rails, allocation, extended),
    )
    share, owner = units.share, units.owner
    return _Outcome(
        allocation=allocation,
        recommendations=rows.ads.drop(columns=["share_of_spend"]),
        entities=rows.entities,
        expected_current=float(response.expected_revenue(rails.current).sum()),
        expected_recommended=float(response.expected_revenue(allocation.chosen).sum()),
        draws=allocation.draws.ads,
        spend_base={
            "current": units.ad_spend,
            "recommended": share * allocation.chosen[owner],
            "lower": share * rails.lower[owner],
            "upper": share * rails.upper[owner],
        },
        issues=issues,
    )


def _with_revenue_intervals(
    entities: pd.DataFrame,
    units: BudgetUnits,
    draws: EntityDraws,
    rails: Guardrails,
    allocation: Allocation,
    extended: np.ndarray | None,
) -> pd.DataFrame:
    """The entity rows plus the posterior 90% intervals of their revenue at the current budget and
    of the relative change each move (and each extension) makes: what the decision log judges."""
    current = rails.current
    targets = {"expected": allocation.chosen}
    if extended is not None:
        targets["extended"] = np.where(np.isfinite(extended), extended, current)
    rate = units.table["rate_to_base"].to_numpy(float)
    intervals = revenue_intervals(draws.without_first(), current, targets, rate, PREDICTION_LEVEL)
    if extended is not None:
        intervals["expected_daily_revenue_extended"] = (
            draws.response.expected_revenue(targets["extended"]) / rate
        )
    is_entity = units.table["is_entity"].to_numpy(bool)
    return entities.assign(**{name: values[is_entity] for name, values in intervals.items()})


def recommend_budgets(
    frame: pd.DataFrame,
    settings: BudgetSettings | None = None,
    *,
    approved_ad_ids: Collection | None = None,
    ad_limits: pd.DataFrame | None = None,
    analysis_timestamp: datetime | None = None,
    budget_entities: pd.DataFrame | None = None,
    frozen: Collection[str] = (),
) -> BudgetRecommendation:
    """Recommend tomorrow's daily budgets for the ads in ``frame`` (one row per ad per day).

    When ``frame`` names each ad's budget entity (``budget_entity_type``, ``budget_entity_id``)
    the budgets are recommended per entity (``entities``: one Meta ad set or CBO campaign, one
    Google campaign budget) and ``budget_entities`` gives their current budgets (the columns of
    ``marts.dim_budget_entities``); otherwise per ad. ``approved_ad_ids`` (ad ids or
    ``(platform, ad_id)`` pairs; default: the ``approved`` column, else every ad) may move; others
    keep their spend, and an entity moves only when all its ads may. ``ad_limits`` (per ad only)
    has ``ad_id`` (optionally ``platform``), ``min_daily_budget`` and ``max_daily_budget`` in the
    ad's currency. ``frozen`` names platforms, entity ids or ad ids that keep their budget.
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
    options = _Options(approved_ad_ids, ad_limits, budget_entities, frozen)
    path = _per_entity if has_entities(history) else _per_ad
    outcome = path(history, model, draws, settings, options, timestamp)
    allocation = outcome.allocation
    return BudgetRecommendation(
        recommendations=outcome.recommendations,
        total_daily_budget=allocation.rails.total,
        expected_daily_revenue_current=outcome.expected_current,
        expected_daily_revenue_recommended=outcome.expected_recommended,
        gain_probability=allocation.gain_probability,
        kept_current=allocation.kept_current,
        summary=_summary(
            allocation,
            outcome.expected_current,
            outcome.expected_recommended,
            settings.min_gain_probability,
        ),
        issues=[*history.issues, *outcome.issues],
        analysis_timestamp=timestamp,
        settings=settings,
        history=history,
        factors=factors,
        model=model,
        draws=outcome.draws,
        spend_base=outcome.spend_base,
        entities=outcome.entities,
    )
