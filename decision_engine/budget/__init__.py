"""Budget reallocation between approved ads, set where the platforms keep budgets (``entities``).
Pure Python: never imports Dagster.

Entry points for the CLI and the Dagster assets:

- :func:`run_budget_recommendations` (warehouse -> ``results`` tables, actions and chart; the asset's body)
- :func:`recommend_budgets` (history frame -> :class:`BudgetRecommendation`)
- :func:`proposed_actions`, :func:`to_json_dict`, :func:`curves_figure`, :func:`rollup_recommendations`

Steps: ``inputs`` (validate history) -> ``lag``/``model`` (fit curves) -> ``allocate`` (guardrails,
optimum, confidence check: an :class:`Allocation`, per ad or per budget entity via ``entities``) ->
``reasons`` / ``entity_rows`` (rows, with ``reason_codes`` rendering the English) -> ``report``
(JSON, actions, plots); ``settings`` holds the knobs.
"""

from decision_engine.budget.allocate import Allocation
from decision_engine.budget.entities import budgets_from_export, entity_columns_from_export
from decision_engine.budget.inputs import AdHistory, BudgetInputError, prepare_ad_history
from decision_engine.budget.model import ResponseModel, fit_response_model
from decision_engine.budget.optimizer import BudgetInfeasibleError, allocate_concave, resolve_bounds
from decision_engine.budget.reason_codes import ReasonCode
from decision_engine.budget.reasons import EXTRA_COLUMNS, RESULT_COLUMNS
from decision_engine.budget.recommend import BudgetRecommendation, recommend_budgets
from decision_engine.budget.report import (
    curves_figure,
    format_table,
    proposed_actions,
    rollup_recommendations,
    to_json_dict,
)
from decision_engine.budget.settings import BudgetSettings

__all__ = [
    "EXTRA_COLUMNS",
    "RESULT_COLUMNS",
    "AdHistory",
    "Allocation",
    "BudgetInfeasibleError",
    "BudgetInputError",
    "BudgetRecommendation",
    "BudgetSettings",
    "ReasonCode",
    "ResponseModel",
    "allocate_concave",
    "budgets_from_export",
    "curves_figure",
    "entity_columns_from_export",
    "fit_response_model",
    "format_table",
    "prepare_ad_history",
    "proposed_actions",
    "recommend_budgets",
    "resolve_bounds",
    "rollup_recommendations",
    "to_json_dict",
]
