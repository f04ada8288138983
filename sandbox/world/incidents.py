"""Labelled incidents: windows of time in which the world misbehaves."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from sandbox import ids
from sandbox.util import DAY, S_INCIDENTS, iso_utc, rng

KINDS = ("tracking_outage", "deliverability_drop", "broken_landing_page", "runaway_spend", "crm_sync_stall")
DESCRIPTIONS = {
    "tracking_outage": "Open and click tracking lost: Opened/Clicked Email events vanish.",
    "deliverability_drop": "Soft bounces spike across all sends.",
    "broken_landing_page": "Clicks as usual but conversions drop (email orders and one ad).",
    "runaway_spend": "One ad spends about 5x its daily budget.",
    "crm_sync_stall": "No HubSpot updates; changes land at the end of the stall.",
}

# Severity labels (ground truth only). Each incident's planted impact is measured against the
# clean world (same random streams, no incident) in the unit the incident damages, and divided
# by the clean world's mean daily volume of that unit over the REFERENCE_DAYS around it:
#   tracking_outage      opens + clicks lost                     / daily opens + clicks
#   deliverability_drop  sends inside the window (each bounces   / daily sends
#                        ~15x as often)
#   broken_landing_page  conversions lost (email-caused orders   / daily email orders + ad conversions
#                        plus the broken ad's conversions)
#   runaway_spend        spend above the ad's budgeted delivery  / daily spend of every ad
#   crm_sync_stall       HubSpot changes held back               / daily HubSpot changes
# An incident is critical when that share reaches CRITICAL_SHARE_OF_DAY (its damage is at least
# a quarter of a normal day's volume of what it breaks), else a warning.
REFERENCE_DAYS = 28
CRITICAL_SHARE_OF_DAY = 0.25


def severity(share_of_day: float) -> str:
    """``critical`` or ``warning`` from an incident's impact as a share of a normal day."""
    return "critical" if share_of_day >= CRITICAL_SHARE_OF_DAY else "warning"


@dataclass
class Incident:
    incident_id: str
    kind: str
    start_ts: int
    end_ts: int
    affected: list[str] = field(default_factory=list)

    def covers(self, ts: np.ndarray) -> np.ndarray:
        return (ts >= self.start_ts) & (ts < self.end_ts)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(
            start=iso_utc(self.start_ts), end=iso_utc(self.end_ts), description=DESCRIPTIONS[self.kind]
        )
        return out


def build_incidents(
    seed: int,
    count: int,
    days: int,
    start_ts: int,
    meta_ads: list[str],
    google_ads: list[str],
    min_day: int = 2,
) -> list[Incident]:
    """``count`` incidents starting on days ``min_day .. days - 4`` (at least on ``min_day``)."""
    if count <= 0 or days < 6:
        return []
    g = rng(seed, S_INCIDENTS)
    order = list(KINDS)
    g.shuffle(order)
    incidents = []
    for i in range(count):
        kind = order[i % len(order)]
        day = int(g.integers(min_day, max(min_day + 1, days - 3)))
        if kind in ("runaway_spend", "broken_landing_page"):
            start = start_ts + day * DAY
            end = start + int(g.integers(1, 3)) * DAY
        else:
            start = start_ts + day * DAY + int(g.integers(0, 12)) * 3600
            hours = {
                "tracking_outage": (18, 36),
                "deliverability_drop": (24, 48),
                "crm_sync_stall": (48, 96),
            }[kind]
            end = start + int(g.integers(*hours)) * 3600
        platform, ads = (
            ("meta", meta_ads) if g.random() < 0.5 or not google_ads else ("google_ads", google_ads)
        )
        ad = ads[int(g.integers(0, len(ads)))] if ads else ""
        affected = {
            "tracking_outage": ["klaviyo:Opened Email", "klaviyo:Clicked Email"],
            "deliverability_drop": ["klaviyo:Bounced Email"],
            "broken_landing_page": ["klaviyo:Placed Order", ids.ad_entity(platform, ad)],
            "runaway_spend": [ids.ad_entity(platform, ad)],
            "crm_sync_stall": ["hubspot:contacts", "hubspot:deals"],
        }[kind]
        incidents.append(Incident(ids.incident_id(i), kind, start, end, affected))
    return incidents


def window_factor(
    incidents: list[Incident], kind: str, ts: np.ndarray, factor: float, entity: str | None = None
) -> np.ndarray:
    """Multiplier per timestamp: `factor` inside incidents of `kind` (touching `entity`), else 1."""
    out = np.ones(np.shape(ts))
    for inc in incidents:
        if inc.kind == kind and (entity is None or entity in inc.affected):
            out = np.where(inc.covers(np.asarray(ts)), factor, out)
    return out
