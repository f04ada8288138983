"""KlaviyoWriter's hourly child sends (``campaign_send_times``) against a real SandboxServer: the
lists, the imports into them, a clone per hour in local time, the campaign excluding everyone
moved; then what the world sends."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from writeback_vendors import KLAVIYO_KEY as KEY
from writeback_vendors import KlaviyoSettings as Settings

from activation.writeback.base import WriteError, WriteRequest
from activation.writeback.klaviyo import KlaviyoWriter
from sandbox import World, ids
from sandbox.util import DAY
from sandbox.world import events as ev
from sandbox.world.contacts import utc_offset_minutes


def _upcoming(world: World):
    """The first one-message campaign already created whose send day starts a day or more after the
    clock (the world is advanced a day at a time until the marketer has scheduled one)."""
    for _ in range(30):
        found = [
            c
            for c in world.plan.campaigns
            if not c.is_ab and c.created_ts <= world.clock_ts and c.send_ts >= world.clock_ts + 2 * DAY
        ]
        if found:
            return found[0]
        world.advance(1)
    raise AssertionError("no campaign scheduled ahead in 30 days")


def _request(world: World, campaign, groups: dict[str, list[str]]) -> WriteRequest:
    day = datetime.fromtimestamp(campaign.send_ts, UTC).date().isoformat()
    context = {"groups": groups, "send_day": day, "campaign_name": campaign.name}
    return WriteRequest(
        "act-1", "klaviyo", "campaign_send_times", campaign.campaign_id, "send_times", "split", None, context
    )


def _groups(world: World, campaign, hours=(8, 19)) -> dict[str, list[str]]:
    who, _ = ev.campaign_audience(world.email_ctx, campaign)
    who = who[world.contacts.created_ts[who] < world.clock_ts]  # profiles that exist now
    profiles = [ids.profile_id(world.spec.seed, int(i)) for i in who]
    return {str(h): profiles[k :: len(hours)] for k, h in enumerate(hours)}


def test_recipients_move_to_hourly_clones_and_a_rerun_moves_nobody_twice(world, server):
    sleeps: list[float] = []
    writer = KlaviyoWriter(Settings(server.vendor_base_urls["klaviyo"]), sleep=sleeps.append)
    campaign = _upcoming(world)
    groups = _groups(world, campaign)
    request = _request(world, campaign, groups)
    assert writer.read(request) is None
    result = writer.write(request, dry_run=True)
    assert result.status == "validated" and not world.writes
    result = writer.write(request, dry_run=False)
    assert result.status == "executed", result.error
    clones = result.response["clones"]
    assert sorted(clones) == ["19", "8"] and result.response["recipients"] == sum(map(len, groups.values()))
    assert KEY not in repr(result.request) and KEY not in repr(result.response)
    assert writer.read(request) == "split"
    again = writer.write(request, dry_run=False)  # e.g. a run killed before it recorded the first
    assert again.status == "noop" and again.response["clones"] == clones  # found again, so recorded
    # the world: a moved contact gets only its hour's clone, at that hour in its own zone
    world.advance(int((campaign.send_ts - world.clock_ts) // DAY) + 2)
    moved = {pid: hour for hour, pids in groups.items() for pid in pids}
    contact_of = {ids.profile_id(world.spec.seed, i): i for i in range(world.contacts.n)}
    received = []
    for day in range(world.day_of(campaign.send_ts) - 1, world.day_of(campaign.send_ts) + 2):
        batch = world.visible_events(day)
        keep = batch.metric == ev.RECEIVED
        received += list(zip(batch.contact[keep], batch.message[keep], batch.ts[keep], strict=True))
    parent_message = campaign.messages[0]
    reached = 0
    for pid, hour in list(moved.items())[:50]:
        i = contact_of[pid]
        mine = [(m, ts) for c, m, ts in received if c == i]
        assert all(m != parent_message for m, _ in mine), "a moved contact also got the campaign itself"
        clone_sends = [
            ts for m, ts in mine if m >= len(world.plan.messages)
        ]  # clones' messages follow the plan's
        assert len(clone_sends) <= 1
        reached += len(clone_sends)
        for ts in clone_sends:
            local = (ts + utc_offset_minutes(world.contacts.tz[i], ts) * 60) % DAY / 3600
            assert int(hour) <= local < int(hour) + 1
    assert reached >= 45  # hard bounces aside, every moved contact got its clone


def test_a_sent_campaign_is_refused_and_bad_groups_never_leave(world, server):
    writer = KlaviyoWriter(Settings(server.vendor_base_urls["klaviyo"]), sleep=lambda _s: None)
    sent = next(c for c in world.plan.campaigns if not c.is_ab and c.send_ts < world.clock_ts)
    result = writer.write(_request(world, sent, {"9": [ids.profile_id(world.spec.seed, 0)]}), dry_run=False)
    assert result.status == "failed" and "no longer move" in result.error
    campaign = _upcoming(world)
    with pytest.raises(WriteError):
        writer.write(_request(world, campaign, {"25": ["p"]}), dry_run=False)
    with pytest.raises(WriteError):
        writer.write(_request(world, campaign, {"9": []}), dry_run=False)
    assert not [w for w in world.writes if w["vendor"] == "klaviyo"]


def test_hour_factor_peaks_at_the_preference():
    hours = np.arange(24)
    factor = ev.hour_factor(hours, np.full(24, 20.0))
    assert (
        factor.argmax() == 20
        and factor[20] == pytest.approx(1.4)
        and factor[8] == pytest.approx(0.6, abs=0.01)
    )
    assert factor[23] == pytest.approx(ev.hour_factor(np.array([17]), np.array([20.0]))[0])
