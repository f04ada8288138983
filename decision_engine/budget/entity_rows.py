"""Output rows when budgets are set per entity: one per entity, and one per ad (its part of the budget).

The entity decision is classified and worded with the per-ad reason codes (``reason_codes``),
from facts summed over the entity's ads; the text names the entity and its ads. Each ad row
repeats its entity's decision and says which share of the budget the ad is expected to get.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from core.results_schema import column_names
from decision_engine.budget.allocate import Allocation
from decision_engine.budget.entities import BudgetUnits, EntityDraws, EntityResponse
from decision_engine.budget.inputs import AdHistory
from decision_engine.budget.model import ResponseModel
from decision_engine.budget.reason_codes import FEW_EVENTS, ReasonFacts
from decision_engine.budget.reasons import COLUMNS, changes, reason_columns, roas_columns
from decision_engine.budget.settings import BudgetSettings

ENTITY_COLUMNS = column_names("budget_entity_recommendations")
LABELS = {
    "adset": "Ad set",
    "campaign": "Campaign (campaign budget optimisation)",
    "campaign_budget": "Campaign budget",
}
NAMED_ADS = 5  # the reason names at most this many ads


@dataclass(frozen=True)
class EntityRows:
    """The rows of one entity-level run: ``entities`` (budget entities only) and ``ads`` (every ad)."""

    entities: pd.DataFrame  # results.budget_entity_recommendations columns, plus ``ad_ids``
    ads: pd.DataFrame  # results.budget_recommendations columns, plus ``share_of_spend``


def _per_unit(units: BudgetUnits, values: np.ndarray) -> np.ndarray:
    return np.bincount(units.owner, np.asarray(values, dtype=float), len(units.table))


def lacks_evidence(history: AdHistory, model: ResponseModel, units: BudgetUnits) -> np.ndarray:
    """Units whose move never applies on its own: too few effective conversions, or spend without revenue."""
    ads = history.ads
    events = _per_unit(units, model.effective_events)
    silent = (_per_unit(units, ads["total_spend"]) > 0) & (_per_unit(units, ads["total_revenue"]) <= 0)
    return (events < FEW_EVENTS) | silent


def _unit_facts(
    history: AdHistory,
    model: ResponseModel,
    units: BudgetUnits,
    response: EntityResponse,
    allocation: Allocation,
    settings: BudgetSettings,
    waiting: np.ndarray,
) -> list[ReasonFacts]:
    """Per-unit facts: an entity's marginal return, bounds and evidence summed over its ads."""
    ads, rails, chosen = history.ads, allocation.rails, allocation.chosen
    change, planned_change = changes(allocation)
    marginal_now = response.marginal_revenue(
        np.where(rails.current > 0, rails.current, response.reference_spend)
    )
    scale = 1e-9 * np.maximum(1.0, rails.current)
    spend_total = _per_unit(units, ads["total_spend"])
    silent = (spend_total > 0) & (_per_unit(units, ads["total_revenue"]) <= 0)
    quarantined = _per_unit(units, ads.get("quarantined_days", pd.Series(0, ads.index)))
    spend_days = pd.Series(ads["days_with_spend"].to_numpy()).groupby(units.owner).max().to_numpy()
    is_entity = units.table["is_entity"].to_numpy(bool)
    return [
        ReasonFacts(
            approved=bool(rails.approved[u]),
            cold=bool(rails.cold[u] and not is_entity[u]),
            cold_budget=0.0,
            kept=allocation.kept_current,
            probability=allocation.gain_probability,
            min_gain_probability=settings.min_gain_probability,
            max_change=settings.max_change,
            change=float(np.nan_to_num(change[u])),
            planned_change=float(planned_change[u]),
            at_upper=bool(chosen[u] >= rails.bounds.upper[u] - scale[u]),
            at_lower=bool(chosen[u] <= rails.bounds.lower[u] + scale[u]),
            capped=bool(rails.bounds.capped_by_change[u]),
            marginal_now=float(marginal_now[u]),
            cutoff=float(allocation.cutoff),
            uncertainty=float(allocation.uncertainty[u]),
            prior_roas=float(_per_unit(units, units.share * model.prior_mean_roas)[u]),
            events=float(_per_unit(units, model.effective_events)[u]),
            spend_days=int(spend_days[u]),
            silent=bool(silent[u]),
            quarantined_days=int(quarantined[u]),
            frozen=bool(rails.frozen[u]),
            idle=bool(rails.cold[u] and is_entity[u]),
            peers="budgets",
            awaits_approval=bool(waiting[u]),
            objective=settings.objective,
        )
        for u in range(len(units.table))
    ]


def _auto_apply(allocation: Allocation, lacking: np.ndarray, settings: BudgetSettings) -> np.ndarray:
    """The engine's own confidence: approved, spending, enough data (not ``lacking``, see
    :func:`lacks_evidence`), and a move within the auto-apply limit."""
    limit = settings.max_change if settings.auto_apply_max_change is None else settings.auto_apply_max_change
    rails = allocation.rails
    change, _ = changes(allocation)
    enough_data = ~lacking
    within = np.isfinite(change) & (np.abs(np.nan_to_num(change)) <= limit + 1e-9)
    return rails.approved & ~rails.cold & enough_data & within


def entity_label(kind: str, entity_id: str, name: object, shared: bool) -> str:
    """How a reason names an entity: 'Ad set "Prospecting" (123)'."""
    label = LABELS.get(kind, kind)
    if kind == "campaign_budget" and shared:
        label = "Shared campaign budget"
    return f'{label} "{name}" ({entity_id})' if isinstance(name, str) and name else f"{label} {entity_id}"


def _ad_list(ad_ids: list[str]) -> str:
    named = ", ".join(ad_ids[:NAMED_ADS])
    more = len(ad_ids) - NAMED_ADS
    word = "ad" if len(ad_ids) == 1 else "ads"
    return f"{word} {named}" + (f" and {more} more" if more > 0 else "")


def _unit_reasons(units: BudgetUnits, ad_ids: list[list[str]], reasons: dict[str, list]) -> list[str]:
    """An entity's reason names it and its ads; an ad of its own keeps the per-ad wording."""
    texts = []
    for u, row in enumerate(units.table.itertuples(index=False)):
        text = reasons["reason"][u]
        if row.is_entity:
            label = entity_label(
                row.budget_entity_type, row.budget_entity_id, row.budget_entity_name, row.explicitly_shared
            )
            text = f"{label}, {_ad_list(ad_ids[u])}: {text}"
        texts.append(text)
    return texts


def _unit_frame(
    units: BudgetUnits,
    response: EntityResponse,
    allocation: Allocation,
    reasons: dict[str, list],
    auto_apply: np.ndarray,
    ad_ids: list[list[str]],
    history: AdHistory,
    timestamp: datetime,
) -> pd.DataFrame:
    """One row per unit (entities and ads of their own), in ``results.budget_entity_recommendations`` columns."""
    table, rails = units.table, allocation.rails
    rate = table["rate_to_base"].to_numpy(float)
    change, _ = changes(allocation)
    frame = pd.DataFrame(
        {
            "analysis_timestamp": pd.Timestamp(timestamp),
            "analysis_date": history.last_date.date(),
            "platform": table["platform"].to_numpy(),
            "budget_entity_type": table["budget_entity_type"].to_numpy(),
            "budget_entity_id": table["budget_entity_id"].to_numpy(),
            "budget_entity_name": table["budget_entity_name"]
            .astype(object)
            .where(table["budget_entity_name"].notna()),
            "currency": table["currency"].to_numpy(),
            "current_daily_budget": rails.current / rate,
            "recommended_daily_budget": allocation.chosen / rate,
            "change_pct": change,
            "expected_daily_revenue_current": response.expected_revenue(rails.current) / rate,
            "expected_daily_revenue_recommended": response.expected_revenue(allocation.chosen) / rate,
            "explicitly_shared": table["explicitly_shared"].to_numpy(bool),
            "ads": table["ads"].to_numpy(int),
            **reasons,
            "auto_apply_allowed": auto_apply,
            "ad_ids": ad_ids,
        }
    )
    return frame[[*ENTITY_COLUMNS, "ad_ids"]]


def _ad_frame(
    history: AdHistory,
    model: ResponseModel,
    units: BudgetUnits,
    allocation: Allocation,
    unit_frame: pd.DataFrame,
    settings: BudgetSettings,
    timestamp: datetime,
) -> pd.DataFrame:
    """One row per ad: its part of its unit's budget, the unit's decision, and its own curve facts."""
    ads, rails, owner, share = history.ads, allocation.rails, units.owner, units.share
    rate = ads["rate_to_base"].to_numpy(float)
    current = units.ad_spend
    recommended = share * allocation.chosen[owner]
    draws = allocation.draws.ads if isinstance(allocation.draws, EntityDraws) else allocation.draws
    expected, roas, ci_low, ci_high = roas_columns(model, draws, recommended, settings.credible_level)
    is_entity = units.table["is_entity"].to_numpy(bool)[owner]
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.where(current > 0, recommended / np.where(current > 0, current, 1.0) - 1.0, np.nan)
    unit = unit_frame.iloc[owner].reset_index(drop=True)
    share_text = [
        f" This ad's expected part: {s:.0%} of the budget (its share of the recent spend)." if entity else ""
        for s, entity in zip(share, is_entity, strict=True)
    ]
    out = pd.DataFrame(
        {
            "platform": ads["platform"].astype(str).to_numpy(),
            "campaign_id": ads["campaign_id"].astype(str).to_numpy(),
            "ad_id": ads["ad_id"].astype(str).to_numpy(),
            "current_daily_spend": current / rate,
            "recommended_daily_budget": recommended / rate,
            "change_pct": change,
            "expected_daily_revenue": expected / rate,
            "expected_roas": roas,
            "roas_ci_low": ci_low,
            "roas_ci_high": ci_high,
            "reason": (unit["reason"] + pd.Series(share_text)).to_numpy(),
            "reason_code": unit["reason_code"].to_numpy(),
            "reason_flags": unit["reason_flags"].to_numpy(),
            "auto_apply_allowed": unit["auto_apply_allowed"].to_numpy(bool),
            "analysis_timestamp": pd.Timestamp(timestamp),
            "ad_group_id": ads["ad_group_id"].to_numpy(),
            "currency": ads["currency"].astype(str).to_numpy(),
            "is_approved": rails.approved[owner],
            "is_cold_start": current <= 0,
            "marginal_roas_current": model.marginal_revenue(
                np.where(current > 0, current, model.reference_spend)
            ),
            "marginal_roas_recommended": model.marginal_revenue(recommended),
            "lower_bound": share * rails.lower[owner] / rate,
            "upper_bound": share * rails.upper[owner] / rate,
            "analysis_date": history.last_date.date(),
            "budget_entity_type": np.where(is_entity, unit["budget_entity_type"], None),
            "budget_entity_id": np.where(is_entity, unit["budget_entity_id"], None),
            "entity_recommended_daily_budget": np.where(is_entity, unit["recommended_daily_budget"], np.nan),
        }
    )
    return out[COLUMNS].assign(share_of_spend=share)


def revenue_intervals(
    draws: EntityDraws, current: np.ndarray, targets: dict[str, np.ndarray], rate: np.ndarray, level: float
) -> dict[str, np.ndarray]:
    """Per unit, the posterior ``level`` intervals the decision log judges a move against.

    ``expected_daily_revenue_current_low``/``_high``: daily revenue at ``current`` (in the unit's
    currency, ``rate`` to base); for each ``name`` in ``targets``, ``<name>_revenue_change_low``/
    ``_high``: the relative change of daily revenue from ``current`` to that budget, per draw
    (the draws share each curve, so the change is far surer than either end). NaN where a
    unit's revenue at ``current`` is not positive in every draw.
    """
    tail = 50 * (1 - level)
    at_current = draws.revenue(np.asarray(current, dtype=float))
    low, high = np.percentile(at_current, [tail, 100 - tail], axis=0) / rate
    out = {"expected_daily_revenue_current_low": low, "expected_daily_revenue_current_high": high}
    positive = (at_current > 0).all(axis=0)
    safe = np.where(positive, at_current, 1.0)
    for name, target in targets.items():
        change = draws.revenue(np.asarray(target, dtype=float)) / safe - 1
        change_low, change_high = np.percentile(change, [tail, 100 - tail], axis=0)
        out[f"{name}_revenue_change_low"] = np.where(positive, change_low, np.nan)
        out[f"{name}_revenue_change_high"] = np.where(positive, change_high, np.nan)
    return out


def explain_entities(
    history: AdHistory,
    model: ResponseModel,
    units: BudgetUnits,
    response: EntityResponse,
    allocation: Allocation,
    settings: BudgetSettings,
    timestamp: datetime,
    waiting: np.ndarray | None = None,
) -> EntityRows:
    """Entity and ad rows of an entity-level allocation (money back in each entity's or ad's currency).

    ``waiting`` marks units whose move waits for a human while the others were balanced without it.
    """
    waiting = np.zeros(len(units.table), dtype=bool) if waiting is None else waiting
    facts = _unit_facts(history, model, units, response, allocation, settings, waiting)
    reasons = reason_columns(facts)
    ad_ids = [
        list(ids)
        for ids in pd.Series(history.ads["ad_id"].astype(str).to_numpy()).groupby(units.owner).agg(list)
    ]
    reasons["reason"] = _unit_reasons(units, ad_ids, reasons)
    auto_apply = _auto_apply(allocation, lacks_evidence(history, model, units), settings)
    unit_frame = _unit_frame(units, response, allocation, reasons, auto_apply, ad_ids, history, timestamp)
    entities = unit_frame.loc[units.table["is_entity"].to_numpy(bool)].reset_index(drop=True)
    ads = _ad_frame(history, model, units, allocation, unit_frame, settings, timestamp)
    return EntityRows(entities=entities, ads=ads)
