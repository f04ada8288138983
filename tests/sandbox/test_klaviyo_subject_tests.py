"""Loopwise's own campaign tests in the sandbox: bulk profile import jobs, campaign-message subjects
rendered per recipient at send time, subject styles' true effects, and the oracle that uses them."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import requests
from sandbox_test_helpers import KLAVIYO

from sandbox import SandboxServer, World, WorldSpec, ids
from sandbox.oracle import apply_oracle_subjects, oracle_subject
from sandbox.truth import build_truth, expected_rates, subject_lift, subject_style_effects
from sandbox.util import iso_utc
from sandbox.world import events as ev
from sandbox.world.email_plan import Campaign, Message
from sandbox.world.subjects import (
    TemplateError,
    parse_subject,
    relative_effect,
    render,
    style_effects,
    styles_of,
)

DAY = 86400
ARM = "lw_arm_quick_read"
LIBRARY = ["{subject} (inside)", "Quick read: {subject}", "{subject}?", "You asked: {subject}"]


def _seed(null: bool) -> int:
    """A seed whose world has (or has not) any subject style effect."""
    for seed in range(100):
        effects = style_effects(seed)
        if null == all(v == 1.0 for e in effects.values() for v in e.values()):
            return seed
    raise AssertionError("no such seed")


@pytest.fixture
def world() -> World:
    return World(WorldSpec.preset("tiny", clean=True, seed=_seed(null=False)))


@pytest.fixture
def server(world: World) -> Iterator[SandboxServer]:
    with SandboxServer(world) as srv:
        yield srv


def _url(server: SandboxServer, path: str) -> str:
    return server.vendor_base_urls["klaviyo"] + path


def _send(server: SandboxServer, method: str, path: str, body: Any = None) -> requests.Response:
    data = None if body is None else json.dumps(body)
    return requests.request(method, _url(server, path), headers=KLAVIYO, data=data, timeout=30)


def _job(profiles: list[dict[str, Any]]) -> dict[str, Any]:
    return {"data": {"type": "profile-bulk-import-job", "attributes": {"profiles": {"data": profiles}}}}


def _profile(profile_id: str, **properties: Any) -> dict[str, Any]:
    return {"type": "profile", "id": profile_id, "attributes": {"properties": properties}}


def _visible_profiles(world: World) -> list[str]:
    c = world.contacts
    return [ids.profile_id(world.spec.seed, i) for i in range(c.n) if c.created_ts[i] < world.clock_ts]


def _arms(world: World) -> dict[str, str]:
    return {p: "variant" if k % 2 else "control" for k, p in enumerate(_visible_profiles(world))}


def _upcoming(world: World) -> Campaign:
    """A visible campaign without an A/B test, not yet sent, sent within a week."""
    return next(
        c
        for c in world.plan.campaigns
        if c.created_ts <= world.clock_ts < c.send_ts < world.clock_ts + 7 * DAY and not c.is_ab
    )


def _template(subject: str) -> str:
    return f"{{% if person|lookup:'{ARM}' == 'variant' %}}Quick read: {subject}{{% else %}}{subject}{{% endif %}}"


def _patch_body(message_id: str, subject: str, **definition: Any) -> dict[str, Any]:
    attributes = {"definition": {"content": {"subject": subject}, **definition}}
    return {"data": {"type": "campaign-message", "id": message_id, "attributes": attributes}}


def _received(world: World, camp: Campaign, msg: Message) -> ev.EventBatch:
    batch, _ = world.events_on_day(world.day_of(camp.send_ts))
    return batch.take(np.nonzero((batch.message == msg.idx) & (batch.metric == ev.RECEIVED))[0])


# ---- bulk profile import ---------------------------------------------------------------------------
def test_bulk_import_job_sets_properties_and_fails_unknown_profiles_alone(
    world: World, server: SandboxServer
) -> None:
    arms = _arms(world)
    profiles = [_profile(p, **{ARM: arm}) for p, arm in arms.items()]
    profiles.insert(3, _profile("01NOTAPROFILE0000000000000", **{ARM: "variant"}))
    created = _send(server, "POST", "/api/profile-bulk-import-jobs", _job(profiles))
    assert created.status_code == 202, created.text
    job = created.json()["data"]
    assert job["type"] == "profile-bulk-import-job"
    assert job["attributes"]["status"] == "queued" and job["attributes"]["total_count"] == len(profiles)
    statuses = [_send(server, "GET", f"/api/profile-bulk-import-jobs/{job['id']}").json() for _ in range(2)]
    assert [s["data"]["attributes"]["status"] for s in statuses] == ["processing", "complete"]
    done = statuses[1]["data"]["attributes"]
    assert (done["completed_count"], done["failed_count"]) == (len(arms), 1)
    errors = _send(server, "GET", f"/api/profile-bulk-import-jobs/{job['id']}/import-errors").json()["data"]
    assert [e["attributes"]["original_payload"] for e in errors] == [{"id": "01NOTAPROFILE0000000000000"}]
    assert errors[0]["attributes"]["source"]["pointer"] == "/data/attributes/profiles/data/3"
    assert [w["action"] for w in world.writes] == ["import_profiles"]  # one write entry per job
    some = list(arms)[1]
    shown = _send(server, "GET", f"/api/profiles/{some}").json()["data"]["attributes"]["properties"]
    assert shown[ARM] == arms[some]
    assert world.profile_properties(some) == {ARM: arms[some]}


def test_bulk_import_by_email_ignores_null_and_later_jobs_overwrite(
    world: World, server: SandboxServer
) -> None:
    first = _visible_profiles(world)[0]
    email = world.contacts.email(0).upper()
    profiles = [{"type": "profile", "attributes": {"email": f" {email} ", "properties": {ARM: "control"}}}]
    assert _send(server, "POST", "/api/profile-bulk-import-jobs", _job(profiles)).status_code == 202
    assert world.profile_properties(first) == {ARM: "control"}
    again = [_profile(first, **{ARM: "variant", "other": None})]
    assert _send(server, "POST", "/api/profile-bulk-import-jobs", _job(again)).status_code == 202
    assert world.profile_properties(first) == {ARM: "variant"}


@pytest.mark.parametrize(
    ("profiles", "detail"),
    [
        ([], "non-empty list"),
        ([_profile(f"p{i}", x=1) for i in range(10_001)], "at most 10000 profiles"),
        ([{"type": "event", "id": "p"}], "type 'profile'"),
        ([{"type": "profile", "attributes": {"properties": {"x": 1}}}], "an id or attributes.email"),
        ([{"type": "profile", "id": "p", "attributes": {"properties": ["x"]}}], "must be an object"),
    ],
)
def test_bulk_import_refuses_a_malformed_job(
    world: World, server: SandboxServer, profiles: list[Any], detail: str
) -> None:
    r = _send(server, "POST", "/api/profile-bulk-import-jobs", _job(profiles))
    assert r.status_code == 400 and detail in r.json()["errors"][0]["detail"]
    assert world.writes == []


def test_unknown_job_is_404(server: SandboxServer) -> None:
    assert _send(server, "GET", "/api/profile-bulk-import-jobs/nope").status_code == 404


# ---- campaign message subjects ---------------------------------------------------------------------
def test_subject_patch_shows_the_template_as_written(world: World, server: SandboxServer) -> None:
    camp = _upcoming(world)
    msg = world.plan.messages[camp.messages[0]]
    template = _template(msg.subject)
    r = _send(
        server, "PATCH", f"/api/campaign-messages/{msg.message_id}", _patch_body(msg.message_id, template)
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["attributes"]["content"]["subject"] == template
    shown = _send(server, "GET", f"/api/campaign-messages/{msg.message_id}").json()["data"]
    listed = _send(server, "GET", f"/api/campaigns/{camp.campaign_id}/campaign-messages").json()["data"]
    assert (
        shown["attributes"]["content"]["subject"] == listed[0]["attributes"]["content"]["subject"] == template
    )
    assert world.writes[-1]["action"] == "set_message_subject"


@pytest.mark.parametrize(
    ("subject", "detail"),
    [
        ("Hi {{ first_name }}", "variable tags"),
        ("{% for x in y %}a{% endfor %}", "unexpected tag"),
        ("{% if person|lookup:'a' == 'b' %}x", "without {% endif %}"),
        ("{% if person.first_name == 'b' %}x{% endif %}", "unsupported condition"),
        (
            "{% if person|lookup:'a' == 'b' %}{% if person|lookup:'a' == 'c' %}x{% endif %}{% endif %}",
            "nested",
        ),
    ],
)
def test_subject_patch_refuses_tags_the_sandbox_cannot_render(
    world: World, server: SandboxServer, subject: str, detail: str
) -> None:
    msg = world.plan.messages[_upcoming(world).messages[0]]
    r = _send(
        server, "PATCH", f"/api/campaign-messages/{msg.message_id}", _patch_body(msg.message_id, subject)
    )
    err = r.json()["errors"][0]
    assert r.status_code == 400 and detail in err["detail"] and "person|lookup" in err["detail"]
    assert world.writes == []


def test_subject_patch_refuses_sent_unknown_and_other_fields(world: World, server: SandboxServer) -> None:
    sent = next(c for c in world.plan.campaigns if c.send_ts <= world.clock_ts)
    old = world.plan.messages[sent.messages[0]].message_id
    r = _send(server, "PATCH", f"/api/campaign-messages/{old}", _patch_body(old, "New"))
    assert r.status_code == 400 and "already been sent" in r.json()["errors"][0]["detail"]
    assert (
        _send(server, "PATCH", "/api/campaign-messages/nope", _patch_body("nope", "New")).status_code == 404
    )
    later = next(c for c in world.plan.campaigns if c.created_ts > world.clock_ts)
    hidden = world.plan.messages[later.messages[0]].message_id
    assert (
        _send(server, "PATCH", f"/api/campaign-messages/{hidden}", _patch_body(hidden, "x")).status_code
        == 404
    )
    msg = world.plan.messages[_upcoming(world).messages[0]].message_id
    label = _patch_body(msg, "New", label="B")
    assert _send(server, "PATCH", f"/api/campaign-messages/{msg}", label).status_code == 400
    sms = _patch_body(msg, "New", channel="sms")
    assert _send(server, "PATCH", f"/api/campaign-messages/{msg}", sms).status_code == 400
    assert world.writes == []


def test_each_recipient_gets_the_subject_of_their_arm(world: World, server: SandboxServer) -> None:
    arms = _arms(world)
    job = _job([_profile(p, **{ARM: arm}) for p, arm in arms.items()])
    assert _send(server, "POST", "/api/profile-bulk-import-jobs", job).status_code == 202
    camp = _upcoming(world)
    msg = world.plan.messages[camp.messages[0]]
    path = f"/api/campaign-messages/{msg.message_id}"
    assert (
        _send(server, "PATCH", path, _patch_body(msg.message_id, _template(msg.subject))).status_code == 200
    )
    world.advance((camp.send_ts - world.clock_ts) // DAY + 2)
    received = _received(world, camp, msg)
    assert len(received) > 10
    seed = world.spec.seed
    for contact, code in zip(received.contact, received.subject, strict=True):
        arm = arms.get(ids.profile_id(seed, int(contact)))
        expected = f"Quick read: {msg.subject}" if arm == "variant" else msg.subject
        assert world.subject_table[code] == expected
    # the API's events carry the rendered subject where Klaviyo does, $message stays the message
    events = _events_of(server, world, camp)
    subjects = Counter(e["attributes"]["event_properties"]["Subject"] for e in events)
    assert set(subjects) == {msg.subject, f"Quick read: {msg.subject}"}
    assert {e["attributes"]["event_properties"]["$message"] for e in events} <= {
        world.plan.messages[m].message_id for m in camp.messages
    }


def test_an_ab_test_shows_the_template_on_each_message_and_its_rollout(world: World) -> None:
    """A Loopwise test reaches a marketer's A/B test: each message carries the template, each
    recipient of either cell and of the remainder's rollout gets the subject of their test arm,
    and the rollout names its variant by the subject as written (the template)."""
    camp = next(c for c in world.plan.campaigns if c.is_ab and not c.is_aa and c.send_ts > world.clock_ts)
    world.advance(max(0, (camp.created_ts - world.clock_ts) // DAY + 1))  # scheduled, not sent
    assert camp.created_ts <= world.clock_ts < camp.send_ts
    arms = _arms(world)
    world.import_profiles([{"id": p, "properties": {ARM: a}} for p, a in arms.items()])
    msgs = [world.plan.messages[m] for m in camp.messages]
    for msg in msgs:
        world.set_message_subject(msg.message_id, _template(msg.subject))
    chosen = msgs[-1]
    seed = world.spec.seed

    def check(batch: ev.EventBatch, msg: Message) -> int:
        got = batch.take(np.nonzero((batch.message == msg.idx) & (batch.metric == ev.RECEIVED))[0])
        for contact, code in zip(got.contact, got.subject, strict=True):
            arm = arms.get(ids.profile_id(seed, int(contact)))
            assert world.subject_table[code] == (
                f"Quick read: {msg.subject}" if arm == "variant" else msg.subject
            )
        return len(got)

    world.advance((camp.send_ts - world.clock_ts) // DAY + 1)
    cells, _ = world.events_on_day(world.day_of(camp.send_ts))
    assert all(check(cells, msg) > 0 for msg in msgs)
    with pytest.raises(Exception, match="not a variant"):
        world.create_rollout_campaign("r", f"ab-remainder-{camp.campaign_id}", "Quick read: x", None, {})
    created = world.create_rollout_campaign(
        "Loopwise rollout", f"ab-remainder-{camp.campaign_id}", _template(chosen.subject), chosen.label, {}
    )
    world.send_rollout_campaign(created)
    world.advance((camp.rollout_ts - world.clock_ts) // DAY + 2)
    rollout, _ = world.events_on_day(world.day_of(camp.rollout_ts))
    assert check(rollout, chosen) > 10


def _events_of(server: SandboxServer, world: World, camp: Campaign) -> list[dict[str, Any]]:
    """Every served event of the campaign's messages on its send day."""
    lo = world.start_ts + world.day_of(camp.send_ts) * DAY
    out, url = [], _url(server, "/api/events")
    params: dict[str, Any] | None = {
        "filter": f"greater-or-equal(datetime,{iso_utc(lo)}),less-than(datetime,{iso_utc(lo + DAY)})",
        "page[size]": 1000,
    }
    while url:
        r = requests.get(url, headers=KLAVIYO, params=params, timeout=30).json()
        out += r["data"]
        url, params = r["links"]["next"], None
    names = {world.plan.messages[m].message_id for m in camp.messages}
    return [e for e in out if e["attributes"]["event_properties"].get("$message") in names]


def test_a_template_that_renders_the_own_subject_for_everyone_changes_no_event(world: World) -> None:
    camp = _upcoming(world)
    msg = world.plan.messages[camp.messages[0]]
    untouched = World(world.spec)
    same = f"{{% if person|lookup:'{ARM}' == 'variant' %}}{msg.subject}{{% else %}}{msg.subject}{{% endif %}}"
    world.import_profiles([{"id": p, "properties": {ARM: a}} for p, a in _arms(world).items()])
    world.set_message_subject(msg.message_id, same)
    for w in (world, untouched):
        w.advance((camp.send_ts - w.clock_ts) // DAY + 2)
    a, b = (
        world.events_on_day(world.day_of(camp.send_ts))[0],
        untouched.events_on_day(world.day_of(camp.send_ts))[0],
    )
    for field in ("key", "ts", "metric", "contact", "message", "aux"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert {world.subject_table[c] for c in a.subject[a.message == msg.idx]} == {msg.subject}


def test_properties_written_after_a_send_do_not_change_it(world: World) -> None:
    camp = _upcoming(world)
    msg = world.plan.messages[camp.messages[0]]
    world.set_message_subject(msg.message_id, _template(msg.subject))
    world.advance((camp.send_ts - world.clock_ts) // DAY + 1)  # the campaign has been sent
    before = _received(world, camp, msg)
    world.import_profiles([{"id": p, "properties": {ARM: "variant"}} for p in _visible_profiles(world)])
    after = _received(world, camp, msg)
    assert np.array_equal(before.subject, after.subject)
    assert {world.subject_table[c] for c in after.subject} == {msg.subject}  # nobody had the property then


# ---- truth: style effects ------------------------------------------------------------------------------
def test_rendered_lift_is_the_style_effect_relative_to_the_own_subject(world: World) -> None:
    effects = subject_style_effects(world)
    assert effects == style_effects(world.spec.seed)
    camp = _upcoming(world)
    msg = world.plan.messages[camp.messages[0]]
    rendered = f"Quick read: {msg.subject}"
    lift = subject_lift(world, rendered, msg.subject)
    for metric in ("open", "click", "conversion"):
        assert lift[metric] == pytest.approx(effects["quick_read"][metric])
    who, _ = ev.campaign_audience(world.email_ctx, camp)
    base, styled = expected_rates(world, camp, msg, who), expected_rates(world, camp, msg, who, rendered)
    q = effects["quick_read"]
    assert styled["human_open_rate"] == pytest.approx(base["human_open_rate"] * q["open"], rel=0.02)
    world.set_message_subject(msg.message_id, rendered)
    truth = next(
        c
        for c in build_truth(world, include_records=False)["campaigns"]
        if c["campaign_id"] == camp.campaign_id
    )
    variant = truth["variants"][0]
    assert variant["written_subject"] == rendered
    assert [r["subject"] for r in variant["rendered_subjects"]] == [rendered]
    assert variant["rendered_subjects"][0]["lift"] == lift


def test_styles_are_found_from_the_outside_in_and_count_once() -> None:
    assert styles_of("Build or buy?") == {"question"}
    assert styles_of("Quick read: Build or buy?") == {"quick_read", "question"}
    assert styles_of("You asked: How Acme cut churn 30% (inside)") == {"you_asked", "inside"}
    assert styles_of("Build or buy??") == {"question"}
    effects = style_effects(_seed(null=False))
    own = "Build or buy?"
    assert relative_effect(effects, own + "?", own) == {"open": 1.0, "click": 1.0, "conversion": 1.0}
    assert relative_effect(effects, "Quick read: " + own, own) == pytest.approx(effects["quick_read"])


def test_some_worlds_have_no_style_effect_and_events_then_do_not_move() -> None:
    null_world = World(WorldSpec.preset("tiny", clean=True, seed=_seed(null=True)))
    truth = build_truth(null_world, include_records=False)["subject_styles"]
    assert truth["null_world"] and truth["best_style"] is None
    with_effects = build_truth(World(WorldSpec.preset("tiny", clean=True, seed=_seed(null=False))), False)
    assert not with_effects["subject_styles"]["null_world"]
    shares = [all(v == 1.0 for e in style_effects(s).values() for v in e.values()) for s in range(400)]
    assert 0.15 < np.mean(shares) < 0.35


def test_template_rendering_picks_the_first_matching_branch() -> None:
    template = (
        "Hi {% if person|lookup:'a' == 'x' %}X{% elif person|lookup:\"b\" == 'y' %}Y{% else %}Z{% endif %}!"
    )
    values = {
        "a": np.array(["x", None, "x", "q"], dtype=object),
        "b": np.array([None, "y", "y", None], dtype=object),
    }
    subjects, code = render(parse_subject(template), values, 4)
    assert [subjects[c] for c in code] == ["Hi X!", "Hi Y!", "Hi X!", "Hi Z!"]
    subjects, code = render(
        parse_subject("{% if person|lookup:'a' == 'x' %}X{% endif %}"), {"a": values["a"]}, 4
    )
    assert [subjects[c] for c in code] == ["X", "", "X", ""]
    subjects, code = render(parse_subject("plain"), {}, 3)
    assert subjects == ["plain"] and code.tolist() == [0, 0, 0]
    with pytest.raises(TemplateError):
        parse_subject("{% else %}")


# ---- the oracle ---------------------------------------------------------------------------------------
def test_oracle_writes_the_truly_best_library_subject(world: World) -> None:
    camp = _upcoming(world)
    msg = world.plan.messages[camp.messages[0]]
    best = oracle_subject(world, msg.message_id, LIBRARY)
    who, _ = ev.campaign_audience(world.email_ctx, camp)
    rates = {t: expected_rates(world, camp, msg, who, t.replace("{subject}", msg.subject)) for t in LIBRARY}
    top = max(rates, key=lambda t: rates[t]["conversion_rate"])
    own = expected_rates(world, camp, msg, who)["conversion_rate"]
    assert best == (top.replace("{subject}", msg.subject) if rates[top]["conversion_rate"] > own else None)
    written = apply_oracle_subjects(world, LIBRARY)
    assert written and all(w["action"] == "set_message_subject" for w in world.writes)
    assert all(
        c.created_ts <= world.clock_ts < c.send_ts
        for c in (world.campaign_message(m)[0] for m in written)  # type: ignore[index]
    )
    assert apply_oracle_subjects(world, LIBRARY) == []  # already written


def test_oracle_writes_nothing_in_a_world_without_style_effects() -> None:
    null_world = World(WorldSpec.preset("tiny", clean=True, seed=_seed(null=True)))
    assert apply_oracle_subjects(null_world, LIBRARY) == []


def test_a_saved_world_replays_jobs_and_subjects(world: World, tmp_path: Any) -> None:
    camp = _upcoming(world)
    msg = world.plan.messages[camp.messages[0]]
    world.import_profiles([{"id": p, "properties": {ARM: a}} for p, a in _arms(world).items()])
    world.set_message_subject(msg.message_id, _template(msg.subject))
    world.advance((camp.send_ts - world.clock_ts) // DAY + 2)
    loaded = World.load_state(world.save_state(tmp_path))
    first = next(iter(_arms(world)))
    assert loaded.profile_properties(first) == world.profile_properties(first)
    a, b = _received(world, camp, msg), _received(loaded, camp, msg)
    assert [world.subject_table[c] for c in a.subject] == [loaded.subject_table[c] for c in b.subject]
    assert loaded.import_job(world.writes[0]["target"]) == world.writes[0]


def test_a_styled_subject_moves_human_opens_by_its_true_effect() -> None:
    """Same random streams with and without the write: human opens scale by the style's open effect."""
    seed = next(s for s in range(100) if abs(style_effects(s)["quick_read"]["open"] - 1) > 0.1)
    styled, plain = (World(WorldSpec.preset("demo", clean=True, seed=seed)) for _ in range(2))
    camp = next(c for c in styled.plan.campaigns if not c.is_ab and c.send_ts > styled.clock_ts)
    styled.advance(max(0, -(-(camp.created_ts - styled.clock_ts) // DAY)))  # visible, not yet sent
    msg = styled.plan.messages[camp.messages[0]]
    styled.set_message_subject(msg.message_id, f"Quick read: {msg.subject}")
    day = styled.day_of(camp.send_ts)
    opens = []
    for w in (styled, plain):
        b = ev.origin_day(w.email_ctx, day)
        opens.append(int(((b.message == msg.idx) & (b.metric == ev.OPENED) & (b.aux == 0)).sum()))
    effect = style_effects(seed)["quick_read"]["open"]
    assert opens[1] > 300
    assert opens[0] / opens[1] == pytest.approx(effect, abs=0.05)


def test_subject_style_effect_is_the_click_rate_multiplier_of_the_styles_true_effects() -> None:
    """simulate judges Loopwise's shipped styles with it: opens x clicks per open of the style's
    seeded effects (sandbox.world.subjects.style_effects), 1 for a plain subject."""
    from sandbox.truth import subject_style_effect
    from sandbox.world.subjects import style_effects

    world = World(WorldSpec.preset("tiny", seed=4404))
    effects = style_effects(4404)
    assert subject_style_effect(world, "{t}") == 1.0
    quick = effects["quick_read"]["open"] * effects["quick_read"]["click"]
    assert subject_style_effect(world, "Quick read: {t}") == pytest.approx(quick)
    both = quick * effects["question"]["open"] * effects["question"]["click"]
    assert subject_style_effect(world, "Quick read: {t}?") == pytest.approx(both)
