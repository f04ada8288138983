"""World specification: presets, YAML overrides and (de)serialisation."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from sandbox.drift import validate_dropped_fields

DEFAULT_API_KEYS: dict[str, str] = {
    "klaviyo": "sandbox-klaviyo-key",
    "hubspot": "sandbox-hubspot-token",
    "meta": "sandbox-meta-token",
    "google_ads": "sandbox-google-token",  # the Google Ads developer token
    "google_refresh_token": "sandbox-google-refresh-token",
    "google_client_id": "sandbox-google-client.apps.googleusercontent.com",
    "google_client_secret": "sandbox-google-client-secret",
}


@dataclass
class WorldSpec:
    """Everything that defines a simulated world. Same spec -> same world, byte for byte."""

    base_preset: str = "demo"  # which preset the other fields started from (YAML key: `preset`)
    seed: int = 42
    start_date: date = date(2026, 1, 5)
    days: int = 90
    max_advance_days: int = 120
    # contacts
    n_contacts: int = 5000
    new_contact_share: float = 0.25
    subscribed_share: float = 0.85
    holdout_share: float = 0.05
    machine_open_share: float = 0.2
    bad_address_share: float = 0.02
    crm_overlap_share: float = 0.4
    crm_only_share: float = 0.15
    drift_at: float = 0.5
    # email
    campaigns_per_week: int = 3
    ab_test_share: float = 0.6
    max_variants: int = 3
    aa_share: float = 0.3
    test_share: float = 0.2
    flows: int = 2
    flow_steps: int = 4
    # ads
    meta_campaigns: int = 2
    meta_adsets_per_campaign: int = 2
    meta_ads_per_adset: int = 3
    google_campaigns: int = 2
    google_ad_groups_per_campaign: int = 2
    google_ads_per_ad_group: int = 2
    meta_cbo_campaigns: int = 1  # Meta campaigns [0, n) use campaign budget optimisation
    google_shared_budget: bool = False  # Google campaigns 0 and 1 share one explicitly shared budget
    currency: str = "USD"  # the ad accounts' currency (Meta offset, Google billable unit)
    # change
    incidents: int = 4
    incident_min_day: int = 2  # earliest world day an incident may start (evaluations: after warm-up)
    clean: bool = False
    # mess
    duplicate_rate: float = 0.005
    malformed_rate: float = 0.002
    late_event_share: float = 0.05
    unexpected_field_rate: float = 0.01
    # vendors
    api_keys: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_API_KEYS))
    meta_account_id: str = "1234567890"
    google_customer_id: str = "1112223333"
    hubspot_search_cap: int = 10000
    cache_days: int = 12
    # schema drift: fields the vendor stopped sending, {"meta.insights": ["spend"], ...} (sandbox.drift)
    dropped_fields: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.start_date, str):
            self.start_date = date.fromisoformat(self.start_date)
        self.api_keys = {**DEFAULT_API_KEYS, **(self.api_keys or {})}
        self.meta_account_id = str(self.meta_account_id)
        self.google_customer_id = str(self.google_customer_id).replace("-", "")
        self.dropped_fields = validate_dropped_fields(self.dropped_fields or {})
        if self.days < 1 or self.n_contacts < 10:
            raise ValueError("a world needs at least 1 day and 10 contacts")

    # effective knobs (the clean flag switches off incidents and all mess)
    @property
    def n_incidents(self) -> int:
        return 0 if self.clean else self.incidents

    def mess(self, name: str) -> float:
        return 0.0 if self.clean else float(getattr(self, name))

    @classmethod
    def preset(cls, name: str = "demo", **overrides: Any) -> WorldSpec:
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], "base_preset": name, **overrides})

    @classmethod
    def from_yaml(cls, path: str | Path) -> WorldSpec:
        data = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of WorldSpec fields")
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorldSpec:
        data = dict(data)
        base = data.pop("preset", None) or data.pop("base_preset", None) or "demo"
        data.pop("base_preset", None)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown WorldSpec fields: {unknown}")
        return cls.preset(base, **data)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["start_date"] = self.start_date.isoformat()
        if not self.dropped_fields:
            del out["dropped_fields"]  # saved states of default worlds stay byte-identical
        return out


PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(
        n_contacts=300,
        days=30,
        max_advance_days=60,
        campaigns_per_week=3,
        flows=2,
        meta_campaigns=1,
        meta_adsets_per_campaign=2,
        meta_ads_per_adset=2,
        google_campaigns=1,
        google_ad_groups_per_campaign=2,
        google_ads_per_ad_group=2,
        incidents=5,
        duplicate_rate=0.02,
        malformed_rate=0.01,
        late_event_share=0.05,
        unexpected_field_rate=0.02,
        cache_days=12,
    ),
    "demo": dict(n_contacts=5000, days=90),
    # between demo and large: big enough that a daily run is a small share of the history, small enough
    # that `make bench-daily` (a full build, then one daily run) takes a few minutes
    "medium": dict(
        n_contacts=20_000,
        days=180,
        max_advance_days=150,
        flows=2,
        meta_campaigns=3,
        meta_adsets_per_campaign=3,
        meta_ads_per_adset=3,
        google_campaigns=3,
        google_ad_groups_per_campaign=3,
        google_ads_per_ad_group=3,
        incidents=6,
        duplicate_rate=0.003,
        malformed_rate=0.001,
        cache_days=10,
    ),
    "large": dict(
        n_contacts=200_000,
        days=365,
        max_advance_days=180,
        flows=2,
        meta_campaigns=5,
        meta_adsets_per_campaign=5,
        meta_ads_per_adset=4,
        google_campaigns=5,
        google_ad_groups_per_campaign=5,
        google_ads_per_ad_group=4,
        incidents=10,
        duplicate_rate=0.002,
        malformed_rate=0.0005,
        cache_days=8,
    ),
}
