"""The World: spec + ordered write log + clock, simulated lazily day by day with bounded caches."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from sandbox.mess import Mess
from sandbox.spec import WorldSpec
from sandbox.util import DAY, hash01, salt
from sandbox.world import events as ev
from sandbox.world.ads import AdDay, AdsWorld, BudgetEntity
from sandbox.world.contacts import attach_campaign_exits, build_contacts
from sandbox.world.crm import build_crm
from sandbox.world.email_plan import Campaign, build_plan
from sandbox.world.incidents import build_incidents

MAX_LATE_SECONDS = 48 * 3600


class WriteError(ValueError):
    """A write the vendor would refuse (unknown id, campaign already rolled out, bad value)."""


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
        )
        self._origin = _LRU(s.cache_days + ev.SPILL_DAYS)
        self._days = _LRU(max(2, s.cache_days // 2))
        self._ad_days = _LRU(64)
        self._auto_winner: dict[int, int] = {}
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
        return datetime.fromtimestamp(self.clock_ts, UTC)

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
        ts += [self.start_ts + w["clock_day"] * DAY for w in self.writes if w["target"] == camp.campaign_id]
        return max(ts)

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
            if camp.rollout_ts <= self.clock_ts:
                raise WriteError(f"campaign {campaign_id} has already been rolled out")
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
        self._origin.clear()
        self._days.clear()
        self._ad_days.clear()

    # ---- persistence (ground truth is sandbox.truth's, never the served world's) -------------
    def state(self) -> dict[str, Any]:
        return {"spec": self.spec.to_dict(), "writes": self.writes, "advanced_days": self.advanced_days}

    def save_state(self, path: str | Path) -> Path:
        path = Path(path)
        if path.is_dir() or not path.suffix:
            path = path / "state.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state(), sort_keys=True, indent=1))
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
