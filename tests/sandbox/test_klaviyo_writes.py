"""Klaviyo writes in the sandbox: revision policy, winner rollout campaigns, profile properties, flow status."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import requests
from sandbox_test_helpers import KLAVIYO, get, klaviyo_all

from sandbox import SandboxServer, World, WorldSpec
from sandbox.world.email_plan import Campaign

DAY = 86400
# sha256 of every served events/profiles/campaigns/flows record of the default tiny world,
# recomputed when contacts began to follow daylight saving (their wall clocks): no write means no change.
DEFAULT_TINY_DIGEST = "ee071f177d1c3b67962748079a9cbe4cdaf9c35c55cf25e117b6eddbbc375d74"


def _post(url: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(url, headers=KLAVIYO, data=json.dumps(body), timeout=30)


def _patch(url: str, body: dict[str, Any]) -> requests.Response:
    return requests.patch(url, headers=KLAVIYO, data=json.dumps(body), timeout=30)


def _rollout_body(list_id: str, subject: str, label: str = "Variant B") -> dict[str, Any]:
    content = {"subject": subject, "preview_text": "p", "from_email": "news@x.example", "from_label": "X"}
    message = {
        "type": "campaign-message",
        "attributes": {"definition": {"channel": "email", "label": label, "content": content}},
    }
    return {
        "data": {
            "type": "campaign",
            "attributes": {
                "name": "Loopwise rollout",
                "audiences": {"included": [list_id], "excluded": []},
                "send_strategy": {
                    "method": "static",
                    "datetime": "2026-02-04T10:00:00+00:00",
                    "options": {"is_local": False},
                },
                "campaign-messages": {"data": [message]},
            },
        }
    }


def _pending_ab(world: World) -> Campaign:
    """An A/B test (not A/A) sent within five days whose remainder is not rolled out yet."""
    return next(
        c
        for c in world.plan.campaigns
        if c.is_ab and not c.is_aa and c.rollout_ts > world.clock_ts and c.send_ts < world.clock_ts + 5 * DAY
    )


def test_retired_revisions_are_refused(server: SandboxServer) -> None:
    base = server.vendor_base_urls["klaviyo"]
    r = get(base + "/api/metrics", {**KLAVIYO, "revision": "2024-10-15"})
    err = r.json()["errors"][0]
    assert (
        r.status_code == 400
        and err["code"] == "invalid_revision"
        and err["source"] == {"parameter": "revision"}
    )
    assert (
        get(base + "/api/metrics", {**KLAVIYO, "revision": "2024-13-45"}).json()["errors"][0]["code"]
        == "invalid"
    )
    assert get(base + "/api/metrics", {**KLAVIYO, "revision": "2025-01-15"}).status_code == 200
    assert get(base + "/api/metrics", {**KLAVIYO, "revision": "2026-10-15.pre"}).status_code == 200


def test_default_world_is_byte_identical(server: SandboxServer) -> None:
    base = server.vendor_base_urls["klaviyo"]
    data = {
        "events": klaviyo_all(base, "/api/events", **{"page[size]": "1000"}),
        "profiles": klaviyo_all(base, "/api/profiles", **{"page[size]": "100"}),
        "campaigns": klaviyo_all(
            base, "/api/campaigns", filter="equals(messages.channel,'email')", **{"page[size]": "100"}
        ),
        "flows": klaviyo_all(base, "/api/flows"),
    }
    assert hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest() == DEFAULT_TINY_DIGEST


def test_rollout_campaign_sends_the_winner_to_the_remainder() -> None:
    spec = WorldSpec.preset("tiny", clean=True)
    world, control = World(spec), World(spec)
    camp = _pending_ab(world)
    auto = control.campaign_winner(camp)
    other = world.plan.messages[next(m for m in camp.messages if m != auto)]
    list_id = f"ab-remainder-{camp.campaign_id}"
    with SandboxServer(world) as srv:
        base = srv.vendor_base_urls["klaviyo"]
        lst = get(f"{base}/api/lists/{list_id}", KLAVIYO)
        assert lst.status_code == 200 and lst.json()["data"]["type"] == "list"
        assert get(f"{base}/api/lists/ab-remainder-nope", KLAVIYO).status_code == 404
        bad = _post(base + "/api/campaigns", _rollout_body(list_id, "not a subject of this test"))
        assert bad.status_code == 400 and "not a variant" in bad.json()["errors"][0]["detail"]
        assert (
            _post(base + "/api/campaigns", _rollout_body("ab-remainder-nope", other.subject)).status_code
            == 400
        )
        assert world.writes == []

        r = _post(base + "/api/campaigns", _rollout_body(list_id, other.subject, other.label))
        assert r.status_code == 201, r.text
        created = r.json()["data"]["id"]
        assert r.json()["data"]["attributes"]["status"] == "Draft"
        assert world.manual_winner(camp) is None  # a draft changes nothing
        listed = klaviyo_all(base, "/api/campaigns", filter="equals(messages.channel,'email')")
        assert created not in {c["id"] for c in listed}  # ingestion sees no new campaign
        email = "equals(messages.channel,'email')"
        named = klaviyo_all(base, "/api/campaigns", filter=f"{email},contains(name,'Loopwise rollout')")
        assert [c["id"] for c in named] == [created] and named[0]["attributes"]["status"] == "Draft"
        drafts = klaviyo_all(base, "/api/campaigns", filter=f"{email},any(status,[\"Draft\",'Queued'])")
        assert [c["id"] for c in drafts] == [created]
        assert klaviyo_all(base, "/api/campaigns", filter=f"{email},contains(name,'no such name')") == []
        exact = get(f"{base}/api/campaigns", KLAVIYO, filter=f"{email},equals(name,'Loopwise rollout')")
        assert exact.status_code == 400  # Klaviyo filters campaign names with contains only
        assert "'equals' is not a valid operator for 'name'" in exact.json()["errors"][0]["detail"]

        job = {"data": {"type": "campaign-send-job", "id": created}}
        sent = _post(base + "/api/campaign-send-jobs", job)
        assert sent.status_code == 202, sent.text
        original = get(f"{base}/api/campaigns/{camp.campaign_id}", KLAVIYO).json()["data"]
        assert original["attributes"]["ab_test"]["winner_message_id"] == other.message_id
        assert (
            get(f"{base}/api/campaigns/{created}", KLAVIYO).json()["data"]["attributes"]["status"]
            == "Scheduled"
        )
        assert _post(base + "/api/campaign-send-jobs", job).status_code == 400  # one send per campaign
        again = _post(base + "/api/campaigns", _rollout_body(list_id, other.subject, other.label))
        assert again.status_code == 400 and "rolled out" in again.json()["errors"][0]["detail"]
        assert [w["action"] for w in world.writes] == [
            "create_campaign",
            "set_campaign_winner",
            "send_campaign",
        ]
        for w in (world, control):
            w.advance(7)
        assert (
            get(f"{base}/api/campaigns/{created}", KLAVIYO).json()["data"]["attributes"]["status"] == "Sent"
        )
    day = world.day_of(camp.rollout_ts)

    def rolled(w: World) -> set[int]:
        b = w.origin_day(day)
        return set(b.message[b.phase == 2].tolist())

    assert rolled(world) == {other.idx} and rolled(control) == {auto}
    replay = World(spec, writes=world.writes, advanced_days=7)
    assert replay.created_campaign(created) == world.created_campaign(created)
    assert rolled(replay) == {other.idx}


def test_profile_properties_merge_and_read_back() -> None:
    spec = WorldSpec.preset("tiny")
    world = World(spec)
    with SandboxServer(world) as srv:
        base = srv.vendor_base_urls["klaviyo"]
        pid = klaviyo_all(base, "/api/profiles", **{"page[size]": "100"})[5]["id"]
        url = f"{base}/api/profiles/{pid}"

        def patch(props: Any) -> requests.Response:
            return _patch(url, {"data": {"type": "profile", "id": pid, "attributes": {"properties": props}}})

        assert patch({"loopwise_send_hour": 14, "tier": "a"}).status_code == 200
        r = patch({"loopwise_send_hour": 9})
        props = r.json()["data"]["attributes"]["properties"]
        assert props["loopwise_send_hour"] == 9 and props["tier"] == "a" and "signup_source" in props
        assert get(url, KLAVIYO).json()["data"]["attributes"]["properties"] == props
        listed = {p["id"]: p for p in klaviyo_all(base, "/api/profiles", **{"page[size]": "100"})}
        assert listed[pid]["attributes"]["properties"] == props
        assert patch([1]).status_code == 400 and patch({}).status_code == 400
        wrong = _patch(url, {"data": {"type": "profile", "id": pid, "attributes": {"email": "x@y.z"}}})
        assert wrong.status_code == 400
        assert (
            _patch(
                f"{base}/api/profiles/nope",
                {"data": {"type": "profile", "id": "nope", "attributes": {"properties": {"a": 1}}}},
            ).status_code
            == 404
        )
    assert [w["action"] for w in world.writes] == ["set_profile_property"] * 2
    assert World(spec, writes=world.writes).profile_properties(pid) == {"loopwise_send_hour": 9, "tier": "a"}


def test_flow_set_to_draft_sends_nothing_from_the_next_day() -> None:
    spec = WorldSpec.preset("tiny", clean=True)
    world, control = World(spec), World(spec)
    day = world.clock_day  # the first day the API has not served yet
    b = control.origin_day(day)
    messages = {f.flow_id: {m for s in f.steps for m in s.messages} for f in world.plan.flows}
    sends = {fid: int(np.isin(b.message, list(ms)).sum()) for fid, ms in messages.items()}
    flow_id = max(sends, key=lambda f: sends[f])
    assert sends[flow_id] > 0
    mine = list(messages[flow_id])
    with SandboxServer(world) as srv:
        base = srv.vendor_base_urls["klaviyo"]
        url = f"{base}/api/flows/{flow_id}"
        body = {"data": {"type": "flow", "id": flow_id, "attributes": {"status": "draft"}}}
        r = _patch(url, body)
        assert r.status_code == 200 and r.json()["data"]["attributes"]["status"] == "draft"
        assert {f["id"]: f["attributes"]["status"] for f in klaviyo_all(base, "/api/flows")}[
            flow_id
        ] == "draft"
        body["data"]["attributes"]["status"] = "paused"
        assert _patch(url, body).status_code == 400
        for w in (world, control):
            w.advance(1)
        body["data"]["attributes"]["status"] = "live"
        assert _patch(url, body).status_code == 200
        assert get(url, KLAVIYO).json()["data"]["attributes"]["status"] == "live"
        for w in (world, control):
            w.advance(1)
    assert np.array_equal(world.origin_day(day - 1).key, control.origin_day(day - 1).key)  # history kept
    drafted = world.origin_day(day)
    assert not np.isin(drafted.message, mine).any()
    others = ~np.isin(b.message, mine)
    assert np.array_equal(drafted.key, b.key[others])  # other flows and campaigns unchanged
    assert np.array_equal(world.origin_day(day + 1).key, control.origin_day(day + 1).key)  # live again
