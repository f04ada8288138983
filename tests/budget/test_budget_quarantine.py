"""Quarantined ad-days (the vendor's record failed validation) are unknown, not zero spend."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from budget_worlds import make_world

from decision_engine.budget import ReasonCode, recommend_budgets
from loopwise.cli import main

KEY = ["platform", "ad_id"]
COUNTS = ["spend", "impressions", "clicks", "conversions", "revenue"]


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    frame = make_world(11, n_campaigns=2, ads_per_campaign=3, days=45).history
    return frame.assign(date=pd.to_datetime(frame["date"]))


def _quarantine(history: pd.DataFrame, rows: pd.Series) -> pd.DataFrame:
    """The mart with ``is_quarantined``: the row stays with its ids, its numbers are NULL."""
    marked = history.assign(is_quarantined=rows.to_numpy())
    marked.loc[rows.to_numpy(), COUNTS] = np.nan
    return marked


def _by_ad(result) -> pd.DataFrame:
    return result.recommendations.set_index(KEY)


def test_quarantined_day_is_left_out_of_current_spend_not_counted_as_zero(history):
    dates = np.sort(history["date"].unique())
    ad, day = history["ad_id"].iloc[0], dates[-3]
    hit = (history["ad_id"] == ad) & (history["date"] == day)
    result = recommend_budgets(_quarantine(history, hit))
    row = _by_ad(result).xs(ad, level="ad_id").iloc[0]
    window = history[(history["ad_id"] == ad) & (history["date"] >= dates[-7]) & ~hit]
    assert len(window) == 6
    assert row["current_daily_spend"] == pytest.approx(window["spend"].mean(), rel=1e-12)
    # before the fix the missing day read as zero spend: a mean over 7 days
    missing = recommend_budgets(history[~hit])
    zero_day = _by_ad(missing).xs(ad, level="ad_id").iloc[0]["current_daily_spend"]
    assert zero_day == pytest.approx(window["spend"].sum() / 7, rel=1e-12)
    assert row["reason_code"] in {code.value for code in ReasonCode}
    assert ReasonCode.QUARANTINED_DAYS_EXCLUDED in list(row["reason_flags"])
    assert row["reason"].endswith("1 day of this ad's data was quarantined at the source and left out.")
    assert any("quarantined at the source" in issue for issue in result.issues)
    others = result.recommendations[result.recommendations["ad_id"] != ad]
    assert not others["reason"].str.contains("quarantined").any()
    assert result.history.ads["quarantined_days"].sum() == 1


def test_a_quarantined_day_matches_a_history_where_that_day_never_existed(history):
    day = np.sort(history["date"].unique())[-2]
    hit = history["date"] == day  # every ad's record for that day was quarantined
    quarantined = recommend_budgets(_quarantine(history, hit))
    never = recommend_budgets(history[~hit])
    columns = ["current_daily_spend", "recommended_daily_budget", "change_pct", "expected_daily_revenue"]
    pd.testing.assert_frame_equal(_by_ad(quarantined)[columns], _by_ad(never)[columns])
    assert (quarantined.recommendations["reason_code"] == never.recommendations["reason_code"]).all()
    assert quarantined.analysis_date == never.analysis_date == pd.Timestamp(history["date"].max()).date()


def test_the_column_is_optional_and_false_rows_change_nothing(history):
    plain = recommend_budgets(history)
    flagged = recommend_budgets(history.assign(is_quarantined=False))
    columns = [c for c in plain.recommendations.columns if c != "analysis_timestamp"]
    pd.testing.assert_frame_equal(plain.recommendations[columns], flagged.recommendations[columns])
    assert plain.issues == flagged.issues
    assert (plain.history.ads["quarantined_days"] == 0).all()


def test_plain_missing_day_in_the_csv_is_still_zero_spend(history, tmp_path, capsys):
    """The CLI contract: current spend is the mean over the file's last 7 days (a missing row is a paused day)."""
    dates = np.sort(history["date"].unique())
    ad = history["ad_id"].iloc[0]
    gap = (history["ad_id"] == ad) & (history["date"] == dates[-3])
    path = tmp_path / "ads.csv"
    history[~gap].to_csv(path, index=False)
    assert main(["budget", "recommend", str(path), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    row = next(r for r in document["recommendations"] if r["ad_id"] == ad)
    window = history[(history["ad_id"] == ad) & (history["date"] >= dates[-7]) & ~gap]
    assert row["current_daily_spend"] == pytest.approx(window["spend"].sum() / 7, rel=1e-6)
    assert row["reason_code"] in {code.value for code in ReasonCode}
    assert document["analysis_date"] == pd.Timestamp(dates[-1]).date().isoformat()
