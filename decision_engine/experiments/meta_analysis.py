"""Random-effects meta-analysis (DerSimonian-Laird) of effects on the log scale.

Each concluded test contributes one estimate ``y_i`` (the log of the variant/control ratio of
a metric) with its sampling variance ``v_i``. With fixed-effect weights ``w_i = 1 / v_i``:

    Q     = sum w_i (y_i - y_fe)^2,          y_fe = sum w_i y_i / sum w_i
    tau^2 = max(0, (Q - (k - 1)) / (sum w_i - sum w_i^2 / sum w_i))     (DerSimonian & Laird 1986)
    mu    = sum w*_i y_i / sum w*_i,         w*_i = 1 / (v_i + tau^2),  se(mu) = sqrt(1 / sum w*_i)

The interval is ``mu +/- z_(1 - alpha/2) se(mu)`` (what ``statsmodels.stats.meta_analysis.
combine_effects(method_re="dl")`` reports, and the tests check against it). I^2 = (Q - (k - 1)) / Q
is the share of the spread that is between tests rather than noise; the prediction interval
(Higgins, Thompson & Spiegelhalter 2009) ``mu +/- t_(k-2) sqrt(tau^2 + se^2)`` is where the next
test's true effect is expected to fall (k >= 3). :func:`subgroup_difference` is Cochran's Q test
between subgroup estimates (do segments differ by more than their noise?).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class PooledEffect:
    """A random-effects pooled estimate on the log scale, with its heterogeneity."""

    estimate: float  # mu (log ratio)
    standard_error: float
    ci_lower: float
    ci_upper: float
    tau2: float  # between-test variance
    q: float  # Cochran's Q
    i2: float  # share of the spread that is heterogeneity (0 when Q <= k - 1)
    tests: int  # k
    prediction_lower: float | None  # None when k < 3
    prediction_upper: float | None

    def relative(self, value: float | None) -> float | None:
        """A log-scale number as a relative effect (exp(x) - 1)."""
        return None if value is None else math.expm1(value)


def pool_random_effects(effects: np.ndarray, variances: np.ndarray, alpha: float = 0.05) -> PooledEffect:
    """DerSimonian-Laird pooled effect of ``effects`` (log ratios) with sampling ``variances``."""
    y = np.asarray(effects, dtype=float)
    v = np.asarray(variances, dtype=float)
    if y.shape != v.shape or y.ndim != 1 or not len(y):
        raise ValueError("effects and variances must be non-empty 1-d arrays of the same length")
    if not np.all(np.isfinite(y)) or not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise ValueError("effects must be finite and variances finite and positive")
    k = len(y)
    w = 1 / v
    fixed = float(np.sum(w * y) / np.sum(w))
    q = float(np.sum(w * (y - fixed) ** 2))
    c = float(np.sum(w) - np.sum(w**2) / np.sum(w))
    tau2 = max(0.0, (q - (k - 1)) / c) if k > 1 and c > 0 else 0.0
    w_random = 1 / (v + tau2)
    mu = float(np.sum(w_random * y) / np.sum(w_random))
    se = float(math.sqrt(1 / np.sum(w_random)))
    z = float(stats.norm.ppf(1 - alpha / 2))
    i2 = max(0.0, (q - (k - 1)) / q) if k > 1 and q > 0 else 0.0
    prediction_lower = prediction_upper = None
    if k >= 3:
        half = float(stats.t.ppf(1 - alpha / 2, k - 2)) * math.sqrt(tau2 + se**2)
        prediction_lower, prediction_upper = mu - half, mu + half
    return PooledEffect(
        estimate=mu,
        standard_error=se,
        ci_lower=mu - z * se,
        ci_upper=mu + z * se,
        tau2=tau2,
        q=q,
        i2=i2,
        tests=k,
        prediction_lower=prediction_lower,
        prediction_upper=prediction_upper,
    )


def subgroup_difference(estimates: np.ndarray, standard_errors: np.ndarray) -> float | None:
    """p-value of Cochran's Q test that subgroup estimates are equal (None with fewer than two)."""
    y = np.asarray(estimates, dtype=float)
    se = np.asarray(standard_errors, dtype=float)
    if len(y) < 2:
        return None
    w = 1 / se**2
    pooled = np.sum(w * y) / np.sum(w)
    q = float(np.sum(w * (y - pooled) ** 2))
    return float(stats.chi2.sf(q, len(y) - 1))
