"""How complete a day's ad conversions are at each age, learned from the platforms' restatements.

Meta and Google keep attributing conversions to a day for a week after it (7-day click window),
so yesterday's conversions read low today and grow for a week. Every ingestion run keeps what it
read (``marts.fct_ad_conversion_snapshots``: conversions per ad-day per observation day); a
day's *maturity* at age ``a`` (days from the ad-day to the read) is the share of its final
conversions (the newest read at age ``MATURE_AGE_DAYS`` or older) already reported then:

- per platform, a ratio of sums over the ad-days seen at that age and again once mature
  (each conversion weighs the same, as the Poisson thinning of a day's count has it);
- shrunk toward the curve pooled over platforms, and that toward the assumed default curve,
  each by ``PRIOR_CONVERSIONS`` final conversions, so thin data leans on the default;
- forced to rise with age and to stay in (0, 1].

The anomaly series judge a young day's conversions against the expectation scaled by its
maturity (:func:`decision_engine.anomalies.detector.detect`, column ``maturity``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from decision_engine.budget.lag import ASSUMED_COMPLETENESS

MATURE_AGE_DAYS = 7  # the platforms' default attribution window: 7 days after the click
# The budget engine's assumed completeness is indexed by age in its export (0 = the export's last
# day, read a day later); here age 1 is the day before the read, so the same curve moves by one.
DEFAULT_MATURITY = np.concatenate([[0.0], ASSUMED_COMPLETENESS[: MATURE_AGE_DAYS - 1], [1.0]])
PRIOR_CONVERSIONS = 60.0
MIN_MATURITY = 0.3  # younger days say too little: left out of the series, as before

MaturitySource = Literal["learned", "pooled", "assumed"]
SNAPSHOT_COLUMNS = ("platform", "ad_id", "date_day", "age_days", "conversions")


@dataclass(frozen=True)
class ConversionMaturity:
    """Share of a day's final conversions reported at age 0..``MATURE_AGE_DAYS`` (index = age in
    days), per platform and pooled; ``sources`` says what each platform's curve rests on and
    ``evidence`` how many final conversions its youngest judged age was learned from."""

    pooled: np.ndarray
    curves: dict[str, np.ndarray] = field(default_factory=dict)
    sources: dict[str, MaturitySource] = field(default_factory=dict)
    evidence: dict[str, float] = field(default_factory=dict)

    def curve(self, platform: str) -> np.ndarray:
        return self.curves.get(platform, self.pooled)

    def share(self, platforms: Iterable[str], ages: Iterable[int]) -> np.ndarray:
        """Maturity of each (platform, age) pair; 1 at ``MATURE_AGE_DAYS`` and older, 0 below 1."""
        platforms = np.asarray(list(platforms), dtype=object)
        ages = np.asarray(list(ages), dtype=np.int64)
        out = np.ones(len(ages))
        clipped = np.clip(ages, 0, MATURE_AGE_DAYS)
        for platform in pd.unique(platforms):
            rows = platforms == platform
            out[rows] = self.curve(str(platform))[clipped[rows]]
        return out


def assumed_maturity() -> ConversionMaturity:
    """Before any history: the default curve for every platform."""
    return ConversionMaturity(pooled=DEFAULT_MATURITY.copy())


def learn_conversion_maturity(snapshots: pd.DataFrame) -> ConversionMaturity:
    """The maturity curves from conversion snapshots (columns ``SNAPSHOT_COLUMNS``; more are ignored)."""
    if snapshots.empty:
        return assumed_maturity()
    rows = snapshots.loc[:, list(SNAPSHOT_COLUMNS)].copy()
    rows["conversions"] = pd.to_numeric(rows["conversions"], errors="coerce").fillna(0.0)
    rows["age_days"] = rows["age_days"].astype(np.int64)
    key = ["platform", "ad_id", "date_day"]
    mature = rows[rows["age_days"] >= MATURE_AGE_DAYS]
    final = (
        mature.sort_values("age_days")
        .groupby(key, as_index=False)
        .last()[[*key, "conversions"]]
        .rename(columns={"conversions": "final"})
    )
    young = rows[(rows["age_days"] >= 1) & (rows["age_days"] < MATURE_AGE_DAYS)].merge(final, on=key)
    sums = young.groupby(["platform", "age_days"])[["conversions", "final"]].sum()
    pooled_sums = young.groupby("age_days")[["conversions", "final"]].sum()
    pooled, _ = _shrunk(pooled_sums, DEFAULT_MATURITY)
    curves: dict[str, np.ndarray] = {}
    sources: dict[str, MaturitySource] = {}
    evidence: dict[str, float] = {}
    pooled_weight = float(pooled_sums["final"].get(1, 0.0)) if len(pooled_sums) else 0.0
    for platform in sorted(set(rows["platform"].astype(str))):
        part = sums.xs(platform, level="platform") if platform in sums.index.get_level_values(0) else None
        curve, weight = _shrunk(part, pooled)
        curves[platform] = curve
        evidence[platform] = weight
        sources[platform] = (
            "learned"
            if weight >= PRIOR_CONVERSIONS
            else "pooled"
            if pooled_weight >= PRIOR_CONVERSIONS
            else "assumed"
        )
    return ConversionMaturity(pooled=pooled, curves=curves, sources=sources, evidence=evidence)


def _shrunk(sums: pd.DataFrame | None, prior: np.ndarray) -> tuple[np.ndarray, float]:
    """Per age the observed share shrunk toward ``prior`` by ``PRIOR_CONVERSIONS``, made to rise
    with age; and the final conversions behind age 1 (the evidence for the youngest judged day)."""
    curve = prior.copy()
    if sums is None or sums.empty:
        return curve, 0.0
    by_age = sums.reindex(range(1, MATURE_AGE_DAYS), fill_value=0.0)
    observed = by_age["conversions"].to_numpy(float)
    weight = by_age["final"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(weight > 0, np.minimum(observed / weight, 1.0), 0.0)
    curve[1:MATURE_AGE_DAYS] = (weight * share + PRIOR_CONVERSIONS * prior[1:MATURE_AGE_DAYS]) / (
        weight + PRIOR_CONVERSIONS
    )
    curve[1:] = np.clip(np.maximum.accumulate(curve[1:]), 1e-3, 1.0)
    curve[MATURE_AGE_DAYS] = 1.0
    return curve, float(weight[0])
