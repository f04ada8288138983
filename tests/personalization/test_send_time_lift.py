"""The send-time lift (decision_engine/personalization/send_time_lift.py) on real DuckDB
warehouses (tests/personalization/send_time_world.py): the estimate and its interval against
statsmodels' cluster-robust OLS and a cluster bootstrap, the A/A false-positive rate, the
interval's coverage, the power at a true +20% lift, and what the run writes."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from core.results_schema import column_names
from decision_engine.personalization.send_time_lift import (
    LEVEL,
    arm_lift,
    load_arm_sends,
    matured_before,
    run_send_time_lift,
)
from tests.personalization.send_time_world import FIRST_SEND, World, simulate, write_world

NOW = datetime(2026, 7, 1, 8, tzinfo=UTC)
NEWEST = datetime(2026, 6, 20, 12, tzinfo=UTC)  # data date 2026-06-20: every simulated send has matured
BEFORE = matured_before(date(2026, 6, 20))


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield connection
    connection.close()


def _lift(con, world: World, seed: int, metric: str = "human_open_rate", arm: str = "personalized"):
    write_world(con, *simulate(world, seed), newest=NEWEST)
    return arm_lift(load_arm_sends(con, BEFORE), metric, arm)


# ---- agreement with independent computations ------------------------------------------------------
def _statsmodels_lift(con, metric_column: str, variant: str):
    """OLS of the per-send outcome on arm dummies (no intercept: the coefficients are the arms'
    rates), covariance clustered by contact, then the delta method on log(b_variant / b_control)."""
    sends = con.execute(
        f"""
        select a.contact_id, a.arm, s.{metric_column}::int as y
        from results.send_time_assignments a
        join marts.fct_email_sends s using (campaign_id, contact_id)
        where s.is_delivered and a.arm in ('{variant}', 'control')
        """
    ).df()
    design = pd.get_dummies(sends["arm"]).astype(float)[[variant, "control"]]
    groups = pd.factorize(sends["contact_id"])[0]
    fit = sm.OLS(sends["y"].astype(float), design).fit(cov_type="cluster", cov_kwds={"groups": groups})
    b = fit.params.to_numpy()
    gradient = np.array([1 / b[0], -1 / b[1]])
    variance = float(gradient @ fit.cov_params().to_numpy() @ gradient)
    # statsmodels' small-sample factor is G/(G-1) * (N-1)/(N-K); Loopwise's is G/(G-1)
    n, k = len(sends), design.shape[1]
    variance *= (n - k) / (n - 1)
    log_ratio = math.log(b[0] / b[1])
    z = stats.norm.ppf(0.5 + LEVEL / 2)
    se = math.sqrt(variance)
    return (
        math.expm1(log_ratio),
        math.expm1(log_ratio - z * se),
        math.expm1(log_ratio + z * se),
        2 * stats.norm.sf(abs(log_ratio) / se),
    )


@pytest.mark.parametrize("sticky", [False, True])
@pytest.mark.parametrize(
    ("metric", "column", "arm"),
    [
        ("human_open_rate", "is_human_opened", "personalized"),
        ("click_rate", "is_clicked", "personalized"),
        ("human_open_rate", "is_human_opened", "explore"),
    ],
)
def test_estimate_and_interval_match_statsmodels_cluster_robust_ols(con, sticky, metric, column, arm):
    world = World(contacts=2000, campaigns=5, lift={"personalized": 0.15}, sticky=sticky)
    lift = _lift(con, world, seed=7, metric=metric, arm=arm)
    point, low, high, p_value = _statsmodels_lift(con, column, arm)
    # the same estimator: equal to rounding
    assert lift.point == pytest.approx(point, rel=1e-9, abs=1e-12)
    assert lift.low == pytest.approx(low, rel=1e-6, abs=1e-9)
    assert lift.high == pytest.approx(high, rel=1e-6, abs=1e-9)
    assert lift.p_value == pytest.approx(p_value, rel=1e-6, abs=1e-12)


def test_interval_width_matches_a_cluster_bootstrap(con):
    """Resampling contacts (with all their sends) gives the same spread of the log ratio within 10%."""
    world = World(contacts=2000, campaigns=6, lift={"personalized": 0.2}, sticky=True)
    lift = _lift(con, world, seed=3)
    frame = load_arm_sends(con, BEFORE)
    per_contact = frame.pivot_table(
        index="contact_id", columns="arm", values=["human_opens", "sends"], aggfunc="sum", fill_value=0
    )
    y_v, x_v = per_contact[("human_opens", "personalized")].to_numpy(), per_contact[("sends", "personalized")].to_numpy()  # fmt: skip
    y_c, x_c = per_contact[("human_opens", "control")].to_numpy(), per_contact[("sends", "control")].to_numpy()  # fmt: skip
    g = np.random.default_rng(0)
    draws = []
    for _ in range(1000):
        i = g.integers(0, len(y_v), len(y_v))
        draws.append(math.log((y_v[i].sum() / x_v[i].sum()) / (y_c[i].sum() / x_c[i].sum())))
    bootstrap_se = float(np.std(draws, ddof=1))
    assert lift.log_ratio_se == pytest.approx(
        bootstrap_se, rel=0.10
    )  # measured 1.01x (and 1.58x the send-level binomial SE)
    # and clustering matters here: the send-level binomial standard error is far too small
    naive = math.sqrt((1 - y_v.sum() / x_v.sum()) / y_v.sum() + (1 - y_c.sum() / x_c.sum()) / y_c.sum())
    assert lift.log_ratio_se > 1.3 * naive


# ---- operating characteristics ---------------------------------------------------------------------
REPLICATES = 400


def _margin(p: float, n: int = REPLICATES) -> float:
    return 3 * math.sqrt(p * (1 - p) / n)  # 3 binomial standard errors


def _replicates(tmp_path, world: World, metric: str = "human_open_rate"):
    con = duckdb.connect(str(tmp_path / "replicates.duckdb"))
    try:
        return [_lift(con, world, seed=1000 + r, metric=metric) for r in range(REPLICATES)]
    finally:
        con.close()


def test_aa_false_positive_rate_is_five_percent(tmp_path):
    """Both arms at the same true rate; contacts keep their arm across campaigns (the case where a
    send-level test would be fooled by the heterogeneous contacts): ~5% of 95% intervals exclude 0."""
    world = World(contacts=1500, campaigns=6, sticky=True, lift={})
    lifts = _replicates(tmp_path, world)
    rejected = np.mean([lift.p_value < 0.05 for lift in lifts])
    excluded = np.mean([lift.low > 0 or lift.high < 0 for lift in lifts])
    assert rejected == excluded  # the p-value and the interval agree
    assert abs(rejected - 0.05) <= _margin(0.05), rejected  # measured 0.0525 (21 of 400; seeds 1000-1399)


def test_coverage_of_the_95_interval_with_a_true_lift(tmp_path):
    """A true +10% lift on human opens (arms re-randomised per campaign): the interval covers it ~95%.
    The true lift of the pooled rates is 10% exactly: every arm's rate is multiplied by 1.1."""
    world = World(contacts=1500, campaigns=6, lift={"personalized": 0.10})
    lifts = _replicates(tmp_path, world)
    covered = np.mean([lift.low <= 0.10 <= lift.high for lift in lifts])
    assert abs(covered - 0.95) <= _margin(0.95), covered  # measured 0.9625 (385 of 400)


def test_a_true_20_percent_lift_is_detected_with_high_power(tmp_path):
    """5,000 contacts x 6 campaigns with 10% control (~2,900 control sends, ~730 control opens):
    a +20% human-open lift is significant at 5% in at least 90% of replicates."""
    world = World(contacts=5000, campaigns=6, lift={"personalized": 0.20})
    con = duckdb.connect(str(tmp_path / "power.duckdb"))
    try:
        lifts = [_lift(con, world, seed=2000 + r) for r in range(100)]
    finally:
        con.close()
    power = np.mean([lift.p_value < 0.05 and lift.point > 0 for lift in lifts])
    assert power >= 0.9, power  # measured 1.0 (100 of 100; mean estimate +20.4%)
    assert np.mean([lift.point for lift in lifts]) == pytest.approx(0.20, abs=0.02)


# ---- the run ---------------------------------------------------------------------------------------
def test_run_writes_one_row_per_metric_and_arm_and_replaces_them(con):
    world = World(contacts=1500, campaigns=4, lift={"personalized": 0.2})
    sends, assignments = simulate(world, seed=5)
    write_world(con, sends, assignments, newest=NEWEST)
    run = run_send_time_lift(con, NOW)
    assert run.analysis_date == date(2026, 6, 20)
    frame = con.execute("select * from results.send_time_lift order by metric, arm").df()
    assert list(frame.columns) == column_names("send_time_lift")
    assert len(frame) == run.rows == 6
    assert set(zip(frame.metric, frame.arm, strict=True)) == {
        (m, a) for m in ("human_open_rate", "click_rate") for a in ("personalized", "control", "explore")
    }
    delivered = sends[sends.is_delivered]
    personalized = frame[(frame.metric == "human_open_rate") & (frame.arm == "personalized")].iloc[0]
    in_arm = delivered.merge(assignments[assignments.arm == "personalized"], on=["campaign_id", "contact_id"])
    assert personalized.sends == len(in_arm)
    assert personalized.human_opens == in_arm.is_human_opened.sum()
    assert personalized.contacts == in_arm.contact_id.nunique()
    assert personalized.campaigns == 4
    assert personalized.rate == pytest.approx(in_arm.is_human_opened.mean())
    control = frame[(frame.metric == "human_open_rate") & (frame.arm == "control")].iloc[0]
    assert math.isnan(control.relative_lift) and control.control_rate == pytest.approx(control.rate)
    assert personalized.relative_lift == pytest.approx(personalized.rate / control.rate - 1)
    assert personalized.ci_lower < personalized.relative_lift < personalized.ci_upper
    assert frame.groupby("metric").share_of_sends.sum().to_numpy() == pytest.approx([1.0, 1.0])
    assert "personalized vs control human open rate" in run.headline
    run_send_time_lift(con, NOW + timedelta(hours=1))  # same data date: replaced, not added
    assert con.execute("select count(*) from results.send_time_lift").fetchone()[0] == 6


def test_only_matured_sends_count(con):
    """Sends within 2 days of the data date's end are left out (their opens may still arrive)."""
    world = World(contacts=300, campaigns=3, days_apart=1)
    sends, assignments = simulate(world, seed=2)
    last_day = FIRST_SEND + timedelta(days=2)  # the third campaign's day is the data date
    write_world(con, sends, assignments)
    assert run_send_time_lift(con, NOW).analysis_date == last_day.date()
    counted = con.execute(
        "select sum(sends) from results.send_time_lift where metric = 'click_rate'"
    ).fetchone()[0]
    assert counted == int((sends.is_delivered & (sends.sent_at < pd.Timestamp(FIRST_SEND + timedelta(days=1)).floor("D"))).sum())  # fmt: skip


def test_no_assignments_writes_nothing_and_says_so(con):
    sends, _ = simulate(World(contacts=50, campaigns=2), seed=1)
    write_world(con, sends, pd.DataFrame(columns=column_names("send_time_assignments")), newest=NEWEST)
    run = run_send_time_lift(con, NOW)
    assert run.rows == 0
    assert "no matured sends with a send-time assignment yet" in run.headline
    assert con.execute("select count(*) from results.send_time_lift").fetchone()[0] == 0
    empty = duckdb.connect()  # no marts at all: the tables are created, nothing written
    assert "no delivered email sends" in run_send_time_lift(empty, NOW).headline
    assert empty.execute("select count(*) from results.send_time_assignments").fetchone()[0] == 0


def test_asset_materializes_and_the_digest_runs_after_it(tmp_path):
    import dagster as dg

    from orchestration.defs.personalization.definitions import SEND_TIME_LIFT_KEY, build_definitions
    from orchestration.resources import WarehouseResource

    path = str(tmp_path / "warehouse.duckdb")
    con = duckdb.connect(path)
    write_world(
        con, *simulate(World(contacts=400, campaigns=3, lift={"personalized": 0.2}), seed=4), newest=NEWEST
    )
    con.close()
    assets = [asset for asset in build_definitions([]).assets if SEND_TIME_LIFT_KEY in asset.keys]
    result = dg.materialize(assets, resources={"warehouse": WarehouseResource(path=path)})
    assert result.success
    (materialization,) = result.get_asset_materialization_events()
    metadata = materialization.materialization.metadata
    assert metadata["rows"].value == 6 and "preview" in metadata
    assert "personalized vs control" in metadata["headline"].value
