"""Bayesian spend-response model per ad with empirical-Bayes pooling.

For ad ``i`` and day ``t`` the reported revenue is modelled as quasi-Poisson:

    E[revenue_it] = roas_i * shape(spend_it; rho_i) * day_of_week_t * completeness_t * exp(trend_i * t)
    Var[revenue_it] = dispersion_i * E[revenue_it]

with ``t`` in days relative to the forecast day (``FORECAST_AHEAD_DAYS`` after the data's last day).
``trend_i`` is the ad's log change of return per day: creative fatigue makes it negative. It is
estimated per ad by quasi-Poisson maximum likelihood at the population's typical curve shape and
shrunk toward its platform's mean (DerSimonian-Laird), so a short or sparse history borrows the
platform's trend; it is capped at ``TREND_LIMIT`` per day. Its error goes into the posterior
draws (:class:`TrendUncertainty`). Without it the return would be a recency-weighted average of
past returns, which overstates a fatiguing ad's next week (by about 12% at a fatigue of 0.4% a
day, the default 21-day half-life and 90 days of history: the data sit about 30 days before the
forecast day on average).

``roas_i`` is the return at the ad's reference (current) spend on the forecast day and gets a Gamma prior whose
mean comes from the ad's campaign, itself shrunk toward the platform (DerSimonian-Laird
moment estimates of the between-ad and between-campaign spread on the log scale), so new
and small ads borrow strength. ``rho_i`` (how fast returns diminish) lives on a grid with a
population prior per platform estimated by EM over all ads. The Gamma prior is conjugate, so
``roas_i`` integrates out exactly: the posterior over the grid is exact up to the grid, and
``roas_i | rho`` is Gamma. Older days are down-weighted (half-life), so fatigue and drift
are followed. ``dispersion_i`` is a Pearson estimate shrunk toward the platform's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from decision_engine.budget.curves import default_rho_grid, response_shape, response_slope
from decision_engine.budget.inputs import AdHistory
from decision_engine.budget.lag import SeasonalFactors

TINY = 1e-12
# the middle of the week a recommendation governs (days 1..7 after the data's last day)
FORECAST_AHEAD_DAYS = 4.0
TREND_LIMIT = 0.03  # the largest log change of return per day the model extrapolates
TREND_ITERATIONS = 12


class Response(Protocol):
    """What the allocation needs of a posterior: per-ad curves, or per-entity sums of them."""

    reference_spend: np.ndarray

    def expected_revenue(self, spend: np.ndarray) -> np.ndarray: ...

    def marginal_revenue(self, spend: np.ndarray) -> np.ndarray: ...


class Draws(Protocol):
    """What the allocation needs of posterior draws (:class:`CurveDraws` or an entity view of them)."""

    def revenue(self, spend: np.ndarray) -> np.ndarray: ...

    def marginal(self, spend: np.ndarray) -> np.ndarray: ...

    def revenue_grid(self, draw: int, grid: np.ndarray) -> np.ndarray: ...

    def without_first(self) -> Draws: ...


@dataclass
class CurveDraws:
    """Posterior draws of each ad's curve: ``rho`` and ``roas`` have shape (draws, ads)."""

    curve: str
    reference_spend: np.ndarray
    rho: np.ndarray
    roas: np.ndarray

    def revenue(self, spend: np.ndarray) -> np.ndarray:
        """Revenue per draw at one spend per ad: shape (draws, ads)."""
        return self.roas * response_shape(
            self.curve, np.asarray(spend)[None, :], self.reference_spend[None, :], self.rho
        )

    def marginal(self, spend: np.ndarray) -> np.ndarray:
        """Marginal revenue per draw at one spend per ad: shape (draws, ads)."""
        return self.roas * response_slope(
            self.curve, np.asarray(spend)[None, :], self.reference_spend[None, :], self.rho
        )

    def revenue_grid(self, draw: int, grid: np.ndarray) -> np.ndarray:
        """Revenue of one draw on a grid of spends: shape (ads, G)."""
        return self.roas[draw][:, None] * response_shape(
            self.curve, grid, self.reference_spend[:, None], self.rho[draw][:, None]
        )

    def without_first(self) -> CurveDraws:
        """All draws but the first (draw 0 explores; the rest evaluate moves)."""
        return CurveDraws(self.curve, self.reference_spend, self.rho[1:], self.roas[1:])


@dataclass
class ResponseModel:
    """Posterior of every ad's curve: grid weights over ``rho`` and Gamma(shape, rate) ROAS given ``rho``."""

    curve: str
    rho_grid: np.ndarray  # (K,)
    reference_spend: np.ndarray  # (n,)
    weights: np.ndarray  # (n, K) posterior probability of each rho
    shape: np.ndarray  # (n,) Gamma shape of roas (same for every rho)
    rate: np.ndarray  # (n, K) Gamma rate of roas given rho
    prior_mean_roas: np.ndarray  # (n,) campaign-pooled prior mean
    effective_events: np.ndarray  # (n,) information in the ad's own data, in events
    trend: np.ndarray  # (n,) log change of return per day, pooled (negative: fatigue)
    trend_uncertainty: TrendUncertainty | None = None  # how the trend's error moves the return

    def _columns(self, spend: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        spend = np.asarray(spend, dtype=float)
        reference = self.reference_spend if spend.ndim == 1 else self.reference_spend[:, None]
        return spend, reference

    def expected_revenue(self, spend: np.ndarray) -> np.ndarray:
        """Posterior mean revenue at ``spend`` (shape (n,) or (n, G))."""
        spend, reference = self._columns(spend)
        total = np.zeros(spend.shape)
        mean_roas = self.weights * self.shape[:, None] / self.rate
        for k, rho in enumerate(self.rho_grid):
            scale = mean_roas[:, k] if spend.ndim == 1 else mean_roas[:, k, None]
            total += scale * response_shape(self.curve, spend, reference, rho)
        return total

    def marginal_revenue(self, spend: np.ndarray) -> np.ndarray:
        """Posterior mean of d revenue / d spend at ``spend``."""
        spend, reference = self._columns(spend)
        total = np.zeros(spend.shape)
        mean_roas = self.weights * self.shape[:, None] / self.rate
        for k, rho in enumerate(self.rho_grid):
            scale = mean_roas[:, k] if spend.ndim == 1 else mean_roas[:, k, None]
            total += scale * response_slope(self.curve, spend, reference, rho)
        return total

    def draw(self, n_draws: int, rng: np.random.Generator) -> CurveDraws:
        """Joint posterior draws (rho, roas) for every ad, the trend's error included."""
        cumulative = np.cumulative_sum(self.weights, axis=1)
        cumulative /= cumulative[:, -1:]
        uniform = rng.random((n_draws, len(self.reference_spend)))
        k = (uniform[:, :, None] > cumulative[None, :, :]).sum(axis=2)
        k = np.minimum(k, len(self.rho_grid) - 1)
        rate = np.take_along_axis(self.rate, k.T, axis=1).T
        roas = rng.gamma(self.shape[None, :], 1.0 / rate)
        if self.trend_uncertainty is not None:
            roas = roas * self.trend_uncertainty.draw(n_draws, rng)
        return CurveDraws(self.curve, self.reference_spend, self.rho_grid[k], roas)


@dataclass(frozen=True)
class TrendUncertainty:
    """The trend is plugged into the fit; its error moves each ad's forecast-day return by
    ``exp(error * lever)``, ``lever`` being the fit's weighted mean distance (days) from the data to
    the forecast day. The error has a part common to a platform's ads (its mean's) and one of the
    ad's own; draws carry both, so a move that rests on a trend is only as sure as the trend."""

    group: np.ndarray  # (n,) platform code
    common_sd: np.ndarray  # (n,) sd of the platform's mean trend
    own_sd: np.ndarray  # (n,) sd of the ad's own deviation from it
    lever: np.ndarray  # (n,) days

    def draw(self, n_draws: int, rng: np.random.Generator) -> np.ndarray:
        """Multipliers of the return, shape (draws, n)."""
        common = rng.standard_normal((n_draws, int(self.group.max()) + 1))[:, self.group]
        own = rng.standard_normal((n_draws, len(self.group)))
        return np.exp((common * self.common_sd + own * self.own_sd) * self.lever)


def _between_variance(y: np.ndarray, v: np.ndarray, groups: np.ndarray) -> float:
    """DerSimonian-Laird moment estimate of the spread of ``y`` around its group means."""
    w = 1.0 / v
    _, inverse = np.unique(groups, return_inverse=True)
    weight_sum = np.bincount(inverse, w)
    group_mean = np.bincount(inverse, w * y) / weight_sum
    q = float(np.sum(w * (y - group_mean[inverse]) ** 2))
    dof = len(y) - len(weight_sum)
    scale = float(np.sum(weight_sum - np.bincount(inverse, w**2) / weight_sum))
    if dof <= 0 or scale <= 0:
        return 0.0
    return max(0.0, (q - dof) / scale)


def _pool_levels(
    y: np.ndarray, v: np.ndarray, campaigns: np.ndarray
) -> tuple[dict[str, float], float, float]:
    """Campaign means of log-ROAS shrunk toward the platform; returns (means, platform mean, ad spread)."""
    if len(y) == 0:
        return {}, 0.0, 1.0
    distinct = len(np.unique(campaigns))
    ad_spread = (
        _between_variance(y, v, campaigns)
        if len(y) - distinct >= 3
        else _between_variance(y, v, np.zeros(len(y)))
    )
    ad_spread = float(np.clip(ad_spread, 0.03, 4.0))
    names, inverse = np.unique(campaigns, return_inverse=True)
    w = 1.0 / (v + ad_spread)
    campaign_var = 1.0 / np.bincount(inverse, w)
    campaign_mean = np.bincount(inverse, w * y) * campaign_var
    campaign_spread = float(
        np.clip(_between_variance(campaign_mean, campaign_var, np.zeros(len(names))), 0.01, 4.0)
    )
    pw = 1.0 / (campaign_var + campaign_spread)
    platform_mean = float(np.sum(pw * campaign_mean) / np.sum(pw))
    shrunk = (campaign_mean / campaign_var + platform_mean / campaign_spread) / (
        1.0 / campaign_var + 1.0 / campaign_spread
    )
    return dict(zip(names.tolist(), shrunk.tolist(), strict=True)), platform_mean, ad_spread


def _reference_spend(history: AdHistory, weight: np.ndarray) -> np.ndarray:
    n = len(history.ads)
    idx = history.daily["ad_index"].to_numpy()
    spend = history.daily["spend"].to_numpy(float)
    active = np.bincount(idx, weight * (spend > 0), n)
    historical = np.bincount(idx, weight * spend, n) / np.maximum(active, TINY)
    current = history.ads["current_daily_spend"].to_numpy(float)
    return np.where(current > 0, current, np.where(historical > 0, historical, 1.0))


@dataclass(frozen=True)
class _Rows:
    """Daily rows as arrays, with what every fitting step needs."""

    n: int
    idx: np.ndarray  # ad index per row
    spend: np.ndarray
    y: np.ndarray  # the target (revenue)
    platforms: np.ndarray  # per ad
    multiplier: np.ndarray  # day-of-week x completeness (x the ad's trend, once fitted) per row
    weight: np.ndarray  # recency weight per row
    age: np.ndarray  # days before the data's last day, per row
    reference: np.ndarray  # per ad
    y_sum: np.ndarray  # weighted target per ad


def _rows(history: AdHistory, factors: SeasonalFactors, target: str, half_life_days: float) -> _Rows:
    ads, daily = history.ads, history.daily
    n = len(ads)
    idx = daily["ad_index"].to_numpy()
    y = daily[target].to_numpy(float)
    platforms = ads["platform"].to_numpy(str)
    age = daily["age_days"].to_numpy(float)
    weight = 0.5 ** (age / half_life_days)
    return _Rows(
        n=n,
        idx=idx,
        spend=daily["spend"].to_numpy(float),
        y=y,
        platforms=platforms,
        multiplier=factors.row_multiplier(
            platforms[idx], daily["age_days"].to_numpy(), daily["day_of_week"].to_numpy()
        ),
        weight=weight,
        age=age,
        reference=_reference_spend(history, weight),
        y_sum=np.bincount(idx, weight * y, n),
    )


def _dispersion(r: _Rows, prior_days: float) -> np.ndarray:
    """Per-ad dispersion from a linear fit (Pearson), shrunk toward the platform value."""
    idx, n, y = r.idx, r.n, r.y
    linear_x = np.bincount(idx, r.weight * r.spend * r.multiplier, n)
    linear_roas = np.where(linear_x > 0, r.y_sum / np.maximum(linear_x, TINY), 0.0)
    mu = linear_roas[idx] * r.spend * r.multiplier
    ok = mu > 0
    pearson = np.bincount(idx[ok], (y[ok] - mu[ok]) ** 2 / mu[ok], n)
    dof = np.maximum(np.bincount(idx[ok], minlength=n) - 1.0, 0.0)
    dispersion = np.ones(n)
    for platform in np.unique(r.platforms):
        members = r.platforms == platform
        platform_phi = pearson[members].sum() / max(dof[members].sum(), 1.0)
        if not np.isfinite(platform_phi) or platform_phi <= 0:
            positive = y[(r.platforms[idx] == platform) & (y > 0)]
            platform_phi = float(np.median(positive)) if len(positive) else 1.0
        dispersion[members] = (pearson[members] + prior_days * platform_phi) / (dof[members] + prior_days)
    return dispersion


def _trends(
    r: _Rows, curve: str, rho: float, dispersion: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each ad's log change of return per day, shrunk toward its platform's mean; with the sd of
    that mean and of the ad's own part (the ad's spread about the mean where it has no data).

    Per ad, the quasi-Poisson maximum likelihood of ``y ~ level * offset * exp(trend * t)`` with
    the offset the curve at ``rho`` times the row multiplier and ``t = -age`` (unweighted: the
    trend is assumed steady over the history), by Newton steps on the profile score (the level
    integrates out in closed form). Its variance is the dispersion over the Fisher information.
    """
    idx, n = r.idx, r.n
    t = -r.age
    offset = response_shape(curve, r.spend, r.reference[idx], rho) * r.multiplier
    total = np.bincount(idx, r.y, n)
    moment = np.bincount(idx, r.y * t, n)
    trend = np.zeros(n)
    information = np.zeros(n)
    for _ in range(TREND_ITERATIONS):
        # the level profiles out: the score is the observed minus the expected mean of t, times total
        expected = offset * np.exp(trend[idx] * t)
        mass = np.bincount(idx, expected, n)
        mean_t = np.bincount(idx, expected * t, n) / np.maximum(mass, TINY)
        spread = np.bincount(idx, expected * (t - mean_t[idx]) ** 2, n) / np.maximum(mass, TINY)
        information = total * spread
        usable = information > TINY
        step = np.where(usable, (moment - total * mean_t) / np.maximum(information, TINY), 0.0)
        trend = np.clip(trend + step, -0.2, 0.2)
    variance = np.where(information > TINY, dispersion / np.maximum(information, TINY), np.inf)
    pooled, common_sd, own_sd = np.zeros(n), np.zeros(n), np.zeros(n)
    for platform in np.unique(r.platforms):
        members = r.platforms == platform
        known = members & np.isfinite(variance)
        if not known.any():
            continue
        y, v = trend[known], variance[known]
        spread = _between_variance(y, v, np.zeros(len(y))) if len(y) >= 3 else 0.0
        w = 1.0 / (v + spread)
        mean = float(np.sum(w * y) / np.sum(w))
        pooled[members] = mean
        common_sd[members] = math.sqrt(1.0 / float(np.sum(w)))
        if spread > 0:
            pooled[known] = (y / v + mean / spread) / (1.0 / v + 1.0 / spread)
            own_sd[members] = math.sqrt(spread)
            own_sd[known] = np.sqrt(1.0 / (1.0 / v + 1.0 / spread))
    # neither a trend nor its error goes beyond the cap: a few days of data do not blow up the draws
    capped = (np.minimum(sd, TREND_LIMIT) for sd in (common_sd, own_sd))
    return np.clip(pooled, -TREND_LIMIT, TREND_LIMIT), *capped


def _roas_prior(
    r: _Rows, campaigns: np.ndarray, curve: str, rho_mode: float, dispersion: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Campaign/platform pooled Gamma prior (mean, shape) for each ad's roas at reference spend."""
    idx, n = r.idx, r.n
    base_x = np.bincount(
        idx, r.weight * response_shape(curve, r.spend, r.reference[idx], rho_mode) * r.multiplier, n
    )
    prior_mean = np.ones(n)
    prior_shape = np.ones(n)
    for platform in np.unique(r.platforms):
        members = r.platforms == platform
        platform_roas = max(r.y_sum[members].sum() / max(base_x[members].sum(), TINY), 1e-6)
        has_data = members & (base_x > 0)
        smooth = 0.5 * dispersion[has_data]
        log_roas = np.log((r.y_sum[has_data] + smooth) / (base_x[has_data] + smooth / platform_roas))
        variance = dispersion[has_data] / (r.y_sum[has_data] + smooth) + 1e-4
        means, platform_mean, ad_spread = _pool_levels(log_roas, variance, campaigns[has_data])
        centre = np.array([means.get(c, platform_mean) for c in campaigns[members]])
        prior_mean[members] = np.exp(centre + ad_spread / 2.0)
        prior_shape[members] = 1.0 / np.expm1(ad_spread)
    return prior_mean, prior_shape


def _rho_likelihood(
    r: _Rows, curve: str, grid: np.ndarray, prior_rate: np.ndarray, posterior_shape: np.ndarray, dispersion
) -> tuple[np.ndarray, np.ndarray]:
    """Integrated quasi-likelihood over the rho grid (Gamma prior on roas) and the Gamma rates."""
    idx, n = r.idx, r.n
    log_like = np.zeros((n, len(grid)))
    rate = np.zeros((n, len(grid)))
    for k, rho in enumerate(grid):
        x = response_shape(curve, r.spend, r.reference[idx], rho) * r.multiplier
        x_sum = np.bincount(idx, r.weight * x, n)
        cross = np.bincount(idx, r.weight * r.y * np.log(np.maximum(x, TINY)), n)
        rate[:, k] = prior_rate + x_sum / dispersion
        log_like[:, k] = cross / dispersion - posterior_shape * np.log(rate[:, k])
    return np.exp(log_like - log_like.max(axis=1, keepdims=True)), rate


def _rho_weights(
    likelihood: np.ndarray, platforms: np.ndarray, informative: np.ndarray, base_prior: np.ndarray
) -> np.ndarray:
    """Posterior over the rho grid, with a population prior per platform learnt by EM."""
    weights = np.empty_like(likelihood)
    for platform in np.unique(platforms):
        members = platforms == platform
        population = base_prior.copy()
        learn = likelihood[members & informative]
        for _ in range(30 if len(learn) else 0):
            post = population * learn
            post /= post.sum(axis=1, keepdims=True)
            population = post.mean(axis=0)
        population = 0.5 * population + 0.5 * base_prior
        post = population * likelihood[members]
        weights[members] = post / post.sum(axis=1, keepdims=True)
    return weights


def fit_response_model(
    history: AdHistory,
    factors: SeasonalFactors,
    *,
    target: str = "revenue",
    curve: str = "hill",
    half_life_days: float = 21.0,
    dispersion_prior_days: float = 20.0,
) -> ResponseModel:
    """Fit every ad's curve at once (vectorised; no per-ad Python loop over rows)."""
    rows = _rows(history, factors, target, half_life_days)
    grid, base_prior = default_rho_grid(curve)
    rho_mode = grid[int(np.argmax(base_prior))]
    trend, common_sd, own_sd = _trends(rows, curve, rho_mode, _dispersion(rows, dispersion_prior_days))
    # every row's expectation relative to the forecast day: the return below is the forecast day's
    ahead = rows.age + FORECAST_AHEAD_DAYS
    rows = replace(rows, multiplier=rows.multiplier * np.exp(-trend[rows.idx] * ahead))
    dispersion = _dispersion(rows, dispersion_prior_days)
    weight = (
        rows.weight * response_shape(curve, rows.spend, rows.reference[rows.idx], rho_mode) * rows.multiplier
    )
    mass = np.bincount(rows.idx, weight, rows.n)
    lever = np.where(
        mass > 0, np.bincount(rows.idx, weight * ahead, rows.n) / np.maximum(mass, TINY), FORECAST_AHEAD_DAYS
    )
    _, group = np.unique(rows.platforms, return_inverse=True)
    uncertainty = TrendUncertainty(group=group, common_sd=common_sd, own_sd=own_sd, lever=lever)
    campaigns = history.ads["campaign_id"].to_numpy(str)
    prior_mean, prior_shape = _roas_prior(rows, campaigns, curve, rho_mode, dispersion)
    prior_rate = prior_shape / prior_mean
    posterior_shape = prior_shape + rows.y_sum / dispersion
    likelihood, rate = _rho_likelihood(rows, curve, grid, prior_rate, posterior_shape, dispersion)
    informative = (history.ads["days_with_spend"].to_numpy() >= 2) & (rows.y_sum > 0)
    return ResponseModel(
        curve=curve,
        rho_grid=grid,
        reference_spend=rows.reference,
        weights=_rho_weights(likelihood, rows.platforms, informative, base_prior),
        shape=posterior_shape,
        rate=rate,
        prior_mean_roas=prior_mean,
        effective_events=rows.y_sum / dispersion,
        trend=trend,
        trend_uncertainty=uncertainty,
    )
