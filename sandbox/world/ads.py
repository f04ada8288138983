"""Ads on Meta and Google: entities, true spend-response curves, daily delivery with late conversions."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sandbox import ids
from sandbox.spec import WorldSpec
from sandbox.util import DAY, S_AD_DAY, S_ADS, rng
from sandbox.world.incidents import Incident, window_factor

LAG_PROBS = np.array([0.45, 0.2, 0.12, 0.08, 0.06, 0.04, 0.03, 0.02])  # conversions visible after 0..7 days
DOW_FACTOR = np.array([1.0, 1.06, 1.08, 1.04, 0.96, 0.88, 0.9])  # Monday .. Sunday
PLATFORMS = ("meta", "google_ads")
CREATIVES = [
    "Case study video",
    "How-to carousel",
    "Comparison table",
    "Promo banner",
    "Testimonial",
    "Product demo",
    "Founder story",
    "Checklist",
    "ROI calculator",
    "Webinar invite",
]


@dataclass
class Ad:
    idx: int
    platform: str
    ad_id: str
    name: str
    group_id: str
    group_name: str
    campaign_id: str
    campaign_name: str
    launch_day: int
    budget: float  # initial daily budget, major units
    hill_a: float  # max conversions per day
    hill_k: float  # spend at half saturation
    hill_s: float  # shape (<= 1: concave)
    value_per_conversion: float
    cpm: float
    ctr: float
    fatigue: float  # per day since launch

    def curve(self) -> dict[str, float | str | int]:
        return {
            "platform": self.platform,
            "ad_id": self.ad_id,
            "ad_name": self.name,
            "campaign_id": self.campaign_id,
            "group_id": self.group_id,
            "a": self.hill_a,
            "k": self.hill_k,
            "s": self.hill_s,
            "value_per_conversion": self.value_per_conversion,
            "fatigue_per_day": self.fatigue,
            "launch_day": self.launch_day,
            "initial_daily_budget": self.budget,
        }


@dataclass
class AdDay:
    """One platform, one day: arrays over that platform's ads (positions in AdsWorld.by_platform)."""

    spend: np.ndarray
    impressions: np.ndarray
    clicks: np.ndarray
    link_clicks: np.ndarray
    conv_by_lag: np.ndarray  # (n_ads, 8)
    value: np.ndarray  # total conversion value (all lags)
    active: np.ndarray

    def visible(self, days_since: int) -> tuple[np.ndarray, np.ndarray]:
        """(conversions, value) the API shows `days_since` full days after the date (>= 1)."""
        k = int(np.clip(days_since, 0, 8))
        conv = self.conv_by_lag[:, :k].sum(axis=1)
        total = self.conv_by_lag.sum(axis=1)
        value = np.where(total > 0, self.value * conv / np.maximum(total, 1), 0.0)
        return conv, np.round(value, 2)


@dataclass
class BudgetEntity:
    """Where a platform keeps a daily budget: a Meta ad set, a Meta CBO campaign or a Google campaign budget.

    Ads never own budgets on Meta or Google; each ad spends a fixed share of its entity's budget
    (its initial budget / the entity's initial budget), so a world without writes delivers
    exactly what per-ad budgets delivered before.
    """

    platform: str
    entity_type: str  # adset | campaign | campaign_budget
    entity_id: str
    name: str
    campaign_ids: list[str]
    positions: list[int]  # the entity's ads, positions in AdsWorld.by_platform[platform]
    initial_budget: float  # major units, the sum of its ads' initial budgets
    explicitly_shared: bool = False
    adset_ids: list[str] = field(default_factory=list)  # Meta CBO: the ad sets it funds

    def to_dict(self, ads: list[Ad]) -> dict[str, object]:
        return {
            "platform": self.platform,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "name": self.name,
            "campaign_ids": self.campaign_ids,
            "explicitly_shared": self.explicitly_shared,
            "initial_daily_budget": self.initial_budget,
            "ad_shares": {ads[p].ad_id: ads[p].budget / self.initial_budget for p in self.positions},
        }


def _group_positions(ads: list[Ad], key: str) -> dict[str, list[int]]:
    """Ad positions by campaign or group id, in first-seen order."""
    out: dict[str, list[int]] = {}
    for pos, ad in enumerate(ads):
        out.setdefault(getattr(ad, key), []).append(pos)
    return out


def _entity(
    platform: str, kind: str, eid: str, name: str, ads: list[Ad], positions: list[int], shared: bool = False
) -> BudgetEntity:
    return BudgetEntity(
        platform,
        kind,
        eid,
        name,
        list(dict.fromkeys(ads[p].campaign_id for p in positions)),
        positions,
        float(sum(ads[p].budget for p in positions)),
        shared,
    )


def _meta_entities(spec: WorldSpec, ads: list[Ad]) -> list[BudgetEntity]:
    """CBO campaigns (index < meta_cbo_campaigns) hold the budget; the other campaigns' ad sets do."""
    out = []
    for ci, (cid, positions) in enumerate(_group_positions(ads, "campaign_id").items()):
        if ci < spec.meta_cbo_campaigns:
            entity = _entity("meta", "campaign", cid, ads[positions[0]].campaign_name, ads, positions)
            entity.adset_ids = list(dict.fromkeys(ads[p].group_id for p in positions))
            out.append(entity)
            continue
        for gid, group in _group_positions([ads[p] for p in positions], "group_id").items():
            members = [positions[i] for i in group]
            out.append(_entity("meta", "adset", gid, ads[members[0]].group_name, ads, members))
    return out


def _google_entities(spec: WorldSpec, ads: list[Ad]) -> list[BudgetEntity]:
    """One campaign budget per campaign; with google_shared_budget, campaigns 0 and 1 share one."""
    campaigns = list(_group_positions(ads, "campaign_id").items())
    out = []
    if spec.google_shared_budget and len(campaigns) >= 2:
        positions = campaigns[0][1] + campaigns[1][1]
        bid = ids.google_shared_budget_id(spec.seed)
        name = "Shared budget - Search 1 & 2"
        out.append(_entity("google_ads", "campaign_budget", bid, name, ads, positions, shared=True))
        campaigns = campaigns[2:]
    for cid, positions in campaigns:
        bid = ids.google_campaign_budget_id(cid)
        name = f"{ads[positions[0]].campaign_name} budget"
        out.append(_entity("google_ads", "campaign_budget", bid, name, ads, positions))
    return out


def hill(spend: np.ndarray | float, a: float, k: float, s: float) -> np.ndarray:
    spend = np.maximum(np.asarray(spend, dtype=float), 0.0)
    return a * spend**s / (k**s + spend**s)


class AdsWorld:
    def __init__(self, spec: WorldSpec) -> None:
        g = rng(spec.seed, S_ADS)
        self.ads: list[Ad] = []
        shapes = {
            "meta": (spec.meta_campaigns, spec.meta_adsets_per_campaign, spec.meta_ads_per_adset),
            "google_ads": (
                spec.google_campaigns,
                spec.google_ad_groups_per_campaign,
                spec.google_ads_per_ad_group,
            ),
        }
        for platform in PLATFORMS:
            nc, ng, na = shapes[platform]
            for ci in range(nc):
                cid = ids.ad_campaign_id(platform, spec.seed, ci)
                cname = (
                    f"Meta Prospecting {ci + 1}"
                    if platform == "meta"
                    else f"Search - Brand & Generic {ci + 1}"
                )
                for gi in range(ng):
                    gid = ids.ad_group_id(cid, gi)
                    gname = f"{cname} / {'Ad set' if platform == 'meta' else 'Ad group'} {gi + 1}"
                    for ai in range(na):
                        idx = len(self.ads)
                        aid = ids.ad_id(platform, gid, ai, idx)
                        creative = CREATIVES[int(g.integers(0, len(CREATIVES)))]
                        self.ads.append(
                            self._make_ad(
                                g, spec, idx, platform, aid, f"{creative} #{idx + 1}", gid, gname, cid, cname
                            )
                        )
        # spread efficiency so that the best creative has ~7x the ROAS of the worst
        eff = np.exp(np.linspace(np.log(0.45), np.log(3.2), len(self.ads)))
        g.shuffle(eff)
        for ad, roas in zip(self.ads, eff, strict=True):
            frac = float(hill(ad.budget, 1.0, ad.hill_k, ad.hill_s))
            ad.hill_a = roas * ad.budget / ad.value_per_conversion / frac
        self.by_platform = {p: [a for a in self.ads if a.platform == p] for p in PLATFORMS}
        self.by_id = {(a.platform, a.ad_id): a for a in self.ads}
        self.entities = {
            "meta": _meta_entities(spec, self.by_platform["meta"]),
            "google_ads": _google_entities(spec, self.by_platform["google_ads"]),
        }
        self.entity_by_id = {(e.platform, e.entity_id): e for es in self.entities.values() for e in es}
        self.cbo_adsets = {
            adset for e in self.entities["meta"] if e.entity_type == "campaign" for adset in e.adset_ids
        }

    def entity_of(self, platform: str, pos: int) -> BudgetEntity:
        """The budget entity funding the ad at position ``pos``."""
        return next(e for e in self.entities[platform] if pos in e.positions)

    @staticmethod
    def _make_ad(
        g: np.random.Generator,
        spec: WorldSpec,
        idx: int,
        platform: str,
        aid: str,
        name: str,
        gid: str,
        gname: str,
        cid: str,
        cname: str,
    ) -> Ad:
        budget = float(np.round(g.uniform(30, 250)))
        return Ad(
            idx,
            platform,
            aid,
            name,
            gid,
            gname,
            cid,
            cname,
            launch_day=int(g.integers(-120, max(1, spec.days // 3))) if g.random() < 0.8 else -200,
            budget=budget,
            hill_a=0.0,
            hill_k=budget * float(g.uniform(0.7, 2.5)),
            hill_s=float(g.uniform(0.55, 1.0)),
            value_per_conversion=float(np.round(g.uniform(45, 140), 2)),
            cpm=float(g.uniform(6, 22)),
            ctr=float(g.uniform(0.006, 0.03)),
            fatigue=float(g.uniform(0, 0.008)),
        )

    def generate_day(
        self,
        seed: int,
        platform: str,
        day: int,
        start_ts: int,
        budgets: np.ndarray,
        incidents: list[Incident],
    ) -> AdDay:
        ads = self.by_platform[platform]
        n = len(ads)
        g = rng(seed, S_AD_DAY, PLATFORMS.index(platform), day)
        noise = np.clip(g.normal(1.0, 0.08, n), 0.5, 1.3)
        u_imp, u_conv = g.random(n), g.random(n)
        day_ts = np.full(1, start_ts + day * DAY)
        active = np.array([day >= a.launch_day for a in ads]) & (budgets > 0)
        runaway = np.array(
            [
                window_factor(incidents, "runaway_spend", day_ts, 5.0, ids.ad_entity(platform, a.ad_id))[0]
                for a in ads
            ]
        )
        broken = np.array(
            [
                window_factor(
                    incidents, "broken_landing_page", day_ts, 0.2, ids.ad_entity(platform, a.ad_id)
                )[0]
                for a in ads
            ]
        )
        spend = np.where(active, np.round(budgets * noise * runaway, 2), 0.0)
        cpm = np.array([a.cpm for a in ads]) * (0.9 + 0.2 * u_imp)
        impressions = g.poisson(spend / cpm * 1000.0)
        clicks = g.binomial(impressions, [a.ctr for a in ads])
        link_clicks = g.binomial(clicks, 0.78)
        weekday = int(((start_ts // DAY + day) + 3) % 7)
        age = np.array([max(0, day - a.launch_day) for a in ads])
        fatigue = np.exp(-np.array([a.fatigue for a in ads]) * age)
        expected = np.array(
            [float(hill(s, a.hill_a, a.hill_k, a.hill_s)) for s, a in zip(spend, ads, strict=True)]
        )
        expected = expected * fatigue * DOW_FACTOR[weekday] * broken * (0.9 + 0.2 * u_conv)
        conv = g.poisson(expected)
        conv_by_lag = np.stack([g.multinomial(int(c), LAG_PROBS) for c in conv]) if n else np.zeros((0, 8))
        aov = np.array([a.value_per_conversion for a in ads])
        value = np.where(conv > 0, g.gamma(np.maximum(conv, 1) * 6.0, aov / 6.0), 0.0)
        return AdDay(spend, impressions, clicks, link_clicks, conv_by_lag, np.round(value, 2), active)
