"""Exact budget allocation for concave, separable objectives (water-filling).

Each ad's value is sampled on a grid between its lower and upper bound; the chords of a
concave function have falling slopes, so buying chord segments in order of slope until the
budget is spent is the exact optimum of the piecewise-linear objective and lands within a
grid step of the continuous optimum. Totals and bounds hold to floating-point precision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

ValueFunction = Callable[[np.ndarray], np.ndarray]


class BudgetInfeasibleError(ValueError):
    """The total budget cannot be met within the per-ad bounds."""


@dataclass
class WaterFill:
    spend: np.ndarray
    cutoff_slope: float  # marginal value at which the budget ran out (the "price" of a unit)


@dataclass
class Bounds:
    lower: np.ndarray
    upper: np.ndarray
    capped_by_change: np.ndarray  # per-ad max-change guardrail was tighter than min/max limits


def resolve_bounds(
    current: np.ndarray,
    movable: np.ndarray,
    max_change: float,
    min_budget: np.ndarray,
    max_budget: np.ndarray,
) -> Bounds:
    """Per-ad bounds: the max-change band around current spend, intersected with min/max.

    Where the limits and the band do not overlap, the max-change guardrail wins (the limit
    is approached over several days). Ads that are not movable are fixed at current spend.
    """
    band_low = current * (1.0 - max_change)
    band_high = current * (1.0 + max_change)
    lower = np.clip(np.maximum(band_low, min_budget), band_low, band_high)
    upper = np.clip(np.minimum(band_high, max_budget), band_low, band_high)
    upper = np.maximum(upper, lower)
    capped = (band_high < max_budget) | (band_low > min_budget)
    lower = np.where(movable, lower, current)
    upper = np.where(movable, upper, current)
    return Bounds(
        lower=np.maximum(lower, 0.0), upper=np.maximum(upper, 0.0), capped_by_change=capped & movable
    )


def allocate_concave(
    value: ValueFunction,
    lower: np.ndarray,
    upper: np.ndarray,
    total: float,
    *,
    grid_points: int = 129,
    min_slope: float | None = None,
) -> WaterFill:
    """Maximise ``sum_i value(spend)_i`` subject to ``lower <= spend <= upper`` and ``sum(spend) == total``.

    ``value`` maps an (n, G) array of spends to an (n, G) array of values and must be concave
    along each row. With ``min_slope``, stop early once segments return less than it (spend
    may then fall below ``total``, never above).
    """
    lower = np.asarray(lower, dtype=float)
    upper = np.asarray(upper, dtype=float)
    floor_total, ceiling_total = float(lower.sum()), float(upper.sum())
    tolerance = 1e-9 * max(1.0, abs(total))
    if total < floor_total - tolerance or (min_slope is None and total > ceiling_total + tolerance):
        raise BudgetInfeasibleError(
            f"a total of {total:,.2f} is outside what the per-ad bounds allow ({floor_total:,.2f} to {ceiling_total:,.2f})"
        )
    spend = lower.copy()
    movable = np.flatnonzero(upper - lower > 1e-12 * np.maximum(1.0, upper))
    remaining = total - floor_total
    if len(movable) == 0 or remaining <= 0:
        return WaterFill(spend=fix_total(spend, lower, upper, total, min_slope), cutoff_slope=float("nan"))
    fraction = np.linspace(0.0, 1.0, grid_points)
    width = upper[movable] - lower[movable]
    grid = lower[movable, None] + width[:, None] * fraction[None, :]
    values = value_rows(value, grid, movable, len(lower))
    step = width / (grid_points - 1)
    slopes = np.diff(values, axis=1) / step[:, None]
    slopes = np.minimum.accumulate(slopes, axis=1)  # guard concavity against rounding
    flat_slope = slopes.ravel()
    segment = np.tile(np.arange(grid_points - 1), len(movable))
    owner = np.repeat(np.arange(len(movable)), grid_points - 1)
    lengths = np.repeat(step, grid_points - 1)
    order = np.lexsort((segment, -flat_slope))
    if min_slope is not None:
        order = order[flat_slope[order] > min_slope]
    cumulative = np.cumsum(lengths[order])
    full = int(np.searchsorted(cumulative, remaining, side="right"))
    taken = np.zeros(len(movable))
    np.add.at(taken, owner[order[:full]], lengths[order[:full]])
    cutoff = float(flat_slope[order[full - 1]]) if full else float("nan")
    if full < len(order):
        partial = remaining - (cumulative[full - 1] if full else 0.0)
        taken[owner[order[full]]] += partial
        cutoff = float(flat_slope[order[full]])
    spend[movable] = np.minimum(lower[movable] + taken, upper[movable])
    return WaterFill(spend=fix_total(spend, lower, upper, total, min_slope), cutoff_slope=cutoff)


def value_rows(value: ValueFunction, grid: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """Evaluate ``value`` on a grid for a subset of ads (others padded with their first column)."""
    full = np.zeros((n, grid.shape[1]))
    full[rows] = grid
    return value(full)[rows]


def fix_total(
    spend: np.ndarray, lower: np.ndarray, upper: np.ndarray, total: float, min_slope: float | None = None
) -> np.ndarray:
    """Remove floating-point drift so the total is exact, keeping every ad within bounds (fixed ads exact)."""
    spend = np.where(upper - lower <= 0, lower, np.clip(spend, lower, upper))
    residual = total - float(spend.sum())
    if min_slope is not None and residual > 0:
        return spend
    for _ in range(3):
        if abs(residual) <= 1e-12 * max(1.0, abs(total)):
            break
        room = (upper - spend) if residual > 0 else (spend - lower)
        room = np.maximum(room, 0.0)
        if room.sum() <= 0:
            break
        spend = spend + np.sign(residual) * np.minimum(room, abs(residual) * room / room.sum())
        spend = np.clip(spend, lower, upper)
        residual = total - float(spend.sum())
    return spend
