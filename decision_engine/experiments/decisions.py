"""Decisions per experiment: ship / keep control / continue / stop for harm, in plain English.

Rules, applied to the latest analysis date of each experiment:

1. No control/variant pair, or a sample ratio mismatch -> ``continue`` (needs a human; the
   numbers are not trustworthy).
2. A guardrail (or the primary metric) significantly worse for a variant -> ``stop_for_harm``.
3. A variant significantly better on the primary metric, every arm past the minimum
   sample, no guardrail significantly worse -> ``ship`` (largest lift wins) and a
   :class:`ProposedAction` ``rollout_winner``.
4. Planned sample reached without a winner -> ``keep_control``; otherwise ``continue``.

"Significant" uses the sequential (always-valid / look-calibrated) p-value, Holm-adjusted
across variants, unless ``AnalysisConfig.decision_basis == "fixed"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from decision_engine.experiments.plans import AnalysisConfig, ExperimentPlan

DECISION_COLUMNS = [
    "analysis_timestamp", "analysis_date", "experiment_id", "decision", "target_variant", "primary_metric",
    "relative_lift", "relative_ci_lower", "relative_ci_upper", "p_value", "sequential_p_value",
    "information_fraction", "srm_flag", "contaminated_units", "explanation",
]  # fmt: skip


@dataclass
class ProposedAction:
    """A change the loop proposes; policy decides whether it needs approval."""

    experiment_id: str
    action_type: str
    target_variant: str
    evidence: dict[str, Any] = field(default_factory=dict)


def _pct(value: float) -> str:
    return f"{value * 100:+.0f}%" if abs(value) >= 0.005 else f"{value * 100:+.1f}%"


def _list(words: list[str], conjunction: str = "or") -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + f" {conjunction} " + words[-1]


def _label(metric: str) -> str:
    from decision_engine.experiments.metrics import DEFAULT_METRICS

    labels = {m.name: m.display_name for m in DEFAULT_METRICS}
    return labels.get(metric, metric.replace("_", " "))


def _ci_text(row: pd.Series, confidence: int, basis: str) -> str:
    prefix = "sequential_relative_ci_" if basis == "sequential" else "relative_ci_"
    lo, hi = row[prefix + "lower"], row[prefix + "upper"]
    return f"{confidence}% CI {lo * 100:.0f}% to {hi * 100:.0f}%"


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
    for experiment_id, frame in latest.groupby("experiment_id", dropna=False, sort=True):
        plan = plans.get(experiment_id) or ExperimentPlan(experiment_id=experiment_id)
        primary = frame[frame["is_primary"].fillna(False).astype(bool) & frame["variant"].notna()]
        guard = frame[frame["is_guardrail"].fillna(False).astype(bool) & frame["variant"].notna()]
        base = {
            "analysis_timestamp": frame["analysis_timestamp"].iloc[0],
            "analysis_date": frame["analysis_date"].iloc[0],
            "experiment_id": experiment_id,
            "primary_metric": plan.primary_metric,
            "srm_flag": bool(frame["srm_flag"].fillna(False).any()),
            "contaminated_units": int(frame["contaminated_units"].fillna(0).max()),
        }
        decision, target, explanation, evidence_row = _decide_one(
            plan, primary, guard, base["srm_flag"], p_column, confidence, basis, frame
        )
        stats_row = evidence_row if evidence_row is not None else pd.Series(dtype=object)
        rows.append(
            base
            | {
                "decision": decision,
                "target_variant": target,
                "relative_lift": stats_row.get("relative_lift", np.nan),
                "relative_ci_lower": stats_row.get("sequential_relative_ci_lower", np.nan),
                "relative_ci_upper": stats_row.get("sequential_relative_ci_upper", np.nan),
                "p_value": stats_row.get("p_value", np.nan),
                "sequential_p_value": stats_row.get("sequential_p_value", np.nan),
                "information_fraction": stats_row.get("information_fraction", np.nan),
                "explanation": explanation,
            }
        )
        if decision == "ship" and evidence_row is not None:
            evidence = {
                key: (value.item() if hasattr(value, "item") else value)
                for key, value in evidence_row.items()
                if key in ("metric", "control", "n_control", "n_variant", "mean_control", "mean_variant",
                           "relative_lift", "sequential_relative_ci_lower", "sequential_relative_ci_upper",
                           "p_value", "sequential_p_value", "chance_to_beat_control", "analysis_date")
            }  # fmt: skip
            evidence["guardrails"] = {
                f"{r.metric}:{r.variant}": {"relative_lift": float(r.relative_lift), "verdict": r.verdict}
                for r in guard[guard["variant"] == target].itertuples()
            }
            evidence["analysis_date"] = str(evidence.get("analysis_date"))
            evidence["explanation"] = explanation
            actions.append(ProposedAction(str(experiment_id), "rollout_winner", str(target), evidence))
    return pd.DataFrame(rows, columns=DECISION_COLUMNS), actions


def _decide_one(
    plan: ExperimentPlan,
    primary: pd.DataFrame,
    guard: pd.DataFrame,
    srm_flag: bool,
    p_column: str,
    confidence: int,
    basis: str,
    frame: pd.DataFrame,
) -> tuple[str, str | None, str, pd.Series | None]:
    if primary.empty or primary[p_column].isna().all():
        notes = "; ".join(sorted({n for n in frame["note"].dropna() if n}))
        why = notes or f"the primary metric {plan.primary_metric!r} is missing"
        return "continue", None, f"Cannot decide yet: {why}.", None
    if srm_flag:
        p = frame["srm_p_value"].min()
        return (
            "continue",
            None,
            (
                f"Sample ratio mismatch (p={p:.1g}): arm sizes do not match the planned split, so the "
                "results are not trustworthy; check assignment and delivery before deciding."
            ),
            None,
        )
    harmful_guard = guard[guard["verdict"] == "worse"]
    harmful_primary = primary[primary["verdict"] == "worse"]
    if not harmful_guard.empty or not harmful_primary.empty:
        worst = (harmful_guard if not harmful_guard.empty else harmful_primary).sort_values(p_column).iloc[0]
        what = _label(worst["metric"])
        direction = "raised" if worst["relative_lift"] > 0 else "cut"
        return (
            "stop_for_harm",
            worst["variant"],
            (
                f"Variant {worst['variant']} {direction} {what} {_pct(worst['relative_lift'])} "
                f"({_ci_text(worst, confidence, basis)}) against {worst['control']}; stop it and keep "
                f"{worst['control']}."
            ),
            worst,
        )
    minimum_met = bool((primary[["n_control", "n_variant"]].min(axis=1) >= plan.minimum_units_per_arm).all())
    winners = primary[(primary["verdict"] == "better") & minimum_met]
    guard_words = sorted({_label(m) for m in guard["metric"]}) or ["guardrail metrics"]
    if not winners.empty:
        best = winners.sort_values("relative_lift", ascending=False).iloc[0]
        description = plan.variant_descriptions.get(best["variant"])
        who = f"Variant {best['variant']}'s {description}" if description else f"Variant {best['variant']}"
        verb = "lifted" if best["relative_lift"] >= 0 else "cut"
        remaining = f"the remaining {1 - plan.test_share:.0%}" if plan.test_share else "everyone"
        guard_rows = guard[guard["variant"] == best["variant"]]
        rises = [_label(r.metric) for r in guard_rows.itertuples() if r.relative_lift > 0]
        guard_text = (
            f"no significant rise in {_list(guard_words)}"
            if not rises
            else f"{_list(rises, 'and')} up but not significantly"
        )
        return (
            "ship",
            best["variant"],
            (
                f"{who} {verb} {_label(best['metric'])} {abs(best['relative_lift']) * 100:.0f}% "
                f"({_ci_text(best, confidence, basis)}) with {guard_text}; ships to {remaining}."
            ),
            best,
        )
    lead = primary.sort_values("relative_lift", ascending=False).iloc[0]
    fraction = float(primary["information_fraction"].min())
    if (fraction >= 1.0 or not plan.planned_units_per_arm) and len(primary) == 1:
        return (
            "keep_control",
            None,
            (
                f"Variant {lead['variant']} did not beat {lead['control']} on {_label(lead['metric'])}: "
                f"{_pct(lead['relative_lift'])} ({_ci_text(lead, confidence, basis)}); keep {lead['control']}."
            ),
            lead,
        )
    if fraction >= 1.0 or not plan.planned_units_per_arm:
        return (
            "keep_control",
            None,
            (
                f"No variant beat {lead['control']} on {_label(lead['metric'])}: the best, {lead['variant']}, "
                f"moved it {_pct(lead['relative_lift'])} ({_ci_text(lead, confidence, basis)}); keep {lead['control']}."
            ),
            lead,
        )
    if not minimum_met:
        waiting = f"fewer than {plan.minimum_units_per_arm:,} units per arm so far"
    else:
        waiting = f"{fraction:.0%} of the planned sample so far"
    return (
        "continue",
        None,
        (
            f"Keep collecting: {waiting}; {lead['variant']} is at {_pct(lead['relative_lift'])} on "
            f"{_label(lead['metric'])} ({_ci_text(lead, confidence, basis)}), not conclusive yet."
        ),
        lead,
    )
