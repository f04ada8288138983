"""Send time per contact: the shrinkage against an independent computation, and recovery of the
planted preferred hour on a synthetic marts-shaped warehouse (benchmarks/send_time_synthetic.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import numpy as np
import pytest
from scipy.stats import betabinom

from benchmarks.send_time_synthetic import SyntheticSpec, create_synthetic_sends
from core.results_schema import column_names
from decision_engine.personalization.hourly_engagement import load_hourly_engagement
from decision_engine.personalization.send_time import (
    SendTimeSettings,
    build_profiles,
    held_out_lift,
    run_send_time,
)
from decision_engine.personalization.shrinkage import beta_posterior, fit_prior_strength


def test_prior_strength_matches_a_grid_search_over_scipy_betabinom():
    g = np.random.default_rng(3)
    mu = g.uniform(0.1, 0.4, 4000)
    true_strength = 20.0
    rates = g.beta(true_strength * mu, true_strength * (1 - mu))
    trials = g.integers(1, 30, 4000)
    successes = g.binomial(trials, rates)
    fitted = fit_prior_strength(successes, trials, mu)
    grid = np.exp(np.linspace(np.log(2), np.log(200), 400))
    loglik = [betabinom.logpmf(successes, trials, s * mu, s * (1 - mu)).sum() for s in grid]
    best = grid[int(np.argmax(loglik))]
    assert fitted == pytest.approx(best, rel=0.02)
    assert 12 < fitted < 35  # and near the strength that generated the data


def test_posterior_is_the_conjugate_beta():
    post = beta_posterior(np.array([3.0, 0.0]), np.array([10.0, 0.0]), np.array([0.2, 0.2]), 5.0)
    a, b = 3 + 1.0, 7 + 4.0
    assert post.mean[0] == pytest.approx(a / (a + b))
    assert post.sd[0] == pytest.approx(np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1))))
    assert post.mean[1] == pytest.approx(0.2)  # no data: the prior mean


def test_folds_split_the_sends_without_losing_or_repeating_any(tmp_path):
    """``fold=(k, 2)``: the two halves of the sends (benchmarks/send_time_prediction.py holds one
    out) add up to the whole, contact by contact and hour by hour, and neither is empty."""
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    create_synthetic_sends(con, SyntheticSpec(contacts=400, days=60, seed=5))
    at, settings = datetime(2026, 6, 1), SendTimeSettings()
    whole = load_hourly_engagement(con, at, settings)
    halves = [load_hourly_engagement(con, at, settings, fold=(k, 2)) for k in (0, 1)]
    sends = np.zeros(len(whole.contact_id), dtype=np.int64)
    engagements = np.zeros_like(sends)
    position = {c: i for i, c in enumerate(whole.contact_id)}
    for half in halves:
        rows = np.array([position[c] for c in half.contact_id])
        sends[rows] += half.n_sends
        engagements[rows] += half.n_engaged
        assert 0.35 < half.n_sends.sum() / whole.n_sends.sum() < 0.65
    assert (sends == whole.n_sends).all()
    assert (engagements == whole.n_engaged).all()


@pytest.mark.parametrize("seed", [11, 12])
def test_held_out_prediction_covers_the_true_lift_the_scores_overstate(seed):
    """The lift the chosen hours bring over the account's best hour, by the synthetic world's own
    open-rate curve: the scores at the chosen hours overstate it (each is the best of 24 noisy
    estimates), the held-out prediction's 90% interval covers it. Measured on seeds 11-13: truth
    +8.9 to +11.8 %, scores +34 to +39 %, held-out +5.6 to +8.3 % with the truth inside each interval."""
    con = duckdb.connect()
    create_synthetic_sends(con, SyntheticSpec(contacts=3000, days=120, seed=seed))
    at, settings = datetime(2026, 6, 1), SendTimeSettings()
    data = load_hourly_engagement(con, at, settings)
    profiles = build_profiles(data, settings)
    best, chosen, rows = (
        profiles.account_best_hour,
        profiles.chosen_local_hour,
        np.arange(len(data.contact_id)),
    )
    truth = (
        con.execute("select contact_id, pref_hour_late, open_base from truth.contacts")
        .df()
        .set_index("contact_id")
        .loc[list(data.contact_id)]
    )
    distance = np.abs(np.arange(24)[None, :] - truth.pref_hour_late.to_numpy()[:, None]) % 24
    distance = np.minimum(distance, 24 - distance)
    rate = truth.open_base.to_numpy()[:, None] * (0.6 + 0.8 * np.exp(-(distance**2) / 8))
    true_lift = rate[rows, chosen].sum() / rate[:, best].sum() - 1
    in_sample = profiles.scores[rows, chosen].sum() / profiles.scores[:, best].sum() - 1
    predicted = held_out_lift(con, at, settings, best)
    assert predicted is not None
    assert in_sample > true_lift + 0.15
    assert predicted.low < true_lift < predicted.high
    assert abs(predicted.lift - true_lift) < 0.06 and predicted.low < predicted.lift < predicted.high


def test_recovers_planted_hours_on_a_synthetic_warehouse(tmp_path):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    create_synthetic_sends(con, SyntheticSpec(contacts=3000, days=120, seed=11))
    run = run_send_time(con, SendTimeSettings(), datetime(2026, 6, 1, tzinfo=UTC))
    assert run.rows == 3000
    frame = con.execute(
        "select p.*, t.pref_hour_late, t.pref_hour from results.send_time_profiles p "
        "join truth.contacts t using (contact_id)"
    ).df()
    assert list(con.execute("select * from results.send_time_profiles limit 0").df().columns) == column_names(
        "send_time_profiles"
    )
    d = np.abs(frame.chosen_local_hour - frame.pref_hour_late) % 24
    within = np.minimum(d, 24 - d) <= 2
    engaged = frame.n_opens >= 10
    account = np.abs(run.params["account_best_hour"] - frame.pref_hour_late) % 24
    account_within = np.minimum(account, 24 - account) <= 2
    # measured 0.44 on seeds 11-13 (everyone at the account's hour: 0.24-0.29)
    assert within[engaged].mean() >= 0.4
    assert within[engaged].mean() > account_within[engaged].mean() + 0.1
    assert set(frame.source) <= {"contact", "segment", "account"}
    # the run's held-out prediction, the same on every row
    assert frame.predicted_lift.nunique() == 1 and (frame.predicted_lift_low < frame.predicted_lift).all()
    assert run.params["predicted_lift"][0] == pytest.approx(frame.predicted_lift.iloc[0], abs=1e-4)
    assert (frame.hourly_scores.map(len) == 24).all()
    # a re-run for the same analysis date replaces its rows
    run_send_time(con, SendTimeSettings(), datetime(2026, 6, 1, tzinfo=UTC))
    assert con.execute("select count(*) from results.send_time_profiles").fetchone()[0] == 3000


def test_asset_materializes_on_the_synthetic_warehouse(tmp_path):
    import dagster as dg

    from orchestration.defs.personalization.definitions import SEND_TIME_PROFILES_KEY, build_definitions
    from orchestration.resources import WarehouseResource

    path = str(tmp_path / "warehouse.duckdb")
    con = duckdb.connect(path)
    create_synthetic_sends(con, SyntheticSpec(contacts=300, days=60, seed=5))
    con.close()
    defs = build_definitions([])
    assets = [asset for asset in defs.assets if SEND_TIME_PROFILES_KEY in asset.keys]
    result = dg.materialize(assets, resources={"warehouse": WarehouseResource(path=path)})
    assert result.success
    (materialization,) = result.get_asset_materialization_events()
    metadata = materialization.materialization.metadata
    assert metadata["rows"].value == 300
    assert "preview" in metadata


def test_machine_opens_do_not_move_the_profiles(tmp_path):
    """Apple MPP opens (machine-only) at other hours must not change any score or chosen hour."""
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    create_synthetic_sends(con, SyntheticSpec(contacts=400, days=60, seed=3))
    at = datetime(2026, 6, 1, tzinfo=UTC)
    run_send_time(con, SendTimeSettings(), at)
    before = con.execute(
        "select * exclude (analysis_timestamp) from results.send_time_profiles order by 1, 2"
    ).df()
    con.execute(
        "update marts.fct_email_sends set is_machine_open_only = not is_human_opened and is_delivered"
    )
    run_send_time(con, SendTimeSettings(), at)
    after = con.execute(
        "select * exclude (analysis_timestamp) from results.send_time_profiles order by 1, 2"
    ).df()
    # DuckDB sums in parallel, so floats may differ in the last bits between runs
    for column in (
        "contact_id",
        "chosen_local_hour",
        "source",
        "timing_segment",
        "n_sends",
        "n_opens",
        "n_clicks",
    ):
        assert before[column].equals(after[column]), column
    np.testing.assert_allclose(np.stack(before.hourly_scores), np.stack(after.hourly_scores), atol=1e-4)
    np.testing.assert_allclose(before.chosen_score, after.chosen_score, atol=1e-4)
