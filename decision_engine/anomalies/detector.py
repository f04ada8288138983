"""Online anomaly detection over many series at once.

:func:`detect` takes a long frame (one row per series and timestamp) and returns one verdict
per input row, in input order. Series are placed on a regular grid (daily or hourly,
inferred per series); gaps stay empty, duplicate timestamps are combined (mean value,
denominator-weighted for rates, denominators summed) and each duplicate row is judged
against the same baseline with its own value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from decision_engine.anomalies.baseline import BaselineParams, compute_baseline
from decision_engine.anomalies.metrics import KINDS, metric_kind, metric_spec

_HOUR_NS = 3_600_000_000_000
_DAY_NS = 24 * _HOUR_NS
_MAX_GRID = 400_000


@dataclass(frozen=True)
class Frequency:
    name: str
    step_ns: int
    period: int  # seasonal period in steps (1 = no seasonality)


DAILY = Frequency("daily", _DAY_NS, 7)
HOURLY = Frequency("hourly", _HOUR_NS, 168)


@dataclass(frozen=True)
class DetectorConfig:
    """Thresholds are in robust z units (residual / predictive standard deviation)."""

    z_info: float = 4.0
    z_warning: float = 5.0
    z_critical: float = 6.5
    min_relative_change_warning: float = 0.2
    min_relative_change_critical: float = 0.5
    min_denominator: float = 30.0
    relative_floor: float = 0.02
    seasonal_cycles: int = 6
    level_window: dict[str, int] = field(default_factory=lambda: {"daily": 28, "hourly": 168, "other": 28})
    scale_window: dict[str, int] = field(default_factory=lambda: {"daily": 56, "hourly": 336, "other": 56})
    # A series is judged once it has ``min_history`` observations, or once it is ``min_history``
    # periods old with at least ``min_points`` observations: a campaign stream that sends three
    # days a week is judged from its third week, not its fifth.
    min_history: dict[str, int] = field(default_factory=lambda: {"daily": 14, "hourly": 336, "other": 14})
    min_points: dict[str, int] = field(default_factory=lambda: {"daily": 8, "hourly": 336, "other": 8})

    def params(self, frequency: Frequency) -> BaselineParams:
        key = frequency.name if frequency.name in self.level_window else "other"
        return BaselineParams(
            period=frequency.period,
            level_window=self.level_window[key],
            seasonal_cycles=self.seasonal_cycles,
            scale_window=self.scale_window[key],
            relative_floor=self.relative_floor,
        )

    def history_needed(self, frequency: Frequency) -> int:
        return self.min_history.get(frequency.name, self.min_history["other"])

    def points_needed(self, frequency: Frequency) -> int:
        return min(
            self.min_points.get(frequency.name, self.min_points["other"]), self.history_needed(frequency)
        )

    def warmed_up(self, frequency: Frequency, points: np.ndarray, age: np.ndarray) -> np.ndarray:
        """Whether a series with ``points`` observations over ``age`` periods may be judged."""
        needed = self.history_needed(frequency)
        return (points >= needed) | ((age >= needed) & (points >= self.points_needed(frequency)))


def infer_frequency(step_ns: float) -> Frequency:
    """Daily for steps of 20-28 h (DST days are 23/25 h), hourly for 50-70 min, else generic."""
    if not np.isfinite(step_ns) or step_ns <= 0:
        return DAILY
    if 20 * _HOUR_NS <= step_ns <= 28 * _HOUR_NS:
        return DAILY
    if 50 * 60 * 10**9 <= step_ns <= 70 * 60 * 10**9:
        return HOURLY
    return Frequency("other", int(step_ns), 1)


def _timestamps_ns(timestamps: pd.Series) -> np.ndarray:
    parsed = pd.to_datetime(timestamps)
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed.astype("datetime64[ns]").to_numpy().astype("int64")


def detect(
    frame: pd.DataFrame,
    config: DetectorConfig | None = None,
    frequency: str | None = None,
) -> pd.DataFrame:
    """Verdicts for a long frame of series.

    Input columns: ``series_id``, ``timestamp``, ``value``; optional ``denominator``,
    ``metric`` (picks the noise model from the catalogue), ``kind`` (overrides it),
    ``maturity`` (counts still being reported: the share of the final count expected by now,
    in (0, 1]; such a row is judged against the expectation times its maturity, with the
    Poisson noise of that smaller count, and is no history for later rows; missing or 1 means
    final), and any others (``entity_type``, ``entity_id``, ``data_quality_failed``...) which
    are passed through. Output adds ``expected, lower, upper, z, score, is_anomaly, severity,
    direction, relative_change, history_points``; same index and order as the input.
    """
    config = config or DetectorConfig()
    for column in ("series_id", "timestamp", "value"):
        if column not in frame.columns:
            raise ValueError(f"missing column {column!r}")
    out = frame.copy()
    if out.empty:
        return _empty_verdicts(out)
    ns = _timestamps_ns(out["timestamp"])
    if np.any(ns == np.iinfo(np.int64).min):
        raise ValueError("timestamps must not be empty")
    values = pd.to_numeric(out["value"], errors="coerce").to_numpy(dtype=float, copy=True)
    values[~np.isfinite(values)] = np.nan
    has_denominator = "denominator" in out.columns
    denominators = (
        pd.to_numeric(out["denominator"], errors="coerce").to_numpy(dtype=float, copy=True)
        if has_denominator
        else None
    )
    codes, series_ids = pd.factorize(out["series_id"], use_na_sentinel=False)
    n_series = len(series_ids)
    kinds = _series_kinds(out, codes, n_series)
    maturity = _maturity(out, kinds[codes])
    history_values = np.where(maturity < 1.0, np.nan, values)  # a count still growing is no history
    pooled_alpha = _pooled_alpha(out)
    pooled = np.zeros(n_series, dtype=bool)
    pooled[codes[::-1]] = ~np.isnan(pooled_alpha[::-1])  # first row of each series wins

    freqs, positions, lengths = _grid(codes, ns, n_series, frequency)

    result = {name: np.full(len(out), np.nan) for name in ("expected", "sd", "history", "dispersion")}
    groups: dict[Frequency, list[int]] = {}
    for code, freq in enumerate(freqs):
        groups.setdefault(freq, []).append(code)
    for freq, members in groups.items():
        member_codes = np.array(sorted(members, key=lambda c: lengths[c]))
        for chunk in np.array_split(member_codes, max(1, len(member_codes) // 512)):
            _detect_chunk(
                chunk,
                freq,
                config,
                codes,
                positions,
                lengths,
                history_values,
                denominators,
                kinds,
                pooled,
                result,
            )

    return _verdicts(out, values, denominators, kinds[codes], result, config, pooled_alpha, maturity)


def series_grid(ns: np.ndarray, frequency: str | None = None) -> tuple[Frequency, np.ndarray]:
    """The grid :func:`detect` puts one series on: its frequency and each row's step number.

    ``ns`` are the rows' timestamps in nanoseconds (UTC). Rows with the same step number are
    combined by :func:`detect`; callers use this to find them first.
    """
    codes = np.zeros(len(ns), dtype=np.int64)
    freqs, positions, _ = _grid(codes, np.asarray(ns, dtype=np.int64), 1, frequency)
    return freqs[0], positions


def _grid(
    codes: np.ndarray, ns: np.ndarray, n_series: int, frequency: str | None
) -> tuple[list[Frequency], np.ndarray, np.ndarray]:
    """Per series its frequency (forced or inferred); per row its step on the series' grid; per series the grid length."""
    order = np.lexsort((ns, codes))
    sorted_codes, sorted_ns = codes[order], ns[order]
    diffs = np.diff(sorted_ns).astype(float)
    same = sorted_codes[1:] == sorted_codes[:-1]
    diffs = np.where(same & (diffs > 0), diffs, np.nan)
    by_series = pd.Series(diffs).groupby(sorted_codes[1:])
    steps = by_series.median().reindex(range(n_series)).to_numpy()
    # A daily series with gaps (campaign sends three days a week) has a median step of two
    # days; it is still a daily series if every step is a whole number of days.
    whole = pd.Series(np.isnan(diffs) | (np.nan_to_num(diffs) % _DAY_NS == 0))
    whole_days = whole.groupby(sorted_codes[1:]).all().reindex(range(n_series), fill_value=False).to_numpy()
    steps = np.where(whole_days & (steps > _DAY_NS), _DAY_NS, steps)
    forced = {"daily": DAILY, "hourly": HOURLY}.get(frequency or "")
    if frequency and not forced:
        raise ValueError(f"unknown frequency {frequency!r} (daily or hourly)")
    freqs = [forced or infer_frequency(step) for step in steps]
    start_ns = np.full(n_series, np.iinfo(np.int64).max)
    np.minimum.at(start_ns, codes, ns)
    step_of_row = np.array([f.step_ns for f in freqs], dtype=np.int64)[codes]
    positions = np.rint((ns - start_ns[codes]) / step_of_row).astype(np.int64)
    lengths = np.zeros(n_series, dtype=np.int64)
    np.maximum.at(lengths, codes, positions + 1)
    if lengths.max() > _MAX_GRID:
        raise ValueError("timestamps span too long a range for the inferred frequency")
    return freqs, positions, lengths


def _pooled_alpha(frame: pd.DataFrame) -> np.ndarray:
    """Per row: the catalogue's ``pooled_alpha`` for its metric, NaN for ordinary series."""
    if "metric" not in frame.columns:
        return np.full(len(frame), np.nan)
    metrics = frame["metric"].astype(str)
    alphas = {m: metric_spec(m).pooled_alpha for m in metrics.unique()}
    return metrics.map(lambda m: np.nan if alphas[m] is None else alphas[m]).to_numpy(dtype=float)


def _maturity(frame: pd.DataFrame, row_kinds: np.ndarray) -> np.ndarray:
    """Per row the share of its final count reported so far (1: final; only counts mature)."""
    if "maturity" not in frame.columns:
        return np.ones(len(frame))
    maturity = pd.to_numeric(frame["maturity"], errors="coerce").to_numpy(dtype=float, copy=True)
    if np.any(maturity <= 0) or np.any(maturity > 1):
        raise ValueError("maturity must be in (0, 1]")
    return np.where((row_kinds == "count") & np.isfinite(maturity), maturity, 1.0)


def _series_kinds(frame: pd.DataFrame, codes: np.ndarray, n_series: int) -> np.ndarray:
    if "kind" in frame.columns:
        row_kinds = frame["kind"].astype(str).to_numpy()
    elif "metric" in frame.columns:
        row_kinds = np.array([metric_kind(str(m)) for m in frame["metric"].astype(str).to_numpy()])
    else:
        row_kinds = np.full(len(frame), "value")
    row_kinds = np.where(np.isin(row_kinds, KINDS), row_kinds, "value")
    kinds = np.full(n_series, "value", dtype=object)
    kinds[codes[::-1]] = row_kinds[::-1]  # first row of each series wins
    return kinds.astype(str)


def _detect_chunk(
    chunk: np.ndarray,
    freq: Frequency,
    config: DetectorConfig,
    codes: np.ndarray,
    positions: np.ndarray,
    lengths: np.ndarray,
    values: np.ndarray,
    denominators: np.ndarray | None,
    kinds: np.ndarray,
    pooled: np.ndarray,
    result: dict[str, np.ndarray],
) -> None:
    width = int(lengths[chunk].max())
    row_of_code = np.full(len(lengths), -1)
    row_of_code[chunk] = np.arange(len(chunk))
    rows = np.flatnonzero(row_of_code[codes] >= 0)
    flat = row_of_code[codes[rows]] * width + positions[rows]
    size = len(chunk) * width
    v = values[rows]
    ok = ~np.isnan(v)
    if denominators is not None:
        d = denominators[rows]
        ok_d = ok & np.isfinite(d) & (d > 0)
        weight = np.where(ok_d, d, 0.0)
        den_sum = np.bincount(flat[ok_d], weights=weight[ok_d], minlength=size)
        weighted = np.bincount(flat[ok_d], weights=(v * weight)[ok_d], minlength=size)
    plain_sum = np.bincount(flat[ok], weights=v[ok], minlength=size)
    plain_n = np.bincount(flat[ok], minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        grid = np.where(plain_n > 0, plain_sum / np.maximum(plain_n, 1), np.nan)
        grid_den = None
        if denominators is not None:
            grid = np.where(den_sum > 0, weighted / np.where(den_sum > 0, den_sum, 1.0), grid)
            grid_den = np.where(den_sum > 0, den_sum, np.nan).reshape(len(chunk), width)
    grid = grid.reshape(len(chunk), width)
    baseline = compute_baseline(grid, grid_den, kinds[chunk], config.params(freq), pooled[chunk])

    r, p = row_of_code[codes[rows]], positions[rows]
    row_den = denominators[rows] if denominators is not None else None
    variance = baseline.fixed_var[r, p]
    if row_den is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            sampling = np.where(row_den > 0, baseline.unit_var[r, p] / row_den, np.inf)
        variance = variance + np.where(baseline.unit_var[r, p] > 0, sampling, 0.0)
    sd = np.fmax(np.sqrt(variance), baseline.floor[r, p])
    if row_den is not None:
        # Rare events (unsubscribes, spam complaints): judge at least one event's worth of
        # Poisson noise, or a single complaint on a small day would look like a spike.
        expected_events = baseline.expected[r, p] * row_den
        with np.errstate(invalid="ignore", divide="ignore"):
            rare_floor = np.sqrt(np.fmax(expected_events, 1.0)) / row_den
        sd = np.where((kinds[codes[rows]] == "rate") & (row_den > 0), np.fmax(sd, rare_floor), sd)
    history = baseline.history[r, p].astype(float)
    cold = ~config.warmed_up(freq, baseline.history[r, p], baseline.age[r, p])
    history[cold] = -history[cold] - 1
    result["expected"][rows] = baseline.expected[r, p]
    result["sd"][rows] = sd
    result["history"][rows] = history
    result["dispersion"][rows] = baseline.dispersion[r, p]


def _verdicts(
    out: pd.DataFrame,
    values: np.ndarray,
    denominators: np.ndarray | None,
    kinds: np.ndarray,
    result: dict[str, np.ndarray],
    config: DetectorConfig,
    pooled_alpha: np.ndarray,
    maturity: np.ndarray,
) -> pd.DataFrame:
    full_expected, sd = result["expected"], result["sd"]
    enough_history = result["history"] >= 0
    history = np.where(enough_history, result["history"], -result["history"] - 1)
    count = kinds == "count"
    # over: a huge value against a tiny expected value or spread gives an infinite z or relative
    # change, which the code below treats as non-finite (not judged / infinite change)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        # Counts are judged on the square-root (Anscombe) scale, where Poisson noise is
        # symmetric: 40 -> 4 orders is far stronger evidence than 40 -> 76. Their over-dispersion
        # is the series' own; a count still growing is judged against the share reported so far.
        dispersion = np.fmax(1.0, sd / np.sqrt(np.fmax(full_expected, 1.0)))
        expected = full_expected * maturity
        z = (values - expected) / sd
        root_expected = np.sqrt(np.fmax(expected, 0.0) + 0.375)
        z_count = 2.0 * (np.sqrt(np.fmax(values, 0.0) + 0.375) - root_expected) / dispersion
        z = np.where(count & ~np.isnan(values), z_count, z)  # a missing count is not a zero
        relative = (values - expected) / np.abs(expected)
    relative = np.where(np.isfinite(relative), relative, np.where(values != expected, np.inf, 0.0))
    eligible = enough_history & np.isfinite(z) & np.isfinite(expected)
    if denominators is not None:
        rate_like = np.isin(kinds, ("rate", "ratio"))
        eligible &= ~rate_like | (np.nan_to_num(denominators) >= config.min_denominator)
    z_info, z_warning, z_critical = (
        np.full(len(out), level) for level in (config.z_info, config.z_warning, config.z_critical)
    )
    pooled = ~np.isnan(pooled_alpha) & (kinds == "rate")
    if denominators is not None and pooled.any():
        z[pooled] = _exact_rate_z(
            values[pooled], expected[pooled], result["dispersion"][pooled], denominators[pooled]
        )
        for levels, times in ((z_info, 20.0), (z_warning, 5.0), (z_critical, 1.0)):
            levels[pooled] = stats.norm.isf(np.minimum(pooled_alpha[pooled] * times, 0.5))
    abs_z, abs_rel = np.abs(np.nan_to_num(z)), np.abs(relative)
    severity = np.full(len(out), None, dtype=object)
    severity[eligible & (abs_z >= z_info)] = "info"
    severity[eligible & (abs_z >= z_warning) & (abs_rel >= config.min_relative_change_warning)] = "warning"
    critical = (abs_z >= z_critical) & (abs_rel >= config.min_relative_change_critical)
    severity[eligible & critical] = "critical"
    is_anomaly = severity != None  # noqa: E711 (object array comparison)
    direction = np.where(is_anomaly, np.where(z > 0, "spike", "drop"), None)

    half_width = config.z_info * sd
    lower, upper = expected - half_width, expected + half_width
    with np.errstate(invalid="ignore"):
        root_band = config.z_info * dispersion / 2.0
        count_lower = np.maximum(root_expected - root_band, 0.0) ** 2 - 0.375
        count_upper = (root_expected + root_band) ** 2 - 0.375
    lower = np.where(count, count_lower, lower)
    upper = np.where(count, count_upper, upper)
    nonnegative = np.isin(kinds, ("rate", "ratio", "count", "amount"))
    lower = np.where(nonnegative, np.maximum(lower, 0.0), lower)
    upper = np.where(kinds == "rate", np.minimum(upper, 1.0), upper)
    with np.errstate(over="ignore", invalid="ignore"):
        # |z| beyond 1e150 would overflow z**2 (inf / inf); its score is 1 to double precision.
        squared = np.where(np.abs(z) > 1e150, np.inf, z**2)
        score = np.where(
            np.isfinite(z), np.where(np.isinf(squared), 1.0, squared / (squared + config.z_warning**2)), 0.0
        )

    out["expected"] = expected
    out["lower"] = lower
    out["upper"] = upper
    out["z"] = np.where(np.isfinite(z), z, np.nan)
    out["score"] = np.where(eligible, score, 0.0)
    out["is_anomaly"] = is_anomaly.astype(bool)
    out["severity"] = pd.Series(severity, index=out.index, dtype=object)
    out["direction"] = pd.Series(direction, index=out.index, dtype=object)
    out["relative_change"] = np.where(np.isfinite(relative), relative, np.nan)
    out["history_points"] = np.nan_to_num(history).astype(np.int64)
    return out


def _exact_rate_z(
    value: np.ndarray, expected: np.ndarray, dispersion: np.ndarray, trials: np.ndarray
) -> np.ndarray:
    """z of a rate's event count from its exact binomial tail (mid-p), shrunk by the series'
    over-dispersion (the robust variance of its past Pearson residuals): small counts are judged
    by what they are, not by a normal approximation that calls 0 of 80 at 6% a two-sigma dip."""
    with np.errstate(invalid="ignore", divide="ignore"):
        n = np.rint(np.where(trials > 0, trials, np.nan))
        p = np.clip(expected, 1e-9, 1 - 1e-9)
        k = np.rint(value * trials)
        lower = stats.binom.cdf(k - 1, n, p) + 0.5 * stats.binom.pmf(k, n, p)
        z = stats.norm.ppf(np.clip(lower, 1e-300, 1 - 1e-16))
        return z / np.sqrt(np.fmax(np.nan_to_num(dispersion, nan=1.0), 1.0))


def _empty_verdicts(out: pd.DataFrame) -> pd.DataFrame:
    for column in ("expected", "lower", "upper", "z", "score", "relative_change"):
        out[column] = pd.Series(dtype=float)
    out["is_anomaly"] = pd.Series(dtype=bool)
    out["severity"] = pd.Series(dtype=object)
    out["direction"] = pd.Series(dtype=object)
    out["history_points"] = pd.Series(dtype="int64")
    return out
