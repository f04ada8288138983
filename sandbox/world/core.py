"""The World: spec + ordered write log + clock, simulated lazily day by day with bounded caches."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from sandbox import ids
from sandbox.mess import Mess
from sandbox.spec import WorldSpec
from sandbox.util import DAY, hash01, iso_utc, parse_datetime, salt
from sandbox.world import events as ev
from sandbox.world.ads import AdDay, AdsWorld, BudgetEntity
from sandbox.world.contacts import TZ_OFFSETS, attach_campaign_exits, build_contacts
from sandbox.world.crm import build_crm
from sandbox.world.email_plan import Campaign, Flow, Message, build_plan
from sandbox.world.incidents import build_incidents
from sandbox.world.profile_properties import ProfilePropertyIndex
from sandbox.world.send_times import (
    CLONE_BATCH_BASE,
    CLONE_BATCHES,
    MAIN_LIST_NAME,
    Clone,
    SendTimeIndex,
    clone_send_ts,
    local_send_ts,
)
from sandbox.world.subjects import (
    METRICS,
    content_angle,
    parse_subject,
    properties_read,
    relative_effect,
    render,
    style_effects,
)

MAX_LATE_SECONDS = 48 * 3600
FLOW_STATUSES = ("draft", "manual", "live")
REMAINDER_LIST_PREFIX = "ab-remainder-"
# (platform, day) ad deliveries kept: every day of a long report. An insights page re-reads its
# report's whole range, and with 64 kept a year's report made every page generate every day again
# (15 s of the large world's Meta extraction). A day of 100 ads is 10 kB.
AD_DAYS_CACHED = 2048
MAX_IMPORT_PROFILES = 10_000  # per bulk import job, as Klaviyo


class WriteError(ValueError):
    """A write the vendor would refuse (unknown id, campaign already rolled out, bad value).

    ``pointer``: the JSON:API source pointer of the offending part of the request, when known.
    """

    def __init__(self, message: str, pointer: str | None = None) -> None:
        super().__init__(message)
        self.pointer = pointer


class _LRU(OrderedDict):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = max(1, size)

    def get_or(self, key: Any, make: Any) -> Any:
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = make()
        self[key] = value
        while len(self) > self.size:
            self.popitem(last=False)
        return value


class World:
    """A seeded, deterministic simulated marketing world. State = spec + write log + clock."""

    def __init__(
        self,
        spec: WorldSpec | None = None,
        *,
        writes: list[dict[str, Any]] | None = None,
        advanced_days: int = 0,
    ) -> None:
        self.spec = spec or WorldSpec.preset("demo")
        s = self.spec
        self.lock = threading.RLock()
        self.start_ts = int(
            datetime(s.start_date.year, s.start_date.month, s.start_date.day, tzinfo=UTC).timestamp()
        )
        self.horizon_days = s.days + s.max_advance_days
        self.advanced_days = 0
        self.writes: list[dict[str, Any]] = []
        self._encoded_writes: list[str] = []  # state_json's cache: each write's JSON, in order
        self._encoded_last: Any = None  # the last write encoded (a replaced log is encoded anew)
        self.mess = Mess(
            s.seed, s.mess("duplicate_rate"), s.mess("malformed_rate"), s.mess("unexpected_field_rate")
        )
        self.late_share = s.mess("late_event_share")
        self.contacts = build_contacts(s, self.start_ts, self.horizon_days)
        self.plan = build_plan(s, self.start_ts, self.horizon_days)
        attach_campaign_exits(self.contacts, self.plan.send_ts, self.plan.rollout_ts, s.seed)
        self.ads = AdsWorld(s)
        self.incidents = build_incidents(
            s.seed,
            s.n_incidents,
            s.days,
            self.start_ts,
            [a.ad_id for a in self.ads.by_platform["meta"]],
            [a.ad_id for a in self.ads.by_platform["google_ads"]],
            min_day=s.incident_min_day,
        )
        self.crm = build_crm(s, self.contacts, self.start_ts, self.horizon_days, self.incidents)
        self.campaign_by_id = {c.campaign_id: c for c in self.plan.campaigns}
        self.message_by_id = {m.message_id: m for m in self.plan.messages}
        self.email_ctx = ev.EmailContext(
            s.seed,
            self.start_ts,
            self.start_ts + int(s.days * s.drift_at) * DAY,
            self.contacts,
            self.plan,
            self.incidents,
            self.campaign_winner,
            self.flow_sends,
            self.render_subjects,
            self._campaign_excluded,
            self._clone_sends,
            self.render_content,
        )
        self._origin = _LRU(s.cache_days + ev.SPILL_DAYS)
        self._days = _LRU(max(2, s.cache_days // 2))
        self._ad_days = _LRU(AD_DAYS_CACHED)
        self._auto_winner: dict[int, int] = {}
        self._profile_index: dict[str, int] | None = None
        self._email_index: dict[str, int] | None = None
        self._properties: ProfilePropertyIndex | None = None
        self.send_times = SendTimeIndex(self._contact_of, self.contacts.n, self.plan.messages)
        self.main_list_id = ids.short_id(s.seed, "main-list", 0)  # every plan campaign's audience
        self._style_effects = style_effects(s.seed)
        self.subject_table: list[str] = []  # rendered subjects events refer to (EventBatch.subject)
        self._subject_codes: dict[str, int] = {}
        for w in writes or []:
            self._apply_write(w)
        self.advance(advanced_days)

    # ---- clock -------------------------------------------------------------------------------
    @property
    def clock_day(self) -> int:
        """Days of history: data strictly before start_date + clock_day is served."""
        return self.spec.days + self.advanced_days

    @property
    def clock_ts(self) -> int:
        return self.start_ts + self.clock_day * DAY

    @property
    def clock(self) -> datetime:
        return self.clock_for(self.spec, self.advanced_days)

    @staticmethod
    def clock_for(spec: WorldSpec, advanced_days: int) -> datetime:
        """The clock of a world built from ``spec`` and advanced ``advanced_days`` (no world needed)."""
        start = datetime(spec.start_date.year, spec.start_date.month, spec.start_date.day, tzinfo=UTC)
        return start + timedelta(days=spec.days + advanced_days)

    def advance(self, days: int = 1) -> None:
        with self.lock:
            if days < 0 or self.clock_day + days > self.horizon_days:
                raise ValueError(
                    f"can advance 0..{self.horizon_days - self.clock_day} days (max_advance_days)"
                )
            self.advanced_days += int(days)

    def day_of(self, ts: float) -> int:
        return int((ts - self.start_ts) // DAY)

    # ---- email -------------------------------------------------------------------------------
    def origin_day(self, day: int) -> ev.EventBatch:
        return self._origin.get_or(day, lambda: ev.origin_day(self.email_ctx, day))

    def events_on_day(self, day: int) -> tuple[ev.EventBatch, np.ndarray]:
        """All events that happened on `day`, sorted by (time, key), with the time each becomes visible."""

        def make() -> tuple[ev.EventBatch, np.ndarray]:
            lo, hi = self.start_ts + day * DAY, self.start_ts + (day + 1) * DAY
            parts = []
            for d in range(max(0, day - ev.SPILL_DAYS), day + 1):
                b = self.origin_day(d)
                parts.append(b.take(np.nonzero((b.ts >= lo) & (b.ts < hi))[0]))
            batch = ev.EventBatch.concat(parts)
            batch = batch.take(np.lexsort((batch.key, batch.ts)))
            late = hash01(batch.key, salt(self.spec.seed, "late")) < self.late_share
            delay = 3600 + (hash01(batch.key, salt(self.spec.seed, "late-delay")) * (MAX_LATE_SECONDS - 3600))
            return batch, batch.ts + np.where(late, delay.astype(np.int64), 0)

        return self._days.get_or(day, make)

    def visible_events(self, day: int) -> ev.EventBatch:
        """Events of `day` that the API shows at the current clock."""
        if day < 0 or day >= self.clock_day:
            return ev.empty_batch()
        batch, visible_ts = self.events_on_day(day)
        return batch.take(np.nonzero(visible_ts < self.clock_ts)[0])

    def event_malformed(self, batch: ev.EventBatch) -> np.ndarray:
        kind = self.mess.malformed(batch.key, "klaviyo", "events")
        return np.where((kind == 3) & (batch.metric != ev.ORDER), 1, kind)

    def manual_winner(self, camp: Campaign) -> int | None:
        found = None
        for w in self.writes:
            if w["action"] == "set_campaign_winner" and w["target"] == camp.campaign_id:
                found = self.message_by_id[w["value"]].idx
        return found

    def campaign_winner(self, camp: Campaign) -> int:
        manual = self.manual_winner(camp)
        if manual is not None:
            return manual
        if camp.idx not in self._auto_winner:  # Klaviyo picks the best open rate at the end of the test
            test = ev.campaign_batch(self.email_ctx, camp, self.day_of(camp.send_ts), False)
            opens = (test.metric == ev.OPENED) & (test.ts <= camp.rollout_ts)
            counts = [len(np.unique(test.contact[opens & (test.message == m)])) for m in camp.messages]
            sent = [
                max(1, int(((test.metric == ev.RECEIVED) & (test.message == m)).sum())) for m in camp.messages
            ]
            rates = [c / s for c, s in zip(counts, sent, strict=True)]
            self._auto_winner[camp.idx] = camp.messages[int(np.argmax(rates))]
        return self._auto_winner[camp.idx]

    def visible_winner(self, camp: Campaign) -> int | None:
        """What the API shows as ab_test.winner_message_id at the current clock."""
        if not camp.is_ab:
            return None
        manual = self.manual_winner(camp)
        if manual is not None:
            return manual
        return self.campaign_winner(camp) if camp.rollout_ts <= self.clock_ts else None

    def campaign_updated_ts(self, camp: Campaign) -> int:
        ts = [camp.created_ts] + [t for t in (camp.send_ts, camp.rollout_ts) if t <= self.clock_ts]
        for m in camp.messages:  # a subject update changes the campaign too
            ts += self.write_stamps(self.plan.messages[m].message_id)
        return max(ts + self.write_stamps(camp.campaign_id))

    # ---- email writes: winner rollouts, profile properties, flow status ------------------------
    def _refuse_rolled_out(self, camp: Campaign) -> None:
        """One rollout per A/B test: Klaviyo's own at the end of the test, or one Loopwise sent."""
        if camp.rollout_ts <= self.clock_ts or self.manual_winner(camp) is not None:
            raise WriteError(f"campaign {camp.campaign_id} has already been rolled out")

    def remainder_list(self, list_id: str) -> Campaign | None:
        """The A/B campaign whose remainder audience is the list ``ab-remainder-{campaign_id}``."""
        camp = self.campaign_by_id.get(list_id.removeprefix(REMAINDER_LIST_PREFIX))
        if not list_id.startswith(REMAINDER_LIST_PREFIX) or camp is None or not camp.is_ab:
            return None
        return camp if camp.created_ts <= self.clock_ts else None

    def created_campaign(self, campaign_id: str) -> dict[str, Any] | None:
        """A campaign Loopwise created (its definition plus ``created_day`` and ``sent``), or None.

        Created campaigns live only in the write log, so a replayed state has them too.
        """
        found: dict[str, Any] | None = None
        for w in self.writes:
            if w["target"] != campaign_id:
                continue
            if w["action"] == "create_campaign":
                found = {**w["value"], "created_day": w["clock_day"], "sent": False}
            elif w["action"] == "send_campaign" and found is not None:
                found["sent"] = True
        return found

    def created_campaign_ids(self) -> list[str]:
        """Ids of the campaigns Loopwise created, oldest first."""
        return [w["target"] for w in self.writes if w["action"] == "create_campaign"]

    def create_rollout_campaign(
        self, name: str, list_id: str, subject: str, label: str | None, definition: dict[str, Any]
    ) -> str:
        """A draft campaign to an A/B test's remainder list; the variant is the one with ``subject``
        (its plan's subject, or the subject written on it since: a template of Loopwise's tests).

        Identical A/A variants share a subject: their label breaks the tie.
        """
        with self.lock:
            camp = self.remainder_list(list_id)
            if camp is None:
                raise WriteError(f"list {list_id} not found")
            self._refuse_rolled_out(camp)
            variants = [self.plan.messages[m] for m in camp.messages]
            msgs = [m for m in variants if subject in (m.subject, self.message_subject(m))]
            if len(msgs) > 1:
                msgs = [m for m in msgs if m.label == label]
            if len(msgs) != 1:
                raise WriteError(f"subject {subject!r} is not a variant of campaign {camp.campaign_id}")
            campaign_id = ids.ulid_like(self.spec.seed, "created-campaign", len(self.writes))
            value = {
                "name": name,
                "list_id": list_id,
                "original": camp.campaign_id,
                "message_id": msgs[0].message_id,
                "definition": definition,
            }
            self._record("klaviyo", "create_campaign", campaign_id, value)
            return campaign_id

    def send_rollout_campaign(self, campaign_id: str) -> None:
        """Send a created campaign: the original A/B test's remainder gets that variant."""
        with self.lock:
            created = self.created_campaign(campaign_id)
            if created is None:
                raise WriteError(f"campaign {campaign_id} not found")
            if created["sent"]:
                raise WriteError(f"campaign {campaign_id} has already been sent")
            self.set_campaign_winner(created["original"], created["message_id"])
            self._record("klaviyo", "send_campaign", campaign_id, created["original"])

    def _contact_of(self) -> dict[str, int]:
        """Every profile id -> contact index (built on first use: large worlds have many)."""
        if self._profile_index is None:
            seed = self.spec.seed
            self._profile_index = {ids.profile_id(seed, i): i for i in range(self.contacts.n)}
        return self._profile_index

    def profile_index(self, profile_id: str) -> int | None:
        """Contact index of a Klaviyo profile id visible at the clock, or None."""
        i = self._contact_of().get(profile_id)
        return i if i is not None and self.contacts.created_ts[i] < self.clock_ts else None

    def profile_by_email(self, email: str) -> int | None:
        """Contact index of the profile with this address (case and spaces ignored) visible at the clock."""
        if self._email_index is None:
            self._email_index = {self.contacts.email(i).lower(): i for i in range(self.contacts.n)}
        i = self._email_index.get(email.strip().lower())
        return i if i is not None and self.contacts.created_ts[i] < self.clock_ts else None

    def property_index(self) -> ProfilePropertyIndex:
        """Profile properties of the write log, indexed (built on first use, kept current by writes)."""
        if self._properties is None:
            index = ProfilePropertyIndex(self._contact_of(), self.contacts.n)
            for w in self.writes:
                index.add(w)
            self._properties = index
        return self._properties

    def profile_properties(self, profile_id: str) -> dict[str, Any]:
        """Custom properties written to a profile, merged in write order (given keys overwrite)."""
        return self.property_index().merged(profile_id)

    def set_profile_properties(self, profile_id: str, properties: dict[str, Any]) -> None:
        with self.lock:
            if self.profile_index(profile_id) is None:
                raise WriteError(f"profile {profile_id} not found")
            _check_properties(properties)
            self._record("klaviyo", "set_profile_property", profile_id, dict(properties))

    def import_profiles(self, profiles: list[dict[str, Any]], list_id: str | None = None) -> str:
        """A bulk import job: set each profile's properties; returns the job id.

        ``profiles``: ``{"id": profile id}`` or ``{"email": address}`` with ``"properties"``.
        ``list_id``: a list created with ``create_list`` the job's profiles join (Klaviyo: one a job).
        A profile that does not exist fails alone (the sandbox cannot create profiles); the job is
        one write holding every profile it set (``value``: profile id -> properties) and its
        failures (``failed``: ``{"index", "id" | "email", "detail"}``).
        """
        with self.lock:
            if not 1 <= len(profiles) <= MAX_IMPORT_PROFILES:
                raise WriteError(f"a job imports 1 to {MAX_IMPORT_PROFILES} profiles, not {len(profiles)}")
            if list_id is not None and list_id not in self.send_times.lists:
                raise WriteError(
                    f"list {list_id} not found (profiles join lists created with POST /api/lists)",
                    pointer="/data/relationships/lists/data/0/id",
                )
            done: dict[str, dict[str, Any]] = {}
            failed: list[dict[str, Any]] = []
            for k, item in enumerate(profiles):
                _check_properties(item.get("properties") or {}, allow_empty=True)
                if item.get("id") is not None:
                    i, ident = self.profile_index(str(item["id"])), {"id": str(item["id"])}
                else:
                    i, ident = self.profile_by_email(str(item.get("email", ""))), {"email": item.get("email")}
                if i is None:
                    detail = (
                        f"profile {next(iter(ident.values()))} not found (the sandbox cannot create profiles)"
                    )
                    failed.append({"index": k, **ident, "detail": detail})
                    continue
                pid = ids.profile_id(self.spec.seed, i)
                given = item.get("properties") or {}  # null never clears a property (as Klaviyo)
                done.setdefault(pid, {}).update({k: v for k, v in given.items() if v is not None})
            job_id = ids.ulid_like(self.spec.seed, "profile-bulk-import-job", len(self.writes))
            extra: dict[str, Any] = {"list_id": list_id} if list_id is not None else {}
            self._record(
                "klaviyo", "import_profiles", job_id, done, failed=failed, total=len(profiles), **extra
            )
            return job_id

    def import_job(self, job_id: str) -> dict[str, Any] | None:
        """The write of a bulk import job (``value``, ``failed``, ``total``, ``clock_day``), or None."""
        for w in self.writes:
            if w["action"] == "import_profiles" and w["target"] == job_id:
                return w
        return None

    # ---- campaign subjects: templates written to campaign messages, rendered per recipient ------
    def campaign_message(self, message_id: str) -> tuple[Campaign | Clone, Message] | None:
        """The campaign message with this id and its campaign (the plan's, visible, or a clone)."""
        clone = self.send_times.clone_of_message(message_id)
        if clone is not None:
            return clone, clone.message
        msg = self.message_by_id.get(message_id)
        if msg is None or msg.kind != "campaign":
            return None
        camp = self.plan.campaigns[msg.campaign]
        return (camp, msg) if camp.created_ts <= self.clock_ts else None

    def message_subject(self, msg: Message, day: int | None = None) -> str:
        """The message's subject as written (a template, possibly) in force on world day ``day`` (default: now)."""
        return self._message_text(msg, "subject", day)

    def _message_text(self, msg: Message, name: str, day: int | None) -> str:
        """A message's ``subject`` or ``preview_text`` in force on world day ``day`` (default: now):
        the last ``set_message_<name>`` write by then, else the plan's (a clone's: as cloned)."""
        clone = self.send_times.clone_of_message(msg.message_id)
        text = getattr(clone if clone is not None else msg, name)
        for w in self.writes:
            mine = w["action"] == f"set_message_{name}" and w["target"] == msg.message_id
            if mine and (day is None or w["clock_day"] <= day):
                text = w["value"]
        return text

    def _set_message_text(self, message_id: str, name: str, text: str) -> None:
        """Write a campaign message's ``subject`` or ``preview_text`` (plain or the subjects' template
        grammar: TemplateError when it cannot render) before its campaign is sent."""
        with self.lock:
            self._refuse_unchangeable(message_id)
            if not isinstance(text, str) or not text.strip():
                raise WriteError(f"{name} must be a non-empty string")
            parse_subject(text)  # TemplateError propagates: the API answers 400 with it
            self._record("klaviyo", f"set_message_{name}", message_id, text)

    def _refuse_unchangeable(self, message_id: str) -> None:
        """A campaign message changes only until its campaign is sent (a clone's: until scheduled)."""
        found = self.campaign_message(message_id)
        if found is None:
            raise WriteError(f"campaign message {message_id} not found")
        camp, _ = found
        if isinstance(camp, Clone):
            if camp.schedule is not None:
                raise WriteError(
                    f"campaign {camp.campaign_id} has been scheduled; its messages cannot change"
                )
        elif camp.send_ts <= self.clock_ts:
            raise WriteError(f"campaign {camp.campaign_id} has already been sent; its messages cannot change")

    def set_message_subject(self, message_id: str, subject: str) -> None:
        """Update a campaign message's subject before its campaign is sent (TemplateError: cannot render)."""
        self._set_message_text(message_id, "subject", subject)

    def subject_code(self, subject: str) -> int:
        """Index of a rendered subject in ``subject_table`` (appended on first use)."""
        if subject not in self._subject_codes:
            self._subject_codes[subject] = len(self.subject_table)
            self.subject_table.append(subject)
        return self._subject_codes[subject]

    def render_subjects(self, msg: Message, day: int, who: np.ndarray) -> ev.RenderedSubjects | None:
        """Each recipient's subject of ``msg`` sent on world day ``day``, and its true lift multipliers.

        None when the message's subject was never written by then (the plan's own subject, no effect).
        """
        subject = self.message_subject(msg, day)
        if subject == msg.subject:
            return None
        segments = parse_subject(subject)
        index = self.property_index()
        values = {name: index.values(name, day)[who] for name in properties_read(segments)}
        subjects, code = render(segments, values, len(who))
        table = np.array([self.subject_code(t) for t in subjects], dtype=np.int32)
        lifts = np.array(
            [[relative_effect(self._style_effects, t, msg.subject)[m] for m in METRICS] for t in subjects]
        )
        per = lifts[code]  # (recipients, metrics)
        return ev.RenderedSubjects(table[code], per[:, 0], per[:, 1], per[:, 2])

    # ---- campaign preview texts: the content angle each recipient is shown ------------------------
    def message_preview_text(self, msg: Message, day: int | None = None) -> str:
        """The message's preview text as written (a template, possibly) in force on world day ``day``
        (default: now)."""
        return self._message_text(msg, "preview_text", day)

    def set_message_preview_text(self, message_id: str, preview_text: str) -> None:
        """Update a campaign message's preview text before its campaign is sent (the subjects'
        template grammar; TemplateError: cannot render)."""
        self._set_message_text(message_id, "preview_text", preview_text)

    def render_content(self, msg: Message, day: int, who: np.ndarray, own: int) -> np.ndarray | int:
        """Each recipient's content angle of ``msg`` sent on world day ``day``: the catalog label of
        the preview text rendered from its properties then (``content_angle``), else ``own``.

        ``own`` itself (one int for everyone) when the preview text was never written by then, so
        an unwritten world's sends are computed exactly as before.
        """
        text = self.message_preview_text(msg, day)
        if text == msg.preview_text:
            return own
        segments = parse_subject(text)
        index = self.property_index()
        values = {name: index.values(name, day)[who] for name in properties_read(segments)}
        texts, code = render(segments, values, len(who))
        angles = np.array([content_angle(t, own) for t in texts], dtype=np.int64)
        return angles[code]

    # ---- send times: lists, campaign audiences, clones (Loopwise's hourly child sends) ------------
    def message(self, idx: int) -> Message:
        """A message by the index events carry: the plan's, or a clone's copy (after the plan's)."""
        return self.send_times.message(idx)

    def clone(self, campaign_id: str) -> Clone | None:
        return self.send_times.clones.get(campaign_id)

    def clone_ids(self) -> list[str]:
        """Ids of the campaigns cloned from the plan's, oldest first."""
        return list(self.send_times.clones)

    def create_list(self, name: str) -> str:
        if not isinstance(name, str) or not name.strip():
            raise WriteError("name must be a non-empty string", pointer="/data/attributes/name")
        with self.lock:
            list_id = ids.short_id(self.spec.seed, "list", len(self.writes))
            self._record("klaviyo", "create_list", list_id, {"name": name})
            return list_id

    def list_info(self, list_id: str) -> dict[str, Any] | None:
        """A list Loopwise created (``name``, ``clock_day``, ``seq``), or the plan campaigns' main list."""
        if list_id == self.main_list_id:
            return {"name": MAIN_LIST_NAME, "created_ts": self.start_ts - 400 * DAY}
        found = self.send_times.lists.get(list_id)
        if found is None:
            return None
        return {**found, "created_ts": self.start_ts + found["clock_day"] * DAY + found["seq"]}

    def campaign_audiences(self, campaign_id: str) -> dict[str, list[str]]:
        """A campaign's audiences as last written (a plan campaign: its main list, then its writes)."""
        clone = self.clone(campaign_id)
        if clone is not None:
            return clone.audiences
        return self.send_times.plan_audiences(campaign_id, self.main_list_id)

    def _known_lists(self, list_ids: Any, pointer: str, allow_empty: bool) -> list[str]:
        if not isinstance(list_ids, list) or not all(isinstance(x, str) for x in list_ids):
            raise WriteError("expected a list of list ids", pointer=pointer)
        if not list_ids and not allow_empty:
            raise WriteError("at least one list must be included", pointer=pointer)
        for k, list_id in enumerate(list_ids):
            if self.list_info(list_id) is None:
                raise WriteError(f"list {list_id} not found", pointer=f"{pointer}/{k}")
        return list(dict.fromkeys(list_ids))

    def _audiences(self, audiences: Any) -> dict[str, list[str]]:
        pointer = "/data/attributes/audiences"
        if not isinstance(audiences, dict) or not set(audiences) <= {"included", "excluded"}:
            raise WriteError("audiences must be an object {included, excluded}", pointer=pointer)
        included = self._known_lists(audiences.get("included"), f"{pointer}/included", False)
        excluded = self._known_lists(audiences.get("excluded", []), f"{pointer}/excluded", True)
        return {"included": included, "excluded": excluded}

    def update_campaign(self, campaign_id: str, attributes: dict[str, Any]) -> None:
        """PATCH a campaign's ``audiences`` (a plan campaign: its excluded lists) or, for a clone,
        its ``send_strategy``; refused once the campaign is scheduled (a clone) or sent."""
        with self.lock:
            value: dict[str, Any] = {}
            clone = self.clone(campaign_id)
            if clone is not None:
                if clone.schedule is not None:
                    status = "sent" if clone.schedule["send_time"] <= self.clock_ts else "scheduled"
                    raise WriteError(f"campaign {campaign_id} has been {status}; it cannot change")
                if "audiences" in attributes:
                    value["audiences"] = self._audiences(attributes["audiences"])
                if "send_strategy" in attributes:
                    value["send_strategy"] = _send_strategy(attributes["send_strategy"])
            else:
                camp = self.campaign_by_id.get(campaign_id)
                if camp is None or camp.created_ts > self.clock_ts:
                    raise WriteError(f"campaign {campaign_id} not found")
                if camp.send_ts <= self.clock_ts:
                    raise WriteError(f"campaign {campaign_id} has already been sent; it cannot change")
                if "send_strategy" in attributes:
                    raise WriteError(
                        "the sandbox does not reschedule the plan's campaigns (clone one instead)",
                        pointer="/data/attributes/send_strategy",
                    )
                if camp.is_ab:
                    raise WriteError(
                        f"campaign {campaign_id} has an A/B test; the sandbox changes no A/B test's audiences",
                        pointer="/data/attributes/audiences",
                    )
                audiences = self._audiences(attributes.get("audiences"))
                own = [self.main_list_id]
                if audiences["included"] != own:
                    raise WriteError(
                        f"a plan campaign's included audience stays {own}; exclude lists instead",
                        pointer="/data/attributes/audiences/included",
                    )
                value["audiences"] = audiences
            if not value:
                raise WriteError(
                    "the sandbox updates only attributes.audiences and attributes.send_strategy",
                    pointer="/data/attributes",
                )
            self._record("klaviyo", "update_campaign", campaign_id, value)

    def clone_campaign(self, campaign_id: str, name: str | None) -> str:
        """Klaviyo's campaign clone: a Draft with the original's message (a new message id, its
        current subject and preview text), audiences and send strategy. The sandbox clones its
        plan's one-message campaigns not yet sent."""
        with self.lock:
            camp = self.campaign_by_id.get(campaign_id)
            if camp is None or camp.created_ts > self.clock_ts:
                if self.clone(campaign_id) is not None or self.created_campaign(campaign_id) is not None:
                    raise WriteError("the sandbox clones the plan's campaigns only", pointer="/data/id")
                raise WriteError(f"campaign {campaign_id} not found")
            if camp.send_ts <= self.clock_ts:
                raise WriteError(f"campaign {campaign_id} has already been sent", pointer="/data/id")
            if camp.is_ab:
                raise WriteError(
                    f"campaign {campaign_id} has an A/B test; the sandbox clones one-message campaigns",
                    pointer="/data/id",
                )
            if name is not None and (not isinstance(name, str) or not name.strip()):
                raise WriteError("new_name must be a non-empty string", pointer="/data/attributes/new_name")
            seq = len(self.writes)
            value = {
                "original": campaign_id,
                "name": name or f"{camp.name} (clone)",
                "message_id": ids.ulid_like(self.spec.seed, "clone-campaign-message", seq),
                "subject": self.message_subject(self.plan.messages[camp.messages[0]]),
                "preview_text": self.message_preview_text(self.plan.messages[camp.messages[0]]),
                "audiences": self.campaign_audiences(campaign_id),
                "send_strategy": {
                    "method": "static",
                    "datetime": iso_utc(camp.send_ts),
                    "options": {"is_local": False, "send_past_recipients_immediately": False},
                },
            }
            clone_id = ids.ulid_like(self.spec.seed, "clone-campaign", seq)
            self._record("klaviyo", "clone_campaign", clone_id, value)
            return clone_id

    def schedule_clone(self, clone_id: str) -> None:
        """A campaign send job for a clone: it sends at its send strategy's moment (each recipient's
        own in a local-time send). Refused when already scheduled or when a moment is past (a
        local-time send may give ``send_past_recipients_immediately``: those recipients get it now)."""
        with self.lock:
            clone = self.clone(clone_id)
            if clone is None:
                raise WriteError(f"campaign {clone_id} not found")
            if clone.schedule is not None:
                raise WriteError(f"campaign {clone_id} has already been scheduled", pointer="/data/id")
            strategy = clone.send_strategy
            options = strategy.get("options") or {}
            is_local = bool(options.get("is_local"))
            past_immediately = bool(options.get("send_past_recipients_immediately"))
            wall = (
                _wall_clock(strategy["datetime"]) if is_local else int(parse_datetime(strategy["datetime"]))
            )
            now = self.clock_ts
            who = self._clone_recipients(clone, self.clock_day)
            if is_local:
                tz = self.contacts.tz[who] if len(who) else np.arange(len(TZ_OFFSETS))
                earliest = int(local_send_ts(wall, tz, now, False).min())
            else:
                earliest = wall
            if earliest < now and not (is_local and past_immediately):
                where = "its earliest recipient's local send time" if is_local else "its send time"
                raise WriteError(
                    f"campaign {clone_id} cannot be scheduled: {where} {iso_utc(earliest)} is past "
                    f"(now {iso_utc(now)})",
                    pointer="/data/id",
                )
            schedule = {
                "original": clone.original.campaign_id,
                "send_time": max(earliest, now),
                "now": now,
                "wall": wall,
                "is_local": is_local,
                "past_immediately": past_immediately,
            }
            self._record("klaviyo", "send_campaign", clone_id, schedule)

    def clone_status(self, clone: Clone) -> str:
        if clone.schedule is None:
            return "Draft"
        return "Sent" if clone.schedule["send_time"] <= self.clock_ts else "Scheduled"

    def _clone_recipients(self, clone: Clone, day: int) -> np.ndarray:
        """Who the clone reaches with the lists of world day ``day``: never anyone outside the
        original's own audience (its remainder, eligible and not exited by then)."""
        who, arm = ev.campaign_audience(self.email_ctx, clone.original)
        return self.send_times.clone_recipients(clone, who[arm < 0], self.main_list_id, day)

    def _campaign_excluded(self, camp: Campaign, day: int) -> np.ndarray | None:
        return self.send_times.excluded(camp.campaign_id, self.main_list_id, day)

    def clone_send(self, clone: Clone) -> ev.CloneSend | None:
        """A scheduled clone's whole send: recipients (on the lists of its send day), each one's moment."""
        sched = clone.schedule
        if sched is None:
            return None
        audience_day = self.day_of(sched["send_time"])
        who = self._clone_recipients(clone, audience_day)
        ts = clone_send_ts(sched, self.contacts.tz[who])
        c = self.contacts
        stays = (c.exit_campaign[who] == clone.original.idx) | (c.exit_ts[who] > ts)  # not left since
        batch_id = CLONE_BATCH_BASE + clone.ordinal % CLONE_BATCHES
        return ev.CloneSend(batch_id, clone.original, clone.message, who[stays], ts[stays], audience_day)

    def _clone_sends(self, day: int) -> list[ev.CloneSend]:
        """The scheduled clones that may have recipients whose send moment falls on world day ``day``."""
        lo = self.start_ts + day * DAY
        out = []
        for clone in self.send_times.clones.values():
            sched = clone.schedule
            if sched is None:
                continue
            latest = sched["wall"] - (int(TZ_OFFSETS.min()) * 60 if sched["is_local"] else 0)
            if max(latest, sched["now"]) < lo or sched["send_time"] >= lo + DAY:
                continue
            send = self.clone_send(clone)
            assert send is not None
            out.append(send)
        return out

    def flow_status(self, flow: Flow, day: int | None = None) -> str:
        """The flow's status on world day ``day`` (default: now), from its last status write by then."""
        status = "live"
        for w in self.writes:
            mine = w["action"] == "set_flow_status" and w["target"] == flow.flow_id
            if mine and (day is None or w["clock_day"] <= day):
                status = w["value"]
        return status

    def flow_sends(self, flow: Flow, day: int) -> bool:
        """Only a live flow sends; a status write counts from the first day not yet served."""
        return self.flow_status(flow, day) == "live"

    def set_flow_status(self, flow_id: str, status: str) -> None:
        with self.lock:
            if not any(f.flow_id == flow_id for f in self.plan.flows):
                raise WriteError(f"flow {flow_id} not found")
            if status not in FLOW_STATUSES:
                raise WriteError(f"status must be one of {', '.join(FLOW_STATUSES)}")
            self._record("klaviyo", "set_flow_status", flow_id, status)

    def write_stamps(self, target: str) -> list[int]:
        """When each write to ``target`` was made (its world day's start), for ``updated`` fields."""
        return [self.start_ts + w["clock_day"] * DAY for w in self.writes if w["target"] == target]

    # ---- ads ---------------------------------------------------------------------------------
    def budget_entities(self, platform: str) -> list[BudgetEntity]:
        """Where ``platform`` keeps its daily budgets (Meta ad sets and CBO campaigns, Google campaign budgets)."""
        return list(self.ads.entities[platform])

    def entity_budgets(self, platform: str, day: int) -> dict[str, float]:
        """Daily budget (major units) of each budget entity on ``day``: writes with clock_day <= day applied."""
        budgets = {e.entity_id: e.initial_budget for e in self.ads.entities[platform]}
        for w in self.writes:
            if w["action"] == "set_budget" and w["vendor"] == platform and w["clock_day"] <= day:
                budgets[w["target"]] = w["value"]
        return budgets

    def ad_budgets(self, platform: str, day: int) -> np.ndarray:
        """What each ad may spend on ``day``: its fixed share of its entity's budget.

        Scaling the ad's initial budget by (entity budget / entity initial budget) is the same
        share arithmetic, and leaves an unwritten world's budgets exactly as they were.
        """
        ads = self.ads.by_platform[platform]
        budgets = np.array([a.budget for a in ads])
        current = self.entity_budgets(platform, day)
        for e in self.ads.entities[platform]:
            scale = current[e.entity_id] / e.initial_budget
            for pos in e.positions:
                budgets[pos] = ads[pos].budget * scale
        return budgets

    def ad_day(self, platform: str, day: int) -> AdDay:
        return self._ad_days.get_or(
            (platform, day),
            lambda: self.ads.generate_day(
                self.spec.seed, platform, day, self.start_ts, self.ad_budgets(platform, day), self.incidents
            ),
        )

    def ad_rows(self, platform: str, day_lo: int, day_hi: int) -> list[tuple[int, int]]:
        """(day, ad position) pairs with delivery, for days in [day_lo, day_hi] before the clock."""
        out = []
        for d in range(max(day_lo, 0), min(day_hi, self.clock_day - 1) + 1):
            day = self.ad_day(platform, d)
            out += [(d, int(i)) for i in np.nonzero(day.active & (day.impressions > 0))[0]]
        return out

    def ad_created_ts(self, platform: str, ad_id: str) -> int:
        ad = self.ads.by_id[(platform, ad_id)]
        return self.start_ts + min(ad.launch_day, 0) * DAY - 7 * DAY

    def ad_updated_ts(self, platform: str, ad_id: str) -> int:
        """An ad changes when its entity's budget does (its share of the entity's spend changes with it)."""
        ad = self.ads.by_id[(platform, ad_id)]
        entity = self.ads.entity_of(platform, self.ads.by_platform[platform].index(ad))
        return max([self.ad_created_ts(platform, ad_id), *self._budget_write_ts(entity)])

    def entity_updated_ts(self, entity: BudgetEntity) -> int:
        """When the entity's budget last changed, or when its oldest ad was created."""
        ads = self.ads.by_platform[entity.platform]
        created = min(self.ad_created_ts(entity.platform, ads[p].ad_id) for p in entity.positions)
        return max([created, *self._budget_write_ts(entity)])

    def _budget_write_ts(self, entity: BudgetEntity) -> list[int]:
        return [
            self.start_ts + w["clock_day"] * DAY + w["seq"]
            for w in self.writes
            if w["action"] == "set_budget"
            and w["target"] == entity.entity_id
            and w["vendor"] == entity.platform
        ]

    # ---- writes ------------------------------------------------------------------------------
    def set_campaign_winner(self, campaign_id: str, message_id: str) -> None:
        with self.lock:
            camp = self.campaign_by_id.get(campaign_id)
            if camp is None:
                raise WriteError(f"campaign {campaign_id} not found")
            if not camp.is_ab:
                raise WriteError(f"campaign {campaign_id} has no A/B test")
            if message_id not in {self.plan.messages[m].message_id for m in camp.messages}:
                raise WriteError(f"message {message_id} is not a variant of campaign {campaign_id}")
            self._refuse_rolled_out(camp)
            self._record("klaviyo", "set_campaign_winner", campaign_id, message_id)

    def set_entity_budget(self, platform: str, entity_id: str, daily_budget: float) -> None:
        """Daily budget in major units of a budget entity, effective from the current (not yet simulated) day."""
        with self.lock:
            entity = self.ads.entity_by_id.get((platform, entity_id))
            if entity is None:
                if platform == "meta" and entity_id in self.ads.cbo_adsets:
                    raise WriteError(
                        f"ad set {entity_id}: ad set budget not allowed under campaign budget optimisation"
                    )
                raise WriteError(f"{platform} budget entity {entity_id} not found")
            if not np.isfinite(daily_budget) or daily_budget < 0 or daily_budget > 1e7:
                raise WriteError(f"invalid daily budget {daily_budget}")
            before = self.entity_budgets(platform, self.clock_day)[entity_id]
            self._record(
                platform,
                "set_budget",
                entity_id,
                round(float(daily_budget), 2),
                entity_type=entity.entity_type,
                before=before,
            )

    def _record(self, vendor: str, action: str, target: str, value: Any, **extra: Any) -> None:
        self._apply_write(
            {
                "seq": len(self.writes),
                "clock_day": self.clock_day,
                "vendor": vendor,
                "action": action,
                "target": target,
                "value": value,
                **extra,
            }
        )

    def _apply_write(self, write: dict[str, Any]) -> None:
        self.writes.append(dict(write))
        if self._properties is not None:
            self._properties.add(self.writes[-1])
        self.send_times.add(self.writes[-1], self.campaign_by_id, self.start_ts)
        self._origin.clear()
        self._days.clear()
        self._ad_days.clear()

    # ---- persistence (ground truth is sandbox.truth's, never the served world's) -------------
    def state(self) -> dict[str, Any]:
        return {"spec": self.spec.to_dict(), "writes": self.writes, "advanced_days": self.advanced_days}

    def state_json(self) -> str:
        """``state()`` as ``json.dumps(state, sort_keys=True, separators=(",", ":"))`` gives it, with
        each write encoded once. The server saves the state after every write and the log holds
        every profile an import set: on the large world, re-encoding the whole log each time made
        one send-time split (lists, imports, 24 hourly clones) take minutes. Writes are records,
        never changed once logged; a log that was replaced is encoded anew."""
        encode = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
        done = len(self._encoded_writes)
        if done > len(self.writes) or (done and self.writes[done - 1] is not self._encoded_last):
            self._encoded_writes, done = [], 0
        self._encoded_writes.extend(encode(write) for write in self.writes[done:])
        if self.writes:
            self._encoded_last = self.writes[-1]
        return (
            f'{{"advanced_days":{encode(self.advanced_days)},"spec":{encode(self.spec.to_dict())},'
            f'"writes":[{",".join(self._encoded_writes)}]}}'
        )

    def save_state(self, path: str | Path) -> Path:
        path = Path(path)
        if path.is_dir() or not path.suffix:
            path = path / "state.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.state_json())
        tmp.replace(path)
        return path

    @classmethod
    def load_state(cls, path: str | Path) -> World:
        path = Path(path)
        if path.is_dir():
            path = path / "state.json"
        data = json.loads(path.read_text())
        return cls(
            WorldSpec.from_dict(data["spec"]), writes=data["writes"], advanced_days=data["advanced_days"]
        )


def _check_properties(properties: Any, allow_empty: bool = False) -> None:
    if not isinstance(properties, dict) or (not properties and not allow_empty):
        raise WriteError("properties must be a non-empty object with non-empty names")
    if not all(isinstance(k, str) and k for k in properties):
        raise WriteError("properties must be a non-empty object with non-empty names")


def _wall_clock(value: str) -> int:
    """A local-time send's wall clock as epoch seconds read as UTC (an offset given: its UTC reading)."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    return int(dt.replace(tzinfo=UTC).timestamp())


def _send_strategy(strategy: Any) -> dict[str, Any]:
    """A clone's send strategy as Klaviyo takes it: ``{method: "static", datetime, options:
    {is_local, send_past_recipients_immediately}}`` (WriteError otherwise)."""
    pointer = "/data/attributes/send_strategy"
    if not isinstance(strategy, dict) or strategy.get("method") != "static":
        raise WriteError("send_strategy must be {method: 'static', datetime, options}", pointer=pointer)
    if not set(strategy) <= {"method", "datetime", "options"}:
        raise WriteError("send_strategy takes method, datetime and options", pointer=pointer)
    value = strategy.get("datetime")
    try:
        datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise WriteError("datetime must be ISO 8601", pointer=f"{pointer}/datetime") from None
    if not isinstance(value, str):
        raise WriteError("datetime must be ISO 8601", pointer=f"{pointer}/datetime")
    options = strategy.get("options") or {}
    allowed = {"is_local", "send_past_recipients_immediately"}
    if not isinstance(options, dict) or not set(options) <= allowed:
        raise WriteError(f"options takes {', '.join(sorted(allowed))}", pointer=f"{pointer}/options")
    for name in allowed:
        if not isinstance(options.get(name, False), bool):
            raise WriteError(f"options.{name} must be a boolean", pointer=f"{pointer}/options/{name}")
    if options.get("send_past_recipients_immediately") and not options.get("is_local"):
        raise WriteError(
            "send_past_recipients_immediately applies to local sends only (is_local: true)",
            pointer=f"{pointer}/options/send_past_recipients_immediately",
        )
    return {
        "method": "static",
        "datetime": value,
        "options": {
            "is_local": options.get("is_local", False),
            "send_past_recipients_immediately": options.get("send_past_recipients_immediately", False),
        },
    }
