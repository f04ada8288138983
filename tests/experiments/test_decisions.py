"""Decisions and their plain-English explanations, end to end from a DuckDB table."""

from __future__ import annotations

import re

import duckdb
import pandas as pd
import pytest

from decision_engine.experiments import (
    DECISION_COLUMNS,
    RESULT_COLUMNS,
    ExperimentPlan,
    analyze_experiments,
    build_lift_chart,
    compute_sufficient_statistics,
    decide_experiments,
)
from decision_engine.experiments.simulation import synthetic_exposures


def _run(frame: pd.DataFrame, plans: dict) -> tuple[pd.DataFrame, pd.DataFrame, list]:
    con = duckdb.connect()
    con.register("exposures", frame)
    stats = compute_sufficient_statistics(con, "exposures")
    results = analyze_experiments(stats.stats, plans=plans, contamination=stats.contamination)
    decisions, actions = decide_experiments(results, plans)
    return results, decisions, actions


@pytest.fixture(scope="module")
def outcome() -> tuple[pd.DataFrame, pd.DataFrame, list]:
    arms = {"A": 15000, "B": 15000}
    frames = [
        synthetic_exposures(arms, experiment_id="winner", lifts={"B": {"is_clicked": 1.35}}, seed=10),
        synthetic_exposures(arms, experiment_id="harm", lifts={"B": {"is_unsubscribed": 4.0}}, seed=11),
        synthetic_exposures({"A": 3000, "B": 3000}, experiment_id="early", seed=12),
        synthetic_exposures(arms, experiment_id="flat", seed=13),
        synthetic_exposures({"A": 15000, "B": 14000}, experiment_id="srm", seed=14),
    ]
    plans = {
        "winner": ExperimentPlan(
            "winner",
            planned_units_per_arm=15000,
            test_share=0.2,
            variant_descriptions={"B": "question-style subject"},
        ),
        "harm": ExperimentPlan("harm", planned_units_per_arm=15000),
        "early": ExperimentPlan("early", planned_units_per_arm=50000),
        "flat": ExperimentPlan("flat", planned_units_per_arm=15000),
        "srm": ExperimentPlan("srm", planned_split={"A": 0.5, "B": 0.5}),
    }
    return _run(pd.concat(frames, ignore_index=True), plans)


def test_decisions(outcome) -> None:
    results, decisions, actions = outcome
    assert list(results.columns) == RESULT_COLUMNS
    assert list(decisions.columns) == DECISION_COLUMNS
    assert results["analysis_timestamp"].nunique() == 1
    by_id = decisions.set_index("experiment_id")
    assert by_id.loc["winner", "decision"] == "ship"
    assert by_id.loc["harm", "decision"] == "stop_for_harm"
    assert by_id.loc["early", "decision"] == "continue"
    assert by_id.loc["flat", "decision"] == "keep_control"
    assert by_id.loc["srm", "decision"] == "continue"
    explanation = by_id.loc["winner", "explanation"]
    assert re.fullmatch(
        r"Variant B's question-style subject lifted clicks \d+% \(95% CI \d+% to \d+%\) with .+; "
        r"ships to the remaining 80%\.",
        explanation,
    ), explanation
    assert re.match(r"Variant B raised unsubscribes \+\d+% \(95% CI", by_id.loc["harm", "explanation"])
    assert "Keep collecting" in by_id.loc["early", "explanation"]
    assert "did not beat A" in by_id.loc["flat", "explanation"]
    assert "Sample ratio mismatch" in by_id.loc["srm", "explanation"]
    assert len(actions) == 1
    action = actions[0]
    assert (action.experiment_id, action.action_type, action.target_variant) == (
        "winner",
        "rollout_winner",
        "B",
    )
    assert action.evidence["metric"] == "click_rate"
    assert action.evidence["sequential_relative_ci_lower"] > 0
    assert "unsubscribe_rate:B" in action.evidence["guardrails"]


def test_lift_chart_writes_html(outcome, tmp_path) -> None:
    results, _, _ = outcome
    path = tmp_path / "lift.html"
    figure = build_lift_chart(results, "winner", "click_rate", html_path=path)
    assert len(figure.data) == 4  # fixed band, two sequential bounds, lift
    assert path.exists() and "plotly" in path.read_text()[:5000].lower()
