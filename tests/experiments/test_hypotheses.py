"""The hypothesis backlog on a small warehouse: planner numbers equal planning.py's on the
warehouse's own clustered variance, learnings move the ranking, ideas need a human."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from core.results_schema import column_names
from decision_engine.experiments import planning
from decision_engine.experiments.campaign_plan import (
    CLICK_RATE,
    MAX_WEEKS_TO_DECISION,
    ORDER_RATE,
    REVENUE_PER_RECIPIENT,
    CampaignBaseline,
    MetricBaseline,
    clustered_unit_variance,
    plan_test,
)
from decision_engine.experiments.hypotheses import (
    DEFAULT_EXPECTED_RELATIVE_LIFT,
    build_hypotheses,
    posterior_lift,
    run_hypotheses,
)
from decision_engine.experiments.ideas import OBSERVATIONAL_SHRINKAGE
from decision_engine.policy import Policy
from decision_engine.result_checks import check_hypotheses
from decision_engine.store import write_results

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
START = datetime(2026, 1, 5)  # a Monday; eight weeks of campaigns up to 2026-03-01
CONTACTS = 800
BEST_HOUR = 13
LIBRARY = [
    {"id": "quick_read", "factor": "subject_style", "level": "quick_read", "subject_template": "Quick read: {subject}"},
    {"id": "inside", "factor": "subject_style", "level": "inside", "subject_template": "{subject} (inside)"},
    {"id": "you_asked", "factor": "subject_style", "level": "you_asked", "subject_template": "You asked: {subject}"},
]  # fmt: skip


def _sends(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three campaigns a week to every contact (09:00, 13:00, 17:00 UTC); contacts differ in how
    much they click, and 13:00 sends get twice the clicks. Plus a two-step flow."""
    propensity = rng.gamma(1.0, 0.025, CONTACTS)  # clustered: some contacts click far more
    rows, messages = [], []
    for week in range(8):
        for day, hour in ((0, 9), (2, BEST_HOUR), (4, 17)):
            campaign = f"c{week}{day}"
            subject = ["Build or buy?", "Automate weekly reports", "Quick read: Automate weekly reports"][
                day // 2
            ]
            messages.append({"message_id": campaign, "send_type": "campaign", "campaign_id": campaign,
                             "variant_label": None, "subject": subject})  # fmt: skip
            sent_at = START + timedelta(days=7 * week + day, hours=hour)
            click = np.minimum(propensity * (2.0 if hour == BEST_HOUR else 1.0), 1.0)
            clicked = rng.random(CONTACTS) < click
            converted = clicked & (rng.random(CONTACTS) < 0.15)
            rows.append(
                pd.DataFrame(
                    {"send_type": "campaign", "campaign_id": campaign, "message_id": campaign,
                     "contact_id": [f"k{i}" for i in range(CONTACTS)], "sent_at": sent_at,
                     "is_clicked": clicked, "is_converted": converted,
                     "attributed_revenue": np.where(converted, rng.lognormal(4, 0.5, CONTACTS), 0.0)}
                )
            )  # fmt: skip
    for day in range(0, 56, 2):
        rows.append(
            pd.DataFrame(
                {"send_type": "flow", "campaign_id": None, "message_id": "f1", "contact_id": ["k1"],
                 "sent_at": [START + timedelta(days=day)], "is_clicked": [False], "is_converted": [False],
                 "attributed_revenue": [0.0]}
            )
        )  # fmt: skip
    return pd.concat(rows, ignore_index=True), pd.DataFrame(messages)


FUNNEL = pd.DataFrame(
    {"flow_id": ["F"] * 3, "flow_name": ["Welcome Nurture"] * 3, "step_position": [1, 2, 3],
     "recipients": [1000, 900, 300], "clicks": [20, 18, 6]}
)  # fmt: skip


def _warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    sends, messages = _sends(np.random.default_rng(7))
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    for name, frame in (
        ("fct_email_sends", sends),
        ("dim_email_messages", messages),
        ("fct_flow_step_funnel", FUNNEL),
    ):
        con.register("frame", frame)
        con.execute(f"create table marts.{name} as select * from frame")
        con.unregister("frame")
    return con


def _learning(level: str, effect: float, lower: float, upper: float, tests: int) -> dict:
    return {"analysis_timestamp": NOW, "analysis_date": NOW.date(), "factor": "subject_style", "level": level,
            "reference_level": "plain", "metric": "click_rate", "tests": tests, "pooled_relative_effect": effect,
            "ci_lower": lower, "ci_upper": upper, "tau2": 0.0}  # fmt: skip


@pytest.fixture
def con(tmp_path):
    connection = _warehouse(tmp_path / "warehouse.duckdb")
    yield connection
    connection.close()


def _independent_click_plan(con: duckdb.DuckDBPyConnection, lift: float) -> tuple[int, float, float]:
    """Required sends per arm and weekly sends, computed here from the raw sends (56 days)."""
    per_contact = con.execute(
        "select count(*), count(*) filter (where is_clicked) from marts.fct_email_sends "
        "where send_type = 'campaign' and sent_at >= timestamp '2026-03-01 13:00:01' - interval 56 day "
        "group by contact_id"
    ).df()
    sends, clicks = per_contact.iloc[:, 0].to_numpy(float), per_contact.iloc[:, 1].to_numpy(float)
    rate = clicks.sum() / sends.sum()
    variance = np.sum((clicks - rate * sends) ** 2) / (len(sends) - 1) / sends.mean()
    required = planning.required_sample_size(rate * lift, variance)
    return required, sends.sum() / 8, rate


def test_planner_numbers_are_planning_py_on_the_warehouse_variance(con) -> None:  # noqa: ANN001
    backlog = build_hypotheses(con, Policy(), NOW, library=LIBRARY)
    assert list(backlog.columns) == column_names("hypotheses")
    inside = backlog.set_index("hypothesis_id").loc["library:inside"]
    required, weekly, rate = _independent_click_plan(con, DEFAULT_EXPECTED_RELATIVE_LIFT)
    assert inside["primary_metric"] == CLICK_RATE  # orders need far more than 8 weeks at this volume
    assert inside["baseline_rate"] == pytest.approx(rate)
    assert inside["required_units_per_arm"] == required
    assert inside["weekly_units"] == pytest.approx(weekly)
    assert inside["weeks_to_decision"] == pytest.approx(2 * required / weekly)
    assert inside["expected_value_per_week"] == pytest.approx(
        DEFAULT_EXPECTED_RELATIVE_LIFT * rate * weekly * inside["value_per_event"]
    )
    assert (inside["prior_source"], inside["status"], bool(inside["needs_human"])) == (
        "default",
        "candidate",
        False,
    )
    # the clustered variance is larger than the binomial one: contacts differ
    assert required > planning.required_sample_size_for_proportion(rate, DEFAULT_EXPECTED_RELATIVE_LIFT)


def test_learnings_move_the_ranking_and_are_shrunk(con) -> None:  # noqa: ANN001
    write_results(
        con,
        "learnings",
        pd.DataFrame(
            [_learning("quick_read", 0.30, 0.10, 0.54, 4), _learning("you_asked", -0.25, -0.40, -0.06, 3)]
        ),
    )
    backlog = build_hypotheses(con, Policy(), NOW, library=LIBRARY).set_index("hypothesis_id")
    quick, inside, asked = (backlog.loc[f"library:{key}"] for key in ("quick_read", "inside", "you_asked"))
    assert quick["prior_source"] == "learnings" and quick["learnings_tests"] == 4
    assert DEFAULT_EXPECTED_RELATIVE_LIFT < quick["expected_relative_lift"] < 0.30  # shrunk toward the prior
    assert quick["expected_relative_lift"] == pytest.approx(posterior_lift(0.30, 0.10, 0.54, 0.0))
    assert asked["expected_relative_lift"] < 0 and asked["expected_value_per_week"] < 0  # a level that hurts
    assert quick["rank"] < inside["rank"] < asked["rank"]
    assert asked["rank"] == len(backlog)  # negative expected value: last
    required, _, _ = _independent_click_plan(con, quick["expected_relative_lift"])
    assert (
        quick["required_units_per_arm"] == required < inside["required_units_per_arm"]
    )  # a bigger lift needs less


def test_ideas_need_a_human_and_carry_no_library_id(con) -> None:  # noqa: ANN001
    backlog = build_hypotheses(con, Policy(), NOW, library=LIBRARY).set_index("hypothesis_id")
    ideas = backlog[backlog["needs_human"]]
    assert ideas["library_id"].isna().all()
    assert set(ideas["factor"]) >= {"send_hour", "send_weekday", "flow_timing"}
    hour = ideas.loc[f"send_hour:{BEST_HOUR}:00 UTC"]
    evidence = json.loads(hour["evidence"])
    assert evidence["observed_relative_difference"] > 0.5  # 13:00 clicks twice as often
    assert hour["expected_relative_lift"] == pytest.approx(
        evidence["observed_relative_difference"] * OBSERVATIONAL_SHRINKAGE
    )
    flow = ideas.loc["flow_timing:F:3"]  # step 3 keeps a third of step 2: the biggest drop
    assert flow["weekly_units"] == pytest.approx(300 / (54 / 7))  # flow sends span 54 days
    assert flow["weeks_to_decision"] > 100  # flows are too thin to test: the row says so


def test_status_follows_the_launch_and_the_decision(con) -> None:  # noqa: ANN001
    launches = pd.DataFrame(
        [
            {"action_id": "a1", "analysis_timestamp": NOW, "action_type": "launch_experiment",
             "target_id": "lw-quick_read-20260201", "status": "executed",
             "payload": json.dumps({"library_id": "quick_read"})},
            {"action_id": "a2", "analysis_timestamp": NOW, "action_type": "launch_experiment",
             "target_id": "lw-inside-20260215", "status": "executed", "payload": json.dumps({"library_id": "inside"})},
        ]
    )  # fmt: skip
    write_results(con, "actions", launches)
    decisions = pd.DataFrame(
        [{"analysis_timestamp": NOW, "analysis_date": NOW.date(), "experiment_id": "loopwise:lw-quick_read-20260201",
          "decision": "ship"}]
    )  # fmt: skip
    write_results(con, "experiment_decisions", decisions)
    backlog = build_hypotheses(con, Policy(), NOW, library=LIBRARY).set_index("hypothesis_id")
    assert backlog.loc["library:quick_read", "status"] == "concluded"
    assert backlog.loc["library:inside", ["status", "test_id"]].tolist() == ["running", "lw-inside-20260215"]
    assert backlog.loc["library:you_asked", "status"] == "candidate"


def test_written_backlog_passes_its_check_and_a_broken_one_fails(con) -> None:  # noqa: ANN001
    run_hypotheses(con, Policy(), NOW, library=LIBRARY)
    assert check_hypotheses(con, Policy()).passed
    con.execute("update results.hypotheses set weeks_to_decision = weeks_to_decision / 2 where rank = 1")
    outcome = check_hypotheses(con, Policy())
    assert not outcome.passed and outcome.metadata["weeks_inconsistent"]


def test_primary_metric_is_the_business_metric_where_volume_allows() -> None:
    def baseline(weekly: float) -> CampaignBaseline:
        return CampaignBaseline(
            metrics={
                CLICK_RATE: MetricBaseline(CLICK_RATE, 0.024, 0.03, 10.0),
                ORDER_RATE: MetricBaseline(ORDER_RATE, 0.003, 0.0035, 75.0),
                REVENUE_PER_RECIPIENT: MetricBaseline(REVENUE_PER_RECIPIENT, 0.23, 200.0, 1.0),
            },
            weekly_units=weekly,
            contacts=1000,
            days=56,
        )

    lifts = dict.fromkeys((CLICK_RATE, ORDER_RATE, REVENUE_PER_RECIPIENT), 0.10)
    small, large, huge = (
        plan_test(baseline(10_000), lifts),
        plan_test(baseline(500_000), lifts),
        plan_test(baseline(50_000_000), lifts),
    )
    assert small.primary_metric == CLICK_RATE and "would need more than" in small.note
    assert large.primary_metric == ORDER_RATE and large.weeks_to_decision <= MAX_WEEKS_TO_DECISION
    assert huge.primary_metric == REVENUE_PER_RECIPIENT
    assert large.required_units_per_arm == planning.required_sample_size(0.003 * 0.10, 0.0035)
    assert large.expected_value_per_week == pytest.approx(0.10 * 0.003 * 500_000 * 75.0)


def test_clustered_variance_is_binomial_without_clustering() -> None:
    # one send per contact: the per-send variance is p (1 - p) (with n - 1 in the denominator)
    events = np.array([1.0] * 30 + [0.0] * 970)
    assert clustered_unit_variance(events, np.ones(1000)) == pytest.approx(0.03 * 0.97 * 1000 / 999)
