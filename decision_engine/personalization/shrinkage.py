"""Beta-binomial shrinkage of many small rates towards known prior means (empirical Bayes).

Each cell has ``trials`` (possibly fractional: recency-weighted sends), ``successes`` and a prior
mean ``mu``. The prior is Beta(strength * mu, strength * (1 - mu)); ``strength`` (prior sends) is
one number fitted by maximising the beta-binomial marginal likelihood over all cells, so the data
decide how far a contact's own rate is pulled towards its segment's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import betaln

MIN_STRENGTH, MAX_STRENGTH = 0.1, 10_000.0
_EPS = 1e-6


@dataclass(frozen=True)
class BetaPosterior:
    """Per cell: posterior mean and standard deviation of the rate."""

    mean: np.ndarray
    sd: np.ndarray


def marginal_log_likelihood(
    strength: float, successes: np.ndarray, trials: np.ndarray, mu: np.ndarray
) -> float:
    """Beta-binomial log likelihood summed over cells, without the binomial coefficients (they do
    not depend on ``strength``)."""
    mu = np.clip(mu, _EPS, 1 - _EPS)
    failures = np.maximum(trials - successes, 0.0)
    a, b = strength * mu, strength * (1 - mu)
    return float(np.sum(betaln(successes + a, failures + b) - betaln(a, b)))


def fit_prior_strength(successes: np.ndarray, trials: np.ndarray, mu: np.ndarray) -> float:
    """The prior strength (in sends) that maximises the marginal likelihood; cells without trials
    carry no information and are ignored."""
    has = trials > 0
    s, n, m = (np.asarray(x, dtype=np.float64)[has] for x in (successes, trials, mu))
    if not len(s):
        return MAX_STRENGTH
    result = minimize_scalar(
        lambda log_strength: -marginal_log_likelihood(float(np.exp(log_strength)), s, n, m),
        bounds=(np.log(MIN_STRENGTH), np.log(MAX_STRENGTH)),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(result.x))


def beta_posterior(
    successes: np.ndarray, trials: np.ndarray, mu: np.ndarray, strength: float
) -> BetaPosterior:
    """Posterior of each cell's rate under Beta(strength * mu, strength * (1 - mu))."""
    mu = np.clip(mu, _EPS, 1 - _EPS)
    a = successes + strength * mu
    b = np.maximum(trials - successes, 0.0) + strength * (1 - mu)
    total = a + b
    return BetaPosterior(mean=a / total, sd=np.sqrt(a * b / (total * total * (total + 1))))
