"""Decisions and their plain-English explanations, end to end from a DuckDB table."""

from __future__ import annotations

import re

import duckdb
import numpy as np
import pandas as pd
import pytest

from decision_engine.experiments import (
    DECISION_COLUMNS,
    RESULT_COLUMNS,
    AnalysisConfig,
    ExperimentPlan,
    analyze_experiments,
    build_lift_chart,
    compute_sufficient_statistics,
    decide_experiments,
    default_plans,
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
    assert re.match(
        r"Variant B raised unsubscribes \d+% \(95% CI \d+% to \d+%; \d+ of [\d,]+ vs \d+ of [\d,]+\) against Variant A",
        by_id.loc["harm", "explanation"],
    )
    assert "Keep collecting" in by_id.loc["early", "explanation"]
    assert "Variant B did not beat Variant A" in by_id.loc["flat", "explanation"]
    assert "Sample ratio mismatch" in by_id.loc["srm", "explanation"]
    assert len(actions) == 1
    action = actions[0]
    assert (action.source, action.target_id, action.action_type, action.platform) == (
        "experiments",
        "winner",
        "rollout_winner",
        "klaviyo",
    )
    assert action.payload == {"winner_variant": "B"}
    assert action.reason == explanation and action.evidence["explanation"] == explanation
    assert action.reason_code == "primary_better" and action.auto_apply_allowed is False
    assert by_id["reason_code"].to_dict() == {
        "winner": "primary_better",
        "harm": "guardrail_harm",
        "early": "continue_collecting",
        "flat": "planned_sample_reached",
        "srm": "srm",
    }
    assert action.evidence["metric"] == "click_rate"
    assert action.evidence["sequential_relative_ci_lower"] > 0
    assert "unsubscribe_rate:B" in action.evidence["guardrails"]


def test_lift_chart_writes_html(outcome, tmp_path) -> None:
    results, _, _ = outcome
    path = tmp_path / "lift.html"
    figure = build_lift_chart(results, "winner", "click_rate", html_path=path)
    assert len(figure.data) == 4  # fixed band, two sequential bounds, lift
    assert path.exists() and "plotly" in path.read_text()[:5000].lower()


def test_column_descriptions_cover_the_contract() -> None:
    from core.results_schema import column_names

    assert column_names("experiment_results") == RESULT_COLUMNS
    assert column_names("experiment_decisions") == DECISION_COLUMNS


def test_cuped_in_the_engine_and_experiment_filter() -> None:
    frame = synthetic_exposures({"A": 6000, "B": 6000}, seed=21)
    rng = np.random.default_rng(0)
    frame["pre_revenue"] = frame["revenue"] * 0.8 + rng.gamma(1.0, 2.0, len(frame))
    other = synthetic_exposures({"A": 500, "B": 500}, experiment_id="other", seed=22).assign(pre_revenue=1.0)
    con = duckdb.connect()
    con.register("exposures", pd.concat([frame, other], ignore_index=True))
    stats = compute_sufficient_statistics(
        con, "exposures", covariate_col="pre_revenue", by_analysis_date=False, experiment_ids=["exp_1"]
    )
    assert set(stats.stats["experiment_id"]) == {"exp_1"}
    with_cuped = analyze_experiments(stats.stats).set_index("metric")
    without = analyze_experiments(stats.stats, config=AnalysisConfig(use_cuped=False)).set_index("metric")
    revenue = "revenue_per_recipient"
    assert (
        bool(with_cuped.loc[revenue, "cuped_applied"]) and with_cuped.loc[revenue, "variance_reduction"] > 0.3
    )
    width = with_cuped.loc[revenue, "absolute_ci_upper"] - with_cuped.loc[revenue, "absolute_ci_lower"]
    plain = without.loc[revenue, "absolute_ci_upper"] - without.loc[revenue, "absolute_ci_lower"]
    assert width < 0.85 * plain
    assert not bool(with_cuped.loc["click_rate", "cuped_applied"])  # ratio metrics are not adjusted


def test_global_holdout_reports_the_program_effect_and_never_rolls_out() -> None:
    # email doubles the orders of treated contacts against a 10% holdout
    frame = synthetic_exposures(
        {"holdout": 5000, "treatment": 45000},
        experiment_id="global_holdout",
        control="holdout",
        lifts={"treatment": {"is_converted": 2.0}},
        seed=32,
    )
    plans = default_plans({"global_holdout": "global_holdout"}, holdout_share=0.1)
    _, decisions, actions = _run(frame, plans)
    row = decisions.iloc[0]
    assert row["decision"] == "report"
    assert row["target_variant"] is None
    assert not actions
    assert re.fullmatch(
        r"The email program lifted revenue per recipient \d+% \(95% CI \d+% to \d+%; [\d.,]+ vs [\d.,]+ per "
        r"contact\) against the 10% holdout \(5,000 held out vs 45,000 emailed\)\.",
        row["explanation"],
    ), row["explanation"]
    # no effect: still a report, worded as a measurement, never "keep holdout"
    flat = synthetic_exposures(
        {"holdout": 5000, "treatment": 45000}, experiment_id="global_holdout", control="holdout", seed=33
    )
    _, decisions, actions = _run(flat, plans)
    assert decisions.iloc[0]["decision"] == "report" and not actions
    text = decisions.iloc[0]["explanation"]
    assert text.startswith("The email program's measured effect on revenue per recipient is "), text
    assert "keep holdout" not in text and "Variant" not in text
