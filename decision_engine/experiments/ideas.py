"""Test ideas mined from the data that need a human: send hour, send weekday, topic, flow timing.

Each is an observational contrast (the best level against the rest of the account's sends), not a
test: content and audience differ by hour, day and topic, so the observed difference is a hint.
Its expected lift is the observed relative difference in clicks times
:data:`OBSERVATIONAL_SHRINKAGE` (half of it is assumed to be confounding). None of them can be
launched from the library: changing a send time, writing about a topic or re-timing a flow is a
human decision, so every idea is a ``needs_human`` row of ``results.hypotheses`` without a
``library_id``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from decision_engine.experiments.campaign_plan import CampaignBaseline
from decision_engine.experiments.design import CLICK_RATE, ORDER_RATE, Baseline, MetricBaseline
from decision_engine.experiments.factors import SubjectStyle, subject_readings

IDEA_DAYS = 90  # campaign sends the ideas are mined from
MIN_SENDS_PER_LEVEL = 2000  # a level (hour, weekday, topic) needs this many sends to be compared
MIN_CAMPAIGNS_PER_TOPIC = 2
MIN_FLOW_STEP_RECIPIENTS = 50  # the step before a flow step needs this many recipients
OBSERVATIONAL_SHRINKAGE = 0.5
SEND_HOUR = "send_hour"
SEND_WEEKDAY = "send_weekday"
TOPIC = "topic"
FLOW_TIMING = "flow_timing"


@dataclass(frozen=True)
class Idea:
    """One data-mined candidate: what to try, the hint behind it, and what volume a test would get."""

    hypothesis_id: str
    factor: str
    level: str
    description: str
    expected_relative_lift: float | None  # None: no hint of size (the default prior applies)
    baseline: CampaignBaseline | None = None  # None: the account's campaign baseline
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LevelRate:
    level: str
    sends: int
    clicks: int

    @property
    def rate(self) -> float:
        return self.clicks / self.sends if self.sends else 0.0


def best_level(
    levels: Iterable[LevelRate], min_sends: int = MIN_SENDS_PER_LEVEL
) -> tuple[LevelRate, LevelRate] | None:
    """The level with the highest click rate among those with enough sends, and the rest pooled;
    None with fewer than two such levels or when the best is not above the rest."""
    eligible = [level for level in levels if level.sends >= min_sends]
    if len(eligible) < 2:
        return None
    best = max(eligible, key=lambda level: (level.rate, level.sends))
    rest = LevelRate(
        "rest",
        sum(level.sends for level in eligible if level is not best),
        sum(level.clicks for level in eligible if level is not best),
    )
    return (best, rest) if rest.rate > 0 and best.rate > rest.rate else None


def _contrast_idea(factor: str, levels: list[LevelRate], id_level: str, text: str) -> Idea | None:
    found = best_level(levels)
    if found is None:
        return None
    best, rest = found
    observed = best.rate / rest.rate - 1
    return Idea(
        hypothesis_id=f"{factor}:{id_level.format(level=best.level)}",
        factor=factor,
        level=best.level,
        description=text.format(level=best.level, best=best.rate, rest=rest.rate, sends=best.sends),
        expected_relative_lift=observed * OBSERVATIONAL_SHRINKAGE,
        evidence={"level_sends": best.sends, "level_click_rate": best.rate, "rest_sends": rest.sends,
                  "rest_click_rate": rest.rate, "observed_relative_difference": observed},
    )  # fmt: skip


def _campaign_levels(con: Any, level_sql: str, now: datetime) -> list[LevelRate]:
    rows = con.execute(
        f"select {level_sql} as level, count(*), count(*) filter (where is_clicked) "
        "from marts.fct_email_sends where send_type = 'campaign' and sent_at >= ? and sent_at < ? group by 1",
        [now - timedelta(days=IDEA_DAYS), now],
    ).fetchall()
    return [LevelRate(str(level), int(sends), int(clicks)) for level, sends, clicks in rows]


def send_hour_idea(con: Any, now: datetime) -> Idea | None:
    levels = _campaign_levels(con, "lpad(cast(hour(sent_at) as varchar), 2, '0') || ':00 UTC'", now)
    return _contrast_idea(
        SEND_HOUR,
        levels,
        "{level}",
        "Send campaigns at {level}: their recipients clicked {best:.2%} of sends, against {rest:.2%} "
        "at the other usual hours (observational: content and audience differ by hour; a test would tell).",
    )


def send_weekday_idea(con: Any, now: datetime) -> Idea | None:
    levels = _campaign_levels(con, "dayname(sent_at)", now)
    return _contrast_idea(
        SEND_WEEKDAY,
        levels,
        "{level}",
        "Send more campaigns on {level}: recipients clicked {best:.2%} of sends, against {rest:.2%} "
        "on the other days (observational: content differs by day; a test would tell).",
    )


def campaign_topics(subjects: dict[str, list[str]], styles: Iterable[SubjectStyle]) -> dict[str, str]:
    """Campaign id -> topic: the core subject its arms share once subject styles are stripped.
    Where a subject reads several ways (``Build or buy?`` is plain, or ``Build or buy`` as a
    question) the reading most campaigns share wins, then the most stripped."""
    styles = tuple(styles)
    cores: dict[str, set[str]] = {}
    shown: dict[str, str] = {}  # lower-case core -> as first written
    for campaign_id, arm_subjects in subjects.items():
        readings = []
        for subject in arm_subjects:
            found = {core.lower(): core for _, core in subject_readings(subject, styles)}
            for key, core in found.items():
                shown.setdefault(key, core)
            readings.append(set(found))
        if readings:
            cores[campaign_id] = set.intersection(*readings)
    counts = Counter(core for found in cores.values() for core in found)
    return {
        campaign_id: shown[max(found, key=lambda core: (counts[core], -len(core), core))]
        for campaign_id, found in cores.items()
        if found
    }


def topic_idea(con: Any, now: datetime, styles: Iterable[SubjectStyle]) -> Idea | None:
    window = [now - timedelta(days=IDEA_DAYS), now]
    subjects: dict[str, list[str]] = {}
    for campaign_id, subject in con.execute(
        "select campaign_id, subject from marts.dim_email_messages where send_type = 'campaign' "
        "and campaign_id is not null and subject is not null"
    ).fetchall():
        subjects.setdefault(str(campaign_id), []).append(str(subject))
    topics = campaign_topics(subjects, styles)
    per_topic: dict[str, list[int]] = {}
    for campaign_id, sends, clicks in con.execute(
        "select campaign_id, count(*), count(*) filter (where is_clicked) from marts.fct_email_sends "
        "where send_type = 'campaign' and campaign_id is not null and sent_at >= ? and sent_at < ? group by 1",
        window,
    ).fetchall():
        topic = topics.get(str(campaign_id))
        if topic is not None:
            totals = per_topic.setdefault(topic, [0, 0, 0])
            totals[0], totals[1], totals[2] = totals[0] + int(sends), totals[1] + int(clicks), totals[2] + 1
    levels = [
        LevelRate(topic, s, c) for topic, (s, c, n) in per_topic.items() if n >= MIN_CAMPAIGNS_PER_TOPIC
    ]
    return _contrast_idea(
        TOPIC,
        levels,
        "{level}",
        "Write more campaigns like '{level}': recipients clicked {best:.2%} of its sends, against {rest:.2%} "
        "for the other repeated topics (observational; new content is a human's call).",
    )


def flow_timing_ideas(con: Any, now: datetime, click_value: float) -> list[Idea]:
    """Per flow, the step that keeps the smallest share of the previous step's recipients: a test
    of a shorter wait before it. Volume is that step's recipients per week."""
    (first, last) = con.execute(
        "select min(sent_at), max(sent_at) from marts.fct_email_sends where send_type = 'flow'"
    ).fetchone()
    if first is None:
        return []
    weeks = max((last - first).total_seconds() / (7 * 86400), 1 / 7)
    rows = con.execute(
        "select flow_id, any_value(flow_name), step_position, sum(recipients), sum(clicks) "
        "from marts.fct_flow_step_funnel where step_position is not null group by flow_id, step_position "
        "order by flow_id, step_position"
    ).fetchall()
    ideas = []
    by_flow: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        by_flow.setdefault(str(row[0]), []).append(row)
    for flow_id, steps in by_flow.items():
        drops = [
            (current[3] / previous[3], previous, current)
            for previous, current in zip(steps, steps[1:], strict=False)
            if previous[3] >= MIN_FLOW_STEP_RECIPIENTS
        ]
        if not drops:
            continue
        kept, previous, step = min(drops, key=lambda drop: drop[0])
        name, position, recipients, clicks = step[1] or flow_id, int(step[2]), int(step[3]), int(step[4])
        rate = clicks / recipients if recipients else 0.0
        # one entry per recipient (no contact clustering) and no orders: the plan is on clicks
        baseline = CampaignBaseline(
            design=Baseline(
                clicks=MetricBaseline(rate, 0.0),
                orders=MetricBaseline(0.0, 0.0),
                contacts=recipients,
                weekly_sends=recipients / weeks,
                days=round(weeks * 7),
            ),
            value_per_event={CLICK_RATE: click_value, ORDER_RATE: 0.0},
        )
        ideas.append(
            Idea(
                hypothesis_id=f"{FLOW_TIMING}:{flow_id}:{position}",
                factor=FLOW_TIMING,
                level=f"shorter wait before step {position}",
                description=(
                    f"Shorten the wait before step {position} of the {name} flow: only {kept:.0%} of "
                    f"step {position - 1}'s recipients reach it (a flow's timing is a human's call)."
                ),
                expected_relative_lift=None,
                baseline=baseline,
                evidence={
                    "flow_id": flow_id,
                    "step_position": position,
                    "share_reaching_step": kept,
                    "step_recipients": recipients,
                    "previous_step_recipients": int(previous[3]),
                },
            )  # fmt: skip
        )
    return ideas


def mine_ideas(con: Any, now: datetime, styles: Iterable[SubjectStyle], click_value: float) -> list[Idea]:
    """Every data-mined idea the warehouse supports (each kind only where the data tells)."""
    found = [send_hour_idea(con, now), send_weekday_idea(con, now), topic_idea(con, now, styles)]
    return [idea for idea in found if idea is not None] + flow_timing_ideas(con, now, click_value)
