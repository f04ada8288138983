"""Allocate the daily budget: guardrails, a cautious optimum with exploration, and the confidence check.

The steps, in order: :func:`guardrails` (who may move, bounds, cold-start budgets, the total),
:class:`Objective` (what a budget is worth: mean, cautious and sampled values),
:func:`allocate_budgets` (optimise and keep the move only if it is likely to beat doing
nothing). The outcome is an :class:`Allocation`, which ``reasons.explain_ads`` turns into rows.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from decision_engine.budget.inputs import AdHistory, BudgetInputError
from decision_engine.budget.model import Draws, Response
from decision_engine.budget.optimizer import (
    Bounds,
    BudgetInfeasibleError,
    allocate_concave,
    fix_total,
    resolve_bounds,
)
from decision_engine.budget.settings import BudgetSettings


@dataclass(frozen=True)
class Guardrails:
    """Per-unit limits of one run (a unit is an ad, or a budget entity), all in the base currency."""

    current: np.ndarray
    approved: np.ndarray  # approved and not frozen
    frozen: np.ndarray  # frozen by the policy: kept at its current budget
    cold: np.ndarray
    movable: np.ndarray
    bounds: Bounds  # max-change band intersected with the min/max budgets
    cold_budget: np.ndarray  # exploration budgets of cold starts
    lower: np.ndarray  # bounds with cold starts fixed at their exploration budget
    upper: np.ndarray
    total: float


@dataclass(frozen=True)
class Allocation:
    """What "allocate" decided, handed to "explain" (base currency)."""

    rails: Guardrails
    chosen: np.ndarray  # the recommendation
    planned: np.ndarray  # the best expected allocation before exploration and the confidence check
    cold_budget: np.ndarray  # zero when the current allocation is kept
    cutoff: float  # marginal revenue per unit where the budget ran out (elsewhere's return)
    kept_current: bool
    gain_probability: float
    uncertainty: np.ndarray  # posterior sd of each ad's marginal return at its reference spend
    draws: Draws  # the posterior draws the move was evaluated with (for credible intervals)
    note: str = ""


def approved_mask(ads: pd.DataFrame, approved_ad_ids: Collection | None) -> np.ndarray:
    if approved_ad_ids is None:
        if "approved" in ads.columns:
            return ads["approved"].to_numpy(bool)
        return np.ones(len(ads), dtype=bool)
    keys = {k if isinstance(k, tuple) else (None, str(k)) for k in approved_ad_ids}
    pairs = zip(ads["platform"].astype(str), ads["ad_id"].astype(str), strict=True)
    return np.array([(p, a) in keys or (None, a) in keys for p, a in pairs], dtype=bool)


def frozen_mask(units: pd.DataFrame, id_column: str, frozen: Collection[str]) -> np.ndarray:
    """Units whose platform or id is in ``frozen`` (the policy's list of things never changed)."""
    names = {str(name) for name in frozen}
    platform = units["platform"].astype(str).isin(names)
    return (platform | units[id_column].astype(str).isin(names)).to_numpy(bool)


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


def _typical_spend(ads: pd.DataFrame, current: np.ndarray, fallback: float) -> np.ndarray:
    """Each ad's campaign median of current spend (else its platform's, else the overall median)."""
    active = current > 0
    frame = pd.DataFrame(
        {
            "campaign": ads["campaign_id"].astype(str),
            "platform": ads["platform"].astype(str),
            "spend": current,
        }
    )
    overall = float(np.median(current[active])) if active.any() else fallback
    by_campaign = frame[active].groupby("campaign")["spend"].median()
    by_platform = frame[active].groupby("platform")["spend"].median()
    return (
        frame["campaign"]
        .map(by_campaign)
        .fillna(frame["platform"].map(by_platform))
        .fillna(overall)
        .to_numpy()
    )


def _cold_start_budgets(
    ads: pd.DataFrame, current: np.ndarray, cold: np.ndarray, cap: float, settings: BudgetSettings, limits
) -> np.ndarray:
    """Exploration budgets for approved ads without recent spend; together at most ``cap``."""
    low, high = limits
    budgets = np.zeros(len(ads))
    if not cold.any() or cap <= 0:
        return budgets
    typical = _typical_spend(ads, current, cap / max(int(cold.sum()), 1))
    budgets[cold] = np.clip(settings.cold_start_fraction * typical[cold], low[cold], high[cold])
    if budgets.sum() > cap:
        budgets *= cap / budgets.sum()
    return budgets


def guardrails(
    history: AdHistory,
    settings: BudgetSettings,
    approved_ad_ids: Collection | None = None,
    ad_limits: pd.DataFrame | None = None,
    frozen: Collection[str] = (),
) -> Guardrails:
    """Who may move and how far; cold starts get an exploration budget that never squeezes others.

    ``frozen`` holds platform names or ad ids whose ads keep their current spend.
    """
    ads = history.ads
    current = ads["current_daily_spend"].to_numpy(float)
    is_frozen = frozen_mask(ads, "ad_id", frozen)
    approved = approved_mask(ads, approved_ad_ids) & ~is_frozen
    low, high = _limits(ads, settings, ad_limits)
    total = (
        float(current.sum()) if settings.total_daily_budget is None else float(settings.total_daily_budget)
    )
    cold = approved & (current <= 0)
    movable = approved & ~cold
    bounds = resolve_bounds(current, movable, settings.max_change, low, high)
    fundable = max(0.0, total - float(bounds.lower[~cold].sum()))
    cap = min(total * settings.exploration_share, fundable)
    cold_budget = _cold_start_budgets(ads, current, cold, cap, settings, (low, high))
    return Guardrails(
        current=current,
        approved=approved,
        frozen=is_frozen,
        cold=cold,
        movable=movable,
        bounds=bounds,
        cold_budget=cold_budget,
        lower=np.where(cold, cold_budget, bounds.lower),
        upper=np.where(cold, cold_budget, bounds.upper),
        total=total,
    )


class Objective:
    """What a daily budget per ad is worth: revenue, or profit with a margin (base currency).

    Draw 0 of ``draws`` is the Thompson sample that explores; the others evaluate moves.
    """

    def __init__(self, model: Response, draws: Draws, current: np.ndarray, settings: BudgetSettings):
        self.model = model
        self.current = current
        self.margin = settings.margin
        self.min_slope = 0.0 if (self.margin is not None and settings.allow_underspend) else None
        # lower-confidence objective: each unit moved costs `risk_aversion` sds of the ad's marginal return
        self.uncertainty = draws.marginal(model.reference_spend).std(axis=0)
        self.move_cost = (
            settings.risk_aversion * self.uncertainty * (self.margin if self.margin is not None else 1.0)
        )
        self.sampled = draws
        self.evaluation = draws.without_first()

    def value(self, revenue: np.ndarray, spend: np.ndarray) -> np.ndarray:
        return revenue * self.margin - spend if self.margin is not None else revenue

    def mean_value(self, grid: np.ndarray) -> np.ndarray:
        return self.value(self.model.expected_revenue(grid), grid)

    def cautious_value(self, grid: np.ndarray) -> np.ndarray:
        return self.mean_value(grid) - self.move_cost[:, None] * np.abs(grid - self.current[:, None])

    def sampled_value(self, grid: np.ndarray) -> np.ndarray:
        return self.value(self.sampled.revenue_grid(0, grid), grid)

    def gain(self, spend: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
        """Expected gain of ``spend`` over ``reference`` and the posterior chance it is positive."""
        expected = float(
            np.sum(self.mean_value(spend[:, None])) - np.sum(self.mean_value(reference[:, None]))
        )
        draws = self.evaluation
        sampled = self.value(draws.revenue(spend), spend).sum(axis=1) - self.value(
            draws.revenue(reference), reference
        ).sum(axis=1)
        return expected, float(np.mean(sampled > 0))


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


def _optimise(objective: Objective, rails: Guardrails, settings: BudgetSettings):
    """The cautious optimum and the candidate that mixes in a Thompson-sampled share of exploration."""
    lower, upper, total, min_slope = rails.lower, rails.upper, rails.total, objective.min_slope
    try:
        best = allocate_concave(objective.cautious_value, lower, upper, total, min_slope=min_slope)
        explored = allocate_concave(objective.sampled_value, lower, upper, total, min_slope=min_slope)
    except BudgetInfeasibleError as error:
        raise BudgetInputError(
            f"total daily budget {total:,.2f} cannot be reached with a max change of {settings.max_change:.0%} per ad "
            f"and the per-ad limits ({error}); change the total or the max change"
        ) from error
    candidate = (1.0 - settings.exploration_share) * best.spend + settings.exploration_share * explored.spend
    if min_slope is None:
        candidate = fix_total(candidate, lower, upper, total)
    return best, candidate


def _choose(
    objective: Objective,
    baseline: np.ndarray | None,
    options: tuple[np.ndarray, np.ndarray],
    has_revenue: bool,
    settings: BudgetSettings,
) -> tuple[bool, np.ndarray, float, str]:
    """Keep the first of ``options`` (candidate, best) that likely beats the baseline, else the baseline."""
    best = options[-1]
    if baseline is None:
        note = "the new total cannot be met by scaling current spend within the guardrails, so the best expected allocation is used"
        return False, best, float("nan"), note
    if not has_revenue:
        return True, baseline, 0.0, ""
    probability = float("nan")
    for option in options:
        expected_gain, probability = objective.gain(option, baseline)
        if expected_gain > 0 and probability >= settings.min_gain_probability:
            return False, option, probability, ""
    return True, baseline, probability, ""


def hold_units(rails: Guardrails, held: np.ndarray) -> Guardrails:
    """``rails`` with the ``held`` units pinned at their current budget (the others share the rest)."""
    lower = np.where(held, rails.current, rails.lower)
    upper = np.where(held, rails.current, rails.upper)
    bounds = Bounds(lower=lower, upper=upper, capped_by_change=rails.bounds.capped_by_change & ~held)
    return replace(rails, movable=rails.movable & ~held, bounds=bounds, lower=lower, upper=upper)


def allocate_budgets(
    model: Response, draws: Draws, rails: Guardrails, settings: BudgetSettings, *, has_revenue: bool
) -> Allocation:
    """Optimise within ``rails`` and keep the move only if it is likely to beat the current allocation.

    ``model`` and ``draws`` value one budget per unit of ``rails``: per ad, or per budget entity
    (``entities.EntityResponse``), so both levels share the optimiser, the exploration and the
    regression guard.
    """
    objective = Objective(model, draws, rails.current, settings)
    best, candidate = _optimise(objective, rails, settings)
    baseline = _baseline(rails.current, rails.total, rails.bounds, rails.movable)
    kept, chosen, probability, note = _choose(
        objective, baseline, (candidate, best.spend), has_revenue, settings
    )
    cold_budget = np.zeros(len(rails.current)) if kept and baseline is not None else rails.cold_budget
    margin = settings.margin
    cutoff = best.cutoff_slope if margin is None else (best.cutoff_slope + 1.0) / margin
    return Allocation(
        rails=rails,
        chosen=chosen,
        planned=best.spend,
        cold_budget=cold_budget,
        cutoff=cutoff,
        kept_current=kept,
        gain_probability=probability,
        uncertainty=objective.uncertainty,
        draws=objective.evaluation,
        note=note,
    )
