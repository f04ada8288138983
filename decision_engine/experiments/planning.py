"""Planning: power, minimum detectable effect and required sample size (two-sided z,
equal-variance normal approximation, per-arm sample sizes)."""

from __future__ import annotations

import math

from scipy import stats


def _z(alpha: float, power: float) -> tuple[float, float]:
    return float(stats.norm.ppf(1 - alpha / 2)), float(stats.norm.ppf(power))


def proportion_variance(baseline_rate: float) -> float:
    return baseline_rate * (1 - baseline_rate)


def required_sample_size(
    mde: float, unit_variance: float, alpha: float = 0.05, power: float = 0.8, allocation_ratio: float = 1.0
) -> int:
    """Units per control arm to detect an absolute lift ``mde`` (variant arm gets
    ``allocation_ratio`` times as many)."""
    if mde <= 0 or unit_variance <= 0:
        raise ValueError("mde and unit_variance must be positive")
    z_a, z_b = _z(alpha, power)
    n = (z_a + z_b) ** 2 * unit_variance * (1 + 1 / allocation_ratio) / mde**2
    return math.ceil(n)


def required_sample_size_for_proportion(
    baseline_rate: float, relative_mde: float, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Units per arm to detect a relative lift on a baseline rate (unpooled variance of the
    two arms under the alternative)."""
    variant_rate = baseline_rate * (1 + relative_mde)
    unit_variance = (proportion_variance(baseline_rate) + proportion_variance(variant_rate)) / 2
    return required_sample_size(baseline_rate * abs(relative_mde), unit_variance, alpha, power)


def minimum_detectable_effect(
    n_per_arm: float, unit_variance: float, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Smallest absolute lift detected with ``power`` at ``n_per_arm`` units per arm."""
    z_a, z_b = _z(alpha, power)
    return (z_a + z_b) * math.sqrt(2 * unit_variance / n_per_arm)


def power_at(effect: float, n_per_arm: float, unit_variance: float, alpha: float = 0.05) -> float:
    """Two-sided power of the z test for an absolute lift ``effect``."""
    z_a = float(stats.norm.ppf(1 - alpha / 2))
    d = abs(effect) / math.sqrt(2 * unit_variance / n_per_arm)
    return float(stats.norm.sf(z_a - d) + stats.norm.cdf(-z_a - d))
