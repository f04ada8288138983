"""Analysis and decisions of Loopwise's own tests (``experiment_type`` loopwise_test and, after a
rollout, loopwise_holdback in ``marts.fct_experiment_exposures``).

A test pools every campaign its contacts receive, so a contact is one unit with many sends. Its
metrics are per contact (clicks / delivered sends, orders / delivered sends), so the variance
counts the contact as the unit the test randomised (sends of one contact are correlated), and
CUPED adjusts them with the contact's pre-period click rate (``pre_click_rate``; 0 for contacts
with nothing delivered then). The primary metric and the planned sample come from the launch's
plan (``decision_engine.experiments.design``); the information fraction is delivered sends
against the planned sends, expressed in the contacts the engine counts
(:func:`loopwise_plans`). Each run is one look at the cumulative data (the pipeline looks once
a day, at most 28 times before the planned sample; the sequential boundary is calibrated for that).

Decisions: ``ship`` proposes ``rollout_winner`` (the variant to everyone but
``experiments.holdback_share``; auto-applied under ``experiments.auto_ship`` and its
thresholds); no winner before the planned sample is ``continue`` with reason ``underpowered``;
a rolled-out test's holdback phase is ``report`` (its measured effect).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import duckdb
import pandas as pd

from decision_engine.actions import ProposedAction
from decision_engine.experiments.analysis import analyze_experiments
from decision_engine.experiments.codes import DecisionReason
from decision_engine.experiments.decisions import DECISION_COLUMNS, decide_experiments
from decision_engine.experiments.design import METRIC_WORDS, baseline_end, naive_utc
from decision_engine.experiments.launch import EXPERIMENT_PREFIX, LoopwiseTest, loopwise_tests
from decision_engine.experiments.metrics import DEFAULT_METRICS, MetricSpec
from decision_engine.experiments.plans import AnalysisConfig, ExperimentPlan
from decision_engine.experiments.sufficient_stats import compute_sufficient_statistics
from decision_engine.policy import Policy

TEST_TYPE = "loopwise_test"
HOLDBACK_TYPE = "loopwise_holdback"
LOOPWISE_TYPES = (TEST_TYPE, HOLDBACK_TYPE)
EXPOSURES_VIEW = "loopwise_test_exposures"
COVARIATE = "pre_period_click_rate"

_GUARDRAILS = tuple(metric for metric in DEFAULT_METRICS if metric.is_guardrail)
#: Per-contact metrics of a pooled test (a contact's rate over the sends it received in its arm).
LOOPWISE_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("click_rate", "mean", "click_rate", label="clicks"),
    MetricSpec("order_rate", "mean", "order_rate", label="orders per delivered email"),
    MetricSpec("revenue_per_recipient", "mean", "revenue", winsorize=True, label="revenue per recipient"),
    *_GUARDRAILS,
)


def create_exposures_view(con: Any, exposures_table: str) -> str:
    """A temporary view of the Loopwise tests' exposures with the per-contact metrics."""
    con.execute(
        f"create or replace temp view {EXPOSURES_VIEW} as select *, "
        "clicked_sends / nullif(delivered_sends, 0) as click_rate, "
        "converted_sends / nullif(delivered_sends, 0) as order_rate, "
        f"coalesce(pre_click_rate, 0.0) as {COVARIATE} "
        f"from {exposures_table} where experiment_type in {LOOPWISE_TYPES}"
    )
    return EXPOSURES_VIEW


@dataclass(frozen=True)
class ArmVolume:
    contacts: int  # contacts with at least one delivered send
    sends: int  # delivered sends


def arm_volumes(con: Any, view: str) -> dict[str, ArmVolume]:
    """Per experiment: contacts with a delivered send and delivered sends, both arms together."""
    rows = con.execute(
        f"select experiment_id, count(*) filter (where delivered_sends > 0), coalesce(sum(delivered_sends), 0) "
        f"from {view} where arm_count = 1 group by experiment_id"
    ).fetchall()
    return {str(experiment): ArmVolume(int(contacts), int(sends)) for experiment, contacts, sends in rows}


def loopwise_plans(
    types: Mapping[str, str],
    tests: Mapping[str, LoopwiseTest],
    volumes: Mapping[str, ArmVolume],
    policy: Policy,
    now: datetime | None = None,
) -> dict[str, ExperimentPlan]:
    """The plan of each Loopwise experiment from its launch payload.

    The planned sample is in delivered sends per arm; the engine measures the information
    fraction in units (contacts), so the plan states it as the contacts that would carry the
    planned sends at the sends per contact seen so far: the fraction is then sends / planned sends.
    The weeks still needed are at the pace the test has had from its launch to ``now`` (the
    data's clock: :func:`data_clock`) once it has run a week, else at the plan's pace: a marketer
    who sends less than before makes a test slower than planned, and the "~W weeks" says so.
    """
    plans = {}
    for name, experiment_type in types.items():
        test_id = name.removeprefix(EXPERIMENT_PREFIX).split(":")[0]
        test = tests.get(test_id)
        payload = test.payload if test is not None else {}
        if experiment_type == HOLDBACK_TYPE:
            share = policy.experiments.holdback_share
            plans[name] = ExperimentPlan(
                name,
                primary_metric=str(payload.get("primary_metric", "click_rate")),
                control_variant="holdback",
                planned_split={"holdback": share, "variant": 1 - share} if 0 < share < 1 else None,
                check_sample_ratio=0 < share < 1,
                experiment_type=HOLDBACK_TYPE,
            )
            continue
        planned = int(payload.get("planned_units_per_arm") or 0)
        volume = volumes.get(name, ArmVolume(0, 0))
        sent_per_arm = volume.sends / 2
        if planned and volume.sends:
            in_contacts = max(1, round(volume.contacts * planned / volume.sends))
        else:
            in_contacts = None
        more = max(0, round(planned - sent_per_arm)) if planned else None
        weekly = float(payload.get("weekly_units_per_arm") or 0)
        if now is not None and test is not None and test.launched_at is not None:
            weeks = (naive_utc(now) - naive_utc(test.launched_at)).total_seconds() / (7 * 86400)
            weekly = sent_per_arm / weeks if weeks >= 1 else weekly
        plans[name] = ExperimentPlan(
            name,
            primary_metric=str(payload.get("primary_metric", "click_rate")),
            control_variant="control",
            planned_units_per_arm=in_contacts,
            minimum_units_per_arm=int(payload.get("min_units_per_arm", policy.experiments.min_units_per_arm)),
            variant_descriptions=(
                {"variant": f"'{payload['level']}' subject style"} if payload.get("level") else {}
            ),
            experiment_type=TEST_TYPE,
            primary_metric_note=str(payload.get("primary_metric_note", "")),
            more_recipients_per_arm=more,
            weeks_to_planned_sample=(more / weekly) if more is not None and weekly > 0 else None,
        )
    return plans


@dataclass
class LoopwiseAnalysis:
    results: pd.DataFrame
    decisions: pd.DataFrame
    actions: list[ProposedAction] = field(default_factory=list)
    contamination: pd.DataFrame = field(default_factory=pd.DataFrame)


def analyze_loopwise_tests(
    con: Any,
    policy: Policy,
    now: datetime,
    *,
    exposures_table: str,
    config: AnalysisConfig | None = None,
    winsorize_percentile: float | None = 0.99,
    tests: Sequence[LoopwiseTest] | None = None,
) -> LoopwiseAnalysis:
    """Results, decisions and rollout proposals of every Loopwise test in ``exposures_table``;
    ``tests`` (their launch plans and status) default to what the action queue holds."""
    config = config or AnalysisConfig()
    known = loopwise_tests(con) if tests is None else tests
    launched = {test.test_id: test for test in known}
    view = create_exposures_view(con, exposures_table)
    types = dict(con.execute(f"select distinct experiment_id, experiment_type from {view}").fetchall())
    if not types:
        return LoopwiseAnalysis(pd.DataFrame(), pd.DataFrame(columns=DECISION_COLUMNS))
    plans = loopwise_plans(
        types, launched, arm_volumes(con, view), policy, data_clock(con, now) or naive_utc(now)
    )
    sufficient = compute_sufficient_statistics(
        con,
        view,
        LOOPWISE_METRICS,
        covariate_col=COVARIATE,
        by_analysis_date=False,  # each run is one look at the cumulative data
        winsorize_percentile=winsorize_percentile,
    )
    # dated by the data the look covers, not by the exposures' first sends (which stay put while a
    # test runs): each run's look is a row of its own in the results and decisions
    sufficient.stats["analysis_date"] = look_date(con, now)
    results = analyze_experiments(
        sufficient.stats,
        LOOPWISE_METRICS,
        plans=plans,
        config=config,
        contamination=sufficient.contamination,
        analysis_timestamp=now,
    )
    decisions, _campaign_rollouts = decide_experiments(results, plans, config)
    decisions = _keep_endings(_report_holdbacks(decisions, types), launched)
    actions = rollout_actions(decisions, results, plans, launched, policy)
    return LoopwiseAnalysis(results, decisions, actions, sufficient.contamination)


def data_clock(con: Any, now: datetime) -> datetime | None:
    """Just after the newest email send at or before ``now`` (a replayed or late-loaded warehouse
    lags the clock), naive UTC; None without a send mart (exposures built elsewhere)."""
    try:
        return baseline_end(con, now)
    except duckdb.CatalogException:
        return None


def look_date(con: Any, now: datetime) -> date:
    """The day of the newest email send at or before ``now`` (:func:`data_clock`), or ``now``'s day
    without sends."""
    clock = data_clock(con, now)
    return (clock - timedelta(seconds=1)).date() if clock is not None else now.date()


def _report_holdbacks(decisions: pd.DataFrame, types: Mapping[str, str]) -> pd.DataFrame:
    """A rolled-out test's holdback phase reports the measured effect; it decides nothing."""
    decisions = decisions.copy()
    for index, row in decisions.iterrows():
        if types.get(row["experiment_id"]) != HOLDBACK_TYPE:
            continue
        lift, low, high = row["relative_lift"], row["relative_ci_lower"], row["relative_ci_upper"]
        words = METRIC_WORDS.get(row["primary_metric"], str(row["primary_metric"]).replace("_", " "))
        if pd.notna(lift) and pd.notna(low) and pd.notna(high):
            text = (
                f"Rolled-out change against its holdback: {words} {lift * 100:+.0f}% "
                f"(95% CI {low * 100:.0f}% to {high * 100:.0f}%)."
            )
        else:
            text = f"Rolled-out change against its holdback: too little data yet to measure {words}."
        decisions.loc[index, ["decision", "target_variant", "explanation", "reason_code"]] = [
            "report",
            None,
            text,
            DecisionReason.HOLDBACK_EFFECT.value,
        ]
    return decisions


ENDED_PREFIX = re.compile(r"^Ended on (\d{4}-\d{2}-\d{2}): ")


def _keep_endings(decisions: pd.DataFrame, tests: Mapping[str, LoopwiseTest]) -> pd.DataFrame:
    """A test that ended (keep_control or stop_for_harm) or shipped (its rollout carried out)
    keeps that decision every run, as "Ended on <date>: <why>": its later sends, with the style
    no longer shown or shown to everyone, must not reopen it. The statistics beside it stay
    current (after a rollout they are the test phase's, which ended there)."""
    decisions = decisions.copy()
    for index, row in decisions.iterrows():
        test = tests.get(str(row["experiment_id"]).removeprefix(EXPERIMENT_PREFIX))
        if test is None or test.ending is None:
            continue
        why = str(test.ending.get("explanation") or "")
        earlier = ENDED_PREFIX.match(why)
        ended_on = earlier.group(1) if earlier else str(pd.Timestamp(test.ending["analysis_date"]).date())
        decisions.loc[index, ["decision", "target_variant", "reason_code", "explanation"]] = [
            test.ending["decision"],
            test.ending.get("target_variant") if test.ending["decision"] == "ship" else None,
            test.ending.get("reason_code"),
            f"Ended on {ended_on}: {ENDED_PREFIX.sub('', why)}",
        ]
    return decisions


def rollout_actions(
    decisions: pd.DataFrame,
    results: pd.DataFrame,
    plans: Mapping[str, ExperimentPlan],
    tests: Mapping[str, LoopwiseTest],
    policy: Policy,
) -> list[ProposedAction]:
    """``rollout_winner`` for each running test whose decision is ``ship`` (the variant won)."""
    actions = []
    for row in decisions.to_dict("records"):
        name = str(row["experiment_id"])
        test = tests.get(name.removeprefix(EXPERIMENT_PREFIX))
        if row["decision"] != "ship" or row["target_variant"] != "variant" or test is None:
            continue
        if test.status != "running":
            continue
        plan = plans[name]
        evidence = _evidence(results, name, plan.primary_metric)
        holdback = policy.experiments.holdback_share
        actions.append(
            ProposedAction(
                source="experiments",
                action_type="rollout_winner",
                platform="klaviyo",
                target_id=name,
                payload={
                    "test_id": test.test_id,
                    "library_id": test.library_id,
                    "property": test.property,
                    "winner_arm": "variant",
                    "holdback_share": holdback,
                    "n_per_arm": evidence.get("n_per_arm"),
                    "chance_to_beat_control": evidence.get("chance_to_beat_control"),
                },
                reason=f"{row['explanation']} Everyone gets it except a {holdback:.0%} holdback kept on control.",
                auto_apply_allowed=True,  # the policy decides (experiments.auto_ship and its thresholds)
                evidence=evidence,
                reason_code=str(row["reason_code"]),
            )
        )
    return actions


def _evidence(results: pd.DataFrame, name: str, metric: str) -> dict[str, Any]:
    rows = results[(results["experiment_id"] == name) & (results["metric"] == metric)]
    if rows.empty:
        return {}
    row = rows.sort_values("analysis_date").iloc[-1]
    keys = ("n_control", "n_variant", "mean_control", "mean_variant", "relative_lift",
            "sequential_relative_ci_lower", "sequential_relative_ci_upper", "sequential_p_value",
            "chance_to_beat_control", "cuped_applied", "variance_reduction")  # fmt: skip
    evidence = {key: (row[key].item() if hasattr(row[key], "item") else row[key]) for key in keys}
    evidence["n_per_arm"] = int(min(row["n_control"], row["n_variant"]))
    evidence["metric"] = metric
    evidence["analysis_date"] = str(row["analysis_date"])
    return evidence
