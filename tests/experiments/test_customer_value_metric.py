"""Customer value per recipient: reported on every experiment when the scores exist, primary where volume allows."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pandas as pd
import pytest

from decision_engine.experiments import ExperimentRunConfig, run_experiment_analysis
from decision_engine.experiments.customer_value import (
    MIN_CONVERTERS_PER_ARM,
    converters_per_arm,
    value_ready,
)
from decision_engine.experiments.simulation import synthetic_exposures

NOW = datetime(2026, 1, 20, 6, 30, tzinfo=UTC)
METRIC = "customer_value_per_recipient"
# variant B's recipients are worth 500 more after they order; clicks and orders are the same in both arms
B_EXPECTED_VALUE = 500.0


def _exposures() -> pd.DataFrame:
    return pd.concat(
        [
            synthetic_exposures(
                {"A": 20000, "B": 20000}, experiment_id="big", seed=3
            ),  # ~200 orderers per arm
            synthetic_exposures({"A": 3000, "B": 3000}, experiment_id="small", seed=4).assign(
                unit_id=lambda frame: "s" + frame["unit_id"]  # ~30 orderers per arm: too few
            ),
        ],
        ignore_index=True,
    )


def _warehouse(exposures: pd.DataFrame, with_scores: bool) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create schema marts")
    con.register("exposures_frame", exposures)
    con.execute("create table marts.fct_experiment_exposures as select * from exposures_frame")
    con.execute(
        "create table marts.dim_contacts as select 'c1' as contact_id, true as is_subscribed, "
        "false as is_in_global_holdout"
    )
    if with_scores:
        units = exposures["unit_id"].drop_duplicates()
        in_big_b = units.isin(
            exposures.loc[(exposures["experiment_id"] == "big") & (exposures["variant"] == "B"), "unit_id"]
        )
        scores = pd.DataFrame(
            {"contact_id": units, "expected_value": in_big_b.map({True: B_EXPECTED_VALUE, False: 0.0})}
        )
        con.register("scores_frame", scores)
        con.execute("create schema results")
        con.execute(
            "create table results.customer_value as "
            "select date '2026-01-15' as analysis_date, contact_id, expected_value from scores_frame "
            "union all select date '2025-12-01', contact_id, 9999.0 from scores_frame"  # an older run: not read
        )
    return con


@pytest.fixture(scope="module")
def exposures() -> pd.DataFrame:
    return _exposures()


@pytest.fixture(scope="module")
def scored(exposures):
    con = _warehouse(exposures, with_scores=True)
    return run_experiment_analysis(con, ExperimentRunConfig(winsorize_percentile=None), NOW)


@pytest.fixture(scope="module")
def unscored(exposures):
    con = _warehouse(exposures, with_scores=False)
    return run_experiment_analysis(con, ExperimentRunConfig(winsorize_percentile=None), NOW)


def test_the_value_is_attributed_revenue_plus_the_expected_value_of_those_who_ordered(exposures, scored):
    latest = scored.results[scored.results["analysis_date"] == scored.results["analysis_date"].max()]
    rows = latest[latest["metric"] == METRIC].set_index("experiment_id")
    assert set(rows.index) == {"big", "small"}  # reported on every experiment
    for experiment_id, row in rows.iterrows():
        frame = exposures[exposures["experiment_id"] == experiment_id]
        bonus = B_EXPECTED_VALUE if experiment_id == "big" else 0.0
        value = frame["revenue"] + frame["is_converted"] * (frame["variant"] == "B") * bonus
        by_arm = value.groupby(frame["variant"]).mean()
        assert row["mean_control"] == pytest.approx(by_arm["A"])
        assert row["mean_variant"] == pytest.approx(by_arm["B"])
    assert rows.loc["big", "mean_variant"] > rows.loc["big", "mean_control"] + 2.0


def test_the_value_metric_leads_only_where_every_arm_has_enough_orderers(exposures, scored):
    orderers = (
        exposures.groupby(["experiment_id", "variant"])["is_converted"].sum().groupby("experiment_id").min()
    )
    assert orderers["big"] >= MIN_CONVERTERS_PER_ARM > orderers["small"]  # the world is what the test says
    decisions = scored.decisions.set_index("experiment_id")
    assert decisions.loc["big", "primary_metric"] == METRIC
    assert decisions.loc["small", "primary_metric"] == "click_rate"
    assert (
        f"at least {MIN_CONVERTERS_PER_ARM} ordering recipients ({orderers['big']} in the smallest)"
        in (decisions.loc["big", "explanation"])
    )
    assert "ordering recipients" not in decisions.loc["small", "explanation"]
    # B's buyers are worth far more: the value metric ships it although clicks are alike
    assert decisions.loc["big", "decision"] == "ship" and decisions.loc["big", "target_variant"] == "B"
    primary = scored.results[scored.results["is_primary"].astype(bool)]
    assert set(primary.loc[primary["experiment_id"] == "big", "metric"]) == {METRIC}
    assert not scored.notes


def test_without_the_scores_the_metric_is_absent_with_a_note_and_the_defaults_decide(scored, unscored):
    assert METRIC not in set(unscored.results["metric"])
    assert unscored.notes == [
        "customer_value_per_recipient not reported: results.customer_value is not in the warehouse "
        "(the scores have not run)"
    ]
    decisions = unscored.decisions.set_index("experiment_id")
    assert decisions["primary_metric"].to_dict() == {"big": "click_rate", "small": "click_rate"}
    assert decisions.loc["big", "decision"] != "ship"
    # the other metrics' results do not depend on whether the value metric is there
    shared = ["experiment_id", "variant", "metric", "analysis_date"]
    with_value = scored.results[scored.results["metric"] != METRIC].set_index(shared)["p_value"].sort_index()
    without = unscored.results.set_index(shared)["p_value"].sort_index()
    pd.testing.assert_series_equal(with_value, without)


def test_converters_per_arm_reads_the_smallest_arm_at_the_latest_date():
    stats = pd.DataFrame(
        {
            "experiment_id": ["e"] * 6,
            "variant": ["A", "B"] * 3,
            "metric": ["conversion_rate"] * 4 + ["click_rate"] * 2,
            "analysis_date": pd.to_datetime(["2026-01-01"] * 2 + ["2026-01-02"] * 2 + ["2026-01-02"] * 2),
            "sum_y": [50.0, 60.0, 120.0, 101.0, 900.0, 900.0],
        }
    )
    assert converters_per_arm(stats) == {"e": 101}
    assert value_ready({"e": 101, "f": 99}) == {"e": 101}
    assert converters_per_arm(stats[stats["metric"] == "click_rate"]) == {}


def test_the_experiments_asset_runs_after_the_customer_value_scores():
    import dagster as dg

    from orchestration.defs.experiments.definitions import EXPERIMENT_RESULTS_KEY, build_definitions
    from orchestration.defs.scores.definitions import CHURN_RISK_KEY, CUSTOMER_VALUE_KEY

    exposures_key = dg.AssetKey(["marts", "fct_experiment_exposures"])
    defs = build_definitions([exposures_key], [CUSTOMER_VALUE_KEY, CHURN_RISK_KEY])
    (assets,) = [a for a in defs.assets if EXPERIMENT_RESULTS_KEY in a.keys]
    upstream = assets.asset_deps[EXPERIMENT_RESULTS_KEY]
    assert CUSTOMER_VALUE_KEY in upstream and exposures_key in upstream
    assert CHURN_RISK_KEY not in upstream
