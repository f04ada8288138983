"""Incident labels carry their planted impact and a severity earned from it (truth only)."""

from __future__ import annotations

import pytest

from sandbox import World, WorldSpec
from sandbox.truth import _Impact
from sandbox.util import DAY
from sandbox.world.incidents import CRITICAL_SHARE_OF_DAY, Incident


def test_every_label_has_impact_and_severity(truth: dict) -> None:
    assert truth["incidents"]
    for item in truth["incidents"]:
        impact = item["impact"]
        assert item["severity"] in ("warning", "critical")
        assert impact["amount"] >= 0 and impact["daily_volume"] > 0
        assert impact["share_of_day"] == pytest.approx(impact["amount"] / impact["daily_volume"], abs=1e-3)
        assert (item["severity"] == "critical") == (impact["share_of_day"] >= CRITICAL_SHARE_OF_DAY)


def test_crm_sync_stall_holding_back_days_of_changes_is_critical(truth: dict) -> None:
    stall = next(i for i in truth["incidents"] if i["kind"] == "crm_sync_stall")
    assert stall["impact"]["delayed_crm_changes"] > 0 and stall["severity"] == "critical"


@pytest.fixture(scope="module")
def clean_world() -> World:
    return World(WorldSpec.preset("tiny", clean=True))


def _quiet_and_busy_windows(world: World) -> tuple[int, int]:
    """Start of a 24 h window with a campaign send in it, and one well clear of every campaign send."""
    sends = sorted({t for c in world.plan.campaigns for t in (c.send_ts, c.rollout_ts)})
    busy = next(t for t in sends if t > world.start_ts + 3 * DAY) - 3600
    gap, after = max((b - a, a) for a, b in zip(sends, sends[1:], strict=False))
    assert gap > 3.5 * DAY
    return after + 2 * DAY, busy  # opens and clicks of the last send are in by then


def test_severity_follows_the_volume_an_incident_touches(clean_world: World) -> None:
    impact = _Impact(clean_world)
    quiet, busy = _quiet_and_busy_windows(clean_world)
    labels = {}
    for name, start in (("quiet", quiet), ("busy", busy)):
        for kind in ("deliverability_drop", "tracking_outage"):
            affected = (
                ["klaviyo:Bounced Email"] if kind == "deliverability_drop" else ["klaviyo:Opened Email"]
            )
            labels[name, kind] = impact.measure(Incident("INC-T", kind, start, start + DAY, affected))
    # a campaign send in the window is most of a day's volume; flow sends alone are not
    for kind in ("deliverability_drop", "tracking_outage"):
        assert labels["busy", kind]["share_of_day"] >= CRITICAL_SHARE_OF_DAY
        assert labels["quiet", kind]["share_of_day"] < CRITICAL_SHARE_OF_DAY
        assert labels["quiet", kind]["amount"] < labels["busy", kind]["amount"]
    busy_drop = labels["busy", "deliverability_drop"]  # soft bounces 15x: ~17% of affected sends extra
    assert 0.08 < busy_drop["extra_bounces"] / busy_drop["affected_sends"] < 0.3


def test_runaway_spend_impact_is_the_extra_spend(clean_world: World) -> None:
    ad = clean_world.ads.by_platform["meta"][0]
    start = clean_world.start_ts + 10 * DAY
    inc = Incident("INC-T", "runaway_spend", start, start + 2 * DAY, [f"meta:ad:{ad.ad_id}"])
    out = _Impact(clean_world).measure(inc)
    budgeted = sum(clean_world.ad_day("meta", d).spend[0] for d in (10, 11))
    assert out["extra_spend"] == pytest.approx(4 * budgeted, rel=0.01)  # 5x the budgeted delivery


def test_incident_min_day_knob() -> None:
    assert WorldSpec().incident_min_day == 2
    spec = WorldSpec.preset("tiny", incident_min_day=14, incidents=8)
    world = World(spec)
    assert len(world.incidents) == 8
    assert all(world.day_of(i.start_ts) >= 14 for i in world.incidents)
    assert WorldSpec.from_dict(spec.to_dict()).incident_min_day == 14
