"""Columnar email/order events, generated per origin day from (seed, day, batch) streams."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from sandbox.util import DAY, S_CAMPAIGN, S_FLOW, S_FLOW_TRIGGER, S_ORDERS, S_SPLIT, hash01, rng, salt
from sandbox.world.contacts import EXIT_HARD_BOUNCE, EXIT_SPAM, Contacts, utc_offset_minutes
from sandbox.world.email_plan import Campaign, EmailPlan, Flow, Message
from sandbox.world.incidents import Incident, window_factor

METRICS = (
    "Received Email",
    "Opened Email",
    "Clicked Email",
    "Bounced Email",
    "Marked Email as Spam",
    "Unsubscribed",
    "Placed Order",
)
RECEIVED, OPENED, CLICKED, BOUNCED, SPAM, UNSUBSCRIBED, ORDER = range(7)
PHASE_NONE, PHASE_TEST, PHASE_WINNER = 0, 1, 2
SOURCE_NA, SOURCE_BASELINE, SOURCE_EMAIL = 0, 1, 2
SPILL_DAYS = 3  # every event happens within 3 days after its origin day
WEEKDAY_FACTOR = np.array([1.0, 1.05, 1.05, 1.0, 0.95, 0.8, 0.85])
SOFT_BOUNCE = 0.012


@dataclass
class EventBatch:
    key: np.ndarray  # uint64: origin day << 44 | batch << 32 | row
    ts: np.ndarray  # int64 epoch seconds
    metric: np.ndarray  # int8
    contact: np.ndarray  # int32
    message: np.ndarray  # int32 (-1 for orders)
    phase: np.ndarray  # int8
    aux: np.ndarray  # float64: order value | hard bounce flag | machine open flag
    source: np.ndarray  # int8: why an order happened (ground truth only)
    subject: (
        np.ndarray
    )  # int32: index into World.subject_table of the rendered subject (-1: the message's own)

    def __len__(self) -> int:
        return len(self.key)

    def take(self, idx: np.ndarray) -> EventBatch:
        return EventBatch(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def as_lists(self) -> EventBatch:
        """The same batch with Python lists for columns (indexing a list is ~10x cheaper per value)."""
        return EventBatch(**{f.name: getattr(self, f.name).tolist() for f in fields(self)})

    @staticmethod
    def concat(parts: list[EventBatch]) -> EventBatch:
        if not parts:
            return empty_batch()
        return EventBatch(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(EventBatch)}
        )


def empty_batch() -> EventBatch:
    z = np.zeros(0)
    return EventBatch(
        z.astype(np.uint64),
        z.astype(np.int64),
        z.astype(np.int8),
        z.astype(np.int32),
        z.astype(np.int32),
        z.astype(np.int8),
        z,
        z.astype(np.int8),
        z.astype(np.int32),
    )


@dataclass
class RenderedSubjects:
    """Per recipient of one send: the subject they got (code into World.subject_table) and its true
    lift multipliers relative to the message's own subject (1.0 where they got that subject)."""

    code: np.ndarray
    open: np.ndarray
    click: np.ndarray
    conversion: np.ndarray

    def take(self, mask: np.ndarray) -> RenderedSubjects:
        return RenderedSubjects(self.code[mask], self.open[mask], self.click[mask], self.conversion[mask])


@dataclass
class EmailContext:
    seed: int
    start_ts: int
    drift_ts: int
    contacts: Contacts
    plan: EmailPlan
    incidents: list[Incident]
    winner: Callable[[Campaign], int]  # message idx rolled out to the remainder
    flow_sends: Callable[[Flow, int], bool]  # whether the flow sends on a world day (status written)
    # a campaign message's subject per recipient on a world day (None: its own subject, never written)
    render_subjects: Callable[[Message, int, np.ndarray], RenderedSubjects | None]
    # per contact, whether a campaign sent on a world day skips it (its excluded lists; None: nobody)
    excluded: Callable[[Campaign, int], np.ndarray | None] = lambda camp, day: None
    # the clone sends (Loopwise's hourly child sends) whose recipients get them on a world day
    clone_sends: Callable[[int], list[CloneSend]] = lambda day: []
    # a campaign message's content angle per recipient on a world day, from its preview text (the
    # campaign's own ``content``, an int, when Loopwise never wrote the preview text)
    render_content: Callable[[Message, int, np.ndarray, int], np.ndarray | int] = lambda *a: a[3]


@dataclass
class CloneSend:
    """One scheduled clone of ``original``: its recipients, each one's send moment, its message copy."""

    batch_id: int
    original: Campaign
    message: Message
    who: np.ndarray  # contact indices, ascending
    ts: np.ndarray  # int64: each recipient's send moment (its wall-clock time in its time zone)
    audience_day: int  # world day whose lists and properties the send reads


class _Rows:
    def __init__(self) -> None:
        self.cols: dict[str, list[np.ndarray]] = {
            k: [] for k in ("ts", "metric", "contact", "aux", "source", "subject")
        }

    def add(
        self,
        ts: np.ndarray,
        metric: int,
        contact: np.ndarray,
        aux: np.ndarray | float = 0.0,
        source: int = SOURCE_NA,
        subject: np.ndarray | int = -1,
    ) -> None:
        n = len(contact)
        self.cols["ts"].append(np.asarray(ts, dtype=np.int64))
        self.cols["metric"].append(np.full(n, metric, dtype=np.int8))
        self.cols["contact"].append(np.asarray(contact, dtype=np.int32))
        self.cols["aux"].append(np.broadcast_to(np.asarray(aux, dtype=np.float64), (n,)).copy())
        self.cols["source"].append(np.full(n, source, dtype=np.int8))
        self.cols["subject"].append(np.broadcast_to(np.asarray(subject, dtype=np.int32), (n,)).copy())

    def batch(self, day: int, batch_id: int, message: int, phase: int) -> EventBatch:
        if not self.cols["ts"]:
            return empty_batch()
        c = {k: np.concatenate(v) for k, v in self.cols.items()}
        n = len(c["ts"])
        key = (
            (np.uint64(day) << np.uint64(44))
            | (np.uint64(batch_id) << np.uint64(32))
            | np.arange(n, dtype=np.uint64)
        )
        msg = np.where(c["metric"] == ORDER, -1, message).astype(np.int32)
        ph = np.where(c["metric"] == ORDER, PHASE_NONE, phase).astype(np.int8)
        subject = np.where(c["metric"] == ORDER, -1, c["subject"]).astype(np.int32)
        return EventBatch(key, c["ts"], c["metric"], c["contact"], msg, ph, c["aux"], c["source"], subject)


def hour_factor(local_hour: np.ndarray, preferred_hour: np.ndarray) -> np.ndarray:
    """The open-probability multiplier of a send arriving at ``local_hour`` for a contact preferring
    ``preferred_hour`` (1.4 at the preference, 0.6 far from it; hours circular)."""
    dh = np.abs(np.asarray(local_hour, dtype=float) - preferred_hour)
    dh = np.minimum(dh, 24 - dh)
    return 0.6 + 0.8 * np.exp(-(dh**2) / 8.0)


def send_probabilities(
    ctx: EmailContext,
    who: np.ndarray,
    send_ts: int | np.ndarray,
    msg: Message,
    content: int | np.ndarray,
    rendered: RenderedSubjects | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True open / click-given-open / conversion-given-click probabilities of one send.

    ``send_ts``: one moment for every recipient, or each recipient's own (a local-time send).
    ``content``: the content angle (index in ``AFFINITIES``; negative: none) of every recipient, or
    each recipient's own (a preview text Loopwise wrote, rendered per recipient).
    ``rendered``: the subject each recipient got when Loopwise wrote the message's subject (its
    style's lift multiplies the message's own lift).
    """
    c = ctx.contacts
    late = np.asarray(send_ts) >= ctx.drift_ts
    pref = np.where(late, c.pref_hour_late[who], c.pref_hour[who])
    aff = np.where(late, c.affinity_late[who], c.affinity[who])
    local = (send_ts + utc_offset_minutes(c.tz[who], send_ts) * 60) % (7 * DAY)
    hour = (local % DAY) / 3600.0
    hour_f = hour_factor(hour, pref)
    weekday = ((local // DAY) + 3) % 7  # epoch day 0 was a Thursday
    aff_f = np.where(np.asarray(content) < 0, 1.0, np.where(aff == content, 1.35, 0.85))
    lift_open, lift_click, lift_conv = msg.lift_open, msg.lift_click, msg.lift_conversion
    if rendered is not None:
        lift_open, lift_click, lift_conv = (
            lift_open * rendered.open,
            lift_click * rendered.click,
            lift_conv * rendered.conversion,
        )
    p_open = np.clip(c.open_base[who] * hour_f * aff_f * WEEKDAY_FACTOR[weekday] * lift_open, 0, 0.95)
    p_click = np.clip(c.click_base[who] * aff_f * lift_click, 0, 0.9)
    p_conv = np.clip(c.conv_base[who] * lift_conv, 0, 0.9)
    return p_open, p_click, p_conv


def _engage(
    ctx: EmailContext,
    g: np.random.Generator,
    rows: _Rows,
    who: np.ndarray,
    send_ts: int | np.ndarray,
    msg: Message,
    content: int | np.ndarray,
    hard: np.ndarray,
    exits: np.ndarray | None,
    rendered: RenderedSubjects | None = None,
) -> None:
    """Events of one send to ``who`` at ``send_ts`` (one moment, or each recipient's own)."""
    c = ctx.contacts
    n = len(who)
    u = g.random((n, 6))
    t_send = send_ts + (u[:, 5] * 600).astype(np.int64)
    drop = window_factor(ctx.incidents, "deliverability_drop", np.broadcast_to(send_ts, (n,)), 15.0)
    soft_p = SOFT_BOUNCE * drop
    soft = ~hard & (u[:, 0] < soft_p)
    bounced = hard | soft
    deliv = ~bounced
    code = rendered.code if rendered is not None else np.full(n, -1, dtype=np.int32)
    rows.add(t_send[deliv], RECEIVED, who[deliv], subject=code[deliv])
    rows.add(
        t_send[bounced] + 5, BOUNCED, who[bounced], hard[bounced].astype(np.float64), subject=code[bounced]
    )
    machine = deliv & c.mpp[who]
    t_machine = t_send[machine] + 30 + (u[machine, 1] * 1800).astype(np.int64)
    rows.add(t_machine, OPENED, who[machine], 1.0, subject=code[machine])
    p_open, p_click, p_conv = send_probabilities(ctx, who, send_ts, msg, content, rendered)
    open_delay = np.minimum(g.exponential(3 * 3600, n), 36 * 3600).astype(np.int64)
    click_delay = np.minimum(g.exponential(900, n), 7200).astype(np.int64) + 5
    order_delay = np.minimum(g.exponential(4 * 3600, n), 30 * 3600).astype(np.int64) + 60
    value = np.round(g.lognormal(np.log(70), 0.5, n), 2)
    opened = deliv & (g.random(n) < p_open)
    clicked = opened & (g.random(n) < p_click)
    t_open, t_click = t_send + open_delay, t_send + open_delay + click_delay
    t_order = t_click + order_delay
    landing = window_factor(ctx.incidents, "broken_landing_page", t_click, 0.1, "klaviyo:Placed Order")
    converted = clicked & (g.random(n) < p_conv * landing) & (t_order < c.churn_ts[who])
    rows.add(t_open[opened], OPENED, who[opened], 0.0, subject=code[opened])
    rows.add(t_click[clicked], CLICKED, who[clicked], subject=code[clicked])
    rows.add(t_order[converted], ORDER, who[converted], value[converted], SOURCE_EMAIL)
    if exits is not None and exits.any():
        x, x_code = who[exits], code[exits]
        spam = c.exit_type[x] == EXIT_SPAM
        unsub = ~spam & (c.exit_type[x] != EXIT_HARD_BOUNCE)
        # a contact leaves at its campaign's exit moment; a later (cloned) send of it, after receipt
        at = np.maximum(c.exit_ts[x], t_send[exits] + 60)
        rows.add(at[spam], SPAM, x[spam], subject=x_code[spam])
        rows.add(at[unsub], UNSUBSCRIBED, x[unsub], subject=x_code[unsub])


def campaign_audience(ctx: EmailContext, camp: Campaign) -> tuple[np.ndarray, np.ndarray]:
    """(recipients, arm): arm = variant index in the test, -1 for the remainder (or everyone, no test)."""
    c = ctx.contacts
    who = np.nonzero(c.eligible & (c.first_campaign <= camp.idx) & (c.exit_campaign >= camp.idx))[0]
    if not camp.is_ab:
        return who, np.full(len(who), -1)
    u = rng(ctx.seed, S_SPLIT, camp.idx).random(len(who))
    nv = len(camp.messages)
    arm = np.where(u < camp.test_share, np.minimum((u / camp.test_share * nv).astype(int), nv - 1), -1)
    return who, arm


def campaign_batch(ctx: EmailContext, camp: Campaign, day: int, rollout: bool) -> EventBatch:
    c = ctx.contacts
    who, arm = campaign_audience(ctx, camp)
    rows = _Rows()
    batch_id = 1 + 2 * (camp.idx % 1000) + int(rollout)
    if rollout:
        sel = who[arm < 0]
        msg = ctx.plan.messages[ctx.winner(camp)]
        g = rng(ctx.seed, S_CAMPAIGN, camp.idx, 1)
        rendered = ctx.render_subjects(msg, day, sel)
        _engage(
            ctx,
            g,
            rows,
            sel,
            camp.rollout_ts,
            msg,
            ctx.render_content(msg, day, sel, camp.content),
            _hard(c, sel, camp),
            _exits(c, sel, camp),
            rendered,
        )
        return rows.batch(day, batch_id, msg.idx, PHASE_WINNER)
    parts = []
    groups = [(-1, camp.messages[0])] if not camp.is_ab else list(enumerate(camp.messages))
    for v, midx in groups:
        rows = _Rows()
        sel = who[arm == v]
        g = rng(ctx.seed, S_CAMPAIGN, camp.idx, 0, max(v, 0))
        msg = ctx.plan.messages[midx]
        _engage(
            ctx,
            g,
            rows,
            sel,
            camp.send_ts,
            msg,
            ctx.render_content(msg, day, sel, camp.content),
            _hard(c, sel, camp),
            _exits(c, sel, camp),
            ctx.render_subjects(msg, day, sel),
        )
        part = rows.batch(day, batch_id, midx, PHASE_TEST if camp.is_ab else PHASE_NONE)
        part.key = part.key + np.uint64(v + 1) * np.uint64(1 << 28)
        parts.append(part)
    batch = EventBatch.concat(parts)
    skipped = ctx.excluded(camp, day)
    if skipped is not None:  # members of its excluded lists: their rows dropped, everyone else's kept
        batch = batch.take(np.nonzero(~skipped[batch.contact])[0])
    return batch


def clone_batch(ctx: EmailContext, send: CloneSend, day: int) -> EventBatch:
    """Events of a clone's recipients whose send moment falls on world day ``day``.

    Each recipient gets the clone at its own moment; engagement is the original's (its message's
    lifts, its content) with the subject and the content angle rendered from the clone's own.
    """
    c = ctx.contacts
    lo = ctx.start_ts + day * DAY
    on_day = (send.ts >= lo) & (send.ts < lo + DAY)
    who, ts = send.who[on_day], send.ts[on_day]
    rows = _Rows()
    if len(who):
        camp = send.original
        g = rng(ctx.seed, S_CAMPAIGN, camp.idx, 2, send.batch_id, day)
        _engage(
            ctx,
            g,
            rows,
            who,
            ts,
            send.message,
            ctx.render_content(send.message, send.audience_day, who, camp.content),
            _hard(c, who, camp),
            _exits(c, who, camp),
            ctx.render_subjects(send.message, send.audience_day, who),
        )
    return rows.batch(day, send.batch_id, send.message.idx, PHASE_NONE)


def _hard(c: Contacts, who: np.ndarray, camp: Campaign) -> np.ndarray:
    return (c.exit_campaign[who] == camp.idx) & (c.exit_type[who] == EXIT_HARD_BOUNCE)


def _exits(c: Contacts, who: np.ndarray, camp: Campaign) -> np.ndarray:
    return c.exit_campaign[who] == camp.idx


def flow_batches(ctx: EmailContext, day: int) -> list[EventBatch]:
    c = ctx.contacts
    out = []
    for flow in ctx.plan.flows:
        if not ctx.flow_sends(flow, day):
            continue
        for step in flow.steps:
            t_day = day - step.delay_days
            if t_day < 0:
                continue
            who, trig_ts = flow_triggered(ctx, flow.idx, t_day)
            alive = flow_continued(ctx, flow, step.step, who, t_day)
            if step.step > 1:
                alive &= ~c.bad_address[who]
            send_ts = trig_ts + step.delay_days * DAY
            alive &= c.exit_ts[who] > send_ts
            who, send_ts = who[alive], send_ts[alive]
            arm = (
                (hash01(who, salt(ctx.seed, "flow-split", flow.idx)) < 0.5).astype(int)
                if step.is_split
                else np.zeros(len(who), dtype=int)
            )
            for v, midx in enumerate(step.messages):
                sel = arm == v
                if not sel.any():
                    continue
                g = rng(ctx.seed, S_FLOW, flow.idx, step.step, day, v)
                rows = _Rows()
                # flow sends are spread over the day: engage each contact at its own send time
                for ts in np.unique(send_ts[sel] // 3600):
                    grp = sel & (send_ts // 3600 == ts)
                    _engage(
                        ctx,
                        g,
                        rows,
                        who[grp],
                        int(ts * 3600),
                        ctx.plan.messages[midx],
                        -1,
                        c.bad_address[who[grp]],
                        None,
                    )
                b = rows.batch(day, 2048 + flow.idx * 64 + step.step * 4 + v, midx, PHASE_NONE)
                out.append(b)
    return out


def flow_continued(ctx: EmailContext, flow: Flow, step: int, who: np.ndarray, t_day: int) -> np.ndarray:
    """Whether each contact that entered ``flow`` on ``t_day`` passed every step before ``step``
    (the flow's own drop-off, before exits and bad addresses are applied)."""
    alive = np.ones(len(who), dtype=bool)
    for prev in flow.steps[: step - 1]:
        alive &= (
            hash01(
                who.astype(np.uint64) + np.uint64(t_day << 32),
                salt(ctx.seed, "flow-cont", flow.idx, prev.step),
            )
            < prev.continue_prob
        )
    return alive


def flow_triggered(ctx: EmailContext, f: int, t_day: int) -> tuple[np.ndarray, np.ndarray]:
    """Contacts entering flow f on day t_day, with their trigger times."""
    c = ctx.contacts
    flow = ctx.plan.flows[f]
    lo, hi = ctx.start_ts + t_day * DAY, ctx.start_ts + (t_day + 1) * DAY
    if flow.trigger_type == "Added to List":
        i0, i1 = np.searchsorted(c.created_ts, [lo, hi])
        who = np.arange(i0, i1)
        who = who[c.eligible[who]]
        return who, c.created_ts[who]
    g = rng(ctx.seed, S_FLOW_TRIGGER, f, t_day)
    u = g.random(c.n)
    at = lo + g.integers(0, DAY, c.n)
    hit = (u < flow.trigger_rate) & c.eligible & (c.created_ts < lo) & (c.exit_ts > at)
    who = np.nonzero(hit)[0]
    return who, at[who]


def baseline_orders(ctx: EmailContext, day: int) -> EventBatch:
    c = ctx.contacts
    lo = ctx.start_ts + day * DAY
    g = rng(ctx.seed, S_ORDERS, day)
    u = g.random(c.n)
    at = lo + g.integers(0, DAY, c.n)
    value = np.round(g.lognormal(np.log(60), 0.55, c.n), 2)
    weekday = int(((lo // DAY) + 3) % 7)
    buy = (u < c.propensity * WEEKDAY_FACTOR[weekday]) & (c.created_ts < at) & (c.churn_ts > at)
    rows = _Rows()
    who = np.nonzero(buy)[0]
    rows.add(at[who], ORDER, who, value[who], SOURCE_BASELINE)
    return rows.batch(day, 0, -1, PHASE_NONE)


def origin_day(ctx: EmailContext, day: int) -> EventBatch:
    """Every event caused by sends (and baseline orders) of one day, tracking outages applied."""
    parts = [baseline_orders(ctx, day)]
    parts += [
        campaign_batch(ctx, camp, day, False) for camp in ctx.plan.campaigns_by_send_day(day, ctx.start_ts)
    ]
    parts += [
        campaign_batch(ctx, camp, day, True) for camp in ctx.plan.campaigns_by_rollout_day(day, ctx.start_ts)
    ]
    parts += flow_batches(ctx, day)
    parts += [clone_batch(ctx, send, day) for send in ctx.clone_sends(day)]
    batch = EventBatch.concat(parts)
    lost = np.zeros(len(batch), dtype=bool)
    for inc in ctx.incidents:
        if inc.kind == "tracking_outage":
            lost |= inc.covers(batch.ts) & ((batch.metric == OPENED) | (batch.metric == CLICKED))
    return batch.take(np.nonzero(~lost)[0])
