"""Conversion-lag completeness and day-of-week factors, estimated per platform.

Conversions arrive up to 7 days after the spend that caused them, so the last 7 days of a
fresh export are incomplete. The engine never reads them as a drop: each recent day's
expected revenue is multiplied by a *completeness* factor (share of its final revenue
already reported at that age). The curve is estimated from the data (recent revenue per
unit of spend against each ad's mature return), shrunk toward an assumed curve, forced
to rise with age, or supplied by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

LAG_DAYS = 7
# Share of final revenue reported at age 0..6 days (age 0 = the file's last date).
ASSUMED_COMPLETENESS = np.array([0.55, 0.72, 0.82, 0.89, 0.94, 0.97, 0.99])
MATURE_WINDOW_DAYS = 28
PRIOR_EVENTS = 60.0


@dataclass
class SeasonalFactors:
    """Per-platform multipliers: ``completeness[p]`` (ages 0..6) and ``day_of_week[p]`` (Mon..Sun, mean 1)."""

    completeness: dict[str, np.ndarray]
    day_of_week: dict[str, np.ndarray]
    completeness_source: dict[str, str]

    def row_multiplier(
        self, platforms: np.ndarray, age_days: np.ndarray, day_of_week: np.ndarray
    ) -> np.ndarray:
        """Expected share of a day's final revenue visible now, times its day-of-week factor."""
        out = np.ones(len(platforms))
        for platform in np.unique(platforms):
            rows = platforms == platform
            curve = np.append(self.completeness[platform], 1.0)
            out[rows] = (
                curve[np.minimum(age_days[rows], LAG_DAYS)] * self.day_of_week[platform][day_of_week[rows]]
            )
        return out


def _event_counts(conversions: np.ndarray, revenue: np.ndarray) -> np.ndarray:
    """Conversions when reported, else a rough count from revenue at the median order value."""
    if conversions.sum() > 0:
        order_value = revenue.sum() / conversions.sum()
        return np.where(conversions > 0, conversions, revenue / max(order_value, 1e-9))
    return (revenue > 0).astype(float)


def _day_of_week(rows: pd.DataFrame) -> np.ndarray:
    mature = rows.loc[rows["age_days"] >= LAG_DAYS]
    if mature.empty or mature["spend"].sum() <= 0 or mature["revenue"].sum() <= 0:
        return np.ones(7)
    grouped = mature.groupby("day_of_week").agg(
        revenue=("revenue", "sum"), spend=("spend", "sum"), events=("events", "sum")
    )
    grouped = grouped.reindex(range(7), fill_value=0.0)
    overall = mature["revenue"].sum() / mature["spend"].sum()
    raw = np.where(
        grouped["spend"] > 0, grouped["revenue"] / np.maximum(grouped["spend"], 1e-12) / overall, 1.0
    )
    events = grouped["events"].to_numpy()
    factor = (events * raw + PRIOR_EVENTS) / (events + PRIOR_EVENTS)
    return factor / factor.mean()


def _completeness(rows: pd.DataFrame, dow: np.ndarray) -> tuple[np.ndarray, str]:
    mature = rows.loc[(rows["age_days"] >= LAG_DAYS) & (rows["age_days"] < LAG_DAYS + MATURE_WINDOW_DAYS)]
    if mature["revenue"].sum() <= 0:
        return ASSUMED_COMPLETENESS.copy(), "assumed"
    dow_mature = dow[mature["day_of_week"].to_numpy()]
    per_ad = (
        mature.assign(adjusted_spend=mature["spend"].to_numpy() * dow_mature)
        .groupby("ad_index")[["revenue", "adjusted_spend"]]
        .sum()
    )
    roas = (per_ad["revenue"] / per_ad["adjusted_spend"].where(per_ad["adjusted_spend"] > 0)).fillna(0.0)
    recent = rows.loc[rows["age_days"] < LAG_DAYS]
    expected = recent["spend"].to_numpy() * dow[recent["day_of_week"].to_numpy()]
    expected *= roas.reindex(recent["ad_index"]).fillna(0.0).to_numpy()
    recent = recent.assign(expected=expected)
    by_age = recent.groupby("age_days").agg(
        revenue=("revenue", "sum"), expected=("expected", "sum"), events=("events", "sum")
    )
    by_age = by_age.reindex(range(LAG_DAYS), fill_value=0.0)
    observed = np.where(
        by_age["expected"] > 0, by_age["revenue"] / np.maximum(by_age["expected"], 1e-12), 0.0
    )
    # events already seen understate the information at young ages; weight by expected events
    ratio = by_age["events"].to_numpy() / np.maximum(by_age["revenue"].to_numpy(), 1e-12)
    expected_events = np.where(by_age["expected"] > 0, by_age["expected"].to_numpy() * ratio, 0.0)
    weight = np.where(by_age["expected"] > 0, expected_events, 0.0)
    curve = (weight * np.minimum(observed, 1.2) + PRIOR_EVENTS * ASSUMED_COMPLETENESS) / (
        weight + PRIOR_EVENTS
    )
    # completeness must not fall with age: average the two one-sided monotone envelopes
    curve = 0.5 * (np.maximum.accumulate(curve) + np.minimum.accumulate(curve[::-1])[::-1])
    curve = np.clip(curve, 0.05, 1.0)
    return curve, "estimated"


def estimate_seasonal_factors(
    daily: pd.DataFrame, ad_platforms: np.ndarray, completeness: Sequence[float] | None = None
) -> SeasonalFactors:
    """Estimate day-of-week factors and (unless given) the completeness curve per platform."""
    rows = daily.assign(platform=ad_platforms[daily["ad_index"].to_numpy()])
    rows["events"] = _event_counts(rows["conversions"].to_numpy(float), rows["revenue"].to_numpy(float))
    given = None
    if completeness is not None:
        given = np.asarray(completeness, dtype=float)
        if (
            given.shape != (LAG_DAYS,)
            or np.any(~np.isfinite(given))
            or np.any(given <= 0)
            or np.any(given > 1)
        ):
            raise ValueError(
                f"completeness needs {LAG_DAYS} shares in (0, 1], for ages 0..{LAG_DAYS - 1} days"
            )
    curves: dict[str, np.ndarray] = {}
    dows: dict[str, np.ndarray] = {}
    sources: dict[str, str] = {}
    for platform, part in rows.groupby("platform", sort=True):
        dows[platform] = _day_of_week(part)
        if given is not None:
            curves[platform], sources[platform] = given.copy(), "given"
        else:
            curves[platform], sources[platform] = _completeness(part, dows[platform])
    return SeasonalFactors(completeness=curves, day_of_week=dows, completeness_source=sources)
