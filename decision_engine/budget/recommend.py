"""Budget recommendations: fit curves, allocate the daily budget, guard against regressions.

``recommend_budgets`` is the one entry point the CLI and the Dagster asset call. It takes
daily ad history (CLI CSV shape or the ``marts.fct_ad_performance_daily`` mart) and returns
a :class:`BudgetRecommendation` with the ``results.budget_recommendations`` frame, proposed
``set_daily_budget`` actions, totals, and the fitted model for plotting.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from decision_engine.budget.curves import CURVE_FAMILIES, response_shape, response_slope
from decision_engine.budget.inputs import AdHistory, BudgetInputError, prepare_ad_history
from decision_engine.budget.lag import SeasonalFactors, estimate_seasonal_factors
from decision_engine.budget.model import CurveDraws, ResponseModel, fit_response_model
from decision_engine.budget.optimizer import (
    Bounds,
    BudgetInfeasibleError,
    allocate_concave,
    fix_total,
    resolve_bounds,
)
from decision_engine.budget.reasons import explain_ads


@dataclass(frozen=True)
class BudgetSettings:
    """Knobs of the budget engine; every default is safe for an unattended daily run."""

    total_daily_budget: float | None = None  # default: sum of current daily spend
    max_change: float = 0.3  # per existing ad, relative to its current daily spend
    min_daily_budget: float = 0.0
    max_daily_budget: float = math.inf
    exploration_share: float = 0.05  # Thompson-sampled share of the move, and cap on cold-start budget
    cold_start_fraction: float = (
        0.5  # a new ad's exploration budget, as a share of its campaign's median spend
    )
    margin: float | None = None  # with a margin the objective is profit = margin * revenue - spend
    allow_underspend: bool = False  # with a margin: leave budget unspent when it loses money
    curve: str = "hill"
    # older days count half every 3 weeks: fatigue and the latest budgets dominate (56 days lost up to
    # 0.3% of revenue on sandbox worlds whose allocation was already optimal)
    half_life_days: float = 21.0
    credible_level: float = 0.9
    min_gain_probability: float = 0.7  # posterior chance the move beats the current allocation
    # a move must beat the cutoff by this many posterior sds of the ad's marginal return; 1.0 keeps the
    # already-optimal worlds of tests/budget within 0.02% and captures ~3/4 of the sandbox gap
    # (tuned with benchmarks/budget_sandbox_eval.py and tests/budget/budget_worlds.py)
    risk_aversion: float = 1.0
    n_draws: int = 200
    completeness: tuple[float, ...] | None = None  # ages 0..6; None = estimate from the data
    exchange_rates: Mapping[str, float] | None = None
    base_currency: str | None = None
    auto_apply_max_change: float | None = None  # default: max_change
    seed: int = 0

    def check(self) -> None:
        problems = []
        if self.total_daily_budget is not None and not (
            math.isfinite(self.total_daily_budget) and self.total_daily_budget >= 0
        ):
            problems.append("the total daily budget must be a non-negative number")
        if not (0.0 <= self.max_change <= 10.0):
            problems.append("max change must be between 0 and 10 (0.3 means 30%)")
        if not (0.0 <= self.exploration_share < 1.0):
            problems.append("exploration share must be in [0, 1)")
        if self.min_daily_budget < 0 or self.max_daily_budget < self.min_daily_budget:
            problems.append("need 0 <= min daily budget <= max daily budget")
        if self.margin is not None and not self.margin > 0:
            problems.append("margin must be positive")
        if self.curve not in CURVE_FAMILIES:
            problems.append(f"curve must be one of {', '.join(CURVE_FAMILIES)}")
        if not (0.0 < self.credible_level < 1.0) or self.n_draws < 20:
            problems.append("credible level must be in (0, 1) and n_draws at least 20")
        if problems:
            raise BudgetInputError("; ".join(problems))


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


def _approved_mask(ads: pd.DataFrame, approved_ad_ids: Collection | None) -> np.ndarray:
    if approved_ad_ids is None:
        if "approved" in ads.columns:
            return ads["approved"].to_numpy(bool)
        return np.ones(len(ads), dtype=bool)
    keys = {k if isinstance(k, tuple) else (None, str(k)) for k in approved_ad_ids}
    pairs = zip(ads["platform"].astype(str), ads["ad_id"].astype(str), strict=True)
    return np.array([(p, a) in keys or (None, a) in keys for p, a in pairs], dtype=bool)


def _limits(
    ads: pd.DataFrame, settings: BudgetSettings, ad_limits: pd.DataFrame | None
) -> tuple[np.ndarray, np.ndarray]:
    rate = ads["rate_to_base"].to_numpy(float)
    low = np.full(len(ads), settings.min_daily_budget) * rate
    high = np.full(len(ads), settings.max_daily_budget) * rate
    if ad_limits is None or ad_limits.empty:
        return low, high
    keys = ["platform", "ad_id"] if "platform" in ad_limits.columns else ["ad_id"]
    limits = ad_limits.assign(**{k: ad_limits[k].astype(str) for k in keys})
    merged = ads[keys].astype(str).merge(limits, on=keys, how="left")
    for column, target in (("min_daily_budget", low), ("max_daily_budget", high)):
        if column in merged.columns:
            given = pd.to_numeric(merged[column], errors="coerce").to_numpy(float) * rate
            target[:] = np.where(np.isfinite(given), given, target)
    if np.any(low < 0) or np.any(high < low):
        raise BudgetInputError("per-ad limits need 0 <= min_daily_budget <= max_daily_budget")
    return low, high


def _cold_start_budgets(
    ads: pd.DataFrame,
    current: np.ndarray,
    cold: np.ndarray,
    cap: float,
    settings: BudgetSettings,
    low: np.ndarray,
    high: np.ndarray,
) -> np.ndarray:
    """Exploration budgets for approved ads without recent spend; together at most ``cap``."""
    budgets = np.zeros(len(ads))
    if not cold.any() or cap <= 0:
        return budgets
    active = current > 0
    frame = pd.DataFrame(
        {
            "campaign": ads["campaign_id"].astype(str),
            "platform": ads["platform"].astype(str),
            "spend": current,
        }
    )
    overall = float(np.median(current[active])) if active.any() else cap / max(int(cold.sum()), 1)
    by_campaign = frame[active].groupby("campaign")["spend"].median()
    by_platform = frame[active].groupby("platform")["spend"].median()
    typical = (
        frame["campaign"]
        .map(by_campaign)
        .fillna(frame["platform"].map(by_platform))
        .fillna(overall)
        .to_numpy()
    )
    budgets[cold] = np.clip(settings.cold_start_fraction * typical[cold], low[cold], high[cold])
    if budgets.sum() > cap:
        budgets *= cap / budgets.sum()
    return budgets


def _baseline(current: np.ndarray, total: float, bounds: Bounds, movable: np.ndarray) -> np.ndarray | None:
    """What 'doing nothing' means at this total: current spend, or current scaled to the new total."""
    if abs(total - current.sum()) <= 1e-9 * max(1.0, total):
        return current.copy()
    scalable = movable & (current > 0)
    if not scalable.any():
        return None
    factor = (total - current[~scalable].sum()) / current[scalable].sum()
    baseline = np.where(scalable, current * factor, current)
    if np.all(baseline >= bounds.lower - 1e-9) and np.all(baseline <= bounds.upper + 1e-9):
        return baseline
    return None


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
    ads = history.ads
    factors = estimate_seasonal_factors(history.daily, ads["platform"].to_numpy(str), settings.completeness)
    model = fit_response_model(history, factors, curve=settings.curve, half_life_days=settings.half_life_days)
    rng = np.random.default_rng(settings.seed)
    draws = model.draw(settings.n_draws + 1, rng)

    current = ads["current_daily_spend"].to_numpy(float)
    approved = _approved_mask(ads, approved_ad_ids)
    low, high = _limits(ads, settings, ad_limits)
    total = (
        float(current.sum()) if settings.total_daily_budget is None else float(settings.total_daily_budget)
    )
    cold = approved & (current <= 0)
    movable = approved & ~cold
    bounds = resolve_bounds(current, movable, settings.max_change, low, high)
    fundable = max(
        0.0, total - float(bounds.lower[~cold].sum())
    )  # cold starts never squeeze others below their floor
    cold_budget = _cold_start_budgets(
        ads, current, cold, min(total * settings.exploration_share, fundable), settings, low, high
    )
    lower = np.where(cold, cold_budget, bounds.lower)
    upper = np.where(cold, cold_budget, bounds.upper)

    margin = settings.margin
    min_slope = 0.0 if (margin is not None and settings.allow_underspend) else None

    def objective(revenue: np.ndarray, spend: np.ndarray) -> np.ndarray:
        return revenue * margin - spend if margin is not None else revenue

    def mean_value(grid: np.ndarray) -> np.ndarray:
        return objective(model.expected_revenue(grid), grid)

    # lower-confidence objective: each unit moved costs `risk_aversion` sds of the ad's marginal return
    marginal_draws = draws.roas * response_slope(
        model.curve, model.reference_spend[None, :], model.reference_spend[None, :], draws.rho
    )
    move_cost = settings.risk_aversion * marginal_draws.std(axis=0) * (margin if margin is not None else 1.0)

    def cautious_value(grid: np.ndarray) -> np.ndarray:
        return mean_value(grid) - move_cost[:, None] * np.abs(grid - current[:, None])

    sampled_rho, sampled_roas = draws.single(0)

    def sampled_value(grid: np.ndarray) -> np.ndarray:
        revenue = sampled_roas[:, None] * response_shape(
            model.curve, grid, model.reference_spend[:, None], sampled_rho[:, None]
        )
        return objective(revenue, grid)

    try:
        best = allocate_concave(cautious_value, lower, upper, total, min_slope=min_slope)
        explored = allocate_concave(sampled_value, lower, upper, total, min_slope=min_slope)
    except BudgetInfeasibleError as error:
        raise BudgetInputError(
            f"total daily budget {total:,.2f} cannot be reached with a max change of {settings.max_change:.0%} per ad "
            f"and the per-ad limits ({error}); change the total or the max change"
        ) from error
    candidate = (1.0 - settings.exploration_share) * best.spend + settings.exploration_share * explored.spend
    if min_slope is None:
        candidate = fix_total(candidate, lower, upper, total)
    evaluation = CurveDraws(model.curve, model.reference_spend, draws.rho[1:], draws.roas[1:])

    def gain(spend: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
        expected = float(np.sum(mean_value(spend[:, None])) - np.sum(mean_value(reference[:, None])))
        sampled = objective(evaluation.revenue(spend), spend).sum(axis=1) - objective(
            evaluation.revenue(reference), reference
        ).sum(axis=1)
        return expected, float(np.mean(sampled > 0))

    baseline = _baseline(current, total, bounds, movable)
    kept_current, chosen, probability = False, best.spend, float("nan")
    note = ""
    if baseline is None:
        note = "the new total cannot be met by scaling current spend within the guardrails, so the best expected allocation is used"
    elif history.ads["total_revenue"].sum() <= 0:
        kept_current, chosen, probability = True, baseline, 0.0
    else:
        for option in (candidate, best.spend):
            expected_gain, probability = gain(option, baseline)
            if expected_gain > 0 and probability >= settings.min_gain_probability:
                chosen = option
                break
        else:
            kept_current, chosen = True, baseline
    if kept_current and baseline is not None:
        cold_budget = np.zeros(len(ads))

    expected_current = float(model.expected_revenue(current).sum())
    expected_recommended = float(model.expected_revenue(chosen).sum())
    cutoff = best.cutoff_slope if margin is None else (best.cutoff_slope + 1.0) / margin
    frame_out = explain_ads(
        history=history,
        model=model,
        draws=evaluation,
        settings=settings,
        current=current,
        chosen=chosen,
        approved=approved,
        cold=cold,
        cold_budget=cold_budget,
        bounds=bounds,
        cutoff=cutoff,
        kept_current=kept_current,
        gain_probability=probability,
        timestamp=timestamp,
        planned=best.spend,
        uncertainty=marginal_draws.std(axis=0),
    )
    if kept_current:
        summary = (
            "Keep the current allocation: no reallocation is expected to beat it with enough confidence"
            f" (chance of gain {probability:.0%}, needed {settings.min_gain_probability:.0%})."
            if probability == probability
            else "Keep the current allocation."
        )
    else:
        lift = expected_recommended - expected_current
        summary = f"Reallocate: expected daily revenue {expected_recommended:,.2f} vs {expected_current:,.2f} now ({lift:+,.2f})."
        if probability == probability:
            summary += f" Chance the move beats the current allocation: {probability:.0%}."
    if note:
        summary += " Note: " + note + "."
    return BudgetRecommendation(
        recommendations=frame_out,
        total_daily_budget=total,
        expected_daily_revenue_current=expected_current,
        expected_daily_revenue_recommended=expected_recommended,
        gain_probability=probability,
        kept_current=kept_current,
        summary=summary,
        issues=list(history.issues),
        analysis_timestamp=timestamp,
        settings=settings,
        history=history,
        factors=factors,
        model=model,
        draws=evaluation,
        spend_base={"current": current, "recommended": chosen, "lower": lower, "upper": upper},
    )
