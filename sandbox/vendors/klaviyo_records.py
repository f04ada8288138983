"""Klaviyo JSON:API record rendering (events, profiles, campaigns, flows)."""

from __future__ import annotations

from typing import Any

import numpy as np

from sandbox import ids
from sandbox.mess import BAD_NUMBER, BAD_TIMESTAMP, UNEXPECTED_FIELDS
from sandbox.util import DAY, hash01_int, iso_utc, salt
from sandbox.world import events as ev
from sandbox.world.contacts import AFFINITIES, EXIT_HARD_BOUNCE, TIMEZONES
from sandbox.world.core import World
from sandbox.world.email_plan import Campaign, Flow
from sandbox.world.send_times import Clone

ITEMS = ("Starter plan", "Team plan", "Onboarding pack", "Data connector", "Report template", "Training seat")
UNEXPECTED_VALUES = {
    "source_channel": "email",
    "attribution_model": "last_touch",
    "locale": "en-US",
    "predictive_segment": "high_value",
    "url": None,
    "attribution_setting": "7d_click_1d_view",
    "quality_ranking": "AVERAGE",
}


def render_event(
    world: World,
    b: ev.EventBatch,
    i: int,
    when: str,
    malformed: int,
    unexpected: int,
    event_id: str | None = None,
    uuid: str | None = None,
) -> dict[str, Any]:
    """One event as Klaviyo serves it; ``when`` its ``datetime`` text (``util.iso_offsets`` of the
    page), ``event_id`` / ``uuid`` when computed for a whole page."""
    key, contact, metric = int(b.key[i]), int(b.contact[i]), int(b.metric[i])
    ts = int(b.ts[i])
    props: dict[str, Any] = {}
    if metric == ev.ORDER:
        rnd = hash01_int(key, salt(world.spec.seed, "items"))
        n_items = 1 + int(rnd * 3)
        props.update(
            {
                "$value": float(b.aux[i]),
                "OrderId": ids.order_id(key),
                "$currency_code": "USD",
                "Items": [ITEMS[(int(rnd * 1e6) + 7 * j) % len(ITEMS)] for j in range(n_items)],
            }
        )
    else:
        msg = world.message(int(b.message[i]))  # the plan's, or a clone's copy
        code = int(b.subject[i])  # the subject this recipient got, rendered from a written template
        subject = world.subject_table[code] if code >= 0 else msg.subject
        props.update({"$message": msg.message_id, "Subject": subject})
        if msg.kind == "flow":
            props["$flow"] = world.plan.flows[msg.flow].flow_id
        else:
            clone = (
                world.send_times.clone_of_message(msg.message_id)
                if msg.idx >= len(world.plan.messages)
                else None
            )
            props["Campaign Name"] = (
                clone.name if clone is not None else world.plan.campaigns[msg.campaign].name
            )
            if int(b.phase[i]):
                props["$ab_test_phase"] = "test" if int(b.phase[i]) == ev.PHASE_TEST else "winner"
        if metric == ev.OPENED:
            props["machine_open"] = bool(b.aux[i] > 0)
        elif metric == ev.CLICKED:
            topic = (
                AFFINITIES[world.plan.campaigns[msg.campaign].content]
                if msg.kind == "campaign"
                else "nurture"
            )
            props["URL"] = f"https://www.loopwise.example/{topic.replace('_', '-')}?utm_source=klaviyo"
        elif metric == ev.BOUNCED:
            props["Bounce Type"] = "hard" if b.aux[i] > 0 else "soft"
    attrs: dict[str, Any] = {
        "timestamp": ts,
        "datetime": when,
        "uuid": uuid or ids.event_uuid(world.spec.seed, key),
        "event_properties": props,
    }
    rel: dict[str, Any] = {
        "profile": {"data": {"type": "profile", "id": ids.profile_id(world.spec.seed, contact)}},
        "metric": {"data": {"type": "metric", "id": ids.metric_id(world.spec.seed, metric)}},
    }
    rec: dict[str, Any] = {
        "type": "event",
        "id": event_id or ids.event_id(world.spec.seed, key),
        "attributes": attrs,
        "relationships": rel,
    }
    kind = (
        ("missing_id", "unparseable_timestamp", "missing_profile_relationship", "non_numeric_metric_string")[
            malformed
        ]
        if malformed >= 0
        else ""
    )
    if kind == "missing_id":
        del rec["id"]
    elif kind == "unparseable_timestamp":
        attrs["datetime"], attrs["timestamp"] = BAD_TIMESTAMP, None
    elif kind == "missing_profile_relationship":
        del rel["profile"]
    elif kind == "non_numeric_metric_string":
        props["$value"] = BAD_NUMBER
    if unexpected >= 0:
        name = UNEXPECTED_FIELDS[("klaviyo", "events")][unexpected]
        attrs[name] = UNEXPECTED_VALUES[name]
    return rec


def profile_updated(world: World) -> np.ndarray:
    c = world.contacts
    left = (c.exit_type != EXIT_HARD_BOUNCE) & (c.exit_ts < world.clock_ts)
    updated = np.where(left, np.maximum(c.exit_ts, c.created_ts), c.created_ts)
    written = world.property_index().last_write_day()  # a property write updates the profile
    return np.where(written >= 0, np.maximum(updated, world.start_ts + written * DAY), updated)


def render_profile(world: World, i: int, updated: int, with_subscriptions: bool) -> dict[str, Any]:
    c = world.contacts
    seed = world.spec.seed
    from sandbox.world.contacts import FIRST_NAMES, LAST_NAMES

    email = c.messy_email(i, "klaviyo", seed)
    if int(world.mess.malformed(np.array([i]), "klaviyo", "profiles")[0]) >= 0:
        email = email.replace("@", " at ") if i % 2 else email.replace("@", "@@")
    props: dict[str, Any] = {"signup_source": "website" if i % 3 else "webinar"}
    if c.holdout[i]:
        props["holdout_group"] = "global_holdout"
    props.update(world.profile_properties(ids.profile_id(seed, i)))
    attrs: dict[str, Any] = {
        "email": email,
        "first_name": FIRST_NAMES[c.first_name[i]].title(),
        "last_name": LAST_NAMES[c.last_name[i]].title(),
        "created": iso_utc(c.created_ts[i]),
        "updated": iso_utc(updated),
        "location": {"timezone": TIMEZONES[c.tz[i]][0], "country": None, "city": None},
        "properties": props,
    }
    unexpected = int(world.mess.unexpected(np.array([i]), "klaviyo", "profiles")[0])
    if unexpected >= 0:
        name = UNEXPECTED_FIELDS[("klaviyo", "profiles")][unexpected]
        attrs[name] = UNEXPECTED_VALUES[name]
    if with_subscriptions:
        left = bool(c.exit_type[i] != EXIT_HARD_BOUNCE and c.exit_ts[i] < world.clock_ts)
        if not c.subscribed[i]:
            consent, at = "NEVER_SUBSCRIBED", None
        elif left:
            consent, at = "UNSUBSCRIBED", iso_utc(c.exit_ts[i])
        else:
            consent, at = "SUBSCRIBED", iso_utc(c.created_ts[i])
        attrs["subscriptions"] = {
            "email": {
                "marketing": {
                    "consent": consent,
                    "consent_timestamp": at,
                    "can_receive_email_marketing": consent == "SUBSCRIBED",
                }
            }
        }
    return {
        "type": "profile",
        "id": ids.profile_id(seed, i),
        "attributes": attrs,
        "links": {"self": f"/api/profiles/{ids.profile_id(seed, i)}/"},
    }


def render_campaign(world: World, camp: Campaign, with_audiences: bool = True) -> dict[str, Any]:
    """A plan campaign; ``with_audiences=False`` leaves out audiences Loopwise never wrote (listings)."""
    winner = world.visible_winner(camp)
    ab = None
    if camp.is_ab:
        ab = {
            "test_share": camp.test_share,
            "test_duration_hours": camp.test_duration_hours,
            "winner_metric": "open_rate",
            "winner_message_id": world.plan.messages[winner].message_id if winner is not None else None,
        }
    return {
        "type": "campaign",
        "id": camp.campaign_id,
        "attributes": {
            "name": camp.name,
            "status": "Sent" if camp.send_ts <= world.clock_ts else "Scheduled",
            "archived": False,
            "send_time": iso_utc(camp.send_ts),
            "created_at": iso_utc(camp.created_ts),
            "updated_at": iso_utc(world.campaign_updated_ts(camp)),
            "send_strategy": {"method": "static", "options_static": {"datetime": iso_utc(camp.send_ts)}},
            "ab_test": ab,
            **(
                {"audiences": world.campaign_audiences(camp.campaign_id)}
                if with_audiences or world.send_times.audiences_written(camp.campaign_id)
                else {}
            ),
        },
        "relationships": {
            "campaign-messages": {
                "data": [
                    {"type": "campaign-message", "id": world.plan.messages[m].message_id}
                    for m in camp.messages
                ]
            }
        },
    }


def render_created_campaign(world: World, campaign_id: str, created: dict[str, Any]) -> dict[str, Any]:
    """A campaign Loopwise created for an A/B test's remainder: Draft until sent, then the rollout's status."""
    original = world.campaign_by_id[created["original"]]
    status = "Draft"
    if created["sent"]:
        status = "Sent" if original.rollout_ts <= world.clock_ts else "Scheduled"
    definition = created["definition"]
    return {
        "type": "campaign",
        "id": campaign_id,
        "attributes": {
            "name": created["name"],
            "status": status,
            "archived": False,
            "audiences": {"included": [created["list_id"]], "excluded": []},
            "send_strategy": definition["send_strategy"],
            "send_time": iso_utc(original.rollout_ts) if created["sent"] else None,
            "created_at": iso_utc(world.start_ts + created["created_day"] * DAY),
            "updated_at": iso_utc(max(world.write_stamps(campaign_id))),
            "ab_test": None,
        },
    }


def render_clone(world: World, clone: Clone) -> dict[str, Any]:
    """A campaign cloned from a plan campaign: Draft, Scheduled by its send job, Sent from its send time."""
    sched = clone.schedule
    created = clone.message.created_ts
    return {
        "type": "campaign",
        "id": clone.campaign_id,
        "attributes": {
            "name": clone.name,
            "status": world.clone_status(clone),
            "archived": False,
            "audiences": clone.audiences,
            "send_strategy": clone.send_strategy,
            "send_time": iso_utc(sched["send_time"]) if sched is not None else None,
            "created_at": iso_utc(created),
            "updated_at": iso_utc(max([created, *clone_write_stamps(world, clone)])),
            "ab_test": None,
        },
        "relationships": {
            "campaign-messages": {"data": [{"type": "campaign-message", "id": clone.message.message_id}]}
        },
    }


def clone_write_stamps(world: World, clone: Clone) -> list[int]:
    """When the clone and its message were written to (a message subject update changes the campaign)."""
    mine = (clone.campaign_id, clone.message.message_id)
    return [world.start_ts + w["clock_day"] * DAY + w["seq"] for w in world.writes if w["target"] in mine]


def render_flow(world: World, flow: Flow) -> dict[str, Any]:
    return {
        "type": "flow",
        "id": flow.flow_id,
        "attributes": {
            "name": flow.name,
            "status": world.flow_status(flow),
            "archived": False,
            "trigger_type": flow.trigger_type,
            "created": iso_utc(flow.created_ts),
            "updated": iso_utc(max([flow.created_ts, *world.write_stamps(flow.flow_id)])),
        },
    }


def render_campaign_message(world: World, camp: Campaign | Clone, m: int) -> dict[str, Any]:
    """A campaign message (the plan's, or a clone's copy); its subject and preview text as last
    written (a template stays a template, as in Klaviyo)."""
    msg = world.message(m)
    return {
        "type": "campaign-message",
        "id": msg.message_id,
        "attributes": {
            "label": msg.label,
            "channel": "email",
            "content": {
                "subject": world.message_subject(msg),
                "preview_text": world.message_preview_text(msg),
                "from_email": "news@loopwise.example",
            },
            "created_at": iso_utc(msg.created_ts),
            "updated_at": iso_utc(max([msg.created_ts, *world.write_stamps(msg.message_id)])),
        },
        "relationships": {"campaign": {"data": {"type": "campaign", "id": camp.campaign_id}}},
    }
