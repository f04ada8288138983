"""The content lift (decision_engine/personalization/content_lift.py) on real DuckDB warehouses
(tests/personalization/content_world.py): the estimate and its interval against statsmodels'
cluster-robust OLS on sends attributed independently in pandas, clone sends counted for their
parent campaign, unmatured sends left out, the A/A false-positive rate, and what the run writes."""

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
from decision_engine.personalization.content_lift import load_content_sends, run_content_lift
from decision_engine.personalization.send_time_lift import LEVEL, arm_lift, matured_before
from tests.personalization.content_world import content_world, simulate_content, write_content_world
from tests.personalization.send_time_world import FIRST_SEND

NOW = datetime(2026, 7, 1, 8, tzinfo=UTC)
NEWEST = datetime(2026, 6, 20, 12, tzinfo=UTC)  # data date 2026-06-20: every simulated send has matured
BEFORE = matured_before(date(2026, 6, 20))


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield connection
    connection.close()


def _attributed(sends: pd.DataFrame, content: pd.DataFrame, send_time: pd.DataFrame) -> pd.DataFrame:
    """Each delivered send with its content arm, attributed in pandas: a clone's send belongs to
    the clone's parent campaign (its contact's send-time assignment), any other to its own id."""
    parents = send_time[["campaign_id", "contact_id", "parent_campaign_id"]]
    delivered = sends[sends.is_delivered].merge(parents, on=["campaign_id", "contact_id"], how="left")
    delivered["marketer_campaign"] = delivered["parent_campaign_id"].fillna(delivered["campaign_id"])
    arms = content.rename(columns={"campaign_id": "marketer_campaign"})[
        ["marketer_campaign", "contact_id", "arm"]
    ]
    return delivered.merge(arms, on=["marketer_campaign", "contact_id"])


def _statsmodels_lift(sends: pd.DataFrame, column: str) -> tuple[float, float, float, float]:
    """OLS of the per-send outcome on arm dummies (no intercept), covariance clustered by contact,
    then the delta method on log(b_personalized / b_control) (as test_send_time_lift does)."""
    design = pd.get_dummies(sends["arm"]).astype(float)[["personalized", "control"]]
    groups = pd.factorize(sends["contact_id"])[0]
    fit = sm.OLS(sends[column].astype(float), design).fit(cov_type="cluster", cov_kwds={"groups": groups})
    b = fit.params.to_numpy()
    gradient = np.array([1 / b[0], -1 / b[1]])
    variance = float(gradient @ fit.cov_params().to_numpy() @ gradient)
    n, k = len(sends), design.shape[1]
    variance *= (n - k) / (n - 1)  # statsmodels' extra small-sample factor; Loopwise's is G/(G-1) only
    log_ratio, se = math.log(b[0] / b[1]), math.sqrt(variance)
    z = stats.norm.ppf(0.5 + LEVEL / 2)
    return (
        math.expm1(log_ratio),
        math.expm1(log_ratio - z * se),
        math.expm1(log_ratio + z * se),
        2 * stats.norm.sf(abs(log_ratio) / se),
    )


@pytest.mark.parametrize("sticky", [False, True])
@pytest.mark.parametrize(
    ("metric", "column"), [("click_rate", "is_clicked"), ("human_open_rate", "is_human_opened")]
)
def test_estimate_and_interval_match_statsmodels_cluster_robust_ols(con, sticky, metric, column):
    world = content_world(contacts=3000, campaigns=6, lift={"personalized": 0.15}, sticky=sticky)
    sends, content, send_time = simulate_content(world, seed=7)
    write_content_world(con, sends, content, send_time, newest=NEWEST)
    lift = arm_lift(load_content_sends(con, BEFORE), metric, "personalized")
    point, low, high, p_value = _statsmodels_lift(_attributed(sends, content, send_time), column)
    assert lift.point == pytest.approx(point, rel=1e-9, abs=1e-12)
    assert lift.low == pytest.approx(low, rel=1e-6, abs=1e-9)
    assert lift.high == pytest.approx(high, rel=1e-6, abs=1e-9)
    assert lift.p_value == pytest.approx(p_value, rel=1e-6, abs=1e-12)


def test_clone_sends_count_for_their_parent_campaigns_assignment(con):
    """Half the campaigns send under send-time clones: their sends are the parent campaign's, in the
    content arm (not the send-time arm), and a contact's earlier assignment row is superseded."""
    sends, content, send_time = simulate_content(content_world(contacts=400, campaigns=4), seed=3)
    assert set(sends.campaign_id) >= {"camp0", "camp1-h7", "camp2", "camp3-h7"}
    # an earlier assignment of camp1's first contact in the other arm: only the latest row counts
    first = content[content.campaign_id == "camp1"].iloc[0]
    stale = first.to_frame().T.assign(
        arm="control" if first.arm == "personalized" else "personalized",
        assigned_at=first.assigned_at - pd.Timedelta(days=2),
    )
    write_content_world(con, sends, pd.concat([content, stale], ignore_index=True), send_time, newest=NEWEST)
    frame = load_content_sends(con, BEFORE)
    assert set(frame.campaign_id) == {"camp0", "camp1", "camp2", "camp3"}
    expected = _attributed(sends, content, send_time)
    for column, events in (("sends", None), ("clicks", "is_clicked"), ("human_opens", "is_human_opened")):
        grouped = expected.groupby(["marketer_campaign", "arm"])
        truth = grouped.size() if events is None else grouped[events].sum()
        got = frame.groupby(["campaign_id", "arm"])[column].sum()
        assert got.to_dict() == {key: int(value) for key, value in truth.items()}, column
    contact = frame[(frame.campaign_id == "camp1") & (frame.contact_id == first.contact_id)]
    assert list(contact.arm) == [first.arm]
    # one campaign alone (the decision log's read): only its sends
    only = load_content_sends(con, BEFORE, campaign_id="camp3")
    assert set(only.campaign_id) == {"camp3"}
    assert only.sends.sum() == (expected.marketer_campaign == "camp3").sum()


def test_without_send_time_assignments_only_own_sends_count(con):
    sends, content, send_time = simulate_content(content_world(contacts=200, campaigns=2), seed=4)
    write_content_world(con, sends, content, send_time, newest=NEWEST)
    con.execute("drop table results.send_time_assignments")
    frame = load_content_sends(con, BEFORE)
    assert set(frame.campaign_id) == {"camp0"}  # camp1 sent only under clones
    assert frame.sends.sum() == (sends.is_delivered & (sends.campaign_id == "camp0")).sum()


def test_only_matured_sends_count(con):
    """Sends within 2 days of the data date's end are left out (their clicks may still arrive)."""
    sends, content, send_time = simulate_content(
        content_world(contacts=300, campaigns=3, days_apart=1), seed=2
    )
    write_content_world(con, sends, content, send_time)  # the third campaign's day is the data date
    run = run_content_lift(con, NOW)
    assert run.analysis_date == (FIRST_SEND + timedelta(days=2)).date()
    counted = con.execute(
        "select sum(sends) from results.content_lift where metric = 'click_rate'"
    ).fetchone()[0]
    first_day = sends.is_delivered & (sends.sent_at < pd.Timestamp(FIRST_SEND + timedelta(days=1)).floor("D"))
    assert counted == int(first_day.sum()) > 0
    assert run.campaigns == 1


# ---- operating characteristics ---------------------------------------------------------------------
REPLICATES = 400


def test_aa_false_positive_rate_is_five_percent(tmp_path):
    """No true effect; contacts keep their arm across campaigns, so a contact's sends are correlated
    within an arm: ~5% of replicates are significant at 5% on clicks. A send-level (unclustered)
    binomial test on the same sends rejects far more often, so the band fails a broken clustering."""
    world = content_world(contacts=1500, campaigns=12, sticky=True)
    con = duckdb.connect(str(tmp_path / "replicates.duckdb"))
    lifts, naive = [], []
    try:
        for r in range(REPLICATES):
            write_content_world(con, *simulate_content(world, seed=1000 + r), newest=NEWEST)
            frame = load_content_sends(con, BEFORE)
            lifts.append(arm_lift(frame, "click_rate", "personalized"))
            arms = frame.groupby("arm")[["clicks", "sends"]].sum()
            (y_v, x_v), (y_c, x_c) = arms.loc["personalized"], arms.loc["control"]
            se = math.sqrt((1 - y_v / x_v) / y_v + (1 - y_c / x_c) / y_c)
            naive.append(2 * stats.norm.sf(abs(math.log((y_v / x_v) / (y_c / x_c))) / se))
    finally:
        con.close()
    rejected = np.mean([lift.p_value < 0.05 for lift in lifts])
    margin = 3 * math.sqrt(0.05 * 0.95 / REPLICATES)  # 3 binomial standard errors: 0.017 to 0.083
    assert abs(rejected - 0.05) <= margin, rejected  # measured 0.065 (26 of 400; seeds 1000-1399)
    # the unclustered test is fooled: measured 0.135 (54 of 400)
    assert np.mean(np.array(naive) < 0.05) > 0.05 + margin


# ---- the run ---------------------------------------------------------------------------------------
def test_run_writes_one_row_per_metric_and_arm_and_replaces_them(con):
    sends, content, send_time = simulate_content(content_world(contacts=2000, campaigns=4, lift={"personalized": 0.3}), seed=5)  # fmt: skip
    write_content_world(con, sends, content, send_time, newest=NEWEST)
    run = run_content_lift(con, NOW)
    frame = con.execute("select * from results.content_lift order by metric, arm").df()
    assert list(frame.columns) == column_names("content_lift")
    assert len(frame) == run.rows == 4 and run.campaigns == 4
    assert set(zip(frame.metric, frame.arm, strict=True)) == {
        (m, a) for m in ("click_rate", "human_open_rate") for a in ("personalized", "control")
    }
    attributed = _attributed(sends, content, send_time)
    clicks = frame[frame.metric == "click_rate"].set_index("arm")
    for arm in ("personalized", "control"):
        in_arm = attributed[attributed.arm == arm]
        assert clicks.loc[arm, "sends"] == len(in_arm) == run.sends[arm]
        assert clicks.loc[arm, "clicks"] == in_arm.is_clicked.sum()
        assert clicks.loc[arm, "rate"] == pytest.approx(in_arm.is_clicked.mean())
    personalized = clicks.loc["personalized"]
    assert personalized.relative_lift == pytest.approx(personalized.rate / clicks.loc["control", "rate"] - 1)
    assert personalized.ci_lower < personalized.relative_lift < personalized.ci_upper
    assert math.isnan(clicks.loc["control", "relative_lift"])
    assert clicks.share_of_sends.sum() == pytest.approx(1.0)
    assert "personalized vs control click rate" in run.headline
    run_content_lift(con, NOW + timedelta(hours=1))  # same data date: replaced, not added
    assert con.execute("select count(*) from results.content_lift").fetchone()[0] == 4


def test_no_assignments_writes_nothing_and_says_so(con):
    sends, _, send_time = simulate_content(content_world(contacts=50, campaigns=2), seed=1)
    write_content_world(con, sends, pd.DataFrame(columns=column_names("content_assignments")), send_time, newest=NEWEST)  # fmt: skip
    run = run_content_lift(con, NOW)
    assert run.rows == 0 and run.analysis_date == NEWEST.date()
    assert "no matured sends with a content assignment yet" in run.headline
    assert con.execute("select count(*) from results.content_lift").fetchone()[0] == 0
    empty = duckdb.connect()  # no marts at all: the tables are created, nothing written
    assert "no delivered email sends" in run_content_lift(empty, NOW).headline
    assert empty.execute("select count(*) from results.content_assignments").fetchone()[0] == 0


def test_asset_materializes(tmp_path):
    """(Its place in the graph, after the sends mart and before the digest: tests/orchestration/test_layout.py.)"""
    import dagster as dg

    from orchestration.defs.personalization.definitions import CONTENT_LIFT_KEY, build_definitions
    from orchestration.resources import WarehouseResource

    path = str(tmp_path / "warehouse.duckdb")
    con = duckdb.connect(path)
    world = content_world(contacts=400, campaigns=2, lift={"personalized": 0.3})
    write_content_world(con, *simulate_content(world, seed=4), newest=NEWEST)
    con.close()
    assets = [asset for asset in build_definitions([]).assets if CONTENT_LIFT_KEY in asset.keys]
    result = dg.materialize(assets, resources={"warehouse": WarehouseResource(path=path)})
    assert result.success
    (materialization,) = result.get_asset_materialization_events()
    metadata = materialization.materialization.metadata
    assert metadata["rows"].value == 4 and "preview" in metadata
    assert "personalized vs control click rate" in metadata["headline"].value
