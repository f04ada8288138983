"""Test ideas mined from the data that need a human: send hour, send weekday, topic, flow changes.

Each is an observational contrast (the best level against the rest of the account's sends), not a
test: content and audience differ by hour, day and topic, so the observed difference is a hint.
Its expected lift is the observed relative difference in clicks times
:data:`OBSERVATIONAL_SHRINKAGE` (half of it is assumed to be confounding). None of them can be
launched from the library: changing a send time, writing about a topic or changing a flow (its
timing, a step's content, removing a step: :mod:`.flow_dropoff`'s proposals) is a human
decision, so every idea is a ``needs_human`` row of ``results.hypotheses`` without a
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
from decision_engine.experiments.factors import SubjectStyle, marketer_subject, subject_readings
from decision_engine.experiments.flow_dropoff import (
    Proposal,
    Windows,
    entry_times,
    flow_dropoff_findings,
    journeys_data_end,
    naive_utc,
    read_journeys,
    step_counts,
)

IDEA_DAYS = 90  # campaign sends the ideas are mined from
MIN_SENDS_PER_LEVEL = 2000  # a level (hour, weekday, topic) needs this many sends to be compared
MIN_CAMPAIGNS_PER_TOPIC = 2
MIN_FLOW_STEP_RECIPIENTS = 50  # a flow step needs this many journeys in the analysed weeks
OBSERVATIONAL_SHRINKAGE = 0.5
SEND_HOUR = "send_hour"
SEND_WEEKDAY = "send_weekday"
TOPIC = "topic"


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
        subjects.setdefault(str(campaign_id), []).append(marketer_subject(str(subject)))
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


PROPOSAL_TEXT = {
    Proposal.TIMING_INTERVAL_TEST: (
        "a different wait before step {next}",
        "Test a different wait before step {next}",
    ),
    Proposal.STEP_CONTENT_TEST: ("new content for step {step}", "Test new content for step {step}"),
    Proposal.STEP_REMOVAL: ("remove step {step}", "Test removing step {step}"),
}


def flow_dropoff_ideas(con: Any, now: datetime, click_value: float) -> list[Idea]:
    """The proposals for each flow's worst step (:mod:`.flow_dropoff`: the step that lost the most
    against the flow's baseline, else the one that keeps the fewest). Volume is the journeys that
    got the step per week over the analysed weeks; the plan is on the step's clicks."""
    if not con.execute(
        "select count(*) from information_schema.tables where table_schema = 'marts' "
        "and table_name = 'fct_flow_journeys'"
    ).fetchone()[0]:
        return []
    journeys = read_journeys(con)
    if journeys.empty:
        return []
    data_end = journeys_data_end(journeys, now)
    findings = flow_dropoff_findings(journeys, data_end, now)
    if findings.empty:
        return []
    windows = Windows.ending(data_end)
    clicks = {
        (str(flow_id), int(step)): (int(recipients), int(clicked))
        for flow_id, step, recipients, clicked in con.execute(
            "select flow_id, step_position, sum(recipients), sum(clicks) from marts.fct_flow_step_funnel "
            "where step_position is not null group by flow_id, step_position"
        ).fetchall()
    }
    ideas = []
    for finding in findings[findings["is_worst_step"]].itertuples():
        flow = journeys[journeys["flow_id"] == finding.flow_id]
        entries = entry_times(flow)
        first = max(entries.min(), naive_utc(windows.baseline_start))
        weeks = max((naive_utc(data_end) - first).total_seconds() / (7 * 86400), 1 / 7)
        in_window = flow[entries >= first]
        at_step = step_counts(in_window, finding.step_position)["journeys_at_step"]
        recipients, clicked = clicks.get((finding.flow_id, finding.step_position), (0, 0))
        if at_step < MIN_FLOW_STEP_RECIPIENTS:
            continue
        baseline = CampaignBaseline(
            design=Baseline(
                clicks=MetricBaseline(clicked / recipients if recipients else 0.0, 0.0),
                orders=MetricBaseline(0.0, 0.0),
                contacts=at_step,
                weekly_sends=at_step / weeks,
                days=round(weeks * 7),
            ),
            value_per_event={CLICK_RATE: click_value, ORDER_RATE: 0.0},
        )
        for proposal in (finding.proposals or "").split(","):
            if not proposal:
                continue
            level, verb = PROPOSAL_TEXT[Proposal(proposal)]
            target = finding.next_step if proposal == Proposal.TIMING_INTERVAL_TEST else finding.step_position
            ideas.append(
                Idea(
                    hypothesis_id=f"{proposal}:{finding.flow_id}:{target}",
                    factor=proposal,
                    level=level.format(step=finding.step_position, next=finding.next_step),
                    description=(
                        f"{verb.format(step=finding.step_position, next=finding.next_step)} of the "
                        f"{finding.flow_name} flow. {finding.diagnosis} (A flow change is a human's call.)"
                    ),
                    expected_relative_lift=None,
                    baseline=baseline,
                    evidence={
                        "flow_id": finding.flow_id,
                        "step_position": int(finding.step_position),
                        "diagnosis_code": finding.diagnosis_code,
                        "step_rate": finding.step_rate,
                        "baseline_step_rate": finding.baseline_step_rate,
                        "is_flagged": bool(finding.is_flagged),
                        "q_value": finding.q_value,
                        "journeys_at_step": int(at_step),
                    },
                )
            )
    return ideas


def mine_ideas(con: Any, now: datetime, styles: Iterable[SubjectStyle], click_value: float) -> list[Idea]:
    """Every data-mined idea the warehouse supports (each kind only where the data tells)."""
    found = [send_hour_idea(con, now), send_weekday_idea(con, now), topic_idea(con, now, styles)]
    return [idea for idea in found if idea is not None] + flow_dropoff_ideas(con, now, click_value)
