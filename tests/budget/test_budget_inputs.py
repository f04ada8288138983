"""Bad and awkward input: explained clearly, never a crash."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from budget_worlds import make_world

from decision_engine.budget import (
    RESULT_COLUMNS,
    BudgetInputError,
    BudgetSettings,
    curves_figure,
    proposed_actions,
    recommend_budgets,
    rollup_recommendations,
)


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return make_world(11, n_campaigns=2, ads_per_campaign=3, days=45).history


def test_results_frame_has_the_contract_columns(history):
    result = recommend_budgets(history)
    assert list(result.recommendations.columns[: len(RESULT_COLUMNS)]) == RESULT_COLUMNS
    frame = result.recommendations
    assert frame["reason"].str.len().min() > 20
    assert (frame["roas_ci_low"] <= frame["expected_roas"] + 1e-9).all()
    assert (frame["expected_roas"] <= frame["roas_ci_high"] + 1e-9).all()
    assert frame["analysis_timestamp"].nunique() == 1


def test_missing_columns_and_empty_input_are_refused(history):
    with pytest.raises(BudgetInputError, match="missing column"):
        recommend_budgets(history.drop(columns=["revenue"]))
    with pytest.raises(BudgetInputError, match="no rows"):
        recommend_budgets(history.iloc[:0])


def test_negative_nan_and_duplicate_rows_are_repaired_and_reported(history):
    messy = history.copy()
    messy.loc[0, "spend"] = -5.0
    messy.loc[1, "revenue"] = np.nan
    messy.loc[2, "conversions"] = -1
    messy.loc[3, "revenue"] = -20.0
    messy.loc[4, "date"] = "not a date"
    messy = pd.concat([messy, messy.iloc[10:15]], ignore_index=True)
    changed = messy.iloc[20:21].assign(spend=999.0)
    messy = pd.concat([messy, changed], ignore_index=True)
    result = recommend_budgets(messy)
    text = " | ".join(result.issues)
    for expected in (
        "negative spend",
        "missing or non-numeric",
        "negative revenue",
        "unreadable date",
        "exact duplicate",
        "kept the last",
    ):
        assert expected in text


def test_missing_days_single_day_and_all_zero_revenue(history):
    gappy = history[history["date"] != history["date"].unique()[10]]
    assert any("gaps" in issue for issue in recommend_budgets(gappy).issues)
    single = history[history["date"] == history["date"].max()]
    result = recommend_budgets(single)
    assert any("one day" in issue for issue in result.issues)
    assert np.isclose(result.recommendations["recommended_daily_budget"].sum(), result.total_daily_budget)
    silent = history.assign(revenue=0.0, conversions=0)
    result = recommend_budgets(silent)
    assert result.kept_current
    assert any("no revenue" in issue for issue in result.issues)


def test_spend_without_conversions_leans_on_the_campaign(history):
    ad = history["ad_id"].iloc[0]
    quiet = history.copy()
    quiet.loc[quiet["ad_id"] == ad, ["revenue", "conversions"]] = 0.0
    result = recommend_budgets(quiet)
    row = result.recommendations.set_index("ad_id").loc[ad]
    assert "No revenue recorded" in row["reason"]
    assert row["change_pct"] <= 1e-9  # never rewarded for spending without results


def test_cold_start_ads_get_a_flagged_exploration_budget(history):
    last = history["date"].max()
    new_ad = (
        history[history["date"] == last]
        .head(1)
        .assign(ad_id="brand_new", spend=0.0, revenue=0.0, conversions=0)
    )
    result = recommend_budgets(
        pd.concat([history, new_ad], ignore_index=True),
        BudgetSettings(exploration_share=0.1, min_gain_probability=0.0),
    )
    row = result.recommendations.set_index("ad_id").loc["brand_new"]
    assert row["is_cold_start"]
    assert not row["auto_apply_allowed"]
    assert 0 < row["recommended_daily_budget"] <= 0.1 * result.total_daily_budget
    assert "exploration budget" in row["reason"]


def test_mixed_currencies_are_rejected_or_normalised(history):
    mixed = history.assign(currency=np.where(history["platform"] == "meta", "EUR", "USD"))
    with pytest.raises(BudgetInputError, match="mixed currencies"):
        recommend_budgets(mixed)
    with pytest.raises(BudgetInputError, match="no exchange rate"):
        recommend_budgets(mixed, BudgetSettings(exchange_rates={"EUR": 1.1}))
    result = recommend_budgets(
        mixed, BudgetSettings(exchange_rates={"EUR": 1.1, "USD": 1.0}, base_currency="USD")
    )
    frame = result.recommendations
    assert set(frame["currency"]) == {"EUR", "USD"}
    base_total = (frame["recommended_daily_budget"] * frame["currency"].map({"EUR": 1.1, "USD": 1.0})).sum()
    assert abs(base_total - result.total_daily_budget) <= 1e-6


def test_mart_columns_are_accepted(history):
    mart = history.rename(columns={"date": "date_day", "revenue": "conversions_value"}).assign(
        currency="EUR", account_id="a1"
    )
    assert len(recommend_budgets(mart).recommendations) == history["ad_id"].nunique()


def test_infeasible_budget_and_bad_settings_are_explained(history):
    with pytest.raises(BudgetInputError, match="cannot be reached"):
        recommend_budgets(history, BudgetSettings(total_daily_budget=1e7))
    with pytest.raises(BudgetInputError, match="max change"):
        recommend_budgets(history, BudgetSettings(max_change=-1.0))


def test_unapproved_ads_stay_put_and_actions_figure_rollup(history, tmp_path):
    ads = sorted(history["ad_id"].unique())
    result = recommend_budgets(history, approved_ad_ids=ads[1:])
    frame = result.recommendations.set_index("ad_id")
    assert frame.loc[ads[0], "recommended_daily_budget"] == frame.loc[ads[0], "current_daily_spend"]
    assert not frame.loc[ads[0], "auto_apply_allowed"]
    for action in proposed_actions(result):
        assert action.action_type == "set_daily_budget" and action.target_id != ads[0]
        assert {"reason", "roas_ci", "expected_daily_revenue"} <= set(action.evidence)
    rolled = rollup_recommendations(result.recommendations)
    assert np.isclose(rolled["recommended_daily_budget"].sum(), result.total_daily_budget)
    figure = curves_figure(result, max_ads=4, html_path=tmp_path / "curves.html")
    assert len(figure.data) == 4 * 5 and (tmp_path / "curves.html").exists()
