"""Lists, campaign audiences and campaign clones (Loopwise's hourly child sends), from the write log.

Loopwise delivers per-contact send times through Klaviyo's documented routes: it creates a list per
local hour, adds profiles to them with bulk import jobs, excludes a "moved" list from the campaign C,
clones C once per hour, points each clone at its hour's list with a local-time send strategy and
schedules it. The writes that carry this (all kept whole in the write log, so a replayed state has
them too):

- ``create_list``: ``target`` the list id, ``value`` ``{"name"}``.
- ``import_profiles`` with ``list_id``: the job's profiles (``value``'s keys) join that list.
- ``update_campaign``: ``target`` a campaign id (the plan's or a clone), ``value`` the attributes
  set (``audiences`` and/or ``send_strategy``).
- ``clone_campaign``: ``target`` the clone's id, ``value`` ``{"original", "name", "message_id",
  "subject", "preview_text", "audiences", "send_strategy"}`` (C's as of the clone; a log written
  before clones copied the preview text has none: the message's own).
- ``send_campaign`` on a clone: ``value`` ``{"original", "send_time", "now", "wall", "is_local",
  "past_immediately"}``: when it sends (resolved at scheduling).

This class is the index derived from them, kept current as writes are appended (the log only grows,
with non-decreasing ``clock_day``). The world (``World``) answers the API and events with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from sandbox.util import DAY
from sandbox.world.contacts import TZ_OFFSETS, utc_offset_minutes
from sandbox.world.email_plan import Campaign, Message

MAIN_LIST_NAME = "Newsletter"
# Clone batches' ids in event keys: 12 bits, above the campaigns' (< 2002) and flows' (< 2560).
CLONE_BATCH_BASE = 2560
CLONE_BATCHES = 4096 - CLONE_BATCH_BASE


@dataclass
class Clone:
    """A campaign cloned from a plan campaign; its message is a copy of the original's."""

    ordinal: int  # k-th clone of the world: its message index is len(plan.messages) + ordinal
    campaign_id: str
    original: Campaign
    message: Message
    name: str
    subject: str  # the original's subject (possibly a template) when it was cloned
    preview_text: str  # the original's preview text (possibly a template) when it was cloned
    created_day: int
    audiences: dict[str, list[str]]
    send_strategy: dict[str, Any]
    schedule: dict[str, Any] | None = None  # the send_campaign write's value, once scheduled


class SendTimeIndex:
    """Created lists and their members, campaigns' audience writes, clones and their schedules."""

    def __init__(
        self, contact_of: Callable[[], dict[str, int]], n_contacts: int, plan_messages: list[Message]
    ) -> None:
        self._contact_of = contact_of  # built on first use: large worlds have many profiles
        self._n = n_contacts
        self._plan_messages = plan_messages
        self.lists: dict[str, dict[str, Any]] = {}  # list id -> {"name", "clock_day", "seq"}
        self._members: dict[str, list[tuple[int, np.ndarray]]] = {}  # list id -> (clock_day, contacts)
        self._audiences: dict[str, list[tuple[int, dict[str, list[str]]]]] = {}  # plan campaign writes
        self.clones: dict[str, Clone] = {}
        self.clone_messages: list[Message] = []
        self._clone_by_message: dict[str, Clone] = {}

    def add(self, write: dict[str, Any], campaign_by_id: dict[str, Campaign], start_ts: int) -> None:
        action, target, value, day = write["action"], write["target"], write["value"], write["clock_day"]
        if action == "create_list":
            self.lists[target] = {"name": value["name"], "clock_day": day, "seq": write["seq"]}
        elif action == "import_profiles" and write.get("list_id"):
            contact_of = self._contact_of()
            who = np.array(sorted(contact_of[p] for p in value), dtype=np.int64)
            self._members.setdefault(write["list_id"], []).append((day, who))
        elif action == "update_campaign":
            clone = self.clones.get(target)
            if clone is not None:
                clone.audiences = value.get("audiences", clone.audiences)
                clone.send_strategy = value.get("send_strategy", clone.send_strategy)
            elif "audiences" in value:
                self._audiences.setdefault(target, []).append((day, value["audiences"]))
        elif action == "clone_campaign":
            original = campaign_by_id[value["original"]]
            own = self._plan_messages[original.messages[0]]
            ordinal = len(self.clones)
            msg = replace(
                own,
                idx=len(self._plan_messages) + ordinal,
                message_id=value["message_id"],
                created_ts=start_ts + day * DAY + write["seq"],
            )
            clone = Clone(
                ordinal,
                target,
                original,
                msg,
                value["name"],
                value["subject"],
                value.get("preview_text", own.preview_text),
                day,
                value["audiences"],
                value["send_strategy"],
            )
            self.clones[target] = clone
            self.clone_messages.append(msg)
            self._clone_by_message[msg.message_id] = clone
        elif action == "send_campaign" and target in self.clones:
            self.clones[target].schedule = value

    # ---- lists -----------------------------------------------------------------------------------
    def members(self, list_id: str, day: int) -> np.ndarray:
        """Per contact: whether it was added to the list by the writes made by world day ``day``."""
        out = np.zeros(self._n, dtype=bool)
        for written, who in self._members.get(list_id, []):
            if written <= day:
                out[who] = True
        return out

    # ---- audiences -------------------------------------------------------------------------------
    def plan_audiences(
        self, campaign_id: str, main_list: str, day: int | None = None
    ) -> dict[str, list[str]]:
        """A plan campaign's audiences in force on world day ``day`` (default: the latest written)."""
        found = {"included": [main_list], "excluded": []}
        for written, audiences in self._audiences.get(campaign_id, []):
            if day is None or written <= day:
                found = audiences
        return found

    def audiences_written(self, campaign_id: str) -> bool:
        return campaign_id in self._audiences

    def excluded(self, campaign_id: str, main_list: str, day: int) -> np.ndarray | None:
        """Per contact: whether a plan campaign sent on ``day`` skips it (None: it skips nobody)."""
        excluded = self.plan_audiences(campaign_id, main_list, day)["excluded"]
        if not excluded:
            return None
        out = np.zeros(self._n, dtype=bool)
        for list_id in excluded:
            out |= self.members(list_id, day)
        return out

    # ---- clones ----------------------------------------------------------------------------------
    def clone_of_message(self, message_id: str) -> Clone | None:
        return self._clone_by_message.get(message_id)

    def message(self, idx: int) -> Message:
        """A message by index: the plan's, or a clone's (indices after the plan's)."""
        n = len(self._plan_messages)
        return self._plan_messages[idx] if idx < n else self.clone_messages[idx - n]

    def clone_recipients(self, clone: Clone, audience: np.ndarray, main_list: str, day: int) -> np.ndarray:
        """Who of the original's audience ``audience`` (contact indices) the clone reaches on ``day``'s lists."""
        everyone = np.ones(self._n, dtype=bool)
        reached = np.zeros(self._n, dtype=bool)
        for list_id in clone.audiences.get("included", []):
            reached |= everyone if list_id == main_list else self.members(list_id, day)
        for list_id in clone.audiences.get("excluded", []):
            reached &= ~everyone if list_id == main_list else ~self.members(list_id, day)
        return audience[reached[audience]]


def local_send_ts(wall: int, tz: np.ndarray, now: int, past_immediately: bool) -> np.ndarray:
    """Each recipient's send moment of a local-time send at wall clock ``wall`` (as if UTC)."""
    guess = wall - TZ_OFFSETS[tz] * 60  # standard time first, then the offset in force then
    ts = wall - utc_offset_minutes(tz, guess) * 60
    ts = wall - utc_offset_minutes(tz, ts) * 60
    return np.maximum(ts, now) if past_immediately else ts


def clone_send_ts(schedule: dict[str, Any], tz: np.ndarray) -> np.ndarray:
    """Per recipient (time zone index ``tz``): when a scheduled clone sends to it (never before it was scheduled)."""
    if not schedule["is_local"]:
        return np.full(len(tz), schedule["wall"], dtype=np.int64)
    return np.maximum(local_send_ts(schedule["wall"], tz, schedule["now"], True), schedule["now"])
