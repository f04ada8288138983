"""Content choice per recipient in the sandbox: a campaign message's preview text Loopwise writes
(``definition.content.preview_text``, the subjects' template grammar), rendered per recipient at
send time, its label naming the content angle each recipient is shown against their true affinity."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import requests
from sandbox_test_helpers import KLAVIYO

from sandbox import SandboxServer, World, WorldSpec, ids
from sandbox.world import events as ev
from sandbox.world.contacts import AFFINITIES
from sandbox.world.email_plan import Campaign, Message
from sandbox.world.subjects import content_angle

DAY = 86400
PROPERTY = "lw_angle_test"


@pytest.fixture
def world() -> World:
    return World(WorldSpec.preset("tiny", clean=True))


@pytest.fixture
def server(world: World) -> Iterator[SandboxServer]:
    with SandboxServer(world) as srv:
        yield srv


def _send(server: SandboxServer, method: str, path: str, body: Any = None) -> requests.Response:
    url = server.vendor_base_urls["klaviyo"] + path
    data = None if body is None else json.dumps(body)
    return requests.request(method, url, headers=KLAVIYO, data=data, timeout=30)


def _patch_body(message_id: str, **content: Any) -> dict[str, Any]:
    attributes = {"definition": {"channel": "email", "content": content}}
    return {"data": {"type": "campaign-message", "id": message_id, "attributes": attributes}}


def _upcoming(world: World) -> Campaign:
    """A one-message campaign not yet sent, the world advanced until it is visible."""
    camp = next(c for c in world.plan.campaigns if not c.is_ab and c.send_ts > world.clock_ts + DAY)
    world.advance(max(0, -(-(camp.created_ts - world.clock_ts) // DAY)))
    return camp


def _template(msg: Message) -> str:
    """The contract's preview template: one branch per angle, else the message's own preview text."""
    topic = msg.preview_text.partition(" | ")[2]
    branches = [
        f"{{% {'if' if k == 0 else 'elif'} person|lookup:'{PROPERTY}' == '{a}' %}}{a.replace('_', ' ')} | {topic}"
        for k, a in enumerate(AFFINITIES)
    ]
    return "".join(branches) + f"{{% else %}}{msg.preview_text}{{% endif %}}"


def _true_angles(world: World, send_ts: int) -> np.ndarray:
    c = world.contacts
    return c.affinity_late if send_ts >= world.email_ctx.drift_ts else c.affinity


def _assign(world: World, angles: dict[int, int]) -> None:
    """Set the property to each listed contact's angle (index in AFFINITIES) with one import job."""
    seed = world.spec.seed
    world.import_profiles(
        [{"id": ids.profile_id(seed, i), "properties": {PROPERTY: AFFINITIES[a]}} for i, a in angles.items()]
    )


def _visible(world: World) -> np.ndarray:
    return np.nonzero(world.contacts.created_ts < world.clock_ts)[0]


# ---- the route -------------------------------------------------------------------------------------
def test_preview_text_patch_is_served_as_written(world: World, server: SandboxServer) -> None:
    camp = _upcoming(world)
    msg = world.plan.messages[camp.messages[0]]
    path = f"/api/campaign-messages/{msg.message_id}"
    template = _template(msg)
    r = _send(server, "PATCH", path, _patch_body(msg.message_id, preview_text=template))
    assert r.status_code == 200, r.text
    content = r.json()["data"]["attributes"]["content"]
    assert content["preview_text"] == template and content["subject"] == msg.subject
    shown = _send(server, "GET", path).json()["data"]["attributes"]["content"]
    listed = _send(server, "GET", f"/api/campaigns/{camp.campaign_id}/campaign-messages").json()["data"]
    assert shown["preview_text"] == listed[0]["attributes"]["content"]["preview_text"] == template
    assert [(w["action"], w["value"]) for w in world.writes] == [("set_message_preview_text", template)]
    both = _patch_body(msg.message_id, subject="New subject", preview_text="how to | plain")
    assert _send(server, "PATCH", path, both).status_code == 200
    shown = _send(server, "GET", path).json()["data"]["attributes"]["content"]
    assert (shown["subject"], shown["preview_text"]) == ("New subject", "how to | plain")
    assert world.message_preview_text(msg, world.clock_day - 1) == msg.preview_text  # not before it


@pytest.mark.parametrize(
    ("content", "status", "detail"),
    [
        ({"preview_text": "{% if person.first_name == 'x' %}a{% endif %}"}, 400, "unsupported condition"),
        ({"preview_text": "Hi {{ first_name }}"}, 400, "variable tags"),
        (
            {"subject": "Fine", "preview_text": "{% if person|lookup:'a' == 'b' %}x"},
            400,
            "without {% endif %}",
        ),
        ({"preview_text": ""}, 400, "non-empty string"),
        ({"preview_text": 3}, 400, "non-empty string"),
        ({"preview_text": "x", "body": "y"}, 400, "only attributes.definition.content"),
        ({}, 400, "only attributes.definition.content"),
    ],
)
def test_preview_text_patch_refuses_what_the_sandbox_cannot_render(
    world: World, server: SandboxServer, content: dict[str, Any], status: int, detail: str
) -> None:
    msg = world.plan.messages[_upcoming(world).messages[0]]
    r = _send(
        server, "PATCH", f"/api/campaign-messages/{msg.message_id}", _patch_body(msg.message_id, **content)
    )
    assert r.status_code == status and detail in r.json()["errors"][0]["detail"]
    assert world.writes == []  # a valid subject beside a bad preview text is not written either


def test_preview_text_patch_refuses_a_sent_campaign(world: World, server: SandboxServer) -> None:
    sent = next(c for c in world.plan.campaigns if c.send_ts <= world.clock_ts)
    old = world.plan.messages[sent.messages[0]].message_id
    r = _send(server, "PATCH", f"/api/campaign-messages/{old}", _patch_body(old, preview_text="how to | x"))
    assert r.status_code == 400 and "already been sent" in r.json()["errors"][0]["detail"]
    assert world.writes == []


# ---- rendering and engagement --------------------------------------------------------------------
def test_content_angle_reads_the_label_before_the_separator() -> None:
    assert content_angle("case study | Build or buy", 2) == AFFINITIES.index("case_study")
    assert content_angle("How To | x | y", 0) == AFFINITIES.index("how_to")
    assert content_angle("promo | 20% off", 0) == AFFINITIES.index("promo")
    assert content_angle("promotion | 20% off", 1) == 1  # not a catalog label
    assert content_angle("how to", 3) == 3  # no separator: the campaign's own
    assert content_angle("", -1) == -1


def test_each_recipient_is_shown_the_angle_of_their_property(world: World) -> None:
    camp = _upcoming(world)
    msg = world.plan.messages[camp.messages[0]]
    who = _visible(world)
    angles = {int(i): int(i) % len(AFFINITIES) for i in who[::2]}  # every other contact has none
    _assign(world, angles)
    world.set_message_preview_text(msg.message_id, _template(msg))
    day = world.day_of(camp.send_ts)
    shown = world.render_content(msg, day, who, camp.content)
    expected = [angles.get(int(i), camp.content) for i in who]
    assert isinstance(shown, np.ndarray) and shown.tolist() == expected
    assert (
        world.render_content(msg, world.clock_day - 1, who, camp.content) == camp.content
    )  # before the write


def test_a_preview_text_that_shows_everyone_the_own_angle_changes_no_event(world: World) -> None:
    """The per-recipient path with every recipient at the campaign's own angle is the plain send."""
    camp = _upcoming(world)
    msg = world.plan.messages[camp.messages[0]]
    untouched = World(world.spec, advanced_days=world.advanced_days)
    _assign(world, {int(i): camp.content for i in _visible(world)})
    world.set_message_preview_text(msg.message_id, _template(msg))
    day = world.day_of(camp.send_ts)
    a, b = ev.origin_day(world.email_ctx, day), ev.origin_day(untouched.email_ctx, day)
    assert (a.message == msg.idx).sum() > 10
    for field in ("key", "ts", "metric", "contact", "message", "aux", "subject"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field


def test_recipients_shown_their_true_angle_click_more_than_those_shown_another() -> None:
    """Same random streams with and without the write: a recipient shown their true angle clicks
    whenever they did at the campaign's own angle (and more), one shown a wrong angle never more."""
    written, plain = (World(WorldSpec.preset("demo", clean=True)) for _ in range(2))
    camp = _upcoming(written)
    plain.advance(written.advanced_days)
    msg = written.plan.messages[camp.messages[0]]
    who, _ = ev.campaign_audience(written.email_ctx, camp)
    truth = _true_angles(written, camp.send_ts)
    right = who[who % 2 == 0]
    wrong = who[who % 2 == 1]
    _assign(
        written,
        {**{int(i): int(truth[i]) for i in right}, **{int(i): (int(truth[i]) + 1) % 4 for i in wrong}},
    )
    written.set_message_preview_text(msg.message_id, _template(msg))
    day = written.day_of(camp.send_ts)
    clicked = {}
    for name, w in (("written", written), ("plain", plain)):
        b = ev.origin_day(w.email_ctx, day)
        mine = (b.message == msg.idx) & (b.metric == ev.CLICKED)
        clicked[name] = np.zeros(w.contacts.n, dtype=bool)
        clicked[name][b.contact[mine]] = True
    assert (clicked["plain"][right] <= clicked["written"][right]).all()
    assert (clicked["written"][wrong] <= clicked["plain"][wrong]).all()
    hits_right, hits_wrong = clicked["written"][right].sum(), clicked["written"][wrong].sum()
    assert hits_wrong > 30
    # clicks per send scale by (1.35 / 0.85) ** 2 (open and click) before clipping: about 2.5x
    assert 1.8 < (hits_right / len(right)) / (hits_wrong / len(wrong)) < 3.5


# ---- clones and replay ---------------------------------------------------------------------------
def test_a_clone_copies_the_preview_text_as_of_cloning(world: World, server: SandboxServer) -> None:
    camp = _upcoming(world)
    msg = world.plan.messages[camp.messages[0]]
    template = _template(msg)
    world.set_message_preview_text(msg.message_id, template)
    clone = world.clone(world.clone_campaign(camp.campaign_id, None))
    assert clone is not None and clone.preview_text == template
    world.set_message_preview_text(msg.message_id, "promo | later")  # the parent's, after the clone
    shown = _send(server, "GET", f"/api/campaign-messages/{clone.message.message_id}").json()["data"]
    assert shown["attributes"]["content"]["preview_text"] == template
    who = _visible(world)
    _assign(world, {int(i): 1 for i in who})
    assert world.render_content(clone.message, world.clock_day, who, camp.content).tolist() == [1] * len(who)
    world.set_message_preview_text(clone.message.message_id, "comparison | the clone's own")
    assert world.message_preview_text(clone.message) == "comparison | the clone's own"
    assert world.message_preview_text(msg) == "promo | later"


def test_a_scheduled_clone_sends_each_recipient_their_angle() -> None:
    """A clone's send (Loopwise's hourly child send) engages at the angle its preview text shows."""
    written, plain = (World(WorldSpec.preset("tiny", clean=True)) for _ in range(2))
    camp = _upcoming(written)
    plain.advance(written.advanced_days)
    msg = written.plan.messages[camp.messages[0]]
    truth = _true_angles(written, camp.send_ts)
    for w, angle_of in ((written, lambda i: int(truth[i])), (plain, lambda i: (int(truth[i]) + 2) % 4)):
        _assign(w, {int(i): angle_of(i) for i in _visible(w)})
        w.set_message_preview_text(msg.message_id, _template(msg))
        w.schedule_clone(w.clone_campaign(camp.campaign_id, None))
    sends = [w.clone_send(w.clone(w.clone_ids()[0])) for w in (written, plain)]
    assert sends[0] is not None and sends[1] is not None and len(sends[0].who) > 100
    assert np.array_equal(sends[0].who, sends[1].who)
    probs = [
        ev.send_probabilities(
            w.email_ctx,
            s.who,
            s.ts,
            s.message,
            w.render_content(s.message, s.audience_day, s.who, camp.content),
        )
        for w, s in zip((written, plain), sends, strict=True)
    ]
    clicks_per_send = [p_open * p_click for p_open, p_click, _ in probs]
    assert (clicks_per_send[0] >= clicks_per_send[1]).all()
    assert (clicks_per_send[0] > clicks_per_send[1]).mean() > 0.9  # equal only where both clip
    day = written.day_of(camp.send_ts)
    clicks = []
    for w, s in zip((written, plain), sends, strict=True):
        b = ev.origin_day(w.email_ctx, day)
        clicks.append(int(((b.message == s.message.idx) & (b.metric == ev.CLICKED)).sum()))
    assert clicks[0] > clicks[1]  # the same random streams: every click at the wrong angle stays


def test_a_saved_world_replays_the_preview_text(world: World, tmp_path: Any) -> None:
    camp = _upcoming(world)
    msg = world.plan.messages[camp.messages[0]]
    _assign(world, {int(i): int(i) % 4 for i in _visible(world)})
    world.set_message_preview_text(msg.message_id, _template(msg))
    world.advance((camp.send_ts - world.clock_ts) // DAY + 2)
    loaded = World.load_state(world.save_state(tmp_path))
    assert loaded.message_preview_text(msg) == _template(msg)
    day = world.day_of(camp.send_ts)
    a, b = world.events_on_day(day)[0], loaded.events_on_day(day)[0]
    assert np.array_equal(a.key, b.key) and np.array_equal(a.metric, b.metric)
