"""Ground truth for tests and benchmarks (never served to the pipeline).

The only way to the truth: ``build_truth(world)`` / ``write_truth(world, directory)``. The served
``World`` has no truth method, and product packages must not import this module
(tests/sandbox/test_sandbox_boundaries.py).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from sandbox import ids
from sandbox.mess import MALFORMED_KINDS
from sandbox.util import DAY, NEVER, iso_utc
from sandbox.world import events as ev
from sandbox.world.ads import DOW_FACTOR, PLATFORMS, hill
from sandbox.world.contacts import EXIT_HARD_BOUNCE, EXIT_SPAM, EXIT_UNSUB
from sandbox.world.core import World
from sandbox.world.crm import build_crm
from sandbox.world.email_plan import Campaign, Message
from sandbox.world.incidents import REFERENCE_DAYS, Incident, severity
from sandbox.world.subjects import METRICS, STYLES, relative_effect, style_effects


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


def subject_style_effects(world: World) -> dict[str, dict[str, float]]:
    """Each subject style's true multiplicative effect on open, click and conversion in this world."""
    return style_effects(world.spec.seed)


def subject_lift(world: World, rendered: str, own: str) -> dict[str, float]:
    """True lift multipliers of sending ``rendered`` instead of a message's own subject ``own``."""
    return relative_effect(subject_style_effects(world), rendered, own)


def subject_style_effect(world: World, template: str) -> float:
    """True multiplicative effect on clicks per send (opens x clicks per open) of writing a plain
    subject ``t`` as ``template`` (spelt with ``{t}``, e.g. ``"Quick read: {t}"``); below 1 hurts."""
    lift = subject_lift(world, template.replace("{t}", "A plain subject"), "A plain subject")
    return float(lift["open"] * lift["click"])


def _subject_styles(world: World) -> dict[str, Any]:
    """The styles' effects, whether the world has none (A/A-like), and the style with the most
    expected conversions per send (None when no style beats a plain subject)."""
    effects = subject_style_effects(world)
    per_send = {style: float(np.prod([effects[style][m] for m in METRICS])) for style in STYLES}
    best = max(per_send, key=per_send.__getitem__)
    return {
        "effects": effects,
        "null_world": all(v == 1.0 for e in effects.values() for v in e.values()),
        "conversions_per_send_multiplier": per_send,
        "best_style": best if per_send[best] > 1.0 else None,
    }


def expected_rates(
    world: World, camp: Campaign, msg: Message, who: np.ndarray, subject: str | None = None
) -> dict[str, float]:
    """True expected rates of ``msg`` sent to ``who`` at the campaign's send time; with ``subject``,
    as if every recipient got that concrete subject instead of the message's own."""
    rendered = None
    if subject is not None and len(who):
        lift = subject_lift(world, subject, msg.subject)
        ones = np.ones(len(who))
        code = np.full(len(who), -1, dtype=np.int32)
        rendered = ev.RenderedSubjects(
            code, ones * lift["open"], ones * lift["click"], ones * lift["conversion"]
        )
    p_open, p_click, p_conv = ev.send_probabilities(
        world.email_ctx, who, camp.send_ts, msg, camp.content, rendered
    )
    return {
        "human_open_rate": float(p_open.mean()) if len(who) else 0.0,
        "click_rate": float((p_open * p_click).mean()) if len(who) else 0.0,
        "conversion_rate": float((p_open * p_click * p_conv).mean()) if len(who) else 0.0,
    }


def campaign_variants(world: World, camp: Campaign) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The campaign's audience and, per variant, its true lifts and expected rates on that audience.

    A variant whose subject Loopwise wrote also lists, per subject its recipients got, the true
    lift multipliers and the expected rates had the whole audience got that subject.
    """
    who, _ = ev.campaign_audience(world.email_ctx, camp)
    variants = []
    send_day = world.day_of(camp.send_ts)
    for m in camp.messages:
        msg = world.plan.messages[m]
        variant: dict[str, Any] = {
            "message_id": msg.message_id,
            "label": msg.label,
            "subject": msg.subject,
            "lift": {"open": msg.lift_open, "click": msg.lift_click, "conversion": msg.lift_conversion},
            "expected": expected_rates(world, camp, msg, who),
        }
        written = world.message_subject(msg, send_day)
        if written != msg.subject:
            rendered = world.render_subjects(msg, send_day, who)
            assert rendered is not None
            codes, counts = np.unique(rendered.code, return_counts=True)
            variant["written_subject"] = written
            variant["rendered_subjects"] = [
                {
                    "subject": world.subject_table[int(code)],
                    "audience_share": round(float(count) / len(who), 4),
                    "lift": subject_lift(world, world.subject_table[int(code)], msg.subject),
                    "expected": expected_rates(world, camp, msg, who, world.subject_table[int(code)]),
                }
                for code, count in zip(codes, counts, strict=True)
            ]
        variants.append(variant)
    return who, variants


def _campaigns(world: World) -> list[dict[str, Any]]:
    out = []
    for camp in world.plan.campaigns:
        if camp.created_ts > world.clock_ts:
            continue
        who, variants = campaign_variants(world, camp)
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


def _campaign_clones(world: World) -> list[dict[str, Any]]:
    """Campaigns cloned from the plan's (Loopwise's hourly child sends): their parent, message, audiences,
    schedule and, once scheduled, their recipients (on the lists of their send day) with the true
    expected rates at each recipient's own send moment and content angle (of the message's own
    subject: a written subject's lifts are ``subject_styles``'). A parent's own entry in ``campaigns`` keeps
    its full audience; its sends skip the members of its excluded lists (``excluded_lists``)."""
    out = []
    for clone_id in world.clone_ids():
        clone = world.clone(clone_id)
        assert clone is not None
        parent = clone.original
        entry: dict[str, Any] = {
            "campaign_id": clone_id,
            "parent_campaign_id": parent.campaign_id,
            "parent_message_id": world.plan.messages[parent.messages[0]].message_id,
            "parent_excluded_lists": world.campaign_audiences(parent.campaign_id)["excluded"],
            "name": clone.name,
            "message_id": clone.message.message_id,
            "subject": world.message_subject(clone.message),
            "status": world.clone_status(clone),
            "audiences": clone.audiences,
            "send_strategy": clone.send_strategy,
            "send_time": None,
            "recipients": 0,
            "expected": None,
        }
        send = world.clone_send(clone)
        if send is not None:
            assert clone.schedule is not None
            content = world.render_content(clone.message, send.audience_day, send.who, parent.content)
            p_open, p_click, p_conv = ev.send_probabilities(
                world.email_ctx, send.who, send.ts, clone.message, content
            )
            entry["send_time"] = iso_utc(clone.schedule["send_time"])
            entry["recipients"] = int(len(send.who))
            entry["expected"] = {
                "human_open_rate": float(p_open.mean()) if len(send.who) else 0.0,
                "click_rate": float((p_open * p_click).mean()) if len(send.who) else 0.0,
                "conversion_rate": float((p_open * p_click * p_conv).mean()) if len(send.who) else 0.0,
            }
        out.append(entry)
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


def flow_journeys(world: World) -> list[dict[str, Any]]:
    """Every flow entry that was sent at least one step by the clock, with why it stopped.

    ``exit_reason`` is the world's own mechanism for the first step not sent: the contact's exit
    (unsubscribed / spam_complaint / bounced) or a bad address (bounced); the step not due by the
    clock (still_waiting); the flow not live that day (flow_paused); the flow's drop-off
    (filtered_out); or none (completed_all_steps). ``entry_hour`` is the trigger time to the hour.
    """
    ctx, c = world.email_ctx, world.contacts
    exit_reasons = {EXIT_UNSUB: "unsubscribed", EXIT_SPAM: "spam_complaint", EXIT_HARD_BOUNCE: "bounced"}
    out = []
    for flow in world.plan.flows:
        for t_day in range(world.clock_day):
            who, trig_ts = ev.flow_triggered(ctx, flow.idx, t_day)
            last_step = np.zeros(len(who), dtype=np.int64)
            reason = np.full(len(who), "completed_all_steps", dtype=object)
            open_ = np.ones(len(who), dtype=bool)  # every step so far was sent
            for step in flow.steps:
                send_day = t_day + step.delay_days
                send_ts = trig_ts + step.delay_days * DAY
                exited = (c.exit_ts[who] <= send_ts) & (c.exit_ts[who] < world.clock_ts)
                bad = c.bad_address[who] & (step.step > 1)
                due = send_day < world.clock_day
                not_due = np.full(len(who), not due)
                paused = np.full(len(who), due and not world.flow_sends(flow, send_day))
                dropped = ~ev.flow_continued(ctx, flow, step.step, who, t_day)
                exit_kind = np.array([exit_reasons[int(k)] for k in c.exit_type[who]], dtype=object)
                stop = np.select(
                    [exited, bad, not_due, paused, dropped],
                    [exit_kind, "bounced", "still_waiting", "flow_paused", "filtered_out"],
                    default="",
                )
                stopping = open_ & (stop != "")
                reason[stopping] = stop[stopping]
                open_ &= ~stopping
                last_step[open_] = step.step
            for j in np.nonzero(last_step > 0)[0]:
                out.append(
                    {
                        "profile_id": ids.profile_id(world.spec.seed, int(who[j])),
                        "flow_id": flow.flow_id,
                        "entry_hour": iso_utc(int(trig_ts[j]) // 3600 * 3600),
                        "last_step": int(last_step[j]),
                        "exit_reason": str(reason[j]),
                    }
                )
    return out


def _scan_events(world: World) -> dict[str, Any]:
    """One pass over every served event: counts, email-caused orders, malformed and duplicates."""
    seed = world.spec.seed
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
            rid = ids.event_uuid(seed, key) if kind == "missing_id" else ids.event_id(seed, key)
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
                {"vendor": "klaviyo", "resource": "events", "record_id": ids.event_id(seed, int(b.key[i]))}
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
    seed = world.spec.seed
    malformed, duplicates, counts = [], [], {}
    c = world.contacts
    prof = np.nonzero(c.created_ts < world.clock_ts)[0]
    counts["klaviyo.profiles"] = int(len(prof))
    for i in prof[world.mess.malformed(prof, "klaviyo", "profiles") >= 0]:
        malformed.append(
            {
                "vendor": "klaviyo",
                "resource": "profiles",
                "record_id": ids.profile_id(seed, int(i)),
                "kind": "invalid_email",
                "id_field": "id",
            }
        )
    for i in prof[world.mess.duplicated(prof, "klaviyo", "profiles")]:
        duplicates.append(
            {"vendor": "klaviyo", "resource": "profiles", "record_id": ids.profile_id(seed, int(i))}
        )
    crm = world.crm
    for resource, object_ids, created in (
        ("contacts", crm.contact_ids, crm.created_ts),
        ("deals", crm.deal_ids, crm.deal_created_ts),
    ):
        vis = object_ids[created <= world.clock_ts]
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
                        "record_id": ids.ad_day_record_id(ads[p].ad_id, date),
                        "kind": MALFORMED_KINDS[(platform, resource)][k],
                        "id_field": "ad_id:date",
                    }
                )
        if platform == "meta":
            for d, p in (rows[i] for i in np.nonzero(world.mess.duplicated(keys, platform, resource))[0]):
                date = iso_utc(world.start_ts + d * DAY)[:10]
                duplicates.append(
                    {
                        "vendor": "meta",
                        "resource": "insights",
                        "record_id": ids.ad_day_record_id(ads[p].ad_id, date),
                    }
                )
    return malformed, duplicates, counts


class _Impact:
    """Planted impact of single incidents: the world with only that incident against the same world
    with none (same random streams), plus the clean world's daily volumes for reference."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.clean_ctx = replace(world.email_ctx, incidents=[])
        self._email: dict[int, dict[str, float]] = {}
        self._ads: dict[int, tuple[float, float]] = {}
        self._crm: Any = None

    # clean daily volumes -------------------------------------------------------------------
    def email_day(self, day: int) -> dict[str, float]:
        """Sends, tracking events (opens + clicks), email-caused orders and revenue of one send day."""
        if day not in self._email:
            b = ev.origin_day(self.clean_ctx, day)
            orders = (b.metric == ev.ORDER) & (b.source == ev.SOURCE_EMAIL)
            self._email[day] = {
                "sends": float(np.isin(b.metric, (ev.RECEIVED, ev.BOUNCED)).sum()),
                "tracking_events": float(np.isin(b.metric, (ev.OPENED, ev.CLICKED)).sum()),
                "orders": float(orders.sum()),
                "revenue": float(b.aux[orders].sum()),
            }
        return self._email[day]

    def ad_day(self, day: int, incidents: list[Incident] | None = None) -> dict[str, Any]:
        w = self.world
        return {
            p: w.ads.generate_day(w.spec.seed, p, day, w.start_ts, w.ad_budgets(p, day), incidents or [])
            for p in PLATFORMS
        }

    def ads_total(self, day: int) -> tuple[float, float]:
        """(spend, conversions) of every ad on one day."""
        if day not in self._ads:
            days = self.ad_day(day).values()
            self._ads[day] = (
                float(sum(d.spend.sum() for d in days)),
                float(sum(d.conv_by_lag.sum() for d in days)),
            )
        return self._ads[day]

    def crm_changes(self) -> np.ndarray:
        """Timestamps of every HubSpot change of the clean world (creations and stage entries)."""
        if self._crm is None:
            w = self.world
            crm = build_crm(w.spec, w.contacts, w.start_ts, w.horizon_days, [])
            ts = np.concatenate(
                [crm.created_ts, crm.stage_ts.ravel(), crm.deal_created_ts, crm.deal_stage_ts.ravel()]
            )
            self._crm = np.sort(ts[ts < NEVER])
        return self._crm

    def reference_days(self, inc: Incident) -> range:
        """The clean world's days around the incident (REFERENCE_DAYS of them) for daily volumes."""
        w = self.world
        first = w.day_of(inc.start_ts) - REFERENCE_DAYS // 2
        first = max(0, min(first, w.horizon_days - REFERENCE_DAYS))
        return range(first, min(w.horizon_days, first + REFERENCE_DAYS))

    def daily(self, inc: Incident, measure: str) -> float:
        days = self.reference_days(inc)
        if measure == "crm_changes":
            ts = self.crm_changes()
            lo, hi = self.world.start_ts + days.start * DAY, self.world.start_ts + days.stop * DAY
            return float(np.searchsorted(ts, hi) - np.searchsorted(ts, lo)) / len(days)
        if measure == "ad_spend":
            return float(np.mean([self.ads_total(d)[0] for d in days]))
        if measure == "conversions":  # email-caused orders plus ad conversions
            return float(np.mean([self.email_day(d)["orders"] + self.ads_total(d)[1] for d in days]))
        return float(np.mean([self.email_day(d)[measure] for d in days]))

    # one incident ----------------------------------------------------------------------------
    def email_diff(self, inc: Incident) -> tuple[dict[str, float], dict[str, float]]:
        """(clean, with the incident) totals over the send days whose events can fall in the window."""
        w = self.world
        ctx = replace(self.clean_ctx, incidents=[inc])
        clean: Counter[str] = Counter()
        hit: Counter[str] = Counter()
        for day in range(max(0, w.day_of(inc.start_ts) - ev.SPILL_DAYS), w.day_of(inc.end_ts - 1) + 1):
            for out, b in ((clean, ev.origin_day(self.clean_ctx, day)), (hit, ev.origin_day(ctx, day))):
                orders = (b.metric == ev.ORDER) & (b.source == ev.SOURCE_EMAIL)
                inside = inc.covers(b.ts)
                out["sends_in_window"] += int((np.isin(b.metric, (ev.RECEIVED, ev.BOUNCED)) & inside).sum())
                out["tracking_events"] += int(np.isin(b.metric, (ev.OPENED, ev.CLICKED)).sum())
                out["bounces"] += int((b.metric == ev.BOUNCED).sum())
                out["orders"] += int(orders.sum())
                out["revenue"] += float(b.aux[orders].sum())
        return dict(clean), dict(hit)

    def ad_diff(self, inc: Incident) -> dict[str, float]:
        """Spend, conversions and value of the affected ad: with the incident minus clean."""
        w = self.world
        platform, ad_id = next(ad for ad in map(ids.parse_ad_entity, inc.affected) if ad is not None)
        pos = [a.ad_id for a in w.ads.by_platform[platform]].index(ad_id)
        out = {"spend": 0.0, "conversions": 0.0, "value": 0.0}
        for day in range(w.day_of(inc.start_ts), w.day_of(inc.end_ts - 1) + 1):
            clean, hit = self.ad_day(day)[platform], self.ad_day(day, [inc])[platform]
            out["spend"] += float(hit.spend[pos] - clean.spend[pos])
            out["conversions"] += float(hit.conv_by_lag[pos].sum() - clean.conv_by_lag[pos].sum())
            out["value"] += float(hit.value[pos] - clean.value[pos])
        return out

    def measure(self, inc: Incident) -> dict[str, Any]:
        """The incident's impact: {measure, amount, daily_volume, share_of_day, details}."""
        if inc.kind == "runaway_spend":
            ads = self.ad_diff(inc)
            measure, amount = "ad_spend", ads["spend"]
            details = {"extra_spend": round(ads["spend"], 2)}
        elif inc.kind == "crm_sync_stall":
            ts = self.crm_changes()
            measure = "crm_changes"
            amount = float(np.searchsorted(ts, inc.end_ts) - np.searchsorted(ts, inc.start_ts))
            details = {"delayed_crm_changes": int(amount)}
        elif inc.kind == "broken_landing_page":
            clean, hit = self.email_diff(inc)
            ads = self.ad_diff(inc)
            lost_orders = clean.get("orders", 0) - hit.get("orders", 0)
            lost_ad = max(0.0, -ads["conversions"])
            measure, amount = "conversions", lost_orders + lost_ad
            details = {
                "lost_email_orders": int(lost_orders),
                "lost_ad_conversions": int(lost_ad),
                "lost_revenue": round(
                    clean.get("revenue", 0.0) - hit.get("revenue", 0.0) + max(0.0, -ads["value"]), 2
                ),
            }
        else:
            clean, hit = self.email_diff(inc)
            if inc.kind == "tracking_outage":
                measure = "tracking_events"
                amount = clean.get("tracking_events", 0) - hit.get("tracking_events", 0)
                details = {
                    "lost_tracking_events": int(amount),
                    "sends_in_window": clean.get("sends_in_window", 0),
                }
            else:  # deliverability_drop: every send in the window bounces more
                measure, amount = "sends", clean.get("sends_in_window", 0)
                details = {
                    "affected_sends": int(amount),
                    "extra_bounces": int(hit.get("bounces", 0) - clean.get("bounces", 0)),
                }
        daily = self.daily(inc, measure)
        share = amount / daily if daily > 0 else 0.0
        return {
            "measure": measure,
            "amount": round(float(amount), 2),
            "daily_volume": round(daily, 2),
            "share_of_day": round(share, 3),
            **details,
        }


def _incidents(world: World) -> list[dict[str, Any]]:
    """Labelled incidents with their planted impact and the severity it earns (see incidents.severity)."""
    impact = _Impact(world)
    out = []
    for inc in world.incidents:
        item = inc.to_dict()
        item["impact"] = impact.measure(inc)
        item["severity"] = severity(item["impact"]["share_of_day"])
        out.append(item)
    return out


def _budget_entities(world: World) -> list[dict[str, Any]]:
    """Each budget entity with its initial and current daily budget and its ads' fixed spend shares."""
    out = []
    for platform in PLATFORMS:
        current = world.entity_budgets(platform, world.clock_day)
        ads = world.ads.by_platform[platform]
        for entity in world.budget_entities(platform):
            out.append({**entity.to_dict(ads), "current_daily_budget": current[entity.entity_id]})
    return out


def build_truth(world: World, include_records: bool = True) -> dict[str, Any]:
    """The world's ground truth at its clock, one entry per truth file (built under the world's lock)."""
    with world.lock:
        return _build_truth(world, include_records)


def _build_truth(world: World, include_records: bool) -> dict[str, Any]:
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
        "campaign_clones": _campaign_clones(world),
        "subject_styles": _subject_styles(world),
        "flows": _flows(world),
        "ad_curves": curves,
        "ad_optimal_allocation": optimal_allocation(curves, sum(a.budget for a in world.ads.ads), steps=400),
        "budget_entities": _budget_entities(world),
        "incidents": _incidents(world),
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


def lead_propensities(world: World) -> dict[str, Any]:
    """The CRM funnel's hidden rules and each CRM contact's multiplier on them (lead-score oracle).

    From lead, each step (MQL, SQL, opportunity) happens with probability min(p * boost, 0.95)
    after an exponential wait; a subscriber becomes a lead with the first probability of
    ``subscriber_to_lead``. A contact who fails a step never moves on.
    """
    from sandbox.world.crm import LEAD_STEPS, SUBSCRIBER_TO_LEAD, crm_boost

    crm = world.crm
    return {
        "subscriber_to_lead": {"probability": SUBSCRIBER_TO_LEAD[0], "mean_days": SUBSCRIBER_TO_LEAD[1]},
        "lead_steps": [{"probability": p, "mean_days": days} for p, days in LEAD_STEPS],
        "max_step_probability": 0.95,
        "boost_by_hubspot_contact_id": {
            str(int(hid)): float(b)
            for hid, b in zip(crm.contact_ids, crm_boost(world.contacts, crm.esp_index), strict=True)
        },
    }


def write_truth(world: World, directory: str | Path, include_records: bool = True) -> list[Path]:
    """Write ``build_truth(world)`` as ``<directory>/<key>.json``, one file per key; returns the paths."""
    return write_truth_files(build_truth(world, include_records=include_records), directory)


def write_truth_files(truth: dict[str, Any], directory: str | Path) -> list[Path]:
    """Write an already built truth dict, one ``<key>.json`` per key."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, value in truth.items():
        path = directory / f"{name}.json"
        path.write_text(json.dumps(value, sort_keys=True, indent=1))
        paths.append(path)
    return paths
