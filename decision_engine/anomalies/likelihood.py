"""Anomaly likelihood for one long series: is the recent surprise unusual for this series?

Each observation gets a *surprise*: how extreme its value is among the series' last
``history`` observations (-log10 of its two-sided rank tail), which needs no assumption about
the series' frequency, seasonality or noise shape. The surprise averaged over the last 1, 5 and
20 observations is then compared with the surprise's own mean and spread over the last
``likelihood_window`` observations (the idea of Numenta's anomaly likelihood): a burst, a new
level or a run of odd values scores high, a series that is always noisy does not. The same is
done for the series' *level* (its mean over the last ``level_rows`` observations, ranked among
its own history), which must reach the higher ``level_threshold``: on a near-constant or
discrete-valued series a move of the level shows although no single value is extreme. An alert is
raised when that standardised score reaches ``threshold``; after an alert the series stays quiet
for ``quiet_rows`` observations, so one event is one alert, or re-arms sooner (after
``min_quiet_rows``) once the score has stayed below ``calm_level`` times the threshold for
``calm_rows`` observations: the event is over and a new one may follow.

With timestamps, an alert is withheld when the same time of day (within
``recurrence_minutes``) scored at least ``recurrence_level`` on each of the previous
``recurrence_days`` days: a spike that comes back every day (a nightly batch job) is the series'
routine, not an incident. The test needs no assumption about the series' frequency and leaves a
series without such a recurrence untouched.

Everything at row ``t`` uses only rows up to ``t`` in time order. Tuned on the real-world
categories of the Numenta Anomaly Benchmark (``benchmarks/anomalies_nab.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

NS_PER_MINUTE = 60 * 10**9
NS_PER_DAY = 24 * 60 * NS_PER_MINUTE


@dataclass(frozen=True)
class LikelihoodConfig:
    history: int = 5000  # observations a value is ranked against
    likelihood_window: int = 12000  # observations the surprise's own mean and spread come from
    horizons: tuple[int, ...] = (1, 5, 20)  # recent windows whose mean surprise is judged
    threshold: float = 5.5  # standardised mean surprise that raises an alert
    critical: float = 11.0  # ... that makes the alert critical
    quiet_rows: int = 200  # observations without a new alert after one
    min_quiet_rows: int = 150  # ... unless the event is over (calm) and at least this many have passed
    calm_rows: int = 100  # observations in a row below calm_level * threshold that end an event
    calm_level: float = 0.5
    recurrence_days: int = 3  # previous days whose same time of day is checked; 0: no check
    recurrence_minutes: float = 60.0  # half-width of "the same time of day"
    recurrence_level: float = 3.0  # standardised score that counts as the routine having come back
    level_rows: int = 20  # observations averaged into the level whose surprise is also judged
    level_threshold: float = 9.0  # standardised mean surprise of the level that raises an alert
    young_repeat_rows: int = 30  # a young series' alert this soon after another is the same event
    min_rows: int = 500  # before this many observations the series is too young to judge this way
    surprise_cap: float = 20.0


@dataclass(frozen=True)
class Likelihood:
    """Per observation (in the order given): the standardised surprise and whether it alerts."""

    z: np.ndarray
    alert: np.ndarray


def surprise(values: np.ndarray, history: int) -> np.ndarray:
    """-log10 of the two-sided rank tail of each value among the previous ``history`` values."""
    series = pd.Series(values, dtype=float)
    rank = series.rolling(history + 1, min_periods=2).rank(pct=True).to_numpy()  # includes itself
    seen = np.minimum(np.arange(len(series)) + 1, history + 1)
    rank = np.nan_to_num(rank, nan=0.5)
    tail = np.minimum(rank - 0.5 / seen, 1.0 - rank + 0.5 / seen)
    return -np.log10(np.maximum(tail, 1e-6))


def _standardised(scores: np.ndarray, config: LikelihoodConfig) -> np.ndarray:
    """Per observation: the largest standardised mean of ``scores`` over ``config.horizons``."""
    scores = pd.Series(np.minimum(scores, config.surprise_cap))
    mean = scores.rolling(config.likelihood_window, min_periods=50).mean()
    spread = scores.rolling(config.likelihood_window, min_periods=50).std()
    z = np.zeros(len(scores))
    for horizon in config.horizons:
        recent = scores.rolling(horizon, min_periods=1).mean()
        # Judged against the surprise before the recent window; longer windows earn a little
        # credit for averaging (horizon ** 0.25, between none and the independent-noise root).
        standardised = (recent - mean.shift(horizon)) / (spread.shift(horizon) + 1e-9) * horizon**0.25
        z = np.maximum(z, np.nan_to_num(standardised.to_numpy()))
    return z


def standardised_surprise(values: np.ndarray, config: LikelihoodConfig) -> np.ndarray:
    """Per observation: the standardised mean surprise of the values or, on the scale of
    ``threshold``, of the level, whichever is larger (every row, the young ones included)."""
    values = np.asarray(values, dtype=float)
    level = pd.Series(values).rolling(config.level_rows, min_periods=1).mean().to_numpy()
    value_z = _standardised(surprise(values, config.history), config)
    level_z = _standardised(surprise(level, config.history), config)
    return np.maximum(value_z, level_z * config.threshold / config.level_threshold)


def first_of_each_burst(alert: np.ndarray, repeat_rows: int) -> np.ndarray:
    """``alert`` (in time order) keeping only alerts more than ``repeat_rows`` rows after the last
    kept one: a run of alerts close together is one event."""
    kept = np.zeros(len(alert), dtype=bool)
    last = -repeat_rows - 1
    for row in np.flatnonzero(alert):
        if row - last > repeat_rows:
            kept[row], last = True, row
    return kept


def recurs_daily(z: np.ndarray, timestamps: np.ndarray, row: int, config: LikelihoodConfig) -> bool:
    """Whether the same time of day scored ``recurrence_level`` on each of the previous
    ``recurrence_days`` days (rows before ``row`` only; ``timestamps`` in ns, ascending)."""
    if config.recurrence_days <= 0:
        return False
    half_width = int(config.recurrence_minutes * NS_PER_MINUTE)
    for day in range(1, config.recurrence_days + 1):
        centre = timestamps[row] - day * NS_PER_DAY
        first = np.searchsorted(timestamps, centre - half_width, "left")
        last = np.searchsorted(timestamps, centre + half_width, "right")
        if last <= first or z[first:last].max() < config.recurrence_level:
            return False
    return True


def likelihood(
    values: np.ndarray, config: LikelihoodConfig | None = None, timestamps: np.ndarray | None = None
) -> Likelihood:
    """Alerts for observations ``values`` in time order (no missing values); ``timestamps`` (ns since
    the epoch, ascending) enable the daily-recurrence check."""
    config = config or LikelihoodConfig()
    rows = len(values)
    if rows == 0:
        return Likelihood(np.zeros(0), np.zeros(0, dtype=bool))
    history = standardised_surprise(values, config)  # young rows too: they show what recurs
    z = history.copy()
    z[: config.min_rows] = 0.0
    stamps = None if timestamps is None else np.asarray(timestamps).astype("datetime64[ns]").view("int64")
    alert = np.zeros(rows, dtype=bool)
    last, calm, armed = -config.quiet_rows - 1, 0, True
    for row in range(rows):
        if not armed:
            calm = calm + 1 if z[row] < config.calm_level * config.threshold else 0
            since = row - last
            armed = since > config.quiet_rows or (since > config.min_quiet_rows and calm >= config.calm_rows)
        if not armed or z[row] < config.threshold:
            continue
        if stamps is not None and recurs_daily(history, stamps, row, config):
            continue
        alert[row], last, calm, armed = True, row, 0, False
    return Likelihood(z, alert)
