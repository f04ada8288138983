"""One budget run against the warehouse: read the ad mart, recommend, write results and actions, chart.

:func:`run_budget_recommendations` is everything the Dagster asset does, without Dagster: the
asset connects, calls it and attaches its metadata.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from core.results_schema import column_names
from decision_engine.actions import ProposedAction, write_actions
from decision_engine.budget.inputs import ENTITY_COLUMNS
from decision_engine.budget.objective import ObjectiveWeights, apply_objective, read_objective_weights
from decision_engine.budget.recommend import BudgetRecommendation, recommend_budgets
from decision_engine.budget.report import curves_figure, proposed_actions
from decision_engine.budget.settings import BudgetSettings
from decision_engine.policy import BudgetObjective
from decision_engine.store import write_results

HISTORY_SQL = "select * from marts.fct_ad_performance_daily"
ENTITIES_SQL = "select * from marts.dim_budget_entities"
ENTITIES_EXIST_SQL = "select count(*) from information_schema.tables where table_schema = 'marts' and table_name = 'dim_budget_entities'"
CHART_FILE = "budget_curves.html"


@dataclass
class BudgetRun:
    """What one run wrote, with the numbers its caller reports."""

    result: BudgetRecommendation
    frame: pd.DataFrame  # the rows written to results.budget_recommendations
    entity_frame: pd.DataFrame  # the rows written to results.budget_entity_recommendations (empty: per ad)
    actions: list[ProposedAction]  # the rows queued in results.actions
    objective: ObjectiveWeights
    chart_path: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def headline(self) -> str:
        return f"{self.result.summary} {self.objective.sentence()}"

    @property
    def analysis_date(self) -> date:
        return self.result.analysis_date


def _metadata(
    result: BudgetRecommendation,
    frame: pd.DataFrame,
    actions: list[ProposedAction],
    objective: ObjectiveWeights,
) -> dict[str, Any]:
    return {
        **objective.metadata(),
        "ads": len(frame),
        "budget_entities": 0 if result.entities is None else len(result.entities),
        "analysis_date": result.analysis_date.isoformat(),
        "total_daily_budget": float(result.total_daily_budget),
        "expected_daily_revenue_current": float(result.expected_daily_revenue_current),
        "expected_daily_revenue_recommended": float(result.expected_daily_revenue_recommended),
        "kept_current": bool(result.kept_current),
        "proposed_actions": len(actions),
        "issues": list(result.issues),
    }


def _read_inputs(con: Any) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Ad history and the vendors' budget entities; without ``dim_budget_entities`` (older
    warehouses) the entity columns are dropped, so budgets are recommended per ad as before."""
    history = con.execute(HISTORY_SQL).df()
    if not con.execute(ENTITIES_EXIST_SQL).fetchone()[0]:
        return history.drop(columns=[c for c in ENTITY_COLUMNS if c in history.columns]), None
    return history, con.execute(ENTITIES_SQL).df()


def _policy_settings(
    settings: BudgetSettings, max_change: float | None, min_daily_budget: float | None
) -> BudgetSettings:
    """``settings`` with the policy's caps where the caller gives them (``BudgetSettings`` keeps the defaults)."""
    caps = {"max_change": max_change, "min_daily_budget": min_daily_budget}
    return replace(settings, **{name: value for name, value in caps.items() if value is not None})


def run_budget_recommendations(
    con: Any,
    settings: BudgetSettings,
    now: datetime,
    report_dir: str | Path | None = None,
    *,
    max_change: float | None = None,
    min_daily_budget: float | None = None,
    frozen: Collection[str] = (),
    objective: BudgetObjective = "platform_revenue",
) -> BudgetRun:
    """Recommend budgets from ``marts.fct_ad_performance_daily`` and write them.

    Budgets are recommended per budget entity when ``marts.dim_budget_entities`` exists (per ad
    otherwise). Rows go to ``results.budget_recommendations`` (per ad) and
    ``results.budget_entity_recommendations`` (per entity), proposed changes to ``results.actions``,
    all dated with the data date (the last day of ad data used), so a re-run for the same data
    replaces its rows. ``now`` is the analysis timestamp. The policy's caps (``max_change`` as a
    fraction, ``min_daily_budget``) override ``settings``; ``frozen`` platforms or entity/ad ids
    keep their budget and are still reported. With ``report_dir`` the fitted curves are written
    there as HTML. ``objective`` (the policy's ``budget.objective``) says what revenue is worth:
    under ``customer_value`` or ``crm_won_revenue`` the revenue series is re-weighted per platform
    before fitting (see ``decision_engine.budget.objective``), falling back to platform revenue
    when the scores or deals are missing or too thin; the run's issues, metadata, headline and
    every reason that cites a return say which was used.
    """
    history, entities = _read_inputs(con)
    weights = read_objective_weights(con, objective)
    result = recommend_budgets(
        apply_objective(history, weights),
        replace(_policy_settings(settings, max_change, min_daily_budget), objective=weights.used),
        analysis_timestamp=now,
        budget_entities=entities,
        frozen=frozen,
    )
    result.issues.extend(weights.issues)
    frame = result.recommendations
    write_results(con, "budget_recommendations", frame, replace_where=("analysis_date",))
    entity_frame = pd.DataFrame(columns=column_names("budget_entity_recommendations"))
    if result.entities is not None:
        entity_frame = result.entities[entity_frame.columns]
    write_results(con, "budget_entity_recommendations", entity_frame, replace_where=("analysis_date",))
    actions = proposed_actions(result)
    write_actions(con, actions, now, result.analysis_date)
    chart = None
    if report_dir is not None:
        chart = Path(report_dir) / CHART_FILE
        curves_figure(result, html_path=chart)
    return BudgetRun(
        result=result,
        frame=frame,
        entity_frame=entity_frame,
        actions=actions,
        objective=weights,
        chart_path=chart,
        metadata=_metadata(result, frame, actions, weights),
    )
