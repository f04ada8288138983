"""Online robust seasonal baselines on a matrix of regular series (one row per series).

Every statistic at column ``t`` uses columns strictly before ``t`` (the observation at ``t``
only enters its own residual), so a verdict never changes when later points arrive.

Model, per period ``t``:

- level ``L[t]``: median of the previous ``level_window`` observations;
- seasonal offset ``S[t]``: median of ``x - L`` at the same phase over the previous
  ``seasonal_cycles`` cycles (day of week for daily data, hour of week for hourly);
- expected ``E[t] = L[t] + S[t]``;
- scale: robust spread of past residuals ``x - E`` (MAD, and the 90th percentile of
  ``|x - E|`` as a guard for skewed series), split into a part that does not depend on the
  denominator and a sampling part that does (binomial for rates), so a 2-of-10 open rate
  is judged with 10 trials' worth of uncertainty.

Medians and MADs tolerate up to half the window being anomalous, so past incidents do not
drag the baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAD_TO_SD = 1.4826
# Over-dispersion of pooled rates: the mean of past squared Pearson residuals without the top
# tenth (past incidents), over that trimmed mean for a chi-square(1) variable. A MAD of small
# binomial counts overstates it (1.35 at 7 of 100) because the counts are discrete; this does not.
TRIM_KEEP = 0.9
TRIMMED_CHI2_MEAN = 0.6230
Q90_TO_SD = 1.0 / 1.6449
_ELEMENT_BUDGET = 12_000_000  # floats per temporary lag stack, bounds memory per chunk


@dataclass(frozen=True)
class BaselineParams:
    period: int  # 7 for daily, 168 for hourly, 1 without seasonality
    level_window: int
    seasonal_cycles: int
    scale_window: int
    relative_floor: float


@dataclass
class Baseline:
    expected: np.ndarray
    fixed_var: np.ndarray  # variance that does not depend on the denominator
    unit_var: np.ndarray  # variance x denominator (sampling noise); 0 without denominators
    floor: np.ndarray  # lower bound on the standard deviation
    history: np.ndarray  # valid observations strictly before t (since the series started)
    age: np.ndarray  # periods strictly before t since the series started (observed or not)
    dispersion: np.ndarray  # rates: robust variance of past Pearson residuals (>= 1; 1 otherwise)


def _lag_stack(values: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """``out[i, t, k] = values[i, t - lags[k]]`` (NaN before the start)."""
    n, length = values.shape
    out = np.full((n, length, len(lags)), np.nan)
    for k, lag in enumerate(lags):
        if lag < length:
            out[:, lag:, k] = values[:, : length - lag]
    return out


def lagged_quantiles(
    values: np.ndarray, lags: np.ndarray, quantiles: tuple[float, ...]
) -> tuple[list[np.ndarray], np.ndarray]:
    """NaN-ignoring lower-median-style quantiles over ``values[t - lag]`` for each lag."""
    stack = _lag_stack(values, lags)
    stack.sort(axis=-1)  # NaN sorts last
    count = np.sum(~np.isnan(stack), axis=-1)
    results = []
    for q in quantiles:
        position = np.maximum(count - 1, 0) * q
        low = np.floor(position).astype(np.int64)
        high = np.ceil(position).astype(np.int64)
        low_value = np.take_along_axis(stack, low[..., None], axis=-1)[..., 0]
        high_value = np.take_along_axis(stack, high[..., None], axis=-1)[..., 0]
        result = low_value + (high_value - low_value) * (position - low)
        result[count == 0] = np.nan
        results.append(result)
    return results, count


def lagged_trimmed_mean(values: np.ndarray, lags: np.ndarray, keep: float) -> np.ndarray:
    """NaN-ignoring mean of the smallest ``keep`` share of ``values[t - lag]``."""
    stack = _lag_stack(values, lags)
    stack.sort(axis=-1)  # NaN sorts last
    count = np.sum(~np.isnan(stack), axis=-1)
    kept = np.maximum(np.floor(count * keep).astype(np.int64), 1)
    cumulative = np.cumsum(np.nan_to_num(stack), axis=-1)
    total = np.take_along_axis(cumulative, (kept - 1)[..., None], axis=-1)[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / kept, np.nan)


def _rows_per_chunk(length: int, window: int) -> int:
    return max(1, _ELEMENT_BUDGET // max(1, length * window))


def compute_baseline(
    values: np.ndarray,
    denominators: np.ndarray | None,
    kinds: np.ndarray,
    params: BaselineParams,
    pooled: np.ndarray | None = None,
) -> Baseline:
    """Baselines for a matrix of series; ``kinds`` holds one metric kind per row and ``pooled``
    (default: none) marks pooled rates (see :func:`_baseline_chunk`)."""
    pooled = np.zeros(len(kinds), dtype=bool) if pooled is None else np.asarray(pooled, dtype=bool)
    n, length = values.shape
    window = max(params.level_window, params.scale_window, params.seasonal_cycles)
    step = _rows_per_chunk(length, window)
    parts = [
        _baseline_chunk(
            values[start : start + step],
            None if denominators is None else denominators[start : start + step],
            kinds[start : start + step],
            params,
            pooled[start : start + step],
        )
        for start in range(0, n, step)
    ]
    if len(parts) == 1:
        return parts[0]
    return Baseline(*(np.concatenate([getattr(p, f) for p in parts]) for f in Baseline.__dataclass_fields__))


def _baseline_chunk(
    raw: np.ndarray,
    denominators: np.ndarray | None,
    kinds: np.ndarray,
    params: BaselineParams,
    pooled: np.ndarray,
) -> Baseline:
    """Rows marked ``pooled`` are rates pooled over a whole channel (orders per email click):
    their level is the ratio of sums over the level window (the binomial estimate; a median of
    daily rates at a few dozen trials a day sits below it), without a calendar pattern."""
    finite = ~np.isnan(raw)
    # A series that starts at zero has not started yet: leading zeros are not history.
    started = np.maximum.accumulate(finite & (raw != 0), axis=1)
    values = np.where(started, raw, np.nan)
    valid = ~np.isnan(values)
    history = np.cumsum(valid, axis=1) - valid
    age = np.cumsum(started, axis=1) - started

    level_lags = np.arange(1, params.level_window + 1)
    (level,), _ = lagged_quantiles(values, level_lags, (0.5,))
    if params.period > 1:
        deviation = values - level
        seasonal_lags = params.period * np.arange(1, params.seasonal_cycles + 1)
        (low, seasonal, high), seasonal_count = lagged_quantiles(deviation, seasonal_lags, (0.0, 0.5, 1.0))
        # A median of two cycles is their mean: one bad day (a quarantined row read as zero)
        # would shift that weekday's expectation for weeks. With two cycles, take the offset
        # both agree on (the one nearer zero; none if they disagree in sign).
        agreed = np.where(low * high > 0, np.where(np.abs(low) < np.abs(high), low, high), 0.0)
        seasonal = np.where(seasonal_count >= 3, seasonal, np.where(seasonal_count == 2, agreed, 0.0))
        seasonal = np.where(pooled[:, None], 0.0, seasonal)
    else:
        seasonal = np.zeros_like(values)
    if denominators is not None and pooled.any():
        trials = np.where(valid & (denominators > 0), denominators, 0.0)
        events = np.where(trials > 0, values * trials, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = _trailing_sum(events, params.level_window) / _trailing_sum(trials, params.level_window)
        level = np.where(pooled[:, None], ratio, level)
    expected = level + seasonal

    is_rate = (kinds == "rate")[:, None]
    nonnegative = np.isin(kinds, ("rate", "ratio", "count", "amount"))[:, None]
    expected = np.where(nonnegative, np.maximum(expected, 0.0), expected)
    expected = np.where(is_rate, np.minimum(expected, 1.0), expected)

    residual = values - expected
    scale_lags = np.arange(1, params.scale_window + 1)
    (mad, q90, largest), _ = lagged_quantiles(np.abs(residual), scale_lags, (0.5, 0.9, 1.0))
    spread = np.fmax(MAD_TO_SD * mad, Q90_TO_SD * q90)

    # Sparse series (mostly zeros, e.g. revenue from a few deals a month): a value must beat
    # the largest recent swing before it counts, or every sale would be "a spike".
    zero = np.where(valid, values == 0, False).astype(float)
    zero_share = _trailing_mean(zero, valid, params.scale_window)
    sparse_floor = np.where(zero_share >= 0.5, largest / 3.0, 0.0)

    fixed_var = spread**2
    unit_var = np.zeros_like(values)
    dispersion = np.ones_like(values)
    if denominators is not None:
        denominator = np.where(valid & (denominators > 0), denominators, np.nan)
        sampling_var_rate = expected * (1.0 - expected)
        past_sampling = sampling_var_rate / denominator
        (typical_sampling,), _ = lagged_quantiles(past_sampling, scale_lags, (0.5,))
        rate_extra = np.maximum(spread**2 - np.nan_to_num(typical_sampling), 0.0)
        scaled = np.abs(residual) * np.sqrt(denominator)
        (scaled_mad, scaled_q90), _ = lagged_quantiles(scaled, scale_lags, (0.5, 0.9))
        ratio_unit = np.fmax(MAD_TO_SD * scaled_mad, Q90_TO_SD * scaled_q90) ** 2
        has_denominator = ~np.all(np.isnan(denominator), axis=1)[:, None]
        is_ratio = (kinds == "ratio")[:, None] & has_denominator
        rate_with_n = is_rate & has_denominator
        fixed_var = np.where(rate_with_n, rate_extra, np.where(is_ratio, 0.0, fixed_var))
        unit_var = np.where(rate_with_n, sampling_var_rate, np.where(is_ratio, ratio_unit, 0.0))
        pooled_rates = pooled & rate_with_n[:, 0]
        if pooled_rates.any():
            with np.errstate(invalid="ignore", divide="ignore"):
                pearson = (
                    residual[pooled_rates] ** 2 * denominator[pooled_rates] / sampling_var_rate[pooled_rates]
                )
            phi = lagged_trimmed_mean(pearson, scale_lags, TRIM_KEEP) / TRIMMED_CHI2_MEAN
            dispersion[pooled_rates] = np.where(np.isfinite(phi), np.fmax(phi, 1.0), 1.0)

    reference = np.fmax(np.abs(expected), np.abs(level))
    floor = np.fmax(params.relative_floor * reference, sparse_floor)
    is_count = (kinds == "count")[:, None]
    floor = np.where(is_count, np.fmax(floor, np.sqrt(np.fmax(expected, 1.0))), floor)
    floor = np.fmax(np.nan_to_num(floor), 1e-9)
    return Baseline(expected, fixed_var, unit_var, floor, history, age, dispersion)


def _trailing_sum(a: np.ndarray, window: int) -> np.ndarray:
    """Sum of ``a`` over the ``window`` periods before ``t`` (``t`` itself excluded)."""
    c = np.concatenate([np.zeros((a.shape[0], 1)), np.cumsum(a, axis=1)], axis=1)
    upper = c[:, :-1]
    lower_index = np.maximum(np.arange(a.shape[1]) - window, 0)
    return upper - c[:, lower_index]


def _trailing_mean(indicator: np.ndarray, valid: np.ndarray, window: int) -> np.ndarray:
    """Mean of ``indicator`` over valid points in the ``window`` periods before ``t``."""
    hits = _trailing_sum(indicator, window)
    total = _trailing_sum(valid.astype(float), window)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, hits / total, 0.0)
