"""Per-contact send times through Klaviyo's routes: hourly lists, bulk imports into them, a campaign
whose audience excludes the moved contacts, and clones sent in each recipient's local time zone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from sandbox_test_helpers import KLAVIYO, klaviyo_all

from sandbox import SandboxServer, World, WorldSpec, ids
from sandbox.truth import build_truth
from sandbox.util import iso_utc
from sandbox.world import events as ev
from sandbox.world.contacts import utc_offset_minutes_at
from sandbox.world.email_plan import Campaign

DAY = 86400
ARM = "lw_send_hour"
EMAIL = "equals(messages.channel,'email')"


def _upcoming(world: World) -> Campaign:
    """A visible one-message campaign sent more than a day after the clock (the world advanced to one)."""

    def find() -> Campaign | None:
        return next(
            (
                c
                for c in world.plan.campaigns
                if c.created_ts <= world.clock_ts and c.send_ts > world.clock_ts + DAY and not c.is_ab
            ),
            None,
        )

    while find() is None:
        world.advance(1)
    found = find()
    assert found is not None
    return found


def _world(preset: str = "tiny") -> World:
    return World(WorldSpec.preset(preset, clean=True))


@pytest.fixture
def world() -> World:
    return _world()


@pytest.fixture
def server(world: World) -> Iterator[SandboxServer]:
    with SandboxServer(world) as srv:
        yield srv


def _send(server: SandboxServer, method: str, path: str, body: Any = None) -> requests.Response:
    data = None if body is None else json.dumps(body)
    url = server.vendor_base_urls["klaviyo"] + path
    return requests.request(method, url, headers=KLAVIYO, data=data, timeout=30)


def _ok(r: requests.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return r.json()["data"]


def _error(r: requests.Response, detail: str = "", pointer: str | None = None) -> dict[str, Any]:
    assert r.status_code == 400, r.text
    err = r.json()["errors"][0]
    assert detail in err["detail"], err
    if pointer is not None:
        assert err["source"] == {"pointer": pointer}, err
    return err


def _new_list(server: SandboxServer, name: str) -> str:
    return _ok(
        _send(server, "POST", "/api/lists", {"data": {"type": "list", "attributes": {"name": name}}}), 201
    )["id"]


def _job(profile_ids: list[str], list_id: str, **properties: Any) -> dict[str, Any]:
    profiles = [{"type": "profile", "id": p, "attributes": {"properties": properties}} for p in profile_ids]
    return {
        "data": {
            "type": "profile-bulk-import-job",
            "attributes": {"profiles": {"data": profiles}},
            "relationships": {"lists": {"data": [{"type": "list", "id": list_id}]}},
        }
    }


def _import(server: SandboxServer, profile_ids: list[str], list_id: str, **properties: Any) -> None:
    job = _ok(
        _send(server, "POST", "/api/profile-bulk-import-jobs", _job(profile_ids, list_id, **properties)), 202
    )
    assert job["relationships"]["lists"]["data"] == [{"type": "list", "id": list_id}]
    path = f"/api/profile-bulk-import-jobs/{job['id']}"
    while (done := _ok(_send(server, "GET", path), 200))["attributes"]["status"] != "complete":
        pass
    assert done["attributes"]["failed_count"] == 0


def _audiences(campaign_id: str, included: list[str], excluded: list[str]) -> dict[str, Any]:
    attributes = {"audiences": {"included": included, "excluded": excluded}}
    return {"data": {"type": "campaign", "id": campaign_id, "attributes": attributes}}


def _local(campaign_id: str, list_id: str, wall: str, past: bool = False) -> dict[str, Any]:
    attributes = {
        "audiences": {"included": [list_id]},
        "send_strategy": {
            "method": "static",
            "datetime": wall,
            "options": {"is_local": True, "send_past_recipients_immediately": past},
        },
    }
    return {"data": {"type": "campaign", "id": campaign_id, "attributes": attributes}}


def _clone(server: SandboxServer, campaign_id: str, name: str) -> requests.Response:
    body = {"data": {"type": "campaign", "id": campaign_id, "attributes": {"new_name": name}}}
    return _send(server, "POST", "/api/campaign-clone", body)


def _send_job(server: SandboxServer, campaign_id: str) -> requests.Response:
    return _send(
        server, "POST", "/api/campaign-send-jobs", {"data": {"type": "campaign-send-job", "id": campaign_id}}
    )


def _wall(world: World, camp: Campaign, hour: int) -> str:
    """The campaign's send day at ``hour``:00 as a wall-clock time (no offset)."""
    return iso_utc(world.start_ts + world.day_of(camp.send_ts) * DAY + hour * 3600)[:19]


def _visible_audience(world: World, camp: Campaign) -> np.ndarray:
    """The campaign's recipients whose profiles exist now (Loopwise can only move those)."""
    who, _ = ev.campaign_audience(world.email_ctx, camp)
    return who[world.contacts.created_ts[who] < world.clock_ts]


def _template(subject: str) -> str:
    return (
        f"{{% if person|lookup:'{ARM}' == 'early' %}}Quick read: {subject}{{% else %}}{subject}{{% endif %}}"
    )


def _events(server: SandboxServer, world: World, camp: Campaign) -> list[dict[str, Any]]:
    lo, hi = iso_utc(camp.send_ts - DAY), iso_utc(camp.send_ts + 3 * DAY)
    flt = f"greater-or-equal(datetime,{lo}),less-than(datetime,{hi})"
    return klaviyo_all(
        server.vendor_base_urls["klaviyo"], "/api/events", filter=flt, **{"page[size]": "1000"}
    )


# ---- the whole flow, over HTTP ---------------------------------------------------------------------
def test_hourly_child_sends_reach_moved_contacts_at_their_local_hour(
    world: World, server: SandboxServer
) -> None:
    camp = _upcoming(world)
    seed = world.spec.seed
    own = world.plan.messages[camp.messages[0]]
    # Loopwise's subject template is on C before it clones: the clones copy it
    template = _template(own.subject)
    body = {"data": {"type": "campaign-message", "id": own.message_id}}
    body["data"]["attributes"] = {"definition": {"content": {"subject": template}}}
    _ok(_send(server, "PATCH", f"/api/campaign-messages/{own.message_id}", body), 200)

    audience = _visible_audience(world, camp)
    hours = {9: audience[0::3], 20: audience[1::3]}  # a third stays with C
    moved = np.concatenate(list(hours.values()))
    pid = {int(i): ids.profile_id(seed, int(i)) for i in audience}
    lists = {h: _new_list(server, f"Loopwise send time · {camp.name} · {h:02d}:00") for h in hours}
    moved_list = _new_list(server, f"Loopwise send time · {camp.name} · moved")
    shown = _ok(_send(server, "GET", f"/api/lists/{moved_list}"), 200)
    assert shown["attributes"]["name"].endswith("moved") and shown["type"] == "list"
    for h, who in hours.items():
        _import(server, [pid[int(i)] for i in who], lists[h], **{ARM: "early" if h == 9 else "late"})
    _import(server, [pid[int(i)] for i in moved], moved_list)

    c = _ok(_send(server, "GET", f"/api/campaigns/{camp.campaign_id}"), 200)
    included = c["attributes"]["audiences"]["included"]
    patched = _ok(
        _send(
            server,
            "PATCH",
            f"/api/campaigns/{camp.campaign_id}",
            _audiences(camp.campaign_id, included, [moved_list]),
        ),
        200,
    )
    assert patched["attributes"]["audiences"] == {"included": included, "excluded": [moved_list]}
    assert _ok(_send(server, "GET", f"/api/lists/{included[0]}"), 200)["type"] == "list"

    clones = {}
    for h in hours:
        made = _ok(_clone(server, camp.campaign_id, f"{camp.name} · {h:02d}:00"), 201)
        attrs = made["attributes"]
        assert attrs["status"] == "Draft" and attrs["name"] == f"{camp.name} · {h:02d}:00"
        assert attrs["audiences"] == {"included": included, "excluded": [moved_list]}  # C's, at clone time
        message_id = made["relationships"]["campaign-messages"]["data"][0]["id"]
        assert message_id != own.message_id
        msg = _ok(_send(server, "GET", f"/api/campaign-messages/{message_id}"), 200)
        assert msg["attributes"]["content"]["subject"] == template
        assert msg["relationships"]["campaign"]["data"]["id"] == made["id"]
        updated = _ok(
            _send(
                server,
                "PATCH",
                f"/api/campaigns/{made['id']}",
                _local(made["id"], lists[h], _wall(world, camp, h)),
            ),
            200,
        )
        assert updated["attributes"]["audiences"] == {"included": [lists[h]], "excluded": []}
        assert updated["attributes"]["send_strategy"]["options"]["is_local"] is True
        assert _send_job(server, made["id"]).status_code == 202
        scheduled = _ok(_send(server, "GET", f"/api/campaigns/{made['id']}"), 200)["attributes"]
        assert scheduled["status"] == "Scheduled" and scheduled["send_time"] is not None
        clones[h] = (made["id"], message_id)
    never = _ok(_clone(server, camp.campaign_id, "never scheduled"), 201)  # a draft never sends
    never_message = never["relationships"]["campaign-messages"]["data"][0]["id"]

    listed = {
        c["id"]: c for c in klaviyo_all(server.vendor_base_urls["klaviyo"], "/api/campaigns", filter=EMAIL)
    }
    for clone_id, message_id in clones.values():
        assert listed[clone_id]["relationships"]["campaign-messages"]["data"] == [
            {"type": "campaign-message", "id": message_id}
        ]
        messages = _ok(_send(server, "GET", f"/api/campaigns/{clone_id}/campaign-messages"), 200)
        assert [m["id"] for m in messages] == [message_id]
    assert listed[never["id"]]["attributes"]["status"] == "Draft"
    assert listed[camp.campaign_id]["attributes"]["audiences"]["excluded"] == [moved_list]

    world.advance(world.day_of(camp.send_ts) - world.clock_day + 4)
    for clone_id, _ in clones.values():
        assert _ok(_send(server, "GET", f"/api/campaigns/{clone_id}"), 200)["attributes"]["status"] == "Sent"
    events = _events(server, world, camp)
    received = [
        e for e in events if e["relationships"]["metric"]["data"]["id"] == ids.metric_id(seed, ev.RECEIVED)
    ]
    by_message: dict[str, dict[str, dict[str, Any]]] = {}
    for e in received:
        props = e["attributes"]["event_properties"]
        by_message.setdefault(props["$message"], {})[e["relationships"]["profile"]["data"]["id"]] = e
    assert never_message not in {e["attributes"]["event_properties"].get("$message") for e in events}
    got_c = by_message[own.message_id]
    moved_ids = {pid[int(i)] for i in moved}
    assert not moved_ids & set(got_c)  # moved contacts never get C ...
    stayed = {pid[int(i)] for i in audience} - moved_ids
    assert len(set(got_c) & stayed) > 0.9 * len(stayed)
    for e in got_c.values():  # ... the others get it at C's time
        assert camp.send_ts <= e["attributes"]["timestamp"] < camp.send_ts + 600
    for h, who in hours.items():
        clone_id, message_id = clones[h]
        got = by_message[message_id]
        expected = {pid[int(i)] for i in who}
        assert set(got) <= expected and len(got) > 0.9 * len(expected)
        for profile_id, e in got.items():
            local = datetime.fromisoformat(e["attributes"]["datetime"])  # the profile's own offset
            assert (local.hour, local.minute // 10) == (h, 0), (h, e["attributes"]["datetime"])
            i = world.profile_index(profile_id)
            assert (
                i is not None
                and local.utcoffset().total_seconds()
                == utc_offset_minutes_at(world.contacts.tz[i], e["attributes"]["timestamp"]) * 60
            )
            props = e["attributes"]["event_properties"]
            assert props["Subject"] == (f"Quick read: {own.subject}" if h == 9 else own.subject)
            assert props["Campaign Name"] == f"{camp.name} · {h:02d}:00"
        assert not set(got) & set(by_message[clones[20 if h == 9 else 9][1]])

    truth = build_truth(world, include_records=False)["campaign_clones"]
    assert {t["campaign_id"] for t in truth} == {*(c for c, _ in clones.values()), never["id"]}
    sent = next(t for t in truth if t["campaign_id"] == clones[9][0])
    assert sent["parent_campaign_id"] == camp.campaign_id and sent["message_id"] == clones[9][1]
    assert sent["recipients"] == len(by_message[clones[9][1]]) + sum(
        1
        for e in events
        if e["relationships"]["metric"]["data"]["id"] == ids.metric_id(seed, ev.BOUNCED)
        and e["attributes"]["event_properties"].get("$message") == clones[9][1]
    )


# ---- the world's own probabilities: the preferred hour opens more ---------------------------------
def test_a_clone_at_the_preferred_local_hour_opens_more_than_at_a_far_hour() -> None:
    world = _world("demo")
    camp = _upcoming(world)
    c = world.contacts
    who = _visible_audience(world, camp)
    late = camp.send_ts >= world.email_ctx.drift_ts
    pref = np.round(np.where(late, c.pref_hour_late[who], c.pref_hour[who])).astype(int) % 24
    near = np.arange(len(who)) % 2 == 0
    target = np.where(near, pref, (pref + 12) % 24)  # half at their own hour, half twelve hours off
    moved = world.create_list("moved")
    world.import_profiles([{"id": ids.profile_id(world.spec.seed, int(i))} for i in who], moved)
    world.update_campaign(
        camp.campaign_id, {"audiences": {"included": [world.main_list_id], "excluded": [moved]}}
    )
    clone_messages = []
    for h in range(24):
        members = who[target == h]
        if not len(members):
            continue
        hour_list = world.create_list(f"{h:02d}:00")
        world.import_profiles([{"id": ids.profile_id(world.spec.seed, int(i))} for i in members], hour_list)
        clone_id = world.clone_campaign(camp.campaign_id, f"{h:02d}:00")
        strategy = {"method": "static", "datetime": _wall(world, camp, h), "options": {"is_local": True}}
        world.update_campaign(clone_id, {"audiences": {"included": [hour_list]}, "send_strategy": strategy})
        world.schedule_clone(clone_id)
        clone = world.clone(clone_id)
        assert clone is not None
        clone_messages.append(clone.message.idx)
    world.advance(world.day_of(camp.send_ts) - world.clock_day + 4)
    day = world.day_of(camp.send_ts)
    b = ev.EventBatch.concat([world.origin_day(d) for d in range(day - 1, day + 2)])
    mine = np.isin(b.message, clone_messages)
    received = b.contact[mine & (b.metric == ev.RECEIVED)]
    human = b.contact[mine & (b.metric == ev.OPENED) & (b.aux == 0)]
    ts = {
        int(k): int(t)
        for k, t in zip(
            b.contact[mine & (b.metric == ev.RECEIVED)], b.ts[mine & (b.metric == ev.RECEIVED)], strict=True
        )
    }
    assert len(received) == len(set(received.tolist()))  # one clone each
    position = {int(i): k for k, i in enumerate(who)}
    rates, expected, sizes = {}, {}, {}
    for name, group in (("near", near), ("far", ~near)):
        got = np.array([i for i in received.tolist() if group[position[i]]])
        opened = np.isin(got, human)
        send_ts = np.array([ts[int(i)] for i in got])
        p_open, _, _ = ev.send_probabilities(
            world.email_ctx, got, send_ts, world.plan.messages[camp.messages[0]], camp.content
        )
        rates[name], expected[name], sizes[name] = opened.mean(), p_open.mean(), len(got)
        sd = np.sqrt((p_open * (1 - p_open)).sum()) / len(got)
        assert abs(rates[name] - expected[name]) < 4 * sd + 0.01, (name, rates, expected)
    assert expected["near"] > 1.5 * expected["far"]  # the world's planted preference
    assert rates["near"] > rates["far"] + 0.5 * (expected["near"] - expected["far"]), (rates, expected, sizes)


# ---- refusals ----------------------------------------------------------------------------------------
def test_refused_writes_change_nothing(world: World, server: SandboxServer) -> None:
    camp = _upcoming(world)
    sent = next(p for p in world.plan.campaigns if p.send_ts <= world.clock_ts and not p.is_ab)
    hour = _new_list(server, "09:00")
    writes = len(world.writes)

    assert (
        _send(
            server, "POST", "/api/lists", {"data": {"type": "list", "attributes": {"name": " "}}}
        ).status_code
        == 400
    )
    _error(_send(server, "POST", "/api/lists", {"data": {"type": "lists"}}), "data.type", "/data/type")
    # bulk imports: unknown list, two lists, a malformed relationship
    pid = ids.profile_id(world.spec.seed, int(_visible_audience(world, camp)[0]))
    _error(
        _send(server, "POST", "/api/profile-bulk-import-jobs", _job([pid], "nolist")),
        "list nolist not found",
        "/data/relationships/lists/data/0/id",
    )
    two = _job([pid], hour)
    two["data"]["relationships"]["lists"]["data"].append({"type": "list", "id": hour})
    _error(_send(server, "POST", "/api/profile-bulk-import-jobs", two), "at most one list")
    bad = _job([pid], hour)
    bad["data"]["relationships"]["lists"]["data"] = [{"type": "segment", "id": hour}]
    _error(
        _send(server, "POST", "/api/profile-bulk-import-jobs", bad),
        "type: 'list'",
        "/data/relationships/lists/data/0",
    )
    # campaign audiences: unknown list, C's own included list changed, other attributes, malformed
    main = world.main_list_id
    url = f"/api/campaigns/{camp.campaign_id}"
    _error(
        _send(server, "PATCH", url, _audiences(camp.campaign_id, [main], ["nolist"])),
        "list nolist not found",
        "/data/attributes/audiences/excluded/0",
    )
    _error(
        _send(server, "PATCH", url, _audiences(camp.campaign_id, [hour], [])),
        "stays",
        "/data/attributes/audiences/included",
    )
    renamed = {"data": {"type": "campaign", "id": camp.campaign_id, "attributes": {"name": "x"}}}
    _error(_send(server, "PATCH", url, renamed), "only attributes.audiences", "/data/attributes/name")
    _error(
        _send(server, "PATCH", url, {"data": {"type": "campaign", "id": "other", "attributes": {}}}),
        "match",
        "/data/id",
    )
    _error(_send(server, "PATCH", url, {"nodata": 1}), "JSON:API", "/data")
    assert _send(server, "PATCH", "/api/campaigns/nope", _audiences("nope", [main], [])).status_code == 404
    _error(
        _send(
            server,
            "PATCH",
            f"/api/campaigns/{sent.campaign_id}",
            _audiences(sent.campaign_id, [main], [hour]),
        ),
        "already been sent",
    )
    # clones: unknown, sent, malformed
    assert _clone(server, "nope", "x").status_code == 404
    _error(_clone(server, sent.campaign_id, "x"), "already been sent", "/data/id")
    _error(
        _send(server, "POST", "/api/campaign-clone", {"data": {"type": "campaign"}}), "data.id", "/data/id"
    )
    _error(
        _send(
            server,
            "POST",
            "/api/campaign-clone",
            {"data": {"type": "campaign", "id": camp.campaign_id, "attributes": {"name": "x"}}},
        ),
        "new_name",
        "/data/attributes",
    )
    ab = next(
        (p for p in world.plan.campaigns if p.is_ab and p.created_ts <= world.clock_ts < p.send_ts), None
    )
    if ab is not None:
        _error(_clone(server, ab.campaign_id, "x"), "A/B test")
    assert _send_job(server, "nope").status_code == 404
    _error(_send_job(server, camp.campaign_id), "scheduled by its plan")
    assert len(world.writes) == writes

    clone_id = _ok(_clone(server, camp.campaign_id, "09:00"), 201)["id"]
    curl = f"/api/campaigns/{clone_id}"
    _error(
        _send(server, "PATCH", curl, _audiences(clone_id, [], [])),
        "at least one list",
        "/data/attributes/audiences/included",
    )
    _error(
        _send(server, "PATCH", curl, _audiences(clone_id, ["nolist"], [])),
        "not found",
        "/data/attributes/audiences/included/0",
    )
    wrong = _local(clone_id, hour, "tomorrow at nine")
    _error(_send(server, "PATCH", curl, wrong), "ISO 8601", "/data/attributes/send_strategy/datetime")
    wrong = _local(clone_id, hour, _wall(world, camp, 9))
    wrong["data"]["attributes"]["send_strategy"]["options"]["is_local"] = "yes"
    _error(_send(server, "PATCH", curl, wrong), "boolean", "/data/attributes/send_strategy/options/is_local")
    # a local send whose earliest recipient moment is past: refused, unless sent to them right away
    past = iso_utc(world.clock_ts + 6 * 3600)[:19]  # 06:00 UTC tomorrow... is yesterday evening in Sydney
    _ok(_send(server, "PATCH", curl, _local(clone_id, main, past)), 200)
    _error(_send_job(server, clone_id), "is past", "/data/id")
    assert world.clone(clone_id).schedule is None  # type: ignore[union-attr]
    _ok(_send(server, "PATCH", curl, _local(clone_id, main, past, past=True)), 200)
    assert _send_job(server, clone_id).status_code == 202
    send = world.clone_send(world.clone(clone_id))  # type: ignore[arg-type]
    assert send is not None and send.ts.min() == world.clock_ts and len(send.who)
    _error(_send_job(server, clone_id), "already been scheduled")
    assert _ok(_send(server, "GET", curl), 200)["attributes"]["status"] == "Sent"  # sending from now on
    _error(_send(server, "PATCH", curl, _local(clone_id, hour, _wall(world, camp, 9))), "has been sent")
    made = _ok(_clone(server, camp.campaign_id, "later"), 201)
    later, message_id = made["id"], made["relationships"]["campaign-messages"]["data"][0]["id"]
    lurl = f"/api/campaigns/{later}"
    _ok(_send(server, "PATCH", lurl, _local(later, hour, _wall(world, camp, 9))), 200)
    subject = {"data": {"type": "campaign-message", "id": message_id}}
    subject["data"]["attributes"] = {"definition": {"content": {"subject": "Just for 09:00"}}}
    patched = _ok(_send(server, "PATCH", f"/api/campaign-messages/{message_id}", subject), 200)
    assert patched["attributes"]["content"]["subject"] == "Just for 09:00"
    nonlocal_past = _local(later, hour, _wall(world, camp, 9), past=True)
    nonlocal_past["data"]["attributes"]["send_strategy"]["options"]["is_local"] = False
    _error(_send(server, "PATCH", lurl, nonlocal_past), "local sends only")
    assert _send_job(server, later).status_code == 202
    _error(_send(server, "PATCH", f"/api/campaign-messages/{message_id}", subject), "has been scheduled")
    assert _ok(_send(server, "GET", lurl), 200)["attributes"]["status"] == "Scheduled"
    _error(_send(server, "PATCH", lurl, _local(later, hour, _wall(world, camp, 10))), "has been scheduled")
    world.advance(world.day_of(camp.send_ts) - world.clock_day + 1)
    assert _ok(_send(server, "GET", lurl), 200)["attributes"]["status"] == "Sent"
    _error(_send(server, "PATCH", lurl, _local(later, hour, _wall(world, camp, 9))), "has been sent")
    _error(_send(server, "PATCH", url, _audiences(camp.campaign_id, [main], [])), "already been sent")
    _error(_clone(server, camp.campaign_id, "too late"), "already been sent")


# ---- filters, state ------------------------------------------------------------------------------
def test_campaign_filters_and_state_round_trip(world: World, server: SandboxServer, tmp_path: Path) -> None:
    camp = _upcoming(world)
    base = server.vendor_base_urls["klaviyo"]
    audience = _visible_audience(world, camp)
    hour, moved = _new_list(server, "Loopwise send time · 14:00"), _new_list(server, "moved")
    chosen = [ids.profile_id(world.spec.seed, int(i)) for i in audience[::2]]
    _import(server, chosen, hour)
    _import(server, chosen, moved)
    url = f"/api/campaigns/{camp.campaign_id}"
    _ok(_send(server, "PATCH", url, _audiences(camp.campaign_id, [world.main_list_id], [moved])), 200)
    clone_id = _ok(_clone(server, camp.campaign_id, "Loopwise send time · 14:00"), 201)["id"]
    draft_id = _ok(_clone(server, camp.campaign_id, "Loopwise draft"), 201)["id"]
    _ok(
        _send(server, "PATCH", f"/api/campaigns/{clone_id}", _local(clone_id, hour, _wall(world, camp, 14))),
        200,
    )
    assert _send_job(server, clone_id).status_code == 202

    named = klaviyo_all(base, "/api/campaigns", filter=f"{EMAIL},contains(name,'Loopwise send time')")
    assert [c["id"] for c in named] == [clone_id]
    drafts = klaviyo_all(base, "/api/campaigns", filter=f'{EMAIL},any(status,["Draft"])')
    assert [c["id"] for c in drafts] == [draft_id]
    scheduled = klaviyo_all(base, "/api/campaigns", filter=f"{EMAIL},equals(status,'Scheduled')")
    assert clone_id in {c["id"] for c in scheduled}
    by_id = klaviyo_all(base, "/api/campaigns", filter=f"{EMAIL},any(id,['{clone_id}','{draft_id}'])")
    assert {c["id"] for c in by_id} == {clone_id, draft_id}
    now = iso_utc(world.clock_ts)
    after = klaviyo_all(base, "/api/campaigns", filter=f"{EMAIL},greater-than(send_time,{now})")
    assert clone_id in {c["id"] for c in after} and draft_id not in {c["id"] for c in after}
    ordered = klaviyo_all(base, "/api/campaigns", filter=EMAIL, sort="updated_at")
    stamps = [c["attributes"]["updated_at"] for c in ordered]
    assert stamps == sorted(stamps) and {clone_id, draft_id} <= {c["id"] for c in ordered}

    saved = world.save_state(tmp_path)
    world.advance(world.day_of(camp.send_ts) - world.clock_day + 4)
    replay = World.load_state(saved)
    replay.advance(world.advanced_days - replay.advanced_days)
    assert replay.writes == world.writes
    day = world.day_of(camp.send_ts)
    clone = replay.clone(clone_id)
    assert clone is not None and clone.schedule is not None
    for d in range(day - 1, day + 3):
        a, b = world.origin_day(d), replay.origin_day(d)
        assert np.array_equal(a.key, b.key) and np.array_equal(a.ts, b.ts)
        assert np.array_equal(a.message, b.message) and np.array_equal(a.subject, b.subject)
    assert (world.origin_day(day).message == clone.message.idx).any()
    with SandboxServer(replay) as again:
        for path in (f"/api/campaigns/{clone_id}", url, f"/api/lists/{hour}", f"/api/campaigns/{draft_id}"):
            assert _ok(_send(again, "GET", path), 200) == _ok(_send(server, "GET", path), 200)
        assert _events(again, replay, camp) == _events(server, world, camp)
