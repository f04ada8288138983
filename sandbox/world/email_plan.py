"""The email calendar: campaigns (with A/B/n variants) and nurture flows, fixed at build time."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sandbox import ids
from sandbox.spec import WorldSpec
from sandbox.util import DAY, S_PLAN, rng
from sandbox.world.contacts import AFFINITIES

TOPICS = {
    "case_study": ["How Acme cut churn 30%", "Inside Northwind's rollout", "A customer story: Globex"],
    "how_to": ["5 steps to cleaner data", "Build your first dashboard", "Automate weekly reports"],
    "comparison": ["Spreadsheets vs. Loopwise", "Build or buy?", "Pricing plans compared"],
    "promo": ["20% off annual plans", "Last chance: spring offer", "Free onboarding this week"],
}
SUBJECT_STYLES = ["{t}", "{t} (inside)", "Quick read: {t}", "{t}?", "You asked: {t}"]
SEND_HOURS_UTC = [9, 10, 13, 14, 15, 16, 17]


@dataclass
class Message:
    idx: int
    message_id: str
    kind: str  # "campaign" | "flow"
    label: str
    subject: str
    preview_text: str
    created_ts: int
    campaign: int = -1
    flow: int = -1
    step: int = -1
    lift_open: float = 1.0
    lift_click: float = 1.0
    lift_conversion: float = 1.0


@dataclass
class Campaign:
    idx: int
    campaign_id: str
    name: str
    content: int
    created_ts: int
    send_ts: int
    rollout_ts: int
    messages: list[int]
    is_ab: bool
    is_aa: bool
    test_share: float
    test_duration_hours: int


@dataclass
class FlowStep:
    flow: int
    step: int  # 1..n
    action_id: str
    delay_days: int
    continue_prob: float
    messages: list[int]
    is_split: bool
    is_aa: bool


@dataclass
class Flow:
    idx: int
    flow_id: str
    name: str
    trigger_type: str  # "Added to List" (signup) | "Metric"
    trigger_rate: float
    created_ts: int
    steps: list[FlowStep] = field(default_factory=list)


@dataclass
class EmailPlan:
    campaigns: list[Campaign]
    messages: list[Message]
    flows: list[Flow]
    send_ts: np.ndarray
    rollout_ts: np.ndarray

    def campaigns_by_send_day(self, day: int, start_ts: int) -> list[Campaign]:
        lo, hi = start_ts + day * DAY, start_ts + (day + 1) * DAY
        i0, i1 = np.searchsorted(self.send_ts, [lo, hi])
        return self.campaigns[i0:i1]

    def campaigns_by_rollout_day(self, day: int, start_ts: int) -> list[Campaign]:
        lo, hi = start_ts + day * DAY, start_ts + (day + 1) * DAY
        return [c for c in self.campaigns if c.is_ab and lo <= c.rollout_ts < hi]


def _lifts(g: np.random.Generator, zero: bool) -> tuple[float, float, float]:
    if zero:
        return 1.0, 1.0, 1.0
    lifts = [float(np.clip(1 + g.normal(0, sd), 0.6, 1.6)) for sd in (0.15, 0.2, 0.25)]
    for j in range(3):  # some metrics carry exactly no effect even in a real test
        if g.random() < 0.2:
            lifts[j] = 1.0
    return lifts[0], lifts[1], lifts[2]


def build_plan(spec: WorldSpec, start_ts: int, horizon_days: int) -> EmailPlan:
    campaigns: list[Campaign] = []
    messages: list[Message] = []
    for week in range((horizon_days + 6) // 7):
        g = rng(spec.seed, S_PLAN, week)
        k = min(7, spec.campaigns_per_week)
        weekdays = np.sort(g.choice(7, size=k, replace=False, p=[0.16, 0.2, 0.2, 0.2, 0.14, 0.05, 0.05]))
        for wd in weekdays:
            day = week * 7 + int(wd)
            hour = int(g.choice(SEND_HOURS_UTC))
            send = start_ts + day * DAY + hour * 3600 + int(g.choice([0, 1800]))
            content = int(g.integers(0, len(AFFINITIES)))
            topic = str(g.choice(TOPICS[AFFINITIES[content]]))
            is_ab = bool(g.random() < spec.ab_test_share)
            nv = int(g.integers(2, max(2, spec.max_variants) + 1)) if is_ab else 1
            is_aa = bool(is_ab and g.random() < spec.aa_share)
            duration = int(g.choice([24, 24, 48])) if is_ab else 0
            created = send - int(g.integers(1, 8)) * DAY
            if day >= horizon_days:
                continue
            idx = len(campaigns)
            cid = ids.campaign_id(spec.seed, idx)
            msg_ids = []
            styles = g.permutation(len(SUBJECT_STYLES))
            for v in range(nv):
                lifts = (1.0, 1.0, 1.0) if v == 0 else _lifts(g, is_aa)
                subject = SUBJECT_STYLES[styles[v]].format(t=topic) if not is_aa else topic
                m = Message(
                    len(messages),
                    ids.campaign_message_id(spec.seed, len(messages)),
                    "campaign",
                    f"Variant {'ABC'[v]}",
                    subject,
                    f"{AFFINITIES[content].replace('_', ' ')} | {topic}",
                    created,
                    campaign=idx,
                    lift_open=lifts[0],
                    lift_click=lifts[1],
                    lift_conversion=lifts[2],
                )
                messages.append(m)
                msg_ids.append(m.idx)
            name = f"{topic} - {np.datetime_as_string(np.datetime64(send, 's'), unit='D')}"
            campaigns.append(
                Campaign(
                    idx,
                    cid,
                    name,
                    content,
                    created,
                    send,
                    send + duration * 3600,
                    msg_ids,
                    is_ab,
                    is_aa,
                    spec.test_share if is_ab else 0.0,
                    duration,
                )
            )
    flows = _build_flows(spec, start_ts, messages)
    return EmailPlan(
        campaigns,
        messages,
        flows,
        np.array([c.send_ts for c in campaigns], dtype=np.int64),
        np.array([c.rollout_ts for c in campaigns], dtype=np.int64),
    )


def _build_flows(spec: WorldSpec, start_ts: int, messages: list[Message]) -> list[Flow]:
    g = rng(spec.seed, S_PLAN, 10_000)
    flows = []
    templates = [
        ("Welcome Nurture", "Added to List", 0.0, [0, 2, 5, 9], [0.9, 0.85, 0.8, 0.8]),
        ("Browse Abandonment", "Metric", 0.002, [0, 1, 3], [0.8, 0.7, 0.7]),
        ("Win-back", "Metric", 0.001, [0, 4, 10], [0.85, 0.8, 0.8]),
    ]
    for f in range(min(spec.flows, len(templates))):
        name, trigger, rate, delays, cont = templates[f]
        n_steps = spec.flow_steps if f == 0 else len(delays)
        delays = [*delays, *[delays[-1] + 4 * (j + 1) for j in range(max(0, n_steps - len(delays)))]][
            :n_steps
        ]
        cont = [*cont, *[0.8] * n_steps][:n_steps]
        created = start_ts - int(g.integers(60, 200)) * DAY
        flow = Flow(f, ids.flow_id(spec.seed, f), name, trigger, rate, created)
        split_step = min(3, n_steps) if f == 0 else min(2, n_steps)
        for s in range(1, n_steps + 1):
            is_split = s == split_step
            is_aa = is_split and f > 0  # secondary flows run an A/A split
            variant_ids = []
            for v in range(2 if is_split else 1):
                lifts = (1.0, 1.0, 1.0) if v == 0 else _lifts(g, is_aa)
                if v == 1 and not is_aa and lifts == (1.0, 1.0, 1.0):
                    lifts = (1.12, 1.2, 1.0)
                subject = f"{name}: step {s}" + (" - new angle" if v else "")
                m = Message(
                    len(messages),
                    ids.flow_message_id(spec.seed, len(messages)),
                    "flow",
                    f"Variant {'AB'[v]}" if is_split else f"{name} email {s}",
                    subject,
                    "",
                    created,
                    flow=f,
                    step=s,
                    lift_open=lifts[0],
                    lift_click=lifts[1],
                    lift_conversion=lifts[2],
                )
                messages.append(m)
                variant_ids.append(m.idx)
            action_id = ids.flow_action_id(spec.seed, f, s)
            flow.steps.append(
                FlowStep(f, s, action_id, delays[s - 1], cont[s - 1], variant_ids, is_split, is_aa)
            )
        flows.append(flow)
    return flows
