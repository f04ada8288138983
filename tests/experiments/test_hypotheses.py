"""The hypothesis backlog on a small warehouse: planner numbers are the launcher's plan (design
effect of the contacts' intra-contact correlation, capped at 8 weeks), computed here from the raw
sends; learnings move the ranking, ideas need a human."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from core.results_schema import column_names
from decision_engine.experiments import planning
from decision_engine.experiments.campaign_plan import CampaignBaseline, plan_test
from decision_engine.experiments.design import (
    CLICK_RATE,
    MAX_TEST_WEEKS,
    ORDER_RATE,
    Baseline,
    MetricBaseline,
    design_experiment,
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
CONTACTS = 4000  # enough that a +20% prior fits in 8 weeks and a +10% one does not
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
            delivered = rng.random(CONTACTS) < 0.98
            clicked = delivered & (rng.random(CONTACTS) < click)
            converted = clicked & (rng.random(CONTACTS) < 0.15)
            rows.append(
                pd.DataFrame(
                    {"send_type": "campaign", "campaign_id": campaign, "message_id": campaign,
                     "contact_id": [f"k{i}" for i in range(CONTACTS)], "sent_at": sent_at,
                     "is_delivered": delivered, "is_clicked": clicked, "is_converted": converted,
                     "attributed_revenue": np.where(converted, rng.lognormal(4, 0.5, CONTACTS), 0.0)}
                )
            )  # fmt: skip
    for day in range(0, 56, 2):
        rows.append(
            pd.DataFrame(
                {"send_type": "flow", "campaign_id": None, "message_id": "f1", "contact_id": ["k1"],
                 "sent_at": [START + timedelta(days=day)], "is_delivered": [True], "is_clicked": [False], "is_converted": [False],
                 "attributed_revenue": [0.0]}
            )
        )  # fmt: skip
    return pd.concat(rows, ignore_index=True), pd.DataFrame(messages)


FUNNEL = pd.DataFrame(
    {"flow_id": ["F"] * 3, "flow_name": ["Welcome Nurture"] * 3, "step_position": [1, 2, 3],
     "recipients": [1000, 900, 300], "clicks": [20, 18, 6]}
)  # fmt: skip
FLOW_DAYS = 56


def _journeys() -> pd.DataFrame:
    """1000 entries into flow F over the 8 weeks, steady: 900 get step 2, 300 of them step 3 (the
    rest filtered out, every next step due)."""
    last = np.array([1] * 100 + [2] * 600 + [3] * 300)
    np.random.default_rng(3).shuffle(last)
    entry = [START + timedelta(days=FLOW_DAYS * i / len(last)) for i in range(len(last))]
    return pd.DataFrame(
        {"flow_id": "F", "entry_ts": entry, "first_step": 1, "last_step": last,
         "next_step": np.where(last < 3, last + 1, np.nan), "next_step_is_due": last < 3,
         "exit_reason": np.where(last < 3, "filtered_out", "completed_all_steps"),
         "data_as_of": START + timedelta(days=FLOW_DAYS)}
    )  # fmt: skip


def _warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    sends, messages = _sends(np.random.default_rng(7))
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    for name, frame in (
        ("fct_email_sends", sends),
        ("dim_email_messages", messages),
        ("fct_flow_step_funnel", FUNNEL),
        ("fct_flow_journeys", _journeys()),
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


def _weeks_and_sample(
    independent: int, icc: float, sends_per_contact_week: float, weekly_per_arm: float
) -> tuple[float, int, float]:
    """The first tenth of a week whose volume per arm covers the independent sample times the
    design effect 1 + (m - 1) ICC, m = sends per contact by then; capped at 8 weeks of volume."""
    for tenth in range(1, 10 * MAX_TEST_WEEKS + 1):
        weeks = tenth / 10
        effect = 1 + max(0.0, weeks * sends_per_contact_week - 1) * icc
        if weekly_per_arm * weeks >= independent * effect:
            return weeks, math.ceil(independent * effect), effect
    return math.inf, math.ceil(independent * effect), effect


def _independent_click_plan(con: duckdb.DuckDBPyConnection, lift: float) -> dict[str, float]:
    """The launcher's click plan computed here from the raw delivered campaign sends (56 days):
    the intra-contact correlation is the spread of per-contact click rates beyond binomial noise
    over p (1 - p)."""
    per_contact = con.execute(
        "select count(*) filter (where is_delivered), count(*) filter (where is_delivered and is_clicked) "
        "from marts.fct_email_sends where send_type = 'campaign' "
        "and sent_at >= timestamp '2026-03-01 13:00:01' - interval 56 day group by contact_id"
    ).df()
    sends, clicks = per_contact.iloc[:, 0].to_numpy(float), per_contact.iloc[:, 1].to_numpy(float)
    rate = clicks.sum() / sends.sum()
    binomial = rate * (1 - rate)
    icc = (np.var(clicks / sends, ddof=1) - np.mean(binomial / sends)) / binomial
    weekly = sends.sum() / 8
    independent = planning.required_sample_size_for_proportion(rate, lift)
    weeks, need, effect = _weeks_and_sample(independent, icc, weekly / len(sends), weekly / 2)
    return {"rate": rate, "icc": icc, "weekly": weekly, "weeks": weeks, "need": need, "effect": effect,
            "planned": min(need, math.ceil(weekly / 2 * MAX_TEST_WEEKS))}  # fmt: skip


def test_planner_numbers_are_planning_py_on_the_warehouse_variance(con) -> None:  # noqa: ANN001
    backlog = build_hypotheses(con, Policy(), NOW, library=LIBRARY)
    assert list(backlog.columns) == column_names("hypotheses")
    inside = backlog.set_index("hypothesis_id").loc["library:inside"]
    plan = _independent_click_plan(con, DEFAULT_EXPECTED_RELATIVE_LIFT)
    assert inside["primary_metric"] == CLICK_RATE  # orders need far more than 8 weeks at this volume
    assert inside["baseline_rate"] == pytest.approx(plan["rate"])
    assert inside["weekly_units"] == pytest.approx(plan["weekly"])
    # +10% needs more than 8 weeks of volume: the row carries the launcher's capped sample
    assert plan["need"] > plan["planned"] == math.ceil(plan["weekly"] / 2 * MAX_TEST_WEEKS)
    assert inside["required_units_per_arm"] == plan["planned"]
    assert inside["weeks_to_decision"] == MAX_TEST_WEEKS
    assert f"needs about {plan['need']:,} recipients per arm" in inside["plan_note"]
    assert f"8-week maximum ({plan['planned']:,} per arm)" in inside["plan_note"]
    assert inside["expected_value_per_week"] == pytest.approx(
        DEFAULT_EXPECTED_RELATIVE_LIFT * plan["rate"] * plan["weekly"] * inside["value_per_event"]
    )
    assert (inside["prior_source"], inside["status"], bool(inside["needs_human"])) == (
        "default",
        "candidate",
        False,
    )
    # contacts differ in how much they click: the design effect lengthens the test
    assert plan["icc"] > 0 and plan["effect"] > 1


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
    plan = _independent_click_plan(con, quick["expected_relative_lift"])
    assert plan["weeks"] < MAX_TEST_WEEKS  # a bigger lift fits in 8 weeks, and needs less
    assert quick["required_units_per_arm"] == plan["need"] < inside["required_units_per_arm"]
    assert quick["weeks_to_decision"] == pytest.approx(plan["weeks"])
    assert quick["weeks_to_decision"] < inside["weeks_to_decision"]


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
    # step 2 keeps a third of its journeys, lost to the flow's own filter: a timing test before step 3
    flow = ideas.loc["flow_timing:F:3"]
    assert json.loads(flow["evidence"])["diagnosis_code"] == "filtered_out"
    assert "Step 2 of Welcome Nurture loses the most" in flow["description"]
    assert flow["weekly_units"] == pytest.approx(900 / (FLOW_DAYS / 7))  # journeys that got step 2
    # flows are too thin to test: planned at the 8-week maximum, which detects only huge lifts
    assert flow["weeks_to_decision"] == MAX_TEST_WEEKS
    assert flow["required_units_per_arm"] == math.ceil(900 / (FLOW_DAYS / 7) / 2 * MAX_TEST_WEEKS)
    assert "8-week maximum" in flow["plan_note"]
    assert not ideas.index.str.startswith(("flow_step_content:", "flow_step_removal:")).any()


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


def _synthetic(weekly: float) -> CampaignBaseline:
    """Three campaigns a contact a week; contacts differ a little in clicks and orders."""
    return CampaignBaseline(
        design=Baseline(
            clicks=MetricBaseline(0.024, 0.04),
            orders=MetricBaseline(0.003, 0.01),
            contacts=round(weekly / 3),
            weekly_sends=weekly,
        ),
        value_per_event={CLICK_RATE: 10.0, ORDER_RATE: 75.0},
    )


def test_primary_metric_is_orders_where_volume_allows() -> None:
    lifts = {CLICK_RATE: 0.10, ORDER_RATE: 0.10}
    small, large = plan_test(_synthetic(10_000), lifts), plan_test(_synthetic(2_000_000), lifts)
    assert small.primary_metric == CLICK_RATE and "more than 8 weeks of volume" in small.note
    assert small.weeks_to_decision == MAX_TEST_WEEKS
    weeks, need, _ = _weeks_and_sample(
        planning.required_sample_size_for_proportion(0.003, 0.10), 0.01, 3.0, 1_000_000
    )
    assert large.primary_metric == ORDER_RATE and weeks < MAX_TEST_WEEKS
    assert (large.required_units_per_arm, large.weeks_to_decision) == (need, pytest.approx(weeks))
    assert large.expected_value_per_week == pytest.approx(0.10 * 0.003 * 2_000_000 * 75.0)
    # the launcher, planning at the row's lift, gets the same plan
    launcher = design_experiment(_synthetic(2_000_000).design, large.expected_relative_lift)
    assert launcher.planned_units_per_arm == large.required_units_per_arm


def test_a_capped_plan_states_the_lift_it_detects() -> None:
    plan = plan_test(_synthetic(10_000), {CLICK_RATE: 0.10, ORDER_RATE: 0.10}).design
    detectable = plan.detectable_relative_lift
    assert plan.planned_units_per_arm == math.ceil(5_000 * MAX_TEST_WEEKS) < plan.required_units_per_arm
    # the smallest lift whose inflated sample fits in the capped one (2-decimal rounding in the note)
    assert planning.required_sample_size_for_proportion(0.024, detectable) * plan.design_effect <= 40_000
    assert (
        planning.required_sample_size_for_proportion(0.024, detectable * 0.99) * plan.design_effect > 40_000
    )
    assert plan.design_effect == pytest.approx(1 + (3 * MAX_TEST_WEEKS - 1) * 0.04, rel=1e-3)
    assert f"about {detectable:.0%} or more" in plan.note and detectable > 0.10
