"""Fixed-horizon statistics agree with scipy / statsmodels on the same inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from decision_engine.experiments import inference, planning


def _sums(values: np.ndarray) -> tuple[float, float, float]:
    return float(values.size), float(values.sum()), float((values**2).sum())


def _moments(kind: str, y: np.ndarray, x: np.ndarray | None = None) -> inference.ArmMoments:
    n, sy, syy = _sums(y)
    if x is None:
        return inference.arm_moments(
            np.array([kind]), np.array([n]), np.array([sy]), np.array([syy]), *[np.array([np.nan])] * 3
        )
    return inference.arm_moments(
        np.array([kind]), np.array([n]), np.array([sy]), np.array([syy]),
        np.array([x.sum()]), np.array([(x**2).sum()]), np.array([(x * y).sum()]),
    )  # fmt: skip


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_welch_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    control = rng.lognormal(1.0, 1.0, 800)
    variant = rng.lognormal(1.1, 1.3, 650)
    cmp = inference.compare_arms(
        np.array(["mean"]), _moments("mean", control), _moments("mean", variant), 0.05
    )
    reference = stats.ttest_ind(variant, control, equal_var=False)
    ci = reference.confidence_interval(0.95)
    assert cmp.statistic[0] == pytest.approx(reference.statistic, abs=1e-6)
    assert cmp.p_value[0] == pytest.approx(reference.pvalue, abs=1e-6)
    assert cmp.degrees_of_freedom[0] == pytest.approx(reference.df, abs=1e-6)
    assert cmp.ci_lower[0] == pytest.approx(ci.low, abs=1e-6)
    assert cmp.ci_upper[0] == pytest.approx(ci.high, abs=1e-6)


@pytest.mark.parametrize(
    ("count_c", "n_c", "count_v", "n_v"), [(120, 5000, 160, 5100), (3, 400, 9, 380), (0, 50, 2, 60)]
)
def test_proportion_z_matches_statsmodels(count_c: int, n_c: int, count_v: int, n_v: int) -> None:
    control = np.r_[np.ones(count_c), np.zeros(n_c - count_c)]
    variant = np.r_[np.ones(count_v), np.zeros(n_v - count_v)]
    null_var = inference.pooled_proportion_null_variance(
        np.array([n_c]), np.array([count_c]), np.array([n_v]), np.array([count_v])
    )
    cmp = inference.compare_arms(
        np.array(["proportion"]),
        _moments("proportion", control),
        _moments("proportion", variant),
        0.05,
        null_var,
    )
    z, p = proportions_ztest([count_v, count_c], [n_v, n_c])
    lo, hi = confint_proportions_2indep(count_v, n_v, count_c, n_c, method="wald", compare="diff")
    assert cmp.statistic[0] == pytest.approx(z, abs=1e-6)
    assert cmp.p_value[0] == pytest.approx(p, abs=1e-6)
    assert cmp.ci_lower[0] == pytest.approx(lo, abs=1e-6)
    assert cmp.ci_upper[0] == pytest.approx(hi, abs=1e-6)


def test_srm_matches_scipy_chisquare() -> None:
    observed = np.array([101_600, 98_400])
    statistic, p = inference.srm_test(observed, np.array([0.5, 0.5]))
    reference = stats.chisquare(observed, observed.sum() * np.array([0.5, 0.5]))
    assert statistic == pytest.approx(reference.statistic, abs=1e-6)
    assert p == pytest.approx(reference.pvalue, abs=1e-6)
    assert p < 0.001  # 50.8 / 49.2 at 200k units is caught
    three = np.array([3300, 3350, 3410])
    statistic, p = inference.srm_test(three, np.array([1, 1, 1]))
    assert p == pytest.approx(stats.chisquare(three).pvalue, abs=1e-6)


@pytest.mark.parametrize("method", ["holm", "bh"])
def test_multiple_testing_matches_statsmodels(method: str) -> None:
    p = np.random.default_rng(3).uniform(0, 0.2, 17) ** 2
    reference = multipletests(p, method="holm" if method == "holm" else "fdr_bh")[1]
    np.testing.assert_allclose(inference.adjust_p_values(p, method), reference, atol=1e-12)
    with_nan = np.r_[p[:3], np.nan]
    assert np.isnan(inference.adjust_p_values(with_nan, method)[-1])


def test_relative_ci_delta_method_matches_fieller_and_bootstrap() -> None:
    rng = np.random.default_rng(7)
    control = rng.gamma(2.0, 5.0, 4000)
    variant = rng.gamma(2.0, 5.6, 4000)
    m_c, m_v = _moments("mean", control), _moments("mean", variant)
    cmp = inference.compare_arms(np.array(["mean"]), m_c, m_v, 0.05)
    # Fieller interval for mean_v / mean_c (independent arms)
    a, b = m_v.mean[0], m_c.mean[0]
    va, vb = m_v.variance_of_mean[0], m_c.variance_of_mean[0]
    z2 = stats.norm.ppf(0.975) ** 2
    g = z2 * vb / b**2
    half = np.sqrt(z2) / (b * (1 - g)) * np.sqrt(va * (1 - g) + a**2 * vb / b**2)
    center = a / b / (1 - g)
    assert cmp.relative_ci_lower[0] == pytest.approx(center - half - 1, abs=0.004)
    assert cmp.relative_ci_upper[0] == pytest.approx(center + half - 1, abs=0.004)
    # percentile bootstrap of the relative lift
    idx_c = rng.integers(0, control.size, (2000, control.size))
    idx_v = rng.integers(0, variant.size, (2000, variant.size))
    boot = variant[idx_v].mean(axis=1) / control[idx_c].mean(axis=1) - 1
    lo, hi = np.quantile(boot, [0.025, 0.975])
    assert cmp.relative_ci_lower[0] == pytest.approx(lo, abs=0.01)
    assert cmp.relative_ci_upper[0] == pytest.approx(hi, abs=0.01)


def test_ratio_metric_delta_method_matches_bootstrap() -> None:
    rng = np.random.default_rng(11)
    delivered = rng.poisson(3.0, 3000).astype(float)  # several sends per unit
    clicks = rng.binomial(delivered.astype(int), 0.05).astype(float)
    moments = _moments("ratio", clicks, delivered)
    assert moments.mean[0] == pytest.approx(clicks.sum() / delivered.sum())
    idx = rng.integers(0, clicks.size, (3000, clicks.size))
    boot = clicks[idx].sum(axis=1) / delivered[idx].sum(axis=1)
    assert np.sqrt(moments.variance_of_mean[0]) == pytest.approx(boot.std(), rel=0.06)


def test_cuped_reduces_variance_without_bias() -> None:
    rng = np.random.default_rng(5)
    n = 5000
    x = rng.normal(10, 3, 2 * n)
    y = 0.8 * x + rng.normal(0, 2, 2 * n)
    y[n:] += 0.1  # true lift
    arms = (slice(0, n), slice(n, 2 * n))
    sums = [
        (float(n), y[s].sum(), (y[s] ** 2).sum(), x[s].sum(), (x[s] ** 2).sum(), (x[s] * y[s]).sum())
        for s in arms
    ]
    total = np.sum(sums, axis=0)
    theta, x_mean = inference.cuped_theta(total[3], total[4], total[5], total[1], total[0])
    kinds = np.array(["mean"])

    def moments(i: int, use: bool) -> inference.ArmMoments:
        cols = [np.array([v]) for v in sums[i]]
        return inference.arm_moments(kinds, *cols, np.array([theta]) if use else None, np.array([x_mean]))

    plain = inference.compare_arms(kinds, moments(0, False), moments(1, False))
    adjusted = inference.compare_arms(kinds, moments(0, True), moments(1, True))
    rho2 = np.corrcoef(x, y)[0, 1] ** 2
    assert adjusted.standard_error[0] ** 2 == pytest.approx(
        plain.standard_error[0] ** 2 * (1 - rho2), rel=0.05
    )
    assert abs(adjusted.absolute_lift[0] - 0.1) < 3 * adjusted.standard_error[0]


def test_chance_to_beat_control_matches_beta_binomial() -> None:
    prob, loss = inference.chance_to_beat_control(
        np.array([0.004]), np.array([np.sqrt(2 * 0.04 * 0.96 / 10000)])
    )
    mc_prob, _ = inference.beta_binomial_chance_to_beat(400, 10000, 440, 10000, draws=200000)
    assert prob[0] == pytest.approx(mc_prob, abs=0.01)
    assert loss[0] > 0
    worse, _ = inference.chance_to_beat_control(np.array([0.004]), np.array([0.001]), higher_is_better=False)
    assert worse[0] < 0.001


def test_planning_round_trip() -> None:
    n = planning.required_sample_size_for_proportion(0.04, 0.10)
    variance = (0.04 * 0.96 + 0.044 * 0.956) / 2
    assert planning.power_at(0.004, n, variance) >= 0.8
    assert planning.power_at(0.004, n - 50, variance) < 0.8
    assert planning.minimum_detectable_effect(n, variance) == pytest.approx(0.004, rel=1e-3)
