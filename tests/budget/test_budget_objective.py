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
    customer_value_weights,
    platform_revenue,
)
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
