"""Choose each recipient's content angle for one upcoming campaign, from content a human approved.

Every run, :func:`propose_content_actions` proposes one ``personalize_content`` action per upcoming
one-message campaign (a marketer's own A/B test and Loopwise's hourly clones are left alone) that
has a content topic (``marts.dim_message_content``), is not yet claimed, and sends at least an
hour from now. The policy decides whether it needs a human (``content_choice.auto_apply``); an
empty ``content_choice.library`` proposes nothing.

Executing it (:func:`content_recipients`) randomises every subscribed recipient, per campaign, from
a SHA-256 of the campaign and the profile (a re-run draws the same arms; anyone can recompute them):

- ``control`` (share ``content_choice.holdout_share``): an angle drawn uniformly from the library,
  the concurrent randomized control the click lift is measured against (it also keeps every angle
  being sent to everyone, so the model keeps learning);
- ``personalized`` (the rest): the contact's preferred angle among the library's in the newest
  ``results.content_affinity`` (a contact without a row gets the account's best angle).

Delivery (``docs/architecture.md``, "Choosing content per send"): a profile property per campaign
(``lw_angle_<campaign id>``) holds each recipient's angle, and the message's preview text becomes a
template with one block per approved angle (the library's ``preview_template`` with the campaign's
topic) and the message's own text as the ``else``. ``results.content_assignments`` records every
recipient in the transaction that marks the action executed.

The predicted lift the action states is the affinity run's (``content_affinity.posterior_click_lift``):
the posterior clicks per send at the preferred angles over a uniform draw, with its 90 % interval.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import pandas as pd

from decision_engine.actions import ProposedAction
from decision_engine.experiments.design import naive_utc
from decision_engine.governance import CONTENT_CHOICE_KIND
from decision_engine.policy import ContentChoicePolicy, Policy
from decision_engine.store import RESULTS_SCHEMA, append_results, ensure_results_table, table_exists

ASSIGNMENTS_TABLE = "content_assignments"
AFFINITY_TABLE = "content_affinity"
PROPERTY_PREFIX = "lw_angle_"
TEMPLATE_MARK = "{%"  # a preview text that is already a template is left alone
ContentArm = Literal["personalized", "control"]
_SCALE = float(1 << 53)


@dataclass(frozen=True)
class PreferredAngles:
    """The newest content affinity: each contact's preferred angle among the library's, and the account's."""

    analysis_date: date
    preferred: dict[str, str]  # contact id -> angle
    account_best: str
    predicted_lift: float | None  # clicks, preferred over a uniform angle (the posterior)
    predicted_interval: tuple[float, float] | None  # its 90 % interval


@dataclass
class ContentProposals:
    actions: list[ProposedAction]
    notes: list[str]


def property_name(campaign_id: str) -> str:
    return PROPERTY_PREFIX + campaign_id


def _uniforms(campaign_id: str, profile_id: str) -> tuple[float, float]:
    digest = hashlib.sha256(f"content:{campaign_id}:{profile_id}".encode()).digest()
    return tuple(int.from_bytes(digest[i : i + 7], "big") % (1 << 53) / _SCALE for i in (0, 8))  # type: ignore[return-value]


def assign_content_arm(
    campaign_id: str, profile_id: str, holdout_share: float, angles: tuple[str, ...]
) -> tuple[ContentArm, str]:
    """(arm, the control's angle): control below ``holdout_share``; its angle uniform over ``angles``."""
    arm_draw, angle_draw = _uniforms(campaign_id, profile_id)
    arm: ContentArm = "control" if arm_draw < holdout_share else "personalized"
    return arm, angles[min(int(angle_draw * len(angles)), len(angles) - 1)]


def read_preferred_angles(con: Any, angles: tuple[str, ...]) -> PreferredAngles | None:
    """The newest ``results.content_affinity`` run restricted to ``angles`` (None before it ran)."""
    if not angles or not table_exists(con, RESULTS_SCHEMA, AFFINITY_TABLE):
        return None
    frame = con.execute(
        f"select contact_id, angle, engagement_score, account_engagement_score, analysis_date, "
        f"predicted_lift, predicted_lift_low, predicted_lift_high from {RESULTS_SCHEMA}.{AFFINITY_TABLE} "
        f"where analysis_date = (select max(analysis_date) from {RESULTS_SCHEMA}.{AFFINITY_TABLE}) "
        "and angle in (select unnest(?::varchar[]))",
        [list(angles)],
    ).df()
    if frame.empty:
        return None
    account = frame.groupby("angle").account_engagement_score.first()
    scores = frame.pivot(index="contact_id", columns="angle", values="engagement_score").dropna()
    chosen = scores.columns[scores.to_numpy().argmax(axis=1)].astype(str)
    # the run's prediction (content_affinity.posterior_click_lift), on every row
    lift, low, high = (
        frame[c].dropna() for c in ("predicted_lift", "predicted_lift_low", "predicted_lift_high")
    )
    return PreferredAngles(
        analysis_date=pd.Timestamp(frame["analysis_date"].iloc[0]).date(),
        preferred=dict(zip(scores.index.astype(str), chosen, strict=True)),
        account_best=str(account.idxmax()),
        predicted_lift=float(lift.iloc[0]) if len(lift) else None,
        predicted_interval=(float(low.iloc[0]), float(high.iloc[0])) if len(low) and len(high) else None,
    )


def content_template(
    campaign_id: str, library: ContentChoicePolicy, topic: str, own_preview: str | None
) -> str:
    """The preview text with one conditional block per approved angle; the message's own text otherwise."""
    name = property_name(campaign_id)
    blocks = []
    for k, variant in enumerate(library.library):
        tag = "if" if k == 0 else "elif"
        text = variant.preview_template.replace("{topic}", topic)
        blocks.append(f"{{% {tag} person|lookup:'{name}' == '{variant.angle}' %}}{text}")
    return "".join(blocks) + f"{{% else %}}{own_preview or ''}{{% endif %}}"


def upcoming_content_campaigns(con: Any, now: datetime) -> list[dict[str, Any]]:
    """Upcoming one-message campaigns (``send_time_schedule.upcoming_campaigns``) with their
    message, own preview text, topic and angle (``marts.dim_message_content``)."""
    from decision_engine.experiments.launch import upcoming_campaigns as scheduled
    from decision_engine.personalization.send_time_schedule import CLONE_MARK

    found = []
    for campaign_id, name, message_id, send_time, _subject in scheduled(con, now):
        if CLONE_MARK in str(name):
            continue
        row = con.execute(
            "select m.preview_text, d.topic, d.angle from staging.stg_klaviyo__campaign_messages as m "
            "left join marts.dim_message_content as d on m.message_id = d.message_id "
            "where m.message_id = ?",
            [message_id],
        ).fetchall()
        preview, topic, angle = row[0] if row else (None, None, None)
        found.append(
            {
                "campaign_id": str(campaign_id),
                "campaign_name": str(name),
                "message_id": str(message_id),
                "send_time": naive_utc(send_time),
                "preview_text": preview,
                "topic": topic,
                "own_angle": angle,
            }
        )
    return found


def propose_content_actions(con: Any, policy: Policy, now: datetime) -> ContentProposals:
    """One ``personalize_content`` per upcoming campaign not yet claimed (module docstring)."""
    from decision_engine.personalization.send_time_schedule import MIN_LEAD, claimed_campaigns

    now = naive_utc(now)
    choice = policy.content_choice
    angles = tuple(variant.angle for variant in choice.library)
    if not angles:
        return ContentProposals([], ["content_choice.library is empty: no content is chosen per recipient"])
    model = read_preferred_angles(con, angles)
    if model is None:
        return ContentProposals([], ["no content affinity yet: no content is chosen per recipient"])
    claimed = claimed_campaigns(con, CONTENT_CHOICE_KIND)
    actions, notes = [], []
    for campaign in upcoming_content_campaigns(con, now):
        name = campaign["campaign_name"]
        if campaign["campaign_id"] in claimed:
            continue
        if campaign["send_time"] < now + MIN_LEAD:
            notes.append(f"campaign {name!r}: sends within the hour; its content is left as it is")
            continue
        if not campaign["topic"]:
            notes.append(f"campaign {name!r}: its message has no content topic; its content is left as it is")
            continue
        if split_by_send_time(con, campaign["campaign_id"]):
            notes.append(
                f"campaign {name!r}: already split into send-time clones; its content is left as it is"
            )
            continue
        if TEMPLATE_MARK in str(campaign["preview_text"] or ""):
            notes.append(f"campaign {name!r}: its preview text is already a template; left alone")
            continue
        lift = model.predicted_lift
        payload = {
            "campaign_name": name,
            "message_id": campaign["message_id"],
            "topic": campaign["topic"],
            "own_angle": campaign["own_angle"],
            "own_preview_text": campaign["preview_text"],
            "property": property_name(campaign["campaign_id"]),
            "holdout_share": choice.holdout_share,
            "angles": list(angles),
            "account_best_angle": model.account_best,
            "profiles_date": model.analysis_date.isoformat(),
            "predicted_relative_lift": lift,
            "predicted_interval": list(model.predicted_interval) if model.predicted_interval else None,
        }
        said = f"; the model expects {lift:+.0%} clicks over a random angle" if lift is not None else ""
        actions.append(
            ProposedAction(
                source="personalization",
                action_type=CONTENT_CHOICE_KIND,
                platform="klaviyo",
                target_id=campaign["campaign_id"],
                payload=payload,
                reason=(
                    f"Campaign '{name}' ({campaign['topic']}, sends {campaign['send_time']:%Y-%m-%d %H:%M} UTC): "
                    f"show each contact the approved angle it engages with most, with {choice.holdout_share:.0%} "
                    f"shown a random approved angle as a randomized control{said}."
                ),
                auto_apply_allowed=True,  # the policy's content_choice.auto_apply decides (governance)
                evidence={"send_time": campaign["send_time"], "profiles_date": model.analysis_date},
                reason_code="content_personalization",
            )
        )
    return ContentProposals(actions, notes)


def split_by_send_time(con: Any, campaign_id: str) -> bool:
    """Whether Loopwise already moved the campaign's recipients to hourly clones: the clones copied
    the message as it was, so a template written to the campaign now would not reach them."""
    from decision_engine.personalization.send_time_schedule import SEND_TIME_KIND

    if not table_exists(con, RESULTS_SCHEMA, "actions"):
        return False
    return bool(
        con.execute(
            f"select count(*) from {RESULTS_SCHEMA}.actions where action_type = ? and target_id = ? "
            "and status in ('executed', 'verified')",
            [SEND_TIME_KIND, campaign_id],
        ).fetchall()[0][0]
    )


def content_recipients(con: Any, campaign_id: str, payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{profile id: {"contact_id", "arm", "angle", "preferred_angle"}}`` for every subscribed
    recipient; the affinity is read now, so an approval that waited a day uses the newest model.
    ``ValueError`` when send time already split the campaign into clones (they would not show it)."""
    from decision_engine.experiments.assignment import enrollable_contacts

    if split_by_send_time(con, campaign_id):
        raise ValueError(
            "its recipients were already moved to send-time clones, which would not show the choice"
        )

    angles = tuple(str(a) for a in payload["angles"])
    model = read_preferred_angles(con, angles)
    preferred = model.preferred if model else {}
    best = model.account_best if model else str(payload.get("account_best_angle") or angles[0])
    holdout = float(payload["holdout_share"])
    out = {}
    for contact in enrollable_contacts(con):
        own = preferred.get(contact.contact_id)
        arm, random_angle = assign_content_arm(campaign_id, contact.klaviyo_profile_id, holdout, angles)
        out[contact.klaviyo_profile_id] = {
            "contact_id": contact.contact_id,
            "arm": arm,
            "angle": random_angle if arm == "control" else own or best,
            "preferred_angle": own,
        }
    return out


def assigned_send_angles_sql(con: Any) -> str | None:
    """A query of ``(contact_id, send_campaign_id, campaign_id, arm, angle)``: for each recipient of
    a campaign whose content Loopwise chose (the latest assignment per campaign and contact), the
    campaign its send appears under in ``marts.fct_email_sends``: the campaign itself, or the
    send-time clone the same recipient was moved to. None before any content was assigned."""
    if not table_exists(con, RESULTS_SCHEMA, ASSIGNMENTS_TABLE):
        return None
    assigned = (
        f"select contact_id, campaign_id, arm, angle from {RESULTS_SCHEMA}.{ASSIGNMENTS_TABLE} "
        "qualify row_number() over (partition by campaign_id, contact_id order by assigned_at desc nulls last) = 1"
    )
    query = f"select contact_id, campaign_id as send_campaign_id, campaign_id, arm, angle from ({assigned})"
    if table_exists(con, RESULTS_SCHEMA, "send_time_assignments"):
        query += (
            " union select clones.contact_id, clones.campaign_id, assigned.campaign_id, assigned.arm, "
            f"assigned.angle from {RESULTS_SCHEMA}.send_time_assignments as clones inner join ({assigned}) as assigned "
            "on clones.parent_campaign_id = assigned.campaign_id and clones.contact_id = assigned.contact_id"
        )
    return query


def arm_counts(assignments: dict[str, dict[str, Any]]) -> dict[str, int]:
    return dict(sorted(Counter(entry["arm"] for entry in assignments.values()).items()))


def record_content_assignments(
    con: Any,
    action_id: str,
    campaign_id: str,
    message_id: str,
    property_name: str,
    assignments: dict[str, dict[str, Any]],
    assigned_at: datetime,
) -> int:
    """Append one ``results.content_assignments`` row per recipient (call only after the vendor
    accepted the write). A resumed write finds its rows already there and adds nothing."""
    ensure_results_table(con, ASSIGNMENTS_TABLE)
    done = con.execute(
        f"select count(*) from {RESULTS_SCHEMA}.{ASSIGNMENTS_TABLE} where action_id = ?", [action_id]
    ).fetchall()[0][0]
    if done or not assignments:
        return 0
    at = pd.Timestamp(assigned_at, tz="UTC") if assigned_at.tzinfo is None else pd.Timestamp(assigned_at)
    rows = pd.DataFrame(
        [
            {
                "contact_id": entry["contact_id"],
                "klaviyo_profile_id": profile_id,
                "campaign_id": campaign_id,
                "message_id": message_id,
                "arm": entry["arm"],
                "angle": entry["angle"],
                "preferred_angle": entry.get("preferred_angle"),
                "property_name": property_name,
                "assigned_at": at,
                "action_id": action_id,
            }
            for profile_id, entry in assignments.items()
        ]
    )
    return append_results(con, ASSIGNMENTS_TABLE, rows)
