"""Always-valid inference: the normal-mixture SPRT (mSPRT) of Johari, Pekelis & Walsh
(2017, "Always valid inference") and the matching confidence sequence (Howard et al. 2021,
normal-mixture boundary; asymptotic form of Waudby-Smith et al. 2021).

With the estimated difference D_t, its variance V_t and a N(0, tau^2) mixture over the
effect, the mixture likelihood ratio against "no difference" is

    Lambda_t = sqrt(V_t / (V_t + tau^2)) * exp(D_t^2 tau^2 / (2 V_t (V_t + tau^2))).

``1 / max_s Lambda_s`` is an always-valid p-value and
``{theta : |D_t - theta| <= sqrt(V_t (1 + r_t) / r_t * (2 log(1/alpha) + log(1 + r_t)))}``
(``r_t = tau^2 / V_t``) holds for every t simultaneously with probability 1 - alpha, so
the experiment can be looked at daily (or continuously) without inflating false positives.

Tuning: ``tau`` is chosen so the boundary is tightest at the experiment's *planned* sample
size: with V_t ~ sigma^2 / n_t, ``r_t = r_star * n_t / n_planned`` where ``r_star``
minimises the half-width at the planned n (it depends on alpha only).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import optimize, stats

Array = np.ndarray


@lru_cache(maxsize=64)
def optimal_mixture_ratio(alpha: float) -> float:
    """r* = tau^2 / V at the planned n that minimises the confidence-sequence half-width."""

    def width_squared(log_r: float) -> float:
        r = np.exp(log_r)
        return (1 + r) / r * (2 * np.log(1 / alpha) + np.log1p(r))

    result = optimize.minimize_scalar(width_squared, bounds=(-5, 10), method="bounded")
    return float(np.exp(result.x))


def boundary_multiplier(information_fraction: Array, alpha: float) -> Array:
    """Half-width of the confidence sequence in standard errors at information fraction
    n_t / n_planned (the fixed-horizon equivalent is z_{1-alpha/2} = 1.96 at alpha 0.05)."""
    r = optimal_mixture_ratio(alpha) * np.asarray(information_fraction, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt((1 + r) / r * (2 * np.log(1 / alpha) + np.log1p(r)))


def mixture_log_likelihood_ratio(z: Array, information_fraction: Array, alpha: float) -> Array:
    """log Lambda_t for z_t = D_t / sqrt(V_t)."""
    r = optimal_mixture_ratio(alpha) * np.asarray(information_fraction, dtype=float)
    z = np.asarray(z, dtype=float)
    return -0.5 * np.log1p(r) + z**2 * r / (2 * (1 + r))


@dataclass
class SequentialResult:
    p_value: Array  # single-look always-valid p (take the running minimum over looks)
    ci_lower: Array
    ci_upper: Array
    multiplier: Array


def sequential_inference(
    estimate: Array, standard_error: Array, information_fraction: Array, alpha: float = 0.05
) -> SequentialResult:
    """Always-valid p-value and confidence-sequence bounds at one look (per element)."""
    estimate = np.asarray(estimate, dtype=float)
    se = np.asarray(standard_error, dtype=float)
    fraction = np.clip(np.asarray(information_fraction, dtype=float), 1e-9, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, estimate / se, np.where(estimate == 0, 0.0, np.inf))
    log_lr = mixture_log_likelihood_ratio(z, fraction, alpha)
    p_value = np.minimum(1.0, np.exp(-np.clip(log_lr, -700, 700)))
    multiplier = boundary_multiplier(fraction, alpha)
    return SequentialResult(
        p_value=p_value,
        ci_lower=estimate - multiplier * se,
        ci_upper=estimate + multiplier * se,
        multiplier=multiplier,
    )


def fixed_horizon_power(standardised_effect: Array, alpha: float = 0.05) -> Array:
    """Two-sided power of a z test when effect / se at the final look is ``standardised_effect``."""
    d = np.abs(np.asarray(standardised_effect, dtype=float))
    z = stats.norm.ppf(1 - alpha / 2)
    return stats.norm.sf(z - d) + stats.norm.cdf(-z - d)


def sequential_power(
    standardised_effect: float,
    alpha: float = 0.05,
    looks: int = 28,
    simulations: int = 20000,
    seed: int = 0,
) -> float:
    """Power of the mSPRT looked at ``looks`` equally spaced times up to the planned n, when
    the effect / se at the planned n equals ``standardised_effect`` (Brownian-motion model)."""
    rng = np.random.default_rng(seed)
    fractions = np.arange(1, looks + 1) / looks
    increments = rng.standard_normal((simulations, looks)) * np.sqrt(np.diff(fractions, prepend=0.0))
    score = np.cumsum(increments, axis=1) + standardised_effect * fractions  # S_t, var t
    z = score / np.sqrt(fractions)
    log_lr = mixture_log_likelihood_ratio(z, fractions, alpha)
    return float(np.mean((log_lr >= np.log(1 / alpha)).any(axis=1)))


@dataclass
class PowerRetention:
    fixed_power: float
    sequential_power: float
    retained_share: float
    final_look_multiplier: float
    fixed_multiplier: float
    sample_size_inflation_for_same_power: float


def power_retention(power: float = 0.8, alpha: float = 0.05, looks: int = 28, seed: int = 0) -> PowerRetention:
    """How much of the fixed-horizon power the tuned mSPRT keeps at the planned MDE, and how
    much larger n it needs to reach the same power (daily looks, Brownian-motion model)."""
    z_alpha = stats.norm.ppf(1 - alpha / 2)
    effect = z_alpha + stats.norm.ppf(power)
    seq = sequential_power(effect, alpha, looks, seed=seed)
    inflation = optimize.brentq(
        lambda k: sequential_power(effect * np.sqrt(k), alpha, looks, simulations=8000, seed=seed) - power,
        1.0,
        4.0,
        xtol=0.01,
    )
    return PowerRetention(
        fixed_power=float(fixed_horizon_power(effect, alpha)),
        sequential_power=seq,
        retained_share=seq / float(fixed_horizon_power(effect, alpha)),
        final_look_multiplier=float(boundary_multiplier(1.0, alpha)),
        fixed_multiplier=float(z_alpha),
        sample_size_inflation_for_same_power=float(inflation),
    )
