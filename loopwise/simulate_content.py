"""``loopwise simulate``'s content-choice scores, against the sandbox's planted content affinities.

- *measured*: the pipeline's own lift of personalized over the randomized control in clicks per
  delivered send (``results.content_lift``, the newest analysis), with its 95% interval;
- *true*: what the angles Loopwise chose were worth by the sandbox's truth, on the same recipients:
  the expected clicks per delivered send (open x click-given-open probability,
  ``sandbox.world.events.send_probabilities``, at the campaign's send time) of each personalized
  recipient at its assigned angle over the same recipient at an angle drawn uniformly from the four
  (the control's expectation);
- *oracle*: the same ratio with every personalized recipient at its true angle at the send (the
  drift point moves it); ``oracle_share_captured`` = true / oracle;
- *recovery*: the share of contacts the affinity model read 3 or more clicks of (``n_clicks`` summed
  over their angles in the newest ``results.content_affinity``) whose preferred angle (highest
  ``engagement_score``) is their planted angle at the clock; 0.25 is chance with four angles.

The hour, weekday and message factors multiply every angle alike, so the ratios are the angles'
own (up to the probabilities' clipping); the send moment is the marketer's campaign's, not a
send-time clone's.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopwise.simulate_send_time import measured_lift, warehouse_frame
from sandbox import World
from sandbox.world.contacts import AFFINITIES
from sandbox.world.events import send_probabilities

MIN_CLICKS = 3
CHANCE = round(1 / len(AFFINITIES), 4)
# Loopwise's angle ids -> the sandbox's affinity index (the sandbox calls promotion "promo")
ANGLE_INDEX = {("promotion" if a == "promo" else a): k for k, a in enumerate(AFFINITIES)}
NO_TRUTH = {"true_lift": None, "oracle_lift": None, "oracle_share_captured": None}


def _true_angles(world: World, ts: int) -> np.ndarray:
    """Every contact's planted angle at moment ``ts`` (the drift point moves some)."""
    c = world.contacts
    return c.affinity_late if ts >= world.email_ctx.drift_ts else c.affinity


def expected_clicks(world: World, campaign_id: str, contacts: np.ndarray) -> np.ndarray:
    """(angles, recipients): expected clicks per delivered send of the campaign's message to each
    contact had it been shown each angle (index in ``AFFINITIES``)."""
    camp = world.campaign_by_id[campaign_id]
    msg = world.plan.messages[camp.messages[0]]
    out = np.empty((len(AFFINITIES), len(contacts)))
    for angle in range(len(AFFINITIES)):
        p_open, p_click, _ = send_probabilities(world.email_ctx, contacts, camp.send_ts, msg, angle)
        out[angle] = p_open * p_click
    return out


def true_lifts(world: World, assignments: pd.DataFrame) -> dict[str, float | None]:
    """Expected click lift of the personalized angles, and of the oracle's, over a uniformly drawn
    angle, on the personalized recipients (sandbox truth; module docstring)."""
    mine = assignments[
        (assignments.arm == "personalized")
        & assignments.campaign_id.isin(world.campaign_by_id)
        & assignments.angle.isin(ANGLE_INDEX)
    ]
    chosen = control = oracle = 0.0
    for campaign_id, rows in mine.groupby("campaign_id"):
        contacts = np.array([world.profile_index(p) for p in rows.klaviyo_profile_id], dtype=object)
        known = np.array([i is not None for i in contacts], dtype=bool)
        who = contacts[known].astype(np.int64)
        if not len(who):
            continue
        clicks = expected_clicks(world, str(campaign_id), who)
        at = np.arange(len(who))
        truth = _true_angles(world, world.campaign_by_id[str(campaign_id)].send_ts)[who]
        chosen += clicks[rows.angle.map(ANGLE_INDEX).to_numpy()[known], at].sum()
        control += clicks.mean(axis=0).sum()
        oracle += clicks[truth, at].sum()
    if control <= 0:
        return dict(NO_TRUTH)
    true_lift, oracle_lift = chosen / control - 1, oracle / control - 1
    return {
        "true_lift": round(float(true_lift), 4),
        "oracle_lift": round(float(oracle_lift), 4),
        "oracle_share_captured": round(float(true_lift / oracle_lift), 4) if oracle_lift > 0 else None,
    }


def recovery(world: World, warehouse: Path) -> dict[str, Any]:
    """Preferred angles equal to the planted angle at the clock, contacts with 3+ clicks read."""
    rows = warehouse_frame(
        warehouse,
        "select contact_id, angle, engagement_score, n_clicks from results.content_affinity "
        "where analysis_date = (select max(analysis_date) from results.content_affinity)",
    )
    empty = {"contacts": 0, "preferred_is_true": None, "chance": CHANCE}
    if rows.empty:
        return empty
    c = world.contacts
    index = {hashlib.sha256(c.email(i).encode()).hexdigest(): i for i in range(c.n)}
    rows = rows[rows.contact_id.isin(index) & rows.angle.isin(ANGLE_INDEX)]
    clicks = rows.groupby("contact_id").n_clicks.sum()
    rows = rows[rows.contact_id.map(clicks).fillna(0) >= MIN_CLICKS]
    if rows.empty:
        return empty
    best = rows.sort_values(["contact_id", "engagement_score"], ascending=[True, False])
    best = best.drop_duplicates("contact_id")
    truth = _true_angles(world, world.clock_ts)[best.contact_id.map(index).to_numpy()]
    hit = best.angle.map(ANGLE_INDEX).to_numpy() == truth
    return {"contacts": len(best), "preferred_is_true": round(float(hit.mean()), 4), "chance": CHANCE}


def content_report(world: World, warehouse: Path) -> dict[str, Any]:
    """The simulation's ``content`` object (fields null when no content was chosen)."""
    assignments = warehouse_frame(
        warehouse,
        "select klaviyo_profile_id, campaign_id, arm, angle from results.content_assignments "
        "qualify row_number() over (partition by campaign_id, klaviyo_profile_id order by assigned_at desc) = 1",
    )
    arms = assignments.arm.value_counts().to_dict() if not assignments.empty else {}
    return {
        "campaigns": int(assignments.campaign_id.nunique()) if not assignments.empty else 0,
        "recipients_by_arm": {str(k): int(v) for k, v in sorted(arms.items())},
        **measured_lift(warehouse, "content_lift", "click_rate"),
        **(true_lifts(world, assignments) if not assignments.empty else dict(NO_TRUTH)),
        "recovery": recovery(world, warehouse),
    }
