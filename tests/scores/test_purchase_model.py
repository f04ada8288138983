"""BG/NBD and Gamma-Gamma: the likelihood against a direct computation, recovery of known
parameters from simulated customers, and predictions against what simulated customers did."""

from __future__ import annotations

import math

import numpy as np
import pytest

from decision_engine.scores import bgnbd, gamma_gamma
from decision_engine.scores.bgnbd import BgNbdParams
from decision_engine.scores.gamma_gamma import GammaGammaParams

TRUE = BgNbdParams(r=0.5, alpha=20.0, a=0.8, b=3.0)


def _direct_likelihood(p: BgNbdParams, x: int, t_x: float, big_t: float) -> float:
    """FHL (2005) equation 6, written with plain gamma functions (no logs)."""
    beta = math.gamma(p.a) * math.gamma(p.b) / math.gamma(p.a + p.b)
    front = math.gamma(p.r + x) * p.alpha**p.r / math.gamma(p.r)
    first = (
        math.gamma(p.a)
        * math.gamma(p.b + x)
        / math.gamma(p.a + p.b + x)
        / beta
        / (p.alpha + big_t) ** (p.r + x)
    )
    second = 0.0
    if x > 0:
        second = (
            math.gamma(p.a + 1)
            * math.gamma(p.b + x - 1)
            / math.gamma(p.a + p.b + x)
            / beta
            / (p.alpha + t_x) ** (p.r + x)
        )
    return math.log(front * (first + second))


@pytest.mark.parametrize(
    ("x", "t_x", "big_t"), [(0, 0.0, 30.0), (1, 5.0, 40.0), (4, 80.0, 90.0), (12, 300.0, 365.0)]
)
def test_log_likelihood_matches_the_direct_formula(x, t_x, big_t):
    ours = bgnbd.log_likelihood(TRUE, np.array([x]), np.array([t_x]), np.array([big_t]))[0]
    assert ours == pytest.approx(_direct_likelihood(TRUE, x, t_x, big_t), rel=1e-10)


def test_log_likelihood_stays_finite_for_heavy_buyers():
    values = bgnbd.log_likelihood(TRUE, np.array([2000.0]), np.array([3600.0]), np.array([3650.0]))
    assert np.isfinite(values).all()


@pytest.fixture(scope="module")
def simulated():
    g = np.random.default_rng(7)
    age = g.uniform(60, 365, 6000).round()
    frequency, recency, holdout = bgnbd.simulate(TRUE, age, seed=11, horizon=180.0)
    return age, frequency, recency, holdout


def test_fit_recovers_simulated_parameters(simulated):
    age, frequency, recency, _ = simulated
    fit = bgnbd.fit(frequency, recency, age)
    assert fit.converged and not fit.at_bound
    got = fit.params
    assert got.r == pytest.approx(TRUE.r, rel=0.15)
    assert got.alpha == pytest.approx(TRUE.alpha, rel=0.25)
    assert got.a == pytest.approx(TRUE.a, rel=0.35)
    assert got.b == pytest.approx(TRUE.b, rel=0.35)
    # the true parameters are no more likely than the fitted ones
    true_ll = bgnbd.log_likelihood(TRUE, frequency, recency, age).sum()
    assert fit.log_likelihood >= true_ll - 1e-6
    assert fit.log_likelihood == pytest.approx(
        bgnbd.log_likelihood(got, frequency, recency, age).sum(), rel=1e-9
    )


def test_conditional_predictions_match_simulated_holdout(simulated):
    age, frequency, recency, holdout = simulated
    expected = bgnbd.expected_purchases(TRUE, frequency, recency, age, horizon=180.0)
    # in total, and for light and heavy past buyers separately (the conditioning matters)
    assert expected.sum() == pytest.approx(holdout.sum(), rel=0.06)
    for group in (frequency == 0, (frequency >= 1) & (frequency <= 3), frequency > 3):
        assert expected[group].mean() == pytest.approx(holdout[group].mean(), rel=0.12, abs=0.02)


def test_probability_alive_is_one_without_repeats_and_falls_with_silence():
    p_alive = bgnbd.probability_alive(
        TRUE, np.array([0, 5, 5]), np.array([0.0, 300.0, 30.0]), np.array([365.0] * 3)
    )
    assert p_alive[0] == 1.0
    assert 0 < p_alive[2] < p_alive[1] < 1


def test_unconditional_expectation_matches_simulation():
    age = np.full(20000, 200.0)
    frequency, _, _ = bgnbd.simulate(TRUE, age, seed=5)
    assert frequency.mean() == pytest.approx(bgnbd.unconditional_expected_purchases(TRUE, 200.0), rel=0.05)


def test_gamma_gamma_recovers_simulated_parameters():
    true = GammaGammaParams(p=6.0, q=4.0, gamma=15.0)
    g = np.random.default_rng(3)
    n = 20000
    frequency = g.integers(1, 8, n)
    nu = g.gamma(true.q, 1.0 / true.gamma, n)
    average = np.array([g.gamma(true.p, 1.0 / nu[i], frequency[i]).mean() for i in range(n)])
    fit = gamma_gamma.fit(frequency, average)
    assert fit.log_likelihood >= gamma_gamma.log_likelihood(true, frequency, average).sum() - 1e-6
    assert fit.params.p == pytest.approx(true.p, rel=0.12)
    assert fit.params.q == pytest.approx(true.q, rel=0.15)
    assert fit.params.gamma == pytest.approx(true.gamma, rel=0.2)
    # the conditional mean spend tracks each customer's true mean p / nu
    predicted = gamma_gamma.expected_average_value(fit.params, frequency, average)
    truth = true.p / nu
    assert abs(predicted - truth).mean() < abs(average - truth).mean()


def test_analytic_gradients_match_finite_differences():
    from scipy import optimize

    g = np.random.default_rng(0)
    x = g.integers(0, 6, 60).astype(float)
    age = g.uniform(20, 100, 60)
    recency = np.where(x > 0, age * g.random(60), 0.0)
    weights = g.integers(1, 4, 60).astype(float)
    for point in ([0.1, -0.3, 0.2, 0.5], [-1.0, 1.0, -0.5, 2.0]):
        error = optimize.check_grad(
            lambda v: bgnbd._negative_and_gradient(v, x, recency, age, weights)[0],
            lambda v: bgnbd._negative_and_gradient(v, x, recency, age, weights)[1],
            np.array(point),
        )
        assert error < 1e-5
    spend = g.gamma(3.0, 1.0, 60)
    error = optimize.check_grad(
        lambda v: gamma_gamma._negative_and_gradient(v, x + 1, spend)[0],
        lambda v: gamma_gamma._negative_and_gradient(v, x + 1, spend)[1],
        np.array([0.3, 0.2, -0.1]),
    )
    assert error < 1e-5
