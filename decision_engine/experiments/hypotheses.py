"""The hypothesis backlog (``results.hypotheses``): candidate tests, planned and ranked.

One row per library entry of the policy (``experiments.library``: content a human approved, so
Loopwise may launch it, :mod:`.launch`) and per data-mined idea that needs a human
(:mod:`.ideas`: send hour, weekday, topic, flow timing; :mod:`.content_ideas`: a sequence of a
content angle for the segment that engages with it; ``needs_human = true``, no ``library_id``). Each row carries:

- ``expected_relative_lift``: the prior. For a library level with ``results.learnings`` (pooled
  against the plain subject) it is the normal-normal posterior mean of the level's effect: the
  default prior ``N(log(1 + DEFAULT_EXPECTED_RELATIVE_LIFT), PRIOR_SD^2)`` updated with the pooled
  estimate, whose variance is its standard error squared plus tau^2 (the spread of a new test's
  true effect), so one noisy test cannot promise +200%. Without learnings it is the default (a
  subject-line change that matters moves clicks by about a tenth). Ideas use their shrunk
  observed difference.
- the launcher's plan on the warehouse's own baseline and intra-contact correlation
  (:mod:`.campaign_plan` over :func:`.design.design_experiment`: primary metric,
  ``required_units_per_arm`` = the launch's planned sends per arm, capped at 8 weeks,
  ``weekly_units``, ``weeks_to_decision``) and ``expected_value_per_week``;
- ``rank`` by expected value per week (then fewer weeks to a decision), over all rows;
- ``status`` of a library entry: ``running`` while its latest ``launch_experiment`` action is live
  and its test has no final decision, ``concluded`` once the test has one (ship, keep_control,
  stop_for_harm) or its launch ended otherwise (rejected, expired, failed), else ``candidate``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd
from scipy import stats

from decision_engine.experiments.campaign_plan import (
    LEARNINGS_METRIC,
    PLAN_METRICS,
    CampaignBaseline,
    TestPlan,
    plan_test,
    read_campaign_baseline,
)
from decision_engine.experiments.content_ideas import content_sequence_ideas
from decision_engine.experiments.design import CLICK_RATE, DEFAULT_EXPECTED_LIFT, baseline_end
from decision_engine.experiments.factors import PLAIN, LibraryEntry, library_entries, subject_styles
from decision_engine.experiments.ideas import Idea, mine_ideas
from decision_engine.experiments.learnings import FINAL_DECISIONS
from decision_engine.store import table_exists, write_results

DEFAULT_EXPECTED_RELATIVE_LIFT = DEFAULT_EXPECTED_LIFT
PRIOR_SD = 0.10  # on the log scale: a style's effect is rarely beyond about +/-20% around the default
LIVE_LAUNCH = ("proposed", "pending_approval", "auto_approved", "approved", "executed", "verified")
ENDED_LAUNCH = ("rejected", "expired", "failed", "rolled_back")

HYPOTHESIS_COLUMNS = [
    "hypothesis_id",
    "analysis_timestamp",
    "analysis_date",
    "factor",
    "level",
    "library_id",
    "description",
    "needs_human",
    "status",
    "test_id",
    "primary_metric",
    "baseline_rate",
    "expected_relative_lift",
    "prior_source",
    "learnings_tests",
    "required_units_per_arm",
    "weekly_units",
    "weeks_to_decision",
    "value_per_event",
    "expected_value_per_week",
    "rank",
    "plan_note",
    "evidence",
]


def read_learnings(con: Any) -> pd.DataFrame:
    """The latest ``results.learnings`` rows against the plain subject (empty when none yet)."""
    if not table_exists(con, "results", "learnings"):
        return pd.DataFrame()
    return con.execute(
        "select * from results.learnings where analysis_timestamp = "
        "(select max(analysis_timestamp) from results.learnings) and reference_level = ?",
        [PLAIN],
    ).df()


def posterior_lift(
    pooled: float, ci_lower: float, ci_upper: float, tau2: float, alpha: float = 0.05
) -> float:
    """Posterior mean relative lift of a new test of a level, from its learnings row (see module doc)."""
    z = float(stats.norm.ppf(1 - alpha / 2))
    se = (math.log1p(ci_upper) - math.log1p(ci_lower)) / (2 * z)
    prior_mean, prior_precision = math.log1p(DEFAULT_EXPECTED_RELATIVE_LIFT), 1 / PRIOR_SD**2
    data_precision = 1 / (se**2 + tau2) if se > 0 else 0.0
    mean = (prior_mean * prior_precision + math.log1p(pooled) * data_precision) / (
        prior_precision + data_precision
    )
    return math.expm1(mean)


def expected_lifts(learnings: pd.DataFrame, factor: str, level: str) -> tuple[dict[str, float], str, int]:
    """Expected relative lift per plan metric, where it came from, and the tests behind it."""
    lifts = dict.fromkeys(PLAN_METRICS, DEFAULT_EXPECTED_RELATIVE_LIFT)
    tests = 0
    if len(learnings):
        rows = learnings[(learnings["factor"] == factor) & (learnings["level"] == level)]
        for metric, learned in LEARNINGS_METRIC.items():
            found = rows[rows["metric"] == learned]
            if len(found):
                row = found.iloc[0]
                lifts[metric] = posterior_lift(
                    row["pooled_relative_effect"], row["ci_lower"], row["ci_upper"], row["tau2"]
                )
                tests = max(tests, int(row["tests"]))
    return lifts, ("learnings" if tests else "default"), tests


def library_statuses(con: Any) -> dict[str, tuple[str, str | None]]:
    """library id -> (status, test id) from the latest launch_experiment action and its test's decision."""
    if not table_exists(con, "results", "actions"):
        return {}
    launches = con.execute(
        "select target_id, status, payload from results.actions where action_type = 'launch_experiment' "
        "order by analysis_timestamp, action_id"
    ).fetchall()
    decisions: dict[str, str] = {}
    if table_exists(con, "results", "experiment_decisions"):
        decisions = dict(
            con.execute(
                "select experiment_id, decision from results.experiment_decisions qualify row_number() over "
                "(partition by experiment_id order by analysis_date desc, analysis_timestamp desc) = 1"
            ).fetchall()
        )
    found: dict[str, tuple[str, str | None]] = {}
    for test_id, status, payload in launches:
        library_id = json.loads(payload or "{}").get("library_id")
        if not library_id:
            continue
        if decisions.get(f"loopwise:{test_id}") in FINAL_DECISIONS or status in ENDED_LAUNCH:
            found[library_id] = ("concluded", test_id)
        elif status in LIVE_LAUNCH:
            found[library_id] = ("running", test_id)
    return found


def _row(
    hypothesis_id: str, factor: str, level: str, description: str, plan: TestPlan, **extra: Any
) -> dict[str, Any]:
    return {
        "hypothesis_id": hypothesis_id,
        "factor": factor,
        "level": level,
        "description": description,
        "primary_metric": plan.primary_metric,
        "baseline_rate": plan.baseline_rate,
        "expected_relative_lift": plan.expected_relative_lift,
        "required_units_per_arm": plan.required_units_per_arm,
        "weekly_units": plan.weekly_units,
        "weeks_to_decision": plan.weeks_to_decision,
        "value_per_event": plan.value_per_event,
        "expected_value_per_week": plan.expected_value_per_week,
        "plan_note": plan.note,
        **extra,
    }


def _library_rows(
    entries: Iterable[LibraryEntry],
    learnings: pd.DataFrame,
    statuses: dict[str, tuple[str, str | None]],
    baseline: CampaignBaseline,
    test_share: float,
) -> list[dict[str, Any]]:
    rows = []
    for entry in entries:
        lifts, source, tests = expected_lifts(learnings, entry.factor, entry.level)
        plan = plan_test(baseline, lifts, test_share)
        status, test_id = statuses.get(entry.library_id, ("candidate", None))
        what = entry.description or entry.subject_template or entry.level
        rows.append(
            _row(
                f"library:{entry.library_id}",
                entry.factor,
                entry.level,
                f"Test {entry.factor.replace('_', ' ')} '{entry.level}' ({what}) on every campaign. {plan.note}",
                plan,
                library_id=entry.library_id,
                needs_human=False,
                status=status,
                test_id=test_id,
                prior_source=source,
                learnings_tests=tests,
                evidence=json.dumps({"subject_template": entry.subject_template}),
            )
        )
    return rows


def _idea_rows(ideas: Iterable[Idea], baseline: CampaignBaseline, test_share: float) -> list[dict[str, Any]]:
    rows = []
    for idea in ideas:
        lift = (
            DEFAULT_EXPECTED_RELATIVE_LIFT
            if idea.expected_relative_lift is None
            else idea.expected_relative_lift
        )
        idea_baseline = idea.baseline or baseline
        plan = plan_test(idea_baseline, dict.fromkeys(PLAN_METRICS, lift), test_share)
        rows.append(
            _row(
                idea.hypothesis_id,
                idea.factor,
                idea.level,
                f"{idea.description} {plan.note}",
                plan,
                library_id=None,
                needs_human=True,
                status="candidate",
                test_id=None,
                prior_source="default" if idea.expected_relative_lift is None else "observed",
                learnings_tests=0,
                evidence=json.dumps(idea.evidence, default=float),
            )
        )
    return rows


def rank_hypotheses(frame: pd.DataFrame) -> pd.Series:
    """1 = the most expected value per week, then the fewest weeks to a decision, then the order
    the rows come in (the library's order in the policy, which is the human's own ranking)."""
    order = frame.assign(
        _value=frame["expected_value_per_week"].fillna(-math.inf),
        _weeks=frame["weeks_to_decision"].fillna(math.inf),
    ).sort_values(["_value", "_weeks"], ascending=[False, True], kind="stable")
    return pd.Series(range(1, len(order) + 1), index=order.index)


def build_hypotheses(
    con: Any, policy: Any, now: datetime, library: Iterable[Any] | None = None
) -> pd.DataFrame:
    """The ranked backlog from the warehouse ``con`` (read only). ``library``: the entries, when
    the policy does not carry them (default: the policy's ``experiments.library``)."""
    entries = library_entries(policy if library is None else library)
    experiments = getattr(policy, "experiments", None)
    test_share = float(getattr(experiments, "test_share", 1.0) or 1.0)
    # windows end at the newest send the warehouse holds, as the launcher's plan does
    data_end = baseline_end(con, now)
    baseline = read_campaign_baseline(con, data_end)
    click_value = baseline.value_per_event[CLICK_RATE]
    rows = _library_rows(entries, read_learnings(con), library_statuses(con), baseline, test_share)
    ideas = mine_ideas(con, data_end, subject_styles(entries), click_value)
    ideas += content_sequence_ideas(con, click_value, baseline.design.clicks.icc)
    rows += _idea_rows(ideas, baseline, test_share)
    frame = pd.DataFrame(
        rows,
        columns=[c for c in HYPOTHESIS_COLUMNS if c not in ("analysis_timestamp", "analysis_date", "rank")],
    )
    frame["analysis_timestamp"] = now
    frame["analysis_date"] = data_end.date()
    frame["rank"] = rank_hypotheses(frame) if len(frame) else pd.Series(dtype="int64")
    return frame.sort_values("rank")[HYPOTHESIS_COLUMNS].reset_index(drop=True)


def run_hypotheses(
    con: Any, policy: Any, now: datetime, library: Iterable[Any] | None = None
) -> pd.DataFrame:
    """Build the backlog and write it to ``results.hypotheses`` (replacing the same data date)."""
    frame = build_hypotheses(con, policy, now, library)
    write_results(con, "hypotheses", frame, replace_where=("analysis_date",))
    return frame
