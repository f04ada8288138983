"""Deliver each contact's send time: who gets which local hour for one upcoming campaign.

Every run, :func:`propose_send_time_actions` proposes one ``schedule_send_times`` action per
upcoming one-message campaign (a marketer's own A/B test is left alone) that Loopwise has not
scheduled yet and whose send day has not begun anywhere its recipients live. The policy decides
whether it needs a human (``send_time.auto_apply``).

Executing it (:func:`schedule_recipients`) randomises every subscribed recipient, per campaign,
into one of three arms, from a SHA-256 of the campaign and the profile (so a re-run draws the
same arms and anyone can recompute them):

- ``control`` (share ``send_time.holdout_share``): the account's best single local hour, the
  concurrent randomized control the lift is measured against;
- ``explore`` (share ``send_time.explore_share``): a local hour drawn uniformly from the 24, so the
  model keeps learning about hours campaigns are never sent at;
- ``personalized`` (the rest): the contact's chosen local hour from the newest
  ``results.send_time_profiles`` (a contact without a profile gets the account's best hour).

Each recipient gets the campaign on its send day (the day in the account's time zone) at that
hour in its own time zone. Klaviyo has no per-profile send time for campaigns, so the Klaviyo
client delivers it as hourly child sends (``docs/architecture.md``): one list per local hour, a
clone of the campaign per hour sent in the recipients' local time, and the campaign itself told to
exclude everyone moved. A recipient whose moment has already passed when the action executes stays
with the campaign's own send (never moved). ``results.send_time_assignments`` records each moved
recipient with the clone it was sent under, in the same transaction as the executed write.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from decision_engine.actions import ProposedAction
from decision_engine.experiments.design import naive_utc
from decision_engine.policy import Policy
from decision_engine.store import RESULTS_SCHEMA, append_results, ensure_results_table, table_exists

SEND_TIME_KIND = "schedule_send_times"
ASSIGNMENTS_TABLE = "send_time_assignments"
PROFILES_TABLE = "send_time_profiles"
CLONE_MARK = "Loopwise send time"  # in the name of every campaign Loopwise clones for an hour
SendArm = Literal["personalized", "control", "explore"]
# an action in one of these states already speaks for its campaign (a new proposal would duplicate
# it, or ask again what a human declined); an expired, superseded or failed one may be proposed again
CLAIMED = (
    "proposed",
    "pending_approval",
    "auto_approved",
    "approved",
    "executed",
    "verified",
    "rolled_back",
    "rejected",
)
MIN_LEAD = timedelta(hours=1)  # the earliest moved recipient's moment must be at least this far ahead
_SCALE = float(1 << 53)


@dataclass(frozen=True)
class Recipient:
    """One subscribed recipient's slot for a campaign (``scheduled_at`` in UTC)."""

    contact_id: str
    klaviyo_profile_id: str
    time_zone: str
    arm: SendArm
    local_hour: int
    scheduled_at: datetime


@dataclass(frozen=True)
class ProfileHours:
    """The newest send-time profiles: each contact's zone and chosen hour, and the account's."""

    analysis_date: date
    chosen: dict[str, tuple[str, int]]  # contact id -> (time zone, chosen local hour)
    account_best_hour: int
    account_time_zone: str
    predicted_lift: float | None  # personalized over the account's best hour, on held-out sends
    predicted_interval: tuple[float, float] | None  # its 90% interval


@dataclass
class SendTimeProposals:
    actions: list[ProposedAction]
    notes: list[str]


def _uniforms(campaign_id: str, profile_id: str) -> tuple[float, float]:
    digest = hashlib.sha256(f"send-time:{campaign_id}:{profile_id}".encode()).digest()
    return tuple(int.from_bytes(digest[i : i + 7], "big") % (1 << 53) / _SCALE for i in (0, 8))  # type: ignore[return-value]


def assign_arm(
    campaign_id: str, profile_id: str, explore_share: float, holdout_share: float
) -> tuple[SendArm, int]:
    """(arm, explore hour) of one profile for one campaign: control below ``holdout_share``, explore
    in the next ``explore_share``; the explore hour is uniform over 0-23 (used only by explore)."""
    arm_draw, hour_draw = _uniforms(campaign_id, profile_id)
    arm: SendArm = (
        "control"
        if arm_draw < holdout_share
        else "explore"
        if arm_draw < holdout_share + explore_share
        else "personalized"
    )
    return arm, min(int(hour_draw * 24), 23)


def _zone(name: str | None, fallback: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or fallback)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(fallback)


def local_moment(day: date, hour: int, zone: ZoneInfo) -> datetime:
    """``day`` at ``hour``:00 in ``zone``, as a UTC datetime (naive, like the marts' timestamps)."""
    moment = datetime.combine(day, time(hour), tzinfo=zone)
    return moment.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def read_profile_hours(con: Any) -> ProfileHours | None:
    """The newest ``results.send_time_profiles`` run (None before the model ran)."""
    if not table_exists(con, RESULTS_SCHEMA, PROFILES_TABLE):
        return None
    frame = con.execute(
        f"select contact_id, time_zone, chosen_local_hour, source, hourly_scores, account_best_local_hour, "
        f"predicted_lift, predicted_lift_low, predicted_lift_high, analysis_date from {RESULTS_SCHEMA}.{PROFILES_TABLE} "
        f"where analysis_date = (select max(analysis_date) from {RESULTS_SCHEMA}.{PROFILES_TABLE})"
    ).df()
    if frame.empty:
        return None
    known = frame["account_best_local_hour"].dropna()
    if len(known):
        best = int(known.iloc[0])
    else:
        best = int(np.argmax(np.stack(frame["hourly_scores"].to_numpy()).mean(axis=0)))
    zones = frame["time_zone"].value_counts()
    # the run's held-out prediction (send_time.held_out_lift), on every row; null before it existed
    lift, low, high = (
        frame[c].dropna() for c in ("predicted_lift", "predicted_lift_low", "predicted_lift_high")
    )
    interval = (float(low.iloc[0]), float(high.iloc[0])) if len(low) and len(high) else None
    return ProfileHours(
        analysis_date=pd.Timestamp(frame["analysis_date"].iloc[0]).date(),
        chosen={
            str(c): (str(z), int(h))
            for c, z, h in zip(
                frame["contact_id"], frame["time_zone"], frame["chosen_local_hour"], strict=True
            )
        },
        account_best_hour=best,
        account_time_zone=str(zones.index[0]) if len(zones) else "UTC",
        predicted_lift=float(lift.iloc[0]) if len(lift) else None,
        predicted_interval=interval,
    )


def upcoming_campaigns(con: Any, now: datetime) -> list[tuple[str, str, datetime]]:
    """(campaign id, name, send time) of one-message campaigns scheduled after ``now``, Loopwise's
    own hourly clones left out."""
    from decision_engine.experiments.launch import upcoming_campaigns as scheduled

    return [
        (str(campaign_id), str(name), naive_utc(send_time))
        for campaign_id, name, _message, send_time, _subject in scheduled(con, now)
        if CLONE_MARK not in str(name)
    ]


def claimed_campaigns(con: Any, kind: str = SEND_TIME_KIND) -> set[str]:
    """Campaigns an action of ``kind`` already speaks for (``CLAIMED``): not proposed again."""
    if not table_exists(con, RESULTS_SCHEMA, "actions"):
        return set()
    marks = ", ".join(f"'{status}'" for status in CLAIMED)
    rows = con.execute(
        f"select distinct target_id from {RESULTS_SCHEMA}.actions "
        f"where action_type = ? and status in ({marks})",
        [kind],
    ).fetchall()
    return {str(row[0]) for row in rows}


def send_day(send_time: datetime, account_zone: ZoneInfo) -> date:
    """The campaign's day in the account's time zone (``send_time`` is naive UTC)."""
    return send_time.replace(tzinfo=ZoneInfo("UTC")).astimezone(account_zone).date()


def propose_send_time_actions(con: Any, policy: Policy, now: datetime) -> SendTimeProposals:
    """One ``schedule_send_times`` per upcoming campaign not yet claimed (module docstring)."""
    now = naive_utc(now)
    notes: list[str] = []
    profiles = read_profile_hours(con)
    if profiles is None:
        return SendTimeProposals([], ["no send-time profiles yet: nothing is scheduled"])
    account_zone = _zone(profiles.account_time_zone, "UTC")
    zones = {zone for zone, _ in profiles.chosen.values()} | {profiles.account_time_zone}
    claimed = claimed_campaigns(con)
    actions = []
    for campaign_id, name, send_time in upcoming_campaigns(con, now):
        if campaign_id in claimed:
            continue
        day = send_day(send_time, account_zone)
        earliest = min(local_moment(day, 0, _zone(z, "UTC")) for z in zones)
        if earliest < now + MIN_LEAD:
            notes.append(
                f"campaign {name!r}: its send day has begun where some recipients live; left as scheduled"
            )
            continue
        payload = {
            "campaign_name": name,
            "send_day": day.isoformat(),
            "original_send_time": send_time.isoformat(),
            "account_best_local_hour": profiles.account_best_hour,
            "account_time_zone": profiles.account_time_zone,
            "explore_share": policy.send_time.explore_share,
            "holdout_share": policy.send_time.holdout_share,
            "profiles_date": profiles.analysis_date.isoformat(),
            "predicted_relative_lift": profiles.predicted_lift,
            "predicted_interval": list(profiles.predicted_interval) if profiles.predicted_interval else None,
        }
        lift = (
            f"; on sends the model did not learn from, the hours it chose drew {profiles.predicted_lift:+.0%} "
            "engagement over the account's best hour"
            if profiles.predicted_lift is not None
            else ""
        )
        actions.append(
            ProposedAction(
                source="personalization",
                action_type=SEND_TIME_KIND,
                platform="klaviyo",
                target_id=campaign_id,
                payload=payload,
                reason=(
                    f"Campaign '{name}' (sends {send_time:%Y-%m-%d %H:%M} UTC): send it on {day} at each "
                    f"contact's own best local hour, with {policy.send_time.holdout_share:.0%} at the account's "
                    f"best hour {profiles.account_best_hour}:00 as a randomized control and "
                    f"{policy.send_time.explore_share:.0%} at a random hour to keep learning{lift}."
                ),
                auto_apply_allowed=True,  # the policy's send_time.auto_apply decides (governance)
                evidence={"send_time": send_time, "profiles_date": profiles.analysis_date},
                reason_code="send_time_personalization",
            )
        )
    return SendTimeProposals(actions, notes)


def schedule_recipients(
    con: Any, campaign_id: str, payload: dict[str, Any], now: datetime
) -> tuple[list[Recipient], int]:
    """(every subscribed recipient to move, with arm and moment; recipients left with the campaign's
    own send because their moment has passed). Profiles are read now, so an approval that waited a
    day uses the newest model."""
    from decision_engine.experiments.assignment import enrollable_contacts

    now = naive_utc(now)
    profiles = read_profile_hours(con)
    account_zone_name = str(
        payload.get("account_time_zone") or (profiles.account_time_zone if profiles else "UTC")
    )
    best = profiles.account_best_hour if profiles else int(payload["account_best_local_hour"])
    chosen = profiles.chosen if profiles else {}
    zones_of = dict(
        con.execute(
            "select contact_id, timezone from marts.dim_contacts where timezone is not null"
        ).fetchall()
    )
    day = date.fromisoformat(str(payload["send_day"]))
    explore, holdout = float(payload["explore_share"]), float(payload["holdout_share"])
    zone_cache: dict[str, ZoneInfo] = {}
    recipients, too_late = [], 0
    for contact in enrollable_contacts(con):
        zone_name, own_hour = chosen.get(contact.contact_id, (zones_of.get(contact.contact_id), best))
        zone_name = str(zone_name or account_zone_name)
        zone = zone_cache.setdefault(zone_name, _zone(zone_name, account_zone_name))
        arm, explore_hour = assign_arm(campaign_id, contact.klaviyo_profile_id, explore, holdout)
        hour = best if arm == "control" else explore_hour if arm == "explore" else own_hour
        moment = local_moment(day, hour, zone)
        if moment < now + MIN_LEAD:
            too_late += 1
            continue
        recipients.append(
            Recipient(contact.contact_id, contact.klaviyo_profile_id, zone.key, arm, hour, moment)
        )
    return recipients, too_late


def hour_groups(recipients: list[Recipient]) -> dict[int, list[str]]:
    """Local hour -> the Klaviyo profile ids sent at it (hours in order)."""
    groups: dict[int, list[str]] = {}
    for r in sorted(recipients, key=lambda r: (r.local_hour, r.klaviyo_profile_id)):
        groups.setdefault(r.local_hour, []).append(r.klaviyo_profile_id)
    return groups


def arm_counts(recipients: list[Recipient]) -> dict[str, int]:
    return dict(sorted(Counter(r.arm for r in recipients).items()))


def recipients_context(recipients: list[Recipient]) -> list[dict[str, Any]]:
    """JSON-able recipients for the write target's context (datetimes as ISO text)."""
    return [{**asdict(r), "scheduled_at": r.scheduled_at.isoformat()} for r in recipients]


def record_send_time_assignments(
    con: Any,
    action_id: str,
    parent_campaign_id: str,
    recipients: list[dict[str, Any]],
    clones: dict[str, str],
    assigned_at: datetime,
) -> int:
    """Append one ``results.send_time_assignments`` row per moved recipient (call only after the
    vendor accepted the clones; ``clones`` maps a local hour, as text, to its clone's campaign id).
    A resumed write finds its rows already there and adds nothing."""
    ensure_results_table(con, ASSIGNMENTS_TABLE)
    done = con.execute(
        f"select count(*) from {RESULTS_SCHEMA}.{ASSIGNMENTS_TABLE} where action_id = ?", [action_id]
    ).fetchall()[0][0]
    rows = [
        {
            "contact_id": r["contact_id"],
            "klaviyo_profile_id": r["klaviyo_profile_id"],
            "campaign_id": clones[str(r["local_hour"])],
            "parent_campaign_id": parent_campaign_id,
            "arm": r["arm"],
            "scheduled_local_hour": int(r["local_hour"]),
            "time_zone": r["time_zone"],
            "scheduled_at": pd.Timestamp(r["scheduled_at"], tz="UTC"),
            "assigned_at": pd.Timestamp(assigned_at, tz="UTC")
            if assigned_at.tzinfo is None
            else pd.Timestamp(assigned_at),
            "action_id": action_id,
        }
        for r in recipients
        if str(r["local_hour"]) in clones
    ]
    if done or not rows:
        return 0
    return append_results(con, ASSIGNMENTS_TABLE, pd.DataFrame(rows))
