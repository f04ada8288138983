"""The policy's budget objective: platform revenue, or revenue re-weighted by expected customer value."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import numpy as np
import pandas as pd
import pytest
from budget_worlds import make_world

from decision_engine.budget import BudgetSettings, recommend_budgets
from decision_engine.budget.objective import (
    ObjectiveWeights,
    apply_objective,
    crm_won_revenue_weights,
    customer_value_weights,
    platform_revenue,
)
from decision_engine.budget.reason_codes import ReasonFacts, classify_reason, render_reason
from decision_engine.budget.run import run_budget_recommendations

NOW = datetime(2031, 5, 4, 6, 30, tzinfo=UTC)


def _customers(platform: str, n: int, first: float, expected: float) -> pd.DataFrame:
    return pd.DataFrame({"platform": [platform] * n, "first_order_value": first, "expected_value": expected})


def test_multiplier_is_customer_value_over_first_order_and_thin_platforms_take_the_pooled_one():
    customers = pd.concat(
        [
            _customers("meta_ads", 40, 50.0, 50.0),  # worth twice the first order
            _customers("google_ads", 40, 50.0, 0.0),  # worth the first order only
            _customers("tiktok_ads", 5, 50.0, 200.0),  # too few for a multiplier of its own
            pd.DataFrame(
                {
                    "platform": ["meta_ads"] * 2,
                    "first_order_value": [0.0, 10.0],
                    "expected_value": [5.0, None],
                }
            ),
        ]
    )
    weights = customer_value_weights(customers, min_customers=30)
    assert weights.used == "customer_value"
    assert weights.multipliers == {"meta_ads": pytest.approx(2.0), "google_ads": pytest.approx(1.0)}
    assert weights.customers == {"meta_ads": 40, "google_ads": 40}
    assert weights.pooled == pytest.approx((40 * 100 + 40 * 50 + 5 * 250) / (85 * 50))
    assert any("left out 2 customer(s)" in issue for issue in weights.issues)
    assert any("tiktok_ads" in issue and "pooled" in issue for issue in weights.issues)
    assert "meta_ads x2.00" in weights.sentence() and "expected customer value" in weights.sentence()
    assert weights.metadata()["objective"] == "customer_value"


def test_too_few_scored_customers_fall_back_to_platform_revenue():
    weights = customer_value_weights(_customers("meta_ads", 3, 50.0, 50.0), min_customers=30)
    assert weights.used == "platform_revenue" and weights.requested == "customer_value"
    assert len(weights.issues) == 1 and "fell back to platform revenue" in weights.issues[0]
    assert "could not be used" in weights.sentence()


def test_platform_revenue_leaves_the_history_untouched():
    history = make_world(1, n_campaigns=2, ads_per_campaign=2, days=20).history
    assert apply_objective(history, platform_revenue()) is history


def test_doubling_one_platforms_value_shifts_budget_toward_it():
    history = make_world(5, n_campaigns=4, ads_per_campaign=3, days=60).history
    settings = BudgetSettings(max_change=0.3)
    doubled = ObjectiveWeights(
        requested="customer_value", used="customer_value", multipliers={"meta": 2.0, "google": 1.0}
    )
    weighted = apply_objective(history, doubled)
    assert np.allclose(
        weighted.loc[history["platform"] == "meta", "revenue"],
        2 * history.loc[history["platform"] == "meta", "revenue"],
    )
    assert weighted["revenue"][history["platform"] == "google"].equals(
        history["revenue"][history["platform"] == "google"]
    )

    def meta_share(frame: pd.DataFrame) -> float:
        rows = recommend_budgets(frame, settings, analysis_timestamp=NOW).recommendations
        return (
            rows.loc[rows["platform"] == "meta", "recommended_daily_budget"].sum()
            / rows["recommended_daily_budget"].sum()
        )

    assert meta_share(weighted) > meta_share(history) + 0.01


def _mart(history: pd.DataFrame) -> pd.DataFrame:
    mart = history.rename(columns={"date": "date_day", "revenue": "conversions_value"})
    mart["platform"] = mart["platform"].map({"meta": "meta_ads", "google": "google_ads"})
    return mart.assign(date_day=pd.to_datetime(mart["date_day"]).dt.date, currency="USD")


@pytest.fixture()
def warehouse(tmp_path):
    mart = _mart(make_world(3, n_campaigns=2, ads_per_campaign=3, days=40).history)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.register("mart", mart)
    con.execute("create schema marts")
    con.execute("create table marts.fct_ad_performance_daily as select * from mart")
    yield con
    con.close()


def _scores(con, n_per_platform: int = 40) -> None:
    """Customers acquired through Meta are worth 3x their first order, through Google 1.5x."""
    rows = []
    for source, expected in (("PAID_SOCIAL", 100.0), ("PAID_SEARCH", 25.0), ("EMAIL_MARKETING", 500.0)):
        for i in range(n_per_platform):
            rows.append({"contact_id": f"{source}-{i}", "source": source, "expected_value": expected})
    con.register("people", pd.DataFrame(rows))
    con.execute("create schema if not exists results")
    con.execute(
        "create table results.customer_value as select date '2026-02-01' as analysis_date, contact_id, expected_value "
        "from people union all select date '2026-01-01', contact_id, 0.0 from people"
    )
    con.execute(
        "create table marts.fct_orders as select contact_id, 'e1-' || contact_id as order_event_id, "
        "timestamp '2026-01-05 10:00' as ordered_at, 50.0 as order_value from people "
        "union all select contact_id, 'e2-' || contact_id, timestamp '2026-01-20 10:00', 400.0 from people"
    )
    con.execute(
        "create table marts.fct_crm_funnel as select contact_id, source as analytics_source from people "
        "union all select null, 'PAID_SOCIAL'"
    )


def test_run_with_customer_value_reads_the_scores_and_says_so(warehouse):
    _scores(warehouse)
    run = run_budget_recommendations(warehouse, BudgetSettings(), NOW, objective="customer_value")
    assert run.metadata["objective"] == "customer_value"
    assert run.metadata["objective_multipliers"] == {"meta_ads": 3.0, "google_ads": 1.5}
    assert "Objective: expected customer value" in run.headline
    baseline = run_budget_recommendations(warehouse, BudgetSettings(), NOW)
    assert run.result.expected_daily_revenue_current > baseline.result.expected_daily_revenue_current


def test_run_falls_back_when_the_scores_are_absent_and_keeps_the_default_numbers(warehouse):
    default = run_budget_recommendations(warehouse, BudgetSettings(), NOW)
    fallback = run_budget_recommendations(warehouse, BudgetSettings(), NOW, objective="customer_value")
    assert fallback.metadata["objective"] == "platform_revenue"
    assert fallback.metadata["objective_requested"] == "customer_value"
    assert any(
        "results.customer_value" in issue and "fell back" in issue for issue in fallback.metadata["issues"]
    )
    assert "could not be used" in fallback.headline
    pd.testing.assert_series_equal(
        fallback.frame["recommended_daily_budget"], default.frame["recommended_daily_budget"]
    )
    assert default.metadata["objective"] == "platform_revenue" and not any(
        "objective" in issue for issue in default.metadata["issues"]
    )


def _won(platform: str, n: int, amount: float) -> pd.DataFrame:
    return pd.DataFrame({"platform": [platform] * n, "won_revenue": amount})


def test_crm_multiplier_is_won_revenue_over_attributed_revenue_and_thin_platforms_take_the_pooled_one():
    won_deals = pd.concat(
        [
            _won("meta_ads", 12, 250.0),  # 3,000 won against 1,000 attributed
            _won("google_ads", 3, 100.0),  # too few won deals for a multiplier of its own
            _won("meta_ads", 1, 0.0),  # no amount: left out
        ]
    )
    attributed = pd.Series({"meta_ads": 1000.0, "google_ads": 500.0})
    weights = crm_won_revenue_weights(won_deals, attributed, min_won_deals=10)
    assert weights.used == "crm_won_revenue"
    assert weights.multipliers == {"meta_ads": pytest.approx(3.0)}
    assert weights.customers == {"meta_ads": 12}
    assert weights.pooled == pytest.approx(3300.0 / 1500.0)
    assert any("left out 1 won deal(s)" in issue for issue in weights.issues)
    assert any("google_ads" in issue and "pooled" in issue for issue in weights.issues)
    assert (
        weights.sentence().startswith("Objective: CRM won revenue (")
        and "meta_ads x3.00" in weights.sentence()
    )
    weighted = apply_objective(
        pd.DataFrame({"platform": ["meta_ads", "google_ads"], "conversions_value": [10.0, 10.0]}), weights
    )
    assert weighted["conversions_value"].tolist() == pytest.approx([30.0, 10.0 * 3300.0 / 1500.0])


def test_crm_objective_falls_back_like_customer_value_when_no_won_deal_maps_to_an_ad_platform():
    weights = crm_won_revenue_weights(_won("meta_ads", 0, 1.0), pd.Series({"meta_ads": 1000.0}))
    assert weights.used == "platform_revenue" and weights.requested == "crm_won_revenue"
    assert len(weights.issues) == 1 and "budget objective crm_won_revenue not used" in weights.issues[0]
    assert "no won deal in the window" in weights.issues[0]
    assert "CRM won revenue was asked for but could not be used" in weights.sentence()
    thin = crm_won_revenue_weights(
        _won("meta_ads", 4, 100.0), pd.Series({"meta_ads": 1000.0}), min_won_deals=10
    )
    assert (
        thin.used == "platform_revenue"
        and "fewer than 10 won deals per ad platform (4 in all)" in thin.issues[-1]
    )


def _deals(con, first_day, last_day) -> None:
    """Won deals of contacts acquired through Meta (12 in the window, one before it), Google (3: thin)
    and email (not an ad platform); lost and open deals do not count."""
    rows, sources = [], []
    for source, count, amount in (
        ("PAID_SOCIAL", 12, 500.0),
        ("PAID_SEARCH", 3, 200.0),
        ("EMAIL_MARKETING", 8, 900.0),
    ):
        for i in range(count):
            sources.append({"contact_id": f"{source}-{i}", "analytics_source": source})
            rows.append((f"{source}-{i}", "won", amount, last_day))
    rows.append(("PAID_SOCIAL-0", "won", 10_000.0, first_day - pd.Timedelta(days=1)))  # before the window
    rows.append(("PAID_SOCIAL-1", "lost", 0.0, last_day))
    rows.append(("PAID_SOCIAL-2", "open", 0.0, None))
    deals = pd.DataFrame(rows, columns=["contact_id", "outcome", "won_revenue", "closed_at"])
    deals["deal_id"] = [f"d{i}" for i in range(len(deals))]
    con.register("deals", deals)
    con.register("sources", pd.DataFrame(sources))
    con.execute("create table marts.fct_deals as select * from deals")
    con.execute(
        "create table marts.fct_crm_funnel as select contact_id, analytics_source from sources "
        "union all select contact_id, analytics_source from sources"  # one row per stage reached
    )


def test_run_with_crm_won_revenue_scales_each_platform_to_its_won_deals_and_the_reasons_say_so(warehouse):
    warehouse.execute(
        "alter table marts.fct_ad_performance_daily add column is_quarantined boolean default false"
    )
    days = warehouse.execute(
        "select min(date_day), max(date_day) from marts.fct_ad_performance_daily"
    ).fetchall()[0]
    first_day, last_day = (pd.Timestamp(day) for day in days)
    _deals(warehouse, first_day, last_day + pd.Timedelta(hours=15))
    attributed = dict(
        warehouse.execute(
            "select platform, sum(conversions_value) from marts.fct_ad_performance_daily group by platform"
        ).fetchall()
    )
    run = run_budget_recommendations(warehouse, BudgetSettings(), NOW, objective="crm_won_revenue")
    assert run.metadata["objective"] == "crm_won_revenue"
    assert run.objective.multipliers == {"meta_ads": pytest.approx(6000.0 / attributed["meta_ads"])}
    assert run.objective.pooled == pytest.approx(6600.0 / sum(attributed.values()))
    assert any("google_ads" in issue and "pooled" in issue for issue in run.metadata["issues"])
    assert "Objective: CRM won revenue" in run.headline
    moved = run.frame[run.frame["reason_code"].str.startswith(("increase", "decrease", "hold", "kept"))]
    assert len(moved) and moved["reason"].str.contains("in CRM won revenue").all()
    assert not run.frame["reason"].str.contains("platform-attributed revenue").any()


def test_run_with_crm_won_revenue_falls_back_without_the_deal_mart_and_the_reasons_name_platform_revenue(
    warehouse,
):
    warehouse.execute(
        "alter table marts.fct_ad_performance_daily add column is_quarantined boolean default false"
    )
    run = run_budget_recommendations(warehouse, BudgetSettings(), NOW, objective="crm_won_revenue")
    assert run.metadata["objective"] == "platform_revenue"
    assert run.metadata["objective_requested"] == "crm_won_revenue"
    assert any(
        "marts.fct_deals" in issue and "fell back to platform revenue" in issue
        for issue in run.metadata["issues"]
    )
    moved = run.frame[run.frame["reason_code"].str.startswith(("increase", "decrease", "hold", "kept"))]
    assert len(moved) and moved["reason"].str.contains("in platform-attributed revenue").all()


@pytest.mark.parametrize(
    ("objective", "words"),
    [
        ("platform_revenue", "in platform-attributed revenue"),
        ("customer_value", "in expected customer value"),
        ("crm_won_revenue", "in CRM won revenue"),
    ],
)
def test_every_reason_about_returns_names_the_objective(objective, words):
    base = dict(
        approved=True, cold=False, cold_budget=0.0, kept=False, probability=0.9, min_gain_probability=0.7,
        max_change=0.2, change=0.1, planned_change=0.1, at_upper=False, at_lower=False, capped=False,
        marginal_now=2.0, cutoff=1.5, uncertainty=0.1, prior_roas=2.0, events=50.0, spend_days=30,
        silent=False, objective=objective,
    )  # fmt: skip
    cases = [
        {},  # increase
        {"change": -0.1, "planned_change": -0.1, "marginal_now": 1.0},  # decrease
        {"change": 0.0, "planned_change": 0.0, "marginal_now": 1.5},  # hold near the optimum
        {"change": 0.0, "planned_change": 0.0, "marginal_now": 3.0},  # hold within uncertainty
        {"kept": True},
        {"cold": True, "cold_budget": 10.0},
    ]
    for overrides in cases:
        facts = ReasonFacts(**{**base, **overrides})
        code, flags = classify_reason(facts)
        assert words in render_reason(code, flags, facts), code
    frozen = ReasonFacts(**{**base, "frozen": True})
    assert "revenue" not in render_reason(*classify_reason(frozen), frozen)
