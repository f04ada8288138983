"""Budget entities of the world: Meta ad sets and CBO campaigns, Google campaign budgets (no HTTP)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sandbox import World, WorldSpec, WriteError
from sandbox.state import STATE_FILE
from sandbox.truth import build_truth


def _demo(**overrides: object) -> World:
    return World(WorldSpec.preset("demo", n_contacts=200, **overrides))


def test_entities_follow_the_platforms() -> None:
    w = _demo(meta_cbo_campaigns=1, google_shared_budget=True, google_campaigns=3)
    meta = w.budget_entities("meta")
    assert [e.entity_type for e in meta] == ["campaign", "adset", "adset"]
    cbo = meta[0]
    assert cbo.entity_id == w.ads.by_platform["meta"][0].campaign_id
    assert set(cbo.adset_ids) == {w.ads.by_platform["meta"][p].group_id for p in cbo.positions}
    google = w.budget_entities("google_ads")
    assert [len(e.campaign_ids) for e in google] == [2, 1]
    assert [e.explicitly_shared for e in google] == [True, False]
    for platform in ("meta", "google_ads"):
        ads = w.ads.by_platform[platform]
        positions = sorted(p for e in w.budget_entities(platform) for p in e.positions)
        assert positions == list(range(len(ads)))  # every ad is funded by exactly one entity
        for e in w.budget_entities(platform):
            assert e.initial_budget == pytest.approx(sum(ads[p].budget for p in e.positions))


def test_unwritten_world_delivers_exactly_what_per_ad_budgets_delivered() -> None:
    w = _demo(google_shared_budget=True)
    for platform in ("meta", "google_ads"):
        per_ad = np.array([a.budget for a in w.ads.by_platform[platform]])
        assert np.array_equal(w.ad_budgets(platform, w.clock_day), per_ad)
        for day in (0, 45, w.clock_day - 1):
            before = w.ads.generate_day(w.spec.seed, platform, day, w.start_ts, per_ad, w.incidents)
            now = w.ad_day(platform, day)
            assert now.spend.tobytes() == before.spend.tobytes()
            assert now.conv_by_lag.tobytes() == before.conv_by_lag.tobytes()


def test_entity_budget_write_moves_its_ads_by_their_shares() -> None:
    w = _demo(google_shared_budget=True)
    shared = w.budget_entities("google_ads")[0]
    old = w.ad_budgets("google_ads", w.clock_day)
    w.set_entity_budget("google_ads", shared.entity_id, shared.initial_budget * 2)
    new = w.ad_budgets("google_ads", w.clock_day)
    assert np.allclose(new[shared.positions], 2 * old[shared.positions])
    others = [p for p in range(len(old)) if p not in shared.positions]
    assert np.array_equal(new[others], old[others])
    assert np.array_equal(w.ad_budgets("google_ads", w.clock_day - 1), old)  # the past is untouched
    write = w.writes[-1]
    assert {k: write[k] for k in ("action", "vendor", "target", "entity_type")} == {
        "action": "set_budget",
        "vendor": "google_ads",
        "target": shared.entity_id,
        "entity_type": "campaign_budget",
    }
    assert write["before"] == shared.initial_budget and write["value"] == round(shared.initial_budget * 2, 2)
    assert w.entity_budgets("google_ads", w.clock_day)[shared.entity_id] == write["value"]


def test_entity_budget_writes_are_validated() -> None:
    w = _demo(meta_cbo_campaigns=1)
    cbo = w.budget_entities("meta")[0]
    adset = w.budget_entities("meta")[1]
    with pytest.raises(WriteError, match="campaign budget optimisation"):
        w.set_entity_budget("meta", cbo.adset_ids[0], 100.0)
    with pytest.raises(WriteError, match="not found"):
        w.set_entity_budget("meta", w.ads.by_platform["meta"][0].ad_id, 100.0)  # ads own no budget
    for bad in (-1.0, float("nan"), 1e9):
        with pytest.raises(WriteError, match="invalid"):
            w.set_entity_budget("meta", adset.entity_id, bad)
    assert w.writes == []
    w.set_entity_budget("meta", adset.entity_id, 55.5)
    assert len(w.writes) == 1


def test_truth_lists_entities_and_writes_replay(tmp_path: Path) -> None:
    w = World(WorldSpec.preset("tiny"))
    entity = w.budget_entities("meta")[0]
    w.set_entity_budget("meta", entity.entity_id, 12.0)
    w.advance(2)
    w.save_state(tmp_path / STATE_FILE)
    back = World.load_state(tmp_path / STATE_FILE)
    truth = build_truth(back, include_records=False)
    listed = {e["entity_id"]: e for e in truth["budget_entities"]}
    assert listed[entity.entity_id]["current_daily_budget"] == 12.0
    assert listed[entity.entity_id]["initial_daily_budget"] == entity.initial_budget
    assert sum(listed[entity.entity_id]["ad_shares"].values()) == pytest.approx(1.0)
    assert np.array_equal(back.ad_day("meta", w.clock_day - 1).spend, w.ad_day("meta", w.clock_day - 1).spend)
