"""The world presets: sizes in order, the `medium` preset's spec and a cheap build (no HTTP, no events)."""

from __future__ import annotations

import pytest

from loopwise.commands.demo import PRESET_NAMES
from sandbox import World, WorldSpec
from sandbox.spec import PRESETS

SIZES = ("tiny", "demo", "medium", "large")


@pytest.mark.parametrize(
    "field",
    ["n_contacts", "days", "meta_campaigns", "google_campaigns", "incidents"],
)
def test_medium_sits_between_demo_and_large(field: str) -> None:
    demo, medium, large = (getattr(WorldSpec.preset(name), field) for name in ("demo", "medium", "large"))
    assert demo <= medium <= large
    assert demo < large  # the field does scale with the world, so the order above means something


def test_medium_is_20k_contacts_over_180_days_and_round_trips() -> None:
    spec = WorldSpec.preset("medium")
    assert (spec.n_contacts, spec.days, spec.base_preset) == (20_000, 180, "medium")
    assert spec.max_advance_days >= 120  # room for `loopwise simulate` and daily runs on top
    assert 0 < spec.mess("duplicate_rate") < WorldSpec.preset("demo").mess("duplicate_rate")
    assert WorldSpec.from_dict(spec.to_dict()) == spec
    assert WorldSpec.from_dict({"preset": "medium", "seed": 7}).n_contacts == 20_000


def test_medium_world_builds_with_the_sizes_its_spec_asks_for() -> None:
    world = World(WorldSpec.preset("medium"))  # lazy: contacts and ads, no event day generated
    spec = world.spec
    assert world.clock_day == spec.days
    assert world.horizon_days == spec.days + spec.max_advance_days
    assert len(world.contacts.holdout) >= spec.n_contacts  # new contacts arrive over the period
    assert len(world.ads.by_platform["meta"]) == (
        spec.meta_campaigns * spec.meta_adsets_per_campaign * spec.meta_ads_per_adset
    )
    assert len(world.ads.by_platform["google_ads"]) == (
        spec.google_campaigns * spec.google_ad_groups_per_campaign * spec.google_ads_per_ad_group
    )
    assert len(world.incidents) == spec.n_incidents


def test_every_preset_is_offered_on_the_command_line_smallest_first() -> None:
    assert set(PRESETS) == set(SIZES) == set(PRESET_NAMES)
    contacts = [WorldSpec.preset(name).n_contacts for name in SIZES]
    assert contacts == sorted(contacts) and len(set(contacts)) == len(contacts)
