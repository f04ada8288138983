"""One experiments run, end to end, without Dagster.

:func:`run_experiment_analysis` reads ``marts.fct_experiment_exposures`` and
``marts.dim_contacts``, analyses every experiment, decides, computes the bandit
allocations, writes ``results.experiment_results``, ``results.experiment_decisions``,
``results.experiment_allocations`` and the proposed ``rollout_winner`` actions
(``results.actions``), draws the lift charts, and returns all of it with the headline and
the numbers the orchestration attaches as metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from decision_engine.actions import ProposedAction, write_actions
from decision_engine.experiments.analysis import RESULT_COLUMNS, analyze_experiments
from decision_engine.experiments.bandit import BanditConfig, allocations_from_statistics
from decision_engine.experiments.charts import build_lift_chart
from decision_engine.experiments.customer_value import (
    ValueSource,
    converters_per_arm,
    customer_value_source,
    value_primary_note,
    value_ready,
)
from decision_engine.experiments.decisions import DECISION_COLUMNS, decide_experiments
from decision_engine.experiments.loopwise_analysis import LOOPWISE_TYPES, analyze_loopwise_tests
from decision_engine.experiments.metrics import DEFAULT_METRICS
from decision_engine.experiments.plans import AnalysisConfig, default_plans
from decision_engine.experiments.sufficient_stats import (
    MART_WINSORIZE_PERCENTILE,
    SufficientStatistics,
    compute_sufficient_statistics,
    read_sufficient_statistics,
)
from decision_engine.policy import Policy
from decision_engine.store import ensure_results_table, write_results

EXPOSURES_TABLE = "marts.fct_experiment_exposures"
CONTACTS_TABLE = "marts.dim_contacts"
CHARTED_DECISIONS = ("ship", "stop_for_harm")  # decisions that get a lift chart and an example
MAX_CHARTS = 10
MAX_EXAMPLES = 3


@dataclass(frozen=True)
class ExperimentRunConfig:
    alpha: float = 0.05
    winsorize_percentile: float | None = 0.99
    bandit_metric: str = "click_rate"
    bandit: BanditConfig = field(default_factory=BanditConfig)
    # Loopwise's own tests read the holdback share and rollout thresholds from it (defaults: Policy())
    policy: Policy = field(default_factory=Policy)


@dataclass
class ExperimentRun:
    """What one run produced and wrote."""

    results: pd.DataFrame  # results.experiment_results rows
    decisions: pd.DataFrame  # results.experiment_decisions rows
    allocations: pd.DataFrame  # results.experiment_allocations rows
    actions: list[ProposedAction]  # queued in results.actions
    analysis_timestamp: datetime
    data_date: date | None  # latest exposure day analysed; None when there was nothing to analyse
    experiments: int  # experiments in the exposures table
    contaminated_units: int  # units seen in more than one arm, excluded
    decision_counts: dict[str, int]  # decision -> experiments
    headline: str
    examples: list[str]  # explanations of the first ship / stop-for-harm decisions
    charts: list[str] = field(default_factory=list)  # lift chart HTML paths
    notes: list[str] = field(default_factory=list)  # what the run could not report, and why


def run_experiment_analysis(
    con: Any,
    config: ExperimentRunConfig,
    now: datetime,
    report_dir: str | Path | None = None,
) -> ExperimentRun:
    """Analyse, decide and write every experiment in the warehouse ``con`` (DuckDB).

    ``now`` is the analysis timestamp every written row carries (UTC); ``report_dir``, when
    given, receives a lift chart per ship / stop-for-harm decision (at most ``MAX_CHARTS``).
    """
    analysed = analyze_exposures(con, config, now, holdout_share=read_holdout_share(con))
    results, decisions, allocations = analysed.results, analysed.decisions, analysed.allocations
    data_date = _data_date(results)
    write_results(con, "experiment_results", results, replace_where=("analysis_date",))
    write_results(con, "experiment_decisions", decisions, replace_where=("analysis_date",))
    if len(allocations):
        write_results(con, "experiment_allocations", allocations, replace_where=())
    else:  # keep the last allocations; BI still finds the table
        ensure_results_table(con, "experiment_allocations")
    write_actions(con, analysed.actions, now, data_date or now.date())
    decided = decisions[decisions["decision"].isin(CHARTED_DECISIONS)]
    charts = _charts(results, decided, Path(report_dir)) if report_dir is not None else []
    counts = {str(k): int(v) for k, v in decisions["decision"].value_counts().items()}
    contamination = analysed.contamination
    return ExperimentRun(
        results=results,
        decisions=decisions,
        allocations=allocations,
        actions=analysed.actions,
        analysis_timestamp=now,
        data_date=data_date,
        experiments=analysed.experiments,
        contaminated_units=int(contamination["contaminated_units"].sum()) if len(contamination) else 0,
        decision_counts=counts,
        headline=_headline(len(decisions), counts),
        examples=decided["explanation"].head(MAX_EXAMPLES).tolist(),
        charts=charts,
        notes=analysed.notes,
    )


@dataclass
class ExperimentAnalysis:
    """What the engine concludes from an exposures table, before anything is written."""

    results: pd.DataFrame
    decisions: pd.DataFrame
    allocations: pd.DataFrame
    actions: list[ProposedAction]
    contamination: pd.DataFrame
    experiments: int
    notes: list[str] = field(default_factory=list)


def analyze_exposures(
    con: Any,
    config: ExperimentRunConfig,
    now: datetime,
    *,
    exposures_table: str = EXPOSURES_TABLE,
    holdout_share: float | None = None,
) -> ExperimentAnalysis:
    """Analyse and decide every experiment in ``exposures_table`` (read only; nothing is written).

    ``holdout_share`` is the planned share of the global holdout (:func:`read_holdout_share`).
    Customer value per recipient is reported when ``results.customer_value`` exists, and is the
    primary metric of the experiments with enough ordering recipients per arm
    (:mod:`decision_engine.experiments.customer_value`).
    """
    analysis = AnalysisConfig(alpha=config.alpha)
    every_type = dict(
        con.execute(f"select distinct experiment_id, experiment_type from {exposures_table}").fetchall()
    )
    types = {name: kind for name, kind in every_type.items() if kind not in LOOPWISE_TYPES}
    own_tests = len(types) < len(every_type)
    source = customer_value_source(con, exposures_table)
    metrics = (*DEFAULT_METRICS, *source.metrics)
    sufficient = experiment_statistics(
        con,
        exposures_table,
        source,
        config.winsorize_percentile,
        experiment_ids=sorted(map(str, types)) if own_tests else None,  # Loopwise's tests: below
    )
    ready = value_ready(converters_per_arm(sufficient.stats)) if source.metrics else {}
    value_primary = {experiment_id: value_primary_note(count) for experiment_id, count in ready.items()}
    plans = default_plans(types, holdout_share=holdout_share, value_primary=value_primary)
    if types or not own_tests:
        results = analyze_experiments(
            sufficient.stats,
            metrics,
            plans=plans,
            config=analysis,
            contamination=sufficient.contamination,
            analysis_timestamp=now,
        )
        decisions, actions = decide_experiments(results, plans, analysis)
    else:  # only Loopwise's own tests: nothing for the general path
        results, decisions, actions = (
            pd.DataFrame(columns=RESULT_COLUMNS),
            pd.DataFrame(columns=DECISION_COLUMNS),
            [],
        )
    allocations = allocations_from_statistics(sufficient.stats, config.bandit_metric, config.bandit)
    notes = [source.note] if source.note else []
    contamination = sufficient.contamination
    if own_tests:
        own = analyze_loopwise_tests(
            con,
            config.policy,
            now,
            exposures_table=exposures_table,
            config=analysis,
            winsorize_percentile=config.winsorize_percentile,
        )
        results = _stack(results, own.results)
        decisions = _stack(decisions, own.decisions)
        contamination = _stack(contamination, own.contamination)
        actions = [*actions, *own.actions]
    return ExperimentAnalysis(results, decisions, allocations, actions, contamination, len(every_type), notes)


def experiment_statistics(
    con: Any,
    exposures_table: str,
    source: ValueSource,
    winsorize_percentile: float | None,
    *,
    experiment_ids: list[str] | None,
) -> SufficientStatistics:
    """The sufficient statistics of DEFAULT_METRICS plus ``source``'s value metric.

    DEFAULT_METRICS come from dbt's ``marts.fct_experiment_sufficient_stats`` when the analysis
    reads the mart exposures at the mart's winsorizing percentile (so the engine that built the
    marts, DuckDB or Spark, did the per-unit work); otherwise, and for the value metric (which
    needs ``results.customer_value``, not a mart), DuckDB computes them here."""
    built = None
    if exposures_table == EXPOSURES_TABLE and winsorize_percentile == MART_WINSORIZE_PERCENTILE:
        built = read_sufficient_statistics(con, experiment_ids)
    if built is None:
        return compute_sufficient_statistics(
            con,
            source.table,
            (*DEFAULT_METRICS, *source.metrics),
            winsorize_percentile=winsorize_percentile,
            experiment_ids=experiment_ids,
        )
    if not source.metrics:
        return built
    value = compute_sufficient_statistics(
        con,
        source.table,
        source.metrics,
        winsorize_percentile=winsorize_percentile,
        experiment_ids=experiment_ids,
    )
    stats = _stack(built.stats, value.stats).sort_values(
        ["experiment_id", "metric", "analysis_date", "variant"]
    )
    return SufficientStatistics(stats.reset_index(drop=True), built.contamination)


def _stack(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    """Rows of both frames (the first's columns), without pandas' warning about empty frames."""
    frames = [frame for frame in (first, second) if len(frame)]
    if not frames:
        return first
    return pd.concat(frames, ignore_index=True)[list(first.columns)] if len(frames) > 1 else frames[0]


def read_holdout_share(con: Any) -> float | None:
    """Share of subscribed contacts in the global holdout (None when unknown)."""
    share = con.execute(
        "select avg(case when is_in_global_holdout then 1.0 else 0.0 end) "
        f"from {CONTACTS_TABLE} where is_subscribed"
    ).fetchone()[0]
    return float(share) if share else None


def _data_date(results: pd.DataFrame) -> date | None:
    """The latest exposure day analysed (the data date results, decisions and actions carry)."""
    dates = pd.to_datetime(results["analysis_date"]).dropna() if len(results) else pd.Series(dtype=object)
    return dates.max().date() if len(dates) else None


def _headline(experiments: int, counts: dict[str, int]) -> str:
    """``5 experiments: 3 continue, 1 keep_control, 1 ship``."""
    return f"{experiments} experiments: " + ", ".join(f"{n} {d}" for d, n in sorted(counts.items()))


def _charts(results: pd.DataFrame, decided: pd.DataFrame, report_dir: Path) -> list[str]:
    paths = []
    if len(decided):
        report_dir.mkdir(parents=True, exist_ok=True)
    for row in decided.head(MAX_CHARTS).itertuples(index=False):
        path = report_dir / f"lift_{row.experiment_id}.html"
        build_lift_chart(
            results, row.experiment_id, row.primary_metric, html_path=str(path), include_plotlyjs="directory"
        )
        paths.append(str(path))
    return paths
