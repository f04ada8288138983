"""``run_budget_recommendations`` without Dagster: a DuckDB file with the ad mart in, results and actions out."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb
import numpy as np
import pandas as pd
import pytest
from budget_worlds import make_world

from core.results_schema import column_names
from decision_engine.budget import BudgetSettings
from decision_engine.budget.run import run_budget_recommendations

NOW = datetime(2031, 5, 4, 6, 30, tzinfo=UTC)  # wall clock, well after the data


def _mart(history: pd.DataFrame) -> pd.DataFrame:
    mart = history.rename(columns={"date": "date_day", "revenue": "conversions_value"})
    return mart.assign(date_day=pd.to_datetime(mart["date_day"]).dt.date, currency="USD")


@pytest.fixture()
def warehouse(tmp_path):
    history = make_world(3, n_campaigns=2, ads_per_campaign=3, days=40).history
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    mart = _mart(history)
    con.execute("create schema marts")
    con.execute("create table marts.fct_ad_performance_daily as select * from mart")
    yield con, mart
    con.close()


def test_run_writes_results_and_actions_dated_with_the_data_date(warehouse, tmp_path):
    con, mart = warehouse
    run = run_budget_recommendations(con, BudgetSettings(max_change=0.3), NOW, report_dir=tmp_path)
    data_date = max(mart["date_day"])
    assert run.analysis_date == data_date != NOW.date()
    written = con.execute("select * from results.budget_recommendations").df()
    assert list(written.columns) == column_names("budget_recommendations")
    assert len(written) == len(run.frame) == mart["ad_id"].nunique()
    assert set(pd.to_datetime(written["analysis_date"]).dt.date) == {data_date}
    assert written["reason_code"].notna().all()
    actions = con.execute("select * from results.actions").df()
    assert len(actions) == len(run.actions) == run.metadata["proposed_actions"]
    assert set(pd.to_datetime(actions["analysis_date"]).dt.date) <= {data_date}
    for action in run.actions:
        assert action.source == "budget" and action.action_type == "set_daily_budget"
        assert (
            set(action.payload) == {"daily_budget", "currency", "current_daily_budget"} and action.reason_code
        )
        assert action.reason == action.evidence["reason"]
    if len(actions):
        payload = json.loads(actions["payload"].iloc[0])
        assert payload["currency"] == "USD"
    assert run.chart_path is not None and run.chart_path.exists()
    assert (
        run.headline.startswith(run.result.summary)
        and "Objective: platform-attributed revenue." in run.headline
    )
    assert run.metadata["objective"] == "platform_revenue"
    assert run.metadata["ads"] == len(run.frame)
    assert run.metadata["analysis_date"] == data_date.isoformat()


def test_rerun_for_the_same_data_replaces_its_rows(warehouse):
    con, _ = warehouse
    run_budget_recommendations(con, BudgetSettings(), NOW)
    run = run_budget_recommendations(con, BudgetSettings(), NOW.replace(hour=9))
    assert con.execute("select count(*) from results.budget_recommendations").fetchone()[0] == len(run.frame)
    assert con.execute("select count(*) from results.actions").fetchone()[0] == len(run.actions)
    assert run.chart_path is None


def test_run_reads_quarantined_rows_from_the_mart(warehouse):
    con, mart = warehouse
    day = np.sort(mart["date_day"].unique())[-2]
    ad = mart["ad_id"].iloc[0]
    con.execute("alter table marts.fct_ad_performance_daily add column is_quarantined boolean default false")
    con.execute(
        "update marts.fct_ad_performance_daily set is_quarantined = true, spend = null, impressions = null, "
        "clicks = null, conversions = null, conversions_value = null where ad_id = ? and date_day = ?",
        [ad, day],
    )
    run = run_budget_recommendations(con, BudgetSettings(), NOW)
    row = run.frame.set_index("ad_id").loc[ad]
    assert "quarantined_days_excluded" in list(row["reason_flags"])
    known = mart[(mart["ad_id"] == ad) & (mart["date_day"] >= np.sort(mart["date_day"].unique())[-7])]
    known = known[known["date_day"] != day]
    assert row["current_daily_spend"] == pytest.approx(known["spend"].mean(), rel=1e-9)
    assert any("quarantined" in issue for issue in run.metadata["issues"])
