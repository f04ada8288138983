"""Anomaly likelihood on simulated long series: a change alerts once, soon; steady noise rarely alerts."""

from __future__ import annotations

import numpy as np

from decision_engine.anomalies.likelihood import LikelihoodConfig, likelihood


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
