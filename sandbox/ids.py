"""Record ids: the one definition of every deterministic id scheme the world and the vendor shapes share.

Each id is a pure function of the world's seed and an index (or key), so the world, the vendor
renderings and the ground truth agree on ids without importing one another. Depends only on
``sandbox.util``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from sandbox.util import mix64, mix_int, salt

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_B32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


# ---- formats -------------------------------------------------------------------------------------
def base62(n: int, width: int = 0) -> str:
    out = []
    while n:
        n, r = divmod(n, 62)
        out.append(_B62[r])
    return "".join(reversed(out)).rjust(width, "0")


def short_id(seed: int, kind: str, idx: int, width: int = 6) -> str:
    """Klaviyo-style short ids (metrics, flows)."""
    return base62(mix_int(salt(seed, kind, idx)) % (62**width), width)


def ulid_like(seed: int, kind: str, idx: int) -> str:
    """26-character Crockford base32 id, like Klaviyo profile / campaign ids."""
    n = (mix_int(salt(seed, kind, idx)) << 64) | mix_int(salt(idx, kind, seed, 7))
    chars = []
    for _ in range(24):
        n, r = divmod(n, 32)
        chars.append(_B32[r])
    return "01" + "".join(chars)


def uuid_like(a: int, b: int) -> str:
    h = f"{mix_int(a ^ 0x1234):016x}{mix_int(b ^ 0x5678):016x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


# ---- Klaviyo -------------------------------------------------------------------------------------
# Every served event names its profile and metric: cached, as they repeat across pages (a large
# world has 200k profiles; at ~100 bytes an id the cache stays under 30 MB).
@lru_cache(maxsize=1 << 18)
def profile_id(seed: int, contact: int) -> str:
    """Klaviyo profile id of contact (world index) ``contact``."""
    return ulid_like(seed, "profile", contact)


@lru_cache(maxsize=256)
def metric_id(seed: int, metric: int) -> str:
    return short_id(seed, "metric", metric)


def event_id(seed: int, key: int) -> str:
    """Klaviyo event id of the event with world key ``key``."""
    return base62(mix_int(key ^ _event_id_salt(seed)), 11)


@lru_cache(maxsize=64)
def _event_id_salt(seed: int) -> int:
    return salt(seed, "event-id")


_B62_CODES = np.frombuffer(_B62.encode(), dtype=np.uint8)
_HEX_CODES = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _digits(numbers: np.ndarray, codes: np.ndarray, width: int) -> list[str]:
    """Each uint64 as ``width`` digits in base ``len(codes)``, most significant first."""
    base = np.uint64(len(codes))
    n = numbers.astype(np.uint64, copy=True)
    out = np.empty((len(n), width), dtype=np.uint8)
    for position in range(width - 1, -1, -1):
        out[:, position] = codes[n % base]
        n //= base
    return [bytes(row).decode() for row in out] if len(n) else []


def event_ids(seed: int, keys: np.ndarray) -> list[str]:
    """:func:`event_id` of many keys at once (a page of events is rendered together)."""
    return _digits(mix64(np.asarray(keys, dtype=np.uint64) ^ np.uint64(_event_id_salt(seed))), _B62_CODES, 11)


def event_uuids(seed: int, keys: np.ndarray) -> list[str]:
    """:func:`event_uuid` of many keys at once."""
    tail = f"{mix_int(seed ^ 0x5678):016x}"
    heads = _digits(mix64(np.asarray(keys, dtype=np.uint64) ^ np.uint64(0x1234)), _HEX_CODES, 16)
    return [f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{tail[1:4]}-{tail[4:16]}" for h in heads]


def event_uuid(seed: int, key: int) -> str:
    """The event's ``attributes.uuid`` (what identifies an event served without an id)."""
    return uuid_like(key, seed)


def order_id(key: int) -> str:
    """``OrderId`` property of a Placed Order event."""
    return f"ORD-{base62(mix_int(key ^ 77), 10)}"


def campaign_id(seed: int, idx: int) -> str:
    return ulid_like(seed, "campaign", idx)


def campaign_message_id(seed: int, message: int) -> str:
    return ulid_like(seed, "campaign-message", message)


def flow_id(seed: int, flow: int) -> str:
    return short_id(seed, "flow", flow)


def flow_message_id(seed: int, message: int) -> str:
    return short_id(seed, "flow-message", message)


def flow_action_id(seed: int, flow: int, step: int) -> str:
    return str(50_000_000 + (seed % 997) * 1000 + flow * 100 + step)


# ---- HubSpot -------------------------------------------------------------------------------------
def hubspot_contact_ids(seed: int, n: int) -> np.ndarray:
    """HubSpot object ids of the first ``n`` CRM contacts (in CRM row order)."""
    return np.arange(n, dtype=np.int64) * 3 + 1001 + seed % 97


def hubspot_deal_ids(seed: int, m: int) -> np.ndarray:
    """HubSpot object ids of the first ``m`` deals (in deal row order)."""
    return np.arange(m, dtype=np.int64) * 7 + 9_000_001 + seed % 89


# ---- ads (Meta, Google Ads) ----------------------------------------------------------------------
def ad_campaign_id(platform: str, seed: int, campaign: int) -> str:
    if platform == "meta":
        return str(120_210_000_000_000_000 + campaign * 1000 + seed % 997)
    return str(20_000_000_000 + campaign * 7919 + seed % 997)


def ad_group_id(campaign_id: str, group: int) -> str:
    """Meta ad set / Google ad group id, derived from its campaign's id."""
    return str(int(campaign_id) + 100 + group)


def ad_id(platform: str, group_id: str, ad_in_group: int, ad_index: int) -> str:
    """Meta ads number within their ad set; Google ads by their index among all the world's ads."""
    if platform == "meta":
        return str(int(group_id) * 10 + ad_in_group + 1)
    return str(700_000_000_000 + ad_index * 131)


def google_campaign_budget_id(campaign_id: str) -> str:
    """The campaign budget a Google campaign owns alone, derived from the campaign's id."""
    return str(int(campaign_id) * 10 + 1)


def google_shared_budget_id(seed: int) -> str:
    """The explicitly shared budget of Google campaigns 0 and 1 (``WorldSpec.google_shared_budget``)."""
    return str(9_000_000_000 + seed % 997)


def ad_entity(platform: str, ad_id: str) -> str:
    """How incidents name an affected ad: ``meta:ad:<id>``."""
    return f"{platform}:ad:{ad_id}"


def parse_ad_entity(entity: str) -> tuple[str, str] | None:
    """Inverse of ``ad_entity``: (platform, ad_id), or None for entities that are not ads."""
    if ":ad:" not in entity:
        return None
    platform, ad = entity.split(":ad:", 1)
    return platform, ad


def ad_day_record_id(ad_id: str, date: str) -> str:
    """Record id of one ad's daily row (Meta insights, Google ad_group_ad): ``<ad_id>:<YYYY-MM-DD>``."""
    return f"{ad_id}:{date}"


# ---- incidents -----------------------------------------------------------------------------------
def incident_id(number: int) -> str:
    """Label id of the ``number``-th (0-based) planted incident."""
    return f"INC-{number + 1:03d}"
