"""BG/NBD: the beta-geometric / negative binomial model of repeat purchasing (Fader, Hardie & Lee 2005).

Per customer the sufficient statistics are ``frequency`` (repeat purchase days, x), ``recency``
(days from the first to the last purchase, t_x) and ``age`` (days from the first purchase to
the calibration end, T). While alive a customer buys at a Poisson rate drawn from
Gamma(r, alpha); after each purchase they drop out with a probability drawn from Beta(a, b).

The likelihood is evaluated in log space (``gammaln``/``betaln``/``logaddexp``) over the
distinct (x, t_x, T) triples with their counts as weights, so a million customers cost what
their distinct histories cost. Parameters are fitted by maximum likelihood on log parameters
(L-BFGS-B) with time rescaled to order one; ``alpha`` is reported in days.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

LOG_BOUND = np.log(1e6)  # each parameter stays within [1e-6, 1e6] (in rescaled time for alpha)


@dataclass(frozen=True)
class BgNbdParams:
    r: float
    alpha: float  # in days
    a: float
    b: float

    def as_dict(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}


@dataclass(frozen=True)
class BgNbdFit:
    params: BgNbdParams
    log_likelihood: float
    converged: bool
    at_bound: bool  # a parameter ended on its bound: the data cannot pin it down


def log_likelihood(
    params: BgNbdParams, frequency: np.ndarray, recency: np.ndarray, age: np.ndarray
) -> np.ndarray:
    """Per-customer log-likelihood of (x, t_x, T) under BG/NBD."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = np.asarray(frequency, dtype=float)
    t_x = np.asarray(recency, dtype=float)
    big_t = np.asarray(age, dtype=float)
    common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    survive = special.betaln(a, b + x) - special.betaln(a, b) - (r + x) * np.log(alpha + big_t)
    repeat = x > 0
    dropped = np.full_like(x, -np.inf)
    dropped[repeat] = (
        special.betaln(a + 1, b + x[repeat] - 1)
        - special.betaln(a, b)
        - (r + x[repeat]) * np.log(alpha + t_x[repeat])
    )
    return common + np.logaddexp(survive, dropped)


def compress(frequency: np.ndarray, recency: np.ndarray, age: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (x, t_x, T) rows and how many customers share each."""
    stacked = np.column_stack([frequency, recency, age]).astype(float)
    unique, counts = np.unique(stacked, axis=0, return_counts=True)
    return unique, counts.astype(float)


def _negative_and_gradient(
    log_params: np.ndarray, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray, weights: np.ndarray
) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood and its analytic gradient in log parameters."""
    r, alpha, a, b = np.exp(log_params)
    psi = special.digamma
    repeat = x > 0
    log_t = np.log(alpha + big_t)
    log_tx = np.log(alpha + t_x)
    common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    survive = special.betaln(a, b + x) - special.betaln(a, b) - (r + x) * log_t
    dropped = np.where(
        repeat,
        special.betaln(a + 1, b + np.maximum(x - 1, 0)) - special.betaln(a, b) - (r + x) * log_tx,
        -np.inf,
    )
    total = np.logaddexp(survive, dropped)
    values = common + total
    if not np.all(np.isfinite(values)):
        return 1e300, np.zeros(4)
    w_survive = np.exp(survive - total)
    w_dropped = np.exp(dropped - total)
    d_r = psi(r + x) - psi(r) + np.log(alpha) - w_survive * log_t - w_dropped * log_tx
    d_alpha = r / alpha - w_survive * (r + x) / (alpha + big_t) - w_dropped * (r + x) / (alpha + t_x)
    d_a = w_survive * (psi(a + b) - psi(a + b + x)) + w_dropped * (
        psi(a + 1) - psi(a + b + x) - psi(a) + psi(a + b)
    )
    b_dropped = np.where(repeat, psi(b + np.maximum(x - 1, 0)), 0.0)
    d_b = w_survive * (psi(b + x) - psi(a + b + x) - psi(b) + psi(a + b)) + w_dropped * (
        b_dropped - psi(a + b + x) - psi(b) + psi(a + b)
    )
    total_weight = weights.sum()
    gradient = np.array([weights @ d for d in (d_r, d_alpha, d_a, d_b)]) * np.array([r, alpha, a, b])
    return -float(weights @ values) / total_weight, -gradient / total_weight


def fit(frequency: np.ndarray, recency: np.ndarray, age: np.ndarray) -> BgNbdFit:
    """Maximum-likelihood BG/NBD parameters (alpha in the unit of recency and age: days)."""
    unique, weights = compress(frequency, recency, age)
    scale = float(max(unique[:, 2].mean(), 1.0))
    x, t_x, big_t = unique[:, 0], unique[:, 1] / scale, unique[:, 2] / scale
    best = None
    for start in ([0.0, 0.0, 0.0, 0.0], [np.log(0.5), np.log(2.0), np.log(0.5), np.log(2.0)]):
        result = optimize.minimize(
            _negative_and_gradient,
            np.array(start),
            args=(x, t_x, big_t, weights),
            jac=True,
            method="L-BFGS-B",
            bounds=[(-LOG_BOUND, LOG_BOUND)] * 4,
            options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 2000},
        )
        if best is None or result.fun < best.fun:
            best = result
    log_params = np.clip(best.x, -LOG_BOUND, LOG_BOUND)
    r, alpha, a, b = np.exp(log_params)
    params = BgNbdParams(r=float(r), alpha=float(alpha * scale), a=float(a), b=float(b))
    at_bound = bool(np.any(np.abs(log_params) >= LOG_BOUND - 1e-6))
    # log-likelihood in days: rescaling time by s adds -x * log(s) per customer
    log_lik = -best.fun * weights.sum() - float(weights @ x) * np.log(scale)
    converged = bool(best.success) or bool(np.max(np.abs(best.jac)) < 1e-5)
    return BgNbdFit(params=params, log_likelihood=float(log_lik), converged=converged, at_bound=at_bound)


def _log_dropout_odds(params: BgNbdParams, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray) -> np.ndarray:
    """log of a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x) for x > 0; -inf for x = 0 (cannot have dropped out)."""
    out = np.full_like(x, -np.inf, dtype=float)
    repeat = x > 0
    xr = x[repeat]
    out[repeat] = (
        np.log(params.a)
        - np.log(params.b + xr - 1)
        + (params.r + xr) * (np.log(params.alpha + big_t[repeat]) - np.log(params.alpha + t_x[repeat]))
    )
    return out


def probability_alive(params: BgNbdParams, frequency, recency, age) -> np.ndarray:
    """P(still active at the calibration end | x, t_x, T)."""
    x, t_x, big_t = (np.asarray(v, dtype=float) for v in (frequency, recency, age))
    return special.expit(-_log_dropout_odds(params, x, t_x, big_t))


def expected_purchases(params: BgNbdParams, frequency, recency, age, horizon: float) -> np.ndarray:
    """Expected repeat purchases in the ``horizon`` days after the calibration end | x, t_x, T."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, t_x, big_t = (np.asarray(v, dtype=float) for v in (frequency, recency, age))
    if horizon <= 0:
        return np.zeros_like(x)
    z = horizon / (alpha + big_t + horizon)
    shrink = np.exp((r + x) * (np.log(alpha + big_t) - np.log(alpha + big_t + horizon)))
    hyper = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    numerator = (a + b + x - 1) / (a - 1) * (1 - shrink * hyper)
    denominator = 1 + np.exp(_log_dropout_odds(params, x, t_x, big_t))
    return numerator / denominator


def unconditional_expected_purchases(params: BgNbdParams, t: float) -> float:
    """E[X(t)] for a new customer: purchases in the first ``t`` days after the first purchase."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = t / (alpha + t)
    return float(
        (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * special.hyp2f1(r, b, a + b - 1, z))
    )


def simulate(
    params: BgNbdParams, age: np.ndarray, seed: int, horizon: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw (frequency, recency, holdout purchases) per customer from the model, in continuous time.

    Each customer is observed for ``age`` days after the first purchase and ``horizon`` days more.
    """
    g = np.random.default_rng(seed)
    n = len(age)
    rate = g.gamma(params.r, 1.0 / params.alpha, n)
    dropout = g.beta(params.a, params.b, n)
    frequency = np.zeros(n, dtype=np.int64)
    recency = np.zeros(n)
    holdout = np.zeros(n, dtype=np.int64)
    for i in range(n):
        t, end = 0.0, age[i] + horizon
        while True:
            if g.random() < dropout[i] and t > 0:
                break
            t += g.exponential(1.0 / rate[i])
            if t > end:
                break
            if t <= age[i]:
                frequency[i] += 1
                recency[i] = t
            else:
                holdout[i] += 1
    return frequency, recency, holdout
