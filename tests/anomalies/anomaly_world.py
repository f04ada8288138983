"""A seeded synthetic marketing world with labelled incidents, for detector tests.

Daily series for email streams, ads and CRM built the same way the mart series are (rates
with denominators, counts, amounts), with weekly seasonality, over-dispersion, campaign
gaps, and optional injected incidents whose ground truth is returned alongside.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

INCIDENT_TYPES = ("esp_tracking", "deliverability", "conversion_tracking", "runaway_spend", "crm_sync_stall")
DURATIONS = {
    "esp_tracking": 2,
    "deliverability": 3,
    "conversion_tracking": 3,
    "runaway_spend": 2,
    "crm_sync_stall": 2,
}


@dataclass(frozen=True)
class Label:
    incident_type: str
    start: pd.Timestamp
    end: pd.Timestamp
    scope: str


@dataclass
class World:
    series: pd.DataFrame
    labels: list[Label]
    days: pd.DatetimeIndex


def _rows(source: str, entity_type: str, entity_id: str, metric: str, days, values, denominators=None):
    frame = pd.DataFrame(
        {
            "series_id": f"{entity_type}:{entity_id}:{metric}",
            "source": source,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "metric": metric,
            "timestamp": days,
            "value": values,
        }
    )
    frame["denominator"] = np.nan if denominators is None else denominators
    return frame


def build_world(seed: int, n_days: int = 182, incidents: bool = True) -> World:
    rng = np.random.default_rng(seed)
    days = pd.date_range("2024-01-01", periods=n_days, freq="D")
    dow = days.day_of_week.to_numpy()
    labels: list[Label] = []
    effect: dict[str, np.ndarray] = {}
    if incidents:
        starts = rng.permutation(np.arange(70, n_days - 8, 9))[: len(INCIDENT_TYPES)]
        for kind, start in zip(INCIDENT_TYPES, starts, strict=True):
            mask = np.zeros(n_days, bool)
            mask[start : start + DURATIONS[kind]] = True
            effect[kind] = mask
            labels.append(Label(kind, days[start], days[start + DURATIONS[kind] - 1], ""))
    on = {kind: effect.get(kind, np.zeros(n_days, bool)) for kind in INCIDENT_TYPES}
    frames = []

    def noisy(p, sd=0.06):
        return np.clip(p * rng.lognormal(0, sd, n_days), 0, 1)

    email_events = np.zeros(n_days)
    streams = {"campaigns": 20000, "flow_welcome": 400, "flow_winback": 150}
    for stream, size in streams.items():
        recipients = rng.poisson(size * (1 + 0.1 * (dow < 5)), n_days).astype(float)
        if stream == "campaigns":
            recipients[~np.isin(dow, (1, 3))] = 0
        bounce_p = np.where(on["deliverability"], 0.09, noisy(0.01, 0.15))
        spam_p = np.where(on["deliverability"], 0.004, noisy(0.0004, 0.15))
        delivered = rng.binomial(recipients.astype(int), 1 - bounce_p).astype(float)
        open_p = noisy(0.3 * (1 + 0.05 * (dow == 1)) * (0.9 if stream == "flow_winback" else 1))
        open_p = np.where(on["esp_tracking"], open_p * 0.08, open_p)
        click_p = np.where(on["esp_tracking"], noisy(0.04) * 0.15, noisy(0.04))
        opens = rng.binomial(delivered.astype(int), open_p)
        clicks = rng.binomial(delivered.astype(int), click_p)
        unsubs = rng.binomial(delivered.astype(int), noisy(0.002, 0.2))
        spam = rng.binomial(delivered.astype(int), spam_p)
        orders = rng.poisson(clicks * 0.08).astype(float)
        revenue = np.array([rng.lognormal(4, 0.5, int(k)).sum() for k in orders])
        sent = recipients > 0
        email_events += recipients

        def rate(k, n, sent=sent):
            return np.where(sent, k / np.maximum(n, 1), np.nan)

        for metric, values, den in (
            ("delivered_rate", rate(delivered, recipients), recipients),
            ("bounce_rate", rate(recipients - delivered, recipients), recipients),
            ("open_rate", rate(opens, delivered), delivered),
            ("click_rate", rate(clicks, delivered), delivered),
            ("unsubscribe_rate", rate(unsubs, delivered), delivered),
            ("spam_rate", rate(spam, delivered), delivered),
        ):
            frames.append(_rows("email", "email_stream", stream, metric, days[sent], values[sent], den[sent]))
        frames.append(_rows("email", "email_stream", stream, "orders", days[sent], orders[sent]))
        frames.append(_rows("email", "email_stream", stream, "revenue", days[sent], revenue[sent]))
    frames.append(_rows("email", "source", "email", "events", days, email_events))

    runaway_ad = f"meta_ad_{rng.integers(3)}"
    for platform in ("meta", "google"):
        platform_clicks = np.zeros(n_days)
        platform_conversions = np.zeros(n_days)
        for i in range(3):
            ad = f"{platform}_ad_{i}"
            budget = rng.uniform(100, 600)
            spend = budget * (1 - 0.2 * (dow >= 5)) * rng.lognormal(0, 0.08, n_days)
            if ad == runaway_ad:
                spend = np.where(on["runaway_spend"], spend * 5, spend)
            impressions = rng.poisson(spend / rng.uniform(8, 14) * 1000).astype(float)
            clicks = rng.binomial(impressions.astype(int), noisy(0.012, 0.05)).astype(float)
            conv_rate = np.where(on["conversion_tracking"] & (platform == "meta"), 0.003, 0.03)
            conversions = rng.poisson(clicks * conv_rate).astype(float)
            value = conversions * 90 * rng.lognormal(0, 0.1, n_days)
            platform_clicks += clicks
            platform_conversions += conversions
            for metric, values, den in (
                ("spend", spend, None),
                ("cpc", spend / np.maximum(clicks, 1), clicks),
                ("cpm", spend / np.maximum(impressions, 1) * 1000, impressions),
                ("ctr", clicks / np.maximum(impressions, 1), impressions),
                ("roas", value / np.maximum(spend, 1e-9), spend),
                ("conversions", conversions, None),
            ):
                frames.append(_rows(f"ads:{platform}", "ad", ad, metric, days, values, den))
        frames.append(_rows(f"ads:{platform}", "ad_platform", platform, "clicks", days, platform_clicks))
        frames.append(
            _rows(f"ads:{platform}", "ad_platform", platform, "conversions", days, platform_conversions)
        )

    stall = on["crm_sync_stall"]
    crm = {
        "crm_leads": rng.poisson(40 * (1 + 0.3 * (dow < 5)), n_days),
        "crm_stage_changes": rng.poisson(120 * (1 + 0.3 * (dow < 5)), n_days),
        "deals_created": rng.poisson(6, n_days),
        "deals_won": rng.poisson(1.5, n_days),
    }
    for metric, values in crm.items():
        frames.append(_rows("crm", "crm", "hubspot", metric, days, np.where(stall, 0, values).astype(float)))
    frames.append(
        _rows(
            "crm",
            "source",
            "crm",
            "events",
            days,
            np.where(stall, 0, crm["crm_leads"] + crm["crm_stage_changes"]).astype(float),
        )
    )
    lag = rng.uniform(1, 3, n_days) + np.where(stall, 24 * np.cumsum(stall), 0)
    frames.append(_rows("crm", "source", "crm", "freshness_lag_hours", days, lag))
    series = pd.concat(frames, ignore_index=True)
    return World(series=series, labels=labels, days=days)
