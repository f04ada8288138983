"""SQL sufficient statistics agree with pandas; contamination, winsorising, nulls."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from decision_engine.experiments import DEFAULT_METRICS, compute_sufficient_statistics
from decision_engine.experiments.simulation import synthetic_exposures


@pytest.fixture(scope="module")
def exposures() -> pd.DataFrame:
    return synthetic_exposures(
        {"A": 3000, "B": 3000}, lifts={"B": {"is_clicked": 1.2}}, contaminated_units=25, seed=3
    )


@pytest.fixture()
def con(exposures: pd.DataFrame):
    connection = duckdb.connect()
    connection.execute("create schema marts")
    connection.register("exposures_frame", exposures)
    connection.execute("create table marts.fct_experiment_exposures as select * from exposures_frame")
    yield connection
    connection.close()


def test_totals_match_pandas(con, exposures: pd.DataFrame) -> None:
    result = compute_sufficient_statistics(con, by_analysis_date=False, covariate_col="pre_period_clicks")
    clean = exposures[exposures["arm_count"] <= 1]
    assert int(result.contamination["contaminated_units"].iloc[0]) == 25
    assert int(result.contamination["excluded_rows"].iloc[0]) == 50
    stats = result.stats.set_index(["variant", "metric"])
    for variant, arm in clean.groupby("variant"):
        clicks = stats.loc[(variant, "click_rate")]
        assert clicks["n"] == len(arm)
        assert clicks["sum_y"] == arm["is_clicked"].sum()
        assert clicks["sum_x"] == arm["is_delivered"].sum()
        assert clicks["sum_xy"] == (arm["is_clicked"] & arm["is_delivered"]).sum()
        conv = stats.loc[(variant, "conversion_rate")]
        assert conv["sum_xy"] == pytest.approx((arm["is_converted"] * arm["pre_period_clicks"]).sum())
        assert conv["sum_xx"] == pytest.approx((arm["pre_period_clicks"] ** 2).sum())
    assert set(result.stats["metric"]) == {m.name for m in DEFAULT_METRICS}


def test_cumulative_by_day_ends_at_totals(con) -> None:
    daily = compute_sufficient_statistics(con).stats
    total = compute_sufficient_statistics(con, by_analysis_date=False).stats
    assert daily["analysis_date"].nunique() == 14
    last = daily[daily["analysis_date"] == daily["analysis_date"].max()].set_index(["variant", "metric"])
    total = total.set_index(["variant", "metric"])
    for column in ("n", "sum_y", "sum_yy", "sum_x", "sum_xx", "sum_xy"):
        np.testing.assert_allclose(last[column].astype(float), total.loc[last.index, column].astype(float))
    per_arm = daily[daily["metric"] == "click_rate"].sort_values("analysis_date").groupby("variant")["n"]
    assert per_arm.apply(lambda s: s.is_monotonic_increasing).all()


def test_winsorising_caps_revenue_outliers(exposures: pd.DataFrame) -> None:
    frame = exposures.copy()
    frame.loc[frame.index[100], "revenue"] = 1e7
    frame.loc[frame.index[101], "revenue"] = np.nan
    connection = duckdb.connect()
    connection.register("exposures", frame)
    stats = compute_sufficient_statistics(connection, "exposures", winsorize_percentile=0.99).stats
    revenue = stats[
        (stats["metric"] == "revenue_per_recipient")
        & (stats["analysis_date"] == stats["analysis_date"].max())
    ]
    cap = revenue["winsor_cap"].iloc[0]
    positive = frame.loc[(frame["arm_count"] <= 1) & (frame["revenue"] > 0), "revenue"]
    assert cap == pytest.approx(positive.quantile(0.99))
    assert revenue["max_raw"].iloc[0] == 1e7
    assert revenue["sum_yy"].max() <= revenue["n"].max() * cap**2
    # the NaN revenue row is left out of that metric only
    n_units = revenue.set_index("variant")["n_units"]
    assert (n_units - revenue.set_index("variant")["n"]).sum() == 1


def test_dbt_model_metrics_are_default_metrics() -> None:
    """marts.fct_experiment_sufficient_stats computes the metrics the analysis reads from it."""
    from decision_engine.experiments.sufficient_stats import MART_WINSORIZE_PERCENTILE
    from quality.dbt_vars import dbt_project_vars

    project = dbt_project_vars()
    assert project["experiment_winsorize_percentile"] == MART_WINSORIZE_PERCENTILE
    declared = [
        (m["name"], m["kind"], m["numerator"], m.get("denominator"), bool(m.get("winsorize", False)))
        for m in project["experiment_metrics"]
    ]
    assert declared == [(m.name, m.kind, m.numerator, m.denominator, m.winsorize) for m in DEFAULT_METRICS]
