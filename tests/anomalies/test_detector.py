from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decision_engine.anomalies import detect

VERDICT = ["expected", "lower", "upper", "z", "score", "is_anomaly", "severity", "direction"]


def daily(values, start="2024-01-01", series_id="s", **extra) -> pd.DataFrame:
    ts = pd.date_range(start, periods=len(values), freq="D")
    return pd.DataFrame({"series_id": series_id, "timestamp": ts, "value": values, **extra})


def weekly_pattern(n: int, seed: int = 0, level: float = 1000.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dow = pd.date_range("2024-01-01", periods=n, freq="D").day_of_week.to_numpy()
    return level * np.array([1, 1.1, 1.05, 1, 0.9, 0.55, 0.45])[dow] + rng.normal(0, 0.03 * level, n)


def test_spike_and_drop_with_weekly_seasonality() -> None:
    values = weekly_pattern(120)
    values[100] *= 0.3
    values[110] *= 2.5
    out = detect(daily(values, metric="revenue"))
    flagged = out[out["is_anomaly"]]
    assert list(flagged.index) == [100, 110]
    assert list(flagged["direction"]) == ["drop", "spike"]
    assert set(flagged["severity"]) == {"critical"}
    # weekends are expected lower, not flagged
    weekend = out["timestamp"].dt.day_of_week >= 5
    assert not out.loc[weekend & (out.index != 110), "is_anomaly"].any()
    assert out["score"].between(0, 1).all()


def test_past_anomalies_do_not_drag_the_baseline() -> None:
    values = weekly_pattern(120)
    values[80:84] = 0.0  # an outage
    values[100] *= 0.4
    out = detect(daily(values, metric="revenue"))
    assert out.loc[100, "is_anomaly"]
    assert abs(out.loc[90, "expected"] - values[90]) < 0.15 * values[90]


def test_small_denominators_are_not_alarms() -> None:
    rng = np.random.default_rng(3)
    n = np.full(80, 2000.0)
    opens = rng.binomial(2000, 0.4, 80).astype(float)
    n[70], opens[70] = 10, 2  # 2 of 10 against 40 %
    n[75], opens[75] = 2000, 200  # 10 % of 2000 against 40 %
    out = detect(daily(opens / n, metric="open_rate", denominator=n))
    assert not out.loc[70, "is_anomaly"]
    assert out.loc[75, "severity"] == "critical"


def test_rare_event_rates_do_not_storm() -> None:
    rng = np.random.default_rng(4)
    n = rng.poisson(400, 150).astype(float)
    unsubs = rng.binomial(n.astype(int), 0.002)
    out = detect(daily(unsubs / n, metric="unsubscribe_rate", denominator=n))
    assert out["severity"].isin(["warning", "critical"]).sum() == 0


def test_minimum_history_before_alerting() -> None:
    values = weekly_pattern(30)
    values[5] = 0.0
    out = detect(daily(values, metric="revenue"))
    assert not out.loc[:13, "is_anomaly"].any()
    assert out.loc[14:, "history_points"].min() >= 14


@pytest.mark.parametrize(
    "case", ["gaps", "duplicates", "constant", "short", "nans", "starts_at_zero", "single"]
)
def test_messy_input_does_not_crash_or_storm(case: str) -> None:
    values = weekly_pattern(120, seed=7)
    frame = daily(values, metric="revenue")
    if case == "gaps":
        frame = frame.drop(index=list(range(30, 45)) + [60, 61, 90])
    elif case == "duplicates":
        frame = pd.concat([frame, frame.iloc[50:60]]).reset_index(drop=True)
    elif case == "constant":
        frame["value"] = 5.0
    elif case == "short":
        frame = frame.head(5)
    elif case == "nans":
        frame.loc[frame.sample(frac=0.2, random_state=1).index, "value"] = np.nan
        frame.loc[3, "value"] = np.inf
    elif case == "starts_at_zero":
        frame.loc[:39, "value"] = 0.0
    elif case == "single":
        frame = frame.head(1)
    out = detect(frame)
    assert len(out) == len(frame) and list(out.index) == list(frame.index)
    assert out["severity"].isin(["warning", "critical"]).sum() == 0
    assert out["score"].between(0, 1).all()


def test_duplicate_rows_are_each_judged() -> None:
    frame = daily(weekly_pattern(60), metric="revenue")
    extra = frame.iloc[[50]].assign(value=0.0)
    out = detect(pd.concat([frame, extra], ignore_index=True))
    assert out.loc[60, "is_anomaly"] and not out.loc[50, "is_anomaly"]
    assert out.loc[60, "expected"] == pytest.approx(out.loc[50, "expected"])


def test_hourly_series_across_dst_changes() -> None:
    rng = np.random.default_rng(5)
    ts = pd.date_range("2024-02-01", "2024-04-30", freq="h", tz="America/New_York")
    hour = ts.hour.to_numpy()
    values = 100 + 60 * np.sin(2 * np.pi * hour / 24) + rng.normal(0, 5, len(ts))
    frame = pd.DataFrame({"series_id": "h", "timestamp": ts, "value": values, "metric": "events"})
    frame.loc[2000, "value"] = 0.0
    naive = frame.assign(timestamp=ts.tz_localize(None))  # local wall clock: a gap and a duplicate hour
    for data in (frame, naive):
        out = detect(data)
        assert out["severity"].isin(["warning", "critical"]).sum() <= 3
        assert out.loc[2000, "is_anomaly"]


def test_zero_events_from_a_source_is_critical() -> None:
    values = weekly_pattern(60, level=500).round()
    values[55] = 0
    out = detect(daily(values, metric="events"))
    assert out.loc[55, "severity"] == "critical" and out.loc[55, "direction"] == "drop"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), cut=st.integers(1, 89), with_rate=st.booleans())
def test_online_verdicts_do_not_change_when_future_points_arrive(
    seed: int, cut: int, with_rate: bool
) -> None:
    rng = np.random.default_rng(seed)
    values = weekly_pattern(90, seed=seed)
    values[rng.integers(0, 90, 5)] *= rng.uniform(0, 3, 5)
    frame = daily(values, metric="revenue")
    if with_rate:
        n = rng.integers(5, 3000, 90).astype(float)
        frame = daily(rng.binomial(n.astype(int), 0.3) / n, metric="open_rate", denominator=n)
    full = detect(frame)
    prefix = detect(frame.head(cut))
    pd.testing.assert_frame_equal(full.head(cut)[VERDICT], prefix[VERDICT])


def test_many_series_match_one_at_a_time() -> None:
    frames = [daily(weekly_pattern(70, seed=s), series_id=f"s{s}", metric="revenue") for s in range(4)]
    together = detect(pd.concat(frames, ignore_index=True))
    alone = pd.concat([detect(f) for f in frames], ignore_index=True)
    pd.testing.assert_frame_equal(together[VERDICT], alone[VERDICT])
