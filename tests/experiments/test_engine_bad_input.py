"""Bad data gives a clear note in the result row, never an exception."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from decision_engine.experiments import (
    ExperimentPlan,
    analyze_experiments,
    compute_sufficient_statistics,
    decide_experiments,
)
from decision_engine.experiments.simulation import synthetic_exposures


def _analyze(frame: pd.DataFrame, plans: dict | None = None, **kwargs) -> pd.DataFrame:
    con = duckdb.connect()
    con.register("exposures", frame)
    stats = compute_sufficient_statistics(con, "exposures", **kwargs)
    return analyze_experiments(stats.stats, plans=plans, contamination=stats.contamination)


def test_single_arm_and_missing_control() -> None:
    single = synthetic_exposures({"A": 500}, experiment_id="single", seed=1)
    no_control = synthetic_exposures({"B": 500, "C": 500}, experiment_id="nocontrol", control="A", seed=2)
    results = _analyze(pd.concat([single, no_control]))
    notes = results.groupby("experiment_id")["note"].first()
    assert "only one arm" in notes["single"]
    assert "no control arm" in notes["nocontrol"]
    decisions, actions = decide_experiments(results)
    assert set(decisions["decision"]) == {"continue"}
    assert actions == []
    assert decisions["explanation"].str.startswith("Cannot decide yet").all()


def test_zero_conversions_zero_variance_outliers_contamination() -> None:
    frame = synthetic_exposures({"A": 20000, "B": 20000}, contaminated_units=10, seed=4)
    frame["is_converted"] = False
    frame["became_mql"] = True  # zero variance
    frame.loc[frame.index[100], "revenue"] = 5e6
    frame["is_clicked"] = frame["is_clicked"].astype(object)
    frame.loc[frame.index[107], "is_clicked"] = None
    results = _analyze(frame, by_analysis_date=False)
    row = results.set_index("metric").loc
    assert "no events in either arm" in row["conversion_rate", "note"]
    assert row["mql_rate", "p_value"] == 1.0
    assert "winsorised" in row["revenue_per_recipient", "note"]
    assert (results["contaminated_units"] == 10).all()
    assert "10 units seen in more than one arm excluded" in row["click_rate", "note"]
    assert "1 units with a missing value left out" in row["click_rate", "note"]
    assert results["verdict"].notna().all()


def test_unknown_variant_in_plan_is_reported() -> None:
    frame = synthetic_exposures({"A": 800, "B": 800, "Z": 800}, seed=5)
    plans = {"exp_1": ExperimentPlan("exp_1", planned_split={"A": 0.5, "B": 0.5})}
    results = _analyze(frame, plans, by_analysis_date=False)
    z_rows = results[results["variant"] == "Z"]
    assert z_rows["note"].str.contains("not in the planned split").all()
    assert results["srm_p_value"].isna().all()


def test_ratio_metric_with_no_deliveries() -> None:
    frame = synthetic_exposures({"holdout": 500, "treatment": 500}, control="holdout", seed=6)
    frame.loc[
        frame["variant"] == "holdout", ["is_delivered", "is_opened", "is_human_opened", "is_clicked"]
    ] = False
    results = _analyze(frame, by_analysis_date=False)
    clicks = results.set_index("metric").loc["click_rate"]
    assert np.isnan(clicks["p_value"])
    assert clicks["verdict"] == "not_analysable"
    assert clicks["note"]


def test_default_plans_for_global_holdout() -> None:
    from decision_engine.experiments import default_plans

    frame = synthetic_exposures(
        {"holdout": 300, "treatment": 2700}, experiment_id="global_holdout", control="holdout", seed=8
    )
    unknown = default_plans({"global_holdout": "global_holdout"})
    results = _analyze(frame, unknown, by_analysis_date=False)
    assert results["srm_p_value"].isna().all()
    assert results.loc[results["is_primary"], "metric"].unique().tolist() == ["revenue_per_recipient"]
    known = default_plans({"global_holdout": "global_holdout"}, holdout_share=0.1)
    assert not _analyze(frame, known, by_analysis_date=False)["srm_flag"].any()
    assert _analyze(frame, None, by_analysis_date=False)["srm_flag"].all()  # equal split assumed
