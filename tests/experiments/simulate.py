"""Vectorised A/B simulations from sufficient statistics (daily binomial counts per arm)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from decision_engine.experiments import inference, sequential


@dataclass
class DailyLooks:
    n_control: np.ndarray  # experiments x looks, cumulative
    sum_control: np.ndarray
    n_variant: np.ndarray
    sum_variant: np.ndarray


def simulate_daily_counts(
    experiments: int, looks: int, units_per_day: int, rate_control: float, rate_variant: float, seed: int
) -> DailyLooks:
    rng = np.random.default_rng(seed)
    n = np.full((experiments, looks), units_per_day, dtype=float).cumsum(axis=1)
    control = rng.binomial(units_per_day, rate_control, (experiments, looks)).cumsum(axis=1).astype(float)
    variant = rng.binomial(units_per_day, rate_variant, (experiments, looks)).cumsum(axis=1).astype(float)
    return DailyLooks(n, control, n.copy(), variant)


def fixed_p_values(data: DailyLooks) -> np.ndarray:
    """Pooled z test p-value at every look (experiments x looks)."""
    shape = data.n_control.shape
    flat = [a.ravel() for a in (data.n_control, data.sum_control, data.n_variant, data.sum_variant)]
    kind = np.full(flat[0].size, "proportion")
    nan = np.full(flat[0].size, np.nan)
    control = inference.arm_moments(kind, flat[0], flat[1], flat[1], nan, nan, nan)
    variant = inference.arm_moments(kind, flat[2], flat[3], flat[3], nan, nan, nan)
    null_var = inference.pooled_proportion_null_variance(*flat)
    cmp = inference.compare_arms(kind, control, variant, 0.05, null_var)
    return cmp.p_value.reshape(shape), cmp.absolute_lift.reshape(shape), cmp.standard_error.reshape(shape)


def sequential_rejections(data: DailyLooks, design: sequential.SequentialDesign) -> np.ndarray:
    """Whether the sequential test rejects at any look, per experiment."""
    _, lift, se = fixed_p_values(data)
    looks = lift.shape[1]
    fraction = np.broadcast_to(np.arange(1, looks + 1) / looks, lift.shape)
    result = sequential.sequential_inference(lift, se, fraction, design)
    running_max = np.maximum.accumulate(np.nan_to_num(result.log_likelihood_ratio, nan=-np.inf), axis=1)
    return sequential.sequential_p_value(running_max[:, -1], design) <= design.alpha


def to_statistics_frame(data: DailyLooks, metric: str = "conversion_rate") -> pd.DataFrame:
    """The same simulation in the shape of compute_sufficient_statistics output."""
    experiments, looks = data.n_control.shape
    dates = pd.date_range("2026-01-01", periods=looks, freq="D")
    frames = []
    for variant, n, s, is_control in (
        ("A", data.n_control, data.sum_control, True),
        ("B", data.n_variant, data.sum_variant, False),
    ):
        frames.append(
            pd.DataFrame(
                {
                    "experiment_id": np.repeat([f"sim_{i}" for i in range(experiments)], looks),
                    "variant": variant,
                    "is_control": is_control,
                    "metric": metric,
                    "analysis_date": np.tile(dates, experiments),
                    "n_units": n.ravel().astype("int64"),
                    "n": n.ravel().astype("int64"),
                    "sum_y": s.ravel(),
                    "sum_yy": s.ravel(),
                    "sum_x": np.nan,
                    "sum_xx": np.nan,
                    "sum_xy": np.nan,
                    "winsor_cap": np.nan,
                    "max_raw": np.nan,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
