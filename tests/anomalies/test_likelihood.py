"""Anomaly likelihood on simulated long series: a change alerts once, soon; steady noise rarely alerts."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from decision_engine.anomalies.likelihood import LikelihoodConfig, first_of_each_burst, likelihood


def test_a_level_shift_alerts_soon_and_once() -> None:
    rng = np.random.default_rng(7)
    values = rng.normal(50, 3, 4000)
    values[3000:] += 25
    judged = likelihood(values)
    alerts = np.flatnonzero(judged.alert)
    assert 3000 <= alerts[alerts >= 2900][0] <= 3005
    assert ((alerts >= 3000) & (alerts < 3000 + LikelihoodConfig().quiet_rows)).sum() == 1


def test_steady_noise_rarely_alerts_and_young_series_never() -> None:
    rng = np.random.default_rng(8)
    values = rng.gamma(2.0, 10.0, 6000)
    judged = likelihood(values)
    # about one alert per 1,400 observations of pure noise: NAB's cost of a false alert is a ninth of a miss
    assert judged.alert.sum() <= 6
    assert not judged.alert[: LikelihoodConfig().min_rows].any()


def test_only_the_past_is_used() -> None:
    rng = np.random.default_rng(9)
    values = rng.normal(0, 1, 3000)
    changed = values.copy()
    changed[2500:] = 100.0
    assert np.array_equal(likelihood(values).z[:2500], likelihood(changed).z[:2500])


def _five_minute_stamps(rows: int) -> np.ndarray:
    return np.datetime64("2024-01-01T00:00", "ns") + np.arange(rows) * np.timedelta64(5, "m")


def test_a_spike_at_the_same_time_every_day_stops_alerting_but_one_at_another_time_does_not() -> None:
    rng = np.random.default_rng(10)
    rows_per_day = 288
    values = rng.normal(10, 1, rows_per_day * 14)
    nightly = np.arange(3 * 12, len(values), rows_per_day)  # 03:00 every day
    values[nightly] += 30
    values[rows_per_day * 12 + 17 * 12] += 60  # 17:00 on day 12, and larger: not the routine
    stamps = _five_minute_stamps(len(values))
    without = likelihood(values)
    judged = likelihood(values, timestamps=stamps)
    nightly_alerts = np.isin(
        np.flatnonzero(judged.alert), nightly[4:]
    )  # from the 4th day the routine is known
    assert without.alert[nightly[4:]].sum() > nightly_alerts.sum()
    assert nightly_alerts.sum() == 0
    assert judged.alert[rows_per_day * 12 + 17 * 12]


def test_a_new_event_after_a_calm_spell_alerts_within_the_quiet_period() -> None:
    rng = np.random.default_rng(11)
    values = rng.normal(50, 3, 3000)
    values[2000:2003] += 40
    values[2170:2173] += 60  # a second, larger event 170 rows later, after a calm spell
    judged = likelihood(values)
    config = LikelihoodConfig()
    assert config.min_quiet_rows < 170 < config.quiet_rows
    assert judged.alert[2000:2005].any() and judged.alert[2170:2175].any()


def test_a_level_change_on_a_discrete_series_alerts_though_no_single_value_is_extreme() -> None:
    rng = np.random.default_rng(12)
    values = rng.choice([1.0, 2.0, 3.0], size=4000, p=[0.3, 0.4, 0.3])
    values[3000:3200] = rng.choice([2.0, 3.0], size=200, p=[0.3, 0.7])  # only common values
    values_only = likelihood(values, replace(LikelihoodConfig(), level_threshold=np.inf))
    judged = likelihood(values)
    assert not values_only.alert[2900:].any()
    assert judged.alert[3000:3050].sum() == 1
    assert not judged.alert[:3000].any()


def test_a_burst_of_alerts_keeps_its_first() -> None:
    alert = np.zeros(200, dtype=bool)
    alert[[10, 11, 15, 40, 41, 120]] = True
    kept = first_of_each_burst(alert, 30)
    assert np.flatnonzero(kept).tolist() == [10, 41, 120]
