"""Per-ad output rows for ``results.budget_recommendations``, with a reason code and its plain English."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from core.results_schema import column_names
from decision_engine.budget.allocate import Allocation
from decision_engine.budget.inputs import AdHistory
from decision_engine.budget.model import CurveDraws, ResponseModel
from decision_engine.budget.reason_codes import ReasonFacts, classify_reason, render_reason
from decision_engine.budget.settings import BudgetSettings

COLUMNS = column_names("budget_recommendations")
# the first columns, up to analysis_timestamp, are the core of the contract (docs/architecture.md section 5)
RESULT_COLUMNS = COLUMNS[: COLUMNS.index("analysis_timestamp") + 1]
EXTRA_COLUMNS = COLUMNS[len(RESULT_COLUMNS) :]


def roas_columns(
    model: ResponseModel, draws: CurveDraws, spend: np.ndarray, credible_level: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Expected revenue, expected ROAS and its credible interval per ad at ``spend`` (base currency)."""
    expected = model.expected_revenue(spend)
    positive = spend > 0
    safe = np.where(positive, spend, 1.0)
    roas = np.where(positive, expected / safe, np.nan)
    tail = (1.0 - credible_level) / 2.0
    roas_draws = draws.revenue(spend) / safe[None, :]
    ci_low = np.where(positive, np.quantile(roas_draws, tail, axis=0), np.nan)
    ci_high = np.where(positive, np.quantile(roas_draws, 1.0 - tail, axis=0), np.nan)
    return expected, roas, ci_low, ci_high


def changes(allocation: Allocation) -> tuple[np.ndarray, np.ndarray]:
    """Relative change of the recommendation and of the planned (best expected) allocation."""
    current = allocation.rails.current
    with np.errstate(divide="ignore", invalid="ignore"):
        safe = np.where(current > 0, current, 1.0)
        change = np.where(current > 0, (allocation.chosen - current) / safe, np.nan)
        planned_change = np.where(current > 0, (allocation.planned - current) / safe, 0.0)
    return change, planned_change


def _facts(
    history: AdHistory, model: ResponseModel, allocation: Allocation, settings: BudgetSettings
) -> list[ReasonFacts]:
    """Per-ad facts a reason is decided and written from."""
    ads, rails, chosen = history.ads, allocation.rails, allocation.chosen
    rate = ads["rate_to_base"].to_numpy(float)
    change, planned_change = changes(allocation)
    marginal_now = model.marginal_revenue(np.where(rails.current > 0, rails.current, model.reference_spend))
    scale = 1e-9 * np.maximum(1.0, rails.current)
    silent = (ads["total_spend"].to_numpy() > 0) & (ads["total_revenue"].to_numpy() <= 0)
    quarantined = ads["quarantined_days"] if "quarantined_days" in ads.columns else pd.Series(0, ads.index)
    return [
        ReasonFacts(
            approved=bool(rails.approved[i]),
            cold=bool(rails.cold[i]),
            cold_budget=float(allocation.cold_budget[i] / rate[i]),
            kept=allocation.kept_current,
            probability=allocation.gain_probability,
            min_gain_probability=settings.min_gain_probability,
            max_change=settings.max_change,
            change=float(np.nan_to_num(change[i])),
            planned_change=float(planned_change[i]),
            at_upper=bool(chosen[i] >= rails.bounds.upper[i] - scale[i]),
            at_lower=bool(chosen[i] <= rails.bounds.lower[i] + scale[i]),
            capped=bool(rails.bounds.capped_by_change[i]),
            marginal_now=float(marginal_now[i]),
            cutoff=float(allocation.cutoff),
            uncertainty=float(allocation.uncertainty[i]),
            prior_roas=float(model.prior_mean_roas[i]),
            events=float(model.effective_events[i]),
            spend_days=int(ads["days_with_spend"].iat[i]),
            silent=bool(silent[i]),
            quarantined_days=int(quarantined.iat[i]),
            frozen=bool(rails.frozen[i]),
            objective=settings.objective,
        )
        for i in range(len(ads))
    ]


def reason_columns(facts: list[ReasonFacts]) -> dict[str, list]:
    """``reason`` (English), ``reason_code`` (the decision) and ``reason_flags`` (qualifier codes)."""
    columns: dict[str, list] = {"reason": [], "reason_code": [], "reason_flags": []}
    for ad in facts:
        code, flags = classify_reason(ad)
        columns["reason"].append(render_reason(code, flags, ad))
        columns["reason_code"].append(code.value)
        columns["reason_flags"].append([flag.value for flag in flags])
    return columns


def _auto_apply(allocation: Allocation, change: np.ndarray, settings: BudgetSettings) -> np.ndarray:
    limit = settings.max_change if settings.auto_apply_max_change is None else settings.auto_apply_max_change
    rails = allocation.rails
    return (
        rails.approved & ~rails.cold & np.isfinite(change) & (np.abs(np.nan_to_num(change)) <= limit + 1e-9)
    )


def explain_ads(
    history: AdHistory,
    model: ResponseModel,
    allocation: Allocation,
    settings: BudgetSettings,
    timestamp: datetime,
) -> pd.DataFrame:
    """Build the results frame; money columns are converted back to each ad's currency."""
    ads, rails = history.ads, allocation.rails
    rate = ads["rate_to_base"].to_numpy(float)
    expected, roas, ci_low, ci_high = roas_columns(
        model, allocation.draws, allocation.chosen, settings.credible_level
    )
    change, _ = changes(allocation)
    reasons = reason_columns(_facts(history, model, allocation, settings))
    cold, cold_budget = rails.cold, allocation.cold_budget
    out = pd.DataFrame(
        {
            "platform": ads["platform"].astype(str).to_numpy(),
            "campaign_id": ads["campaign_id"].astype(str).to_numpy(),
            "ad_id": ads["ad_id"].astype(str).to_numpy(),
            "current_daily_spend": rails.current / rate,
            "recommended_daily_budget": allocation.chosen / rate,
            "change_pct": change,
            "expected_daily_revenue": expected / rate,
            "expected_roas": roas,
            "roas_ci_low": ci_low,
            "roas_ci_high": ci_high,
            **reasons,
            "auto_apply_allowed": _auto_apply(allocation, change, settings),
            "analysis_timestamp": pd.Timestamp(timestamp),
            "ad_group_id": ads["ad_group_id"].to_numpy(),
            "currency": ads["currency"].astype(str).to_numpy(),
            "is_approved": rails.approved,
            "is_cold_start": cold,
            "marginal_roas_current": model.marginal_revenue(
                np.where(rails.current > 0, rails.current, model.reference_spend)
            ),
            "marginal_roas_recommended": model.marginal_revenue(allocation.chosen),
            "lower_bound": np.where(cold, cold_budget, rails.bounds.lower) / rate,
            "upper_bound": np.where(cold, cold_budget, rails.bounds.upper) / rate,
            "analysis_date": history.last_date.date(),
            "budget_entity_type": None,
            "budget_entity_id": None,
            "entity_recommended_daily_budget": np.nan,
        }
    )
    return out[COLUMNS]
