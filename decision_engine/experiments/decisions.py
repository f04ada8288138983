"""Decisions per experiment: ship / keep control / continue / stop for harm / report, in plain English.

Rules, applied to the latest analysis date of each experiment:

1. No control/variant pair, or a sample ratio mismatch -> ``continue`` (needs a human; the
   numbers are not trustworthy).
2. A guardrail (or the primary metric) significantly worse for a variant -> ``stop_for_harm``.
3. A variant significantly better on the primary metric, every arm past the minimum
   sample, no guardrail significantly worse -> ``ship`` (largest lift wins) and a
   ``rollout_winner`` :class:`decision_engine.actions.ProposedAction` (never auto-applied).
4. Planned sample reached without a winner -> ``keep_control``; otherwise ``continue``.
   Too few events in an arm to estimate the primary lift (fewer than
   ``AnalysisConfig.minimum_events_per_arm`` clicks, say) -> ``continue``, with the counts.

The global holdout (``ExperimentPlan.experiment_type == "global_holdout"``) is not a choice
between variants: it measures the email program's incremental effect, so its decision is
always ``report`` (the measured effect and its CI), never a rollout.

"Significant" uses the sequential (look-calibrated or always-valid) p-value, Holm-adjusted
across variants for each metric and across all guardrails x variants together, unless
``AnalysisConfig.decision_basis == "fixed"`` (fixed-horizon p, Holm across metrics x variants;
only for one final look).

Every decision carries a :class:`~decision_engine.experiments.codes.DecisionReason`
(``reason_code``) beside its English explanation; code that filters reads the code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from core.results_schema import column_names
from decision_engine.actions import ProposedAction
from decision_engine.experiments.codes import DecisionReason
from decision_engine.experiments.plans import AnalysisConfig, ExperimentPlan

DECISION_COLUMNS = column_names("experiment_decisions")

Row = dict[str, Any]


@dataclass(frozen=True)
class Decision:
    """One experiment's decision: what, for which variant, why (code and English) and the
    result row it rests on (``None`` when there is none)."""

    decision: str
    target_variant: str | None
    reason_code: DecisionReason
    explanation: str
    evidence_row: Row | None = None


@dataclass(frozen=True)
class _Case:
    """What ``_decide_one`` looks at for one experiment (its latest analysis date)."""

    plan: ExperimentPlan
    primary: list[Row]  # primary-metric rows, one per variant
    guard: list[Row]  # guardrail rows
    frame: list[Row]  # every row
    srm_flag: bool
    p_column: str  # the adjusted p-value the decision rests on
    confidence: int  # 95 for alpha 0.05
    basis: str  # sequential or fixed
    minimum_events: int = 5


def _data_date(value: Any) -> date | None:
    """The analysis (data) date as a ``datetime.date``; ``None`` for one-look input."""
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).date()


def _pct(value: float) -> str:
    if not _finite(value):
        return "n/a"
    return f"{value * 100:+.0f}%" if abs(value) >= 0.005 else f"{value * 100:+.1f}%"


def _arm(label: Any) -> str:
    """How an arm is named in text: labels like "Variant B" as they are, bare letters as
    "Variant B", other names ("treatment", "holdout") as they are."""
    text = str(label)
    return f"Variant {text}" if len(text) <= 2 else text


def _list(words: list[str], conjunction: str = "or") -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + f" {conjunction} " + words[-1]


def _label(metric: str) -> str:
    from decision_engine.experiments.metrics import DEFAULT_METRICS

    labels = {m.name: m.display_name for m in DEFAULT_METRICS}
    return labels.get(metric, metric.replace("_", " "))


def _finite(value: Any) -> bool:
    try:
        return bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False


def _ci_text(row: Any, confidence: int, basis: str) -> str:
    prefix = "sequential_relative_ci_" if basis == "sequential" else "relative_ci_"
    lo, hi = row[prefix + "lower"], row[prefix + "upper"]
    if not (_finite(lo) and _finite(hi)):
        return f"no {confidence}% CI yet"
    return f"{confidence}% CI {lo * 100:.0f}% to {hi * 100:.0f}%"


def _estimable(row: Any, basis: str) -> bool:
    """Whether the row's relative lift can be estimated: a finite lift and CI, and enough
    events in both arms (``too_few_events`` from the analysis)."""
    prefix = "sequential_relative_ci_" if basis == "sequential" else "relative_ci_"
    if not all(_finite(row.get(key)) for key in ("relative_lift", prefix + "lower", prefix + "upper")):
        return False
    return row.get("too_few_events") is not True and row.get("too_few_events") is not np.True_


def _count(value: Any) -> str:
    return f"{float(value):,.0f}" if _finite(value) else "?"


def _counts(row: Any) -> str:
    """``0 of 212 vs 1 of 208`` (control first) for count metrics; unit counts for means."""
    if row.get("metric_kind") == "mean" or not _finite(row.get("numerator_control")):
        return f"n = {_count(row['n_control'])} vs {_count(row['n_variant'])}"
    return (
        f"{_count(row['numerator_control'])} of {_count(row['denominator_control'])} vs "
        f"{_count(row['numerator_variant'])} of {_count(row['denominator_variant'])}"
    )


def _effect_text(row: Any, confidence: int, basis: str) -> str:
    """``+53% (95% CI -48% to 350%)``, or the raw counts when no relative lift exists."""
    if _finite(row.get("relative_lift")):
        return f"{_pct(row['relative_lift'])} ({_ci_text(row, confidence, basis)})"
    return f"({_counts(row)})"


def decide_experiments(
    results: pd.DataFrame,
    plans: Mapping[str, ExperimentPlan] | None = None,
    config: AnalysisConfig | None = None,
) -> tuple[pd.DataFrame, list[ProposedAction]]:
    """``results.experiment_decisions`` rows (DECISION_COLUMNS) and the proposed actions."""
    config = config or AnalysisConfig()
    plans = dict(plans or {})
    basis = config.decision_basis
    p_column = "sequential_p_value_adjusted" if basis == "sequential" else "p_value_adjusted"
    confidence = round((1 - config.alpha) * 100)
    rows, actions = [], []
    if results.empty:
        return pd.DataFrame(columns=DECISION_COLUMNS), actions
    latest = results[results["analysis_date"].isna() | (
        results["analysis_date"] == results.groupby("experiment_id", dropna=False)["analysis_date"].transform("max")
    )]  # fmt: skip
    by_experiment: dict[Any, list[dict[str, Any]]] = {}
    for record in latest.to_dict("records"):
        by_experiment.setdefault(record["experiment_id"], []).append(record)
    for experiment_id in sorted(by_experiment, key=str):
        frame = by_experiment[experiment_id]
        plan = plans.get(experiment_id) or ExperimentPlan(experiment_id=experiment_id)
        case = _Case(
            plan=plan,
            primary=[r for r in frame if r["is_primary"] is True and isinstance(r["variant"], str)],
            guard=[r for r in frame if r["is_guardrail"] is True and isinstance(r["variant"], str)],
            frame=frame,
            srm_flag=any(r["srm_flag"] is True for r in frame),
            p_column=p_column,
            confidence=confidence,
            basis=basis,
            minimum_events=config.minimum_events_per_arm,
        )
        decided = _decide_one(case)
        stats_row = decided.evidence_row or {}
        target = None if decided.target_variant is None else str(decided.target_variant)
        rows.append(
            {
                "analysis_timestamp": frame[0]["analysis_timestamp"],
                "analysis_date": _data_date(frame[0]["analysis_date"]),
                "experiment_id": experiment_id,
                "decision": decided.decision,
                "target_variant": target,
                "primary_metric": plan.primary_metric,
                "relative_lift": stats_row.get("relative_lift", np.nan),
                "relative_ci_lower": stats_row.get("sequential_relative_ci_lower", np.nan),
                "relative_ci_upper": stats_row.get("sequential_relative_ci_upper", np.nan),
                "p_value": stats_row.get("p_value", np.nan),
                "sequential_p_value": stats_row.get("sequential_p_value", np.nan),
                "information_fraction": stats_row.get("information_fraction", np.nan),
                "srm_flag": case.srm_flag,
                "contaminated_units": int(max((r["contaminated_units"] or 0) for r in frame)),
                "explanation": " ".join(filter(None, (decided.explanation, plan.primary_metric_note))),
                "reason_code": decided.reason_code.value,
            }
        )
        if decided.decision == "ship" and decided.evidence_row is not None:
            actions.append(_rollout_action(str(experiment_id), decided, case.guard))
    return pd.DataFrame(rows, columns=DECISION_COLUMNS), actions


def _rollout_action(experiment_id: str, decided: Decision, guard: list[Row]) -> ProposedAction:
    """The ``rollout_winner`` action a ship decision proposes (never applied without approval)."""
    evidence_row = decided.evidence_row or {}
    evidence = {
        key: (value.item() if hasattr(value, "item") else value)
        for key, value in evidence_row.items()
        if key in ("metric", "control", "n_control", "n_variant", "mean_control", "mean_variant",
                   "relative_lift", "sequential_relative_ci_lower", "sequential_relative_ci_upper",
                   "p_value", "sequential_p_value", "chance_to_beat_control")
    }  # fmt: skip
    evidence["analysis_date"] = str(evidence_row["analysis_date"])
    evidence["guardrails"] = {
        f"{r['metric']}:{r['variant']}": {
            "relative_lift": float(r["relative_lift"]),
            "verdict": r["verdict"],
        }
        for r in guard
        if r["variant"] == decided.target_variant
    }
    evidence["explanation"] = decided.explanation
    return ProposedAction(
        source="experiments",
        action_type="rollout_winner",
        platform="klaviyo",
        target_id=experiment_id,
        payload={"winner_variant": str(decided.target_variant)},
        reason=decided.explanation,
        auto_apply_allowed=False,
        evidence=evidence,
        reason_code=decided.reason_code.value,
    )


def _decide_one(case: _Case) -> Decision:
    """The decision rules (module docstring) for one experiment; each path has its
    :class:`DecisionReason` and writes its English once."""
    plan, primary, guard, frame = case.plan, case.primary, case.guard, case.frame
    p_column, confidence, basis = case.p_column, case.confidence, case.basis
    if not any(_finite(r[p_column]) for r in primary):
        notes = "; ".join(sorted({r["note"] for r in frame if isinstance(r["note"], str) and r["note"]}))
        why = notes or f"the primary metric {plan.primary_metric!r} is missing"
        decision = "report" if plan.experiment_type == "global_holdout" else "continue"
        return Decision(decision, None, DecisionReason.NOT_ANALYSABLE, f"Cannot decide yet: {why}.")
    srm_text = ""
    if case.srm_flag:
        p = min(r["srm_p_value"] for r in frame if _finite(r["srm_p_value"]))
        srm_text = (
            f"Sample ratio mismatch (p={p:.1g}): arm sizes do not match the planned split, so the "
            "results are not trustworthy; check assignment and delivery before deciding."
        )
    if plan.experiment_type == "global_holdout":
        return _report_program_effect(case, srm_text)
    if case.srm_flag:
        return Decision("continue", None, DecisionReason.SRM, srm_text)
    harmful_guard = [r for r in guard if r["verdict"] == "worse"]
    harmful = harmful_guard or [r for r in primary if r["verdict"] == "worse"]
    if harmful:
        worst = min(harmful, key=lambda r: r[p_column])
        what = _label(worst["metric"])
        direction = "raised" if worst["absolute_lift"] > 0 else "cut"
        if _finite(worst["relative_lift"]):
            size = f"{abs(worst['relative_lift']) * 100:.0f}% ({_ci_text(worst, confidence, basis)}; {_counts(worst)})"
        else:
            size = f"({_counts(worst)})"
        return Decision(
            "stop_for_harm",
            worst["variant"],
            DecisionReason.GUARDRAIL_HARM if harmful_guard else DecisionReason.PRIMARY_HARM,
            (
                f"{_arm(worst['variant'])} {direction} {what} {size} against {_arm(worst['control'])}; "
                f"stop it and keep {_arm(worst['control'])}."
            ),
            worst,
        )
    estimable = [r for r in primary if _estimable(r, basis)]
    if not estimable:
        return Decision(
            "continue", None, DecisionReason.TOO_FEW_EVENTS, _too_few_text(primary, case.minimum_events)
        )
    minimum_met = all(min(r["n_control"], r["n_variant"]) >= plan.minimum_units_per_arm for r in primary)
    ahead = [r for r in estimable if r["verdict"] == "better"]
    guard_words = sorted({_label(r["metric"]) for r in guard}) or ["guardrail metrics"]
    if ahead and minimum_met:
        best = max(ahead, key=lambda r: r["relative_lift"])
        description = plan.variant_descriptions.get(best["variant"])
        who = f"{_arm(best['variant'])}'s {description}" if description else _arm(best["variant"])
        verb = "lifted" if best["relative_lift"] >= 0 else "cut"
        remaining = f"the remaining {1 - plan.test_share:.0%}" if plan.test_share else "everyone"
        rises = [
            _label(r["metric"]) for r in guard if r["variant"] == best["variant"] and r["relative_lift"] > 0
        ]
        guard_text = (
            f"no significant rise in {_list(guard_words)}"
            if not rises
            else f"{_list(rises, 'and')} up but not significantly"
        )
        return Decision(
            "ship",
            best["variant"],
            DecisionReason.PRIMARY_BETTER,
            (
                f"{who} {verb} {_label(best['metric'])} {abs(best['relative_lift']) * 100:.0f}% "
                f"({_ci_text(best, confidence, basis)}) with {guard_text}; ships to {remaining}."
            ),
            best,
        )
    if ahead:
        best = max(ahead, key=lambda r: r["relative_lift"])
        return Decision(
            "continue",
            None,
            DecisionReason.BELOW_MINIMUM_SAMPLE,
            (
                f"{_arm(best['variant'])} is ahead of {_arm(best['control'])} on {_label(best['metric'])}: "
                f"{_effect_text(best, confidence, basis)}, {_counts(best)}; an automatic rollout needs "
                f"{plan.minimum_units_per_arm:,} units per arm, so keep collecting or decide by hand."
            ),
            best,
        )
    lead = max(estimable, key=lambda r: r["relative_lift"])
    fraction = float(min(r["information_fraction"] for r in primary))
    control = _arm(lead["control"])
    if (fraction >= 1.0 or not plan.planned_units_per_arm) and len(primary) == 1:
        return Decision(
            "keep_control",
            None,
            DecisionReason.PLANNED_SAMPLE_REACHED,
            (
                f"{_arm(lead['variant'])} did not beat {control} on {_label(lead['metric'])}: "
                f"{_effect_text(lead, confidence, basis)}, {_counts(lead)}; keep {control}."
            ),
            lead,
        )
    if fraction >= 1.0 or not plan.planned_units_per_arm:
        return Decision(
            "keep_control",
            None,
            DecisionReason.PLANNED_SAMPLE_REACHED,
            (
                f"No variant beat {control} on {_label(lead['metric'])}: the best, {_arm(lead['variant'])}, "
                f"moved it {_effect_text(lead, confidence, basis)}, {_counts(lead)}; keep {control}."
            ),
            lead,
        )
    if plan.more_recipients_per_arm is not None:
        return _underpowered(plan, lead, fraction, confidence, basis)
    if not minimum_met:
        waiting = f"fewer than {plan.minimum_units_per_arm:,} units per arm so far"
    else:
        waiting = f"{fraction:.0%} of the planned sample so far"
    return Decision(
        "continue",
        None,
        DecisionReason.CONTINUE_COLLECTING,
        (
            f"Keep collecting: {waiting}; {_arm(lead['variant'])} is at "
            f"{_effect_text(lead, confidence, basis)} on {_label(lead['metric'])}, not conclusive yet."
        ),
        lead,
    )


def _underpowered(plan: ExperimentPlan, lead: Row, fraction: float, confidence: int, basis: str) -> Decision:
    """A planned test short of its sample without a winner: say how much more it needs; never
    ``keep_control`` before the planned sample."""
    more = max(0, plan.more_recipients_per_arm or 0)
    weeks = plan.weeks_to_planned_sample
    when = f" (~{weeks:.1f} weeks)" if weeks is not None and np.isfinite(weeks) else ""
    description = plan.variant_descriptions.get(lead["variant"])
    who = f"The {description}" if description else _arm(lead["variant"])
    return Decision(
        "continue",
        None,
        DecisionReason.UNDERPOWERED,
        (
            f"Underpowered so far ({fraction:.0%} of the planned sample): needs about {more:,} more recipients "
            f"per arm{when}. {who} is at {_effect_text(lead, confidence, basis)} on "
            f"{_label(lead['metric'])}, not conclusive yet."
        ),
        lead,
    )


def _too_few_text(primary: list[Row], minimum_events: int) -> str:
    """``Too few clicks yet to estimate a lift: 0 of 212 vs 1 of 208; continue.``"""
    row = primary[0]
    what = _label(row["metric"])
    if row.get("metric_kind") == "mean":
        sizes = ", ".join(f"{_arm(r['variant'])} n = {_count(r['n_variant'])}" for r in primary)
        return (
            f"Too little data yet to estimate a lift in {what} ({_arm(row['control'])} n = "
            f"{_count(row['n_control'])}, {sizes}): too few non-zero values in an arm; continue."
        )
    if len(primary) == 1:
        counts = _counts(row)
    else:
        arms = [
            f"{_arm(row['control'])} {_count(row['numerator_control'])} of {_count(row['denominator_control'])}"
        ]
        arms += [
            f"{_arm(r['variant'])} {_count(r['numerator_variant'])} of {_count(r['denominator_variant'])}"
            for r in primary
        ]
        counts = ", ".join(arms)
    return f"Too few {what} yet to estimate a lift: {counts} (need {minimum_events} in each arm); continue."


def _report_program_effect(case: _Case, srm_text: str) -> Decision:
    """The global holdout: the email program's measured effect against the held-out group."""
    plan, confidence, basis = case.plan, case.confidence, case.basis
    row = case.primary[0]
    what = _label(row["metric"])
    share = (plan.planned_split or {}).get(row["control"])
    holdout = f"the {share:.0%} holdout" if share else "the holdout"
    sizes = f"{_count(row['n_control'])} held out vs {_count(row['n_variant'])} emailed"
    prefix = f"{srm_text} " if srm_text else ""
    if not _estimable(row, basis):
        return Decision(
            "report",
            None,
            DecisionReason.PROGRAM_TOO_LITTLE_DATA,
            f"{prefix}Too little data yet to measure the email program's effect on {what} ({sizes}).",
            row,
        )
    lift = row["relative_lift"]
    means = f"{row['mean_variant']:,.2f} vs {row['mean_control']:,.2f} per contact"
    ci = _ci_text(row, confidence, basis)
    if row["verdict"] == "better":
        text = f"The email program lifted {what} {abs(lift) * 100:.0f}% ({ci}; {means}) against {holdout} ({sizes})."
    elif row["verdict"] == "worse":
        text = (
            f"The email program lowered {what} {abs(lift) * 100:.0f}% ({ci}; {means}) against {holdout} "
            f"({sizes}); review what the program sends."
        )
    else:
        text = (
            f"The email program's measured effect on {what} is {_pct(lift)} ({ci}; {means}) against "
            f"{holdout} ({sizes}); not statistically significant yet."
        )
    return Decision("report", None, DecisionReason.PROGRAM_EFFECT, prefix + text, row)
