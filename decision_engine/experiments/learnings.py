"""Learnings: what concluded tests say about each factor and level, pooled across tests.

``results.learnings`` is the "what works for us" memory: one row per factor, level and metric,
pooling every concluded test of that level (Loopwise's own tests and the marketer's campaign A/B
tests alike) with a random-effects meta-analysis (:mod:`.meta_analysis`). Its pooled effect is the
prior ``expected_relative_lift`` of the next test's plan (:mod:`.hypotheses`).

Inputs (read only):

- ``results.experiment_results`` / ``results.experiment_decisions``: each experiment's latest look
  (its newest ``analysis_date``, from the newest run that wrote it). A test is *concluded* when its
  latest decision is final (``ship``, ``keep_control``, ``stop_for_harm``), or when it is a campaign
  A/B test whose last exposure is at least :data:`SETTLE_DAYS` before the newest exposure (a
  one-off campaign test gains no units after it was sent, and its attributed orders have matured).
  Concluded tests enter whatever their verdict, so inconclusive tests count too (no "winners only"
  bias).
- the factor and level of each comparison (:mod:`.factors`): from the library entry for Loopwise
  tests, from the arms' subjects (``marts.dim_email_messages``) for campaign A/B tests.
- segments for "holds by segment": ``marts.fct_experiment_exposures`` joined to
  the contact's lifecycle stage group (:mod:`.segments`; contaminated units left out).

Per comparison the effect is ``log(1 + relative_lift)`` of the experiment's result row, and its
variance comes from the row's fixed-horizon relative CI (a delta-method CI on the log ratio, at
``1 - alpha``): ``((log(1 + upper) - log(1 + lower)) / (2 z))^2``. Rows without a relative CI (an
arm without events) are left out. A comparison whose control carries the level is flipped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from decision_engine.experiments.factors import (
    PLAIN,
    LibraryEntry,
    classify_subject_change,
    library_id_of_test,
    marketer_subject,
    subject_styles,
)
from decision_engine.experiments.meta_analysis import pool_random_effects
from decision_engine.experiments.metrics import DEFAULT_METRICS
from decision_engine.experiments.segments import (
    SegmentBreakdown,
    segment_effects,
    segment_statistics,
    segment_summary,
)
from decision_engine.store import write_results

FINAL_DECISIONS = ("ship", "keep_control", "stop_for_harm")
SETTLE_DAYS = 7  # a campaign A/B test is concluded this many days after its last exposure
#: metrics pooled; the hypotheses' primary metrics are among them
LEARNING_METRICS = (
    "human_open_rate",
    "click_rate",
    "conversion_rate",
    "revenue_per_recipient",
    "unsubscribe_rate",
)
EXPOSURES_TABLE = "marts.fct_experiment_exposures"
MESSAGES_TABLE = "marts.dim_email_messages"

LEARNING_COLUMNS = [
    "analysis_timestamp",
    "analysis_date",
    "factor",
    "level",
    "reference_level",
    "metric",
    "tests",
    "experiment_ids",
    "pooled_relative_effect",
    "ci_lower",
    "ci_upper",
    "prediction_lower",
    "prediction_upper",
    "tau2",
    "i2",
    "segments",
    "segments_agreeing",
    "holds_by_segment",
    "segment_difference_p_value",
    "segment_effects",
    "description",
]


@dataclass
class LearningsRun:
    """What one learnings run produced and wrote."""

    learnings: pd.DataFrame  # results.learnings rows
    comparisons: pd.DataFrame  # the per-test effects that were pooled
    analysis_timestamp: datetime
    data_date: date | None
    notes: list[str] = field(default_factory=list)


def _table_exists(con: Any, qualified: str) -> bool:
    schema, table = qualified.split(".")
    (count,) = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(count)


def _latest_results(con: Any, metrics: Sequence[str]) -> pd.DataFrame:
    """Each experiment's latest look: its newest analysis_date, from the newest run that wrote it."""
    placeholders = ", ".join("?" for _ in metrics)
    return con.execute(
        f"""
        with latest as (
            select experiment_id, max(analysis_date) as analysis_date
            from results.experiment_results group by experiment_id
        ),
        rows as (
            select r.*
            from results.experiment_results as r
            inner join latest using (experiment_id, analysis_date)
            qualify r.analysis_timestamp = max(r.analysis_timestamp) over (partition by r.experiment_id)
        )
        select experiment_id, analysis_date, metric, variant, control, relative_lift,
            relative_ci_lower, relative_ci_upper
        from rows
        where metric in ({placeholders})
        """,
        list(metrics),
    ).df()


def _latest_decisions(con: Any) -> dict[str, str]:
    if not _table_exists(con, "results.experiment_decisions"):
        return {}
    rows = con.execute(
        """
        select experiment_id, decision from results.experiment_decisions
        qualify row_number() over (
            partition by experiment_id order by analysis_date desc, analysis_timestamp desc
        ) = 1
        """
    ).fetchall()
    return {str(experiment_id): str(decision) for experiment_id, decision in rows}


def concluded_experiments(con: Any, settle_days: int = SETTLE_DAYS) -> tuple[dict[str, str], date | None]:
    """Concluded experiment ids -> experiment_type, and the newest exposure day (the data date)."""
    rows = con.execute(
        f"select experiment_id, experiment_type, max(exposed_at) from {EXPOSURES_TABLE} group by all"
    ).fetchall()
    if not rows:
        return {}, None
    newest = max(row[2] for row in rows)
    decisions = _latest_decisions(con)
    concluded = {}
    for experiment_id, experiment_type, last_exposed in rows:
        final = decisions.get(experiment_id) in FINAL_DECISIONS
        settled = experiment_type == "campaign_ab" and (newest - last_exposed).days >= settle_days
        if final or settled:
            concluded[str(experiment_id)] = str(experiment_type)
    return concluded, newest.date()


def _arm_subjects(con: Any) -> dict[tuple[str, str], str]:
    """(experiment_id, arm) -> subject for campaign A/B tests (arm = variant label or message id)."""
    if not _table_exists(con, MESSAGES_TABLE):
        return {}
    rows = con.execute(
        f"select 'campaign_ab:' || campaign_id, coalesce(variant_label, message_id), subject "
        f"from {MESSAGES_TABLE} where send_type = 'campaign' and campaign_id is not null"
    ).fetchall()
    # an arm's subject as the marketer wrote it (a running Loopwise test's blocks left out)
    return {
        (str(experiment_id), str(arm)): marketer_subject(subject) if subject else subject
        for experiment_id, arm, subject in rows
    }


def label_comparisons(
    results: pd.DataFrame,
    experiment_types: dict[str, str],
    subjects: dict[tuple[str, str], str],
    library: Iterable[LibraryEntry],
) -> tuple[pd.DataFrame, int]:
    """Attach factor, level and sign to each result row of a concluded experiment; rows with no
    single factor level are dropped. Returns the labelled rows and the comparisons dropped."""
    library = tuple(library)
    by_id = {entry.library_id: entry for entry in library}
    styles = subject_styles(library)
    labels: dict[tuple[str, str, str], tuple[str, str, str, int] | None] = {}
    for experiment_id, variant, control in results[["experiment_id", "variant", "control"]].itertuples(
        index=False
    ):
        key = (experiment_id, variant, control)
        if key in labels:
            continue
        experiment_type = experiment_types.get(experiment_id)
        label = None
        if experiment_type == "loopwise_test":
            entry = by_id.get(library_id_of_test(experiment_id) or "")
            label = (entry.factor, entry.level, PLAIN, +1) if entry else None
        elif experiment_type == "campaign_ab":
            found = classify_subject_change(
                subjects.get((experiment_id, control)), subjects.get((experiment_id, variant)), styles
            )
            label = (found.factor, found.level, found.reference_level, found.sign) if found else None
        labels[key] = label
    rows = results[results["experiment_id"].isin(experiment_types)].copy()
    keys = list(zip(rows["experiment_id"], rows["variant"], rows["control"], strict=True))
    found = [labels.get(key) for key in keys]
    rows["factor"] = [label[0] if label else None for label in found]
    rows["level"] = [label[1] if label else None for label in found]
    rows["reference_level"] = [label[2] if label else None for label in found]
    rows["sign"] = [label[3] if label else 0 for label in found]
    dropped = len({key for key, label in zip(keys, found, strict=True) if label is None})
    return rows[rows["factor"].notna()].reset_index(drop=True), dropped


def comparison_effects(rows: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Log-ratio effect (sign-adjusted) and its variance from each row's relative CI."""
    z = float(stats.norm.ppf(1 - alpha / 2))
    usable = rows.dropna(subset=["relative_lift", "relative_ci_lower", "relative_ci_upper"])
    usable = usable[(usable["relative_ci_lower"] > -1) & (usable["relative_lift"] > -1)].copy()
    half_width = (np.log1p(usable["relative_ci_upper"]) - np.log1p(usable["relative_ci_lower"])) / (2 * z)
    usable["effect"] = usable["sign"] * np.log1p(usable["relative_lift"])
    usable["variance"] = half_width**2
    return usable[usable["variance"] > 0].reset_index(drop=True)


def _describe(
    factor: str, level: str, reference: str, metric: str, relative: float, lower: float, upper: float, k: int
) -> str:
    direction = "raises" if lower > 0 else "lowers" if upper < 0 else "has no clear effect on"
    tests = f"{k} test" + ("s" if k != 1 else "")
    return (
        f"{factor.replace('_', ' ')} '{level}' (vs '{reference}') {direction} {metric.replace('_', ' ')}: "
        f"{relative:+.1%} (95% interval {lower:+.1%} to {upper:+.1%}) over {tests}."
    )


def pool_learnings(effects: pd.DataFrame, segments: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """One row per factor, level and metric: the random-effects pool of ``effects``."""
    rows = []
    keys = ["factor", "level", "reference_level", "metric"]
    for (factor, level, reference, metric), group in effects.groupby(keys, sort=True):
        pooled = pool_random_effects(group["effect"].to_numpy(), group["variance"].to_numpy(), alpha)
        in_segments = (
            segments.merge(pd.DataFrame([dict(zip(keys, (factor, level, reference, metric), strict=True))]))
            if len(segments)
            else segments
        )
        relative = math.expm1(pooled.estimate)
        lower, upper = math.expm1(pooled.ci_lower), math.expm1(pooled.ci_upper)
        rows.append(
            {
                "factor": factor,
                "level": level,
                "reference_level": reference,
                "metric": metric,
                "tests": pooled.tests,
                "experiment_ids": json.dumps(sorted(group["experiment_id"].unique().tolist())),
                "pooled_relative_effect": relative,
                "ci_lower": lower,
                "ci_upper": upper,
                "prediction_lower": pooled.relative(pooled.prediction_lower),
                "prediction_upper": pooled.relative(pooled.prediction_upper),
                "tau2": pooled.tau2,
                "i2": pooled.i2,
                **segment_summary(pooled.estimate, in_segments, alpha),
                "description": _describe(
                    factor, level, reference, metric, relative, lower, upper, pooled.tests
                ),
            }
        )
    return pd.DataFrame(
        rows, columns=[c for c in LEARNING_COLUMNS if c not in ("analysis_timestamp", "analysis_date")]
    )


def build_learnings(
    con: Any,
    now: datetime,
    library: Iterable[LibraryEntry] = (),
    *,
    alpha: float = 0.05,
    settle_days: int = SETTLE_DAYS,
    segment_breakdown: SegmentBreakdown = "lifecycle_stage",
) -> LearningsRun:
    """Pool every concluded test in the warehouse ``con`` by factor, level and metric (read only);
    "holds by segment" by ``segment_breakdown`` (``decision_engine.experiments.segments``)."""
    notes: list[str] = []
    empty = pd.DataFrame(columns=LEARNING_COLUMNS)
    if not _table_exists(con, "results.experiment_results"):
        return LearningsRun(empty, pd.DataFrame(), now, None, ["no experiment results yet"])
    concluded, data_date = concluded_experiments(con, settle_days)
    results = _latest_results(con, LEARNING_METRICS)
    labelled, dropped = label_comparisons(results, concluded, _arm_subjects(con), library)
    if dropped:
        notes.append(
            f"{dropped} comparison(s) of concluded tests vary no known factor level "
            "(different copy, an A/A test, or an unknown style) and are left out"
        )
    effects = comparison_effects(labelled, alpha)
    metrics = [spec for spec in DEFAULT_METRICS if spec.name in LEARNING_METRICS]
    statistics = segment_statistics(
        con, sorted(effects["experiment_id"].unique()) if len(effects) else [], metrics, segment_breakdown
    )
    learnings = (
        pool_learnings(effects, segment_effects(effects, statistics), alpha) if len(effects) else empty
    )
    learnings = learnings.assign(analysis_timestamp=now, analysis_date=data_date)[LEARNING_COLUMNS]
    if not len(learnings):
        notes.append(f"no concluded test varies a known factor level ({len(concluded)} concluded tests)")
    return LearningsRun(learnings, effects, now, data_date, notes)


def run_learnings(
    con: Any, now: datetime, library: Iterable[LibraryEntry] = (), *, alpha: float = 0.05
) -> LearningsRun:
    """Build the learnings and write them to ``results.learnings`` (replacing the same data date)."""
    run = build_learnings(con, now, library, alpha=alpha)
    write_results(con, "learnings", run.learnings, replace_where=("analysis_date",))
    return run
