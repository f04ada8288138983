"""One budget run against the warehouse: read the ad mart, recommend, write results and actions, chart.

:func:`run_budget_recommendations` is everything the Dagster asset does, without Dagster: the
asset connects, calls it and attaches its metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from decision_engine.actions import ProposedAction, write_actions
from decision_engine.budget.recommend import BudgetRecommendation, recommend_budgets
from decision_engine.budget.report import curves_figure, proposed_actions
from decision_engine.budget.settings import BudgetSettings
from decision_engine.store import write_results

HISTORY_SQL = "select * from marts.fct_ad_performance_daily"
CHART_FILE = "budget_curves.html"


@dataclass
class BudgetRun:
    """What one run wrote, with the numbers its caller reports."""

    result: BudgetRecommendation
    frame: pd.DataFrame  # the rows written to results.budget_recommendations
    actions: list[ProposedAction]  # the rows queued in results.actions
    chart_path: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def headline(self) -> str:
        return self.result.summary

    @property
    def analysis_date(self) -> date:
        return self.result.analysis_date


def _metadata(
    result: BudgetRecommendation, frame: pd.DataFrame, actions: list[ProposedAction]
) -> dict[str, Any]:
    return {
        "ads": len(frame),
        "analysis_date": result.analysis_date.isoformat(),
        "total_daily_budget": float(result.total_daily_budget),
        "expected_daily_revenue_current": float(result.expected_daily_revenue_current),
        "expected_daily_revenue_recommended": float(result.expected_daily_revenue_recommended),
        "kept_current": bool(result.kept_current),
        "proposed_actions": len(actions),
        "issues": list(result.issues),
    }


def run_budget_recommendations(
    con: Any, settings: BudgetSettings, now: datetime, report_dir: str | Path | None = None
) -> BudgetRun:
    """Recommend budgets from ``marts.fct_ad_performance_daily`` and write them.

    Rows go to ``results.budget_recommendations`` and proposed changes to ``results.actions``,
    both dated with the data date (the last day of ad data used), so a re-run for the same
    data replaces its rows. ``now`` is the analysis timestamp. With ``report_dir`` the fitted
    curves are written there as HTML.
    """
    history = con.execute(HISTORY_SQL).df()
    result = recommend_budgets(history, settings, analysis_timestamp=now)
    frame = result.recommendations
    write_results(con, "budget_recommendations", frame, replace_where=("analysis_date",))
    actions = proposed_actions(result)
    write_actions(con, actions, now, result.analysis_date)
    chart = None
    if report_dir is not None:
        chart = Path(report_dir) / CHART_FILE
        curves_figure(result, html_path=chart)
    return BudgetRun(
        result=result,
        frame=frame,
        actions=actions,
        chart_path=chart,
        metadata=_metadata(result, frame, actions),
    )
