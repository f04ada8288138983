"""Fixed-horizon statistics from sufficient statistics, vectorised over numpy arrays.

Every function takes arrays (one element per comparison) so thousands of experiments are
analysed in one pass. Conventions match the reference implementations the tests check:

* mean metrics: Welch t test (``scipy.stats.ttest_ind(equal_var=False)``);
* proportions: pooled z test (``statsmodels proportions_ztest``) with an unpooled Wald CI
  (``confint_proportions_2indep(method="wald")``);
* ratio metrics: z test with the delta-method variance of sum(y)/sum(x);
* relative lift: mean_variant / mean_control - 1 with a CI from the delta method on the log
  ratio, exp(log(ratio) +- z se) - 1, so it never goes below -100% and is asymmetric like
  Fieller's interval when counts are small; the symmetric delta-method CI is the fallback
  when a mean is not positive. No CI (NaN) when an arm has no variance (e.g. no events);
* SRM: Pearson chi-square against the planned split (``scipy.stats.chisquare``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

Array = np.ndarray


@dataclass
class ArmMoments:
    """Per-arm estimate of the metric and the variance of that estimate."""

    n: Array
    mean: Array
    unit_variance: Array  # variance of the per-unit (linearised) values
    variance_of_mean: Array


def _safe_div(a: Array, b: Array) -> Array:
    # over: a tiny (subnormal) divisor gives inf, which callers treat like any non-finite estimate
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(b != 0, a / np.where(b != 0, b, 1.0), np.nan)


def arm_moments(
    kind: Array,
    n: Array,
    sum_y: Array,
    sum_yy: Array,
    sum_x: Array,
    sum_xx: Array,
    sum_xy: Array,
    cuped_theta: Array | None = None,
    cuped_x_mean: Array | None = None,
) -> ArmMoments:
    """Mean and variance of the mean for each arm.

    ``kind`` is an array of "proportion" / "mean" / "ratio". For ratio rows ``x`` is the
    denominator; for the others, when ``cuped_theta`` is given (not NaN), ``x`` is a
    pre-exposure covariate and the CUPED-adjusted mean y - theta (x_bar - x_bar_pooled) is used.
    """
    n = np.asarray(n, dtype=float)
    kind = np.asarray(kind)
    mean_y = _safe_div(sum_y, n)
    mean_x = _safe_div(np.nan_to_num(np.asarray(sum_x, dtype=float)), n)
    with np.errstate(invalid="ignore", divide="ignore"):
        var_y = np.maximum((sum_yy - n * mean_y**2) / (n - 1), 0.0)
        var_x = np.maximum((np.nan_to_num(np.asarray(sum_xx, dtype=float)) - n * mean_x**2) / (n - 1), 0.0)
        cov_xy = (np.nan_to_num(np.asarray(sum_xy, dtype=float)) - n * mean_x * mean_y) / (n - 1)
    is_ratio = kind == "ratio"
    is_prop = kind == "proportion"

    mean = mean_y.copy()
    unit_var = var_y.copy()
    # proportions: Wald variance p(1-p) with divisor n (statsmodels convention)
    unit_var = np.where(is_prop, mean_y * (1 - mean_y), unit_var)
    # ratio metrics: linearise y - R x (delta method)
    ratio = _safe_div(np.asarray(sum_y, dtype=float), np.nan_to_num(np.asarray(sum_x, dtype=float)))
    ratio_var = _safe_div(var_y - 2 * ratio * cov_xy + ratio**2 * var_x, mean_x**2)
    mean = np.where(is_ratio, ratio, mean)
    unit_var = np.where(is_ratio, np.maximum(ratio_var, 0.0), unit_var)
    if cuped_theta is not None:
        theta = np.asarray(cuped_theta, dtype=float)
        use = ~is_ratio & np.isfinite(theta)
        adjusted_mean = mean_y - theta * (mean_x - np.asarray(cuped_x_mean, dtype=float))
        adjusted_var = np.maximum(var_y - 2 * theta * cov_xy + theta**2 * var_x, 0.0)
        mean = np.where(use, adjusted_mean, mean)
        unit_var = np.where(use, adjusted_var, unit_var)
    return ArmMoments(n=n, mean=mean, unit_variance=unit_var, variance_of_mean=_safe_div(unit_var, n))


def effective_count(sum_y: Array, sum_yy: Array) -> Array:
    """Kish effective number of events, sum(y)^2 / sum(y^2): the event count for 0/1 outcomes,
    fewer than the non-zero values when they vary (revenue); 0 when there are none."""
    sum_y = np.asarray(sum_y, dtype=float)
    return np.nan_to_num(_safe_div(sum_y**2, np.asarray(sum_yy, dtype=float)), nan=0.0)


def cuped_theta(sum_x: Array, sum_xx: Array, sum_xy: Array, sum_y: Array, n: Array) -> tuple[Array, Array]:
    """Pooled CUPED coefficient cov(x, y) / var(x) and pooled covariate mean, from sums
    already added up across all arms of a comparison."""
    mean_x = _safe_div(sum_x, n)
    mean_y = _safe_div(sum_y, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        var_x = sum_xx / n - mean_x**2
        cov = sum_xy / n - mean_x * mean_y
    theta = np.where(var_x > 1e-15, _safe_div(cov, var_x), np.nan)
    return theta, mean_x


@dataclass
class Comparison:
    """Variant minus control, for arrays of comparisons."""

    absolute_lift: Array
    standard_error: Array
    statistic: Array
    degrees_of_freedom: Array  # inf for z tests
    p_value: Array
    ci_lower: Array
    ci_upper: Array
    relative_lift: Array
    relative_se: Array  # delta-method SE of the relative lift (symmetric scale)
    log_ratio_se: Array  # delta-method SE of log(mean_variant / mean_control); NaN when undefined
    relative_ci_lower: Array
    relative_ci_upper: Array


def compare_arms(
    kind: Array,
    control: ArmMoments,
    variant: ArmMoments,
    alpha: float | Array = 0.05,
    pooled_null_variance: Array | None = None,
) -> Comparison:
    """Two-sided fixed-horizon test and CIs of variant vs control.

    Mean metrics use Welch's t (Satterthwaite df); proportions and ratios use z. For
    proportions the test statistic uses the pooled variance under H0 (``pooled_null_variance``
    = variance of the difference under H0), as statsmodels does; the CI is unpooled Wald.
    """
    kind = np.asarray(kind)
    alpha = np.asarray(alpha, dtype=float)
    diff = variant.mean - control.mean
    v_c, v_v = control.variance_of_mean, variant.variance_of_mean
    se = np.sqrt(v_c + v_v)
    is_mean = kind == "mean"
    with np.errstate(invalid="ignore", divide="ignore"):
        df_welch = (v_c + v_v) ** 2 / (v_c**2 / (control.n - 1) + v_v**2 / (variant.n - 1))
    df = np.where(is_mean, df_welch, np.inf)
    test_se = se
    if pooled_null_variance is not None:
        with np.errstate(invalid="ignore"):
            test_se = np.where(kind == "proportion", np.sqrt(pooled_null_variance), se)
    statistic = _safe_div(diff, test_se)
    df_for_dist = np.where(np.isfinite(df), df, 1e12)
    with np.errstate(invalid="ignore"):
        p_t = 2 * stats.t.sf(np.abs(statistic), df_for_dist)
        p_z = 2 * stats.norm.sf(np.abs(statistic))
        crit = np.where(is_mean, stats.t.ppf(1 - alpha / 2, df_for_dist), stats.norm.ppf(1 - alpha / 2))
    p_value = np.where(is_mean, p_t, p_z)
    # both arms constant and equal: nothing to test
    p_value = np.where((test_se == 0) & (diff == 0), 1.0, p_value)
    p_value = np.where((test_se == 0) & (diff != 0), 0.0, p_value)
    rel = _safe_div(variant.mean, control.mean) - 1
    rel_se = np.sqrt(_safe_div(v_v, control.mean**2) + _safe_div(variant.mean**2 * v_c, control.mean**4))
    log_se = log_ratio_standard_error(control, variant)
    z = stats.norm.ppf(1 - alpha / 2)
    rel_lower, rel_upper = relative_interval(rel, rel_se, log_se, z, control, variant)
    return Comparison(
        absolute_lift=diff,
        standard_error=se,
        statistic=statistic,
        degrees_of_freedom=df,
        p_value=p_value,
        ci_lower=diff - crit * se,
        ci_upper=diff + crit * se,
        relative_lift=rel,
        relative_se=rel_se,
        log_ratio_se=log_se,
        relative_ci_lower=rel_lower,
        relative_ci_upper=rel_upper,
    )


def log_ratio_standard_error(control: ArmMoments, variant: ArmMoments) -> Array:
    """Delta-method SE of log(mean_variant / mean_control); NaN unless both means are positive."""
    positive = (control.mean > 0) & (variant.mean > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(
            _safe_div(variant.variance_of_mean, variant.mean**2)
            + _safe_div(control.variance_of_mean, control.mean**2)
        )
    return np.where(positive, se, np.nan)


def relative_interval(
    relative_lift: Array,
    relative_se: Array,
    log_ratio_se: Array,
    multiplier: Array | float,
    control: ArmMoments,
    variant: ArmMoments,
) -> tuple[Array, Array]:
    """CI of the relative lift at ``multiplier`` standard errors (1.96 for a fixed-horizon 95% CI).

    Both means positive: exp(log ratio +- multiplier * log_ratio_se) - 1 (never below -100%).
    Otherwise the symmetric delta method, cut at -100% when both means are non-negative.
    No interval (NaN) when either arm has no variance: a zero-event or constant arm carries
    no information about its own uncertainty, so any interval would be falsely exact.
    """
    multiplier = np.asarray(multiplier, dtype=float)
    informative = (control.variance_of_mean > 0) & (variant.variance_of_mean > 0) & (control.mean != 0)
    with np.errstate(invalid="ignore", over="ignore"):
        log_ratio = np.log1p(np.where(np.isfinite(log_ratio_se), relative_lift, 0.0))
        log_lower = np.expm1(log_ratio - multiplier * log_ratio_se)
        log_upper = np.expm1(log_ratio + multiplier * log_ratio_se)
        linear_lower = relative_lift - multiplier * relative_se
        linear_upper = relative_lift + multiplier * relative_se
    non_negative = (control.mean > 0) & (variant.mean >= 0)
    linear_lower = np.where(non_negative, np.maximum(linear_lower, -1.0), linear_lower)
    use_log = np.isfinite(log_ratio_se)
    lower = np.where(informative, np.where(use_log, log_lower, linear_lower), np.nan)
    upper = np.where(informative, np.where(use_log, log_upper, linear_upper), np.nan)
    return lower, upper


def pooled_null_variance(
    kind: Array,
    n_c: Array,
    sum_y_c: Array,
    sum_yy_c: Array,
    sum_x_c: Array,
    sum_xx_c: Array,
    sum_xy_c: Array,
    n_v: Array,
    sum_y_v: Array,
    sum_yy_v: Array,
    sum_x_v: Array,
    sum_xx_v: Array,
    sum_xy_v: Array,
) -> Array:
    """Var(variant - control) under H0 (both arms one population), from the pooled sums.

    Unlike the per-arm variances it cannot collapse to zero because one arm has no events
    or no spread yet, so the sequential test uses it as a floor for its standard error.
    Proportions: p(1-p); means: pooled unit variance; ratios: pooled variance of the
    linearised y - R x (R the pooled ratio) over mean(x)^2; each times 1/n_c + 1/n_v.
    """
    kind = np.asarray(kind)
    n = np.asarray(n_c, float) + np.asarray(n_v, float)
    sy = np.asarray(sum_y_c, float) + np.asarray(sum_y_v, float)
    syy = np.asarray(sum_yy_c, float) + np.asarray(sum_yy_v, float)
    sx = np.nan_to_num(np.asarray(sum_x_c, float)) + np.nan_to_num(np.asarray(sum_x_v, float))
    sxx = np.nan_to_num(np.asarray(sum_xx_c, float)) + np.nan_to_num(np.asarray(sum_xx_v, float))
    sxy = np.nan_to_num(np.asarray(sum_xy_c, float)) + np.nan_to_num(np.asarray(sum_xy_v, float))
    mean = _safe_div(sy, n)
    ratio = _safe_div(sy, sx)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(
            kind == "proportion",
            mean * (1 - mean),
            np.where(
                kind == "ratio",
                _safe_div(
                    np.maximum(syy - 2 * ratio * sxy + ratio**2 * sxx, 0.0) / (n - 1), _safe_div(sx, n) ** 2
                ),
                np.maximum(syy - n * mean**2, 0.0) / (n - 1),
            ),
        )
    return unit * (_safe_div(1.0, np.asarray(n_c, float)) + _safe_div(1.0, np.asarray(n_v, float)))


def pooled_proportion_null_variance(n_c: Array, sum_c: Array, n_v: Array, sum_v: Array) -> Array:
    """Var(p_v - p_c) under H0 with the pooled proportion (the z test's denominator)."""
    pooled = _safe_div(np.asarray(sum_c) + np.asarray(sum_v), np.asarray(n_c, float) + np.asarray(n_v, float))
    return pooled * (1 - pooled) * (_safe_div(1.0, n_c) + _safe_div(1.0, n_v))


def chance_to_beat_control(
    diff: Array, se: Array, higher_is_better: Array | bool = True
) -> tuple[Array, Array]:
    """Normal-approximation posterior (flat prior): P(variant better) and the expected loss
    of shipping the variant, E[max(0, -good_direction_lift)], in metric units."""
    sign = np.where(np.asarray(higher_is_better), 1.0, -1.0)
    good = sign * np.asarray(diff, dtype=float)
    se = np.asarray(se, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = good / se
        prob = np.where(se > 0, stats.norm.cdf(d), np.where(good > 0, 1.0, np.where(good < 0, 0.0, 0.5)))
        loss = np.where(se > 0, se * stats.norm.pdf(d) - good * stats.norm.cdf(-d), np.maximum(-good, 0.0))
    return prob, loss


def beta_binomial_chance_to_beat(
    successes_c: int, n_c: int, successes_v: int, n_v: int, draws: int = 20000, seed: int = 0
) -> tuple[float, float]:
    """Beta(1,1)-Binomial posterior: P(p_v > p_c) and expected loss E[max(0, p_c - p_v)]."""
    rng = np.random.default_rng(seed)
    p_c = rng.beta(1 + successes_c, 1 + n_c - successes_c, draws)
    p_v = rng.beta(1 + successes_v, 1 + n_v - successes_v, draws)
    return float(np.mean(p_v > p_c)), float(np.mean(np.maximum(p_c - p_v, 0.0)))


def srm_test(observed: Array, planned_share: Array) -> tuple[float, float]:
    """Chi-square goodness of fit of arm sizes against the planned split: (statistic, p)."""
    observed = np.asarray(observed, dtype=float)
    share = np.asarray(planned_share, dtype=float)
    if observed.size < 2 or observed.sum() <= 0:
        return float("nan"), float("nan")
    expected = observed.sum() * share / share.sum()
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    return statistic, float(stats.chi2.sf(statistic, observed.size - 1))


def adjust_p_values(p_values: Array, method: str = "holm") -> Array:
    """Holm (family-wise) or Benjamini-Hochberg ("bh", false discovery rate) adjustment.
    NaNs are kept out of the family and stay NaN."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return out
    values = p[ok]
    order = np.argsort(values, kind="mergesort")
    ranked = values[order]
    if method == "holm":
        adjusted = np.maximum.accumulate((m - np.arange(m)) * ranked)
    elif method in ("bh", "fdr_bh"):
        adjusted = np.minimum.accumulate((m / np.arange(1, m + 1) * ranked)[::-1])[::-1]
    else:
        raise ValueError(f"unknown multiple-testing method {method!r} (holm or bh)")
    result = np.empty(m)
    result[order] = np.minimum(adjusted, 1.0)
    out[ok] = result
    return out


def adjust_p_values_grouped(p_values: Array, groups: Array, method: str = "holm") -> Array:
    """:func:`adjust_p_values` applied within each group (vectorised over many families)."""
    if method not in ("holm", "bh", "fdr_bh"):
        raise ValueError(f"unknown multiple-testing method {method!r} (holm or bh)")
    import pandas as pd

    p = np.asarray(p_values, dtype=float)
    frame = pd.DataFrame({"g": pd.factorize(pd.Series(groups), use_na_sentinel=False)[0], "p": p})
    frame = frame[np.isfinite(frame["p"])].sort_values(["g", "p"], kind="mergesort")
    grouped = frame.groupby("g", sort=False)
    rank = grouped.cumcount().to_numpy() + 1
    m = grouped["p"].transform("size").to_numpy()
    if method == "holm":
        frame["adj"] = (m - rank + 1) * frame["p"].to_numpy()
        adjusted = frame.groupby("g", sort=False)["adj"].cummax()
    else:
        frame["adj"] = m / rank * frame["p"].to_numpy()
        reversed_frame = frame.iloc[::-1]
        adjusted = reversed_frame.groupby("g", sort=False)["adj"].cummin().iloc[::-1]
    out = np.full(p.shape, np.nan)
    out[adjusted.index.to_numpy()] = np.minimum(adjusted.to_numpy(), 1.0)
    return out
