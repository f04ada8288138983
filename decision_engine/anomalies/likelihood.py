"""Anomaly likelihood for one long series: is the recent surprise unusual for this series?

Each observation gets a *surprise*: how extreme its value is among the series' last
``history`` observations (-log10 of its two-sided rank tail), which needs no assumption about
the series' frequency, seasonality or noise shape. The surprise averaged over the last 1, 5 and
20 observations is then compared with the surprise's own mean and spread over the last
``likelihood_window`` observations (the idea of Numenta's anomaly likelihood): a burst, a new
level or a run of odd values scores high, a series that is always noisy does not. An alert is
raised when that standardised score reaches ``threshold``; after an alert the series stays quiet
for ``quiet_rows`` observations, so one event is one alert.

Everything at row ``t`` uses only rows up to ``t`` in time order. Tuned on the real-world
categories of the Numenta Anomaly Benchmark (``benchmarks/anomalies_nab.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class LikelihoodConfig:
    history: int = 5000  # observations a value is ranked against
    likelihood_window: int = 12000  # observations the surprise's own mean and spread come from
    horizons: tuple[int, ...] = (1, 5, 20)  # recent windows whose mean surprise is judged
    threshold: float = 5.5  # standardised mean surprise that raises an alert
    critical: float = 11.0  # ... that makes the alert critical
    quiet_rows: int = 200  # observations without a new alert after one
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


def likelihood(values: np.ndarray, config: LikelihoodConfig | None = None) -> Likelihood:
    """Alerts for observations ``values`` in time order (no missing values)."""
    config = config or LikelihoodConfig()
    rows = len(values)
    if rows == 0:
        return Likelihood(np.zeros(0), np.zeros(0, dtype=bool))
    scores = pd.Series(
        np.minimum(surprise(np.asarray(values, dtype=float), config.history), config.surprise_cap)
    )
    mean = scores.rolling(config.likelihood_window, min_periods=50).mean()
    spread = scores.rolling(config.likelihood_window, min_periods=50).std()
    z = np.zeros(rows)
    for horizon in config.horizons:
        recent = scores.rolling(horizon, min_periods=1).mean()
        # Judged against the surprise before the recent window; longer windows earn a little
        # credit for averaging (horizon ** 0.25, between none and the independent-noise root).
        standardised = (recent - mean.shift(horizon)) / (spread.shift(horizon) + 1e-9) * horizon**0.25
        z = np.maximum(z, np.nan_to_num(standardised.to_numpy()))
    z[: config.min_rows] = 0.0
    alert = np.zeros(rows, dtype=bool)
    last = -config.quiet_rows - 1
    for row in np.flatnonzero(z >= config.threshold):
        if row - last > config.quiet_rows:
            alert[row] = True
            last = row
    return Likelihood(z, alert)
