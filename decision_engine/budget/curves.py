"""Concave spend-response shapes, normalised so that ``shape(reference) == reference``.

Every ad's expected daily revenue is ``roas_at_reference * shape(spend)``: the scale is the
return on ad spend at the ad's reference spend (its current daily spend), and ``rho`` sets
how quickly returns diminish, as a multiple of the reference spend. Both families are
concave for ``spend >= 0``, so a sum of them can be maximised exactly by water-filling.

- ``hill``: Hill curve with slope 1 (Michaelis-Menten), saturating at
  ``(1 + rho) * reference``; half of saturation at ``spend = rho * reference``.
- ``log``: ``log(1 + spend / (rho * reference))``, never saturating.

The ratio of marginal to average return at the reference spend is ``rho / (1 + rho)``
(hill) and ``1 / ((1 + rho) * log(1 + 1/rho))`` (log): small ``rho`` means saturated.
"""

from __future__ import annotations

import numpy as np

CURVE_FAMILIES = ("hill", "log")


def _check_family(curve: str) -> None:
    if curve not in CURVE_FAMILIES:
        raise ValueError(f"unknown curve family {curve!r}; use one of {', '.join(CURVE_FAMILIES)}")


def response_shape(curve: str, spend: np.ndarray, reference: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Normalised response at ``spend`` (broadcasts over all arguments)."""
    _check_family(curve)
    spend = np.maximum(np.asarray(spend, dtype=float), 0.0)
    half = rho * reference
    if curve == "hill":
        return spend * (1.0 + rho) * reference / (spend + half)
    return reference * np.log1p(spend / half) / np.log1p(1.0 / rho)


def response_slope(curve: str, spend: np.ndarray, reference: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Derivative of :func:`response_shape` with respect to spend."""
    _check_family(curve)
    spend = np.maximum(np.asarray(spend, dtype=float), 0.0)
    half = rho * reference
    if curve == "hill":
        return (1.0 + rho) * reference * half / (spend + half) ** 2
    return reference / (half + spend) / np.log1p(1.0 / rho)


def default_rho_grid(curve: str, points: int = 15) -> tuple[np.ndarray, np.ndarray]:
    """Grid of ``rho`` values and a weakly informative prior over them (sums to one)."""
    _check_family(curve)
    grid = np.geomspace(0.08, 40.0, points)
    centre = np.log(2.0) if curve == "hill" else np.log(1.0)
    log_prior = -0.5 * ((np.log(grid) - centre) / 1.2) ** 2
    prior = np.exp(log_prior - log_prior.max())
    return grid, prior / prior.sum()
