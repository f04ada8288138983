"""Klaviyo imitation: shapes, pagination, filters, limits, auth."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import requests
from sandbox_test_helpers import KLAVIYO, get, klaviyo_all

from sandbox import SandboxServer, World


def _metric_ids(base: str) -> dict[str, str]:
    return {m["attributes"]["name"]: m["id"] for m in get(base + "/api/metrics", KLAVIYO).json()["data"]}


def test_metrics_shape(server: SandboxServer) -> None:
    r = get(server.vendor_base_urls["klaviyo"] + "/api/metrics", KLAVIYO)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/vnd.api+json"
    data = r.json()["data"]
    assert {m["attributes"]["name"] for m in data} == {
        "Received Email",
        "Opened Email",
        "Clicked Email",
        "Bounced Email",
        "Marked Email as Spam",
        "Unsubscribed",
        "Placed Order",
    }
    m = data[0]
    assert m["type"] == "metric" and set(m["attributes"]) >= {"name", "created", "updated", "integration"}
    assert set(m["attributes"]["integration"]) == {"name", "category"}


def test_events_pagination_covers_everything_once_plus_duplicates(server: SandboxServer, truth: dict) -> None:
    events = klaviyo_all(
        server.vendor_base_urls["klaviyo"], "/api/events", **{"page[size]": "1000", "sort": "datetime"}
    )
    keys = [e.get("id") or e["attributes"]["uuid"] for e in events]
    counts = Counter(keys)
    dup_ids = {d["record_id"] for d in truth["duplicates"] if d["resource"] == "events"}
    assert len(counts) == truth["record_counts"]["klaviyo.events"]
    assert {k for k, n in counts.items() if n > 1} == dup_ids and all(n <= 2 for n in counts.values())
    assert len(events) == len(counts) + len(dup_ids)


def test_event_shape_and_mixed_offsets(server: SandboxServer) -> None:
    base = server.vendor_base_urls["klaviyo"]
    metric_names = {v: k for k, v in _metric_ids(base).items()}
    events = klaviyo_all(
        base, "/api/events", **{"page[size]": "1000", "filter": "less-than(datetime,2026-01-12T00:00:00Z)"}
    )
    offsets = set()
    seen_metrics = set()
    for e in events:
        a = e["attributes"]
        assert e["type"] == "event" and set(a) >= {"timestamp", "datetime", "uuid", "event_properties"}
        metric_id = e["relationships"]["metric"]["data"]["id"]
        name = metric_names[metric_id]
        seen_metrics.add(name)
        if a["timestamp"] is None or "profile" not in e["relationships"] or "id" not in e:
            continue  # planted malformed record
        dt = datetime.fromisoformat(a["datetime"])
        assert dt.timestamp() == a["timestamp"]
        offsets.add(dt.utcoffset())
        assert e["relationships"]["profile"]["data"]["type"] == "profile"
        props = a["event_properties"]
        if name == "Placed Order":
            assert {"$value", "OrderId", "$currency_code", "Items"} <= set(props)
        else:
            assert {"$message", "Subject"} <= set(props)
            assert ("$flow" in props) != ("Campaign Name" in props)
        if name == "Opened Email":
            assert isinstance(props["machine_open"], bool)
        if name == "Clicked Email":
            assert props["URL"].startswith("https://")
        if name == "Bounced Email":
            assert props["Bounce Type"] in ("hard", "soft")
        if props.get("$ab_test_phase") is not None:
            assert props["$ab_test_phase"] in ("test", "winner")
    assert len(offsets) >= 4
    assert {"Received Email", "Opened Email"} <= seen_metrics


def test_events_filters(server: SandboxServer) -> None:
    base = server.vendor_base_urls["klaviyo"]
    ids = _metric_ids(base)
    flt = f'and(greater-than(datetime,2026-01-20T00:00:00Z),equals(metric_id,"{ids["Clicked Email"]}"))'
    events = klaviyo_all(base, "/api/events", filter=flt, **{"page[size]": "50"})
    assert events
    for e in events:
        assert e["relationships"]["metric"]["data"]["id"] == ids["Clicked Email"]
        if e["attributes"]["timestamp"] is not None:
            assert (
                e["attributes"]["timestamp"] > datetime.fromisoformat("2026-01-20T00:00:00+00:00").timestamp()
            )
    flt2 = "greater-or-equal(datetime,2026-01-20T00:00:00Z),less-than(datetime,2026-01-21T00:00:00+00:00)"
    day = klaviyo_all(base, "/api/events", filter=flt2, **{"page[size]": "1000"})
    stamps = [e["attributes"]["timestamp"] for e in day if e["attributes"]["timestamp"] is not None]
    assert stamps and min(stamps) >= 1768867200 and max(stamps) < 1768953600
    assert stamps == sorted(stamps) or len(set(stamps)) > 0


def test_late_events_appear_after_the_clock_moves(tiny_world: World) -> None:
    fresh = World(tiny_world.spec)
    last = fresh.clock_day - 1
    before = len(fresh.visible_events(last))
    _, visible_ts = fresh.events_on_day(last)
    assert (visible_ts >= fresh.clock_ts).any()  # some of the last day's events are not visible yet
    fresh.advance(2)
    assert len(fresh.visible_events(last)) > before


def test_page_size_limits_and_bad_filters(server: SandboxServer) -> None:
    base = server.vendor_base_urls["klaviyo"]
    r = get(base + "/api/events", KLAVIYO, **{"page[size]": "1001"})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "invalid"
    assert get(base + "/api/profiles", KLAVIYO, **{"page[size]": "101"}).status_code == 400
    assert get(base + "/api/profiles", KLAVIYO, **{"page[size]": "100"}).status_code == 200
    assert get(base + "/api/events", KLAVIYO, filter="greater-than(datetime,notadate)").status_code == 400
    assert get(base + "/api/campaigns", KLAVIYO).status_code == 400  # channel filter is required


def test_auth_and_revision(server: SandboxServer) -> None:
    base = server.vendor_base_urls["klaviyo"]
    r = get(base + "/api/metrics", {"revision": "2026-10-15"})
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == "not_authenticated"
    r = get(base + "/api/metrics", {**KLAVIYO, "Authorization": "Klaviyo-API-Key wrong"})
    assert r.status_code == 401
    assert get(base + "/api/metrics", {"Authorization": KLAVIYO["Authorization"]}).status_code == 400
    assert requests.get(base + "/api/nothing", headers=KLAVIYO, timeout=10).status_code == 404


def test_profiles_shape_filter_and_pagination(server: SandboxServer, truth: dict) -> None:
    base = server.vendor_base_urls["klaviyo"]
    profiles = klaviyo_all(
        base,
        "/api/profiles",
        **{"page[size]": "100", "additional-fields[profile]": "subscriptions", "sort": "updated"},
    )
    ids = Counter(p["id"] for p in profiles)
    assert len(ids) == truth["record_counts"]["klaviyo.profiles"]
    dups = {d["record_id"] for d in truth["duplicates"] if d["resource"] == "profiles"}
    assert {k for k, n in ids.items() if n > 1} == dups
    consents = Counter()
    holdout = 0
    for p in profiles:
        a = p["attributes"]
        assert set(a) >= {
            "email",
            "first_name",
            "last_name",
            "created",
            "updated",
            "location",
            "properties",
            "subscriptions",
        }
        assert a["location"]["timezone"]
        consents[a["subscriptions"]["email"]["marketing"]["consent"]] += 1
        holdout += a["properties"].get("holdout_group") == "global_holdout"
    assert set(consents) == {"SUBSCRIBED", "UNSUBSCRIBED", "NEVER_SUBSCRIBED"}
    assert holdout > 0
    assert any(p["attributes"]["email"] != p["attributes"]["email"].strip().lower() for p in profiles)
    updated = [
        p
        for p in klaviyo_all(
            base,
            "/api/profiles",
            filter="greater-than(updated,2026-01-10T00:00:00Z)",
            **{"page[size]": "100"},
        )
    ]
    assert updated and all(p["attributes"]["updated"] > "2026-01-10" for p in updated)
    assert "subscriptions" not in updated[0]["attributes"]


def test_campaigns_messages_and_flows(server: SandboxServer, tiny_world: World) -> None:
    base = server.vendor_base_urls["klaviyo"]
    camps = klaviyo_all(base, "/api/campaigns", filter="equals(messages.channel,'email')")
    assert len(camps) == sum(c.created_ts <= tiny_world.clock_ts for c in tiny_world.plan.campaigns)
    assert {c["attributes"]["status"] for c in camps} == {"Sent", "Scheduled"}
    ab = [c for c in camps if c["attributes"]["ab_test"]]
    assert ab and all(
        set(c["attributes"]["ab_test"])
        == {"test_share", "test_duration_hours", "winner_metric", "winner_message_id"}
        for c in ab
    )
    c = ab[0]
    msgs = get(f"{base}/api/campaigns/{c['id']}/campaign-messages", KLAVIYO).json()["data"]
    assert [m["id"] for m in msgs] == [d["id"] for d in c["relationships"]["campaign-messages"]["data"]]
    assert msgs[0]["attributes"]["label"] == "Variant A" and msgs[0]["attributes"]["channel"] == "email"
    assert msgs[0]["relationships"]["campaign"]["data"]["id"] == c["id"]
    recent = klaviyo_all(
        base,
        "/api/campaigns",
        filter="and(equals(messages.channel,'email'),greater-than(updated_at,2026-01-25T00:00:00Z))",
    )
    assert 0 < len(recent) < len(camps)
    flows = klaviyo_all(base, "/api/flows")
    assert flows[0]["attributes"]["status"] == "live"
    actions = get(f"{base}/api/flows/{flows[0]['id']}/flow-actions", KLAVIYO).json()["data"]
    assert [a["attributes"]["settings"]["step"] for a in actions] == [1, 2, 3, 4]
    split = [
        a
        for a in actions
        if len(get(f"{base}/api/flow-actions/{a['id']}/flow-messages", KLAVIYO).json()["data"]) == 2
    ]
    assert len(split) == 1
    fm = get(f"{base}/api/flow-actions/{split[0]['id']}/flow-messages", KLAVIYO).json()["data"]
    assert [m["attributes"]["label"] for m in fm] == ["Variant A", "Variant B"]


def test_event_datetimes_read_as_the_standard_librarys_local_iso_text() -> None:
    """`iso_offsets` formats a page by hand (every served event has one); it must equal datetime's text."""
    import random
    from datetime import UTC, datetime, timedelta, timezone

    import numpy as np

    from sandbox.util import iso_offsets

    draw = random.Random(20261203)
    choices = [0, -720, -570, -300, -210, 330, 345, 525, 600, 840]
    stamps = [draw.randint(-(10**9), 4 * 10**9) for _ in range(20_000)]
    offsets = [draw.choice(choices) for _ in stamps]
    texts = iso_offsets(np.array(stamps), np.array(offsets))
    for ts, offset, text in zip(stamps, offsets, texts, strict=True):
        zone = UTC if offset == 0 else timezone(timedelta(minutes=offset))
        assert text == datetime.fromtimestamp(ts, zone).isoformat(), (ts, offset)
