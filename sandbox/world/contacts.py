"""Contacts (ESP profiles) with hidden traits, as columnar numpy arrays."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import numpy as np

from sandbox.spec import WorldSpec
from sandbox.util import DAY, S_CONTACTS, hash01_int, rng, salt

# (IANA name, standard-time UTC offset in minutes, share); behaviour and rendering follow the
# zone's wall clock, daylight saving included (utc_offset_minutes)
TIMEZONES: list[tuple[str, int, float]] = [
    ("America/New_York", -300, 0.28),
    ("America/Chicago", -360, 0.12),
    ("America/Los_Angeles", -480, 0.16),
    ("Europe/London", 0, 0.14),
    ("Europe/Berlin", 60, 0.12),
    ("Asia/Kolkata", 330, 0.06),
    ("Asia/Tokyo", 540, 0.06),
    ("Australia/Sydney", 600, 0.06),
]
TZ_OFFSETS = np.array([t[1] for t in TIMEZONES], dtype=np.int64)  # standard time (no daylight saving)
OFFSET_YEARS = (2015, 2040)  # daylight-saving rules are tabulated for these years; outside, standard time


@cache
def _offset_changes(zone: int) -> tuple[np.ndarray, np.ndarray]:
    """(UTC seconds at which the zone's offset changes, the offset in minutes from then on), with a
    first entry at -inf carrying the offset before the tabulated years."""
    tz = ZoneInfo(TIMEZONES[zone][0])
    start = datetime(OFFSET_YEARS[0], 1, 1, tzinfo=UTC)
    hours = int((datetime(OFFSET_YEARS[1], 1, 1, tzinfo=UTC) - start).total_seconds() // 3600)
    stamps, offsets = [np.iinfo(np.int64).min], [int(start.astimezone(tz).utcoffset().total_seconds() // 60)]
    moment, step = start, timedelta(days=1)
    for _ in range(hours // 24):
        following = moment + step
        offset = int(following.astimezone(tz).utcoffset().total_seconds() // 60)
        if offset != offsets[-1]:  # the change fell within this day: find its hour
            hour = next(
                h
                for h in range(1, 25)
                if (moment + timedelta(hours=h)).astimezone(tz).utcoffset().total_seconds() // 60 == offset
            )
            stamps.append(int((moment + timedelta(hours=hour)).timestamp()))
            offsets.append(offset)
        moment = following
    return np.array(stamps, dtype=np.int64), np.array(offsets, dtype=np.int64)


@cache
def _change_lists(zone: int) -> tuple[list[int], list[int]]:
    stamps, offsets = _offset_changes(zone)
    return stamps.tolist(), offsets.tolist()


def utc_offset_minutes_at(zone: int, ts: int) -> int:
    """One zone's UTC offset in minutes at UTC second ``ts`` (the scalar of :func:`utc_offset_minutes`)."""
    stamps, offsets = _change_lists(int(zone))
    return offsets[bisect_right(stamps, int(ts)) - 1]


def utc_offset_minutes(zone: np.ndarray | int, ts: np.ndarray | int) -> np.ndarray:
    """Each zone's UTC offset in minutes at UTC second ``ts`` (daylight saving included, as the
    IANA rules have it): contacts live by their wall clocks."""
    zone, ts = np.broadcast_arrays(np.asarray(zone, dtype=np.int64), np.asarray(ts, dtype=np.int64))
    out = np.empty(zone.shape, dtype=np.int64)
    for z in np.unique(zone):
        stamps, offsets = _offset_changes(int(z))
        mask = zone == z
        out[mask] = offsets[np.searchsorted(stamps, ts[mask], side="right") - 1]
    return out


AFFINITIES = ("case_study", "how_to", "comparison", "promo")
EXIT_UNSUB, EXIT_SPAM, EXIT_HARD_BOUNCE = 0, 1, 2
FIRST_NAMES = (
    "ava",
    "ben",
    "chloe",
    "dan",
    "emma",
    "finn",
    "grace",
    "hugo",
    "isla",
    "jack",
    "kai",
    "lena",
    "mia",
    "noah",
    "olga",
    "paul",
    "quinn",
    "rosa",
    "sam",
    "tara",
    "uma",
    "vic",
    "will",
    "zoe",
)
LAST_NAMES = (
    "smith",
    "jones",
    "garcia",
    "miller",
    "davis",
    "lopez",
    "wilson",
    "moore",
    "taylor",
    "lee",
    "walker",
    "hall",
    "young",
    "king",
    "wright",
    "scott",
    "green",
    "baker",
    "adams",
    "nelson",
)
DOMAINS = ("example.com", "mail.test", "corp.example", "shop.test", "inbox.example")


@dataclass
class Contacts:
    """One row per person known to the ESP, sorted by creation time."""

    n: int
    created_ts: np.ndarray
    tz: np.ndarray
    pref_hour: np.ndarray
    pref_hour_late: np.ndarray
    affinity: np.ndarray
    affinity_late: np.ndarray
    open_base: np.ndarray
    click_base: np.ndarray
    conv_base: np.ndarray
    propensity: np.ndarray
    churn_ts: np.ndarray
    subscribed: np.ndarray
    holdout: np.ndarray
    mpp: np.ndarray
    bad_address: np.ndarray
    exit_k: np.ndarray
    exit_type: np.ndarray
    in_crm: np.ndarray
    first_name: np.ndarray
    last_name: np.ndarray
    # filled in once the campaign calendar exists
    first_campaign: np.ndarray | None = None
    exit_campaign: np.ndarray | None = None
    exit_ts: np.ndarray | None = None

    @property
    def eligible(self) -> np.ndarray:
        """May receive marketing email (before any exit)."""
        return self.subscribed & ~self.holdout

    def email(self, i: int) -> str:
        first, last = FIRST_NAMES[self.first_name[i]], LAST_NAMES[self.last_name[i]]
        return f"{first}.{last}{i}@{DOMAINS[i % len(DOMAINS)]}"

    def messy_email(self, i: int, vendor: str, seed: int) -> str:
        """The same address as a vendor stores it: sometimes re-cased or padded with spaces."""
        email = self.email(i)
        u = hash01_int(i, salt(seed, "email-mess", vendor))
        if u < 0.12:
            email = email.title()
        elif u < 0.2:
            email = email.upper()
        elif u < 0.26:
            email = f" {email} "
        return email


def build_contacts(spec: WorldSpec, start_ts: int, horizon_days: int) -> Contacts:
    g = rng(spec.seed, S_CONTACTS)
    n_new = int(round(spec.n_contacts * spec.new_contact_share))
    n_old = spec.n_contacts - n_new
    n_future = int(round(n_new * (horizon_days - spec.days) / spec.days))
    created = np.concatenate(
        [
            start_ts - g.integers(1, 365 * DAY, n_old),
            start_ts + g.integers(0, spec.days * DAY, n_new),
            start_ts + spec.days * DAY + g.integers(0, max(1, (horizon_days - spec.days) * DAY), n_future),
        ]
    ).astype(np.int64)
    created.sort()
    n = len(created)
    shares = np.array([t[2] for t in TIMEZONES])
    tz = g.choice(len(TIMEZONES), size=n, p=shares / shares.sum()).astype(np.int8)
    pref = g.choice([8.0, 12.5, 19.5], size=n, p=[0.45, 0.25, 0.3]) + g.normal(0, 1.2, n)
    drift = g.random(n) < 0.3
    pref_late = np.where(drift, (pref + g.choice([-4.0, 4.0, 9.0], size=n)) % 24, pref)
    affinity = g.integers(0, len(AFFINITIES), n).astype(np.int8)
    affinity_late = np.where(g.random(n) < 0.3, g.integers(0, len(AFFINITIES), n), affinity).astype(np.int8)
    hazard = g.lognormal(np.log(1 / 500), 0.6, n)  # per-day churn hazard
    churn_ts = created + (g.exponential(1.0, n) / hazard * DAY).astype(np.int64)
    subscribed = g.random(n) < spec.subscribed_share
    holdout = g.random(n) < spec.holdout_share
    mpp = g.random(n) < spec.machine_open_share
    bad = g.random(n) < spec.bad_address_share
    p_exit = np.clip(hazard * 2, 0.001, 0.03)  # per campaign received
    exit_k = g.geometric(p_exit).astype(np.int32)
    exit_type = np.where(g.random(n) < 0.88, EXIT_UNSUB, EXIT_SPAM).astype(np.int8)
    exit_k[bad] = 1
    exit_type[bad] = EXIT_HARD_BOUNCE
    propensity = g.lognormal(np.log(0.003), 0.7, n)
    in_crm = g.random(n) < spec.crm_overlap_share * np.clip(propensity / 0.003, 0.5, 1.6)
    return Contacts(
        n=n,
        created_ts=created,
        tz=tz,
        pref_hour=pref % 24,
        pref_hour_late=pref_late % 24,
        affinity=affinity,
        affinity_late=affinity_late,
        open_base=g.beta(2.0, 6.0, n),
        click_base=g.beta(2.0, 14.0, n),
        conv_base=g.beta(2.0, 20.0, n),
        propensity=propensity,
        churn_ts=churn_ts,
        subscribed=subscribed,
        holdout=holdout,
        mpp=mpp,
        bad_address=bad,
        exit_k=exit_k,
        exit_type=exit_type,
        in_crm=in_crm,
        first_name=g.integers(0, len(FIRST_NAMES), n),
        last_name=g.integers(0, len(LAST_NAMES), n),
    )


def attach_campaign_exits(contacts: Contacts, send_ts: np.ndarray, rollout_ts: np.ndarray, seed: int) -> None:
    """Each contact leaves the list (unsubscribe, spam complaint, hard bounce) at its k-th campaign."""
    first = np.searchsorted(send_ts, contacts.created_ts, side="right").astype(np.int64)
    exit_c = first + contacts.exit_k.astype(np.int64) - 1
    never = ~contacts.eligible | (exit_c >= len(send_ts))
    exit_c[never] = np.iinfo(np.int32).max
    g = rng(seed, S_CONTACTS, 99)
    delay = g.integers(1800, 30 * 3600, contacts.n)
    exit_ts = np.full(contacts.n, np.iinfo(np.int64).max // 4, dtype=np.int64)
    ok = ~never
    exit_ts[ok] = rollout_ts[exit_c[ok]] + delay[ok]
    hard = ok & (contacts.exit_type == EXIT_HARD_BOUNCE)
    exit_ts[hard] = send_ts[exit_c[hard]]
    contacts.first_campaign = first
    contacts.exit_campaign = exit_c
    contacts.exit_ts = exit_ts
