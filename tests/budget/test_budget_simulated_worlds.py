"""Evaluation against simulated worlds with known curves (see budget_worlds.py).

Capture ratio = (true value of recommended - true value of current) / (true optimum - current),
where the optimum respects the same max-change band and total. Thresholds can fail.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from budget_worlds import DAY_OF_WEEK, DELAY, SCENARIOS, evaluate, make_world

from decision_engine.budget import BudgetSettings, recommend_budgets

WORSE_TOLERANCE = 1e-3  # "within noise": a loss under 0.1% of daily revenue


@pytest.fixture(scope="module")
def evaluations():
    return [
        evaluate(make_world(seed, shape=shape, current=current), f"{shape}/{current}/{seed}")
        for shape, current in SCENARIOS
        for seed in (0, 1)
    ]


def test_recommendation_captures_most_of_the_gap(evaluations):
    captures = np.array([e.capture for e in evaluations if "/random/" in e.name])
    assert captures.mean() >= 0.65, captures
    assert captures.min() >= 0.3, captures


def test_recommendation_is_never_worse_than_doing_nothing(evaluations):
    for e in evaluations:
        assert e.relative_change >= -WORSE_TOLERANCE, (e.name, e.relative_change)


def test_already_optimal_allocation_is_left_essentially_alone(evaluations):
    optimal = [e for e in evaluations if "/optimal/" in e.name]
    assert np.mean([e.relative_change for e in optimal]) >= -2e-4


def test_last_week_is_lag_corrected_not_read_as_a_drop():
    world = make_world(21, shape="log", days=90, spend_noise=0.1)
    result = recommend_budgets(world.history)
    truth = np.cumsum(DELAY)[:7]
    for platform, curve in result.factors.completeness.items():
        assert np.max(np.abs(curve - truth)) <= 0.12, (platform, curve, truth)
    keys = pd.MultiIndex.from_frame(world.ads[["platform", "ad_id"]])
    frame = result.recommendations.set_index(["platform", "ad_id"]).loc[keys]
    current = frame["current_daily_spend"].to_numpy()
    modelled = result.model.expected_revenue(result.spend_base["current"]).sum()
    true = world.revenue(current).sum()
    assert abs(modelled / true - 1.0) <= 0.1
    naive = recommend_budgets(world.history, BudgetSettings(completeness=(1.0,) * 7))
    assert naive.model.expected_revenue(naive.spend_base["current"]).sum() < modelled


def test_day_of_week_effects_are_recovered():
    result = recommend_budgets(make_world(4, days=150).history)
    truth = DAY_OF_WEEK / DAY_OF_WEEK.mean()
    for factors in result.factors.day_of_week.values():
        assert np.corrcoef(factors, truth)[0, 1] > 0.7


def test_fatigue_is_followed_not_averaged():
    """Returns that decline every day (creative fatigue, as the sandbox plants 0-0.8% a day) are
    forecast for the coming week, not at the recency-weighted average of the past ones."""
    fatigue = np.random.default_rng(7).uniform(0.0, 0.008, 24)
    world = make_world(31, days=120, fatigue=fatigue)
    result = recommend_budgets(world.history)
    keys = pd.MultiIndex.from_frame(world.ads[["platform", "ad_id"]])
    frame = result.recommendations.set_index(["platform", "ad_id"]).loc[keys]
    trend = pd.Series(
        result.model.trend, index=pd.MultiIndex.from_frame(result.history.ads[["platform", "ad_id"]])
    )
    assert abs(trend.loc[keys].mean() + fatigue.mean()) <= 0.0015, (trend.mean(), fatigue.mean())
    modelled = result.model.expected_revenue(result.spend_base["current"]).sum()
    true = world.revenue(frame["current_daily_spend"].to_numpy()).sum()
    assert abs(modelled / true - 1.0) <= 0.05, modelled / true
    assert (result.model.trend_uncertainty.common_sd > 0).all()  # and its draws carry the trend's error
    # a world without fatigue gets (almost) none: the trend is not noise fitted everywhere
    steady = recommend_budgets(make_world(31, days=120).history)
    assert abs(steady.model.trend.mean()) <= 0.001, steady.model.trend


def test_trend_error_reaches_the_draws():
    """The trend is plugged into the fit, so the posterior draws carry its error: a part common to
    a platform's ads and one of each ad's own, scaled by the distance to the forecast day."""
    from decision_engine.budget.model import TrendUncertainty

    uncertainty = TrendUncertainty(
        group=np.array([0, 0, 1]),
        common_sd=np.array([0.004, 0.004, 0.002]),
        own_sd=np.array([0.003, 0.0, 0.0]),
        lever=np.array([30.0, 20.0, 25.0]),
    )
    log_multiplier = np.log(uncertainty.draw(40_000, np.random.default_rng(3)))
    expected_sd = np.array([np.hypot(0.004, 0.003) * 30, 0.004 * 20, 0.002 * 25])
    np.testing.assert_allclose(log_multiplier.std(axis=0), expected_sd, rtol=0.03)
    correlation = np.corrcoef(log_multiplier.T)
    assert correlation[0, 1] == pytest.approx(0.004 / np.hypot(0.004, 0.003), abs=0.02)  # the common part
    assert abs(correlation[0, 2]) < 0.02  # platforms' trends err independently


def test_trend_is_the_poisson_regression_slope():
    """With one ad per platform nothing is pooled: each ad's trend is its own maximum likelihood
    estimate, which an independent Poisson GLM (statsmodels, log link) reproduces."""
    import statsmodels.api as sm

    from decision_engine.budget.inputs import prepare_ad_history
    from decision_engine.budget.lag import SeasonalFactors
    from decision_engine.budget.model import fit_response_model

    rng = np.random.default_rng(11)
    days = pd.date_range("2026-01-01", periods=120, freq="D")
    t = np.arange(len(days)) - (len(days) - 1)  # 0 on the last day
    frames = []
    for platform, ad, slope in (("meta", "m1", -0.006), ("google", "g1", 0.002)):
        revenue = 40.0 * rng.poisson(3.0 * np.exp(slope * t))
        frames.append(
            pd.DataFrame(
                {
                    "date": days.strftime("%Y-%m-%d"),
                    "platform": platform,
                    "campaign_id": f"c-{ad}",
                    "ad_id": ad,
                    "spend": 100.0,  # constant: the curve's shape is a constant the level absorbs
                    "impressions": 4000,
                    "clicks": 80,
                    "conversions": (revenue / 40).astype(int),
                    "revenue": revenue,
                }
            )
        )
    history = prepare_ad_history(pd.concat(frames, ignore_index=True))
    ones = {p: np.ones(7) for p in ("meta", "google")}
    model = fit_response_model(history, SeasonalFactors(ones, ones, dict.fromkeys(ones, "given")))
    daily = history.daily
    for index, ad in enumerate(history.ads["ad_id"]):
        rows = daily[daily["ad_index"] == index]
        design = sm.add_constant(-rows["age_days"].to_numpy(float))
        glm = sm.GLM(rows["revenue"].to_numpy(float), design, family=sm.families.Poisson()).fit()
        assert model.trend[index] == pytest.approx(glm.params[1], abs=1e-6), ad


def test_two_days_of_data_keep_the_trend_and_its_error_bounded():
    """Found by the CLI's property test: two days, one of them at a near-zero spend, gave a trend
    error so large the draws overflowed. The trend and its error stay within the cap."""
    import warnings

    from decision_engine.budget.model import TREND_LIMIT

    frame = pd.DataFrame(
        {
            "date": ["2024-03-01"] * 3 + ["2024-03-02"] * 3,
            "platform": "meta",
            "campaign_id": ["ca", "ca", "cb"] * 2,
            "ad_id": ["a1", "a2", "b1"] * 2,
            "spend": [10, 10, 10, 10, 10, 1e-6],
            "impressions": 1000,
            "clicks": 0,
            "conversions": 5,
            "revenue": [0, 0, 0, 0, 0, 1],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = recommend_budgets(frame)
    uncertainty = result.model.trend_uncertainty
    assert np.all(np.abs(result.model.trend) <= TREND_LIMIT)
    assert np.all(uncertainty.common_sd <= TREND_LIMIT) and np.all(uncertainty.own_sd <= TREND_LIMIT)
