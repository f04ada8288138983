"""Per-ad output rows for ``results.budget_recommendations``, with a plain-English reason."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from decision_engine.budget.inputs import AdHistory
from decision_engine.budget.model import CurveDraws, ResponseModel
from decision_engine.budget.optimizer import Bounds

if TYPE_CHECKING:
    from decision_engine.budget.recommend import BudgetSettings

RESULT_COLUMNS = [
    "platform",
    "campaign_id",
    "ad_id",
    "current_daily_spend",
    "recommended_daily_budget",
    "change_pct",
    "expected_daily_revenue",
    "expected_roas",
    "roas_ci_low",
    "roas_ci_high",
    "reason",
    "auto_apply_allowed",
    "analysis_timestamp",
]
EXTRA_COLUMNS = [
    "ad_group_id",
    "currency",
    "is_approved",
    "is_cold_start",
    "marginal_roas_current",
    "marginal_roas_recommended",
    "lower_bound",
    "upper_bound",
]
HOLD_THRESHOLD = 0.01


def _money(value: float) -> str:
    return f"{value:,.2f}"


def _reason(
    *,
    approved: bool,
    cold: bool,
    cold_budget: float,
    kept: bool,
    probability: float,
    settings: BudgetSettings,
    change: float,
    planned_change: float,
    at_upper: bool,
    at_lower: bool,
    capped: bool,
    marginal_now: float,
    cutoff: float,
    uncertainty: float,
    prior_roas: float,
    events: float,
    spend_days: int,
    silent: bool,
) -> str:
    if not approved:
        return "Not approved for automatic budget changes: left at its current spend."
    if cold:
        if cold_budget > 0:
            return (
                f"New ad with no spend in the last 7 days: exploration budget of {_money(cold_budget)} to learn its "
                f"response (expected ROAS {prior_roas:.2f}, borrowed from its campaign's ads)."
            )
        return "No spend in the last 7 days and no exploration budget available: left at 0."
    if kept:
        text = "Kept at current spend: no reallocation is expected to beat the current allocation"
        text += (
            f" with enough confidence (chance of gain {probability:.0%}, needed {settings.min_gain_probability:.0%})."
            if probability == probability
            else "."
        )
    elif abs(planned_change) < HOLD_THRESHOLD:
        if cutoff == cutoff and abs(marginal_now - cutoff) > 0.05 * max(cutoff, 1e-9):
            side = "higher" if marginal_now > cutoff else "lower"
            text = (
                f"Hold: its marginal return ({marginal_now:.2f} per 1.00 spent) looks {side} than the {cutoff:.2f} "
                f"elsewhere, but not by more than its uncertainty (+/-{uncertainty:.2f}), so it is not moved on this evidence."
            )
        else:
            text = f"Hold: its marginal return ({marginal_now:.2f} per 1.00 spent) is in line with the other ads."
        if abs(change) >= 0.001:
            text += f" Small exploratory move ({change:+.1%}) so the system keeps learning."
    elif planned_change > 0:
        text = (
            f"Increase {change:.0%}: each extra 1.00 here is expected to return {marginal_now:.2f} in revenue, "
            f"more than the {cutoff:.2f} the last 1.00 earns elsewhere"
        )
        if at_upper:
            text += (
                f" (capped by the {settings.max_change:.0%} max daily change)"
                if capped
                else " (capped by its max budget)"
            )
        text += "."
    else:
        text = (
            f"Decrease {-change:.0%}: diminishing returns, the last 1.00 here returns about {marginal_now:.2f}, "
            f"less than the {cutoff:.2f} it can earn elsewhere"
        )
        if at_lower:
            text += (
                f" (limited by the {settings.max_change:.0%} max daily change)"
                if capped
                else " (held at its min budget)"
            )
        text += "."
    if silent:
        text += f" No revenue recorded yet for {spend_days} days of spend."
    elif events < 10:
        text += " Little data of its own, so the estimate leans on its campaign's ads."
    return text


def explain_ads(
    *,
    history: AdHistory,
    model: ResponseModel,
    draws: CurveDraws,
    settings: BudgetSettings,
    current: np.ndarray,
    chosen: np.ndarray,
    approved: np.ndarray,
    cold: np.ndarray,
    cold_budget: np.ndarray,
    bounds: Bounds,
    cutoff: float,
    kept_current: bool,
    gain_probability: float,
    timestamp: datetime,
    planned: np.ndarray,
    uncertainty: np.ndarray,
) -> pd.DataFrame:
    """Build the results frame; money columns are converted back to each ad's currency."""
    ads = history.ads
    rate = ads["rate_to_base"].to_numpy(float)
    expected = model.expected_revenue(chosen)
    positive = chosen > 0
    safe = np.where(positive, chosen, 1.0)
    roas = np.where(positive, expected / safe, np.nan)
    tail = (1.0 - settings.credible_level) / 2.0
    roas_draws = draws.revenue(chosen) / safe[None, :]
    ci_low = np.where(positive, np.quantile(roas_draws, tail, axis=0), np.nan)
    ci_high = np.where(positive, np.quantile(roas_draws, 1.0 - tail, axis=0), np.nan)
    marginal_now = model.marginal_revenue(np.where(current > 0, current, model.reference_spend))
    marginal_rec = model.marginal_revenue(chosen)
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.where(current > 0, (chosen - current) / np.where(current > 0, current, 1.0), np.nan)
        planned_change = np.where(current > 0, (planned - current) / np.where(current > 0, current, 1.0), 0.0)
    auto_limit = (
        settings.max_change if settings.auto_apply_max_change is None else settings.auto_apply_max_change
    )
    auto = approved & ~cold & np.isfinite(change) & (np.abs(np.nan_to_num(change)) <= auto_limit + 1e-9)
    scale = 1e-9 * np.maximum(1.0, current)
    silent = (ads["total_spend"].to_numpy() > 0) & (ads["total_revenue"].to_numpy() <= 0)
    reasons = [
        _reason(
            approved=bool(approved[i]),
            cold=bool(cold[i]),
            cold_budget=float(cold_budget[i] / rate[i]),
            kept=kept_current,
            probability=gain_probability,
            settings=settings,
            change=float(np.nan_to_num(change[i])),
            planned_change=float(planned_change[i]),
            uncertainty=float(uncertainty[i]),
            at_upper=bool(chosen[i] >= bounds.upper[i] - scale[i]),
            at_lower=bool(chosen[i] <= bounds.lower[i] + scale[i]),
            capped=bool(bounds.capped_by_change[i]),
            marginal_now=float(marginal_now[i]),
            cutoff=float(cutoff),
            prior_roas=float(model.prior_mean_roas[i]),
            events=float(model.effective_events[i]),
            spend_days=int(ads["days_with_spend"].iat[i]),
            silent=bool(silent[i]),
        )
        for i in range(len(ads))
    ]
    out = pd.DataFrame(
        {
            "platform": ads["platform"].astype(str).to_numpy(),
            "campaign_id": ads["campaign_id"].astype(str).to_numpy(),
            "ad_id": ads["ad_id"].astype(str).to_numpy(),
            "current_daily_spend": current / rate,
            "recommended_daily_budget": chosen / rate,
            "change_pct": change,
            "expected_daily_revenue": expected / rate,
            "expected_roas": roas,
            "roas_ci_low": ci_low,
            "roas_ci_high": ci_high,
            "reason": reasons,
            "auto_apply_allowed": auto,
            "analysis_timestamp": pd.Timestamp(timestamp),
            "ad_group_id": ads["ad_group_id"].to_numpy(),
            "currency": ads["currency"].astype(str).to_numpy(),
            "is_approved": approved,
            "is_cold_start": cold,
            "marginal_roas_current": marginal_now,
            "marginal_roas_recommended": marginal_rec,
            "lower_bound": np.where(cold, cold_budget, bounds.lower) / rate,
            "upper_bound": np.where(cold, cold_budget, bounds.upper) / rate,
        }
    )
    return out[RESULT_COLUMNS + EXTRA_COLUMNS]
