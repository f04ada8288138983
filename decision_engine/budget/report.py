"""Views of a :class:`BudgetRecommendation`: JSON (docs/architecture.md section 5), actions, roll-ups, plots."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from decision_engine.actions import ProposedAction
from decision_engine.impact import LEVEL as PREDICTION_LEVEL

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from decision_engine.budget.recommend import BudgetRecommendation

MIN_ACTION_CHANGE = 0.005  # do not queue moves smaller than 0.5% (or 0.01 in money)


def cents_toward(new: float, current: float) -> float:
    """``new`` rounded to a cent toward ``current``, so rounding never takes a move past its cap."""
    cents = float(new) * 100
    nudge = 1e-6  # 727.1 * 100 is 72709.99999999999: a value already on a cent stays on it
    rounded = math.floor(cents + nudge) if new > current else math.ceil(cents - nudge)
    return rounded / 100


def _number(value: float) -> float | None:
    value = float(value)
    return round(value, 6) if math.isfinite(value) else None


def _evidence(result: BudgetRecommendation, row: Any) -> dict[str, Any]:
    return {
        "reason": row.reason,
        "reason_flags": list(row.reason_flags),
        "campaign_id": row.campaign_id,
        "current_daily_spend": _number(row.current_daily_spend),
        "change_pct": _number(row.change_pct),
        "expected_daily_revenue": _number(row.expected_daily_revenue),
        "expected_roas": _number(row.expected_roas),
        "roas_ci": [_number(row.roas_ci_low), _number(row.roas_ci_high)],
        "credible_level": result.settings.credible_level,
        "marginal_roas_current": _number(row.marginal_roas_current),
        "is_cold_start": bool(row.is_cold_start),
        "portfolio_gain_probability": _number(result.gain_probability),
        "analysis_timestamp": result.analysis_timestamp.isoformat(),
        "analysis_date": result.analysis_date.isoformat(),
    }


def _moves(current: float, target: float) -> bool:
    """Whether a change is worth queuing (the hold rule: at least 0.5% and 0.01 in money)."""
    return abs(target - current) >= max(0.01, MIN_ACTION_CHANGE * current)


def _ad_facts(row: Any) -> dict[str, Any]:
    """One ad's curve facts, the evidence behind its entity's budget."""
    return {
        "ad_id": row.ad_id,
        "campaign_id": row.campaign_id,
        "current_daily_spend": _number(row.current_daily_spend),
        "expected_daily_spend": _number(row.recommended_daily_budget),
        "expected_daily_revenue": _number(row.expected_daily_revenue),
        "expected_roas": _number(row.expected_roas),
        "roas_ci": [_number(row.roas_ci_low), _number(row.roas_ci_high)],
        "marginal_roas_current": _number(row.marginal_roas_current),
        "is_cold_start": bool(row.is_cold_start),
    }


def _entity_evidence(result: BudgetRecommendation, entity: Any, ads: pd.DataFrame) -> dict[str, Any]:
    return {
        "reason": entity.reason,
        "reason_flags": list(entity.reason_flags),
        "budget_entity_name": entity.budget_entity_name
        if isinstance(entity.budget_entity_name, str)
        else None,
        "change_pct": _number(entity.change_pct),
        "expected_daily_revenue_current": _number(entity.expected_daily_revenue_current),
        "expected_daily_revenue_recommended": _number(entity.expected_daily_revenue_recommended),
        "ads": [_ad_facts(row) for row in ads.itertuples(index=False)],
        **_revenue_intervals(entity, "expected"),
        "revenue_measure": result.settings.objective,
        "credible_level": result.settings.credible_level,
        "portfolio_gain_probability": _number(result.gain_probability),
        "analysis_timestamp": result.analysis_timestamp.isoformat(),
        "analysis_date": result.analysis_date.isoformat(),
    }


def _revenue_intervals(entity: Any, move: str) -> dict[str, Any]:
    """The posterior 90% intervals the decision log judges a move against (``revenue_intervals``):
    daily revenue at the current budget, and the relative change of daily revenue the move makes."""

    def interval(name: str) -> list[float | None]:
        return [
            _number(getattr(entity, f"{name}_low", math.nan)),
            _number(getattr(entity, f"{name}_high", math.nan)),
        ]

    return {
        "revenue_interval_level": PREDICTION_LEVEL,
        "expected_daily_revenue_current_interval": interval("expected_daily_revenue_current"),
        "expected_revenue_change_interval": interval(f"{move}_revenue_change"),
    }


def _entity_actions(result: BudgetRecommendation) -> list[ProposedAction]:
    """One absolute ``set_daily_budget`` per budget entity whose budget should change, plus an
    ``extend_daily_budget`` where a human may approve a larger move (see :func:`_extension`)."""
    frame = result.recommendations
    actions = []
    for entity in result.entities.itertuples(index=False):
        ads = frame[
            (frame["platform"] == entity.platform)
            & (frame["budget_entity_type"] == entity.budget_entity_type)
            & (frame["budget_entity_id"] == entity.budget_entity_id)
        ]
        evidence = _entity_evidence(result, entity, ads)
        if _moves(entity.current_daily_budget, entity.recommended_daily_budget):
            actions.append(
                ProposedAction(
                    source="budget",
                    action_type="set_daily_budget",
                    platform=entity.platform,
                    target_id=entity.budget_entity_id,
                    payload=_entity_payload(entity, entity.recommended_daily_budget),
                    reason=entity.reason,
                    auto_apply_allowed=bool(entity.auto_apply_allowed),
                    evidence=evidence,
                    reason_code=entity.reason_code,
                )
            )
        extension = _extension(entity, evidence)
        if extension is not None:
            actions.append(extension)
    return actions


def _entity_payload(entity: Any, target: float) -> dict[str, Any]:
    return {
        "daily_budget": cents_toward(target, entity.current_daily_budget),
        "currency": entity.currency,
        "entity_type": entity.budget_entity_type,
        "current_daily_budget": round(float(entity.current_daily_budget), 2),
        "explicitly_shared": bool(entity.explicitly_shared),
    }


def _extension(entity: Any, evidence: dict[str, Any]) -> ProposedAction | None:
    """The move beyond what applies on its own, for a human to approve (None when there is none).

    Its budget is absolute and includes the entity's ``set_daily_budget`` move of the same
    analysis, which executes first; approving it alone also changes the account's daily total.
    """
    target = getattr(entity, "extended_daily_budget", math.nan)
    current = float(entity.current_daily_budget)
    if not math.isfinite(target) or not _moves(entity.recommended_daily_budget, target):
        return None
    name = (
        entity.budget_entity_name if isinstance(entity.budget_entity_name, str) else entity.budget_entity_id
    )
    applied, wanted = entity.recommended_daily_budget - current, target - current
    reason = (
        f"{name}: with a wider cap the model would move {current:,.2f} to {target:,.2f} "
        f"({wanted / current:+.1%}); {applied / current:+.1%} applies on its own, the rest needs "
        f"your approval. Approving it alone changes the account's daily total by {wanted - applied:+,.2f}."
    )
    return ProposedAction(
        source="budget",
        action_type="extend_daily_budget",
        platform=entity.platform,
        target_id=entity.budget_entity_id,
        payload={
            **_entity_payload(entity, target),
            "applies_on_its_own": _number(entity.recommended_daily_budget),
        },
        reason=reason,
        auto_apply_allowed=False,
        evidence={
            **evidence,
            **_revenue_intervals(entity, "extended"),
            "extended_daily_budget": _number(target),
            "expected_daily_revenue_extended": _number(
                getattr(entity, "expected_daily_revenue_extended", math.nan)
            ),
        },
        reason_code="beyond_auto_limit",
    )


def proposed_actions(result: BudgetRecommendation) -> list[ProposedAction]:
    """One ``set_daily_budget`` action per budget entity (else per ad) whose budget should change.

    With entities, only ads without a known entity get an action of their own. No platform has
    an ad-level budget, so such an action is advice for a human (never auto-applied, and no
    vendor write exists for it); its current budget is the ad's recent daily spend.
    """
    actions = [] if result.entities is None else _entity_actions(result)
    for row in result.recommendations.itertuples(index=False):
        if isinstance(row.budget_entity_id, str) or not _moves(
            row.current_daily_spend, row.recommended_daily_budget
        ):
            continue
        actions.append(
            ProposedAction(
                source="budget",
                action_type="set_daily_budget",
                platform=row.platform,
                target_id=row.ad_id,
                payload={
                    "daily_budget": cents_toward(row.recommended_daily_budget, row.current_daily_spend),
                    "currency": row.currency,
                    "current_daily_budget": round(float(row.current_daily_spend), 2),
                },
                reason=row.reason,
                auto_apply_allowed=False,
                evidence=_evidence(result, row),
                reason_code=row.reason_code,
            )
        )
    return actions


def _entities_json(result: BudgetRecommendation) -> list[dict[str, Any]]:
    """One object per budget entity (empty when budgets are recommended per ad)."""
    if result.entities is None:
        return []
    return [
        {
            "platform": row.platform,
            "budget_entity_type": row.budget_entity_type,
            "budget_entity_id": row.budget_entity_id,
            "budget_entity_name": row.budget_entity_name if isinstance(row.budget_entity_name, str) else None,
            "currency": row.currency or None,
            "current_daily_budget": _number(row.current_daily_budget),
            "recommended_daily_budget": _number(row.recommended_daily_budget),
            "change_pct": _number(row.change_pct),
            "expected_daily_revenue_current": _number(row.expected_daily_revenue_current),
            "expected_daily_revenue_recommended": _number(row.expected_daily_revenue_recommended),
            "explicitly_shared": bool(row.explicitly_shared),
            "ads": int(row.ads),
            "ad_ids": list(row.ad_ids),
            "reason": row.reason,
            "reason_code": row.reason_code,
            "reason_flags": list(row.reason_flags),
            "auto_apply_allowed": bool(row.auto_apply_allowed),
        }
        for row in result.entities.itertuples(index=False)
    ]


def to_json_dict(result: BudgetRecommendation) -> dict[str, Any]:
    """The ``loopwise budget recommend --format json`` document (field names are a contract)."""
    recommendations = [
        {
            "platform": row.platform,
            "campaign_id": row.campaign_id,
            "ad_id": row.ad_id,
            "current_daily_spend": _number(row.current_daily_spend),
            "recommended_daily_budget": _number(row.recommended_daily_budget),
            "change_pct": _number(row.change_pct),
            "expected_daily_revenue": _number(row.expected_daily_revenue),
            "expected_roas": _number(row.expected_roas),
            "roas_ci": [_number(row.roas_ci_low), _number(row.roas_ci_high)],
            "reason": row.reason,
            "reason_code": row.reason_code,
            "reason_flags": list(row.reason_flags),
            "currency": row.currency or None,
            "is_cold_start": bool(row.is_cold_start),
            "auto_apply_allowed": bool(row.auto_apply_allowed),
            "budget_entity_type": row.budget_entity_type if isinstance(row.budget_entity_type, str) else None,
            "budget_entity_id": row.budget_entity_id if isinstance(row.budget_entity_id, str) else None,
            "entity_recommended_daily_budget": _number(row.entity_recommended_daily_budget),
        }
        for row in result.recommendations.itertuples(index=False)
    ]
    return {
        "total_daily_budget": _number(result.total_daily_budget),
        "expected_daily_revenue_current": _number(result.expected_daily_revenue_current),
        "expected_daily_revenue_recommended": _number(result.expected_daily_revenue_recommended),
        "recommendations": recommendations,
        "entities": _entities_json(result),
        "kept_current": result.kept_current,
        "gain_probability": _number(result.gain_probability),
        "credible_level": result.settings.credible_level,
        "summary": result.summary,
        "warnings": list(result.issues),
        "analysis_timestamp": result.analysis_timestamp.isoformat(),
        "analysis_date": result.analysis_date.isoformat(),
    }


def rollup_recommendations(recommendations: pd.DataFrame, level: str = "campaign_id") -> pd.DataFrame:
    """Sum ads up to ``campaign_id`` or ``ad_group_id`` (per platform and currency)."""
    if level not in ("campaign_id", "ad_group_id"):
        raise ValueError("level must be 'campaign_id' or 'ad_group_id'")
    keys = ["platform", "campaign_id", "currency"] + (["ad_group_id"] if level == "ad_group_id" else [])
    grouped = (
        recommendations.fillna({"ad_group_id": ""})
        .groupby(keys, as_index=False, dropna=False)[
            ["current_daily_spend", "recommended_daily_budget", "expected_daily_revenue"]
        ]
        .sum()
    )
    spend = grouped["recommended_daily_budget"]
    grouped["expected_roas"] = np.where(
        spend > 0, grouped["expected_daily_revenue"] / spend.where(spend > 0, 1.0), np.nan
    )
    current = grouped["current_daily_spend"]
    grouped["change_pct"] = np.where(current > 0, spend / current.where(current > 0, 1.0) - 1.0, np.nan)
    return grouped


def _add_curve_panel(
    figure: go.Figure, result: BudgetRecommendation, i: int, cell: tuple[int, int], legend: bool
):
    """One ad's posterior mean curve, credible band, and current and recommended points."""
    import plotly.graph_objects as go

    from decision_engine.budget.curves import response_shape

    row, col = cell
    current, chosen = result.spend_base["current"], result.spend_base["recommended"]
    model, draws = result.model, result.draws
    tail = (1.0 - result.settings.credible_level) / 2.0
    grid = np.linspace(0.0, 2.0 * max(current[i], chosen[i], model.reference_spend[i]), 60)
    spend_matrix = np.zeros((len(current), len(grid)))
    spend_matrix[i] = grid
    mean = model.expected_revenue(spend_matrix)[i]
    sampled = draws.roas[:, i, None] * response_shape(
        model.curve, grid[None, :], model.reference_spend[i], draws.rho[:, i, None]
    )
    low, high = np.quantile(sampled, [tail, 1.0 - tail], axis=0)
    band = dict(mode="lines", line=dict(width=0), showlegend=False, hoverinfo="skip")
    traces = [
        go.Scatter(x=grid, y=high, **band),
        go.Scatter(x=grid, y=low, fill="tonexty", fillcolor="rgba(31,119,180,0.2)", **band),
        go.Scatter(
            x=grid,
            y=mean,
            mode="lines",
            name="expected revenue",
            line=dict(color="#1f77b4"),
            showlegend=legend,
        ),
    ]
    for spend, name, colour in ((current[i], "current", "#7f7f7f"), (chosen[i], "recommended", "#d62728")):
        point = np.zeros(len(current))
        point[i] = spend
        traces.append(
            go.Scatter(
                x=[spend],
                y=[model.expected_revenue(point)[i]],
                mode="markers",
                name=name,
                marker=dict(color=colour, size=10),
                showlegend=legend,
            )
        )
    for trace in traces:
        figure.add_trace(trace, row=row, col=col)


def curves_figure(
    result: BudgetRecommendation, *, max_ads: int = 12, html_path: str | Path | None = None
) -> go.Figure:
    """Fitted curves (posterior mean and credible band) with current and recommended points."""
    from plotly.subplots import make_subplots

    frame = result.recommendations
    current = result.spend_base["current"]
    chosen = result.spend_base["recommended"]
    order = np.argsort(-np.maximum(current, chosen))[:max_ads]
    columns = min(3, max(1, len(order)))
    rows = max(1, math.ceil(len(order) / columns))
    titles = [f"{frame['platform'].iat[i]} / {frame['ad_id'].iat[i]}" for i in order]
    figure = make_subplots(rows=rows, cols=columns, subplot_titles=titles)
    for position, i in enumerate(order):
        cell = (position // columns + 1, position % columns + 1)
        _add_curve_panel(figure, result, int(i), cell, legend=position == 0)
    figure.update_layout(title="Daily spend -> expected revenue (band: credible interval)", height=300 * rows)
    if html_path is not None:
        figure.write_html(str(html_path), include_plotlyjs="directory")
    return figure


def _entity_lines(result: BudgetRecommendation) -> list[str]:
    """The budgets to set, one line per entity (nothing when budgets are per ad)."""
    if result.entities is None or result.entities.empty:
        return []
    header = f"{'platform':<10} {'entity':<16} {'budget id':<20} {'current':>10} {'recommended':>12} {'change':>8} {'ads':>4}"
    lines = ["", "Budgets to set (per ad set, campaign or campaign budget):", header, "-" * len(header)]
    for row in result.entities.itertuples(index=False):
        change = "-" if not math.isfinite(row.change_pct) else f"{row.change_pct:+.0%}"
        lines.append(
            f"{row.platform[:10]:<10} {row.budget_entity_type[:16]:<16} {row.budget_entity_id[:20]:<20} "
            f"{row.current_daily_budget:>10,.2f} {row.recommended_daily_budget:>12,.2f} {change:>8} {row.ads:>4}"
        )
    return lines


def format_table(result: BudgetRecommendation) -> str:
    """Readable plain-text table for the CLI."""
    frame = result.recommendations
    header = f"{'platform':<10} {'campaign':<14} {'ad':<16} {'current':>10} {'recommended':>12} {'change':>8} {'exp. rev':>10} {'ROAS':>6} {'ROAS CI':>13}"
    lines = [header, "-" * len(header)]
    for row in frame.itertuples(index=False):
        change = "new" if not math.isfinite(row.change_pct) else f"{row.change_pct:+.0%}"
        roas = "-" if not math.isfinite(row.expected_roas) else f"{row.expected_roas:.2f}"
        ci = "-" if not math.isfinite(row.roas_ci_low) else f"{row.roas_ci_low:.2f}-{row.roas_ci_high:.2f}"
        lines.append(
            f"{row.platform[:10]:<10} {row.campaign_id[:14]:<14} {row.ad_id[:16]:<16} {row.current_daily_spend:>10,.2f} "
            f"{row.recommended_daily_budget:>12,.2f} {change:>8} {row.expected_daily_revenue:>10,.2f} {roas:>6} {ci:>13}"
        )
        lines.append(f"    {row.reason}")
    lines += _entity_lines(result)
    lines.append("")
    lines.append(f"Total daily budget: {result.total_daily_budget:,.2f}")
    lines.append(
        f"Expected daily revenue: {result.expected_daily_revenue_current:,.2f} now -> "
        f"{result.expected_daily_revenue_recommended:,.2f} recommended"
    )
    lines.append(result.summary)
    return "\n".join(lines)
