"""When a page catches a labelled incident: one rule for every evaluation of the pager.

A page catches a label when its incident type is one that diagnoses the label's kind, it
names the label's entity (for ad incidents), and its window overlaps the label's, give or
take a day. ``benchmarks/anomalies_sandbox_eval.py`` and ``loopwise simulate`` both score
pages with it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime, timedelta

# Sandbox incident kind -> the incident types that count as catching it.
MATCHING_TYPES = {
    "tracking_outage": {"esp_tracking"},
    "deliverability_drop": {"deliverability"},
    "broken_landing_page": {"conversion_tracking"},
    "runaway_spend": {"runaway_spend"},
    "crm_sync_stall": {"crm_sync_stall"},
}
# Sandbox platform -> the platform name the pipeline uses in its entities.
PIPELINE_PLATFORMS = {"meta": "meta_ads", "google_ads": "google_ads"}


def label_ads(affected: Iterable[str]) -> set[str]:
    """The ``ad:<platform>:<ad_id>`` entities (pipeline platform names) a label's ``affected`` list touches."""
    ads = set()
    for item in affected:
        platform, _, rest = item.partition(":")
        if rest.startswith("ad:"):
            ads.add(f"ad:{PIPELINE_PLATFORMS.get(platform, platform)}:{rest[3:]}")
    return ads


def page_matches(
    kind: str, ads: Collection[str], incident_type: str, scope: str | None, entities: Collection[str]
) -> bool:
    """Whether a page of ``incident_type`` on ``scope`` / ``entities`` diagnoses a label of ``kind``."""
    if incident_type not in MATCHING_TYPES[kind]:
        return False
    ads = set(ads)
    if kind == "runaway_spend":
        return bool(ads & ({scope} | set(entities)))
    if kind == "broken_landing_page":
        ad_sources = {"ads:" + ad.split(":")[1] for ad in ads}
        return scope in ({"email"} | ad_sources | ads) or bool(ads & set(entities))
    return True


def _day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def windows_overlap(
    page_start: datetime, page_end: datetime, label_start: datetime, label_end: datetime
) -> bool:
    """The page's window touches the label's, widened to whole days and by one day each side."""
    day = timedelta(days=1)
    return page_start <= _day(label_end) + day and page_end >= _day(label_start) - day
