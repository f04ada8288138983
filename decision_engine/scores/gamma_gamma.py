"""Gamma-Gamma: the spend model beside BG/NBD (Fader, Hardie & Lee 2005, "RFM and CLV").

A customer's transaction values are Gamma(p, nu) with nu ~ Gamma(q, gamma) across customers,
independent of the purchase process. Fitted by maximum likelihood (log space) on customers with
at least one repeat purchase, from ``frequency`` (x) and ``average_value`` (m_x, the mean value
of their repeat purchase days).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

LOG_BOUND = np.log(1e6)


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    gamma: float

    def as_dict(self) -> dict[str, float]:
        return {"p": self.p, "q": self.q, "gamma": self.gamma}


@dataclass(frozen=True)
class GammaGammaFit:
    params: GammaGammaParams
    log_likelihood: float
    converged: bool
    at_bound: bool


def log_likelihood(params: GammaGammaParams, frequency: np.ndarray, average_value: np.ndarray) -> np.ndarray:
    """Per-customer log-likelihood of the average value m_x of x > 0 transactions."""
    p, q, gamma = params.p, params.q, params.gamma
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(average_value, dtype=float)
    return (
        special.gammaln(p * x + q)
        - special.gammaln(p * x)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (p * x - 1) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(gamma + m * x)
    )


def _negative_and_gradient(log_params: np.ndarray, x: np.ndarray, m: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood and its analytic gradient in log parameters."""
    p, q, gamma = np.exp(log_params)
    values = log_likelihood(GammaGammaParams(p, q, gamma), x, m)
    if not np.all(np.isfinite(values)):
        return 1e300, np.zeros(3)
    psi = special.digamma
    log_total = np.log(gamma + m * x)
    d_p = x * (psi(p * x + q) - psi(p * x) + np.log(m) + np.log(x) - log_total)
    d_q = psi(p * x + q) - psi(q) + np.log(gamma) - log_total
    d_gamma = q / gamma - (p * x + q) / (gamma + m * x)
    gradient = np.array([d_p.sum() * p, d_q.sum() * q, d_gamma.sum() * gamma])
    return -float(values.sum()) / len(x), -gradient / len(x)


def fit(frequency: np.ndarray, average_value: np.ndarray) -> GammaGammaFit:
    """Maximum-likelihood Gamma-Gamma parameters; callers pass only x > 0 and m_x > 0."""
    x = np.asarray(frequency, dtype=float)
    scale = float(np.mean(average_value))
    m = np.asarray(average_value, dtype=float) / scale
    best = None
    for start in ([0.0, 0.0, 0.0], [np.log(5.0), np.log(3.0), np.log(2.0)]):
        result = optimize.minimize(
            _negative_and_gradient,
            np.array(start),
            args=(x, m),
            jac=True,
            method="L-BFGS-B",
            bounds=[(-LOG_BOUND, LOG_BOUND)] * 3,
            options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 2000},
        )
        if best is None or result.fun < best.fun:
            best = result
    log_params = np.clip(best.x, -LOG_BOUND, LOG_BOUND)
    p, q, gamma = np.exp(log_params)
    params = GammaGammaParams(p=float(p), q=float(q), gamma=float(gamma * scale))
    log_lik = float(log_likelihood(params, x, np.asarray(average_value, dtype=float)).sum())
    at_bound = bool(np.any(np.abs(log_params) >= LOG_BOUND - 1e-6))
    converged = bool(best.success) or bool(np.max(np.abs(best.jac)) < 1e-5)
    return GammaGammaFit(params=params, log_likelihood=log_lik, converged=converged, at_bound=at_bound)


def expected_average_value(params: GammaGammaParams, frequency, average_value) -> np.ndarray:
    """E[value of a future transaction | x, m_x]; the population mean p*gamma/(q-1) when x = 0.

    Infinite (no finite mean) when q <= 1.
    """
    p, q, gamma = params.p, params.q, params.gamma
    x = np.asarray(frequency, dtype=float)
    m = np.where(x > 0, np.nan_to_num(np.asarray(average_value, dtype=float)), 0.0)
    if q <= 1:
        return np.full_like(x, np.inf)
    return p * (gamma + x * m) / (p * x + q - 1)
