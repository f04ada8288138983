"""Experiment analysis: sufficient statistics in SQL, statistics on the summaries.

Pure Python + SQL (DuckDB); never imports Dagster. The Dagster asset calls
:func:`run_experiment_analysis` (``run.py``), which runs, in order:

1. :func:`compute_sufficient_statistics` (DuckDB connection + exposures table),
2. :func:`analyze_experiments` -> ``results.experiment_results`` rows,
3. :func:`decide_experiments` -> ``results.experiment_decisions`` rows + proposed actions
   (``decision_engine.actions.ProposedAction``),
4. :func:`allocations_from_statistics` (bandit weights), then writes the ``results``
   tables and the actions, and draws :func:`build_lift_chart` for ship / stop-for-harm.
"""

from decision_engine.experiments.analysis import (
    RESULT_COLUMNS,
    analyze_experiments,
    analyze_experiments_with_notes,
)
from decision_engine.experiments.bandit import (
    BanditConfig,
    allocation_weights,
    allocations_from_statistics,
    daily_allocations,
)
from decision_engine.experiments.charts import build_lift_chart
from decision_engine.experiments.codes import DecisionReason, Note, NoteCode
from decision_engine.experiments.decisions import DECISION_COLUMNS, Decision, decide_experiments
from decision_engine.experiments.metrics import DEFAULT_METRICS, MetricSpec
from decision_engine.experiments.plans import AnalysisConfig, ExperimentPlan, default_plans
from decision_engine.experiments.run import ExperimentRun, ExperimentRunConfig, run_experiment_analysis
from decision_engine.experiments.sequential import SequentialDesign, power_retention
from decision_engine.experiments.sufficient_stats import (
    STATS_COLUMNS,
    SufficientStatistics,
    compute_sufficient_statistics,
)

__all__ = [
    "DECISION_COLUMNS",
    "DEFAULT_METRICS",
    "RESULT_COLUMNS",
    "STATS_COLUMNS",
    "AnalysisConfig",
    "BanditConfig",
    "ExperimentPlan",
    "ExperimentRun",
    "ExperimentRunConfig",
    "MetricSpec",
    "Decision",
    "DecisionReason",
    "Note",
    "NoteCode",
    "SequentialDesign",
    "SufficientStatistics",
    "allocation_weights",
    "allocations_from_statistics",
    "analyze_experiments",
    "analyze_experiments_with_notes",
    "build_lift_chart",
    "compute_sufficient_statistics",
    "daily_allocations",
    "decide_experiments",
    "default_plans",
    "power_retention",
    "run_experiment_analysis",
]
