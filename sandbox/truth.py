"""Ground truth for tests and benchmarks (never served to the pipeline)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from sandbox.mess import MALFORMED_KINDS
from sandbox.util import DAY, iso_utc, uuid_like
from sandbox.world import events as ev
from sandbox.world.ads import DOW_FACTOR, hill
from sandbox.world.core import World


def expected_conversions(
    curve: dict[str, Any], spend: float | np.ndarray, day: int | None = None, start_weekday: int = 0
) -> np.ndarray:
    """True expected conversions per day at `spend` (with fatigue and weekday effect when `day` is given)."""
    out = hill(spend, curve["a"], curve["k"], curve["s"])
    if day is not None:
        age = max(0, day - curve["launch_day"])
        out = out * np.exp(-curve["fatigue_per_day"] * age) * DOW_FACTOR[(start_weekday + day) % 7]
    return out


def expected_revenue(curve: dict[str, Any], spend: float | np.ndarray, day: int | None = None) -> np.ndarray:
    return expected_conversions(curve, spend, day) * curve["value_per_conversion"]


def optimal_allocation(
    curves: list[dict[str, Any]], total_budget: float, steps: int = 2000
) -> dict[str, float]:
    """Revenue-maximising split of a daily budget across ads (greedy on marginal revenue; curves are concave)."""
    alloc = np.zeros(len(curves))
    step = total_budget / steps
    for _ in range(steps):
        gains = [
            float(expected_revenue(c, alloc[i] + step) - expected_revenue(c, alloc[i]))
            for i, c in enumerate(curves)
        ]
        alloc[int(np.argmax(gains))] += step
    return {f"{c['platform']}:{c['ad_id']}": round(float(a), 2) for c, a in zip(curves, alloc, strict=True)}


def _campaigns(world: World) -> list[dict[str, Any]]:
    out = []
    for camp in world.plan.campaigns:
        if camp.created_ts > world.clock_ts:
            continue
        who, _ = ev.campaign_audience(world.email_ctx, camp)
        variants = []
        for m in camp.messages:
            msg = world.plan.messages[m]
            p_open, p_click, p_conv = ev.send_probabilities(
                world.email_ctx, who, camp.send_ts, msg, camp.content
            )
            variants.append(
                {
                    "message_id": msg.message_id,
                    "label": msg.label,
                    "subject": msg.subject,
                    "lift": {
                        "open": msg.lift_open,
                        "click": msg.lift_click,
                        "conversion": msg.lift_conversion,
                    },
                    "expected": {
                        "human_open_rate": float(p_open.mean()) if len(who) else 0.0,
                        "click_rate": float((p_open * p_click).mean()) if len(who) else 0.0,
                        "conversion_rate": float((p_open * p_click * p_conv).mean()) if len(who) else 0.0,
                    },
                }
            )
        rolled = world.visible_winner(camp)
        best = (
            max(variants, key=lambda v: v["expected"]["conversion_rate"])["message_id"] if variants else None
        )
        out.append(
            {
                "campaign_id": camp.campaign_id,
                "name": camp.name,
                "send_time": iso_utc(camp.send_ts),
                "rollout_time": iso_utc(camp.rollout_ts),
                "is_ab": camp.is_ab,
                "is_aa": camp.is_aa,
                "test_share": camp.test_share,
                "audience_size": int(len(who)),
                "variants": variants,
                "true_best_message_id": best if camp.is_ab and not camp.is_aa else None,
                "winner_message_id": world.plan.messages[rolled].message_id if rolled is not None else None,
            }
        )
    return out


def _flows(world: World) -> list[dict[str, Any]]:
    out = []
    for flow in world.plan.flows:
        steps = []
        for s in flow.steps:
            msgs = [world.plan.messages[m] for m in s.messages]
            steps.append(
                {
                    "flow_action_id": s.action_id,
                    "step": s.step,
                    "delay_days": s.delay_days,
                    "continue_prob": s.continue_prob,
                    "is_split": s.is_split,
                    "is_aa": s.is_aa,
                    "variants": [
                        {
                            "message_id": m.message_id,
                            "label": m.label,
                            "lift": {
                                "open": m.lift_open,
                                "click": m.lift_click,
                                "conversion": m.lift_conversion,
                            },
                        }
                        for m in msgs
                    ],
                }
            )
        out.append(
            {"flow_id": flow.flow_id, "name": flow.name, "trigger_type": flow.trigger_type, "steps": steps}
        )
    return out


def _scan_events(world: World) -> dict[str, Any]:
    """One pass over every served event: counts, email-caused orders, malformed and duplicates."""
    from sandbox.vendors.klaviyo_records import event_id

    c = world.contacts
    counts: Counter[str] = Counter()
    email_orders = np.zeros(c.n)
    email_revenue = np.zeros(c.n)
    malformed, duplicates = [], []
    kinds = MALFORMED_KINDS[("klaviyo", "events")]
    for d in range(world.clock_day):
        b = world.visible_events(d)
        counts.update(ev.METRICS[m] for m in b.metric.tolist())
        email = (b.metric == ev.ORDER) & (b.source == ev.SOURCE_EMAIL)
        np.add.at(email_orders, b.contact[email], 1)
        np.add.at(email_revenue, b.contact[email], b.aux[email])
        bad = world.event_malformed(b)
        for i in np.nonzero(bad >= 0)[0]:
            key = int(b.key[i])
            kind = kinds[bad[i]]
            rid = uuid_like(key, world.spec.seed) if kind == "missing_id" else event_id(world, key)
            malformed.append(
                {
                    "vendor": "klaviyo",
                    "resource": "events",
                    "record_id": rid,
                    "kind": kind,
                    "id_field": "attributes.uuid" if kind == "missing_id" else "id",
                }
            )
        for i in np.nonzero(world.mess.duplicated(b.key, "klaviyo", "events"))[0]:
            duplicates.append(
                {"vendor": "klaviyo", "resource": "events", "record_id": event_id(world, int(b.key[i]))}
            )
    eligible = c.eligible & (c.created_ts < world.clock_ts)
    holdout = c.holdout & c.subscribed & (c.created_ts < world.clock_ts)
    days = max(1, world.clock_day)
    return {
        "counts": dict(counts),
        "malformed": malformed,
        "duplicates": duplicates,
        "holdout": {
            "holdout_group": "global_holdout",
            "holdout_contacts": int(holdout.sum()),
            "treated_contacts": int(eligible.sum()),
            "true_incremental_orders_per_contact": float(
                email_orders[eligible].sum() / max(1, eligible.sum())
            ),
            "true_incremental_revenue_per_contact": float(
                email_revenue[eligible].sum() / max(1, eligible.sum())
            ),
            "baseline_orders_per_contact_day_holdout": float(
                c.propensity[holdout].mean() if holdout.any() else 0
            ),
            "baseline_orders_per_contact_day_treated": float(
                c.propensity[eligible].mean() if eligible.any() else 0
            ),
            "period_days": days,
            "note": "Holdout contacts get no campaign/flow email; the email program's true effect is the "
            "email-caused orders (incremental_*) on top of identical baseline propensities.",
        },
    }


def _other_records(world: World) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, int]]:
    from sandbox.vendors.klaviyo_records import profile_id

    malformed, duplicates, counts = [], [], {}
    c = world.contacts
    prof = np.nonzero(c.created_ts < world.clock_ts)[0]
    counts["klaviyo.profiles"] = int(len(prof))
    for i in prof[world.mess.malformed(prof, "klaviyo", "profiles") >= 0]:
        malformed.append(
            {
                "vendor": "klaviyo",
                "resource": "profiles",
                "record_id": profile_id(world, int(i)),
                "kind": "invalid_email",
                "id_field": "id",
            }
        )
    for i in prof[world.mess.duplicated(prof, "klaviyo", "profiles")]:
        duplicates.append(
            {"vendor": "klaviyo", "resource": "profiles", "record_id": profile_id(world, int(i))}
        )
    crm = world.crm
    for resource, ids, created in (
        ("contacts", crm.contact_ids, crm.created_ts),
        ("deals", crm.deal_ids, crm.deal_created_ts),
    ):
        vis = ids[created <= world.clock_ts]
        counts[f"hubspot.{resource}"] = int(len(vis))
        kinds = world.mess.malformed(vis, "hubspot", resource)
        for rid, k in zip(vis[kinds >= 0], kinds[kinds >= 0], strict=True):
            malformed.append(
                {
                    "vendor": "hubspot",
                    "resource": resource,
                    "record_id": str(int(rid)),
                    "kind": MALFORMED_KINDS[("hubspot", resource)][k],
                    "id_field": "id",
                }
            )
    for platform, resource in (("meta", "insights"), ("google_ads", "ad_group_ad")):
        rows = world.ad_rows(platform, -10_000, world.clock_day)
        ads = world.ads.by_platform[platform]
        keys = np.array([(ads[p].idx << 32) | d for d, p in rows], dtype=np.uint64)
        counts[f"{platform}.{resource}"] = len(rows)
        kinds = world.mess.malformed(keys, platform, resource)
        for (d, p), k in zip(rows, kinds, strict=True):
            if k >= 0:
                date = iso_utc(world.start_ts + d * DAY)[:10]
                malformed.append(
                    {
                        "vendor": platform,
                        "resource": resource,
                        "record_id": f"{ads[p].ad_id}:{date}",
                        "kind": MALFORMED_KINDS[(platform, resource)][k],
                        "id_field": "ad_id:date",
                    }
                )
        if platform == "meta":
            for d, p in (rows[i] for i in np.nonzero(world.mess.duplicated(keys, platform, resource))[0]):
                date = iso_utc(world.start_ts + d * DAY)[:10]
                duplicates.append(
                    {"vendor": "meta", "resource": "insights", "record_id": f"{ads[p].ad_id}:{date}"}
                )
    return malformed, duplicates, counts


def build_truth(world: World, include_records: bool = True) -> dict[str, Any]:
    curves = [a.curve() for a in world.ads.ads]
    truth: dict[str, Any] = {
        "world": {
            "preset": world.spec.base_preset,
            "seed": world.spec.seed,
            "start": iso_utc(world.start_ts),
            "clock": iso_utc(world.clock_ts),
            "clock_day": world.clock_day,
            "writes": world.writes,
            "drift_at": iso_utc(world.email_ctx.drift_ts),
        },
        "campaigns": _campaigns(world),
        "flows": _flows(world),
        "ad_curves": curves,
        "ad_optimal_allocation": optimal_allocation(curves, sum(a.budget for a in world.ads.ads), steps=400),
        "incidents": [i.to_dict() for i in world.incidents],
    }
    if include_records:
        scan = _scan_events(world)
        malformed, duplicates, counts = _other_records(world)
        truth["global_holdout"] = scan["holdout"]
        truth["malformed"] = scan["malformed"] + malformed
        truth["duplicates"] = scan["duplicates"] + duplicates
        truth["record_counts"] = {
            "klaviyo.events": int(sum(scan["counts"].values())),
            **{f"klaviyo.events.{k}": v for k, v in sorted(scan["counts"].items())},
            **counts,
        }
    return truth


def write_truth(truth: dict[str, Any], directory: str | Path) -> list[Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, value in truth.items():
        path = directory / f"{name}.json"
        path.write_text(json.dumps(value, sort_keys=True, indent=1))
        paths.append(path)
    return paths
