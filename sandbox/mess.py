"""Planted mess, decided by a seeded hash of each record's stable key."""

from __future__ import annotations

import numpy as np

from sandbox.util import hash01, salt

MALFORMED_KINDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("klaviyo", "events"): (
        "missing_id",
        "unparseable_timestamp",
        "missing_profile_relationship",
        "non_numeric_metric_string",
    ),
    ("klaviyo", "profiles"): ("invalid_email",),
    ("hubspot", "contacts"): ("invalid_email",),
    ("hubspot", "deals"): ("non_numeric_metric_string", "unparseable_timestamp"),
    ("meta", "insights"): ("negative_spend", "non_numeric_metric_string"),
    ("google_ads", "ad_group_ad"): ("negative_spend",),
}
UNEXPECTED_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("klaviyo", "events"): ("source_channel", "attribution_model"),
    ("klaviyo", "profiles"): ("locale", "predictive_segment"),
    ("hubspot", "contacts"): ("url",),
    ("hubspot", "deals"): ("url",),
    ("meta", "insights"): ("attribution_setting", "quality_ranking"),
}
BAD_TIMESTAMP = "2026-13-45T25:61:00"
BAD_NUMBER = "N/A"


class Mess:
    def __init__(
        self, seed: int, duplicate_rate: float, malformed_rate: float, unexpected_rate: float
    ) -> None:
        self.seed = seed
        self.duplicate_rate = duplicate_rate
        self.malformed_rate = malformed_rate
        self.unexpected_rate = unexpected_rate

    def duplicated(self, keys: np.ndarray, vendor: str, resource: str) -> np.ndarray:
        if self.duplicate_rate <= 0:
            return np.zeros(len(keys), dtype=bool)
        return hash01(keys, salt(self.seed, "dup", vendor, resource)) < self.duplicate_rate

    def malformed(self, keys: np.ndarray, vendor: str, resource: str) -> np.ndarray:
        """Index into MALFORMED_KINDS[(vendor, resource)] per key, -1 when the record is fine."""
        keys = np.asarray(keys)
        if self.malformed_rate <= 0:
            return np.full(len(keys), -1)
        kinds = MALFORMED_KINDS[(vendor, resource)]
        hit = hash01(keys, salt(self.seed, "malformed", vendor, resource)) < self.malformed_rate
        which = (hash01(keys, salt(self.seed, "malformed-kind", vendor, resource)) * len(kinds)).astype(int)
        return np.where(hit, which, -1)

    def unexpected(self, keys: np.ndarray, vendor: str, resource: str) -> np.ndarray:
        """Index into UNEXPECTED_FIELDS per key (which extra field the record carries), -1 for none."""
        keys = np.asarray(keys)
        if self.unexpected_rate <= 0 or (vendor, resource) not in UNEXPECTED_FIELDS:
            return np.full(len(keys), -1)
        names = UNEXPECTED_FIELDS[(vendor, resource)]
        hit = hash01(keys, salt(self.seed, "unexpected", vendor, resource)) < self.unexpected_rate
        which = (hash01(keys, salt(self.seed, "unexpected-kind", vendor, resource)) * len(names)).astype(int)
        return np.where(hit, which, -1)
