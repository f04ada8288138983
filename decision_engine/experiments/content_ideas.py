"""Content opportunities: segments that engage with a content angle no sequence (flow) is about.

A segment is the contacts whose preferred angle in the latest ``results.content_affinity`` is the
angle, learned from their own engagement (``source = 'contact'``) and with a posterior probability
of at least :data:`MIN_CERTAINTY` that it is their best. When no flow message carries the angle
(``marts.dim_message_content``, ``send_type = 'flow'``) and the segment has at least
:data:`MIN_SEGMENT_CONTACTS` contacts, the idea is a sequence of that angle for the segment. Writing
a sequence is new content, so it is a human's call: a ``needs_human`` row of ``results.hypotheses``.

The hint: the segment's shrunk engagement with the angle against its engagement with the other
angles. The segment was chosen for engaging with the angle, so the contrast is biased upwards even
after shrinkage; the expected lift is half of it (:data:`.ideas.OBSERVATIONAL_SHRINKAGE`).
The plan assumes a weekly sequence email per segment contact, on the segment's click rate with the
angle.
"""

from __future__ import annotations

from typing import Any

from decision_engine.experiments.campaign_plan import CampaignBaseline
from decision_engine.experiments.design import CLICK_RATE, ORDER_RATE, Baseline, MetricBaseline
from decision_engine.experiments.ideas import OBSERVATIONAL_SHRINKAGE, Idea

CONTENT_SEQUENCE = "content_sequence"
MIN_CERTAINTY = 0.5
MIN_SEGMENT_CONTACTS = 100

_SEGMENTS_SQL = """
with latest as (
    select * from results.content_affinity
    where analysis_date = (select max(analysis_date) from results.content_affinity)
),
segment as (
    select contact_id, preferred_angle
    from latest
    where is_preferred and source = 'contact' and preferred_probability >= $min_certainty
),
flow_angles as (
    select distinct angle from marts.dim_message_content where send_type = 'flow' and angle is not null
)
select
    segment.preferred_angle as angle,
    count(distinct segment.contact_id) as contacts,
    avg(latest.engagement_score) filter (where latest.angle = segment.preferred_angle) as angle_score,
    avg(latest.engagement_score) filter (where latest.angle <> segment.preferred_angle) as other_score,
    sum(latest.n_sends) filter (where latest.angle = segment.preferred_angle) as angle_sends,
    sum(latest.n_clicks) filter (where latest.angle = segment.preferred_angle) as angle_clicks,
    sum(latest.n_sends) filter (where latest.angle <> segment.preferred_angle) as other_sends,
    sum(latest.n_clicks) filter (where latest.angle <> segment.preferred_angle) as other_clicks
from segment
inner join latest
    on segment.contact_id = latest.contact_id
where segment.preferred_angle not in (select angle from flow_angles)
group by segment.preferred_angle
having count(distinct segment.contact_id) >= $min_contacts
order by contacts desc, angle
"""


def _exists(con: Any, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


def content_sequence_ideas(con: Any, click_value: float, click_icc: float) -> list[Idea]:
    """One idea per content angle whose segment is large enough and that no flow is about
    (``click_icc``: the account's intra-contact correlation of clicks, for the plan)."""
    if not (_exists(con, "results", "content_affinity") and _exists(con, "marts", "dim_message_content")):
        return []
    rows = con.execute(
        _SEGMENTS_SQL, {"min_certainty": MIN_CERTAINTY, "min_contacts": MIN_SEGMENT_CONTACTS}
    ).fetchall()
    ideas = []
    for (
        angle,
        contacts,
        angle_score,
        other_score,
        angle_sends,
        angle_clicks,
        other_sends,
        other_clicks,
    ) in rows:
        if not angle_score or not other_score or not angle_sends:
            continue
        observed = angle_score / other_score - 1
        click_rate = angle_clicks / angle_sends
        other_rate = other_clicks / other_sends if other_sends else 0.0
        label = str(angle).replace("_", " ")
        baseline = CampaignBaseline(
            design=Baseline(
                clicks=MetricBaseline(click_rate, click_icc),
                orders=MetricBaseline(0.0, 0.0),
                contacts=int(contacts),
                weekly_sends=float(contacts),
            ),
            value_per_event={CLICK_RATE: click_value, ORDER_RATE: 0.0},
        )
        ideas.append(
            Idea(
                hypothesis_id=f"{CONTENT_SEQUENCE}:{angle}",
                factor=CONTENT_SEQUENCE,
                level=str(angle),
                description=(
                    f"Build a {label} sequence for the {int(contacts)} contacts who engage most with "
                    f"{label} content: they clicked {click_rate:.2%} of their {label} campaign sends against "
                    f"{other_rate:.2%} of the others, and no flow sends them {label} content (observational: "
                    "they were picked for engaging with it; new content is a human's call)."
                ),
                expected_relative_lift=observed * OBSERVATIONAL_SHRINKAGE,
                baseline=baseline,
                evidence={
                    "angle": str(angle),
                    "segment_contacts": int(contacts),
                    "segment_angle_score": float(angle_score),
                    "segment_other_score": float(other_score),
                    "observed_relative_difference": float(observed),
                    "angle_sends": int(angle_sends),
                    "angle_clicks": int(angle_clicks),
                    "other_sends": int(other_sends or 0),
                    "other_clicks": int(other_clicks or 0),
                    "min_certainty": MIN_CERTAINTY,
                },
            )
        )
    return ideas
